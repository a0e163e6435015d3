"""GAN losses on discriminator logits (reference `compare_gan/gans/loss_lib.py`).

Every loss is `fn(d_real_logits, d_fake_logits) -> LossResult` with logits of shape [B, 1] and
per-example results of shape [B], so the training step can average over the *global* batch
under any distribution strategy (sum per replica, divide by the global batch size). Their batch
means are the formulas below (sigma = sigmoid, softplus(x) = log(1 + e^x)):

| name                | D loss                                      | G loss                         |
|---------------------|---------------------------------------------|--------------------------------|
| non_saturating      | softplus(-l_r) + softplus(l_f)              | softplus(-l_f)                 |
| minimax             | softplus(-l_r) + softplus(l_f)              | -softplus(l_f) = log(1-D(G(z)))|
| least_squares       | 0.5 ((sigma(l_r)-1)^2 + sigma(l_f)^2)       | 0.5 (sigma(l_f)-1)^2           |
| wasserstein         | -l_r + l_f                                  | -l_f                           |
| hinge               | relu(1-l_r) + relu(1+l_f)                   | -l_f                           |
| ra_non_saturating   | softplus(-(l_r-E l_f)) + softplus(l_f-E l_r)| softplus(-(l_f-E l_r)) + softplus(l_r-E l_f) |
| ra_hinge            | relu(1-(l_r-E l_f)) + relu(1+(l_f-E l_r))   | relu(1-(l_f-E l_r)) + relu(1+(l_r-E l_f)) |

`d_loss = d_loss_real + d_loss_fake` except for least_squares, whose `d_loss_real/_fake` are
reported without the 0.5 factor, as the reference. The relativistic-average losses
(Jolicoeur-Martineau, ICLR'19) use the mean logits E l over the global batch (all-reduced across
replicas).

Selected in gin by reference: `loss.fn = @hinge`.
"""

from typing import Callable, NamedTuple

import gin
import tensorflow as tf

from compare_gan import config


class LossResult(NamedTuple):
  """Per-example losses, each of shape [B]."""
  d_loss: tf.Tensor
  d_loss_real: tf.Tensor
  d_loss_fake: tf.Tensor
  g_loss: tf.Tensor


def _check(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor):
  """Reference `check_dimensions`: rank-2 [B, 1] logits of equal shapes; returns [B] floats."""
  for name, t in (("d_real_logits", d_real_logits), ("d_fake_logits", d_fake_logits)):
    if t.shape.rank != 2 or t.shape[-1] != 1:
      raise ValueError(f"{name} must have shape [B, 1]; got {t.shape}.")
  if d_real_logits.shape[0] is not None and d_fake_logits.shape[0] is not None and (
      d_real_logits.shape[0] != d_fake_logits.shape[0]):
    raise ValueError(f"Real and fake logits differ in batch size: {d_real_logits.shape} vs "
                     f"{d_fake_logits.shape}.")
  return (tf.cast(d_real_logits[:, 0], tf.float32), tf.cast(d_fake_logits[:, 0], tf.float32))


@gin.register
def non_saturating(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor) -> LossResult:
  """Non-saturating GAN (Goodfellow et al., 2014, section 3): G maximises log D(G(z))."""
  real, fake = _check(d_real_logits, d_fake_logits)
  d_real, d_fake = tf.nn.softplus(-real), tf.nn.softplus(fake)
  return LossResult(d_real + d_fake, d_real, d_fake, tf.nn.softplus(-fake))


@gin.register
def minimax(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor) -> LossResult:
  """Minimax (saturating) GAN (Goodfellow et al., 2014, eq. 1): G minimises log(1 - D(G(z)))."""
  real, fake = _check(d_real_logits, d_fake_logits)
  d_real, d_fake = tf.nn.softplus(-real), tf.nn.softplus(fake)
  return LossResult(d_real + d_fake, d_real, d_fake, -d_fake)


@gin.register
def least_squares(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor) -> LossResult:
  """Least-squares GAN (Mao et al., 2017) on sigmoid outputs, as the reference (a, b, c = 0, 1, 1)."""
  real, fake = _check(d_real_logits, d_fake_logits)
  d_real = tf.square(tf.nn.sigmoid(real) - 1.0)
  d_fake = tf.square(tf.nn.sigmoid(fake))
  g_loss = 0.5 * tf.square(tf.nn.sigmoid(fake) - 1.0)
  return LossResult(0.5 * (d_real + d_fake), d_real, d_fake, g_loss)


@gin.register
def wasserstein(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor) -> LossResult:
  """Wasserstein GAN critic loss (Arjovsky et al., 2017); pair it with a Lipschitz constraint."""
  real, fake = _check(d_real_logits, d_fake_logits)
  return LossResult(fake - real, -real, fake, -fake)


@gin.register
def hinge(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor) -> LossResult:
  """Hinge loss (Lim & Ye, 2017; Miyato et al., 2018)."""
  real, fake = _check(d_real_logits, d_fake_logits)
  d_real, d_fake = tf.nn.relu(1.0 - real), tf.nn.relu(1.0 + fake)
  return LossResult(d_real + d_fake, d_real, d_fake, -fake)


def _global_mean(x: tf.Tensor) -> tf.Tensor:
  """Mean of x [B] over the global batch (all replicas); gradients flow through all_reduce."""
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return tf.reduce_mean(x)
  total, count = ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                                [tf.reduce_sum(x), tf.cast(tf.size(x), x.dtype)])
  return total / count


@gin.register
def ra_non_saturating(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor) -> LossResult:
  """Relativistic average standard GAN, RaSGAN (Jolicoeur-Martineau, ICLR'19, eqs. 11-12)."""
  real, fake = _check(d_real_logits, d_fake_logits)
  real_rel = real - _global_mean(fake)
  fake_rel = fake - _global_mean(real)
  d_real, d_fake = tf.nn.softplus(-real_rel), tf.nn.softplus(fake_rel)
  g_loss = tf.nn.softplus(-fake_rel) + tf.nn.softplus(real_rel)
  return LossResult(d_real + d_fake, d_real, d_fake, g_loss)


@gin.register
def ra_hinge(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor) -> LossResult:
  """Relativistic average hinge GAN, RaHingeGAN (Jolicoeur-Martineau, ICLR'19, appendix)."""
  real, fake = _check(d_real_logits, d_fake_logits)
  real_rel = real - _global_mean(fake)
  fake_rel = fake - _global_mean(real)
  d_real, d_fake = tf.nn.relu(1.0 - real_rel), tf.nn.relu(1.0 + fake_rel)
  g_loss = tf.nn.relu(1.0 - fake_rel) + tf.nn.relu(1.0 + real_rel)
  return LossResult(d_real + d_fake, d_real, d_fake, g_loss)


LossFn = Callable[[tf.Tensor, tf.Tensor], LossResult]

LOSSES = (non_saturating, minimax, least_squares, wasserstein, hinge, ra_non_saturating,
          ra_hinge)


@gin.configurable("loss", allowlist=["fn"])
def compute_loss(d_real_logits: tf.Tensor, d_fake_logits: tf.Tensor,
                 fn: LossFn = non_saturating) -> LossResult:
  """The configured loss (gin `loss.fn`, non-saturating by default) on [B, 1] logits."""
  result = fn(d_real_logits, d_fake_logits)
  if not isinstance(result, LossResult):
    raise TypeError(f"loss.fn={fn!r} returned {type(result).__name__}, not a LossResult.")
  return result


def generator_loss_reads_real_logits() -> bool:
  """Whether the G loss of the configured loss (gin `loss.fn`) depends on D's real logits, as
  the relativistic-average losses' does; a G update that runs D on the fakes only (ModularGAN's
  `v2_generator_step`) cannot compute those. Probed on two sets of real logits with the same
  fake logits, so a newly registered loss needs no declaration."""
  fake = tf.constant([[0.3], [-1.2], [2.0]])
  first = compute_loss(tf.constant([[0.5], [2.0], [-0.7]]), fake).g_loss
  second = compute_loss(tf.constant([[-1.5], [0.1], [3.0]]), fake).g_loss
  return not bool(tf.reduce_all(tf.equal(first, second)))


config.register_catalogue("losses", "losses (loss.fn)",
                          lambda: [(f"@{fn.__name__}", config.summary(fn)) for fn in LOSSES])
