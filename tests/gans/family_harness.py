"""What the model-family tests share (began_test.py, vae_test.py, ssgan_test.py, s3gan_test.py):
the CLI with a clean gin state, tiny training runs, a run against its half-and-resume twin,
checkpoint contents, TensorBoard tags, numpy reference formulas, and a test body run in a
fresh process (logical devices must be set before TensorFlow runs an op)."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from compare_gan.training import summaries

import cli_harness  # tests/: pytest puts it on sys.path.

# The family tests call harness.run_cli and harness.train as every end-to-end test does.
run_cli, train = cli_harness.run_cli, cli_harness.train

# A weight-free evaluation small enough for a test.
EVAL = ["evaluation.metrics = [@sliced_wasserstein()]", "evaluation.num_fake = 32",
        "evaluation.num_averaging_runs = 1", "sliced_wasserstein.num_projections = 8"]


def checkpoint(path) -> dict:
  """{variable name: value} of a checkpoint prefix."""
  reader = tf.train.load_checkpoint(str(path))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if not name.startswith("_CHECKPOINTABLE")}


def tags(model_dir) -> set:
  """The scalar tags of a run's TensorBoard events (tb/)."""
  found = set()
  for path in glob.glob(os.path.join(str(model_dir), "tb", "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      found.update(value.tag for value in event.summary.value)
  return found


def fresh_process_report(script: str, tmp_path) -> dict:
  """Runs `python script tmp_path` and returns the JSON its last `REPORT ` line prints."""
  # tests/ on the path too: this module imports tests/cli_harness.py.
  tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=path)
  proc = subprocess.run([sys.executable, script, str(tmp_path)], capture_output=True,
                        text=True, env=env, timeout=900)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
  return json.loads([l for l in proc.stdout.splitlines() if l.startswith("REPORT ")][-1][7:])


def scalar_tags(*terms) -> set:
  """The TensorBoard tags the training loop writes for these family terms."""
  return {summaries.SCALARS.get(t, t) for t in terms}


def softmax(x: np.ndarray) -> np.ndarray:
  """Row-wise softmax of [N, K] logits, in numpy (the tests' independent formula)."""
  e = np.exp(x - x.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


def softplus(x: np.ndarray) -> np.ndarray:
  """log(1 + e^x), in numpy, stable for large |x|."""
  return np.logaddexp(0.0, x)


def whole_and_resumed(full, split, capsys, config, bindings, steps: int = 4):
  """Trains `config` for `steps` steps in one run (`full`) and in two (`split`: half, then a
  resume, which must say so). Returns (the whole run's output, its final checkpoint, the
  resumed run's final checkpoint), checkpoints as {variable name: value}."""
  assert train(full, steps, config, bindings) == 0
  out = capsys.readouterr().out
  assert train(split, steps // 2, config, bindings) == 0
  assert train(split, steps, config, bindings) == 0
  assert "resumed from" in capsys.readouterr().out
  return (out, checkpoint(os.path.join(str(full), "checkpoints", f"ckpt-{steps}")),
          checkpoint(os.path.join(str(split), "checkpoints", f"ckpt-{steps}")))


def step_scalars(model_dir, step: int, into: dict) -> None:
  """Appends each TensorBoard scalar a run wrote at `step` (but speed and pictures) to
  into[tag] (a list per tag, one value per run)."""
  for path in glob.glob(os.path.join(str(model_dir), "tb", "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if event.step == step and not value.tag.startswith(("speed/", "samples", "real")):
          into.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))


def assert_replicas_agree(report: dict, tags) -> None:
  """A fresh_process_report of one run on 1 and on 2 replicas: `tags` among the first step's
  scalars, each equal to 1e-5 relative, and the two replicas' weights identical."""
  assert report["replicas"] == [1, 2]
  assert set(tags) <= set(report["first_step"])
  for tag, (one, two) in report["first_step"].items():
    assert abs(one - two) <= 1e-5 * max(1.0, abs(one)), (tag, one, two)
  assert report["max_replica_difference"] == 0.0
