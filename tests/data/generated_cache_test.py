"""Generated datasets kept as uint8 grey-level counts, and their machine-wide disk cache
(compare_gan/data/random_access.py `GeneratedDataset`).

The registered "triangles" run with small splits (the registry's split table is patched), and
`synthetic.convex_polygon_images` is wrapped to count what is rendered: a cache hit renders only
the spot-checked rows. Every test points $COMPARE_GAN_CACHE_DIR at its own temporary directory.
"""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan import data
from compare_gan.data import base as data_base
from compare_gan.data import random_access
from compare_gan.data import synthetic

import data_fakes

TRAIN, TEST = 300, 40  # 300 > one render chunk, so the train split takes two.
SEED = 9
_convex_polygon_images = synthetic.convex_polygon_images  # Unwrapped, for expected values.


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
  path = tmp_path / "cache"
  monkeypatch.setenv(config.CACHE_ENV, str(path))
  return path


@pytest.fixture
def rendered(monkeypatch):
  """Small polygon splits; returns the list of index arrays the polygon generator is called on."""
  monkeypatch.setitem(data._POLYGON_SPLITS, "train", (0, TRAIN))
  monkeypatch.setitem(data._POLYGON_SPLITS, "test", (TRAIN, TEST))
  monkeypatch.setitem(data._POLYGON_SPLITS, "val", (TRAIN + TEST, 20))
  calls = []

  def counting(indices, **kwargs):
    calls.append(np.array(indices))
    return _convex_polygon_images(indices, **kwargs)

  monkeypatch.setattr(synthetic, "convex_polygon_images", counting)
  return calls


def _expected(indices, n_vertices=3):
  return _convex_polygon_images(np.asarray(indices, np.int64), seed=SEED, n_vertices=n_vertices)


def _assert_bits_equal(actual, expected):
  assert actual.dtype == expected.dtype == np.float32 and actual.shape == expected.shape
  np.testing.assert_array_equal(actual.view(np.uint32), expected.view(np.uint32))


def _check_inputs(ds, n_vertices=3):
  """The eval split and a training batch equal the generator's float32 output bit for bit."""
  (batch,) = data_fakes.batches(ds.eval_input(batch_size=TEST, num_examples=TEST), 1)
  expected = _expected(TRAIN + np.arange(TEST), n_vertices)
  _assert_bits_equal(batch["images"], expected)
  assert len(np.unique(expected)) > 20  # Many grey levels, not just black and white.
  (train,) = data_fakes.batches(ds.train_input(per_replica_batch_size=64, seed=4), 1)
  offsets = random_access.epoch_permutation(tf.range(64, dtype=tf.int64), seed=4,
                                            num_examples=TRAIN).numpy()
  _assert_bits_equal(train["images"], _expected(offsets, n_vertices))


def _load(ds, split="train"):
  return ds._split_tensors(split)[0]


# ---------------------------------------------------------------------------------------------
# Compact storage.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,n_vertices", [("triangles", 3), ("squares", 4)])
def test_polygons_are_stored_as_uint8_and_read_back_bit_exact(cache_dir, rendered, name,
                                                              n_vertices):
  ds = data.build_dataset(name, seed=SEED)
  assert ds.levels == 64
  _check_inputs(ds, n_vertices)  # Rendered now ...
  stored = _load(ds).numpy()
  assert stored.dtype == np.uint8 and stored.shape == (TRAIN, 28, 28, 1)
  # count = value * 64, by hand for one example.
  np.testing.assert_array_equal(stored[7], _expected([7], n_vertices)[0] * 64)
  _check_inputs(data.build_dataset(name, seed=SEED), n_vertices)  # ... and loaded from disk.


def test_mixtures_stay_float32_and_uncached(cache_dir):
  ds = data.build_dataset("ring8", seed=3)
  assert ds.levels is None and ds.cache_path("train") is None
  stored = _load(ds, "test").numpy()
  assert stored.dtype == np.float32
  np.testing.assert_array_equal(
      stored[:5], synthetic.mixture_points(100000 + np.arange(5), seed=3, name="ring8")[0])
  assert not cache_dir.exists()


def _tiny(generate, levels, name="tiny"):
  info = data_base.DatasetInfo(name=name, image_shape=(2,), num_classes=None,
                               train_split="train", eval_split="train", eval_size=4,
                               num_train_examples=4)
  return random_access.GeneratedDataset(info, seed=0, split_ranges={"train": (0, 4)},
                                        generate=generate, levels=levels)


def test_values_off_the_declared_levels_are_a_bug_error(cache_dir):
  def generate(indices):  # Example 2 holds 0.3, which is no multiple of 1/64.
    values = np.full((len(indices), 2), 0.25, np.float32)
    values[indices == 2, 1] = 0.3
    return values

  with pytest.raises(ValueError, match=r"'tiny', split 'train': example 2 has value 0.30000001"
                     r"2, not a multiple of 1/64 .*declares levels=64; this is a bug"):
    _load(_tiny(generate, 64))
  # The same data without levels are kept as they are, in float32.
  stored = _load(_tiny(generate, None)).numpy()
  assert stored.dtype == np.float32 and stored[2, 1] == np.float32(0.3)
  # A NaN is no multiple of anything either.
  with pytest.raises(ValueError, match="example 0 has value nan"):
    _load(_tiny(lambda i: np.full((len(i), 2), np.nan, np.float32), 64))
  for levels in (3, 0, 256, True, 64.0):
    with pytest.raises(ValueError, match=rf"levels must be None or a power of two from 1 to "
                       rf"128 .*got {levels!r}"):
      _tiny(generate, levels)


# ---------------------------------------------------------------------------------------------
# The disk cache.
# ---------------------------------------------------------------------------------------------


def test_second_dataset_loads_from_the_cache_without_rendering(cache_dir, rendered):
  first = data.build_dataset("triangles", seed=SEED)
  path = first.cache_path("train")
  assert os.path.dirname(path) == str(cache_dir / "datasets")
  assert os.path.basename(path).startswith("triangles-") and path.endswith(".npy")
  _load(first)
  assert sum(len(c) for c in rendered) == TRAIN and len(rendered) == 2  # Two chunks.
  assert np.load(path).dtype == np.uint8 and os.listdir(cache_dir / "datasets") == [
      os.path.basename(path)]  # No temporary file left behind.

  rendered.clear()
  second = data.build_dataset("triangles", seed=SEED)
  _load(second)
  # Only the spot check ran: 8 rows spread over the split, the first and last included.
  (checked,) = rendered
  assert len(checked) == random_access.SPOT_CHECKS
  assert checked[0] == 0 and checked[-1] == TRAIN - 1
  np.testing.assert_array_equal(_load(second).numpy(), _load(first).numpy())


def test_the_key_separates_seeds_splits_names_and_versions(cache_dir):
  paths = {data.build_dataset(name, seed=seed).cache_path(split)
           for name in ("triangles", "squares") for seed in (0, 1)
           for split in ("train", "test", "val")}
  assert len(paths) == 12
  ds = data.build_dataset("triangles", seed=0)
  other_version = random_access.GeneratedDataset(
      ds.info, seed=0, split_ranges=dict(data._POLYGON_SPLITS), generate=ds._generate,
      levels=64, cache_version=synthetic.POLYGON_IMAGES_VERSION + "-next")
  assert other_version.cache_path("train") != ds.cache_path("train")
  assert ds.cache_key("train") == dict(
      dataset="triangles", seed=0, start=0, size=60000, shape=[28, 28, 1], dtype="uint8",
      levels=64, generator=synthetic.POLYGON_IMAGES_VERSION)


def test_default_cache_root_is_under_home(tmp_path, monkeypatch):
  monkeypatch.delenv(config.CACHE_ENV, raising=False)
  monkeypatch.setenv("HOME", str(tmp_path))
  path = data.build_dataset("triangles").cache_path("test")
  assert os.path.dirname(path) == str(tmp_path / ".cache" / "compare_gan" / "datasets")


def _warnings(caplog):
  return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "float32"])
def test_a_corrupt_cache_file_is_reported_and_rendered_again(cache_dir, rendered, caplog,
                                                             damage):
  path = data.build_dataset("triangles", seed=SEED).cache_path("test")
  _load(data.build_dataset("triangles", seed=SEED), "test")
  good = np.load(path)
  if damage == "float32":  # A whole .npy file, but not of the stored dtype.
    np.save(path, good.astype(np.float32) / 64)
  else:
    raw = open(path, "rb").read()
    with open(path, "wb") as f:
      f.write({"truncated": raw[:len(raw) // 2], "empty": b"", "garbage": b"\x00" * 999}[damage])
  rendered.clear()
  with caplog.at_level(logging.WARNING):
    ds = data.build_dataset("triangles", seed=SEED)
    _check_inputs(ds)
  (message,) = [m for m in _warnings(caplog) if path in m]
  assert ("holds float32" if damage == "float32" else "is unreadable") in message
  assert "rendering triangles test again" in message
  assert sum(len(c) for c in rendered if c[0] >= TRAIN) == TEST  # Rendered once more, whole.
  np.testing.assert_array_equal(np.load(path), good)  # And written again.


@pytest.mark.parametrize("row", [0, TEST - 1])
def test_a_stale_cache_file_fails_the_spot_check(cache_dir, rendered, caplog, row):
  path = data.build_dataset("triangles", seed=SEED).cache_path("test")
  _load(data.build_dataset("triangles", seed=SEED), "test")
  good = np.load(path)
  tampered = good.copy()
  tampered[row, 14, 14, 0] ^= 1  # One grey level of one pixel.
  np.save(path, tampered)
  rendered.clear()
  with caplog.at_level(logging.WARNING):
    _check_inputs(data.build_dataset("triangles", seed=SEED))
  (message,) = [m for m in _warnings(caplog) if path in m]
  assert f"is stale: rows [{row}] differ from a fresh rendering" in message
  np.testing.assert_array_equal(np.load(path), good)


def test_an_unwritable_cache_warns_once_and_the_data_still_load(tmp_path, monkeypatch, rendered,
                                                                caplog):
  blocker = tmp_path / "not_a_directory"
  blocker.write_text("a file where the cache root should be")
  monkeypatch.setenv(config.CACHE_ENV, str(blocker))
  with caplog.at_level(logging.WARNING):
    ds = data.build_dataset("triangles", seed=SEED)
    _check_inputs(ds)  # Both splits: two failed writes, one warning.
    _load(ds, "val")
  (message,) = [m for m in _warnings(caplog) if "dataset cache" in m]
  assert message.startswith(f"Cannot write the dataset cache {blocker}/datasets (")
  assert f"Set ${config.CACHE_ENV} to a writable directory" in message
  assert blocker.read_text() == "a file where the cache root should be"
