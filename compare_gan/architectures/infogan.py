"""InfoGAN (Chen et al., NeurIPS'16; reference `infogan.py`, the v1 default architecture).

For square images with side s divisible by 4, widths times G/D.width:
  G: z -> g_fc1 1024 -> BN -> lrelu -> g_fc2 128*(s/4)^2 -> BN -> lrelu -> deconv4x4/2 64 -> BN
     -> lrelu -> deconv4x4/2 C -> sigmoid. g_bn1 and g_bn2 normalise the flat fc outputs, so g_bn2
     has one statistic and gamma/beta per unit (128*(s/4)^2), before the reshape, as the reference.
  D: conv4x4/2 64 -> lrelu -> conv4x4/2 128 -> BN -> lrelu -> d_fc3 1024 -> BN -> lrelu
     -> d_fc4 -> 1; features are the 1024-d layer.
The reference G always used batch norm; here G uses `G.batch_norm_fn` like every generator (set it
to @batch_norm for the reference behaviour, as configs/ do).
"""

import tensorflow as tf

from compare_gan.architectures import base
from compare_gan.architectures import dcgan_family
from compare_gan.architectures import ops


def _check(image_shape):
  return dcgan_family.check_square_image(image_shape, min_size=4, multiple_of=4)


class Generator(base.Generator):
  """InfoGAN generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    s = self.image_shape[0]
    self.seed_shape = [s // 4, s // 4, self.ch(128)]
    self.fc1 = ops.Linear(self.ch(1024), use_sn=sn, name="g_fc1")
    self.fc2 = ops.Linear((s // 4) ** 2 * self.ch(128), use_sn=sn, name="g_fc2")
    self.dc3 = ops.Deconv2D(self.ch(64), (s // 2, s // 2), 4, 2, use_sn=sn, name="g_dc3")
    self.dc4 = ops.Deconv2D(self.image_shape[-1], (s, s), 4, 2, use_sn=sn, name="g_dc4")
    self.bns = [self.norm(f"g_bn{i}") for i in (1, 2, 3)]

  def generate(self, z, y, training):
    norm = lambda h, i: ops.lrelu(self.bns[i](h, z=z, y=y, training=training))
    h = norm(self.fc1(z, training=training), 0)
    h = norm(self.fc2(h, training=training), 1)
    h = tf.reshape(h, [-1] + self.seed_shape)
    h = norm(self.dc3(h, training=training), 2)
    return tf.nn.sigmoid(tf.cast(self.dc4(h, training=training), tf.float32))


class Discriminator(base.Discriminator):
  """InfoGAN discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    self.conv1 = ops.Conv2D(self.ch(64), 4, 2, use_sn=sn, name="d_conv1")
    self.conv2 = ops.Conv2D(self.ch(128), 4, 2, use_sn=sn, name="d_conv2")
    self.fc3 = ops.Linear(self.ch(1024), use_sn=sn, name="d_fc3")
    self.fc4 = ops.Linear(1, use_sn=sn, name="d_fc4")
    self.bn2, self.bn3 = self.norm("d_bn2"), self.norm("d_bn3")
    self.ln2, self.ln3 = self.layer_norm("d_ln2"), self.layer_norm("d_ln3")

  def discriminate(self, x, y, training):
    h = ops.lrelu(self.conv1(x, training=training))
    h = ops.lrelu(self.normalize(self.conv2(h, training=training), self.bn2, self.ln2, training))
    h = tf.reshape(h, [tf.shape(h)[0], -1])
    h = ops.lrelu(self.normalize(self.fc3(h, training=training), self.bn3, self.ln3, training))
    return self.fc4(h, training=training), h


ARCHITECTURE = base.register_architecture("infogan", Generator, Discriminator)
