"""Datasets by name: a registry of input-pipeline builders (reference `compare_gan/datasets.py`).

`get_dataset()` (gin: `dataset.name = 'cifar10'`) or `build_dataset(name)` returns a `Dataset`:
its `info` (shapes, splits, eval size) plus two `tf.data` pipelines whose elements are dicts
`{"images": float32 [b, *info.image_shape] in [0, 1]}`, with `"labels": int32 [b]` exactly when
`info.num_classes` is not None (for the 2-D mixtures "images" holds points [b, 2]).

Exact resume. `tf.distribute`'s iterators cannot be checkpointed, so the input state is one
integer: the global example position p. The training stream is an infinite sequence e_0, e_1, ...
where e_p is a pure function of (dataset, train seed, p): epoch p // N, offset p % N, and every
epoch visits the N training examples in its own seeded order. Global batch k holds positions
[k*GB, (k+1)*GB) with GB = per_replica_batch_size * num_replicas; replica r takes the r-th slice
of b examples. `train_input(start_position=step * GB)` restarts the stream exactly.

Two kinds of source:
* Random access (tfds arrays and generated data, both held in memory from first use; image
  folders): epoch e's order is `RandomIndexShuffle(offset, seed=[seed, e, salt])`, a full
  permutation in O(1) memory, and a pipeline computes only the positions of its own replicas.
  In-memory sources run no Python per batch (see `InMemoryDataset` for why).
* Streaming (tfds celeb_a / celeb_a_hq / lsun, TFRecord globs): records are read in their stored
  order and permuted within consecutive blocks of `shuffle_window` records (seed [seed, e, block]),
  kept as *encoded* bytes so memory stays ~window x file size. Resume reads from the start of
  p's block (tfds: split slicing, which skips whole shards by their recorded lengths; TFRecord:
  whole files by their counted lengths, then `skip` within one file). Several input pipelines
  each read the whole stream and keep their own positions (n-fold read cost, no extra memory).

| name              | source               | shape     | classes | train / eval split       | eval |
|-------------------|----------------------|-----------|---------|--------------------------|------|
| mnist             | tfds, in memory      | 28,28,1   | 10      | train / test             | 10000|
| fashion_mnist     | tfds, in memory      | 28,28,1   | 10      | train / test             | 10000|
| cifar10           | tfds, in memory      | 32,32,3   | 10      | train / test             | 10000|
| celeb_a           | tfds, streamed       | 64,64,3   | None    | train / test             | 10000|
| celeb_a_hq_128    | tfds celeb_a_hq/128  | 128,128,3 | None    | tfds train 0-90%/90-100% | 3000 |
| lsun_bedroom_128  | tfds lsun/bedroom    | 128,128,3 | None    | tfds train 0-99%/99-100% | 30000|
| triangles/squares | generated polygons   | 28,28,1   | None    | [0, 60k) / [60k, 70k)    | 10000|
| ring8, grid25     | generated 2-D points | 2         | None    | [0, 100k) / [100k, 110k) | 10000|
| image_folder      | image files (gin)    | r,r,C     | None    | train / test (fraction)  | <=10k|
| tfrecord          | TFRecord glob (gin)  | r,r,C     | gin     | train / test (2nd glob)  | <=10k|
Polygons also have split "val" = [70k, 80k) (the reference's 80,000 instances); celeb_a and lsun
also expose tfds "validation". `fashion-mnist` and `lsun-bedroom` are the reference's spellings.
Percentage boundaries are `round(total * fraction)`, so the two sides never overlap.

Preprocessing (reference section 7): uint8 / 255. celeb_a: `tf.image.resize_with_crop_or_pad` to
160x160, then `tf.raw_ops.ResizeBilinear(align_corners=False, half_pixel_centers=False)` to 64x64,
which is TF1's `tf.image.resize_images` (plain `tf.image.resize` uses half-pixel centres and
shifts the images, hence FID). lsun: centre crop_or_pad to 128x128, no resize. image_folder and
tfrecord: centre crop to a square, then `tf.image.resize(bilinear, antialias=True)`.

TFDS data are never downloaded here: a missing dataset raises at construction with the command
that prepares it (`tfds build NAME --data_dir DIR`).
"""

import dataclasses
import os
import threading
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import gin
import numpy as np
import tensorflow as tf

from compare_gan import synthetic_data

Record = Dict[str, tf.Tensor]
Batch = Dict[str, tf.Tensor]

DEFAULT_SEED = 547  # Reference `dataset.seed`.
DEFAULT_SHUFFLE_WINDOW = 10000  # Reference `shuffle(10000)`, here over encoded records.
DEFAULT_EVAL_SIZE = 10000  # Reference `eval_test_samples` of most datasets.
# Third seed word of the random-access epoch permutations; keeps them apart from the streaming
# block permutations, whose third word is the block number.
_RANDOM_ACCESS_SALT = 0x5EED


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a model and the metrics need to know about a dataset.

  Attributes:
    name: canonical registry name (an alias resolves to it).
    image_shape: (H, W, C) of the preprocessed images, or (2,) for 2-D point data.
    num_classes: number of labels, or None when the data have no (usable) labels.
    train_split: split that `train_input` streams.
    eval_split: split whose first `eval_size` examples the metrics use.
    eval_size: examples of `eval_split` the metrics use (reference `eval_test_samples`, capped at
      the split's size).
    num_train_examples: size of `train_split` (None if unknown).
  """
  name: str
  image_shape: Tuple[int, ...]
  num_classes: Optional[int]
  train_split: str
  eval_split: str
  eval_size: int
  num_train_examples: Optional[int]


def _positive_int(name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{name} must be a positive integer; got {value!r}.")
  return int(value)


def _pipeline_options() -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = True
  # Each pipeline already holds exactly its replicas' examples; tf.distribute must not re-shard.
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
  return options


# =============================================================================================
# The Dataset interface.
# =============================================================================================


class Dataset:
  """A named dataset with a resumable training stream and a deterministic eval pass.

  Subclasses implement `splits`, `_split_size`, `_train_batches` and `_eval_batches`.
  """

  def __init__(self, name: str, seed: int):
    self._name = name
    self._seed = int(seed)
    self._info: Optional[DatasetInfo] = None

  @property
  def info(self) -> DatasetInfo:
    if self._info is None:
      self._info = self._make_info()
    return self._info

  @property
  def seed(self) -> int:
    """The dataset seed (gin `dataset.seed`): fixes generated content (polygons, mixtures).

    The training order is `train_input`'s own `seed` argument; passing this one there gives the
    reference's behaviour (one `dataset.seed` for everything).
    """
    return self._seed

  @property
  def splits(self) -> Tuple[str, ...]:
    raise NotImplementedError

  def _make_info(self) -> DatasetInfo:
    raise NotImplementedError  # Set `self._info` in __init__ instead, unless it is costly.

  def _split_size(self, split: str) -> int:
    raise NotImplementedError

  def _check_split(self, split: str) -> str:
    if split not in self.splits:
      raise ValueError(f"Unknown split {split!r} of dataset {self._name!r}; valid splits: "
                       f"{list(self.splits)}.")
    return split

  def train_input(self, *, per_replica_batch_size: int, seed: int, start_position: int = 0,
                  input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Infinite training batches of input pipeline `input_context.input_pipeline_id`.

    With R replicas in n pipelines (L = R / n local replicas each), b = per_replica_batch_size
    and GB = b * R, this pipeline yields for k = start_position / GB, k + 1, ... the batches of
    replicas i*L .. i*L + L - 1 in that order, replica r's batch being global positions
    [k*GB + r*b, k*GB + (r+1)*b). Pass it to `strategy.distribute_datasets_from_function`, which
    hands a pipeline's batches round-robin to its local replicas.

    Args:
      per_replica_batch_size: b, examples per replica and step.
      seed: training-order seed (every epoch's permutation derives from it).
      start_position: global example position to resume at, a multiple of GB.
      input_context: from tf.distribute; None means one pipeline feeding one replica.

    Returns:
      Dataset of dicts {"images": float32 [b, *image_shape], "labels": int32 [b] if labelled}.

    Raises:
      ValueError: bad batch size, replica/pipeline counts, or a start_position that is not a
        non-negative multiple of GB.
    """
    b = _positive_int("per_replica_batch_size", per_replica_batch_size)
    if input_context is None:
      replicas, pipelines, pipeline_id = 1, 1, 0
    else:
      replicas = input_context.num_replicas_in_sync
      pipelines = input_context.num_input_pipelines
      pipeline_id = input_context.input_pipeline_id
    if replicas % pipelines:
      raise ValueError(f"num_replicas_in_sync ({replicas}) must be a multiple of "
                       f"num_input_pipelines ({pipelines}).")
    local_replicas = replicas // pipelines
    global_batch = b * replicas
    if (isinstance(start_position, bool) or not isinstance(start_position, (int, np.integer))
        or start_position < 0 or start_position % global_batch):
      raise ValueError(
          f"start_position must be a non-negative multiple of the global batch size "
          f"{global_batch} (= {b} per replica x {replicas} replicas); got {start_position!r}.")
    ds = self._train_batches(
        seed=int(seed), first_batch=int(start_position) // global_batch,
        global_batch=global_batch, begin=pipeline_id * local_replicas * b,
        local_replicas=local_replicas, batch_size=b)
    return ds.with_options(_pipeline_options()).prefetch(tf.data.AUTOTUNE)

  def eval_input(self, *, batch_size: int, split: Optional[str] = None,
                 num_examples: Optional[int] = None) -> tf.data.Dataset:
    """One pass over the first examples of a split, in stored order, last batch kept.

    Args:
      batch_size: examples per batch (the last one may be smaller).
      split: defaults to `info.eval_split`.
      num_examples: how many; defaults to `info.eval_size` capped at the split's size.

    Returns:
      Finite dataset of dicts like `train_input`'s, same preprocessing, no shuffling.

    Raises:
      ValueError: unknown split, or num_examples larger than the split.
    """
    batch_size = _positive_int("batch_size", batch_size)
    split = self._check_split(self.info.eval_split if split is None else split)
    size = self._split_size(split)
    if num_examples is None:
      n = min(self.info.eval_size, size)
    else:
      n = _positive_int("num_examples", num_examples)
      if n > size:
        raise ValueError(f"Split {split!r} of dataset {self.info.name!r} has {size} examples; "
                         f"num_examples={n} asked for more.")
    ds = self._eval_batches(split, n, batch_size)
    return ds.with_options(_pipeline_options()).prefetch(tf.data.AUTOTUNE)

  def _train_batches(self, *, seed: int, first_batch: int, global_batch: int, begin: int,
                     local_replicas: int, batch_size: int) -> tf.data.Dataset:
    raise NotImplementedError

  def _eval_batches(self, split: str, num_examples: int, batch_size: int) -> tf.data.Dataset:
    raise NotImplementedError


def _parallel_map(ds: tf.data.Dataset, fn: Callable) -> tf.data.Dataset:
  return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _to_unit_float(images: tf.Tensor) -> tf.Tensor:
  """uint8 (or float in [0, 255]) -> float32 in [0, 1], as the reference's `_parse_fn`."""
  return tf.cast(images, tf.float32) / 255.0


# =============================================================================================
# Random-access sources: an example is a function of its offset in the split.
# =============================================================================================


def epoch_permutation(positions: tf.Tensor, *, seed: int, num_examples: int) -> tf.Tensor:
  """Offsets in the split of global stream positions: int64 [m] -> int64 [m] in [0, N).

  Epoch e = p // N visits all N offsets in the order `RandomIndexShuffle(p % N,
  seed=[seed, e, salt])`, a different full permutation per epoch and seed in O(1) memory. The raw
  op is used because `tf.random.experimental.index_shuffle` pads a batched seed [m, 2] along the
  wrong axis and fails; a batch may straddle two epochs, so seeds are per element.
  """
  positions = tf.cast(positions, tf.int64)
  n = tf.constant(num_examples, tf.int64)
  epochs = positions // n
  seeds = tf.stack([tf.fill(tf.shape(epochs), tf.constant(seed, tf.int64)), epochs,
                    tf.fill(tf.shape(epochs), tf.constant(_RANDOM_ACCESS_SALT, tf.int64))],
                   axis=-1)
  return tf.raw_ops.RandomIndexShuffle(index=positions % n, seed=seeds, max_index=n - 1,
                                       rounds=4)


class RandomAccessDataset(Dataset):
  """Base of sources that load any example by its offset in a split.

  Subclasses implement `_batches(split, offsets, batch_size)`: a dataset of int64 offset vectors
  ([batch_size], the last eval one possibly shorter) -> a dataset of element dicts, one per vector.
  """

  def __init__(self, info: DatasetInfo, *, seed: int, split_sizes: Dict[str, int]):
    super().__init__(info.name, seed)
    self._info = info
    self._split_sizes = dict(split_sizes)

  @property
  def splits(self) -> Tuple[str, ...]:
    return tuple(self._split_sizes)

  def _split_size(self, split: str) -> int:
    return self._split_sizes[self._check_split(split)]

  def _batches(self, split: str, offsets: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    raise NotImplementedError

  def _train_batches(self, *, seed, first_batch, global_batch, begin, local_replicas,
                     batch_size):
    n = self._split_size(self.info.train_split)
    count = local_replicas * batch_size

    def offsets(k):  # Global batch k -> this pipeline's [L, b] offsets; no other positions.
      positions = k * global_batch + begin + tf.range(count, dtype=tf.int64)
      shuffled = epoch_permutation(positions, seed=seed, num_examples=n)
      return tf.reshape(shuffled, [local_replicas, batch_size])

    ds = tf.data.Dataset.counter(first_batch, dtype=tf.int64).map(offsets).unbatch()
    return self._batches(self.info.train_split, ds, batch_size)

  def _eval_batches(self, split, num_examples, batch_size):
    offsets = tf.data.Dataset.range(num_examples).batch(batch_size)
    return self._batches(split, offsets, batch_size)


class InMemoryDataset(RandomAccessDataset):
  """Random-access source whose splits are held in memory, each loaded on first use.

  `load(split)` returns (images [N, *image_shape] uint8 or float, labels int [N] or None); the
  arrays become CPU tensors that the pipeline gathers from in the graph, then uint8 becomes
  float32 / 255. No Python runs per batch: a `tf.numpy_function` would hold the GIL against the
  training loop, and CPython terminates threads that take the GIL during interpreter shutdown,
  so a pipeline still iterating then hangs the process at exit. Cost: the arrays' memory (cifar10
  train 150 MB), and building a pipeline copies them once into its graph (~0.3 s for 150 MB).
  """

  def __init__(self, info: DatasetInfo, *, seed: int, split_sizes: Dict[str, int],
               load: Callable[[str], Tuple[np.ndarray, Optional[np.ndarray]]]):
    super().__init__(info, seed=seed, split_sizes=split_sizes)
    self._load = load
    self._tensors: Dict[str, Tuple[tf.Tensor, Optional[tf.Tensor]]] = {}
    self._lock = threading.Lock()

  def _split_tensors(self, split: str) -> Tuple[tf.Tensor, Optional[tf.Tensor]]:
    with self._lock:
      if split not in self._tensors:
        images, labels = self._load(split)
        if images.shape != (self._split_size(split), *self.info.image_shape):
          raise ValueError(f"Dataset {self.info.name!r}, split {split!r}: loaded images of "
                           f"shape {images.shape}; expected "
                           f"{(self._split_size(split), *self.info.image_shape)}.")
        if (labels is None) != (self.info.num_classes is None):
          raise ValueError(f"Dataset {self.info.name!r}: labels must be loaded exactly when "
                           f"num_classes ({self.info.num_classes}) is set.")
        with tf.device("/cpu:0"):
          self._tensors[split] = (
              tf.constant(images),
              None if labels is None else tf.constant(labels.astype(np.int32)))
      return self._tensors[split]

  def _batches(self, split, offsets, batch_size):
    images, labels = self._split_tensors(split)

    def gather(offsets_batch):
      batch = tf.gather(images, offsets_batch)
      batch = _to_unit_float(batch) if batch.dtype == tf.uint8 else tf.cast(batch, tf.float32)
      if labels is None:
        return {"images": batch}
      return {"images": batch, "labels": tf.gather(labels, offsets_batch)}

    return _parallel_map(offsets, gather)


def _load_tfds_split(builder, split: str, with_labels: bool
                     ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """A whole tfds split as numpy arrays, in tfds' stored order."""
  ds = builder.as_dataset(split=split, shuffle_files=False, read_config=_tfds_read_config())
  chunks = list(ds.batch(8192).as_numpy_iterator())
  images = np.concatenate([c["image"] for c in chunks])
  labels = np.concatenate([c["label"] for c in chunks]) if with_labels else None
  return images, labels


class GeneratedDataset(InMemoryDataset):
  """Procedural data (`synthetic_data`): example i of a split is `generate([split_start + i])`.

  `generate` maps int64 indices [m] to float32 [m, *image_shape] (example i depends only on i
  and the dataset seed). A split is generated in chunks on first use (60k polygons: ~4 s) and
  kept, in float16 when that is lossless (polygon grey levels are multiples of 1/64).
  """

  def __init__(self, info: DatasetInfo, *, seed: int, split_ranges: Dict[str, Tuple[int, int]],
               generate: Callable[[np.ndarray], np.ndarray]):

    def load(split):
      start, size = split_ranges[split]
      chunks = [generate(np.arange(start + i, start + min(i + 4096, size), dtype=np.int64))
                for i in range(0, size, 4096)]
      images = np.concatenate(chunks).astype(np.float32)
      compact = images.astype(np.float16)
      return (compact if np.array_equal(compact, images) else images), None

    super().__init__(info, seed=seed, load=load,
                     split_sizes={name: size for name, (_, size) in split_ranges.items()})


def _crop_square_and_resize(image: tf.Tensor, resolution: int) -> tf.Tensor:
  """uint8 [H, W, C] -> float32 [res, res, C] in [0, 255].

  Centre crop to the largest square, then `tf.image.resize(bilinear, antialias=True)` (half-pixel
  centres; the antialiasing filter matters only when downscaling), skipped at the right size.
  """
  shape = tf.shape(image)
  side = tf.minimum(shape[0], shape[1])
  image = tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2, (shape[1] - side) // 2,
                                        side, side)
  image = tf.cast(image, tf.float32)
  image = tf.cond(
      tf.equal(side, resolution), lambda: image,
      lambda: tf.image.resize(image, [resolution, resolution], method="bilinear", antialias=True))
  return tf.clip_by_value(tf.ensure_shape(image, [resolution, resolution, None]), 0.0, 255.0)


def _to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
  """float [H, W, 3] -> [H, W, channels]; 1 channel is `tf.image.rgb_to_grayscale` (BT.601)."""
  image = tf.image.rgb_to_grayscale(image) if channels == 1 else image
  return tf.ensure_shape(image, [None, None, channels])


class ImageFolderDataset(RandomAccessDataset):
  """Image files under a folder (see `image_folder`): offset -> file -> decoded, cropped image."""

  def __init__(self, info: DatasetInfo, *, seed: int, paths: Sequence[str],
               split_files: Dict[str, np.ndarray], resolution: int, channels: int):
    super().__init__(info, seed=seed,
                     split_sizes={name: len(files) for name, files in split_files.items()})
    self._paths = list(paths)
    self._split_files = split_files
    self._resolution = resolution
    self._channels = channels

  def _decode(self, path_index) -> np.ndarray:
    """Reads and decodes one file eagerly (uint8 [H, W, 3]); errors name the file."""
    path = self._paths[int(path_index)]
    try:
      return tf.io.decode_image(tf.io.read_file(path), channels=3,
                                expand_animations=False).numpy()
    except tf.errors.OpError as e:
      raise ValueError(f"image_folder: cannot read or decode image file {path!r}: "
                       f"{e.message.strip()}") from None

  def _batches(self, split, offsets, batch_size):
    files = tf.constant(self._split_files[split], tf.int64)
    resolution, channels = self._resolution, self._channels

    def load(offset):
      # Decoding runs in Python (tf.py_function) only so that a corrupt file's error can name
      # it; the decode kernel still runs in C++, and crop/resize stay in the graph. Cost: ~0.1
      # ms of GIL per image, and an iterator must not outlive the interpreter (see
      # `InMemoryDataset`): keep iterators in function scope, not in module globals.
      image = tf.py_function(self._decode, [tf.gather(files, offset)], tf.uint8)
      image = _crop_square_and_resize(tf.ensure_shape(image, [None, None, 3]), resolution)
      return _to_channels(image, channels) / 255.0

    # Re-batching the examples by batch_size restores the offset vectors' grouping.
    ds = _parallel_map(offsets.unbatch(), load).batch(batch_size)
    return ds.map(lambda images: {"images": images})


# =============================================================================================
# Streaming sources: records in stored order, shuffled within blocks.
# =============================================================================================


class StreamingDataset(Dataset):
  """Base of sources read sequentially (see the module docstring for the block shuffle).

  Subclasses implement `splits`, `_split_size`, `_read_records(split, start)` (the split's
  records from record `start` on, in stored order, as dicts of scalars, still encoded),
  `_decode(record)` (one example, fixed shape) and optionally `_finish(batch)` (per batch).
  """

  def __init__(self, *, name: str, seed: int, shuffle_window: int):
    super().__init__(name, seed)
    self._window = _positive_int("shuffle_window", shuffle_window)

  def _read_records(self, split: str, start: int) -> tf.data.Dataset:
    raise NotImplementedError

  def _decode(self, record: Record) -> Batch:
    raise NotImplementedError

  def _finish(self, batch: Batch) -> Batch:
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
                     batch_size):
    records = self.global_records(self.info.train_split, seed=seed,
                                  start_position=first_batch * global_batch)
    count = local_replicas * batch_size
    if count != global_batch:  # Several pipelines: each reads everything, keeps its slice.
      records = records.batch(global_batch, drop_remainder=True).map(
          lambda r: tf.nest.map_structure(lambda t: t[begin:begin + count], r)).unbatch()
    ds = _parallel_map(records, self._decode).batch(batch_size, drop_remainder=True)
    return _parallel_map(ds, self._finish)

  def _eval_batches(self, split, num_examples, batch_size):
    ds = _parallel_map(self._read_records(split, 0).take(num_examples), self._decode)
    return _parallel_map(ds.batch(batch_size), self._finish)


def _decode_rgb(encoded: tf.Tensor) -> tf.Tensor:
  """PNG/JPEG/BMP/GIF bytes -> uint8 [H, W, 3] (grayscale expanded, alpha dropped)."""
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
  return tf.ensure_shape(image, [None, None, 3])


def _assert_image_size(image: tf.Tensor, height: int, width: int, what: str) -> tf.Tensor:
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
  """

  def __init__(self, info: DatasetInfo, *, seed: int, shuffle_window: int, builder,
               ranges: Dict[str, Tuple[str, int, int]], decode: Callable[[tf.Tensor], tf.Tensor],
               finish: Callable[[tf.Tensor], tf.Tensor]):
    super().__init__(name=info.name, seed=seed, shuffle_window=shuffle_window)
    self._info = info
    self._builder = builder
    self._ranges = ranges
    self._decode_image = decode
    self._finish_images = finish

  @property
  def splits(self):
    return tuple(self._ranges)

  def _split_size(self, split):
    _, lo, hi = self._ranges[self._check_split(split)]
    return hi - lo

  def _read_records(self, split, start):
    tfds = _tfds()
    tfds_split, lo, hi = self._ranges[split]
    ds = self._builder.as_dataset(
        split=f"{tfds_split}[{lo + start}:{hi}]", shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()}, read_config=_tfds_read_config())
    return ds.map(lambda example: {"image": example["image"]})

  def _decode(self, record):
    return {"images": self._decode_image(_decode_rgb(record["image"]))}

  def _finish(self, batch):
    return {"images": self._finish_images(batch["images"])}


class TFRecordFilesDataset(StreamingDataset):
  """Encoded images in TFRecord files (see `tfrecord`), read in sorted file order.

  Split sizes need one pass over the raw records of every file (no decoding), done once on first
  use of `info` or of a pipeline; the per-file counts also let a resume skip whole files.
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
    return DatasetInfo(
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

  def _decode(self, record):
    image = _decode_rgb(record["image"])
    res = self._resolution
    if self._crop_and_resize:
      image = _crop_square_and_resize(image, res)
    else:
      image = tf.cast(_assert_image_size(image, res, res, self._name), tf.float32)
    out = {"images": _to_channels(image, self._channels) / 255.0}
    if self._label_key is not None:
      label = record["label"]
      check = tf.debugging.assert_less(
          tf.cast(label, tf.uint64), tf.constant(self._num_classes, tf.uint64),
          message=f"{self._name}: label outside [0, num_classes={self._num_classes})")
      with tf.control_dependencies([check]):
        out["labels"] = tf.cast(label, tf.int32)
    return out


# =============================================================================================
# TFDS access: never downloads; a missing dataset is an error saying how to prepare it.
# =============================================================================================


def _tfds():
  # Imported on first use: tensorflow_datasets adds seconds to start-up, which the generated
  # datasets and image folders do not need.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def _tfds_read_config():
  # One shard at a time: `split[a:]` is then exactly the tail of `split` as read (tfds
  # otherwise interleaves 16 shards), and no autocache of whole splits in memory.
  return _tfds().ReadConfig(interleave_cycle_length=1, try_autocache=False)


def _tfds_builder(dataset: str, tfds_name: str, data_dir: Optional[str]):
  tfds = _tfds()
  try:
    return tfds.builder(tfds_name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ValueError(f"Dataset {dataset!r} needs the TFDS dataset {tfds_name!r}, which this "
                     f"tensorflow_datasets ({tfds.__version__}) does not know: {e}") from None


def _missing_tfds_message(dataset: str, tfds_name: str, builder, data_dir: Optional[str]) -> str:
  where = repr(data_dir) if data_dir else "the default TFDS data dir ($TFDS_DATA_DIR or " \
      "~/tensorflow_datasets)"
  catalog = f"https://www.tensorflow.org/datasets/catalog/{tfds_name.split('/')[0]}"
  manual = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
  if manual:
    how = (f"{tfds_name!r} is a MANUAL-download TFDS dataset: put the files its instructions "
           f"name ({catalog}; TFDS says: {' '.join(str(manual).split())}) in MANUAL_DIR, then "
           f"run\n  tfds build {tfds_name} --manual_dir MANUAL_DIR --data_dir DIR")
  else:
    how = (f"Prepare it once ({catalog}) with\n  tfds build {tfds_name} --data_dir DIR\n"
           f"or\n  python -m tensorflow_datasets.scripts.download_and_prepare "
           f"--datasets={tfds_name} --data_dir=DIR")
  return (f"Dataset {dataset!r} needs the TFDS dataset {tfds_name!r} prepared in {where}; "
          f"nothing was found at {builder.data_dir}. compare_gan never downloads data while "
          f"training. {how}\nthen set dataset.tfds_data_dir = 'DIR' (or $TFDS_DATA_DIR).")


def _tfds_split_size(dataset: str, tfds_name: str, builder, tfds_split: str,
                     data_dir: Optional[str]) -> int:
  """Examples in a tfds split; FileNotFoundError with instructions if it is not prepared.

  The check goes through `builder.as_dataset` (it raises AssertionError when the prepared files
  are missing, and opens no data file), so `tfds.testing.mock_data` satisfies it too.
  """
  tfds = _tfds()
  try:
    ds = builder.as_dataset(split=tfds_split, shuffle_files=False,
                            decoders={"image": tfds.decode.SkipDecoding()},
                            read_config=_tfds_read_config())
  except AssertionError:
    raise FileNotFoundError(_missing_tfds_message(dataset, tfds_name, builder,
                                                  data_dir)) from None
  size = int(ds.cardinality())
  if size < 0:  # Unknown cardinality: count once.
    size = int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
  return size


# =============================================================================================
# Builders and the registry.
# =============================================================================================

DatasetBuilder = Callable[..., Dataset]
DATASETS: Dict[str, DatasetBuilder] = {}
STREAMING_DATASETS = ("celeb_a", "celeb_a_hq_128", "lsun_bedroom_128", "tfrecord")


def register_dataset(name: str, builder: DatasetBuilder) -> None:
  """Registers `builder(*, seed, tfds_data_dir, shuffle_window, **options) -> Dataset`."""
  if name in DATASETS:
    raise ValueError(f"Dataset {name!r} is already registered; registered: {sorted(DATASETS)}.")
  DATASETS[name] = builder


def build_dataset(name: str, *, seed: int = DEFAULT_SEED, tfds_data_dir: Optional[str] = None,
                  shuffle_window: Optional[int] = None, **options) -> Dataset:
  """The registered dataset `name`, without gin (options go to the builder, e.g. `path=`).

  Args:
    name: a key of `DATASETS`.
    seed: dataset seed; fixes the content of generated datasets (not the training order, which
      `train_input(seed=...)` sets).
    tfds_data_dir: where prepared TFDS datasets live (None: TFDS' default); other sources
      ignore it.
    shuffle_window: block size of the streaming sources' shuffle (None: 10000); an error for
      random-access sources, whose epochs are exact permutations.
    **options: builder-specific arguments (`image_folder`, `tfrecord`).

  Raises:
    ValueError: unknown name (listing the registered ones) or bad options.
    FileNotFoundError: data not found (with how to prepare it).
  """
  try:
    builder = DATASETS[name]
  except (KeyError, TypeError):
    raise ValueError(f"Unknown dataset {name!r}; registered datasets: {sorted(DATASETS)}."
                     ) from None
  return builder(seed=seed, tfds_data_dir=tfds_data_dir, shuffle_window=shuffle_window,
                 **options)


@gin.configurable("dataset")
def get_dataset(name: str = gin.REQUIRED, seed: int = DEFAULT_SEED,
                tfds_data_dir: Optional[str] = None,
                shuffle_window: Optional[int] = None) -> Dataset:
  """`build_dataset` configured by gin: `dataset.name = 'cifar10'`, `dataset.seed = 547`."""
  return build_dataset(name, seed=seed, tfds_data_dir=tfds_data_dir,
                       shuffle_window=shuffle_window)


def _no_shuffle_window(name: str, shuffle_window: Optional[int]) -> None:
  if shuffle_window is not None:
    raise ValueError(f"shuffle_window={shuffle_window} applies to the streaming datasets "
                     f"{list(STREAMING_DATASETS)} only; {name!r} is random-access and every "
                     f"epoch is an exact permutation. Leave dataset.shuffle_window unset.")


def _in_memory_tfds(name: str, tfds_name: str, image_shape: Tuple[int, ...],
                    num_classes: int) -> DatasetBuilder:
  """Builder of a small labelled tfds dataset: train / test, eval on 10k test examples."""

  def build(*, seed: int, tfds_data_dir: Optional[str],
            shuffle_window: Optional[int]) -> InMemoryDataset:
    _no_shuffle_window(name, shuffle_window)
    builder = _tfds_builder(name, tfds_name, tfds_data_dir)
    sizes = {split: _tfds_split_size(name, tfds_name, builder, split, tfds_data_dir)
             for split in ("train", "test")}
    info = DatasetInfo(name=name, image_shape=image_shape, num_classes=num_classes,
                       train_split="train", eval_split="test",
                       eval_size=min(DEFAULT_EVAL_SIZE, sizes["test"]),
                       num_train_examples=sizes["train"])
    return InMemoryDataset(info, seed=seed, split_sizes=sizes,
                           load=lambda split: _load_tfds_split(builder, split, with_labels=True))

  return build


def _streaming_tfds(name: str, tfds_name: str, image_shape: Tuple[int, ...],
                    splits: Dict[str, Tuple[str, float, float]], eval_split: str,
                    eval_size: int, decode: Callable[[tf.Tensor], tf.Tensor],
                    finish: Callable[[tf.Tensor], tf.Tensor]) -> DatasetBuilder:
  """Builder of an unlabelled streaming tfds dataset.

  `splits`: our split -> (tfds split, start fraction, end fraction), resolved to record ranges
  with `round(total * fraction)` once the tfds split sizes are known.
  """

  def build(*, seed: int, tfds_data_dir: Optional[str],
            shuffle_window: Optional[int]) -> TfdsStreamingDataset:
    builder = _tfds_builder(name, tfds_name, tfds_data_dir)
    totals = {tfds_split: _tfds_split_size(name, tfds_name, builder, tfds_split, tfds_data_dir)
              for tfds_split, _, _ in splits.values()}
    ranges = {split: (tfds_split, round(totals[tfds_split] * lo),
                      round(totals[tfds_split] * hi))
              for split, (tfds_split, lo, hi) in splits.items()}
    for split, (tfds_split, lo, hi) in ranges.items():
      if hi <= lo:
        raise ValueError(f"Split {split!r} of dataset {name!r} would be empty: records "
                         f"[{lo}, {hi}) of the {totals[tfds_split]} in tfds split "
                         f"{tfds_split!r}.")

    def size(split):
      return ranges[split][2] - ranges[split][1]

    info = DatasetInfo(name=name, image_shape=image_shape, num_classes=None,
                       train_split="train", eval_split=eval_split,
                       eval_size=min(eval_size, size(eval_split)),
                       num_train_examples=size("train"))
    window = DEFAULT_SHUFFLE_WINDOW if shuffle_window is None else shuffle_window
    return TfdsStreamingDataset(info, seed=seed, shuffle_window=window, builder=builder,
                                ranges=ranges, decode=decode, finish=finish)

  return build


def _celeb_a_crop(image: tf.Tensor) -> tf.Tensor:
  # Reference: centre crop (or pad) the 218x178 faces to 160x160; resized per batch below.
  return tf.image.resize_with_crop_or_pad(image, 160, 160)


def _celeb_a_resize(images: tf.Tensor) -> tf.Tensor:
  # TF1 `resize_images` (bilinear, align_corners=False, no half-pixel centres), on the batch.
  images = tf.raw_ops.ResizeBilinear(images=tf.cast(images, tf.float32), size=[64, 64],
                                     align_corners=False, half_pixel_centers=False)
  return images / 255.0


def _celeb_a_hq_check(image: tf.Tensor) -> tf.Tensor:
  return _assert_image_size(image, 128, 128, "celeb_a_hq_128")


def _lsun_crop(image: tf.Tensor) -> tf.Tensor:
  # Reference: centre crop (or pad) to 128x128, no resize.
  return tf.image.resize_with_crop_or_pad(image, 128, 128)


def _generated(name: str, image_shape: Tuple[int, ...], split_ranges: Dict[str, Tuple[int, int]],
               make_generate: Callable[[int], Callable[[np.ndarray], np.ndarray]]
               ) -> DatasetBuilder:
  """Builder of a generated dataset; `make_generate(seed)` is its index -> data function."""

  def build(*, seed: int, tfds_data_dir: Optional[str],
            shuffle_window: Optional[int]) -> GeneratedDataset:
    del tfds_data_dir  # No files.
    _no_shuffle_window(name, shuffle_window)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
        0 <= seed < 2**64):
      raise ValueError(f"The seed of generated dataset {name!r} must be an integer in "
                       f"[0, 2^64); got {seed!r}.")
    info = DatasetInfo(name=name, image_shape=image_shape, num_classes=None,
                       train_split="train", eval_split="test",
                       eval_size=min(DEFAULT_EVAL_SIZE, split_ranges["test"][1]),
                       num_train_examples=split_ranges["train"][1])
    return GeneratedDataset(info, seed=seed, split_ranges=split_ranges,
                            generate=make_generate(seed))

  return build


def _polygons(n_vertices: int) -> Callable[[int], Callable[[np.ndarray], np.ndarray]]:
  return lambda seed: lambda indices: synthetic_data.convex_polygon_images(
      indices, seed=seed, n_vertices=n_vertices)


def _mixture(name: str) -> Callable[[int], Callable[[np.ndarray], np.ndarray]]:
  return lambda seed: lambda indices: synthetic_data.mixture_points(
      indices, seed=seed, name=name)[0]


# Reference convex-polygon data: 80,000 instances, 60k train, 10k test, 10k hold-out ("val").
_POLYGON_SPLITS = {"train": (0, 60000), "test": (60000, 10000), "val": (70000, 10000)}
_MIXTURE_SPLITS = {"train": (0, 100000), "test": (100000, 10000)}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@gin.configurable("image_folder", denylist=["seed", "tfds_data_dir", "shuffle_window"])
def image_folder(path: str = gin.REQUIRED, resolution: int = gin.REQUIRED,
                 eval_fraction: float = 0.0, channels: int = 3,
                 eval_size: int = DEFAULT_EVAL_SIZE, *, seed: int = DEFAULT_SEED,
                 tfds_data_dir: Optional[str] = None,
                 shuffle_window: Optional[int] = None) -> ImageFolderDataset:
  """Images under `path` (recursive; .png .jpg .jpeg .bmp .gif, any case), sorted by path.

  Each file is decoded (grayscale expanded to RGB, alpha dropped, a GIF's first frame), centre
  cropped to a square and resized to resolution x resolution (bilinear, antialiased); with
  channels=1 converted to grayscale. A corrupt file fails the pipeline with an error naming it.

  Args:
    path: folder (any tf.io.gfile path).
    resolution: side of the square output images.
    eval_fraction: share of files held out as split "test": round(fraction * N) files chosen by a
      fixed permutation (seed 0, independent of `seed`), so the same folder always splits the
      same way. 0: no hold-out, eval split = "train".
    channels: 3 (RGB) or 1 (grayscale).
    eval_size: examples the metrics use, capped at the eval split's size.
    seed, tfds_data_dir, shuffle_window: see `build_dataset` (none of them applies here).

  Raises:
    FileNotFoundError: the folder is missing or holds no image file.
    ValueError: bad resolution, channels or eval_fraction.
  """
  del tfds_data_dir  # Files are found by path.
  _no_shuffle_window("image_folder", shuffle_window)
  resolution = _positive_int("image_folder.resolution", resolution)
  if channels not in (1, 3):
    raise ValueError(f"image_folder.channels must be 1 or 3; got {channels!r}.")
  if not 0.0 <= eval_fraction < 1.0:
    raise ValueError(f"image_folder.eval_fraction must be in [0, 1); got {eval_fraction!r}.")
  if not tf.io.gfile.isdir(path):
    raise FileNotFoundError(f"image_folder.path {path!r} is not a folder.")
  paths = sorted(
      os.path.join(folder, file) for folder, _, files in tf.io.gfile.walk(path)
      for file in files if file.lower().endswith(IMAGE_EXTENSIONS))
  if not paths:
    raise FileNotFoundError(f"image_folder: no image files under {path!r} (searched "
                            f"recursively for extensions {list(IMAGE_EXTENSIONS)}).")
  split_files = {"train": np.arange(len(paths))}
  if eval_fraction > 0:
    n_eval = round(eval_fraction * len(paths))
    if not 1 <= n_eval < len(paths):
      raise ValueError(f"image_folder.eval_fraction={eval_fraction} of {len(paths)} files "
                       f"leaves {n_eval} eval and {len(paths) - n_eval} training files; both "
                       f"must be at least 1.")
    held_out = np.zeros(len(paths), bool)
    held_out[np.random.default_rng(0).permutation(len(paths))[:n_eval]] = True
    split_files = {"train": np.flatnonzero(~held_out), "test": np.flatnonzero(held_out)}
  eval_split = "test" if "test" in split_files else "train"
  info = DatasetInfo(name="image_folder", image_shape=(resolution, resolution, channels),
                     num_classes=None, train_split="train", eval_split=eval_split,
                     eval_size=min(_positive_int("image_folder.eval_size", eval_size),
                                   len(split_files[eval_split])),
                     num_train_examples=len(split_files["train"]))
  return ImageFolderDataset(info, seed=seed, paths=paths, split_files=split_files,
                            resolution=resolution, channels=channels)


@gin.configurable("tfrecord", denylist=["seed", "tfds_data_dir", "shuffle_window"])
def tfrecord(file_pattern: str = gin.REQUIRED, resolution: int = gin.REQUIRED,
             image_key: str = "image", label_key: Optional[str] = None,
             num_classes: Optional[int] = None, eval_file_pattern: Optional[str] = None,
             channels: int = 3, crop_and_resize: bool = True,
             eval_size: int = DEFAULT_EVAL_SIZE, *, seed: int = DEFAULT_SEED,
             tfds_data_dir: Optional[str] = None,
             shuffle_window: Optional[int] = None) -> TFRecordFilesDataset:
  """tf.train.Example records with encoded PNG/JPEG images in files matching a glob.

  Files are read in sorted order, records in file order, and shuffled in blocks like every
  streaming source (see the module docstring); a resume skips whole files by their counted
  lengths, then reads and drops at most one file's worth of raw records.

  Args:
    file_pattern: glob of the training files (split "train").
    resolution: side of the square output images.
    image_key: feature holding the encoded image bytes.
    label_key, num_classes: an int64 label feature and its number of classes (both or neither).
    eval_file_pattern: glob of held-out files (split "test"); None: eval split = "train".
    channels: 3 (RGB) or 1 (grayscale).
    crop_and_resize: centre crop to a square and resize to `resolution` (bilinear,
      antialiased); False: images must already be resolution x resolution (error otherwise).
    eval_size: examples the metrics use, capped at the eval split's size.
    seed, tfds_data_dir, shuffle_window: see `build_dataset`.

  Raises:
    FileNotFoundError: a pattern matches no file.
    ValueError: bad options.
  """
  del tfds_data_dir  # Files are found by pattern.
  resolution = _positive_int("tfrecord.resolution", resolution)
  if channels not in (1, 3):
    raise ValueError(f"tfrecord.channels must be 1 or 3; got {channels!r}.")
  if (label_key is None) != (num_classes is None):
    raise ValueError(f"tfrecord.label_key and tfrecord.num_classes go together; got "
                     f"label_key={label_key!r}, num_classes={num_classes!r}.")
  if num_classes is not None:
    num_classes = _positive_int("tfrecord.num_classes", num_classes)
  split_files = {}
  for split, pattern in (("train", file_pattern), ("test", eval_file_pattern)):
    if pattern is None:
      continue
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
      raise FileNotFoundError(f"tfrecord: no file matches the pattern {pattern!r} "
                              f"(split {split!r}).")
    split_files[split] = files
  return TFRecordFilesDataset(
      name="tfrecord", seed=seed,
      shuffle_window=DEFAULT_SHUFFLE_WINDOW if shuffle_window is None else shuffle_window,
      split_files=split_files, image_key=image_key, label_key=label_key,
      num_classes=num_classes, resolution=resolution, channels=channels,
      crop_and_resize=crop_and_resize,
      eval_size=_positive_int("tfrecord.eval_size", eval_size))


for _name, _tfds_name, _shape in (("mnist", "mnist", (28, 28, 1)),
                                  ("fashion_mnist", "fashion_mnist", (28, 28, 1)),
                                  ("cifar10", "cifar10", (32, 32, 3))):
  register_dataset(_name, _in_memory_tfds(_name, _tfds_name, _shape, num_classes=10))
register_dataset("celeb_a", _streaming_tfds(
    "celeb_a", "celeb_a", (64, 64, 3),
    splits={"train": ("train", 0.0, 1.0), "validation": ("validation", 0.0, 1.0),
            "test": ("test", 0.0, 1.0)},
    eval_split="test", eval_size=10000, decode=_celeb_a_crop, finish=_celeb_a_resize))
# tfds has one split of 30k images; the reference (v2) held out shards 90-99 of 100: 3000 images.
register_dataset("celeb_a_hq_128", _streaming_tfds(
    "celeb_a_hq_128", "celeb_a_hq/128", (128, 128, 3),
    splits={"train": ("train", 0.0, 0.9), "test": ("train", 0.9, 1.0)},
    eval_split="test", eval_size=3000, decode=_celeb_a_hq_check, finish=_to_unit_float))
# Reference `TRAIN.subsplit([99, 1])`: the last 1% (~30k) of tfds train is the eval split.
register_dataset("lsun_bedroom_128", _streaming_tfds(
    "lsun_bedroom_128", "lsun/bedroom", (128, 128, 3),
    splits={"train": ("train", 0.0, 0.99), "test": ("train", 0.99, 1.0),
            "validation": ("validation", 0.0, 1.0)},
    eval_split="test", eval_size=30000, decode=_lsun_crop, finish=_to_unit_float))
register_dataset("triangles", _generated("triangles", (28, 28, 1), _POLYGON_SPLITS, _polygons(3)))
register_dataset("squares", _generated("squares", (28, 28, 1), _POLYGON_SPLITS, _polygons(4)))
register_dataset("ring8", _generated("ring8", (2,), _MIXTURE_SPLITS, _mixture("ring8")))
register_dataset("grid25", _generated("grid25", (2,), _MIXTURE_SPLITS, _mixture("grid25")))
register_dataset("image_folder", image_folder)
register_dataset("tfrecord", tfrecord)
# The reference's spellings.
register_dataset("fashion-mnist", DATASETS["fashion_mnist"])
register_dataset("lsun-bedroom", DATASETS["lsun_bedroom_128"])
