"""Procedural data sets generated on the fly: convex polygons and 2-D Gaussian mixtures.

These are the offline built-in data (DESIGN.md section 9): no downloads, no files, pure numpy
(no TensorFlow here, so tf.data can call the functions through `tf.numpy_function`).

Random access by index. Example `i` is a pure function of `(seed, i)`: every random number it
uses is a counter-based hash (SplitMix64) of `(seed, i, draw number)`, so any subset of indices
can be produced in any order or batching and gives identical values, and a batch is generated
with a handful of vectorised numpy operations instead of one generator object per example
(`np.random.default_rng([seed, i])` costs ~30 us per example, too slow for 2-D batches of 1k+).

1. Convex polygons: the "triangles"/"squares" of "Are GANs Created Equal?" (Lucic et al., 2018),
   reference `master:colabs/Convex_Polygons_Dataset.ipynb` `GenerateConvexPolygon`, reproduced
   step by step (see `convex_polygon_vertices` and `convex_polygon_images`), with a vectorised
   rasteriser instead of `matplotlib.path.Path.contains_points` + a full-resolution
   `scipy.ndimage.convolve` (tests/data/synthetic_test.py checks both against each other).
2. 2-D Gaussian mixtures for mode-collapse studies: `ring8` (Metz et al., "Unrolled GANs";
   VEEGAN) and `grid25` (VEEGAN; PacGAN), affinely mapped into [0, 1]^2 because every generator,
   the `mlp` one included, ends in a sigmoid (see `MIXTURES`).
"""

import dataclasses
from typing import Dict, Tuple

import numpy as np

# ---------------------------------------------------------------------------------------------
# Counter-based random numbers keyed by (seed, index, draw).
# ---------------------------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment (2^64 / golden ratio, odd).
_SEED_SALT = np.uint64(0x5851F42D4C957F2D)  # Separates the seed key from small raw integers.


def _mix64(z: np.ndarray) -> np.ndarray:
  """SplitMix64 finaliser: a bijection of uint64 with full avalanche (wrapping arithmetic)."""
  z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
  z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  return z ^ (z >> np.uint64(31))


def _uniforms(seed: int, indices: np.ndarray, n_draws: int) -> np.ndarray:
  """Uniform [0, 1) doubles, float64 [len(indices), n_draws]; row i depends only on (seed, i).

  Row i is the SplitMix64 stream started from `key(seed, i)`: the key is a bijection of i for a
  fixed seed, so different indices never share a stream.
  """
  # One-element arrays, not numpy scalars: array arithmetic wraps mod 2^64 silently, scalar
  # arithmetic warns about the (intended) overflow.
  seed_key = _mix64(np.array([seed], dtype=np.uint64) ^ _SEED_SALT)
  example_key = _mix64(seed_key + indices.astype(np.uint64) * _GOLDEN)
  draws = np.arange(1, n_draws + 1, dtype=np.uint64) * _GOLDEN
  bits = _mix64(example_key[:, None] + draws[None, :])
  # Top 53 bits -> exactly representable doubles k / 2^53 in [0, 1).
  return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


# ---------------------------------------------------------------------------------------------
# Argument checks shared by both data sets.
# ---------------------------------------------------------------------------------------------


def _as_int(name: str, value) -> int:
  """`value` as a Python int (numpy integers and 0-d integer arrays included) or ValueError."""
  array = np.asarray(value)
  if array.ndim != 0 or array.dtype.kind not in "iu":
    raise ValueError(f"{name} must be an integer; got {value!r}.")
  return int(array)


def _check_indices(indices) -> np.ndarray:
  """Validated int64 [N] copy of `indices` (a 1-D sequence of non-negative integers)."""
  array = np.asarray(indices)
  if array.size == 0:
    array = array.astype(np.int64)  # `np.asarray([])` is float64; an empty batch is fine.
  if array.ndim != 1 or array.dtype.kind not in "iu":
    raise ValueError(f"indices must be a 1-D array of integers; got shape {array.shape} and "
                     f"dtype {array.dtype}.")
  if array.size and array.min() < 0:
    raise ValueError(f"indices must be non-negative; got {int(array.min())}.")
  return array.astype(np.int64)


def _check_seed(seed) -> int:
  seed = _as_int("seed", seed)
  if not 0 <= seed < 2**64:
    raise ValueError(f"seed must be in [0, 2^64); got {seed}.")
  return seed


# ---------------------------------------------------------------------------------------------
# 1. Convex polygons.
# ---------------------------------------------------------------------------------------------

# The version of `convex_polygon_images`' output: the generated-dataset cache
# (data/random_access.py) keys rendered splits on it. Bump it with any change that alters a
# single pixel for the same arguments, or runs keep loading the old images (only a few rows of
# each cached split are re-rendered and compared on load).
POLYGON_IMAGES_VERSION = "convex_polygon_images/1"


def convex_polygon_vertices(indices: np.ndarray, *, seed: int, n_vertices: int,
                            raster_dim: int = 28, min_segment_angle: float = 20.0,
                            scale: float = 0.75, shift_to_mean: bool = True) -> np.ndarray:
  """Vertices of the random convex polygons, float64 [len(indices), n_vertices, 2].

  Reference `GenerateConvexPolygon`, step by step (all angles in degrees):
    1. The circle is split into n sectors of s = 360/n; vertex k (k = 0..n-1) is at angle
       `k*s + min_segment_angle/2 + U[0,1) * (s - min_segment_angle/2)`, so consecutive vertices
       are at least min_segment_angle/2 apart and the angles increase: the vertices are in
       counter-clockwise order (coordinate 0 = cos, coordinate 1 = sin) and the polygon, inscribed
       in a circle, is convex.
    2. Points `(cos, sin)` are mapped to [0, 1]^2 by `(p + 1) / 2`.
    3. They are rotated about the origin (not the centre) by `x @ [[c, -s], [s, c]]` with
       `theta = np.radians(U[0,1) * 2 * pi)`, i.e. at most 2*pi ~ 6.28 *degrees*: the reference
       mixes up its units, and we keep the slip so that the distribution is the published one.
    4. They are scaled by `raster_dim * scale` (raster coordinates, output pixel units).
    5. With `shift_to_mean`, they are translated so that the *vertex mean* (the reference's
       "centre of mass", `vertices.mean(axis=0)`, not the area centroid) is at
       `(raster_dim/2, raster_dim/2)`.
  The uniforms are draws 0..n-1 (offsets) and n (rotation) of example i's stream.

  Raster coordinates: coordinate 0 is the image row, coordinate 1 the image column (the reference
  tests the points `np.mgrid` rows/columns against the vertices in that order), and sub-pixel
  sample (a, b) of `convex_polygon_images` lies at `(a / subpixel_res, b / subpixel_res)`.

  Args:
    indices: int [N], non-negative example indices.
    seed: data-set seed in [0, 2^64).
    n_vertices: number of vertices, >= 3.
    raster_dim: side of the square raster in pixels, >= 2.
    min_segment_angle: minimum angle between consecutive vertices seen from the circle's centre,
      in degrees, in [0, 360 / n_vertices].
    scale: size of the polygon's circumscribed circle's diameter relative to the raster, (0, 1].
    shift_to_mean: move the vertex mean to the raster centre (see step 5).

  Returns:
    float64 [N, n_vertices, 2] vertices in raster coordinates, counter-clockwise.

  Raises:
    ValueError: naming the bad argument and its valid range.
  """
  indices = _check_indices(indices)
  seed = _check_seed(seed)
  n_vertices = _as_int("n_vertices", n_vertices)
  raster_dim = _as_int("raster_dim", raster_dim)
  if n_vertices < 3:
    raise ValueError(f"n_vertices must be >= 3; got {n_vertices}.")
  if raster_dim < 2:
    raise ValueError(f"raster_dim must be >= 2; got {raster_dim}.")
  segment_angle = 360.0 / n_vertices
  # The reference rejects only min_segment_angle > 360/n; a negative one would let consecutive
  # sectors overlap, so the vertices could come out of order and the polygon non-convex.
  if not 0.0 <= min_segment_angle <= segment_angle:
    raise ValueError(f"min_segment_angle must be in [0, 360 / n_vertices] = "
                     f"[0, {segment_angle:g}] degrees; got {min_segment_angle}.")
  if not 0.0 < scale <= 1.0:
    raise ValueError(f"scale must be in (0, 1]; got {scale}.")

  u = _uniforms(seed, indices, n_vertices + 1)
  max_offset = segment_angle - min_segment_angle / 2.0
  k = np.arange(n_vertices, dtype=np.float64)
  angles = np.radians(k * segment_angle + min_segment_angle / 2.0 + u[:, :n_vertices] * max_offset)
  points = (np.stack([np.cos(angles), np.sin(angles)], axis=-1) + 1.0) / 2.0  # [N, n, 2]

  # The reference's units slip, kept on purpose: radians() of an angle already in radians.
  theta = np.radians(u[:, n_vertices] * 2.0 * np.pi)
  cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
  # Row vectors times [[cos, -sin], [sin, cos]], as the reference's `np.dot(x, rot)`.
  points = np.stack([points[..., 0] * cos + points[..., 1] * sin,
                     -points[..., 0] * sin + points[..., 1] * cos], axis=-1)

  vertices = points * (raster_dim * scale)
  if shift_to_mean:
    vertices += raster_dim / 2.0 - vertices.mean(axis=1, keepdims=True)
  return vertices


def convex_polygon_images(indices: np.ndarray, *, seed: int, n_vertices: int,
                          raster_dim: int = 28, min_segment_angle: float = 20.0,
                          scale: float = 0.75, subpixel_res: int = 8,
                          shift_to_mean: bool = True) -> np.ndarray:
  """Anti-aliased images of dark convex polygons on white, float32 [N, raster_dim, raster_dim, 1].

  The defaults with `n_vertices=3` are the reference's triangles (`n_vertices=4`: squares).
  Equal, up to ties of sub-pixels lying exactly on an edge, to the reference's
    mask = Path(vertices * r).contains_points(mgrid[0:dim*r, 0:dim*r] points)  # [dim*r, dim*r]
    image = convolve(float32(~mask), ones((r, r)), mode="constant", cval=1.0)[::r, ::r] / r^2
  with r = subpixel_res, dim = raster_dim and `vertices` from `convex_polygon_vertices`, i.e.:
    * the polygon is 0 (black), the background 1 (white);
    * sub-pixel (a, b) is the point (a/r, b/r) in raster coordinates (row, column): samples sit
      on a grid of corners, not cell centres, as in the reference;
    * `scipy.ndimage.convolve`'s window for output index i is i - o .. i - o + r - 1 with
      o = (r - 1) // 2 (its origin convention for even kernels; o = 3 for r = 8), so output pixel
      (p, q) averages the sub-pixel rows p*r - o .. p*r - o + r - 1 and the same columns around
      q*r: its box is centred near the raster point (p, q), not on the cell [p, p+1) x [q, q+1).
      Sub-pixels with a negative index are the convolution's constant padding, i.e. background.
  Grey values are therefore multiples of 1/r^2 in [0, 1].

  Fast path: a point is inside a convex counter-clockwise polygon iff it is on the left of (or
  on) every edge, so each sub-pixel row meets the polygon in one interval of columns [lo, hi].
  We compute that interval per row (n half-planes), count the integer columns of each r-wide
  box inside it, and sum r rows per output row: O(N * dim * r * (n + dim)) work instead of
  O(N * (dim * r)^2 * n), with no full-resolution mask or convolution.

  Args:
    indices: int [N], non-negative example indices; example i depends only on (seed, i).
    seed: data-set seed in [0, 2^64).
    n_vertices, raster_dim, min_segment_angle, scale, shift_to_mean: see
      `convex_polygon_vertices`.
    subpixel_res: r >= 1, sub-pixels per pixel side (r = 1: binary images).

  Returns:
    float32 [N, raster_dim, raster_dim, 1] in [0, 1].

  Raises:
    ValueError: naming the bad argument and its valid range.
  """
  subpixel_res = _as_int("subpixel_res", subpixel_res)
  if subpixel_res < 1:
    raise ValueError(f"subpixel_res must be >= 1; got {subpixel_res}.")
  vertices = convex_polygon_vertices(
      indices, seed=seed, n_vertices=n_vertices, raster_dim=raster_dim,
      min_segment_angle=min_segment_angle, scale=scale, shift_to_mean=shift_to_mean)
  return render_convex_polygons(vertices, _as_int("raster_dim", raster_dim), subpixel_res)


def render_convex_polygons(vertices: np.ndarray, raster_dim: int,
                           subpixel_res: int) -> np.ndarray:
  """The rasteriser of `convex_polygon_images` for given vertices: float64 [N, n, 2],
  counter-clockwise, in raster coordinates (row, column). Returns float32
  [N, raster_dim, raster_dim, 1] in [0, 1], the polygon dark on white (metrics/polygon_prf.py
  renders its fitted polygons with it, so they are the dataset's by construction)."""
  inside = _inside_counts(np.asarray(vertices, np.float64) * subpixel_res, raster_dim,
                          subpixel_res)
  area = np.float32(subpixel_res * subpixel_res)
  # Counts and r^2 are small integers, so the float32 quotient is exactly the reference's.
  images = (area - inside) / area
  return np.ascontiguousarray(images)[..., None]


def _inside_counts(vertices: np.ndarray, dim: int, r: int) -> np.ndarray:
  """Sub-pixels inside the polygon in each output pixel's box, float32 [N, dim, dim].

  `vertices`: float64 [N, n, 2] counter-clockwise, in sub-pixel units (row, column).
  """
  n_examples = vertices.shape[0]
  offset = (r - 1) // 2  # See `convex_polygon_images`: the convolution's window start.
  # Box p covers sub-pixel indices p*r - offset .. (p+1)*r - offset - 1: together one contiguous
  # range, shared by rows and columns.
  rows = np.arange(dim * r, dtype=np.float64) - offset  # [dim*r]

  vx, vy = vertices[..., 0][..., None], vertices[..., 1][..., None]  # [N, n, 1]
  edges = np.roll(vertices, -1, axis=1) - vertices
  ex, ey = edges[..., 0][..., None], edges[..., 1][..., None]  # [N, n, 1]
  # Left of edge k: ex * (col - vy) - ey * (row - vx) >= 0, i.e. for ex > 0 a lower bound on
  # col, for ex < 0 an upper bound, for ex == 0 a condition on the row alone.
  with np.errstate(divide="ignore", invalid="ignore"):
    bound = vy + ey / ex * (rows - vx)  # [N, n, dim*r]
  lo = np.where(ex > 0, bound, -np.inf).max(axis=1)  # [N, dim*r]
  hi = np.where(ex < 0, bound, np.inf).min(axis=1)
  row_ok = np.all((ex != 0) | (ey * (rows - vx) <= 0), axis=1) & (rows >= 0)
  # Inside integer columns: [first, end) with first = ceil(lo), end = floor(hi) + 1; negative
  # columns are padding (background). An empty row becomes the empty range [0, 0).
  first = np.maximum(np.ceil(lo), 0.0)
  end = np.maximum(np.floor(hi) + 1.0, first)
  first = np.where(row_ok, first, 0.0).astype(np.float32)
  end = np.where(row_ok, end, 0.0).astype(np.float32)

  # Per row, G(x) = clip(x, first, end) - first counts the inside columns below x, so box q
  # holds G(s_{q+1}) - G(s_q) with s_q = q*r - offset. Summing clip(s_q, first, end) over the r
  # rows of a box row first and differencing over q after (the -first terms cancel) touches the
  # big [N, dim+1, dim*r] array only a few times. Rows are the last (long) axis because numpy's
  # broadcasting is several times slower with a short inner loop. float32 is exact: all values
  # are integers < 2^24.
  box_edges = (np.arange(dim + 1) * r - offset).astype(np.float32)[:, None]  # [dim+1, 1]
  clipped = np.maximum(box_edges, first[:, None, :])  # [N, dim+1, dim*r]
  np.minimum(clipped, end[:, None, :], out=clipped)
  per_box_row = clipped.reshape(n_examples, dim + 1, dim, r).sum(axis=-1)  # [N, dim+1, dim]
  return np.diff(per_box_row, axis=1).transpose(0, 2, 1)  # [N, rows, columns]


# ---------------------------------------------------------------------------------------------
# 2. 2-D Gaussian mixtures.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MixtureSpec:
  """An equal-weight mixture of isotropic 2-D Gaussians in [0, 1]^2 coordinates.

  Attributes:
    name: key in `MIXTURES`.
    centers: float64 [K, 2] mode means (read-only); mode k is `centers[k]`.
    stddev: per-coordinate standard deviation of every mode, same coordinates.
  """
  name: str
  centers: np.ndarray
  stddev: float


def _frozen(array: np.ndarray) -> np.ndarray:
  # MIXTURES is shared module state: a caller writing into `centers` would change every later
  # batch, so make that an error.
  array = np.array(array, dtype=np.float64)
  array.flags.writeable = False
  return array


def _ring8() -> MixtureSpec:
  # Published geometry (Metz et al. 2017, "Unrolled GANs"; VEEGAN): 8 modes at angles 2*pi*k/8,
  # k = 0..7, on a circle of radius 2 around the origin, std 0.02. Mapping x -> 0.5 + x / 5 puts
  # the modes on a circle of radius 0.4 around (0.5, 0.5) with std 0.004: centres +- 4 std span
  # [0.084, 0.916], and leaving [0, 1]^2 takes a 25-std deviation.
  angles = 2.0 * np.pi * np.arange(8) / 8.0
  centers = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
  return MixtureSpec("ring8", _frozen(0.5 + centers / 5.0), 0.02 / 5.0)


def _grid25() -> MixtureSpec:
  # Published geometry (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018): 25 modes at
  # {-4, -2, 0, 2, 4}^2, std 0.05; mode k = 5 * i + j is at (-4 + 2i, -4 + 2j). Mapping
  # x -> 0.5 + x / 10 puts them at {0.1, 0.3, 0.5, 0.7, 0.9}^2 with std 0.005: centres +- 4 std
  # span [0.08, 0.92], and leaving [0, 1]^2 takes a 20-std deviation.
  axis = np.arange(-4.0, 5.0, 2.0)
  centers = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(25, 2)
  return MixtureSpec("grid25", _frozen(0.5 + centers / 10.0), 0.05 / 10.0)


MIXTURES: Dict[str, MixtureSpec] = {spec.name: spec for spec in (_ring8(), _grid25())}


def mixture_spec(name: str) -> MixtureSpec:
  """The mixture called `name` (a key of `MIXTURES`); ValueError listing the names otherwise."""
  try:
    return MIXTURES[name]
  except (KeyError, TypeError):
    raise ValueError(f"Unknown mixture {name!r}; valid names: {sorted(MIXTURES)}.") from None


def mixture_points(indices: np.ndarray, *, seed: int,
                   name: str) -> Tuple[np.ndarray, np.ndarray]:
  """Samples of mixture `name`: example i's mode and point depend only on (seed, i).

  The mode is uniform over the K modes (`floor(U * K)`, draw 0); the point is
  `centers[mode] + stddev * z` with z ~ N(0, I_2) by Box-Muller from draws 1 and 2. Points are
  not clipped (they stay inside [0, 1]^2 short of a 20-std event, see `MIXTURES`).

  Args:
    indices: int [N], non-negative example indices.
    seed: data-set seed in [0, 2^64).
    name: a key of `MIXTURES` ("ring8", "grid25").

  Returns:
    (points float32 [N, 2], modes int32 [N] in [0, K)).

  Raises:
    ValueError: naming the bad argument and its valid values.
  """
  spec = mixture_spec(name)
  indices = _check_indices(indices)
  seed = _check_seed(seed)
  u = _uniforms(seed, indices, 3)
  n_modes = spec.centers.shape[0]
  # u < 1 with 53-bit resolution, so the product stays below K and every mode has probability
  # 1/K up to 2^-53.
  modes = np.minimum((u[:, 0] * n_modes).astype(np.int64), n_modes - 1)
  radius = np.sqrt(-2.0 * np.log1p(-u[:, 1]))  # 1 - u in (0, 1]: finite.
  angle = 2.0 * np.pi * u[:, 2]
  z = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
  points = spec.centers[modes] + spec.stddev * z
  return points.astype(np.float32), modes.astype(np.int32)
