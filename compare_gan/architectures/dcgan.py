"""DCGAN (Radford et al., ICLR'16; reference `dcgan.py`), any square resolution.

With s16 = s halved (rounding up) four times, widths times G/D.width:
  G: z -> g_fc1 s16*s16*512 -> reshape [s16, s16, 512] -> BN -> ReLU -> deconv5x5/2 256 -> BN
     -> ReLU -> 128 -> BN -> ReLU -> 64 -> BN -> ReLU -> deconv5x5/2 C -> 0.5 tanh + 0.5.
     The first BN (g_bn0) comes after the reshape, per channel, as both references (v2
     `generator`, v3 `dcgan.py`); SNDCGAN's comes before it.
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


def _to_unit_range(h: tf.Tensor) -> tf.Tensor:
  """[B, s, s, C] float32 -> [0, 1], written as in the reference so it reads the same."""
  return 0.5 * tf.nn.tanh(h) + 0.5


class Generator(dcgan_family.DeconvGenerator):
  """DCGAN generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  TABLE = dcgan_family.GeneratorTable(
      halvings=4, seed_channels=512, fc_name="g_fc1", norm_before_reshape=False,
      bn_names=("g_bn0", "g_bn1", "g_bn2", "g_bn3"),
      deconvs=(dcgan_family.DeconvSpec(256, 5, 2, "g_dc1"),
               dcgan_family.DeconvSpec(128, 5, 2, "g_dc2"),
               dcgan_family.DeconvSpec(64, 5, 2, "g_dc3"),
               dcgan_family.DeconvSpec(None, 5, 2, "g_dc4")),
      output=_to_unit_range)


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
