"""S3GAN: a conditional GAN trained with few labels (Lucic, Tschannen, Ritter et al., ICML'19,
"High-Fidelity Image Generation With Fewer Labels", arXiv 1903.02271; reference v3
`gans/s3gan.py`).

G is conditional; D is the architecture's D built *without* labels, plus heads on its features
h that do the label work:

  rotation    linear(h -> 4), with bias: the rotation task of gans/rotation.py
  projection  <E y_hat, h>, E [classes, F] glorot-normal, no bias, added to the GAN logit
              (`project_y`)
  predictor   linear(h -> classes), with bias (`use_predictor`, needs `project_y`)

(every head spectrally normalised when D is: gin `D.spectral_norm`). A negative label marks an
unlabelled example: its one-hot is all zeros and it counts as unlabelled. y_hat is the label of a
labelled real image and, for an unlabelled one, the predictor's argmax as a one-hot (its softmax
with `use_soft_pred`; without a predictor, zeros), never differentiated; fakes use their sampled
labels. With b the per-replica batch and CE the rotation cross-entropy:

  L_D = loss.fn(first b real, first b fake logits) + penalty.weight * penalty
        + weight_rotation_loss_d * CE(real rotations) + weight_class_loss * L_class
  L_G = loss.fn's G term + weight_rotation_loss_g * CE(fake rotations)
  L_class = softmax cross-entropy of the predictor on the labelled real images, averaged over the
            labelled images of the global batch (0 when there are none)

The reference has no penalty here; `penalty.fn` (default @no_penalty, the reference) applies as
in ModularGAN, on (x, x~) through D's GAN logit with the reals' y_hat. Each replica rotates its
last n = b // rotated_batch_fraction // 4 images (at least 1).

gin surface (reference names and defaults; the paper's methods, v3_families section 6):

  model.family = @S3GAN
  ModularGAN.conditional = True                # required; G.batch_norm_fn conditional
  S3GAN.self_supervision = "rotation"          # or "none"
  S3GAN.rotated_batch_fraction = 4             # REQUIRED
  S3GAN.weight_rotation_loss_d = 1.0
  S3GAN.weight_rotation_loss_g = 0.2
  S3GAN.project_y = True                       # with D.project_y = False (the default)
  S3GAN.use_predictor = True
  S3GAN.use_soft_pred = False
  S3GAN.weight_class_loss = 1.0

  S2GAN-CO: project_y, use_predictor, self_supervision "none", partially labelled data;
  S3GAN: the same with self_supervision "rotation".

Terms (beside ModularGAN's): rotation_loss_real, rotation_accuracy_real (last D update),
rotation_loss_fake, rotation_accuracy_fake (G update), class_loss and class_accuracy (the
predictor on the labelled reals), label_fraction (labelled share of the real batch). The export's
D score is the GAN logit with the projection (labels required when `project_y`), and it adds
`rotation_logits` and `class_logits` (the predictor's) where the heads exist.

Differences from the reference: `use_soft_labels` (soft-labelled ImageNet) is not offered; the
class loss is the mean over the global batch's labelled images (the reference averaged each
core's mean); with `ModularGAN.fit_label_distribution` an unlabelled real image's fake gets a
uniform label (the reference gave G an all-zero label).
"""

from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import gin
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import ops
from compare_gan.gans import losses
from compare_gan.gans import modular_gan
from compare_gan.gans import rotation

SELF_SUPERVISION = ("rotation", "none")


def label_available(y: tf.Tensor) -> tf.Tensor:
  """float32 [B]: 1 where the one-hot labels y [B, K] hold a label, 0 for the all-zero rows of
  unlabelled (negative) labels."""
  return tf.cast(tf.reduce_sum(tf.cast(y, tf.float32), axis=1) > 0.5, tf.float32)


def estimated_labels(y: tf.Tensor, predictor_logits: Optional[tf.Tensor],
                     soft: bool) -> tf.Tensor:
  """y_hat [B, K]: the one-hot labels y [B, K] where given; for unlabelled rows the predictor's
  argmax one-hot (its softmax when `soft`) of `predictor_logits` [B, K], or zeros without a
  predictor. Constant for the gradient."""
  y = tf.cast(y, tf.float32)
  if predictor_logits is None:
    return tf.stop_gradient(y)
  if soft:
    predicted = tf.nn.softmax(predictor_logits)
  else:
    predicted = tf.one_hot(tf.argmax(predictor_logits, axis=1), predictor_logits.shape[-1])
  available = label_available(y)[:, None]
  return tf.stop_gradient(available * y + (1.0 - available) * predicted)


def class_loss(y: tf.Tensor, predictor_logits: tf.Tensor,
               labelled: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """(loss, accuracy): this replica's shares of the predictor's softmax cross-entropy and
  accuracy averaged over the `labelled` labelled images of the global batch, from one-hot
  labels y [B, K] (zero rows unlabelled, weight 0) and logits [B, K]; 0 when `labelled` is 0."""
  y = tf.cast(y, tf.float32)
  available = label_available(y)
  cross_entropy = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=predictor_logits)
  correct = tf.cast(tf.equal(tf.argmax(predictor_logits, axis=1), tf.argmax(y, axis=1)),
                    tf.float32)
  return (tf.math.divide_no_nan(tf.reduce_sum(available * cross_entropy), labelled),
          tf.math.divide_no_nan(tf.reduce_sum(available * correct), labelled))


class S3Discriminator(rotation.DiscriminatorWithHeads):
  """The architecture's unconditional D plus S3GAN's heads (rotation, projection, predictor).

  `call(images, y, training)` is (GAN logit [B, 1], h): the backbone's logit plus the
  projection <E y, h> when there is one (then y [B, K] is required), so evaluation, export and
  the penalty see S3GAN's D score.
  """

  def __init__(self, backbone: base.Discriminator, num_classes: int, rotation_head: bool,
               project_y: bool, use_predictor: bool):
    super().__init__(backbone, rotation=rotation_head)
    # What `call` takes: labels exactly when there is a projection.
    self.conditional = bool(project_y)
    self.num_classes = int(num_classes) if project_y else None
    features = tf.zeros([2, self.features_dim])
    self.projection = self.predictor = None
    if project_y:
      self.projection = ops.Projection(num_classes, use_sn=self.spectral_norm,
                                       initializer="glorot_normal",
                                       name="discriminator_projection")
      self.projection(features, tf.zeros([2, num_classes]), training=False)
    if use_predictor:
      self.predictor = ops.Linear(num_classes, use_sn=self.spectral_norm,
                                  name="discriminator_predictor")
      self.predictor(features, training=False)

  def call(self, images, y=None, training=None):
    logits, features = self.backbone(images, training=training)
    if self.projection is not None:
      if y is None:
        raise ValueError(f"{self.name} projects labels (S3GAN.project_y): pass one-hot labels "
                         f"y [B, {self.num_classes}].")
      logits = logits + self.projection_logits(features, y, training=training)
    return logits, features

  def projection_logits(self, features, y, training=None) -> tf.Tensor:
    """<E y, h> [N, 1] (float32) of features h [N, F] and (soft) one-hot labels y [N, K]."""
    return tf.cast(self.projection(features, tf.cast(y, features.dtype), training=training),
                   tf.float32)

  def predictor_logits(self, features, training=None) -> tf.Tensor:
    """The predictor's class logits [N, K] (float32) of features h [N, F]."""
    return tf.cast(self.predictor(features, training=training), tf.float32)

  def class_logits(self, images, y=None, training=None) -> tf.Tensor:
    """The predictor's class logits [B, K] of images (y is not used: it is for the export,
    which passes D's labels)."""
    del y
    _, features = self.backbone(images, training=training)
    return self.predictor_logits(features, training=training)


class _Outputs(NamedTuple):
  """One training-mode D call on the joint batch: GAN logits (projection included) [b, 1],
  rotation logits of the rotation rows [4n, 4] (or None), predictor logits of the real images
  [b, K] (or None) and the reals' y_hat [b, K] (or None without a projection)."""
  real_logits: tf.Tensor
  fake_logits: tf.Tensor
  real_rotation: Optional[tf.Tensor]
  fake_rotation: Optional[tf.Tensor]
  predictor_logits: Optional[tf.Tensor]
  real_y_hat: Optional[tf.Tensor]


@gin.configurable("S3GAN", denylist=["image_shape", "num_classes", "seed", "jit_compile",
                                     "kwargs"])
class S3GAN(modular_gan.ModularGAN):
  """ModularGAN with S3GAN's D heads, label handling and losses (see the module docstring).

  Args:
    image_shape, num_classes: the data's (from the dataset; it must have labels).
    self_supervision: "rotation" (the rotation task) or "none".
    rotated_batch_fraction: f; each replica rotates its last b // f // 4 images (b its batch),
      which must be at least 1.
    weight_rotation_loss_d, weight_rotation_loss_g: weights of the real (D) and fake (G)
      rotation cross-entropies.
    project_y: add the projection head <E y_hat, h> to D's GAN logit.
    use_predictor: add the predictor head (needs project_y), which labels unlabelled reals and
      trains on the labelled ones.
    use_soft_pred: unlabelled reals' y_hat is the predictor's softmax, not its argmax one-hot
      (needs use_predictor).
    weight_class_loss: weight of the predictor's cross-entropy in D's loss.
    seed, jit_compile: as ModularGAN's (set by the training loop).
    **kwargs: ModularGAN's arguments (gin `ModularGAN.*`).
  """

  # A negative label means "unlabelled" (the family contract, gans/family.py).
  accepts_unlabeled_examples = True

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int], *,
               self_supervision: str = "rotation", rotated_batch_fraction: int = gin.REQUIRED,
               weight_rotation_loss_d: float = 1.0, weight_rotation_loss_g: float = 0.2,
               project_y: bool = False, use_predictor: bool = False,
               use_soft_pred: bool = False, weight_class_loss: float = 1.0, seed: int = 0,
               jit_compile: bool = False, **kwargs):
    if self_supervision not in SELF_SUPERVISION:
      raise config.ConfigError(
          f"S3GAN.self_supervision={self_supervision!r} is not one of "
          f"{', '.join(map(repr, SELF_SUPERVISION))}.")
    if (isinstance(rotated_batch_fraction, bool) or not isinstance(rotated_batch_fraction, int)
        or rotated_batch_fraction <= 0):
      raise config.ConfigError(
          f"S3GAN.rotated_batch_fraction={rotated_batch_fraction!r} must be a positive "
          "integer f: each replica rotates its last b // f // 4 images.")
    if use_predictor and not project_y:
      raise config.ConfigError(
          "S3GAN.use_predictor = True labels the unlabelled images for the projection head; "
          "it needs S3GAN.project_y = True.")
    if use_soft_pred and not use_predictor:
      raise config.ConfigError(
          "S3GAN.use_soft_pred = True softens the predictor's labels; it needs "
          "S3GAN.use_predictor = True.")
    self.self_supervision = self_supervision
    self.rotation = self_supervision == "rotation"
    self.rotated_batch_fraction = rotated_batch_fraction
    self.weight_rotation_loss_d = float(weight_rotation_loss_d)
    self.weight_rotation_loss_g = float(weight_rotation_loss_g)
    self.project_y, self.use_predictor = bool(project_y), bool(use_predictor)
    self.use_soft_pred = bool(use_soft_pred)
    self.weight_class_loss = float(weight_class_loss)
    super().__init__(image_shape, num_classes, seed=seed, jit_compile=jit_compile, **kwargs)

  @property
  def progress_terms(self) -> Tuple[str, ...]:
    terms = ("d_loss", "g_loss", "penalty")
    if self.rotation:
      terms += ("rotation_loss_real", "rotation_loss_fake")
    if self.use_predictor:
      terms += ("class_loss",)
    return terms

  # --------------------------------------------------------------------------------------------
  # ModularGAN's hooks
  # --------------------------------------------------------------------------------------------

  def _check_settings(self) -> None:
    if not self.conditional:
      raise config.ConfigError(
          "S3GAN trains a conditional G (unlabelled examples carry label -1); set "
          "ModularGAN.conditional = True and use a labelled dataset.")
    for setting, value in (("deprecated_split_disc_calls", self.split_disc_calls),
                           ("v2_generator_step", self.v2_generator_step)):
      if value:
        raise config.ConfigError(
            f"ModularGAN.{setting} = True would split S3GAN's joint D call on real, fake and "
            f"rotated images; set ModularGAN.{setting} = False.")
    if self.rotation:
      rotation.check_square_images(self.image_shape, "S3GAN.self_supervision='rotation'")

  def _build_networks(self, architecture):
    options = base.DiscriminatorOptions()
    if options.project_y:
      raise config.ConfigError(
          "D.project_y = True: S3GAN builds the architecture's D without labels and adds its "
          "own projection (S3GAN.project_y); two projections would be added. Set "
          "D.project_y = False.")
    try:
      backbone = architecture.discriminator(self.image_shape, num_classes=None,
                                            options=options)
    except config.ConfigError as e:
      # An architecture with its own projection switch (the BigGAN family's project_y) refuses
      # to be built without labels while that switch is on.
      raise config.ConfigError(
          "S3GAN builds the architecture's D without labels (its own heads project them: "
          f"S3GAN.project_y), and the architecture refused: {str(e).splitlines()[0]}") from None
    generator = architecture.generator(self.image_shape, z_dim=self.z_dim,
                                       num_classes=self.num_classes)
    generator.build_variables()
    discriminator = S3Discriminator(backbone, self.num_classes, self.rotation, self.project_y,
                                    self.use_predictor)
    return generator, discriminator

  def _d_update_inputs(self, real_labels):
    """The labelled images of the global batch, which the class loss averages over."""
    if not self.use_predictor:
      return {}
    count = tf.reduce_sum(label_available(self._one_hot(real_labels)))
    context = tf.distribute.get_replica_context()
    return {"labelled": context.all_reduce(tf.distribute.ReduceOp.SUM, count)}

  def _latents(self, seed, step, sub_step, global_batch_size, per_replica, labels):
    z, fake_labels = super()._latents(seed, step, sub_step, global_batch_size, per_replica,
                                      labels)
    if self.fit_label_distribution:
      # An unlabelled real image gives its fake a uniform label, not an all-zero one.
      sampled = self._sampled_labels(seed, step, sub_step, global_batch_size, per_replica)
      fake_labels = tf.where(labels >= 0, labels, sampled)
    return z, fake_labels

  def _rotated_rows(self, real: tf.Tensor) -> Tuple[int, int]:
    """(b, n): this replica's batch and rotated images (n = 0 without rotation), checked."""
    b = int(real.shape[0])
    if not self.rotation:
      return b, 0
    n = b // self.rotated_batch_fraction // rotation.NUM_ROTATIONS
    if n < 1:
      raise config.ConfigError(
          f"S3GAN.rotated_batch_fraction={self.rotated_batch_fraction} leaves no image to "
          f"rotate: b // f // 4 = 0 for the per-replica batch b = {b}; use f <= b // 4.")
    return b, n

  def _joint_call(self, real, real_y, fake, fake_y) -> _Outputs:
    """The heads' outputs of one training-mode D call on [x; rot(x_tail); x~; rot(x~_tail)]
    ([x; x~] without rotation); real_y and fake_y are one-hot [b, K]."""
    b, n = self._rotated_rows(real)
    d = self.discriminator
    if n:
      images, _ = rotation.joint_batch(real, fake, n)
    else:
      images = tf.concat([real, tf.cast(fake, real.dtype)], axis=0)
    logits, features = d.backbone(images, training=True)
    real_logits, _, fake_logits, _ = rotation.split_rotation_rows(logits, b, n)
    real_features, _, fake_features, _ = rotation.split_rotation_rows(features, b, n)
    # One call per head on all its rows: one spectral-norm power iteration per D call.
    real_rotation = fake_rotation = None
    if n:
      rotation_logits = d.rotation_head_logits(features, training=True)
      _, real_rotation, _, fake_rotation = rotation.split_rotation_rows(rotation_logits, b, n)
    predictor_logits = real_y_hat = None
    if self.use_predictor:
      predictor_logits = d.predictor_logits(real_features, training=True)
    if self.project_y:
      real_y_hat = estimated_labels(real_y, predictor_logits, self.use_soft_pred)
      projection = d.projection_logits(tf.concat([real_features, fake_features], axis=0),
                                       tf.concat([real_y_hat, tf.cast(fake_y, tf.float32)], 0),
                                       training=True)
      real_projection, fake_projection = tf.split(projection, 2)
      real_logits, fake_logits = real_logits + real_projection, fake_logits + fake_projection
    return _Outputs(real_logits, fake_logits, real_rotation, fake_rotation, predictor_logits,
                    real_y_hat)

  def _rotation_count(self, n: int) -> int:
    """Rotation rows of the global batch: 4n on each replica."""
    return rotation.NUM_ROTATIONS * n * tf.distribute.get_strategy().num_replicas_in_sync

  def _d_loss(self, real, real_y, fake, fake_y, penalty_seed, global_batch_size: int,
              inputs: Dict[str, tf.Tensor]):
    out = self._joint_call(real, real_y, fake, fake_y)
    d_loss, terms = self._gan_d_loss(out.real_logits, out.fake_logits, real, fake,
                                     out.real_y_hat, penalty_seed, global_batch_size)
    terms["label_fraction"] = tf.reduce_sum(label_available(real_y)) / global_batch_size
    if out.real_rotation is not None:
      n = self._rotated_rows(real)[1]
      cross_entropy, accuracy = rotation.rotation_loss(out.real_rotation, n,
                                                       self._rotation_count(n))
      d_loss = d_loss + self.weight_rotation_loss_d * cross_entropy
      terms.update(rotation_loss_real=cross_entropy, rotation_accuracy_real=accuracy)
    if out.predictor_logits is not None:
      loss, accuracy = class_loss(real_y, out.predictor_logits, inputs["labelled"])
      d_loss = d_loss + self.weight_class_loss * loss
      terms.update(class_loss=loss, class_accuracy=accuracy)
    terms["d_loss"] = d_loss
    return d_loss, terms

  def _g_loss(self, real, real_y, fake, fake_y, global_batch_size: int):
    out = self._joint_call(real, real_y, fake, fake_y)
    g_loss = tf.reduce_sum(losses.compute_loss(out.real_logits, out.fake_logits).g_loss)
    g_loss = g_loss / global_batch_size
    terms = {}
    if out.fake_rotation is not None:
      n = self._rotated_rows(real)[1]
      cross_entropy, accuracy = rotation.rotation_loss(out.fake_rotation, n,
                                                       self._rotation_count(n))
      g_loss = g_loss + self.weight_rotation_loss_g * cross_entropy
      terms.update(rotation_loss_fake=cross_entropy, rotation_accuracy_fake=accuracy)
    terms["g_loss"] = g_loss
    return g_loss, terms

  # --------------------------------------------------------------------------------------------
  # Export
  # --------------------------------------------------------------------------------------------

  def discriminator_heads(self) -> Dict[str, Callable[..., tf.Tensor]]:
    """D's outputs beside its score, for the export: rotation logits [B, 4] and the
    predictor's class logits [B, K], where those heads exist."""
    heads = {}
    if self.rotation:
      heads["rotation_logits"] = self.discriminator.rotation_logits
    if self.use_predictor:
      heads["class_logits"] = self.discriminator.class_logits
    return heads
