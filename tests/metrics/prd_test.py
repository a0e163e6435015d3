"""PRD (compare_gan/metrics/prd.py): the reference's edge cases, hand-computed F-beta values,
argument checks, seeded clustering, and the identical-distributions fix."""

import numpy as np
import pytest
import threadpoolctl

from compare_gan.metrics import prd


@pytest.fixture(autouse=True)
def _one_thread():
  # MiniBatchKMeans on a few hundred points: OpenMP/BLAS threads only add start-up and spinning
  # (40x slower on a busy 2-core machine).
  with threadpoolctl.threadpool_limits(limits=1):
    yield


def test_no_overlap_gives_zero():
  precision, recall = prd.compute_prd(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
  np.testing.assert_allclose(np.concatenate([precision, recall]), 0.0, atol=1e-12)


def test_perfect_overlap_gives_one():
  precision, recall = prd.compute_prd(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
  assert precision[-1] == pytest.approx(1.0) and recall[0] == pytest.approx(1.0)
  # alpha(lambda) = min(lambda, 1) and beta = min(1, 1/lambda): the curve passes through (1, 1).
  assert np.max(np.minimum(precision, recall)) == pytest.approx(1.0, abs=1e-2)


def test_half_overlap_low_precision_high_recall():
  # Q puts half its mass where P has none: precision = min(lambda, 0.5) <= 0.5, recall max 1.
  precision, recall = prd.compute_prd(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
  assert precision.max() == pytest.approx(0.5) and recall.max() == pytest.approx(1.0)
  slopes = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, 1001))
  np.testing.assert_allclose(precision, np.minimum(slopes, 0.5), atol=1e-12)
  np.testing.assert_allclose(recall, np.minimum(1.0, 0.5 / slopes), atol=1e-12)


def test_identical_distributions_do_not_raise():
  # The reference: recall = 1 + 2.2e-16 here, and prd_to_max_f_beta_pair raised.
  dist = np.full(20, 0.05)
  precision, recall = prd.compute_prd(dist, dist)
  assert precision.max() <= 1.0 and recall.max() <= 1.0
  f8, f18 = prd.prd_to_max_f_beta_pair(precision, recall)
  assert f8 == pytest.approx(1.0, abs=1e-3) and f18 == pytest.approx(1.0, abs=1e-3)
  data = np.random.default_rng(0).normal(size=(200, 4))
  precision, recall = prd.compute_prd_from_embedding(data, data, num_clusters=5, num_runs=1)
  assert prd.prd_to_max_f_beta_pair(precision, recall)[0] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("beta, expected", [
    # p = [0.5, 1.0, 0.6], r = [1.0, 0.5, 0.3]; F_b = (1 + b^2) p r / (b^2 p + r).
    (1.0, (2 / 3, 2 / 3)),  # Best: 2*0.5/1.5 at both of the first two points.
    (2.0, (2.5 / 3.0, 2.5 / 3.0)),  # F_2: 5*0.5/(2+1) = 0.8333; F_1/2: 1.25*0.5/(0.25+0.5).
    (0.5, (2.5 / 3.0, 2.5 / 3.0)),
])
def test_f_beta_hand_computed(beta, expected):
  precision = np.array([0.5, 1.0, 0.6])
  recall = np.array([1.0, 0.5, 0.3])
  got = prd.prd_to_max_f_beta_pair(precision, recall, beta=beta)
  np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_f_beta_single_point():
  # p = 0.6, r = 0.3: F_2 = 5*0.18/(2.4+0.3) = 1/3; F_1/2 = 1.25*0.18/(0.15+0.3) = 0.5.
  f2, f_half = prd.prd_to_max_f_beta_pair(np.array([0.6]), np.array([0.3]), beta=2)
  assert f2 == pytest.approx(1 / 3, rel=1e-8) and f_half == pytest.approx(0.5, rel=1e-8)
  assert prd.prd_to_max_f_beta_pair(np.array([0.0]), np.array([0.0])) == (0.0, 0.0)


def test_cluster_histograms_are_distributions():
  rng = np.random.default_rng(1)
  eval_data, ref_data = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)) + 1.0
  eval_bins, ref_bins = prd._cluster_into_bins(eval_data, ref_data, 4, random_state=0,
                                               batch_size=1024)
  assert eval_bins.shape == ref_bins.shape == (4,)
  assert eval_bins.sum() == pytest.approx(1.0) and ref_bins.sum() == pytest.approx(1.0)
  # Reference test: all-zeros vs all-ones data with 3 clusters.
  eval_bins, ref_bins = prd._cluster_into_bins(np.zeros([5, 4]), np.ones([5, 4]), 3, 0, 100)
  assert eval_bins.sum() == pytest.approx(1.0) and ref_bins.sum() == pytest.approx(1.0)
  assert np.count_nonzero(eval_bins * ref_bins) == 0  # The two points never share a cluster.


def test_embedding_separated_sets_have_low_scores_and_seed_reproduces():
  rng = np.random.default_rng(2)
  ref_data = rng.normal(size=(300, 8))
  eval_data = np.concatenate([rng.normal(size=(150, 8)), rng.normal(size=(150, 8)) + 20.0])
  first = prd.compute_prd_from_embedding(eval_data, ref_data, num_clusters=10, num_runs=3, seed=5)
  again = prd.compute_prd_from_embedding(eval_data, ref_data, num_clusters=10, num_runs=3, seed=5)
  np.testing.assert_array_equal(first[0], again[0])
  np.testing.assert_array_equal(first[1], again[1])
  # Half of the generated mass lies far from the data: precision <= ~0.5, recall ~1.
  assert first[0].max() == pytest.approx(0.5, abs=0.05) and first[1].max() == pytest.approx(1.0)
  f8, f18 = prd.prd_to_max_f_beta_pair(*first)
  assert f8 > 0.9 and f18 < 0.6  # High recall, low precision.


def test_unbalanced_sets_need_enforce_balance_false():
  rng = np.random.default_rng(3)
  eval_data, ref_data = rng.normal(size=(40, 2)), rng.normal(size=(80, 2))
  with pytest.raises(ValueError, match="enforce_balance"):
    prd.compute_prd_from_embedding(eval_data, ref_data, num_clusters=4, num_runs=1)
  precision, recall = prd.compute_prd_from_embedding(eval_data, ref_data, num_clusters=4,
                                                     num_runs=1, enforce_balance=False)
  assert precision.shape == recall.shape == (1001,)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epsilon=0.0), "epsilon"), (dict(epsilon=0.1), "epsilon"),
    (dict(num_angles=2), "num_angles"), (dict(num_angles=1e6 + 1), "num_angles"),
])
def test_compute_prd_argument_ranges(kwargs, match):
  with pytest.raises(ValueError, match=match):
    prd.compute_prd(np.array([0.5, 0.5]), np.array([0.5, 0.5]), **kwargs)


@pytest.mark.parametrize("eval_dist, ref_dist, match", [
    ([0.5, 0.5], [1.0, 0.0, 0.0], "same number of bins"),
    ([0.5, 0.6], [0.5, 0.5], "sum to 1"),
    ([1.5, -0.5], [0.5, 0.5], "non-negative"),
    ([[0.5, 0.5]], [0.5, 0.5], "1-D"),
])
def test_compute_prd_input_checks(eval_dist, ref_dist, match):
  with pytest.raises(ValueError, match=match):
    prd.compute_prd(np.array(eval_dist), np.array(ref_dist))


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_clusters=1), "num_clusters"), (dict(num_runs=0), "num_runs"),
    (dict(batch_size=0), "batch_size"), (dict(seed=-1), "seed"),
])
def test_compute_prd_from_embedding_argument_checks(kwargs, match):
  data = np.zeros((10, 2))
  with pytest.raises(ValueError, match=match):
    prd.compute_prd_from_embedding(data, data, **kwargs)
  with pytest.raises(ValueError, match="same D"):
    prd.compute_prd_from_embedding(np.zeros((10, 2)), np.zeros((10, 3)))


def test_f_beta_argument_checks():
  with pytest.raises(ValueError, match="beta"):
    prd.prd_to_max_f_beta_pair(np.array([0.5]), np.array([0.5]), beta=0)
  with pytest.raises(ValueError, match="recall must be in"):
    prd.prd_to_max_f_beta_pair(np.array([0.5]), np.array([1.1]))
  with pytest.raises(ValueError, match="precision must be in"):
    prd.prd_to_max_f_beta_pair(np.array([-0.1]), np.array([0.5]))
  with pytest.raises(ValueError, match="same length"):
    prd.prd_to_max_f_beta_pair(np.array([0.5, 0.5]), np.array([0.5]))
  # Rounding noise just above 1 is clipped, not an error (the reference's identical-sets crash).
  assert prd.prd_to_max_f_beta_pair(np.array([1.0]), np.array([1.0 + 2.2e-16]))[0] == (
      pytest.approx(1.0))
