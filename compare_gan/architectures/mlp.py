"""Fully connected G/D pair for low-dimensional data (the 2-D Gaussian mixtures `ring8`,
`grid25`), in the spirit of the Unrolled-GAN/VEEGAN mixture experiments.

Works for any data shape (flattened inside). Hidden width 256 times G/D.width:
  G: z -> 3 x [Linear 256 -> norm -> ReLU] -> Linear prod(shape) -> sigmoid -> reshape.
  D: flatten -> Linear 256 -> lrelu -> 2 x [Linear 256 -> BN/LN -> lrelu] -> d_out -> 1.
Outputs lie in [0, 1] like every generator: the built-in 2-D data sets live in [0, 1]^2.
"""

import numpy as np
import tensorflow as tf

from compare_gan.architectures import base
from compare_gan.architectures import ops

_HIDDEN = 256
_LAYERS = 3


def _check(image_shape):
  if not image_shape or any(d < 1 for d in image_shape):
    return "expected a non-empty shape of positive sizes"
  return None


class Generator(base.Generator):
  """MLP generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    self.hidden = [ops.Linear(self.ch(_HIDDEN), use_sn=sn, name=f"g_fc{i}")
                   for i in range(_LAYERS)]
    self.bns = [self.norm(f"g_bn{i}") for i in range(_LAYERS)]
    self.out = ops.Linear(int(np.prod(self.image_shape)), use_sn=sn, name="g_out")

  def generate(self, z, y, training):
    h = z
    for fc, bn in zip(self.hidden, self.bns):
      h = tf.nn.relu(bn(fc(h, training=training), z=z, y=y, training=training))
    h = tf.nn.sigmoid(tf.cast(self.out(h, training=training), tf.float32))
    return tf.reshape(h, [-1] + list(self.image_shape))


class Discriminator(base.Discriminator):
  """MLP discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    self.hidden = [ops.Linear(self.ch(_HIDDEN), use_sn=sn, name=f"d_fc{i}")
                   for i in range(_LAYERS)]
    self.bns = [self.norm(f"d_bn{i}") for i in range(1, _LAYERS)]
    self.lns = [self.layer_norm(f"d_ln{i}") for i in range(1, _LAYERS)]
    self.out = ops.Linear(1, use_sn=sn, name="d_out")

  def discriminate(self, x, y, training):
    h = tf.reshape(x, [tf.shape(x)[0], int(np.prod(self.image_shape))])
    h = ops.lrelu(self.hidden[0](h, training=training))
    for fc, bn, ln in zip(self.hidden[1:], self.bns, self.lns):
      h = ops.lrelu(self.normalize(fc(h, training=training), bn, ln, training))
    return self.out(h, training=training), h


ARCHITECTURE = base.register_architecture("mlp", Generator, Discriminator)
