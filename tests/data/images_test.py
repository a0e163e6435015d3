"""The image grid, the scatter picture and uint8 conversion (compare_gan/data/images.py), against
hand-built arrays."""

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


def test_scatter_picture_puts_a_dot_per_point_with_y_up():
  # size 11: x maps to column round(10 x), y to row round(10 (1 - y)).
  points = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 0.82], [1.7, -3.0]])
  picture = images_lib.scatter_picture(points, size=11)
  assert picture.shape == (11, 11, 3)
  expected = np.ones((11, 11, 3))
  expected[9:11, 0:2] = 0.2     # (0, 0): bottom left, the dot cut by the border
  expected[4:7, 4:7] = 0.2      # (0.5, 0.5): the centre pixel (5, 5) and its 8 neighbours
  expected[1:4, 9:11] = 0.2     # (1, 0.82): row round(1.8) = 2, the right border
  expected[9:11, 9:11] = 0.2    # (1.7, -3) is clipped to the bottom right corner
  np.testing.assert_array_equal(picture, expected)


def test_scatter_picture_shades_from_blue_to_red_later_points_on_top():
  points = np.array([[0.5, 0.5], [0.5, 0.5], [0.0, 1.0]])
  picture = images_lib.scatter_picture(points, shades=np.array([0.0, 0.5, 1.0]), size=5)
  # Points 0 and 1 share pixel (2, 2): the later one (shade 0.5) is drawn on top.
  np.testing.assert_allclose(picture[2, 2], [0.5, 0.15, 0.5])
  np.testing.assert_allclose(picture[0, 0], [1.0, 0.1, 0.0])  # shade 1: red, top left
  np.testing.assert_array_equal(picture[4, 4], [1.0, 1.0, 1.0])  # untouched: white
