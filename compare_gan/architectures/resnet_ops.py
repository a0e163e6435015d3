"""The reference ResNet block (resnet_ops.ResNetBlock) and the table-driven G and D bodies that
resnet19 and resnet_cifar share.

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

`ResNetGenerator` and `ResNetDiscriminator` build these blocks from a subclass's `table()`:
  G: z -> fc_noise -> reshape [B, s0, s0, C0] -> blocks -> BN(final_norm) -> ReLU -> conv3x3
     (final_conv) -> C -> sigmoid.
  D: x -> blocks -> ReLU -> global mean pool -> disc_final_fc -> 1.
"""

from typing import NamedTuple, Optional, Sequence, Tuple

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


class BlockSpec(NamedTuple):
  """One row of a ResNet table: block `name` maps `in_channels` -> `out_channels` with `scale`.

  Channels are final (already scaled by the width multiplier, or the image's channel count).
  """
  name: str
  in_channels: int
  out_channels: int
  scale: str


class GeneratorTable(NamedTuple):
  """A ResNet generator's table: the seed side s0 (fc_noise output [B, s0, s0, C0], with C0 the
  first block's input channels) and the blocks in order."""
  seed_side: int
  blocks: Sequence[BlockSpec]


class ResNetGenerator(base.Generator):
  """ResNet generator body; subclasses implement `table()` (see the module docstring)."""

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    table = self.table()
    side, channels = table.seed_side, table.blocks[0].in_channels
    self.seed_shape = [side, side, channels]
    self.fc_noise = ops.Linear(side * side * channels, use_sn=sn, name="fc_noise")
    self.blocks = [ResNetBlock(self, b.in_channels, b.out_channels, b.scale, name=b.name)
                   for b in table.blocks]
    self.final_norm = self.norm("final_norm")
    self.final_conv = ops.Conv2D(self.image_shape[-1], 3, use_sn=sn, name="final_conv")

  def table(self) -> GeneratorTable:
    """The seed side and blocks for `self.image_shape` and `self.options`."""
    raise NotImplementedError

  def generate(self, z: tf.Tensor, y: Optional[tf.Tensor], training) -> tf.Tensor:
    """z [B, z_dim] (y [B, K] for conditional normalisers) -> images [B, H, W, C] in [0, 1]."""
    h = tf.reshape(self.fc_noise(z, training=training), [-1] + self.seed_shape)
    for block in self.blocks:
      h = block(h, z=z, y=y, training=training)
    h = tf.nn.relu(self.final_norm(h, z=z, y=y, training=training))
    return tf.nn.sigmoid(tf.cast(self.final_conv(h, training=training), tf.float32))


class ResNetDiscriminator(base.Discriminator):
  """ResNet discriminator body; subclasses implement `table()` (see the module docstring)."""

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    self.blocks = [ResNetBlock(self, b.in_channels, b.out_channels, b.scale, name=b.name)
                   for b in self.table()]
    self.final_fc = ops.Linear(1, use_sn=self.options.spectral_norm, name="disc_final_fc")

  def table(self) -> Sequence[BlockSpec]:
    """The blocks for `self.image_shape` and `self.options`; the first takes the image."""
    raise NotImplementedError

  def discriminate(self, x: tf.Tensor, y: Optional[tf.Tensor],
                   training) -> Tuple[tf.Tensor, tf.Tensor]:
    """Images x [B, H, W, C] -> (logits [B, 1], pooled features [B, F]); `base` adds the
    projection of y."""
    h = x
    for block in self.blocks:
      h = block(h, training=training)
    h = tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])
    return self.final_fc(h, training=training), h
