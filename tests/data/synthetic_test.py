"""Procedural data sets (compare_gan/synthetic.py).

Convex polygons: the fast vectorised rasteriser against an independent slow one written the way
the reference notebook (`master:colabs/Convex_Polygons_Dataset.ipynb`) does it, geometry
(convexity, angle constraints, the reference's rotation units slip), random access by index and
argument checks. Gaussian mixtures: published geometry after undoing the documented affine map,
empirical statistics, random access.
"""

import numpy as np
import pytest
from matplotlib import path
from scipy import ndimage
from scipy import stats

from compare_gan.data import synthetic as sd


def _reference_image(vertices: np.ndarray, raster_dim: int, r: int):
  """(image [dim, dim], inverted full-resolution mask [dim*r, dim*r]) as the reference does it.

  Reference `GenerateConvexPolygon` from the point where its vertices are known:
  `matplotlib.path.Path.contains_points` on the integer sub-pixel grid, inverted mask,
  `scipy.ndimage.convolve` with an r x r ones kernel and constant border 1, every r-th sample.
  """
  grid_x, grid_y = np.mgrid[0:raster_dim * r, 0:raster_dim * r]
  points = np.column_stack((grid_x.ravel(), grid_y.ravel()))
  mask = path.Path(vertices * r).contains_points(points).reshape(raster_dim * r, raster_dim * r)
  mask = np.array(~mask, dtype=np.float32)
  blurred = ndimage.convolve(mask, np.ones((r, r)), mode="constant", cval=1.0)
  return blurred[::r, ::r] / (r * r), mask


def _circumcentre(vertices: np.ndarray) -> np.ndarray:
  """Circumcentres [N, 2] of the triangles formed by each polygon's first three vertices."""
  a, b, c = vertices[:, 0], vertices[:, 1], vertices[:, 2]
  # |p - a|^2 = |p - b|^2 = |p - c|^2 is linear in p: 2 (b - a) . p = |b|^2 - |a|^2, same for c.
  lhs = 2.0 * np.stack([b - a, c - a], axis=1)  # [N, 2, 2]
  rhs = np.stack([(b**2).sum(-1) - (a**2).sum(-1), (c**2).sum(-1) - (a**2).sum(-1)], axis=1)
  return np.linalg.solve(lhs, rhs[..., None])[..., 0]


_RASTER_CONFIGS = [
    # (n_vertices, raster_dim, subpixel_res, scale, shift_to_mean, min_segment_angle)
    (3, 28, 8, 0.75, True, 20.0),  # The reference's triangles.
    (4, 28, 8, 0.75, True, 20.0),  # ... and squares.
    (5, 16, 3, 1.0, False, 0.0),  # Odd r (centred kernel); unshifted polygons leave the raster.
    (6, 12, 1, 0.9, True, 60.0),  # r = 1: binary images; min angle at its upper limit.
    (3, 10, 2, 1.0, False, 5.0),  # Even r other than 8.
    (4, 28, 8, 1.0, False, 0.0),  # The rotation pushes these across the left border.
]


@pytest.mark.parametrize("n_vertices,raster_dim,r,scale,shift,min_angle", _RASTER_CONFIGS)
def test_matches_reference_rasteriser(n_vertices, raster_dim, r, scale, shift, min_angle):
  indices = np.arange(100, 124)
  kwargs = dict(seed=11, n_vertices=n_vertices, raster_dim=raster_dim, scale=scale,
                shift_to_mean=shift, min_segment_angle=min_angle)
  images = sd.convex_polygon_images(indices, subpixel_res=r, **kwargs)
  vertices = sd.convex_polygon_vertices(indices, **kwargs)
  assert images.shape == (len(indices), raster_dim, raster_dim, 1)
  differing_subpixels = 0
  for image, polygon in zip(images[..., 0], vertices):
    expected, mask = _reference_image(polygon, raster_dim, r)
    # Both sides are exact multiples of 1/r^2, so away from ties they agree bit for bit. A
    # sub-pixel exactly on an edge may go either way (matplotlib leaves boundary points
    # unspecified); each such tie changes one pixel by 1/r^2.
    differing_subpixels += int(np.round(np.abs(image - expected).sum() * r * r))
    # The test exercises real polygons, not blank images.
    assert mask.min() == 0.0
  assert differing_subpixels <= 2


@pytest.mark.parametrize("r", [1, 3, 8])
def test_rasteriser_on_arbitrary_polygons_across_the_borders(r):
  # The private fast path on hand-made convex polygons anywhere around the raster, including
  # ones that cross every border (the convolution's padding there counts as background).
  rng = np.random.default_rng(r)
  dim, n = 12, 6
  angles = np.sort(rng.uniform(0.0, 2 * np.pi, size=(40, n)), axis=1)
  radius = rng.uniform(1.0, 8.0, size=(40, 1, 1))
  centres = rng.uniform(-3.0, dim + 3.0, size=(40, 1, 2))
  vertices = centres + radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
  inside = sd._inside_counts(vertices * r, dim, r)
  differing_subpixels = 0
  for counts, polygon in zip(inside, vertices):
    expected, _ = _reference_image(polygon, dim, r)
    differing_subpixels += int(np.round(np.abs((1.0 - counts / r**2) - expected).sum() * r * r))
  assert differing_subpixels <= 2


def test_shapes_dtype_range_and_empty_batch():
  images = sd.convex_polygon_images(np.arange(8), seed=0, n_vertices=3)
  assert images.shape == (8, 28, 28, 1) and images.dtype == np.float32
  assert images.flags.c_contiguous
  assert images.min() >= 0.0 and images.max() <= 1.0
  # Fully covered pixels are black, the corners background, edges grey multiples of 1/64.
  assert images.min() == 0.0 and np.all(images[:, 0, 0] == 1.0)
  assert np.allclose(images * 64, np.round(images * 64))
  assert len(np.unique(images)) > 10  # Anti-aliased, not binary.
  vertices = sd.convex_polygon_vertices([3, 4], seed=0, n_vertices=5)
  assert vertices.shape == (2, 5, 2) and vertices.dtype == np.float64
  assert sd.convex_polygon_images(np.zeros([0], np.int64), seed=0, n_vertices=3).shape == (
      0, 28, 28, 1)
  assert sd.convex_polygon_images([], seed=0, n_vertices=3).shape == (0, 28, 28, 1)


def test_random_access_by_index():
  f = lambda idx: sd.convex_polygon_images(np.array(idx), seed=7, n_vertices=4)
  np.testing.assert_array_equal(f([5, 2]), f([2, 5])[::-1])
  whole = f(np.arange(10))
  np.testing.assert_array_equal(whole, np.concatenate([f(np.arange(3)), f(np.arange(3, 10))]))
  np.testing.assert_array_equal(f([4, 4])[0], f([4, 4])[1])
  np.testing.assert_array_equal(f([9])[0], whole[9])
  # Indices far beyond any epoch and numpy integer seeds (as tf.numpy_function passes them).
  big = [2**40 + 1, 2**62]
  np.testing.assert_array_equal(
      sd.convex_polygon_images(big, seed=np.int64(7), n_vertices=4), f(big))
  # Distinct indices give distinct polygons.
  assert len({image.tobytes() for image in whole}) == 10


def test_different_seeds_differ():
  a = sd.convex_polygon_vertices(np.arange(16), seed=0, n_vertices=3)
  b = sd.convex_polygon_vertices(np.arange(16), seed=1, n_vertices=3)
  assert np.all(np.abs(a - b).max(axis=(1, 2)) > 1e-3)
  pa, _ = sd.mixture_points(np.arange(16), seed=0, name="ring8")
  pb, _ = sd.mixture_points(np.arange(16), seed=1, name="ring8")
  assert not np.allclose(pa, pb)


@pytest.mark.parametrize("n_vertices,min_angle", [(3, 20.0), (4, 20.0), (7, 10.0)])
def test_polygons_are_convex_with_the_reference_geometry(n_vertices, min_angle):
  raster_dim, scale = 28, 0.75
  vertices = sd.convex_polygon_vertices(np.arange(2000), seed=3, n_vertices=n_vertices,
                                        raster_dim=raster_dim, scale=scale,
                                        min_segment_angle=min_angle)
  assert vertices.shape == (2000, n_vertices, 2)
  # Strictly convex and counter-clockwise: every turn is to the left.
  edges = np.roll(vertices, -1, axis=1) - vertices
  turns = np.cross(edges, np.roll(edges, -1, axis=1))
  assert np.all(turns > 0)
  # Shifted so that the vertex mean ("centre of mass") is the raster centre.
  np.testing.assert_allclose(vertices.mean(axis=1), raster_dim / 2.0, atol=1e-9)
  # Inscribed in a circle of diameter raster_dim * scale (the unit circle, halved and scaled).
  centre = _circumcentre(vertices)
  radius = np.linalg.norm(vertices - centre[:, None], axis=-1)
  np.testing.assert_allclose(radius, raster_dim * scale / 2.0, rtol=1e-9)
  # Seen from the circle's centre, vertex k lies in [k*s + m/2 - theta, (k+1)*s - theta) with
  # s = 360/n, m = min_segment_angle and theta in [0, 2*pi) *degrees* (the reference's
  # `np.radians(U * 2 * pi)`), so consecutive vertices are more than m/2 apart.
  offset = vertices - centre[:, None]
  angles = np.degrees(np.arctan2(offset[..., 1], offset[..., 0]))
  s = 360.0 / n_vertices
  first = (angles[:, 0] + 90.0) % 360.0 - 90.0  # Vertex 0 lies near [0, s): no wrap-around.
  assert first.min() >= min_angle / 2 - np.degrees(np.radians(2 * np.pi)) - 1e-9
  assert first.min() < min_angle / 2 - 5.0  # The rotation is there...
  assert first.max() < s  # ... and small (~6.28 degrees at most).
  gaps = np.diff(np.concatenate([angles, angles[:, :1]], axis=1), axis=1) % 360.0
  assert gaps.min() > min_angle / 2


def test_without_shift_the_polygon_sits_where_the_reference_puts_it():
  # Unshifted, vertices live in the (slightly rotated) square [0, raster_dim * scale]^2.
  vertices = sd.convex_polygon_vertices(np.arange(500), seed=0, n_vertices=5, raster_dim=20,
                                        scale=0.5, shift_to_mean=False)
  assert vertices.min() > -0.2 * 20 * 0.5 and vertices.max() < 20 * 0.5 * 1.1


def test_darkness_matches_polygon_area():
  indices = np.arange(256)
  images = sd.convex_polygon_images(indices, seed=5, n_vertices=3)
  vertices = sd.convex_polygon_vertices(indices, seed=5, n_vertices=3)
  x, y = vertices[..., 0], vertices[..., 1]
  area = 0.5 * (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)
  darkness = (1.0 - images[..., 0]).sum(axis=(1, 2))  # In pixels.
  # Sub-pixel point sampling counts the area up to about (perimeter in sub-pixels) / r^2.
  perimeter = np.linalg.norm(np.roll(vertices, -1, axis=1) - vertices, axis=-1).sum(axis=1)
  assert np.all(np.abs(darkness - area) <= perimeter / 8.0 + 1.0)
  # Triangles inscribed in a circle of radius 10.5 cover up to 3*sqrt(3)/4 * 10.5^2 = 143 of
  # 784 pixels; the angle constraints keep them away from slivers.
  fraction = darkness / 28**2
  assert 0.05 < fraction.mean() < 0.18 and fraction.min() > 0.01 and fraction.max() < 0.19


@pytest.mark.parametrize("kwargs,message", [
    (dict(n_vertices=2), "n_vertices must be >= 3; got 2"),
    (dict(n_vertices=3.0), "n_vertices must be an integer; got 3.0"),
    (dict(subpixel_res=0), "subpixel_res must be >= 1; got 0"),
    (dict(raster_dim=1), "raster_dim must be >= 2; got 1"),
    (dict(scale=0.0), r"scale must be in \(0, 1\]; got 0.0"),
    (dict(scale=1.5), r"scale must be in \(0, 1\]; got 1.5"),
    (dict(min_segment_angle=121.0), r"\[0, 120\] degrees; got 121.0"),
    (dict(min_segment_angle=-1.0), r"\[0, 120\] degrees; got -1.0"),
    (dict(indices=[3, -4]), "indices must be non-negative; got -4"),
    (dict(indices=[[1, 2]]), r"1-D array of integers; got shape \(1, 2\)"),
    (dict(indices=[0.5]), "dtype float64"),
    (dict(seed=-1), r"seed must be in \[0, 2\^64\); got -1"),
])
def test_bad_polygon_arguments(kwargs, message):
  args = dict(indices=[0, 1], seed=0, n_vertices=3)
  args.update(kwargs)
  indices = args.pop("indices")
  with pytest.raises(ValueError, match=message):
    sd.convex_polygon_images(indices, **args)


# ---------------------------------------------------------------------------------------------
# Gaussian mixtures.
# ---------------------------------------------------------------------------------------------

# The documented affine maps into [0, 1]^2: published x -> 0.5 + x / divisor.
_DIVISOR = {"ring8": 5.0, "grid25": 10.0}


def test_mixture_specs_match_published_geometry():
  assert sorted(sd.MIXTURES) == ["grid25", "ring8"]
  ring = sd.mixture_spec("ring8")
  assert ring.name == "ring8" and ring.centers.shape == (8, 2)
  published = (ring.centers - 0.5) * _DIVISOR["ring8"]
  angles = 2 * np.pi * np.arange(8) / 8
  np.testing.assert_allclose(published, 2.0 * np.stack([np.cos(angles), np.sin(angles)], -1),
                             atol=1e-12)  # Radius 2 (Metz et al.; VEEGAN).
  assert ring.stddev * _DIVISOR["ring8"] == pytest.approx(0.02)
  grid = sd.mixture_spec("grid25")
  assert grid.name == "grid25" and grid.centers.shape == (25, 2)
  published = (grid.centers - 0.5) * _DIVISOR["grid25"]
  expected = {(float(i), float(j)) for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)}
  assert {tuple(np.round(c, 9) + 0.0) for c in published} == expected  # VEEGAN; PacGAN.
  assert grid.stddev * _DIVISOR["grid25"] == pytest.approx(0.05)
  for spec in sd.MIXTURES.values():
    # Practically all mass inside [0, 1]^2: every centre +- 4 std, with room to spare.
    assert spec.centers.min() - 4 * spec.stddev > 0.05
    assert spec.centers.max() + 4 * spec.stddev < 0.95
    assert spec.centers.dtype == np.float64
    with pytest.raises(ValueError):  # Shared module state is read-only.
      spec.centers[0, 0] = 0.0


def test_unknown_mixture_lists_the_names():
  with pytest.raises(ValueError, match=r"'ring9'.*\['grid25', 'ring8'\]"):
    sd.mixture_spec("ring9")
  with pytest.raises(ValueError, match="ring9"):
    sd.mixture_points([0], seed=0, name="ring9")
  with pytest.raises(ValueError, match="non-negative; got -1"):
    sd.mixture_points([-1], seed=0, name="ring8")


def test_mixture_shapes_and_random_access():
  points, modes = sd.mixture_points(np.arange(10), seed=3, name="grid25")
  assert points.shape == (10, 2) and points.dtype == np.float32
  assert modes.shape == (10,) and modes.dtype == np.int32
  p2, m2 = sd.mixture_points(np.array([5, 2]), seed=3, name="grid25")
  np.testing.assert_array_equal(p2, points[[5, 2]])
  np.testing.assert_array_equal(m2, modes[[5, 2]])
  p3, m3 = sd.mixture_points(np.arange(3, 10), seed=3, name="grid25")
  np.testing.assert_array_equal(p3, points[3:])
  np.testing.assert_array_equal(m3, modes[3:])
  empty_points, empty_modes = sd.mixture_points([], seed=3, name="ring8")
  assert empty_points.shape == (0, 2) and empty_modes.shape == (0,)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_statistics(name):
  spec = sd.mixture_spec(name)
  n, k = 20000, len(spec.centers)
  points, modes = sd.mixture_points(np.arange(n), seed=0, name=name)
  # Never clipped, and inside [0, 1]^2 (leaving it takes a >= 20-std deviation).
  assert points.min() > 0.0 and points.max() < 1.0
  assert modes.min() >= 0 and modes.max() < k
  # Uniform modes: chi-square goodness of fit. With a fixed seed the test is deterministic; the
  # 1e-4 level only rejects a real bias (e.g. an off-by-one mode, which shifts 1/K of the mass
  # and gives p ~ 0).
  counts = np.bincount(modes, minlength=k)
  assert stats.chisquare(counts).pvalue > 1e-4
  # Each point is nearest its own mode's centre (modes are >= 50 std apart).
  distances = np.linalg.norm(points[:, None, :] - spec.centers[None], axis=-1)
  np.testing.assert_array_equal(distances.argmin(axis=1), modes)
  residuals = (points - spec.centers[modes]) / spec.stddev  # Should be N(0, I_2).
  for mode in range(k):
    r = residuals[modes == mode]
    m = len(r)  # ~2500 (ring8) or ~800 (grid25) points.
    # Mean: standard error 1/sqrt(m); std: relative standard error ~1/sqrt(2m). 5 standard
    # errors: a false alarm has probability ~1e-6 per check, while a wrong stddev (e.g. the
    # unscaled published one, 5-10x) or a shifted centre fails by a wide margin. float32
    # rounding of the points (~6e-8 absolute, 1.5e-5 std) is negligible.
    assert np.all(np.abs(r.mean(axis=0)) < 5.0 / np.sqrt(m))
    assert np.all(np.abs(r.std(axis=0) - 1.0) < 5.0 / np.sqrt(2 * m))
  # Gaussian shape (Box-Muller from the hashed uniforms): Kolmogorov-Smirnov on all residuals.
  assert stats.kstest(residuals.ravel(), "norm").pvalue > 1e-4
  # The two coordinates are uncorrelated (standard error 1/sqrt(n)).
  assert abs(np.corrcoef(residuals.T)[0, 1]) < 5.0 / np.sqrt(n)
