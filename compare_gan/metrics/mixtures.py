"""Exact mode-collapse metrics for the 2-D Gaussian mixtures `ring8` and `grid25`.

The generating mixture is known (compare_gan/synthetic.py, `MIXTURES`), so samples can be
scored against it directly, following VEEGAN (Srivastava et al. 2017, synthetic experiments; the
quotes below are from its project page, github.com/akashgit/VEEGAN) and PacGAN (Lin et al. 2018,
Table 1), which use the same ring / grid mixtures as Unrolled GANs (Metz et al. 2017):

  * a sample is *high quality* if it lies within `num_std` = 3 standard deviations of its
    nearest mode. PacGAN's released code (`MetricLogger` in
    `synthetic_data_experiments/PacGAN/pacgan/extensions.py`) tests
    sqrt(sum_d (x_d - mu_d)^2 / sigma_d^2) < 3, strictly; with isotropic modes that is
    ||x - mu|| < 3 sigma. For an exact sample, ||x - mu||^2 / sigma^2 ~ chi^2_2, so the rate is
    1 - exp(-9/2) = 98.89 %.
  * a mode is *covered* (VEEGAN: "captured"; PacGAN: "recovered") if it is the nearest mode of
    at least one high-quality sample. VEEGAN: "the number of mixture components whose mean is
    nearest to at least one high quality sample"; PacGAN's code counts the non-zero entries of
    the per-mode high-quality histogram. `min_count` generalises the 1 (a stricter threshold
    discounts modes hit by a few stray samples); the default is the published 1.
  * `reverse_kl` = KL(q || p) between the histogram q of the high-quality samples over their
    nearest modes and the mixture's weights p (uniform, 1/K): sum_k q_k log(K q_k), in nats,
    0 for a perfectly balanced generator, log(K) when every high-quality sample sits on one mode,
    and finite when modes are missing (which is why the reverse direction is reported). PacGAN
    reports a "reverse KL" for these mixtures; its released code computes the JSD of this same
    high-quality histogram to the uniform one. Whether the paper's histogram also counted
    low-quality samples is not stated in what we could read: we use the high-quality one.
    NaN when there is no high-quality sample.

Everything is in the [0, 1]^2 coordinates of `data/synthetic.py` (ring8: std 0.004, grid25: std
0.005), which are an affine image of the published ones, so the metrics are unchanged.
"""

from typing import Dict, Union

import numpy as np

from compare_gan.data import synthetic

MixtureLike = Union[str, synthetic.MixtureSpec]


def mode_metrics(points: np.ndarray, spec_or_name: MixtureLike, *, num_std: float = 3.0,
                 min_count: int = 1) -> Dict[str, object]:
  """Mode coverage and sample quality of generated 2-D points against a known mixture.

  Args:
    points: [N, 2] generated points in [0, 1]^2 coordinates, N >= 1.
    spec_or_name: a `synthetic.MixtureSpec` or a key of `synthetic.MIXTURES`
      ("ring8", "grid25").
    num_std: high-quality radius in standard deviations (published: 3), > 0.
    min_count: high-quality samples a mode needs to count as covered (published: 1), >= 1.

  Returns:
    A dict with
      "num_modes": int K;
      "modes_covered": int in [0, K], modes with >= min_count high-quality samples;
      "high_quality_rate": float in [0, 1], fraction of samples within num_std stddevs of
        their nearest mode;
      "reverse_kl": float >= 0 (nats), KL(high-quality mode histogram || uniform), NaN if no
        sample is high quality;
      "mode_counts": int64 [K] high-quality samples per mode (mode k = spec.centers[k]).
  """
  spec = (spec_or_name if isinstance(spec_or_name, synthetic.MixtureSpec)
          else synthetic.mixture_spec(spec_or_name))
  points = np.asarray(points, dtype=np.float64)
  if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 1:
    raise ValueError(f"points must be a non-empty [N, 2] array; got shape {points.shape}.")
  if not np.all(np.isfinite(points)):
    raise ValueError("points must be finite (no NaN or infinity).")
  if not num_std > 0:
    raise ValueError(f"num_std must be > 0; got {num_std!r}.")
  if int(min_count) != min_count or min_count < 1:
    raise ValueError(f"min_count must be an integer >= 1; got {min_count!r}.")

  centers = np.asarray(spec.centers, dtype=np.float64)  # [K, 2]
  num_modes = centers.shape[0]
  squared = ((points[:, None, :] - centers[None, :, :])**2).sum(axis=-1)  # [N, K], K <= 25
  nearest = np.argmin(squared, axis=1)
  nearest_squared = squared[np.arange(points.shape[0]), nearest]
  # Squared distances against the squared radius: no square root rounding at the boundary.
  high_quality = nearest_squared < (num_std * spec.stddev)**2
  counts = np.bincount(nearest[high_quality], minlength=num_modes).astype(np.int64)

  total = counts.sum()
  if total:
    q = counts[counts > 0] / total  # 0 log 0 = 0.
    reverse_kl = float(np.sum(q * np.log(q * num_modes)))
  else:
    reverse_kl = float("nan")
  return {
      "num_modes": int(num_modes),
      "modes_covered": int(np.count_nonzero(counts >= min_count)),
      "high_quality_rate": float(high_quality.mean()),
      "reverse_kl": reverse_kl,
      "mode_counts": counts,
  }
