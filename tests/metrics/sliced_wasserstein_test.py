"""Sliced Wasserstein-1 distance (compare_gan/metrics/sliced_wasserstein.py)."""

import numpy as np
import pytest
from scipy import stats

from compare_gan.metrics import sliced_wasserstein as sw


def test_identical_sets_give_zero():
  x = np.random.default_rng(0).normal(size=(100, 5))
  assert sw.sliced_wasserstein_distance(x, x) == 0.0
  assert sw.sliced_wasserstein_distance(x, x[::-1]) == 0.0  # Order does not matter.


@pytest.mark.parametrize("n_fake", [50, 73])
def test_1d_shift_is_exact(n_fake):
  # In 1-D every direction is +-1, so each projection is shifted by exactly c.
  rng = np.random.default_rng(1)
  x = rng.normal(size=(50, 1))
  y = x + 0.75 if n_fake == 50 else rng.normal(size=(n_fake, 1))
  if n_fake == 50:
    assert sw.sliced_wasserstein_distance(x, y, num_projections=1) == pytest.approx(0.75, abs=1e-12)
    assert sw.sliced_wasserstein_distance(x, y, num_projections=8) == pytest.approx(0.75, abs=1e-12)
  else:  # Unequal sizes: the exact 1-D W_1 (scipy's CDF formula) shifted by c.
    expected = stats.wasserstein_distance(x[:, 0], y[:, 0] + 2.0)
    assert sw.sliced_wasserstein_distance(x, y + 2.0, num_projections=3) == pytest.approx(
        expected, abs=1e-12)


@pytest.mark.parametrize("n_real, n_fake", [(40, 40), (37, 53), (10, 1)])
def test_matches_scipy_per_direction(n_real, n_fake):
  rng = np.random.default_rng(n_real * n_fake)
  x = rng.normal(size=(n_real, 3))
  y = rng.normal(size=(n_fake, 3)) * 2.0 + 0.3
  directions = sw.random_directions(3, 16, seed=5)
  np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)
  expected = np.mean([stats.wasserstein_distance(x @ t, y @ t) for t in directions])
  got = sw.sliced_wasserstein_distance(x, y, num_projections=16, seed=5)
  assert got == pytest.approx(expected, rel=1e-12)


def test_symmetric_and_seeded():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(30, 4)), rng.uniform(size=(45, 4))
  d = sw.sliced_wasserstein_distance(x, y, seed=3)
  assert sw.sliced_wasserstein_distance(y, x, seed=3) == pytest.approx(d, rel=1e-12)
  assert sw.sliced_wasserstein_distance(x, y, seed=3) == d
  assert sw.sliced_wasserstein_distance(x, y, seed=4) != d


def test_scale_and_translation():
  rng = np.random.default_rng(4)
  x, y = rng.normal(size=(64, 6)), rng.normal(size=(64, 6)) + 0.5
  d = sw.sliced_wasserstein_distance(x, y)
  assert sw.sliced_wasserstein_distance(3.0 * x, 3.0 * y) == pytest.approx(3.0 * d, rel=1e-12)
  assert sw.sliced_wasserstein_distance(x + 7.0, y + 7.0) == pytest.approx(d, rel=1e-9)


def test_shift_in_d_dims_averages_projected_shift():
  # Same set shifted by c: every projection moves by |<c, theta>|, exactly.
  rng = np.random.default_rng(5)
  x = rng.normal(size=(20, 3))
  c = np.array([0.3, -0.4, 1.2])
  directions = sw.random_directions(3, 64, seed=0)
  expected = np.mean(np.abs(directions @ c))
  got = sw.sliced_wasserstein_distance(x, x + c, num_projections=64, seed=0)
  assert got == pytest.approx(expected, rel=1e-12)


def test_images_are_flattened():
  rng = np.random.default_rng(6)
  a, b = rng.uniform(size=(12, 8, 8, 3)), rng.uniform(size=(9, 8, 8, 3))
  assert sw.sliced_wasserstein_distance(a, b) == pytest.approx(
      sw.sliced_wasserstein_distance(a.reshape(12, -1), b.reshape(9, -1)), rel=1e-12)


def test_collapsed_generator_is_farther_than_faithful_one():
  rng = np.random.default_rng(7)
  real = rng.normal(size=(500, 2))
  faithful = rng.normal(size=(500, 2))
  collapsed = rng.normal(size=(500, 2)) * 0.1
  assert (sw.sliced_wasserstein_distance(real, collapsed) >
          3 * sw.sliced_wasserstein_distance(real, faithful))


@pytest.mark.parametrize("call, match", [
    (lambda: sw.sliced_wasserstein_distance(np.zeros((5, 2)), np.zeros((5, 3))), "trailing shape"),
    (lambda: sw.sliced_wasserstein_distance(np.zeros(5), np.zeros(5)), "trailing shape"),
    (lambda: sw.sliced_wasserstein_distance(np.zeros((0, 2)), np.zeros((5, 2))), "at least one"),
    (lambda: sw.sliced_wasserstein_distance(np.zeros((5, 2)), np.zeros((5, 2)), num_projections=0),
     "num_projections"),
    (lambda: sw.sliced_wasserstein_distance(np.zeros((5, 2)), np.zeros((5, 2)), seed=-1), "seed"),
    (lambda: sw.sliced_wasserstein_distance(np.full((5, 2), np.inf), np.zeros((5, 2))), "finite"),
])
def test_argument_errors(call, match):
  with pytest.raises(ValueError, match=match):
    call()
