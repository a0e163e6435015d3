"""k-NN manifold metrics: improved precision & recall, density & coverage.

Improved precision and recall (Kynkaenniemi et al. 2019, "Improved Precision and Recall Metric
for Assessing Generative Models", arXiv:1904.06991, eq. 1-2): the manifold of a set of features
is the union of balls B(phi, r_k(phi)), with r_k(phi) the distance from phi to its k-th nearest
neighbour in the same set, the point itself excluded (paper: k = 3, VGG-16 fc2, 50k per side).

    precision = (1/M) sum_j 1[ exists i: ||fake_j - real_i|| <= r_k(real_i) ]
    recall    = (1/N) sum_i 1[ exists j: ||real_i - fake_j|| <= r_k(fake_j) ]

`<=` as the official code (squared distances, `distance <= D`) and torch-fidelity.

Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
Models", arXiv:2002.09797, eq. 3-4; `prdc` package), real radii only, strict `<` as prdc:

    density  = 1/(k M) sum_j sum_i 1[ ||real_i - fake_j|| < r_k(real_i) ]
    coverage = (1/N) sum_i 1[ min_j ||real_i - fake_j|| < r_k(real_i) ]

The two comparisons differ only on exact ties, which the tests exercise.

Distances are computed in float64 as squared distances ||a||^2 + ||b||^2 - 2 a.b (one GEMM per
block of rows, `batch_size` rows at a time, so memory is O(batch_size * max(N, M)) on top of the
float64 copies of the inputs), after subtracting the real set's mean from both sets: distances
do not change, and centred vectors have smaller norms, hence less cancellation. Radii are kept
squared, so no square roots round the comparisons. Cost: three (N or M)^2 * D GEMMs for
precision & recall (real-real, fake-fake, real-fake), two for density & coverage. Measured at
10k x 10k x 2048 on a busy 2-core CPU: ~45 s and ~28 s, ~0.65 GB of numpy allocations at peak
(mostly the float64 copies of the inputs), with the default batch_size.
"""

from typing import Iterator, Tuple

import numpy as np

from compare_gan.metrics import checks

_DEFAULT_BATCH = 1024  # 1024 x 10k float64 blocks: 80 MB each.


def _check_features(real_features, fake_features, k: int,
                    batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
  """float64 copies of the two sets, centred on the real mean, after the shape checks."""
  real, fake = checks.feature_sets("real_features", real_features, "fake_features",
                                   fake_features)
  checks.integer_at_least("k", k)
  checks.integer_at_least("batch_size", batch_size)
  checks.finite({"real_features": real, "fake_features": fake})
  center = real.mean(axis=0) if real.shape[0] else 0.0
  return real - center, fake - center


def _require_neighbours(name: str, features: np.ndarray, k: int):
  if features.shape[0] < k + 1:
    raise ValueError(f"{name} needs at least k + 1 = {k + 1} points (k neighbours besides the "
                     f"point itself); got {features.shape[0]}.")


def _squared_norms(x: np.ndarray) -> np.ndarray:
  return np.einsum("ij,ij->i", x, x)


def _distance_blocks(rows: np.ndarray, cols: np.ndarray,
                     batch_size: int) -> Iterator[Tuple[slice, np.ndarray]]:
  """Yields (row slice, squared distances [b, len(cols)] >= 0) for blocks of `rows`."""
  col_norms = _squared_norms(cols)
  for start in range(0, rows.shape[0], batch_size):
    block = slice(start, min(start + batch_size, rows.shape[0]))
    d2 = rows[block] @ cols.T
    d2 *= -2.0
    d2 += _squared_norms(rows[block])[:, None]
    d2 += col_norms[None, :]
    np.maximum(d2, 0.0, out=d2)  # Rounding can make a (near-)zero distance slightly negative.
    yield block, d2


def knn_radii_squared(features: np.ndarray, k: int, batch_size: int = _DEFAULT_BATCH) -> np.ndarray:
  """Squared distance from each point to its k-th nearest neighbour in the set, self excluded.

  Args:
    features: float64 [N, D], N >= k + 1.
    k: neighbour rank, >= 1 (duplicates count: a duplicate is a neighbour at distance 0).
    batch_size: rows per distance block.

  Returns:
    float64 [N] squared radii.
  """
  radii = np.empty(features.shape[0])
  for block, d2 in _distance_blocks(features, features, batch_size):
    rows = np.arange(d2.shape[0])
    d2[rows, block.start + rows] = 0.0  # Self at exactly 0: sorted index k = k-th other point.
    radii[block] = np.partition(d2, k, axis=1)[:, k]
  return radii


def improved_precision_recall(real_features: np.ndarray, fake_features: np.ndarray, *, k: int = 3,
                              batch_size: int = _DEFAULT_BATCH) -> Tuple[float, float]:
  """Improved precision and recall (Kynkaenniemi et al. 2019) with `<=` on the radii.

  Args:
    real_features: [N, D] features of real samples, N >= k + 1.
    fake_features: [M, D] features of generated samples, M >= k + 1.
    k: neighbourhood size (paper: 3).
    batch_size: rows per distance block; memory ~ 3 * batch_size * max(N, M) * 8 bytes.

  Returns:
    (precision, recall), floats in [0, 1].
  """
  real, fake = _check_features(real_features, fake_features, k, batch_size)
  _require_neighbours("real_features", real, k)
  _require_neighbours("fake_features", fake, k)
  real_radii = knn_radii_squared(real, k, batch_size)
  fake_radii = knn_radii_squared(fake, k, batch_size)
  fake_in_real = np.zeros(fake.shape[0], dtype=bool)
  real_in_fake = np.zeros(real.shape[0], dtype=bool)
  for block, d2 in _distance_blocks(fake, real, batch_size):  # d2[j, i] = |fake_j - real_i|^2
    fake_in_real[block] = np.any(d2 <= real_radii[None, :], axis=1)
    real_in_fake |= np.any(d2 <= fake_radii[block, None], axis=0)
  return float(fake_in_real.mean()), float(real_in_fake.mean())


def density_coverage(real_features: np.ndarray, fake_features: np.ndarray, *, k: int = 5,
                     batch_size: int = _DEFAULT_BATCH) -> Tuple[float, float]:
  """Density and coverage (Naeem et al. 2020) with strict `<` on the real radii.

  Args:
    real_features: [N, D] features of real samples, N >= k + 1.
    fake_features: [M, D] features of generated samples, M >= 1.
    k: neighbourhood size (Naeem et al.: 5, with 10k samples per side).
    batch_size: rows per distance block; memory ~ 3 * batch_size * max(N, M) * 8 bytes.

  Returns:
    (density, coverage): density >= 0 (it is 1 in expectation when fake ~ real, and may exceed
    1), coverage in [0, 1].
  """
  real, fake = _check_features(real_features, fake_features, k, batch_size)
  _require_neighbours("real_features", real, k)
  if fake.shape[0] < 1:
    raise ValueError(f"fake_features must hold at least one point; got shape {fake.shape}.")
  real_radii = knn_radii_squared(real, k, batch_size)
  inside_count = 0
  nearest_fake = np.full(real.shape[0], np.inf)  # min_j |real_i - fake_j|^2
  for _, d2 in _distance_blocks(fake, real, batch_size):
    inside_count += int(np.count_nonzero(d2 < real_radii[None, :]))
    np.minimum(nearest_fake, d2.min(axis=0), out=nearest_fake)
  density = inside_count / (k * fake.shape[0])
  coverage = float(np.mean(nearest_fake < real_radii))
  return float(density), coverage
