"""Layer ops shared by every architecture: linear/conv/deconv, spectral norm, unpool, attention.

Semantics follow the reference `compare_gan/architectures/arch_ops.py` (v3) and `resnet_ops.py`:

* Kernels are initialised by the gin-configurable `weights` choice (normal(0.02) by default,
  truncated normal, orthogonal), which can differ per kind of layer (`weights.conv_initializer`
  and friends; v2's scheme). Projection embeddings are linear kernels like any other (reference
  `resnet_cifar`); `initializer="glorot_normal"` is for the BigGAN family's. Biases start at
  `bias_start` (0 by default).
* Spectral normalisation (Miyato et al., ICLR'18, Algorithm 1) reshapes every kernel to
  `[-1, last_dim]`, keeps a persistent non-trainable `u` per kernel and runs one power iteration
  per *training* forward pass, with no gradient through `u`, `v`. Inference calls use the same
  maths on the stored `u` without writing it back, so an exported or evaluated model never
  mutates state (the reference also wrote `u` during inference; see docs/differences.md).
* `unpool` is the reference's zero-insertion 2x up-sampling (not nearest neighbour).

Every layer computes its kernel in float32 (spectral norm included) and casts the result to the
layer's compute dtype, so mixed precision keeps the power iteration exact.
"""

import contextlib
import zlib
from typing import Optional, Sequence, Tuple

import gin
import keras
import tensorflow as tf

from compare_gan import config

_INITIALIZERS = ("normal", "truncated", "orthogonal")
_ORIENTATIONS = ("left", "right", "auto")

# Base seed mixed into every initializer seed; see `initializer_seed`.
_base_seed = 0

@contextlib.contextmanager
def initializer_seed(seed: int):
  """Makes the weights created inside the block depend on `seed`.

  Each variable's initial value is a pure function of `(seed, variable path)`, so adding a layer
  never changes the initial values of the others and rebuilding a model reproduces it exactly.
  """
  global _base_seed
  previous, _base_seed = _base_seed, int(seed)
  try:
    yield
  finally:
    _base_seed = previous

def variable_seed(path: str) -> int:
  """Stateless seed for the variable at `path` under the current `initializer_seed`."""
  return (zlib.crc32(path.encode("utf-8")) ^ (_base_seed * 0x9E3779B1)) % (2**31 - 1)

# The kinds of kernel a layer owns, for the per-kind choices of `weight_initializer`.
KERNEL_KINDS = ("linear", "conv", "deconv")


def _check_initializer(setting: str, name: Optional[str], allow_none: bool) -> None:
  if (name is None and allow_none) or name in _INITIALIZERS:
    return
  valid = ", ".join(map(repr, _INITIALIZERS)) + (" or None (weights.initializer)"
                                                  if allow_none else "")
  raise config.ConfigError(f"{setting}={name!r} is not one of {valid}.")


@gin.configurable("weights", denylist=["seed", "kind"])
def weight_initializer(seed: int,
                       kind: str,
                       initializer: str = "normal",
                       stddev: float = 0.02,
                       linear_initializer: Optional[str] = None,
                       conv_initializer: Optional[str] = None,
                       deconv_initializer: Optional[str] = None) -> keras.initializers.Initializer:
  """The kernel initializer of a layer of `kind` (gin `weights`).

  v3 (`arch_ops.weight_initializer`) draws every kernel from `weights.initializer`. v2 (the GAN
  Landscape's code, `v2:.../gans/ops.py`) drew conv kernels from a truncated normal(0.02) and
  linear and deconv kernels from a normal(0.02) (its SNDCGAN discriminator passed normal to its
  convs); the per-kind settings express that:

    weights.conv_initializer = 'truncated'   # v2's ResNet19, ResNet-CIFAR, DCGAN, InfoGAN

  Args:
    seed: stateless seed (from `variable_seed`).
    kind: the layer's kernel kind, one of KERNEL_KINDS; conv covers every Conv2D (1x1 included).
    initializer: for every kind without its own choice: "normal" (N(0, stddev), the default),
      "truncated" (normal truncated at 2 stddev, TF's), "orthogonal" (gain 1, as BigGAN).
    stddev: standard deviation for "normal" and "truncated".
    linear_initializer, conv_initializer, deconv_initializer: the choice for that kind; None
      follows `initializer`.
  """
  _check_initializer("weights.initializer", initializer, allow_none=False)
  per_kind = {"linear": linear_initializer, "conv": conv_initializer,
              "deconv": deconv_initializer}
  for name, value in per_kind.items():
    _check_initializer(f"weights.{name}_initializer", value, allow_none=True)
  if kind not in per_kind:
    raise ValueError(f"Unknown kernel kind {kind!r}; valid: {', '.join(KERNEL_KINDS)}.")
  choice = per_kind[kind] or initializer
  if choice == "normal":
    return keras.initializers.RandomNormal(stddev=stddev, seed=seed)
  if choice == "truncated":
    return keras.initializers.TruncatedNormal(stddev=stddev, seed=seed)
  return keras.initializers.Orthogonal(gain=1.0, seed=seed)

@gin.configurable("spectral_norm", allowlist=["epsilon", "singular_value"])
class SpectralNormSettings:
  """gin surface of the reference's `spectral_norm(epsilon=1e-12, singular_value="left")`."""

  def __init__(self, epsilon: float = 1e-12, singular_value: str = "left"):
    if singular_value not in _ORIENTATIONS:
      raise config.ConfigError(f"spectral_norm.singular_value={singular_value!r} is not one of "
                               f"{_ORIENTATIONS}.")
    self.epsilon = epsilon
    self.singular_value = singular_value

def _l2_normalize(x: tf.Tensor, epsilon: float) -> tf.Tensor:
  # x / sqrt(max(sum x^2, eps)), as the reference's `l2normalize`.
  return x * tf.math.rsqrt(tf.maximum(tf.reduce_sum(tf.square(x)), epsilon))

def power_iteration(matrix: tf.Tensor, u: tf.Tensor, orientation: str,
                    epsilon: float = 1e-12) -> Tuple[tf.Tensor, tf.Tensor]:
  """One power iteration on `matrix` [rows, cols] from `u`; returns (sigma, new u).

  "left": u [rows, 1], v = l2n(W^T u), u' = l2n(W v), sigma = u'^T W v.
  "right": u [1, cols], v = l2n(u W^T), u' = l2n(v W), sigma = v W u'^T.
  `u` and `v` are constants for the gradient (Miyato et al., Algorithm 1).
  """
  if orientation == "left":
    v = _l2_normalize(tf.matmul(matrix, u, transpose_a=True), epsilon)
    u = _l2_normalize(tf.matmul(matrix, v), epsilon)
    u, v = tf.stop_gradient(u), tf.stop_gradient(v)
    sigma = tf.matmul(tf.matmul(u, matrix, transpose_a=True), v)
  else:
    v = _l2_normalize(tf.matmul(u, matrix, transpose_b=True), epsilon)
    u = _l2_normalize(tf.matmul(v, matrix), epsilon)
    u, v = tf.stop_gradient(u), tf.stop_gradient(v)
    sigma = tf.matmul(tf.matmul(v, matrix), u, transpose_b=True)
  return tf.reshape(sigma, []), u

class KernelLayer(keras.layers.Layer):
  """Base of the layers that own a kernel and bias; optionally spectrally normalised.

  Subclasses set `kind` (one of KERNEL_KINDS), call `_add_kernel(shape)` in `build` and
  `_kernel(training)` in `call`.
  """

  kind: str  # which `weights.<kind>_initializer` applies

  def __init__(self,
               use_sn: bool = False,
               use_bias: bool = True,
               bias_start: float = 0.0,
               initializer: Optional[str] = None,
               **kwargs):
    """`initializer=None` uses gin `weights` for the layer's kind; "glorot_normal" is the
    BigGAN family's projection-embedding initializer."""
    if initializer not in (None, "glorot_normal"):
      raise ValueError(f"initializer={initializer!r}; valid: None (gin `weights`) or "
                       "'glorot_normal'.")
    super().__init__(**kwargs)
    self.use_sn = use_sn
    self.use_bias = use_bias
    self.bias_start = bias_start
    self.initializer = initializer
    self.sn_settings = SpectralNormSettings() if use_sn else None

  def _add_kernel(self, shape: Sequence[int], bias_size: int):
    seed = variable_seed(self.path + "/kernel")
    if self.initializer == "glorot_normal":
      init = keras.initializers.GlorotNormal(seed=seed)
    else:
      init = weight_initializer(seed, kind=self.kind)
    # autocast=False: the kernel (and spectral norm) stay float32 under mixed precision.
    self.kernel = self.add_weight(shape=tuple(shape), initializer=init, name="kernel",
                                  autocast=False)
    self.bias = None
    if self.use_bias:
      self.bias = self.add_weight(shape=(bias_size,),
                                  initializer=keras.initializers.Constant(self.bias_start),
                                  name="bias")
    if self.use_sn:
      rows = 1
      for d in shape[:-1]:
        rows *= int(d)
      cols = int(shape[-1])
      orientation = self.sn_settings.singular_value
      if orientation == "auto":
        orientation = "left" if rows <= cols else "right"
      self.sn_orientation = orientation
      u_shape = (rows, 1) if orientation == "left" else (1, cols)
      # Every replica computes the same u from the same kernel, so replica 0's value is kept.
      self.u = self.add_weight(
          shape=u_shape, name="u", trainable=False, autocast=False,
          initializer=keras.initializers.RandomNormal(
              stddev=1.0, seed=variable_seed(self.path + "/kernel/u")),
          aggregation="only_first_replica")

  def sigma(self) -> tf.Tensor:
    """The current spectral-norm estimate of the kernel (no state change)."""
    matrix = tf.reshape(tf.convert_to_tensor(self.kernel), [-1, self.kernel.shape[-1]])
    sigma, _ = power_iteration(matrix, tf.convert_to_tensor(self.u), self.sn_orientation,
                               self.sn_settings.epsilon)
    return sigma

  def _kernel(self, training) -> tf.Tensor:
    kernel = tf.convert_to_tensor(self.kernel)
    if self.use_sn:
      matrix = tf.reshape(kernel, [-1, kernel.shape[-1]])
      sigma, new_u = power_iteration(matrix, tf.convert_to_tensor(self.u),
                                     self.sn_orientation, self.sn_settings.epsilon)
      if training:
        self.u.assign(new_u)
      kernel = kernel / sigma
    return tf.cast(kernel, self.compute_dtype)

  def _add_bias(self, outputs: tf.Tensor) -> tf.Tensor:
    if self.bias is None:
      return outputs
    return outputs + tf.cast(self.bias, outputs.dtype)

class Linear(KernelLayer):
  """`y = x W + b`, kernel [in, units] (reference `linear`)."""

  kind = "linear"

  def __init__(self, units: int, **kwargs):
    super().__init__(**kwargs)
    self.units = int(units)

  def build(self, input_shape):
    if len(input_shape) != 2:
      raise ValueError(f"Linear {self.name!r} expects [B, features], got shape {input_shape}.")
    self._add_kernel((int(input_shape[-1]), self.units), self.units)

  def call(self, inputs, training=None):
    return self._add_bias(tf.matmul(inputs, self._kernel(training)))


class Projection(KernelLayer):
  """Projection-discriminator term <y W_emb, h> (Miyato & Koyama, ICLR'18).

  W_emb [num_classes, F] is a linear kernel without bias, spectrally normalised with D: the
  reference `resnet_cifar`'s `embedding_fc` (`linear(y, F, use_bias=False)`, so gin `weights`,
  normal(0.02) by default). Only the BigGAN family initialised it glorot-normal
  (`initializer="glorot_normal"`). Call with features h [B, F] and labels y [B, num_classes];
  returns [B, 1].
  """

  kind = "linear"

  def __init__(self, num_classes: int, **kwargs):
    super().__init__(use_bias=False, **kwargs)
    self.num_classes = int(num_classes)

  def build(self, features_shape, labels_shape=None):
    self._add_kernel((self.num_classes, int(features_shape[-1])), 0)

  def call(self, features, labels, training=None):
    embedded = tf.matmul(tf.cast(labels, features.dtype), self._kernel(training))
    return tf.reduce_sum(embedded * features, axis=1, keepdims=True)

class Conv2D(KernelLayer):
  """2-D convolution with SAME padding, kernel [kh, kw, in, out] (reference `conv2d`)."""

  kind = "conv"

  def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.strides = int(strides)

  def build(self, input_shape):
    k = self.kernel_size
    self._add_kernel((k, k, int(input_shape[-1]), self.filters), self.filters)

  def call(self, inputs, training=None):
    s = self.strides
    out = tf.nn.conv2d(inputs, self._kernel(training), strides=[1, s, s, 1], padding="SAME")
    return self._add_bias(out)

class Deconv2D(KernelLayer):
  """Transposed convolution to an explicit spatial size, kernel [kh, kw, out, in].

  `output_size` (H, W) must satisfy ceil(H / strides) == input H (SAME padding), which lets the
  DCGAN-family generators reach odd sizes such as 28 -> 14 -> 7 -> 4 (reference `deconv2d`).
  """

  kind = "deconv"

  def __init__(self, filters: int, output_size: Tuple[int, int], kernel_size: int = 5,
               strides: int = 2, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.output_size = (int(output_size[0]), int(output_size[1]))
    self.kernel_size = int(kernel_size)
    self.strides = int(strides)

  def build(self, input_shape):
    h, w = int(input_shape[1]), int(input_shape[2])
    s = self.strides
    if -(-self.output_size[0] // s) != h or -(-self.output_size[1] // s) != w:
      raise ValueError(f"Deconv2D {self.name!r}: output size {self.output_size} with stride "
                       f"{s} does not come from input size {(h, w)}.")
    k = self.kernel_size
    self._add_kernel((k, k, self.filters, int(input_shape[-1])), self.filters)

  def call(self, inputs, training=None):
    s = self.strides
    shape = tf.stack([tf.shape(inputs)[0], self.output_size[0], self.output_size[1],
                      self.filters])
    out = tf.nn.conv2d_transpose(inputs, self._kernel(training), shape, strides=[1, s, s, 1],
                                 padding="SAME")
    return self._add_bias(out)

def lrelu(x: tf.Tensor, leak: float = 0.2) -> tf.Tensor:
  """Leaky ReLU `max(x, leak * x)` (reference `lrelu`, leak 0.2 unless an architecture says),
  for 0 <= leak < 1: TensorFlow's fused LeakyRelu forward, one op instead of Mul and Maximum,
  and one LeakyReluGrad backward instead of GreaterEqual, Select and friends.

  The gradient reads the output y, not the input x (for 0 <= leak < 1, y > 0 exactly where
  x > 0), so that x, the output of the preceding conv or linear layer and its bias add, is not
  kept for the backward pass: grappler's remapper can then fuse conv + bias + leaky ReLU (and
  it fails, logging an error, when the gradient still reads x). At x = 0 exactly the gradient is
  `leak`, where the reference's `tf.maximum` passed 1 (both subgradients; docs/differences.md).
  """
  if not 0.0 <= leak < 1.0:
    raise ValueError(f"lrelu leak={leak}; valid: 0 <= leak < 1.")
  return _leaky_relu(x, leak)


def _leaky_relu(x: tf.Tensor, leak: float) -> tf.Tensor:
  @tf.custom_gradient
  def forward(x):
    y = tf.nn.leaky_relu(x, alpha=leak)

    def backward(dy):
      return tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=leak)
    return y, backward
  return forward(x)


def unpool(x: tf.Tensor) -> tf.Tensor:
  """Zero-insertion 2x up-sampling: out[2i, 2j] = x[i, j], the other three positions 0.

  The reference ResNet "up" blocks use this (resnet_ops.unpool), not nearest neighbour.
  x: [B, H, W, C] -> [B, 2H, 2W, C].
  """
  shape = tf.shape(x)
  b, h, w, c = shape[0], x.shape[1], x.shape[2], x.shape[3]
  zeros = tf.zeros_like(x)
  x = tf.reshape(tf.stack([x, zeros], axis=3), tf.stack([b, h, 2 * w, c]))
  zeros = tf.zeros_like(x)
  return tf.reshape(tf.stack([x, zeros], axis=2), tf.stack([b, 2 * h, 2 * w, c]))

def avg_pool2(x: tf.Tensor) -> tf.Tensor:
  """2x2 average pooling, stride 2, SAME padding (ResNet "down" blocks)."""
  return tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="SAME")

class SelfAttention(keras.layers.Layer):
  """SAGAN non-local block (Zhang et al., 2019; reference `non_local_block`).

  theta = conv1x1(x, C/8), phi = maxpool(conv1x1(x, C/8)), g = maxpool(conv1x1(x, C/2));
  attn = softmax(theta phi^T) over the pooled positions; o = conv1x1(attn g, C);
  returns x + sigma * o with the scalar `sigma` initialised to 0. Needs even H, W and C >= 8.
  """

  def __init__(self, use_sn: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.use_sn = use_sn

  def build(self, input_shape):
    _, h, w, c = (int(d) if d is not None else None for d in input_shape)
    if c < 8 or h % 2 or w % 2:
      raise ValueError(f"SelfAttention {self.name!r} needs C >= 8 and even H, W; got "
                       f"shape {tuple(input_shape)}.")
    conv = lambda ch, name: Conv2D(ch, 1, use_sn=self.use_sn, use_bias=False, name=name)
    self.theta = conv(c // 8, "conv2d_theta")
    self.phi = conv(c // 8, "conv2d_phi")
    self.g = conv(c // 2, "conv2d_g")
    self.attn_g = conv(c, "conv2d_attn_g")
    self.sigma = self.add_weight(shape=(), initializer="zeros", name="sigma")

  def call(self, x, training=None):
    b = tf.shape(x)[0]
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    pool = lambda t: tf.nn.max_pool2d(t, ksize=2, strides=2, padding="VALID")
    theta = tf.reshape(self.theta(x, training=training), [b, h * w, c // 8])
    phi = tf.reshape(pool(self.phi(x, training=training)), [b, h * w // 4, c // 8])
    attn = tf.nn.softmax(tf.matmul(theta, phi, transpose_b=True), axis=-1)
    g = tf.reshape(pool(self.g(x, training=training)), [b, h * w // 4, c // 2])
    attn_g = tf.reshape(tf.matmul(attn, g), [b, h, w, c // 2])
    return x + tf.cast(self.sigma, x.dtype) * self.attn_g(attn_g, training=training)

def scaled(channels: int, width: float) -> int:
  """Channel count `channels` times the width multiplier, at least 1."""
  return max(1, int(round(channels * width)))
