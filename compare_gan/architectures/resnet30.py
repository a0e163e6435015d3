"""ResNet30: the reference's 30-block ResNet for 128x128 images (reference `resnet30.py`).

Six super-blocks of five residual blocks each, after Gulrajani et al., "Improved Training of
Wasserstein GANs" (2017), whose 64x64 ResNet it scales to 128x128. Every block is the generic
`resnet_ops.ResNetBlock` (3x3 conv shortcut); with c_s = 512 / 2^s * width (s = 0..5) in G and
d_s = 16 * 2^s * width in D:

  G: z -> fc_noise 4*4*c_0 (never SN) -> for s = 0..5: B_s_0..B_s_4 (c_s -> c_s, "none"), then
     for s < 5 B_s_up (c_s -> c_{s+1}, "up": 4 -> 128) -> conv3x3 final_conv c_5 -> C (never SN)
     -> sigmoid. No final BN or ReLU.
  D: x -> conv3x3 color_conv C -> d_0 (never SN) -> for s = 0..5: B_s_0..B_s_4 (d_s -> d_s,
     "none"), then for s < 5 B_s_down (d_s -> d_{s+1}, "down": 128 -> 4) -> flatten the 4x4xd_5
     map as is (8192 features at width 1) -> disc_final_fc -> 1 (SN with D.spectral_norm).

35 blocks in each; the name counts the 30 same-size blocks. At width 1 and z_dim 128, G has
52,176,531 trainable parameters without normalisation (52,199,667 with plain BN), D 53,486,449.
The reference D names its down blocks `B_s_up`; here they are `B_s_down`.
"""

from typing import List

from compare_gan.architectures import base
from compare_gan.architectures import resnet_ops

SIZE = 128
SUPER_BLOCKS = 6
BLOCKS_PER_SUPER_BLOCK = 5
_G_CHANNELS = tuple(512 >> s for s in range(SUPER_BLOCKS))  # 512, 256, ..., 16
_D_CHANNELS = tuple(16 << s for s in range(SUPER_BLOCKS))   # 16, 32, ..., 512


def _check(image_shape):
  problem = base._Module.check_image_shape(image_shape)
  if problem:
    return problem
  if image_shape[0] != SIZE:
    return f"resnet30 supports {SIZE}x{SIZE} images only (5 up-samplings from 4x4)"
  return None


def _super_blocks(channels: List[int], scale: str) -> List[resnet_ops.BlockSpec]:
  """Five same-size blocks at each channels[s], each super-block but the last ending in a
  `scale` block channels[s] -> channels[s + 1]."""
  blocks = []
  for s, c in enumerate(channels):
    blocks += [resnet_ops.BlockSpec(f"B_{s}_{i}", c, c, "none")
               for i in range(BLOCKS_PER_SUPER_BLOCK)]
    if s + 1 < len(channels):
      blocks.append(resnet_ops.BlockSpec(f"B_{s}_{scale}", c, channels[s + 1], scale))
  return blocks


class Generator(resnet_ops.ResNetGenerator):
  """ResNet30 generator; see the module docstring."""

  check_image_shape = staticmethod(_check)
  end_layers_spectral_norm = False
  final_norm_relu = False

  def table(self) -> resnet_ops.GeneratorTable:
    return resnet_ops.GeneratorTable(
        4, _super_blocks([self.ch(c) for c in _G_CHANNELS], "up"))


class Discriminator(resnet_ops.ResNetDiscriminator):
  """ResNet30 discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)
  head = "flatten"

  def stem_channels(self) -> int:
    return self.ch(_D_CHANNELS[0])

  def table(self) -> List[resnet_ops.BlockSpec]:
    return _super_blocks([self.ch(c) for c in _D_CHANNELS], "down")


ARCHITECTURE = base.register_architecture("resnet30", Generator, Discriminator)
