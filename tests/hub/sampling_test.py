"""Sample grids, latents, interpolation paths and labels (compare_gan/hub/sampling.py,
compare_gan/gans/latents.py), checked against hand-built arrays; `compare_gan sample` refuses
bad arguments in one line, exit 2, before it loads the module."""

import os

import numpy as np
import pytest
import tensorflow as tf

from compare_gan import cli
from compare_gan.gans import latents
from compare_gan.hub import modules
from compare_gan.hub import sampling

UNIFORM = latents.LatentDistribution("uniform")
NORMAL = latents.LatentDistribution("normal")


def test_latents_are_a_pure_function_of_the_seed():
  a = latents.sample_latents(UNIFORM, 6, 4, seed=7).numpy()
  np.testing.assert_array_equal(a, latents.sample_latents(UNIFORM, 6, 4, seed=7).numpy())
  assert not np.allclose(a, latents.sample_latents(UNIFORM, 6, 4, seed=8).numpy())
  assert a.shape == (4, 6) and -1 <= a.min() and a.max() < 1


@pytest.mark.parametrize("dist", [UNIFORM, NORMAL])
def test_interpolation_rows_run_from_one_latent_to_another(dist):
  rows, steps = 3, 5
  z = latents.interpolation_latents(dist, 4, rows, steps, seed=1).numpy().reshape(
      rows, steps, 4)
  a, b = z[:, 0], z[:, -1]
  assert not np.allclose(a, b)
  for k, t in enumerate(np.linspace(0, 1, steps)):
    linear = (1 - t) * a + t * b
    if dist.kind == "normal":  # variance-preserving: ((1-t)A + tB) / sqrt(t^2 + (1-t)^2)
      linear = linear / np.sqrt(t ** 2 + (1 - t) ** 2)
    np.testing.assert_allclose(z[:, k], linear, rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="steps >= 2"):
    latents.interpolation_latents(dist, 4, rows, 1, seed=1)


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


def test_columns_shape_the_grid_and_are_checked(tmp_path):
  grid = str(tmp_path / "g.png")
  sampling.sample_to_files(_Toy(), num=5, seed=0, out=grid, columns=2, log=lambda s: None)
  assert tf.io.decode_png(tf.io.read_file(grid)).numpy().shape == (2 + 3 * 6, 2 + 2 * 6, 3)
  for columns in (0, -3):  # 0 used to fall back to ceil(sqrt(num)) without a word
    with pytest.raises(ValueError, match=f"columns {columns}: give >= 1"):
      sampling.sample_to_files(_Toy(), num=5, seed=0, out=grid, columns=columns)
  with pytest.raises(ValueError, match="columns does not apply with interpolate"):
    sampling.sample_to_files(_Toy(), num=2, seed=0, out=grid, columns=3, interpolate=True)


# (arguments after --module, what the one line says): all refused before the module loads.
REFUSED = {
    "columns 0": (["--out", "{t}/g.png", "--columns", "0"], "--columns 0: give >= 1"),
    "columns -3": (["--out", "{t}/g.png", "--columns", "-3"], "--columns -3: give >= 1"),
    "num 0": (["--out", "{t}/g.png", "--num", "0"], "--num 0: give the number of samples"),
    "num -2": (["--out", "{t}/g.png", "--num", "-2", "--interpolate"], "--num -2: give"),
    "steps 1": (["--out", "{t}/g.png", "--interpolate", "--steps", "1"],
                "--steps 1: an interpolation row needs >= 2 images"),
    "columns and interpolate": (["--out", "{t}/g.png", "--interpolate", "--columns", "4"],
                                "--columns does not apply with --interpolate"),
    "negative label": (["--out", "{t}/g.png", "--labels", "-1"], "--labels -1: class ids"),
    "labels per sample": (["--out", "{t}/g.png", "--num", "3", "--labels", "1,2"],
                          "--labels: give 1 label or 3 (one per sample/row); got 2"),
    "num_classes 0": (["--out", "{t}/g.png", "--num_classes", "0"], "--num_classes 0: a "),
    "out is a directory": (["--out", "{t}/taken"],
                           "--out {t}/taken is an existing directory; give a PNG file path "
                           "such as {t}/taken/grid.png"),
    "out_dir is a file": (["--out_dir", "{t}/file.txt"],
                          "--out_dir {t}/file.txt is an existing file; give a directory"),
    "out under a file": (["--out", "{t}/file.txt/g.png"],
                         "--out {t}/file.txt/g.png cannot be created: {t}/file.txt is a file"),
    "out is out_dir": (["--out", "{t}/same", "--out_dir", "{t}/same"],
                       "--out and --out_dir are both {t}/same"),
    "nowhere": ([], "say where to write: --out GRID.png"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_sample_arguments_are_refused_before_loading(case, tmp_path, capsys, monkeypatch):
  argv, says = REFUSED[case]
  (tmp_path / "taken").mkdir()
  (tmp_path / "file.txt").write_text("mine")
  before = sorted(os.listdir(tmp_path))
  monkeypatch.setattr(modules, "load_module", lambda *a, **k: pytest.fail("loaded a module"))
  code = cli.main(["sample", "--module", str(tmp_path / "module")]
                  + [a.format(t=tmp_path) for a in argv])
  assert code == 2
  (line,) = capsys.readouterr().err.strip().splitlines()
  assert line.startswith("compare_gan sample: " + says.format(t=tmp_path)), line
  assert sorted(os.listdir(tmp_path)) == before and os.listdir(tmp_path / "taken") == []
