#!/usr/bin/env python
"""Where the time of one quickstart trial goes: the fixed costs of a run, phase by phase.

Usage (from the repository root):

  .venv/bin/python scripts/bench_trial.py              # one trial, as the quickstart sweep runs it
  .venv/bin/python scripts/bench_trial.py --repeat 3   # three fresh processes; median per phase
  .venv/bin/python scripts/bench_trial.py --steps_per_loop 1   # the loop as before device loops

Each repetition runs `compare_gan train --schedule train_and_eval` in a fresh process on a
trial of configs/studies/quickstart.gin (setting loss=ns, d_norm=sn, learning rate 1e-3, seed
0: the study's grid point), with the functions below wrapped by timers. The phases (seconds,
inclusive; they do not nest):

  import       `import tensorflow` and the component modules (config.import_tensorflow)
  config       parsing the gin files and bindings (config.parse_command_config)
  dataset      building the dataset object and rendering/loading its splits
               (InMemoryDataset._split_tensors: the 60k training triangles, the 10k eval split)
  model        building G, D and the optimizers (gans/model.build: training and inference)
  first loop   the training loop's first call: tracing (autograph, graph building, grappler)
               plus one step
  steps        every later loop (the training steps)
  checkpoints  writing checkpoints (Checkpoints.save)
  summaries    TensorBoard pictures (Summaries.picture: sampling and PNG encoding)
  evaluation   scoring the checkpoints (Evaluator.evaluate: sampling, features, SWD), set-up
               of the real features included
  other        the rest of the process's wall time (interpreter start, CLI, run directory,
               pipeline set-up, exit)

Figures depend on the machine's load: run it on a quiet machine, and compare variants side by
side in one invocation.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PHASES = ("import", "config", "dataset", "model", "first loop", "steps", "checkpoints",
          "summaries", "evaluation", "other")
QUICKSTART = [
    "--gin_config", "configs/examples/triangles_sndcgan.gin",
    "--gin_config", "configs/eval/weight_free.gin",
    "--gin_bindings", "G.width = 0.125", "--gin_bindings", "D.width = 0.125",
    "--gin_bindings", "train.training_steps = 100",
    "--gin_bindings", "train.save_checkpoints_steps = 50",
    "--gin_bindings", "train.log_every_steps = 50",
    "--gin_bindings", "train.summary_every_steps = 50",
    "--gin_bindings", "train.image_summary_every_steps = 100",
    "--gin_bindings", "evaluation.metrics = [@sliced_wasserstein()]",
    "--gin_bindings", "evaluation.num_fake = 2000",
    "--gin_bindings", "evaluation.num_averaging_runs = 1",
    "--gin_bindings", "loss.fn = @non_saturating", "--gin_bindings", "D.spectral_norm = True",
    "--gin_bindings", "tf.keras.optimizers.Adam.learning_rate = 0.001",
    "--gin_bindings", "train.seed = 0",
]


def _worker(model_dir: str, extra: list, out: str) -> None:
  """One trial in this process, with timers around the phases; writes the times to `out`."""
  start = time.perf_counter()
  times = dict.fromkeys(PHASES, 0.0)
  depth = [0]

  def timed(owner, name, phase):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
      if depth[0]:  # Count the outermost phase only (e.g. a model built inside evaluation).
        return original(*args, **kwargs)
      depth[0] += 1
      t = time.perf_counter()
      try:
        return original(*args, **kwargs)
      finally:
        times[phase] += time.perf_counter() - t
        depth[0] -= 1
    setattr(owner, name, wrapper)

  from compare_gan import cli, config
  timed(config, "import_tensorflow", "import")
  timed(config, "parse_command_config", "config")
  config.import_tensorflow()
  times["import"] = time.perf_counter() - start  # The interpreter's own start is "other".
  from compare_gan.data import random_access
  from compare_gan.gans import model as model_lib
  from compare_gan.metrics import evaluate
  from compare_gan.training import checkpoints, loop, summaries
  timed(random_access.InMemoryDataset, "_split_tensors", "dataset")
  timed(model_lib, "build", "model")
  timed(checkpoints.Checkpoints, "save", "checkpoints")
  timed(summaries.Summaries, "picture", "summaries")
  timed(evaluate.Evaluator, "evaluate", "evaluation")
  loop_times = []
  original_train = loop.train

  def train(*args, **kwargs):
    result = original_train(*args, **kwargs)
    loop_times.extend(result.loops)
    return result
  loop.train = train
  rc = cli.main(["train", "--model_dir", model_dir, "--schedule", "train_and_eval"]
                + QUICKSTART + extra)
  if rc:
    raise SystemExit(f"the trial failed (exit {rc})")
  times["first loop"] = loop_times[0][1]
  times["steps"] = sum(seconds for _, seconds in loop_times[1:])
  times["other"] = 0.0
  times["other"] = time.perf_counter() - start - sum(times.values())
  with open(out, "w") as f:
    json.dump(dict(times=times, loops=loop_times), f)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--repeat", type=int, default=1, help="fresh processes (median per phase)")
  p.add_argument("--steps_per_loop", type=int, default=None,
                 help="train.steps_per_loop (default: the config's default)")
  p.add_argument("--gin_bindings", action="append", default=[], help="more bindings")
  p.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
  args = p.parse_args()
  extra = []
  for binding in args.gin_bindings + ([f"train.steps_per_loop = {args.steps_per_loop}"]
                                      if args.steps_per_loop else []):
    extra += ["--gin_bindings", binding]
  if args._worker:
    _worker(args._worker[0], extra, args._worker[1])
    return
  runs = []
  for i in range(args.repeat):
    with tempfile.TemporaryDirectory() as tmp:
      out = os.path.join(tmp, "times.json")
      t = time.perf_counter()
      subprocess.run([sys.executable, __file__, "--_worker", os.path.join(tmp, "run"), out]
                     + extra, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
      wall = time.perf_counter() - t
      with open(out) as f:
        run = json.load(f)
      run["wall"] = wall
      runs.append(run)
      print(f"run {i + 1}: {wall:.1f} s wall", file=sys.stderr)
  print(f"One quickstart trial, {args.repeat} fresh process(es); median seconds per phase "
        f"(load average {os.getloadavg()[0]:.2f}):\n")
  print("| phase | s | % |\n|---|---|---|")
  total = statistics.median(r["wall"] for r in runs)
  for phase in PHASES:
    value = statistics.median(r["times"][phase] for r in runs)
    print(f"| {phase} | {value:.2f} | {100 * value / total:.0f} % |")
  print(f"| **process wall time** | **{total:.2f}** | |")
  loops = runs[0]["loops"]
  print(f"\nloops of the first run (steps, s): {', '.join(f'{n}: {s:.2f}' for n, s in loops)}")


if __name__ == "__main__":
  main()
