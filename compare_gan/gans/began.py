"""BEGAN: boundary equilibrium GAN (Berthelot et al. 2017), as compare_gan v1 `gans/BEGAN.py`.

D is an autoencoder (architectures/began_autoencoder.py) and a sample's energy its L1
reconstruction error; `L(v) = mean |AE(v) - v|` over the batch and every pixel:

  D loss  L(x) - k_t L(G(z))          G loss  L(G(z))
  k_t     non-trainable, starts at 0, checkpointed; after every training iteration
          k <- k + lambda_k (gamma L(x) - L(G(z))), with that iteration's images and z on the
          updated nets. v1 does not clip k; the BEGAN paper clips it to [0, 1] (`clip_k`).
  M       the paper's convergence measure L(x) + |gamma L(x) - L(G(z))|, from the same forward
          pass as the k update

One step (`step` counts G updates) is `disc_iters` iterations. Iteration i takes real batch i
and its own z, updates D, runs the k update; the last iteration also updates G with its z
before the k update. So a step consumes `disc_iters` real batches (not `disc_iters + 1`: G's
loss needs no real images) and makes `disc_iters` D and k updates per G update, v1's ratio:
v1 counts iterations (D updates) and updates G, with the D step's z, on iterations 1,
1 + disc_iters, 1 + 2 disc_iters, ... and also on iteration 0, one extra G update at the start
that is not reproduced here (v2 dropped it too). v1's 15,625 iterations at disc_iters 5 are
3,125 steps here.
Real and fake go through D in separate calls (v1), so batch norm in D normalises them apart.
Every training-mode forward keeps its layer-state updates (BN moving averages, spectral-norm
`u`), including the k update's, as v1's `updates_collections=None` batch norm did.

gin surface (v1 defaults; `BEGAN.architecture` supplies G, D is always the autoencoder, set by
`D.*`):

  model.family = @BEGAN
  BEGAN.architecture = @infogan()
  BEGAN.z_dim = 64
  BEGAN.disc_iters = 5
  BEGAN.gamma = 0.75
  BEGAN.lambda_k = 0.001
  BEGAN.clip_k = False
  BEGAN.g_optimizer = @generator/tf.keras.optimizers.Adam()
  BEGAN.d_optimizer = @discriminator/tf.keras.optimizers.Adam()

Terms (TensorBoard): d_loss, d_loss_real = L(x), d_loss_fake = L(G(z)) (last D update), g_loss,
k_t and convergence (M after the step's last iteration). At every checkpoint the loop appends
`began_convergence`, the mean of M over the steps since the previous checkpoint, to
metrics.jsonl (`checkpoint_metrics`), so sweeps and reports can read it beside FID.
"""

from typing import Dict, NamedTuple, Optional, Sequence

import gin
import keras
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import began_autoencoder
from compare_gan.architectures import ops
from compare_gan.gans import latents
from compare_gan.gans import modular_gan
from compare_gan.gans import shared_step


# ----------------------------------------------------------------------------------------------
# The formulas (pure)
# ----------------------------------------------------------------------------------------------

def _float32(*values):
  return [tf.cast(v, tf.float32) for v in values]


class BEGANLosses(NamedTuple):
  """Scalars of one batch: D loss, G loss (both on this batch), L(x), L(G(z))."""
  d_loss: tf.Tensor
  g_loss: tf.Tensor
  real_energy: tf.Tensor
  fake_energy: tf.Tensor


def began_losses(real_energy: tf.Tensor, fake_energy: tf.Tensor, k: tf.Tensor) -> BEGANLosses:
  """D loss `L(x) - k L(G(z))` and G loss `L(G(z))` from the batch energies `L(x)`, `L(G(z))`
  (scalars: batch means of the per-example energies) and the equilibrium variable k."""
  real_energy, fake_energy, k = _float32(real_energy, fake_energy, k)
  return BEGANLosses(real_energy - k * fake_energy, fake_energy, real_energy, fake_energy)


def updated_k(k: tf.Tensor, real_energy: tf.Tensor, fake_energy: tf.Tensor, gamma: float,
              lambda_k: float, clip: bool = False) -> tf.Tensor:
  """`k + lambda_k (gamma L(x) - L(G(z)))`, clipped to [0, 1] when `clip` (the paper; v1 does
  not clip)."""
  k, real_energy, fake_energy = _float32(k, real_energy, fake_energy)
  k = k + lambda_k * (gamma * real_energy - fake_energy)
  return tf.clip_by_value(k, 0.0, 1.0) if clip else k


def convergence_measure(real_energy: tf.Tensor, fake_energy: tf.Tensor,
                        gamma: float) -> tf.Tensor:
  """BEGAN's convergence measure `M = L(x) + |gamma L(x) - L(G(z))|` (Berthelot et al. 2017)."""
  real_energy, fake_energy = _float32(real_energy, fake_energy)
  return real_energy + tf.abs(gamma * real_energy - fake_energy)


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------

@gin.configurable("BEGAN", denylist=["image_shape", "num_classes", "seed", "jit_compile"])
class BEGAN:
  """G (from `architecture`), the autoencoder D, k, both optimizers and the training step.

  Args:
    image_shape, num_classes: the data's (from the dataset); BEGAN is unconditional and
      ignores the labels.
    architecture: a registered architecture whose generator is G (default @infogan(), v1's).
    z_dim: latent dimension (v1: 64).
    disc_iters: D (and k) updates per G update (v1 BEGAN default 5).
    gamma: the diversity ratio gamma = E L(G(z)) / E L(x) that k steers to (v1 default 0.75).
    lambda_k: k's learning rate (v1 default 1e-3).
    clip_k: clip k to [0, 1] after every update (the BEGAN paper); v1 does not (default).
    g_optimizer, d_optimizer: Keras optimizers (default ModularGAN's default each).
    seed: seeds weight initialisation (set by the training loop from `train.seed`).
    jit_compile: XLA-compile the gradient maths (set by the training loop).
  """

  progress_terms = ("d_loss", "g_loss", "k_t", "convergence")
  discriminator_output = "energy"
  conditional = False
  num_classes = None
  generator_ema = None

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int], *,
               architecture: Optional[base.Architecture] = None, z_dim: int = 64,
               disc_iters: int = 5, gamma: float = 0.75, lambda_k: float = 1e-3,
               clip_k: bool = False,
               g_optimizer: Optional[keras.optimizers.Optimizer] = None,
               d_optimizer: Optional[keras.optimizers.Optimizer] = None, seed: int = 0,
               jit_compile: bool = False):
    del num_classes  # Unconditional, as v1.
    architecture = base.get_architecture("infogan") if architecture is None else architecture
    if not isinstance(architecture, base.Architecture):
      raise config.ConfigError(
          f"BEGAN.architecture={architecture!r} is not an architecture; use one of "
          + ", ".join(f"@{n}()" for n in sorted(base.ARCHITECTURES)) + ".")
    if int(disc_iters) < 1:
      raise config.ConfigError(f"BEGAN.disc_iters={disc_iters} must be >= 1.")
    if not 0.0 <= gamma <= 1.0:
      raise config.ConfigError(f"BEGAN.gamma={gamma} must be in [0, 1].")
    if not lambda_k >= 0.0:
      raise config.ConfigError(f"BEGAN.lambda_k={lambda_k} must be >= 0.")
    self.image_shape = tuple(int(d) for d in image_shape)
    self.architecture = architecture
    self.z_dim = int(z_dim)
    self.disc_iters = self.real_batches_per_step = int(disc_iters)
    self.gamma, self.lambda_k, self.clip_k = float(gamma), float(lambda_k), bool(clip_k)
    self.z = latents.latent_distribution()
    self.seed = int(seed)

    with ops.initializer_seed(self.seed):
      self.generator = architecture.generator(self.image_shape, z_dim=self.z_dim)
      self.discriminator = began_autoencoder.Autoencoder(self.image_shape)
      self.generator.build_variables()
      self.discriminator.build_variables()
    self.k = tf.Variable(0.0, trainable=False, name="began_k",
                         aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    self.g_optimizer = shared_step.prepare_optimizer(g_optimizer, "BEGAN.g_optimizer")
    self.d_optimizer = shared_step.prepare_optimizer(d_optimizer, "BEGAN.d_optimizer")
    if self.g_optimizer is self.d_optimizer:
      raise config.ConfigError(
          "BEGAN.g_optimizer and d_optimizer are the same object; give each its own "
          "(gin scopes: @generator/... and @discriminator/...).")
    self.g_optimizer.build(self.generator.trainable_variables)
    self.d_optimizer.build(self.discriminator.trainable_variables)

    self._states = shared_step.layer_states([self.generator, self.discriminator])
    self._d_gradients, self._g_gradients = self._d_gradients_fn, self._g_gradients_fn
    self._energies = self._energies_fn
    if jit_compile:
      shared_step.check_jit_compatible("BEGAN", [self.generator, self.discriminator])
      self._d_gradients = tf.function(self._d_gradients_fn, jit_compile=True)
      self._g_gradients = tf.function(self._g_gradients_fn, jit_compile=True)
      self._energies = tf.function(self._energies_fn, jit_compile=True)

  @property
  def sampling_generator(self) -> base.Generator:
    return self.generator

  # --------------------------------------------------------------------------------------------
  # Gradient maths (pure; optionally XLA-compiled)
  # --------------------------------------------------------------------------------------------

  def _energy(self, images, global_batch_size: int) -> tf.Tensor:
    """This replica's share of L(images): the sum of its per-example energies / GB, so the
    shares of all replicas add up to the global-batch mean."""
    energy, _ = self.discriminator(images, training=True)
    return tf.reduce_sum(energy) / global_batch_size

  def _d_gradients_fn(self, real, z, k, global_batch_size: int):
    with keras.StatelessScope() as scope:
      with tf.GradientTape() as tape:
        fake = tf.stop_gradient(self.generator(z, training=True))
        losses = began_losses(self._energy(real, global_batch_size),
                              self._energy(fake, global_batch_size), k)
        scaled = self.d_optimizer.scale_loss(losses.d_loss)
      grads = tape.gradient(scaled, self.discriminator.trainable_variables)
      states = shared_step.new_states(scope, self._states)
    terms = {"d_loss": losses.d_loss, "d_loss_real": losses.real_energy,
             "d_loss_fake": losses.fake_energy}
    return grads, terms, states

  def _g_gradients_fn(self, z, global_batch_size: int):
    with keras.StatelessScope() as scope:
      with tf.GradientTape() as tape:
        g_loss = self._energy(self.generator(z, training=True), global_batch_size)
        scaled = self.g_optimizer.scale_loss(g_loss)
      grads = tape.gradient(scaled, self.generator.trainable_variables)
      states = shared_step.new_states(scope, self._states)
    return grads, {"g_loss": g_loss}, states

  def _energies_fn(self, real, z, global_batch_size: int):
    """This replica's shares of L(x) and L(G(z)) on the current nets (training mode, as v1's
    k update), and the layer state those forward passes leave."""
    with keras.StatelessScope() as scope:
      real_energy = self._energy(real, global_batch_size)
      fake_energy = self._energy(self.generator(z, training=True), global_batch_size)
      states = shared_step.new_states(scope, self._states)
    return real_energy, fake_energy, states

  # --------------------------------------------------------------------------------------------
  # The step (replica function)
  # --------------------------------------------------------------------------------------------

  def train_step(self, batches: Sequence[Dict[str, tf.Tensor]], step: tf.Tensor,
                 seed: tf.Tensor, global_batch_size: int) -> Dict[str, tf.Tensor]:
    """One step (see the module docstring); call inside `strategy.run`.

    Args:
      batches: `disc_iters` per-replica batches {"images": [b, *image_shape] in [0, 1]}.
      step: int64 scalar, G updates done before this step.
      seed: [2] int, the run's random seed.
      global_batch_size: b times the number of replicas.
    Returns:
      {name: scalar}, this replica's shares (sum over replicas): d_loss, d_loss_real,
      d_loss_fake (last D update), g_loss, k_t (after the step), convergence (M of the last
      iteration's k update).
    """
    if len(batches) != self.disc_iters:
      raise ValueError(f"BEGAN.train_step needs disc_iters = {self.disc_iters} batches; got "
                       f"{len(batches)}.")
    per_replica = shared_step.per_replica_batch(global_batch_size)
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync
    terms = {}
    for i, batch in enumerate(batches):
      real = tf.ensure_shape(batch["images"], (per_replica,) + self.image_shape)
      z = self.z.sample([global_batch_size, self.z_dim],
                        latents.derive_seed(seed, step, i, latents.TRAIN_Z))
      z = shared_step.replica_rows(z, per_replica)
      grads, terms, states = self._d_gradients(real, z, tf.convert_to_tensor(self.k),
                                               global_batch_size)
      shared_step.assign_states(self._states, states)
      self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
      if i == self.disc_iters - 1:
        grads, g_terms, states = self._g_gradients(z, global_batch_size)
        shared_step.assign_states(self._states, states)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        terms.update(g_terms)
      real_energy, fake_energy, states = self._energies(real, z, global_batch_size)
      shared_step.assign_states(self._states, states)
      real_energy, fake_energy = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                                    [real_energy, fake_energy])
      self.k.assign(updated_k(self.k, real_energy, fake_energy, self.gamma, self.lambda_k,
                              self.clip_k))
    # k and M are global values; the loop sums the replicas' shares.
    terms["k_t"] = tf.convert_to_tensor(self.k) / replicas
    terms["convergence"] = convergence_measure(real_energy, fake_energy, self.gamma) / replicas
    return terms

  def sample(self, z: tf.Tensor, labels: Optional[tf.Tensor] = None,
             use_ema: bool = True) -> tf.Tensor:
    """Images [B, *image_shape] in [0, 1] from z [B, z_dim], G in inference mode (BEGAN has no
    EMA generator, so `use_ema` changes nothing; labels must be None)."""
    del use_ema
    if labels is not None:
      raise ValueError("BEGAN is unconditional; sample it without labels.")
    return self.generator(z, training=False)

  def checkpoint_items(self) -> Dict[str, object]:
    """G and D (every variable, by path), both optimizers and k."""
    return {"generator": modular_gan.variables_by_path(self.generator),
            "discriminator": modular_gan.variables_by_path(self.discriminator),
            "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer,
            "began_k": self.k}

  def checkpoint_metrics(self) -> Dict[str, tuple]:
    """The convergence measure, recorded in metrics.jsonl at every checkpoint."""
    card = dict(source="training", family="BEGAN", gamma=self.gamma,
                definition="M = L(x) + |gamma L(x) - L(G(z))| (Berthelot et al. 2017), "
                "L = mean L1 autoencoder reconstruction error, on each step's last training "
                "batch after its updates, averaged over the steps since the previous "
                "checkpoint")
    return {"convergence": ("began_convergence", card)}
