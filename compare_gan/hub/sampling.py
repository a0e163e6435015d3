"""Sample grids, single PNGs and latent interpolations from a generator (`compare_gan sample`).

Works on any `modules.GeneratorModule` (ours or third-party) or a function `(z, labels) ->
images [B, H, W, C]` in [0, 1]. Latents are stateless draws from `seed`, so a seed always gives
the same PNG bytes. Conditional generators get labels `i % num_classes` (sample i, or row i of
an interpolation) unless given. Interpolation rows go from one latent to another in `steps`
columns (`latents.interpolation_latents`).
"""

import os
from typing import Callable, List, Optional, Sequence

import numpy as np
import tensorflow as tf

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


def sample_to_files(generator, *, num: int, seed: int, out: Optional[str] = None,
                    out_dir: Optional[str] = None, labels: Optional[Sequence[int]] = None,
                    interpolate: bool = False, steps: int = 8, columns: Optional[int] = None,
                    z_distribution: Optional[latents.LatentDistribution] = None,
                    log: Callable[[str], None] = print) -> List[str]:
  """Draws `num` samples (or `num` interpolation rows of `steps` images) from `generator`
  (a loaded module: z_dim, z_distribution, num_classes attributes) and writes a grid PNG to
  `out` and/or one PNG per image to `out_dir` (`000000.png` ...). Returns the paths written."""
  if not out and not out_dir:
    raise ValueError("say where to write: out (a grid PNG) and/or out_dir (one PNG each).")
  if num < 1:
    raise ValueError(f"num={num} must be >= 1.")
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
