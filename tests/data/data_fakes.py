"""Test data sources whose examples identify themselves, and small image/TFRecord files, shared
by the tests of compare_gan/data/."""

import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from compare_gan import data
from compare_gan.data import base as data_base
from compare_gan.data import random_access


def batches(ds: tf.data.Dataset, n: int) -> list:
  return list(ds.take(n).as_numpy_iterator())


def replica_context(replicas: int, pipelines: int = 1, pipeline_id: int = 0):
  return tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=pipeline_id,
                                    num_replicas_in_sync=replicas)


# ---------------------------------------------------------------------------------------------
# Sources whose examples identify themselves.
# ---------------------------------------------------------------------------------------------


def index_dataset(n: int = 23) -> random_access.GeneratedDataset:
  """Random-access source: example i of "train" is the 1-vector [i]."""
  info = data_base.DatasetInfo(name="index", image_shape=(1,), num_classes=None,
                              train_split="train", eval_split="test", eval_size=5,
                              num_train_examples=n)
  return random_access.GeneratedDataset(info, seed=0, split_ranges={"train": (0, n), "test": (n, 5)},
                                   generate=lambda i: i.astype(np.float32)[:, None])


def png_bytes(array: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, "PNG")
  return buffer.getvalue()


def write_tfrecords(folder, sizes, shape=(6, 6), offset=0, image_key="image"):
  """Files of tf.train.Examples {image_key: PNG of value i, "label": i}; returns their paths."""
  paths, index = [], offset
  for f, count in enumerate(sizes):
    path = os.path.join(folder, f"data-{f:05d}.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
      for _ in range(count):
        image = np.full((*shape, 3), index % 256, np.uint8)
        example = tf.train.Example(features=tf.train.Features(feature={
            image_key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[png_bytes(image)])),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[index])),
        }))
        writer.write(example.SerializeToString())
        index += 1
    paths.append(path)
  return paths


def tfrecord_index_dataset(tmp_path, sizes=(7, 0, 9, 5), window=4):
  """Streaming source: record i (in stored order) has label i; 21 records in 4 files."""
  write_tfrecords(str(tmp_path), sizes)
  n = sum(sizes)
  return data.build_dataset(
      "tfrecord", file_pattern=str(tmp_path / "data-*.tfrecord"), resolution=4,
      label_key="label", num_classes=n, shuffle_window=window), n


def ids(batch: dict) -> np.ndarray:
  if "labels" in batch:
    return batch["labels"].astype(np.int64)
  if batch["images"].ndim == 4:  # `index_image_folder`: grey level i / 255.
    return np.round(batch["images"][:, 0, 0, 0] * 255).astype(np.int64)
  return batch["images"][:, 0].astype(np.int64)


def stream_ids(ds, *, batch_size, seed, count, start_position=0, context=None):
  pipeline = ds.train_input(per_replica_batch_size=batch_size, seed=seed,
                            start_position=start_position, input_context=context)
  return [ids(b) for b in batches(pipeline, count)]



def image_folder(root):
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


def index_image_folder(root, n: int = 23):
  """Random-access source read from files: file i (sorted order) is a 3x2 PNG of grey level i,
  so that after the centre crop its 2x2 image identifies it."""
  for i in range(n):
    Image.fromarray(np.full((3, 2, 3), i, np.uint8)).save(root / f"{i:03d}.png")
  return data.build_dataset("image_folder", path=str(root), resolution=2)


def truncated_image(size=(32, 32), fmt="PNG") -> bytes:
  """An encoded image cut in half: its header announces the format, its data end early."""
  buffer = io.BytesIO()
  Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size, 3), np.uint8)).save(buffer,
                                                                                      fmt)
  return buffer.getvalue()[:len(buffer.getvalue()) // 2]
