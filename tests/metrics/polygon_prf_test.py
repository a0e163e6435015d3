"""Tests for compare_gan/metrics/polygon_prf.py and its task `polygon_prf`: the family is the
dataset's, real polygons are on it and perturbed ones are not, precision separates polygons from
noise, recall separates a generator that can draw the test polygons from one that cannot, and
the evaluator records the three values with their protocol card."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan.data import base as data_base
from compare_gan.data import synthetic
from compare_gan.gans import latents
from compare_gan.metrics import evaluate
from compare_gan.metrics import polygon_prf
from compare_gan.metrics import protocol as protocol_lib
from compare_gan.metrics import results
from compare_gan.metrics import tasks
from compare_gan import run_dir

TEST_START = 60000  # The polygons' "test" split starts here (data/__init__.py).
UNIFORM_Z = latents.LatentDistribution()
SEED = tf.constant([42, 0], tf.int64)


def _polygons(n_vertices, start, count):
  """The dataset's polygons start .. start + count - 1 (its default seed), [count, 28, 28, 1]."""
  return synthetic.convex_polygon_images(np.arange(start, start + count),
                                         seed=data_base.DEFAULT_SEED, n_vertices=n_vertices)


def _lookup_generator(images, sharpness=4.0):
  """G(z) = softmax(sharpness * z) @ images, z in [-1, 1]^K: z = e_k (1 at k, -1 elsewhere)
  draws image k (weight 1 / (1 + (K-1) e^-8) > 0.997), a random z draws a blend. It can draw
  `images` but must be inverted to do so."""
  table = tf.constant(np.asarray(images, np.float32).reshape(len(images), -1))

  def generate(z, labels):
    assert labels is None
    return tf.reshape(tf.nn.softmax(sharpness * z, axis=1) @ table, [-1, 28, 28, 1])
  return generate


def _constant_generator(image):
  """G(z) = image for every z (its output ignores z)."""
  image = tf.constant(np.asarray(image, np.float32))
  return lambda z, labels: tf.tile(image[None], [tf.shape(z)[0], 1, 1, 1])


def _task(**settings):
  task = tasks.PolygonPRF(**settings)
  task.check_dataset(data_base.DatasetInfo(
      name="triangles", image_shape=(28, 28, 1), num_classes=None, train_split="train",
      eval_split="test", eval_size=10000, num_train_examples=60000))
  return task


def _handle(generate, z_dim):
  return tasks.GeneratorHandle(generate=generate, z_dim=z_dim, z_distribution=UNIFORM_Z,
                               num_classes=None, seed=SEED)


# ----------------------------------------------------------------------------------------------
# The manifold and the distance to it
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_vertices", [3, 4])
def test_family_draws_exactly_the_dataset_polygons(n_vertices):
  indices = np.arange(TEST_START, TEST_START + 64)
  family = polygon_prf.PolygonFamily(n_vertices)
  # synthetic's own draws 0..n of each example: the vertex offsets and the rotation.
  uniforms = synthetic._uniforms(  # pylint: disable=protected-access
      data_base.DEFAULT_SEED, indices, n_vertices + 1)
  angles = family.angles_from_uniforms(uniforms)
  np.testing.assert_allclose(
      family.vertices(angles),
      synthetic.convex_polygon_vertices(indices, seed=data_base.DEFAULT_SEED,
                                        n_vertices=n_vertices), atol=1e-12)
  np.testing.assert_array_equal(
      family.render(angles), _polygons(n_vertices, TEST_START, 64).reshape(64, -1))
  np.testing.assert_allclose(family.project(angles), angles, atol=1e-9)  # Members stay put.


def test_projection_enforces_the_sectors():
  family = polygon_prf.PolygonFamily(3)
  # Vertices 0 and 1 at 120 and 125 degrees: the sectors ([10, 120], [130, 240], [250, 360]
  # before a rotation of at most 2*pi degrees) keep them >= 10 degrees apart.
  projected = family.project(np.array([[120.0, 125.0, 300.0]]))
  assert projected[0, 1] - projected[0, 0] >= 10.0 - 1e-9
  assert projected[0, 2] == pytest.approx(300.0)


def test_real_polygons_are_at_distance_zero_and_perturbed_ones_further():
  rng = np.random.default_rng(0)
  real = _polygons(3, TEST_START, 24)
  _, distance = polygon_prf.fit_polygons(real, polygon_prf.PolygonFamily(3))
  assert distance.max() < 0.01 and np.median(distance) < 0.002
  medians = []
  for sigma in (0.03, 0.1, 0.3):
    noisy = np.clip(real + rng.normal(0.0, sigma, real.shape), 0.0, 1.0).astype(np.float32)
    _, d = polygon_prf.fit_polygons(noisy, polygon_prf.PolygonFamily(3))
    # The fit finds a polygon at least about as close as the one the noise was added to.
    truth = polygon_prf.rms_distance(noisy.reshape(24, -1), real.reshape(24, -1))
    assert np.all(d <= truth + 0.005)
    medians.append(np.median(d))
  assert 0.02 < medians[0] < medians[1] < medians[2]
  _, shifted = polygon_prf.fit_polygons(np.roll(real, 2, axis=2), polygon_prf.PolygonFamily(3))
  assert np.median(shifted) > 0.15  # Off-centre: not a polygon the dataset draws.


def test_precision_is_one_on_real_polygons_and_zero_on_noise_blank_and_squares():
  triangles = polygon_prf.PolygonFamily(3)
  delta = tasks.PolygonPRF.delta
  real = _polygons(3, TEST_START, 24)
  assert polygon_prf.polygon_precision(real, triangles, delta=delta) == 1.0
  noise = np.random.default_rng(1).uniform(size=real.shape).astype(np.float32)
  assert polygon_prf.polygon_precision(noise, triangles, delta=delta) == 0.0
  blank = np.ones((2, 28, 28, 1), np.float32)  # Nothing drawn.
  black = np.zeros((2, 28, 28, 1), np.float32)
  assert polygon_prf.polygon_precision(np.concatenate([blank, black]), triangles,
                                       delta=delta) == 0.0
  assert polygon_prf.polygon_precision(_polygons(4, TEST_START, 8), triangles,
                                       delta=delta) == 0.0
  assert polygon_prf.polygon_precision(_polygons(4, TEST_START, 8), polygon_prf.PolygonFamily(4),
                                       delta=delta) == 1.0


# ----------------------------------------------------------------------------------------------
# Recall by inversion
# ----------------------------------------------------------------------------------------------

def test_z_stays_in_the_support_and_round_trips():
  w = tf.constant([[-50.0, -1.0, 0.0, 2.0, 50.0]])
  for dist, lo, hi in ((latents.LatentDistribution("uniform", -1.0, 1.0), -1.0, 1.0),
                       (latents.LatentDistribution("uniform", 0.0, 3.0), 0.0, 3.0),
                       (latents.LatentDistribution("truncated_normal", stddev=0.5), -1.0, 1.0)):
    z = polygon_prf.z_from_w(w, dist).numpy()
    assert z.min() >= lo and z.max() <= hi
    inner = z[:, 1:4]
    back = polygon_prf.z_from_w(polygon_prf.w_from_z(tf.constant(inner), dist), dist)
    np.testing.assert_allclose(back.numpy(), inner, atol=1e-5)
  normal = latents.LatentDistribution("normal")
  np.testing.assert_array_equal(polygon_prf.z_from_w(w, normal).numpy(), w.numpy())


def test_recall_is_one_for_a_generator_that_can_draw_the_test_polygons():
  test = _polygons(3, TEST_START, 6)
  generate = _lookup_generator(test)
  kwargs = dict(delta=0.08, z_dim=6, z_distribution=UNIFORM_Z, seed=SEED, restarts=2,
                learning_rate=0.1)
  assert polygon_prf.polygon_recall(generate, test, steps=60, **kwargs) == 1.0
  # Random z draws blends: the optimisation, not the starting points, finds the polygons.
  assert polygon_prf.polygon_recall(generate, test, steps=0, **kwargs) <= 0.5
  # The same generator over training polygons cannot draw the test ones.
  other = _lookup_generator(_polygons(3, 0, 6))
  assert polygon_prf.polygon_recall(other, test, steps=60, **kwargs) == 0.0


def test_one_polygon_generator_has_full_precision_and_no_recall():
  train_polygon = _polygons(3, 0, 1)[0]
  task = _task(num_samples=8, num_test_polygons=8, restarts=2, steps=3)
  fake = {"pixels": np.tile(train_polygon.reshape(1, -1), [8, 1])}
  real = {"pixels": _polygons(3, TEST_START, 8).reshape(8, -1)}
  out = task(real, fake, generator=_handle(_constant_generator(train_polygon), z_dim=4))
  assert out == {"polygon_precision": 1.0, "polygon_recall": 0.0, "polygon_f1": 0.0}


def test_f1_is_the_harmonic_mean():
  assert polygon_prf.f1_score(1.0, 0.5) == pytest.approx(2 / 3)
  assert polygon_prf.f1_score(0.0, 0.0) == 0.0


# ----------------------------------------------------------------------------------------------
# The task in the evaluator
# ----------------------------------------------------------------------------------------------

def test_task_is_in_the_catalogue_and_validates_its_settings():
  entries = dict(config.catalogue()["metrics (evaluation.metrics)"])
  assert "@polygon_prf()" in entries and "convex polygons" in entries["@polygon_prf()"]
  with pytest.raises(config.ConfigError, match=r"^polygon_prf\.delta must be positive"):
    tasks.PolygonPRF(delta=0.0)
  with pytest.raises(config.ConfigError, match=r"^polygon_prf\.restarts must be an integer"):
    tasks.PolygonPRF(restarts=0)


def test_refuses_datasets_that_are_not_polygons(tmp_path, monkeypatch):
  monkeypatch.setenv("COMPARE_GAN_CACHE_DIR", str(tmp_path / "cache"))
  gin.parse_config(["dataset.name = 'ring8'", "evaluation.metrics = [@polygon_prf()]"])
  source = evaluate.GeneratorSource(sample_fn=lambda z, labels: tf.sigmoid(z[:, :2]), z_dim=2,
                                    z_distribution=UNIFORM_Z)
  with pytest.raises(config.ConfigError) as error:
    evaluate.Evaluator(None, source=source, log=lambda s: None)
  message = str(error.value)
  assert "\n" not in message and "'ring8'" in message and "triangles" in message


def test_evaluation_records_precision_recall_f1_with_their_card(tmp_path, monkeypatch):
  monkeypatch.setenv("COMPARE_GAN_CACHE_DIR", str(tmp_path / "cache"))
  gin.parse_config([
      "dataset.name = 'triangles'", "evaluation.metrics = [@polygon_prf()]",
      "evaluation.num_fake = 12", "evaluation.num_averaging_runs = 1",
      "polygon_prf.num_samples = 12", "polygon_prf.num_test_polygons = 6",
      "polygon_prf.restarts = 2", "polygon_prf.steps = 60", "polygon_prf.learning_rate = 0.1"])
  # A generator that can draw the first 6 test polygons: recall 1; its random samples are
  # blends, mostly off the manifold.
  source = evaluate.GeneratorSource(sample_fn=_lookup_generator(_polygons(3, TEST_START, 6)),
                                    z_dim=6, z_distribution=UNIFORM_Z, name="lookup")
  evaluator = evaluate.Evaluator(None, source=source, log=lambda s: None)
  records = evaluator.score(0)
  assert [r["metric"] for r in records] == ["polygon_precision", "polygon_recall", "polygon_f1"]
  by_name = {r["metric"]: r for r in records}
  assert all(r["status"] == "ok" for r in records)
  assert by_name["polygon_recall"]["value"] == 1.0
  p = by_name["polygon_precision"]["value"]
  assert 0.0 <= p < 1.0
  assert by_name["polygon_f1"]["value"] == pytest.approx(polygon_prf.f1_score(p, 1.0))
  card = by_name["polygon_recall"]["protocol"]
  assert card["dataset"] == "triangles" and card["generator"] == "lookup"
  task_card = card["task"]
  assert task_card["task"] == "polygon_prf" and task_card["delta"] == 0.08
  assert (task_card["num_samples"], task_card["num_test_polygons"]) == (12, 6)
  assert (task_card["restarts"], task_card["steps"], task_card["learning_rate"]) == (2, 60, 0.1)
  assert task_card["distance"].startswith("rms") and "1711.10337" in task_card["definition"]
  model_dir = str(tmp_path / "run")
  os.makedirs(model_dir)
  results.record(model_dir, records)
  stored = run_dir.read_metrics(model_dir)
  assert [r["metric"] for r in stored] == ["polygon_precision", "polygon_recall", "polygon_f1"]
  assert stored[1]["protocol"]["task"]["delta"] == 0.08


def test_inversion_descends_through_a_run_model():
  """A run's G (the inference model's traced sample function) passes gradients to z."""
  from compare_gan.gans import inference
  config_file = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "examples",
                             "triangles_sndcgan.gin")
  config.parse_gin([config_file], ["G.width = 0.0625", "D.width = 0.0625",
                                   "ModularGAN.z_dim = 8", "G.batch_norm_fn = None"])
  model = inference.InferenceModel((28, 28, 1), None)
  # At its initial scale (std 0.02, no batch norm) G draws nearly the same image for every z;
  # kernels 10x larger make its output depend on z.
  for variable in model.generator(False).trainable_variables:
    variable.assign(variable * 10.0)
  generate = model.sample_fn(False)
  targets = generate(UNIFORM_Z.sample([4, 8], tf.constant([7, 7], tf.int64)), None).numpy()
  kwargs = dict(z_dim=8, z_distribution=UNIFORM_Z, seed=SEED, restarts=1, learning_rate=0.1)
  start = polygon_prf.invert_generator(generate, targets, steps=0, **kwargs)
  end = polygon_prf.invert_generator(generate, targets, steps=30, **kwargs)
  assert np.all(end < 0.6 * start) and end.mean() < 0.3 * start.mean()
