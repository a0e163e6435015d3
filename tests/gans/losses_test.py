"""Losses against independent numpy formulas (reference loss_lib.py), sign conventions."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan.gans import losses


def _softplus(x):
  return np.logaddexp(0.0, x)


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _relu(x):
  return np.maximum(x, 0.0)


def _numpy_losses(name, r, f):
  """(d_loss, d_loss_real, d_loss_fake, g_loss) batch means from the reference formulas."""
  if name in ("non_saturating", "minimax"):
    # -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f).
    d_real, d_fake = -np.log(_sigmoid(r)), -np.log(1.0 - _sigmoid(f))
    g = -np.log(_sigmoid(f)) if name == "non_saturating" else np.log(1.0 - _sigmoid(f))
    return (d_real + d_fake).mean(), d_real.mean(), d_fake.mean(), g.mean()
  if name == "least_squares":
    d_real, d_fake = (_sigmoid(r) - 1.0) ** 2, _sigmoid(f) ** 2
    return (0.5 * (d_real.mean() + d_fake.mean()), d_real.mean(), d_fake.mean(),
            0.5 * ((_sigmoid(f) - 1.0) ** 2).mean())
  if name == "wasserstein":
    return -r.mean() + f.mean(), -r.mean(), f.mean(), -f.mean()
  if name == "hinge":
    d_real, d_fake = _relu(1.0 - r), _relu(1.0 + f)
    return (d_real + d_fake).mean(), d_real.mean(), d_fake.mean(), -f.mean()
  # Relativistic average (Jolicoeur-Martineau 2019): D_ra(a, b) = C(a) - mean C(b).
  rr, fr = r - f.mean(), f - r.mean()
  if name == "ra_non_saturating":
    d_real, d_fake = -np.log(_sigmoid(rr)), -np.log(1.0 - _sigmoid(fr))
    g = -np.log(_sigmoid(fr)) - np.log(1.0 - _sigmoid(rr))
  else:
    d_real, d_fake = _relu(1.0 - rr), _relu(1.0 + fr)
    g = _relu(1.0 - fr) + _relu(1.0 + rr)
  return (d_real + d_fake).mean(), d_real.mean(), d_fake.mean(), g.mean()


NAMES = [fn.__name__ for fn in losses.LOSSES]


@pytest.mark.parametrize("name", NAMES)
def test_matches_numpy(name):
  rng = np.random.default_rng(0)
  r = rng.normal(size=(16, 1)) * 2
  f = rng.normal(size=(16, 1)) * 2
  result = getattr(losses, name)(tf.constant(r, tf.float32), tf.constant(f, tf.float32))
  for field in result:
    assert field.shape == (16,)
  got = [float(tf.reduce_mean(tf.cast(t, tf.float64))) for t in result]
  np.testing.assert_allclose(got, _numpy_losses(name, r[:, 0], f[:, 0]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_d_and_g_pull_in_opposite_directions(name):
  """D's loss falls when real logits rise and fake logits fall; G's falls when fake rise."""
  fn = getattr(losses, name)
  r = tf.Variable([[0.3], [-0.2], [0.1]])
  f = tf.Variable([[-0.1], [0.4], [0.0]])
  with tf.GradientTape(persistent=True) as tape:
    result = fn(r, f)
    d_loss, g_loss = tf.reduce_mean(result.d_loss), tf.reduce_mean(result.g_loss)
  assert np.all(tape.gradient(d_loss, r).numpy() < 0)
  assert np.all(tape.gradient(d_loss, f).numpy() > 0)
  assert np.all(tape.gradient(g_loss, f).numpy() < 0)


def test_least_squares_parts_omit_half():
  r, f = tf.constant([[0.5]]), tf.constant([[-0.5]])
  result = losses.least_squares(r, f)
  np.testing.assert_allclose(result.d_loss_real.numpy(), (_sigmoid(0.5) - 1) ** 2, rtol=1e-6)
  np.testing.assert_allclose(result.d_loss.numpy(),
                             0.5 * (result.d_loss_real + result.d_loss_fake).numpy(), rtol=1e-6)


def test_non_saturating_stable_for_large_logits():
  result = losses.non_saturating(tf.constant([[200.0], [-200.0]]), tf.constant([[-200.0],
                                                                                [200.0]]))
  for t in result:
    assert np.all(np.isfinite(t.numpy()))
  np.testing.assert_allclose(result.d_loss.numpy(), [0.0, 400.0], atol=1e-4)


@pytest.mark.parametrize("shape", [(4,), (4, 2), (4, 1, 1)])
def test_rejects_wrong_logit_shape(shape):
  with pytest.raises(ValueError, match=r"\[B, 1\]"):
    losses.hinge(tf.zeros(shape), tf.zeros(shape))


def test_rejects_mismatched_batches():
  with pytest.raises(ValueError, match="batch size"):
    losses.hinge(tf.zeros([4, 1]), tf.zeros([3, 1]))


def test_selected_by_gin_reference():
  r, f = tf.constant([[1.0]]), tf.constant([[2.0]])
  default = losses.compute_loss(r, f)
  np.testing.assert_allclose(default.g_loss.numpy(), _softplus(-2.0), rtol=1e-6)
  gin.parse_config("loss.fn = @hinge")
  np.testing.assert_allclose(losses.compute_loss(r, f).d_loss.numpy(), [0.0 + 3.0], rtol=1e-6)


def test_unknown_gin_loss_names_the_bad_value():
  with pytest.raises(Exception, match="hnge"):
    gin.parse_config("loss.fn = @hnge")


def test_works_under_xla():
  r = tf.constant(np.random.default_rng(1).normal(size=(8, 1)), tf.float32)
  f = tf.constant(np.random.default_rng(2).normal(size=(8, 1)), tf.float32)
  for fn in losses.LOSSES:
    eager = fn(r, f)
    jitted = tf.function(fn, jit_compile=True)(r, f)
    for a, b in zip(eager, jitted):
      np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
