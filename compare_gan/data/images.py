"""Images to files and pictures: uint8 conversion, PNG writing, the one image-grid function
and the one scatter picture of 2-D points (used by `compare_gan sample`, the TensorBoard
summaries and the galleries of `compare_gan eval --gallery` and the report)."""

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


SCATTER_SIZE = 256
SCATTER_DOT = 0.2  # The grey of an unshaded dot.
# Shades run from blue (0) to red (1), e.g. along an interpolation.
SCATTER_START, SCATTER_END = np.array([0.0, 0.2, 1.0]), np.array([1.0, 0.1, 0.0])


def scatter_picture(points: np.ndarray, shades: Optional[np.ndarray] = None,
                    size: int = SCATTER_SIZE) -> np.ndarray:
  """2-D points [N, 2] in [0, 1]^2 -> an RGB picture [size, size, 3] in [0, 1]: white, with a
  3 x 3 dot centred on each point's pixel (x to the right, y up: point (x, y) at row
  round((1 - y) (size - 1)), column round(x (size - 1)); points outside are clipped to the
  border), dark grey (SCATTER_DOT), or shaded from blue (0) to red (1) by `shades` [N]. Later
  points are drawn over earlier ones."""
  points = np.asarray(points, np.float64).reshape(len(points), -1)[:, :2]
  picture = np.ones((size, size, 3))
  cols = np.clip(np.round(points[:, 0] * (size - 1)), 0, size - 1).astype(int)
  rows = np.clip(np.round((1.0 - points[:, 1]) * (size - 1)), 0, size - 1).astype(int)
  if shades is None:
    colours = np.full((len(points), 3), SCATTER_DOT)
  else:
    s = np.asarray(shades, np.float64)[:, None]
    colours = (1.0 - s) * SCATTER_START + s * SCATTER_END
  for r, c, colour in zip(rows, cols, colours):
    picture[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = colour
  return picture


def write_png(path: str, image: np.ndarray) -> None:
  """Writes one image [H, W, C] in [0, 1] (C = 1 or 3) as PNG; creates the parent directory."""
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise ValueError(f"write_png needs an image [H, W, 1|3|4]; got shape {image.shape}.")
  parent = os.path.dirname(path)
  if parent:
    tf.io.gfile.makedirs(parent)
  tf.io.write_file(path, tf.io.encode_png(images_to_uint8(image)))
