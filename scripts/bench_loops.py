#!/usr/bin/env python
"""Device loops side by side: steady-state steps/s of `compare_gan train` at two
`train.steps_per_loop` values, alternated A B A B in one invocation.

Usage (from the repository root):

  .venv/bin/python scripts/bench_loops.py                      # ring8 MLP, loops of 100 vs 1
  .venv/bin/python scripts/bench_loops.py --rounds 5 --steps 4000
  .venv/bin/python scripts/bench_loops.py --config configs/examples/triangles_sndcgan.gin \
      --steps 300 --log_every 50

Each run is a fresh `compare_gan train` process on the config (the ring8 MLP of
configs/examples/ring8_mlp.gin by default) with `train.log_every_steps = --log_every` and the
summaries moved to the end, so that loops are as long as `steps_per_loop` allows. Its steps/s
is the mean rate over the progress lines after the first --skip steps (tracing and warm-up
excluded), as the progress line computes it. The ratio A/B is taken round by round, so a drift
of the machine's speed moves both sides. Figures depend on the machine's load.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
RATE = re.compile(r"^step (\d+)/\d+ .*?\| ([\d.]+) steps/s")


def run(config: str, steps: int, log_every: int, steps_per_loop: int, skip: int,
        extra: list) -> float:
  """Steady-state steps/s of one fresh training process."""
  with tempfile.TemporaryDirectory() as tmp:
    bindings = [f"train.training_steps = {steps}", f"train.log_every_steps = {log_every}",
                f"train.summary_every_steps = {steps}",
                f"train.image_summary_every_steps = {steps}",
                f"train.save_checkpoints_steps = {steps}",
                f"train.steps_per_loop = {steps_per_loop}"] + extra
    command = [sys.executable, "-m", "compare_gan", "train", "--model_dir",
               os.path.join(tmp, "run"), "--gin_config", config]
    for binding in bindings:
      command += ["--gin_bindings", binding]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
  rates = [float(m.group(2)) for m in map(RATE.match, out.splitlines())
           if m and int(m.group(1)) > skip]
  if not rates:
    raise SystemExit(f"no progress line after step {skip}; raise --steps")
  return statistics.mean(rates)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--config", default="configs/examples/ring8_mlp.gin")
  p.add_argument("--steps", type=int, default=3000)
  p.add_argument("--log_every", type=int, default=500)
  p.add_argument("--skip", type=int, default=500,
                 help="progress lines up to this step are not counted (tracing, warm-up)")
  p.add_argument("--a", type=int, default=100, help="steps_per_loop of A (default 100)")
  p.add_argument("--b", type=int, default=1, help="steps_per_loop of B (default 1)")
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--gin_bindings", action="append", default=[])
  args = p.parse_args()
  a_rates, b_rates, ratios = [], [], []
  for i in range(args.rounds):
    a = run(args.config, args.steps, args.log_every, args.a, args.skip, args.gin_bindings)
    b = run(args.config, args.steps, args.log_every, args.b, args.skip, args.gin_bindings)
    a_rates.append(a)
    b_rates.append(b)
    ratios.append(a / b)
    print(f"round {i + 1}: A {a:.1f} steps/s, B {b:.1f} steps/s, A/B {a / b:.2f}", flush=True)
  print(f"\n{args.config}: steps_per_loop {args.a} (A) vs {args.b} (B), {args.rounds} rounds, "
        f"load average {os.getloadavg()[0]:.2f}")
  print(f"A: median {statistics.median(a_rates):.1f} steps/s (min {min(a_rates):.1f}, "
        f"max {max(a_rates):.1f})")
  print(f"B: median {statistics.median(b_rates):.1f} steps/s (min {min(b_rates):.1f}, "
        f"max {max(b_rates):.1f})")
  print(f"A/B: median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, "
        f"max {max(ratios):.2f})")


if __name__ == "__main__":
  main()
