"""BigGAN-deep (Brock et al., ICLR'19, appendix B; reference v3 `resnet_biggan_deep.py`, arch
`resnet_biggan_deep_arch`).

gin surface (the reference's names and defaults; `G`/`D` from base.py apply as well):

  resnet_biggan_deep.Generator.ch = 128
  resnet_biggan_deep.Generator.embed_y = True
  resnet_biggan_deep.Generator.embed_y_dim = 128
  resnet_biggan_deep.Discriminator.ch = 128
  resnet_biggan_deep.Discriminator.project_y = True

No z chunks: c = [z, y E] (E the shared `embed_y`; c = z without labels) feeds fc_noise and
every batch norm of every block. Blocks are bottlenecks with k = max(in, out) / 4 channels:

  bn1 -> ReLU -> conv1 1x1 (in -> k) -> bn2 -> ReLU -> [unpool] -> conv2 3x3 -> bn3 -> ReLU
  -> conv3 3x3 -> bn4 -> ReLU -> [avgpool] -> conv4 1x1 (k -> out), plus an identity skip:
  G drops the surplus input channels (in > out) then unpools; D avg-pools then, when out > in,
  appends a 1x1 conv `add_channels` of the pooled input (out - in channels).

  G: c -> fc_noise -> [B, 4, 4, ch m_0] -> blocks alternating same/up (same first) with a
     non-local block after the up block whose output is 64x64 -> unconditional BN -> ReLU ->
     conv3x3 -> (tanh + 1) / 2.
  D: initial_conv 3x3 (C -> ch m_0) -> blocks alternating down/same (down first) with a
     non-local block after the same block at 64x64 -> ReLU -> sum over H, W = h -> final_fc
     (+ <E_D y, h>, E_D glorot-normal). The reference's docstring says mean; its code sums.

  size  G multipliers                           D multipliers
  32    4 x 8                                   2 x 8
  64    16 x 4, 8 x 2, 4, 4, 2                  2, 4, 4, 8 x 2, 16 x 4
  128   16 x 4, 8 x 2, 4, 4, 2, 2, 1            1, 2, 2, 4, 4, 8 x 2, 16 x 4
  256   16 x 4, 8 x 4, 4, 4, 2, 2, 1            1, 2, 2, 4, 4, 8 x 4, 16 x 4
  512   16 x 4, 8 x 4, 4, 4, 2, 2, 1, 1, 1      1, 1, 1, 2, 2, 4, 4, 8 x 4, 16 x 4

(block i maps m[i-1] -> m[i]; 32x32 and D at 64x64 have no 64x64 block, so no attention).
Parameters at 128x128, z_dim 128, 1000 classes: G 50,244,484, D 34,590,210 (256: 55,736,708
/ 38,247,426; 512: 56,019,780 / 38,301,122).
"""

import dataclasses
from typing import List, Optional, Sequence, Tuple

import gin
import keras
import tensorflow as tf

from compare_gan.architectures import base
from compare_gan.architectures import biggan_ops
from compare_gan.architectures import ops

_G_MULTIPLIERS = {
    32: (4,) * 8,
    64: (16,) * 4 + (8,) * 2 + (4, 4, 2),
    128: (16,) * 4 + (8,) * 2 + (4, 4, 2, 2, 1),
    256: (16,) * 4 + (8,) * 4 + (4, 4, 2, 2, 1),
    512: (16,) * 4 + (8,) * 4 + (4, 4, 2, 2, 1, 1, 1),
}
_D_MULTIPLIERS = {
    32: (2,) * 8,
    64: (2, 4, 4) + (8,) * 2 + (16,) * 4,
    128: (1, 2, 2, 4, 4) + (8,) * 2 + (16,) * 4,
    256: (1, 2, 2, 4, 4) + (8,) * 4 + (16,) * 4,
    512: (1, 1, 1, 2, 2, 4, 4) + (8,) * 4 + (16,) * 4,
}
_SEED_SIDE = 4
_ATTENTION_SIDE = 64  # the non-local block follows the block whose output is 64x64


@gin.configurable("Generator", module="resnet_biggan_deep")
@dataclasses.dataclass(frozen=True)
class GeneratorOptions:
  """gin `resnet_biggan_deep.Generator`: ch (channel multiplier), embed_y (condition on y E
  instead of the one-hot y), embed_y_dim (columns of E)."""
  ch: int = 128
  embed_y: bool = True
  embed_y_dim: int = 128

  def __post_init__(self):
    biggan_ops.check_positive_int("resnet_biggan_deep.Generator.ch", self.ch)
    biggan_ops.check_positive_int("resnet_biggan_deep.Generator.embed_y_dim", self.embed_y_dim)


@gin.configurable("Discriminator", module="resnet_biggan_deep")
@dataclasses.dataclass(frozen=True)
class DiscriminatorOptions:
  """gin `resnet_biggan_deep.Discriminator`: ch, project_y (labels projected onto h; True
  needs a labelled model, as the reference)."""
  ch: int = 128
  project_y: bool = True

  def __post_init__(self):
    biggan_ops.check_positive_int("resnet_biggan_deep.Discriminator.ch", self.ch)


def _check(image_shape: Tuple[int, ...]) -> Optional[str]:
  problem = base._Module.check_image_shape(image_shape)  # pylint: disable=protected-access
  if problem:
    return problem
  if image_shape[0] not in _G_MULTIPLIERS:
    return f"resnet_biggan_deep supports sizes {tuple(sorted(_G_MULTIPLIERS))}"
  return None


class Block(keras.layers.Layer):
  """The BigGAN-deep bottleneck block (reference `BigGanDeepResNetBlock`), for G ("up",
  "none"; in >= out) or D ("down", "none"; in <= out); see the module docstring."""

  def __init__(self, module: base._Module, in_channels: int, out_channels: int, scale: str,
               name: str):
    super().__init__(name=name)
    generator = isinstance(module, base.Generator)
    valid = ("up", "none") if generator else ("down", "none")
    if scale not in valid:
      raise ValueError(f"BigGAN-deep {'G' if generator else 'D'} block scale {scale!r}; "
                       f"valid: {valid}.")
    # The identity skip can only drop channels in G and only add them in D.
    if (generator and out_channels > in_channels) or (
        not generator and out_channels < in_channels):
      raise ValueError(f"BigGAN-deep {'G' if generator else 'D'} block {name}: "
                       f"{in_channels} -> {out_channels} channels has no identity skip.")
    self.scale = scale
    self.in_channels, self.out_channels = in_channels, out_channels
    sn = module.options.spectral_norm
    # max(1, .): tiny test widths; at full width max(in, out) is a multiple of 4.
    k = max(1, max(in_channels, out_channels) // 4)
    self.conv1 = ops.Conv2D(k, 1, use_sn=sn, name="conv1")
    self.conv2 = ops.Conv2D(k, 3, use_sn=sn, name="conv2")
    self.conv3 = ops.Conv2D(k, 3, use_sn=sn, name="conv3")
    self.conv4 = ops.Conv2D(out_channels, 1, use_sn=sn, name="conv4")
    self.add_channels = None
    if out_channels > in_channels:
      self.add_channels = ops.Conv2D(out_channels - in_channels, 1, use_sn=sn,
                                     name="add_channels")
    self.norms = [module.norm(f"bn{i}") for i in range(1, 5)]
    self.layer_norms: List[keras.layers.Layer] = []
    if not generator and module.options.layer_norm:
      self.layer_norms = [module.layer_norm(f"ln{i}") for i in range(1, 5)]

  def build(self, input_shape):
    biggan_ops.lazy_build(self, input_shape)

  def call(self, x, z=None, y=None, training=None):
    """x [B, H, W, in] -> [B, H', W', out]; z, y: what the normalisers condition on."""
    def norm_relu(h, i):
      h = self.norms[i](h, z=z, y=y, training=training)
      if self.layer_norms:
        h = self.layer_norms[i](h, training=training)
      return tf.nn.relu(h)

    h = self.conv1(norm_relu(x, 0), training=training)
    h = norm_relu(h, 1)
    if self.scale == "up":
      h = ops.unpool(h)
    h = self.conv2(h, training=training)
    h = self.conv3(norm_relu(h, 2), training=training)
    h = norm_relu(h, 3)
    if self.scale == "down":
      h = ops.avg_pool2(h)
    h = self.conv4(h, training=training)
    return h + self._shortcut(x, training)

  def _shortcut(self, x, training):
    shortcut = x[..., :self.out_channels] if self.in_channels > self.out_channels else x
    if self.scale == "up":
      shortcut = ops.unpool(shortcut)
    elif self.scale == "down":
      shortcut = ops.avg_pool2(shortcut)
    if self.add_channels is not None:
      shortcut = tf.concat([shortcut, self.add_channels(shortcut, training=training)], axis=-1)
    return shortcut


class Generator(biggan_ops.BigGanGenerator):
  """BigGAN-deep generator; see the module docstring. `arch_options` defaults to gin
  `resnet_biggan_deep.Generator`."""

  arch_options_class = GeneratorOptions
  gin_name = "resnet_biggan_deep.Generator"
  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    channels = [self.channels(m) for m in _G_MULTIPLIERS[self.image_shape[0]]]
    sn = self.options.spectral_norm
    self.seed_shape = [_SEED_SIDE, _SEED_SIDE, channels[0]]
    self.fc_noise = ops.Linear(_SEED_SIDE * _SEED_SIDE * channels[0], use_sn=sn,
                               name="fc_noise")
    self.blocks, self.attention_after = [], None
    side = _SEED_SIDE
    for i in range(len(channels) - 1):
      scale = "none" if i % 2 == 0 else "up"
      name = f"B{i + 1}"
      self.blocks.append(Block(self, channels[i], channels[i + 1], scale, name=name))
      side *= 2 if scale == "up" else 1
      if scale == "up" and side == _ATTENTION_SIDE:
        self.attention_after = name
    self.attention = (biggan_ops.attention(self, self.attention_after)
                      if self.attention_after else None)

  def generate(self, z: tf.Tensor, y: Optional[tf.Tensor], training) -> tf.Tensor:
    """z [B, z_dim] (y [B, K] one-hot when conditional) -> images [B, H, W, C] in [0, 1]."""
    c = biggan_ops.condition(z, self.label_vector(y, training))
    h = tf.reshape(self.fc_noise(c, training=training), [-1] + self.seed_shape)
    for block in self.blocks:
      h = block(h, z=c, y=c, training=training)
      if block.name == self.attention_after:
        h = self.attention(h, training=training)
    return self.to_images(h, training)


class Discriminator(biggan_ops.BigGanDiscriminator):
  """BigGAN-deep discriminator; see the module docstring. `arch_options` defaults to gin
  `resnet_biggan_deep.Discriminator`."""

  arch_options_class = DiscriminatorOptions
  gin_name = "resnet_biggan_deep.Discriminator"
  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    side = self.image_shape[0]
    channels = [self.channels(m) for m in _D_MULTIPLIERS[side]]
    sn = self.options.spectral_norm
    self.initial_conv = ops.Conv2D(channels[0], 3, use_sn=sn, name="initial_conv")
    self.blocks, self.attention_after = [], None
    for i in range(len(channels) - 1):
      scale = "down" if i % 2 == 0 else "none"
      name = f"B{i + 1}"
      self.blocks.append(Block(self, channels[i], channels[i + 1], scale, name=name))
      side //= 2 if scale == "down" else 1
      if scale == "none" and side == _ATTENTION_SIDE:
        self.attention_after = name
    self.attention = (biggan_ops.attention(self, self.attention_after)
                      if self.attention_after else None)

  def discriminate(self, x: tf.Tensor, y: Optional[tf.Tensor],
                   training) -> Tuple[tf.Tensor, tf.Tensor]:
    """Images x [B, H, W, C] -> (logits [B, 1], h [B, 16ch]); base adds the projection."""
    h = self.initial_conv(x, training=training)
    for block in self.blocks:
      h = block(h, training=training)
      if block.name == self.attention_after:
        h = self.attention(h, training=training)
    return self.pool_and_score(h, training)


ARCHITECTURE = base.register_architecture("resnet_biggan_deep", Generator, Discriminator)
