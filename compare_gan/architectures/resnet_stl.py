"""ResNet-STL: SNGAN's STL-10 ResNet (Miyato et al., ICLR'18, Table 5; reference `resnet_stl.py`).

With ch = 64 * width, at 48x48 (the reference's only size):
  G: z -> fc_noise 6*6*8ch (never SN) -> B1 8ch->4ch, B2 4ch->2ch, B3 2ch->ch (each "up":
     6 -> 48) -> G.batch_norm_fn (final_norm) -> ReLU -> conv3x3 final_conv -> C (never SN)
     -> sigmoid.
  D: B0 C->ch, B1 ch->2ch, B2 2ch->4ch, B3 4ch->8ch (each "down": 48 -> 3), B4 8ch->16ch
     ("none", at 3x3) -> ReLU -> global mean pool -> disc_final_fc -> 1 (SN with
     D.spectral_norm).
At width 1 and z_dim 128, G has 6,251,523 trainable parameters without normalisation
(6,254,339 with plain BN), D 25,114,817.

The reference generator is fixed at 48x48 (its seed is 6x6); here any square size s divisible by
16 works: G starts at s/8 and D's four down-samplings halve s exactly, so 48x48 is unchanged.
The reference names the final normaliser `batch_norm` (its scope is dropped); here it is
`final_norm`, as in resnet19 and resnet_cifar.
"""

from typing import List

from compare_gan.architectures import base
from compare_gan.architectures import resnet_ops

_G_CHANNELS = (512, 256, 128, 64)         # B1..B3 map [i] -> [i + 1]
_D_CHANNELS = (64, 128, 256, 512, 1024)   # B0..B4 outputs; B0's input is the image


def _check(image_shape):
  problem = base._Module.check_image_shape(image_shape)
  if problem:
    return problem
  if image_shape[0] % 16:
    return "resnet_stl needs a size divisible by 16 (48 in the reference)"
  return None


class Generator(resnet_ops.ResNetGenerator):
  """ResNet-STL generator; see the module docstring."""

  check_image_shape = staticmethod(_check)
  end_layers_spectral_norm = False

  def table(self) -> resnet_ops.GeneratorTable:
    channels = [self.ch(c) for c in _G_CHANNELS]
    return resnet_ops.GeneratorTable(self.image_shape[0] // 8, [
        resnet_ops.BlockSpec(f"B{i + 1}", channels[i], channels[i + 1], "up")
        for i in range(3)])


class Discriminator(resnet_ops.ResNetDiscriminator):
  """ResNet-STL discriminator; see the module docstring."""

  check_image_shape = staticmethod(_check)

  def table(self) -> List[resnet_ops.BlockSpec]:
    channels = [self.image_shape[-1]] + [self.ch(c) for c in _D_CHANNELS]
    return [resnet_ops.BlockSpec(f"B{i}", channels[i], channels[i + 1],
                                 "down" if i < 4 else "none")
            for i in range(5)]


ARCHITECTURE = base.register_architecture("resnet_stl", Generator, Discriminator)
