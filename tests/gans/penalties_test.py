"""Penalties against discriminators whose input gradients are known in closed form."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import normalization
from compare_gan.architectures import sndcgan
from compare_gan.gans import penalties

SEED = tf.constant([3, 7], tf.int64)
EPS = 1e-4  # the reference's slope epsilon


def linear_d(w):
  """D(x) = <w, x> + 1 per example: grad_x D = w everywhere."""
  w = tf.constant(w, tf.float32)
  return lambda x: tf.reshape(tf.reduce_sum(x * w, axis=[1, 2, 3]), [-1, 1]) + 1.0


def quadratic_d(x):
  """D(x) = 0.5 ||x||^2 per example: grad_x D = x."""
  return 0.5 * tf.reshape(tf.reduce_sum(tf.square(x), axis=[1, 2, 3]), [-1, 1])


def _images(rng, b=5):
  return tf.constant(rng.uniform(size=(b, 4, 4, 2)), tf.float32)


@pytest.mark.parametrize("fn", [penalties.wgangp_penalty, penalties.dragan_penalty])
def test_linear_discriminator_gives_constant_penalty(fn):
  rng = np.random.default_rng(0)
  w = rng.normal(size=(4, 4, 2)) * 0.3
  expected = (np.sqrt(EPS + np.sum(w ** 2)) - 1.0) ** 2
  value = fn(linear_d(w), _images(rng), _images(rng), seed=SEED)
  assert value.shape == (5,)
  np.testing.assert_allclose(value.numpy(), np.full(5, expected), rtol=1e-5)


def test_wgangp_interpolates_with_one_alpha_per_example():
  # real = 0, fake = 1: x_hat = alpha * 1, so ||grad|| = alpha * sqrt(n) reveals each alpha.
  b, n = 64, 4 * 4 * 2
  real, fake = tf.zeros([b, 4, 4, 2]), tf.ones([b, 4, 4, 2])
  value = penalties.wgangp_penalty(quadratic_d, real, fake, seed=SEED).numpy()
  # slope = 1 +- sqrt(value); one of the two branches must match the independent alpha draw.
  candidates = np.stack([1.0 + np.sqrt(value), 1.0 - np.sqrt(value)])
  alphas = np.sqrt(np.maximum(candidates ** 2 - EPS, 0.0)) / np.sqrt(n)
  independent = tf.random.stateless_uniform([b, 1, 1, 1], SEED).numpy().ravel()
  assert np.all(np.min(np.abs(alphas - independent), axis=0) < 1e-5)
  assert len(np.unique(np.round(independent, 6))) == b  # per example, not one per batch
  again = penalties.wgangp_penalty(quadratic_d, real, fake, seed=SEED).numpy()
  other = penalties.wgangp_penalty(quadratic_d, real, fake,
                                   seed=tf.constant([4, 7], tf.int64)).numpy()
  np.testing.assert_array_equal(value, again)
  assert not np.allclose(value, other)


def test_wgangp_on_non_image_data():
  # 2-D points: D(x) = <w, x>.
  w = tf.constant([0.3, -0.4])  # ||w|| = 0.5
  d = lambda x: tf.reduce_sum(x * w, axis=1, keepdims=True)
  value = penalties.wgangp_penalty(d, tf.zeros([3, 2]), tf.ones([3, 2]), seed=SEED)
  np.testing.assert_allclose(value.numpy(), (np.sqrt(EPS + 0.25) - 1.0) ** 2, rtol=1e-5)


def test_dragan_landscape_with_constant_batch_has_no_noise():
  # A constant real batch has std 0, so x_noisy = x = 0.5 and grad = x.
  real = tf.fill([3, 4, 4, 2], 0.5)
  value = penalties.dragan_penalty(quadratic_d, real, tf.zeros_like(real), seed=SEED)
  expected = (np.sqrt(EPS + 32 * 0.25) - 1.0) ** 2
  np.testing.assert_allclose(value.numpy(), np.full(3, expected), rtol=1e-5)


def test_dragan_landscape_noise_is_within_half_a_std_and_clipped():
  rng = np.random.default_rng(1)
  real = _images(rng, b=8)
  std = float(np.std(real.numpy()))
  # grad of 0.5 ||x||^2 is x_noisy itself; recover it through a D that records its input.
  seen = []

  def recording_d(x):
    seen.append(x)
    return quadratic_d(x)

  penalties.dragan_penalty(recording_d, real, real, seed=SEED)
  noisy = seen[0].numpy()
  r = real.numpy()
  assert np.all(noisy >= 0.0) and np.all(noisy <= 1.0)
  assert np.all(np.abs(noisy - r) <= std / 2 + 1e-6)
  assert np.abs(noisy - r).max() > 0.1 * std  # there is noise


def test_dragan_created_equal_uses_gradient_of_sigmoid_output():
  gin.parse_config("dragan_penalty.variant = 'created_equal'")
  rng = np.random.default_rng(2)
  w = rng.normal(size=(4, 4, 2)) * 0.5
  real = tf.fill([3, 4, 4, 2], 0.25)  # std 0: x_hat = x exactly
  logit = np.sum(0.25 * w) + 1.0
  s = 1.0 / (1.0 + np.exp(-logit))
  grad_norm_sq = (s * (1 - s)) ** 2 * np.sum(w ** 2)
  value = penalties.dragan_penalty(linear_d(w), real, real, seed=SEED)
  np.testing.assert_allclose(value.numpy(), (np.sqrt(EPS + grad_norm_sq) - 1) ** 2, rtol=1e-5)


def test_dragan_created_equal_perturbs_one_sided_and_interpolates_per_example():
  # v1 DRAGAN.py: x_hat = x + alpha * 0.5 std u, alpha ~ U[0, 1) per example, u ~ U[0, 1) per
  # entry: every shift is in [0, std / 2) and unclipped, and the per-example alphas make the
  # examples' largest shifts differ.
  rng = np.random.default_rng(4)
  real = tf.constant(rng.uniform(0.6, 1.0, size=(16, 4, 4, 2)), tf.float32)
  std = float(np.std(real.numpy()))
  seen = []

  def recording_d(x):
    seen.append(x)
    return quadratic_d(x)

  penalties.dragan_penalty(recording_d, real, real, seed=SEED, variant="created_equal")
  shift = seen[0].numpy() - real.numpy()
  assert np.all(shift >= -1e-7) and np.all(shift <= std / 2 + 1e-6)
  assert seen[0].numpy().max() > 1.0  # not clipped to [0, 1], unlike the landscape variant
  largest = shift.reshape(16, -1).max(axis=1)
  assert largest.max() > 3 * largest.min()


def test_dragan_default_is_the_landscape_variant():
  real = tf.constant(np.random.default_rng(5).uniform(size=(4, 4, 4, 2)), tf.float32)
  default = penalties.dragan_penalty(quadratic_d, real, real, seed=SEED)
  landscape = penalties.dragan_penalty(quadratic_d, real, real, seed=SEED, variant="landscape")
  np.testing.assert_array_equal(default.numpy(), landscape.numpy())


@pytest.mark.parametrize("old,new", [("v3", "landscape"), ("v2", "created_equal")])
def test_dragan_old_variant_names_say_which_new_name_to_use(old, new):
  gin.parse_config(f"dragan_penalty.variant = '{old}'")
  with pytest.raises(config.ConfigError,
                     match=rf"dragan_penalty.variant='{old}' was renamed: use "
                           rf"dragan_penalty.variant = '{new}'"):
    penalties.dragan_penalty(quadratic_d, tf.zeros([1, 4, 4, 2]), tf.zeros([1, 4, 4, 2]),
                             seed=SEED)


def test_dragan_rejects_unknown_variant():
  with pytest.raises(config.ConfigError, match="'v4' is not one of 'landscape', 'created_equal'"):
    penalties.dragan_penalty(quadratic_d, tf.zeros([1, 4, 4, 2]), tf.zeros([1, 4, 4, 2]),
                             seed=SEED, variant="v4")


def test_r1_on_quadratic_discriminator():
  # D(x) = sum(a x^2): grad = 2 a x, R1 = 0.5 sum (2 a x)^2 on the real batch.
  rng = np.random.default_rng(3)
  a = rng.uniform(size=(4, 4, 2))
  d = lambda x: tf.reshape(tf.reduce_sum(tf.constant(a, tf.float32) * tf.square(x),
                                         axis=[1, 2, 3]), [-1, 1])
  real = _images(rng)
  expected = 0.5 * np.sum((2 * a * real.numpy()) ** 2, axis=(1, 2, 3))
  value = penalties.r1_penalty(d, real, tf.zeros_like(real), seed=SEED)
  np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5)


def test_l2_over_kernels_only():
  opts = base.DiscriminatorOptions(width=0.125, spectral_norm=True,
                                   batch_norm_fn=normalization.batch_norm, layer_norm=True)
  d = sndcgan.Discriminator((16, 16, 3), options=opts)
  d.build_variables()
  kernels = [v for v in d.trainable_variables if v.path.endswith("/kernel")]
  assert len(kernels) == 8  # 7 convs + d_fc1; no biases, BN/LN gamma/beta or u vectors
  assert len(d.trainable_variables) > len(kernels)
  expected = np.mean([0.5 * np.sum(k.numpy().astype(np.float64) ** 2) for k in kernels])
  value = penalties.l2_penalty(d, None, None, seed=SEED)
  assert value.shape == ()
  np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5)


def test_l2_needs_variables():
  with pytest.raises(TypeError, match="trainable_variables"):
    penalties.l2_penalty(quadratic_d, None, None, seed=SEED)


def test_no_penalty_is_zero():
  value = penalties.no_penalty(quadratic_d, tf.ones([4, 4, 4, 2]), tf.ones([4, 4, 4, 2]),
                               seed=SEED)
  np.testing.assert_array_equal(value.numpy(), np.zeros(4))


def test_selected_and_weighted_by_gin():
  gin.parse_config("penalty.fn = @wgangp_penalty\npenalty.weight = 10.0")
  term = penalties.compute_penalty(linear_d(np.zeros((4, 4, 2))), tf.zeros([2, 4, 4, 2]),
                                   tf.ones([2, 4, 4, 2]), seed=SEED)
  assert term.weight == 10.0
  np.testing.assert_allclose(term.value.numpy(), (np.sqrt(EPS) - 1) ** 2, rtol=1e-5)


def test_unknown_penalty_name_is_an_error():
  with pytest.raises(Exception, match="wgan_gp"):
    gin.parse_config("penalty.fn = @wgan_gp")


def test_weight_clipping():
  v = tf.Variable([-0.5, 0.005, 0.3])
  penalties.clip_weights([v])  # default: no clipping
  np.testing.assert_allclose(v.numpy(), [-0.5, 0.005, 0.3])
  gin.parse_config("weight_clipping.clip_value = 0.01")
  penalties.clip_weights([v])
  np.testing.assert_allclose(v.numpy(), [-0.01, 0.005, 0.01])
  with pytest.raises(ValueError, match="-1"):
    penalties.clip_weights([v], clip_value=-1.0)


@pytest.mark.parametrize("fn", [penalties.wgangp_penalty, penalties.dragan_penalty,
                                penalties.r1_penalty])
def test_xla_matches_eager_and_is_differentiable(fn):
  # XLA draws other random numbers than the CPU kernels for the same stateless seed, so compare
  # on a linear D, whose penalty (sqrt(eps + |w|^2) - 1)^2 does not depend on the draws.
  rng = np.random.default_rng(4)
  w = tf.Variable(rng.normal(size=(4, 4, 2)).astype(np.float32) * 0.2)
  d = lambda x: tf.reshape(tf.reduce_sum(x * w, axis=[1, 2, 3]), [-1, 1])
  real, fake = _images(rng), _images(rng)

  def penalty_and_grad(real, fake):
    with tf.GradientTape() as tape:
      value = tf.reduce_mean(fn(d, real, fake, seed=SEED))
    return value, tape.gradient(value, w)

  norm = np.sqrt(EPS + np.sum(w.numpy().astype(np.float64) ** 2))
  if fn is penalties.r1_penalty:
    expected = (0.5 * norm ** 2, w.numpy())  # R1 = 0.5 |w|^2 (eps-free), d/dw = w
  else:
    expected = ((norm - 1) ** 2, 2 * (norm - 1) * w.numpy() / norm)
  eager = penalty_and_grad(real, fake)
  jitted = tf.function(penalty_and_grad, jit_compile=True)(real, fake)
  for got in (eager, jitted):
    np.testing.assert_allclose(got[0].numpy(), expected[0], rtol=1e-4)
    np.testing.assert_allclose(got[1].numpy(), expected[1], rtol=1e-3, atol=1e-6)


def test_xla_penalty_through_nonlinear_discriminator():
  rng = np.random.default_rng(5)
  w = tf.Variable(rng.normal(size=(4, 4, 2)).astype(np.float32))
  d = lambda x: tf.reshape(tf.reduce_sum(tf.tanh(x * w), axis=[1, 2, 3]), [-1, 1])

  @tf.function(jit_compile=True)
  def run(real, fake):
    with tf.GradientTape() as tape:
      value = fn_value = tf.reduce_mean(penalties.wgangp_penalty(d, real, fake, seed=SEED))
    return fn_value, tape.gradient(value, w)

  value, grad = run(_images(rng), _images(rng))
  assert np.isfinite(value.numpy()) and np.all(np.isfinite(grad.numpy()))
  assert np.any(grad.numpy() != 0)
