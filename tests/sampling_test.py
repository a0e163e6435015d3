"""Sample grids, latents, interpolation paths and labels (compare_gan/sampling.py), checked
against hand-built arrays."""

import numpy as np
import pytest
import tensorflow as tf

from compare_gan import sampling
from compare_gan.gans import modular_gan

UNIFORM = modular_gan.LatentDistribution("uniform")
NORMAL = modular_gan.LatentDistribution("normal")


def test_make_grid_places_images_row_by_row():
  images = np.stack([np.full((2, 3, 1), i / 10, np.float32) for i in range(5)])
  grid = sampling.make_grid(images, columns=2, padding=1, pad_value=-1.0)
  assert grid.shape == (1 + 3 * 3, 1 + 2 * 4, 1)
  for i in range(5):
    r, c = divmod(i, 2)
    np.testing.assert_array_equal(grid[1 + 3 * r:3 + 3 * r, 1 + 4 * c:4 + 4 * c], images[i])
  assert np.all(grid[7:9, 5:8] == -1.0)  # the empty sixth cell stays padding
  assert np.all(grid[0] == -1.0) and np.all(grid[:, 0] == -1.0)
  assert sampling.make_grid(images).shape == (2 + 2 * 4, 2 + 3 * 5, 1)  # ceil(sqrt(5)) = 3
  with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
    sampling.make_grid(np.zeros((2, 3)))


def test_images_to_uint8_rounds_and_clips():
  x = np.array([-0.5, 0.0, 0.6 / 255, 0.4 / 255, 0.5, 1.0, 2.0])
  np.testing.assert_array_equal(sampling.images_to_uint8(x), [0, 0, 1, 0, 128, 255, 255])


def test_latents_are_a_pure_function_of_the_seed():
  a = sampling.sample_latents(UNIFORM, 6, 4, seed=7).numpy()
  np.testing.assert_array_equal(a, sampling.sample_latents(UNIFORM, 6, 4, seed=7).numpy())
  assert not np.allclose(a, sampling.sample_latents(UNIFORM, 6, 4, seed=8).numpy())
  assert a.shape == (4, 6) and -1 <= a.min() and a.max() < 1


@pytest.mark.parametrize("dist", [UNIFORM, NORMAL])
def test_interpolation_rows_run_from_one_latent_to_another(dist):
  rows, steps = 3, 5
  z = sampling.interpolation_latents(dist, 4, rows, steps, seed=1).numpy().reshape(
      rows, steps, 4)
  a, b = z[:, 0], z[:, -1]
  assert not np.allclose(a, b)
  for k, t in enumerate(np.linspace(0, 1, steps)):
    linear = (1 - t) * a + t * b
    if dist.kind == "normal":  # variance-preserving: ((1-t)A + tB) / sqrt(t^2 + (1-t)^2)
      linear = linear / np.sqrt(t ** 2 + (1 - t) ** 2)
    np.testing.assert_allclose(z[:, k], linear, rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="steps >= 2"):
    sampling.interpolation_latents(dist, 4, rows, 1, seed=1)


def test_choose_labels():
  np.testing.assert_array_equal(sampling.choose_labels(5, 3), [0, 1, 2, 0, 1])
  np.testing.assert_array_equal(sampling.choose_labels(3, 10, [7]), [7, 7, 7])
  np.testing.assert_array_equal(sampling.choose_labels(2, 10, [4, 5]), [4, 5])
  assert sampling.choose_labels(4, None) is None
  with pytest.raises(ValueError, match="1 label or 3"):
    sampling.choose_labels(3, 10, [1, 2])
  with pytest.raises(ValueError, match=r"outside \[0, 10\)"):
    sampling.choose_labels(1, 10, [10])
  with pytest.raises(ValueError, match="unconditional"):
    sampling.choose_labels(1, None, [0])


class _Toy:
  """A conditional 'module': image brightness = label / 10, size from z."""
  z_dim, conditional, num_classes, z_distribution = 2, True, 10, UNIFORM

  def __call__(self, z, labels):
    value = tf.cast(labels, tf.float32)[:, None, None, None] / 10
    return tf.zeros([tf.shape(z)[0], 4, 4, 3]) + value


def test_sample_to_files_writes_grid_and_singles(tmp_path):
  written = sampling.sample_to_files(_Toy(), num=3, seed=0, out=str(tmp_path / "g.png"),
                                     out_dir=str(tmp_path / "s"), labels=[5, 6, 2],
                                     log=lambda s: None)
  assert len(written) == 4
  single = tf.io.decode_png(tf.io.read_file(str(tmp_path / "s" / "000002.png"))).numpy()
  assert single.shape == (4, 4, 3) and np.all(single == 51)  # 0.2 * 255
  with pytest.raises(ValueError, match="out"):
    sampling.sample_to_files(_Toy(), num=1, seed=0)
