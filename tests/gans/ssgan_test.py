"""SSGAN (compare_gan/gans/ssgan.py) and the rotation task it shares with S3GAN
(compare_gan/gans/rotation.py): the rotation op and cross-entropy against values written out by
hand, the losses against numpy with a stub D whose logits and features are known, the refused
settings, and end to end through `compare_gan train`, `eval`, `export` and `sample`. SSGAN's
two-replica agreement runs in s3gan_test.py, in the one fresh process both families share."""

import json
import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir
from compare_gan.gans import inference
from compare_gan.gans import latents
from compare_gan.gans import model as model_lib
from compare_gan.gans import rotation

import family_harness as harness  # Same folder: pytest puts it on sys.path.

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CONFIG = os.path.join(ROOT, "configs", "examples", "triangles_sndcgan.gin")
SHAPE = (8, 8, 1)
B = 4
SEED = np.array([3, 5], np.int64)  # numpy: no TF op may run before the devices are set.
TINY = ["model.family = @SSGAN", "ModularGAN.architecture = @sndcgan()", "G.width = 0.0625",
        "D.width = 0.0625", "ModularGAN.z_dim = 4"]


def make_model(*bindings, shape=SHAPE, num_classes=None):
  gin.clear_config()
  config.parse_gin([], TINY + list(bindings))
  return model_lib.build(shape, num_classes)


tags, softmax, softplus = harness.scalar_tags, harness.softmax, harness.softplus


# ----------------------------------------------------------------------------------------------
# The rotation op and the cross-entropy
# ----------------------------------------------------------------------------------------------

def test_the_last_n_images_are_rotated_by_90_180_270_degrees_counter_clockwise():
  # Three 2x2 images [[a, b], [c, d]]; n = 2 rotates the last two.
  batch = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]],
                   np.float32)[..., None]
  got = rotation.with_rotations(tf.constant(batch), 2).numpy()[..., 0]
  # Counter-clockwise by hand: rot90 [[b, d], [a, c]], rot180 [[d, c], [b, a]],
  # rot270 [[c, a], [d, b]].
  expected = [[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]],  # unchanged
              [[6, 8], [5, 7]], [[10, 12], [9, 11]],                    # rot90 of images 1, 2
              [[8, 7], [6, 5]], [[12, 11], [10, 9]],                    # rot180
              [[7, 5], [8, 6]], [[11, 9], [12, 10]]]                    # rot270
  np.testing.assert_array_equal(got, expected)
  # The last 4n rows are the task, classes [0]*n + [1]*n + [2]*n + [3]*n.
  np.testing.assert_array_equal(rotation.rotation_labels(2).numpy(), [0, 0, 1, 1, 2, 2, 3, 3])

  # A 3x3 image, rotated once: row i of rot90 is column 2-i read top to bottom.
  image = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
  rotated = rotation.rotate_tail(tf.constant(image), 1).numpy()[..., 0]
  np.testing.assert_array_equal(rotated[0], [[2, 5, 8], [1, 4, 7], [0, 3, 6]])
  np.testing.assert_array_equal(rotated[1], [[8, 7, 6], [5, 4, 3], [2, 1, 0]])
  np.testing.assert_array_equal(rotated[2], [[6, 3, 0], [7, 4, 1], [8, 5, 2]])


def test_joint_batch_keeps_each_images_label():
  real, fake = np.zeros((3, 2, 2, 1), np.float32), np.ones((3, 2, 2, 1), np.float32)
  real_y, fake_y = np.eye(4, dtype=np.float32)[[0, 1, 2]], np.eye(4, dtype=np.float32)[[3, 2, 1]]
  images, y = rotation.joint_batch(tf.constant(real), tf.constant(fake), 1, tf.constant(real_y),
                                   tf.constant(fake_y))
  assert images.shape == (2 * (3 + 3), 2, 2, 1)
  np.testing.assert_array_equal(images.numpy()[:6], 0.0)
  np.testing.assert_array_equal(images.numpy()[6:], 1.0)
  # Rotated images carry their own image's label: real tail 2, fake tail 1 (not a real label).
  np.testing.assert_array_equal(y.numpy().argmax(axis=1), [0, 1, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1])
  real_rows = rotation.split_rotation_rows(tf.range(12), 3, 1)
  assert [r.numpy().tolist() for r in real_rows] == [[0, 1, 2], [2, 3, 4, 5], [6, 7, 8],
                                                     [8, 9, 10, 11]]


def test_rotation_cross_entropy_by_hand():
  log3 = np.log(3.0)
  logits = tf.constant([[log3, 0, 0, 0], [log3, 0, 0, 0], [0, 0, 0, 0], [100, -100, 0, 0]],
                       tf.float32)
  labels = tf.constant([0, 1, 2, 1])
  # softmax [3, 1, 1, 1] / 6: -log(1/2), -log(1/6); uniform: log 4; a probability that
  # underflows to 0 costs -log(1e-10), the reference's floor.
  expected = [np.log(2.0), np.log(6.0), np.log(4.0), -np.log(1e-10)]
  got = rotation.rotation_cross_entropy(logits, labels).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  # n = 1: labels [0, 1, 2, 3]; shares of a mean over 8 rows (two replicas' worth).
  ce, accuracy = rotation.rotation_loss(logits, 1, 8)
  # n = 1: the rows' classes are [0, 1, 2, 3]; the last row's class-3 probability underflows.
  by_hand = np.log(2.0) + np.log(6.0) + np.log(4.0) - np.log(1e-10)
  np.testing.assert_allclose(ce.numpy(), by_hand / 8, rtol=1e-6)
  # argmax [0, 0, 0, 0] against [0, 1, 2, 3]: one right.
  np.testing.assert_allclose(accuracy.numpy(), 1 / 8)


# ----------------------------------------------------------------------------------------------
# The losses, with a stub D: features h = flatten(x) P, GAN logit h w
# ----------------------------------------------------------------------------------------------

def stub_discriminator(model, rng):
  """Replaces the architecture's D maths by h = flatten(x) P and logit = h w (fixed numpy
  values), sets the rotation head to known weights; returns a numpy twin (images -> h, logit,
  rotation logits)."""
  d = model.discriminator
  backbone = getattr(d, "backbone", d)
  features_dim = d.features_dim if hasattr(d, "features_dim") else 8
  pixels = int(np.prod(model.image_shape))
  p = rng.normal(size=(pixels, features_dim)).astype(np.float32) / np.sqrt(pixels)
  w = rng.normal(size=(features_dim, 1)).astype(np.float32)

  def discriminate(x, y, training):
    h = tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), p)
    return tf.matmul(h, w), h

  backbone.discriminate = discriminate
  kernel, bias = np.zeros((features_dim, 4), np.float32), np.zeros(4, np.float32)
  if getattr(d, "rotation_head", None) is not None:
    kernel = rng.normal(size=(features_dim, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    d.rotation_head.kernel.assign(kernel)
    d.rotation_head.bias.assign(bias)

  def twin(images):
    h = images.reshape(len(images), -1).astype(np.float64) @ p
    return h, (h @ w)[:, 0], h @ kernel + bias

  return twin


def numpy_rotation_rows(images, n):
  """The last n images, then np.rot90 by 1, 2, 3 (counter-clockwise), and their classes."""
  tail = images[-n:]
  rows = np.concatenate([tail] + [np.rot90(tail, k, axes=(1, 2)) for k in (1, 2, 3)])
  return rows, np.repeat(np.arange(4), n)


def numpy_rotation_ce(twin, images, n):
  rows, labels = numpy_rotation_rows(images, n)
  probabilities = softmax(twin(rows)[2])
  return float(np.mean(-np.log(probabilities[np.arange(len(rows)), labels] + 1e-10)))


@pytest.mark.parametrize("self_supervision", ["rotation_gan", "rotation_only", "none"])
def test_d_and_g_losses_equal_the_formulas(self_supervision):
  model = make_model(f"SSGAN.self_supervision = '{self_supervision}'",
                     "SSGAN.rotated_batch_size = 8", "SSGAN.weight_rotation_loss_d = 0.7",
                     "SSGAN.weight_rotation_loss_g = 0.3", "penalty.fn = @l2_penalty",
                     "penalty.weight = 0.5")
  # "none" is ModularGAN's D itself, without a head.
  assert isinstance(model.discriminator, rotation.DiscriminatorWithHeads) == (
      self_supervision != "none")
  rng = np.random.default_rng(1)
  twin = stub_discriminator(model, rng)
  real = rng.uniform(size=(B,) + SHAPE).astype(np.float32)
  fake = rng.uniform(size=(B,) + SHAPE).astype(np.float32)
  d_loss, d_terms = model._d_loss(tf.constant(real), None, tf.constant(fake), None,
                                  tf.constant(SEED), B, {})
  g_loss, g_terms = model._g_loss(tf.constant(real), None, tf.constant(fake), None, B)

  real_logits, fake_logits = twin(real)[1], twin(fake)[1]
  gan_d = np.mean(softplus(-real_logits)) + np.mean(softplus(fake_logits))
  gan_g = np.mean(softplus(-fake_logits))
  kernels = [v.numpy().astype(np.float64) for v in model.discriminator.trainable_variables
             if v.path.endswith("/kernel")]
  penalty = np.mean([0.5 * np.sum(k ** 2) for k in kernels])
  n = 2  # rotated_batch_size 8 / (4 x 1 replica)
  if self_supervision == "none":
    expected_d, expected_g = gan_d + 0.5 * penalty, gan_g
    assert "rotation_loss_real" not in d_terms and "rotation_loss_fake" not in g_terms
  else:
    ce_real, ce_fake = numpy_rotation_ce(twin, real, n), numpy_rotation_ce(twin, fake, n)
    gan_weight = 0.0 if self_supervision == "rotation_only" else 1.0
    expected_d = gan_weight * (gan_d + 0.5 * penalty) + 0.7 * ce_real
    expected_g = gan_weight * gan_g + 0.3 * ce_fake
    np.testing.assert_allclose(float(d_terms["rotation_loss_real"]), ce_real, rtol=1e-5)
    np.testing.assert_allclose(float(g_terms["rotation_loss_fake"]), ce_fake, rtol=1e-5)
    rows, labels = numpy_rotation_rows(real, n)
    np.testing.assert_allclose(float(d_terms["rotation_accuracy_real"]),
                               np.mean(twin(rows)[2].argmax(axis=1) == labels), rtol=1e-6)
    # The rotation head's kernel is one of D's, so the weight penalty counts it too.
    assert any(v.path == "discriminator_rotation/kernel"
               for v in model.discriminator.trainable_variables)
  np.testing.assert_allclose(float(d_loss), expected_d, rtol=1e-5)
  np.testing.assert_allclose(float(d_terms["d_loss"]), expected_d, rtol=1e-5)
  np.testing.assert_allclose(float(g_loss), expected_g, rtol=1e-5)
  np.testing.assert_allclose(float(g_terms["g_loss"]), expected_g, rtol=1e-5)
  # The GAN terms are reported as they are, whatever their weight.
  np.testing.assert_allclose(float(d_terms["d_loss_real"]), np.mean(softplus(-real_logits)),
                             rtol=1e-5)
  np.testing.assert_allclose(float(d_terms["penalty"]), penalty, rtol=1e-5)


def test_conditional_rotated_fakes_carry_their_sampled_labels():
  model = make_model("SSGAN.rotated_batch_size = 4", "ModularGAN.conditional = True",
                     "G.batch_norm_fn = @conditional_batch_norm", "D.project_y = True",
                     num_classes=3)
  seen = []
  backbone = model.discriminator.backbone
  original = backbone.discriminate

  def recording(x, y, training):
    seen.append(y.numpy())
    return original(x, y, training)

  backbone.discriminate = recording
  real_y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
  fake_y = np.eye(3, dtype=np.float32)[[2, 2, 1, 1]]
  images = tf.zeros((B,) + SHAPE)
  model._d_loss(images, tf.constant(real_y), images, tf.constant(fake_y), tf.constant(SEED), B,
                {})
  # n = 1: real rows, 3 rotations of the last real (label 0), fake rows, 3 of the last fake (1).
  assert seen[0].argmax(axis=1).tolist() == [0, 1, 2, 0, 0, 0, 0, 2, 2, 1, 1, 1, 1, 1]


def test_a_step_trains_the_rotation_head_with_d():
  """One train_step: its D terms are `_d_loss` on the step's real batch and G(z) of sub-step 0
  (the wiring), and the rotation head moves with D's update alone."""
  model = make_model("SSGAN.rotated_batch_size = 8",
                     "ModularGAN.g_optimizer = @generator/tf.keras.optimizers.SGD()",
                     "ModularGAN.d_optimizer = @discriminator/tf.keras.optimizers.SGD()",
                     "tf.keras.optimizers.SGD.learning_rate = 0.5")
  head = model.discriminator.rotation_head
  d_variables = model.discriminator.trainable_variables
  head_index = [i for i, v in enumerate(d_variables) if v is head.kernel]
  assert len(head_index) == 1
  assert not any(v is head.kernel for v in model.generator.trainable_variables)
  rng = np.random.default_rng(2)
  batches = [{"images": tf.constant(rng.uniform(size=(B,) + SHAPE), tf.float32)}
             for _ in range(model.real_batches_per_step)]
  z = tf.random.stateless_uniform([B, 4], latents.derive_seed(SEED, 0, 0, latents.TRAIN_Z),
                                  -1.0, 1.0)
  fake = model.generator(z, training=True)
  with tf.GradientTape() as tape:
    d_loss, expected = model._d_loss(batches[0]["images"], None, fake, None, tf.constant(SEED),
                                     B, {})
  grads = tape.gradient(d_loss, d_variables)
  before = [v.numpy().copy() for v in d_variables]
  terms = tf.distribute.get_strategy().run(
      model.train_step, args=(batches, tf.constant(0, tf.int64), SEED, B))
  for name in ("d_loss", "rotation_loss_real", "rotation_accuracy_real", "d_loss_fake"):
    np.testing.assert_allclose(float(terms[name]), float(expected[name]), rtol=1e-5)
  assert {"g_loss", "rotation_loss_fake", "rotation_accuracy_fake"} <= set(terms)
  # SGD: every D variable, the head included, moved by -lr * its gradient, and nothing else
  # (the G update leaves D alone).
  for var, value, grad in zip(d_variables, before, grads):
    np.testing.assert_allclose(var.numpy(), value - 0.5 * grad.numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=var.path)
  assert not np.array_equal(head.kernel.numpy(), before[head_index[0]])


# ----------------------------------------------------------------------------------------------
# Refused settings: one line each
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bindings, shape, message", [
    (["SSGAN.self_supervision = 'rotation'", "SSGAN.rotated_batch_size = 4"], SHAPE,
     "SSGAN.self_supervision='rotation' is not one of 'rotation_gan', 'rotation_only', 'none'"),
    (["SSGAN.rotated_batch_size = 6"], SHAPE, "rotated_batch_size=6 must be a positive multiple"),
    (["SSGAN.rotated_batch_size = 0"], SHAPE, "rotated_batch_size=0 must be a positive multiple"),
    (["SSGAN.rotated_batch_size = 4", "ModularGAN.deprecated_split_disc_calls = True"], SHAPE,
     "ModularGAN.deprecated_split_disc_calls = True would split D's joint call"),
    (["SSGAN.rotated_batch_size = 4", "ModularGAN.v2_generator_step = True"], SHAPE,
     "ModularGAN.v2_generator_step = True would split"),
    (["SSGAN.rotated_batch_size = 4", "ModularGAN.architecture = @mlp()"], (2,),
     "needs square images [H, H, C]; the dataset gives (2,)"),
])
def test_bad_settings_are_refused_in_one_line(bindings, shape, message):
  with pytest.raises(config.ConfigError) as error:
    make_model(*bindings, shape=shape)
  # gin appends an "In call to configurable" line, which the CLI drops (run_dir.one_line).
  assert message in str(error.value).splitlines()[0] == run_dir.one_line(error.value)


def test_more_rotated_images_than_the_batch_is_refused_in_one_line():
  model = make_model("SSGAN.rotated_batch_size = 32")  # n = 8 > b = 4
  batches = [{"images": tf.zeros((B,) + SHAPE)}] * 2
  with pytest.raises(config.ConfigError) as error:
    tf.distribute.get_strategy().run(model.train_step,
                                     args=(batches, tf.constant(0, tf.int64), SEED, B))
  assert "rotate 8 images, more than its batch of 4" in str(error.value).splitlines()[0]
  assert run_dir.one_line(error.value) == str(error.value).splitlines()[0]


def test_rotated_batch_size_is_required():
  with pytest.raises(RuntimeError, match="Required bindings for `SSGAN`.*rotated_batch_size"):
    make_model()


# ----------------------------------------------------------------------------------------------
# End to end: train, resume, evaluate, export, sample
# ----------------------------------------------------------------------------------------------

CLI_TINY = ["model.family = @SSGAN", "SSGAN.rotated_batch_size = 16", "G.width = 0.0625",
            "D.width = 0.0625", "ModularGAN.z_dim = 4", "train.batch_size = 8",
            "train.log_every_steps = 1", "train.summary_every_steps = 1",
            "train.image_summary_every_steps = 4", "train.save_checkpoints_steps = 2"]


def test_train_resume_evaluate_export_and_sample(tmp_path, capsys):
  full, split = tmp_path / "full", tmp_path / "split"
  out, expected, got = harness.whole_and_resumed(full, split, capsys, CONFIG, CLI_TINY)
  assert "SSGAN (sndcgan)" in out and "rotation_loss_real" in out and "rotation_loss_fake" in out

  # Bit for bit the uninterrupted run, the rotation head and its optimizer slots included.
  assert sorted(got) == sorted(expected)
  assert [k for k in got if "discriminator_rotation" in k and k.startswith("discriminator/")]
  assert [k for k in expected if not np.array_equal(expected[k], got[k])] == []
  assert tags("d_loss", "g_loss", "rotation_loss_real", "rotation_accuracy_real",
              "rotation_loss_fake", "rotation_accuracy_fake") <= harness.tags(full)

  assert harness.run_cli("eval", "--model_dir", full, "--all",
                         *[a for b in harness.EVAL for a in ("--gin_bindings", b)]) == 0

  # Export: G, D's GAN logit and the rotation head's logits (which the reference left out).
  export_dir = tmp_path / "export"
  assert harness.run_cli("export", "--model_dir", full, "--export_dir", export_dir) == 0
  with open(export_dir / "assets" / "compare_gan_metadata.json") as f:
    metadata = json.load(f)
  assert metadata["family"] == "SSGAN" and metadata["discriminator"] == "exported"
  assert "rotation_logits" in metadata["signatures"]
  assert {r["metric"] for r in metadata["metrics"]} == {"swd_pixels"}
  gin.clear_config()
  config.parse_gin([str(full / "config.gin")], [])
  rebuilt = inference.InferenceModel((28, 28, 1), None)
  assert rebuilt.restore(str(full / "checkpoints" / "ckpt-4")) == 4
  loaded = tf.saved_model.load(str(export_dir))
  z = tf.random.stateless_uniform([3, 4], [7, 7], -1, 1)
  images = loaded.generator(z)
  np.testing.assert_allclose(images.numpy(), rebuilt.model.sample(z).numpy(), atol=1e-6)
  d = rebuilt.model.discriminator
  np.testing.assert_allclose(loaded.discriminator(images).numpy(),
                             d(images, training=False)[0].numpy(), rtol=1e-5, atol=1e-6)
  rotation_logits = loaded.signatures["rotation_logits"](images=images)["rotation_logits"]
  np.testing.assert_allclose(rotation_logits.numpy(),
                             d.rotation_logits(images, training=False).numpy(), rtol=1e-5,
                             atol=1e-6)
  assert rotation_logits.shape == (3, 4)

  grid = tmp_path / "grid.png"
  assert harness.run_cli("sample", "--module", export_dir, "--num", 4, "--out", grid) == 0
  assert grid.stat().st_size > 0
