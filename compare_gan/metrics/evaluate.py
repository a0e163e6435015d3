"""Evaluating a run's checkpoints: sample, extract features, score, record.

The protocol is the reference's (compare_gan v3 `eval_gan_lib.evaluate_tfhub_module`) by
default; gin `evaluation.*` changes it:

  evaluation.num_fake = None            # fake samples per run; None: the dataset's eval_size
                                        # (10k; 30k LSUN; 3k CelebA-HQ)
  evaluation.num_real = None            # first N of the real split; None: num_fake
  evaluation.real_split = None          # None: the dataset's eval split
  evaluation.num_averaging_runs = 3     # independent fake sets -> mean/std/list
  evaluation.batch_size = 64
  evaluation.seed = 42                  # z and labels of every run
  evaluation.use_ema = None             # None: EMA weights when trained with EMA
  evaluation.bn_accumulation_samples = 204800   # for `standardize_batch.use_moving_averages
                                        # = False` (accumulated statistics), as the reference
  evaluation.cache_dir = None           # real-feature cache; None: $COMPARE_GAN_CACHE_DIR
                                        # or ~/.cache/compare_gan, subdirectory features/
  evaluation.metrics = None             # list of @task(); None: tasks.default_tasks
  eval_z.distribution_fn = None         # eval z; unset: the training z (see below)
  inception.weights = None              # Inception weights (metrics/inception.py), and
  inception.quantize = False            # rounding of x255 images to integers before it

Each run draws its z from (seed, run, batch), so every checkpoint is scored on the same
latents. Real features are computed once per (dataset fingerprint, split, n, features) and
cached on disk. Every value is appended to metrics.jsonl with its protocol card, scores.csv is
rewritten from it, and TensorBoard gets `eval/<name>` under tb/eval.

A generator that is not a checkpoint of the run (a TF Hub module: `compare_gan eval --module`)
is scored by `Evaluator(None, source=GeneratorSource(...))` under the same protocol; its cards
say `"generator": "module <path>"` and `"bn_statistics": "as exported"`, and `score()` returns
the records for the caller to store (a module has no run directory).

Where this differs from the reference: eval z follows the training z unless `eval_z` is bound
(the reference always defaulted to U(-1, 1)); non-finite generator output is recorded as
`"status": "non_finite_output"` with null values rather than the 31337.0 sentinel.
"""

import dataclasses
import hashlib
import json
import math
import os
import time
from typing import Callable, Dict, Iterator, List, Optional

import gin
import keras
import numpy as np
import tensorflow as tf

from compare_gan import datasets
from compare_gan.architectures import normalization
from compare_gan.gans import modular_gan
from compare_gan.metrics import results as results_lib
from compare_gan.metrics import tasks as tasks_lib
from compare_gan.training import checkpoints as checkpoints_lib
from compare_gan.training import run_dir

_SEED_PURPOSE_Z, _SEED_PURPOSE_LABELS, _SEED_PURPOSE_BN = 1, 2, 3


@gin.configurable("eval_z")
def eval_latent_distribution(distribution_fn=None, minval: Optional[float] = None,
                             maxval: Optional[float] = None,
                             stddev: Optional[float] = None
                             ) -> Optional[modular_gan.LatentDistribution]:
  """gin `eval_z` (reference `eval_gan_lib.z_generator`): the z of evaluation samples. Nothing
  bound: None, i.e. the training `z`. Unbound arguments take `z`'s defaults."""
  if distribution_fn is None and minval is None and maxval is None and stddev is None:
    return None
  return modular_gan.latent_distribution(
      distribution_fn, -1.0 if minval is None else minval, 1.0 if maxval is None else maxval,
      1.0 if stddev is None else stddev)


@dataclasses.dataclass
class Protocol:
  """How a checkpoint is scored (see the module docstring for each field)."""
  num_fake: Optional[int] = None
  num_real: Optional[int] = None
  real_split: Optional[str] = None
  num_averaging_runs: int = 3
  batch_size: int = 64
  seed: int = 42
  use_ema: Optional[bool] = None
  bn_accumulation_samples: int = 204800
  cache_dir: Optional[str] = None
  metrics: Optional[List[tasks_lib.Task]] = None


@gin.configurable("evaluation")
def evaluation_protocol(num_fake: Optional[int] = None, num_real: Optional[int] = None,
                        real_split: Optional[str] = None, num_averaging_runs: int = 3,
                        batch_size: int = 64, seed: int = 42, use_ema: Optional[bool] = None,
                        bn_accumulation_samples: int = 204800,
                        cache_dir: Optional[str] = None,
                        metrics: Optional[List[tasks_lib.Task]] = None) -> Protocol:
  """gin `evaluation.*`: the evaluation protocol (fields of `Protocol`)."""
  return Protocol(num_fake=num_fake, num_real=num_real, real_split=real_split,
                  num_averaging_runs=num_averaging_runs, batch_size=batch_size, seed=seed,
                  use_ema=use_ema, bn_accumulation_samples=bn_accumulation_samples,
                  cache_dir=cache_dir,
                  metrics=None if metrics is None else list(metrics))


@dataclasses.dataclass
class GeneratorSource:
  """A generator to score that is not a checkpoint of the run's model, e.g. a TF Hub module
  (`export.load_module(...).as_source()`).

  `sample_fn(z [B, z_dim], labels int32 [B] or None) -> images [B, *image_shape]` in [0, 1].
  `num_classes=None` with `conditional=True` takes the dataset's number of classes.
  """
  sample_fn: Callable[..., tf.Tensor]
  z_dim: int
  z_distribution: modular_gan.LatentDistribution
  conditional: bool = False
  num_classes: Optional[int] = None
  name: str = "module"


def draw_latents(z_distribution: modular_gan.LatentDistribution, z_dim: int,
                 num_classes: Optional[int], seed: tf.Tensor, n: int):
  """z [n, z_dim] and uniform labels [n] (None when `num_classes` is None), a pure function of
  `seed` ([2] int)."""
  z = z_distribution.sample([n, z_dim], modular_gan.derive_seed(seed, _SEED_PURPOSE_Z))
  labels = None
  if num_classes is not None:
    labels = tf.random.stateless_uniform(
        [n], modular_gan.derive_seed(seed, _SEED_PURPOSE_LABELS), 0, num_classes, tf.int32)
  return z, labels


def accumulate_bn_statistics(sample_fn: Callable[..., tf.Tensor],
                             standardizers: List[normalization.Standardize],
                             latents_fn: Callable[[tf.Tensor, int], tuple], *, samples: int,
                             batch_size: int, seed: int) -> None:
  """Accumulated BN statistics (reference `model-with-accu.ckpt`): resets the accumulators of
  `standardizers`, then averages the statistics of `samples` inference samples (batches of
  `batch_size`, latents `latents_fn(seed, n)`). `compare_gan eval` and `export` share it, so an
  exported module normalises exactly as its evaluation did."""
  if not standardizers:
    return
  batches = math.ceil(samples / batch_size)
  if batches == 0:
    raise ValueError("The generator normalises with accumulated statistics "
                     "(standardize_batch.use_moving_averages=False); "
                     "evaluation.bn_accumulation_samples must be positive.")
  for s in standardizers:
    s.reset_accumulators()
    s.set_accumulating(True)
  base = tf.constant([seed, -1], tf.int64)
  try:
    for i in range(batches):
      sample_fn(*latents_fn(modular_gan.derive_seed(base, _SEED_PURPOSE_BN, i), batch_size))
  finally:
    for s in standardizers:
      s.set_accumulating(False)


class NonFiniteSamples(Exception):
  """The generator produced NaN or Inf."""


def _validate(protocol: Protocol) -> None:
  for name in ("num_averaging_runs", "batch_size"):
    datasets.positive_int(f"evaluation.{name}", getattr(protocol, name))
  for name in ("num_fake", "num_real"):
    if getattr(protocol, name) is not None:
      datasets.positive_int(f"evaluation.{name}", getattr(protocol, name))
  if not isinstance(protocol.bn_accumulation_samples, int) or protocol.bn_accumulation_samples < 0:
    raise ValueError("evaluation.bn_accumulation_samples must be an integer >= 0; got "
                     f"{protocol.bn_accumulation_samples!r}.")
  if protocol.metrics is not None:
    if not protocol.metrics:
      raise ValueError("evaluation.metrics is empty; list at least one task, e.g. "
                       "[@fid_score()].")
    for task in protocol.metrics:
      if not isinstance(task, tasks_lib.Task):
        raise ValueError(f"evaluation.metrics holds {task!r}, not a metric task; valid: "
                         + ", ".join(f"@{n}()" for n in tasks_lib.TASKS) + ".")


class Evaluator:
  """Scores checkpoints of one run directory under one protocol.

  Builds the run's dataset and model from the (already parsed) gin config, the feature
  extractors the tasks need, and the real features (cached). `evaluate(checkpoint)` restores a
  checkpoint into its own model and returns the records it appended to metrics.jsonl.

  With `source` (a generator not backed by a checkpoint, e.g. a TF Hub module) no model is
  built and `model_dir` may be None: gin needs only `dataset.*` and `evaluation.*`, and
  `score()` returns records without writing them anywhere.
  """

  def __init__(self, model_dir: Optional[str], protocol: Optional[Protocol] = None,
               log: Callable[[str], None] = print, source: Optional[GeneratorSource] = None):
    self.model_dir, self.log = model_dir, log
    self.protocol = protocol if protocol is not None else evaluation_protocol()
    _validate(self.protocol)
    p = self.protocol
    self.dataset = datasets.get_dataset()
    self.info = self.dataset.info
    self.is_points = len(self.info.image_shape) == 1

    self.source = source
    if source is not None:
      self._init_source(source)
    else:
      self._init_model()

    # Sizes ----------------------------------------------------------------------------------
    self.real_split = p.real_split or self.info.eval_split
    self.num_fake = p.num_fake or self.info.eval_size
    self.num_real = p.num_real or self.num_fake

    # Tasks and feature extractors -----------------------------------------------------------
    self.inception = None
    inception_error = None
    explicit = p.metrics is not None
    candidate_tasks = list(p.metrics) if explicit else tasks_lib.default_tasks(
        self.info.name, self.info.image_shape, inception_available=True)
    for task in candidate_tasks:
      if isinstance(task, tasks_lib.ModeMetrics):
        if not self.is_points:
          raise ValueError(f"mode_metrics applies to the 2-D mixtures; {self.info.name!r} "
                           "holds images.")
        task.mixture = self.info.name
      if task.features == "images" and self.is_points:
        raise ValueError(f"{task.gin_name} needs images; {self.info.name!r} holds 2-D points.")
    if any(t.features == "inception" for t in candidate_tasks):
      if self.is_points:
        raise ValueError("Inception metrics need images; dataset "
                         f"{self.info.name!r} holds 2-D points. Use mode_metrics, "
                         "sliced_wasserstein or precision_recall(features='pixels').")
      from compare_gan.metrics import inception
      try:
        self.inception = inception.load_inception()  # gin `inception.*`
      except inception.InceptionWeightsNotFound as e:
        if explicit:
          raise
        inception_error = e
    if inception_error is not None:
      self.log(f"WARNING: Inception metrics (FID, IS, KID) are not computed: {inception_error}")
      candidate_tasks = [t for t in candidate_tasks if t.features != "inception"]
    self.tasks = candidate_tasks
    self.kinds = sorted({t.features for t in self.tasks} - {"images"})
    self.num_images_kept = max([t.num_images for t in self.tasks
                                if isinstance(t, tasks_lib.MultiscaleSSIM)], default=0)

    self._real: Optional[Dict[str, np.ndarray]] = None
    self._fingerprint: Optional[str] = None
    self.log(f"evaluation: {', '.join(t.gin_name for t in self.tasks)} on {self.num_fake} fake "
             f"x {p.num_averaging_runs} runs vs {self.num_real} real ({self.info.name} "
             f"{self.real_split}), {self.generator_name} generator")

  def _init_model(self):
    """The run's model and checkpoint (G and its EMA copy only)."""
    p = self.protocol
    # Sampling runs in float32 whatever the training precision (variables are float32 under
    # every Keras mixed policy, so any run's checkpoint restores into this model).
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
      self.model = modular_gan.ModularGAN(self.info.image_shape, self.info.num_classes)
    finally:
      keras.mixed_precision.set_global_policy(policy)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    # Only what sampling needs: the optimizers' checkpoint structure depends on the training
    # precision (mixed_float16 wraps them in loss scaling), G's does not.
    items = {k: v for k, v in self.model.checkpoint_items().items()
             if k in ("generator", "generator_ema")}
    self.checkpoint = tf.train.Checkpoint(step=self.step, **items)
    self.use_ema = (self.model.generator_ema is not None) if p.use_ema is None else p.use_ema
    if self.use_ema and self.model.generator_ema is None:
      raise ValueError("evaluation.use_ema=True, but the run was trained without EMA "
                       "(ModularGAN.g_use_ema=False).")
    self.z_distribution = eval_latent_distribution() or self.model.z
    generator = self.model.sampling_generator if self.use_ema else self.model.generator
    self.accumulating_bn = [s for s in normalization.standardizers(generator)
                            if not s.use_moving_averages]
    self.z_dim, self.num_classes = self.model.z_dim, self.model.num_classes
    self.generator_name = "EMA" if self.use_ema else "raw"
    self._sample_fn = self._make_sample_fn(generator)

  def _init_source(self, source: GeneratorSource):
    """A generator given as a function: no model, no checkpoint, no BN accumulation."""
    if self.protocol.use_ema is not None:
      raise ValueError("evaluation.use_ema applies to a run's checkpoints; a module is scored "
                       "as exported (export with or without --no_ema instead).")
    self.model = self.checkpoint = None
    self.use_ema = None
    self.accumulating_bn = []
    self.z_distribution = eval_latent_distribution() or source.z_distribution
    self.z_dim = int(source.z_dim)
    self.num_classes = source.num_classes
    if source.conditional:
      if self.info.num_classes is None:
        raise ValueError(f"{source.name} is conditional but dataset {self.info.name!r} has no "
                         "labels; score it on a labelled dataset.")
      if self.num_classes is None:
        self.num_classes = self.info.num_classes
      elif self.num_classes != self.info.num_classes:
        raise ValueError(f"{source.name} has {self.num_classes} classes but dataset "
                         f"{self.info.name!r} has {self.info.num_classes}.")
    else:
      self.num_classes = None
    self.generator_name = source.name
    self._sample_fn = source.sample_fn
    z, labels = draw_latents(self.z_distribution, self.z_dim, self.num_classes,
                             tf.constant([0, 0], tf.int64), 1)
    shape = tuple(self._sample_fn(z, labels).shape[1:])
    if shape != tuple(self.info.image_shape):
      raise ValueError(f"{source.name} makes samples of shape {shape}, but dataset "
                       f"{self.info.name!r} holds {tuple(self.info.image_shape)}.")

  # ------------------------------------------------------------------------------------------
  # Features
  # ------------------------------------------------------------------------------------------

  def _make_sample_fn(self, generator):
    one_hot = self.model._one_hot  # pylint: disable=protected-access

    @tf.function
    def sample(z, labels):
      return generator(z, y=one_hot(labels) if self.model.conditional else None,
                       training=False)
    return sample

  def _extract(self, images: np.ndarray) -> Dict[str, np.ndarray]:
    from compare_gan.metrics import features as features_lib
    out = {}
    if "inception" in self.kinds:
      out.update(self.inception(images))
    if "pixels" in self.kinds:
      out.update(features_lib.pixel_features(images,
                                             max_resolution=tasks_lib.PIXEL_RESOLUTION))
    return out

  def _features(self, batches: Iterator[np.ndarray], n: int) -> Dict[str, np.ndarray]:
    from compare_gan.metrics import features as features_lib
    return features_lib.extract_features(self._extract, batches, batch_size=self.protocol.batch_size,
                                         num_examples=n)

  def fingerprint(self) -> str:
    """sha256 of the dataset's identity (name, shape, split, n) and its first eval batch."""
    if self._fingerprint is None:
      first = next(iter(self.dataset.eval_input(batch_size=self.protocol.batch_size,
                                                split=self.real_split,
                                                num_examples=self.num_real)))
      h = hashlib.sha256(json.dumps(dict(name=self.info.name,
                                         image_shape=list(self.info.image_shape),
                                         split=self.real_split, n=self.num_real),
                                    sort_keys=True).encode())
      h.update(np.ascontiguousarray(first["images"].numpy(), np.float32).tobytes())
      self._fingerprint = h.hexdigest()
    return self._fingerprint

  def _feature_card(self) -> dict:
    card = {}
    if "inception" in self.kinds:
      card["inception"] = self.inception.cache_key()  # the card without file locations
    if "pixels" in self.kinds:
      card["pixels"] = _pixels_id(self.info.image_shape)
    return card

  def real_features(self) -> Dict[str, np.ndarray]:
    """Features of the first num_real examples of the real split (cached on disk)."""
    if self._real is None:
      if not self.kinds:
        self._real = {}
        return self._real
      from compare_gan.metrics import features as features_lib
      key = dict(dataset=self.info.name, fingerprint=self.fingerprint(), split=self.real_split,
                 n=self.num_real, features=self._feature_card(),
                 batch_size=self.protocol.batch_size)

      def compute():
        self.log(f"computing real features: {self.num_real} examples of {self.info.name} "
                 f"{self.real_split} ({', '.join(self.kinds)})")
        ds = self.dataset.eval_input(batch_size=self.protocol.batch_size, split=self.real_split,
                                     num_examples=self.num_real)
        return self._features((b["images"].numpy() for b in ds), self.num_real)

      cache = features_lib.FeatureCache(
          os.path.join(self.protocol.cache_dir, "features") if self.protocol.cache_dir
          else None)
      self._real = cache.get_or_compute(key, compute)
    return self._real

  def _fake_batches(self, run: int, kept: List[np.ndarray]) -> Iterator[np.ndarray]:
    """Generator batches of run `run`; keeps the first images for MS-SSIM in `kept`.

    All z (and labels) of a run are drawn in one go and sliced, so sample i is the same for
    any `evaluation.batch_size`."""
    b, n = self.protocol.batch_size, self.num_fake
    z_all, labels_all = self._latents(tf.constant([self.protocol.seed, run], tf.int64), n)
    have = 0
    for i in range(math.ceil(n / b)):
      z = z_all[i * b:(i + 1) * b]
      labels = None if labels_all is None else labels_all[i * b:(i + 1) * b]
      images = self._sample_fn(z, labels).numpy()
      bad = int(np.size(images) - np.isfinite(images).sum())
      if bad:
        raise NonFiniteSamples(f"{bad} non-finite values in generator output (run {run}, "
                               f"batch {i})")
      if have < self.num_images_kept:
        kept.append(images[:self.num_images_kept - have])
        have += len(kept[-1])
      yield images

  def _latents(self, seed, n):
    """z [n, z_dim] and labels [n] (None when unconditional), a pure function of seed."""
    return draw_latents(self.z_distribution, self.z_dim, self.num_classes, seed, n)

  def _accumulate_bn(self):
    accumulate_bn_statistics(self._sample_fn, self.accumulating_bn, self._latents,
                             samples=self.protocol.bn_accumulation_samples,
                             batch_size=self.protocol.batch_size, seed=self.protocol.seed)

  # ------------------------------------------------------------------------------------------
  # Scoring
  # ------------------------------------------------------------------------------------------

  def protocol_card(self, task: tasks_lib.Task) -> dict:
    p = self.protocol
    card = dict(
        dataset=self.info.name, dataset_fingerprint=self.fingerprint(),
        real_split=self.real_split, n_real=self.num_real if task.needs_real else 0,
        n_fake=self.num_fake, averaging_runs=p.num_averaging_runs, batch_size=p.batch_size,
        seed=p.seed, eval_z=self.z_distribution.as_dict(),
        generator=(self.source.name if self.source is not None
                   else "ema" if self.use_ema else "raw"),
        bn_statistics=("as exported" if self.source is not None
                       else f"accumulated over {p.bn_accumulation_samples} samples"
                       if self.accumulating_bn else "moving averages"),
        task=task.card())
    if task.features == "inception":
      card["feature_extractor"] = self.inception.card()
    elif task.features == "pixels":
      card["feature_extractor"] = {"id": _pixels_id(self.info.image_shape)}
    else:
      card["feature_extractor"] = {"id": "none (images)"}
    return card

  def restore(self, checkpoint_path: str) -> int:
    """Loads G (and its EMA copy) and the step of a checkpoint; returns the step."""
    if self.source is not None:
      raise ValueError(f"{self.source.name} is not a run's model: score it with score(), "
                       "without a checkpoint.")
    self.checkpoint.restore(checkpoint_path).expect_partial().assert_existing_objects_matched()
    return int(self.step.numpy())

  def evaluate(self, checkpoint_path: str) -> List[dict]:
    """Scores one checkpoint; appends its records to metrics.jsonl, rewrites scores.csv,
    writes TensorBoard; returns the records."""
    step = self.restore(checkpoint_path)
    records = self.score(step, checkpoint=os.path.relpath(checkpoint_path, self.model_dir))
    results_lib.record(self.model_dir, records)
    return records

  def score(self, step: Optional[int], **fields) -> List[dict]:
    """Scores the generator as it is now (a restored checkpoint, or the source); returns one
    record per metric value, with `fields` (e.g. checkpoint=..., module=...) added."""
    start = time.time()
    label = f"step {step}" if self.source is None else self.source.name
    real = self.real_features()
    self._accumulate_bn()
    names = [name for t in self.tasks for name in t.value_names()]
    per_run: Dict[str, List[float]] = {name: [] for name in names}
    failure = None
    for run in range(self.protocol.num_averaging_runs):
      kept: List[np.ndarray] = []
      try:
        fake = self._features(self._fake_batches(run, kept), self.num_fake)
      except NonFiniteSamples as e:
        failure = str(e)
        self.log(f"{label}: {failure}; its metrics are recorded as non-finite")
        break
      if kept:
        fake["images"] = np.concatenate(kept)
      for task in self.tasks:
        for name, value in task(real if task.needs_real else None, fake).items():
          per_run[name].append(float(value))
    records = []
    for task in self.tasks:
      card = self.protocol_card(task)
      for name in task.value_names():
        values = per_run[name]
        record = dict(step=step, **fields, metric=name, n=self.num_fake, protocol=card,
                      evaluated=results_lib.now())
        if failure is None and all(math.isfinite(v) for v in values):
          record.update(value=float(np.mean(values)), std=float(np.std(values)),
                        values=values, status="ok")
        elif failure is None:  # e.g. reverse_kl with no high-quality sample
          record.update(value=None, std=None,
                        values=[v if math.isfinite(v) else None for v in values],
                        status="non_finite_value")
        else:
          record.update(value=None, std=None, values=[], status="non_finite_output",
                        message=failure)
        records.append(record)
    summary = ", ".join(f"{r['metric']} {_fmt(r)}" for r in records)
    self.log(f"{label}: {summary} ({time.time() - start:.0f} s)")
    return records


def _fmt(record: dict) -> str:
  if record["value"] is None:
    return "non-finite"
  return f"{record['value']:.4g}" + (f" +- {record['std']:.2g}" if record["std"] else "")


def _pixels_id(image_shape) -> str:
  """Names the pixel features as `features.pixel_features(max_resolution=32)` makes them."""
  if len(image_shape) == 1:
    return f"points_{image_shape[0]}d"
  h, w, c = image_shape
  r = tasks_lib.PIXEL_RESOLUTION
  if max(h, w) > r:
    h, w = max(1, h * r // max(h, w)), max(1, w * r // max(h, w))
  return f"pixels_{h}x{w}x{c}"


# ----------------------------------------------------------------------------------------------
# Which checkpoints
# ----------------------------------------------------------------------------------------------

def list_checkpoints(model_dir: str) -> Dict[int, str]:
  """step -> checkpoint prefix of every checkpoint in model_dir/checkpoints."""
  directory = os.path.join(model_dir, run_dir.CHECKPOINTS)
  found = tf.io.gfile.glob(os.path.join(directory, f"{checkpoints_lib.PREFIX}-*.index"))
  out = {}
  for index in found:
    prefix = index[:-len(".index")]
    step = checkpoints_lib.step_of(prefix)
    if step >= 0:
      out[step] = prefix
  return dict(sorted(out.items()))


def select_checkpoints(model_dir: str, *, step: Optional[int] = None, all_steps: bool = False,
                       eval_every_steps: Optional[int] = None,
                       skip_evaluated: bool = True) -> Dict[int, str]:
  """The checkpoints to score: one `step`, or every one (`all_steps`; only multiples of
  `eval_every_steps` when given, skipping those already in metrics.jsonl), or the latest."""
  available = list_checkpoints(model_dir)
  if not available:
    raise FileNotFoundError(f"No checkpoints in {os.path.join(model_dir, run_dir.CHECKPOINTS)};"
                            " train first (compare_gan train --model_dir ...).")
  if step is not None:
    if step not in available:
      raise ValueError(f"No checkpoint for step {step} in {model_dir}; available steps: "
                       f"{sorted(available)}.")
    return {step: available[step]}
  if not all_steps:
    last = max(available)
    return {last: available[last]}
  chosen = {s: p for s, p in available.items()
            if not eval_every_steps or (s > 0 and s % eval_every_steps == 0)}
  if skip_evaluated:
    done = results_lib.evaluated_steps(model_dir)
    chosen = {s: p for s, p in chosen.items() if s not in done}
  return chosen


def evaluate_checkpoints(model_dir: str, checkpoints: Dict[int, str],
                         evaluator: Optional[Evaluator] = None,
                         log: Callable[[str], None] = print,
                         on_evaluated: Optional[Callable[[int, str], None]] = None) -> int:
  """Scores each checkpoint; a checkpoint that cannot be restored is reported and skipped.
  `on_evaluated(step, path)` runs after each successful evaluation (e.g. a TF Hub export).
  Returns the number of failures."""
  if not checkpoints:
    log("nothing to evaluate: every selected checkpoint is already in metrics.jsonl")
    return 0
  evaluator = evaluator or Evaluator(model_dir, log=log)
  failures = 0
  for step, path in checkpoints.items():
    try:
      evaluator.evaluate(path)
    except (tf.errors.OpError, AssertionError, ValueError) as e:
      failures += 1
      log(f"ERROR: checkpoint {path} (step {step}) could not be evaluated: "
          f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
      continue
    if on_evaluated is not None:
      on_evaluated(step, path)
  return failures


def continuous_eval(model_dir: str, *, eval_every_steps: Optional[int] = None,
                    poll_seconds: float = 60.0, timeout_seconds: float = 24 * 3600,
                    log: Callable[[str], None] = print,
                    on_evaluated: Optional[Callable[[int, str], None]] = None) -> int:
  """Follows a training run (reference `continuous_eval`): scores each new checkpoint, and
  stops once status.json says the run ended (done, diverged or failed) and every checkpoint is
  scored, or after `timeout_seconds` without a new checkpoint. `on_evaluated` as in
  `evaluate_checkpoints`. Returns the failures."""
  evaluator, failures, idle_since = None, 0, time.time()
  while True:
    status = run_dir.read_status(model_dir) or {}
    ended = status.get("state") in ("done", "diverged", "failed")
    pending = {}
    if list_checkpoints(model_dir):
      pending = select_checkpoints(model_dir, all_steps=True, eval_every_steps=eval_every_steps)
    if pending:
      if evaluator is None:
        evaluator = Evaluator(model_dir, log=log)
      failures += evaluate_checkpoints(model_dir, pending, evaluator, log, on_evaluated)
      idle_since = time.time()
      continue
    if ended:
      log(f"training {status['state']} at step {status.get('step')}; every checkpoint is "
          "evaluated")
      return failures
    if time.time() - idle_since > timeout_seconds:
      log(f"no new checkpoint for {timeout_seconds:.0f} s; stopping")
      return failures
    time.sleep(poll_seconds)
