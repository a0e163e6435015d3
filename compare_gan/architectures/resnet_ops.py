"""The reference ResNet block (resnet_ops.ResNetBlock), shared by resnet19 and resnet_cifar.

Generator block ("up" or "none"):
    shortcut = conv3x3(unpool(x))                 # always a learnable 3x3 conv shortcut
    h = conv3x3(unpool(relu(BN1(x))))             # in -> out
    h = conv3x3(relu(BN2(h)))                     # out -> out
Discriminator block ("down" or "none"):
    shortcut = avgpool(conv3x3(x))
    h = conv3x3(relu(LN1(BN1(x))))                # in -> out
    h = avgpool(conv3x3(relu(LN2(BN2(h)))))       # out -> out
    return h + shortcut
Up-sampling is zero-insertion `unpool`; down-sampling is 2x2 average pooling after the conv.
Conv names follow the reference: `<scale>_conv1`, `<scale>_conv2`, `<scale>_conv_shortcut`,
where each conv's own scale is "up", "down" or "same".
"""

import keras
import tensorflow as tf

from compare_gan.architectures import ops
from compare_gan.architectures import base

_SCALES = ("up", "down", "none")


class ResNetBlock(keras.layers.Layer):
  """One residual block of `module` (a Generator or Discriminator) with `scale`."""

  def __init__(self, module: base._Module, in_channels: int, out_channels: int, scale: str,
               name: str):
    super().__init__(name=name)
    if scale not in _SCALES:
      raise ValueError(f"ResNetBlock scale {scale!r} is not one of {_SCALES}.")
    self.is_gen_block = isinstance(module, base.Generator)
    if scale == ("down" if self.is_gen_block else "up"):
      raise ValueError(f"A {'generator' if self.is_gen_block else 'discriminator'} block cannot "
                       f"scale {scale!r}.")
    self.scale = scale
    use_sn = module.options.spectral_norm
    scale1 = scale if self.is_gen_block else "none"  # G up-samples before conv1,
    scale2 = "none" if self.is_gen_block else scale  # D down-samples after conv2.
    prefix = lambda s: "same" if s == "none" else s
    self.scale1, self.scale2 = scale1, scale2
    self.conv_shortcut = ops.Conv2D(out_channels, 3, use_sn=use_sn,
                                    name=f"{prefix(scale)}_conv_shortcut")
    self.conv1 = ops.Conv2D(out_channels, 3, use_sn=use_sn, name=f"{prefix(scale1)}_conv1")
    self.conv2 = ops.Conv2D(out_channels, 3, use_sn=use_sn, name=f"{prefix(scale2)}_conv2")
    self.bn1 = module.norm("bn1")
    self.bn2 = module.norm("bn2")
    self.ln1 = self.ln2 = None
    if not self.is_gen_block:
      self.ln1 = module.layer_norm("ln1")
      self.ln2 = module.layer_norm("ln2")

  def call(self, x, z=None, y=None, training=None):
    def normalize(h, bn, ln):
      h = bn(h, z=z, y=y, training=training)
      return ln(h, training=training) if ln is not None else h

    shortcut = ops.unpool(x) if self.scale == "up" else x
    shortcut = self.conv_shortcut(shortcut, training=training)
    if self.scale == "down":
      shortcut = ops.avg_pool2(shortcut)

    h = tf.nn.relu(normalize(x, self.bn1, self.ln1))
    if self.scale1 == "up":
      h = ops.unpool(h)
    h = self.conv1(h, training=training)
    h = tf.nn.relu(normalize(h, self.bn2, self.ln2))
    h = self.conv2(h, training=training)
    if self.scale2 == "down":
      h = ops.avg_pool2(h)
    return h + shortcut
