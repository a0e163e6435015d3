"""Shared pieces of the DCGAN-family architectures (sndcgan, dcgan, infogan)."""

from typing import List

from compare_gan.architectures import base


def halvings(size: int, times: int) -> List[int]:
  """[size, ceil(size/2), ceil(size/4), ...] with `times` halvings (reference conv_out_size_same)."""
  sizes = [size]
  for _ in range(times):
    sizes.append(-(-sizes[-1] // 2))
  return sizes


def check_square_image(image_shape, min_size: int = 1):
  problem = base._Module.check_image_shape(image_shape)
  if problem:
    return problem
  if image_shape[0] < min_size:
    return f"needs images of at least {min_size}x{min_size}"
  return None
