"""Sample galleries of a run: one grid of samples and one interpolation strip from a checkpoint
(the report's galleries of each setting's best trial; `compare_gan eval --gallery`).

`write_gallery(model_dir, out_dir)` rebuilds the run's model under the run's own config.gin, in
a clean gin state (the caller's gin config is put back afterwards, so a report can draw the
galleries of many trials, each under its own config, in one process), restores the checkpoint
of `step` (default: the newest) and writes two PNGs into out_dir:

  <prefix>gallery_step<step>.png        rows x cols samples of fixed latents (seed `seed`),
                                        tiled row by row by `data.images.make_grid`: 2 pixels
                                        of white padding around and between the samples, so
                                        [rows * (H + 2) + 2, cols * (W + 2) + 2, C]
  <prefix>interpolation_step<step>.png  one row of `interpolation_steps` samples going from one
                                        fixed latent to another, with the same padding

The latents are those `compare_gan sample --seed S` draws from an export of the same weights
(`latents.sample_latents`, `latents.interpolation_latents`): the same seed gives the same
PNG bytes. The interpolation is linear between the two latents for a uniform z (a straight
line stays inside the cube); for a normal z it is the linear path rescaled by
1 / sqrt(t^2 + (1 - t)^2), which keeps N(0, 1) marginals (not slerp). The z distribution is
the evaluation's (`eval_z`, else the training z). A conditional model's grid cycles through
the classes (sample i has label i % num_classes); the strip uses class 0. The generator is the
EMA copy when the run has one (unless use_ema=False), with batch-norm statistics as evaluation
sets them (accumulated with the `evaluation.*` seed when the run uses accumulated statistics).

Runs on 2-D point data (ring8, grid25) have no images: the "grid" is then the scatter picture
of the rows x cols samples (`data.images.scatter_picture`, as TensorBoard shows the run's
samples: 256 x 256, one dark 3 x 3 dot per point, y up), and the strip a scatter of the
interpolation's points shaded from blue (start) to red (end).

This module imports TensorFlow only inside its functions: the report imports it without
paying for TensorFlow until it draws a gallery. The run's checkpoints are listed by
run_dir.checkpoint_at, the run-directory contract (report/ does not import training/).
"""

import os
from typing import Dict, Optional

import gin
import numpy as np

from compare_gan import config
from compare_gan import run_dir

def gallery_paths(out_dir: str, step: int, prefix: str = "") -> Dict[str, str]:
  """{"grid": path, "strip": path} of the gallery of `step` in out_dir."""
  return {"grid": os.path.join(out_dir, f"{prefix}gallery_step{step}.png"),
          "strip": os.path.join(out_dir, f"{prefix}interpolation_step{step}.png")}


def write_gallery(model_dir: str, out_dir: str, *, step: Optional[int] = None, seed: int = 0,
                  rows: int = 8, cols: int = 8, interpolation_steps: int = 10,
                  use_ema: Optional[bool] = None, prefix: str = "") -> dict:
  """Writes the gallery of one checkpoint of the run in `model_dir`, built under the run's
  config.gin alone (see the module docstring); the caller's gin config is restored after.

  Returns:
    {"grid": PNG path, "strip": PNG path, "step": the checkpoint's step, "ema": whether the EMA
    generator drew them}.

  Raises:
    FileNotFoundError: model_dir has no config.gin or no checkpoints.
    run_dir.UsageError: no checkpoint of `step`.
    ConfigError: use_ema=True for a run without EMA, bad sizes.
  """
  run_config = os.path.join(model_dir, run_dir.CONFIG)
  if not os.path.isfile(run_config) and not run_dir.is_remote(run_config):
    raise FileNotFoundError(f"{run_config} does not exist; a gallery needs a run directory "
                            "written by `compare_gan train`.")
  previous = gin.config_str()
  gin.clear_config()
  try:
    config.parse_gin([run_config], [])
    return render_gallery(model_dir, out_dir, step=step, seed=seed, rows=rows, cols=cols,
                          interpolation_steps=interpolation_steps, use_ema=use_ema,
                          prefix=prefix)
  finally:
    gin.clear_config()
    if previous.strip():
      gin.parse_config(previous)


def render_gallery(model_dir: str, out_dir: str, *, step: Optional[int] = None, seed: int = 0,
                   rows: int = 8, cols: int = 8, interpolation_steps: int = 10,
                   use_ema: Optional[bool] = None, prefix: str = "") -> dict:
  """`write_gallery` under the gin config already parsed (the run's config.gin and whatever
  the caller added, e.g. `compare_gan eval --gallery --gin_bindings ...`)."""
  # pylint: disable=import-outside-toplevel
  import tensorflow as tf
  from compare_gan import data
  from compare_gan.data import images as images_lib
  from compare_gan.gans import inference as inference_lib
  from compare_gan.gans import latents
  from compare_gan.hub import sampling
  from compare_gan.metrics import protocol as protocol_lib
  # pylint: enable=import-outside-toplevel
  for name, value, least in (("rows", rows, 1), ("cols", cols, 1),
                             ("interpolation_steps", interpolation_steps, 2)):
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
      raise config.ConfigError(f"gallery {name}={value!r} must be an integer >= {least}.")
  step, checkpoint = run_dir.checkpoint_at(model_dir, step)

  info = data.get_dataset().info
  inference = inference_lib.InferenceModel(info.image_shape, info.num_classes)
  model = inference.model
  use_ema = inference.resolve_use_ema(use_ema, "use_ema")
  inference.restore(checkpoint)
  dist = latents.eval_latent_distribution() or model.z
  if inference.accumulating_standardizers(use_ema):
    p = protocol_lib.evaluation_protocol()
    inference.accumulate_bn_statistics(use_ema, dist, samples=p.bn_accumulation_samples,
                                       batch_size=p.batch_size, seed=p.seed)
  sample = inference.sample_fn(use_ema)

  z = latents.sample_latents(dist, model.z_dim, rows * cols, seed)
  labels = sampling.choose_labels(rows * cols, model.num_classes)
  z_strip = latents.interpolation_latents(dist, model.z_dim, 1, interpolation_steps, seed)
  strip_labels = sampling.choose_labels(1, model.num_classes)
  if strip_labels is not None:
    strip_labels = np.repeat(strip_labels, interpolation_steps)
  # Grid and strip in one call: one trace of G's function per gallery.
  all_z = tf.concat([z, z_strip], 0)
  all_labels = None if labels is None else np.concatenate([labels, strip_labels])
  total = rows * cols + interpolation_steps
  paths = gallery_paths(out_dir, step, prefix)
  if len(info.image_shape) == 1:  # 2-D points: scatter pictures.
    points = np.asarray(sample(all_z, None if all_labels is None else tf.constant(all_labels)))
    images_lib.write_png(paths["grid"], images_lib.scatter_picture(points[:rows * cols]))
    shades = np.linspace(0.0, 1.0, interpolation_steps)
    images_lib.write_png(paths["strip"],
                         images_lib.scatter_picture(points[rows * cols:], shades))
  else:
    images = sampling.generate(sample, all_z, all_labels, batch_size=total)
    images_lib.write_png(paths["grid"], images_lib.make_grid(images[:rows * cols], cols))
    images_lib.write_png(paths["strip"], images_lib.make_grid(images[rows * cols:],
                                                              interpolation_steps))
  return dict(grid=paths["grid"], strip=paths["strip"], step=int(step), ema=bool(use_ema))
