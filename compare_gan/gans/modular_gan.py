"""ModularGAN: the GAN Landscape training step (reference compare_gan/gans/modular_gan.py, v3).

One step = `disc_iters` discriminator updates, then one generator update; `step` counts G
updates (the reference's `global_step`, verified there by `testDiscItersIsUsedCorrectly`). Every
sub-step gets a fresh real batch and fresh z, as the reference's unrolled (TPU) graph did, so a
step consumes `disc_iters + 1` real batches. Real and fake images go through D in one
concatenated call (shared batch-norm statistics) unless `deprecated_split_disc_calls` asks for
the two calls of v2. `d_loss = loss.d_loss + penalty.weight * penalty`.

`v2_generator_step` is the G update of v2, the code behind the GAN Landscape's numbers
(`v2:compare_gan/src/gans/abstract_gan.py::run_single_train_step`, `gans_with_penalty.py`): it
reuses the z (and fake labels) of the last D update and runs D on the fakes only, so it reads
no real batch (a step consumes `disc_iters` batches: `real_batches_per_step`) and updates D's
batch-norm statistics and spectral-norm `u` with the fakes only.

gin surface (reference names where they exist):

  ModularGAN.architecture = @resnet_cifar()
  ModularGAN.z_dim = 128
  ModularGAN.disc_iters = 5
  ModularGAN.g_optimizer = @generator/tf.keras.optimizers.Adam()      # TTUR: scope G and D
  ModularGAN.d_optimizer = @discriminator/tf.keras.optimizers.Adam()
  ModularGAN.g_use_ema = True                                          # EMA of G's weights
  ModularGAN.ema_decay = 0.9999
  ModularGAN.ema_start_step = 40000
  ModularGAN.conditional = True                                        # needs a labelled dataset
  ModularGAN.v2_generator_step = True                                  # the GAN Landscape's G step
  z.distribution_fn = @tf.random.normal                                # z ~ N(0, 1); default U(-1, 1)

Randomness is stateless: every draw is a function of (seed, step, sub-step, purpose), and z and
sampled labels are drawn for the whole global batch and sliced per replica, so a resumed run and
a run on a different number of replicas draw the same latents.

Families that are ModularGANs with more (gans/ssgan.py, gans/s3gan.py) subclass it and change
only its hooks: `_check_settings`, `_build_networks` (e.g. D with extra heads, which D's
optimizer then trains and checkpoints hold), `_d_loss` and `_g_loss` (the loss assembly;
`_gan_d_loss` is the GAN part), `_d_update_inputs` (global-batch values a D update needs) and
`_latents`. Every ModularGAN option then applies to them.

Runtime contract (see compare_gan/training/loop.py): build the model inside `strategy.scope()`;
call `train_step` inside `strategy.run`. The gradient maths (`_d_gradients`, `_g_gradients`) is
pure: layer state updates (spectral-norm `u`, batch-norm moving averages) are collected by a
`keras.StatelessScope` and assigned afterwards, so it can be XLA-compiled (`jit_compile`) while
the optimizers apply gradients outside XLA (DESIGN section 5).
"""

from typing import Dict, List, Optional, Sequence, Tuple

import gin
import keras
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import ops
from compare_gan.gans import latents
from compare_gan.gans import losses
from compare_gan.gans import penalties
from compare_gan.gans import shared_step

class _BoundDiscriminator:
  """D with labels and training mode bound: `images -> logits [B, 1]`, plus the
  `trainable_variables` that weight penalties read."""

  def __init__(self, discriminator: base.Discriminator, labels: Optional[tf.Tensor]):
    self._d, self._labels = discriminator, labels

  def __call__(self, images):
    return self._d(images, y=self._labels, training=True)[0]

  @property
  def trainable_variables(self):
    return self._d.trainable_variables


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------

@gin.configurable("ModularGAN", denylist=["image_shape", "num_classes", "seed", "jit_compile"])
class ModularGAN:
  """G, D, their optimizers and (optionally) an EMA copy of G, with the training step.

  Args:
    image_shape: the data's example shape, e.g. (32, 32, 3) (from the dataset).
    num_classes: the data's number of classes, or None (from the dataset).
    architecture: a registered architecture (`@resnet19()` ...).
    z_dim: latent dimension.
    disc_iters: D updates per G update.
    g_optimizer, d_optimizer: Keras optimizers (default: `shared_step.default_optimizer()`
      each, the reference's Adam).
    g_use_ema, ema_decay, ema_start_step: exponential moving average of G's weights; the decay
      is 0 (EMA = current weights) before `ema_start_step` G updates, as the reference.
    conditional: train on labels (G and D get one-hot labels; the dataset must have them).
    fit_label_distribution: fakes use the real batch's labels instead of uniform labels.
    deprecated_split_disc_calls: run D on real and fake separately (v2 behaviour).
    v2_generator_step: the G update reuses the last D update's z and fake labels and runs D on
      the fakes only (v2 behaviour; see the module docstring). It needs a loss whose G term
      does not read the real logits (not the relativistic ones).
    seed: seeds weight initialisation (set by the training loop from `train.seed`).
    jit_compile: XLA-compile the gradient maths (set by the training loop).
  """

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int], *,
               architecture: base.Architecture = gin.REQUIRED, z_dim: int = 128,
               disc_iters: int = 1,
               g_optimizer: Optional[keras.optimizers.Optimizer] = None,
               d_optimizer: Optional[keras.optimizers.Optimizer] = None,
               g_use_ema: bool = False, ema_decay: float = 0.9999, ema_start_step: int = 40000,
               conditional: bool = False, fit_label_distribution: bool = False,
               deprecated_split_disc_calls: bool = False, v2_generator_step: bool = False,
               seed: int = 0, jit_compile: bool = False):
    if not isinstance(architecture, base.Architecture):
      raise config.ConfigError(
          f"ModularGAN.architecture={architecture!r} is not an architecture; use "
          "one of " + ", ".join(f"@{n}()" for n in sorted(base.ARCHITECTURES)) + ".")
    if int(disc_iters) < 1:
      raise config.ConfigError(f"ModularGAN.disc_iters={disc_iters} must be >= 1.")
    if not 0.0 <= ema_decay < 1.0:
      raise config.ConfigError(f"ModularGAN.ema_decay={ema_decay} must be in [0, 1).")
    if conditional and num_classes is None:
      raise config.ConfigError(
          "ModularGAN.conditional = True but the dataset has no labels; use a "
          "labelled dataset (e.g. cifar10) or set ModularGAN.conditional = False.")
    if fit_label_distribution and not conditional:
      raise config.ConfigError(
          "ModularGAN.fit_label_distribution needs ModularGAN.conditional = True.")
    if v2_generator_step and losses.generator_loss_reads_real_logits():
      raise config.ConfigError(
          "ModularGAN.v2_generator_step = True runs D on the fakes only, but the G loss of "
          "the configured loss.fn reads D's real logits (a relativistic loss); use a loss "
          "such as @non_saturating, or set ModularGAN.v2_generator_step = False.")
    self.image_shape = tuple(int(d) for d in image_shape)
    self.num_classes = int(num_classes) if conditional else None
    self.architecture = architecture
    self.z_dim = int(z_dim)
    self.disc_iters = int(disc_iters)
    self.ema_decay, self.ema_start_step = float(ema_decay), int(ema_start_step)
    self.conditional = bool(conditional)
    self.fit_label_distribution = bool(fit_label_distribution)
    self.split_disc_calls = bool(deprecated_split_disc_calls)
    self.v2_generator_step = bool(v2_generator_step)
    # Real batches one `train_step` reads: one per D update, plus one for the G update unless
    # it runs on fakes only. The training loop reads this many per step.
    self.real_batches_per_step = self.disc_iters + (0 if self.v2_generator_step else 1)
    self.z = latents.latent_distribution()
    self.seed = int(seed)

    self._check_settings()

    with ops.initializer_seed(self.seed):
      self.generator, self.discriminator = self._build_networks(architecture)
      self.generator_ema = None
      if g_use_ema:
        self.generator_ema = architecture.generator(
            self.image_shape, z_dim=self.z_dim, num_classes=self.num_classes,
            options=self.generator.options, name="generator_ema")
        self.generator_ema.build_variables()
        for ema, var in self._ema_pairs():
          ema.assign(var)

    self.g_optimizer = shared_step.prepare_optimizer(g_optimizer, "ModularGAN.g_optimizer")
    self.d_optimizer = shared_step.prepare_optimizer(d_optimizer, "ModularGAN.d_optimizer")
    if self.g_optimizer is self.d_optimizer:
      raise config.ConfigError(
          "ModularGAN.g_optimizer and d_optimizer are the same object; give each "
          "its own (gin scopes: @generator/... and @discriminator/...).")
    self.g_optimizer.build(self.generator.trainable_variables)
    self.d_optimizer.build(self.discriminator.trainable_variables)

    self._states = self.generator.non_trainable_variables + \
        self.discriminator.non_trainable_variables
    self._d_gradients = self._d_gradients_fn
    self._g_gradients = self._g_gradients_fn
    if jit_compile:
      shared_step.check_jit_compatible("ModularGAN", (self.generator, self.discriminator))
      self._d_gradients = tf.function(self._d_gradients_fn, jit_compile=True)
      self._g_gradients = tf.function(self._g_gradients_fn, jit_compile=True)

  # --------------------------------------------------------------------------------------------
  # Hooks: what a family built on ModularGAN (gans/ssgan.py, s3gan.py) changes
  # --------------------------------------------------------------------------------------------

  def _check_settings(self) -> None:
    """Refuses settings the family cannot train (ConfigError); runs once the ModularGAN
    options are set, before any network is built. ModularGAN checked its own above."""

  def _build_networks(self, architecture: base.Architecture
                      ) -> Tuple[base.Generator, keras.layers.Layer]:
    """G and D with their variables created. D is anything that D's optimizer trains and a
    checkpoint holds whole: its `call(images, y, training)` gives (GAN logits [B, 1], features);
    ModularGAN's is the architecture's, both conditional when `conditional`."""
    generator, discriminator = architecture.build(self.image_shape, z_dim=self.z_dim,
                                                  num_classes=self.num_classes)
    generator.build_variables()
    discriminator.build_variables()
    return generator, discriminator

  def _d_update_inputs(self, real_labels: Optional[tf.Tensor]) -> Dict[str, tf.Tensor]:
    """What a D update's loss needs from the whole global batch beyond its own rows (e.g.
    all-reduced counts), computed in the replica function outside the pure gradient maths,
    where an all-reduce may not run inside XLA; ModularGAN needs none."""
    del real_labels
    return {}

  def _ema_pairs(self) -> List[Tuple[tf.Variable, tf.Variable]]:
    """(EMA variable, G variable) for every G variable, trainable ones first."""
    pairs = list(zip(self.generator_ema.trainable_variables,
                     self.generator.trainable_variables))
    pairs += list(zip(self.generator_ema.non_trainable_variables,
                      self.generator.non_trainable_variables))
    for ema, var in pairs:
      if ema.shape != var.shape or ema.path.split("/", 1)[1] != var.path.split("/", 1)[1]:
        raise AssertionError(f"EMA variable {ema.path} does not mirror {var.path}.")
    return pairs

  @property
  def sampling_generator(self) -> base.Generator:
    """The generator to sample from: the EMA copy when training with EMA."""
    return self.generator_ema if self.generator_ema is not None else self.generator

  # --------------------------------------------------------------------------------------------
  # Gradient maths (pure; optionally XLA-compiled)
  # --------------------------------------------------------------------------------------------

  def _one_hot(self, labels):
    return None if labels is None else tf.one_hot(labels, self.num_classes)

  def _discriminate(self, real, fake, real_y, fake_y):
    """(real logits, fake logits), [B, 1] each, from one joint D call or two."""
    d = self.discriminator
    if self.split_disc_calls:
      return d(real, y=real_y, training=True)[0], d(fake, y=fake_y, training=True)[0]
    y = None if real_y is None else tf.concat([real_y, fake_y], 0)
    logits, _ = d(tf.concat([real, tf.cast(fake, real.dtype)], 0), y=y, training=True)
    return tf.split(logits, 2)

  def _d_gradients_fn(self, real, real_labels, z, fake_labels, penalty_seed,
                      global_batch_size: int, inputs: Dict[str, tf.Tensor]):
    """D's gradients for one D update, the loss terms and the new layer state."""
    real_y, fake_y = self._one_hot(real_labels), self._one_hot(fake_labels)
    with keras.StatelessScope() as scope:
      with tf.GradientTape() as tape:
        fake = tf.stop_gradient(self.generator(z, y=fake_y, training=True))
        d_loss, terms = self._d_loss(real, real_y, fake, fake_y, penalty_seed,
                                     global_batch_size, inputs)
        scaled = self.d_optimizer.scale_loss(d_loss)
      variables = self.discriminator.trainable_variables
      grads = tape.gradient(scaled, variables)
      new_states = shared_step.new_states(scope, self._states)
    return grads, terms, new_states

  def _d_loss(self, real, real_y, fake, fake_y, penalty_seed, global_batch_size: int,
              inputs: Dict[str, tf.Tensor]) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    """(D loss, terms) of one D update on real and fake images [B, ...] with one-hot labels
    (or None): `loss.fn` on D's logits plus the weighted penalty (`_gan_d_loss`)."""
    del inputs
    real_logits, fake_logits = self._discriminate(real, fake, real_y, fake_y)
    return self._gan_d_loss(real_logits, fake_logits, real, fake, real_y, penalty_seed,
                           global_batch_size)

  def _gan_d_loss(self, real_logits, fake_logits, real, fake, penalty_y, penalty_seed,
                 global_batch_size: int) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    """The GAN part of D's loss, this replica's share: `loss.fn` on real and fake logits
    [B, 1] plus `penalty.weight` times `penalty.fn` on (real, fake) through D bound to the
    one-hot labels `penalty_y` (or None). Returns it with its terms: d_loss (the same value),
    d_loss_real, d_loss_fake, penalty, d_real_logits, d_fake_logits."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    loss = losses.compute_loss(real_logits, fake_logits)
    penalty = penalties.compute_penalty(_BoundDiscriminator(self.discriminator, penalty_y),
                                        real, fake, seed=penalty_seed)
    # Per-example terms sum to the global-batch mean once replicas' gradients are summed;
    # a weight penalty (a scalar, the same on every replica) is counted once.
    if penalty.value.shape.rank == 0:
      penalty_value = penalty.value / replicas
    else:
      penalty_value = tf.reduce_sum(penalty.value) / global_batch_size
    d_loss = tf.reduce_sum(loss.d_loss) / global_batch_size + penalty.weight * penalty_value
    terms = {
        "d_loss": d_loss,
        "d_loss_real": tf.reduce_sum(loss.d_loss_real) / global_batch_size,
        "d_loss_fake": tf.reduce_sum(loss.d_loss_fake) / global_batch_size,
        "penalty": penalty_value,
        "d_real_logits": tf.reduce_sum(real_logits) / global_batch_size,
        "d_fake_logits": tf.reduce_sum(fake_logits) / global_batch_size,
    }
    return d_loss, terms

  def _g_gradients_fn(self, real, real_labels, z, fake_labels, global_batch_size: int):
    """G's gradients for the G update, its loss and the new layer state. (The reference also
    evaluated the unused penalty here; skipping it changes only D's state updates.) `real` is
    None for the v2 G update, which runs D on the fakes only."""
    real_y, fake_y = self._one_hot(real_labels), self._one_hot(fake_labels)
    with keras.StatelessScope() as scope:
      with tf.GradientTape() as tape:
        fake = self.generator(z, y=fake_y, training=True)
        g_loss, terms = self._g_loss(real, real_y, fake, fake_y, global_batch_size)
        scaled = self.g_optimizer.scale_loss(g_loss)
      variables = self.generator.trainable_variables
      grads = tape.gradient(scaled, variables)
      new_states = shared_step.new_states(scope, self._states)
    return grads, terms, new_states

  def _g_loss(self, real, real_y, fake, fake_y,
              global_batch_size: int) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
    """(G loss, terms) of the G update: the G term of `loss.fn`, this replica's share."""
    if real is None:
      fake_logits = self.discriminator(fake, y=fake_y, training=True)[0]
      # The constructor checked that the G loss does not read the real logits, so any
      # value fills that argument.
      real_logits = tf.zeros_like(fake_logits)
    else:
      real_logits, fake_logits = self._discriminate(real, fake, real_y, fake_y)
    g_loss = tf.reduce_sum(losses.compute_loss(real_logits, fake_logits).g_loss)
    g_loss = g_loss / global_batch_size
    return g_loss, {"g_loss": g_loss}

  # --------------------------------------------------------------------------------------------
  # The step (replica function)
  # --------------------------------------------------------------------------------------------

  def _latents(self, seed, step, sub_step, global_batch_size, per_replica, labels):
    """z [b, z_dim] and fake labels [b] (or None) for this replica, drawn for the global batch."""
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    start = tf.cast(replica, tf.int32) * per_replica
    z = self.z.sample([global_batch_size, self.z_dim],
                      latents.derive_seed(seed, step, sub_step, latents.TRAIN_Z))
    z = z[start:start + per_replica]
    if not self.conditional:
      return z, None
    if self.fit_label_distribution:
      return z, labels
    return z, self._sampled_labels(seed, step, sub_step, global_batch_size, per_replica)

  def _sampled_labels(self, seed, step, sub_step, global_batch_size, per_replica):
    """This replica's rows of the uniform fake labels drawn for the global batch, int32 [b]."""
    sampled = tf.random.stateless_uniform(
        [global_batch_size], latents.derive_seed(seed, step, sub_step, latents.TRAIN_LABELS), 0,
        self.num_classes,
        dtype=tf.int32)
    return shared_step.replica_rows(sampled, per_replica)

  def train_step(self, batches: Sequence[Dict[str, tf.Tensor]], step: tf.Tensor,
                 seed: tf.Tensor, global_batch_size: int) -> Dict[str, tf.Tensor]:
    """One training step; call inside `strategy.run`.

    Args:
      batches: `real_batches_per_step` per-replica batches {"images": [b, *image_shape] in
        [0, 1], "labels": int32 [b] when the dataset has labels}: one per D update, then (unless
        `v2_generator_step`) the one that feeds the G update.
      step: int64 scalar, G updates done before this step.
      seed: [2] int, the run's random seed.
      global_batch_size: b times the number of replicas.
    Returns:
      {name: scalar}: this replica's share of the global-batch means (sum over replicas to get
      them): d_loss, d_loss_real, d_loss_fake, penalty, d_real_logits, d_fake_logits (last D
      update), g_loss.
    """
    if len(batches) != self.real_batches_per_step:
      rule = ("disc_iters (v2_generator_step: the G update reads none)"
              if self.v2_generator_step else "disc_iters + 1")
      raise ValueError(f"train_step needs {rule} = {self.real_batches_per_step} batches; got "
                       f"{len(batches)}.")
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if global_batch_size % replicas:
      raise ValueError(f"global_batch_size={global_batch_size} is not divisible by the "
                       f"{replicas} replicas.")
    per_replica = global_batch_size // replicas

    def real_batch(i):
      batch = batches[i]
      real = tf.ensure_shape(batch["images"], (per_replica,) + self.image_shape)
      return real, (batch.get("labels") if self.conditional else None)

    for i in range(self.disc_iters):
      real, labels = real_batch(i)
      z, fake_labels = self._latents(seed, step, i, global_batch_size, per_replica, labels)
      grads, terms, new_states = self._d_gradients(
          real, labels, z, fake_labels,
          latents.derive_seed(seed, step, i, latents.TRAIN_PENALTY),
          global_batch_size, self._d_update_inputs(labels))
      shared_step.assign_states(self._states, new_states)
      self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
      penalties.clip_weights(self.discriminator.trainable_variables)
    if self.v2_generator_step:
      # v2 fed the G update the z of the D update before it and no images: z and the fake
      # labels stay those of the last D update.
      real, labels = None, None
    else:
      real, labels = real_batch(self.disc_iters)
      z, fake_labels = self._latents(seed, step, self.disc_iters, global_batch_size,
                                     per_replica, labels)
    grads, g_terms, new_states = self._g_gradients(real, labels, z, fake_labels,
                                                   global_batch_size)
    shared_step.assign_states(self._states, new_states)
    self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
    terms = dict(terms, **g_terms)
    if self.generator_ema is not None:
      done = tf.cast(step, tf.int64) + 1
      decay = tf.where(done >= self.ema_start_step, self.ema_decay, 0.0)
      for ema, var in self._ema_pairs():
        if var.trainable:
          ema.assign(decay * ema + (1.0 - decay) * var)
        else:
          ema.assign(var)  # spectral-norm u and BN statistics follow the raw generator.
    return terms

  def sample(self, z: tf.Tensor, labels: Optional[tf.Tensor] = None,
             use_ema: bool = True) -> tf.Tensor:
    """Images [B, *image_shape] in [0, 1] from z [B, z_dim] (int labels [B] when conditional),
    in inference mode; the EMA generator when there is one and `use_ema`."""
    g = self.sampling_generator if use_ema else self.generator
    return g(z, y=self._one_hot(labels), training=False)

  def checkpoint_items(self) -> Dict[str, object]:
    """The trackable state a checkpoint must hold: every variable of G, D and the EMA copy
    (trainable or not) by its path, and both optimizers."""
    items = {"generator": variables_by_path(self.generator),
             "discriminator": variables_by_path(self.discriminator),
             "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}
    if self.generator_ema is not None:
      items["generator_ema"] = variables_by_path(self.generator_ema)
    return items


def variables_by_path(layer: keras.layers.Layer) -> tf.Module:
  """A trackable holding every variable of `layer` under its Keras path.

  `tf.train.Checkpoint` does not see the variables of Keras 3 layers (verified: a generator's
  batch-norm statistics and spectral-norm vectors were missing from its checkpoints), so
  checkpoints hold the underlying `tf.Variable`s explicitly, keyed by path.
  """
  bag = tf.Module(name=layer.name)
  paths = [v.path for v in layer.variables]
  if len(set(paths)) != len(paths):
    raise AssertionError(f"{layer.name} has duplicate variable paths: {sorted(paths)}")
  bag.variables_by_path = {v.path: v.value for v in layer.variables}
  return bag
