"""k-means (compare_gan/clustering/kmeans.py): recovery of well-separated blobs, deterministic
k-means++ seeding and its D^2 rule, nearest-centroid assignment with ties on hand-made points,
a hand-computed optimum, chunked arithmetic, empty clusters and bad input."""

import numpy as np
import pytest

from compare_gan.clustering import kmeans


def _blobs(seed, k=4, per=50, dim=5):
  """k Gaussian blobs (std 1) around centres 100 apart, shuffled; returns (points, blob ids)."""
  rng = np.random.default_rng(seed)
  centres = 100.0 * np.eye(k, dim)
  ids = np.repeat(np.arange(k), per)
  points = centres[ids] + rng.normal(size=(k * per, dim))
  order = rng.permutation(k * per)
  return points[order].astype(np.float32), ids[order]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_well_separated_blobs_up_to_a_permutation(seed):
  points, truth = _blobs(seed)
  result = kmeans.kmeans(points, 4, seed=seed)
  # Contingency table of (found, true): a permutation matrix times the blob size.
  table = np.zeros((4, 4), int)
  np.add.at(table, (result.labels, truth), 1)
  assert sorted(table.max(axis=1)) == [50] * 4 and (np.count_nonzero(table, axis=1) == 1).all()
  assert result.converged and result.labels.dtype == np.int32
  # Centroids are the blob means; the inertia is the sum of squares around them.
  means = np.stack([points[result.labels == j].astype(np.float64).mean(0) for j in range(4)])
  np.testing.assert_allclose(result.centroids, means, atol=1e-9)
  expected = sum(((points[result.labels == j] - means[j]) ** 2).sum() for j in range(4))
  assert result.inertia == pytest.approx(expected, rel=1e-9)


def test_seeding_is_deterministic_for_a_seed_and_picks_data_points():
  points, _ = _blobs(7, k=6, per=20)
  first = kmeans.kmeans_plus_plus(points, 6, seed=3)
  np.testing.assert_array_equal(first, kmeans.kmeans_plus_plus(points, 6, seed=3))
  assert not np.array_equal(first, kmeans.kmeans_plus_plus(points, 6, seed=4))
  for centre in first:
    assert np.isclose(points.astype(np.float64), centre).all(axis=1).any()
  np.testing.assert_array_equal(kmeans.kmeans(points, 6, seed=3).labels,
                                kmeans.kmeans(points, 6, seed=3).labels)


def test_seeding_follows_the_squared_distance_rule():
  # Three points at 0 and one at 10: whichever comes first, the second centre must be a point
  # at positive distance (probability D^2 / sum D^2), so both 0 and 10 are always chosen.
  points = np.array([[0.0], [0.0], [0.0], [10.0]])
  for seed in range(20):
    assert sorted(kmeans.kmeans_plus_plus(points, 2, seed=seed)[:, 0]) == [0.0, 10.0]
  # Points at 0, 1 and 4 with the first centre at 0 (which the seed decides): the second is 1
  # with probability 1/17 and 4 with 16/17; over many seeds the frequencies follow.
  points = np.array([[0.0], [1.0], [4.0]])
  seconds = [c[1, 0] for c in (kmeans.kmeans_plus_plus(points, 2, seed=s) for s in range(3000))
             if c[0, 0] == 0.0]
  share = np.mean(np.array(seconds) == 4.0)
  assert len(seconds) > 800 and abs(share - 16 / 17) < 4 * np.sqrt(16 / 17 / 17 / len(seconds))


def test_assign_on_hand_made_points_with_ties_to_the_lowest_index():
  centroids = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
  points = np.array([
      [0.9, 0.0],   # nearer 0
      [1.0, 0.0],   # tie 0 / 1 -> 0
      [1.1, 0.0],   # nearer 1
      [0.0, 1.0],   # tie 0 / 2 -> 0
      [1.0, 1.0],   # three-way tie -> 0
      [2.0, 1.0],   # nearer 1 (distance 1; 2 is at sqrt(5))
      [0.5, 3.0],   # nearer 2
      [3.0, 3.0],   # tie 1 / 2 (both sqrt(10)) -> 1
  ])
  np.testing.assert_array_equal(kmeans.assign(points, centroids), [0, 0, 1, 0, 0, 1, 2, 1])
  assert kmeans.assign(points, centroids).dtype == np.int32


def test_lloyd_reaches_the_hand_computed_optimum():
  points = np.array([[0.0], [1.0], [10.0], [11.0]])
  result = kmeans.kmeans(points, 2, seed=0)
  assert sorted(result.centroids[:, 0]) == [0.5, 10.5]
  assert result.inertia == 1.0 and result.converged
  assert result.labels[0] == result.labels[1] != result.labels[2] == result.labels[3]


def test_chunked_arithmetic_matches_one_chunk(monkeypatch):
  points, _ = _blobs(5, k=3, per=40, dim=7)
  whole = kmeans.kmeans(points, 3, seed=1)
  monkeypatch.setattr(kmeans, "CHUNK_BYTES", 8 * 10 * 11)  # ten rows at a time
  chunked = kmeans.kmeans(points, 3, seed=1)
  np.testing.assert_array_equal(whole.labels, chunked.labels)
  np.testing.assert_allclose(whole.centroids, chunked.centroids, rtol=1e-12)
  assert whole.inertia == pytest.approx(chunked.inertia, rel=1e-12)


def test_duplicates_and_empty_clusters_keep_every_label_valid():
  points = np.array([[1.0, 1.0]] * 3 + [[5.0, 5.0]])
  result = kmeans.kmeans(points, 3, seed=0)  # Only two distinct points for three clusters.
  assert result.inertia == 0.0 and set(result.labels) <= {0, 1, 2}
  assert len(set(result.labels[:3])) == 1 and result.labels[3] != result.labels[0]


def test_max_iter_bounds_the_updates():
  points, _ = _blobs(3, k=8, per=30, dim=3)
  capped = kmeans.kmeans(points, 8, seed=0, max_iter=1)
  assert capped.iterations == 1
  np.testing.assert_array_equal(capped.labels, kmeans.assign(points, capped.centroids))


@pytest.mark.parametrize("call,message", [
    (lambda: kmeans.kmeans(np.zeros((3, 2)), 4), "1 <= k <= N=3"),
    (lambda: kmeans.kmeans(np.zeros((3, 2)), 0), "1 <= k <= N=3"),
    (lambda: kmeans.kmeans(np.array([[0.0, np.nan], [1.0, 1.0]]), 2), "1 non-finite"),
    (lambda: kmeans.kmeans(np.zeros(5), 2), r"features \[N, F\]"),
    (lambda: kmeans.kmeans(np.zeros((3, 2)), 2, max_iter=0), "max_iter must be"),
    (lambda: kmeans.assign(np.zeros((3, 2)), np.zeros((2, 3))),
     r"centroids must be \[k >= 1, F=2\]"),
])
def test_bad_input_is_one_clear_error(call, message):
  with pytest.raises(ValueError, match=message):
    call()

