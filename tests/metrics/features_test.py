"""Tests for compare_gan/metrics/features.py: re-batching, FeatureCache, pixel features."""

import concurrent.futures
import hashlib
import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

import fake_inception as fake_inception_lib

from compare_gan.metrics import features
from compare_gan.metrics.inception import weights as inception_weights


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
  monkeypatch.setenv(inception_weights.CACHE_ENV, str(tmp_path / "cache"))
  monkeypatch.delenv(inception_weights.WEIGHTS_ENV, raising=False)
  return tmp_path / "cache"


@pytest.fixture(scope="module")
def fake_inception(tmp_path_factory):
  path = fake_inception_lib.write_fake_inception_graph(tmp_path_factory.mktemp("w"), "frozen_pb")
  return inception_weights.load_inception(path, batch_size=16, download=False,
                                  cache_dir=str(tmp_path_factory.mktemp("c")))


def _images(n, size=8, seed=0):
  return np.random.default_rng(seed).random((n, size, size, 3)).astype(np.float32)


class Recorder:
  """A weight-free extractor that records the batch sizes it was called with."""

  def __init__(self):
    self.sizes = []

  def __call__(self, batch):
    self.sizes.append(batch.shape[0])
    flat = batch.reshape(batch.shape[0], -1)
    return {"sum": flat.sum(1), "first": tf.constant(flat[:, :2])}


# ------------------------------------------------------------------------------------------------
# extract_features
# ------------------------------------------------------------------------------------------------

def test_batch_size_independence_on_the_fake_inception(fake_inception):
  images = _images(70, size=16)
  whole = features.extract_features(fake_inception, images, batch_size=64)
  by_7 = features.extract_features(fake_inception, [images[i:i + 7] for i in range(0, 70, 7)],
                                   batch_size=64)
  by_64 = features.extract_features(
      fake_inception, tf.data.Dataset.from_tensor_slices(images).batch(64), batch_size=64)
  for name in ("pool_3", "logits"):
    assert whole[name].shape[0] == 70
    np.testing.assert_allclose(by_7[name], whole[name], atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(by_64[name], whole[name], atol=1e-6, rtol=1e-6)
  np.testing.assert_allclose(whole["pool_3"],
                             fake_inception_lib.fake_inception_reference(images)["pool_3"],
                             atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("chunk", [1, 7, 64, 150])
def test_rebatching_calls_exact_batches(chunk):
  images = _images(150)
  recorder = Recorder()
  out = features.extract_features(recorder, [images[i:i + chunk] for i in range(0, 150, chunk)],
                                  batch_size=64)
  assert recorder.sizes == [64, 64, 22]
  np.testing.assert_allclose(out["sum"], images.reshape(150, -1).sum(1), rtol=1e-6)
  assert out["first"].shape == (150, 2) and isinstance(out["first"], np.ndarray)


def test_truncates_without_pulling_extra_batches():
  pulled = []

  def endless():
    for i in range(10 ** 6):
      pulled.append(i)
      yield _images(30, seed=i)

  recorder = Recorder()
  out = features.extract_features(recorder, endless(), batch_size=16, num_examples=50)
  assert out["sum"].shape == (50,)
  assert recorder.sizes == [16, 16, 16, 2]
  assert len(pulled) == 2


def test_truncates_an_array():
  images = _images(40)
  out = features.extract_features(Recorder(), images, batch_size=16, num_examples=33)
  np.testing.assert_allclose(out["sum"], images[:33].reshape(33, -1).sum(1), rtol=1e-6)


def test_too_few_images_says_how_many():
  with pytest.raises(ValueError, match="num_examples=20 requested but the input had only 10"):
    features.extract_features(Recorder(), _images(10), num_examples=20)
  batches = [_images(4), _images(4)]
  with pytest.raises(ValueError, match="num_examples=9 requested but the input had only 8"):
    features.extract_features(Recorder(), batches, batch_size=3, num_examples=9)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": 0}, ValueError, "batch_size=0"),
    ({"num_examples": 0}, ValueError, "num_examples=0"),
])
def test_bad_arguments(kwargs, error, message):
  with pytest.raises(error, match=message):
    features.extract_features(Recorder(), _images(4), **kwargs)


def test_bad_inputs_and_outputs():
  with pytest.raises(ValueError, match="no images"):
    features.extract_features(Recorder(), [])
  with pytest.raises(TypeError, match="is a dict"):
    features.extract_features(Recorder(), [{"image": _images(2)}])
  with pytest.raises(ValueError, match="differ in shape"):
    features.extract_features(Recorder(), [_images(4, size=8), _images(4, size=9)], batch_size=2)
  with pytest.raises(ValueError, match="first dimension must be the batch"):
    features.extract_features(lambda x: {"bad": np.zeros(3)}, _images(4))
  with pytest.raises(TypeError, match="dict of arrays"):
    features.extract_features(lambda x: x, _images(4))


# ------------------------------------------------------------------------------------------------
# pixel_features
# ------------------------------------------------------------------------------------------------

def test_pixel_features():
  images = _images(3, size=4)
  out = features.pixel_features(images)["pixels"]
  assert out.dtype == np.float32 and out.shape == (3, 48)
  np.testing.assert_array_equal(out, images.reshape(3, -1))
  points = np.random.default_rng(0).normal(size=(5, 2))
  np.testing.assert_allclose(features.pixel_features(points)["pixels"], points, rtol=1e-6)
  pooled = features.pixel_features(_images(2, size=64), max_resolution=32)["pixels"]
  expected = _images(2, size=64).reshape(2, 32, 2, 32, 2, 3).mean((2, 4)).reshape(2, -1)
  np.testing.assert_allclose(pooled, expected, rtol=1e-6)
  assert features.pixel_features(_images(2, size=48), max_resolution=32)["pixels"].shape == (
      2, 32 * 32 * 3)
  with pytest.raises(ValueError, match="shape"):
    features.pixel_features(np.zeros((2, 3, 4)))
  out = features.extract_features(features.pixel_features, _images(10, size=4), batch_size=4)
  assert out["pixels"].shape == (10, 48)


# ------------------------------------------------------------------------------------------------
# FeatureCache
# ------------------------------------------------------------------------------------------------

def test_key_hash_is_canonical_sha256():
  key = {"split": "test", "n": 10, "card": {"b": 1, "a": [1, 2]}}
  reordered = {"card": {"a": [1, 2], "b": 1}, "n": np.int64(10), "split": "test"}
  expected = hashlib.sha256(
      b'{"card":{"a":[1,2],"b":1},"n":10,"split":"test"}').hexdigest()
  assert features.key_hash(key) == features.key_hash(reordered) == expected
  assert features.key_hash({"n": 11}) != features.key_hash({"n": 10})
  with pytest.raises(TypeError, match="not JSON-able"):
    features.key_hash({"f": object()})
  with pytest.raises(TypeError, match="canonical JSON"):
    features.key_hash({"x": float("nan")})


def test_miss_then_hit(tmp_path):
  cache = features.FeatureCache(str(tmp_path / "fc"))
  key = {"dataset": "triangles", "n": 4}
  calls = []

  def compute():
    calls.append(1)
    return {"pool_3": np.arange(8, dtype=np.float32).reshape(4, 2)}

  first = cache.get_or_compute(key, compute)
  second = cache.get_or_compute(dict(reversed(list(key.items()))), compute)
  assert len(calls) == 1
  np.testing.assert_array_equal(first["pool_3"], second["pool_3"])
  assert second["pool_3"].dtype == np.float32
  digest = features.key_hash(key)
  assert cache.path(key) == str(tmp_path / "fc" / f"{digest}.npz")
  with open(tmp_path / "fc" / f"{digest}.json") as f:
    assert json.load(f) == key
  cache.get_or_compute({"dataset": "triangles", "n": 5}, compute)
  assert len(calls) == 2
  assert not [name for name in os.listdir(tmp_path / "fc") if name.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_file_is_reported_and_recomputed(tmp_path, caplog, damage):
  cache = features.FeatureCache(str(tmp_path))
  key = {"k": damage}
  values = {"x": np.arange(1000, dtype=np.float64)}
  cache.get_or_compute(key, lambda: values)
  path = cache.path(key)
  data = open(path, "rb").read()
  damaged = {"garbage": b"junk" * 10, "truncated": data[:len(data) // 2], "empty": b""}[damage]
  with open(path, "wb") as f:
    f.write(damaged)
  with caplog.at_level(logging.WARNING):
    out = cache.get_or_compute(key, lambda: values)
  np.testing.assert_array_equal(out["x"], values["x"])
  assert any("unreadable" in r.getMessage() and path in r.getMessage() for r in caplog.records)
  np.testing.assert_array_equal(cache.load(key)["x"], values["x"])  # Repaired on disk.


def test_concurrent_writers_leave_a_valid_file(tmp_path):
  cache = features.FeatureCache(str(tmp_path))
  key = {"shared": True}
  values = {"x": np.random.default_rng(0).random((200, 64))}
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    list(pool.map(lambda _: cache.save(key, values), range(12)))
  np.testing.assert_array_equal(cache.load(key)["x"], values["x"])
  assert sorted(os.listdir(tmp_path)) == sorted(
      [features.key_hash(key) + ".npz", features.key_hash(key) + ".json"])


def test_default_dir_follows_the_env_var(isolated_cache):
  assert features.FeatureCache().cache_dir == str(isolated_cache / "features")


def test_bad_compute_results_are_refused(tmp_path):
  cache = features.FeatureCache(str(tmp_path))
  with pytest.raises(TypeError, match="non-empty dict"):
    cache.get_or_compute({"a": 1}, lambda: {})
  with pytest.raises(TypeError, match="non-empty dict"):
    cache.get_or_compute({"a": 1}, lambda: np.zeros(3))


def test_cache_with_inception_card(fake_inception, tmp_path):
  cache = features.FeatureCache(str(tmp_path))
  images = _images(5, size=16)
  key = {"dataset": "fake", "n": 5, "extractor": fake_inception.cache_key()}
  first = cache.get_or_compute(key, lambda: features.extract_features(fake_inception, images))
  second = cache.get_or_compute(key, lambda: pytest.fail("recomputed a cached entry"))
  np.testing.assert_array_equal(first["pool_3"], second["pool_3"])
