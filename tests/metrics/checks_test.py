"""Tests for compare_gan/metrics/checks.py: the shared argument checks and their messages."""

import numpy as np
import pytest

from compare_gan.metrics import checks


@pytest.mark.parametrize("value", [1, 7, 3.0, np.int64(2)])
def test_integer_at_least_accepts_integral_values(value):
  checks.integer_at_least("k", value)


@pytest.mark.parametrize("value, minimum", [(0, 1), (1, 2), (2.5, 1), (-3, 0)])
def test_integer_at_least_message(value, minimum):
  with pytest.raises(ValueError) as info:
    checks.integer_at_least("num_runs", value, minimum)
  assert str(info.value) == f"num_runs must be an integer >= {minimum}; got {value!r}."


def test_non_negative_integer():
  checks.non_negative_integer("seed", 0)
  checks.non_negative_integer("seed", 5.0)
  for bad in (-1, 0.5):
    with pytest.raises(ValueError) as info:
      checks.non_negative_integer("seed", bad)
    assert str(info.value) == f"seed must be a non-negative integer; got {bad!r}."


def test_feature_sets_are_float64_with_the_same_dimension():
  first, second = checks.feature_sets("a", np.zeros((3, 2), np.float32), "b", [[1, 2]])
  assert first.dtype == second.dtype == np.float64
  assert first.shape == (3, 2) and second.shape == (1, 2)
  for a, b in [(np.zeros((3, 2)), np.zeros((3, 4))), (np.zeros(3), np.zeros((3, 1)))]:
    with pytest.raises(ValueError) as info:
      checks.feature_sets("real", a, "fake", b)
    assert str(info.value) == (f"real and fake must be 2-D [N, D] and [M, D] arrays with the same "
                               f"D; got shapes {a.shape} and {b.shape}.")


def test_finite_names_every_array():
  checks.finite({"x": np.zeros(3), "y": np.ones((2, 2))})
  for bad in (np.nan, np.inf, -np.inf):
    with pytest.raises(ValueError) as info:
      checks.finite({"x": np.zeros(3), "y": np.array([1.0, bad])})
    assert str(info.value) == "x and y must be finite (no NaN or infinity)."
