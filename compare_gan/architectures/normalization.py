"""Normalisation layers: batch norm (plain, conditional, self-modulated), layer norm, identity.

A *normaliser factory* is what `G.batch_norm_fn` / `D.batch_norm_fn` name in gin
(`G.batch_norm_fn = @batch_norm`): one of the gin-registered functions at the end of this file.
An architecture calls `factory(name=..., use_sn=...)` once per normalisation site and then
`layer(x, z=z, y=y, training=...)` in its forward pass; `use_sn` is the module's spectral-norm
flag, used by the normalisers that own linear maps (CBN, SBN). A factory's `conditional`
attribute says whether it needs labels, `needs_z` whether it needs the latent z.

Batch statistics follow the reference `standardize_batch` (arch_ops.py):
* mean and population variance over every axis but the channel axis, in float32;
* under a multi-replica strategy the statistics are taken over the global batch (the sums of x
  and x^2 are all-reduced, variance = E[x^2] - E[x]^2 as the reference's cross-replica moments);
* inference uses moving averages (`decay`, `epsilon` configurable, no zero-debias) or, with
  `use_moving_averages=False`, the reference's accumulated statistics: while
  `set_accumulating(True)` is on, every inference call adds its batch mean/variance to
  accumulators and normalises with their running average.
"""

from typing import Optional

import gin
import keras
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import ops


def _moments(x: tf.Tensor, cross_replica: Optional[bool]):
  """Per-channel mean and population variance of x ([B, C] or [B, H, W, C]) in float32."""
  x = tf.cast(x, tf.float32)
  axes = list(range(x.shape.rank - 1))
  ctx = tf.distribute.get_replica_context()
  replicas = ctx.num_replicas_in_sync if ctx is not None else 1
  if cross_replica is None:
    cross_replica = replicas > 1
  if not cross_replica or replicas == 1:
    return tf.nn.moments(x, axes)
  count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
  total, total_sq, count = ctx.all_reduce(
      tf.distribute.ReduceOp.SUM,
      [tf.reduce_sum(x, axes), tf.reduce_sum(tf.square(x), axes), count])
  mean = total / count
  return mean, tf.maximum(total_sq / count - tf.square(mean), 0.0)


@gin.configurable("standardize_batch")
def standardize_batch_settings(decay: float = 0.999, epsilon: float = 1e-3,
                               use_moving_averages: bool = True,
                               use_cross_replica_mean: Optional[bool] = None) -> dict:
  """gin `standardize_batch`: the batch-statistics settings of every BN-type normaliser.

  Reference defaults: decay 0.999, epsilon 1e-3; the GAN Landscape configs use 0.9 and 1e-5.
  `use_moving_averages=False` selects the accumulated-statistics inference mode;
  `use_cross_replica_mean=None` means "on exactly when the strategy has several replicas".
  """
  if not 0.0 <= decay < 1.0:
    raise config.ConfigError(f"standardize_batch.decay={decay} must be in [0, 1).")
  if not epsilon > 0:
    raise config.ConfigError(f"standardize_batch.epsilon={epsilon} must be positive.")
  return dict(decay=decay, epsilon=epsilon, use_moving_averages=use_moving_averages,
              use_cross_replica_mean=use_cross_replica_mean)


class Standardize(keras.layers.Layer):
  """Batch standardisation without affine parameters (reference `standardize_batch`).

  Settings default to gin `standardize_batch` (see `standardize_batch_settings`).
  """

  def __init__(self, decay: Optional[float] = None, epsilon: Optional[float] = None,
               use_moving_averages: Optional[bool] = None,
               use_cross_replica_mean: Optional[bool] = None, **kwargs):
    super().__init__(**kwargs)
    settings = standardize_batch_settings()
    self.decay = settings["decay"] if decay is None else decay
    self.epsilon = settings["epsilon"] if epsilon is None else epsilon
    self.use_moving_averages = (settings["use_moving_averages"] if use_moving_averages is None
                                else use_moving_averages)
    self.use_cross_replica_mean = (settings["use_cross_replica_mean"]
                                   if use_cross_replica_mean is None else use_cross_replica_mean)

  def build(self, input_shape):
    if len(input_shape) not in (2, 4):
      raise ValueError(f"{self.name!r} normalises [B, C] or [B, H, W, C]; got {input_shape}.")
    c = (int(input_shape[-1]),)
    state = dict(trainable=False, autocast=False, aggregation="mean")
    if self.use_moving_averages:
      self.moving_mean = self.add_weight(shape=c, initializer="zeros", name="moving_mean",
                                         **state)
      self.moving_variance = self.add_weight(shape=c, initializer="ones",
                                             name="moving_variance", **state)
    else:
      self.accu_mean = self.add_weight(shape=c, initializer="zeros", name="accu_mean", **state)
      self.accu_variance = self.add_weight(shape=c, initializer="zeros", name="accu_variance",
                                           **state)
      self.accu_counter = self.add_weight(shape=(), name="accu_counter", **state,
                                          initializer=keras.initializers.Constant(1e-12))
      self.update_accus = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                          name="update_accus", trainable=False,
                                          aggregation="only_first_replica")

  def call(self, x, training=None):
    if training:
      mean, variance = _moments(x, self.use_cross_replica_mean)
      if self.use_moving_averages:
        # assign_moving_average(decay, zero_debias=False): m <- m - (1 - decay) (m - batch).
        self.moving_mean.assign(self.moving_mean - (1 - self.decay) * (self.moving_mean - mean))
        self.moving_variance.assign(
            self.moving_variance - (1 - self.decay) * (self.moving_variance - variance))
    elif self.use_moving_averages:
      mean, variance = tf.convert_to_tensor(self.moving_mean), tf.convert_to_tensor(
          self.moving_variance)
    else:
      mean, variance = self._accumulated(x)
    inv = tf.math.rsqrt(variance + self.epsilon)
    # Normalise in the input's dtype; statistics stay float32 until here.
    return (x - tf.cast(mean, x.dtype)) * tf.cast(inv, x.dtype)

  def _accumulated(self, x):
    def accumulate():
      mean, variance = _moments(x, self.use_cross_replica_mean)
      self.accu_mean.assign_add(mean)
      self.accu_variance.assign_add(variance)
      self.accu_counter.assign_add(1.0)
      return (tf.convert_to_tensor(self.accu_mean), tf.convert_to_tensor(self.accu_variance),
              tf.convert_to_tensor(self.accu_counter))

    def read():
      return (tf.convert_to_tensor(self.accu_mean), tf.convert_to_tensor(self.accu_variance),
              tf.convert_to_tensor(self.accu_counter))

    total_mean, total_var, counter = tf.cond(
        tf.convert_to_tensor(self.update_accus) > 0, accumulate, read)
    return total_mean / counter, total_var / counter

  def set_accumulating(self, on: bool):
    """Starts/stops adding inference-batch statistics to the accumulators."""
    if not self.use_moving_averages:
      self.update_accus.assign(1 if on else 0)

  def reset_accumulators(self):
    if not self.use_moving_averages:
      self.accu_mean.assign(tf.zeros_like(self.accu_mean))
      self.accu_variance.assign(tf.zeros_like(self.accu_variance))
      self.accu_counter.assign(1e-12)


class Normalizer(keras.layers.Layer):
  """Common call signature of every normaliser: `(x, z=None, y=None, training=None)`."""

  # True when the layer needs labels `y` (the architecture then requires num_classes).
  conditional = False

  def __init__(self, use_sn: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.use_sn = use_sn


class NoBatchNorm(Normalizer):
  """Identity (reference `no_batch_norm`); the same as leaving `batch_norm_fn` unset."""

  def call(self, x, z=None, y=None, training=None):
    return x


class BatchNorm(Normalizer):
  """Batch norm: `standardize_batch` then per-channel `gamma` (ones) and `beta` (zeros).

  `use_sn` is accepted for the normaliser interface; plain BN has no linear map to normalise.
  """

  def __init__(self, center: bool = True, scale: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.center = center
    self.scale = scale
    self.standardize = Standardize(name="standardize")

  def build(self, input_shape):
    c = (int(input_shape[-1]),)
    self.gamma = self.add_weight(shape=c, initializer="ones", name="gamma") if self.scale else None
    self.beta = self.add_weight(shape=c, initializer="zeros", name="beta") if self.center else None

  def call(self, x, z=None, y=None, training=None):
    out = self.standardize(x, training=training)
    if self.gamma is not None:
      out = out * tf.cast(self.gamma, out.dtype)
    if self.beta is not None:
      out = out + tf.cast(self.beta, out.dtype)
    return out


class ConditionalBatchNorm(Normalizer):
  """Conditional BN (de Vries et al., 2017; Miyato & Koyama, 2018), as the reference:

  out = standardize(x) * (y W_gamma [+ b]) + (y W_beta [+ b]), with y [B, K] one-hot (or soft)
  labels and W from `Linear(..., use_sn)`. As in the reference, gamma has no +1 offset and no
  bias by default (`use_bias=False`), so it starts near 0 under the normal(0.02) initializer.
  """

  conditional = True

  def __init__(self, use_bias: bool = False, center: bool = True, scale: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.center = center
    self.scale = scale
    self.use_bias = use_bias
    self.standardize = Standardize(name="standardize")

  def build(self, input_shape):
    c = int(input_shape[-1])
    linear = lambda name: ops.Linear(c, use_sn=self.use_sn, use_bias=self.use_bias, name=name)
    self.gamma = linear("gamma") if self.scale else None
    self.beta = linear("beta") if self.center else None

  def call(self, x, z=None, y=None, training=None):
    if y is None:
      raise config.ConfigError(
          f"{self.path}: conditional_batch_norm needs labels y [B, num_classes]; "
          "the model was called without them.")
    out = self.standardize(x, training=training)
    y = tf.cast(y, self.compute_dtype)
    expand = (lambda t: t[:, None, None, :]) if out.shape.rank == 4 else (lambda t: t)
    if self.gamma is not None:
      out = out * tf.cast(expand(self.gamma(y, training=training)), out.dtype)
    if self.beta is not None:
      out = out + tf.cast(expand(self.beta(y, training=training)), out.dtype)
    return out


class SelfModulatedBatchNorm(Normalizer):
  """Self-modulated BN (Chen et al., "On Self Modulation for GANs", ICLR'19), as the reference:

  h = relu(Linear(z, num_hidden)) (skipped when num_hidden=0); gamma = Linear(h, C) with bias
  starting at 1; beta = Linear(h, C); out = standardize(x) * gamma + beta.
  """

  def __init__(self, num_hidden: int = 32, center: bool = True, scale: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.num_hidden = num_hidden
    self.center = center
    self.scale = scale
    self.standardize = Standardize(name="standardize")

  def build(self, input_shape):
    c = int(input_shape[-1])
    self.hidden = (ops.Linear(self.num_hidden, use_sn=self.use_sn, name="hidden")
                   if self.num_hidden > 0 else None)
    self.gamma = (ops.Linear(c, use_sn=self.use_sn, bias_start=1.0, name="gamma")
                  if self.scale else None)
    self.beta = ops.Linear(c, use_sn=self.use_sn, name="beta") if self.center else None

  def call(self, x, z=None, y=None, training=None):
    if z is None:
      raise config.ConfigError(f"{self.path}: self_modulated_batch_norm needs the latent z.")
    out = self.standardize(x, training=training)
    h = tf.cast(z, self.compute_dtype)
    if self.hidden is not None:
      h = tf.nn.relu(self.hidden(h, training=training))
    expand = (lambda t: t[:, None, None, :]) if out.shape.rank == 4 else (lambda t: t)
    if self.gamma is not None:
      out = out * tf.cast(expand(self.gamma(h, training=training)), out.dtype)
    if self.beta is not None:
      out = out + tf.cast(expand(self.beta(h, training=training)), out.dtype)
    return out


class LayerNorm(keras.layers.Layer):
  """Layer norm over all non-batch axes jointly, per-channel gamma/beta (reference: contrib
  `layer_norm` with begin_norm_axis=1, begin_params_axis=-1, epsilon 1e-12). Used in D when
  `D.layer_norm = True`."""

  def __init__(self, epsilon: float = 1e-12, **kwargs):
    super().__init__(**kwargs)
    self.epsilon = epsilon

  def build(self, input_shape):
    c = (int(input_shape[-1]),)
    # autocast=False: the affine maths runs in float32 with the statistics (mixed precision).
    self.gamma = self.add_weight(shape=c, initializer="ones", name="gamma", autocast=False)
    self.beta = self.add_weight(shape=c, initializer="zeros", name="beta", autocast=False)

  def call(self, x, training=None):
    x32 = tf.cast(x, tf.float32)
    axes = list(range(1, x.shape.rank))
    mean, variance = tf.nn.moments(x32, axes, keepdims=True)
    out = (x32 - mean) * tf.math.rsqrt(variance + self.epsilon) * self.gamma + self.beta
    return tf.cast(out, x.dtype)


def standardizers(layer: keras.layers.Layer):
  """Every `Standardize` inside `layer` (to switch accumulated-statistics mode for evaluation)."""
  return [l for l in layer._flatten_layers() if isinstance(l, Standardize)]


# gin-registered normaliser factories. Keras layers cannot carry gin's wrapper on `__init__`
# (Keras inspects its signature), so gin configures these functions instead.


@gin.configurable("no_batch_norm", denylist=["name", "use_sn"])
def no_batch_norm(name: str, use_sn: bool = False) -> NoBatchNorm:
  """Identity normaliser (reference `no_batch_norm`)."""
  return NoBatchNorm(name=name, use_sn=use_sn)


@gin.configurable("batch_norm", denylist=["name", "use_sn"])
def batch_norm(name: str, use_sn: bool = False, center: bool = True,
               scale: bool = True) -> BatchNorm:
  """Batch norm with learned per-channel gamma/beta (reference `batch_norm`)."""
  return BatchNorm(name=name, use_sn=use_sn, center=center, scale=scale)


@gin.configurable("conditional_batch_norm", denylist=["name", "use_sn"])
def conditional_batch_norm(name: str, use_sn: bool = False, use_bias: bool = False,
                           center: bool = True, scale: bool = True) -> ConditionalBatchNorm:
  """Label-conditional batch norm (reference `conditional_batch_norm`)."""
  return ConditionalBatchNorm(name=name, use_sn=use_sn, use_bias=use_bias, center=center,
                              scale=scale)


@gin.configurable("self_modulated_batch_norm", denylist=["name", "use_sn"])
def self_modulated_batch_norm(name: str, use_sn: bool = False, num_hidden: int = 32,
                              center: bool = True, scale: bool = True) -> SelfModulatedBatchNorm:
  """z-modulated batch norm (reference `self_modulated_batch_norm`)."""
  return SelfModulatedBatchNorm(name=name, use_sn=use_sn, num_hidden=num_hidden, center=center,
                                scale=scale)


# `conditional`: needs labels y; `needs_z`: needs the latent z (so it only fits a generator).
for _factory, _conditional, _needs_z in ((no_batch_norm, False, False),
                                         (batch_norm, False, False),
                                         (conditional_batch_norm, True, False),
                                         (self_modulated_batch_norm, False, True)):
  _factory.conditional = _conditional
  _factory.needs_z = _needs_z
