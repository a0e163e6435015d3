"""SNGAN's CIFAR ResNet (Miyato et al., ICLR'18, Table 4; reference `resnet_cifar.py`).

With ch = width multiplier times the listed channels, at 32x32:
  G: z -> fc_noise 4*4*256 -> 3 "up" blocks 256 -> 256 (4 -> 32) -> BN(final_norm) -> ReLU
     -> conv3x3 -> C -> sigmoid. SN on every G kernel when G.spectral_norm.
  D: B1 C -> 128 down, B2 128 -> 128 down, B3 and B4 128 -> 128 -> ReLU -> global mean pool
     -> disc_final_fc -> 1 (+ projection when D.project_y). 13 weight layers.
The reference accepts 32x32 only; here any square size divisible by 8 works (G starts at s/8).
"""

import tensorflow as tf

from compare_gan.architectures import base
from compare_gan.architectures import ops
from compare_gan.architectures import resnet_ops


def _check(image_shape):
  problem = base._Module.check_image_shape(image_shape)
  if problem:
    return problem
  if image_shape[0] % 8 or image_shape[0] < 8:
    return "resnet_cifar needs a size divisible by 8 (32 in the reference)"
  return None


class Generator(base.Generator):
  """SNGAN CIFAR generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    self.ch0 = self.ch(256)
    self.start = self.image_shape[0] // 8
    self.fc_noise = ops.Linear(self.start * self.start * self.ch0, use_sn=sn, name="fc_noise")
    self.blocks = [resnet_ops.ResNetBlock(self, self.ch0, self.ch0, "up", name=f"B{i}")
                   for i in (1, 2, 3)]
    self.final_norm = self.norm("final_norm")
    self.final_conv = ops.Conv2D(self.image_shape[-1], 3, use_sn=sn, name="final_conv")

  def generate(self, z, y, training):
    h = tf.reshape(self.fc_noise(z, training=training), [-1, self.start, self.start, self.ch0])
    for block in self.blocks:
      h = block(h, z=z, y=y, training=training)
    h = tf.nn.relu(self.final_norm(h, z=z, y=y, training=training))
    return tf.nn.sigmoid(tf.cast(self.final_conv(h, training=training), tf.float32))


class Discriminator(base.Discriminator):
  """SNGAN CIFAR discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    ch = self.ch(128)
    colors = self.image_shape[-1]
    self.blocks = [
        resnet_ops.ResNetBlock(self, colors, ch, "down", name="B1"),
        resnet_ops.ResNetBlock(self, ch, ch, "down", name="B2"),
        resnet_ops.ResNetBlock(self, ch, ch, "none", name="B3"),
        resnet_ops.ResNetBlock(self, ch, ch, "none", name="B4"),
    ]
    self.final_fc = ops.Linear(1, use_sn=self.options.spectral_norm, name="disc_final_fc")

  def discriminate(self, x, y, training):
    h = x
    for block in self.blocks:
      h = block(h, training=training)
    h = tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])
    return self.final_fc(h, training=training), h


ARCHITECTURE = base.register_architecture("resnet_cifar", Generator, Discriminator)
