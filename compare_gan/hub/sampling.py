"""Sample grids, single PNGs and latent interpolations from a generator (`compare_gan sample`).

Works on any `modules.GeneratorModule` (ours or third-party) or a function `(z, labels) ->
images [B, H, W, C]` in [0, 1]. Latents are stateless draws from `seed`, so a seed always gives
the same PNG bytes. Conditional generators get labels `i % num_classes` (sample i, or row i of
an interpolation) unless given. Interpolation rows go from one latent to another in `steps`
columns (`latents.interpolation_latents`). `check_request` refuses, before any module loads,
what cannot be honoured as asked: no output, num < 1, columns < 1 or with an interpolation,
steps < 2, labels that cannot fit, an output path that is a directory (or a file for out_dir).
"""

import os
from typing import Callable, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from compare_gan import run_dir
from compare_gan.data import images as images_lib
from compare_gan.gans import latents


def choose_labels(count: int, num_classes: Optional[int],
                  labels: Optional[Sequence[int]] = None) -> Optional[np.ndarray]:
  """Labels for `count` samples (or rows): `labels` (one for all, or exactly `count`), else
  `i % num_classes`; None for an unconditional generator."""
  if num_classes is None:
    if labels:
      raise ValueError("labels were given but the generator is unconditional.")
    return None
  if labels:
    labels = list(labels)
    if len(labels) not in (1, count):
      raise ValueError(f"give 1 label or {count} labels (one per sample/row); got "
                       f"{len(labels)}.")
    bad = [l for l in labels if not 0 <= l < num_classes]
    if bad:
      raise ValueError(f"labels {bad} are outside [0, {num_classes}).")
    return np.resize(np.asarray(labels, np.int32), count)
  return (np.arange(count) % num_classes).astype(np.int32)


def generate(generator: Callable, z: tf.Tensor, labels: Optional[np.ndarray],
             batch_size: int = 64) -> np.ndarray:
  """Images [N, H, W, C] for z [N, z_dim], in batches; checks they are images."""
  out = []
  for start in range(0, int(z.shape[0]), batch_size):
    chunk = None if labels is None else tf.constant(labels[start:start + batch_size])
    out.append(np.asarray(generator(z[start:start + batch_size], chunk)))
  images = np.concatenate(out)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"the generator makes samples of shape {images.shape[1:]}, not images "
                     "[H, W, 1 or 3]; sampling writes PNG images.")
  return images


def _blocking_file(path: str) -> Optional[str]:
  """The existing file among the local parents of `path` that stops it being created, or None
  (remote paths are not walked: their writes fail on their own, later)."""
  if run_dir.is_remote(path):
    return None
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  return None if os.path.isdir(parent) else parent


def check_request(*, num: int, out: Optional[str], out_dir: Optional[str],
                  interpolate: bool, steps: int, columns: Optional[int],
                  labels: Optional[Sequence[int]] = None, flag: str = "") -> None:
  """Raises ValueError for a sampling request that cannot be honoured as asked, before any
  module is loaded. `flag` prefixes the names in the messages ("--" for the command line)."""
  if not out and not out_dir:
    raise ValueError(f"say where to write: {flag}out GRID.png (one grid) and/or {flag}out_dir "
                     "DIR (one PNG per sample).")
  if num < 1:
    raise ValueError(f"{flag}num {num}: give the number of samples (or interpolation rows), "
                     ">= 1.")
  if interpolate and steps < 2:
    raise ValueError(f"{flag}steps {steps}: an interpolation row needs >= 2 images, its two "
                     "ends.")
  if columns is not None:
    if interpolate:
      raise ValueError(f"{flag}columns does not apply with {flag}interpolate: each grid row is "
                       f"one interpolation of {flag}steps images.")
    if columns < 1:
      raise ValueError(f"{flag}columns {columns}: give >= 1 grid columns, or leave it out for "
                       "ceil(sqrt(num)).")
  if labels:
    if len(labels) not in (1, num):
      raise ValueError(f"{flag}labels: give 1 label or {num} (one per sample/row); got "
                       f"{len(labels)}.")
    if min(labels) < 0:
      raise ValueError(f"{flag}labels {min(labels)}: class ids are >= 0.")
  if out and out_dir and os.path.abspath(out) == os.path.abspath(out_dir):
    raise ValueError(f"{flag}out and {flag}out_dir are both {out}; give a grid file and a "
                     "directory.")
  if out and tf.io.gfile.isdir(out):
    raise ValueError(f"{flag}out {out} is an existing directory; give a PNG file path such as "
                     f"{os.path.join(out, 'grid.png')} (or use {flag}out_dir for one PNG each).")
  if out_dir and tf.io.gfile.exists(out_dir) and not tf.io.gfile.isdir(out_dir):
    raise ValueError(f"{flag}out_dir {out_dir} is an existing file; give a directory.")
  for name, path in ((f"{flag}out", out), (f"{flag}out_dir", out_dir)):
    blocking = _blocking_file(path) if path else None
    if blocking:
      raise ValueError(f"{name} {path} cannot be created: {blocking} is a file, not a "
                       "directory.")


def sample_to_files(generator, *, num: int, seed: int, out: Optional[str] = None,
                    out_dir: Optional[str] = None, labels: Optional[Sequence[int]] = None,
                    interpolate: bool = False, steps: int = 8, columns: Optional[int] = None,
                    z_distribution: Optional[latents.LatentDistribution] = None,
                    log: Callable[[str], None] = print) -> List[str]:
  """Draws `num` samples (or `num` interpolation rows of `steps` images) from `generator`
  (a loaded module: z_dim, z_distribution, num_classes attributes) and writes a grid PNG to
  `out` (`columns` wide, default ceil(sqrt(num)); `steps` when interpolating) and/or one PNG
  per image to `out_dir` (`000000.png` ...). Returns the paths written.

  Raises:
    ValueError: `check_request` refuses the arguments, or the labels do not fit the module.
  """
  check_request(num=num, out=out, out_dir=out_dir, interpolate=interpolate, steps=steps,
                columns=columns, labels=labels)
  dist = z_distribution or generator.z_distribution
  conditional = bool(getattr(generator, "conditional", False))
  num_classes = getattr(generator, "num_classes", None) if conditional else None
  if conditional and num_classes is None:
    if not labels:
      raise ValueError("the generator is conditional but its number of classes is unknown "
                       "(a third-party module): give num_classes or labels.")
    num_classes = max(labels) + 1
  if interpolate:
    z = latents.interpolation_latents(dist, generator.z_dim, num, steps, seed)
    row_labels = choose_labels(num, num_classes, labels)
    sample_labels = None if row_labels is None else np.repeat(row_labels, steps)
    columns = steps
  else:
    z = latents.sample_latents(dist, generator.z_dim, num, seed)
    sample_labels = choose_labels(num, num_classes, labels)
  images = generate(generator, z, sample_labels)
  written = []
  if out:
    images_lib.write_png(out, images_lib.make_grid(images, columns))
    written.append(out)
  if out_dir:
    for i, image in enumerate(images):
      path = os.path.join(out_dir, f"{i:06d}.png")
      images_lib.write_png(path, image)
      written.append(path)
  log(f"wrote {len(images)} {'interpolated ' if interpolate else ''}samples (seed {seed}, z "
      f"{dist.kind}) to " + " and ".join(p for p in (out, out_dir) if p))
  return written
