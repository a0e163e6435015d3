"""Sweep overheads: what a trial pays before it trains, and what the driver pays per trial.

  .venv/bin/python scripts/bench_sweep.py                          # everything (~3 min)
  .venv/bin/python scripts/bench_sweep.py --skip_trial --trials 200 --json out.json

Per-trial overhead (each trial is a `compare_gan train` subprocess, DESIGN section 7):
  * `python -c "import tensorflow"`: interpreter start and TensorFlow import;
  * `python -m compare_gan train --dry_run` with the study's first trial config: the above plus
    compare_gan's imports, gin parsing, the input pipeline, the model and the checkpoint, i.e.
    everything a trial pays before its first step;
  * one whole trial of the study (`compare_gan.sweep.executors.run_trial`, the driver's own
    call), whose wall time is the denominator of the overhead fractions.

Driver overhead (the `compare_gan sweep` process, per finished trial):
  * GP sweeper `ask` and `tell` (scikit-optimize `Optimizer`, GP surrogate) on one setting
    with the GAN Landscape's search space (learning rate log-uniform 1e-5..1e-2, beta1 and
    beta2 uniform [0, 1], n_disc in {1, 5}, lambda log-uniform 0.1..100), driven for
    --trials trials on a cheap synthetic objective, asking --parallel points at a time; times
    are reported at 10, 25, 50, 100, ... told trials;
  * store writes (`add_trial`, `mark_running`, `finish_trial` with 20 metric records), SQLite
    WAL, in a temporary workdir.

The target (issue 5): driver overhead under 1 % of trial time, for the quickstart (trials of
tens of seconds, budgets of a few trials per setting) and for the landscape studies (trials of
100k-200k steps; hours on any accelerator).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

LANDSCAPE_SPACE = {
    "learning_rate": ("log_uniform", 1e-5, 1e-2),
    "beta1": ("uniform", 0.0, 1.0),
    "beta2": ("uniform", 0.0, 1.0),
    "disc_iters": ("choice", [1, 5]),
    "lambda": ("log_uniform", 0.1, 100.0),
}


def _timed_run(cmd, env=None) -> float:
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True)
  seconds = time.perf_counter() - t0
  if proc.returncode != 0:
    raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
  return seconds


def _first_trial(study_path: str):
  from compare_gan.sweep import study_file
  study = study_file.load_study(study_path)
  setting = study.settings[0]
  if setting.grid:
    params = dict(setting.grid[0])
  else:
    params = {d.name: d.representative() for d in setting.space}
  return study, setting, params


def trial_overhead(args) -> dict:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  python = sys.executable
  out = {}
  out["import_tensorflow_s"] = statistics.median(
      _timed_run([python, "-c", "import tensorflow"], env) for _ in range(args.repeats))
  study, setting, params = _first_trial(args.study)
  bindings = study.trial_bindings(setting, params, study.seeds[0])
  out["trial_setting"], out["trial_params"] = setting.key, params
  flags = []
  for path in study.base_configs:
    flags += ["--gin_config", path]
  for b in bindings:
    flags += ["--gin_bindings", b]
  times = []
  for _ in range(args.repeats):
    with tempfile.TemporaryDirectory() as tmp:
      times.append(_timed_run([python, "-m", "compare_gan", "train", "--model_dir",
                               os.path.join(tmp, "run"), "--dry_run"] + flags, env))
  out["dry_run_s"] = statistics.median(times)
  if not args.skip_trial:
    from compare_gan.sweep import executors
    with tempfile.TemporaryDirectory() as tmp:
      result = executors.run_trial(dict(
          trial_id=1, run_dir=os.path.join(tmp, "trial"), gin_configs=study.base_configs,
          bindings=bindings, schedule=study.schedule, eval_every_steps=study.eval_every_steps,
          timeout_s=None, python=None))
    if result["status"] != "done":
      raise RuntimeError(f"the benchmark trial ended {result['status']}: {result['error']}")
    out["trial_s"] = result["seconds"]
    value, step = study.objective.from_records(result["records"])
    out["trial_objective"] = {study.objective.metric: value, "step": step}
  return out


def gp_driver_overhead(args) -> dict:
  import numpy as np
  from compare_gan.sweep import space as space_lib
  from compare_gan.sweep import study as study_lib
  from compare_gan.sweep import sweepers
  space = [space_lib.parse_dimension(k, v) for k, v in LANDSCAPE_SPACE.items()]
  setting = study_lib.Setting(key="bench", labels={}, bindings=[], space=space, grid=[])
  sweeper = sweepers.make_sweeper("gp", setting, args.trials, 0, "min")
  rng = np.random.default_rng(0)

  def objective(p):  # FID-like: a bowl in log-lr and beta1, noisy.
    x = math.log10(p["learning_rate"]) + 3.7
    return 30 + 40 * x * x + 25 * (p["beta1"] - 0.4) ** 2 + 5 * (p["disc_iters"] == 5) + \
        rng.normal(0, 1.0)

  asks, tells, told = [], [], 0
  checkpoints = sorted({c for c in (10, 25, 50, 100, 150, 200, 300, args.trials)
                        if c <= args.trials})
  report = []
  while not sweeper.exhausted:
    t0 = time.perf_counter()
    batch = sweeper.ask(args.parallel)
    ask_s = time.perf_counter() - t0
    for params, _ in batch:
      asks.append(ask_s / len(batch))
      t0 = time.perf_counter()
      sweeper.tell(params, objective(params))
      tells.append(time.perf_counter() - t0)
      told += 1
      if told in checkpoints:
        window = slice(max(0, told - 5), told)
        report.append(dict(trials=told, ask_s=statistics.fmean(asks[window]),
                           tell_s=statistics.fmean(tells[window])))
  best = min(v for _, v in sweeper.history)
  return dict(per_trial=report, total_ask_s=sum(asks), total_tell_s=sum(tells),
              best_found=best, trials=told)


def store_overhead(args) -> dict:
  from compare_gan.sweep import store as store_lib
  records = [dict(step=100 * (i // 4 + 1), metric=f"m{i % 4}", value=float(i), std=0.1,
                  n=1000, status="ok", protocol={"n_fake": 1000, "dataset": "triangles"})
             for i in range(20)]
  times = []
  with tempfile.TemporaryDirectory() as tmp:
    with store_lib.Store(os.path.join(tmp, "study.db")) as store:
      for i in range(args.store_trials):
        t0 = time.perf_counter()
        tid = store.add_trial(setting="loss=ns", labels={"loss": "ns"},
                              params={"learning_rate": 1e-4, "beta1": 0.5}, seed=0,
                              source="gp", trials_dir=os.path.join(tmp, "trials"),
                              description=f"t{i}")
        store.mark_running(tid)
        store.finish_trial(tid, "done", objective=float(i), objective_step=100, seconds=1.0,
                           records=records)
        times.append(time.perf_counter() - t0)
  return dict(per_trial_s=statistics.median(times), trials=args.store_trials)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--study", default=os.path.join(REPO, "configs", "studies", "quickstart.gin"),
                 help="study whose first trial is timed (default: the quickstart)")
  p.add_argument("--trials", type=int, default=150, help="GP trials for the driver timing")
  p.add_argument("--parallel", type=int, default=2, help="points per GP ask (workers)")
  p.add_argument("--repeats", type=int, default=2, help="runs of each start-up timing")
  p.add_argument("--store_trials", type=int, default=200)
  p.add_argument("--skip_trial", action="store_true", help="do not run a whole trial")
  p.add_argument("--skip_startup", action="store_true", help="skip the subprocess timings")
  p.add_argument("--landscape_trial_hours", type=float, default=1.0,
                 help="trial time assumed for the landscape fraction (default 1 h; 100k "
                 "steps of SNDCGAN on one V100 took longer in the paper)")
  p.add_argument("--json", metavar="FILE")
  args = p.parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

  out = {"load_before": os.getloadavg()}
  if not args.skip_startup:
    out["trial"] = trial_overhead(args)
    t = out["trial"]
    print(f"start-up: import tensorflow {t['import_tensorflow_s']:.1f} s; compare_gan train "
          f"--dry_run (imports, gin, data, model, checkpoint) {t['dry_run_s']:.1f} s")
    if "trial_s" in t:
      print(f"one quickstart trial ({t['trial_setting']}, {t['trial_params']}): "
            f"{t['trial_s']:.1f} s, objective {t['trial_objective']}; start-up is "
            f"{100 * t['dry_run_s'] / t['trial_s']:.0f} % of it")
  out["gp"] = gp_driver_overhead(args)
  print(f"\nGP sweeper on the landscape space, {args.parallel} points per ask "
        f"(best found {out['gp']['best_found']:.1f}; optimum about 30):")
  print(f"{'told':>6} {'ask s/trial':>12} {'tell s/trial':>13}")
  for row in out["gp"]["per_trial"]:
    print(f"{row['trials']:>6} {row['ask_s']:>12.3f} {row['tell_s']:>13.3f}")
  out["store"] = store_overhead(args)
  print(f"store: add + mark_running + finish (20 records) {1e3 * out['store']['per_trial_s']:.1f}"
        " ms per trial")

  last = out["gp"]["per_trial"][-1]
  per_trial = last["ask_s"] + last["tell_s"] + out["store"]["per_trial_s"]
  out["driver_s_per_trial_at_max"] = per_trial
  print(f"\ndriver overhead per trial with {last['trials']} trials in the setting: "
        f"{per_trial:.3f} s")
  fractions = {"landscape": per_trial / (3600 * args.landscape_trial_hours)}
  if "trial" in out and "trial_s" in out["trial"]:
    gp = out["gp"]["per_trial"]
    small = gp[0]  # the quickstart's GP sees a handful of trials per setting
    quick = small["ask_s"] + small["tell_s"] + out["store"]["per_trial_s"]
    fractions["quickstart"] = quick / out["trial"]["trial_s"]
    print(f"quickstart (<= {small['trials']} trials per setting): {quick:.3f} s per trial = "
          f"{100 * fractions['quickstart']:.2f} % of a {out['trial']['trial_s']:.0f} s trial")
  print(f"landscape ({last['trials']} trials per setting, a {args.landscape_trial_hours:g} h "
        f"trial): {100 * fractions['landscape']:.4f} %")
  out["fractions"] = fractions
  out["load_after"] = os.getloadavg()
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
