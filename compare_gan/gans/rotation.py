"""The rotation task that SSGAN and S3GAN share (Chen et al., CVPR'19, "Self-Supervised GANs via
Auxiliary Rotation Loss", section 3; reference v3 `gans/ssgan.py`, `gans/s3gan.py`, `utils.py`).

D gets a second head that predicts by how much an image was rotated: 0, 90, 180 or 270 degrees
(counter-clockwise), class r for r * 90 degrees. Of each per-replica batch x [b, H, H, C] only
the last n images take part: they are rotated by 90, 180 and 270 degrees and appended, and the
last 4n rows of [x; rot90(x_tail); rot180(x_tail); rot270(x_tail)] are the rotation task, the
unrotated tail serving as class 0:

  rows     0 ... b-n-1 | b-n ... b-1 | b ... b+n-1 | b+n ... b+2n-1 | b+2n ... b+3n-1
  image    x            | x_tail      | rot90       | rot180         | rot270
  class    (GAN only)   | 0           | 1           | 2              | 3

Real and fake images go through D in one call on [x; rot(x_tail); x~; rot(x~_tail)] (shared
batch-norm statistics, one spectral-norm power iteration per head); the GAN loss reads the first
b rows of each half, the rotation loss the last 4n:

  CE = -mean over the 4n rows of sum_r onehot_r log(softmax(logits)_r + 1e-10)

(the reference's formula, 1e-10 included). The mean runs over the rotation rows of the *global*
batch: each replica contributes sum / (4 n replicas), so the replicas' shares add up to it.
Which images are rotated is per replica, as the reference's per-core tails: on R replicas the
rotated images are the last n of every replica's rows, so runs on different replica counts
rotate different images unless n = b (every image rotated).

`DiscriminatorWithHeads` wraps the architecture's D and adds the rotation head
`linear(h -> 4)` with a bias (spectrally normalised when D is: gin `D.spectral_norm`), so D's
optimizer trains it, checkpoints hold it under D, and evaluation and export see one network
whose `call` is the architecture's GAN logit.
"""

from typing import Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import ops

NUM_ROTATIONS = 4
# The reference's floor inside the log of the rotation cross-entropy.
LOG_EPSILON = 1e-10


# ----------------------------------------------------------------------------------------------
# The rotation op and the task's labels
# ----------------------------------------------------------------------------------------------

def check_square_images(image_shape: Tuple[int, ...], setting: str) -> None:
  """Refuses data a rotation cannot apply to: anything but square images [H, H, C]."""
  if len(image_shape) != 3 or image_shape[0] != image_shape[1]:
    raise config.ConfigError(
        f"{setting} rotates images by 90 degrees, which needs square images [H, H, C]; the "
        f"dataset gives {tuple(image_shape)}. Use square image data or turn the rotation off.")


def rotate_tail(images: tf.Tensor, n: int) -> tf.Tensor:
  """[rot90(t); rot180(t); rot270(t)] [3n, H, H, C] of the last n images t = images[-n:]
  [B, H, H, C]; rot k*90 turns counter-clockwise: rot90(t)[i, j] = t[j, H-1-i] (numpy's
  `np.rot90(t, k, axes=(1, 2))`, the reference's transpose-and-flip `rotate_images`)."""
  tail = images[-n:]
  return tf.concat([tf.image.rot90(tail, k) for k in (1, 2, 3)], axis=0)


def with_rotations(values: tf.Tensor, n: int, rotate: bool = True) -> tf.Tensor:
  """[values; rot90(tail); rot180(tail); rot270(tail)] [B + 3n, ...] with tail = values[-n:].

  `rotate=False` repeats the tail unrotated, for what travels with the images (one-hot labels
  [B, K]: a rotated image keeps its label)."""
  if rotate:
    return tf.concat([values, rotate_tail(values, n)], axis=0)
  return tf.concat([values] + [values[-n:]] * (NUM_ROTATIONS - 1), axis=0)


def rotation_labels(n: int) -> tf.Tensor:
  """int32 [4n]: [0]*n + [1]*n + [2]*n + [3]*n, the classes of the last 4n rows of
  `with_rotations` (the unrotated tail, then rot90, rot180, rot270)."""
  return tf.constant(np.repeat(np.arange(NUM_ROTATIONS, dtype=np.int32), n))


def joint_batch(real: tf.Tensor, fake: tf.Tensor, n: int, real_y: Optional[tf.Tensor] = None,
                fake_y: Optional[tf.Tensor] = None) -> Tuple[tf.Tensor, Optional[tf.Tensor]]:
  """D's one input [2 (B + 3n), ...]: [x; rot(x_tail); x~; rot(x~_tail)] from real and fake
  [B, H, H, C], and their one-hot labels (each rotated image keeps its own image's label: the
  fakes' sampled labels for rotated fakes), or None."""
  fake = tf.cast(fake, real.dtype)
  images = tf.concat([with_rotations(real, n), with_rotations(fake, n)], axis=0)
  if real_y is None:
    return images, None
  labels = tf.concat([with_rotations(real_y, n, rotate=False),
                      with_rotations(fake_y, n, rotate=False)], axis=0)
  return images, labels


# ----------------------------------------------------------------------------------------------
# The loss
# ----------------------------------------------------------------------------------------------

def rotation_cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
  """Per-example [N] -sum_r onehot(labels)_r log(softmax(logits)_r + 1e-10) of rotation logits
  [N, 4] and int labels [N] (the reference's formula)."""
  probabilities = tf.nn.softmax(tf.cast(logits, tf.float32))
  onehot = tf.one_hot(labels, NUM_ROTATIONS)
  return -tf.reduce_sum(onehot * tf.math.log(probabilities + LOG_EPSILON), axis=1)


def rotation_loss(logits: tf.Tensor, n: int, global_count: int) -> Tuple[tf.Tensor, tf.Tensor]:
  """(cross-entropy, accuracy): this replica's shares of their means over the `global_count`
  rotation rows of all replicas, from the rotation logits [4n, 4] of its last 4n rows."""
  labels = rotation_labels(n)
  cross_entropy = tf.reduce_sum(rotation_cross_entropy(logits, labels)) / global_count
  correct = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), labels)
  accuracy = tf.reduce_sum(tf.cast(correct, tf.float32)) / global_count
  return cross_entropy, accuracy


def split_rotation_rows(values: tf.Tensor, b: int, n: int) -> Tuple[tf.Tensor, tf.Tensor,
                                                                      tf.Tensor, tf.Tensor]:
  """(real GAN rows [b], real rotation rows [4n], fake GAN rows [b], fake rotation rows [4n])
  of a result of D on `joint_batch` [2 (b + 3n), ...]."""
  real, fake = tf.split(values, 2)
  return real[:b], real[b - n:], fake[:b], fake[b - n:]


# ----------------------------------------------------------------------------------------------
# D with heads
# ----------------------------------------------------------------------------------------------

class DiscriminatorWithHeads(keras.layers.Layer):
  """The architecture's D (`backbone`) and the rotation head on its features h.

  `call(images, y, training)` is the backbone's: (GAN logits [B, 1], h [B, F]), so the training
  step's penalty, evaluation, export and the tournament use it as any D.
  `rotation_logits(images[, y])` [B, 4] runs the backbone and the head; the training step
  applies the head to features it already has (`rotation_head_logits(h)`). The backbone and
  the heads are built here, each outside the wrapper's name scope, so their variables keep
  their own paths ("discriminator/...", "discriminator_rotation/...") and initial values.
  """

  def __init__(self, backbone: base.Discriminator, rotation: bool = True,
               name: str = "discriminator_with_heads"):
    super().__init__(name=name)
    self.backbone = backbone
    self.image_shape = backbone.image_shape
    self.num_classes = backbone.num_classes
    self.conditional = backbone.conditional
    self.spectral_norm = bool(backbone.options.spectral_norm)
    _, features = backbone.build_variables()
    self.features_dim = int(features.shape[-1])
    self.rotation_head = None
    if rotation:
      self.rotation_head = ops.Linear(NUM_ROTATIONS, use_sn=self.spectral_norm,
                                      name="discriminator_rotation")
      self.rotation_head(tf.zeros([2, self.features_dim]), training=False)
    self.built = True

  def call(self, images, y=None, training=None):
    return self.backbone(images, y=y, training=training)

  def rotation_logits(self, images, y=None, training=None) -> tf.Tensor:
    """Rotation logits [B, 4] (float32) of images [B, H, H, C]; one-hot y [B, K] goes to a
    conditional backbone and is ignored otherwise."""
    _, features = self.backbone(images, y=y if self.backbone.conditional else None,
                                training=training)
    return self.rotation_head_logits(features, training=training)

  def rotation_head_logits(self, features, training=None) -> tf.Tensor:
    """The rotation head on features h [N, F]: logits [N, 4] in float32."""
    return tf.cast(self.rotation_head(features, training=training), tf.float32)
