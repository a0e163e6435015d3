"""Discriminator penalties (reference `compare_gan/gans/penalty_lib.py`) and weight clipping.

Contract: `fn(discriminator, real_images, fake_images, *, seed) -> tf.Tensor`, where
`discriminator` is a callable `images -> logits [B, 1]` (already bound to labels and training
mode) and `seed` is a stateless seed, shape [2] int. Gradient penalties return per-example
values of shape [B]; `l2_penalty` depends on weights only and returns a scalar (it reads
`discriminator.trainable_variables`). The training step adds `weight * penalty` to the D loss
(gin `penalty.weight`, the papers' lambda):

  penalty.fn = @wgangp_penalty
  penalty.weight = 10.0

Gradient penalties use the reference's slope `sqrt(1e-4 + sum_{h,w,c} g^2)`; the 1e-4 keeps
the gradient of the square root finite at g = 0.
"""

from typing import Callable, NamedTuple, Optional, Sequence

import gin
import tensorflow as tf

from compare_gan import config

_SLOPE_EPS = 1e-4
_DRAGAN_VARIANTS = ("landscape", "created_equal")
# Names used before the variants were named for the study that ran them.
_DRAGAN_OLD_NAMES = {"v3": "landscape", "v2": "created_equal"}


def _input_gradients(discriminator: Callable, x: tf.Tensor, through_sigmoid: bool = False):
  """d(sum of D outputs)/dx, shape of x. Each example's output depends on its own input only
  (unless D has batch norm, as in the reference)."""
  with tf.GradientTape() as tape:
    tape.watch(x)
    out = tf.cast(discriminator(x), tf.float32)
    if through_sigmoid:
      out = tf.nn.sigmoid(out)
  return tf.cast(tape.gradient(out, x), tf.float32)


def _sum_over_example(t: tf.Tensor) -> tf.Tensor:
  return tf.reduce_sum(t, axis=list(range(1, t.shape.rank)))


def _slope_penalty(gradients: tf.Tensor) -> tf.Tensor:
  """(||g||_eps - 1)^2 per example, with ||g||_eps = sqrt(1e-4 + sum g^2)."""
  slopes = tf.sqrt(_SLOPE_EPS + _sum_over_example(tf.square(gradients)))
  return tf.square(slopes - 1.0)


def _per_example_shape(x: tf.Tensor):
  return tf.concat([tf.shape(x)[:1], tf.ones([x.shape.rank - 1], tf.int32)], axis=0)


@gin.register
def no_penalty(discriminator: Callable, real_images: tf.Tensor, fake_images: tf.Tensor, *,
               seed: tf.Tensor) -> tf.Tensor:
  """No penalty: zeros [B]."""
  return tf.zeros(tf.shape(real_images)[:1], tf.float32)


@gin.register
def wgangp_penalty(discriminator: Callable, real_images: tf.Tensor, fake_images: tf.Tensor, *,
                   seed: tf.Tensor) -> tf.Tensor:
  """WGAN-GP (Gulrajani et al., 2017, eq. 3): (||grad D(x_hat)|| - 1)^2 per example [B], with
  x_hat = x + alpha (x_fake - x) on the segment between paired real and fake examples and one
  alpha ~ U[0, 1) per example."""
  real = tf.cast(real_images, tf.float32)
  fake = tf.cast(fake_images, tf.float32)
  alpha = tf.random.stateless_uniform(_per_example_shape(real), seed)
  x_hat = real + alpha * (fake - real)
  return _slope_penalty(_input_gradients(discriminator, x_hat))


@gin.configurable("dragan_penalty", allowlist=["variant"])
def dragan_penalty(discriminator: Callable, real_images: tf.Tensor, fake_images: tf.Tensor, *,
                   seed: tf.Tensor, variant: str = "landscape") -> tf.Tensor:
  """DRAGAN (Kodali et al., 2017): a gradient penalty around the real data, per example [B].

  variant "landscape" (the default): the penalty the GAN Landscape ran (v2
    `gans_with_penalty.dragan_penalty`, kept in v3 `penalty_lib`): std = standard deviation of
    all entries of the real batch; x_noisy = clip(x + std (U[0,1) - 0.5), 0, 1); penalty on the
    gradient of D's logits there; no interpolation.
  variant "created_equal": the standalone DRAGAN model of "Are GANs Created Equal?" (v1
    `gans/DRAGAN.py`, unchanged in v2): x_p = x + 0.5 std U[0,1) (one-sided, not clipped);
    x_hat = x + alpha (x_p - x) with alpha ~ U[0,1) per example; penalty on the gradient of
    D's *sigmoid output* at x_hat.
  `fake_images` is unused (DRAGAN perturbs real data only).
  """
  if variant in _DRAGAN_OLD_NAMES:
    raise config.ConfigError(
        f"dragan_penalty.variant={variant!r} was renamed: use "
        f"dragan_penalty.variant = {_DRAGAN_OLD_NAMES[variant]!r} (valid: "
        f"{', '.join(map(repr, _DRAGAN_VARIANTS))}).")
  if variant not in _DRAGAN_VARIANTS:
    raise config.ConfigError(
        f"dragan_penalty.variant={variant!r} is not one of "
        f"{', '.join(map(repr, _DRAGAN_VARIANTS))}.")
  real = tf.cast(real_images, tf.float32)
  _, variance = tf.nn.moments(real, axes=list(range(real.shape.rank)))
  std = tf.sqrt(variance)
  noise_seed, alpha_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  noise = tf.random.stateless_uniform(tf.shape(real), noise_seed)
  if variant == "landscape":
    x_noisy = tf.clip_by_value(real + std * (noise - 0.5), 0.0, 1.0)
    return _slope_penalty(_input_gradients(discriminator, x_noisy))
  perturbed = real + 0.5 * std * noise
  alpha = tf.random.stateless_uniform(_per_example_shape(real), alpha_seed)
  x_hat = real + alpha * (perturbed - real)
  return _slope_penalty(_input_gradients(discriminator, x_hat, through_sigmoid=True))


@gin.register
def r1_penalty(discriminator: Callable, real_images: tf.Tensor, fake_images: tf.Tensor, *,
               seed: tf.Tensor) -> tf.Tensor:
  """R1 (Mescheder et al., ICML'18, eq. 9): 0.5 ||grad D(x)||^2 on real data, per example [B];
  `penalty.weight` is the paper's gamma."""
  g = _input_gradients(discriminator, tf.cast(real_images, tf.float32))
  return 0.5 * _sum_over_example(tf.square(g))


def discriminator_kernels(discriminator) -> Sequence[tf.Variable]:
  """The trainable weight matrices of D (every variable named `kernel`: linear, conv, deconv,
  projection embeddings), without biases, normalisation parameters or spectral-norm vectors."""
  variables = getattr(discriminator, "trainable_variables", None)
  if variables is None:
    raise TypeError("l2_penalty needs a discriminator with `trainable_variables`; got "
                    f"{discriminator!r}.")
  return [v for v in variables if v.name.split("/")[-1].split(":")[0] == "kernel"]


@gin.register
def l2_penalty(discriminator, real_images: tf.Tensor, fake_images: tf.Tensor, *,
               seed: tf.Tensor) -> tf.Tensor:
  """L2 on D's kernels as the reference: the mean over layers of 0.5 sum W^2 (scalar)."""
  kernels = discriminator_kernels(discriminator)
  if not kernels:
    raise config.ConfigError("l2_penalty found no D kernels (is the discriminator built?).")
  return tf.add_n([0.5 * tf.reduce_sum(tf.square(tf.cast(k, tf.float32)))
                   for k in kernels]) / len(kernels)


PenaltyFn = Callable[..., tf.Tensor]

PENALTIES = (no_penalty, wgangp_penalty, dragan_penalty, r1_penalty, l2_penalty)


class PenaltyTerm(NamedTuple):
  """A penalty value ([B] per example, or a scalar for weight penalties) and its weight."""
  value: tf.Tensor
  weight: float


@gin.configurable("penalty", allowlist=["fn", "weight"])
def compute_penalty(discriminator: Callable, real_images: tf.Tensor, fake_images: tf.Tensor, *,
                    seed: tf.Tensor, fn: PenaltyFn = no_penalty,
                    weight: float = 1.0) -> PenaltyTerm:
  """The configured penalty (gin `penalty.fn`, `penalty.weight`)."""
  if weight < 0:
    raise config.ConfigError(f"penalty.weight={weight} must be >= 0.")
  value = fn(discriminator, real_images, fake_images, seed=seed)
  return PenaltyTerm(value, float(weight))


@gin.configurable("weight_clipping", allowlist=["clip_value"])
def clip_weights(variables: Sequence[tf.Variable],
                 clip_value: Optional[float] = None) -> None:
  """WGAN weight clipping (Arjovsky et al., 2017): every D variable into [-c, c] after each D
  update (reference v1/v2 `WGAN`); `clip_value=None` (the default) clips nothing."""
  if clip_value is None:
    return
  if not clip_value > 0:
    raise config.ConfigError(f"weight_clipping.clip_value={clip_value} must be positive.")
  for v in variables:
    v.assign(tf.clip_by_value(v, -clip_value, clip_value))


config.register_catalogue("penalties", "penalties (penalty.fn)",
                          lambda: [(f"@{fn.__name__}", config.summary(fn)) for fn in PENALTIES])
