"""Shared pieces of the DCGAN-family architectures (sndcgan, dcgan, infogan).

`DeconvGenerator` is the generator body of sndcgan and dcgan, driven by a `GeneratorTable`:

  z -> fc [B, s0*s0*C0] -> BN -> ReLU -> reshape [B, s0, s0, C0]     (norm_before_reshape)
  z -> fc [B, s0*s0*C0] -> reshape [B, s0, s0, C0] -> BN -> ReLU     (otherwise)
    -> (deconv -> BN -> ReLU) for every deconv but the last -> deconv [B, s, s, C] -> output

where s0 is the image side s halved (rounding up) `halvings` times and every stride-2 deconv
undoes one halving. Where the first BN sits is each reference's choice and changes the model:
before the reshape it normalises each of the s0*s0*C0 units with its own statistics and
gamma/beta (SNDCGAN, v2 `sn_generator` and v3 `sndcgan.py`); after it, each of the C0 channels
(DCGAN). infogan's generator (two fcs, lrelu) is not of this shape and keeps its own body.
"""

import dataclasses
from typing import Callable, List, Optional, Sequence, Tuple

import tensorflow as tf

from compare_gan.architectures import base
from compare_gan.architectures import ops


def halvings(size: int, times: int) -> List[int]:
  """[size, ceil(size/2), ceil(size/4), ...] with `times` halvings (reference conv_out_size_same)."""
  sizes = [size]
  for _ in range(times):
    sizes.append(-(-sizes[-1] // 2))
  return sizes


def check_square_image(image_shape: Sequence[int], min_size: int = 1,
                       multiple_of: int = 1) -> Optional[str]:
  """Why `image_shape` [H, W, C] is unsupported (not square, H < min_size, H not a multiple of
  `multiple_of`), or None."""
  problem = base._Module.check_image_shape(image_shape)
  if problem:
    return problem
  if image_shape[0] < min_size:
    return f"needs images of at least {min_size}x{min_size}"
  if image_shape[0] % multiple_of:
    return f"needs a size divisible by {multiple_of}"
  return None


@dataclasses.dataclass(frozen=True)
class DeconvSpec:
  """One transposed convolution of a `GeneratorTable`.

  `channels` is scaled by G.width; None means the image's channel count (the last deconv).
  """
  channels: Optional[int]
  kernel: int
  stride: int
  name: str


@dataclasses.dataclass(frozen=True)
class GeneratorTable:
  """The layer table of a `DeconvGenerator`.

  Attributes:
    halvings: how many times the image side is halved (rounding up) to get the seed side s0;
      the deconvs' stride-2 layers undo exactly these halvings.
    seed_channels: C0 before G.width scaling.
    fc_name: name of the z -> seed linear layer.
    norm_before_reshape: True: the first normaliser sees the fc output [B, s0*s0*C0] (one
      statistic and gamma/beta per unit); False: the reshaped seed [B, s0, s0, C0] (per channel).
    bn_names: one normaliser per ReLU: after the fc and after every deconv but the last.
    deconvs: the transposed convolutions in order; strides are 1 or 2.
    output: maps the last deconv's float32 output [B, s, s, C] to images in [0, 1]; each
      architecture keeps its reference's spelling of it.
  """
  halvings: int
  seed_channels: int
  fc_name: str
  norm_before_reshape: bool
  bn_names: Tuple[str, ...]
  deconvs: Tuple[DeconvSpec, ...]
  output: Callable[[tf.Tensor], tf.Tensor]

  def __post_init__(self):
    if len(self.bn_names) != len(self.deconvs):
      raise ValueError(f"{len(self.deconvs)} deconvs need {len(self.deconvs)} normalisers (one "
                       f"after the fc, one after each deconv but the last); got {self.bn_names}.")
    strides = [d.stride for d in self.deconvs]
    if any(s not in (1, 2) for s in strides) or strides.count(2) != self.halvings:
      raise ValueError(f"Deconv strides {strides} must be 1 or 2 with {self.halvings} of 2 "
                       "(one per halving).")


class DeconvGenerator(base.Generator):
  """A DCGAN-family generator built from the subclass's `TABLE`; see the module docstring."""

  TABLE: GeneratorTable

  def __init__(self, image_shape: Sequence[int], **kwargs):
    super().__init__(image_shape, **kwargs)
    table = self.TABLE
    sn = self.options.spectral_norm
    sizes = halvings(self.image_shape[0], table.halvings)
    seed = sizes[-1]
    self.seed_shape = [seed, seed, self.ch(table.seed_channels)]
    self.fc = ops.Linear(seed * seed * self.ch(table.seed_channels), use_sn=sn,
                         name=table.fc_name)
    self.bns = [self.norm(name) for name in table.bn_names]
    deconvs = []
    # Walk back up `sizes`: a stride-2 deconv undoes one halving, a stride-1 one keeps the size.
    level = table.halvings
    for spec in table.deconvs:
      if spec.stride == 2:
        level -= 1
      channels = self.image_shape[-1] if spec.channels is None else self.ch(spec.channels)
      deconvs.append(ops.Deconv2D(channels, (sizes[level], sizes[level]), spec.kernel,
                                  spec.stride, use_sn=sn, name=spec.name))
    self.deconvs = deconvs

  def generate(self, z: tf.Tensor, y: Optional[tf.Tensor], training) -> tf.Tensor:
    """z [B, z_dim] (y [B, K] for conditional normalisers) -> images [B, s, s, C] in [0, 1]."""
    h = self.fc(z, training=training)
    if self.TABLE.norm_before_reshape:
      h = tf.reshape(tf.nn.relu(self.bns[0](h, z=z, y=y, training=training)),
                     [-1] + self.seed_shape)
    else:
      h = tf.nn.relu(self.bns[0](tf.reshape(h, [-1] + self.seed_shape), z=z, y=y,
                                 training=training))
    for deconv, bn in zip(self.deconvs[:-1], self.bns[1:]):
      h = tf.nn.relu(bn(deconv(h, training=training), z=z, y=y, training=training))
    h = tf.cast(self.deconvs[-1](h, training=training), tf.float32)
    return self.TABLE.output(h)
