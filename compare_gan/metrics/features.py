"""Feature extraction for the metrics: exact re-batching, a disk cache, and weight-free pixels.

  extractor = inception_weights.load_inception()    # or pixel_features, or any images -> dict
  cache = FeatureCache()                             # $COMPARE_GAN_CACHE_DIR/features
  real = cache.get_or_compute(
      {"dataset": fingerprint, "split": "test", "n": 10000, "extractor": extractor.cache_key()},
      lambda: extract_features(extractor, dataset_batches, num_examples=10000))
  real["pool_3"]                                     # [10000, 2048] float32

`extract_features` cuts the input into batches of exactly `batch_size` whatever batches it came in,
so features do not depend on how a dataset or sampler happened to batch its images.
"""

import hashlib
import json
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

from absl import logging
import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir

Features = Dict[str, np.ndarray]
Extractor = Callable[[np.ndarray], Dict[str, Any]]
Images = Union[np.ndarray, tf.Tensor, Iterable[Union[np.ndarray, tf.Tensor]]]


# ------------------------------------------------------------------------------------------------
# Extraction
# ------------------------------------------------------------------------------------------------

def extract_features(extractor: Extractor, images: Images, *, batch_size: int = 64,
                     num_examples: Optional[int] = None) -> Features:
  """Runs `extractor` over `images` in batches of exactly `batch_size` and concatenates.

  Args:
    extractor: callable, array [b, ...] -> {name: array or tensor [b, ...]} (an
      `InceptionExtractor`, `pixel_features`, ...). Called on batches of `batch_size` images, the
      last one possibly smaller.
    images: one array/tensor [N, ...], or an iterable (list, generator, tf.data.Dataset) of
      arrays/tensors [n_i, ...] of any sizes n_i. Iteration stops as soon as `num_examples`
      images are in hand, so an endless generator is fine when `num_examples` is given.
    batch_size: images per extractor call.
    num_examples: keep the first `num_examples` images; None: all of them.

  Returns:
    {name: np.ndarray [num_examples (or N), ...]} with the extractor's names and dtypes.

  Raises:
    ValueError: bad batch_size/num_examples, fewer images than `num_examples`, no images,
      inconsistent batch shapes, or an extractor output whose length differs from its batch.
    TypeError: an input element or extractor output of the wrong type.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size={batch_size}; must be >= 1.")
  if num_examples is not None and num_examples < 1:
    raise ValueError(f"num_examples={num_examples}; must be >= 1 (or None for all images).")
  if isinstance(images, (np.ndarray, tf.Tensor)) and num_examples is not None:
    if images.shape[0] < num_examples:  # Fail before spending any compute.
      raise ValueError(f"num_examples={num_examples} requested but the input had only "
                       f"{images.shape[0]} images.")
  collected: Dict[str, List[np.ndarray]] = {}
  total = 0
  for batch in _rebatch(_as_arrays(images), batch_size, num_examples):
    out = extractor(batch)
    if not isinstance(out, dict) or not out:
      raise TypeError(f"The extractor must return a non-empty dict of arrays, got "
                      f"{type(out).__name__}.")
    if collected and set(out) != set(collected):
      raise ValueError(f"The extractor returned keys {sorted(out)} after {sorted(collected)}.")
    for name, value in out.items():
      value = value.numpy() if isinstance(value, tf.Tensor) else np.asarray(value)
      if value.ndim == 0 or value.shape[0] != batch.shape[0]:
        raise ValueError(f"The extractor's {name!r} has shape {value.shape} for a batch of "
                         f"{batch.shape[0]} images; its first dimension must be the batch.")
      collected.setdefault(name, []).append(value)
    total += batch.shape[0]
  if num_examples is not None and total < num_examples:
    raise ValueError(f"num_examples={num_examples} requested but the input had only {total} "
                     f"images.")
  if not collected:
    raise ValueError("The input held no images.")
  return {name: np.concatenate(parts) for name, parts in collected.items()}


def _as_arrays(images: Images) -> Iterator[np.ndarray]:
  """Yields numpy arrays [n_i, ...] from one array/tensor or an iterable of them."""
  if isinstance(images, (np.ndarray, tf.Tensor)):
    yield _to_numpy(images, 0)
    return
  if isinstance(images, (str, bytes, dict)):
    raise TypeError(f"images must be an array or an iterable of arrays, got "
                    f"{type(images).__name__}.")
  for index, element in enumerate(images):
    if isinstance(element, (dict, tuple)):
      raise TypeError(f"images[{index}] is a {type(element).__name__}; yield image arrays "
                      f"(e.g. map a dataset with `lambda example: example['image']`).")
    yield _to_numpy(element, index)


def _to_numpy(element, index: int) -> np.ndarray:
  array = element.numpy() if isinstance(element, tf.Tensor) else np.asarray(element)
  if array.ndim == 0 or array.dtype == object:
    raise TypeError(f"images[{index}]: expected an array [n, ...], got shape {array.shape} and "
                    f"dtype {array.dtype}.")
  return array


def _rebatch(arrays: Iterator[np.ndarray], batch_size: int,
             limit: Optional[int]) -> Iterator[np.ndarray]:
  """Re-cuts a stream of arrays [n_i, ...] into arrays [batch_size, ...] (the last may be
  smaller), stopping after `limit` rows without pulling another array from the stream."""
  pending: List[np.ndarray] = []
  pending_rows = emitted = 0
  example_shape = None
  for array in arrays:
    if example_shape is None:
      example_shape = array.shape[1:]
    elif array.shape[1:] != example_shape:
      raise ValueError(f"Input batches differ in shape: {example_shape} then {array.shape[1:]} "
                       f"(after the batch dimension).")
    if limit is not None:
      array = array[:limit - emitted - pending_rows]
    if array.shape[0]:
      pending.append(array)
      pending_rows += array.shape[0]
    while pending_rows >= batch_size:
      batch, pending = _take(pending, batch_size)
      pending_rows -= batch_size
      emitted += batch_size
      yield batch
    if limit is not None and emitted + pending_rows >= limit:
      break
  if pending_rows:
    yield pending[0] if len(pending) == 1 else np.concatenate(pending)


def _take(pending: List[np.ndarray], rows: int):
  """Splits the first `rows` rows off a list of arrays: (batch, remaining list)."""
  taken, have = [], 0
  while have < rows:
    head = pending[0]
    need = rows - have
    if head.shape[0] <= need:
      taken.append(head)
      have += head.shape[0]
      pending = pending[1:]
    else:
      taken.append(head[:need])
      pending = [head[need:]] + pending[1:]
      have = rows
  return (taken[0] if len(taken) == 1 else np.concatenate(taken)), pending


def pixel_features(images, *, max_resolution: Optional[int] = None) -> Features:
  """Weight-free features: the images' pixels, flattened.

  Args:
    images: float [N, H, W, C] in [0, 1] (or 2-D points [N, D], returned as they are).
    max_resolution: when H or W exceeds it, average-pool (area resize) to at most
      max_resolution x max_resolution first, keeping memory bounded for large images.

  Returns:
    {"pixels": float32 [N, H*W*C]} (or [N, D] for points).
  """
  array = images.numpy() if isinstance(images, tf.Tensor) else np.asarray(images)
  if array.ndim == 2:
    return {"pixels": array.astype(np.float32)}
  if array.ndim != 4:
    raise ValueError(f"pixel_features: expected images [N, H, W, C] or points [N, D], got shape "
                     f"{array.shape}.")
  array = array.astype(np.float32, copy=False)
  height, width = array.shape[1:3]
  if max_resolution is not None and max(height, width) > max_resolution:
    new_h = max(1, height * max_resolution // max(height, width))
    new_w = max(1, width * max_resolution // max(height, width))
    if height % new_h == 0 and width % new_w == 0:
      fh, fw = height // new_h, width // new_w
      array = array.reshape(array.shape[0], new_h, fh, new_w, fw, -1).mean(axis=(2, 4))
    else:
      array = tf.image.resize(array, [new_h, new_w], method="area").numpy()
  return {"pixels": array.reshape(array.shape[0], -1)}


# ------------------------------------------------------------------------------------------------
# Cache
# ------------------------------------------------------------------------------------------------

def default_feature_cache_dir() -> str:
  """`$COMPARE_GAN_CACHE_DIR/features`, or `~/.cache/compare_gan/features`."""
  return os.path.join(config.cache_root(), "features")


def key_hash(key: dict) -> str:
  """sha256 hex of the canonical JSON of `key` (sorted keys, no spaces, ASCII).

  numpy scalars and arrays are converted to Python numbers and lists; anything else that JSON
  cannot represent raises TypeError naming it. NaN/inf are refused (they have no canonical JSON).
  """
  return hashlib.sha256(canonical_json(key).encode("ascii")).hexdigest()


def canonical_json(key: dict) -> str:
  """The canonical JSON text that `key_hash` hashes."""
  if not isinstance(key, dict):
    raise TypeError(f"A cache key must be a dict, got {type(key).__name__}.")

  def convert(value):
    if isinstance(value, np.generic):
      return value.item()
    if isinstance(value, np.ndarray):
      return value.tolist()
    raise TypeError(f"Cache key value {value!r} of type {type(value).__name__} is not JSON-able.")

  try:
    return json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=convert)
  except ValueError as e:
    raise TypeError(f"Cache key {key!r} is not canonical JSON: {e}.") from e


class FeatureCache:
  """Features on disk, keyed by a JSON-able dict: `<cache_dir>/<sha256>.npz` (+ `.json` key).

  Writes are atomic (temp file + rename), so concurrent writers of the same key are safe (the last
  rename wins with identical content) and readers never see partial files. An unreadable cache
  file is reported with a warning and recomputed.
  """

  def __init__(self, cache_dir: Optional[str] = None):
    self.cache_dir = os.path.abspath(os.path.expanduser(cache_dir or default_feature_cache_dir()))

  def path(self, key: dict) -> str:
    """The `.npz` file that holds (or will hold) the features for `key`."""
    return os.path.join(self.cache_dir, key_hash(key) + ".npz")

  def load(self, key: dict) -> Optional[Features]:
    """The cached features for `key`, or None when absent or unreadable (with a warning)."""
    path = self.path(key)
    if not os.path.exists(path):
      return None
    try:
      with np.load(path, allow_pickle=False) as data:
        features = {name: data[name] for name in data.files}
      if not features:
        raise ValueError("no arrays")
      return features
    except Exception as e:  # noqa: BLE001 -- any unreadable file means "recompute".
      logging.warning("Feature cache file %s is unreadable (%s: %s); recomputing it.", path,
                      type(e).__name__, e)
      return None

  def save(self, key: dict, features: Features) -> str:
    """Writes `features` ({name: array [N, ...]}) for `key` atomically; returns the path."""
    if not isinstance(features, dict) or not features:
      raise TypeError(f"Features must be a non-empty dict of arrays, got "
                      f"{type(features).__name__}.")
    arrays = {}
    for name, value in features.items():
      array = value.numpy() if isinstance(value, tf.Tensor) else np.asarray(value)
      if array.dtype == object:
        raise TypeError(f"Feature {name!r} is not a numeric array (dtype object).")
      arrays[str(name)] = array
    os.makedirs(self.cache_dir, exist_ok=True)
    path = self.path(key)
    run_dir.write_atomically(path, lambda f: np.savez(f, **arrays))
    key_text = json.dumps(json.loads(canonical_json(key)), indent=2, sort_keys=True) + "\n"
    run_dir.write_atomically(path[:-len(".npz")] + ".json",
                                       lambda f: f.write(key_text.encode()))
    return path

  def get_or_compute(self, key: dict, compute: Callable[[], Features]) -> Features:
    """The features for `key` from disk, or `compute()`'s result, which is then saved.

    Args:
      key: JSON-able dict naming everything the features depend on (dataset fingerprint, split,
        n, extractor card, ...).
      compute: returns {name: np.ndarray [N, ...]}.

    Returns:
      {name: np.ndarray}.
    """
    cached = self.load(key)
    if cached is not None:
      return cached
    features = compute()
    self.save(key, features)
    return {name: (value.numpy() if isinstance(value, tf.Tensor) else np.asarray(value))
            for name, value in features.items()}

