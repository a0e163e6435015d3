"""Frechet Inception Distance (Heusel et al., 2017, arXiv:1706.08500, eq. 6), in float64 NumPy.

Fit a Gaussian to each feature set (Inception pool_3, d = 2048) and take the Frechet (2-Wasserstein)
distance between the two:

    FID = ||mu_r - mu_g||^2 + Tr(S_r) + Tr(S_g) - 2 Tr((S_r S_g)^{1/2})

with mu the sample mean and S the *unbiased* (ddof = 1) sample covariance, as in TTUR's
`np.cov(x, rowvar=False)` and TF-GAN's `n/(n-1) * tfp.stats.covariance` (which compare_gan
uses).

Tr((S_r S_g)^{1/2}) is computed without a matrix square root of the non-symmetric product S_r S_g
(what TTUR / pytorch-fid do with `scipy.linalg.sqrtm`): with factors S = F F^T (Cholesky), S_r S_g
has the eigenvalues of P P^T for P = F_r^T F_g, so the trace of its square root is the sum of the
singular values of P (`trace_sqrt_product`). That is several times faster than `sqrtm` at
d = 2048, never complex (none of TTUR's eps-on-the-diagonal retries or "imaginary component"
errors), and more accurate than both `sqrtm` and TF-GAN's eigenvalues-then-square-roots method on
ill-conditioned covariances (numbers in `trace_sqrt_product`).

Negative values are *not* clipped: for (near-)identical sets the three trace terms cancel and
rounding can leave a value of order -1e-13 * (Tr S_r + Tr S_g). TF-GAN, TTUR and torch-fidelity do
not clip either, and a clip would also hide a genuinely negative result (a bug, or covariances
that are not PSD); compare against 0 with an absolute tolerance.
"""

from typing import Tuple

import numpy as np
import scipy.linalg

# Bytes of the float64 copy of one chunk of rows in `feature_statistics`: 16384 rows at d = 2048,
# so 10k x 2048 features run as one BLAS product (2048-row chunks measured ~15% slower), while a
# 50k x 2048 float32 matrix is never copied whole to float64 (800 MB).
_CHUNK_BYTES = 256 << 20


def _check_finite(name: str, x: np.ndarray) -> None:
  """Raises a ValueError counting the NaN / inf entries of `x`, if any."""
  finite = np.isfinite(x)
  if not finite.all():
    num_nan = int(np.isnan(x).sum())
    num_inf = int(x.size - finite.sum()) - num_nan
    raise ValueError(f"{name} contain {num_nan} NaN values and {num_inf} infinite values "
                     f"(of {x.size}); all values must be finite.")


def feature_statistics(features: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Mean and unbiased covariance of a feature set, in float64.

  Args:
    features: [n, d] features (any real dtype; Inception pool_3 features are float32), n >= 2.

  Returns:
    (mu, cov): mu float64 [d] = mean over the n rows; cov float64 [d, d] =
    (X - mu)^T (X - mu) / (n - 1), exactly symmetric (same as `np.cov(features, rowvar=False)`).

  Raises:
    ValueError: if `features` is not 2-D, has fewer than 2 rows, or has NaN / inf entries.
  """
  return _statistics(features, "features")


def _statistics(features: np.ndarray, name: str) -> Tuple[np.ndarray, np.ndarray]:
  """`feature_statistics` with `name` in its error messages."""
  features = _check_features(features, name)
  n, d = features.shape
  # Accumulate the mean in float64 whatever the input dtype (float32 sums of 50k rows lose digits).
  mu = features.mean(axis=0, dtype=np.float64)
  return mu, _covariance(features, mu, n, d)


def _check_features(features: np.ndarray, name: str) -> np.ndarray:
  """`features` as an array, validated: 2-D, n >= 2, real, finite."""
  features = np.asarray(features)
  if features.ndim != 2:
    raise ValueError(f"{name} must be a 2-D [n, d] array; got shape {features.shape}.")
  n, d = features.shape
  if n < 2:
    raise ValueError(f"{name} need at least 2 rows (n) for an unbiased covariance; got "
                     f"shape {features.shape}.")
  if not np.issubdtype(features.dtype, np.number) or np.iscomplexobj(features):
    raise ValueError(f"{name} must be real numbers; got dtype {features.dtype}.")
  _check_finite(name, features)
  return features


def _covariance(features: np.ndarray, mu: np.ndarray, n: int, d: int) -> np.ndarray:
  cov = None
  chunk_rows = max(256, _CHUNK_BYTES // (8 * max(d, 1)))
  for start in range(0, n, chunk_rows):
    chunk = features[start:start + chunk_rows].astype(np.float64)  # A copy: safe to centre.
    chunk -= mu
    # `a.T @ a` on one buffer is dispatched by NumPy to BLAS syrk (half the flops of a gemm) and
    # comes back exactly symmetric; centring first avoids the cancellation of E[xx^T] - mu mu^T.
    if cov is None:
      cov = chunk.T @ chunk
    else:
      cov += chunk.T @ chunk
  cov /= n - 1
  return cov


def _check_statistics(mu: np.ndarray, cov: np.ndarray, which: str) -> Tuple[np.ndarray,
                                                                             np.ndarray]:
  """Validates one (mu [d], cov [d, d]) pair; returns float64 copies/views."""
  mu = np.asarray(mu, dtype=np.float64)
  cov = np.asarray(cov, dtype=np.float64)
  if mu.ndim != 1:
    raise ValueError(f"mu{which} must be a 1-D [d] vector; got shape {mu.shape}.")
  _check_covariance(cov, f"cov{which}")
  if cov.shape[0] != mu.shape[0]:
    raise ValueError(f"mu{which} has {mu.shape[0]} features but cov{which} has shape "
                     f"{cov.shape}; expected ({mu.shape[0]}, {mu.shape[0]}).")
  _check_finite(f"mu{which}", mu)
  return mu, cov


def _check_covariance(cov: np.ndarray, name: str) -> None:
  """A covariance must be square, finite and symmetric (Cholesky and eigh read one triangle)."""
  if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
    raise ValueError(f"{name} must be a square 2-D [d, d] matrix; got shape {cov.shape}.")
  _check_finite(name, cov)
  scale = float(np.abs(cov).max()) if cov.size else 0.0
  asymmetry = float(np.abs(cov - cov.T).max()) if cov.size else 0.0
  # 1e-6 relative admits covariances computed in float32; a larger gap means a wrong input.
  if asymmetry > 1e-6 * scale:
    raise ValueError(f"{name} must be symmetric; max |{name} - {name}^T| = {asymmetry:.3g} "
                     f"(max |{name}| = {scale:.3g}).")


def _noise_floor(values: np.ndarray, scale: float) -> float:
  """Values below d * eps * scale are rounding noise around 0 for a [d, d] PSD matrix.

  Same threshold as `np.linalg.matrix_rank`. Setting such eigenvalues to 0 matters for
  rank-deficient covariances (n <= d): the square root of a noise eigenvalue of 1e-16 * scale is
  1e-8 * sqrt(scale), and a few dozen of them bias Tr sqrt by ~1e-8 relative.
  """
  return values.size * np.finfo(np.float64).eps * scale


def _psd_factor(cov: np.ndarray) -> Tuple[np.ndarray, bool]:
  """A [d, d] factor F with F F^T = cov (to rounding) for a symmetric PSD `cov`; is F lower?

  Cholesky (d^3 / 3 flops) when cov is numerically positive definite; otherwise (n <= d samples,
  constant features) the eigen-factor V diag(sqrt(w)) with noise-level eigenvalues set to 0. A
  Cholesky that succeeds with a noise-level pivot is treated as semidefinite too: its L would
  carry sqrt(noise) entries in the null directions.
  """
  floor = _noise_floor(np.diag(cov), float(np.abs(np.diag(cov)).max(initial=0.0)))
  try:
    lower = np.linalg.cholesky(cov)
  except np.linalg.LinAlgError:
    lower = None
  if lower is not None and np.diag(lower).min(initial=np.inf) ** 2 > floor:
    return lower, True
  return _psd_factor_eigh(cov), False


def trace_sqrt_product(cov1: np.ndarray, cov2: np.ndarray) -> float:
  """Tr((cov1 cov2)^{1/2}) for symmetric PSD covariances: the nuclear norm of F1^T F2.

  With any factors cov1 = F1 F1^T and cov2 = F2 F2^T, cov1 cov2 = F1 (F1^T F2 F2^T) has the
  eigenvalues of P P^T, P = F1^T F2 (eig(XY) = eig(YX)), i.e. the squared singular values of P.
  Hence Tr((cov1 cov2)^{1/2}) = sum_i sigma_i(F1^T F2). F is the Cholesky factor when the
  covariance is positive definite, else a clipped eigen-factor (see `_psd_factor`), so
  rank-deficient covariances (n <= d) give a finite real value and nothing is ever complex.

  Why not TF-GAN's `trace_sqrt_product` (eigenvalues of A cov2 A with A = cov1^{1/2}, then their
  square roots)? An eigenvalue lambda of the product is only known to ~eps * lambda_max, and its
  square root then to ~eps * lambda_max / (2 sqrt(lambda)): with ill-conditioned covariances that
  method was 1.2e-6 relative off in the 10k x 2048 case of `scripts/bench_eval.py` (covariance
  eigenvalues spanning 9 decades), where `scipy.linalg.sqrtm` was 3e-11 off. Singular values of
  F1^T F2 are the square roots directly, each accurate to ~eps * sigma_max; they matched an exact
  QR-based reference to the last digit there, and the route was a little faster too (Cholesky is
  cheap; the values-only SVD dominates: 4.2 s vs 4.9 s for the eigen method, 18.5 s for sqrtm,
  single-threaded).

  Args:
    cov1: [d, d] symmetric positive semi-definite matrix.
    cov2: [d, d] symmetric positive semi-definite matrix.

  Returns:
    The trace as a Python float (computed in float64).
  """
  cov1 = np.asarray(cov1, dtype=np.float64)
  cov2 = np.asarray(cov2, dtype=np.float64)
  _check_covariance(cov1, "cov1")
  _check_covariance(cov2, "cov2")
  if cov1.shape != cov2.shape:
    raise ValueError(f"cov1 and cov2 must have the same shape; got {cov1.shape} and "
                     f"{cov2.shape}.")
  return _trace_sqrt_product(cov1, cov2)


def _trace_sqrt_product(cov1: np.ndarray, cov2: np.ndarray) -> float:
  """`trace_sqrt_product` on validated float64 inputs."""
  (f1, f1_lower), (f2, _) = _psd_factor(cov1), _psd_factor(cov2)
  if f1_lower:
    # F1^T F2 with F1 triangular: BLAS trmm, half the flops of a general product.
    product = scipy.linalg.blas.dtrmm(1.0, f1, f2, side=0, lower=1, trans_a=1)
  else:
    product = f1.T @ f2
  # SciPy's LAPACK build ran this values-only SVD ~15% faster than NumPy's at d = 2048.
  singular_values = scipy.linalg.svd(product, compute_uv=False, overwrite_a=True,
                                     check_finite=False)
  return float(singular_values.sum())


def _trace_sqrt_product_eigh(cov1: np.ndarray, cov2: np.ndarray) -> float:
  """TF-GAN's method with `eigh`: sum sqrt(eig(C^T cov2 C)), cov1 = C C^T (C = V sqrt(w)).

  Kept for comparison (`scripts/bench_eval.py`): same maths as `trace_sqrt_product`, but the
  square roots of small eigenvalues lose accuracy (see there).
  """
  c = _psd_factor_eigh(np.asarray(cov1, dtype=np.float64))
  m = c.T @ (np.asarray(cov2, dtype=np.float64) @ c)
  m = 0.5 * (m + m.T)  # eigvalsh reads one triangle only; rounding left m slightly asymmetric.
  ev = np.linalg.eigvalsh(m)
  ev = np.where(ev > _noise_floor(ev, float(np.abs(ev).max(initial=0.0))), ev, 0.0)
  return float(np.sqrt(ev).sum())


def _psd_factor_eigh(cov: np.ndarray) -> np.ndarray:
  """V diag(sqrt(w)) from cov = V diag(w) V^T, with negative / noise-level w set to 0."""
  w, v = np.linalg.eigh(cov)
  w = np.where(w > _noise_floor(w, float(np.abs(w).max(initial=0.0))), w, 0.0)
  return v * np.sqrt(w)  # Column i scaled by sqrt(w_i).


def frechet_distance_from_statistics(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray,
                                     cov2: np.ndarray) -> float:
  """Frechet distance between N(mu1, cov1) and N(mu2, cov2) (Heusel et al., 2017, eq. 6).

    ||mu1 - mu2||^2 + Tr(cov1) + Tr(cov2) - 2 Tr((cov1 cov2)^{1/2})

  Args:
    mu1: [d] mean of the first (e.g. real) set.
    cov1: [d, d] covariance of the first set (symmetric PSD).
    mu2: [d] mean of the second (e.g. generated) set.
    cov2: [d, d] covariance of the second set (symmetric PSD).

  Returns:
    The distance as a Python float (float64 maths), not clipped at 0 (see the module docstring).

  Raises:
    ValueError: on mismatched or malformed shapes, non-finite or asymmetric inputs.
  """
  mu1, cov1 = _check_statistics(mu1, cov1, "1")
  mu2, cov2 = _check_statistics(mu2, cov2, "2")
  if mu1.shape != mu2.shape:
    raise ValueError(f"The two sets have different feature dimensions: mu1 has {mu1.shape[0]} "
                     f"and mu2 has {mu2.shape[0]}.")
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(cov1) + np.trace(cov2)
               - 2.0 * _trace_sqrt_product(cov1, cov2))


def frechet_distance(real_features: np.ndarray, fake_features: np.ndarray) -> float:
  """FID between two feature sets (TF-GAN `frechet_classifier_distance_from_activations`).

  Args:
    real_features: [n_r, d] features of the real images, n_r >= 2.
    fake_features: [n_g, d] features of the generated images, n_g >= 2 (n_g may differ from n_r;
      compare_gan uses n_r = n_g = 10k for CIFAR-10; FIDs at different n are not comparable
      because the estimate is biased, roughly linearly in 1/n).

  Returns:
    The FID as a Python float, not clipped at 0 (see the module docstring).

  Raises:
    ValueError: if either set is malformed (see `feature_statistics`) or their feature
      dimensions differ.
  """
  real_features = np.asarray(real_features)
  fake_features = np.asarray(fake_features)
  for name, x in (("real_features", real_features), ("fake_features", fake_features)):
    if x.ndim != 2:
      raise ValueError(f"{name} must be a 2-D [n, d] array; got shape {x.shape}.")
  if real_features.shape[1] != fake_features.shape[1]:
    raise ValueError(f"real_features and fake_features have different feature dimensions: "
                     f"{real_features.shape} vs {fake_features.shape}.")
  n_min, d = min(len(real_features), len(fake_features)), real_features.shape[1]
  if n_min <= d:
    return _frechet_distance_few_samples(real_features, fake_features)
  mu_r, cov_r = _statistics(real_features, "real_features")
  mu_g, cov_g = _statistics(fake_features, "fake_features")
  return frechet_distance_from_statistics(mu_r, cov_r, mu_g, cov_g)


def _frechet_distance_few_samples(real_features: np.ndarray, fake_features: np.ndarray) -> float:
  """FID from the data when a set has no more samples than dimensions (n <= d).

  The centred, scaled data X = (features - mu) / sqrt(n - 1) [n, d] is itself a factor of the
  covariance (S = X^T X), so Tr((S_r S_g)^{1/2}) is the nuclear norm of X_r X_g^T [n_r, n_g]
  (the `trace_sqrt_product` argument with F = X^T) and Tr(S) = ||X||_F^2: O(n^2 d) instead of
  the O(d^3) factorisations of two [d, d] covariances (2048^3 with Inception features).
  """
  centred = []
  for name, x in (("real_features", real_features), ("fake_features", fake_features)):
    x = _check_features(x, name)
    mu = x.mean(axis=0, dtype=np.float64)
    centred.append((mu, (x.astype(np.float64) - mu) / np.sqrt(len(x) - 1)))
  (mu_r, x_r), (mu_g, x_g) = centred
  nuclear = float(np.linalg.svd(x_r @ x_g.T, compute_uv=False).sum())
  diff = mu_r - mu_g
  return float(diff @ diff + np.sum(x_r * x_r) + np.sum(x_g * x_g) - 2.0 * nuclear)
