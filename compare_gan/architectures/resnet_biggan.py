"""BigGAN (Brock et al., ICLR'19; reference v3 `resnet_biggan.py`, arch `resnet_biggan_arch`).

gin surface (the reference's names and defaults; `G`/`D` from base.py apply as well):

  resnet_biggan.Generator.ch = 96
  resnet_biggan.Generator.blocks_with_attention = "B4"   # comma-separated block names; "" none
  resnet_biggan.Generator.hierarchical_z = True
  resnet_biggan.Generator.embed_z = False
  resnet_biggan.Generator.embed_y = True
  resnet_biggan.Generator.embed_y_dim = 128
  resnet_biggan.Generator.embed_bias = False
  resnet_biggan.Discriminator.ch = 96
  resnet_biggan.Discriminator.blocks_with_attention = "B1"
  resnet_biggan.Discriminator.project_y = True

Channels are multiples of ch (scaled by G.width / D.width, so tests run tiny). With n G blocks
(table below), at 128x128 (ch 96, z_dim 120, 1000 classes; the reference's numbers):

  G: z -> [embed_z] -> split into n + 1 equal chunks z_0..z_n (hierarchical_z);
     e = y E (shared `embed_y`); c_i = [z_i, e] conditions both batch norms of block i.
     z_0 -> fc_noise -> [B, 4, 4, 16ch] -> blocks "up" (each: BN(c_i) -> ReLU -> unpool ->
     conv3x3 -> BN(c_i) -> ReLU -> conv3x3, plus unpool -> conv1x1 shortcut) with a non-local
     block after each block named in blocks_with_attention -> unconditional BN -> ReLU ->
     conv3x3 -> (tanh + 1) / 2.
     hierarchical_z = False: c_i = e for every block, z feeds fc_noise only. Without labels
     (num_classes None, embed_y False) c_i = z_i: the reference's unconditional BigGAN handed
     the chunks only to self-modulated BN and crashed with conditional BN; here a conditional
     BN uses them (documented difference).
  D: blocks "down" (the last keeps its size), each ReLU -> conv3x3 -> ReLU -> conv3x3 ->
     avgpool, plus conv1x1 -> avgpool shortcut *only when the channel count changes*: a block
     with in == out has no residual path at all (the reference's, kept) -> non-local block
     after the blocks named -> ReLU -> sum over H, W = h -> final_fc (+ <E_D y, h> projection,
     E_D glorot-normal).

  size  G multipliers (block i: m[i-1] -> m[i])  D multipliers (B1 takes the image)  z (ref)
  32    4, 4, 4, 4                                2, 2, 2, 2
  64    16, 16, 8, 4, 2                           2, 4, 8, 16, 16
  128   16, 16, 8, 4, 2, 1                        1, 2, 4, 8, 16, 16                     120
  256   16, 16, 8, 8, 4, 2, 1                     1, 2, 4, 8, 8, 16, 16                  140
  512   16, 16, 8, 8, 4, 2, 1, 1                  1, 1, 2, 4, 8, 8, 16, 16               160

The attention defaults are for 128x128 (the reference's docstring: 256 needs G "B5" / D "B2",
512 G "B4" / D "B3"); 32x32 has G blocks B1-B3 only, so it needs blocks_with_attention set.
Parameters at 128x128: G 70,433,988, D 87,982,370 (256: 82,097,604 / 98,635,298; 512:
82,468,068 / 98,801,378), as the reference's docstring.
"""

import dataclasses
from typing import Optional, Sequence, Tuple

import gin
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import biggan_ops
from compare_gan.architectures import ops
from compare_gan.architectures import resnet_ops

_G_MULTIPLIERS = {
    32: (4, 4, 4, 4),
    64: (16, 16, 8, 4, 2),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
    512: (16, 16, 8, 8, 4, 2, 1, 1),
}
_D_MULTIPLIERS = {
    32: (2, 2, 2, 2),
    64: (2, 4, 8, 16, 16),
    128: (1, 2, 4, 8, 16, 16),
    256: (1, 2, 4, 8, 8, 16, 16),
    512: (1, 1, 2, 4, 8, 8, 16, 16),
}
_SEED_SIDE = 4


@gin.configurable("Generator", module="resnet_biggan")
@dataclasses.dataclass(frozen=True)
class GeneratorOptions:
  """gin `resnet_biggan.Generator` (reference names and defaults; see the module docstring).

  ch: channel multiplier. blocks_with_attention: blocks followed by a non-local block.
  hierarchical_z: split z into one chunk per block plus one for fc_noise. embed_z: a learned
  z -> z linear map before the split. embed_y: condition on y E instead of the one-hot y.
  embed_y_dim: columns of E. embed_bias: biases on the z and y embeddings.
  """
  ch: int = 96
  blocks_with_attention: str = "B4"
  hierarchical_z: bool = True
  embed_z: bool = False
  embed_y: bool = True
  embed_y_dim: int = 128
  embed_bias: bool = False

  def __post_init__(self):
    biggan_ops.check_positive_int("resnet_biggan.Generator.ch", self.ch)
    biggan_ops.check_positive_int("resnet_biggan.Generator.embed_y_dim", self.embed_y_dim)


@gin.configurable("Discriminator", module="resnet_biggan")
@dataclasses.dataclass(frozen=True)
class DiscriminatorOptions:
  """gin `resnet_biggan.Discriminator`: ch, blocks_with_attention, project_y (labels projected
  onto h; True needs a labelled model, as the reference)."""
  ch: int = 96
  blocks_with_attention: str = "B1"
  project_y: bool = True

  def __post_init__(self):
    biggan_ops.check_positive_int("resnet_biggan.Discriminator.ch", self.ch)


def _check(image_shape: Tuple[int, ...]) -> Optional[str]:
  problem = base._Module.check_image_shape(image_shape)  # pylint: disable=protected-access
  if problem:
    return problem
  if image_shape[0] not in _G_MULTIPLIERS:
    return f"resnet_biggan supports sizes {tuple(sorted(_G_MULTIPLIERS))}"
  return None


class Block(resnet_ops.ResNetBlock):
  """The BigGAN residual block (reference `BigGanResNetBlock`), for G ("up") or D ("down",
  "none"): the ResNet block of resnet_ops.py with a 1x1 conv shortcut, and none at all in a D
  block whose widths agree; see the module docstring. Conv names carry their scale as the
  reference's scopes: G `up_conv1`, `same_conv2`, `up_conv_shortcut`; D `same_conv1`,
  `down_conv2`, `down_conv_shortcut` (`same_*` in the last block)."""

  shortcut_kernel = 1
  no_shortcut_when_widths_agree = True


class Generator(biggan_ops.BigGanGenerator):
  """BigGAN generator; see the module docstring. `arch_options` defaults to gin
  `resnet_biggan.Generator`."""

  arch_options_class = GeneratorOptions
  gin_name = "resnet_biggan.Generator"
  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    options, size = self.arch_options, self.image_shape[0]
    channels = [self.channels(m) for m in _G_MULTIPLIERS[size]]
    self.block_names = [f"B{i + 1}" for i in range(len(channels) - 1)]
    chunks = len(self.block_names) + 1
    if options.hierarchical_z and self.z_dim % chunks:
      low = max(chunks, self.z_dim // chunks * chunks)
      raise config.ConfigError(
          f"resnet_biggan at {size}x{size} splits z into {chunks} equal chunks "
          f"(resnet_biggan.Generator.hierarchical_z = True): z_dim={self.z_dim} is not a "
          f"multiple of {chunks}; use e.g. {low} or {low + chunks} (the reference: 120, 140, "
          "160 at 128, 256, 512), or hierarchical_z = False.")
    sn = self.options.spectral_norm
    self.embed_z = None
    if options.embed_z:
      self.embed_z = ops.Linear(self.z_dim, use_sn=False, use_bias=options.embed_bias,
                                name="embed_z")
    self.seed_shape = [_SEED_SIDE, _SEED_SIDE, channels[0]]
    self.fc_noise = ops.Linear(_SEED_SIDE * _SEED_SIDE * channels[0], use_sn=sn,
                               name="fc_noise")
    self.blocks = [Block(self, channels[i], channels[i + 1], "up", name=name)
                   for i, name in enumerate(self.block_names)]
    self.attention = {
        name: biggan_ops.attention(self, name) for name in biggan_ops.attention_blocks(
            options.blocks_with_attention, self.block_names,
            "resnet_biggan.Generator.blocks_with_attention", size)}

  @property
  def embed_bias(self) -> bool:
    return self.arch_options.embed_bias

  def conditions_without_labels(self) -> Optional[str]:
    if self.arch_options.hierarchical_z:
      return None
    return ("resnet_biggan.Generator.hierarchical_z = False gives the blocks no z chunks; set "
            "it True or use G.batch_norm_fn = @batch_norm")

  def generate(self, z: tf.Tensor, y: Optional[tf.Tensor], training) -> tf.Tensor:
    """z [B, z_dim] (y [B, K] one-hot when conditional) -> images [B, H, W, C] in [0, 1]."""
    if self.embed_z is not None:
      z = self.embed_z(z, training=training)
    e = self.label_vector(y, training)
    n = len(self.blocks)
    if self.arch_options.hierarchical_z:
      z0, *z_blocks = tf.split(z, n + 1, axis=1)
      conditions = [biggan_ops.condition(z_i, e) for z_i in z_blocks]
    else:
      z0, z_blocks, conditions = z, [z] * n, [e] * n
    h = tf.reshape(self.fc_noise(z0, training=training), [-1] + self.seed_shape)
    for name, block, z_i, c_i in zip(self.block_names, self.blocks, z_blocks, conditions):
      # z_i reaches self-modulated BN (the reference's `z`), c_i conditional BN (its `y`).
      h = block(h, z=z_i, y=c_i, training=training)
      if name in self.attention:
        h = self.attention[name](h, training=training)
    return self.to_images(h, training)


class Discriminator(biggan_ops.BigGanDiscriminator):
  """BigGAN discriminator; see the module docstring. `arch_options` defaults to gin
  `resnet_biggan.Discriminator`."""

  arch_options_class = DiscriminatorOptions
  gin_name = "resnet_biggan.Discriminator"
  check_image_shape = staticmethod(_check)

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    size = self.image_shape[0]
    channels = [self.image_shape[-1]] + [self.channels(m) for m in _D_MULTIPLIERS[size]]
    n = len(channels) - 1
    self.block_names = [f"B{i + 1}" for i in range(n)]
    self.blocks = [Block(self, channels[i], channels[i + 1], "down" if i < n - 1 else "none",
                         name=name) for i, name in enumerate(self.block_names)]
    self.attention = {
        name: biggan_ops.attention(self, name) for name in biggan_ops.attention_blocks(
            self.arch_options.blocks_with_attention, self.block_names,
            "resnet_biggan.Discriminator.blocks_with_attention", size)}

  def discriminate(self, x: tf.Tensor, y: Optional[tf.Tensor],
                   training) -> Tuple[tf.Tensor, tf.Tensor]:
    """Images x [B, H, W, C] -> (logits [B, 1], h [B, 16ch]); base adds the projection."""
    h = x
    for name, block in zip(self.block_names, self.blocks):
      h = block(h, training=training)
      if name in self.attention:
        h = self.attention[name](h, training=training)
    return self.pool_and_score(h, training)


ARCHITECTURE = base.register_architecture("resnet_biggan", Generator, Discriminator)
