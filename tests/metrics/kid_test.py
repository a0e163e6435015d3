"""KID: kernel and estimator by hand, unbiasedness, the block and subset estimators, and the
spread (std) and compare_gan's standard error of the per-block estimates."""

import numpy as np
import pytest

from compare_gan.metrics import kid


def _brute_force_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> float:
  """Binkowski et al. (2018) eq. 3 as explicit loops, kernel gamma = 1/d."""
  d = x.shape[1]

  def k(a, b):
    return (float(np.dot(a, b)) / d + coef0) ** degree

  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
  return xx + yy - 2 * xy


def test_polynomial_kernel_by_hand():
  x = np.array([[1.0, 2.0], [0.0, -1.0]])
  y = np.array([[3.0, 0.5], [-2.0, 1.0], [0.0, 0.0]])
  # Default gamma = 1/d = 1/2, coef0 = 1, degree 3; e.g. x0.y0 = 3 + 1 = 4 -> (2 + 1)^3 = 27.
  expected = np.array([[(4 / 2 + 1) ** 3, (0 / 2 + 1) ** 3, 1.0],
                       [(-0.5 / 2 + 1) ** 3, (-1 / 2 + 1) ** 3, 1.0]])
  np.testing.assert_allclose(kid.polynomial_kernel(x, y), expected, rtol=1e-15)
  np.testing.assert_allclose(kid.polynomial_kernel(x, y, degree=2, gamma=1.0, coef0=0.5),
                             [[4.5 ** 2, 0.5 ** 2, 0.25], [0.0, (-0.5) ** 2, 0.25]])
  assert kid.polynomial_kernel(x.astype(np.float32), y).dtype == np.float64


def test_mmd2_unbiased_matches_double_loop():
  rng = np.random.default_rng(0)
  x, y = rng.standard_normal((5, 3)), rng.standard_normal((7, 3)) + 0.5
  k = kid.polynomial_kernel
  value = kid.mmd2_unbiased(k(x, x), k(y, y), k(x, y))
  assert value == pytest.approx(_brute_force_mmd2(x, y), rel=1e-12)


def test_unbiased_for_equal_distributions():
  # P == Q: every estimate has expectation 0 exactly (a biased V-statistic would be > 0).
  rng = np.random.default_rng(1)
  estimates = [kid.kernel_distance(rng.standard_normal((20, 4)), rng.standard_normal((20, 4)))[0]
               for _ in range(400)]
  mean, stderr = np.mean(estimates), np.std(estimates, ddof=1) / np.sqrt(len(estimates))
  assert abs(mean) < 4 * stderr
  # ... while a shifted Q is detected far beyond that noise.
  shifted = [kid.kernel_distance(rng.standard_normal((20, 4)),
                                 rng.standard_normal((20, 4)) + 1.0)[0] for _ in range(50)]
  assert np.mean(shifted) > 20 * stderr


def test_blocks_use_every_sample_once():
  rng = np.random.default_rng(2)
  x, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 3)) + 0.3
  # ceil(10 / 4) = 3 blocks; TF-GAN's partition puts the smaller blocks first: 3, 3, 4.
  per_block = [_brute_force_mmd2(x[s:e], y[s:e]) for s, e in ((0, 3), (3, 6), (6, 10))]
  mean, std, stderr = kid.kernel_distance(x, y, max_block_size=4)
  assert mean == pytest.approx(np.mean(per_block), rel=1e-12)
  assert std == pytest.approx(np.std(per_block), rel=1e-10)
  assert np.isnan(stderr)  # 3 blocks: compare_gan gives no standard error below 5


def test_blocks_with_unequal_set_sizes():
  rng = np.random.default_rng(3)
  x, y = rng.standard_normal((9, 3)), rng.standard_normal((6, 3)) - 0.2
  # 3 blocks of 3 real samples, paired with 3 blocks of 2 generated samples (compare_gan's
  # slip would trim the generated blocks using the real block size and mis-size them).
  per_block = [_brute_force_mmd2(x[3 * i:3 * i + 3], y[2 * i:2 * i + 2]) for i in range(3)]
  mean, std, _ = kid.kernel_distance(x, y, max_block_size=3)
  assert mean == pytest.approx(np.mean(per_block), rel=1e-12)
  assert std == pytest.approx(np.std(per_block), rel=1e-10)


def test_single_block_is_the_plain_estimate():
  rng = np.random.default_rng(4)
  x, y = rng.standard_normal((30, 5)), rng.standard_normal((25, 5))
  mean, std, stderr = kid.kernel_distance(x, y)
  assert mean == pytest.approx(_brute_force_mmd2(x, y), rel=1e-12)
  assert std == 0.0 and np.isnan(stderr)


def test_subsets_follow_torch_fidelity_sampling():
  rng = np.random.default_rng(5)
  x, y = rng.standard_normal((40, 4)), rng.standard_normal((30, 4)) + 0.2
  draws = np.random.RandomState(7)
  per_subset = []
  for _ in range(5):
    real_idx = draws.choice(40, 12, replace=False)
    fake_idx = draws.choice(30, 12, replace=False)
    per_subset.append(_brute_force_mmd2(x[real_idx], y[fake_idx]))
  mean, std, _ = kid.kernel_distance(x, y, estimator="subsets", num_subsets=5,
                                     subset_size=12, seed=7)
  assert mean == pytest.approx(np.mean(per_subset), rel=1e-12)
  assert std == pytest.approx(np.std(per_subset), rel=1e-10)


def _reference_stderr(estimates):
  """compare_gan kid(return_stderr=True): tf.nn.moments' population variance over the blocks,
  sqrt(var / n_bins); NaN below 5 blocks. Written with explicit sums, not np.std."""
  n = len(estimates)
  if n < 5:
    return float("nan")
  mean = sum(estimates) / n
  variance = sum((e - mean) ** 2 for e in estimates) / n
  return (variance / n) ** 0.5


def test_second_and_third_values_are_the_spread_and_compare_gans_standard_error():
  rng = np.random.default_rng(8)
  x, y = rng.standard_normal((18, 3)), rng.standard_normal((18, 3)) + 0.4
  # ceil(18 / 3) = 6 blocks of 3.
  per_block = [_brute_force_mmd2(x[3 * i:3 * i + 3], y[3 * i:3 * i + 3]) for i in range(6)]
  result = kid.kernel_distance(x, y, max_block_size=3)
  assert result.mean == pytest.approx(sum(per_block) / 6, rel=1e-12)
  mean = sum(per_block) / 6
  spread = (sum((e - mean) ** 2 for e in per_block) / 6) ** 0.5
  assert result.std == pytest.approx(spread, rel=1e-10)
  assert result.stderr == pytest.approx(_reference_stderr(per_block), rel=1e-10)
  assert result.stderr == pytest.approx(result.std / np.sqrt(6), rel=1e-12)
  # TF-GAN's "std" (ddof 1) would be larger: the names say which one this is.
  assert result.stderr < np.std(per_block, ddof=1) / np.sqrt(6)


def test_subsets_standard_error_uses_the_number_of_subsets():
  rng = np.random.default_rng(9)
  x, y = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
  result = kid.kernel_distance(x, y, estimator="subsets", num_subsets=7, subset_size=10)
  assert result.stderr == pytest.approx(result.std / np.sqrt(7), rel=1e-12)
  few = kid.kernel_distance(x, y, estimator="subsets", num_subsets=4, subset_size=10)
  assert np.isnan(few.stderr)


def test_subsets_deterministic_per_seed():
  rng = np.random.default_rng(6)
  x, y = rng.standard_normal((50, 4)), rng.standard_normal((50, 4))
  kwargs = dict(estimator="subsets", num_subsets=10, subset_size=20)
  assert kid.kernel_distance(x, y, **kwargs) == kid.kernel_distance(x, y, **kwargs)
  assert kid.kernel_distance(x, y, **kwargs) != kid.kernel_distance(x, y, seed=1, **kwargs)


def test_errors():
  rng = np.random.default_rng(7)
  x, y = rng.standard_normal((50, 4)), rng.standard_normal((40, 4))
  with pytest.raises(ValueError, match=r"subset_size=1000 .* n_r=50, n_g=40"):
    kid.kernel_distance(x, y, estimator="subsets")
  with pytest.raises(ValueError, match="valid: blocks, subsets"):
    kid.kernel_distance(x, y, estimator="bootstrap")
  with pytest.raises(ValueError, match="different feature dimensions"):
    kid.kernel_distance(x, y[:, :3])
  with pytest.raises(ValueError, match="2-D"):
    kid.kernel_distance(x[0], y)
  bad = x.copy()
  bad[3, 1] = np.inf
  with pytest.raises(ValueError, match="real_features contain 1 NaN or infinite"):
    kid.kernel_distance(bad, y)
  with pytest.raises(ValueError, match="at least 10 samples per set"):
    kid.kernel_distance(x, y[:9], max_block_size=10)  # 5 blocks, the 9 fakes give < 2 each.
  with pytest.raises(ValueError, match="at least 2 samples"):
    kid.mmd2_unbiased(np.ones((1, 1)), np.ones((3, 3)), np.ones((1, 3)))
  with pytest.raises(ValueError, match="k_xy"):
    kid.mmd2_unbiased(np.ones((2, 2)), np.ones((3, 3)), np.ones((3, 2)))
