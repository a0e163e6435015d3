"""Layer ops against independent numpy computations (reference arch_ops.py, resnet_ops.py).

Spectral norm (Miyato et al., ICLR'18, Algorithm 1: one power iteration per training call, no
gradient through u, v), the gin `weights` initializers and their seeding, zero-insertion unpool,
pooling, transposed convolutions to odd sizes, the SAGAN block, the projection term, and every
op under `tf.function(jit_compile=True)`.
"""

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import dcgan
from compare_gan.architectures import ops


def _rand(shape, seed=0, scale=1.0):
  return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def _l2n(x):
  return x / np.sqrt(max(np.sum(x.astype(np.float64) ** 2), 1e-12))


def _top_singular_value(kernel):
  kernel = np.asarray(kernel, np.float64)
  return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


def _numpy_left_iteration(w, u):
  """One left power iteration: v = l2n(W^T u); u' = l2n(W v); sigma = u'^T W v."""
  w, u = np.asarray(w, np.float64), np.asarray(u, np.float64)
  v = _l2n(w.T @ u)
  u_new = _l2n(w @ v)
  return (u_new.T @ w @ v).item(), u_new, v


def _numpy_right_iteration(w, u):
  """One right power iteration: v = l2n(u W^T); u' = l2n(v W); sigma = v W u'^T."""
  w, u = np.asarray(w, np.float64), np.asarray(u, np.float64)
  v = _l2n(u @ w.T)
  u_new = _l2n(v @ w)
  return (v @ w @ u_new.T).item(), u_new, v


def _same_pad(size, stride, k):
  """Leading SAME padding of a stride-`stride` convolution over `size` inputs."""
  out = -(-size // stride)
  return max((out - 1) * stride + k - size, 0) // 2, out


def _numpy_conv2d(x, kernel, stride):
  """SAME conv, x [B, H, W, Cin], kernel [k, k, Cin, Cout]."""
  k = kernel.shape[0]
  b, h, w, _ = x.shape
  pt, oh = _same_pad(h, stride, k)
  pl, ow = _same_pad(w, stride, k)
  out = np.zeros((b, oh, ow, kernel.shape[-1]), np.float64)
  for i in range(oh):
    for j in range(ow):
      for ki in range(k):
        for kj in range(k):
          r, c = i * stride + ki - pt, j * stride + kj - pl
          if 0 <= r < h and 0 <= c < w:
            out[:, i, j] += x[:, r, c] @ kernel[ki, kj]
  return out


def _numpy_deconv2d(x, kernel, out_hw, stride):
  """Adjoint of the SAME conv from `out_hw` to x's size; kernel [k, k, Cout, Cin]."""
  k = kernel.shape[0]
  b, h, w, _ = x.shape
  pt, _ = _same_pad(out_hw[0], stride, k)
  pl, _ = _same_pad(out_hw[1], stride, k)
  out = np.zeros((b, out_hw[0], out_hw[1], kernel.shape[2]), np.float64)
  for i in range(h):
    for j in range(w):
      for ki in range(k):
        for kj in range(k):
          r, c = i * stride + ki - pt, j * stride + kj - pl
          if 0 <= r < out_hw[0] and 0 <= c < out_hw[1]:
            out[:, r, c] += x[:, i, j] @ kernel[ki, kj].T
  return out


def _sn_layers():
  """(layer, input) pairs for the three kernel layers with spectral norm."""
  return [
      (ops.Linear(5, use_sn=True, name="sn_linear"), _rand((4, 7), 1)),
      (ops.Conv2D(6, kernel_size=3, use_sn=True, name="sn_conv"), _rand((2, 4, 4, 3), 2)),
      (ops.Deconv2D(3, (7, 7), kernel_size=3, use_sn=True, name="sn_deconv"),
       _rand((2, 4, 4, 4), 3)),
  ]


SN_KINDS = ["linear", "conv", "deconv"]


def _sn_layer(kind):
  return _sn_layers()[SN_KINDS.index(kind)]


# ---------------------------------------------------------------------------------------------
# Spectral norm.


@pytest.mark.parametrize("kind", SN_KINDS)
def test_spectral_norm_converges_to_top_singular_value(kind):
  layer, x = _sn_layer(kind)
  for _ in range(200):
    layer(x, training=True)
  expected = _top_singular_value(layer.kernel.numpy())
  np.testing.assert_allclose(float(layer.sigma()), expected, rtol=1e-4)
  normalized = layer._kernel(False).numpy()
  np.testing.assert_allclose(_top_singular_value(normalized), 1.0, rtol=1e-3)


@pytest.mark.parametrize("kind", SN_KINDS)
def test_spectral_norm_u_persists_and_updates_only_in_training(kind):
  layer, x = _sn_layer(kind)
  layer(x, training=False)  # builds
  u_var = layer.u
  u_init = u_var.numpy().copy()
  layer(x, training=False)
  layer(x)
  np.testing.assert_array_equal(layer.u.numpy(), u_init)
  layer(x, training=True)
  assert layer.u is u_var
  u_after_one = layer.u.numpy().copy()
  assert not np.allclose(u_after_one, u_init)
  layer(x, training=False)
  np.testing.assert_array_equal(layer.u.numpy(), u_after_one)
  assert not layer.u.trainable
  assert all(v is not layer.u for v in layer.trainable_variables)


def test_spectral_norm_one_iteration_per_training_call():
  layer, x = _sn_layer("linear")
  layer(x, training=False)
  layer.bias.assign(_rand((5,), 9))
  w, u0 = layer.kernel.numpy(), layer.u.numpy()
  sigma, u1, _ = _numpy_left_iteration(w, u0)
  out = layer(x, training=True).numpy()
  np.testing.assert_allclose(layer.u.numpy(), u1, atol=1e-6)
  np.testing.assert_allclose(out, x @ (w / sigma) + layer.bias.numpy(), rtol=1e-5, atol=1e-6)
  # Inference uses the same maths on the stored u, without writing it back.
  sigma2, _, _ = _numpy_left_iteration(w, u1)
  out = layer(x, training=False).numpy()
  np.testing.assert_allclose(out, x @ (w / sigma2) + layer.bias.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("orientation", ["left", "right"])
def test_power_iteration_matches_numpy(orientation):
  w = _rand((6, 4), 4)
  if orientation == "left":
    u = _rand((6, 1), 5)
    sigma, u_new, _ = _numpy_left_iteration(w, u)
  else:
    u = _rand((1, 4), 5)
    sigma, u_new, _ = _numpy_right_iteration(w, u)
  got_sigma, got_u = ops.power_iteration(tf.constant(w), tf.constant(u), orientation)
  assert got_sigma.shape == ()
  np.testing.assert_allclose(float(got_sigma), sigma, rtol=1e-6)
  np.testing.assert_allclose(got_u.numpy(), u_new, atol=1e-6)


@pytest.mark.parametrize("in_dim,units,orientation,u_shape", [
    (6, 3, "left", (6, 1)),
    (6, 3, "right", (1, 3)),
    (6, 3, "auto", (1, 3)),  # rows 6 > cols 3 -> right
    (3, 6, "auto", (3, 1)),  # rows 3 <= cols 6 -> left
    (4, 4, "auto", (4, 1)),
])
def test_spectral_norm_orientation(in_dim, units, orientation, u_shape):
  gin.parse_config(f"spectral_norm.singular_value = '{orientation}'")
  layer = ops.Linear(units, use_sn=True, name="fc")
  x = _rand((2, in_dim), 6)
  for _ in range(200):
    layer(x, training=True)
  assert tuple(layer.u.shape) == u_shape
  np.testing.assert_allclose(float(layer.sigma()), _top_singular_value(layer.kernel.numpy()),
                             rtol=1e-4)


def test_spectral_norm_orientations_agree_on_one_kernel():
  x = _rand((2, 6), 7)
  sigmas, kernels = [], []
  for orientation in ("left", "right", "auto"):
    gin.clear_config()
    gin.parse_config(f"spectral_norm.singular_value = '{orientation}'")
    layer = ops.Linear(3, use_sn=True, name="same_path")
    for _ in range(200):
      layer(x, training=True)
    sigmas.append(float(layer.sigma()))
    kernels.append(layer.kernel.numpy())
  # Same path -> same initial kernel, so all three estimate the same singular value.
  np.testing.assert_array_equal(kernels[0], kernels[1])
  np.testing.assert_array_equal(kernels[0], kernels[2])
  np.testing.assert_allclose(sigmas, [_top_singular_value(kernels[0])] * 3, rtol=1e-4)


def test_spectral_norm_bad_orientation_lists_choices():
  gin.parse_config("spectral_norm.singular_value = 'up'")
  with pytest.raises(ValueError, match=r"'up'.*left.*right.*auto"):
    ops.Linear(3, use_sn=True, name="fc")


@pytest.mark.parametrize("training", [True, False])
def test_spectral_norm_no_gradient_through_u(training):
  layer, x = _sn_layer("linear")
  layer(x, training=False)
  w, u0 = layer.kernel.numpy().astype(np.float64), layer.u.numpy()
  sigma, u1, v = _numpy_left_iteration(w, u0)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(layer(x, training=training))
  grad = tape.gradient(loss, layer.kernel).numpy()
  # f(W) = 1^T x W 1 / sigma(W) with sigma(W) = u1^T W v linear in W (u1, v constants):
  # df/dW = a 1^T / sigma - (a^T W 1) / sigma^2 u1 v^T, with a = x^T 1.
  a = x.astype(np.float64).sum(axis=0)[:, None]
  ones = np.ones((w.shape[1], 1))
  expected = a @ ones.T / sigma - (a.T @ w @ ones).item() / sigma**2 * (u1 @ v.T)
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)

  # The same function with u, v differentiated gives a different gradient (u0 is random, far
  # from the singular vectors), so the check above can tell the two apart.
  def full_autodiff(kernel):
    vv = tf.math.l2_normalize(tf.matmul(kernel, u0, transpose_a=True), axis=None)
    uu = tf.math.l2_normalize(tf.matmul(kernel, vv), axis=None)
    s = tf.reshape(tf.matmul(tf.matmul(uu, kernel, transpose_a=True), vv), [])
    return tf.reduce_sum(tf.matmul(x, kernel / s))
  kernel = tf.constant(w.astype(np.float32))
  with tf.GradientTape() as tape:
    tape.watch(kernel)
    y = full_autodiff(kernel)
  assert not np.allclose(tape.gradient(y, kernel).numpy(), expected, rtol=1e-3, atol=1e-4)


def test_spectral_norm_gradient_via_stop_gradient_graph():
  """Same check for Conv2D, against a hand-written TF graph with u, v from numpy constants."""
  layer, x = _sn_layer("conv")
  layer(x, training=False)
  w = layer.kernel.numpy()
  sigma, u1, v = _numpy_left_iteration(w.reshape(-1, w.shape[-1]), layer.u.numpy())
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(layer(x, training=True) ** 2)
  grad = tape.gradient(loss, layer.kernel).numpy()

  kernel = tf.constant(w)
  u1c, vc = tf.stop_gradient(tf.constant(u1, tf.float32)), tf.stop_gradient(
      tf.constant(v, tf.float32))
  with tf.GradientTape() as tape:
    tape.watch(kernel)
    matrix = tf.reshape(kernel, [-1, w.shape[-1]])
    s = tf.reshape(tf.matmul(tf.matmul(u1c, matrix, transpose_a=True), vc), [])
    out = tf.nn.conv2d(x, kernel / s, strides=1, padding="SAME") + layer.bias
    ref_loss = tf.reduce_sum(out**2)
  expected = tape.gradient(ref_loss, kernel).numpy()
  np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Initializers and seeds.


def _built_linear(in_dim, units, name="fc", **kwargs):
  layer = ops.Linear(units, name=name, **kwargs)
  layer(tf.zeros((1, in_dim)))
  return layer


def test_orthogonal_initializer():
  gin.parse_config("weights.initializer = 'orthogonal'")
  w = _built_linear(16, 16).kernel.numpy().astype(np.float64)
  np.testing.assert_allclose(w.T @ w, np.eye(16), atol=1e-5)
  np.testing.assert_allclose(w @ w.T, np.eye(16), atol=1e-5)
  # Non-square: orthonormal columns (tall) or rows (wide), as tf.initializers.orthogonal.
  w = _built_linear(16, 8, name="tall").kernel.numpy().astype(np.float64)
  np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-5)
  w = _built_linear(8, 16, name="wide").kernel.numpy().astype(np.float64)
  np.testing.assert_allclose(w @ w.T, np.eye(8), atol=1e-5)
  conv = ops.Conv2D(8, kernel_size=3, name="conv")
  conv(tf.zeros((1, 4, 4, 4)))
  w = conv.kernel.numpy().reshape(-1, 8).astype(np.float64)
  np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-5)


def test_normal_initializer_is_default_with_stddev_002():
  w = _built_linear(256, 256).kernel.numpy()
  assert abs(w.std() - 0.02) < 0.002
  assert abs(w.mean()) < 0.002
  # Not truncated: a 256x256 normal draw has values beyond 2 sigma (about 4.6% of them).
  assert np.mean(np.abs(w) > 0.04) > 0.03


def test_truncated_initializer_bounded_by_two_stddev():
  gin.parse_config("weights.initializer = 'truncated'")
  w = _built_linear(256, 256).kernel.numpy()
  assert np.abs(w).max() <= 2 * 0.02 + 1e-7
  assert abs(w.mean()) < 0.002
  assert w.std() > 0.015  # not collapsed to zero


def test_initializer_stddev_via_gin():
  gin.parse_config("weights.stddev = 0.1")
  w = _built_linear(256, 256).kernel.numpy()
  assert abs(w.std() - 0.1) < 0.01


def test_bias_start():
  layer = _built_linear(3, 4, bias_start=1.0)
  np.testing.assert_array_equal(layer.bias.numpy(), np.ones(4))
  np.testing.assert_array_equal(_built_linear(3, 4, name="other").bias.numpy(), np.zeros(4))


def test_unknown_initializer_lists_choices():
  gin.parse_config("weights.initializer = 'xavier'")
  with pytest.raises(config.ConfigError,
                     match=r"weights.initializer='xavier'.*normal.*truncated.*orthogonal"):
    _built_linear(3, 4)
  with pytest.raises(ValueError, match=r"'bogus'.*normal.*truncated.*orthogonal"):
    ops.weight_initializer(0, "conv", initializer="bogus")


# v2's scheme: conv kernels truncated normal(0.02), linear and deconv kernels normal(0.02).


def _kernels_by_kind(image_shape=(32, 32, 3)):
  """{kind: concatenated kernel values} of a DCGAN G and D (fc, deconvs; convs, fc) and a
  projection embedding, at a width where every kind has thousands of values."""
  g = dcgan.Generator(image_shape, z_dim=64, options=base.GeneratorOptions(width=0.25))
  d = dcgan.Discriminator(image_shape, num_classes=10,
                          options=base.DiscriminatorOptions(width=0.25, project_y=True))
  g.build_variables()
  d.build_variables()
  by_kind = {"linear": [], "conv": [], "deconv": []}
  for module in (g, d):
    for layer in module._flatten_layers():
      if isinstance(layer, ops.KernelLayer):
        by_kind[layer.kind].append(layer.kernel.numpy().ravel())
  return {kind: np.concatenate(values) for kind, values in by_kind.items()}


def _is_truncated(w, stddev=0.02):
  # TF's truncated normal redraws beyond 2 stddev; a plain normal puts ~4.6% of values there.
  return bool(np.abs(w).max() <= 2 * stddev + 1e-7)


def test_per_kind_initializers_give_each_layer_kind_its_distribution():
  gin.parse_config("weights.conv_initializer = 'truncated'")
  kernels = _kernels_by_kind()
  assert all(len(w) > 5000 for w in kernels.values()), {k: len(w) for k, w in kernels.items()}
  assert _is_truncated(kernels["conv"])
  for kind in ("linear", "deconv"):  # includes the projection embedding and the fcs
    w = kernels[kind]
    assert not _is_truncated(w), kind
    assert np.mean(np.abs(w) > 0.04) > 0.03, kind
    assert abs(w.std() - 0.02) < 0.002, kind
  # Truncation at 2 stddev without rescaling: std = 0.02 * 0.8796 (TF's and Keras's).
  assert abs(kernels["conv"].std() - 0.02 * 0.8796) < 0.001


def test_default_initializes_every_kind_with_a_normal():
  kernels = _kernels_by_kind()
  for kind, w in kernels.items():
    assert not _is_truncated(w), kind
    assert abs(w.std() - 0.02) < 0.002, kind


def test_per_kind_choice_overrides_the_common_one():
  gin.parse_config("weights.initializer = 'truncated'\n"
                   "weights.deconv_initializer = 'normal'")
  kernels = _kernels_by_kind()
  assert _is_truncated(kernels["conv"]) and _is_truncated(kernels["linear"])
  assert not _is_truncated(kernels["deconv"])


@pytest.mark.parametrize("kind", ops.KERNEL_KINDS)
def test_unknown_per_kind_initializer_names_the_setting(kind):
  gin.parse_config(f"weights.{kind}_initializer = 'v2'")
  with pytest.raises(config.ConfigError,
                     match=rf"weights.{kind}_initializer='v2' is not one of 'normal', "
                           r"'truncated', 'orthogonal' or None"):
    ops.weight_initializer(0, "linear")


def test_unknown_kernel_kind_and_layer_initializer():
  with pytest.raises(ValueError, match="'dense'; valid: linear, conv, deconv"):
    ops.weight_initializer(0, "dense")
  with pytest.raises(ValueError, match="'he_normal'; valid: None .* 'glorot_normal'"):
    ops.Linear(4, initializer="he_normal")


def test_initializer_seed_reproducible_and_distinct():
  def kernel(seed, name="fc"):
    with ops.initializer_seed(seed):
      return _built_linear(5, 4, name=name, use_sn=True)
  a, b, c = kernel(1), kernel(1), kernel(2)
  np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())
  np.testing.assert_array_equal(a.u.numpy(), b.u.numpy())
  assert not np.allclose(a.kernel.numpy(), c.kernel.numpy())
  assert not np.allclose(a.u.numpy(), c.u.numpy())
  # Another path under the same seed draws other values.
  assert not np.allclose(a.kernel.numpy(), kernel(1, name="fc2").kernel.numpy())


# ---------------------------------------------------------------------------------------------
# Stateless ops.


def test_unpool_zero_insertion():
  x = _rand((2, 3, 4, 2), 10)
  got = ops.unpool(tf.constant(x)).numpy()
  expected = np.zeros((2, 6, 8, 2), np.float32)
  for i in range(3):
    for j in range(4):
      expected[:, 2 * i, 2 * j, :] = x[:, i, j, :]
  assert got.shape == (2, 6, 8, 2)
  np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("h,w", [(4, 6), (5, 3)])
def test_avg_pool2(h, w):
  x = _rand((2, h, w, 3), 11)
  got = ops.avg_pool2(tf.constant(x)).numpy()
  oh, ow = -(-h // 2), -(-w // 2)
  expected = np.zeros((2, oh, ow, 3))
  # SAME padding for a 2x2/2 window pads at the end only; padded cells are not counted.
  for i in range(oh):
    for j in range(ow):
      expected[:, i, j] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(axis=(1, 2))
  assert got.shape == expected.shape
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_lrelu():
  x = np.array([-3.0, -0.5, 0.0, 0.5, 2.0], np.float32)
  np.testing.assert_allclose(ops.lrelu(tf.constant(x)).numpy(), [-0.6, -0.1, 0.0, 0.5, 2.0],
                             rtol=1e-6)
  np.testing.assert_allclose(ops.lrelu(tf.constant(x), leak=0.1).numpy(),
                             np.where(x > 0, x, 0.1 * x), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Kernel layers.


def test_linear_matches_numpy():
  layer = _built_linear(4, 3)
  layer.bias.assign([0.1, -0.2, 0.3])
  x = _rand((2, 4), 12)
  np.testing.assert_allclose(layer(x).numpy(), x @ layer.kernel.numpy() + [0.1, -0.2, 0.3],
                             rtol=1e-5, atol=1e-6)
  assert tuple(layer.kernel.shape) == (4, 3)
  with pytest.raises(ValueError, match="expects"):
    ops.Linear(3)(tf.zeros((2, 2, 2)))


def test_linear_without_bias():
  layer = _built_linear(4, 3, use_bias=False)
  assert layer.bias is None
  assert len(layer.trainable_variables) == 1


@pytest.mark.parametrize("stride,k", [(1, 3), (2, 3), (2, 4)])
def test_conv2d_matches_numpy(stride, k):
  x = _rand((2, 5, 6, 3), 13)
  layer = ops.Conv2D(4, kernel_size=k, strides=stride, name="conv")
  layer(x)
  layer.kernel.assign(_rand((k, k, 3, 4), 14, 0.3))
  layer.bias.assign(_rand((4,), 15))
  expected = _numpy_conv2d(x, layer.kernel.numpy(), stride) + layer.bias.numpy()
  np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("in_hw,out_hw,k", [
    ((4, 4), (7, 7), 5),
    ((4, 4), (8, 8), 5),
    ((4, 3), (7, 6), 4),
    ((2, 2), (3, 4), 3),
    ((7, 7), (14, 14), 5),
])
def test_deconv2d_shapes_and_values(in_hw, out_hw, k):
  x = _rand((2,) + in_hw + (3,), 16)
  layer = ops.Deconv2D(2, out_hw, kernel_size=k, strides=2, name="deconv")
  out = layer(x)
  assert tuple(out.shape) == (2,) + out_hw + (2,)
  assert tuple(layer.kernel.shape) == (k, k, 2, 3)
  layer.kernel.assign(_rand((k, k, 2, 3), 17, 0.3))
  layer.bias.assign([0.5, -1.0])
  expected = _numpy_deconv2d(x, layer.kernel.numpy(), out_hw, 2) + [0.5, -1.0]
  np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("in_hw,out_hw", [((4, 4), (10, 10)), ((4, 4), (6, 6)),
                                          ((4, 4), (8, 9))])
def test_deconv2d_impossible_output_size(in_hw, out_hw):
  layer = ops.Deconv2D(2, out_hw, strides=2, name="deconv")
  with pytest.raises(ValueError, match=r"output size"):
    layer(tf.zeros((1,) + in_hw + (3,)))


def _numpy_self_attention(x, layer):
  b, h, w, c = x.shape
  k = lambda conv: conv.kernel.numpy()[0, 0].astype(np.float64)
  pool = lambda t: t.reshape(b, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4))
  theta = (x @ k(layer.theta)).reshape(b, h * w, c // 8)
  phi = pool(x @ k(layer.phi)).reshape(b, h * w // 4, c // 8)
  g = pool(x @ k(layer.g)).reshape(b, h * w // 4, c // 2)
  logits = theta @ phi.transpose(0, 2, 1)
  attn = np.exp(logits - logits.max(axis=-1, keepdims=True))
  attn /= attn.sum(axis=-1, keepdims=True)
  o = (attn @ g).reshape(b, h, w, c // 2) @ k(layer.attn_g)
  return x + float(layer.sigma.numpy()) * o


def test_self_attention():
  x = _rand((2, 4, 6, 16), 18)
  layer = ops.SelfAttention(name="attn")
  np.testing.assert_array_equal(layer(x).numpy(), x)  # sigma starts at 0
  assert float(layer.sigma.numpy()) == 0.0
  shapes = {"theta": (1, 1, 16, 2), "phi": (1, 1, 16, 2), "g": (1, 1, 16, 8),
            "attn_g": (1, 1, 8, 16)}
  for i, (name, shape) in enumerate(shapes.items()):
    conv = getattr(layer, name)
    assert tuple(conv.kernel.shape) == shape
    assert conv.bias is None
    conv.kernel.assign(_rand(shape, 20 + i, 0.5))
  layer.sigma.assign(1.0)
  expected = _numpy_self_attention(x.astype(np.float64), layer)
  np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)
  layer.sigma.assign(0.5)
  expected = _numpy_self_attention(x.astype(np.float64), layer)
  np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 5, 4, 8), (1, 4, 3, 8), (1, 4, 4, 4)])
def test_self_attention_rejects_bad_shapes(shape):
  with pytest.raises(ValueError, match="even H, W"):
    ops.SelfAttention(name="attn")(tf.zeros(shape))


def test_projection():
  h = _rand((3, 6), 30)
  y = np.eye(4, dtype=np.float32)[[0, 2, 3]]
  y[1] = [0.1, 0.2, 0.3, 0.4]  # soft labels work too
  layer = ops.Projection(4, name="proj")
  out = layer(h, y).numpy()
  w = layer.kernel.numpy()
  assert tuple(w.shape) == (4, 6)
  assert out.shape == (3, 1)
  np.testing.assert_allclose(out, np.sum((y @ w) * h, axis=1, keepdims=True), rtol=1e-5,
                             atol=1e-6)


def test_projection_embedding_is_a_linear_kernel_normal_002():
  # Reference resnet_cifar: embedding_fc = linear(y, F, use_bias=False), gin `weights`.
  layer = ops.Projection(256, name="proj")
  layer(tf.zeros((1, 256)), tf.zeros((1, 256)))
  w = layer.kernel.numpy()
  assert abs(w.std() - 0.02) < 0.002
  assert np.mean(np.abs(w) > 0.04) > 0.03  # a normal, not truncated
  gin.parse_config("weights.linear_initializer = 'truncated'")
  layer = ops.Projection(256, name="proj2")
  layer(tf.zeros((1, 256)), tf.zeros((1, 256)))
  assert np.abs(layer.kernel.numpy()).max() <= 0.04 + 1e-7


def test_projection_glorot_normal_init_on_request():
  # The BigGAN family's embedding (reference resnet_biggan): glorot normal, std sqrt(2/(K+F)).
  layer = ops.Projection(256, initializer="glorot_normal", name="proj")
  layer(tf.zeros((1, 256)), tf.zeros((1, 256)))
  assert abs(layer.kernel.numpy().std() - np.sqrt(2.0 / 512)) < 0.1 * np.sqrt(2.0 / 512)


def test_spectral_norm_stays_float32_under_mixed_precision(mixed_float16):
  layer = ops.Linear(5, use_sn=True, name="sn_linear")
  x = _rand((4, 7), 1)
  layer(x, training=False)
  assert layer.kernel.dtype == "float32" and layer.u.dtype == "float32"
  w, u0 = layer.kernel.numpy(), layer.u.numpy()
  sigma, u1, _ = _numpy_left_iteration(w, u0)
  out = layer(tf.constant(x, tf.float16), training=True)
  assert out.dtype == tf.float16
  np.testing.assert_allclose(layer.u.numpy(), u1, atol=1e-6)
  np.testing.assert_allclose(out.numpy().astype(np.float32), x @ (w / sigma), rtol=1e-2,
                             atol=1e-2)


# ---------------------------------------------------------------------------------------------
# XLA: every op compiles and matches eager.


def _jit(fn):
  return tf.function(fn, jit_compile=True)


@pytest.mark.parametrize("name", ["unpool", "avg_pool2", "lrelu"])
def test_stateless_ops_under_jit(name):
  fn = getattr(ops, name)
  x = tf.constant(_rand((2, 4, 6, 3), 40))
  np.testing.assert_allclose(_jit(fn)(x).numpy(), fn(x).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", SN_KINDS)
def test_kernel_layers_under_jit(kind):
  layer, x = _sn_layer(kind)
  x = tf.constant(x)
  layer(x, training=False)  # build outside the compiled function
  step = _jit(lambda t: layer(t, training=True))
  u0 = layer.u.numpy().copy()
  eager = [layer(x, training=True).numpy() for _ in range(3)]
  u_eager = layer.u.numpy().copy()
  layer.u.assign(u0)
  compiled = [step(x).numpy() for _ in range(3)]
  assert not np.allclose(layer.u.numpy(), u0)  # u updated inside the jit function
  np.testing.assert_allclose(layer.u.numpy(), u_eager, rtol=1e-5, atol=1e-5)
  for a, b in zip(compiled, eager):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  u_now = layer.u.numpy().copy()
  infer = _jit(lambda t: layer(t, training=False))
  np.testing.assert_allclose(infer(x).numpy(), layer(x, training=False).numpy(), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(layer.u.numpy(), u_now)


def test_self_attention_and_projection_under_jit():
  x = tf.constant(_rand((2, 4, 4, 16), 41))
  attn = ops.SelfAttention(use_sn=True, name="attn")
  attn(x)
  attn.sigma.assign(1.0)
  np.testing.assert_allclose(_jit(lambda t: attn(t))(x).numpy(), attn(x).numpy(), rtol=1e-5,
                             atol=1e-5)
  h = tf.constant(_rand((3, 6), 42))
  y = tf.constant(np.eye(4, dtype=np.float32)[[0, 1, 3]])
  proj = ops.Projection(4, use_sn=True, name="proj")
  proj(h, y)
  np.testing.assert_allclose(_jit(lambda a, b: proj(a, b))(h, y).numpy(), proj(h, y).numpy(),
                             rtol=1e-5, atol=1e-5)


def test_lrelu_matches_the_reference_maximum_to_second_order():
  # The fused op with a gradient that reads the output: the same values, gradients and
  # gradients of gradients (what gradient penalties differentiate) as tf.maximum(x, 0.2 x).
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=[256]).astype(np.float32))
  w = tf.Variable(rng.normal(size=[256]).astype(np.float32))

  def terms(f):
    with tf.GradientTape() as outer:
      with tf.GradientTape() as inner:
        inner.watch(x)
        y = tf.reduce_sum(f(x * w) ** 2)
      g = inner.gradient(y, x)
      penalty = tf.reduce_sum(g ** 2)
    return y, g, outer.gradient(penalty, w)

  ours, reference = terms(ops.lrelu), terms(lambda t: tf.maximum(t, 0.2 * t))
  for a, b in zip(ours, reference):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  with tf.GradientTape() as tape:  # At exactly 0 the gradient is the leak (a subgradient).
    zero = tf.zeros([3])
    tape.watch(zero)
    y = ops.lrelu(zero, 0.3)
  np.testing.assert_allclose(tape.gradient(y, zero).numpy(), [0.3, 0.3, 0.3])
  with pytest.raises(ValueError, match="leak=1.5"):
    ops.lrelu(x, 1.5)
