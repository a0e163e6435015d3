"""MS-SSIM and the MS-SSIM diversity score (reference `ms_ssim_score.py` + `image_similarity.py`).

MS-SSIM (Wang, Simoncelli & Bovik, 2003) with compare_gan's settings, which are those of
`tf.image.ssim_multiscale` except for one thing: the Gaussian window is clamped to
min(filter_size, H, W) at every scale, so 28..128 px images work (TF asserts H, W >= 11 at the
coarsest scale, i.e. >= 176 px). Per pair of images x, y [H, W, C], at scale s = 0..S-1:

    mu_x = G * x,  E[xy] = G * (x y), ...     (G: 2-D Gaussian window, VALID correlation)
    l  = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    cs = (2 (E[xy] - mu_x mu_y) + C2) / (E[x^2] + E[y^2] - mu_x^2 - mu_y^2 + C2)
    cs_s = mean_hw(cs),  ssim_s = mean_hw(l cs)       (per channel)

with C1 = (k1 max_val)^2, C2 = (k2 max_val)^2 (compensation 1.0, MATLAB's biased covariances).
Between scales both images are 2x2 average-pooled, after repeating the last row / column
(SYMMETRIC padding) where a dimension is odd. Then, per channel,

    MS-SSIM = prod_{s < S-1} relu(cs_s)^w_s * relu(ssim_{S-1})^w_{S-1}

averaged over channels. The window is the MATLAB `fspecial('gaussian')` of the reference
(a softmax of -(i^2 + j^2) / (2 sigma^2)), which is exactly the outer product of the normalised
1-D window; we filter with two banded matrices (two BLAS matmuls) instead of an 11x11 depthwise
convolution, which is the same sum of products in another order.

Everything is float64 numpy: cs subtracts E[xy] from mu_x mu_y, both up to 255^2 = 65025, and
float32 would leave ~4e-3 of absolute error next to C2 = 58.5.

Diversity score (Fedus, Rosca et al. 2017, "Many Paths to Equilibrium", sec. 5.3): the mean
MS-SSIM over all ordered pairs of distinct images in a batch, (sum_{a, b} MS-SSIM - B) / (B^2 - B).
In exact arithmetic MS-SSIM(a, a) = 1 and MS-SSIM(a, b) = MS-SSIM(b, a) (every term above is
symmetric), so this is the mean over the B (B - 1) / 2 unordered pairs a < b, which is all we
compute (the reference computes all B^2 and subtracts B; the two agree to ~1e-15).
"""

from typing import List, Sequence

import numpy as np

from compare_gan.metrics import checks

MSSSIM_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003 (beta_s = gamma_s).

# Pairs filtered per numpy call: bounds memory to ~pairs * H * W * C * 8 bytes * a few temporaries
# (64 pairs of 128x128x3: ~25 MB per temporary; small chunks also stay closer to the caches).
_PAIRS_PER_CHUNK = 64


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
  """Normalised 1-D Gaussian, float64 [size]; outer(w, w) is the reference's 2-D window."""
  coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
  window = np.exp(-0.5 * coords**2 / sigma**2)
  return window / window.sum()


def _valid_filter_matrix(length: int, window: np.ndarray) -> np.ndarray:
  """[length - size + 1, length] matrix M with (M @ v)[i] = sum_k window[k] v[i + k] (VALID)."""
  size = window.shape[0]
  matrix = np.zeros((length - size + 1, length), dtype=np.float64)
  for i in range(length - size + 1):
    matrix[i, i:i + size] = window
  return matrix


def _downsample(images: np.ndarray) -> np.ndarray:
  """2x2 average pooling of [N, C, H, W]; an odd H or W first repeats its last row / column."""
  height, width = images.shape[2:]
  # tf.pad SYMMETRIC by one at the end == repeating the edge (the reference's `do_pad`).
  images = np.pad(images, ((0, 0), (0, 0), (0, height % 2), (0, width % 2)), mode="symmetric")
  n, channels, height, width = images.shape
  blocks = images.reshape(n, channels, height // 2, 2, width // 2, 2)
  return blocks.mean(axis=(3, 5))


class _Scale:
  """One pyramid level of a set of images and their per-image local statistics.

  Images are [N, C, H, W]. Filtered maps are [N, C, W', H'] (spatial axes swapped): they are only
  combined elementwise with each other and averaged over space, and this layout lets both 1-D
  filterings be single GEMMs on contiguous memory with one transposed copy in between. (numpy
  runs a batch of small GEMMs, or a GEMM on strided operands, far slower; with several BLAS
  threads on a busy machine the batched form was 15x slower.)
  """

  def __init__(self, images: np.ndarray, filter_size: int, filter_sigma: float):
    height, width = images.shape[2:]
    # The reference's clamp: min(filter_size, H, W) at this scale.
    window = _gaussian_window(min(filter_size, height, width), filter_sigma)
    self.images = images
    self.rows_t = _valid_filter_matrix(height, window).T  # [H, H']
    self.cols_t = _valid_filter_matrix(width, window).T  # [W, W']
    self.mean = self.filter(images)  # mu_x
    self.mean_sq = self.mean * self.mean  # mu_x^2
    self.var = self.filter(images * images) - self.mean_sq  # E[x^2] - mu_x^2

  def filter(self, images: np.ndarray) -> np.ndarray:
    """VALID Gaussian filtering [N, C, H, W] -> [N, C, W', H'], separably."""
    n, channels, height, width = images.shape
    out = (images.reshape(-1, width) @ self.cols_t).reshape(n, channels, height, -1)
    out = np.ascontiguousarray(out.transpose(0, 1, 3, 2))  # [N, C, W', H]
    out = out.reshape(-1, height) @ self.rows_t
    return out.reshape(n, channels, -1, self.rows_t.shape[1])


def _pyramid(images: np.ndarray, n_scales: int, filter_size: int,
             filter_sigma: float) -> List[_Scale]:
  """Scales 0..n_scales-1 of NHWC `images` (float64)."""
  scales = [_Scale(np.ascontiguousarray(images.transpose(0, 3, 1, 2)), filter_size, filter_sigma)]
  for _ in range(n_scales - 1):
    scales.append(_Scale(_downsample(scales[-1].images), filter_size, filter_sigma))
  return scales


def _pair_ms_ssim(pyr1: List[_Scale], pyr2: List[_Scale], idx1: np.ndarray, idx2: np.ndarray,
                  c1: float, c2: float, power_factors: np.ndarray) -> np.ndarray:
  """MS-SSIM of pairs (pyr1 image idx1[i], pyr2 image idx2[i]), float64 [len(idx1)]."""
  last = len(pyr1) - 1
  ms = np.ones((len(idx1), pyr1[0].images.shape[1]))  # [P, C], prod_s term_s^w_s
  for s, (a, b) in enumerate(zip(pyr1, pyr2)):
    # E[xy] is the only per-pair filtering; the rest are per-image maps gathered per pair.
    # In-place arithmetic: the maps are [P, C, W', H'] and memory traffic dominates.
    covariance = a.filter(a.images[idx1] * b.images[idx2])  # E[xy]
    mu12 = a.mean[idx1]
    mu12 *= b.mean[idx2]
    covariance -= mu12  # E[xy] - mu_x mu_y
    cs_map = np.add(a.var[idx1], b.var[idx2])
    cs_map += c2
    covariance *= 2.0
    covariance += c2
    np.divide(covariance, cs_map, out=cs_map)
    if s == last:
      luminance = np.add(a.mean_sq[idx1], b.mean_sq[idx2])
      luminance += c1
      mu12 *= 2.0
      mu12 += c1
      np.divide(mu12, luminance, out=luminance)
      cs_map *= luminance  # ssim map
    term = cs_map.mean(axis=(2, 3))  # [P, C]
    ms *= np.maximum(term, 0.0)**power_factors[s]  # relu, as the reference.
  return ms.mean(axis=-1)


def _check_settings(filter_size: int, filter_sigma: float, max_val: float,
                    power_factors: Sequence[float]) -> np.ndarray:
  checks.integer_at_least("filter_size", filter_size)
  if not filter_sigma > 0:
    raise ValueError(f"filter_sigma must be > 0; got {filter_sigma!r}.")
  if not max_val > 0:
    raise ValueError(f"max_val must be > 0; got {max_val!r}.")
  factors = np.asarray(power_factors, dtype=np.float64)
  if factors.ndim != 1 or factors.size == 0 or np.any(factors < 0):
    raise ValueError(f"power_factors must be a non-empty 1-D sequence of non-negative weights; "
                     f"got {power_factors!r}.")
  return factors


def _check_images(name: str, images) -> np.ndarray:
  images = np.asarray(images, dtype=np.float64)
  if images.ndim != 4 or min(images.shape) < 1:
    raise ValueError(f"{name} must be a non-empty [N, H, W, C] array; got shape {images.shape}.")
  checks.finite({name: images})
  return images


def ms_ssim(images1: np.ndarray, images2: np.ndarray, *, max_val: float = 255.0,
            filter_size: int = 11, filter_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
            power_factors: Sequence[float] = MSSSIM_POWER_FACTORS) -> np.ndarray:
  """MS-SSIM of aligned pairs, compare_gan's `image_similarity.multiscale_ssim`.

  Args:
    images1: [N, H, W, C] images with values in [0, max_val] (any H, W >= 1).
    images2: [N, H, W, C], same shape; pair i is (images1[i], images2[i]).
    max_val: dynamic range of the pixel values (255 for compare_gan's score).
    filter_size: Gaussian window side, clamped to min(filter_size, H_s, W_s) at each scale s.
    filter_sigma: Gaussian window standard deviation in pixels.
    k1, k2: SSIM stabilisers, C1 = (k1 max_val)^2 and C2 = (k2 max_val)^2.
    power_factors: weight per scale; its length is the number of scales.

  Returns:
    float64 [N] MS-SSIM values in [0, 1] (1 for identical images).
  """
  images1 = _check_images("images1", images1)
  images2 = _check_images("images2", images2)
  if images1.shape != images2.shape:
    raise ValueError(f"images1 and images2 must have the same shape; got {images1.shape} and "
                     f"{images2.shape}.")
  factors = _check_settings(filter_size, filter_sigma, max_val, power_factors)
  c1, c2 = (k1 * max_val)**2, (k2 * max_val)**2
  out = np.empty(images1.shape[0])
  for start in range(0, images1.shape[0], _PAIRS_PER_CHUNK):
    stop = min(start + _PAIRS_PER_CHUNK, images1.shape[0])
    pyr1 = _pyramid(images1[start:stop], factors.size, filter_size, filter_sigma)
    pyr2 = _pyramid(images2[start:stop], factors.size, filter_size, filter_sigma)
    idx = np.arange(stop - start)
    out[start:stop] = _pair_ms_ssim(pyr1, pyr2, idx, idx, c1, c2, factors)
  return out


def pairwise_ms_ssim_score(batch: np.ndarray, *, max_val: float = 255.0,
                           filter_size: int = 11, filter_sigma: float = 1.5, k1: float = 0.01,
                           k2: float = 0.03,
                           power_factors: Sequence[float] = MSSSIM_POWER_FACTORS) -> float:
  """Mean MS-SSIM over all ordered pairs of distinct images of a batch (reference `compute_msssim`).

  (sum_{a, b} MS-SSIM(batch[a], batch[b]) - B) / (B^2 - B), computed over the pairs a < b
  (see the module docstring). Values are used as they are: no rescaling to max_val.

  Args:
    batch: [B, H, W, C] images with values in [0, max_val], B >= 2.
    max_val, filter_size, filter_sigma, k1, k2, power_factors: see `ms_ssim`.

  Returns:
    The score, a float in [0, 1]; lower means a more diverse batch.
  """
  batch = _check_images("batch", batch)
  if batch.shape[0] < 2:
    raise ValueError(f"batch needs at least 2 images to form pairs; got {batch.shape[0]}.")
  factors = _check_settings(filter_size, filter_sigma, max_val, power_factors)
  c1, c2 = (k1 * max_val)**2, (k2 * max_val)**2
  pyr = _pyramid(batch, factors.size, filter_size, filter_sigma)  # Per-image work done once.
  first, second = np.triu_indices(batch.shape[0], k=1)
  total = 0.0
  for start in range(0, first.size, _PAIRS_PER_CHUNK):
    chunk = slice(start, start + _PAIRS_PER_CHUNK)
    total += _pair_ms_ssim(pyr, pyr, first[chunk], second[chunk], c1, c2, factors).sum()
  return float(total / first.size)


def ms_ssim_score(images: np.ndarray, *, batch_size: int = 64, num_batches: int = 5,
                  seed: int = 0) -> float:
  """compare_gan's MS-SSIM diversity score (label `ms_ssim`) of generated images.

  Per batch b = 0..num_batches-1: batch_size images drawn without replacement with
  `np.random.default_rng([seed, b])`, scaled to [0, 255], scored by `pairwise_ms_ssim_score`
  (max_val 255, window 11, sigma 1.5, 5 scales); the result is the mean over batches.
  The reference draws its 5 batches from a `tf.train.shuffle_batch` queue (unseeded, capacity
  1024): every batch is likewise a uniform draw without replacement, but batches here are
  independent, so two batches may share images.

  Compare the number with the same score of real images: lower means more diverse.
  Cost (CPU, numpy, one core): ~0.6 s at 32x32x3, ~4.5 s at 64x64x3, ~27 s at 128x128x3 with
  the defaults (5 x 2016 pairs).

  Args:
    images: float [N, H, W, C] in [0, 1], N >= batch_size; any H, W (28, 32, 64, 128 px...).
    batch_size: images per batch (reference 64), >= 2.
    num_batches: batches to average (reference 5, Fedus et al. sec. 5.3), >= 1.
    seed: non-negative integer seed of the batch draws.

  Returns:
    The mean score, a float in [0, 1].
  """
  images = _check_images("images", images)
  if images.min() < 0.0 or images.max() > 1.0:
    raise ValueError(f"images must be in [0, 1] (they are scaled by 255 for max_val 255); got "
                     f"values in [{images.min()}, {images.max()}].")
  checks.integer_at_least("batch_size", batch_size, 2)
  checks.integer_at_least("num_batches", num_batches)
  if images.shape[0] < batch_size:
    raise ValueError(f"Need at least batch_size = {batch_size} images; got {images.shape[0]}.")
  checks.non_negative_integer("seed", seed)
  scores = []
  for b in range(int(num_batches)):
    rng = np.random.default_rng([int(seed), b])
    picked = rng.choice(images.shape[0], size=int(batch_size), replace=False)
    scores.append(pairwise_ms_ssim_score(images[np.sort(picked)] * 255.0, max_val=255.0))
  return float(np.mean(scores))
