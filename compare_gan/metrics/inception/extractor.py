"""The running 2015-12-05 Inception network: image checks, preprocessing, fixed-batch extraction.

Images go through the preprocessing of compare_gan / TTUR, so that scores are comparable with the
papers:

  images float32 [N, H, W, 1|3] in [0, 1]
    -> x255 (not quantised; `quantize=True` rounds to the 8-bit levels of PNG files / clean-fid)
    -> grey tiled to 3 channels
    -> TF1 bilinear resize to 299x299 (`ResizeBilinear`, align_corners=False,
       half_pixel_centers=False; TF2's `tf.image.resize` uses half-pixel centres and changes FID)
    -> (x - 128) / 128, i.e. [-1, 1]
    -> network -> pool_3 [N, 2048] (FID/KID features), logits [N, 1008] (IS).

The network itself comes from `weights.load_inception` (finding, downloading, verifying and
loading the weights file), which returns an `InceptionExtractor`.
"""

from typing import Callable, Dict, Tuple

import numpy as np
import tensorflow as tf

from compare_gan.metrics import results

EXTRACTOR_ID = "inception-2015-12-05"

INPUT_SIZE = 299
POOL_3_DIM = 2048
LOGITS_DIM = 1008
RANGE_TOLERANCE = 1e-3  # Inputs may leave [0, 1] by this much (float error); they are clipped.
DEFAULT_BATCH_SIZE = 64  # compare_gan v3's `inception_transform_np` batch.

CARD_KEYS = ("extractor", "loader", "graph", "source", "weights_file", "weights_bytes",
             "weights_sha256", "archive", "input", "resize", "normalization", "quantize", "pool_3",
             "logits")

# Network: float32 [b, 299, 299, 3] in [-1, 1] -> (pool_3 [b, ...2048], logits [b, 1008]).
Network = Callable[[tf.Tensor], Tuple[tf.Tensor, tf.Tensor]]


# Defined here rather than in weights.py: the extractor raises it too (outputs whose widths are not
# the Inception network's), and weights.py imports this module, never the other way round.
class InceptionWeightsCorrupt(ValueError):
  """A weights file exists but cannot be read as the Inception network (truncated, wrong file)."""


# ------------------------------------------------------------------------------------------------
# Preprocessing
# ------------------------------------------------------------------------------------------------

def validate_images(images, name: str = "images") -> np.ndarray:
  """Checks images for the Inception network and returns them as float32 clipped to [0, 1].

  Args:
    images: float array or tensor [N, H, W, C], C in {1, 3}, values in [0, 1] (a tolerance of
      `RANGE_TOLERANCE` is allowed for float error).
    name: what to call the input in error messages.

  Returns:
    np.ndarray float32 [N, H, W, C] in [0, 1].

  Raises:
    ValueError: wrong rank, channel count, dtype, NaN/inf values or values outside [0, 1].
  """
  array = images.numpy() if isinstance(images, tf.Tensor) else np.asarray(images)
  if array.ndim != 4:
    raise ValueError(f"{name}: expected NHWC images [N, H, W, C], got shape {array.shape}.")
  if array.shape[-1] not in (1, 3):
    raise ValueError(f"{name}: expected 1 (grey) or 3 (RGB) channels, got {array.shape[-1]} "
                     f"(shape {array.shape}).")
  if not np.issubdtype(array.dtype, np.floating):
    raise ValueError(f"{name}: expected float images in [0, 1], got dtype {array.dtype}; "
                     f"convert 8-bit images with `images.astype(np.float32) / 255`.")
  array = array.astype(np.float32, copy=False)
  finite = np.isfinite(array)
  if not finite.all():
    num_nan = int(np.isnan(array).sum())
    num_inf = int(array.size - finite.sum() - num_nan)
    raise ValueError(f"{name}: {num_nan} NaN and {num_inf} infinite values among {array.size} "
                     f"(shape {array.shape}); the generator probably diverged.")
  if array.size:
    low, high = float(array.min()), float(array.max())
    if low < -RANGE_TOLERANCE or high > 1 + RANGE_TOLERANCE:
      raise ValueError(f"{name}: values must lie in [0, 1], got min {low:.6g} and max {high:.6g}; "
                       f"map generator outputs in [-1, 1] with (x + 1) / 2.")
  return np.clip(array, 0.0, 1.0)


def preprocess_for_inception(images: tf.Tensor, quantize: bool = False) -> tf.Tensor:
  """Maps [0, 1] images to the Inception network's input, as compare_gan and TTUR do.

  Args:
    images: float32 [N, H, W, C] in [0, 1], C in {1, 3} (not checked here; see
      `validate_images`).
    quantize: round x255 to integer levels (round half up, like a uint8 cast of x*255+0.5), as
      for images read from 8-bit PNG files; compare_gan does not.

  Returns:
    float32 [N, 299, 299, 3] in [-1, 1].
  """
  x = tf.clip_by_value(tf.cast(images, tf.float32), 0.0, 1.0) * 255.0
  if quantize:
    x = tf.floor(x + 0.5)
  if x.shape[-1] == 1:
    x = tf.tile(x, [1, 1, 1, 3])
  x = tf.raw_ops.ResizeBilinear(images=x, size=[INPUT_SIZE, INPUT_SIZE], align_corners=False,
                                half_pixel_centers=False)
  return (x - 128.0) / 128.0


# ------------------------------------------------------------------------------------------------
# The extractor
# ------------------------------------------------------------------------------------------------

class InceptionExtractor:
  """Runs [0, 1] images through the Inception network with a fixed internal batch.

  `extractor(images)` takes float32 [b, H, W, 1|3] in [0, 1] (any b and size) and returns
  {"pool_3": np.ndarray float32 [b, 2048], "logits": np.ndarray float32 [b, 1008]}. Batches are
  padded to `batch_size`, so every call runs the same compiled computation.
  """

  def __init__(self, network: Network, card: dict, *, batch_size: int = DEFAULT_BATCH_SIZE,
               quantize: bool = False):
    if batch_size < 1:
      raise ValueError(f"batch_size={batch_size}; must be >= 1.")
    self._network = network
    card = dict(card, quantize=bool(quantize))
    self._card = {k: card[k] for k in CARD_KEYS if k in card}
    self._card.update({k: v for k, v in card.items() if k not in self._card})
    self.batch_size = int(batch_size)
    self.quantize = bool(quantize)
    self._run = tf.function(self._forward)

  def _forward(self, images: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    pool_3, logits = self._network(preprocess_for_inception(images, self.quantize))
    return (tf.reshape(pool_3, [self.batch_size, -1]),
            tf.reshape(logits, [self.batch_size, -1]))

  def __call__(self, images) -> Dict[str, np.ndarray]:
    """images: float [b, H, W, 1|3] in [0, 1] -> {"pool_3": [b, 2048], "logits": [b, 1008]}."""
    array = validate_images(images)
    count = array.shape[0]
    pools, logits = [], []
    for start in range(0, count, self.batch_size):
      chunk = array[start:start + self.batch_size]
      real = chunk.shape[0]
      if real < self.batch_size:
        padding = np.zeros((self.batch_size - real,) + chunk.shape[1:], np.float32)
        chunk = np.concatenate([chunk, padding])
      pool_out, logits_out = self._run(tf.constant(chunk))
      pools.append(pool_out.numpy()[:real])
      logits.append(logits_out.numpy()[:real])
    if not pools:
      return {"pool_3": np.zeros([0, POOL_3_DIM], np.float32),
              "logits": np.zeros([0, LOGITS_DIM], np.float32)}
    out = {"pool_3": np.concatenate(pools).astype(np.float32, copy=False),
           "logits": np.concatenate(logits).astype(np.float32, copy=False)}
    if out["pool_3"].shape[1] != POOL_3_DIM or out["logits"].shape[1] != LOGITS_DIM:
      raise InceptionWeightsCorrupt(
          f"{self._card.get('weights_file')}: the network gave pool_3 of width "
          f"{out['pool_3'].shape[1]} and logits of width {out['logits'].shape[1]}; the 2015-12-05 "
          f"Inception network gives {POOL_3_DIM} and {LOGITS_DIM}.")
    return out

  def card(self) -> dict:
    """What identifies these features (goes into protocol cards and feature-cache keys).

    Keys (`CARD_KEYS`): extractor, loader, graph, source, weights_file, weights_bytes,
    weights_sha256, archive (tarballs only), input, resize, normalization, quantize, pool_3,
    logits.
    """
    return dict(self._card)

  def cache_key(self) -> dict:
    """The card without local paths: equal for equal weights wherever the file lies."""
    return {k: v for k, v in self._card.items() if k not in results.LOCATION_KEYS}

  def __repr__(self) -> str:
    return (f"InceptionExtractor(loader={self._card['loader']!r}, "
            f"weights_file={self._card['weights_file']!r}, batch_size={self.batch_size}, "
            f"quantize={self.quantize})")

