"""DCGAN (Radford et al., ICLR'16; reference `dcgan.py`), any square resolution.

With s16 = s halved (rounding up) four times, widths times G/D.width:
  G: z -> g_fc1 s16*s16*512 -> BN -> ReLU -> deconv5x5/2 256 -> BN -> ReLU -> 128 -> BN -> ReLU
     -> 64 -> BN -> ReLU -> deconv5x5/2 C -> 0.5 tanh + 0.5.
  D: conv5x5/2 64 -> lrelu -> conv5x5/2 128 -> BN -> lrelu -> conv5x5/2 256 -> BN -> lrelu
     -> conv5x5/2 512 -> BN -> lrelu -> flatten -> d_fc4 -> 1 (LN at the BN sites when
     D.layer_norm). G.spectral_norm normalises every G kernel (ignored by the reference).
"""

import tensorflow as tf

from compare_gan.architectures import base
from compare_gan.architectures import dcgan_family
from compare_gan.architectures import ops


def _check(image_shape):
  return dcgan_family.check_square_image(image_shape)


class Generator(base.Generator):
  """DCGAN generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    s, s2, s4, s8, s16 = dcgan_family.halvings(self.image_shape[0], 4)
    self.seed_shape = [s16, s16, self.ch(512)]
    self.fc = ops.Linear(s16 * s16 * self.ch(512), use_sn=sn, name="g_fc1")
    self.bns = [self.norm(f"g_bn{i}") for i in range(4)]
    self.deconvs = [
        ops.Deconv2D(self.ch(256), (s8, s8), 5, 2, use_sn=sn, name="g_dc1"),
        ops.Deconv2D(self.ch(128), (s4, s4), 5, 2, use_sn=sn, name="g_dc2"),
        ops.Deconv2D(self.ch(64), (s2, s2), 5, 2, use_sn=sn, name="g_dc3"),
        ops.Deconv2D(self.image_shape[-1], (s, s), 5, 2, use_sn=sn, name="g_dc4"),
    ]

  def generate(self, z, y, training):
    h = tf.reshape(self.fc(z, training=training), [-1] + self.seed_shape)
    h = tf.nn.relu(self.bns[0](h, z=z, y=y, training=training))
    for deconv, bn in zip(self.deconvs[:3], self.bns[1:]):
      h = tf.nn.relu(bn(deconv(h, training=training), z=z, y=y, training=training))
    h = tf.cast(self.deconvs[3](h, training=training), tf.float32)
    return 0.5 * tf.nn.tanh(h) + 0.5


class Discriminator(base.Discriminator):
  """DCGAN discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    self.convs = [ops.Conv2D(self.ch(c), 5, 2, use_sn=sn, name=f"d_conv{i}")
                  for i, c in enumerate((64, 128, 256, 512))]
    self.bns = [self.norm(f"d_bn{i}") for i in (1, 2, 3)]
    self.lns = [self.layer_norm(f"d_ln{i}") for i in (1, 2, 3)]
    self.fc = ops.Linear(1, use_sn=sn, name="d_fc4")

  def discriminate(self, x, y, training):
    h = ops.lrelu(self.convs[0](x, training=training))
    for conv, bn, ln in zip(self.convs[1:], self.bns, self.lns):
      h = ops.lrelu(self.normalize(conv(h, training=training), bn, ln, training))
    h = tf.reshape(h, [tf.shape(h)[0], -1])
    return self.fc(h, training=training), h


ARCHITECTURE = base.register_architecture("dcgan", Generator, Discriminator)
