"""`--strategy multi_worker`: two worker processes on this machine (TF_CONFIG on localhost),
one run directory. The chief (worker 0) owns the run directory; the other worker keeps scratch
checkpoints under workers/1 (tf.distribute needs every worker to save)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import tensorflow as tf

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TRIANGLES = os.path.join(ROOT, "configs", "examples", "triangles_sndcgan.gin")
BINDINGS = ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8",
            "train.batch_size = 8", "train.training_steps = 3", "train.save_checkpoints_steps = 3",
            "train.log_every_steps = 1"]


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def test_two_workers_train_one_run(tmp_path):
  model_dir = tmp_path / "run"
  cluster = {"worker": [f"localhost:{p}" for p in _free_ports(2)]}
  command = [sys.executable, "-m", "compare_gan", "train", "--model_dir", str(model_dir),
             "--gin_config", TRIANGLES, "--strategy", "multi_worker"]
  for binding in BINDINGS:
    command += ["--gin_bindings", binding]
  procs = []
  for index in range(2):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
               TF_CONFIG=json.dumps({"cluster": cluster,
                                     "task": {"type": "worker", "index": index}}))
    procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True))
  outputs = [p.communicate(timeout=600) for p in procs]
  for p, (out, err) in zip(procs, outputs):
    assert p.returncode == 0, out[-2000:] + err[-4000:]
  assert "2 replica(s) x batch 4" in outputs[0][0]
  with open(model_dir / "status.json") as f:
    status = json.load(f)
  assert status["state"] == "done" and status["step"] == 3 and status["replicas"] == 2
  # Both workers end with the same weights: the chief's checkpoint equals the scratch copy.
  chief = tf.train.load_checkpoint(str(model_dir / "checkpoints" / "ckpt-3"))
  other = tf.train.load_checkpoint(str(model_dir / "workers" / "1" / "ckpt-3"))
  names = [n for n in chief.get_variable_to_shape_map() if "generator/" in n or
           "discriminator/" in n]
  assert names
  for name in names:
    np.testing.assert_array_equal(chief.get_tensor(name), other.get_tensor(name), err_msg=name)
