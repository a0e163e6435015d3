"""SNDCGAN (Miyato et al., ICLR'18, Table 3; reference `sndcgan.py`), any square resolution.

With s the image side and s2, s4, s8 = ceil(s/2), ceil(s/4), ceil(s/8), widths times G/D.width:
  G: z -> g_fc1 s8*s8*512 -> BN -> ReLU -> reshape [s8, s8, 512] -> deconv4x4/2 256 -> BN
     -> ReLU -> deconv4x4/2 128 -> BN -> ReLU -> deconv4x4/2 64 -> BN -> ReLU -> deconv3x3/1 C
     -> (tanh + 1) / 2.
  D: x -> 2x - 1 -> conv3x3/1 64, conv4x4/2 128, conv3x3/1 128, conv4x4/2 256, conv3x3/1 256,
     conv4x4/2 512, conv3x3/1 512 (each followed by lrelu 0.1) -> flatten -> d_fc1 -> 1.
The first BN (g_bn1) normalises the flat fc output before the reshape, one statistic and one
gamma/beta per unit (s8*s8*512 of them), as both references do (v2 `sn_generator`, v3
`sndcgan.py`): with BN, G has 3,828,739 trainable parameters at 32x32x3 and z_dim 128.
Differences from the reference, so that every GAN Landscape normaliser setting applies: D
normalises (BN and/or LN) after every conv but the first, and G.spectral_norm normalises every
G kernel (the reference ignored D.batch_norm_fn, D.layer_norm and G.spectral_norm here).
"""

import tensorflow as tf

from compare_gan.architectures import base
from compare_gan.architectures import dcgan_family
from compare_gan.architectures import ops


def _check(image_shape):
  return dcgan_family.check_square_image(image_shape)


def _to_unit_range(h: tf.Tensor) -> tf.Tensor:
  """[B, s, s, C] float32 -> [0, 1], written as in the reference so it reads the same."""
  return (tf.nn.tanh(h) + 1.0) / 2.0


class Generator(dcgan_family.DeconvGenerator):
  """SNDCGAN generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  # The last deconv keeps the size (stride 1), so three halvings reach the image side.
  TABLE = dcgan_family.GeneratorTable(
      halvings=3, seed_channels=512, fc_name="g_fc1", norm_before_reshape=True,
      bn_names=("g_bn1", "g_bn2", "g_bn3", "g_bn4"),
      deconvs=(dcgan_family.DeconvSpec(256, 4, 2, "g_dc2"),
               dcgan_family.DeconvSpec(128, 4, 2, "g_dc3"),
               dcgan_family.DeconvSpec(64, 4, 2, "g_dc4"),
               dcgan_family.DeconvSpec(None, 3, 1, "g_dc5")),
      output=_to_unit_range)


class Discriminator(base.Discriminator):
  """SNDCGAN discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  _LAYERS = ((64, 3, 1), (128, 4, 2), (128, 3, 1), (256, 4, 2), (256, 3, 1), (512, 4, 2),
             (512, 3, 1))

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    self.convs = [
        ops.Conv2D(self.ch(c), k, s, use_sn=sn, name=f"c{i // 2}_{i % 2}")
        for i, (c, k, s) in enumerate(self._LAYERS)]
    # No normalisation after the first conv (DCGAN convention).
    self.bns = [self.norm(f"d_bn{i}") for i in range(1, len(self._LAYERS))]
    self.lns = [self.layer_norm(f"d_ln{i}") for i in range(1, len(self._LAYERS))]
    self.fc = ops.Linear(1, use_sn=sn, name="d_fc1")

  def discriminate(self, x, y, training):
    h = ops.lrelu(self.convs[0](x * 2.0 - 1.0, training=training), 0.1)
    for conv, bn, ln in zip(self.convs[1:], self.bns, self.lns):
      h = ops.lrelu(self.normalize(conv(h, training=training), bn, ln, training), 0.1)
    h = tf.reshape(h, [tf.shape(h)[0], -1])
    return self.fc(h, training=training), h


ARCHITECTURE = base.register_architecture("sndcgan", Generator, Discriminator)
