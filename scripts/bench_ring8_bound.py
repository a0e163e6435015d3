#!/usr/bin/env python
"""The ceiling of a ring8 training step on this machine: its matrix products alone.

Usage (from the repository root):

  .venv/bin/python scripts/bench_ring8_bound.py                 # 5 rounds of 2000 steps
  .venv/bin/python scripts/bench_ring8_bound.py --rounds 3 --steps 1000 --batch_size 256

A ring8 step (configs/examples/ring8_mlp.gin: MLP G 64-256-256-256-2 and D 2-256-256-256-1,
batch 256, disc_iters 1, the D update on the joint real+fake batch of 512) is mostly matrix
products. This script runs exactly those products, with the step's shapes, in one compiled
device loop with nothing else: no activations, no bias adds, no optimizer, no data, no host
reads. Its steps/s is therefore an upper bound on what any implementation of the step using
TensorFlow's matmul kernels can reach here. The products, per step (M x K @ K x N):

  D update:  G forward on b           b x 64 @ 64 x h, 2 x (b x h @ h x h), b x h @ h x 2
             D forward on 2b          2b x 2 @ 2 x h, 2 x (2b x h @ h x h), 2b x h @ h x 1
             D weight gradients       2 x 2b @ 2b x h, 2 x (h x 2b @ 2b x h), h x 2b @ 2b x 1
             D input gradients        2b x 1 @ 1 x h, 2 x (2b x h @ h x h)
  G update:  G forward, D forward on 2b (as above), D input gradients down to the images
             (2b x 1 @ 1 x h, 2 x (2b x h @ h x h), 2b x h @ h x 2), G weight gradients
             (64 x b @ b x h, 2 x (h x b @ b x h), h x b @ b x 2) and G input gradients
             (b x 2 @ 2 x h, 2 x (b x h @ h x h)).

Each result feeds a running sum, so nothing is pruned. The products' inputs are loop-invariant
variables; grappler's loop-invariant code motion is off by default, and the rate shows that
nothing was hoisted (hoisted products would leave an empty loop at thousands of steps/s).
Adding the loop counter to every input instead costs ~5 % (element-wise adds). Rounds alternate with a square
2048^3 matmul measurement of the float32 peak, so the bound is also given as a fraction of it.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # pylint: disable=g-import-not-at-top

Z_DIM, HIDDEN, OUT = 64, 256, 2


def product_shapes(b: int, h: int = HIDDEN):
  """(M, K, N) of every matrix product of one ring8 step at batch b (see the docstring)."""
  g_fwd = [(b, Z_DIM, h), (b, h, h), (b, h, h), (b, h, OUT)]
  d_fwd = [(2 * b, OUT, h), (2 * b, h, h), (2 * b, h, h), (2 * b, h, 1)]
  d_weight_grads = [(OUT, 2 * b, h), (h, 2 * b, h), (h, 2 * b, h), (h, 2 * b, 1)]
  d_input_grads = [(2 * b, 1, h), (2 * b, h, h), (2 * b, h, h)]
  d_input_grads_to_images = d_input_grads + [(2 * b, h, OUT)]
  g_weight_grads = [(Z_DIM, b, h), (h, b, h), (h, b, h), (h, b, OUT)]
  g_input_grads = [(b, OUT, h), (b, h, h), (b, h, h)]
  d_update = g_fwd + d_fwd + d_weight_grads + d_input_grads
  g_update = g_fwd + d_fwd + d_input_grads_to_images + g_weight_grads + g_input_grads
  return d_update + g_update


def flops(shapes) -> int:
  return sum(2 * m * k * n for m, k, n in shapes)


def skeleton_loop(shapes):
  """A tf.function running `steps` repetitions of the products; returns a checksum."""
  lhs = [tf.Variable(tf.random.normal([m, k]) * 0.01) for m, k, _ in shapes]
  rhs = [tf.Variable(tf.random.normal([k, n]) * 0.01) for _, k, n in shapes]

  @tf.function
  def run(steps):
    def body(i, acc):
      total = acc
      for a, w in zip(lhs, rhs):
        total += tf.matmul(a, w)[0, 0]
      return i + 1, total
    return tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), tf.constant(0.0)))[1]
  return run


def square_peak(size: int = 2048, repeats: int = 5) -> float:
  """GFLOP/s of a size^3 float32 matmul, the best of `repeats`."""
  a = tf.random.normal([size, size])
  b = tf.random.normal([size, size])
  matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[0]))
  matmul().numpy()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    matmul().numpy()
    best = min(best, time.perf_counter() - start)
  return 2 * size ** 3 / best / 1e9


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--batch_size", type=int, default=256)
  p.add_argument("--steps", type=int, default=2000)
  p.add_argument("--rounds", type=int, default=5)
  args = p.parse_args()
  shapes = product_shapes(args.batch_size)
  step_flops = flops(shapes)
  run = skeleton_loop(shapes)
  run(tf.constant(10)).numpy()  # trace and warm up
  rates, peaks = [], []
  for i in range(args.rounds):
    start = time.perf_counter()
    run(tf.constant(args.steps)).numpy()
    rate = args.steps / (time.perf_counter() - start)
    peak = square_peak()
    rates.append(rate)
    peaks.append(peak)
    print(f"round {i + 1}: products only {rate:.1f} steps/s "
          f"({rate * step_flops / 1e9:.1f} GFLOP/s), square-matmul peak {peak:.1f} GFLOP/s",
          flush=True)
  rate, peak = max(rates), max(peaks)
  print(f"\nring8 step at batch {args.batch_size}: {len(shapes)} products, "
        f"{step_flops / 1e6:.1f} MFLOP; load average {os.getloadavg()[0]:.2f}")
  print(f"products alone: best {rate:.1f} steps/s (median {statistics.median(rates):.1f}), "
        f"{rate * step_flops / 1e9:.1f} GFLOP/s = {100 * rate * step_flops / 1e9 / peak:.0f} % "
        f"of the square-matmul peak {peak:.1f} GFLOP/s")
  print(f"at the peak itself: {peak * 1e9 / step_flops:.1f} steps/s")


if __name__ == "__main__":
  main()
