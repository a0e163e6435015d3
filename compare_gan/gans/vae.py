"""VAE: the baseline of "Are GANs Created Equal?" (Kingma & Welling 2014; v1 `gans/VAE.py`).

  mu, sigma = Enc(x), sigma = 1e-6 + softplus(.)        z = mu + sigma eps, eps ~ N(0, I)
  p = clip(Dec(z), 1e-8, 1 - 1e-8)
  NLL = -mean_{b,c} sum_{h,w} [x log p + (1 - x) log(1 - p)]            (Bernoulli)
  KL  = mean_b 1/2 sum_j (mu^2 + sigma^2 - log(1e-8 + sigma^2) - 1)
  loss = NLL + KL, one optimizer over every variable, one update per step

v1's NLL sums over height and width only and averages over channels, so for RGB it is a third
of the full sum (a quirk, kept by default); `VAE.sum_over_channels = True` sums over the
channels too.

Images only: 2-D point data (ring8, grid25) are refused when the model is built. The same
cross-entropy on two coordinates would run, but near p = x it acts as a Gaussian likelihood of
variance x (1 - x) (its curvature there is 1 / (x (1 - x))): a noise of std up to 0.5 around
data whose modes sit 0.3 apart with std 0.004 (ring8), which cannot tell the modes apart. A
Gaussian decoder would be the natural likelihood for points, but it is a model v1 never had,
with a noise scale to choose.

Samples decode z ~ N(0, I), the prior: the run's `z` must be N(0, 1)
(`z.distribution_fn = @tf.random.normal`).

Networks: the decoder is the generator of `VAE.architecture` (`G.*` options; it is what
evaluation samples and export writes as the generator); the encoder is that architecture's
discriminator trunk (`D.*` options), its features (the layer before D's output) followed by a
linear head `en_fc4` to 2 z_dim (mu | pre-softplus sigma). With @infogan() (the default) the
encoder is v1's exactly; v1's decoder used ReLU and always batch norm where InfoGAN's G uses
leaky ReLU and `G.batch_norm_fn` (set @batch_norm for v1). The optimizer holds every variable
(v1); D's output layer, which the loss does not reach, gets zero gradients and keeps its
initial values.

gin surface (v1 defaults):

  model.family = @VAE
  z.distribution_fn = @tf.random.normal
  VAE.architecture = @infogan()
  VAE.z_dim = 64
  VAE.optimizer = @tf.keras.optimizers.Adam()
  VAE.sum_over_channels = False

Terms (TensorBoard and the progress line): loss, nll, kl. The VAE has no discriminator
(`disc_iters` 0, one real batch per step) and no EMA generator; export leaves D out.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import gin
import keras
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import ops
from compare_gan.gans import latents
from compare_gan.gans import modular_gan
from compare_gan.gans import shared_step

PROB_EPSILON = 1e-8     # p is clipped to [eps, 1 - eps] (v1).
SIGMA_OFFSET = 1e-6     # sigma = 1e-6 + softplus(.) (v1).
LOG_EPSILON = 1e-8      # log(1e-8 + sigma^2) in the KL (v1).


# ----------------------------------------------------------------------------------------------
# The formulas (pure, per example)
# ----------------------------------------------------------------------------------------------

def bernoulli_nll(images: tf.Tensor, probabilities: tf.Tensor,
                  sum_over_channels: bool = False) -> tf.Tensor:
  """Per-example Bernoulli negative log-likelihood [B] of images [B, H, W, C] in [0, 1] under
  pixel probabilities p [B, H, W, C] in (0, 1): `-sum_{h,w} [x log p + (1 - x) log(1 - p)]`
  averaged over the channels (v1), or summed over them with `sum_over_channels`."""
  x = tf.cast(images, tf.float32)
  p = tf.cast(probabilities, tf.float32)
  log_likelihood = tf.reduce_sum(x * tf.math.log(p) + (1.0 - x) * tf.math.log(1.0 - p),
                                 axis=[1, 2])
  reduce = tf.reduce_sum if sum_over_channels else tf.reduce_mean
  return -reduce(log_likelihood, axis=1)


def gaussian_kl(mu: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
  """Per-example KL(N(mu, sigma^2) || N(0, I)) [B] of mu, sigma [B, z_dim], v1's form:
  `1/2 sum_j (mu^2 + sigma^2 - log(1e-8 + sigma^2) - 1)`."""
  return 0.5 * tf.reduce_sum(tf.square(mu) + tf.square(sigma)
                             - tf.math.log(LOG_EPSILON + tf.square(sigma)) - 1.0, axis=1)


def gaussian_parameters(head: tf.Tensor, z_dim: int) -> Tuple[tf.Tensor, tf.Tensor]:
  """(mu, sigma) [B, z_dim] from the encoder head [B, 2 z_dim]: mu, 1e-6 + softplus(.)."""
  head = tf.cast(head, tf.float32)
  return head[:, :z_dim], SIGMA_OFFSET + tf.nn.softplus(head[:, z_dim:])


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------

class GaussianEncoder(keras.layers.Layer):
  """Images [B, *image_shape] in [0, 1] -> (mu, sigma) float32 [B, z_dim]: a discriminator's
  trunk (its features, the layer before its output) and a linear head `en_fc4` to 2 z_dim."""

  def __init__(self, trunk: base.Discriminator, z_dim: int, name: str = "encoder"):
    super().__init__(name=name)
    self.trunk = trunk
    self.z_dim = int(z_dim)
    self.head = ops.Linear(2 * self.z_dim, name="en_fc4")

  def call(self, images, training=None):
    _, features = self.trunk(images, training=training)
    return gaussian_parameters(self.head(features, training=training), self.z_dim)


@gin.configurable("VAE", denylist=["image_shape", "num_classes", "seed", "jit_compile"])
class VAE:
  """Encoder, decoder (the generator), one optimizer and the training step.

  Args:
    image_shape, num_classes: the data's (from the dataset); the VAE is unconditional and
      ignores the labels.
    architecture: a registered architecture: its generator decodes, its discriminator's trunk
      encodes (default @infogan(), v1's).
    z_dim: latent dimension (v1: 64).
    optimizer: a Keras optimizer over every variable (default ModularGAN's default).
    sum_over_channels: sum the NLL over the channels too (default False: v1's mean).
    seed: seeds weight initialisation (set by the training loop from `train.seed`).
    jit_compile: XLA-compile the gradient maths (set by the training loop).
  """

  progress_terms = ("loss", "nll", "kl")
  disc_iters = 0
  real_batches_per_step = 1
  conditional = False
  num_classes = None
  discriminator = None
  generator_ema = None

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int], *,
               architecture: Optional[base.Architecture] = None, z_dim: int = 64,
               optimizer: Optional[keras.optimizers.Optimizer] = None,
               sum_over_channels: bool = False, seed: int = 0, jit_compile: bool = False):
    del num_classes  # Unconditional, as v1.
    architecture = base.get_architecture("infogan") if architecture is None else architecture
    if not isinstance(architecture, base.Architecture):
      raise config.ConfigError(
          f"VAE.architecture={architecture!r} is not an architecture; use one of "
          + ", ".join(f"@{n}()" for n in sorted(base.ARCHITECTURES)) + ".")
    self.z = latents.latent_distribution()
    if self.z.kind != "normal" or self.z.stddev != 1.0:
      raise config.ConfigError(
          f"The VAE's prior is N(0, I), but z is {self.z.kind} {self.z.as_dict()}; set "
          "z.distribution_fn = @tf.random.normal (and z.stddev = 1.0).")
    if base.DiscriminatorOptions().project_y:
      raise config.ConfigError("The VAE is unconditional: set D.project_y = False.")
    self.image_shape = tuple(int(d) for d in image_shape)
    if len(self.image_shape) != 3:
      raise config.ConfigError(
          f"The VAE models images [H, W, C] with a Bernoulli likelihood per pixel; the dataset's "
          f"examples have shape {self.image_shape} (2-D points: ring8, grid25). Train it on an "
          "image dataset (e.g. dataset.name = 'triangles'), or train a GAN on the points.")
    self.architecture = architecture
    self.z_dim = int(z_dim)
    self.sum_over_channels = bool(sum_over_channels)
    self.seed = int(seed)

    with ops.initializer_seed(self.seed):
      self.generator = architecture.generator(self.image_shape, z_dim=self.z_dim)
      self.encoder = GaussianEncoder(
          architecture.discriminator(self.image_shape, name="trunk"), self.z_dim)
      self.generator.build_variables()
      self.encoder(tf.zeros((2,) + self.image_shape), training=False)
    self._variables = self.generator.trainable_variables + self.encoder.trainable_variables
    self.optimizer = shared_step.prepare_optimizer(optimizer, "VAE.optimizer")
    self.optimizer.build(self._variables)

    self._states = shared_step.layer_states([self.generator, self.encoder])
    self._gradients = self._gradients_fn
    if jit_compile:
      shared_step.check_jit_compatible("VAE", [self.generator, self.encoder])
      self._gradients = tf.function(self._gradients_fn, jit_compile=True)

  @property
  def sampling_generator(self) -> base.Generator:
    return self.generator

  @property
  def trained_variables(self) -> List:
    """Every variable the optimizer holds: the decoder's and the encoder's."""
    return list(self._variables)

  def _gradients_fn(self, real, eps, global_batch_size: int):
    """Gradients of the loss (this replica's share of the global-batch mean), the terms and
    the new layer state."""
    with keras.StatelessScope() as scope:
      with tf.GradientTape() as tape:
        mu, sigma = self.encoder(real, training=True)
        z = mu + sigma * eps
        p = tf.clip_by_value(tf.cast(self.generator(z, training=True), tf.float32),
                             PROB_EPSILON, 1.0 - PROB_EPSILON)
        nll = tf.reduce_sum(bernoulli_nll(real, p, self.sum_over_channels)) / global_batch_size
        kl = tf.reduce_sum(gaussian_kl(mu, sigma)) / global_batch_size
        loss = nll + kl
        scaled = self.optimizer.scale_loss(loss)
      grads = tape.gradient(scaled, self._variables)
      # D's output layer does not feed the encoder's features: its gradient is zero.
      grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self._variables)]
      states = shared_step.new_states(scope, self._states)
    return grads, {"loss": loss, "nll": nll, "kl": kl}, states

  def train_step(self, batches: Sequence[Dict[str, tf.Tensor]], step: tf.Tensor,
                 seed: tf.Tensor, global_batch_size: int) -> Dict[str, tf.Tensor]:
    """One update of encoder and decoder; call inside `strategy.run`.

    Args:
      batches: one per-replica batch {"images": [b, *image_shape] in [0, 1]}.
      step: int64 scalar, updates done before this step.
      seed: [2] int, the run's random seed; eps is the step's TRAIN_Z draw, N(0, I), drawn for
        the global batch and sliced per replica.
      global_batch_size: b times the number of replicas.
    Returns:
      {loss, nll, kl}: this replica's shares of the global-batch means.
    """
    if len(batches) != 1:
      raise ValueError(f"VAE.train_step needs 1 batch; got {len(batches)}.")
    per_replica = shared_step.per_replica_batch(global_batch_size)
    real = tf.ensure_shape(batches[0]["images"], (per_replica,) + self.image_shape)
    eps = tf.random.stateless_normal([global_batch_size, self.z_dim],
                                     latents.derive_seed(seed, step, 0, latents.TRAIN_Z))
    eps = shared_step.replica_rows(eps, per_replica)
    grads, terms, states = self._gradients(real, eps, global_batch_size)
    shared_step.assign_states(self._states, states)
    self.optimizer.apply_gradients(zip(grads, self._variables))
    return terms

  def sample(self, z: tf.Tensor, labels: Optional[tf.Tensor] = None,
             use_ema: bool = True) -> tf.Tensor:
    """Decoded images [B, *image_shape] in [0, 1] of z [B, z_dim], in inference mode (no EMA:
    `use_ema` changes nothing; labels must be None)."""
    del use_ema
    if labels is not None:
      raise ValueError("The VAE is unconditional; sample it without labels.")
    return self.generator(z, training=False)

  def checkpoint_items(self) -> Dict[str, object]:
    """Decoder ("generator") and encoder (every variable, by path), and the optimizer."""
    return {"generator": modular_gan.variables_by_path(self.generator),
            "encoder": modular_gan.variables_by_path(self.encoder),
            "optimizer": self.optimizer}
