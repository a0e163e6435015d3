"""Normalisers against independent numpy computations (reference arch_ops.py standardize_batch,
batch_norm, conditional_batch_norm, self_modulated_batch_norm, layer_norm).

Cross-replica statistics need several logical devices in a fresh process and are tested
elsewhere.
"""

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from compare_gan.architectures import normalization


def _rand(shape, seed=0, scale=1.0, shift=0.0):
  return (np.random.default_rng(seed).normal(size=shape) * scale + shift).astype(np.float32)


def _moments(x):
  """Per-channel mean and population variance over every axis but the last, in float64."""
  x = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
  return x.mean(axis=0), x.var(axis=0)


def _standardize(x, mean, var, eps):
  return (np.asarray(x, np.float64) - mean) / np.sqrt(var + eps)


def _relu(x):
  return np.maximum(x, 0.0)


SHAPES = {"rank4": (4, 3, 2, 5), "rank2": (6, 5)}


# ---------------------------------------------------------------------------------------------
# batch_norm and standardize_batch.


def test_standardize_defaults_are_the_reference_ones():
  bn = normalization.batch_norm(name="bn")
  assert bn.standardize.decay == 0.999
  assert bn.standardize.epsilon == 1e-3
  assert bn.standardize.use_moving_averages


@pytest.mark.parametrize("rank", sorted(SHAPES))
def test_batch_norm_training_and_moving_averages(rank):
  gin.parse_config("standardize_batch.decay = 0.9\nstandardize_batch.epsilon = 1e-5")
  shape, c = SHAPES[rank], SHAPES[rank][-1]
  x1, x2, x3 = (_rand(shape, seed, scale=2.0, shift=3.0) for seed in (1, 2, 3))
  bn = normalization.batch_norm(name="bn")
  bn(x1, training=False)  # build; inference does not touch the moving averages
  std = bn.standardize
  np.testing.assert_array_equal(std.moving_mean.numpy(), np.zeros(c))
  np.testing.assert_array_equal(std.moving_variance.numpy(), np.ones(c))
  gamma, beta = _rand((c,), 4), _rand((c,), 5)
  bn.gamma.assign(gamma)
  bn.beta.assign(beta)

  moving_mean, moving_var = np.zeros(c), np.ones(c)
  for x in (x1, x2):
    out = bn(x, training=True).numpy()
    mean, var = _moments(x)
    np.testing.assert_allclose(out, _standardize(x, mean, var, 1e-5) * gamma + beta,
                               rtol=1e-4, atol=1e-4)
    moving_mean = moving_mean - 0.1 * (moving_mean - mean)
    moving_var = moving_var - 0.1 * (moving_var - var)
    np.testing.assert_allclose(std.moving_mean.numpy(), moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.moving_variance.numpy(), moving_var, rtol=1e-5, atol=1e-6)

  out = bn(x3, training=False).numpy()
  np.testing.assert_allclose(out, _standardize(x3, moving_mean, moving_var, 1e-5) * gamma + beta,
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(std.moving_mean.numpy(), moving_mean, rtol=1e-5, atol=1e-6)
  assert not std.moving_mean.trainable and not std.moving_variance.trainable
  assert {v.name for v in bn.trainable_variables} == {"gamma", "beta"}


def test_batch_norm_without_center_and_scale():
  x = _rand((4, 2, 2, 3), 6, shift=1.0)
  bn = normalization.batch_norm(name="bn", center=False, scale=False)
  out = bn(x, training=True).numpy()
  assert bn.gamma is None and bn.beta is None
  assert not bn.trainable_variables
  np.testing.assert_allclose(out, _standardize(x, *_moments(x), 1e-3), rtol=1e-4, atol=1e-4)


# The reference arch_ops_test.testBatchNorm: 4 images of 2x1 pixels, 3 channels, and the values
# tf.layers.batch_normalization gives in training mode (epsilon 1e-3).
_GOLDEN_X = np.array([[[[5, 7, 2]], [[5, 8, 8]]],
                      [[[1, 2, 0]], [[4, 0, 4]]],
                      [[[6, 2, 6]], [[5, 0, 5]]],
                      [[[2, 4, 2]], [[6, 4, 1]]]], np.float32)
_GOLDEN_BN = np.array([[[[0.4375205, 1.30336881, -0.58830315]],
                        [[0.4375205, 1.66291881, 1.76490951]]],
                       [[[-1.89592218, -0.49438119, -1.37270737]],
                        [[-0.14584017, -1.21348119, 0.19610107]]],
                       [[[1.02088118, -0.49438119, 0.98050523]],
                        [[0.4375205, -1.21348119, 0.58830321]]],
                       [[[-1.31256151, 0.22471881, -0.58830315]],
                        [[1.02088118, 0.22471881, -0.98050523]]]], np.float32)


def test_batch_norm_reference_golden_values():
  assert _GOLDEN_X.shape == (4, 2, 1, 3)
  out = normalization.batch_norm(name="bn")(_GOLDEN_X, training=True).numpy()
  np.testing.assert_allclose(out, _GOLDEN_BN, rtol=1e-5, atol=1e-5)
  x = tf.constant(_GOLDEN_X)
  mean, var = tf.nn.moments(x, axes=[0, 1, 2])
  core = tf.nn.batch_normalization(x, mean, var, offset=None, scale=None, variance_epsilon=1e-3)
  np.testing.assert_allclose(out, core.numpy(), rtol=1e-5, atol=1e-5)


def test_batch_norm_rejects_other_ranks():
  with pytest.raises(ValueError, match="normalises"):
    normalization.batch_norm(name="bn")(tf.zeros((2, 3, 4)), training=True)


@pytest.mark.parametrize("binding,value", [("decay", "1.5"), ("decay", "-0.1"),
                                           ("epsilon", "0.0"), ("epsilon", "-0.5")])
def test_bad_standardize_settings(binding, value):
  gin.parse_config(f"standardize_batch.{binding} = {value}")
  with pytest.raises(ValueError, match=rf"standardize_batch\.{binding}={value}"):
    normalization.batch_norm(name="bn")


def test_batch_norm_under_jit():
  gin.parse_config("standardize_batch.decay = 0.9")
  x = tf.constant(_rand((4, 2, 2, 3), 7, shift=1.0))
  bn = normalization.batch_norm(name="bn")
  bn(x, training=False)
  train = tf.function(lambda t: bn(t, training=True), jit_compile=True)
  infer = tf.function(lambda t: bn(t, training=False), jit_compile=True)
  eager = bn(x, training=True).numpy()
  mean_eager = bn.standardize.moving_mean.numpy().copy()
  bn.standardize.moving_mean.assign(np.zeros(3))
  bn.standardize.moving_variance.assign(np.ones(3))
  np.testing.assert_allclose(train(x).numpy(), eager, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(bn.standardize.moving_mean.numpy(), mean_eager, rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(infer(x).numpy(), bn(x, training=False).numpy(), rtol=1e-5,
                             atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Accumulated statistics (use_moving_averages = False).


def test_accumulated_statistics():
  gin.parse_config("standardize_batch.use_moving_averages = False")
  eps = 1e-3
  batches = [_rand((4, 2, 2, 3), seed, scale=1.0 + seed, shift=seed) for seed in range(5)]
  bn = normalization.batch_norm(name="bn")
  (std,) = normalization.standardizers(bn)
  assert isinstance(std, normalization.Standardize)
  assert not hasattr(std, "moving_mean")

  def accumulators():
    return std.accu_mean.numpy(), std.accu_variance.numpy(), float(std.accu_counter.numpy())

  # Training uses batch statistics and leaves the accumulators alone.
  x = batches[0]
  np.testing.assert_allclose(bn(x, training=True).numpy(), _standardize(x, *_moments(x), eps),
                             rtol=1e-4, atol=1e-4)
  mean, var, counter = accumulators()
  np.testing.assert_array_equal(mean, np.zeros(3))
  np.testing.assert_array_equal(var, np.zeros(3))
  assert 0 < counter < 1e-6

  # Inference with accumulation on: add the batch's statistics, normalise with the running
  # average of the per-batch statistics.
  std.set_accumulating(True)
  means, variances = [], []
  for k, x in enumerate(batches[1:4], start=1):
    m, v = _moments(x)
    means.append(m)
    variances.append(v)
    out = bn(x, training=False).numpy()
    expected = _standardize(x, np.mean(means, axis=0), np.mean(variances, axis=0), eps)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    mean, var, counter = accumulators()
    np.testing.assert_allclose(mean, np.sum(means, axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(var, np.sum(variances, axis=0), rtol=1e-5, atol=1e-5)
    assert counter == pytest.approx(k, rel=1e-6)

  # Accumulation off: inference uses the stored averages, accumulators unchanged.
  std.set_accumulating(False)
  x = batches[4]
  expected = _standardize(x, np.mean(means, axis=0), np.mean(variances, axis=0), eps)
  np.testing.assert_allclose(bn(x, training=False).numpy(), expected, rtol=1e-4, atol=1e-4)
  bn(x, training=True)
  mean, var, counter = accumulators()
  np.testing.assert_allclose(mean, np.sum(means, axis=0), rtol=1e-5, atol=1e-5)
  assert counter == pytest.approx(3, rel=1e-6)

  std.reset_accumulators()
  mean, var, counter = accumulators()
  np.testing.assert_array_equal(mean, np.zeros(3))
  np.testing.assert_array_equal(var, np.zeros(3))
  assert 0 < counter < 1e-6
  std.set_accumulating(True)
  np.testing.assert_allclose(bn(x, training=False).numpy(), _standardize(x, *_moments(x), eps),
                             rtol=1e-4, atol=1e-4)


def test_standardizers_finds_every_standardize():
  model = keras.Sequential([normalization.batch_norm(name="bn1"),
                            normalization.no_batch_norm(name="none"),
                            normalization.batch_norm(name="bn2")])
  model(tf.zeros((2, 3)))
  found = normalization.standardizers(model)
  assert len(found) == 2
  assert all(isinstance(s, normalization.Standardize) for s in found)


def test_set_accumulating_is_noop_with_moving_averages():
  bn = normalization.batch_norm(name="bn")
  bn(tf.zeros((2, 3)), training=False)
  (std,) = normalization.standardizers(bn)
  std.set_accumulating(True)
  std.reset_accumulators()
  assert not hasattr(std, "accu_mean")


# ---------------------------------------------------------------------------------------------
# Conditional and self-modulated batch norm.


@pytest.mark.parametrize("rank", sorted(SHAPES))
def test_conditional_batch_norm(rank):
  shape, c = SHAPES[rank], SHAPES[rank][-1]
  b, k = shape[0], 4
  x = _rand(shape, 10, scale=2.0, shift=1.0)
  y = np.eye(k, dtype=np.float32)[np.arange(b) % k]
  y[-1] = [0.5, 0.25, 0.25, 0.0]  # soft labels
  cbn = normalization.conditional_batch_norm(name="cbn")
  cbn(x, y=y, training=False)
  assert cbn.gamma.bias is None and cbn.beta.bias is None  # use_bias=False by default
  assert tuple(cbn.gamma.kernel.shape) == (k, c)
  # gamma has no +1 offset: at init it is y @ W_gamma with W ~ N(0, 0.02), so close to 0.
  assert np.abs(y @ cbn.gamma.kernel.numpy()).max() < 0.2
  cbn.gamma.kernel.assign(_rand((k, c), 11))
  cbn.beta.kernel.assign(_rand((k, c), 12))
  w_gamma, w_beta = cbn.gamma.kernel.numpy(), cbn.beta.kernel.numpy()

  gamma, beta = y @ w_gamma, y @ w_beta
  if rank == "rank4":
    gamma, beta = gamma[:, None, None, :], beta[:, None, None, :]
  out = cbn(x, y=y, training=True).numpy()
  expected = _standardize(x, *_moments(x), 1e-3) * gamma + beta
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_conditional_batch_norm_with_bias_and_sn():
  gin.parse_config("conditional_batch_norm.use_bias = True")
  x = _rand((4, 3), 13)
  y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
  cbn = normalization.conditional_batch_norm(name="cbn", use_sn=True)
  cbn(x, y=y, training=True)
  assert cbn.gamma.use_sn and cbn.beta.use_sn
  np.testing.assert_array_equal(cbn.gamma.bias.numpy(), np.zeros(3))  # still no +1 offset
  np.testing.assert_array_equal(cbn.beta.bias.numpy(), np.zeros(3))


def test_conditional_batch_norm_needs_labels():
  cbn = normalization.conditional_batch_norm(name="cbn")
  with pytest.raises(ValueError, match="labels"):
    cbn(_rand((4, 3), 14), training=True)


@pytest.mark.parametrize("rank", sorted(SHAPES))
def test_self_modulated_batch_norm(rank):
  shape, c = SHAPES[rank], SHAPES[rank][-1]
  b, zdim = shape[0], 6
  x = _rand(shape, 20, scale=2.0, shift=-1.0)
  z = _rand((b, zdim), 21)
  sbn = normalization.self_modulated_batch_norm(name="sbn")
  sbn(x, z=z, training=False)
  assert tuple(sbn.hidden.kernel.shape) == (zdim, 32)  # reference num_hidden default
  np.testing.assert_array_equal(sbn.gamma.bias.numpy(), np.ones(c))
  np.testing.assert_array_equal(sbn.beta.bias.numpy(), np.zeros(c))
  np.testing.assert_array_equal(sbn.hidden.bias.numpy(), np.zeros(32))
  for i, lin in enumerate((sbn.hidden, sbn.gamma, sbn.beta)):
    lin.kernel.assign(_rand(lin.kernel.shape, 22 + i, 0.5))
    lin.bias.assign(_rand(lin.bias.shape, 32 + i, 0.5, shift=1.0 if lin is sbn.gamma else 0.0))
  p = {name: (getattr(sbn, name).kernel.numpy(), getattr(sbn, name).bias.numpy())
       for name in ("hidden", "gamma", "beta")}

  h = _relu(z @ p["hidden"][0] + p["hidden"][1])
  gamma, beta = h @ p["gamma"][0] + p["gamma"][1], h @ p["beta"][0] + p["beta"][1]
  if rank == "rank4":
    gamma, beta = gamma[:, None, None, :], beta[:, None, None, :]
  out = sbn(x, z=z, training=True).numpy()
  expected = _standardize(x, *_moments(x), 1e-3) * gamma + beta
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_self_modulated_batch_norm_num_hidden_via_gin():
  gin.parse_config("self_modulated_batch_norm.num_hidden = 8")
  sbn = normalization.self_modulated_batch_norm(name="sbn")
  sbn(_rand((4, 3), 40), z=_rand((4, 5), 41), training=True)
  assert tuple(sbn.hidden.kernel.shape) == (5, 8)
  assert tuple(sbn.gamma.kernel.shape) == (8, 3)


def test_self_modulated_batch_norm_without_hidden_layer():
  gin.parse_config("self_modulated_batch_norm.num_hidden = 0")
  x, z = _rand((4, 3), 42), _rand((4, 5), 43)
  sbn = normalization.self_modulated_batch_norm(name="sbn")
  out = sbn(x, z=z, training=True).numpy()
  assert sbn.hidden is None
  w_gamma, w_beta = sbn.gamma.kernel.numpy(), sbn.beta.kernel.numpy()
  expected = (_standardize(x, *_moments(x), 1e-3) * (z @ w_gamma + 1.0) + z @ w_beta)
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_self_modulated_batch_norm_needs_z():
  sbn = normalization.self_modulated_batch_norm(name="sbn")
  with pytest.raises(ValueError, match="latent z"):
    sbn(_rand((4, 3), 44), training=True)


# ---------------------------------------------------------------------------------------------
# Layer norm, identity, factory attributes.


def test_layer_norm():
  x = _rand((3, 2, 4, 5), 50, scale=3.0, shift=2.0)
  x[2] = 7.0  # a constant example: zero variance, eps 1e-12 keeps it finite
  ln = normalization.LayerNorm(name="ln")
  ln(x)
  gamma, beta = _rand((5,), 51), _rand((5,), 52)
  ln.gamma.assign(gamma)
  ln.beta.assign(beta)
  x64 = x.astype(np.float64)
  mean = x64.mean(axis=(1, 2, 3), keepdims=True)
  var = x64.var(axis=(1, 2, 3), keepdims=True)
  expected = (x64 - mean) / np.sqrt(var + 1e-12) * gamma + beta
  out = ln(x, training=True).numpy()
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(out[2], np.broadcast_to(beta, (2, 4, 5)), atol=1e-6)
  # Per example: the same call on one example alone gives the same rows.
  np.testing.assert_allclose(ln(x[:1]).numpy(), out[:1], rtol=1e-5, atol=1e-5)
  assert ln.epsilon == 1e-12


@pytest.mark.parametrize("factory", ["batch_norm", "conditional_batch_norm",
                                     "self_modulated_batch_norm"])
def test_batch_norms_under_mixed_precision(mixed_float16, factory):
  x = _rand((4, 2, 2, 3), 70, scale=2.0, shift=1.0)
  layer = getattr(normalization, factory)(name="n")
  out = layer(tf.constant(x, tf.float16), z=tf.ones((4, 5)), y=tf.ones((4, 2)), training=True)
  assert out.dtype == tf.float16
  assert layer.standardize.moving_mean.dtype == "float32"
  if factory == "batch_norm":
    np.testing.assert_allclose(out.numpy().astype(np.float32),
                               _standardize(x, *_moments(x), 1e-3), rtol=1e-2, atol=1e-2)


def test_layer_norm_under_mixed_precision(mixed_float16):
  x = _rand((2, 2, 2, 3), 71, scale=2.0, shift=1.0)
  out = normalization.LayerNorm(name="ln")(tf.constant(x, tf.float16))
  assert out.dtype == tf.float16
  x64 = x.astype(np.float64)
  mean = x64.mean(axis=(1, 2, 3), keepdims=True)
  var = x64.var(axis=(1, 2, 3), keepdims=True)
  np.testing.assert_allclose(out.numpy().astype(np.float32), (x64 - mean) / np.sqrt(var),
                             rtol=1e-2, atol=1e-2)


def test_no_batch_norm_is_identity():
  x = _rand((2, 3, 3, 4), 60)
  layer = normalization.no_batch_norm(name="none")
  for training in (True, False):
    np.testing.assert_array_equal(layer(x, training=training).numpy(), x)
  assert not layer.weights


def test_factories_conditional_attribute():
  assert normalization.conditional_batch_norm.conditional is True
  for factory in (normalization.no_batch_norm, normalization.batch_norm,
                  normalization.self_modulated_batch_norm):
    assert factory.conditional is False
  assert normalization.conditional_batch_norm(name="c").conditional is True
  assert normalization.batch_norm(name="b").conditional is False
