"""SNGAN's CIFAR ResNet (Miyato et al., ICLR'18, Table 4; reference `resnet_cifar.py`).

With ch = width multiplier times the listed channels, at 32x32:
  G: z -> fc_noise 4*4*256 -> 3 "up" blocks 256 -> 256 (4 -> 32) -> BN(final_norm) -> ReLU
     -> conv3x3 -> C -> sigmoid. SN on every G kernel when G.spectral_norm.
  D: B1 C -> 128 down, B2 128 -> 128 down, B3 and B4 128 -> 128 -> ReLU -> global mean pool
     -> disc_final_fc -> 1 (+ projection when D.project_y). 13 weight layers.
The reference accepts 32x32 only; here any square size divisible by 8 works (G starts at s/8).
"""

from typing import List

from compare_gan.architectures import base
from compare_gan.architectures import resnet_ops


def _check(image_shape):
  problem = base._Module.check_image_shape(image_shape)
  if problem:
    return problem
  if image_shape[0] % 8 or image_shape[0] < 8:
    return "resnet_cifar needs a size divisible by 8 (32 in the reference)"
  return None


class Generator(resnet_ops.ResNetGenerator):
  """SNGAN CIFAR generator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def table(self) -> resnet_ops.GeneratorTable:
    ch = self.ch(256)
    return resnet_ops.GeneratorTable(self.image_shape[0] // 8, [
        resnet_ops.BlockSpec(f"B{i}", ch, ch, "up") for i in (1, 2, 3)])


class Discriminator(resnet_ops.ResNetDiscriminator):
  """SNGAN CIFAR discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def table(self) -> List[resnet_ops.BlockSpec]:
    ch = self.ch(128)
    return [
        resnet_ops.BlockSpec("B1", self.image_shape[-1], ch, "down"),
        resnet_ops.BlockSpec("B2", ch, ch, "down"),
        resnet_ops.BlockSpec("B3", ch, ch, "none"),
        resnet_ops.BlockSpec("B4", ch, ch, "none"),
    ]


ARCHITECTURE = base.register_architecture("resnet_cifar", Generator, Discriminator)
