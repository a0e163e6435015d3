"""Images to files and pictures: uint8 conversion, PNG writing and the one image-grid function
(used by `compare_gan sample`, the TensorBoard summaries and the report's galleries)."""

import math
import os
from typing import Optional

import numpy as np
import tensorflow as tf


def images_to_uint8(images: np.ndarray) -> np.ndarray:
  """Images in [0, 1] (any shape) to uint8: x * 255 rounded half up, clipped to [0, 255]."""
  return np.clip(np.floor(np.asarray(images, np.float64) * 255.0 + 0.5), 0, 255).astype(
      np.uint8)


def make_grid(images: np.ndarray, columns: Optional[int] = None, padding: int = 2,
              pad_value: float = 1.0) -> np.ndarray:
  """Tiles images [N, H, W, C] row by row into one image [rows*(H+p)+p, cols*(W+p)+p, C]
  (default columns: ceil(sqrt(N))), separated by `padding` pixels of `pad_value`."""
  images = np.asarray(images)
  if images.ndim != 4:
    raise ValueError(f"make_grid needs images [N, H, W, C]; got shape {images.shape}.")
  n, h, w, c = images.shape
  columns = columns or max(1, math.ceil(math.sqrt(n)))
  rows = math.ceil(n / columns)
  p = padding
  grid = np.full((rows * (h + p) + p, columns * (w + p) + p, c), pad_value, images.dtype)
  for i in range(n):
    r, col = divmod(i, columns)
    grid[p + r * (h + p):p + r * (h + p) + h, p + col * (w + p):p + col * (w + p) + w] = images[i]
  return grid


def write_png(path: str, image: np.ndarray) -> None:
  """Writes one image [H, W, C] in [0, 1] (C = 1 or 3) as PNG; creates the parent directory."""
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise ValueError(f"write_png needs an image [H, W, 1|3|4]; got shape {image.shape}.")
  parent = os.path.dirname(path)
  if parent:
    tf.io.gfile.makedirs(parent)
  tf.io.write_file(path, tf.io.encode_png(images_to_uint8(image)))
