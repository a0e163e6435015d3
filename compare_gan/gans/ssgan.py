"""SSGAN: a ModularGAN whose D also predicts image rotations (Chen et al., CVPR'19,
"Self-Supervised GANs via Auxiliary Rotation Loss"; reference v3 `gans/ssgan.py`).

The rotation task (gans/rotation.py): of each per-replica batch the last n real and the last n
fake images are also shown rotated by 90, 180 and 270 degrees, all in one D call on
[x; rot(x_tail); x~; rot(x~_tail)], and a head linear(h -> 4) on D's features classifies the
rotation of the last 4n rows of each half. With CE the rotation cross-entropy:

  L_D = L_D^GAN + penalty.weight * penalty + weight_rotation_loss_d * CE(real rotations)
  L_G = L_G^GAN + weight_rotation_loss_g * CE(fake rotations)

L^GAN is `loss.fn` on the first b logits of each half (the unrotated images) and the penalty is
`penalty.fn` on (x, x~), as ModularGAN's. "rotation_only" multiplies L_D^GAN + penalty and
L_G^GAN by 0, as the reference; "none" is ModularGAN exactly (same networks, same numbers).
The G update runs the same joint call on its own real batch and fresh z. Every ModularGAN
option applies (architecture, z_dim, disc_iters, optimizers, EMA, conditional, losses,
penalties) except the two that would split the joint call.

gin surface (reference names and defaults):

  model.family = @SSGAN
  SSGAN.self_supervision = "rotation_gan"      # or "rotation_only", "none"
  SSGAN.rotated_batch_size = 128               # REQUIRED: rotation-task images, global batch
  SSGAN.weight_rotation_loss_d = 1.0
  SSGAN.weight_rotation_loss_g = 0.2
  ModularGAN.architecture = @resnet_cifar()    # ... and the other ModularGAN.* options

`rotated_batch_size` counts the rotation rows of all replicas (the 4 angles of each rotated
image), so each replica rotates n = rotated_batch_size / (4 replicas) images.

Terms (TensorBoard, beside ModularGAN's): rotation_loss_real and rotation_accuracy_real (last D
update), rotation_loss_fake and rotation_accuracy_fake (G update); d_loss and g_loss are the
totals above. The export adds `rotation_logits(images[, labels])` -> [B, 4] beside the D score.

Differences from the reference: in conditional mode the rotated fakes carry their own sampled
labels (the reference gave them the real images' labels); the self_supervision values are
checked (the reference took any other string as "none").
"""

from typing import Callable, Dict, Optional, Sequence, Tuple

import gin
import tensorflow as tf

from compare_gan import config
from compare_gan.gans import losses
from compare_gan.gans import modular_gan
from compare_gan.gans import rotation

SELF_SUPERVISION = ("rotation_gan", "rotation_only", "none")


@gin.configurable("SSGAN", denylist=["image_shape", "num_classes", "seed", "jit_compile",
                                     "kwargs"])
class SSGAN(modular_gan.ModularGAN):
  """ModularGAN plus the rotation head and losses (see the module docstring).

  Args:
    image_shape, num_classes: the data's (from the dataset).
    self_supervision: "rotation_gan" (GAN and rotation losses), "rotation_only" (the GAN
      losses weighted 0) or "none" (plain ModularGAN).
    rotated_batch_size: rotation-task rows in the global batch (4 per rotated image); each
      replica rotates n = rotated_batch_size / (4 * replicas) images, a positive integer at
      most its batch size.
    weight_rotation_loss_d: weight of the real-rotation cross-entropy in D's loss.
    weight_rotation_loss_g: weight of the fake-rotation cross-entropy in G's loss.
    seed, jit_compile: as ModularGAN's (set by the training loop).
    **kwargs: ModularGAN's arguments (gin `ModularGAN.*`).
  """

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int], *,
               self_supervision: str = "rotation_gan", rotated_batch_size: int = gin.REQUIRED,
               weight_rotation_loss_d: float = 1.0, weight_rotation_loss_g: float = 0.2,
               seed: int = 0, jit_compile: bool = False, **kwargs):
    if self_supervision not in SELF_SUPERVISION:
      raise config.ConfigError(
          f"SSGAN.self_supervision={self_supervision!r} is not one of "
          f"{', '.join(map(repr, SELF_SUPERVISION))}.")
    self.self_supervision = self_supervision
    self.rotation = self_supervision != "none"
    self.weight_rotation_loss_d = float(weight_rotation_loss_d)
    self.weight_rotation_loss_g = float(weight_rotation_loss_g)
    # "rotation_only": the reference multiplies the GAN losses (D's with its penalty) by 0.
    self.gan_weight = 0.0 if self_supervision == "rotation_only" else 1.0
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    self.rotated_batch_size = rotated_batch_size
    self.rotated_per_replica = 0
    if self.rotation:
      if (isinstance(rotated_batch_size, bool) or not isinstance(rotated_batch_size, int)
          or rotated_batch_size <= 0 or rotated_batch_size % (4 * replicas)):
        raise config.ConfigError(
            f"SSGAN.rotated_batch_size={rotated_batch_size!r} must be a positive multiple of 4 "
            f"x the {replicas} replica(s) = {4 * replicas}: each replica rotates "
            "rotated_batch_size / (4 * replicas) images by 4 angles.")
      self.rotated_per_replica = rotated_batch_size // (4 * replicas)
    super().__init__(image_shape, num_classes, seed=seed, jit_compile=jit_compile, **kwargs)

  @property
  def progress_terms(self) -> Tuple[str, ...]:
    rotation_terms = ("rotation_loss_real", "rotation_loss_fake") if self.rotation else ()
    return ("d_loss", "g_loss", "penalty") + rotation_terms

  # --------------------------------------------------------------------------------------------
  # ModularGAN's hooks
  # --------------------------------------------------------------------------------------------

  def _check_settings(self) -> None:
    for setting, value in (("deprecated_split_disc_calls", self.split_disc_calls),
                           ("v2_generator_step", self.v2_generator_step)):
      if value:
        raise config.ConfigError(
            f"ModularGAN.{setting} = True would split D's joint call on real, fake and "
            f"rotated images, which is SSGAN's method; set ModularGAN.{setting} = False.")
    if self.rotation:
      rotation.check_square_images(self.image_shape,
                                   f"SSGAN.self_supervision={self.self_supervision!r}")

  def _build_networks(self, architecture):
    generator, discriminator = super()._build_networks(architecture)
    if self.rotation:
      discriminator = rotation.DiscriminatorWithHeads(discriminator)
    return generator, discriminator

  def _rotated_rows(self, real: tf.Tensor) -> Tuple[int, int]:
    """(b, n): this replica's batch and rotated images, checked."""
    b, n = int(real.shape[0]), self.rotated_per_replica
    if n > b:
      raise config.ConfigError(
          f"SSGAN.rotated_batch_size={self.rotated_batch_size} asks each replica to rotate "
          f"{n} images, more than its batch of {b}; use at most 4 x train.batch_size.")
    return b, n

  def _joint_call(self, real, real_y, fake, fake_y):
    """(real GAN logits [b, 1], fake GAN logits [b, 1], real rotation logits [4n, 4], fake
    rotation logits [4n, 4]) of one training-mode D call on the joint batch."""
    b, n = self._rotated_rows(real)
    images, y = rotation.joint_batch(real, fake, n, real_y, fake_y)
    logits, features = self.discriminator(images, y=y, training=True)
    # One head call on every row: one spectral-norm power iteration per D call, as D's layers.
    rotation_logits = self.discriminator.rotation_head_logits(features, training=True)
    real_logits, _, fake_logits, _ = rotation.split_rotation_rows(logits, b, n)
    _, real_rotation, _, fake_rotation = rotation.split_rotation_rows(rotation_logits, b, n)
    return real_logits, fake_logits, real_rotation, fake_rotation

  def _d_loss(self, real, real_y, fake, fake_y, penalty_seed, global_batch_size: int,
              inputs: Dict[str, tf.Tensor]):
    if not self.rotation:
      return super()._d_loss(real, real_y, fake, fake_y, penalty_seed, global_batch_size,
                             inputs)
    real_logits, fake_logits, real_rotation, _ = self._joint_call(real, real_y, fake, fake_y)
    gan, terms = self._gan_d_loss(real_logits, fake_logits, real, fake, real_y, penalty_seed,
                                  global_batch_size)
    cross_entropy, accuracy = rotation.rotation_loss(real_rotation, self.rotated_per_replica,
                                                     self.rotated_batch_size)
    d_loss = self.gan_weight * gan + self.weight_rotation_loss_d * cross_entropy
    return d_loss, dict(terms, d_loss=d_loss, rotation_loss_real=cross_entropy,
                        rotation_accuracy_real=accuracy)

  def _g_loss(self, real, real_y, fake, fake_y, global_batch_size: int):
    if not self.rotation:
      return super()._g_loss(real, real_y, fake, fake_y, global_batch_size)
    real_logits, fake_logits, _, fake_rotation = self._joint_call(real, real_y, fake, fake_y)
    gan = tf.reduce_sum(losses.compute_loss(real_logits, fake_logits).g_loss)
    gan = gan / global_batch_size
    cross_entropy, accuracy = rotation.rotation_loss(fake_rotation, self.rotated_per_replica,
                                                     self.rotated_batch_size)
    g_loss = self.gan_weight * gan + self.weight_rotation_loss_g * cross_entropy
    return g_loss, {"g_loss": g_loss, "rotation_loss_fake": cross_entropy,
                    "rotation_accuracy_fake": accuracy}

  # --------------------------------------------------------------------------------------------
  # Export
  # --------------------------------------------------------------------------------------------

  def discriminator_heads(self) -> Dict[str, Callable[..., tf.Tensor]]:
    """D's outputs beside its score, for the export: the rotation logits [B, 4]."""
    return {"rotation_logits": self.discriminator.rotation_logits} if self.rotation else {}
