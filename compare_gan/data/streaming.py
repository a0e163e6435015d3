"""Streaming input pipelines (tfds celeb_a / celeb_a_hq / lsun / imagenet2012 (its
preprocessing in data/imagenet.py), TFRecord globs): records read in their stored order and
shuffled within blocks, resumable from a position (see `compare_gan/data/base.py` for the
contract; random preprocessing is keyed by each record's global stream position). TFDS access never downloads: a missing
dataset is an error saying how to prepare it. A TFRecord source checks its first record when it
is built (`check_first_record`): a wrong `tfrecord.image_key` or `tfrecord.label_key` is a
one-line ValueError naming the setting, the file and the features the record does have.
"""

import threading
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf


from compare_gan import config
from compare_gan.data import base
from compare_gan.data import random_access
from compare_gan.data import tfds as tfds_access

# =============================================================================================
# Streaming sources: records in stored order, shuffled within blocks.
# =============================================================================================


class StreamingDataset(base.Dataset):
  """Base of sources read sequentially (see the module docstring for the block shuffle).

  Subclasses implement `splits`, `_split_size`, `_read_records(split, start)` (the split's
  records from record `start` on, in stored order, as dicts of scalars, still encoded),
  `_decode(record, draw_seed, training)` (one example, fixed shape; `draw_seed` int64 [2] seeds
  its random preprocessing, `base.draw_seed`) and optionally `_finish(batch)` (per batch,
  passing on entries it does not change). A source with example keys (`key_space`) gives each
  record its key under "key"; the decoded examples then carry it as "keys" where asked.
  """

  def __init__(self, *, name: str, seed: int, shuffle_window: int):
    super().__init__(name, seed)
    self._window = base.positive_int("shuffle_window", shuffle_window)

  def _read_records(self, split: str, start: int) -> tf.data.Dataset:
    raise NotImplementedError

  def _decode(self, record: base.Record, draw_seed: tf.Tensor, training: bool) -> base.Batch:
    raise NotImplementedError

  def _decoded(self, record: base.Record, draw_seed: tf.Tensor, training: bool,
               with_keys: bool) -> base.Batch:
    example = self._decode(record, draw_seed, training)
    return dict(example, keys=record["key"]) if with_keys else example

  def _finish(self, batch: base.Batch) -> base.Batch:
    return batch

  def global_records(self, split: str, *, seed: int, start_position: int) -> tf.data.Dataset:
    """The global stream of still-encoded records of `split` from `start_position` on.

    Epoch e, block j (records [j*W, min((j+1)*W, N)) of the stored order) comes out permuted by
    `RandomIndexShuffle(seed=[seed, e, j])`. Memory: up to ~3 blocks of encoded records (the one
    being emitted, one prefetched, one being filled).
    """
    n = self._split_size(split)
    window = min(self._window, n)
    blocks_per_epoch = -(-n // window)
    epoch0, offset0 = divmod(start_position, n)
    block0, skip0 = divmod(offset0, window)

    def permute(epoch, block, records):
      size = tf.shape(tf.nest.flatten(records)[0], out_type=tf.int64)[0]
      seed3 = tf.stack([tf.constant(seed, tf.int64), epoch, block])
      order = tf.raw_ops.RandomIndexShuffle(index=tf.range(size), seed=seed3,
                                            max_index=size - 1, rounds=4)
      return tf.nest.map_structure(lambda t: tf.gather(t, order), records)

    # The rest of epoch0 from the start of position p's block; `skip0 < len(first)` always.
    first = self._read_records(split, block0 * window).batch(window).enumerate(start=block0)
    first = first.map(lambda j, records: permute(tf.constant(epoch0, tf.int64), j, records))
    later = self._read_records(split, 0).batch(window).repeat().enumerate()
    later = later.map(lambda c, records: permute(epoch0 + 1 + c // blocks_per_epoch,
                                                 c % blocks_per_epoch, records))
    return first.concatenate(later).prefetch(1).unbatch().skip(skip0)

  def _train_batches(self, *, seed, first_batch, global_batch, begin, local_replicas,
                     batch_size, with_keys):
    start = first_batch * global_batch
    records = self.global_records(self.info.train_split, seed=seed, start_position=start)
    # Each record with its global stream position, which keys its random preprocessing.
    records = records.enumerate(start=start)
    count = local_replicas * batch_size
    if count != global_batch:  # Several pipelines: each reads everything, keeps its slice.
      records = records.batch(global_batch, drop_remainder=True).map(
          lambda p, r: tf.nest.map_structure(lambda t: t[begin:begin + count], (p, r))
      ).unbatch()
    ds = base.parallel_map(records, lambda p, r: self._decoded(
        r, base.draw_seed(seed, p, training=True), True, with_keys))
    return base.parallel_map(ds.batch(batch_size, drop_remainder=True), self._finish)

  def _eval_batches(self, split, num_examples, batch_size, with_keys):
    records = self._read_records(split, 0).take(num_examples).enumerate()
    ds = base.parallel_map(records, lambda i, r: self._decoded(
        r, base.draw_seed(self.seed, i, training=False), False, with_keys))
    return base.parallel_map(ds.batch(batch_size), self._finish)


def decode_rgb(encoded: tf.Tensor) -> tf.Tensor:
  """PNG/JPEG/BMP/GIF bytes -> uint8 [H, W, 3] (grayscale expanded, alpha dropped)."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  return tf.ensure_shape(image, [None, None, 3])


def assert_image_size(image: tf.Tensor, height: int, width: int, what: str) -> tf.Tensor:
  """`image` with a static [height, width, C] shape, or a clear error naming the dataset."""
  check = tf.debugging.assert_equal(
      tf.shape(image)[:2], tf.constant([height, width]),
      message=f"{what}: decoded image has the wrong size; expected {height}x{width} (H x W)")
  with tf.control_dependencies([check]):
    image = tf.identity(image)
  return tf.ensure_shape(image, [height, width, image.shape[-1]])


class TfdsStreamingDataset(StreamingDataset):
  """A tfds dataset too big for memory, read with `SkipDecoding` and decoded after shuffling.

  Each split is a record range [lo, hi) of a tfds split; reading from `start` asks tfds for
  `f"{tfds_split}[{lo + start}:{hi}]"`, which skips whole shards by their recorded lengths.
  Examples are `finish(batch of decode(uint8 image))`; with `label_feature` they carry that
  feature as int32 "labels", and with `key_feature` (a string feature naming each example,
  such as imagenet2012's `file_name`) the dataset has example keys. A subclass that overrides
  `_decode` and `_finish` passes decode=None and finish=None.
  """

  def __init__(self, info: base.DatasetInfo, *, seed: int, shuffle_window: int, builder,
               ranges: Dict[str, Tuple[str, int, int]],
               decode: Optional[Callable[[tf.Tensor], tf.Tensor]],
               finish: Optional[Callable[[tf.Tensor], tf.Tensor]],
               label_feature: Optional[str] = None, key_feature: Optional[str] = None):
    super().__init__(name=info.name, seed=seed, shuffle_window=shuffle_window)
    self._info = info
    self._builder = builder
    self._ranges = ranges
    self._decode_image = decode
    self._finish_images = finish
    self._label_feature = label_feature
    self._key_feature = key_feature

  @property
  def splits(self):
    return tuple(self._ranges)

  @property
  def key_space(self) -> Optional[str]:
    if self._key_feature is None:
      return None
    return f"tfds {self._builder.name} {self._key_feature}"

  def _split_size(self, split):
    _, lo, hi = self._ranges[self._check_split(split)]
    return hi - lo

  def _read_records(self, split, start):
    tfds = tfds_access.import_tfds()
    tfds_split, lo, hi = self._ranges[split]
    ds = self._builder.as_dataset(
        split=f"{tfds_split}[{lo + start}:{hi}]", shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()}, read_config=tfds_access.tfds_read_config())
    features = {"image": "image", "label": self._label_feature, "key": self._key_feature}
    return ds.map(lambda example: {name: example[feature]
                                   for name, feature in features.items() if feature})

  def _labels(self, record: base.Record) -> base.Batch:
    """{"labels": int32 scalar} with a label feature, else {}."""
    if self._label_feature is None:
      return {}
    return {"labels": tf.cast(record["label"], tf.int32)}

  def _decode(self, record, draw_seed, training):
    del draw_seed, training  # Deterministic preprocessing, the same in training and eval.
    return dict(self._labels(record),
                images=self._decode_image(decode_rgb(record["image"])))

  def _finish(self, batch):
    return dict(batch, images=self._finish_images(batch["images"]))


class TFRecordFilesDataset(StreamingDataset):
  """Encoded images in TFRecord files (see `tfrecord`), read in sorted file order.

  Split sizes need one pass over the raw records of every file (no decoding), done once on first
  use of `info` or of a pipeline; the per-file counts also let a resume skip whole files.
  Building it checks the first record of each split (`check_first_record`), so a wrong
  `tfrecord.image_key` is a one-line error before training rather than a parse error in it.
  """

  def __init__(self, *, name: str, seed: int, shuffle_window: int,
               split_files: Dict[str, List[str]], image_key: str, label_key: Optional[str],
               num_classes: Optional[int], resolution: int, channels: int,
               crop_and_resize: bool, eval_size: int):
    super().__init__(name=name, seed=seed, shuffle_window=shuffle_window)
    self._split_files = split_files
    self._image_key = image_key
    self._label_key = label_key
    self._num_classes = num_classes
    self._resolution = resolution
    self._channels = channels
    self._crop_and_resize = crop_and_resize
    self._eval_size = eval_size
    self._counts: Dict[str, np.ndarray] = {}
    self._lock = threading.Lock()
    for files in split_files.values():
      check_first_record(files, image_key=image_key, label_key=label_key)

  @property
  def splits(self):
    return tuple(self._split_files)

  def _file_counts(self, split: str) -> np.ndarray:
    with self._lock:
      if split not in self._counts:
        counts = np.array([int(tf.data.TFRecordDataset(f).reduce(
            tf.constant(0, tf.int64), lambda n, _: n + 1)) for f in self._split_files[split]])
        if counts.sum() == 0:
          raise ValueError(f"{self._name}: the files of split {split!r} hold no records: "
                           f"{self._split_files[split]}.")
        self._counts[split] = counts
      return self._counts[split]

  def _split_size(self, split):
    return int(self._file_counts(self._check_split(split)).sum())

  def _make_info(self):
    eval_split = "test" if "test" in self._split_files else "train"
    return base.DatasetInfo(
        name=self._name, image_shape=(self._resolution, self._resolution, self._channels),
        num_classes=self._num_classes, train_split="train", eval_split=eval_split,
        eval_size=min(self._eval_size, self._split_size(eval_split)),
        num_train_examples=self._split_size("train"))

  def _read_records(self, split, start):
    files, counts = self._split_files[split], self._file_counts(split)
    ends = np.cumsum(counts)
    first_file = int(np.searchsorted(ends, start, side="right"))  # The file holding `start`.
    skip = start - (int(ends[first_file - 1]) if first_file else 0)
    features = {self._image_key: tf.io.FixedLenFeature([], tf.string)}
    if self._label_key is not None:
      features[self._label_key] = tf.io.FixedLenFeature([], tf.int64)

    def parse(serialized):
      example = tf.io.parse_single_example(serialized, features)
      record = {"image": example[self._image_key]}
      if self._label_key is not None:
        record["label"] = example[self._label_key]
      return record

    return tf.data.TFRecordDataset(files[first_file:]).skip(skip).map(parse)

  def _decode(self, record, draw_seed, training):
    del draw_seed, training  # Deterministic preprocessing, the same in training and eval.
    image = decode_rgb(record["image"])
    res = self._resolution
    if self._crop_and_resize:
      image = random_access.crop_square_and_resize(image, res)
    else:
      image = tf.cast(assert_image_size(image, res, res, self._name), tf.float32)
    out = {"images": random_access.to_channels(image, self._channels) / 255.0}
    if self._label_key is not None:
      label = record["label"]
      check = tf.debugging.assert_less(
          tf.cast(label, tf.uint64), tf.constant(self._num_classes, tf.uint64),
          message=f"{self._name}: label outside [0, num_classes={self._num_classes})")
      with tf.control_dependencies([check]):
        out["labels"] = tf.cast(label, tf.int32)
    return out


def check_first_record(files: List[str], *, image_key: str, label_key: Optional[str]) -> None:
  """Checks the first record of `files` (in the first file that has one) against the settings.

  It must be a tf.train.Example whose `image_key` holds one encoded image (bytes starting like
  one of `base.IMAGE_FORMATS`) and, when `label_key` is set, whose `label_key` holds one int64.
  Costs one record read. Files without records pass (the record count reports them).

  Raises:
    ValueError: one line naming the setting, the file, and the features the record has.
  """
  for path in files:
    try:
      first = [record.numpy() for record in tf.data.TFRecordDataset(path).take(1)]
    except tf.errors.OpError as e:
      raise ValueError(f"tfrecord: {path} is not a readable TFRecord file "
                       f"({base.op_error_reason(e)}); fix or remove it, or narrow "
                       f"tfrecord.file_pattern.") from None
    if first:
      break
  else:
    return
  try:
    example = tf.train.Example.FromString(first[0])
  except Exception as e:  # protobuf's DecodeError, which has no stable import path.
    raise ValueError(f"tfrecord: the first record of {path} is not a tf.train.Example "
                     f"({type(e).__name__}); tfrecord reads files of serialized "
                     f"tf.train.Example records.") from None
  features = example.features.feature
  present = sorted(features)
  wanted = [("image_key", image_key, "bytes_list", "the encoded images")]
  if label_key is not None:
    wanted.append(("label_key", label_key, "int64_list", "the int64 labels"))
  for setting, key, kind, holding in wanted:
    if key not in features:
      raise config.ConfigError(f"tfrecord.{setting} = {key!r} is not a feature of the records in "
                               f"{path}: its first record has the features {present}; set "
                               f"tfrecord.{setting} to the one holding {holding}.")
    feature = features[key]
    found = feature.WhichOneof("kind")
    count = len(getattr(feature, found).value) if found else 0
    if found != kind or count != 1:
      raise config.ConfigError(
          f"tfrecord.{setting} = {key!r} holds {count} value(s) of kind {found} in "
          f"the first record of {path}; it must hold one value of kind {kind} "
          f"({holding}). The record's features: {present}.")
  head = features[image_key].bytes_list.value[0][:base.SIGNATURE_BYTES]
  if base.image_format(head) is None:
    raise config.ConfigError(
        f"tfrecord.image_key = {image_key!r} holds no encoded image in the first "
        f"record of {path} (its bytes start with {head!r}, not like a "
        f"{base.IMAGE_FORMATS} file); set tfrecord.image_key to the feature "
        f"holding the encoded images (the record's features: {present}).")
