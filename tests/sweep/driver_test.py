"""The sweep driver and `compare_gan sweep`.

Real trainings (the ring8 MLP GAN, 2 steps of batch 8, SWD on 32 samples: about 15 CPU-seconds
a trial, most of it importing TensorFlow; a tiny triangles SNDCGAN costs half as much again): a
sweep on the local executor of a good trial, a failing one (train.log_every_steps = 0 raises at
run time, exit 1) and a diverging one (Adam beta_1 = 1: the bias correction divides by zero, so
the weights are NaN after the first update and `train` exits 3). Its driver, a real subprocess,
is SIGKILLed mid-sweep, a second driver is refused meanwhile, and the rerun (2 local workers)
resumes it.

Fake trials (run_trial replaced, results by value as a worker returns them) test the driver's
bookkeeping in seconds: seeds, GP proposals, --max_trials, Ctrl-C and penalty values.
"""

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

import cli_harness  # tests/: pytest puts it on sys.path.

from compare_gan import run_dir
from compare_gan.sweep import command
from compare_gan.sweep import driver
from compare_gan.sweep import executors
from compare_gan.sweep import store as store_lib
from compare_gan.sweep import sweepers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RING8 = os.path.join(ROOT, "configs", "examples", "ring8_mlp.gin")
TINY = ["ModularGAN.z_dim = 8", "train.batch_size = 8",
        "train.training_steps = 2", "train.save_checkpoints_steps = 1",
        "train.summary_every_steps = 2", "train.image_summary_every_steps = 100",
        "evaluation.metrics = [@sliced_wasserstein()]", "evaluation.num_fake = 32",
        "evaluation.num_averaging_runs = 1", "sliced_wasserstein.num_projections = 8"]
REAL_STUDY = f"""
study.name = 'driver_test'
study.base_configs = [{RING8!r}]
study.base_bindings = {TINY!r}
study.parameters = {{'learning_rate': ['tf.keras.optimizers.Adam.learning_rate'],
                     'beta1': ['tf.keras.optimizers.Adam.beta_1'],
                     'log_every': ['train.log_every_steps']}}
study.grid = {{'learning_rate': [0.0002], 'beta1,log_every': [(0.5, 1)]}}
# ns: a failing trial, then a good one; hinge: a diverging trial.
study.axes = {{'loss': {{
    'ns': {{'bindings': ['loss.fn = @non_saturating'],
            'grid': {{'beta1,log_every': [(0.5, 0), (0.5, 1)]}}}},
    'hinge': {{'bindings': ['loss.fn = @hinge'], 'grid': {{'beta1,log_every': [(1.0, 1)]}}}}}}}}
study.sweeper = 'grid'
study.objective = 'swd_pixels'
study.eval_every_steps = 2
"""
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _db(workdir):
  db = sqlite3.connect(os.path.join(workdir, "study.db"))
  db.row_factory = sqlite3.Row
  return contextlib.closing(db)


def _trials(workdir):
  """id -> trial row, params decoded ({} while the driver has not created the tables)."""
  if not os.path.exists(os.path.join(workdir, "study.db")):
    return {}
  with _db(workdir) as db:
    try:
      rows = [dict(row) for row in db.execute("SELECT * FROM trials ORDER BY id")]
    except sqlite3.OperationalError:  # "no such table" in the moment after the file appears.
      return {}
  return {row["id"]: dict(row, params=json.loads(row["params"])) for row in rows}


def _point(setting, beta1, log_every):
  return setting, (("beta1", beta1), ("learning_rate", 0.0002), ("log_every", log_every))


def _points(trials):
  return {_point(t["setting"], t["params"]["beta1"], t["params"]["log_every"]): t
          for t in trials.values() if set(t["params"]) == {"beta1", "learning_rate",
                                                            "log_every"}}


def _processes_mentioning(text):
  """pids of processes whose command line contains `text` (Linux /proc)."""
  pids = []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        if text.encode() in f.read():
          pids.append(int(pid))
    except OSError:
      continue
  return pids


def _started(trial):
  """Whether the trial's subprocess was started (its trial.log has the attempt's header)."""
  path = os.path.join(trial["run_dir"], "trial.log")
  return os.path.exists(path) and f"==== trial {trial['id']} on " in open(path).read()


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
  """The real sweep: started as a subprocess with one worker and SIGKILLed once a trial has
  finished and the next one's subprocess has started (a second driver tried meanwhile), then
  resumed in this process with two workers to its end."""
  tmp = tmp_path_factory.mktemp("sweep")
  study, workdir = tmp / "study.gin", str(tmp / "work")
  study.write_text(REAL_STUDY)
  out = dict(study=str(study), workdir=workdir)
  with open(tmp / "driver.out", "w") as stdout:
    proc = subprocess.Popen([sys.executable, "-m", "compare_gan.sweep.command", "--workdir",
                             workdir, "--study", str(study), "--parallel", "1"], env=ENV,
                            stdout=stdout, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
      deadline = time.time() + 600
      while time.time() < deadline and proc.poll() is None:
        trials = _trials(workdir)
        if (any(t["status"] in store_lib.FINISHED for t in trials.values()) and
            any(t["status"] == "running" and _started(t) for t in trials.values())):
          break
        time.sleep(0.05)
      out["second_driver"] = subprocess.run(
          [sys.executable, "-m", "compare_gan.sweep.command", "--workdir", workdir, "--study",
           str(study)], env=ENV, capture_output=True, text=True, timeout=120)
      proc.send_signal(signal.SIGKILL)
      proc.wait(timeout=60)
    finally:
      if proc.poll() is None:
        proc.kill()
  out["driver_output"] = (tmp / "driver.out").read_text()
  out["returncode"] = proc.returncode
  out["at_kill"] = _trials(workdir)
  deadline = time.time() + 30  # Trials die with their driver (PR_SET_PDEATHSIG).
  while _processes_mentioning(workdir) and time.time() < deadline:
    time.sleep(0.1)
  out["orphans"] = _processes_mentioning(workdir)

  lines = []
  out["summary"] = driver.run_sweep(workdir, str(study), parallel=2, log=lines.append)
  out["lines"] = lines
  out["final"] = _trials(workdir)
  return out


def test_killed_driver_loses_nothing_and_repeats_nothing(killed_and_resumed):
  run = killed_and_resumed
  assert run["returncode"] == -signal.SIGKILL, run["driver_output"][-3000:]
  assert run["orphans"] == []
  at_kill, final = run["at_kill"], run["final"]
  was_running = [i for i, t in at_kill.items() if t["status"] == "running"]
  was_finished = [i for i, t in at_kill.items() if t["status"] in store_lib.FINISHED]
  assert was_running and was_finished, at_kill
  # Every grid point exactly once: no duplicated and no lost trial.
  assert sorted(final) == [1, 2, 3]
  assert sorted(_points(final)) == sorted([
      _point("loss=hinge", 1.0, 1), _point("loss=ns", 0.5, 0), _point("loss=ns", 0.5, 1)])
  assert all(t["status"] in store_lib.FINISHED for t in final.values())
  for i in was_finished:  # Never re-run.
    assert final[i] == at_kill[i]
  for i in was_running:  # Re-queued, re-run in the same run directory.
    assert final[i]["attempts"] == 2 and final[i]["run_dir"] == at_kill[i]["run_dir"]
    log = open(os.path.join(final[i]["run_dir"], "trial.log")).read()
    assert log.count(f"==== trial {i} on ") == 2
  assert run["summary"]["counts"] == {"pending": 0, "running": 0, "done": 1, "failed": 1,
                                      "diverged": 1}
  # The resumed driver ran the two remaining trials at once (2 local workers).
  second, third = final[2], final[3]
  assert second["started"] <= third["finished"] and third["started"] <= second["finished"]


def test_second_driver_is_refused(killed_and_resumed):
  second = killed_and_resumed["second_driver"]
  assert second.returncode == 1
  assert "is in use by another `compare_gan sweep` driver (pid " in second.stderr


def test_failed_and_diverged_trials_are_recorded(killed_and_resumed):
  final = killed_and_resumed["final"]
  failed = _points(final)[_point("loss=ns", 0.5, 0)]
  assert failed["status"] == "failed" and failed["objective"] is None
  assert "train.log_every_steps=0 must be a positive integer" in failed["error"]
  diverged = _points(final)[_point("loss=hinge", 1.0, 1)]
  assert diverged["status"] == "diverged" and diverged["objective"] is None
  assert diverged["error"].startswith("diverged at step ") and "non-finite loss" in (
      diverged["error"])
  for t in final.values():
    if t["status"] == "done":
      assert t["objective"] > 0 and t["objective_step"] == 2 and t["error"] is None
      assert t["seconds"] > 0 and t["host"] and t["started"] <= t["finished"]
      with _db(killed_and_resumed["workdir"]) as db:
        rows = db.execute("SELECT * FROM results WHERE trial_id = ?", (t["id"],)).fetchall()
      assert [(r["step"], r["metric"]) for r in rows] == [(2, "swd_pixels")]
      assert rows[0]["value"] == t["objective"]
      assert json.loads(rows[0]["protocol"])["n_fake"] == 32
    assert os.path.basename(t["run_dir"]).startswith(f"{t['id']:04d}-")
    assert os.path.dirname(t["run_dir"]) == os.path.join(killed_and_resumed["workdir"],
                                                         "trials")


def test_progress_lines_table_and_sweep_log(killed_and_resumed):
  lines, summary = killed_and_resumed["lines"], killed_and_resumed["summary"]
  assert lines[0].startswith("study 'driver_test' (") and "resuming: " in lines[0]
  progress = [l for l in lines if l.startswith("trial ")]
  pattern = r" seed 0: (done|failed|diverged), .*\(\d+ finished, \d+ running, \d+ queued\)$"
  assert progress and all(re.search(pattern, l) for l in progress)
  done = [l for l in progress if ": done, swd_pixels " in l]
  assert done and all(" at step 2, " in l for l in done)
  failures = [l for l in progress if ": failed, " in l or ": diverged, " in l]
  assert all("compare_gan train: ValueError: train.log_every_steps=0" in l or
             "diverged at step " in l for l in failures)  # The reason, not "exit status 1".
  assert lines[-1].startswith("sweep finished: 1 done, 1 failed, 1 diverged")
  table = summary["table"].splitlines()
  assert table[0].split() == ["setting", "done", "failed", "diverged", "best", "swd_pixels",
                              "(min)", "step", "trial", "params"]
  assert table[2].split()[:4] == ["loss=ns", "1", "1", "0"]
  assert table[3].split() == ["loss=hinge", "0", "0", "1", "-", "-", "-", "-"]
  best = summary["best"]
  assert best["loss=hinge"] is None and best["loss=ns"]["params"]["log_every"] == 1
  log = open(os.path.join(killed_and_resumed["workdir"], "sweep.log")).read()
  assert log.count("new sweep") == 1 and log.count("resuming: ") == 1
  assert "sweep finished: 1 done" in log


def test_export_of_a_finished_workdir(killed_and_resumed, tmp_path, capsys):
  path = str(tmp_path / "trials.csv")
  assert command.main(["--workdir", killed_and_resumed["workdir"], "--export", path]) == 0
  assert "exported " in capsys.readouterr().out
  trials = pd.read_csv(path)
  assert list(trials["id"]) == [1, 2, 3] and set(trials["loss"]) == {"ns", "hinge"}
  assert list(trials.loc[trials["best_in_setting"], "status"]) == ["done"]
  assert len(pd.read_csv(str(tmp_path / "trials_results.csv"))) >= 1


# ----------------------------------------------------------------------------------------------
# The driver's bookkeeping, on fake trials.
# ----------------------------------------------------------------------------------------------
FAKE_STUDY = f"""
study.name = 'fake'
study.base_configs = [{RING8!r}]
study.parameters = {{'learning_rate': ['tf.keras.optimizers.Adam.learning_rate']}}
study.objective = 'swd_pixels'
study.axes = {{'loss': {{'ns': ['loss.fn = @non_saturating'], 'hinge': ['loss.fn = @hinge']}}}}
"""


def _fake_run_trial(outcomes):
  """A run_trial that trains nothing: `outcomes(task)` -> (status, value or None)."""
  def run_trial(task):
    params = {}
    for binding in task["bindings"]:
      name, _, value = binding.partition(" = ")
      params[name] = value
    status, value = outcomes(params)
    records = [] if value is None else [
        dict(step=1, metric="swd_pixels", value=value + 1.0, status="ok", protocol={}),
        dict(step=2, metric="swd_pixels", value=value, status="ok", protocol={})]
    return dict(trial_id=task["trial_id"], status=status, returncode=0, host="fakehost",
                error=None if status == "done" else f"{status} for the test",
                started=run_dir.now(), finished=run_dir.now(), seconds=0.01,
                records=records)
  return run_trial


def _write(tmp_path, text):
  path = tmp_path / "study.gin"
  path.write_text(text)
  return str(path)


def test_gp_sweep_with_two_seeds_and_max_trials(tmp_path, monkeypatch):
  def outcomes(params):
    lr = float(params["tf.keras.optimizers.Adam.learning_rate"])
    return "done", (lr - 1e-3) ** 2 * 1e6 + int(params["train.seed"])
  monkeypatch.setattr(executors, "run_trial", _fake_run_trial(outcomes))
  study = _write(tmp_path, FAKE_STUDY + """
study.space = {'learning_rate': ('log_uniform', 1e-5, 1e-2)}
study.sweeper = 'gp'
study.budget = 3
study.seeds = [0, 1]
""")
  workdir = str(tmp_path / "work")
  first = driver.run_sweep(workdir, study, parallel=3, max_trials=5, log=lambda _: None)
  # Points are asked whole: 3 points x 2 seeds reach 5 trials and stop.
  assert first["counts"]["done"] == 6
  summary = driver.run_sweep(workdir, study, parallel=3, log=lambda _: None)
  assert summary["counts"]["done"] == 12  # 2 settings x 3 points x 2 seeds.
  with store_lib.Store(os.path.join(workdir, "study.db")) as store:
    trials = store.trials()
  for setting in ("loss=ns", "loss=hinge"):
    mine = [t for t in trials if t["setting"] == setting]
    points = [t["params"]["learning_rate"] for t in mine]
    assert len(set(points)) == 3 and all(points.count(p) == 2 for p in points)
    assert sorted((t["params"]["learning_rate"], t["seed"]) for t in mine) == sorted(
        (p, s) for p in set(points) for s in (0, 1))
    assert {t["source"] for t in mine} == {"gp"}
  assert all(t["run_dir"].endswith(f"-seed{t['seed']}") for t in trials)
  assert all(t["objective_step"] == 2 and t["host"] == "fakehost" for t in trials)
  best = summary["best"]["loss=ns"]
  assert best["objective"] == min(t["objective"] for t in trials if t["setting"] == "loss=ns")


def test_interrupted_driver_requeues_its_running_trials(tmp_path, monkeypatch):
  monkeypatch.setattr(executors, "run_trial", _fake_run_trial(lambda params: ("done", 1.0)))
  study = _write(tmp_path, FAKE_STUDY + """
study.grid = {'learning_rate': [1e-4, 2e-4, 3e-4]}
""")
  workdir = str(tmp_path / "work")

  def interrupt_on_the_second_trial(line):
    if line.startswith("trial ") and "(2 finished" in line:
      raise KeyboardInterrupt
  with pytest.raises(KeyboardInterrupt):
    driver.run_sweep(workdir, study, parallel=2, log=interrupt_on_the_second_trial)
  with store_lib.Store(os.path.join(workdir, "study.db")) as store:
    counts = store.counts()
  assert counts["done"] == 2 and counts["running"] >= 1
  lines = []
  summary = driver.run_sweep(workdir, study, parallel=2, log=lines.append)
  assert summary["counts"]["done"] == 6 and summary["counts"]["running"] == 0
  assert f"{counts['running']} re-queued" in lines[0]
  with store_lib.Store(os.path.join(workdir, "study.db")) as store:
    points = [(t["setting"], t["params"]["learning_rate"]) for t in store.trials()]
  assert len(points) == 6 and len(set(points)) == 6


def test_failed_trials_are_told_a_penalty(tmp_path, monkeypatch):
  values = {"0.0001": ("failed", None), "0.0002": ("done", 1.0), "0.0003": ("done", 3.0),
            "0.0004": ("diverged", None)}
  monkeypatch.setattr(executors, "run_trial", _fake_run_trial(
      lambda params: values[params["tf.keras.optimizers.Adam.learning_rate"]]))
  told = []
  tell = sweepers.Sweeper.tell
  monkeypatch.setattr(sweepers.Sweeper, "tell", lambda self, params, value: (
      told.append((self.setting.key, params["learning_rate"], value)),
      tell(self, params, value)))
  study = _write(tmp_path, FAKE_STUDY.replace(", 'hinge': ['loss.fn = @hinge']", "") + """
study.grid = {'learning_rate': [1e-4, 2e-4, 3e-4, 4e-4]}
""")
  summary = driver.run_sweep(str(tmp_path / "work"), study, log=lambda _: None)
  # The first failure waits for a finite value; then penalty = worst + range (+1 if none).
  assert told == [("loss=ns", 2e-4, 1.0), ("loss=ns", 1e-4, 2.0), ("loss=ns", 3e-4, 3.0),
                  ("loss=ns", 4e-4, 5.0)]
  assert summary["counts"] == {"pending": 0, "running": 0, "done": 2, "failed": 1,
                               "diverged": 1}
  # A resumed driver replays every finished trial, failures with the current penalty.
  told.clear()
  summary = driver.run_sweep(str(tmp_path / "work"), study, log=lambda _: None)
  assert sorted(told) == sorted([("loss=ns", 2e-4, 1.0), ("loss=ns", 1e-4, 5.0),
                                 ("loss=ns", 3e-4, 3.0), ("loss=ns", 4e-4, 5.0)])


def test_failure_value():
  assert driver.failure_value([], "min") is None
  assert driver.failure_value([2.0], "min") == 3.0
  assert driver.failure_value([1.0, 3.0], "min") == 5.0
  assert driver.failure_value([1.0, 3.0], "max") == -1.0


def test_command_usage_errors(tmp_path, capsys):
  assert command.main(["--workdir", str(tmp_path)]) == 2
  assert "give --study FILE" in capsys.readouterr().err
  assert command.main(["--workdir", str(tmp_path), "--study", str(tmp_path / "none.gin")]) == 2
  assert "does not exist" in capsys.readouterr().err
  assert command.main(["--workdir", str(tmp_path / "empty"), "--export", "x.csv"]) == 2
  assert "study.db does not exist" in capsys.readouterr().err


def test_a_changed_study_is_refused(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(executors, "run_trial", _fake_run_trial(lambda params: ("done", 1.0)))
  study = _write(tmp_path, FAKE_STUDY + "study.grid = {'learning_rate': [1e-4]}\n")
  workdir = str(tmp_path / "work")
  assert command.main(["--workdir", workdir, "--study", study]) == 0
  assert command.main(["--workdir", workdir, "--study", study, "--gin_bindings",
                       "study.failure_value = 9.0"]) == 2
  err = capsys.readouterr().err
  assert "holds a different study" in err and "+study.failure_value = 9.0" in err


def test_sigterm_stops_the_driver_like_ctrl_c(tmp_path, monkeypatch):
  fake = _fake_run_trial(lambda params: ("done", 1.0))

  def run_trial(task):
    if task["trial_id"] == 2:  # While trial 2 runs, someone sends the driver SIGTERM.
      os.kill(os.getpid(), signal.SIGTERM)
      time.sleep(2)
    return fake(task)
  monkeypatch.setattr(executors, "run_trial", run_trial)
  study = _write(tmp_path, FAKE_STUDY + "study.grid = {'learning_rate': [1e-4, 2e-4]}\n")
  before = signal.getsignal(signal.SIGTERM)
  lines = []
  with pytest.raises(KeyboardInterrupt):
    driver.run_sweep(str(tmp_path / "work"), study, log=lines.append)
  assert signal.getsignal(signal.SIGTERM) is before
  assert lines[-1].startswith("interrupted: stopping 1 running trial(s)")
  with store_lib.Store(str(tmp_path / "work" / "study.db")) as store:
    assert [t["status"] for t in store.trials()] == ["done", "running"]


def test_add_parser_registers_the_sweep_command(tmp_path):
  import argparse
  parser = argparse.ArgumentParser(prog="compare_gan")
  command.add_parser(parser.add_subparsers(dest="command"))
  args = parser.parse_args(["sweep", "--workdir", str(tmp_path), "--study", "s.gin",
                            "--parallel", "3", "--executor", "dask://scheduler:8786",
                            "--gin_bindings", "study.budget = 2", "--max_trials", "9"])
  assert args.run is command.run and args.parallel == 3 and args.max_trials == 9
  assert args.executor == "dask://scheduler:8786" and args.gin_bindings == ["study.budget = 2"]


@pytest.mark.slow
def test_sweep_on_a_dask_cluster(tmp_path):
  """Real trials on a LocalCluster's two worker processes (opt in: -m slow; ~40 CPU-s)."""
  distributed = pytest.importorskip("distributed")
  study = _write(tmp_path, REAL_STUDY.replace("(0.5, 0), (0.5, 1)", "(0.5, 1), (0.9, 1)")
                 .replace("(1.0, 1)", "(0.5, 1)"))
  with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                dashboard_address=None, silence_logs=40) as cluster:
    summary = driver.run_sweep(str(tmp_path / "work"), study, parallel=2, log=lambda _: None,
                               executor=cluster.scheduler_address.replace("tcp://", "dask://"))
  assert summary["counts"]["done"] == 3 and summary["counts"]["failed"] == 0
  trials = _trials(str(tmp_path / "work"))
  assert all(t["objective"] > 0 and t["objective_step"] == 2 for t in trials.values())


# ----------------------------------------------------------------------------------------------
# Trial directories, base configs, timeouts and failure reasons, on a fake `compare_gan train`:
# run_trial runs for real (claiming the directory, the subprocess, the timeout), but the
# subprocess is this script, which trains nothing. FAKE_TRAIN_MODES maps a learning rate to
# what the trial does: ok (metrics and status.json 'done'), hang, fail (status.json 'failed'
# with the reason, TensorFlow noise at the end of the log) or noise (only a TensorFlow error).
# ----------------------------------------------------------------------------------------------
FAKE_TRAIN = """
import datetime, json, os, sys, time
args = sys.argv[1:]
assert args[:3] == ["-m", "compare_gan", "train"], args
model_dir = args[args.index("--model_dir") + 1]
bindings = dict(args[i + 1].split(" = ", 1) for i, a in enumerate(args) if a == "--gin_bindings")
lr = bindings["tf.keras.optimizers.Adam.learning_rate"]
mode = json.loads(os.environ.get("FAKE_TRAIN_MODES", "{}")).get(lr, "ok")
print("trial.json before training:", os.path.exists(os.path.join(model_dir, "trial.json")),
      flush=True)
if mode == "hang":
  time.sleep(600)
os.makedirs(os.path.join(model_dir, "checkpoints"), exist_ok=True)
with open(os.path.join(model_dir, "config.gin"), "w") as f:
  f.write("".join(f"{k} = {v}\\n" for k, v in sorted(bindings.items())))

def status(state, message=""):
  updated = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  with open(os.path.join(model_dir, "status.json"), "w") as f:
    json.dump(dict(state=state, step=2, training_steps=2, message=message, updated=updated), f)

if mode in ("fail", "noise"):
  if mode == "fail":
    status("failed", "ValueError: ring8 record 3 is not finite (input pipeline)")
    print("compare_gan train: ValueError: ring8 record 3 is not finite (input pipeline)",
          file=sys.stderr)
  print("Traceback (most recent call last):\\n  File x, line 1\\n"
        "tensorflow.python.framework.errors_impl.InvalidArgumentError: "
        "ValueError: ring8 record 3 is not finite", file=sys.stderr)
  print("\\t [[{{node EagerPyFunc}}]] [Op:IteratorGetNext]", file=sys.stderr)
  sys.exit(1)
with open(os.path.join(model_dir, "metrics.jsonl"), "w") as f:
  f.write(json.dumps(dict(step=2, metric="swd_pixels", value=float(lr) * 1000, status="ok",
                          protocol={})) + "\\n")
status("done")
"""
ONE_POINT = "study.grid = {'learning_rate': [1e-4]}\n"
NS_ONLY = FAKE_STUDY.replace(", 'hinge': ['loss.fn = @hinge']", "")


@pytest.fixture
def fake_train(tmp_path, monkeypatch):
  """Makes trials run FAKE_TRAIN; call the fixture's value with {learning rate: mode}."""
  script = tmp_path / "fake_train.py"
  script.write_text(FAKE_TRAIN)
  real_command = executors.trial_command
  monkeypatch.setattr(executors, "trial_command",
                      lambda task: [sys.executable, str(script)] + real_command(task)[1:])
  monkeypatch.setenv("FAKE_TRAIN_MODES", "{}")
  return lambda modes: monkeypatch.setenv("FAKE_TRAIN_MODES", json.dumps(modes))




def _meta(workdir):
  with store_lib.Store(os.path.join(workdir, "study.db")) as store:
    return store.meta()


def _one_line(err):
  lines = err.strip().splitlines()
  assert len(lines) == 1 and "Traceback" not in err, err
  return lines[0]


def test_trials_write_trial_json_before_they_start(tmp_path, fake_train):
  study = _write(tmp_path, NS_ONLY + "study.grid = {'learning_rate': [1e-4, 2e-4]}\n")
  workdir = str(tmp_path / "work")
  driver.run_sweep(workdir, study, log=lambda _: None)
  meta = _meta(workdir)
  assert len(meta["study_id"]) == 32 and meta["fingerprint_version"] == "2"
  fingerprints = []
  for trial in _trials(workdir).values():
    assert trial["status"] == "done"
    identity = json.load(open(os.path.join(trial["run_dir"], "trial.json")))
    assert identity["study_id"] == meta["study_id"] and identity["trial_id"] == trial["id"]
    assert identity["study_db"] == os.path.join(workdir, "study.db")
    assert identity["params"] == trial["params"] and len(identity["fingerprint"]) == 64
    fingerprints.append(identity["fingerprint"])
    log = open(os.path.join(trial["run_dir"], "trial.log")).read()
    assert "trial.json before training: True" in log
  assert len(set(fingerprints)) == 2  # Two learning rates, two configs.


def test_a_second_study_on_the_same_trials_dir_is_refused(tmp_path, fake_train, capsys):
  trials_dir = str(tmp_path / "shared_trials")
  first = _write(tmp_path, NS_ONLY + ONE_POINT)
  assert command.main(["--workdir", str(tmp_path / "a"), "--study", first,
                       "--trials_dir", trials_dir]) == 0
  (run,) = [os.path.join(trials_dir, name) for name in os.listdir(trials_dir)]
  before = cli_harness.snapshot(run)
  other = tmp_path / "other"
  other.mkdir()
  second = _write(other, NS_ONLY.replace("'fake'", "'other'") + ONE_POINT)
  capsys.readouterr()
  assert command.main(["--workdir", str(tmp_path / "b"), "--study", second,
                       "--trials_dir", trials_dir]) == 2
  line = _one_line(capsys.readouterr().err)
  ids = _meta(str(tmp_path / "a"))["study_id"], _meta(str(tmp_path / "b"))["study_id"]
  assert ids[0] != ids[1]
  assert line.startswith(f"compare_gan sweep: trial 1: {run} belongs to another study: its "
                         f"trial.json has study id {ids[0]} ('fake', ")
  assert f"this study's id is {ids[1]} ({tmp_path / 'b' / 'study.db'})" in line
  assert "new --trials_dir" in line
  assert cli_harness.snapshot(run) == before  # config.gin, trial.log, trial.json: untouched.
  (trial,) = _trials(str(tmp_path / "b")).values()
  assert (trial["status"], trial["attempts"]) == ("pending", 0)


def test_a_recreated_study_db_does_not_adopt_the_trial_dirs(tmp_path, fake_train, capsys):
  study = _write(tmp_path, NS_ONLY + ONE_POINT)
  workdir = tmp_path / "work"
  assert command.main(["--workdir", str(workdir), "--study", study]) == 0
  old_id = _meta(str(workdir))["study_id"]
  (run,) = [str(workdir / "trials" / name) for name in os.listdir(workdir / "trials")]
  before = cli_harness.snapshot(run)
  for name in os.listdir(workdir):
    if name.startswith("study.db"):
      os.remove(workdir / name)
  capsys.readouterr()
  assert command.main(["--workdir", str(workdir), "--study", study]) == 2
  line = _one_line(capsys.readouterr().err)
  new_id = _meta(str(workdir))["study_id"]
  assert old_id != new_id
  assert f"{run} belongs to another study: its trial.json has study id {old_id}" in line
  assert f"this study's id is {new_id}" in line
  assert cli_harness.snapshot(run) == before


def test_a_directory_without_trial_json_is_not_adopted(tmp_path, fake_train, capsys):
  study = _write(tmp_path, NS_ONLY + ONE_POINT)
  workdir = tmp_path / "work"
  foreign = workdir / "trials" / "0001-ns-lr0.0001"
  (foreign / "checkpoints").mkdir(parents=True)
  (foreign / "checkpoints" / "ckpt-100.index").write_text("another tool's checkpoint")
  (foreign / "config.gin").write_text("train.training_steps = 100\n")
  before = cli_harness.snapshot(str(foreign))
  assert command.main(["--workdir", str(workdir), "--study", study]) == 2
  line = _one_line(capsys.readouterr().err)
  assert (f"{foreign} exists without trial.json (checkpoints, config.gin): another tool or an "
          "older compare_gan wrote it, so it is not adopted") in line
  assert cli_harness.snapshot(str(foreign)) == before
  # Moved aside, the trial runs from scratch.
  os.rename(foreign, tmp_path / "aside")
  assert command.main(["--workdir", str(workdir), "--study", study]) == 0
  (trial,) = _trials(str(workdir)).values()
  assert trial["status"] == "done" and trial["attempts"] == 1


def test_a_refusal_stops_the_running_trials_and_they_resume(tmp_path, fake_train):
  study = _write(tmp_path, NS_ONLY + "study.grid = {'learning_rate': [1e-4, 2e-4]}\n")
  workdir = tmp_path / "work"
  fake_train({"0.0001": "hang"})
  (workdir / "trials" / "0002-ns-lr0.0002").mkdir(parents=True)
  (workdir / "trials" / "0002-ns-lr0.0002" / "config.gin").write_text("x.y = 1\n")
  lines = []
  start = time.time()
  with pytest.raises(driver.TrialDirRefused, match="0002-ns-lr0.0002 exists without trial"):
    driver.run_sweep(str(workdir), study, parallel=2, log=lines.append)
  assert time.time() - start < 30  # The hanging trial 1 was stopped, not awaited.
  assert lines[-1].startswith("stopped (trial 2: ") and "stopping 1 running trial(s)" in (
      lines[-1])
  trials = _trials(str(workdir))
  assert [(t["status"], t["attempts"]) for t in trials.values()] == [("running", 1),
                                                                     ("pending", 0)]
  assert _processes_mentioning(str(workdir)) == []


def test_a_changed_base_config_is_refused_but_comments_are_not(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(executors, "run_trial", _fake_run_trial(lambda params: ("done", 1.0)))
  extra = tmp_path / "extra.gin"
  extra.write_text("train.summary_every_steps = 7\n")
  base = tmp_path / "ring8.gin"
  base.write_text(open(RING8).read() + f"include {str(extra)!r}\n")
  body = NS_ONLY.replace(repr(RING8), repr(str(base))) + ONE_POINT
  study = _write(tmp_path, body)
  workdir = str(tmp_path / "work")
  assert command.main(["--workdir", workdir, "--study", study]) == 0
  # Comments, blank lines, spacing and line breaks in the study and its configs: the same study.
  (tmp_path / "study.gin").write_text("# A comment.\n\n" + body.replace(
      "study.name = 'fake'", "study.name   =   'fake'  # renamed? no").replace(
      "{'learning_rate': [", "{\n    'learning_rate':\n        ["))
  base.write_text("# Edited comment only.\n" + base.read_text().replace(
      "train.batch_size = 256", "train.batch_size    =    256   # the same"))
  extra.write_text("\n# still seven\ntrain.summary_every_steps = 7\n\n")
  assert command.main(["--workdir", workdir, "--study", study]) == 0
  capsys.readouterr()
  # A value in a base config: refused with a diff naming it.
  base.write_text(base.read_text().replace("train.batch_size    =    256", "train.batch_size = 8"))
  assert command.main(["--workdir", workdir, "--study", study]) == 2
  err = capsys.readouterr().err
  assert "holds a different study" in err and "base config values" in err
  assert "-train.batch_size = 256" in err and "+train.batch_size = 8" in err
  base.write_text(base.read_text().replace("train.batch_size = 8", "train.batch_size = 256"))
  # A value in a file a base config includes: refused too.
  extra.write_text("train.summary_every_steps = 9\n")
  assert command.main(["--workdir", workdir, "--study", study]) == 2
  err = capsys.readouterr().err
  assert "-train.summary_every_steps = 7" in err and "+train.summary_every_steps = 9" in err
  extra.write_text("train.summary_every_steps = 7\n")
  assert command.main(["--workdir", workdir, "--study", study]) == 0


def test_a_base_config_edited_during_the_sweep_stops_it(tmp_path, monkeypatch, capsys):
  base = tmp_path / "ring8.gin"
  base.write_text(open(RING8).read())
  fake = _fake_run_trial(lambda params: ("done", 1.0))

  def run_trial_then_edit(task):
    base.write_text(open(RING8).read().replace("train.batch_size = 256", "train.batch_size = 8"))
    return fake(task)
  monkeypatch.setattr(executors, "run_trial", run_trial_then_edit)
  study = _write(tmp_path, NS_ONLY.replace(repr(RING8), repr(str(base))) +
                 "study.grid = {'learning_rate': [1e-4, 2e-4]}\n")
  workdir = str(tmp_path / "work")
  assert command.main(["--workdir", workdir, "--study", study]) == 2
  err = capsys.readouterr().err
  assert "a base config of study 'fake'" in err and "changed while the sweep ran" in err
  assert "-train.batch_size = 256" in err and "+train.batch_size = 8" in err
  assert [t["status"] for t in _trials(workdir).values()] == ["done", "pending"]


def test_a_hanging_trial_is_killed_at_the_timeout_and_the_sweep_goes_on(tmp_path, fake_train):
  fake_train({"0.0001": "hang"})
  study = _write(tmp_path, NS_ONLY + "study.grid = {'learning_rate': [1e-4, 2e-4]}\n"
                 "study.trial_timeout_s = 1\n")
  workdir = str(tmp_path / "work")
  lines = []
  start = time.time()
  summary = driver.run_sweep(workdir, study, parallel=1, log=lines.append)
  assert time.time() - start < 30
  hung, second = _trials(workdir).values()
  assert (hung["status"], hung["error"], hung["objective"]) == ("failed", "timeout after 1 s",
                                                                 None)
  assert 1 <= hung["seconds"] < 15
  assert second["status"] == "done" and second["objective"] == pytest.approx(0.2)
  assert summary["counts"]["failed"] == 1 and summary["counts"]["done"] == 1
  assert any(l.startswith("trial 1 ") and ": failed, timeout after 1 s, " in l for l in lines)
  assert _processes_mentioning(workdir) == []


@pytest.mark.parametrize("mode, error", [
    ("fail", "ValueError: ring8 record 3 is not finite (input pipeline)"),
    ("noise", "exit status 1:"),
])
def test_a_failed_trial_records_its_one_line_reason(tmp_path, fake_train, mode, error):
  fake_train({"0.0001": mode})
  study = _write(tmp_path, NS_ONLY + ONE_POINT)
  workdir = str(tmp_path / "work")
  lines = []
  driver.run_sweep(workdir, study, log=lines.append)
  (trial,) = _trials(workdir).values()
  assert trial["status"] == "failed" and trial["error"].startswith(error)
  (line,) = [l for l in lines if l.startswith("trial 1 ")]
  if mode == "fail":  # status.json's message, as recorded and printed.
    assert trial["error"] == error and f": failed, {error}, " in line
  else:  # No reason given: the log's tail is kept, the printed line skips TensorFlow's noise.
    assert "[[{{node EagerPyFunc}}]]" in trial["error"]
    assert (": failed, tensorflow.python.framework.errors_impl.InvalidArgumentError: "
            "ValueError: ring8 record 3 is not finite, ") in line
  assert "[[{{node" not in line
  log = open(os.path.join(trial["run_dir"], "trial.log")).read()
  assert "[[{{node EagerPyFunc}}]] [Op:IteratorGetNext]" in log  # The whole log stays.


def test_reason_is_one_line_without_tensorflow_noise():
  assert driver.reason("compare_gan train: ValueError: bad") == "compare_gan train: ValueError: bad"
  assert driver.reason("exit status 1:\nline\ncompare_gan train: OSError: x\nmore") == (
      "compare_gan train: OSError: x")
  assert driver.reason("exit status 1:\nInvalidArgumentError: bad value\n"
                       "\t [[{{node EagerPyFunc}}]] [Op:IteratorGetNext]") == (
      "InvalidArgumentError: bad value")
  assert driver.reason("InvalidArgumentError: bad [Op:IteratorGetNext] name: x") == (
      "InvalidArgumentError: bad")
  assert driver.reason("ValueError: x\nIn call to configurable 'train'") == "ValueError: x"
  assert driver.reason(None) == "no result"


def _corrupt(path, how):
  if how == "random bytes":
    path.write_bytes(bytes(range(256)) * 40)
  elif how == "empty":
    path.write_bytes(b"")
  else:  # Truncated: the first half of a real study.db.
    store_lib.Store(str(path)).close()
    with contextlib.closing(sqlite3.connect(str(path))) as db:
      db.execute("CREATE TABLE padding (x TEXT)")
      db.executemany("INSERT INTO padding VALUES (?)", [("x" * 500,)] * 200)
      db.commit()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
  return path.read_bytes()


@pytest.mark.parametrize("how, why", [
    ("random bytes", "(file is not a database)"), ("truncated", "(database disk image is "
                                                   "malformed)"), ("empty", "(it is empty")])
def test_a_corrupt_study_db_is_one_line_exit_1(tmp_path, capsys, how, why):
  study = _write(tmp_path, NS_ONLY + ONE_POINT)
  workdir = tmp_path / "work"
  workdir.mkdir()
  database = workdir / "study.db"
  content = _corrupt(database, how)
  for args in (["--study", study], ["--export", str(tmp_path / "x.csv")]):
    assert command.main(["--workdir", str(workdir)] + args) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"compare_gan sweep: {database} is not a readable SQLite database "
                           + why)
    assert "restore it from a backup" in line and "new --workdir" in line
    assert "would be refused" in line
  # Checked first: before the study (here a missing file) is read.
  assert command.main(["--workdir", str(workdir), "--study", str(tmp_path / "none.gin")]) == 1
  assert "is not a readable SQLite database" in _one_line(capsys.readouterr().err)
  assert database.read_bytes() == content
  assert not os.path.exists(workdir / "trials")


def test_a_study_db_from_before_study_ids_resumes_after_a_one_time_upgrade(tmp_path, fake_train):
  study = _write(tmp_path, NS_ONLY + "study.grid = {'learning_rate': [1e-4, 2e-4]}\n")
  workdir = str(tmp_path / "work")
  driver.run_sweep(workdir, study, max_trials=1, log=lambda _: None)
  # What the previous compare_gan recorded: study.* as parsed, then the raw file; no id, no
  # fingerprint, no base configs, and no trial.json in its trial directories.
  with _db(workdir) as db:
    text = db.execute("SELECT value FROM meta WHERE key = 'study_text'").fetchone()[0]
    spec = text[len("# study.* as parsed (gin.config_str()):\n"):].split("\n# study.base")[0]
    db.execute("UPDATE meta SET value = ? WHERE key = 'study_text'",
               ("# study.* as parsed (gin.config_str()):\n" + spec + "\n# study file:\n"
                + open(study).read(),))
    db.execute("DELETE FROM meta WHERE key IN ('study_id', 'study_fingerprint', "
               "'fingerprint_version')")
    db.commit()
  (first,) = _trials(workdir).values()
  os.remove(os.path.join(first["run_dir"], "trial.json"))
  with open(study, "a") as f:
    f.write("# A comment added since: not a change.\n")
  lines = []
  summary = driver.run_sweep(workdir, study, log=lines.append)
  assert lines[0].startswith(f"{os.path.join(workdir, 'study.db')} recorded this study as an "
                             "older compare_gan did (no study id, no base configs); upgraded")
  assert summary["counts"]["done"] == 2
  meta = _meta(workdir)
  assert meta["fingerprint_version"] == "2" and meta["upgraded"]
  second = _trials(workdir)[2]
  assert json.load(open(os.path.join(second["run_dir"], "trial.json")))["study_id"] == (
      meta["study_id"])
