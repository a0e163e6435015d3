"""The training loop under MirroredStrategy on two logical CPU devices versus one device.

Logical devices must be configured before TensorFlow runs an op, so the runs happen in a fresh
subprocess (this file's `__main__`).
"""

import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TRIANGLES = os.path.join(ROOT, "configs", "examples", "triangles_sndcgan.gin")


def test_two_replicas_match_one_device_with_the_same_global_batch(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  proc = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True,
                        text=True, env=env, timeout=900)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
  report = json.loads([l for l in proc.stdout.splitlines() if l.startswith("REPORT ")][-1][7:])
  assert report["replicas"] == [1, 2]
  # z and labels are drawn for the global batch and sliced per replica, the data positions are
  # split the same way, BN moments are cross-replica and losses are summed per global batch, so
  # the first step's losses agree up to float32 summation order (BN's E[x^2] - E[x]^2 across
  # replicas vs. the single-device two-pass moments): 1e-5 is ~100 ulp at these magnitudes.
  assert {"loss/d", "loss/g", "loss/d_real", "d/fake_logits"} <= set(report["first_step"])
  for tag, (one, two) in report["first_step"].items():
    assert abs(one - two) <= 1e-5 * max(1.0, abs(one)), (tag, one, two)
  assert report["max_replica_difference"] == 0.0
  assert report["steps"] == [2, 2]


def _main(root):
  import tensorflow as tf
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  import gin
  import numpy as np
  from compare_gan import config
  from compare_gan.training import loop

  bindings = ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8",
              "train.batch_size = 8", "train.training_steps = 2", "train.summary_every_steps = 1",
              "D.batch_norm_fn = @batch_norm", "ModularGAN.g_use_ema = True"]
  first_step, replicas, steps = {}, [], []
  for strategy in ("default", "mirrored"):
    gin.clear_config()
    config.parse_gin([TRIANGLES], bindings + [f"train.strategy = '{strategy}'"])
    model_dir = os.path.join(root, strategy)
    result = loop.train(model_dir, log=lambda message: None)
    replicas.append(result.strategy.num_replicas_in_sync)
    steps.append(result.step)
    for path in tf.io.gfile.glob(os.path.join(model_dir, "tb", "events.*")):
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          if event.step == 1 and value.tag.startswith(("loss/", "d/")):
            first_step.setdefault(value.tag, []).append(
                float(tf.make_ndarray(value.tensor)))
  model = result.model
  worst = 0.0
  for v in model.generator.variables + model.discriminator.variables + \
      model.generator_ema.variables:
    values = [t.numpy() for t in result.strategy.experimental_local_results(v.value)]
    worst = max([worst] + [float(np.max(np.abs(values[0] - x))) for x in values[1:]])
  print("REPORT " + json.dumps(dict(replicas=replicas, steps=steps, first_step=first_step,
                                    max_replica_difference=worst)))


if __name__ == "__main__":
  _main(sys.argv[1])
