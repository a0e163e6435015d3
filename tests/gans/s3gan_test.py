"""S3GAN (compare_gan/gans/s3gan.py): label masking, the predictor's labels and the class loss
against numpy; the D and G losses with a stub D whose features are known; the refused settings;
end to end through `compare_gan train`, `eval`, `export` and `sample` on a small in-memory
dataset with half of its training labels -1; and, for S3GAN and SSGAN together, two replicas
against one device."""

import json
import os
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan import data
from compare_gan import run_dir
from compare_gan.architectures import base
from compare_gan.data import base as data_base
from compare_gan.data import random_access
from compare_gan.gans import inference
from compare_gan.gans import latents
from compare_gan.gans import model as model_lib
from compare_gan.gans import s3gan

import family_harness as harness  # Same folder: pytest puts it on sys.path.

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CONFIG = os.path.join(ROOT, "configs", "examples", "triangles_sndcgan.gin")
SHAPE = (8, 8, 1)
B = 4
K = 3
SEED = np.array([3, 5], np.int64)  # numpy: no TF op may run before the devices are set.
TINY = ["model.family = @S3GAN", "ModularGAN.architecture = @sndcgan()", "G.width = 0.0625",
        "D.width = 0.0625", "ModularGAN.z_dim = 4", "ModularGAN.conditional = True",
        "G.batch_norm_fn = @conditional_batch_norm"]
# Real labels of one batch: two labelled, two unlabelled (-1).
REAL_LABELS = np.array([0, -1, 2, -1], np.int32)
FAKE_LABELS = np.array([1, 1, 0, 2], np.int32)


def make_model(*bindings, shape=SHAPE):
  gin.clear_config()
  config.parse_gin([], TINY + list(bindings))
  return model_lib.build(shape, K)


tags, softmax, softplus = harness.scalar_tags, harness.softmax, harness.softplus


# ----------------------------------------------------------------------------------------------
# Labels: masking, the predictor's labels, the class loss
# ----------------------------------------------------------------------------------------------

def test_unlabelled_rows_have_a_zero_one_hot_and_weight_zero():
  y = tf.one_hot(REAL_LABELS, K)
  np.testing.assert_array_equal(y.numpy(), [[1, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]])
  np.testing.assert_array_equal(s3gan.label_available(y).numpy(), [1, 0, 1, 0])


def test_unlabelled_reals_take_the_predictors_argmax_or_softmax():
  y = tf.one_hot(REAL_LABELS, K)
  logits = tf.constant([[0.0, 5, 0], [0.2, 0.1, 0.9], [3.0, 0, 0], [2.0, 1, -1]])
  hard = s3gan.estimated_labels(y, logits, soft=False).numpy()
  np.testing.assert_array_equal(hard, [[1, 0, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0]])
  soft = s3gan.estimated_labels(y, logits, soft=True).numpy()
  np.testing.assert_allclose(soft[[1, 3]], softmax(logits.numpy()[[1, 3]]), rtol=1e-6)
  np.testing.assert_array_equal(soft[[0, 2]], [[1, 0, 0], [0, 0, 1]])
  np.testing.assert_array_equal(s3gan.estimated_labels(y, None, soft=False).numpy(), y.numpy())
  # Never differentiated.
  with tf.GradientTape() as tape:
    tape.watch(logits)
    total = tf.reduce_sum(s3gan.estimated_labels(y, logits, soft=True))
  assert tape.gradient(total, logits) is None


def test_class_loss_is_the_mean_over_labelled_rows_only():
  y = tf.one_hot(REAL_LABELS, K)
  logits = np.array([[1.0, 2, 3], [9, -9, 0], [-0.5, 0, 0.5], [-9, 9, 0]], np.float32)
  p = softmax(logits.astype(np.float64))
  # Rows 0 and 2 are labelled (classes 0 and 2); the others must not count, whatever their
  # logits say.
  expected = (-np.log(p[0, 0]) - np.log(p[2, 2])) / 2
  loss, accuracy = s3gan.class_loss(y, tf.constant(logits), tf.constant(2.0))
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-6)
  np.testing.assert_allclose(accuracy.numpy(), 0.5)  # row 0 argmax 2 (wrong), row 2 right
  # A replica's share: the same sum over a global count of 5 labelled images.
  share, _ = s3gan.class_loss(y, tf.constant(logits), tf.constant(5.0))
  np.testing.assert_allclose(share.numpy(), expected * 2 / 5, rtol=1e-6)
  # No labelled image: 0, and a zero (not NaN) gradient.
  unlabelled = tf.one_hot([-1, -1, -1, -1], K)
  logits = tf.constant(logits)
  with tf.GradientTape() as tape:
    tape.watch(logits)
    loss, accuracy = s3gan.class_loss(unlabelled, logits, tf.constant(0.0))
  assert float(loss) == 0.0 and float(accuracy) == 0.0
  np.testing.assert_array_equal(tape.gradient(loss, logits).numpy(), 0.0)


def test_fit_label_distribution_gives_unlabelled_reals_fakes_uniform_labels():
  model = make_model("S3GAN.rotated_batch_fraction = 1",
                     "ModularGAN.fit_label_distribution = True")
  _, fake_labels = model._latents(SEED, 0, 0, B, B, tf.constant(REAL_LABELS))
  sampled = tf.random.stateless_uniform(
      [B], latents.derive_seed(SEED, 0, 0, latents.TRAIN_LABELS), 0, K, dtype=tf.int32).numpy()
  np.testing.assert_array_equal(fake_labels.numpy(), [0, sampled[1], 2, sampled[3]])


# ----------------------------------------------------------------------------------------------
# The losses, with a stub D: features h = flatten(x) P, backbone logit h w
# ----------------------------------------------------------------------------------------------

def stub_discriminator(model, rng):
  """Sets the backbone to h = flatten(x) P, logit = h w and every head to known weights;
  returns them as numpy arrays."""
  d = model.discriminator
  f = d.features_dim
  pixels = int(np.prod(model.image_shape))
  values = dict(p=rng.normal(size=(pixels, f)) / np.sqrt(pixels), w=rng.normal(size=(f, 1)),
                rotation_kernel=rng.normal(size=(f, 4)), rotation_bias=rng.normal(size=4),
                embedding=rng.normal(size=(K, f)), predictor_kernel=rng.normal(size=(f, K)),
                predictor_bias=rng.normal(size=K))
  values = {k: v.astype(np.float32) for k, v in values.items()}

  def discriminate(x, y, training):
    assert y is None  # The backbone is unconditional.
    h = tf.matmul(tf.reshape(x, [tf.shape(x)[0], -1]), values["p"])
    return tf.matmul(h, values["w"]), h

  d.backbone.discriminate = discriminate
  for layer, kernel, bias in ((d.rotation_head, "rotation_kernel", "rotation_bias"),
                              (d.projection, "embedding", None),
                              (d.predictor, "predictor_kernel", "predictor_bias")):
    if layer is not None:
      layer.kernel.assign(values[kernel])
      if bias:
        layer.bias.assign(values[bias])
  return values


def numpy_rotation_ce(values, images, n):
  tail = images[-n:]
  rows = np.concatenate([tail] + [np.rot90(tail, k, axes=(1, 2)) for k in (1, 2, 3)])
  labels = np.repeat(np.arange(4), n)
  h = rows.reshape(len(rows), -1).astype(np.float64) @ values["p"]
  p = softmax(h @ values["rotation_kernel"] + values["rotation_bias"])
  return float(np.mean(-np.log(p[np.arange(len(rows)), labels] + 1e-10)))


@pytest.mark.parametrize("bindings", [
    ["S3GAN.project_y = True", "S3GAN.use_predictor = True"],
    ["S3GAN.project_y = True", "S3GAN.use_predictor = True", "S3GAN.use_soft_pred = True",
     "S3GAN.self_supervision = 'none'"],
    ["S3GAN.project_y = True"],
    [],
], ids=["s3gan", "s2gan_co_soft", "projection_only", "rotation_only_head"])
def test_d_and_g_losses_equal_the_formulas(bindings):
  model = make_model("S3GAN.rotated_batch_fraction = 1", "S3GAN.weight_rotation_loss_d = 0.7",
                     "S3GAN.weight_rotation_loss_g = 0.3", "S3GAN.weight_class_loss = 0.4",
                     *bindings)
  rng = np.random.default_rng(4)
  values = stub_discriminator(model, rng)
  real = rng.uniform(size=(B,) + SHAPE).astype(np.float32)
  fake = rng.uniform(size=(B,) + SHAPE).astype(np.float32)
  real_y, fake_y = tf.one_hot(REAL_LABELS, K), tf.one_hot(FAKE_LABELS, K)
  inputs = model._d_update_inputs(tf.constant(REAL_LABELS))
  assert inputs == {} if not model.use_predictor else float(inputs["labelled"]) == 2.0
  d_loss, d_terms = model._d_loss(tf.constant(real), real_y, tf.constant(fake), fake_y,
                                  tf.constant(SEED), B, inputs)
  g_loss, g_terms = model._g_loss(tf.constant(real), real_y, tf.constant(fake), fake_y, B)

  feature = lambda x: x.reshape(len(x), -1).astype(np.float64) @ values["p"]  # noqa: E731
  h_real, h_fake = feature(real), feature(fake)
  real_logits, fake_logits = (h_real @ values["w"])[:, 0], (h_fake @ values["w"])[:, 0]
  labelled = REAL_LABELS >= 0
  y_real = np.eye(K)[np.maximum(REAL_LABELS, 0)] * labelled[:, None]
  predictor = h_real @ values["predictor_kernel"] + values["predictor_bias"]
  if model.use_predictor:
    guess = softmax(predictor) if model.use_soft_pred else np.eye(K)[predictor.argmax(axis=1)]
    y_real = np.where(labelled[:, None], y_real, guess)
  if model.project_y:
    real_logits = real_logits + np.sum((y_real @ values["embedding"]) * h_real, axis=1)
    fake_logits = fake_logits + np.sum((np.eye(K)[FAKE_LABELS] @ values["embedding"]) * h_fake,
                                       axis=1)
  expected_d = np.mean(softplus(-real_logits)) + np.mean(softplus(fake_logits))
  expected_g = np.mean(softplus(-fake_logits))
  if model.rotation:
    n = B // 1 // 4
    ce_real, ce_fake = numpy_rotation_ce(values, real, n), numpy_rotation_ce(values, fake, n)
    expected_d += 0.7 * ce_real
    expected_g += 0.3 * ce_fake
    np.testing.assert_allclose(float(d_terms["rotation_loss_real"]), ce_real, rtol=1e-5)
    np.testing.assert_allclose(float(g_terms["rotation_loss_fake"]), ce_fake, rtol=1e-5)
  else:
    assert "rotation_loss_real" not in d_terms and "rotation_loss_fake" not in g_terms
  if model.use_predictor:
    p = softmax(predictor)
    class_loss = np.mean(-np.log(p[labelled, REAL_LABELS[labelled]]))
    expected_d += 0.4 * class_loss
    np.testing.assert_allclose(float(d_terms["class_loss"]), class_loss, rtol=1e-5)
  else:
    assert "class_loss" not in d_terms
  np.testing.assert_allclose(float(d_loss), expected_d, rtol=1e-5)
  np.testing.assert_allclose(float(d_terms["d_loss"]), expected_d, rtol=1e-5)
  np.testing.assert_allclose(float(g_loss), expected_g, rtol=1e-5)
  np.testing.assert_allclose(float(g_terms["g_loss"]), expected_g, rtol=1e-5)
  np.testing.assert_allclose(float(d_terms["d_real_logits"]), np.mean(real_logits), rtol=1e-5)
  np.testing.assert_allclose(float(d_terms["label_fraction"]), 0.5)


def test_the_heads_are_ds_own_variables_and_the_backbone_is_unconditional():
  model = make_model("S3GAN.rotated_batch_fraction = 1", "S3GAN.project_y = True",
                     "S3GAN.use_predictor = True", "D.spectral_norm = True")
  d = model.discriminator
  assert not d.backbone.conditional and model.generator.conditional
  assert d.conditional and d.num_classes == K  # its call projects labels
  paths = [v.path for v in d.trainable_variables]
  assert {"discriminator_rotation/kernel", "discriminator_rotation/bias",
          "discriminator_projection/kernel", "discriminator_predictor/kernel",
          "discriminator_predictor/bias"} <= set(paths)
  assert "discriminator_projection/bias" not in paths
  # Spectral norm on every head (D.spectral_norm), each with its own u.
  assert {"discriminator_rotation/u", "discriminator_projection/u",
          "discriminator_predictor/u"} <= {v.path for v in d.non_trainable_variables}
  # Adam: two slots per D variable, the heads' included.
  assert len(model.d_optimizer.variables) == 2 + 2 * len(d.trainable_variables)
  # Projection embedding glorot-normal: std sqrt(2 / (K + F)).
  embedding = d.projection.kernel.numpy()
  assert abs(embedding.std() / np.sqrt(2.0 / (K + d.features_dim)) - 1) < 0.5


# ----------------------------------------------------------------------------------------------
# Refused settings: one line each
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bindings, message", [
    (["ModularGAN.conditional = False", "G.batch_norm_fn = @batch_norm"],
     "S3GAN trains a conditional G"),
    (["D.project_y = True"], "D.project_y = True: S3GAN builds the architecture's D without"),
    (["S3GAN.use_predictor = True"], "S3GAN.use_predictor = True labels the unlabelled images"),
    (["S3GAN.project_y = True", "S3GAN.use_soft_pred = True"],
     "S3GAN.use_soft_pred = True softens the predictor's labels; it needs"),
    (["S3GAN.self_supervision = 'rotation_gan'"],
     "S3GAN.self_supervision='rotation_gan' is not one of 'rotation', 'none'"),
    (["S3GAN.rotated_batch_fraction = 0"], "S3GAN.rotated_batch_fraction=0 must be a positive"),
    (["ModularGAN.deprecated_split_disc_calls = True"],
     "ModularGAN.deprecated_split_disc_calls = True would split S3GAN's joint D call"),
])
def test_bad_settings_are_refused_in_one_line(bindings, message):
  if not any(b.startswith("S3GAN.rotated_batch_fraction") for b in bindings):
    bindings = ["S3GAN.rotated_batch_fraction = 1"] + bindings
  with pytest.raises(config.ConfigError) as error:
    make_model(*bindings)
  # gin appends an "In call to configurable" line, which the CLI drops (run_dir.one_line).
  assert message in str(error.value).splitlines()[0] == run_dir.one_line(error.value)


@pytest.mark.skipif("resnet_biggan" not in base.ARCHITECTURES,
                    reason="the BigGAN architectures are not in this tree")
def test_an_architecture_projection_left_on_is_refused_in_one_line():
  # The BigGAN family projects labels by its own switch (default on), not D.project_y.
  with pytest.raises(config.ConfigError) as error:
    make_model("S3GAN.rotated_batch_fraction = 1", "ModularGAN.architecture = @resnet_biggan()",
               shape=(128, 128, 3))
  line = run_dir.one_line(error.value)
  assert line.startswith("S3GAN builds the architecture's D without labels")
  assert "resnet_biggan.Discriminator.project_y = True" in line


def test_a_fraction_that_rotates_nothing_is_refused_in_one_line():
  model = make_model("S3GAN.rotated_batch_fraction = 2")  # 4 // 2 // 4 = 0
  batches = [{"images": tf.zeros((B,) + SHAPE), "labels": tf.constant(REAL_LABELS)}] * 2
  with pytest.raises(config.ConfigError) as error:
    tf.distribute.get_strategy().run(model.train_step,
                                     args=(batches, tf.constant(0, tf.int64), SEED, B))
  assert "b // f // 4 = 0 for the per-replica batch b = 4" in str(error.value).splitlines()[0]
  assert run_dir.one_line(error.value) == str(error.value).splitlines()[0]


# ----------------------------------------------------------------------------------------------
# A labelled dataset with unlabelled examples (registered for these tests)
# ----------------------------------------------------------------------------------------------

DATASET = "s3gan_test_half_labelled"
DATA_SHAPE = (16, 16, 3)


def _half_labelled(*, seed, tfds_data_dir, shuffle_window):
  """64 training images of 3 classes (a colour each, plus noise) whose odd examples have label
  -1, and 32 labelled test images."""
  del tfds_data_dir, shuffle_window

  def load(split):
    rng = np.random.default_rng({"train": 0, "test": 1}[split])
    count = {"train": 64, "test": 32}[split]
    labels = rng.integers(0, K, count).astype(np.int32)
    colours = np.eye(3)[labels][:, None, None, :] * 160
    images = (colours + rng.uniform(0, 90, size=(count,) + DATA_SHAPE)).astype(np.uint8)
    if split == "train":
      labels[1::2] = -1
    return images, labels

  info = data_base.DatasetInfo(name=DATASET, image_shape=DATA_SHAPE, num_classes=K,
                               train_split="train", eval_split="test", eval_size=32,
                               num_train_examples=64)
  return random_access.InMemoryDataset(info, seed=seed, split_sizes={"train": 64, "test": 32},
                                       load=load)


if DATASET not in data.DATASETS:
  data.register_dataset(DATASET, _half_labelled)


# ----------------------------------------------------------------------------------------------
# End to end: train, resume, evaluate, export, sample
# ----------------------------------------------------------------------------------------------

CLI_TINY = [f"dataset.name = '{DATASET}'", "model.family = @S3GAN",
            "ModularGAN.conditional = True", "G.batch_norm_fn = @conditional_batch_norm",
            "S3GAN.rotated_batch_fraction = 2", "S3GAN.project_y = True",
            "S3GAN.use_predictor = True", "G.width = 0.0625", "D.width = 0.0625",
            "ModularGAN.z_dim = 4", "train.batch_size = 8", "train.log_every_steps = 1",
            "train.summary_every_steps = 1", "train.image_summary_every_steps = 4",
            "train.save_checkpoints_steps = 2"]


def test_train_resume_evaluate_export_and_sample(tmp_path, capsys):
  full, split = tmp_path / "full", tmp_path / "split"
  out, expected, got = harness.whole_and_resumed(full, split, capsys, CONFIG, CLI_TINY)
  assert "S3GAN (sndcgan)" in out and "class_loss" in out and "rotation_loss_fake" in out

  # Bit for bit the uninterrupted run, every head and its optimizer slots included.
  assert sorted(got) == sorted(expected)
  for head in ("discriminator_rotation", "discriminator_projection", "discriminator_predictor"):
    assert [k for k in got if k.startswith("discriminator/") and head in k], head
  assert [k for k in expected if not np.array_equal(expected[k], got[k])] == []
  assert tags("d_loss", "g_loss", "rotation_loss_real", "rotation_loss_fake", "class_loss",
              "class_accuracy", "label_fraction") <= harness.tags(full)

  assert harness.run_cli("eval", "--model_dir", full, "--all",
                         *[a for b in harness.EVAL for a in ("--gin_bindings", b)]) == 0
  assert {(2, "swd_pixels"), (4, "swd_pixels")} <= {
      (r["step"], r["metric"]) for r in run_dir.read_metrics(full)}

  # Export: conditional G; D's score is the GAN logit with the projection of the given labels;
  # the rotation and class heads beside it.
  export_dir = tmp_path / "export"
  assert harness.run_cli("export", "--model_dir", full, "--export_dir", export_dir) == 0
  with open(export_dir / "assets" / "compare_gan_metadata.json") as f:
    metadata = json.load(f)
  assert metadata["family"] == "S3GAN" and metadata["conditional"] is True
  assert metadata["num_classes"] == K and metadata["discriminator"] == "exported"
  assert {"rotation_logits", "class_logits"} <= set(metadata["signatures"])
  gin.clear_config()
  config.parse_gin([str(full / "config.gin")], [])
  rebuilt = inference.InferenceModel(DATA_SHAPE, K)
  assert rebuilt.restore(str(full / "checkpoints" / "ckpt-4")) == 4
  loaded = tf.saved_model.load(str(export_dir))
  z = tf.random.stateless_uniform([3, 4], [7, 7], -1, 1)
  labels = tf.constant([0, 1, 2])
  images = loaded.generator(z, labels)
  np.testing.assert_allclose(images.numpy(), rebuilt.model.sample(z, labels).numpy(), atol=1e-6)
  d = rebuilt.model.discriminator
  backbone_logits, features = d.backbone(images, training=False)
  projection = d.projection_logits(features, tf.one_hot(labels, K))
  scores = loaded.discriminator(images, labels).numpy()
  np.testing.assert_allclose(scores, (backbone_logits + projection).numpy(), rtol=1e-5,
                             atol=1e-6)
  assert np.max(np.abs(projection.numpy())) > 0  # the projection is part of the score
  np.testing.assert_allclose(loaded.class_logits(images, labels).numpy(),
                             d.predictor_logits(features).numpy(), rtol=1e-5, atol=1e-6)
  rotation_logits = loaded.signatures["rotation_logits"](images=images, labels=labels)
  np.testing.assert_allclose(rotation_logits["rotation_logits"].numpy(),
                             d.rotation_head_logits(features).numpy(), rtol=1e-5, atol=1e-6)

  grid = tmp_path / "grid.png"
  assert harness.run_cli("sample", "--module", export_dir, "--num", 6, "--out", grid) == 0
  assert grid.stat().st_size > 0


# ----------------------------------------------------------------------------------------------
# Two replicas, SSGAN and S3GAN (a fresh process: logical devices are set before TensorFlow
# runs an op)
# ----------------------------------------------------------------------------------------------

# Both on the MLP architecture, the quickest to trace (MirroredStrategy traces each replica).
# SSGAN with n = b (rotated_batch_size = 4 x the global batch): every image is rotated on any
# replica count, so the rotated set does not depend on it (with n < b each replica rotates its
# own last n, as the reference's cores did, and the runs differ by design).
SSGAN_TWO_REPLICAS = ["model.family = @SSGAN", "SSGAN.rotated_batch_size = 32",
                      "ModularGAN.architecture = @mlp()",
                      "G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 4",
                      "train.batch_size = 8", "train.summary_every_steps = 1",
                      "train.save_checkpoints_steps = 1"]
# S2GAN-CO (no rotation): the class loss averages over the labelled images of the global batch,
# which the replicas of the first D update hold in unequal numbers (checked below), so a mean
# of per-replica means would differ.
S3GAN_TWO_REPLICAS = CLI_TINY + ["S3GAN.self_supervision = 'none'",
                                 "ModularGAN.architecture = @mlp()",
                                 "train.save_checkpoints_steps = 1"]


def test_two_replicas_match_one_device_with_the_same_global_batch(tmp_path):
  report = harness.fresh_process_report(__file__, tmp_path)
  harness.assert_replicas_agree(report["SSGAN"], tags(
      "d_loss", "g_loss", "rotation_loss_real", "rotation_loss_fake", "rotation_accuracy_real"))
  harness.assert_replicas_agree(report["S3GAN"], tags(
      "d_loss", "g_loss", "class_loss", "class_accuracy", "label_fraction"))
  first, second = report["labelled_per_replica"]
  assert first != second and first + second > 0, report["labelled_per_replica"]


def _two_replica_main(root):
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from compare_gan.training import loop  # pylint: disable=import-outside-toplevel
  report = {}
  for key_base, (family, bindings) in enumerate((("SSGAN", SSGAN_TWO_REPLICAS),
                                                 ("S3GAN", S3GAN_TWO_REPLICAS))):
    # Two MirroredStrategy objects in one process would reuse the same collective group and
    # instance keys, whose shapes the runtime caches; TensorFlow's test-only key base keeps
    # the second strategy's collectives apart.
    tf.distribute.MirroredStrategy._collective_key_base = 10000 * key_base
    first_step, replicas = {}, []
    for strategy in ("default", "mirrored"):
      gin.clear_config()
      config.parse_gin([CONFIG], bindings + ["train.training_steps = 1",
                                             f"train.strategy = '{strategy}'"])
      model_dir = os.path.join(root, family, strategy)
      result = loop.train(model_dir, log=lambda message: None)
      replicas.append(result.strategy.num_replicas_in_sync)
      harness.step_scalars(model_dir, 1, first_step)
    model, worst = result.model, 0.0
    for v in model.generator.variables + model.discriminator.variables:
      values = [t.numpy() for t in result.strategy.experimental_local_results(v.value)]
      worst = max([worst] + [float(np.max(np.abs(values[0] - x))) for x in values[1:]])
    report[family] = dict(replicas=replicas, first_step=first_step,
                          max_replica_difference=worst)
  # The first global batch of the D update, as the two replicas split it (rows 0-3, 4-7).
  dataset = data.build_dataset(DATASET)
  labels = next(iter(dataset.train_input(per_replica_batch_size=8, seed=dataset.seed)))["labels"]
  report["labelled_per_replica"] = [int(np.sum(half.numpy() >= 0)) for half in
                                    tf.split(labels, 2)]
  print("REPORT " + json.dumps(report))


if __name__ == "__main__":
  _two_replica_main(sys.argv[1])
