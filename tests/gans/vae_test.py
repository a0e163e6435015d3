"""The VAE baseline (compare_gan/gans/vae.py) against v1's formulas, computed here by hand, and
end to end through `compare_gan train`, `eval`, `export` and `sample` on tiny triangles."""

import json
import os
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir
from compare_gan.gans import inference
from compare_gan.gans import latents
from compare_gan.gans import model as model_lib
from compare_gan.gans import vae

import family_harness as harness  # Same folder: pytest puts it on sys.path.

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CONFIG = os.path.join(ROOT, "configs", "examples", "vae_triangles.gin")
SHAPE = (8, 8, 3)
B = 4
Z_DIM = 4
SEED = np.array([3, 5], np.int64)  # numpy: no TF op may run before the devices are set.
TINY = ["model.family = @VAE", "z.distribution_fn = @tf.random.normal", "G.width = 0.0625",
        "D.width = 0.0625", f"VAE.z_dim = {Z_DIM}", "G.batch_norm_fn = @batch_norm",
        "D.batch_norm_fn = @batch_norm"]


def make_model(*bindings, shape=SHAPE):
  gin.clear_config()
  config.parse_gin([], TINY + list(bindings))
  return model_lib.build(shape, None)


def run_step(model, batch, step=0):
  return tf.distribute.get_strategy().run(
      model.train_step, args=([batch], tf.constant(step, tf.int64), SEED, B))


softplus = harness.softplus


# ----------------------------------------------------------------------------------------------
# Formulas
# ----------------------------------------------------------------------------------------------

def test_nll_is_v1s_bernoulli_sum_over_height_and_width_averaged_over_channels():
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(2, 3, 4, 3))
  p = rng.uniform(0.05, 0.95, size=(2, 3, 4, 3))
  full = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(1, 2, 3))  # [B]
  quirk = vae.bernoulli_nll(tf.constant(x, tf.float32), tf.constant(p, tf.float32)).numpy()
  # v1: sum over H, W, mean over C, so for RGB a third of the full sum.
  np.testing.assert_allclose(quirk, full / 3, rtol=1e-5)
  summed = vae.bernoulli_nll(tf.constant(x, tf.float32), tf.constant(p, tf.float32),
                             sum_over_channels=True).numpy()
  np.testing.assert_allclose(summed, full, rtol=1e-5)
  grey = vae.bernoulli_nll(tf.constant(x[..., :1], tf.float32),
                           tf.constant(p[..., :1], tf.float32)).numpy()
  np.testing.assert_allclose(grey, -(x[..., 0] * np.log(p[..., 0]) + (1 - x[..., 0]) * np.log(
      1 - p[..., 0])).sum(axis=(1, 2)), rtol=1e-5)


def test_kl_and_gaussian_parameters_by_hand():
  mu = np.array([[0.5, -1.0], [0.0, 2.0]])
  sigma = np.array([[1.0, 0.5], [2.0, 1e-3]])
  expected = 0.5 * (mu ** 2 + sigma ** 2 - np.log(1e-8 + sigma ** 2) - 1).sum(axis=1)
  got = vae.gaussian_kl(tf.constant(mu, tf.float32), tf.constant(sigma, tf.float32)).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  assert got[0] == pytest.approx(0.5 * (0.25 + 1.0 + 0.25 - np.log(0.25 + 1e-8) - 1.0), rel=1e-5)
  head = np.array([[0.1, -0.2, 0.3, -4.0]])
  mu, sigma = vae.gaussian_parameters(tf.constant(head, tf.float32), 2)
  np.testing.assert_allclose(mu.numpy(), [[0.1, -0.2]], rtol=1e-6)
  np.testing.assert_allclose(sigma.numpy(), 1e-6 + softplus(np.array([[0.3, -4.0]])), rtol=1e-5)


def test_one_step_equals_the_hand_computed_update():
  """loss = NLL + KL on z = mu + sigma eps (eps the step's N(0, I) draw), p clipped to
  [1e-8, 1 - 1e-8]; one SGD step over decoder, encoder trunk and head (D's output layer, which
  the loss does not reach, stays as it was)."""
  lr = 0.05
  model = make_model("VAE.optimizer = @tf.keras.optimizers.SGD()",
                     f"tf.keras.optimizers.SGD.learning_rate = {lr}")
  x = tf.constant(np.random.default_rng(1).uniform(size=(B,) + SHAPE), tf.float32)
  variables = model.generator.variables + model.encoder.variables
  before = [v.numpy().copy() for v in variables]
  terms = {k: float(v) for k, v in run_step(model, {"images": x}).items()}
  after = [v.numpy().copy() for v in variables]

  for var, value in zip(variables, before):
    var.assign(value)
  eps = tf.random.stateless_normal([B, Z_DIM], latents.derive_seed(SEED, 0, 0, latents.TRAIN_Z))
  trained = model.trained_variables
  with tf.GradientTape() as tape:
    _, features = model.encoder.trunk(x, training=True)
    head = model.encoder.head(features)
    mu, sigma = head[:, :Z_DIM], 1e-6 + tf.nn.softplus(head[:, Z_DIM:])
    p = tf.clip_by_value(model.generator(mu + sigma * eps, training=True), 1e-8, 1 - 1e-8)
    log_likelihood = tf.reduce_sum(x * tf.math.log(p) + (1 - x) * tf.math.log(1 - p), [1, 2])
    nll = -tf.reduce_mean(log_likelihood)
    kl = tf.reduce_mean(0.5 * tf.reduce_sum(
        tf.square(mu) + tf.square(sigma) - tf.math.log(1e-8 + tf.square(sigma)) - 1, [1]))
    loss = nll + kl
  for var, grad in zip(trained, tape.gradient(loss, trained)):
    if grad is not None:
      var.assign_sub(lr * grad)

  assert terms["nll"] == pytest.approx(float(nll), rel=1e-5)
  assert terms["kl"] == pytest.approx(float(kl), rel=1e-5)
  assert terms["loss"] == pytest.approx(float(loss), rel=1e-5)
  for var, got in zip(variables, after):
    np.testing.assert_allclose(got, var.numpy(), rtol=1e-5, atol=1e-6, err_msg=var.path)
  # D's output layer feeds nothing the VAE uses: left as initialised.
  index = {id(v): i for i, v in enumerate(variables)}
  unused = [v for v in model.encoder.trunk.trainable_variables if "d_fc4" in v.path]
  assert unused and all(np.array_equal(after[index[id(v)]], before[index[id(v)]])
                        for v in unused)


def test_the_prior_must_be_the_standard_normal_and_labels_are_refused():
  with pytest.raises(config.ConfigError, match="z.distribution_fn = @tf.random.normal"):
    make_model("z.distribution_fn = @tf.random.uniform")
  with pytest.raises(config.ConfigError, match="N\\(0, I\\)"):
    make_model("z.stddev = 0.5")
  model = make_model()
  assert model.discriminator is None and model.disc_iters == 0
  assert model.real_batches_per_step == 1
  with pytest.raises(ValueError, match="unconditional"):
    model.sample(tf.zeros([2, Z_DIM]), tf.zeros([2], tf.int32))
  with pytest.raises(ValueError, match="needs 1 batch; got 2"):
    tf.distribute.get_strategy().run(model.train_step, args=(
        [{"images": tf.zeros((B,) + SHAPE)}] * 2, tf.constant(0, tf.int64), SEED, B))


def test_point_data_is_refused_when_the_model_is_built(tmp_path, capsys):
  with pytest.raises(config.ConfigError, match=r"examples have shape \(2,\) \(2-D points"):
    make_model("VAE.architecture = @mlp()", shape=(2,))
  # Through the CLI: one line and exit status 2 before any step, not a shape error mid-step.
  ring8 = os.path.join(ROOT, "configs", "examples", "ring8_mlp.gin")
  model_dir = tmp_path / "run"
  assert harness.train(model_dir, 2, ring8, TINY + ["VAE.architecture = @mlp()"]) == 2
  lines = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith("compare_gan train: The VAE models images"), lines
  assert "shape (2,)" in lines[0] and "dataset.name = 'triangles'" in lines[0]
  assert not (model_dir / run_dir.CHECKPOINTS).exists()


# ----------------------------------------------------------------------------------------------
# End to end: train, resume, evaluate, export, sample
# ----------------------------------------------------------------------------------------------

CLI_TINY = ["G.width = 0.0625", "D.width = 0.0625", f"VAE.z_dim = {Z_DIM}",
            "train.batch_size = 8", "train.log_every_steps = 1", "train.summary_every_steps = 1",
            "train.image_summary_every_steps = 2", "train.save_checkpoints_steps = 2"]
def test_train_resume_evaluate_export_and_sample(tmp_path, capsys):
  full, split = tmp_path / "full", tmp_path / "split"
  out, expected, got = harness.whole_and_resumed(full, split, capsys, CONFIG, CLI_TINY)
  assert "VAE (infogan)" in out and " nll " in out and " kl " in out and "encoder" in out

  # Bit for bit the uninterrupted run: decoder, encoder, head, optimizer, step, data position
  # (one real batch per step).
  assert sorted(got) == sorted(expected)
  assert any(name.startswith("encoder") and "en_fc4" in name for name in got)
  assert [np.asarray(v).item() for k, v in got.items() if k.startswith("data_position")] == [
      4 * 8]
  assert [k for k in expected if not np.array_equal(expected[k], got[k])] == []
  assert not os.path.exists(full / run_dir.METRICS)  # The VAE records nothing at checkpoints.

  assert harness.run_cli("eval", "--model_dir", full, "--all",
                         *[a for b in harness.EVAL for a in ("--gin_bindings", b)]) == 0
  assert {(r["step"], r["metric"]) for r in run_dir.read_metrics(full)} == {
      (2, "swd_pixels"), (4, "swd_pixels")}

  # Export: the decoder is the generator; there is no discriminator signature.
  export_dir = tmp_path / "export"
  assert harness.run_cli("export", "--model_dir", full, "--export_dir", export_dir) == 0
  with open(export_dir / "assets" / "compare_gan_metadata.json") as f:
    metadata = json.load(f)
  assert metadata["family"] == "VAE" and metadata["z_distribution"]["kind"] == "normal"
  assert metadata["discriminator"] == "not exported: the VAE has no discriminator"
  assert sorted(metadata["signatures"]) == ["generator", "serving_default"]
  loaded = tf.saved_model.load(str(export_dir))
  assert sorted(loaded.signatures) == ["serving_default"]
  gin.clear_config()
  config.parse_gin([str(full / "config.gin")], [])
  rebuilt = inference.InferenceModel((28, 28, 1), None)
  assert rebuilt.restore(str(full / "checkpoints" / "ckpt-4")) == 4
  z = tf.random.stateless_normal([3, Z_DIM], [7, 7])
  np.testing.assert_allclose(loaded.generator(z).numpy(), rebuilt.model.sample(z).numpy(),
                             atol=1e-6)

  grid = tmp_path / "grid.png"
  assert harness.run_cli("sample", "--module", export_dir, "--num", 4, "--out", grid) == 0
  assert "z normal" in capsys.readouterr().out and grid.stat().st_size > 0


# ----------------------------------------------------------------------------------------------
# Two replicas (a fresh process: logical devices are set before TensorFlow runs an op)
# ----------------------------------------------------------------------------------------------

def test_two_replicas_match_one_device_with_the_same_global_batch(tmp_path):
  """eps is drawn for the global batch and sliced per replica, the loss is a global-batch mean:
  the first step's terms agree and both replicas hold the same weights."""
  harness.assert_replicas_agree(harness.fresh_process_report(__file__, tmp_path),
                                 {"loss/vae", "loss/nll", "loss/kl"})


def _two_replica_main(root):
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from compare_gan.training import loop  # pylint: disable=import-outside-toplevel
  first_step, replicas = {}, []
  for strategy in ("default", "mirrored"):
    gin.clear_config()
    config.parse_gin([CONFIG], CLI_TINY + ["train.training_steps = 1",
                                           f"train.strategy = '{strategy}'"])
    model_dir = os.path.join(root, strategy)
    result = loop.train(model_dir, log=lambda message: None)
    replicas.append(result.strategy.num_replicas_in_sync)
    harness.step_scalars(model_dir, 1, first_step)
  model, worst = result.model, 0.0
  for v in model.generator.variables + model.encoder.variables:
    values = [t.numpy() for t in result.strategy.experimental_local_results(v.value)]
    worst = max([worst] + [float(np.max(np.abs(values[0] - x))) for x in values[1:]])
  print("REPORT " + json.dumps(dict(replicas=replicas, first_step=first_step,
                                    max_replica_difference=worst)))


if __name__ == "__main__":
  _two_replica_main(sys.argv[1])
