"""k-NN manifold metrics (compare_gan/metrics/precision_recall.py): hand-countable point sets,
ties at the radius (<= vs <), chunking, and a brute-force (scipy cdist) implementation."""

import numpy as np
import pytest
from scipy.spatial import distance

from compare_gan.metrics import precision_recall as pr


def _brute_force(real, fake, k):
  """(precision, recall, density, coverage) straight from the definitions, with cdist."""
  real_radii = np.sort(distance.cdist(real, real), axis=1)[:, k]  # Index 0 is the point itself.
  fake_radii = np.sort(distance.cdist(fake, fake), axis=1)[:, k]
  d = distance.cdist(real, fake)  # [N, M]
  precision = np.mean(np.any(d <= real_radii[:, None], axis=0))
  recall = np.mean(np.any(d <= fake_radii[None, :], axis=1))
  density = np.sum(d < real_radii[:, None]) / (k * fake.shape[0])
  coverage = np.mean(d.min(axis=1) < real_radii)
  return precision, recall, density, coverage


def test_hand_counted_1d():
  # Real 0, 1, 2, 3: with k = 1 each radius is 1, so the real manifold is [-1, 4].
  # Fake 0.5, 3.5, 10, 11: fake radii 3, 3, 1, 1 -> fake manifold [-2.5, 6.5] U [9, 12].
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  fake = np.array([[0.5], [3.5], [10.0], [11.0]])
  precision, recall = pr.improved_precision_recall(real, fake, k=1)
  assert precision == 0.5  # 0.5 and 3.5 are inside, 10 and 11 are not.
  assert recall == 1.0  # Every real point lies in [-2.5, 6.5].
  density, coverage = pr.density_coverage(real, fake, k=1)
  # 0.5 lies strictly inside the balls of 0 and 1; 3.5 inside the ball of 3 only.
  assert density == pytest.approx(3 / (1 * 4))
  assert coverage == pytest.approx(3 / 4)  # Nearest fakes: 0 -> 0.5, 1 -> 0.5, 3 -> 3.5; 2 -> 1.5.


def test_hand_counted_2d_k2():
  # Unit square corners: the 2nd neighbour of each corner is at distance 1 (two sides of length
  # 1; the diagonal is sqrt 2), so the real balls have radius 1.
  real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  fake = np.array([[0.5, 0.5], [0.5, 0.6], [3.0, 3.0], [-1.5, 0.0]])
  precision, _ = pr.improved_precision_recall(real, fake, k=2)
  assert precision == 0.5  # The two centre points; (3, 3) and (-1.5, 0) are > 1 from every corner.
  density, coverage = pr.density_coverage(real, fake, k=2)
  # (0.5, 0.5) is 0.707 from all 4 corners; (0.5, 0.6) is 0.781 from (0,0), (1,0) and 0.640 from
  # (0,1), (1,1): 8 ball memberships / (k M = 8).
  assert density == pytest.approx(1.0)
  assert coverage == 1.0


def test_ties_on_the_radius_count_for_precision_not_for_density():
  # Real 0 and 2 (k = 1: radii 2); a fake point at 4 is exactly on the ball of 2.
  real = np.array([[0.0], [2.0]])
  fake = np.array([[4.0], [10.0]])
  precision, _ = pr.improved_precision_recall(real, fake, k=1)
  assert precision == 0.5  # `<=`: 4 counts.
  density, coverage = pr.density_coverage(real, fake, k=1)
  assert density == 0.0  # `<`: 4 does not count.
  assert coverage == 0.0
  # Recall tie: fake radii are 6; real point 0 is 4 from fake 4, real 2 is 2 from it.
  assert pr.improved_precision_recall(real, fake, k=1)[1] == 1.0


def test_identical_sets():
  features = np.random.default_rng(0).normal(size=(50, 8))
  assert pr.improved_precision_recall(features, features, k=3) == (1.0, 1.0)
  density, coverage = pr.density_coverage(features, features, k=5)
  assert coverage == 1.0
  # Each point is at distance 0 < r_i of its own ball, and on (not inside) the 5th neighbour's.
  assert density >= 1.0 / 5


def test_disjoint_far_apart_sets():
  rng = np.random.default_rng(1)
  real, fake = rng.normal(size=(40, 4)), rng.normal(size=(30, 4)) + 1e3
  assert pr.improved_precision_recall(real, fake) == (0.0, 0.0)
  assert pr.density_coverage(real, fake) == (0.0, 0.0)


def test_duplicates_give_zero_radius_and_still_count_with_le():
  # Every real point appears twice: with k = 1 the radius is 0, and only exact copies count.
  real = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 2, axis=0)
  fake = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [9.0, 9.0]])
  assert pr.improved_precision_recall(real, fake, k=1)[0] == 0.5


@pytest.mark.parametrize("n_real, n_fake, dim, k",
                         [(60, 45, 3, 3), (33, 70, 16, 5), (20, 20, 1, 1)])
def test_matches_brute_force(n_real, n_fake, dim, k):
  rng = np.random.default_rng(n_real + n_fake)
  real = rng.normal(size=(n_real, dim))
  fake = rng.normal(size=(n_fake, dim)) * 1.3 + 0.2
  expected = _brute_force(real, fake, k)
  # batch_size 7 splits every set into uneven blocks.
  got = (pr.improved_precision_recall(real, fake, k=k, batch_size=7) +
         pr.density_coverage(real, fake, k=k, batch_size=7))
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
  assert got == (pr.improved_precision_recall(real, fake, k=k) + pr.density_coverage(real, fake,
                                                                                       k=k))


def test_integer_grid_distances_are_exact_after_centring():
  # Points on an integer lattice: lots of exact ties; float64 squared distances stay exact.
  grid = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0)), -1).reshape(-1, 2) + 1000.0
  np.testing.assert_allclose(pr.improved_precision_recall(grid, grid[::2] + 0.5, k=4),
                             _brute_force(grid, grid[::2] + 0.5, 4)[:2], atol=0)
  np.testing.assert_allclose(pr.density_coverage(grid, grid[::3] + 1.0, k=4),
                             _brute_force(grid, grid[::3] + 1.0, 4)[2:], atol=1e-15)


@pytest.mark.parametrize("call, match", [
    (lambda: pr.improved_precision_recall(np.zeros((10, 3)), np.zeros((10, 4))), "same D"),
    (lambda: pr.improved_precision_recall(np.zeros(10), np.zeros(10)), r"2-D"),
    (lambda: pr.improved_precision_recall(np.zeros((3, 2)), np.ones((10, 2)), k=3),
     "real_features needs at least k \\+ 1 = 4"),
    (lambda: pr.improved_precision_recall(np.ones((10, 2)), np.zeros((3, 2)), k=3),
     "fake_features needs at least"),
    (lambda: pr.density_coverage(np.zeros((5, 2)), np.zeros((9, 2)), k=5), "at least k \\+ 1"),
    (lambda: pr.density_coverage(np.zeros((9, 2)), np.zeros((0, 2)), k=5), "at least one"),
    (lambda: pr.improved_precision_recall(np.zeros((9, 2)), np.zeros((9, 2)), k=0), "k must"),
    (lambda: pr.improved_precision_recall(np.zeros((9, 2)), np.zeros((9, 2)), batch_size=0),
     "batch_size"),
    (lambda: pr.density_coverage(np.full((9, 2), np.nan), np.zeros((9, 2))), "finite"),
])
def test_argument_errors(call, match):
  with pytest.raises(ValueError, match=match):
    call()
