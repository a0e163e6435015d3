"""ResNet19: the GAN Landscape's ResNet (reference `resnet5.py`, arch string `resnet5_arch`).

The name counts D weight layers: 6 blocks x 3 convs (conv1, conv2, 3x3 shortcut) + final fc.
At 128x128x3 with ch = 64 * width:

  G: z -> fc_noise 4*4*8ch -> B1 8ch->8ch -> B2 8ch->4ch -> B3 4ch->4ch -> B4 4ch->2ch
     -> B5 2ch->ch (each "up": 4 -> 128) -> BN(final_norm) -> ReLU -> conv3x3 -> C -> sigmoid.
  D: B0 C->ch, B1 ch->2ch, B2 2ch->4ch, B3 4ch->4ch, B4 4ch->8ch, B5 8ch->8ch (each "down":
     128 -> 2) -> ReLU -> global mean pool -> disc_final_fc -> 1.

Other resolutions 4 * 2^k (k <= 5): G up-samples in its first log2(s/4) blocks and keeps the
size in the rest (as the reference); D down-samples in its first log2(s/2) blocks and keeps the
last feature map at 2x2 (the reference kept pooling a 1x1 map with SAME padding; same
parameters, see docs/differences.md).
"""

import math
from typing import List

from compare_gan.architectures import base
from compare_gan.architectures import resnet_ops

_G_CHANNELS = (8, 8, 4, 4, 2, 1)  # multiples of ch: block i maps [i] -> [i + 1]
_D_CHANNELS = (1, 2, 4, 4, 8, 8)  # block i outputs [i] * ch; B0's input is the image
_SIZES = (4, 8, 16, 32, 64, 128)


def _check(image_shape):
  problem = base._Module.check_image_shape(image_shape)
  if problem:
    return problem
  if image_shape[0] not in _SIZES:
    return f"resnet19 supports sizes {_SIZES}"
  return None


class Generator(resnet_ops.ResNetGenerator):
  """ResNet19 generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def table(self) -> resnet_ops.GeneratorTable:
    channels = [self.ch(64 * m) for m in _G_CHANNELS]
    up_layers = int(math.log2(self.image_shape[0] // 4))
    return resnet_ops.GeneratorTable(4, [
        resnet_ops.BlockSpec(f"B{i + 1}", channels[i], channels[i + 1],
                             "up" if i < up_layers else "none")
        for i in range(5)])


class Discriminator(resnet_ops.ResNetDiscriminator):
  """ResNet19 discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def table(self) -> List[resnet_ops.BlockSpec]:
    channels = [self.image_shape[-1]] + [self.ch(64 * m) for m in _D_CHANNELS]
    down_layers = int(math.log2(self.image_shape[0] // 2))
    return [resnet_ops.BlockSpec(f"B{i}", channels[i], channels[i + 1],
                                 "down" if i < down_layers else "none")
            for i in range(6)]


ARCHITECTURE = base.register_architecture("resnet19", Generator, Discriminator)
