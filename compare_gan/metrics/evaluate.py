"""Scoring a generator under the evaluation protocol: sample, extract features, score, record.

`Evaluator` scores the checkpoints of one run (restored into a `gans.inference.InferenceModel`)
or any other generator (`GeneratorSource`) under the protocol of gin `evaluation.*`
(metrics/protocol.py). Which checkpoints to score, and when, is the runner's business
(compare_gan/runner.py).

Each run draws its z from (seed, run, batch), so every checkpoint is scored on the same
latents. Real features are computed once per (dataset fingerprint, split, n, features) and
cached on disk. Every value is appended to metrics.jsonl with its protocol card, scores.csv is
rewritten from it, and TensorBoard gets `eval/<name>` under tb/eval.

A generator that is not a checkpoint of the run (a TF Hub module: `compare_gan eval --module`)
is scored by `Evaluator(None, source=GeneratorSource(...))` under the same protocol; its cards
say `"generator": "module <path>"` and `"bn_statistics": "as exported"`, and `score()` returns
the records for the caller to store (a module has no run directory).

A task with `needs_generator` (e.g. recall by inverting G, metrics/polygon_prf.py) is also
called with a `tasks.GeneratorHandle`: the same differentiable sampling function, z_dim and z
distribution that drew the fakes, for a checkpoint and for a `GeneratorSource` alike, and the
run's base seed. Every task's `check_dataset` runs before anything is computed.

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
from typing import Callable, Dict, Iterator, List, Optional, Set

import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan import data
from compare_gan.data import base as data_base
from compare_gan.gans import inference as inference_lib
from compare_gan.gans import latents
from compare_gan.metrics import protocol as protocol_lib
from compare_gan.metrics import results as results_lib
from compare_gan.metrics import tasks as tasks_lib
from compare_gan import run_dir

# Output bytes per generator call when sampling for evaluation (see Evaluator._fake_batches):
# large enough that small models run their samples in a call or two, small enough for a GPU.
SAMPLE_CHUNK_BYTES = 32 << 20


@dataclasses.dataclass
class GeneratorSource:
  """A generator to score that is not a checkpoint of the run's model, e.g. a TF Hub module
  (`export.load_module(...).as_source()`).

  `sample_fn(z [B, z_dim], labels int32 [B] or None) -> images [B, *image_shape]` in [0, 1].
  `num_classes=None` with `conditional=True` takes the dataset's number of classes.
  """
  sample_fn: Callable[..., tf.Tensor]
  z_dim: int
  z_distribution: latents.LatentDistribution
  conditional: bool = False
  num_classes: Optional[int] = None
  name: str = "module"


class NonFiniteSamples(Exception):
  """The generator produced NaN or Inf."""


class Evaluator:
  """Scores checkpoints of one run directory under one protocol.

  Builds the run's dataset and inference model from the (already parsed) gin config, unless the
  caller passes the ones it built (`dataset`, `inference`), the feature extractors the tasks
  need, and the real features (cached). `evaluate(checkpoint)` restores a checkpoint into the
  inference model and returns the records it appended to metrics.jsonl.

  With `source` (a generator not backed by a checkpoint, e.g. a TF Hub module) no model is
  built and `model_dir` may be None: gin needs only `dataset.*` and `evaluation.*`, and
  `score()` returns records without writing them anywhere.
  """

  def __init__(self, model_dir: Optional[str], protocol: Optional[protocol_lib.Protocol] = None,
               log: Callable[[str], None] = print, source: Optional[GeneratorSource] = None,
               dataset: Optional[data_base.Dataset] = None,
               inference: Optional[inference_lib.InferenceModel] = None):
    self.model_dir, self.log = model_dir, log
    self.protocol = protocol if protocol is not None else protocol_lib.evaluation_protocol()
    protocol_lib.validate(self.protocol)
    p = self.protocol
    self.dataset = dataset if dataset is not None else data.get_dataset()
    self.info = self.dataset.info
    self.is_points = len(self.info.image_shape) == 1

    self.source = source
    if source is not None:
      self._init_source(source)
    else:
      self._init_model(inference)

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
      task.check_dataset(self.info)
      if isinstance(task, tasks_lib.ModeMetrics):
        if not self.is_points:
          raise config.ConfigError(f"mode_metrics applies to the 2-D mixtures; {self.info.name!r} "
                                   "holds images.")
        task.mixture = self.info.name
      if task.features == "images" and self.is_points:
        raise config.ConfigError(
            f"{task.gin_name} needs images; {self.info.name!r} holds 2-D points.")
    if any(t.features == "inception" for t in candidate_tasks):
      if self.is_points:
        raise config.ConfigError("Inception metrics need images; dataset "
                                 f"{self.info.name!r} holds 2-D points. Use mode_metrics, "
                                 "sliced_wasserstein or precision_recall(features='pixels').")
      from compare_gan.metrics.inception import weights as inception_weights
      try:
        self.inception = inception_weights.load_inception()  # gin `inception.*`
      except inception_weights.InceptionWeightsNotFound as e:
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

  def _init_model(self, inference: Optional[inference_lib.InferenceModel]):
    """The run's model, rebuilt for inference (or the one `inference` the caller shares)."""
    self.inference = inference or inference_lib.InferenceModel(self.info.image_shape,
                                                               self.info.num_classes)
    self.model = self.inference.model
    self.use_ema = self.inference.resolve_use_ema(self.protocol.use_ema, "evaluation.use_ema")
    self.z_distribution = latents.eval_latent_distribution() or self.model.z
    self.accumulating_bn = self.inference.accumulating_standardizers(self.use_ema)
    self.z_dim, self.num_classes = self.model.z_dim, self.model.num_classes
    self.generator_name = "EMA" if self.use_ema else "raw"
    self._sample_fn = self.inference.sample_fn(self.use_ema)

  def _init_source(self, source: GeneratorSource):
    """A generator given as a function: no model, no checkpoint, no BN accumulation."""
    if self.protocol.use_ema is not None:
      raise config.ConfigError(
          "evaluation.use_ema applies to a run's checkpoints; a module is scored "
          "as exported (export with or without --no_ema instead).")
    self.model = self.inference = None
    self.use_ema = None
    self.accumulating_bn = []
    self.z_distribution = latents.eval_latent_distribution() or source.z_distribution
    self.z_dim = int(source.z_dim)
    self.num_classes = source.num_classes
    if source.conditional:
      if self.info.num_classes is None:
        raise ValueError(f"{source.name} is conditional but dataset {self.info.name!r} has no "
                         "labels; score it on a labelled dataset.")
      if self.num_classes is None:
        self.num_classes = self.info.num_classes
      elif self.num_classes != self.info.num_classes:
        raise config.ConfigError(f"{source.name} has {self.num_classes} classes but dataset "
                                 f"{self.info.name!r} has {self.info.num_classes}.")
    else:
      self.num_classes = None
    self.generator_name = source.name
    self._sample_fn = source.sample_fn
    z, labels = latents.draw_latents(self.z_distribution, self.z_dim, self.num_classes,
                             tf.constant([0, 0], tf.int64), 1)
    shape = tuple(self._sample_fn(z, labels).shape[1:])
    if shape != tuple(self.info.image_shape):
      raise ValueError(f"{source.name} makes samples of shape {shape}, but dataset "
                       f"{self.info.name!r} holds {tuple(self.info.image_shape)}.")

  # ------------------------------------------------------------------------------------------
  # Features
  # ------------------------------------------------------------------------------------------

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
    any `evaluation.batch_size`. G runs on chunks of up to SAMPLE_CHUNK_BYTES of output (a
    multiple of the batch size: one call per chunk instead of one per batch; at 28x28x1, all
    of a 2000-sample run in one call), and the chunks are handed on in batches."""
    b, n = self.protocol.batch_size, self.num_fake
    z_all, labels_all = self._latents(tf.constant([self.protocol.seed, run], tf.int64), n)
    per_image = 4 * int(np.prod(self.info.image_shape))
    chunk = max(b, min(n, SAMPLE_CHUNK_BYTES // per_image) // b * b)
    have = 0
    for start in range(0, n, chunk):
      z = z_all[start:start + chunk]
      labels = None if labels_all is None else labels_all[start:start + chunk]
      images = self._sample_fn(z, labels).numpy()
      bad = int(np.size(images) - np.isfinite(images).sum())
      if bad:
        raise NonFiniteSamples(f"{bad} non-finite values in generator output (run {run}, "
                               f"samples {start}..{start + len(images) - 1})")
      if have < self.num_images_kept:
        kept.append(images[:self.num_images_kept - have])
        have += len(kept[-1])
      for i in range(0, len(images), b):
        yield images[i:i + b]

  def _latents(self, seed, n):
    """z [n, z_dim] and labels [n] (None when unconditional), a pure function of seed."""
    return latents.draw_latents(self.z_distribution, self.z_dim, self.num_classes, seed, n)

  def _generator_handle(self, run: int) -> tasks_lib.GeneratorHandle:
    """G for the tasks that optimise through it: what drew run `run`'s fakes, and its seed."""
    return tasks_lib.GeneratorHandle(
        generate=self._sample_fn, z_dim=self.z_dim, z_distribution=self.z_distribution,
        num_classes=self.num_classes, seed=tf.constant([self.protocol.seed, run], tf.int64))

  def _accumulate_bn(self):
    latents.accumulate_bn_statistics(self._sample_fn, self.accumulating_bn, self._latents,
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
    if self.info.labels is not None:  # dataset.labeled_fraction / dataset.label_file
      card["dataset_labels"] = self.info.labels.card()
    if task.features == "inception":
      card["feature_extractor"] = self.inception.card()
    elif task.features == "pixels":
      card["feature_extractor"] = {"id": _pixels_id(self.info.image_shape)}
    else:
      card["feature_extractor"] = {"id": "none (images)"}
    return card

  def scored_steps(self) -> Set[int]:
    """Steps of the run's metrics.jsonl that hold every value this evaluator computes, each
    under this protocol (results.protocol_key); the others are still to be scored."""
    wanted = {(name, results_lib.protocol_key(self.protocol_card(task)))
              for task in self.tasks for name in task.value_names()}
    return results_lib.scored_steps(self.model_dir, wanted)

  def restore(self, checkpoint_path: str) -> int:
    """Loads G (and its EMA copy) and the step of a checkpoint; returns the step."""
    if self.source is not None:
      raise ValueError(f"{self.source.name} is not a run's model: score it with score(), "
                       "without a checkpoint.")
    return self.inference.restore(checkpoint_path)

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
        extra = {"generator": self._generator_handle(run)} if task.needs_generator else {}
        for name, value in task(real if task.needs_real else None, fake, **extra).items():
          per_run[name].append(float(value))
    records = []
    for task in self.tasks:
      card = self.protocol_card(task)
      for name in task.value_names():
        values = per_run[name]
        record = dict(step=step, **fields, metric=name, n=self.num_fake, protocol=card,
                      evaluated=run_dir.now())
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
