"""Exact resume after a real SIGKILL: 8 uninterrupted steps equal 4+ steps, kill, resume to 8.

Device loops (train.steps_per_loop) end at checkpoints, so the uninterrupted run's loops are 1
(the tracing loop), 3 and 4 steps long and the killed run's 1, 3 | 1, 3: the weights must not
depend on how the steps were split into loops."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
# BN in G, SN in D, EMA and two D updates per step: every kind of state a checkpoint must carry.
ARGS = ["--gin_config", os.path.join(ROOT, "configs", "examples", "triangles_sndcgan.gin"),
        "--gin_bindings", "G.width = 0.25", "--gin_bindings", "D.width = 0.25",
        "--gin_bindings", "ModularGAN.z_dim = 16", "--gin_bindings", "train.batch_size = 32",
        "--gin_bindings", "ModularGAN.disc_iters = 2",
        "--gin_bindings", "ModularGAN.g_use_ema = True",
        "--gin_bindings", "ModularGAN.ema_start_step = 2",
        "--gin_bindings", "train.training_steps = 8",
        "--gin_bindings", "train.save_checkpoints_steps = 4",
        "--gin_bindings", "train.steps_per_loop = 50"]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _command(model_dir):
  return [sys.executable, "-m", "compare_gan", "train", "--model_dir", str(model_dir)] + ARGS


def _status(model_dir):
  try:
    with open(os.path.join(model_dir, "status.json")) as f:
      return json.load(f)
  except (FileNotFoundError, json.JSONDecodeError):
    return None


def _kill_mid_run(model_dir) -> dict:
  """Starts the run and SIGKILLs it once a checkpoint at step >= 4 exists."""
  proc = subprocess.Popen(_command(model_dir), env=ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None:
    status = _status(model_dir)
    if status and status["step"] >= 4:
      proc.send_signal(signal.SIGKILL)
      break
    time.sleep(0.01)
  proc.wait(timeout=60)
  return dict(returncode=proc.returncode, status=_status(model_dir))


def _variables(checkpoint_prefix):
  reader = tf.train.load_checkpoint(checkpoint_prefix)
  return {name: reader.get_tensor(name) for name in
          reader.get_variable_to_shape_map() if not name.startswith("_CHECKPOINTABLE")}


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
  full = tmp_path / "uninterrupted"
  subprocess.run(_command(full), env=ENV, check=True, capture_output=True, timeout=600)

  for attempt in range(3):  # The kill races a fast run; retry if the run finished first.
    killed = tmp_path / f"killed{attempt}"
    outcome = _kill_mid_run(killed)
    if outcome["returncode"] == -signal.SIGKILL and outcome["status"]["state"] == "running":
      break
  else:
    raise AssertionError(f"could not kill the run mid-way: {outcome}")
  assert 4 <= outcome["status"]["step"] < 8

  proc = subprocess.run(_command(killed), env=ENV, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "resumed from" in proc.stdout
  assert _status(killed)["state"] == "done"

  expected = _variables(str(full / "checkpoints" / "ckpt-8"))
  got = _variables(str(killed / "checkpoints" / "ckpt-8"))
  assert sorted(got) == sorted(expected)
  # Every weight, optimizer slot, EMA weight, BN statistic, SN vector, the step and the data
  # position are bit-identical.
  assert any("generator_ema" in name for name in got)
  assert any("moving_mean" in name for name in got)
  different = [name for name in expected if not np.array_equal(expected[name], got[name])]
  assert not different, different[:10]
