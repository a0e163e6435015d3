"""BEGAN's autoencoder discriminator (v1 `gans/BEGAN.py::discriminator`, Berthelot et al. 2017).

For square images with side s divisible by 4, widths times D.width ([BN] = D.batch_norm_fn, [LN]
= D.layer_norm, both off by default as v1's BEGAN default):
  encoder: d_conv1 4x4/2 64 -> lrelu -> d_conv2 4x4/2 128 (no activation) -> flatten
           -> d_fc6 64 -> [BN] -> [LN] -> lrelu                                   (the code)
  decoder: d_fc1 128*(s/4)^2 -> [BN] -> [LN] -> lrelu -> reshape -> d_deconv1 4x4/2 64 -> [BN]
           -> [LN] -> lrelu -> d_deconv2 4x4/2 C -> sigmoid
The v1 docstring's parameter count: 1.3M at 32x32x3 (1,325,379 with biases), against 8.5M for
the InfoGAN discriminator. The layer names are v1's.

The discriminator contract (architectures/base.py) maps images to `(scores [B, 1], features)`;
here the score is the per-example energy, the L1 reconstruction error
`mean_{h,w,c} |AE(x) - x|` (lower: judged more real), and the features are the code [B, 64].
BEGAN's `L(v) = mean |AE(v) - v|` over the batch and all pixels is the batch mean of the energy.
It is not a registered architecture: BEGAN (gans/began.py) builds it as its D.
"""

import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import dcgan_family
from compare_gan.architectures import ops


def _check(image_shape):
  return dcgan_family.check_square_image(image_shape, min_size=4, multiple_of=4)


class Autoencoder(base.Discriminator):
  """BEGAN's autoencoder D; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape, **kwargs):
    super().__init__(image_shape, **kwargs)
    if self.conditional:
      raise config.ConfigError("The BEGAN autoencoder is unconditional: set D.project_y = False.")
    sn = self.options.spectral_norm
    s, c = self.image_shape[0], self.image_shape[-1]
    self.seed_shape = [s // 4, s // 4, self.ch(128)]
    self.conv1 = ops.Conv2D(self.ch(64), 4, 2, use_sn=sn, name="d_conv1")
    self.conv2 = ops.Conv2D(self.ch(128), 4, 2, use_sn=sn, name="d_conv2")
    self.fc_code = ops.Linear(self.ch(64), use_sn=sn, name="d_fc6")
    self.fc_decode = ops.Linear((s // 4) ** 2 * self.ch(128), use_sn=sn, name="d_fc1")
    self.deconv1 = ops.Deconv2D(self.ch(64), (s // 2, s // 2), 4, 2, use_sn=sn,
                                name="d_deconv1")
    self.deconv2 = ops.Deconv2D(c, (s, s), 4, 2, use_sn=sn, name="d_deconv2")
    self.bns = [self.norm(f"d_bn{i}") for i in (1, 2, 3)]
    self.lns = [self.layer_norm(f"d_ln{i}") for i in (1, 2, 3)]

  def autoencode(self, x, training):
    """(reconstruction float32 [B, H, W, C] in [0, 1], code [B, 64 * width]) of x in the
    compute dtype."""
    norm = lambda h, i: ops.lrelu(self.normalize(h, self.bns[i], self.lns[i], training))
    h = ops.lrelu(self.conv1(x, training=training))
    h = self.conv2(h, training=training)
    h = tf.reshape(h, [tf.shape(h)[0], -1])
    code = norm(self.fc_code(h, training=training), 0)
    h = norm(self.fc_decode(code, training=training), 1)
    h = tf.reshape(h, [-1] + self.seed_shape)
    h = norm(self.deconv1(h, training=training), 2)
    out = tf.nn.sigmoid(tf.cast(self.deconv2(h, training=training), tf.float32))
    return out, code

  def discriminate(self, x, y, training):
    reconstruction, code = self.autoencode(x, training)
    energy = tf.reduce_mean(tf.abs(reconstruction - tf.cast(x, tf.float32)), axis=[1, 2, 3])
    return energy[:, None], code

  def reconstruct(self, images, training=None):
    """AE(images): float32 [B, H, W, C] in [0, 1] for images [B, H, W, C] in [0, 1]."""
    if images.shape.rank is None or tuple(images.shape[1:]) != self.image_shape:
      raise ValueError(f"{self.name} expects images [B, {', '.join(map(str, self.image_shape))}]"
                       f"; got shape {images.shape}.")
    return self.autoencode(tf.cast(images, self.compute_dtype), training)[0]
