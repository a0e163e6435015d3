"""Precision and recall for distributions, PRD (Sajjadi et al. 2018, arXiv:1806.00035).

Reference: compare_gan's `prd_score.py` (a copy of github.com/msmsajjadi/precision-recall-
distributions). For two discrete distributions P (reference, "real") and Q (evaluated, "fake")
over the same bins, the PRD curve is (Sajjadi et al., Theorem 2 / eq. 3)

    alpha(lambda) = sum_i min(lambda P(i), Q(i))     (precision)
    beta(lambda)  = alpha(lambda) / lambda           (recall)

for slopes lambda = tan(angle), angle in linspace(epsilon, pi/2 - epsilon, num_angles). For
embeddings (e.g. Inception pool_3 features), both sets are clustered together by k-means and the
distributions are the two sets' cluster histograms (sec. 4), averaged over several clusterings.
The curve is summarised by (max F_8, max F_{1/8}) (sec. 5): F_8 weights recall ("does the model
cover the data?"), F_{1/8} weights precision ("are the samples on the data?").

Differences from the reference, all deliberate:
  * Clustering is seeded: run r uses `MiniBatchKMeans(random_state=<(seed, r) hash>)`, and the
    mini-batch size is passed explicitly (`batch_size=1024`, sklearn's default since 1.0; the
    2018 reference ran with sklearn's old default of 100). Pass `batch_size=100` to mimic it.
  * Precision and recall are clipped to [0, 1]. For identical distributions the reference's
    recall is 1 + 2.2e-16 and its `prd_to_max_f_beta_pair` then raises "All values in recall
    must be in [0, 1]". Values further than 1e-6 outside [0, 1] still raise.
  * `compute_prd` checks that its inputs are distributions (non-negative, summing to 1).

Argument order: (eval, ref) = (fake, real). Swapping them swaps precision and recall.
"""

from typing import Tuple

import numpy as np
from sklearn import cluster

from compare_gan.metrics import checks

# Slack for "in [0, 1]" and "sums to 1": float64 rounding of sums of <= 1e6 terms stays far below.
_TOLERANCE = 1e-6


def compute_prd(eval_dist: np.ndarray, ref_dist: np.ndarray, num_angles: int = 1001,
                epsilon: float = 1e-10) -> Tuple[np.ndarray, np.ndarray]:
  """PRD curve of two discrete distributions (Sajjadi et al. 2018, eq. 3).

  Args:
    eval_dist: [K] probabilities of the evaluated (generated) distribution Q.
    ref_dist: [K] probabilities of the reference (real) distribution P.
    num_angles: number of slopes, in [3, 1e6] (reference check).
    epsilon: angles run over [epsilon, pi/2 - epsilon], epsilon in (0, 0.1) (reference check).

  Returns:
    (precision, recall), each float64 [num_angles] in [0, 1]; angle (and lambda) increases with
    the index, so precision[-1] is max precision and recall[0] max recall.
  """
  if not 0.0 < epsilon < 0.1:
    raise ValueError(f"epsilon must be in (0, 0.1); got {epsilon!r}.")
  if not 3 <= num_angles <= 1e6 or int(num_angles) != num_angles:
    raise ValueError(f"num_angles must be an integer in [3, 1e6]; got {num_angles!r}.")
  eval_dist = _check_distribution("eval_dist", eval_dist)
  ref_dist = _check_distribution("ref_dist", ref_dist)
  if eval_dist.shape != ref_dist.shape:
    raise ValueError(f"eval_dist and ref_dist must have the same number of bins; got "
                     f"{eval_dist.shape[0]} and {ref_dist.shape[0]}.")
  slopes = np.tan(np.linspace(epsilon, np.pi / 2.0 - epsilon, num=int(num_angles)))  # [A]
  precision = np.minimum(ref_dist[None, :] * slopes[:, None], eval_dist[None, :]).sum(axis=1)
  recall = precision / slopes
  return _clip_unit("precision", precision), _clip_unit("recall", recall)


def compute_prd_from_embedding(eval_data: np.ndarray, ref_data: np.ndarray,
                               num_clusters: int = 20, num_angles: int = 1001,
                               num_runs: int = 10, enforce_balance: bool = True, seed: int = 0,
                               batch_size: int = 1024) -> Tuple[np.ndarray, np.ndarray]:
  """PRD curve of two sets of embeddings, averaged over `num_runs` k-means clusterings (sec. 4).

  Run r: `MiniBatchKMeans(n_clusters=num_clusters, n_init=10, batch_size=batch_size,
  random_state=...)` on vstack(eval_data, ref_data) in float64; the distributions are
  `np.histogram(labels, bins=num_clusters, range=[0, num_clusters], density=True)` of each
  set's labels; the curves of the runs are averaged pointwise.

  Args:
    eval_data: [N, D] embeddings of generated samples.
    ref_data: [M, D] embeddings of real samples.
    num_clusters: k-means clusters (reference 20), in [2, N + M].
    num_angles: see `compute_prd`.
    num_runs: clusterings to average (reference 10), >= 1.
    enforce_balance: require N == M (reference default; unequal sizes bias the histograms).
    seed: non-negative integer; run r clusters with a random_state derived from (seed, r).
    batch_size: MiniBatchKMeans mini-batch size (see the module docstring), >= 1.

  Returns:
    (precision, recall), each float64 [num_angles] in [0, 1].
  """
  eval_data, ref_data = checks.feature_sets("eval_data", eval_data, "ref_data", ref_data)
  if enforce_balance and eval_data.shape[0] != ref_data.shape[0]:
    raise ValueError(f"The number of points in eval_data ({eval_data.shape[0]}) is not equal to "
                     f"the number of points in ref_data ({ref_data.shape[0]}). To disable this "
                     f"check, set enforce_balance=False (not recommended).")
  if min(eval_data.shape[0], ref_data.shape[0]) < 1:
    raise ValueError(f"eval_data and ref_data must be non-empty; got shapes {eval_data.shape} "
                     f"and {ref_data.shape}.")
  checks.finite({"eval_data": eval_data, "ref_data": ref_data})
  total = eval_data.shape[0] + ref_data.shape[0]
  if int(num_clusters) != num_clusters or not 2 <= num_clusters <= total:
    raise ValueError(f"num_clusters must be an integer in [2, N + M] = [2, {total}]; got "
                     f"{num_clusters!r}.")
  checks.integer_at_least("num_runs", num_runs)
  checks.integer_at_least("batch_size", batch_size)
  checks.non_negative_integer("seed", seed)

  run_states = np.random.SeedSequence([int(seed)]).spawn(int(num_runs))
  precisions, recalls = [], []
  for state in run_states:
    random_state = int(state.generate_state(1)[0])  # uint32, what sklearn accepts.
    eval_dist, ref_dist = _cluster_into_bins(eval_data, ref_data, int(num_clusters),
                                             random_state, int(batch_size))
    precision, recall = compute_prd(eval_dist, ref_dist, num_angles)
    precisions.append(precision)
    recalls.append(recall)
  return np.mean(precisions, axis=0), np.mean(recalls, axis=0)


def _cluster_into_bins(eval_data: np.ndarray, ref_data: np.ndarray, num_clusters: int,
                       random_state: int, batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
  """Cluster histograms (eval [K], ref [K]) of one joint k-means clustering; each sums to 1."""
  kmeans = cluster.MiniBatchKMeans(n_clusters=num_clusters, n_init=10, batch_size=batch_size,
                                   random_state=random_state)
  labels = kmeans.fit(np.vstack([eval_data, ref_data])).labels_
  bins = dict(bins=num_clusters, range=[0, num_clusters], density=True)
  eval_bins = np.histogram(labels[:eval_data.shape[0]], **bins)[0]
  ref_bins = np.histogram(labels[eval_data.shape[0]:], **bins)[0]
  return eval_bins, ref_bins


def prd_to_max_f_beta_pair(precision: np.ndarray, recall: np.ndarray,
                           beta: float = 8) -> Tuple[float, float]:
  """(max F_beta, max F_{1/beta}) of a PRD curve (Sajjadi et al. sec. 5; reference beta = 8).

  F_beta = (1 + beta^2) p r / (beta^2 p + r + 1e-10) pointwise; beta > 1 weights recall.

  Args:
    precision: [A] precision values in [0, 1] (values within 1e-6 outside are clipped).
    recall: [A] recall values, same shape.
    beta: > 0.

  Returns:
    (max F_beta, max F_{1/beta}) as floats.
  """
  if not beta > 0:
    raise ValueError(f"beta must be positive; got {beta!r}.")
  precision = np.asarray(precision, dtype=np.float64)
  recall = np.asarray(recall, dtype=np.float64)
  if precision.ndim != 1 or precision.shape != recall.shape or precision.size == 0:
    raise ValueError(f"precision and recall must be non-empty 1-D arrays of the same length; got "
                     f"shapes {precision.shape} and {recall.shape}.")
  precision = _clip_unit("precision", precision)
  recall = _clip_unit("recall", recall)
  f_beta = _f_beta(precision, recall, beta)
  f_beta_inv = _f_beta(precision, recall, 1.0 / beta)
  return float(np.max(f_beta)), float(np.max(f_beta_inv))


def _f_beta(precision: np.ndarray, recall: np.ndarray, beta: float,
            epsilon: float = 1e-10) -> np.ndarray:
  # The reference's epsilon keeps p = r = 0 finite (F = 0 there).
  return (1 + beta**2) * (precision * recall) / ((beta**2 * precision) + recall + epsilon)


def _check_distribution(name: str, dist) -> np.ndarray:
  dist = np.asarray(dist, dtype=np.float64)
  if dist.ndim != 1 or dist.size == 0:
    raise ValueError(f"{name} must be a non-empty 1-D array; got shape {dist.shape}.")
  if not np.all(np.isfinite(dist)) or np.any(dist < 0):
    raise ValueError(f"{name} must be finite and non-negative; got min {dist.min()}.")
  if abs(dist.sum() - 1.0) > _TOLERANCE:
    raise ValueError(f"{name} must sum to 1 (a distribution over bins); got sum {dist.sum()}.")
  return dist


def _clip_unit(name: str, values: np.ndarray) -> np.ndarray:
  """`values` clipped to [0, 1]; ValueError if any is NaN or further than 1e-6 outside."""
  if not np.all((values >= -_TOLERANCE) & (values <= 1.0 + _TOLERANCE)):
    raise ValueError(f"All values in {name} must be in [0, 1]; got range "
                     f"[{np.min(values)}, {np.max(values)}].")
  return np.clip(values, 0.0, 1.0)
