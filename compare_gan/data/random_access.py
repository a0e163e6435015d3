"""Random-access sources: an example is a function of its offset in the split (in-memory
arrays from tfds, generated data, image folders). See `compare_gan/data/base.py` for the
exact-resume contract these implement.

Bad image files are found twice (see `ImageFolderDataset`): a file whose first bytes announce no
PNG, JPEG, GIF, BMP or WebP image fails when the dataset is built (ValueError: "image_folder:
<path> is not a decodable image (...): it starts with b'...'; remove it or replace it ..."), and
a truncated or corrupt one when the pipeline reaches it (the same line, "it is truncated or
corrupt", inside a tf.errors.InvalidArgumentError; `base.input_error_line` extracts it).

The generated-dataset cache (`GeneratedDataset` with a `cache_version`). A generated split is
rendered once per machine and kept in `<cache root>/datasets/<name>-<sha256 of key>.npy`, the
cache root being `$COMPARE_GAN_CACHE_DIR` or `~/.cache/compare_gan` (`config.cache_root`), so
every trial of a sweep after the first loads its splits (60k triangles: ~0.05 s instead of ~2 s
of rendering). The key holds everything the content depends on: dataset name, seed, the split's
first index and size, image shape, stored dtype and levels, and the generator's version string
(bumped with any change of its output). Files are written through a temporary file and a rename
(`run_dir.write_atomically`), so concurrent trials may render and write the same split: readers
see a whole file, and the last rename wins with identical content. A loaded file is
spot-checked: `SPOT_CHECKS` rows spread over the split are rendered again and must be equal bit
for bit. A file that cannot be read, has the wrong shape or dtype, or fails the check is
reported with one warning and rendered and written again; a cache directory that cannot be
created or written is reported once per dataset and the run goes on without it. Deleting
`<cache root>/datasets/` (or any file in it) is always safe: `rm -r ~/.cache/compare_gan/datasets`
clears it, and the next run renders what it needs.
"""

import concurrent.futures
import hashlib
import json
import os
import threading
from typing import Callable, Dict, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir
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

  @property
  def key_space(self) -> str:
    return f"{self.info.name} <split>:<offset>"

  def _split_size(self, split: str) -> int:
    return self._split_sizes[self._check_split(split)]

  def _check_keys(self, keys: np.ndarray) -> None:
    """Every key must be "<split>:<offset>" of an example of this dataset."""
    for key in keys:
      split, _, offset = str(key).rpartition(":")
      if (split not in self._split_sizes or not offset.isdigit() or str(int(offset)) != offset
          or int(offset) >= self._split_sizes[split]):
        sizes = ", ".join(f"{name}:0..{size - 1}" for name, size in self._split_sizes.items())
        raise config.ConfigError(
            f"dataset.label_file: key {str(key)!r} names no example of dataset "
            f"{self.info.name!r}, whose keys are <split>:<offset> ({sizes}); was the file "
            "made for another dataset?")

  def _batches(self, split: str, offsets: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    raise NotImplementedError

  def _keyed(self, split: str, offsets: tf.data.Dataset, batch_size: int,
             with_keys: bool) -> tf.data.Dataset:
    """`_batches`, plus "keys" "<split>:<offset>" when `with_keys`. The offsets dataset is a
    pure function of its position, so a second copy of it zipped beside the batches gives the
    same offsets."""
    ds = self._batches(split, offsets, batch_size)
    if not with_keys:
      return ds

    def add_keys(offsets_batch, batch):
      keys = tf.strings.join([f"{split}:", tf.strings.as_string(offsets_batch)])
      return dict(batch, keys=keys)

    return base.parallel_map(tf.data.Dataset.zip(offsets, ds), add_keys)

  def _train_batches(self, *, seed, first_batch, global_batch, begin, local_replicas,
                     batch_size, with_keys):
    n = self._split_size(self.info.train_split)
    count = local_replicas * batch_size

    def offsets(k):  # Global batch k -> this pipeline's [L, b] offsets; no other positions.
      positions = k * global_batch + begin + tf.range(count, dtype=tf.int64)
      shuffled = epoch_permutation(positions, seed=seed, num_examples=n)
      return tf.reshape(shuffled, [local_replicas, batch_size])

    ds = tf.data.Dataset.counter(first_batch, dtype=tf.int64).map(offsets).unbatch()
    return self._keyed(self.info.train_split, ds, batch_size, with_keys)

  def _eval_batches(self, split, num_examples, batch_size, with_keys):
    offsets = tf.data.Dataset.range(num_examples).batch(batch_size)
    return self._keyed(split, offsets, batch_size, with_keys)


class InMemoryDataset(RandomAccessDataset):
  """Random-access source whose splits are held in memory, each loaded on first use.

  `load(split)` returns (images [N, *image_shape] uint8 or float, labels int [N] or None); the
  arrays become CPU tensors that the pipeline gathers from in the graph, then `_to_float` makes
  the batch float32 (uint8 / 255 here). No Python runs per batch: a `tf.numpy_function` would
  hold the GIL against the training loop, and CPython terminates threads that take the GIL
  during interpreter shutdown, so a pipeline still iterating then hangs the process at exit.
  Cost: the arrays' memory (cifar10 train 150 MB), and building a pipeline copies them once into
  its graph (~0.3 s for 150 MB).
  """

  def __init__(self, info: base.DatasetInfo, *, seed: int, split_sizes: Dict[str, int],
               load: Callable[[str], Tuple[np.ndarray, Optional[np.ndarray]]]):
    super().__init__(info, seed=seed, split_sizes=split_sizes)
    self._load = load
    self._own_classes = info.num_classes  # `relabel` may change info's, never the source's.
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
        if (labels is None) != (self._own_classes is None):
          raise ValueError(f"Dataset {self.info.name!r}: labels must be loaded exactly when "
                           f"num_classes ({self._own_classes}) is set.")
        with tf.device("/cpu:0"):
          self._tensors[split] = (
              tf.constant(images),
              None if labels is None else tf.constant(labels.astype(np.int32)))
      return self._tensors[split]

  def _batches(self, split, offsets, batch_size):
    images, labels = self._split_tensors(split)

    def gather(offsets_batch):
      batch = self._to_float(tf.gather(images, offsets_batch))
      if labels is None:
        return {"images": batch}
      return {"images": batch, "labels": tf.gather(labels, offsets_batch)}

    return base.parallel_map(offsets, gather)

  def _to_float(self, images: tf.Tensor) -> tf.Tensor:
    """A gathered batch as stored [b, *image_shape] -> float32: uint8 / 255, floats cast."""
    return base.to_unit_float(images) if images.dtype == tf.uint8 else tf.cast(images, tf.float32)


# Examples rendered per call of `generate`: small chunks keep the rasteriser's [chunk, 29, 224]
# float32 working array (~6.5 MB at 256) in the CPU caches; 60k triangles take ~1.6 s in chunks
# of 256 and ~2.7 s in chunks of 4096 (2-core machine, measured).
_CHUNK = 256
# Rows of a cached split rendered again on load and compared bit for bit (see the module
# docstring): catches a generator changed without a version bump at the cost of ~1 ms.
SPOT_CHECKS = 8
_CACHE_SUBDIR = "datasets"


class GeneratedDataset(InMemoryDataset):
  """Procedural data (`data/synthetic.py`): example i of a split is `generate([split_start + i])`.

  `generate` maps int64 indices [m] to float32 [m, *image_shape] (example i depends only on i
  and the dataset seed). A split is rendered chunk by chunk into one preallocated array on first
  use, and kept:
    * with `levels` (a power of two, at most 128): as uint8 counts `value * levels`, for data
      whose values are exact multiples of 1/levels in [0, 1] (the polygons: 1/64). The pipeline
      turns them back into `float32(count) * (1 / levels)`, which is exact for a power of two,
      so the batches equal `generate`'s output bit for bit; each chunk is checked, and one that
      does not round-trip exactly raises ValueError (a bug of the generator or of `levels`).
      60k triangles take 47 MB instead of 188 MB of float32;
    * without: as float32.
  With a `cache_version`, splits go through the disk cache of the module docstring; None: no
  cache (every dataset object renders its splits).
  """

  def __init__(self, info: base.DatasetInfo, *, seed: int, split_ranges: Dict[str, Tuple[int, int]],
               generate: Callable[[np.ndarray], np.ndarray], levels: Optional[int] = None,
               cache_version: Optional[str] = None):
    if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int)
                               or levels < 1 or levels > 128 or levels & (levels - 1)):
      raise ValueError(f"Generated dataset {info.name!r}: levels must be None or a power of two "
                       f"from 1 to 128 (uint8 holds value * levels for values in [0, 1]); got "
                       f"{levels!r}.")
    self._split_ranges = dict(split_ranges)
    self._generate = generate
    self._levels = levels
    self._cache_version = cache_version
    self._cache_dir = os.path.join(config.cache_root(), _CACHE_SUBDIR)
    self._cache_writable = True  # Set False after the first failed write (one warning).
    super().__init__(info, seed=seed, load=self._load_split,
                     split_sizes={name: size for name, (_, size) in split_ranges.items()})

  @property
  def levels(self) -> Optional[int]:
    """Grey levels of the stored uint8 counts (value = count / levels), or None (float32)."""
    return self._levels

  def _to_float(self, images: tf.Tensor) -> tf.Tensor:
    if self._levels is None:
      return tf.cast(images, tf.float32)
    # 1 / levels is a power of two: the product is exactly the generated float32 value.
    return tf.cast(images, tf.float32) * (1.0 / self._levels)

  # ------------------------------------------------------------------------------------------
  # Rendering
  # ------------------------------------------------------------------------------------------

  def _stored_dtype(self) -> np.dtype:
    return np.dtype(np.float32 if self._levels is None else np.uint8)

  def _stored(self, split: str, indices: np.ndarray) -> np.ndarray:
    """`generate(indices)` in the stored form: uint8 counts with levels, else float32."""
    images = np.asarray(self._generate(indices))
    shape = (len(indices), *self.info.image_shape)
    if images.shape != shape:
      raise ValueError(f"Generated dataset {self.info.name!r}: generate() returned shape "
                       f"{images.shape} for {len(indices)} indices; expected {shape}.")
    images = images.astype(np.float32, copy=False)
    if self._levels is None:
      return images
    with np.errstate(invalid="ignore"):  # NaN: caught by the check below.
      counts = np.clip(np.rint(images * np.float32(self._levels)), 0, 255).astype(np.uint8)
    exact = counts.astype(np.float32) * np.float32(1.0 / self._levels) == images
    if not exact.all():
      first = np.unravel_index(np.argmin(exact), exact.shape)
      raise ValueError(
          f"Generated dataset {self.info.name!r}, split {split!r}: example "
          f"{int(indices[first[0]])} has value {float(images[first]):.9g}, not a multiple of "
          f"1/{self._levels} in [0, {255 / self._levels:g}], though the dataset declares "
          f"levels={self._levels}; this is a bug of its generator or of its levels.")
    return counts

  def _render(self, split: str) -> np.ndarray:
    """The whole split in stored form, [size, *image_shape], rendered chunk by chunk."""
    start, size = self._split_ranges[split]
    out = np.empty((size, *self.info.image_shape), self._stored_dtype())
    for i in range(0, size, _CHUNK):
      indices = np.arange(start + i, start + min(i + _CHUNK, size), dtype=np.int64)
      out[i:i + len(indices)] = self._stored(split, indices)
    return out

  def _load_split(self, split: str) -> Tuple[np.ndarray, None]:
    path = self.cache_path(split)
    if path is not None:
      cached = self._read_cache(split, path)
      if cached is not None:
        return cached, None
    images = self._render(split)
    if path is not None:
      self._write_cache(path, images)
    return images, None

  # ------------------------------------------------------------------------------------------
  # The disk cache (see the module docstring)
  # ------------------------------------------------------------------------------------------

  def cache_key(self, split: str) -> dict:
    """Everything the stored content of `split` depends on (hashed into the file name)."""
    start, size = self._split_ranges[self._check_split(split)]
    return dict(dataset=self.info.name, seed=self.seed, start=start, size=size,
                shape=list(self.info.image_shape),
                dtype=self._stored_dtype().name, levels=self._levels,
                generator=self._cache_version)

  def cache_path(self, split: str) -> Optional[str]:
    """`<cache root>/datasets/<name>-<sha256 of cache_key>.npy`; None without a cache_version."""
    if self._cache_version is None:
      return None
    text = json.dumps(self.cache_key(split), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return os.path.join(self._cache_dir, f"{self.info.name}-{digest}.npy")

  def _read_cache(self, split: str, path: str) -> Optional[np.ndarray]:
    """The cached split, or None when absent or bad (then with one warning)."""
    start, size = self._split_ranges[split]
    if not os.path.isfile(path):  # Absent, or the cache directory is unusable: render.
      return None
    try:
      images = np.load(path, allow_pickle=False)
    except FileNotFoundError:  # Deleted since: a cache may be cleared at any time.
      return None
    except Exception as e:  # noqa: BLE001 -- np.load raises many kinds; any means "render".
      logging.warning("Dataset cache file %s is unreadable (%s: %s); rendering %s %s again.",
                      path, type(e).__name__, e, self.info.name, split)
      return None
    expected = (self._stored_dtype(), (size, *self.info.image_shape))
    if (images.dtype, images.shape) != expected:
      logging.warning("Dataset cache file %s holds %s %s, expected %s %s; rendering %s %s again.",
                      path, images.dtype, images.shape, *expected, self.info.name, split)
      return None
    rows = np.unique(np.linspace(0, size - 1, min(SPOT_CHECKS, size)).round().astype(np.int64))
    fresh = self._stored(split, start + rows)
    if not np.array_equal(images[rows], fresh):
      bad = rows[[not np.array_equal(a, b) for a, b in zip(images[rows], fresh)]]
      logging.warning("Dataset cache file %s is stale: rows %s differ from a fresh rendering "
                      "(was the generator changed without a version bump?); rendering %s %s "
                      "again.", path, bad.tolist(), self.info.name, split)
      return None
    return images

  def _write_cache(self, path: str, images: np.ndarray) -> None:
    """Writes `images` to `path` atomically; a failure warns once and leaves the run going."""
    if not self._cache_writable:
      return
    try:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      run_dir.write_atomically(path, lambda f: np.save(f, images, allow_pickle=False))
    except OSError as e:
      self._cache_writable = False
      logging.warning("Cannot write the dataset cache %s (%s: %s); going on without it. Set "
                      "$%s to a writable directory to keep generated data between runs.",
                      os.path.dirname(path), type(e).__name__, e, config.CACHE_ENV)


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
