"""MS-SSIM and the MS-SSIM diversity score (compare_gan/metrics/ms_ssim.py).

Checked against: the reference's golden number (`ms_ssim_score_test.py`), TF2's
`tf.image.ssim_multiscale` where it works (>= 176 px), and a literal float64 transcription of
the reference (2-D window, per-pair filtering, all ordered pairs) at sizes TF cannot handle.
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy import signal

from compare_gan.metrics import ms_ssim as ms

_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _literal_ms_ssim(x: np.ndarray, y: np.ndarray, max_val: float = 255.0) -> float:
  """Reference `_multiscale_ssim_helper` for one pair [H, W, C], written the slow obvious way."""
  c1, c2 = (0.01 * max_val)**2, (0.03 * max_val)**2
  terms = []
  for scale in range(5):
    if scale > 0:
      pad = ((0, x.shape[0] % 2), (0, x.shape[1] % 2), (0, 0))
      x, y = (np.pad(v, pad, mode="symmetric") for v in (x, y))
      x, y = ((v[0::2, 0::2] + v[1::2, 0::2] + v[0::2, 1::2] + v[1::2, 1::2]) / 4 for v in (x, y))
    size = min(11, x.shape[0], x.shape[1])
    coords = np.arange(size) - (size - 1) / 2.0
    logits = -0.5 * (coords[:, None]**2 + coords[None, :]**2) / 1.5**2
    window = np.exp(logits) / np.exp(logits).sum()  # The reference's softmax window.
    ssim_c, cs_c = [], []
    for c in range(x.shape[2]):
      f = lambda img: signal.correlate2d(img, window, mode="valid")  # noqa: E731
      mu_x, mu_y = f(x[..., c]), f(y[..., c])
      lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
      cs = (2 * f(x[..., c] * y[..., c]) - 2 * mu_x * mu_y + c2) / (
          f(x[..., c]**2 + y[..., c]**2) - mu_x**2 - mu_y**2 + c2)
      ssim_c.append(np.mean(lum * cs))
      cs_c.append(np.mean(cs))
    terms.append(np.maximum(ssim_c if scale == 4 else cs_c, 0.0))
  per_channel = np.prod([t**w for t, w in zip(terms, _WEIGHTS)], axis=0)
  return float(np.mean(per_channel))


def test_reference_golden_one_vs_07_vs_zero_images():
  # Reference test: images 1, 0.7 and 0 (64x64x3, used as they are with max_val 255), all ordered
  # pairs of one batch, score = (sum - 3) / 6 = 0.989989 +- 0.001.
  images = np.stack([np.ones([64, 64, 3]), 0.7 * np.ones([64, 64, 3]), np.zeros([64, 64, 3])])
  score = ms.pairwise_ms_ssim_score(images, max_val=255.0)
  assert score == pytest.approx(0.989989, abs=1e-3)
  assert score == pytest.approx(0.989989, abs=1e-6)  # The printed digits, in fact.


def test_identical_images_give_one():
  rng = np.random.default_rng(0)
  images = rng.uniform(0, 255, (3, 32, 32, 3))
  np.testing.assert_allclose(ms.ms_ssim(images, images), 1.0, rtol=0, atol=1e-12)
  same = np.repeat(rng.uniform(0, 1, (1, 32, 32, 3)), 8, axis=0)
  assert ms.ms_ssim_score(same, batch_size=4, num_batches=2) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("size", [176, 192])
def test_matches_tf_image_ssim_multiscale(size):
  rng = np.random.default_rng(size)
  a = rng.uniform(0, 255, (3, size, size, 3))
  noisy = np.clip(a + rng.normal(0, 40, a.shape), 0, 255)
  b = np.concatenate([noisy[:2], rng.uniform(0, 255, (1, size, size, 3))])  # Similar + unrelated.
  expected = tf.image.ssim_multiscale(tf.constant(a, tf.float32), tf.constant(b, tf.float32),
                                      max_val=255.0, power_factors=_WEIGHTS, filter_size=11,
                                      filter_sigma=1.5, k1=0.01, k2=0.03).numpy()
  # TF works in float32 (E[xy] - mu_x mu_y cancels at 255^2 scale), we in float64.
  np.testing.assert_allclose(ms.ms_ssim(a, b), expected, rtol=0, atol=2e-5)


def test_tf_ssim_multiscale_rejects_64px_where_ours_works():
  images = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3))
  with pytest.raises(tf.errors.InvalidArgumentError):
    tf.image.ssim_multiscale(tf.constant(images, tf.float32), tf.constant(images[::-1],
                                                                          tf.float32), 255.0)
  assert 0.0 < ms.ms_ssim(images, images[::-1])[0] < 1.0


@pytest.mark.parametrize("shape", [(28, 28, 1), (33, 47, 3), (9, 6, 2)])
def test_matches_literal_reference_with_clamped_window_and_odd_sizes(shape):
  rng = np.random.default_rng(sum(shape))
  a = rng.uniform(0, 255, (3,) + shape)
  b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
  b[2] = rng.uniform(0, 255, shape)
  expected = [_literal_ms_ssim(x, y) for x, y in zip(a, b)]
  np.testing.assert_allclose(ms.ms_ssim(a, b), expected, rtol=0, atol=1e-10)


def test_ms_ssim_is_symmetric():
  rng = np.random.default_rng(2)
  a, b = rng.uniform(0, 255, (2, 4, 32, 32, 3))
  np.testing.assert_allclose(ms.ms_ssim(a, b), ms.ms_ssim(b, a), rtol=0, atol=1e-14)


def test_score_equals_reference_formula_over_all_ordered_pairs():
  rng = np.random.default_rng(3)
  images = rng.uniform(0, 1, (12, 32, 32, 3))
  images[6:] = np.clip(images[:6] + rng.normal(0, 0.1, images[:6].shape), 0, 1)  # Similar pairs.
  batch_size, num_batches, seed = 5, 2, 7
  scores = []
  for b in range(num_batches):
    picked = np.random.default_rng([seed, b]).choice(12, size=batch_size, replace=False)
    batch = images[np.sort(picked)] * 255.0
    first = np.tile(batch, (batch_size, 1, 1, 1))  # The reference's tf.tile pairing.
    second = np.repeat(batch, batch_size, axis=0)
    total = ms.ms_ssim(first, second).sum()
    scores.append((total - batch_size) / (batch_size * batch_size - batch_size))
  got = ms.ms_ssim_score(images, batch_size=batch_size, num_batches=num_batches, seed=seed)
  assert got == pytest.approx(np.mean(scores), abs=1e-12)


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_score_small_images_seeded(shape):
  rng = np.random.default_rng(4)
  images = rng.uniform(0, 1, (40,) + shape)
  first = ms.ms_ssim_score(images, batch_size=16, num_batches=2, seed=0)
  assert 0.0 < first < 1.0
  assert ms.ms_ssim_score(images, batch_size=16, num_batches=2, seed=0) == first
  assert ms.ms_ssim_score(images, batch_size=16, num_batches=2, seed=1) != first


def test_more_similar_batches_score_higher():
  rng = np.random.default_rng(5)
  base = rng.uniform(0, 1, (1, 32, 32, 3))
  collapsed = np.clip(base + rng.normal(0, 0.02, (16, 32, 32, 3)), 0, 1)
  diverse = rng.uniform(0, 1, (16, 32, 32, 3))
  assert (ms.ms_ssim_score(collapsed, batch_size=8, num_batches=1) >
          ms.ms_ssim_score(diverse, batch_size=8, num_batches=1) + 0.5)


@pytest.mark.parametrize("call, match", [
    (lambda: ms.ms_ssim(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 9, 3))), "same shape"),
    (lambda: ms.ms_ssim(np.zeros((8, 8, 3)), np.zeros((8, 8, 3))), r"\[N, H, W, C\]"),
    (lambda: ms.ms_ssim(np.full((1, 8, 8, 1), np.nan), np.zeros((1, 8, 8, 1))), "NaN"),
    (lambda: ms.ms_ssim(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)), max_val=0), "max_val"),
    (lambda: ms.ms_ssim(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)), filter_size=0),
     "filter_size"),
    (lambda: ms.pairwise_ms_ssim_score(np.zeros((1, 8, 8, 1))), "at least 2"),
    (lambda: ms.ms_ssim_score(np.full((4, 8, 8, 1), 2.0), batch_size=2), r"\[0, 1\]"),
    (lambda: ms.ms_ssim_score(np.zeros((4, 8, 8, 1)), batch_size=5), "at least batch_size"),
    (lambda: ms.ms_ssim_score(np.zeros((4, 8, 8, 1)), batch_size=1), "batch_size"),
    (lambda: ms.ms_ssim_score(np.zeros((4, 8, 8, 1)), batch_size=2, num_batches=0),
     "num_batches"),
    (lambda: ms.ms_ssim_score(np.zeros((4, 8, 8, 1)), batch_size=2, seed=-1), "seed"),
])
def test_argument_errors(call, match):
  with pytest.raises(ValueError, match=match):
    call()
