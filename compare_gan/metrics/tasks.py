"""Metric tasks: what the evaluation loop computes, chosen by gin reference.

A task names the features it needs and turns real and fake features into named values, one
fake set at a time (the loop averages over `evaluation.num_averaging_runs` sets):

  evaluation.metrics = [@fid_score(), @inception_score(), @kid_score()]
  inception_score.splits = 10            # the common protocol; the reference uses 1
  kid_score.estimator = 'subsets'        # torch-fidelity's subsets; default: TF-GAN's blocks
  precision_recall.features = 'pixels'   # weight-free on small images

Feature kinds:
  inception  pool_3 [N, 2048] and logits [N, 1008] of the 2015-12-05 Inception network
             (`metrics/inception/`); needs its weights.
  pixels     the images flattened (2-D points as they are); images above 32x32 are first
             average-pooled to 32x32 so that 10k of them fit in memory. Weight-free.
  images     the first fake images themselves (MS-SSIM; the real images are not used).

A task with `needs_generator = True` also gets G itself (`GeneratorHandle`: a differentiable
`generate(z, labels)`, z_dim, the z distribution, a seed), e.g. to invert it; a task that
applies to some data sets only says so in `check_dataset`, which the evaluator calls first.

Each value's name is its label in metrics.jsonl and scores.csv (reference labels where the
reference had the metric: `fid_score`, `inception_score`, `kid_score`, `ms_ssim`); a weight-free
variant on pixels carries a `_pixels` suffix, so values on different features never share a name.
"""

import dataclasses
from typing import Any, Callable, ClassVar, Dict, List, Optional, Type

import gin
import numpy as np

from compare_gan import config

FEATURE_KINDS = ("inception", "pixels", "images")
PIXEL_RESOLUTION = 32  # Pixel features of larger images are average-pooled to this size.


@dataclasses.dataclass
class GeneratorHandle:
  """G as the evaluator gives it to a task with `needs_generator`.

  generate: `(z float32 [B, z_dim], labels int32 [B] or None) -> images [B, *image_shape]` in
    [0, 1], differentiable in z: the function that draws the fake samples (a run's G in
    inference mode, or a `GeneratorSource`'s sample_fn).
  z_distribution: the evaluation z (`gans.latents.LatentDistribution`).
  num_classes: None when G is unconditional.
  seed: [2] int64, the averaging run's base seed `[evaluation.seed, run]`; fold a purpose in
    (`gans.latents.derive_seed`) before drawing.
  """
  generate: Callable[..., Any]
  z_dim: int
  z_distribution: Any
  num_classes: Optional[int]
  seed: Any


class Task:
  """A metric: `features` it needs, `needs_real`, and `__call__(real, fake) -> {name: value}`
  (`__call__(real, fake, generator=GeneratorHandle)` when `needs_generator`)."""
  gin_name: ClassVar[str]  # Set by `_register`, so that the gin name is written once.
  features: str = "inception"
  needs_real: bool = True
  needs_generator: bool = False

  def value_names(self) -> List[str]:
    raise NotImplementedError

  def check_dataset(self, info) -> None:
    """Called by the evaluator before anything is scored, with the dataset's `DatasetInfo`:
    raises config.ConfigError when the task does not apply to it. Default: every dataset."""

  def __call__(self, real: Optional[Dict[str, np.ndarray]],
               fake: Dict[str, np.ndarray]) -> Dict[str, float]:
    raise NotImplementedError

  def card(self) -> dict:
    """The task's protocol settings (go into every value's protocol card)."""
    settings = dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}
    return {"task": type(self).gin_name, "features": self.features, **settings}


# Gin name -> task class, in definition order (error messages list the valid `@name()`s from it).
TASKS: Dict[str, Type[Task]] = {}


def _register(gin_name: str) -> Callable[[Type[Task]], Type[Task]]:
  """Class decorator: registers a task with gin under `gin_name`, sets `cls.gin_name` and adds it
  to `TASKS`, so that the one name serves gin references, protocol cards and `TASKS`."""
  def register(cls: Type[Task]) -> Type[Task]:
    cls.gin_name = gin_name
    cls = gin.configurable(gin_name)(cls)
    TASKS[gin_name] = cls
    return cls
  return register


def _features_kind(task: str, features: str, allowed=("inception", "pixels")) -> str:
  if features not in allowed:
    raise ValueError(f"{task}.features={features!r}; valid: {', '.join(map(repr, allowed))}.")
  return features


def _suffix(features: str) -> str:
  return "" if features == "inception" else f"_{features}"


def _embedding(features: Dict[str, np.ndarray], kind: str) -> np.ndarray:
  return features["pool_3"] if kind == "inception" else features["pixels"]


# ----------------------------------------------------------------------------------------------
# Inception-feature metrics (the reference's)
# ----------------------------------------------------------------------------------------------

@_register("fid_score")
@dataclasses.dataclass
class FIDScore(Task):
  """Frechet Inception distance (Heusel et al. 2017) on pool_3, float64, unbiased covariance."""

  def value_names(self):
    return ["fid_score"]

  def __call__(self, real, fake):
    from compare_gan.metrics import fid
    return {"fid_score": fid.frechet_distance(real["pool_3"], fake["pool_3"])}


@_register("inception_score")
@dataclasses.dataclass
class InceptionScore(Task):
  """Inception score (Salimans et al. 2016) of the fake logits; `splits=1` is compare_gan's
  protocol (TF-GAN's `classifier_score_from_logits` over all N), 10 the common one."""
  splits: int = 1
  needs_real = False

  def value_names(self):
    return ["inception_score"]

  def __call__(self, real, fake):
    from compare_gan.metrics import inception_score
    mean, _ = inception_score.inception_score(fake["logits"], splits=self.splits)
    return {"inception_score": mean}


@_register("kid_score")
@dataclasses.dataclass
class KIDScore(Task):
  """Kernel Inception distance (Binkowski et al. 2018), unbiased MMD^2 with the cubic
  polynomial kernel; `estimator` 'blocks' (TF-GAN/compare_gan, blocks of <= max_block_size) or
  'subsets' (torch-fidelity: num_subsets random subsets of subset_size)."""
  estimator: str = "blocks"
  max_block_size: int = 1024
  num_subsets: int = 100
  subset_size: int = 1000

  def value_names(self):
    return ["kid_score"]

  def __call__(self, real, fake):
    from compare_gan.metrics import kid
    result = kid.kernel_distance(real["pool_3"], fake["pool_3"], estimator=self.estimator,
                                 max_block_size=self.max_block_size,
                                 num_subsets=self.num_subsets, subset_size=self.subset_size)
    return {"kid_score": result.mean}


# ----------------------------------------------------------------------------------------------
# Diversity and precision/recall metrics (Inception features or pixels)
# ----------------------------------------------------------------------------------------------

@_register("ms_ssim")
@dataclasses.dataclass
class MultiscaleSSIM(Task):
  """Mean MS-SSIM over all ordered pairs of distinct fake images in `num_batches` batches of
  `batch_size` (Fedus, Rosca et al. 2017; compare_gan's diversity score): lower = more diverse.
  Images only (not 2-D points)."""
  batch_size: int = 64
  num_batches: int = 5
  features = "images"
  needs_real = False

  @property
  def num_images(self) -> int:
    return self.batch_size * self.num_batches

  def value_names(self):
    return ["ms_ssim"]

  def __call__(self, real, fake):
    from compare_gan.metrics import ms_ssim
    images = fake["images"]
    # Batches are drawn without replacement within a batch: fewer images than one batch would
    # change the protocol, so that is an error rather than a silently smaller batch.
    if len(images) < self.batch_size:
      raise ValueError(f"{self.gin_name}.batch_size={self.batch_size} is larger than the "
                       f"{len(images)} fake images evaluated.")
    return {"ms_ssim": ms_ssim.ms_ssim_score(images, batch_size=self.batch_size,
                                             num_batches=self.num_batches, seed=0)}


@_register("prd_score")
@dataclasses.dataclass
class PRDScore(Task):
  """Precision and recall for distributions (Sajjadi et al. 2018): max F_8 (recall) and
  F_1/8 (precision) of the PRD curve, k-means with `num_clusters` over `num_runs` runs."""
  features: str = "inception"
  num_clusters: int = 20
  num_angles: int = 1001
  num_runs: int = 10

  def __post_init__(self):
    _features_kind(self.gin_name, self.features)

  def value_names(self):
    s = _suffix(self.features)
    return [f"prd_f8{s}", f"prd_f1_8{s}"]

  def __call__(self, real, fake):
    from compare_gan.metrics import prd
    precision, recall = prd.compute_prd_from_embedding(
        _embedding(fake, self.features), _embedding(real, self.features),
        num_clusters=self.num_clusters, num_angles=self.num_angles, num_runs=self.num_runs)
    f8, f1_8 = prd.prd_to_max_f_beta_pair(precision, recall, beta=8)
    names = self.value_names()
    return {names[0]: f8, names[1]: f1_8}


@_register("precision_recall")
@dataclasses.dataclass
class PrecisionRecall(Task):
  """Improved precision and recall (Kynkaanniemi et al. 2019), k-NN balls with k = `k`."""
  features: str = "inception"
  k: int = 3

  def __post_init__(self):
    _features_kind(self.gin_name, self.features)

  def value_names(self):
    s = _suffix(self.features)
    return [f"precision{s}", f"recall{s}"]

  def __call__(self, real, fake):
    from compare_gan.metrics import precision_recall
    p, r = precision_recall.improved_precision_recall(
        _embedding(real, self.features), _embedding(fake, self.features), k=self.k)
    names = self.value_names()
    return {names[0]: p, names[1]: r}


@_register("density_coverage")
@dataclasses.dataclass
class DensityCoverage(Task):
  """Density and coverage (Naeem et al. 2020), real k-NN balls with k = `k`."""
  features: str = "inception"
  k: int = 5

  def __post_init__(self):
    _features_kind(self.gin_name, self.features)

  def value_names(self):
    s = _suffix(self.features)
    return [f"density{s}", f"coverage{s}"]

  def __call__(self, real, fake):
    from compare_gan.metrics import precision_recall
    d, c = precision_recall.density_coverage(
        _embedding(real, self.features), _embedding(fake, self.features), k=self.k)
    names = self.value_names()
    return {names[0]: d, names[1]: c}


# ----------------------------------------------------------------------------------------------
# Weight-free metrics for the built-in data
# ----------------------------------------------------------------------------------------------

@_register("sliced_wasserstein")
@dataclasses.dataclass
class SlicedWasserstein(Task):
  """Sliced Wasserstein distance between real and fake pixels (or 2-D points), averaged over
  `num_projections` seeded random directions."""
  num_projections: int = 256
  features = "pixels"

  def value_names(self):
    return ["swd_pixels"]

  def __call__(self, real, fake):
    from compare_gan.metrics import sliced_wasserstein
    return {"swd_pixels": sliced_wasserstein.sliced_wasserstein_distance(
        real["pixels"], fake["pixels"], num_projections=self.num_projections, seed=0)}


@_register("mode_metrics")
@dataclasses.dataclass
class ModeMetrics(Task):
  """Exact mode statistics of the 2-D Gaussian mixtures (ring8, grid25): the rate of
  high-quality samples (closer than `num_std` standard deviations to a mode), the modes with at
  least one (VEEGAN, PacGAN), and the KL divergence of their mode histogram from uniform
  (`reverse_kl`, nats; undefined, recorded as null, when no sample is high quality)."""
  num_std: float = 3.0
  features = "pixels"
  needs_real = False
  mixture: Optional[str] = dataclasses.field(default=None, repr=False)  # set by the loop

  def value_names(self):
    return ["modes_covered", "high_quality_rate", "reverse_kl"]

  def __call__(self, real, fake):
    from compare_gan.metrics import mixtures
    if self.mixture is None:
      raise config.ConfigError(
          "mode_metrics applies to the 2-D mixture datasets (ring8, grid25) only.")
    out = mixtures.mode_metrics(fake["pixels"], self.mixture, num_std=self.num_std)
    return {name: float(out[name]) for name in self.value_names()}

  def card(self):
    card = super().card()
    card.pop("mixture", None)
    return card


# ----------------------------------------------------------------------------------------------
# Precision and recall on the convex polygons ("Are GANs Created Equal?", our definition)
# ----------------------------------------------------------------------------------------------

@_register("polygon_prf")
@dataclasses.dataclass
class PolygonPRF(Task):
  """Precision, recall and F1 on the convex polygons (triangles, squares; Lucic et al. 2018,
  our definition, metrics/polygon_prf.py): samples within RMS `delta` of the dataset's
  polygons; test polygons that G reconstructs within `delta` by Adam on z.

  Precision: the first `num_samples` fake images, each fitted by the dataset's polygons (a
  `grid_step_degrees` grid, then `fit_iterations` Levenberg-Marquardt steps). Recall: the first
  `num_test_polygons` images of the real split (the held-out test split by default), each
  inverted from `restarts` random z by `steps` Adam steps of `learning_rate` on tanh-bounded z.
  """
  delta: float = 0.08
  num_samples: int = 1000
  num_test_polygons: int = 100
  restarts: int = 5
  steps: int = 200
  learning_rate: float = 0.05
  grid_step_degrees: float = 10.0
  fit_iterations: int = 15
  features = "pixels"
  needs_generator = True
  _family = None  # The dataset's polygons, from `check_dataset` (not a setting: no field).

  def __post_init__(self):
    for name in ("delta", "learning_rate", "grid_step_degrees"):
      if not getattr(self, name) > 0:
        raise config.ConfigError(f"{self.gin_name}.{name} must be positive; got "
                                 f"{getattr(self, name)!r}.")
    for name in ("num_samples", "num_test_polygons", "restarts", "steps"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise config.ConfigError(f"{self.gin_name}.{name} must be an integer >= 1; got "
                                 f"{value!r}.")
    if isinstance(self.fit_iterations, bool) or not isinstance(self.fit_iterations, int) or (
        self.fit_iterations < 0):
      raise config.ConfigError(f"{self.gin_name}.fit_iterations must be an integer >= 0; got "
                               f"{self.fit_iterations!r}.")

  def value_names(self):
    return ["polygon_precision", "polygon_recall", "polygon_f1"]

  def check_dataset(self, info):
    from compare_gan.metrics import polygon_prf
    self._family = polygon_prf.family_for(info.name)
    if self._family is None or tuple(info.image_shape) != (
        self._family.raster_dim, self._family.raster_dim, 1):
      raise config.ConfigError(
          f"{self.gin_name} applies to the convex polygons "
          f"({', '.join(polygon_prf.POLYGON_DATASETS)}); dataset {info.name!r} is not one.")

  def __call__(self, real, fake, generator: Optional[GeneratorHandle] = None):
    from compare_gan.metrics import polygon_prf
    if self._family is None or generator is None:
      raise ValueError(f"{self.gin_name} needs the dataset and the generator: score it "
                       "through metrics.evaluate.Evaluator.")
    for what, have, name in (("fake", len(fake["pixels"]), "num_samples"),
                             ("real", len(real["pixels"]), "num_test_polygons")):
      if have < getattr(self, name):
        raise ValueError(f"{self.gin_name}.{name}={getattr(self, name)} is larger than the "
                         f"{have} {what} images evaluated.")
    precision = polygon_prf.polygon_precision(
        fake["pixels"][:self.num_samples], self._family, delta=self.delta,
        grid_step_degrees=self.grid_step_degrees, iterations=self.fit_iterations)
    recall = polygon_prf.polygon_recall(
        generator.generate, real["pixels"][:self.num_test_polygons], delta=self.delta,
        z_dim=generator.z_dim, z_distribution=generator.z_distribution, seed=generator.seed,
        restarts=self.restarts, steps=self.steps, learning_rate=self.learning_rate)
    return {"polygon_precision": precision, "polygon_recall": recall,
            "polygon_f1": polygon_prf.f1_score(precision, recall)}

  def card(self):
    from compare_gan.metrics import polygon_prf
    return {**super().card(), **polygon_prf.CARD}


def default_tasks(dataset_name: str, image_shape, inception_available: bool) -> List[Task]:
  """The metrics `compare_gan eval` computes when `evaluation.metrics` is not set.

  2-D mixtures: mode metrics, SWD and pixel precision/recall. Images: FID, IS and KID when the
  Inception weights are available (the reference's IS + FID, plus KID from the same features),
  then, weight-free and always, MS-SSIM, SWD and precision/recall on pixels.
  """
  if len(image_shape) == 1:
    modes = ModeMetrics()
    modes.mixture = dataset_name
    return [modes, SlicedWasserstein(), PrecisionRecall(features="pixels")]
  tasks: List[Task] = []
  if inception_available:
    tasks += [FIDScore(), InceptionScore(), KIDScore()]
  tasks += [MultiscaleSSIM(), SlicedWasserstein(), PrecisionRecall(features="pixels")]
  return tasks


config.register_catalogue(
    "metrics", "metrics (evaluation.metrics)",
    lambda: [(f"@{name}()", config.summary(task)) for name, task in TASKS.items()])
