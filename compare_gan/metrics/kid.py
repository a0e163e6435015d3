"""Kernel Inception Distance (Binkowski et al., 2018, "Demystifying MMD GANs", arXiv:1801.01401).

KID is the unbiased estimate of the squared MMD between the feature distributions of real and
generated images, with the polynomial kernel k(x, y) = (gamma x.y + coef0)^degree (paper: degree 3,
gamma = 1/d, coef0 = 1; d = 2048 for Inception pool_3). For X [m, d] and Y [n, d] (eq. 3, the
`mmd_est='unbiased'` variant of the paper's code):

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (n (n-1))
              - 2 sum_{i, j} k(x_i, y_j) / (m n)

It is unbiased, so it can be (slightly) negative; it is never clamped. KID is often reported x 1e3.

Two estimators over many small sets (a 50k x 50k kernel matrix would not fit in memory):

* "blocks" (default): TF-GAN's `kernel_classifier_distance_and_std_from_activations` and
  compare_gan's `kid_score` (after Bounliphone et al., 2016): both sets are cut into
  n_blocks = ceil(max(n_r, n_g) / max_block_size) contiguous blocks of nearly equal size, smaller
  blocks first, so every sample is used exactly once; block i of the real set is paired with
  block i of the generated set. Deterministic, so the inputs should be in random order.
  compare_gan's copy has two indexing slips (the generated block sizes are trimmed with the *real*
  block size, `bins_g[:(n_bins * bins_r[0]) - n_gen] -= 1`, and the generated block's length is
  taken from the real one, `n = r_e - r_s`); both are harmless when n_r == n_g and are not
  reproduced here, so n_r != n_g is handled correctly.
* "subsets": Binkowski's `compute_scores.py` / torch-fidelity's `kid_features_to_metric`:
  num_subsets random subsets of subset_size samples each, drawn without replacement within a
  subset (`RandomState(seed).choice(n, m, replace=False)`, first for the real set then for the
  generated one, subset after subset, as torch-fidelity).

Both return a `KernelDistance` of the per-block / per-subset estimates e_1..e_n:

* mean: KID, the mean of the e_i;
* std: np.std(e) (ddof = 0), torch-fidelity's `kernel_inception_distance_std`: the spread of a
  single block's (subset's) estimate, not an uncertainty of the mean;
* stderr: compare_gan's `kid(..., return_stderr=True)`: sqrt(var(e) / n) with tf.nn.moments'
  population variance (ddof = 0), i.e. std / sqrt(n), and NaN when n < 5 (too few blocks for a
  variance). TF-GAN's "std" output is sqrt(var_ddof1 / n) = std / sqrt(n - 1) instead.
"""

import math
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

ESTIMATORS = ("blocks", "subsets")
# compare_gan's `kid` reports no standard error below this many blocks.
MIN_ESTIMATES_FOR_STDERR = 5


class KernelDistance(NamedTuple):
  """KID and the spread of its per-block / per-subset estimates (see the module docstring)."""
  mean: float
  std: float     # np.std of the estimates (ddof 0), torch-fidelity's KID std
  stderr: float  # std / sqrt(n), compare_gan's standard error; NaN for fewer than 5 estimates


def polynomial_kernel(x: np.ndarray, y: np.ndarray, *, degree: int = 3,
                      gamma: Optional[float] = None, coef0: float = 1.0) -> np.ndarray:
  """Polynomial kernel matrix K[i, j] = (gamma x_i . y_j + coef0)^degree, in float64.

  Args:
    x: [m, d] features.
    y: [n, d] features.
    degree: power (KID: 3); positive integers are computed by exact repeated products.
    gamma: scale of the dot product; None means 1 / d (KID's default).
    coef0: additive constant (KID: 1).

  Returns:
    [m, n] float64 kernel matrix.
  """
  x = np.asarray(x, dtype=np.float64)
  y = np.asarray(y, dtype=np.float64)
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
    raise ValueError(f"x and y must be 2-D [m, d] and [n, d] arrays with the same d; got shapes "
                     f"{x.shape} and {y.shape}.")
  if gamma is None:
    gamma = 1.0 / x.shape[1]
  # x @ x.T on one buffer runs as BLAS syrk (half the flops); the pow works in place.
  k = x @ x.T if y is x else x @ y.T
  k *= gamma
  k += coef0
  if isinstance(degree, (int, np.integer)) and degree >= 1:
    # Repeated multiplication: np.power with a float base calls libm pow, ~10x slower.
    base = k.copy() if degree > 1 else k
    for _ in range(degree - 1):
      k *= base
    return k
  return np.power(k, degree, out=k)


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
  """Unbiased MMD^2 from kernel matrices (Binkowski et al., 2018, eq. 3; Gretton et al., 2012).

  The diagonals of k_xx and k_yy (k(x_i, x_i)) are excluded; the cross term keeps i == j.

  Args:
    k_xx: [m, m] kernel matrix of X with itself, m >= 2.
    k_yy: [n, n] kernel matrix of Y with itself, n >= 2.
    k_xy: [m, n] kernel matrix between X and Y.

  Returns:
    The estimate as a Python float (float64 maths); may be negative.
  """
  k_xx = np.asarray(k_xx, dtype=np.float64)
  k_yy = np.asarray(k_yy, dtype=np.float64)
  k_xy = np.asarray(k_xy, dtype=np.float64)
  m, n = k_xx.shape[0], k_yy.shape[0]
  if k_xx.shape != (m, m) or k_yy.shape != (n, n) or k_xy.shape != (m, n):
    raise ValueError(f"Expected k_xx [m, m], k_yy [n, n], k_xy [m, n]; got shapes {k_xx.shape}, "
                     f"{k_yy.shape}, {k_xy.shape}.")
  if m < 2 or n < 2:
    raise ValueError(f"The unbiased estimator needs at least 2 samples per set; got m={m}, n={n}.")
  sum_xx = k_xx.sum() - np.trace(k_xx)
  sum_yy = k_yy.sum() - np.trace(k_yy)
  return float(sum_xx / (m * (m - 1)) + sum_yy / (n * (n - 1)) - 2.0 * k_xy.sum() / (m * n))


def _mmd2_sets(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> float:
  """Unbiased MMD^2 between two small sets X [m, d] and Y [n, d].

  One Gram matrix of the stacked [X; Y] (a syrk: (m+n)^2 d / 2 multiply-adds, versus
  (m^2 + n^2 + mn) d for three separate products) holds all three kernel blocks.
  """
  z = np.concatenate([x, y]).astype(np.float64, copy=False)
  k = polynomial_kernel(z, z, degree=degree, gamma=gamma, coef0=coef0)
  m = x.shape[0]
  return mmd2_unbiased(k[:m, :m], k[m:, m:], k[:m, m:])


def _block_bounds(n: int, n_blocks: int) -> List[Tuple[int, int]]:
  """[start, end) of n_blocks contiguous blocks of n rows, sizes differing by <= 1, smaller first.

  Same partition as TF-GAN: every block gets ceil(n / n_blocks) rows, then the first
  n_blocks * ceil(n / n_blocks) - n blocks give one back (e.g. n=10, 3 blocks -> 3, 3, 4).
  """
  size = math.ceil(n / n_blocks)
  sizes = np.full(n_blocks, size)
  sizes[:n_blocks * size - n] -= 1
  ends = np.cumsum(sizes)
  return [(int(end - size), int(end)) for size, end in zip(sizes, ends)]


def kernel_distance(real_features: np.ndarray, fake_features: np.ndarray, *,
                    estimator: str = "blocks", max_block_size: int = 1024,
                    num_subsets: int = 100, subset_size: int = 1000, seed: int = 2020,
                    degree: int = 3, gamma: Optional[float] = None,
                    coef0: float = 1.0) -> KernelDistance:
  """KID between two feature sets: mean, std and standard error of unbiased MMD^2 estimates
  (see the module docstring).

  Args:
    real_features: [n_r, d] features of real images (e.g. Inception pool_3, d = 2048).
    fake_features: [n_g, d] features of generated images.
    estimator: "blocks" (TF-GAN / compare_gan) or "subsets" (Binkowski / torch-fidelity).
    max_block_size: "blocks" only: the largest block; n_blocks = ceil(max(n_r, n_g) / this).
    num_subsets: "subsets" only: how many random subsets.
    subset_size: "subsets" only: samples per subset, from each set.
    seed: "subsets" only: seed of the `np.random.RandomState` that draws the subsets.
    degree: polynomial kernel degree.
    gamma: polynomial kernel scale; None means 1 / d.
    coef0: polynomial kernel constant.

  Returns:
    KernelDistance(mean, std, stderr) over blocks or subsets, Python floats: std uses ddof = 0
    (0.0 for one block); stderr = std / sqrt(n), NaN for fewer than 5 blocks or subsets.

  Raises:
    ValueError: on an unknown estimator, malformed features, different feature dimensions,
      blocks of fewer than 2 samples, or sets smaller than subset_size.
  """
  if estimator not in ESTIMATORS:
    raise ValueError(f"Unknown KID estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}.")
  real_features = np.asarray(real_features)
  fake_features = np.asarray(fake_features)
  for name, x in (("real_features", real_features), ("fake_features", fake_features)):
    if x.ndim != 2:
      raise ValueError(f"{name} must be a 2-D [n, d] array; got shape {x.shape}.")
    if not np.isfinite(x).all():
      raise ValueError(f"{name} contain {int((~np.isfinite(x)).sum())} NaN or infinite values; "
                       "all values must be finite.")
  (n_r, d), (n_g, d_g) = real_features.shape, fake_features.shape
  if d != d_g:
    raise ValueError(f"real_features and fake_features have different feature dimensions: "
                     f"{real_features.shape} vs {fake_features.shape}.")
  if gamma is None:
    gamma = 1.0 / d

  estimates = []
  if estimator == "blocks":
    if max_block_size < 2:
      raise ValueError(f"max_block_size must be >= 2; got {max_block_size}.")
    n_blocks = math.ceil(max(n_r, n_g) / max_block_size)
    if min(n_r, n_g) < 2 * n_blocks:
      raise ValueError(f"{n_blocks} blocks (max_block_size={max_block_size}, max(n_r, n_g)="
                       f"{max(n_r, n_g)}) need at least {2 * n_blocks} samples per set for 2 per "
                       f"block; got n_r={n_r}, n_g={n_g}.")
    for (r_s, r_e), (g_s, g_e) in zip(_block_bounds(n_r, n_blocks), _block_bounds(n_g, n_blocks)):
      estimates.append(_mmd2_sets(real_features[r_s:r_e], fake_features[g_s:g_e], degree, gamma,
                                  coef0))
  else:
    if subset_size < 2 or num_subsets < 1:
      raise ValueError(f"Need subset_size >= 2 and num_subsets >= 1; got subset_size="
                       f"{subset_size}, num_subsets={num_subsets}.")
    if min(n_r, n_g) < subset_size:
      raise ValueError(f"subset_size={subset_size} is larger than a feature set: n_r={n_r}, "
                       f"n_g={n_g}; lower subset_size or provide more samples.")
    rng = np.random.RandomState(seed)
    for _ in range(num_subsets):
      real_idx = rng.choice(n_r, subset_size, replace=False)
      fake_idx = rng.choice(n_g, subset_size, replace=False)
      estimates.append(_mmd2_sets(real_features[real_idx], fake_features[fake_idx], degree,
                                  gamma, coef0))
  estimates = np.asarray(estimates, dtype=np.float64)
  std = float(estimates.std())
  n = len(estimates)
  stderr = std / math.sqrt(n) if n >= MIN_ESTIMATES_FOR_STDERR else math.nan
  return KernelDistance(float(estimates.mean()), std, stderr)
