"""Sample galleries (compare_gan/report/galleries.py) of a tiny triangles run trained with EMA:
sizes, determinism, EMA against raw weights, the interpolation's ends, gin isolation, and
`compare_gan eval --gallery`."""

import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan import data
from compare_gan import run_dir
from compare_gan.gans import inference as inference_lib
from compare_gan.gans import latents
from compare_gan.report import galleries

import cli_harness as harness  # tests/: pytest puts it on sys.path.

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TRIANGLES = os.path.join(ROOT, "configs", "examples", "triangles_sndcgan.gin")
# EMA with decay 0.5 from step 0, so after 4 steps the EMA weights differ from the raw ones;
# orthogonal kernels, so that this barely trained G's samples depend visibly on z.
TINY = ["weights.initializer = 'orthogonal'", "G.width = 0.0625", "D.width = 0.0625",
        "ModularGAN.z_dim = 8", "train.batch_size = 8", "train.log_every_steps = 2",
        "train.save_checkpoints_steps = 2", "train.summary_every_steps = 2",
        "train.image_summary_every_steps = 1000", "ModularGAN.g_use_ema = True",
        "ModularGAN.ema_start_step = 0", "ModularGAN.ema_decay = 0.5"]
STEPS_TRAINED = 4  # Checkpoints at steps 2 and 4.
H = W = 28  # triangles: 28 x 28 x 1


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("gallery") / "run"
  assert harness.train(model_dir, STEPS_TRAINED, TRIANGLES, TINY) == 0
  gin.clear_config()
  return str(model_dir)


def _png(path) -> np.ndarray:
  return tf.io.decode_png(tf.io.read_file(path)).numpy()


def _bytes(path) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def _tile(picture, index, h=H, w=W, pad=2):
  """Tile `index` of a one-row grid (make_grid: `pad` pixels around and between tiles)."""
  left = pad + index * (w + pad)
  return picture[pad:pad + h, left:left + w]


def test_grid_and_strip_sizes_names_and_result(run, tmp_path):
  out = galleries.write_gallery(run, str(tmp_path), rows=3, cols=5, interpolation_steps=4,
                                prefix="best_")
  assert out == dict(grid=str(tmp_path / "best_gallery_step4.png"),
                     strip=str(tmp_path / "best_interpolation_step4.png"), step=4, ema=True)
  # 2 pixels of padding around and between tiles: rows * (H + 2) + 2 by cols * (W + 2) + 2.
  assert _png(out["grid"]).shape == (3 * (H + 2) + 2, 5 * (W + 2) + 2, 1)
  assert _png(out["strip"]).shape == (H + 4, 4 * (W + 2) + 2, 1)
  earlier = galleries.write_gallery(run, str(tmp_path), step=2, rows=1, cols=1)
  assert earlier["step"] == 2 and earlier["grid"].endswith("gallery_step2.png")
  with pytest.raises(run_dir.UsageError, match=r"step 3 .*available steps: \[2, 4\]"):
    galleries.write_gallery(run, str(tmp_path), step=3)
  with pytest.raises(config.ConfigError, match="interpolation_steps=1"):
    galleries.write_gallery(run, str(tmp_path), interpolation_steps=1)


def _generator_images(run, z_by_weights, step=4):
  """{use_ema: uint8 images of z} from the run's checkpoint, rebuilt here under its config.gin
  (one model for all)."""
  gin.clear_config()
  config.parse_gin([os.path.join(run, "config.gin")], [])
  info = data.get_dataset().info
  model = inference_lib.InferenceModel(info.image_shape, info.num_classes)
  model.restore(os.path.join(run, "checkpoints", f"ckpt-{step}"))
  out = {}
  for use_ema, z in z_by_weights.items():
    images = model.sample_fn(use_ema)(z, None).numpy()
    out[use_ema] = np.clip(np.floor(images * 255.0 + 0.5), 0, 255).astype(np.uint8)
  gin.clear_config()
  return out


def test_fixed_latents_the_ema_generator_and_the_interpolation_ends(run, tmp_path):
  steps = 5
  a = galleries.write_gallery(run, str(tmp_path / "a"), rows=1, cols=3,
                              interpolation_steps=steps)
  b = galleries.write_gallery(run, str(tmp_path / "b"), rows=1, cols=3,
                              interpolation_steps=steps)
  c = galleries.write_gallery(run, str(tmp_path / "c"), rows=1, cols=3, seed=7,
                              interpolation_steps=steps)
  raw = galleries.write_gallery(run, str(tmp_path / "raw"), rows=1, cols=3, use_ema=False,
                                interpolation_steps=steps)
  # Fixed latents: the same bytes again; another seed, other samples.
  for key in ("grid", "strip"):
    assert _bytes(a[key]) == _bytes(b[key])
    assert _bytes(a[key]) != _bytes(c[key])
  assert a["ema"] is True and raw["ema"] is False

  # The grid's tiles are G's samples of the sampling latents: EMA by default, else raw.
  z = latents.sample_latents(latents.LatentDistribution(), 8, 3, 0)
  # The interpolation's ends for seed 7, drawn as the seed tree says (uniform z on [-1, 1)).
  base = tf.constant([7, 0], tf.int64)
  ends = tf.concat([tf.random.stateless_uniform(
      [1, 8], latents.derive_seed(base, purpose), -1.0, 1.0)
                    for purpose in (latents.INTERPOLATION_START, latents.INTERPOLATION_END)], 0)
  images = _generator_images(run, {True: tf.concat([z, ends], 0), False: z})
  assert not np.array_equal(images[True][:3], images[False])  # the run's EMA weights differ
  for picture, expected in ((_png(a["grid"]), images[True]), (_png(raw["grid"]), images[False])):
    for i in range(3):
      np.testing.assert_array_equal(_tile(picture, i), expected[i])
  strip = _png(c["strip"])
  np.testing.assert_array_equal(_tile(strip, 0), images[True][3])
  np.testing.assert_array_equal(_tile(strip, steps - 1), images[True][4])
  middle = _tile(strip, steps // 2)
  assert not np.array_equal(middle, images[True][3])
  assert not np.array_equal(middle, images[True][4])


def test_each_call_uses_the_runs_config_alone_and_gives_the_callers_back(run, tmp_path):
  # A caller's binding that would break the run's model (another z_dim) must neither reach the
  # gallery nor be lost.
  gin.clear_config()
  config.parse_gin([], ["ModularGAN.z_dim = 3", "train.batch_size = 5"])
  before = gin.config_str()
  out = galleries.write_gallery(run, str(tmp_path), rows=1, cols=2)
  assert os.path.isfile(out["grid"])
  assert gin.config_str() == before


def test_importing_galleries_does_not_import_tensorflow():
  code = ("import sys; import compare_gan.report.galleries; "
          "print('tensorflow' in sys.modules)")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        cwd=ROOT, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip() == "False"


def test_eval_gallery_command(run, tmp_path, capsys):
  out_dir = tmp_path / "g"
  assert harness.run_cli("eval", "--model_dir", run, "--gallery", "--step", 2,
                         "--out_dir", out_dir) == 0
  printed = capsys.readouterr().out
  grid, strip = out_dir / "gallery_step2.png", out_dir / "interpolation_step2.png"
  assert f"wrote {grid}" in printed and f"wrote {strip}" in printed
  assert _png(str(grid)).shape == (8 * (H + 2) + 2, 8 * (W + 2) + 2, 1)
  assert _png(str(strip)).shape == (H + 4, 10 * (W + 2) + 2, 1)
  first = _bytes(grid)
  # An earlier gallery is not replaced without --force.
  assert harness.run_cli("eval", "--model_dir", run, "--gallery", "--step", 2,
                         "--out_dir", out_dir) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "--force" in err[0] and str(grid) in err[0]
  assert harness.run_cli("eval", "--model_dir", run, "--gallery", "--step", 2, "--out_dir", out_dir,
                         "--force", "--gin_bindings", "evaluation.use_ema = False") == 0
  assert "raw generator" in capsys.readouterr().out
  assert _bytes(grid) != first  # the raw weights drew it
  # The default place and --seed: what write_gallery draws with that seed.
  assert harness.run_cli("eval", "--model_dir", run, "--gallery", "--seed", 1) == 0
  api = galleries.write_gallery(run, str(tmp_path / "api"), seed=1)
  for key, name in (("grid", "gallery_step4.png"), ("strip", "interpolation_step4.png")):
    assert _bytes(os.path.join(run, "gallery", name)) == _bytes(api[key])
  # Flags of other modes are refused.
  assert harness.run_cli("eval", "--model_dir", run, "--gallery", "--tournament_samples", 8) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1] == ("compare_gan eval: --gallery does not take --tournament_samples; it takes "
                     "--seed, --step, --out_dir, --force and the gin flags.")
