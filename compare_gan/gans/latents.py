"""The seed tree and the latents: every random draw of training, evaluation and sampling.

Randomness is stateless. A draw's seed folds integers into a base seed with `derive_seed`, and
the last integer is a purpose from the table below, so two draws never share a seed and a draw
depends only on where it happens (never on what ran before): a resumed run, a run on another
number of replicas and a re-evaluation draw the same numbers.

  training step   derive_seed([train.seed, 0], step, sub_step, TRAIN_*)     (modular_gan.py)
  summary grid    derive_seed([train.seed, 0], SUMMARY_Z)                   (training/loop.py)
  evaluation run  derive_seed([evaluation.seed, run], EVAL_Z | EVAL_LABELS)
  BN statistics   derive_seed([evaluation.seed, -1], EVAL_BN, batch)
  sampling        derive_seed([seed, 0], SAMPLE_Z | INTERPOLATION_START | INTERPOLATION_END)
  z inversion     derive_seed([evaluation.seed, run], INVERSION_Z)  (metrics/polygon_prf.py)
  tournament      derive_seed([tournament seed, 0], TOURNAMENT_Z)   (metrics/skill_rating.py)

gin surface: `z.*` (the training z, reference `ModularGAN.z_generator`) and `eval_z.*` (the z of
evaluation samples, reference `eval_gan_lib.z_generator`; unbound: the training z).
"""

import dataclasses
import math
from typing import Callable, List, Optional, Sequence, Tuple

import gin
import tensorflow as tf

from compare_gan import config
from compare_gan import gin_externals

# ----------------------------------------------------------------------------------------------
# The purposes: the last integer folded into a draw's seed (values fixed: changing one changes
# every result drawn with it)
# ----------------------------------------------------------------------------------------------
TRAIN_Z, TRAIN_LABELS, TRAIN_PENALTY = 0, 1, 2
SUMMARY_Z = -1
EVAL_Z, EVAL_LABELS, EVAL_BN = 1, 2, 3
SAMPLE_Z, INTERPOLATION_START, INTERPOLATION_END = 11, 12, 13
INVERSION_Z = 21
TOURNAMENT_Z = 31

# The z distributions: the `tf.random` functions a config may name as `z.distribution_fn`.
Z_DISTRIBUTIONS = gin_externals.RANDOM


def derive_seed(seed: tf.Tensor, *data) -> tf.Tensor:
  """Folds integers (step, sub-step, purpose, ...) into a stateless seed ([2] int64)."""
  seed = tf.cast(seed, tf.int64)
  for d in data:
    seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(d, tf.int64))
  return seed


# ----------------------------------------------------------------------------------------------
# The z distribution (gin `z`, `eval_z`)
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LatentDistribution:
  """The distribution of z: "uniform" on [minval, maxval), "normal" or "truncated_normal"
  (mean 0, `stddev`). Draws are stateless."""
  kind: str = "uniform"
  minval: float = -1.0
  maxval: float = 1.0
  stddev: float = 1.0

  def sample(self, shape: Sequence[int], seed: tf.Tensor) -> tf.Tensor:
    """float32 `shape`, a pure function of `seed` ([2] int)."""
    if self.kind == "uniform":
      return tf.random.stateless_uniform(shape, seed, self.minval, self.maxval)
    if self.kind == "normal":
      return tf.random.stateless_normal(shape, seed, stddev=self.stddev)
    return tf.random.stateless_truncated_normal(shape, seed, stddev=self.stddev)

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


def parse_z_distribution(name: str) -> LatentDistribution:
  """A z distribution by name ("uniform": U(-1, 1), "normal": N(0, 1), "truncated_normal")."""
  if name not in Z_DISTRIBUTIONS:
    raise config.ConfigError(
        f"Unknown z distribution {name!r}; valid: {', '.join(Z_DISTRIBUTIONS)}.")
  return LatentDistribution(kind=name)


@gin.configurable("z")
def latent_distribution(distribution_fn=None, minval: float = -1.0, maxval: float = 1.0,
                        stddev: float = 1.0) -> LatentDistribution:
  """gin `z` (reference `ModularGAN.z_generator`): `z.distribution_fn` is one of
  `@tf.random.uniform` (default, on [minval, maxval)), `@tf.random.normal`,
  `@tf.random.truncated_normal` (both with `stddev`); the draw itself is stateless."""
  kind = "uniform"
  if distribution_fn is not None:
    names = {id(fn): name for name, fn in gin_externals.RANDOM_FUNCTIONS.items()}
    names.update({id(getattr(tf.random, name)): name for name in Z_DISTRIBUTIONS})
    if id(distribution_fn) not in names:
      raise config.ConfigError(
          f"z.distribution_fn={distribution_fn!r} is not supported; use one of "
          + ", ".join(f"@tf.random.{n}" for n in Z_DISTRIBUTIONS) + ".")
    kind = names[id(distribution_fn)]
  if kind == "uniform" and not minval < maxval:
    raise config.ConfigError(f"z.minval={minval} must be below z.maxval={maxval}.")
  if kind != "uniform" and not stddev > 0:
    raise config.ConfigError(f"z.stddev={stddev} must be positive.")
  return LatentDistribution(kind, float(minval), float(maxval), float(stddev))


@gin.configurable("eval_z")
def eval_latent_distribution(distribution_fn=None, minval: Optional[float] = None,
                             maxval: Optional[float] = None,
                             stddev: Optional[float] = None) -> Optional[LatentDistribution]:
  """gin `eval_z` (reference `eval_gan_lib.z_generator`): the z of evaluation samples. Nothing
  bound: None, i.e. the training `z`. Unbound arguments take `z`'s defaults."""
  if distribution_fn is None and minval is None and maxval is None and stddev is None:
    return None
  return latent_distribution(
      distribution_fn, -1.0 if minval is None else minval, 1.0 if maxval is None else maxval,
      1.0 if stddev is None else stddev)


# ----------------------------------------------------------------------------------------------
# Draws
# ----------------------------------------------------------------------------------------------

def draw_latents(z_distribution: LatentDistribution, z_dim: int, num_classes: Optional[int],
                 seed: tf.Tensor, n: int) -> Tuple[tf.Tensor, Optional[tf.Tensor]]:
  """Evaluation latents: z [n, z_dim] and uniform labels int32 [n] (None when `num_classes` is
  None), a pure function of `seed` ([2] int)."""
  z = z_distribution.sample([n, z_dim], derive_seed(seed, EVAL_Z))
  labels = None
  if num_classes is not None:
    labels = tf.random.stateless_uniform([n], derive_seed(seed, EVAL_LABELS), 0, num_classes,
                                         tf.int32)
  return z, labels


def sample_latents(z_distribution: LatentDistribution, z_dim: int, num: int,
                   seed: int) -> tf.Tensor:
  """z [num, z_dim] of `compare_gan sample`, a pure function of (seed, num)."""
  return z_distribution.sample([num, z_dim], derive_seed(tf.constant([seed, 0], tf.int64),
                                                         SAMPLE_Z))


def interpolation_latents(z_distribution: LatentDistribution, z_dim: int, rows: int,
                          steps: int, seed: int) -> tf.Tensor:
  """z [rows * steps, z_dim]: row r goes from latent A_r to B_r in `steps` equal steps,
  linearly for uniform z (it stays inside the cube) and for normal z along
  `((1 - a) A + a B) / sqrt(a^2 + (1 - a)^2)`, which keeps N(0, 1) marginals (the
  normalisation of the reference's s3gan/ssgan colabs)."""
  if steps < 2:
    raise ValueError(f"an interpolation needs steps >= 2; got {steps}.")
  base = tf.constant([seed, 0], tf.int64)
  a = z_distribution.sample([rows, 1, z_dim], derive_seed(base, INTERPOLATION_START))
  b = z_distribution.sample([rows, 1, z_dim], derive_seed(base, INTERPOLATION_END))
  t = tf.reshape(tf.linspace(0.0, 1.0, steps), [1, steps, 1])
  z = (1.0 - t) * a + t * b
  if z_distribution.kind != "uniform":
    z = z / tf.sqrt(tf.square(t) + tf.square(1.0 - t))
  return tf.reshape(z, [rows * steps, z_dim])


def accumulate_bn_statistics(sample_fn: Callable[..., tf.Tensor], standardizers: List,
                             latents_fn: Callable[[tf.Tensor, int], tuple], *, samples: int,
                             batch_size: int, seed: int) -> None:
  """Accumulated BN statistics (reference `model-with-accu.ckpt`): resets the accumulators of
  `standardizers` (normalization.Standardize layers), then averages the statistics of `samples`
  inference samples (batches of `batch_size`, latents `latents_fn(seed, n)`). Evaluation and
  export share it, so an exported module normalises exactly as its evaluation did."""
  if not standardizers:
    return
  batches = math.ceil(samples / batch_size)
  if batches == 0:
    raise config.ConfigError("The generator normalises with accumulated statistics "
                             "(standardize_batch.use_moving_averages=False); "
                             "evaluation.bn_accumulation_samples must be positive.")
  for s in standardizers:
    s.reset_accumulators()
    s.set_accumulating(True)
  base = tf.constant([seed, -1], tf.int64)
  try:
    for i in range(batches):
      sample_fn(*latents_fn(derive_seed(base, EVAL_BN, i), batch_size))
  finally:
    for s in standardizers:
      s.set_accumulating(False)
