"""Sliced Wasserstein-1 distance: a weight-free distance between two sample sets.

For the built-in data sets (convex polygons, 2-D Gaussian mixtures) there is no pretrained
feature extractor, so we compare raw vectors: images are flattened to [N, H*W*C], mixture points
are already [N, 2]. The sliced Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015)
averages 1-D Wasserstein distances between projections onto random unit directions theta_l:

    SW_1(X, Y) = (1/L) sum_l W_1(<X, theta_l>, <Y, theta_l>)

p = 1, by choice: the result is in the units of the data (a shift of the whole set by c along
a line moves every projection by |<c, theta>|, so in 1-D SW_1 is exactly |c|), and W_1 between
empirical measures is exact and cheap (no square roots of averaged squares). Note the
expectation over theta of |<c, theta>| is ||c|| E|theta_1|, which shrinks like sqrt(2/(pi D)) in
D dimensions: compare SW_1 values only between runs with the same data dimension.

The 1-D W_1 between empirical distributions with n and m samples is the integral over t in
(0, 1] of |F^-1(t) - G^-1(t)|, where the quantile functions are step functions: F^-1 equals the
i-th smallest sample on ((i-1)/n, i/n]. Both are constant between consecutive points of
{i/n} U {j/m}, so the integral is an exact finite sum; with n == m it is mean |sort(x) - sort(y)|.
Unequal sizes are therefore handled exactly (no interpolation, no resampling).

This is *not* ProGAN's "SWD" (Karras et al. 2018), which slices 7x7 Laplacian-pyramid patches.
"""

import math
from typing import Tuple

import numpy as np

from compare_gan.metrics import checks

# Rows projected per GEMM: bounds the float64 copy of a block to rows * D * 8 bytes
# (1024 flattened 64x64x3 images: 100 MB).
_ROWS_PER_BLOCK = 1024


def random_directions(dim: int, num_projections: int, seed: int) -> np.ndarray:
  """Unit vectors uniform on the sphere S^{dim-1}, float64 [num_projections, dim] (seeded)."""
  directions = np.random.default_rng([int(seed), int(dim)]).standard_normal((num_projections, dim))
  norms = np.linalg.norm(directions, axis=1, keepdims=True)
  # A zero Gaussian vector has probability 0, but a 1-D draw of exactly 0.0 would divide by 0.
  return directions / np.where(norms > 0, norms, 1.0)


def _project(samples: np.ndarray, directions: np.ndarray) -> np.ndarray:
  """Sorted projections, float64 [num_projections, N]."""
  out = np.empty((directions.shape[0], samples.shape[0]))
  for start in range(0, samples.shape[0], _ROWS_PER_BLOCK):
    block = np.asarray(samples[start:start + _ROWS_PER_BLOCK], dtype=np.float64)
    out[:, start:start + block.shape[0]] = directions @ block.T
  out.sort(axis=1)
  return out


def _quantile_steps(n: int, m: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(weights [K], index into the n sorted samples [K], index into the m sorted samples [K]).

  Interval k of the merged grid {i/n} U {j/m} has length weights[k]; on it the quantile functions
  take the sorted samples at the given indices. Integer arithmetic on a common denominator
  lcm(n, m), so interval ends are exact.
  """
  common = n * m // math.gcd(n, m)
  ends = np.union1d(np.arange(1, n + 1, dtype=np.int64) * (common // n),
                    np.arange(1, m + 1, dtype=np.int64) * (common // m))  # Sorted, last = common.
  starts = np.concatenate([[0], ends[:-1]])
  # On (start, end] the quantile of n samples is sample ceil(end * n / common) - 1 (0-based).
  index_n = (ends - 1) // (common // n)
  index_m = (ends - 1) // (common // m)
  return (ends - starts) / common, index_n, index_m


def sliced_wasserstein_distance(real: np.ndarray, fake: np.ndarray, *, num_projections: int = 256,
                                seed: int = 0) -> float:
  """Sliced Wasserstein-1 distance between two sample sets (see the module docstring).

  Args:
    real: [N, ...] samples (images [N, H, W, C] or points [N, D]); flattened to [N, D].
    fake: [M, ...] samples with the same trailing shape; M may differ from N.
    num_projections: random directions L >= 1 (the estimate's spread shrinks like 1/sqrt(L)).
    seed: non-negative integer; directions depend only on (seed, D), so two calls with the same
      seed and data dimension use the same directions (the metric is then deterministic and
      symmetric in real and fake).

  Returns:
    SW_1 >= 0 as a float, in the units of the data.
  """
  real = np.asarray(real)
  fake = np.asarray(fake)
  if real.ndim < 2 or fake.ndim < 2 or real.shape[1:] != fake.shape[1:]:
    raise ValueError(f"real and fake must be [N, ...] arrays with the same trailing shape (e.g. "
                     f"[N, D] or [N, H, W, C]); got shapes {real.shape} and {fake.shape}.")
  if real.shape[0] < 1 or fake.shape[0] < 1:
    raise ValueError(f"real and fake must each hold at least one sample; got shapes {real.shape} "
                     f"and {fake.shape}.")
  checks.integer_at_least("num_projections", num_projections)
  checks.non_negative_integer("seed", seed)
  real = real.reshape(real.shape[0], -1)
  fake = fake.reshape(fake.shape[0], -1)
  checks.finite({"real": real, "fake": fake})

  directions = random_directions(real.shape[1], int(num_projections), int(seed))
  real_sorted = _project(real, directions)  # [L, N]
  fake_sorted = _project(fake, directions)  # [L, M]
  if real.shape[0] == fake.shape[0]:
    per_direction = np.abs(real_sorted - fake_sorted).mean(axis=1)
  else:
    weights, index_real, index_fake = _quantile_steps(real.shape[0], fake.shape[0])
    gaps = np.abs(real_sorted[:, index_real] - fake_sorted[:, index_fake])  # [L, K]
    per_direction = gaps @ weights
  return float(per_direction.mean())
