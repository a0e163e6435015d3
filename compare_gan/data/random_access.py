"""Random-access sources: an example is a function of its offset in the split (in-memory
arrays from tfds, generated data, image folders). See `compare_gan/data/base.py` for the
exact-resume contract these implement.

Bad image files are found twice (see `ImageFolderDataset`): a file whose first bytes announce no
PNG, JPEG, GIF, BMP or WebP image fails when the dataset is built (ValueError: "image_folder:
<path> is not a decodable image (...): it starts with b'...'; remove it or replace it ..."), and
a truncated or corrupt one when the pipeline reaches it (the same line, "it is truncated or
corrupt", inside a tf.errors.InvalidArgumentError; `base.input_error_line` extracts it).
"""

import concurrent.futures
import threading
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from compare_gan.data import base

# Third seed word of the random-access epoch permutations; keeps them apart from the streaming
# block permutations, whose third word is the block number.
_RANDOM_ACCESS_SALT = 0x5EED



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


class RandomAccessDataset(base.Dataset):
  """Base of sources that load any example by its offset in a split.

  Subclasses implement `_batches(split, offsets, batch_size)`: a dataset of int64 offset vectors
  ([batch_size], the last eval one possibly shorter) -> a dataset of element dicts, one per vector.
  """

  def __init__(self, info: base.DatasetInfo, *, seed: int, split_sizes: Dict[str, int]):
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

  def __init__(self, info: base.DatasetInfo, *, seed: int, split_sizes: Dict[str, int],
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
      batch = base.to_unit_float(batch) if batch.dtype == tf.uint8 else tf.cast(batch, tf.float32)
      if labels is None:
        return {"images": batch}
      return {"images": batch, "labels": tf.gather(labels, offsets_batch)}

    return base.parallel_map(offsets, gather)


class GeneratedDataset(InMemoryDataset):
  """Procedural data (`data/synthetic.py`): example i of a split is `generate([split_start + i])`.

  `generate` maps int64 indices [m] to float32 [m, *image_shape] (example i depends only on i
  and the dataset seed). A split is generated in chunks on first use (60k polygons: ~4 s) and
  kept, in float16 when that is lossless (polygon grey levels are multiples of 1/64).
  """

  def __init__(self, info: base.DatasetInfo, *, seed: int, split_ranges: Dict[str, Tuple[int, int]],
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


def crop_square_and_resize(image: tf.Tensor, resolution: int) -> tf.Tensor:
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


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
  """float [H, W, 3] -> [H, W, channels]; 1 channel is `tf.image.rgb_to_grayscale` (BT.601)."""
  image = tf.image.rgb_to_grayscale(image) if channels == 1 else image
  return tf.ensure_shape(image, [None, None, channels])


class ImageFolderDataset(RandomAccessDataset):
  """Image files under a folder (see `image_folder`): offset -> file -> decoded, cropped image.

  Bad files, twice. Building the dataset reads the first bytes of every file and raises a
  ValueError naming those that announce no image format (a text file, an empty file, an HTML
  error page saved as .jpg): ~10 us a local file; remote files (a `://` path, ~50 ms each) are
  read by `_REMOTE_HEADER_READERS` threads. A file with a good header but bad data (truncated,
  corrupt) fails the pipeline when it is reached, with a `base.assert_input` line naming it.
  Decoding stays in the graph (see `base` on why no Python may run per example), so the error
  is caught there: each image is decoded in a one-element dataset whose decode error is dropped
  (`ignore_errors`) and replaced by a "failed" element; the next map asserts on that flag. This
  costs ~0.1 ms of CPU per image, less than the `tf.py_function` it replaces.
  """

  def __init__(self, info: base.DatasetInfo, *, seed: int, paths: Sequence[str],
               split_files: Dict[str, np.ndarray], resolution: int, channels: int):
    super().__init__(info, seed=seed,
                     split_sizes={name: len(files) for name, files in split_files.items()})
    self._paths = list(paths)
    self._split_files = split_files
    self._resolution = resolution
    self._channels = channels
    check_image_headers(self._paths, "image_folder")

  def _batches(self, split, offsets, batch_size):
    files = tf.constant(self._split_files[split], tf.int64)
    paths = tf.constant(self._paths)
    resolution, channels = self._resolution, self._channels

    def read(offset):
      path = tf.gather(paths, tf.gather(files, offset))
      return path, tf.io.read_file(path)  # A file gone since: NotFoundError naming it.

    def check_and_resize(path, decoded, image):
      image = base.assert_input(decoded, tf.strings.join([
          "image_folder: ", path, f" is not a decodable image ({base.IMAGE_FORMATS}): it is "
          "truncated or corrupt; remove it or replace it with a good copy."]), image)
      image = crop_square_and_resize(image, resolution)
      return to_channels(image, channels) / 255.0

    encoded = base.parallel_map(offsets.unbatch(), read)
    decoded = encoded.interleave(_decode_or_flag, num_parallel_calls=tf.data.AUTOTUNE,
                                 deterministic=True)  # One element each: the order is kept.
    # Re-batching the examples by batch_size restores the offset vectors' grouping.
    ds = base.parallel_map(decoded, check_and_resize).batch(batch_size)
    return ds.map(lambda images: {"images": images})


def _decode_or_flag(path: tf.Tensor, encoded: tf.Tensor) -> tf.data.Dataset:
  """One element (path, decoded, image uint8 [H, W, 3]); a file that does not decode gives
  decoded=False and an empty image. tf.data has no try/except: `ignore_errors` drops the failed
  decode, and `take(1)` then keeps the "failed" element appended behind it."""
  def decode(path, encoded):
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    return path, True, tf.ensure_shape(image, [None, None, 3])

  attempt = tf.data.Dataset.from_tensors((path, encoded)).map(decode).ignore_errors()
  failed = tf.data.Dataset.from_tensors((path, False, tf.zeros([0, 0, 3], tf.uint8)))
  return attempt.concatenate(failed).take(1)


_REMOTE_HEADER_READERS = 32  # At ~50 ms a remote file, 100k files take ~3 minutes.


def check_image_headers(paths: Sequence[str], what: str) -> None:
  """Reads the first bytes of every file; raises a one-line ValueError naming the first file
  that announces no image format (see `base.image_format`) and counting the others."""
  def head(path: str) -> bytes:
    try:
      with tf.io.gfile.GFile(path, "rb") as f:
        return f.read(base.SIGNATURE_BYTES)
    except tf.errors.OpError as e:
      raise ValueError(f"{what}: cannot read {path} ({base.op_error_reason(e)}); make it "
                       f"readable or remove it.") from None

  if paths and "://" in paths[0]:  # Remote: latency-bound, so read many at once.
    with concurrent.futures.ThreadPoolExecutor(_REMOTE_HEADER_READERS) as pool:
      heads = list(pool.map(head, paths))
  else:  # Local: ~10 us a file; threads would only add overhead.
    heads = [head(path) for path in paths]
  bad = [(path, first) for path, first in zip(paths, heads) if base.image_format(first) is None]
  if not bad:
    return
  path, first = bad[0]
  why = "it is empty" if not first else f"it starts with {first!r}"
  others = ""
  if len(bad) > 1:
    named = ", ".join(p for p, _ in bad[1:4]) + (", ..." if len(bad) > 4 else "")
    others = f"; so are {len(bad) - 1} more files ({named})"
  raise ValueError(f"{what}: {path} is not a decodable image ({base.IMAGE_FORMATS}): {why}"
                   f"{others}; remove {'them' if others else 'it'} or replace "
                   f"{'them with images' if others else 'it with an image'}.")
