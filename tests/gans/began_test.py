"""BEGAN (compare_gan/gans/began.py) against v1's formulas, computed here by hand, and end to
end through `compare_gan train`, `eval`, `export` and `sample` on tiny triangles."""

import json
import os
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir
from compare_gan.architectures import began_autoencoder
from compare_gan.gans import began
from compare_gan.gans import inference
from compare_gan.gans import latents
from compare_gan.gans import model as model_lib

import family_harness as harness  # Same folder: pytest puts it on sys.path.

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CONFIG = os.path.join(ROOT, "configs", "examples", "began_triangles.gin")
SHAPE = (8, 8, 1)
SHAPE_TRIANGLES = (28, 28, 1)
B = 4
Z_DIM = 4
SEED = np.array([3, 5], np.int64)  # numpy: no TF op may run before the devices are set.
TINY = ["model.family = @BEGAN", "G.width = 0.0625", "D.width = 0.0625",
        f"BEGAN.z_dim = {Z_DIM}", "G.batch_norm_fn = @batch_norm"]


def make_model(*bindings, seed=0):
  gin.clear_config()
  config.parse_gin([], TINY + list(bindings))
  return model_lib.build(SHAPE, None, seed=seed)


def make_batches(count, seed=0):
  rng = np.random.default_rng(seed)
  return [{"images": tf.constant(rng.uniform(size=(B,) + SHAPE), tf.float32)}
          for _ in range(count)]


def run_step(model, batches, step=0):
  return tf.distribute.get_strategy().run(
      model.train_step, args=(batches, tf.constant(step, tf.int64), SEED, B))


def expected_z(step, sub_step):
  seed = latents.derive_seed(SEED, step, sub_step, latents.TRAIN_Z)
  return tf.random.stateless_uniform([B, Z_DIM], seed, -1.0, 1.0)


def numpy_energy(reconstruction, images):
  """v1's L(v) = mean |AE(v) - v| over the batch and every pixel."""
  return float(np.mean(np.abs(np.asarray(reconstruction, np.float64) -
                              np.asarray(images, np.float64))))


# ----------------------------------------------------------------------------------------------
# Formulas
# ----------------------------------------------------------------------------------------------

def test_losses_k_update_and_convergence_measure_by_hand():
  real, fake, k = 0.4, 0.1, 0.3
  losses = began.began_losses(tf.constant(real), tf.constant(fake), tf.constant(k))
  np.testing.assert_allclose(losses.d_loss.numpy(), 0.4 - 0.3 * 0.1, rtol=1e-6)
  np.testing.assert_allclose(losses.g_loss.numpy(), 0.1, rtol=1e-6)
  # k + lambda_k (gamma L(x) - L(G(z))) = 0.3 + 0.01 (0.75 * 0.4 - 0.1) = 0.302.
  np.testing.assert_allclose(began.updated_k(k, real, fake, 0.75, 0.01).numpy(), 0.302,
                             rtol=1e-6)
  # v1 does not clip; the paper clips to [0, 1].
  assert began.updated_k(0.99, 0.4, 0.0, 1.0, 1.0).numpy() == pytest.approx(1.39)
  assert began.updated_k(0.99, 0.4, 0.0, 1.0, 1.0, clip=True).numpy() == 1.0
  assert began.updated_k(0.01, 0.0, 0.4, 1.0, 1.0, clip=True).numpy() == 0.0
  # M = L(x) + |gamma L(x) - L(G(z))|, both signs of the inner term.
  assert began.convergence_measure(0.4, 0.1, 0.75).numpy() == pytest.approx(0.4 + 0.2)
  assert began.convergence_measure(0.4, 0.5, 0.75).numpy() == pytest.approx(0.4 + 0.2)


def test_autoencoder_energy_layout_and_parameter_count():
  d = began_autoencoder.Autoencoder((32, 32, 3))
  d.build_variables()
  # v1's docstring: 1.3M parameters at 32x32x3; by hand, kernels + biases:
  # conv 4*4*3*64 + 64, conv 4*4*64*128 + 128, fc 8192*64 + 64, fc 64*8192 + 8192,
  # deconv 4*4*128*64 + 64, deconv 4*4*64*3 + 3.
  by_hand = (3136 + 131200 + (8192 * 64 + 64) + (64 * 8192 + 8192) + 131136 + (4 * 4 * 64 * 3 + 3))
  assert sum(int(np.prod(v.shape)) for v in d.trainable_variables) == by_hand == 1325379
  assert [v.path.split("/")[1] for v in d.trainable_variables][::2] == [
      "d_conv1", "d_conv2", "d_fc6", "d_fc1", "d_deconv1", "d_deconv2"]
  x = tf.random.stateless_uniform([3, 32, 32, 3], [1, 2])
  energy, code = d(x, training=True)
  reconstruction = d.reconstruct(x, training=True).numpy()
  assert energy.shape == (3, 1) and code.shape == (3, 64)
  assert reconstruction.min() >= 0 and reconstruction.max() <= 1  # sigmoid output
  per_example = np.abs(reconstruction - x.numpy()).mean(axis=(1, 2, 3))
  np.testing.assert_allclose(energy.numpy()[:, 0], per_example, rtol=1e-5)
  with pytest.raises(ValueError, match="divisible by 4"):
    began_autoencoder.Autoencoder((30, 30, 1))


def _snapshot(model):
  variables = (model.generator.variables + model.discriminator.variables + [model.k])
  return variables, [v.numpy().copy() for v in variables]


@pytest.mark.parametrize("clip_k", [False, True])
def test_one_step_equals_the_hand_computed_iterations(clip_k):
  """disc_iters = 2: per iteration a D update on L(x) - k L(G(z)), on the last one a G update on
  L(G(z)) with the same z, then k from L(x), L(G(z)) of the updated nets; SGD, so every update
  is `w - lr * grad`."""
  lr, gamma, lambda_k, k0 = 0.5, 0.6, 0.7, 0.9
  model = make_model("BEGAN.disc_iters = 2", f"BEGAN.gamma = {gamma}",
                     f"BEGAN.lambda_k = {lambda_k}", f"BEGAN.clip_k = {clip_k}",
                     "BEGAN.g_optimizer = @generator/tf.keras.optimizers.SGD()",
                     "BEGAN.d_optimizer = @discriminator/tf.keras.optimizers.SGD()",
                     f"tf.keras.optimizers.SGD.learning_rate = {lr}")
  model.k.assign(k0)
  batches = make_batches(2)
  variables, before = _snapshot(model)
  terms = {k: float(v) for k, v in run_step(model, batches).items()}
  after = [v.numpy().copy() for v in variables]

  for var, value in zip(variables, before):
    var.assign(value)
  g, d = model.generator, model.discriminator
  energy = lambda v: tf.reduce_mean(tf.abs(d.reconstruct(v, training=True) - v))
  k = k0
  for i, batch in enumerate(batches):
    x, z = batch["images"], expected_z(0, i)
    with tf.GradientTape() as tape:
      fake = tf.stop_gradient(g(z, training=True))
      real_energy, fake_energy = energy(x), energy(fake)
      d_loss = real_energy - k * fake_energy
    # The returned terms are those of the last D update, before any weight moved in it.
    expected_d_terms = (float(d_loss), float(real_energy), float(fake_energy))
    for var, grad in zip(d.trainable_variables, tape.gradient(d_loss, d.trainable_variables)):
      var.assign_sub(lr * grad)
    if i == 1:
      with tf.GradientTape() as tape:
        g_loss = energy(g(z, training=True))
      for var, grad in zip(g.trainable_variables, tape.gradient(g_loss, g.trainable_variables)):
        var.assign_sub(lr * grad)
    fake = g(z, training=True)
    real_energy = numpy_energy(d.reconstruct(x, training=True), x)
    fake_energy = numpy_energy(d.reconstruct(fake, training=True), fake)
    k = k + lambda_k * (gamma * real_energy - fake_energy)
    k = min(max(k, 0.0), 1.0) if clip_k else k
  convergence = real_energy + abs(gamma * real_energy - fake_energy)

  assert terms["d_loss"] == pytest.approx(expected_d_terms[0], rel=1e-5)
  assert terms["d_loss_real"] == pytest.approx(expected_d_terms[1], rel=1e-5)
  assert terms["d_loss_fake"] == pytest.approx(expected_d_terms[2], rel=1e-5)
  assert terms["g_loss"] == pytest.approx(float(g_loss), rel=1e-5)
  assert terms["k_t"] == pytest.approx(k, rel=1e-5, abs=1e-6)
  assert terms["convergence"] == pytest.approx(convergence, rel=1e-5)
  if not clip_k:
    assert k > 1.0  # lambda_k 0.7 drives this k out of [0, 1]: v1 leaves it there.
  else:
    assert 0.0 <= k <= 1.0
  # Every weight and BN statistic (three G forwards per iteration, as v1), and k.
  model.k.assign(k)
  for var, got, value in zip(variables, after, [v.numpy() for v in variables]):
    np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-6, err_msg=var.name)
  assert int(model.d_optimizer.iterations) == 2 and int(model.g_optimizer.iterations) == 1


def test_train_step_needs_disc_iters_batches_and_checks_its_settings():
  model = make_model("BEGAN.disc_iters = 3")
  assert model.real_batches_per_step == 3
  with pytest.raises(ValueError, match="disc_iters = 3 batches; got 4"):
    run_step(model, make_batches(4))
  for binding, message in [("BEGAN.disc_iters = 0", "disc_iters=0"),
                           ("BEGAN.gamma = 1.5", "gamma=1.5"),
                           ("D.project_y = True", "D.project_y"),
                           ("model.family = @non_saturating", "@ModularGAN, @BEGAN, @VAE")]:
    with pytest.raises(config.ConfigError, match=message):
      make_model(binding)


# ----------------------------------------------------------------------------------------------
# End to end: train, resume, evaluate, export, sample
# ----------------------------------------------------------------------------------------------

CLI_TINY = ["G.width = 0.0625", "D.width = 0.0625", f"BEGAN.z_dim = {Z_DIM}",
            "BEGAN.disc_iters = 2", "train.batch_size = 8", "train.log_every_steps = 1",
            "train.summary_every_steps = 1", "train.image_summary_every_steps = 2",
            "train.save_checkpoints_steps = 2"]
def _convergence_records(model_dir):
  return {r["step"]: r for r in run_dir.read_metrics(model_dir)
          if r["metric"] == "began_convergence"}


def test_train_resume_evaluate_export_and_sample(tmp_path, capsys):
  full, split = tmp_path / "full", tmp_path / "split"
  out, expected, got = harness.whole_and_resumed(full, split, capsys, CONFIG, CLI_TINY)
  assert "BEGAN (infogan)" in out and "k_t" in out and "convergence" in out

  # The split run is the uninterrupted one, bit for bit: weights, both optimizers, k, step and
  # data position (2 real batches per step).
  assert sorted(got) == sorted(expected)
  assert any(name.startswith("began_k") for name in got)
  assert [np.asarray(v).item() for k, v in got.items() if k.startswith("data_position")] == [
      4 * 2 * 8]
  assert [k for k in expected if not np.array_equal(expected[k], got[k])] == []

  # The convergence measure: TensorBoard, and metrics.jsonl at every checkpoint (the mean over
  # the steps since the previous one), identical in both runs.
  assert {"loss/d", "loss/g", "loss/d_real", "loss/d_fake", "began/k_t",
          "began/convergence"} <= harness.tags(full)
  records = _convergence_records(full)
  assert sorted(records) == [2, 4]
  assert records[4]["protocol"]["source"] == "training" and records[4]["n"] == 2
  assert records[4]["protocol"]["steps"] == [3, 4] and records[4]["status"] == "ok"
  assert records[4]["checkpoint"] == os.path.join("checkpoints", "ckpt-4")
  split_records = _convergence_records(split)
  assert [split_records[s]["value"] for s in (2, 4)] == [records[s]["value"] for s in (2, 4)]

  # Evaluation scores the generator; the training-side record does not count as evaluated.
  assert harness.run_cli("eval", "--model_dir", full, "--all",
                         *[a for b in harness.EVAL for a in ("--gin_bindings", b)]) == 0
  metrics = {(r["step"], r["metric"]) for r in run_dir.read_metrics(full)}
  assert {(2, "swd_pixels"), (4, "swd_pixels")} <= metrics

  # Export: G and the autoencoder D ("energy"); the metadata names the family and carries the
  # checkpoint's convergence measure beside its scores.
  export_dir = tmp_path / "export"
  assert harness.run_cli("export", "--model_dir", full, "--export_dir", export_dir) == 0
  with open(export_dir / "assets" / "compare_gan_metadata.json") as f:
    metadata = json.load(f)
  assert metadata["family"] == "BEGAN" and metadata["discriminator"] == "exported"
  assert "energy" in metadata["signatures"]["discriminator"]
  assert {r["metric"] for r in metadata["metrics"]} == {"began_convergence", "swd_pixels"}
  gin.clear_config()
  config.parse_gin([str(full / "config.gin")], [])
  rebuilt = inference.InferenceModel(SHAPE_TRIANGLES, None)
  assert rebuilt.restore(str(full / "checkpoints" / "ckpt-4")) == 4
  loaded = tf.saved_model.load(str(export_dir))
  z = tf.random.stateless_uniform([3, Z_DIM], [7, 7], -1, 1)
  images = loaded.generator(z)
  np.testing.assert_allclose(images.numpy(), rebuilt.model.sample(z).numpy(), atol=1e-6)
  energy = loaded.signatures["discriminator"](images=images)["energy"].numpy()
  reconstruction = rebuilt.model.discriminator.reconstruct(images, training=False).numpy()
  np.testing.assert_allclose(energy[:, 0], np.abs(reconstruction - images.numpy()).mean(
      axis=(1, 2, 3)), rtol=1e-5)

  grid = tmp_path / "grid.png"
  assert harness.run_cli("sample", "--module", export_dir, "--num", 4, "--out", grid) == 0
  assert grid.stat().st_size > 0



def test_a_resume_with_other_iterations_per_step_is_refused(tmp_path, capsys):
  assert harness.train(tmp_path / "run", 2, CONFIG, CLI_TINY) == 0
  gin.clear_config()
  bindings = [a for b in CLI_TINY + ["train.training_steps = 4", "BEGAN.disc_iters = 3"]
              for a in ("--gin_bindings", b)]
  assert harness.run_cli("train", "--model_dir", tmp_path / "run", "--gin_config", CONFIG,
                         *bindings) == 2
  err = capsys.readouterr().err
  assert "16 examples per step" in err and "3 real batches per BEGAN step" in err


# ----------------------------------------------------------------------------------------------
# Two replicas (a fresh process: logical devices are set before TensorFlow runs an op)
# ----------------------------------------------------------------------------------------------

def test_two_replicas_match_one_device_with_the_same_global_batch(tmp_path):
  """k and M come from all-reduced global energies, z is drawn for the global batch: the first
  step's terms agree and both replicas hold the same weights and k."""
  harness.assert_replicas_agree(harness.fresh_process_report(__file__, tmp_path),
                                 {"loss/d", "loss/g", "loss/d_real", "began/k_t",
          "began/convergence"})


def _two_replica_main(root):
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from compare_gan.training import loop  # pylint: disable=import-outside-toplevel
  bindings = CLI_TINY + ["train.training_steps = 1", "D.batch_norm_fn = @batch_norm"]
  first_step, replicas = {}, []
  for strategy in ("default", "mirrored"):
    gin.clear_config()
    config.parse_gin([CONFIG], bindings + [f"train.strategy = '{strategy}'"])
    model_dir = os.path.join(root, strategy)
    result = loop.train(model_dir, log=lambda message: None)
    replicas.append(result.strategy.num_replicas_in_sync)
    harness.step_scalars(model_dir, 1, first_step)
  model, worst = result.model, 0.0
  keras_variables = model.generator.variables + model.discriminator.variables
  for v in [v.value for v in keras_variables] + [model.k]:
    values = [t.numpy() for t in result.strategy.experimental_local_results(v)]
    worst = max([worst] + [float(np.max(np.abs(values[0] - x))) for x in values[1:]])
  print("REPORT " + json.dumps(dict(replicas=replicas, first_step=first_step,
                                    max_replica_difference=worst)))


if __name__ == "__main__":
  _two_replica_main(sys.argv[1])
