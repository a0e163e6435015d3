"""k-means: k-means++ seeding (Arthur & Vassilvitskii, 2007) and Lloyd iterations (Lloyd,
1982), vectorised in numpy. `compare_gan cluster` (clustering/command.py) runs it on a
discriminator's features, as the "Clustering" rows of Lucic et al. 2019 ("High-Fidelity Image
Generation With Fewer Labels") do on rotation-pretrained features.

Objective: minimise the inertia sum_i ||x_i - c_{a(i)}||^2 over centroids c [k, F] and
assignments a. Squared distances are computed as ||x||^2 - 2 x.c + ||c||^2 in float64, in
chunks of rows that keep the working arrays near `CHUNK_BYTES`, so N x k never has to fit in
memory (1.28M ImageNet features x 1000 clusters is ~5 GB of float32). Ties (equal computed
distances) go to the lowest centroid index.
"""

import dataclasses
from typing import Iterator, Tuple

import numpy as np

# Bytes of float64 working arrays per chunk of rows (features, distances).
CHUNK_BYTES = 32 << 20
DEFAULT_MAX_ITER = 100


@dataclasses.dataclass(frozen=True)
class KMeansResult:
  """The outcome of `kmeans`.

  Attributes:
    centroids: float64 [k, F].
    labels: int32 [N], each point's nearest centroid (`assign`).
    inertia: sum of squared distances of the points to their centroids.
    iterations: Lloyd updates made.
    converged: whether an assignment step left every label unchanged before max_iter.
  """
  centroids: np.ndarray
  labels: np.ndarray
  inertia: float
  iterations: int
  converged: bool


def _check(features: np.ndarray) -> np.ndarray:
  features = np.asarray(features)
  if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
    raise ValueError(f"k-means needs features [N, F] with N, F >= 1; got shape {features.shape}.")
  if features.dtype.kind not in "iuf":
    raise ValueError(f"k-means needs numeric features; got dtype {features.dtype}.")
  if not np.isfinite(features).all():
    bad = int(np.size(features) - np.isfinite(features).sum())
    raise ValueError(f"k-means got {bad} non-finite feature values (NaN or Inf); the features "
                     "must be finite.")
  return features


def _chunks(n: int, width: int) -> Iterator[slice]:
  rows = max(1, CHUNK_BYTES // (8 * max(1, width)))
  for start in range(0, n, rows):
    yield slice(start, min(start + rows, n))


def _nearest(features: np.ndarray, centroids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(index int32 [N] of each point's nearest centroid, lowest on ties; its squared distance
  float64 [N], clipped at 0 against rounding)."""
  centroids = np.asarray(centroids, np.float64)
  c_norms = np.einsum("kf,kf->k", centroids, centroids)
  labels = np.empty(len(features), np.int32)
  distances = np.empty(len(features), np.float64)
  for rows in _chunks(len(features), features.shape[1] + len(centroids)):
    x = np.asarray(features[rows], np.float64)
    d2 = np.einsum("nf,nf->n", x, x)[:, None] - 2.0 * (x @ centroids.T) + c_norms[None, :]
    labels[rows] = np.argmin(d2, axis=1)  # The first minimum: ties to the lowest index.
    distances[rows] = np.maximum(d2[np.arange(len(x)), labels[rows]], 0.0)
  return labels, distances


def assign(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
  """Nearest centroid of each point: features [N, F], centroids [k, F] -> int32 [N] in [0, k).

  Ties (equal computed squared distances) go to the lowest index.
  """
  features = _check(features)
  centroids = np.asarray(centroids)
  if centroids.ndim != 2 or centroids.shape[1] != features.shape[1] or not len(centroids):
    raise ValueError(f"centroids must be [k >= 1, F={features.shape[1]}]; got shape "
                     f"{centroids.shape}.")
  return _nearest(features, centroids)[0]


def _squared_distances_to(features: np.ndarray, point: np.ndarray) -> np.ndarray:
  out = np.empty(len(features), np.float64)
  for rows in _chunks(len(features), features.shape[1]):
    diff = np.asarray(features[rows], np.float64) - point
    out[rows] = np.einsum("nf,nf->n", diff, diff)
  return out


def kmeans_plus_plus(features: np.ndarray, k: int, seed: int) -> np.ndarray:
  """k-means++ seeding: k of the points as initial centroids, float64 [k, F].

  The first is uniform over the points; each next one is point i with probability
  D(i)^2 / sum_j D(j)^2, D being the distance to the nearest centroid chosen so far (Arthur &
  Vassilvitskii 2007, "k-means++: the advantages of careful seeding", section 2.2). When every
  point coincides with a chosen centroid (fewer than k distinct points) the next one is uniform.
  A pure function of (features, k, seed): numpy's PCG64 generator seeded with `seed`.
  """
  return _plus_plus(_check(features), k, seed)


def _check_k(k: int, n: int) -> None:
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
    raise ValueError(f"k-means needs 1 <= k <= N={n} clusters; got k={k!r}.")


def _plus_plus(features: np.ndarray, k: int, seed: int) -> np.ndarray:
  n = len(features)
  _check_k(k, n)
  rng = np.random.default_rng(seed)
  chosen = [int(rng.integers(n))]
  d2 = _squared_distances_to(features, np.asarray(features[chosen[0]], np.float64))
  for _ in range(1, k):
    total = float(d2.sum())
    u = rng.random()
    if total > 0.0:
      index = int(np.searchsorted(np.cumsum(d2), u * total, side="right"))
      index = min(index, n - 1)
    else:
      index = int(u * n)
    chosen.append(index)
    d2 = np.minimum(d2, _squared_distances_to(features, np.asarray(features[index], np.float64)))
  return np.asarray(features[chosen], np.float64)


def _means(features: np.ndarray, labels: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
  """Per-cluster sums float64 [k, F] and counts int [k] (one-hot products, chunked)."""
  sums = np.zeros((k, features.shape[1]), np.float64)
  for rows in _chunks(len(features), features.shape[1] + k):
    one_hot = np.zeros((rows.stop - rows.start, k), np.float64)
    one_hot[np.arange(rows.stop - rows.start), labels[rows]] = 1.0
    sums += one_hot.T @ np.asarray(features[rows], np.float64)
  return sums, np.bincount(labels, minlength=k)


def kmeans(features: np.ndarray, k: int, *, seed: int = 0,
           max_iter: int = DEFAULT_MAX_ITER) -> KMeansResult:
  """k-means++ seeding, then Lloyd iterations until no label changes or `max_iter` updates.

  Each iteration assigns every point to its nearest centroid and moves each centroid to the
  mean of its points. A cluster left empty takes the point farthest from its own centroid
  (the farthest for the first empty cluster, the next farthest for the next, ...), so no
  centroid is lost.

  Args:
    features: [N, F] finite numbers.
    k: clusters, 1 <= k <= N.
    seed: seed of the k-means++ draws (the only randomness).
    max_iter: most Lloyd updates, >= 1.

  Returns:
    KMeansResult; its labels are `assign(features, centroids)`.
  """
  features = _check(features)
  if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
    raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}.")
  centroids = _plus_plus(features, k, seed)
  labels, distances = _nearest(features, centroids)
  iterations, converged = 0, False
  while iterations < max_iter:
    sums, counts = _means(features, labels, k)
    empty = np.flatnonzero(counts == 0)
    centroids = sums / np.maximum(counts, 1)[:, None]
    if len(empty):
      farthest = np.argsort(-distances, kind="stable")[:len(empty)]
      centroids[empty] = np.asarray(features[farthest], np.float64)
    iterations += 1
    new_labels, distances = _nearest(features, centroids)
    if np.array_equal(new_labels, labels):
      converged = True
      break
    labels = new_labels
  return KMeansResult(centroids=centroids, labels=labels, inertia=float(distances.sum()),
                      iterations=iterations, converged=converged)
