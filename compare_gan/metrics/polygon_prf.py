"""Precision, recall and F1 on the convex polygons ("triangles", "squares").

"Are GANs Created Equal?" (Lucic et al., NeurIPS 2018, arXiv 1711.10337) proposes data sets on
which precision and recall can be computed, because FID cannot tell the two apart. Its text
could not be retrieved (created_equal.md section 5; neither compare_gan v1 nor v2 has the
code), so what follows is OUR definition, built on what is remembered of the paper: precision
from thresholded distances to the data manifold, recall by inverting G.

The manifold M. `data/synthetic.py` draws a polygon from n + 1 uniforms: vertex k at angle
`k*s + a/2 + t_k*(s - a/2) - u*2*pi` degrees (s = 360/n, a = 20; the reference's rotation of
`radians(u * 2*pi)`, a units slip) on a circle of diameter 0.75 * 28 moved so that the vertex
mean is the image centre, rendered at 8x8 sub-pixels. M is the closure of that map's image,
rendered by the dataset's own rasteriser: every real example lies on M (`PolygonFamily`).

Distance. d(x, y) = sqrt(mean over pixels (x - y)^2) (RMS, in [0, 1]). The distance of an image
x to M is d(x, render(P)) for the best-fitting member P: the nearest rendering on a 10-degree
grid of the angles, refined by Levenberg-Marquardt (`fit_polygons`). A local fit gives an upper
bound; on 1000 real triangles or squares it leaves d <= 0.007 (median < 0.001).

  precision = fraction of generated samples x with d(x, M) <= delta;
  recall    = fraction of held-out test polygons y with min_z d(G(z), y) <= delta, the minimum
              over every Adam iterate of `restarts` runs of `steps` steps from random z;
  F1        = 2 P R / (P + R) (0 when both are 0).

Why the dataset's family and not the convex hull of the thresholded sample: a hull fits any
blob, and a blank image or a dot would be at distance ~0 from "the convex polygons". In M only
the dataset's polygons are. delta = 0.08 sits between the images that keep a polygon's shape
and those that do not; measured d(x, M) (median; triangles / squares, 200 test polygons each):

  real: 0.000 (max 0.007)      pixel noise N(0, 0.05^2): 0.036    N(0, 0.1^2): 0.072
  blur (5-neighbour mean): 0.06      binarised at 0.5 (no anti-aliasing): 0.068 / 0.074
  drawn at scale 0.8 instead of 0.75: 0.061 / 0.099       shifted by one pixel: 0.12 / 0.14
  mean of two polygons: 0.14     blank image: 0.111 / 0.189    the other polygon kind: 0.26 / 0.20
  uniform noise: 0.56            black image: 0.90 / 0.84

Recall by inversion counts what G can draw for some z, however unlikely that z: the SNDCGAN of
configs/examples/triangles_sndcgan.gin after 2500 steps (its samples: triangles with bent
edges) scores precision 0.23 and recall 1.0 (1000 samples, 100 test polygons; 3 s and 31 s on
2 CPU cores), and it reconstructs squares (median 0.05) and a blank image (0.003) as well, but
not hexagons (0.14) or noise (0.50). Precision is the side that sees where G's mass goes.

Inverting G keeps z in its distribution's support: Adam runs on w, with uniform z on [lo, hi]
`lo + (hi - lo) * (tanh(w) + 1) / 2`, truncated-normal z (TF truncates at 2 stddev)
`2 * stddev * tanh(w)`, and normal z = w (unbounded). The starting points are draws of z's
distribution. A generator whose output does not depend on z has no gradient: its starting
points are all it is scored on.
"""

import dataclasses
import functools
import inspect
import math
from typing import Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from compare_gan.data import synthetic
from compare_gan.gans import latents

# The polygon data sets (data/__init__.py `_polygons`) and their number of vertices.
POLYGON_DATASETS = {"triangles": 3, "squares": 4}

# The data sets render with `convex_polygon_images`' defaults: read them from it, so that the
# family below is the dataset's by construction.
_RENDER_DEFAULTS = {name: p.default for name, p in
                    inspect.signature(synthetic.convex_polygon_images).parameters.items()
                    if p.default is not inspect.Parameter.empty}

# What the task's settings do not say, for its protocol card.
CARD = {
    "definition": "ours (arXiv 1711.10337's text unavailable): compare_gan/metrics/polygon_prf.py",
    "distance": "rms: sqrt(mean over pixels (x - y)^2)",
    "manifold": "the dataset's polygons (closure of synthetic.convex_polygon_vertices), "
                "rendered by its rasteriser; fit: grid + Levenberg-Marquardt",
    "recall_test_polygons": "the first num_test_polygons of the real split",
    "inversion": "Adam(0.9, 0.999, 1e-8) on w; uniform z = lo + (hi-lo)(tanh w + 1)/2, "
                 "truncated normal z = 2 stddev tanh w, normal z = w; best iterate of all "
                 "restarts",
}


# ----------------------------------------------------------------------------------------------
# The manifold: the dataset's polygons as a function of their uniforms
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PolygonFamily:
  """The polygons of a polygon data set (M in the module docstring), by their vertex angles.

  `synthetic.convex_polygon_vertices` puts vertex k at angle
  `phi_k = k*s + a/2 + t_k*(s - a/2) - u*rho` degrees (s = 360/n, a = min_segment_angle;
  t_k, u uniform in [0, 1]; rho = 2*pi, its rotation of `radians(u * 2*pi)`) on the circle of
  diameter `raster_dim * scale`, moved so that the vertex mean is the raster centre. Here a
  polygon is its angles phi [n] in degrees; the family is every phi with some rotation
  theta in [0, rho] such that phi_k + theta lies in vertex k's sector [k*s + a/2, (k+1)*s]:
  exactly the closure of what the dataset draws. (The angles, not (t, u), are the fit's
  coordinates: the rotation is a redundant direction of (t, u).)
  """
  n_vertices: int
  raster_dim: int = _RENDER_DEFAULTS["raster_dim"]
  min_segment_angle: float = _RENDER_DEFAULTS["min_segment_angle"]
  scale: float = _RENDER_DEFAULTS["scale"]
  subpixel_res: int = _RENDER_DEFAULTS["subpixel_res"]

  @property
  def num_pixels(self) -> int:
    return self.raster_dim * self.raster_dim

  @property
  def sectors(self) -> Tuple[np.ndarray, np.ndarray]:
    """(lo, hi) float64 [n]: the sectors of the vertices before the rotation, degrees."""
    segment = 360.0 / self.n_vertices
    k = np.arange(self.n_vertices)
    return k * segment + self.min_segment_angle / 2.0, (k + 1) * segment

  def angles_from_uniforms(self, uniforms: np.ndarray) -> np.ndarray:
    """The angles [N, n] of the polygons that `synthetic.convex_polygon_vertices` draws from
    `uniforms` [N, n + 1] (its draws 0..n: t_0..t_{n-1}, u)."""
    uniforms = np.asarray(uniforms, np.float64)
    lo, hi = self.sectors
    n = self.n_vertices
    return lo + uniforms[:, :n] * (hi - lo) - uniforms[:, n:] * _MAX_ROTATION

  def project(self, angles: np.ndarray) -> np.ndarray:
    """The nearest member (least squares in the angles) of the family, [N, n] degrees.

    For a fixed rotation theta the nearest angles are `clip(phi, lo - theta, hi - theta)`;
    theta is the best of 65 values in [0, rho] (so the result may miss the exact nearest by
    rho / 128 ~ 0.05 degrees, but is always a member).
    """
    angles = np.asarray(angles, np.float64)
    lo, hi = self.sectors
    theta = np.linspace(0.0, _MAX_ROTATION, 65)[:, None]  # [R, 1]
    candidates = np.clip(angles[:, None, :], lo - theta, hi - theta)  # [N, R, n]
    cost = np.sum((candidates - angles[:, None, :])**2, axis=-1)
    return candidates[np.arange(len(angles)), np.argmin(cost, axis=1)]

  def vertices(self, angles: np.ndarray) -> np.ndarray:
    """Vertices float64 [N, n, 2] (raster row, column) of angles [N, n] (degrees)."""
    radians = np.radians(np.asarray(angles, np.float64))
    unit = np.stack([np.cos(radians), np.sin(radians)], axis=-1)  # [N, n, 2]
    radius = self.raster_dim * self.scale / 2.0
    return self.raster_dim / 2.0 + radius * (unit - unit.mean(axis=1, keepdims=True))

  def render(self, angles: np.ndarray) -> np.ndarray:
    """Images float32 [N, raster_dim^2] (flattened) in [0, 1] of angles [N, n] (degrees), by
    the dataset's rasteriser (`synthetic.convex_polygon_images` without its random draws)."""
    images = synthetic.render_convex_polygons(self.vertices(angles), self.raster_dim,
                                              self.subpixel_res)
    return images.reshape(len(images), -1)

  def grid(self, step_degrees: float) -> Tuple[np.ndarray, np.ndarray]:
    """The members with every t_k on a grid of `step_degrees` (u = 1/2) and their renderings:
    (angles [T, n], images float32 [T, raster_dim^2]); T = 12^3 (triangles) or 9^4 (squares)
    at 10 degrees."""
    return _grid(self, float(step_degrees))


# `convex_polygon_vertices` rotates by `radians(u * 2*pi)`: at most 2*pi ~ 6.28 degrees.
_MAX_ROTATION = 2.0 * np.pi


@functools.lru_cache(maxsize=8)
def _grid(family: PolygonFamily, step_degrees: float) -> Tuple[np.ndarray, np.ndarray]:
  lo, hi = family.sectors
  axis = np.linspace(0.0, 1.0, math.ceil((hi[0] - lo[0]) / step_degrees) + 1)
  t = np.stack(np.meshgrid(*[axis] * family.n_vertices, indexing="ij"),
               axis=-1).reshape(-1, family.n_vertices)
  angles = family.angles_from_uniforms(np.concatenate([t, np.full((len(t), 1), 0.5)], axis=1))
  images = np.concatenate([family.render(angles[i:i + 4096])
                           for i in range(0, len(angles), 4096)])
  angles.flags.writeable = images.flags.writeable = False
  return angles, images


def rms_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """d(x, y) = sqrt(mean (x - y)^2) per row: float64 [N] from two [N, D] arrays."""
  diff = np.asarray(x, np.float64) - np.asarray(y, np.float64)
  return np.sqrt(np.mean(diff * diff, axis=1))


def fit_polygons(images: np.ndarray, family: PolygonFamily, *, grid_step_degrees: float = 10.0,
                 iterations: int = 15) -> Tuple[np.ndarray, np.ndarray]:
  """The best-fitting polygon of `family` for each image, and the distance to it.

  Start: the grid rendering nearest to the image. Then `iterations` Levenberg-Marquardt steps
  on the pixel residual, the Jacobian by central differences of the renderer of +-h degrees
  in each angle (h = 2 degrees, halved every 5 steps: the renderer is piecewise constant at
  the scale of a sub-pixel, so smaller differences see steps, not slopes); a step is projected
  onto the family (`PolygonFamily.project`) and kept only when it lowers the distance. On 1000
  real triangles or squares this leaves d <= 0.007 (median < 0.001). A step costs 2n + 1
  renderings: ~4 s (triangles) and ~6 s (squares) per 1000 images on 2 CPU cores.

  Args:
    images: [N, raster_dim, raster_dim, 1] or [N, raster_dim^2], values in [0, 1].
    family: the polygons to fit.
    grid_step_degrees: spacing of the starting grid in every angle, degrees.
    iterations: Levenberg-Marquardt steps.

  Returns:
    (angles float64 [N, n] of the fitted members, distances float64 [N] =
     d(image, render(angles))).
  """
  x = np.asarray(images, np.float32).reshape(len(images), -1)
  if x.shape[1] != family.num_pixels:
    raise ValueError(f"images of {x.shape[1]} pixels; the polygons have {family.num_pixels} "
                     f"({family.raster_dim}x{family.raster_dim}x1).")
  grid_angles, grid_images = family.grid(grid_step_degrees)
  grid_sq = np.sum(grid_images.astype(np.float64)**2, axis=1)
  angles = np.empty((len(x), family.n_vertices))
  distance = np.empty(len(x))
  for i in range(0, len(x), 1024):  # Bounds the [chunk, T] distances and [chunk, n, D] Jacobian.
    chunk = x[i:i + 1024].astype(np.float64)
    nearest = np.argmin(grid_sq[None, :] - 2.0 * (chunk @ grid_images.T), axis=1)
    angles[i:i + 1024], distance[i:i + 1024] = _levenberg_marquardt(
        chunk, family, grid_angles[nearest].copy(), iterations)
  return angles, distance


def _levenberg_marquardt(x: np.ndarray, family: PolygonFamily, angles: np.ndarray,
                         iterations: int) -> Tuple[np.ndarray, np.ndarray]:
  """`fit_polygons`' refinement of members angles [N, n] for images x float64 [N, D]."""
  n = family.n_vertices
  fit = family.render(angles).astype(np.float64)
  distance = rms_distance(x, fit)
  damping = np.full(len(x), 1e-3)
  eye = np.eye(n)[None]
  for i in range(iterations):
    h = 2.0 * 0.5**(i // 5)
    jacobian = np.empty((len(x), n, x.shape[1]))  # d image / d angle, per degree
    for k in range(n):
      up, down = angles.copy(), angles.copy()
      up[:, k] += h
      down[:, k] -= h
      jacobian[:, k] = (family.render(up) - family.render(down)) / (2.0 * h)
    normal = np.einsum("nkd,njd->nkj", jacobian, jacobian)
    gradient = np.einsum("nkd,nd->nk", jacobian, x - fit)
    diagonal = np.einsum("nkk->nk", normal)[:, :, None]
    step = np.linalg.solve(normal + damping[:, None, None] * eye * (diagonal + 1e-9) + 1e-12 * eye,
                           gradient[..., None])[..., 0]
    candidate = family.project(angles + step)
    candidate_fit = family.render(candidate).astype(np.float64)
    candidate_distance = rms_distance(x, candidate_fit)
    better = candidate_distance < distance
    angles[better], fit[better] = candidate[better], candidate_fit[better]
    distance[better] = candidate_distance[better]
    damping = np.where(better, damping / 3.0, damping * 4.0)
  return angles, distance


# ----------------------------------------------------------------------------------------------
# Recall: inverting the generator
# ----------------------------------------------------------------------------------------------

def z_from_w(w: tf.Tensor, z_distribution: latents.LatentDistribution) -> tf.Tensor:
  """z in the support of `z_distribution` from unconstrained w, any shape (the module
  docstring lists the maps)."""
  if z_distribution.kind == "uniform":
    lo, hi = z_distribution.minval, z_distribution.maxval
    return lo + (hi - lo) * (tf.tanh(w) + 1.0) / 2.0
  if z_distribution.kind == "truncated_normal":
    return 2.0 * z_distribution.stddev * tf.tanh(w)
  return w


def w_from_z(z: tf.Tensor, z_distribution: latents.LatentDistribution) -> tf.Tensor:
  """The w with `z_from_w(w) = z` (z on the boundary is moved inside by 1e-6)."""
  limit = 1.0 - 1e-6
  if z_distribution.kind == "uniform":
    lo, hi = z_distribution.minval, z_distribution.maxval
    return tf.atanh(tf.clip_by_value(2.0 * (z - lo) / (hi - lo) - 1.0, -limit, limit))
  if z_distribution.kind == "truncated_normal":
    return tf.atanh(tf.clip_by_value(z / (2.0 * z_distribution.stddev), -limit, limit))
  return z


def invert_generator(generate: Callable[..., tf.Tensor], targets: np.ndarray, *, z_dim: int,
                     z_distribution: latents.LatentDistribution, seed: tf.Tensor,
                     restarts: int = 5, steps: int = 200,
                     learning_rate: float = 0.05) -> np.ndarray:
  """min over z of d(G(z), y) for every target y, by Adam on z (reparametrised, see above).

  All restarts of all targets run as one batch of restarts * M; each example's loss is its own
  mean squared error, so their gradients (and Adam's per-coordinate steps) do not interact.
  Adam: beta_1 0.9, beta_2 0.999, epsilon 1e-8, bias-corrected.

  Args:
    generate: `(z float32 [B, z_dim], labels None) -> images [B, ...]` in [0, 1],
      differentiable in z (an unconditional G in inference mode).
    targets: [M, ...] images of the same shape as G's, in [0, 1].
    z_dim: G's latent size.
    z_distribution: the distribution of z (the starting points, and the support kept).
    seed: [2] int64 stateless seed of the starting points.
    restarts, steps, learning_rate: Adam's runs per target, its steps, its step size.

  Returns:
    float64 [M]: the smallest d(G(z), y) over every iterate of every restart.
  """
  y = tf.convert_to_tensor(np.asarray(targets, np.float32))
  m = int(y.shape[0])
  y = tf.reshape(tf.concat([y] * restarts, axis=0), [restarts * m, -1])  # row r*M + i: y_i
  z0 = z_distribution.sample([restarts * m, z_dim], latents.derive_seed(seed, latents.INVERSION_Z))
  w = w_from_z(z0, z_distribution)
  first = tf.zeros_like(w)
  second = tf.zeros_like(w)
  beta_1, beta_2, epsilon = 0.9, 0.999, 1e-8
  best = np.full(restarts * m, np.inf)
  for step in range(steps + 1):
    with tf.GradientTape() as tape:
      tape.watch(w)
      images = tf.cast(tf.reshape(generate(z_from_w(w, z_distribution), None),
                                  [restarts * m, -1]), tf.float32)
      mse = tf.reduce_mean(tf.square(images - y), axis=1)  # [restarts * M]
      loss = tf.reduce_sum(mse)
    best = np.fmin(best, np.sqrt(mse.numpy().astype(np.float64)))  # A NaN iterate is no match.
    if step == steps:
      break
    grad = tape.gradient(loss, w)
    if grad is None:  # G ignores z: no step can change its output.
      break
    first = beta_1 * first + (1.0 - beta_1) * grad
    second = beta_2 * second + (1.0 - beta_2) * tf.square(grad)
    t = step + 1
    w = w - learning_rate * (first / (1.0 - beta_1**t)) / (
        tf.sqrt(second / (1.0 - beta_2**t)) + epsilon)
  return best.reshape(restarts, m).min(axis=0)


# ----------------------------------------------------------------------------------------------
# The three values
# ----------------------------------------------------------------------------------------------

def f1_score(precision: float, recall: float) -> float:
  """Harmonic mean 2PR / (P + R); 0 when both are 0."""
  return 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)


def polygon_precision(samples: np.ndarray, family: PolygonFamily, *, delta: float,
                      grid_step_degrees: float = 10.0, iterations: int = 15) -> float:
  """Fraction of `samples` ([N, H, W, 1] or [N, H*W]) within `delta` of the polygons."""
  _, distance = fit_polygons(samples, family, grid_step_degrees=grid_step_degrees,
                             iterations=iterations)
  return float(np.mean(distance <= delta))


def polygon_recall(generate: Callable[..., tf.Tensor], test_polygons: np.ndarray, *,
                   delta: float, z_dim: int, z_distribution: latents.LatentDistribution,
                   seed: tf.Tensor, restarts: int = 5, steps: int = 200,
                   learning_rate: float = 0.05) -> float:
  """Fraction of `test_polygons` that G reconstructs within `delta` (`invert_generator`)."""
  distance = invert_generator(generate, test_polygons, z_dim=z_dim,
                              z_distribution=z_distribution, seed=seed, restarts=restarts,
                              steps=steps, learning_rate=learning_rate)
  return float(np.mean(distance <= delta))


def family_for(dataset_name: str) -> Optional[PolygonFamily]:
  """The polygon family of a data set, None when it is not a polygon data set."""
  n = POLYGON_DATASETS.get(dataset_name)
  return None if n is None else PolygonFamily(n)
