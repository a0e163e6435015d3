"""Mode metrics for the 2-D Gaussian mixtures (compare_gan/metrics/mixtures.py)."""

import math

import numpy as np
import pytest

from compare_gan.data import synthetic
from compare_gan.metrics import mixtures


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_exact_samples_cover_every_mode(name):
  points, modes = synthetic.mixture_points(np.arange(20000), seed=0, name=name)
  result = mixtures.mode_metrics(points, name)
  num_modes = synthetic.mixture_spec(name).centers.shape[0]
  assert result["num_modes"] == num_modes
  assert result["modes_covered"] == num_modes
  # ||x - mu||^2 / sigma^2 ~ chi^2_2: P(< 9) = 1 - exp(-4.5) = 0.98889; binomial sd ~ 0.0007.
  assert result["high_quality_rate"] == pytest.approx(1 - math.exp(-4.5), abs=0.004)
  assert result["mode_counts"].sum() == pytest.approx(result["high_quality_rate"] * 20000)
  # Balanced histogram: reverse KL ~ (K - 1) / (2 n) for multinomial noise, tiny.
  assert 0.0 <= result["reverse_kl"] < 0.01
  # High-quality samples are assigned to the mode that generated them (modes are >25 std apart).
  spec = synthetic.mixture_spec(name)
  nearest = np.argmin(((points[:, None] - spec.centers[None]) ** 2).sum(-1), axis=1)
  np.testing.assert_array_equal(nearest, modes)


def test_all_points_at_one_mode():
  spec = synthetic.mixture_spec("grid25")
  points = np.repeat(spec.centers[7:8], 100, axis=0)
  result = mixtures.mode_metrics(points, spec)
  assert result["modes_covered"] == 1
  assert result["high_quality_rate"] == 1.0
  assert result["mode_counts"][7] == 100 and result["mode_counts"].sum() == 100
  assert result["reverse_kl"] == pytest.approx(math.log(25))  # All mass on 1 of 25 modes.


def test_points_far_from_every_mode():
  result = mixtures.mode_metrics(np.full((50, 2), 0.5), "ring8")  # The ring's empty centre.
  assert result["high_quality_rate"] == 0.0
  assert result["modes_covered"] == 0
  assert math.isnan(result["reverse_kl"])
  assert result["mode_counts"].tolist() == [0] * 8


def test_boundary_is_strict_and_num_std_scales_it():
  spec = synthetic.mixture_spec("ring8")
  center = spec.centers[0]
  # At 2.9 and 3.1 std along y (radial direction is x at angle 0), the first counts, the second
  # does not; with num_std = 4 both count.
  points = center + np.array([[0.0, 2.9], [0.0, 3.1]]) * spec.stddev
  assert mixtures.mode_metrics(points, spec)["high_quality_rate"] == 0.5
  assert mixtures.mode_metrics(points, spec, num_std=4.0)["high_quality_rate"] == 1.0


def test_min_count_and_reverse_kl_hand_computed():
  spec = synthetic.mixture_spec("ring8")
  # 6 samples on mode 0, 2 on mode 1, 1 far away.
  points = np.concatenate([np.repeat(spec.centers[:1], 6, 0), np.repeat(spec.centers[1:2], 2, 0),
                           [[0.5, 0.5]]])
  result = mixtures.mode_metrics(points, "ring8")
  assert result["modes_covered"] == 2
  assert result["high_quality_rate"] == pytest.approx(8 / 9)
  q = np.array([0.75, 0.25])
  assert result["reverse_kl"] == pytest.approx(np.sum(q * np.log(q * 8)))
  assert mixtures.mode_metrics(points, "ring8", min_count=3)["modes_covered"] == 1
  assert mixtures.mode_metrics(points, "ring8", min_count=7)["modes_covered"] == 0


def test_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match=r"ring9.*\['grid25', 'ring8'\]"):
    mixtures.mode_metrics(np.zeros((3, 2)), "ring9")


@pytest.mark.parametrize("kwargs, match", [
    (dict(points=np.zeros((3, 3))), r"\[N, 2\]"),
    (dict(points=np.zeros((0, 2))), r"\[N, 2\]"),
    (dict(points=np.full((3, 2), np.nan)), "finite"),
    (dict(points=np.zeros((3, 2)), num_std=0.0), "num_std"),
    (dict(points=np.zeros((3, 2)), min_count=0), "min_count"),
])
def test_argument_errors(kwargs, match):
  points = kwargs.pop("points")
  with pytest.raises(ValueError, match=match):
    mixtures.mode_metrics(points, "grid25", **kwargs)
