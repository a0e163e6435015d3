"""FID against golden numbers, scipy's sqrtm and an exact SVD formula for rank-deficient sets."""

import numpy as np
import pytest
import scipy.linalg

from compare_gan.metrics import fid


def _correlated(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
  """[n, d] Gaussian features with a random full covariance and mean `shift`."""
  return rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d) + shift


def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
  a = rng.standard_normal((d, 2 * d))
  return a @ a.T / (2 * d) + 0.1 * np.eye(d)


def test_golden_value_from_tfgan_tests():
  # TF-GAN's classifier_metrics_test golden case. By hand: ||mu_r - mu_g||^2 = 4^2 + 8^2 = 80,
  # var_r = 0.25 * 100/99, var_g = 12.25 * 100/99 (other coordinate constant), so
  # FID = 80 + var_r + var_g - 2 sqrt(var_r var_g) = 80 + 100/99 * (0.5 - 3.5)^2 = 89.0909...
  real = np.ones((100, 2))
  real[:50, 0] = 2
  fake = 9 * np.ones((100, 2))
  fake[50:, 0] = 2
  value = fid.frechet_distance(real, fake)
  assert value == pytest.approx(89.091, abs=1e-3)
  assert value == pytest.approx(80 + 100 / 99 * 9, rel=1e-14)


@pytest.mark.parametrize("chunk_bytes", [fid._CHUNK_BYTES, 256 * 16 * 8])
def test_statistics_match_numpy(monkeypatch, chunk_bytes):
  # The small chunk_bytes gives 256-row chunks: 5000 rows then span 20 chunks (the last partial).
  monkeypatch.setattr(fid, "_CHUNK_BYTES", chunk_bytes)
  rng = np.random.default_rng(0)
  x = (_correlated(rng, 5000, 16) * 3 + 7).astype(np.float32)  # float32 like pool_3 features.
  mu, cov = fid.feature_statistics(x)
  assert mu.dtype == np.float64 and cov.dtype == np.float64
  np.testing.assert_allclose(mu, x.astype(np.float64).mean(axis=0), rtol=1e-12)
  np.testing.assert_allclose(cov, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10,
                             atol=1e-12)
  np.testing.assert_array_equal(cov, cov.T)


def test_identical_sets_give_zero():
  rng = np.random.default_rng(1)
  x = _correlated(rng, 500, 32, shift=3.0)
  _, cov = fid.feature_statistics(x)
  scale = 2 * np.trace(cov)
  assert abs(fid.frechet_distance(x, x)) <= 1e-8 * scale


def test_symmetric():
  rng = np.random.default_rng(2)
  x, y = _correlated(rng, 300, 16), _correlated(rng, 400, 16, shift=0.5)
  assert fid.frechet_distance(x, y) == pytest.approx(fid.frechet_distance(y, x), rel=1e-10)


def test_trace_sqrt_matches_scipy_sqrtm():
  rng = np.random.default_rng(3)
  c1, c2 = _random_spd(rng, 64), _random_spd(rng, 64)
  expected = np.trace(scipy.linalg.sqrtm(c1 @ c2).real)
  assert fid.trace_sqrt_product(c1, c2) == pytest.approx(expected, rel=1e-9)
  assert fid.trace_sqrt_product(c2, c1) == pytest.approx(expected, rel=1e-9)


def test_distance_matches_ttur_formula():
  rng = np.random.default_rng(4)
  c1, c2 = _random_spd(rng, 64), _random_spd(rng, 64)
  mu1, mu2 = rng.standard_normal(64), rng.standard_normal(64)
  # TTUR / pytorch-fid `calculate_frechet_distance`, written out with sqrtm.
  expected = (np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2)
              - 2 * np.trace(scipy.linalg.sqrtm(c1 @ c2).real))
  assert fid.frechet_distance_from_statistics(mu1, c1, mu2, c2) == pytest.approx(expected,
                                                                                 rel=1e-9)


def test_rank_deficient_matches_svd_definition():
  # n = 20 < d = 64: both covariances have rank 19. With S = Z Z^T, Z = (X - mu)^T / sqrt(n - 1),
  # S1 S2 has the nonzero eigenvalues of (Z1^T Z2)(Z1^T Z2)^T, so Tr sqrt(S1 S2) is the sum of
  # the singular values of the small [n, n] matrix Z1^T Z2: an exact, sqrtm-free reference.
  rng = np.random.default_rng(5)
  n, d = 20, 64
  x, y = _correlated(rng, n, d), _correlated(rng, n, d, shift=1.0)
  _, c1 = fid.feature_statistics(x)
  _, c2 = fid.feature_statistics(y)
  z1 = (x - x.mean(axis=0)).T / np.sqrt(n - 1)
  z2 = (y - y.mean(axis=0)).T / np.sqrt(n - 1)
  expected = np.linalg.svd(z1.T @ z2, compute_uv=False).sum()
  value = fid.trace_sqrt_product(c1, c2)
  assert isinstance(value, float) and np.isfinite(value)
  # Without the noise floor on eigenvalues this is only ~1e-8 relative (sqrt of rounding noise).
  assert value == pytest.approx(expected, rel=1e-12)
  distance = fid.frechet_distance(x, y)
  expected_distance = (np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(c1) + np.trace(c2)
                       - 2 * expected)
  assert distance == pytest.approx(expected_distance, rel=1e-12)


def test_from_statistics_equals_from_features():
  rng = np.random.default_rng(6)
  x, y = _correlated(rng, 300, 24), _correlated(rng, 200, 24, shift=0.3)
  from_stats = fid.frechet_distance_from_statistics(*fid.feature_statistics(x),
                                                    *fid.feature_statistics(y))
  assert fid.frechet_distance(x, y) == from_stats


def test_float32_features_match_float64():
  rng = np.random.default_rng(7)
  x, y = _correlated(rng, 400, 16).astype(np.float32), _correlated(rng, 400, 16, 0.2)
  y = y.astype(np.float32)
  expected = fid.frechet_distance(x.astype(np.float64), y.astype(np.float64))
  assert fid.frechet_distance(x, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("features, message", [
    (np.ones(10), "2-D"),
    (np.ones((1, 4)), "at least 2 rows"),
    (np.where(np.eye(4) > 0, np.nan, 1.0), "4 NaN values"),
    (np.full((3, 2), np.inf), "6 infinite values"),
    (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
])
def test_bad_features_raise(features, message):
  with pytest.raises(ValueError, match=message):
    fid.feature_statistics(features)


def test_bad_pairs_raise():
  rng = np.random.default_rng(8)
  with pytest.raises(ValueError, match="different feature dimensions"):
    fid.frechet_distance(rng.standard_normal((10, 3)), rng.standard_normal((10, 4)))
  with pytest.raises(ValueError, match="fake_features contain 1 NaN"):
    bad = rng.standard_normal((10, 3))
    bad[2, 1] = np.nan
    fid.frechet_distance(rng.standard_normal((10, 3)), bad)
  c = _random_spd(rng, 4)
  with pytest.raises(ValueError, match="different feature dimensions"):
    fid.frechet_distance_from_statistics(np.zeros(4), c, np.zeros(3), c[:3, :3])
  with pytest.raises(ValueError, match=r"mu1 has 3 features but cov1 has shape \(4, 4\)"):
    fid.frechet_distance_from_statistics(np.zeros(3), c, np.zeros(4), c)
  with pytest.raises(ValueError, match="square"):
    fid.frechet_distance_from_statistics(np.zeros(4), c[:, :3], np.zeros(4), c)
  with pytest.raises(ValueError, match="symmetric"):
    fid.trace_sqrt_product(c + np.triu(np.ones((4, 4)), 1), c)
  with pytest.raises(ValueError, match="same shape"):
    fid.trace_sqrt_product(c, c[:3, :3])


def test_ill_conditioned_matches_qr_reference():
  # Features mixed by a square Gaussian matrix with columns scaled over 4 decades: covariance
  # condition number > 1e8 (TF-GAN's eigen method is ~1e-7 off here). Exact reference without
  # forming covariances: (X - mu) / sqrt(n - 1) = Q R gives S = R^T R, so
  # Tr sqrt(S1 S2) = ||R1 R2^T||_* (the nuclear norm).
  rng = np.random.default_rng(9)
  n, d = 1000, 96
  scales = np.logspace(0, -4, d)
  x = rng.standard_normal((n, d)) @ (rng.standard_normal((d, d)) * scales)
  y = rng.standard_normal((n, d)) @ (rng.standard_normal((d, d)) * scales)
  _, c1 = fid.feature_statistics(x)
  _, c2 = fid.feature_statistics(y)
  assert np.linalg.cond(c1) > 1e8
  r1 = np.linalg.qr((x - x.mean(axis=0)) / np.sqrt(n - 1), mode="r")
  r2 = np.linalg.qr((y - y.mean(axis=0)) / np.sqrt(n - 1), mode="r")
  expected = np.linalg.svd(r1 @ r2.T, compute_uv=False).sum()
  assert fid.trace_sqrt_product(c1, c2) == pytest.approx(expected, rel=1e-13)


def test_constant_feature_stays_finite():
  # A zero-variance feature makes the covariance singular even with n > d (Cholesky fails, the
  # eigen-factor fallback runs); scipy's sqrtm warns "Matrix is singular" here.
  rng = np.random.default_rng(10)
  n = 200
  x, y = rng.standard_normal((n, 8)), rng.standard_normal((n, 8)) + 0.1
  x[:, 3] = 5.0
  _, c1 = fid.feature_statistics(x)
  _, c2 = fid.feature_statistics(y)
  z1 = (x - x.mean(axis=0)).T / np.sqrt(n - 1)
  z2 = (y - y.mean(axis=0)).T / np.sqrt(n - 1)
  expected = np.linalg.svd(z1.T @ z2, compute_uv=False).sum()
  assert fid.trace_sqrt_product(c1, c2) == pytest.approx(expected, rel=1e-12)
  assert np.isfinite(fid.frechet_distance(x, y))


def test_few_samples_path_equals_the_covariance_path():
  # n <= d takes the O(n^2 d) data-factor path; it must equal the statistics path.
  rng = np.random.default_rng(7)
  real = rng.normal(size=(30, 64)).astype(np.float32)
  fake = (1.5 * rng.normal(size=(45, 64)) + 0.3).astype(np.float32)
  mu_r, cov_r = fid.feature_statistics(real)
  mu_g, cov_g = fid.feature_statistics(fake)
  expected = fid.frechet_distance_from_statistics(mu_r, cov_r, mu_g, cov_g)
  assert fid.frechet_distance(real, fake) == pytest.approx(expected, rel=1e-10)
  assert fid.frechet_distance(real, real) == pytest.approx(0.0, abs=1e-9)
  with pytest.raises(ValueError, match="NaN"):
    fid.frechet_distance(np.full((3, 64), np.nan), fake)
