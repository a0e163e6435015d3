"""The image grid and uint8 conversion (compare_gan/data/images.py), against hand-built arrays."""

import numpy as np
import pytest

from compare_gan.data import images as images_lib


def test_make_grid_places_images_row_by_row():
  images = np.stack([np.full((2, 3, 1), i / 10, np.float32) for i in range(5)])
  grid = images_lib.make_grid(images, columns=2, padding=1, pad_value=-1.0)
  assert grid.shape == (1 + 3 * 3, 1 + 2 * 4, 1)
  for i in range(5):
    r, c = divmod(i, 2)
    np.testing.assert_array_equal(grid[1 + 3 * r:3 + 3 * r, 1 + 4 * c:4 + 4 * c], images[i])
  assert np.all(grid[7:9, 5:8] == -1.0)  # the empty sixth cell stays padding
  assert np.all(grid[0] == -1.0) and np.all(grid[:, 0] == -1.0)
  assert images_lib.make_grid(images).shape == (2 + 2 * 4, 2 + 3 * 5, 1)  # ceil(sqrt(5)) = 3
  with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
    images_lib.make_grid(np.zeros((2, 3)))


def test_images_to_uint8_rounds_and_clips():
  x = np.array([-0.5, 0.0, 0.6 / 255, 0.4 / 255, 0.5, 1.0, 2.0])
  np.testing.assert_array_equal(images_lib.images_to_uint8(x), [0, 0, 1, 0, 128, 255, 255])
