"""Inception Score: limiting cases, saturation, split boundaries, an independent numpy formula."""

import numpy as np
import pytest
import scipy.special

from compare_gan.metrics import inception_score as inception_score_lib
from compare_gan.metrics.inception_score import inception_score


def _straightforward_is(logits: np.ndarray, bounds) -> np.ndarray:
  """Per-split IS with scipy's softmax and plain logs (valid when no probability is 0)."""
  scores = []
  for start, end in bounds:
    p = scipy.special.softmax(logits[start:end].astype(np.float64), axis=1)
    q = p.mean(axis=0, keepdims=True)
    scores.append(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))))
  return np.array(scores)


def test_equal_logits_give_one():
  assert inception_score(np.zeros((16, 10))) == (pytest.approx(1.0, abs=1e-12), 0.0)
  mean, std = inception_score(np.full((30, 7), 3.5), splits=3)
  assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("gap", [30.0, 1e4])
def test_confident_balanced_predictions_give_num_classes(gap):
  # gap = 1e4 saturates the softmax (exp(-1e4) == 0.0 in float64): TF-GAN and torch-fidelity
  # return NaN there (0 * log 0); the masked KL must give exactly the limit C.
  num_classes = 8
  logits = np.zeros((4 * num_classes, num_classes))
  logits[np.arange(4 * num_classes), np.arange(4 * num_classes) % num_classes] = gap
  mean, std = inception_score(logits)
  assert np.isfinite(mean)
  assert mean == pytest.approx(num_classes, rel=1e-9)
  assert std == 0.0


def test_split_boundaries_follow_openai_convention():
  rng = np.random.default_rng(0)
  logits = rng.standard_normal((10, 5)) * 3
  expected = _straightforward_is(logits, [(0, 3), (3, 6), (6, 10)])
  mean, std = inception_score(logits, splits=3)
  assert mean == pytest.approx(expected.mean(), rel=1e-12)
  assert std == pytest.approx(expected.std(), rel=1e-10)
  # np.array_split's boundaries (4, 3, 3) give a different answer, so the test can tell them apart.
  other = _straightforward_is(logits, [(0, 4), (4, 7), (7, 10)])
  assert abs(other.mean() - mean) > 1e-6


@pytest.mark.parametrize("splits", [1, 10])
def test_matches_straightforward_numpy(splits):
  rng = np.random.default_rng(splits)
  n = 1003  # Not a multiple of 10: splits of 100 and 101 samples.
  logits = (rng.standard_normal((n, 50)) * 4).astype(np.float32)
  bounds = [(i * n // splits, (i + 1) * n // splits) for i in range(splits)]
  expected = _straightforward_is(logits, bounds)
  mean, std = inception_score(logits, splits=splits)
  assert mean == pytest.approx(expected.mean(), rel=1e-12)
  assert std == pytest.approx(expected.std(), rel=1e-9, abs=1e-12)


def test_from_probabilities_matches_logits():
  rng = np.random.default_rng(3)
  logits = rng.standard_normal((60, 12)) * 2
  probs = scipy.special.softmax(logits, axis=1).astype(np.float32)
  expected = inception_score(logits, splits=4)
  actual = inception_score_lib.inception_score_from_probabilities(probs, splits=4)
  np.testing.assert_allclose(actual, expected, rtol=1e-5)
  # Exact zeros (one-hot probabilities) are the saturated case again.
  one_hot = np.eye(6)[np.arange(36) % 6]
  assert inception_score_lib.inception_score_from_probabilities(one_hot) == (
      pytest.approx(6.0, rel=1e-12), 0.0)


@pytest.mark.parametrize("logits, splits, message", [
    (np.zeros(10), 1, "2-D"),
    (np.zeros((4, 3)), 5, r"N=4 < splits=5"),
    (np.zeros((4, 3)), 0, "splits must be an integer >= 1"),
    (np.zeros((4, 3)), 2.0, "splits must be an integer >= 1"),
    (np.array([[0.0, np.nan], [np.inf, 1.0]]), 1, "1 NaN values and 1 infinite"),
])
def test_bad_input_raises(logits, splits, message):
  with pytest.raises(ValueError, match=message):
    inception_score(logits, splits=splits)


def test_bad_probabilities_raise():
  with pytest.raises(ValueError, match="non-negative"):
    inception_score_lib.inception_score_from_probabilities(np.array([[1.5, -0.5], [0.5, 0.5]]))
  with pytest.raises(ValueError, match="row 1 sums to 0.9"):
    inception_score_lib.inception_score_from_probabilities(np.array([[0.5, 0.5], [0.5, 0.4]]))
