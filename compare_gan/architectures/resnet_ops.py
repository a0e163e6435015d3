"""The reference ResNet block (resnet_ops.ResNetBlock) and the table-driven G and D bodies that
resnet19, resnet_cifar, resnet30 and resnet_stl share (resnet_biggan's block is this block with
a 1x1 shortcut).

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
  D: x -> [conv3x3 color_conv] -> blocks -> ReLU -> global mean pool -> disc_final_fc -> 1.
Class attributes select the variants of the reference's other ResNets (resnet30, resnet_stl):
whether fc_noise/final_conv follow the spectral-norm switch, whether G has the final BN and ReLU,
D's stem conv and D's head (mean pool, or flatten as resnet30).

The block, G and D define an empty `build`: each sub-layer creates its variables at its own
first call. Without it Keras builds an unbuilt layer by first tracing its whole `call` on
symbolic inputs, so the first (eager) call ran every op twice; for a tiny ResNet30 with spectral
norm that tracing was ~3/4 of the build time. Variables, their paths and values are unchanged.
"""

from typing import NamedTuple, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from compare_gan.architectures import ops
from compare_gan.architectures import base

_SCALES = ("up", "down", "none")


class ResNetBlock(keras.layers.Layer):
  """One residual block of `module` (a Generator or Discriminator) with `scale`.

  Subclasses change the shortcut: `shortcut_kernel` (3 here; BigGAN's 1) and
  `no_shortcut_when_widths_agree` (BigGAN's D: a block whose input and output widths agree has
  no residual path at all, the reference's quirk).
  """

  shortcut_kernel = 3
  no_shortcut_when_widths_agree = False

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
    self.conv_shortcut = None
    if not (self.no_shortcut_when_widths_agree and not self.is_gen_block
            and in_channels == out_channels):
      self.conv_shortcut = ops.Conv2D(out_channels, self.shortcut_kernel, use_sn=use_sn,
                                      name=f"{prefix(scale)}_conv_shortcut")
    self.conv1 = ops.Conv2D(out_channels, 3, use_sn=use_sn, name=f"{prefix(scale1)}_conv1")
    self.conv2 = ops.Conv2D(out_channels, 3, use_sn=use_sn, name=f"{prefix(scale2)}_conv2")
    self.bn1 = module.norm("bn1")
    self.bn2 = module.norm("bn2")
    self.ln1 = self.ln2 = None
    if not self.is_gen_block:
      self.ln1 = module.layer_norm("ln1")
      self.ln2 = module.layer_norm("ln2")

  def build(self, input_shape):
    del input_shape  # sub-layers build at their first call (module docstring)

  def call(self, x, z=None, y=None, training=None):
    def normalize(h, bn, ln):
      h = bn(h, z=z, y=y, training=training)
      return ln(h, training=training) if ln is not None else h

    h = tf.nn.relu(normalize(x, self.bn1, self.ln1))
    if self.scale1 == "up":
      h = ops.unpool(h)
    h = self.conv1(h, training=training)
    h = tf.nn.relu(normalize(h, self.bn2, self.ln2))
    h = self.conv2(h, training=training)
    if self.scale2 == "down":
      h = ops.avg_pool2(h)
    if self.conv_shortcut is None:
      return h
    shortcut = ops.unpool(x) if self.scale == "up" else x
    shortcut = self.conv_shortcut(shortcut, training=training)
    if self.scale == "down":
      shortcut = ops.avg_pool2(shortcut)
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

  # Whether fc_noise and final_conv are spectrally normalised with G.spectral_norm (resnet19,
  # resnet_cifar). The reference resnet30 and resnet_stl create both without `use_sn`, so SN
  # there covers the blocks only.
  end_layers_spectral_norm: bool = True
  # Whether BN(final_norm) -> ReLU precede final_conv; resnet30 goes from its last block
  # straight to the conv.
  final_norm_relu: bool = True

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    sn = self.options.spectral_norm
    end_sn = sn and self.end_layers_spectral_norm
    table = self.table()
    side, channels = table.seed_side, table.blocks[0].in_channels
    self.seed_shape = [side, side, channels]
    self.fc_noise = ops.Linear(side * side * channels, use_sn=end_sn, name="fc_noise")
    self.blocks = [ResNetBlock(self, b.in_channels, b.out_channels, b.scale, name=b.name)
                   for b in table.blocks]
    self.final_norm = self.norm("final_norm") if self.final_norm_relu else None
    self.final_conv = ops.Conv2D(self.image_shape[-1], 3, use_sn=end_sn, name="final_conv")

  def build(self, input_shape):
    del input_shape  # sub-layers build at their first call (module docstring)

  def table(self) -> GeneratorTable:
    """The seed side and blocks for `self.image_shape` and `self.options`."""
    raise NotImplementedError

  def generate(self, z: tf.Tensor, y: Optional[tf.Tensor], training) -> tf.Tensor:
    """z [B, z_dim] (y [B, K] for conditional normalisers) -> images [B, H, W, C] in [0, 1]."""
    h = tf.reshape(self.fc_noise(z, training=training), [-1] + self.seed_shape)
    for block in self.blocks:
      h = block(h, z=z, y=y, training=training)
    if self.final_norm is not None:
      h = tf.nn.relu(self.final_norm(h, z=z, y=y, training=training))
    return tf.nn.sigmoid(tf.cast(self.final_conv(h, training=training), tf.float32))


_HEADS = ("mean", "flatten")


class ResNetDiscriminator(base.Discriminator):
  """ResNet discriminator body; subclasses implement `table()` (see the module docstring)."""

  # How the last feature map [B, h, w, C] becomes the features fed to disc_final_fc:
  # "mean": ReLU, then the mean over h and w ([B, C]; resnet19, resnet_cifar, resnet_stl);
  # "flatten": reshaped as is, without a ReLU ([B, h*w*C]; resnet30).
  head: str = "mean"

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    if self.head not in _HEADS:
      raise ValueError(f"{type(self).__name__}.head={self.head!r} is not one of {_HEADS}.")
    stem = self.stem_channels()
    # The reference's resnet30 `color_conv` is created without `use_sn`: never SN.
    self.stem = None if stem is None else ops.Conv2D(stem, 3, use_sn=False, name="color_conv")
    self.blocks = [ResNetBlock(self, b.in_channels, b.out_channels, b.scale, name=b.name)
                   for b in self.table()]
    self.final_fc = ops.Linear(1, use_sn=self.options.spectral_norm, name="disc_final_fc")

  def build(self, input_shape):
    del input_shape  # sub-layers build at their first call (module docstring)

  def table(self) -> Sequence[BlockSpec]:
    """The blocks for `self.image_shape` and `self.options`; the first takes the image, or the
    stem's output when `stem_channels()` is not None."""
    raise NotImplementedError

  def stem_channels(self) -> Optional[int]:
    """Output channels of a 3x3 conv (`color_conv`, never SN) applied to the image before the
    first block; None (the default) for no such conv."""
    return None

  def discriminate(self, x: tf.Tensor, y: Optional[tf.Tensor],
                   training) -> Tuple[tf.Tensor, tf.Tensor]:
    """Images x [B, H, W, C] -> (logits [B, 1], features [B, F]); `base` adds the projection
    of y. F is the last block's channels ("mean" head) or h*w*channels ("flatten")."""
    h = x if self.stem is None else self.stem(x, training=training)
    for block in self.blocks:
      h = block(h, training=training)
    if self.head == "mean":
      h = tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])
    else:
      h = tf.reshape(h, [-1, h.shape[1] * h.shape[2] * h.shape[3]])
    return self.final_fc(h, training=training), h
