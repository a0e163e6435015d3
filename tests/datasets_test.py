"""Tests for compare_gan.datasets: the registry, every source kind, the exact-resume contract.

TFDS sources run under `tfds.testing.mock_data` (offline, random examples of the real feature
spec); the contract tests use sources whose examples carry their own index, so a stream can be
compared position by position.
"""

import io
import json
import os
import re
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from compare_gan import datasets
from compare_gan import synthetic_data


def _batches(ds: tf.data.Dataset, n: int) -> list:
  return list(ds.take(n).as_numpy_iterator())


def _context(replicas: int, pipelines: int = 1, pipeline_id: int = 0):
  return tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=pipeline_id,
                                    num_replicas_in_sync=replicas)


# ---------------------------------------------------------------------------------------------
# Sources whose examples identify themselves.
# ---------------------------------------------------------------------------------------------


def _index_dataset(n: int = 23) -> datasets.GeneratedDataset:
  """Random-access source: example i of "train" is the 1-vector [i]."""
  info = datasets.DatasetInfo(name="index", image_shape=(1,), num_classes=None,
                              train_split="train", eval_split="test", eval_size=5,
                              num_train_examples=n)
  return datasets.GeneratedDataset(info, seed=0, split_ranges={"train": (0, n), "test": (n, 5)},
                                   generate=lambda i: i.astype(np.float32)[:, None])


def _png(array: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, "PNG")
  return buffer.getvalue()


def _write_tfrecords(folder, sizes, shape=(6, 6), offset=0):
  """Files of tf.train.Examples {"image": PNG of value i, "label": i}; returns their paths."""
  paths, index = [], offset
  for f, count in enumerate(sizes):
    path = os.path.join(folder, f"data-{f:05d}.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
      for _ in range(count):
        image = np.full((*shape, 3), index % 256, np.uint8)
        example = tf.train.Example(features=tf.train.Features(feature={
            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_png(image)])),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[index])),
        }))
        writer.write(example.SerializeToString())
        index += 1
    paths.append(path)
  return paths


def _tfrecord_index_dataset(tmp_path, sizes=(7, 0, 9, 5), window=4):
  """Streaming source: record i (in stored order) has label i; 21 records in 4 files."""
  _write_tfrecords(str(tmp_path), sizes)
  n = sum(sizes)
  return datasets.build_dataset(
      "tfrecord", file_pattern=str(tmp_path / "data-*.tfrecord"), resolution=4,
      label_key="label", num_classes=n, shuffle_window=window), n


def _ids(batch: dict) -> np.ndarray:
  if "labels" in batch:
    return batch["labels"].astype(np.int64)
  return batch["images"][:, 0].astype(np.int64)


def _stream_ids(ds, *, batch_size, seed, count, start_position=0, context=None):
  pipeline = ds.train_input(per_replica_batch_size=batch_size, seed=seed,
                            start_position=start_position, input_context=context)
  return [_ids(b) for b in _batches(pipeline, count)]


# ---------------------------------------------------------------------------------------------
# The exact-resume contract, for a random-access and two streaming sources.
# ---------------------------------------------------------------------------------------------


def _check_contract(ds, n: int, b: int = 3):
  """Epoch permutations, resume, replica concatenation and pipeline sharding of `ds`."""
  # The R = 1 stream with the global batch GB = 2b: the reference for everything below.
  gb = 2 * b
  steps = 16  # > 4 epochs of 23 / 21 examples at 6 per step.
  reference = _stream_ids(ds, batch_size=gb, seed=1, count=steps)
  flat = np.concatenate(reference)

  # Every epoch is a permutation of the n examples, in a different order per epoch and seed.
  epochs = [flat[e * n:(e + 1) * n] for e in range(4)]
  for epoch in epochs:
    np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
  for e in range(3):
    assert not np.array_equal(epochs[e], epochs[e + 1])
  assert not np.array_equal(epochs[0], np.arange(n))
  other_seed = np.concatenate(_stream_ids(ds, batch_size=b, seed=2, count=-(-n // b)))
  assert not np.array_equal(other_seed[:n], epochs[0])

  # Restarting at start_position = m * GB reproduces the tail exactly, in and across epochs.
  for m in (1, 4, 7):  # Inside epoch 0, just after its end, in epoch 1.
    resumed = _stream_ids(ds, batch_size=gb, seed=1, count=steps - m, start_position=m * gb)
    np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate(reference[m:]))

  # Two replicas in one pipeline: consecutive per-replica batches concatenate to the global one.
  two = _stream_ids(ds, batch_size=b, seed=1, count=2 * steps, context=_context(2))
  assert all(len(x) == b for x in two)
  np.testing.assert_array_equal(np.concatenate(two), np.concatenate(reference))
  resumed = _stream_ids(ds, batch_size=b, seed=1, count=2 * (steps - 5), start_position=5 * gb,
                        context=_context(2))
  np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate(reference[5:]))

  # Two pipelines of one replica each: replica r's slice of every global batch, no overlap.
  shards = [_stream_ids(ds, batch_size=b, seed=1, count=steps, context=_context(2, 2, i))
            for i in range(2)]
  for k in range(steps):
    np.testing.assert_array_equal(shards[0][k], reference[k][:b])
    np.testing.assert_array_equal(shards[1][k], reference[k][b:])
  first_epoch = np.concatenate([np.concatenate(s[:n // gb]) for s in shards])
  assert len(set(first_epoch.tolist())) == len(first_epoch)

  # Four replicas in two pipelines: each pipeline yields its two replicas' batches per step.
  quarter = -(-b // 2)  # b' with GB' = 4b'
  gb4 = 4 * quarter
  reference4 = _stream_ids(ds, batch_size=gb4, seed=1, count=4, start_position=2 * gb4)
  for i in range(2):
    got = _stream_ids(ds, batch_size=quarter, seed=1, count=8, start_position=2 * gb4,
                      context=_context(4, 2, i))
    for k in range(4):
      lo = 2 * i * quarter
      np.testing.assert_array_equal(np.concatenate(got[2 * k:2 * k + 2]),
                                    reference4[k][lo:lo + 2 * quarter])


def test_contract_random_access():
  _check_contract(_index_dataset(23), 23)


def test_contract_tfrecord_stream(tmp_path):
  ds, n = _tfrecord_index_dataset(tmp_path)
  assert ds.info.num_train_examples == n
  _check_contract(ds, n)


def _celeb_a_hq_index_as_dataset(total):
  """A mock `_as_dataset` for celeb_a_hq/128 that honours tfds split slicing `train[a:b]`."""

  def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
    del self, decoders, read_config, kwargs  # Always encoded, as the pipeline asks.
    match = re.fullmatch(r"train(?:\[(\d*):(\d*)\])?", split)
    assert match, split
    lo = int(match.group(1) or 0)
    hi = int(match.group(2)) if match.group(2) else total
    return tf.data.Dataset.range(lo, hi).map(lambda i: {
        "image": tf.io.encode_png(tf.fill([128, 128, 3], tf.cast(i, tf.uint8))),
        "image/filename": tf.strings.as_string(i)})

  return as_dataset


def _hq_ids(batch):
  return np.round(batch["images"][:, 0, 0, 0] * 255).astype(np.int64)


def test_contract_tfds_stream_uses_split_slicing():
  total = 40  # train = records [0, 36), test = [36, 40)
  with tfds.testing.mock_data(as_dataset_fn=_celeb_a_hq_index_as_dataset(total)):
    ds = datasets.build_dataset("celeb_a_hq_128", shuffle_window=5)
    assert (ds.info.num_train_examples, ds.info.eval_size) == (36, 4)
    n, gb = 36, 4

    def stream(count, start=0):
      pipeline = ds.train_input(per_replica_batch_size=gb, seed=3, start_position=start)
      return np.concatenate([_hq_ids(b) for b in _batches(pipeline, count)])

    full = stream(20)  # 80 positions: 2 epochs and a bit.
    for e in range(2):
      epoch = full[e * n:(e + 1) * n]
      np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
      # Block shuffle: block j of 5 stored records stays together.
      np.testing.assert_array_equal(epoch // 5, np.arange(n) // 5)
    assert not np.array_equal(full[:n], full[n:2 * n])
    for m in (1, 2, 9, 13):  # Starts inside blocks, at block ends, in epoch 2.
      np.testing.assert_array_equal(stream(20 - m, m * gb), full[m * gb:])
    evaluation = list(ds.eval_input(batch_size=3).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([_hq_ids(b) for b in evaluation]),
                                  [36, 37, 38, 39])


def test_start_position_must_be_a_multiple_of_the_global_batch():
  ds = _index_dataset()
  with pytest.raises(ValueError, match="multiple of the global batch size 8"):
    ds.train_input(per_replica_batch_size=4, seed=0, start_position=4, input_context=_context(2))
  with pytest.raises(ValueError, match="per_replica_batch_size"):
    ds.train_input(per_replica_batch_size=0, seed=0)
  with pytest.raises(ValueError, match="num_input_pipelines"):
    ds.train_input(per_replica_batch_size=2, seed=0, input_context=_context(3, 2, 0))


def test_epoch_permutation_batches_may_straddle_epochs():
  n = 1000
  first = n - 7  # The batch starts 7 positions before the end of epoch 0.
  positions = tf.range(first, 3 * n, dtype=tf.int64)
  offsets = datasets.epoch_permutation(positions, seed=9, num_examples=n).numpy()
  epoch1, epoch2 = offsets[n - first:2 * n - first], offsets[2 * n - first:]
  np.testing.assert_array_equal(np.sort(epoch1), np.arange(n))
  np.testing.assert_array_equal(np.sort(epoch2), np.arange(n))
  assert not np.array_equal(epoch1, epoch2)
  # Position by position, the same as computing one position at a time.
  single = [datasets.epoch_permutation(tf.constant([p], tf.int64), seed=9, num_examples=n)[0]
            for p in (first, n, 2 * n + 3)]
  assert single == [offsets[0], offsets[n - first], offsets[2 * n + 3 - first]]


def test_eval_input_is_finite_ordered_and_checked():
  ds = _index_dataset(23)
  batches = list(ds.eval_input(batch_size=2).as_numpy_iterator())
  np.testing.assert_array_equal(np.concatenate([_ids(b) for b in batches]),
                                23 + np.arange(5))
  assert [len(b["images"]) for b in batches] == [2, 2, 1]
  train = list(ds.eval_input(batch_size=10, split="train", num_examples=12).as_numpy_iterator())
  np.testing.assert_array_equal(np.concatenate([_ids(b) for b in train]), np.arange(12))
  with pytest.raises(ValueError, match="has 5 examples"):
    ds.eval_input(batch_size=2, num_examples=6)
  with pytest.raises(ValueError, match=r"valid splits: \['train', 'test'\]"):
    ds.eval_input(batch_size=2, split="validation")


def test_mirrored_strategy_hands_batches_to_replicas_in_order():
  """Two logical CPUs need a fresh process: see `_mirrored_main` below."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  proc = subprocess.run([sys.executable, __file__, "mirrored"], capture_output=True, text=True,
                        env=env, timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  report = json.loads([l for l in proc.stdout.splitlines() if l.startswith("REPORT ")][-1][7:])
  assert report["replicas"] == 2
  assert report["per_replica"] == report["expected"]


def _mirrored_main():
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  ds = _index_dataset(23)
  b, gb, start = 3, 6, 12
  dist = strategy.distribute_datasets_from_function(
      lambda ctx: ds.train_input(per_replica_batch_size=ctx.get_per_replica_batch_size(gb),
                                 seed=1, start_position=start, input_context=ctx))
  iterator = iter(dist)
  per_replica = []
  for _ in range(3):
    values = strategy.experimental_local_results(next(iterator)["images"])
    per_replica.append([v.numpy()[:, 0].astype(int).tolist() for v in values])
  reference = ds.train_input(per_replica_batch_size=gb, seed=1, start_position=start)
  expected = [[g[:b].tolist(), g[b:].tolist()] for g in (_ids(x) for x in _batches(reference, 3))]
  print("REPORT " + json.dumps({"replicas": strategy.num_replicas_in_sync,
                                "per_replica": per_replica, "expected": expected}))


# ---------------------------------------------------------------------------------------------
# TFDS sources (mocked) and the missing-dataset error.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,shape,classes,mock_examples", [
    ("mnist", (28, 28, 1), 10, 20),
    ("cifar10", (32, 32, 3), 10, 20),
    ("celeb_a", (64, 64, 3), None, 20),
    ("lsun_bedroom_128", (128, 128, 3), None, 500),  # Its eval split is the last 1%.
])
def test_tfds_sources_under_mock_data(name, shape, classes, mock_examples):
  with tfds.testing.mock_data(num_examples=mock_examples):
    ds = datasets.build_dataset(name, **({} if classes else {"shuffle_window": 8}))
    assert ds.info.image_shape == shape and ds.info.num_classes == classes
    train = _batches(ds.train_input(per_replica_batch_size=4, seed=0), 6)  # > 1 epoch
    evaluation = _batches(ds.eval_input(batch_size=3, num_examples=5), 10)
  assert [len(b["images"]) for b in evaluation] == [3, 2]
  for batch in train + evaluation:
    images = batch["images"]
    assert images.dtype == np.float32 and images.shape[1:] == shape
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert ("labels" in batch) == (classes is not None)
    if classes:
      assert batch["labels"].dtype == np.int32
      assert 0 <= batch["labels"].min() and batch["labels"].max() < classes
  assert train[0]["images"].shape[0] == 4 and train[0]["images"].std() > 0


def test_lsun_and_celeb_a_hq_splits_and_aliases():
  with tfds.testing.mock_data(num_examples=200):
    lsun = datasets.build_dataset("lsun-bedroom")
    hq = datasets.build_dataset("celeb_a_hq_128")
    fashion = datasets.build_dataset("fashion-mnist")
  assert lsun.info.name == "lsun_bedroom_128"
  assert (lsun.info.num_train_examples, lsun.info.eval_size) == (198, 2)  # 99% / 1%
  assert (hq.info.num_train_examples, hq.info.eval_size) == (180, 20)  # 90% / 10%
  assert fashion.info.name == "fashion_mnist" and fashion.info.num_classes == 10
  with pytest.raises(ValueError, match="shuffle_window=5 applies to the streaming"):
    with tfds.testing.mock_data(num_examples=4):
      datasets.build_dataset("mnist", shuffle_window=5)


def test_missing_tfds_dataset_says_how_to_prepare_it(tmp_path):
  data_dir = str(tmp_path / "tfds")
  with pytest.raises(FileNotFoundError) as error:
    datasets.build_dataset("mnist", tfds_data_dir=data_dir)
  message = str(error.value)
  assert "tfds build mnist --data_dir DIR" in message and data_dir in message
  assert "download_and_prepare --datasets=mnist" in message
  with pytest.raises(FileNotFoundError, match="--manual_dir"):
    datasets.build_dataset("celeb_a_hq_128", tfds_data_dir=data_dir)
  assert not os.path.exists(os.path.join(data_dir, "mnist", "3.0.1", "dataset_info.json"))


# ---------------------------------------------------------------------------------------------
# Image folders and TFRecord files.
# ---------------------------------------------------------------------------------------------


def _image_folder(root):
  """Seven images of various sizes, modes and formats (one nested) and a non-image file."""
  rng = np.random.default_rng(0)
  (root / "nested" / "deeper").mkdir(parents=True)
  Image.fromarray(rng.integers(0, 256, (40, 30, 3), np.uint8)).save(root / "a.png")
  Image.fromarray(rng.integers(0, 256, (20, 50, 3), np.uint8)).save(root / "b.jpg")
  Image.fromarray(np.full((16, 16), 128, np.uint8), "L").save(root / "c_gray.png")
  Image.fromarray(rng.integers(0, 256, (9, 9, 4), np.uint8), "RGBA").save(root / "d.PNG")
  Image.fromarray(rng.integers(0, 256, (12, 14, 3), np.uint8)).save(root / "nested" / "e.bmp")
  Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8)).save(root / "nested" / "f.gif")
  Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(
      root / "nested" / "deeper" / "g.jpeg")
  (root / "notes.txt").write_text("not an image")
  return 7


def test_image_folder_shapes_channels_and_split(tmp_path):
  n = _image_folder(tmp_path)
  ds = datasets.build_dataset("image_folder", path=str(tmp_path), resolution=8)
  assert ds.info.image_shape == (8, 8, 3) and ds.info.num_classes is None
  assert (ds.info.eval_split, ds.info.eval_size, ds.info.num_train_examples) == ("train", n, n)
  batches = _batches(ds.eval_input(batch_size=3), 5)
  assert [b["images"].shape for b in batches] == [(3, 8, 8, 3), (3, 8, 8, 3), (1, 8, 8, 3)]
  # Sorted order: a.png, b.jpg, c_gray.png, ...; the uniform grey file stays uniform grey.
  np.testing.assert_allclose(batches[0]["images"][2], 128 / 255, atol=1e-6)
  train = _batches(ds.train_input(per_replica_batch_size=4, seed=0), 2)
  for images in [b["images"] for b in batches + train]:
    assert images.dtype == np.float32 and 0.0 <= images.min() and images.max() <= 1.0

  gray = datasets.build_dataset("image_folder", path=str(tmp_path), resolution=5, channels=1,
                                eval_fraction=0.3)
  assert gray.info.image_shape == (5, 5, 1) and gray.info.eval_split == "test"
  assert (gray.info.num_train_examples, gray.info.eval_size) == (5, 2)
  assert _batches(gray.train_input(per_replica_batch_size=2, seed=0), 1)[0]["images"].shape == (
      2, 5, 5, 1)


def test_image_folder_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="is not a folder"):
    datasets.build_dataset("image_folder", path=str(tmp_path / "missing"), resolution=8)
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "readme.txt").write_text("x")
  with pytest.raises(FileNotFoundError, match=r"no image files .*'\.png', '\.jpg'"):
    datasets.build_dataset("image_folder", path=str(tmp_path / "empty"), resolution=8)
  with pytest.raises(ValueError, match="channels must be 1 or 3"):
    datasets.build_dataset("image_folder", path=str(tmp_path), resolution=8, channels=2)

  bad = tmp_path / "bad"
  bad.mkdir()
  Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(bad / "good.png")
  (bad / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
  ds = datasets.build_dataset("image_folder", path=str(bad), resolution=4)
  with pytest.raises(Exception, match="zz_broken.png"):
    list(ds.eval_input(batch_size=2).as_numpy_iterator())


def test_tfrecord_shapes_labels_and_errors(tmp_path):
  (tmp_path / "train").mkdir()
  (tmp_path / "eval").mkdir()
  _write_tfrecords(str(tmp_path / "train"), [5, 6])
  _write_tfrecords(str(tmp_path / "eval"), [4], shape=(8, 10), offset=11)
  ds = datasets.build_dataset(
      "tfrecord", file_pattern=str(tmp_path / "train" / "*.tfrecord"), resolution=6,
      eval_file_pattern=str(tmp_path / "eval" / "*"), label_key="label", num_classes=20)
  assert ds.info.image_shape == (6, 6, 3) and ds.info.num_classes == 20
  assert (ds.info.num_train_examples, ds.info.eval_split, ds.info.eval_size) == (11, "test", 4)
  (evaluation,) = _batches(ds.eval_input(batch_size=10), 5)
  np.testing.assert_array_equal(evaluation["labels"], [11, 12, 13, 14])
  # Uniform images stay uniform through crop and (antialiased) resize.
  np.testing.assert_allclose(evaluation["images"][:, 0, 0, 0], np.arange(11, 15) / 255, atol=1e-5)
  train = _batches(ds.train_input(per_replica_batch_size=4, seed=0), 3)
  assert train[0]["images"].shape == (4, 6, 6, 3) and train[0]["labels"].dtype == np.int32

  gray = datasets.build_dataset("tfrecord", file_pattern=str(tmp_path / "train" / "*"),
                                resolution=6, channels=1, crop_and_resize=False)
  assert "labels" not in _batches(gray.eval_input(batch_size=2), 1)[0]
  assert _batches(gray.eval_input(batch_size=2), 1)[0]["images"].shape == (2, 6, 6, 1)
  wrong = datasets.build_dataset("tfrecord", file_pattern=str(tmp_path / "eval" / "*"),
                                 resolution=6, crop_and_resize=False)
  with pytest.raises(tf.errors.InvalidArgumentError, match="expected 6x6"):
    _batches(wrong.eval_input(batch_size=2), 1)
  with pytest.raises(FileNotFoundError, match="no file matches the pattern .*nothing"):
    datasets.build_dataset("tfrecord", file_pattern=str(tmp_path / "nothing*"), resolution=6)
  with pytest.raises(ValueError, match="label_key and tfrecord.num_classes go together"):
    datasets.build_dataset("tfrecord", file_pattern=str(tmp_path / "train" / "*"),
                           resolution=6, label_key="label")


# ---------------------------------------------------------------------------------------------
# Generated data, the registry and gin.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,n_vertices", [("triangles", 3), ("squares", 4)])
def test_polygons(name, n_vertices):
  ds = datasets.build_dataset(name, seed=5)
  assert ds.info == datasets.DatasetInfo(name, (28, 28, 1), None, "train", "test", 10000, 60000)
  assert ds.splits == ("train", "test", "val")
  (batch,) = _batches(ds.eval_input(batch_size=4, num_examples=4), 1)
  expected = synthetic_data.convex_polygon_images(60000 + np.arange(4), seed=5,
                                                  n_vertices=n_vertices)
  np.testing.assert_array_equal(batch["images"], expected)
  # The hold-out split, read at a different offset: the examples are those of indices 70000+.
  (val,) = _batches(ds.eval_input(batch_size=2, split="val", num_examples=6), 3)[2:]
  np.testing.assert_array_equal(val["images"], synthetic_data.convex_polygon_images(
      70004 + np.arange(2), seed=5, n_vertices=n_vertices))
  assert val["images"].dtype == np.float32 and set(val) == {"images"}


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixtures(name):
  ds = datasets.build_dataset(name)
  assert ds.info.image_shape == (2,) and ds.info.num_classes is None
  assert (ds.info.num_train_examples, ds.info.eval_size) == (100000, 10000)
  (batch,) = _batches(ds.eval_input(batch_size=6, num_examples=6), 1)
  points, _ = synthetic_data.mixture_points(100000 + np.arange(6), seed=547, name=name)
  np.testing.assert_array_equal(batch["images"], points)
  (train,) = _batches(ds.train_input(per_replica_batch_size=16, seed=4), 1)
  assert train["images"].shape == (16, 2) and set(train) == {"images"}
  # Training example at position p is example epoch_permutation(p) of the train split.
  offsets = datasets.epoch_permutation(tf.range(16, dtype=tf.int64), seed=4,
                                       num_examples=100000).numpy()
  np.testing.assert_array_equal(
      train["images"], synthetic_data.mixture_points(offsets, seed=547, name=name)[0])


def test_registry_and_unknown_names():
  for name in ("mnist", "fashion_mnist", "fashion-mnist", "cifar10", "celeb_a", "celeb_a_hq_128",
               "lsun_bedroom_128", "lsun-bedroom", "triangles", "squares", "ring8", "grid25",
               "image_folder", "tfrecord"):
    assert name in datasets.DATASETS
  with pytest.raises(ValueError) as error:
    datasets.build_dataset("imagenet")
  for name in datasets.DATASETS:
    assert repr(name) in str(error.value)
  with pytest.raises(ValueError, match="already registered"):
    datasets.register_dataset("mnist", datasets.DATASETS["mnist"])
  with pytest.raises(ValueError, match="is random-access"):
    datasets.build_dataset("triangles", shuffle_window=100)
  with pytest.raises(ValueError, match=r"must be an integer in \[0, 2\^64\); got -1"):
    datasets.build_dataset("ring8", seed=-1)


def test_gin_configures_the_dataset(tmp_path):
  gin.parse_config("dataset.name = 'triangles'\ndataset.seed = 3")
  ds = datasets.get_dataset()
  assert ds.info.name == "triangles" and ds.seed == 3
  gin.clear_config()
  _image_folder(tmp_path)
  gin.parse_config(f"dataset.name = 'image_folder'\nimage_folder.path = '{tmp_path}'\n"
                   "image_folder.resolution = 12\nimage_folder.channels = 1")
  assert datasets.get_dataset().info.image_shape == (12, 12, 1)


if __name__ == "__main__":
  if sys.argv[1] == "mirrored":
    _mirrored_main()
