"""SNDCGAN (Miyato et al., ICLR'18, Table 3; reference `sndcgan.py`), any square resolution.

With s the image side and s2, s4, s8 = ceil(s/2), ceil(s/4), ceil(s/8), widths times G/D.width:
  G: z -> g_fc1 s8*s8*512 -> BN -> ReLU -> deconv4x4/2 256 -> BN -> ReLU -> deconv4x4/2 128
     -> BN -> ReLU -> deconv4x4/2 64 -> BN -> ReLU -> deconv3x3/1 C -> (tanh + 1) / 2.
  D: x -> 2x - 1 -> conv3x3/1 64, conv4x4/2 128, conv3x3/1 128, conv4x4/2 256, conv3x3/1 256,
     conv4x4/2 512, conv3x3/1 512 (each followed by lrelu 0.1) -> flatten -> d_fc1 -> 1.
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


class Generator(base.Generator):
  """SNDCGAN generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    s, s2, s4, s8 = dcgan_family.halvings(self.image_shape[0], 3)
    self.seed_shape = [s8, s8, self.ch(512)]
    self.fc = ops.Linear(s8 * s8 * self.ch(512), use_sn=sn, name="g_fc1")
    self.bns = [self.norm(f"g_bn{i}") for i in (1, 2, 3, 4)]
    self.deconvs = [
        ops.Deconv2D(self.ch(256), (s4, s4), 4, 2, use_sn=sn, name="g_dc2"),
        ops.Deconv2D(self.ch(128), (s2, s2), 4, 2, use_sn=sn, name="g_dc3"),
        ops.Deconv2D(self.ch(64), (s, s), 4, 2, use_sn=sn, name="g_dc4"),
        ops.Deconv2D(self.image_shape[-1], (s, s), 3, 1, use_sn=sn, name="g_dc5"),
    ]

  def generate(self, z, y, training):
    h = tf.reshape(self.fc(z, training=training), [-1] + self.seed_shape)
    h = tf.nn.relu(self.bns[0](h, z=z, y=y, training=training))
    for deconv, bn in zip(self.deconvs[:3], self.bns[1:]):
      h = tf.nn.relu(bn(deconv(h, training=training), z=z, y=y, training=training))
    h = tf.cast(self.deconvs[3](h, training=training), tf.float32)
    return (tf.nn.tanh(h) + 1.0) / 2.0


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
