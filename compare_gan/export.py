"""TF Hub export of a trained generator, and loading of any GAN module (ours or third-party).

`compare_gan export --model_dir DIR --export_dir OUT [--step N] [--no_ema]` writes a TF2
SavedModel that `hub.load(OUT)` and `hub.KerasLayer(OUT)` load in any TensorFlow 2 process,
without compare_gan:

  m = hub.load(OUT)
  images = m.generator(z)              # z float32 [B, z_dim] -> float32 [B, H, W, C] in [0, 1]
  images = m.generator(z, labels)      # conditional runs: labels int32 [B] in [0, num_classes)
  logits = m.discriminator(images[, labels])          # [B, 1], when D was exported
  images = m(z), or m({"z": z, "labels": labels})     # __call__: what hub.KerasLayer(OUT) runs
  m.signatures["serving_default"](z=z[, labels=labels])["generated"]
  m.signatures["discriminator"](images=...)["logits"]
  json.load(open(OUT + "/assets/" + METADATA_FILE))   # or m.metadata_file.asset_path

Any batch size works (the reference exported fixed-size variants selected by tags, `bs64` ...;
TF2 SavedModels have no tags). The generator is the EMA copy when the run trained with EMA
(unless `use_ema=False`), always float32 (a mixed-precision run's float32 weights are restored
into a float32 model), in inference mode: spectral norm uses its stored `u` without writing it
and batch norm its moving averages, or, for `standardize_batch.use_moving_averages = False`,
statistics accumulated at export exactly as `compare_gan eval` does (gin `evaluation.seed`,
`batch_size`, `bn_accumulation_samples`, `eval_z`). No exported function assigns a variable.
D is exported too (reference: `disc` signature) unless its batch norm uses accumulated
statistics, which are never accumulated for D.

The metadata (z_dim, z distribution, image shape, conditional and number of classes, training
step, architecture, dataset, the operative gin config and the checkpoint's metrics with their
protocol cards) is a JSON asset, so plain `json` reads it. An export is written to a temporary
sibling directory and renamed into place; a failed export leaves nothing behind.

`load_module(handle)` opens ours or a third-party module for `compare_gan sample` and
`compare_gan eval --module`: TF2 SavedModels with our `generator`, a `generator`,
`serving_default` or `default` signature or a callable `__call__`, and TF1 Hub modules
(reference v2 `generator` signature, v3 tags {"gen", "bsNone"}) whose signature takes `z`.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import uuid
from typing import Callable, Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from compare_gan import datasets
from compare_gan.architectures import normalization
from compare_gan.gans import modular_gan
from compare_gan.metrics import evaluate
from compare_gan.metrics import results as results_lib
from compare_gan.training import run_dir

METADATA_FILE = "compare_gan_metadata.json"
FORMAT = "compare_gan.tfhub.v1"
TFHUB_DIR = "tfhub"  # <model_dir>/tfhub/<step>/: exports of evaluated checkpoints.
Z_DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")


def parse_z_distribution(name: str) -> modular_gan.LatentDistribution:
  """"uniform" (U(-1, 1)), "normal" (N(0, 1)) or "truncated_normal" as a LatentDistribution."""
  if name not in Z_DISTRIBUTIONS:
    raise ValueError(f"Unknown z distribution {name!r}; valid: {', '.join(Z_DISTRIBUTIONS)}.")
  return modular_gan.LatentDistribution(kind=name)


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------

def check_export_dir(export_dir: str, overwrite: bool) -> None:
  """Raises FileExistsError when `export_dir` is a file, or a non-empty directory and not
  `overwrite`."""
  if not tf.io.gfile.exists(export_dir):
    return
  if not tf.io.gfile.isdir(export_dir):
    raise FileExistsError(f"export directory {export_dir} is an existing file; choose a "
                          "directory path.")
  if tf.io.gfile.listdir(export_dir) and not overwrite:
    raise FileExistsError(f"export directory {export_dir} exists and is not empty; pass "
                          "--overwrite (overwrite=True) to replace it, or choose another one.")


class Exporter:
  """Exports checkpoints of one run directory as SavedModels.

  Build it under the run's parsed gin config (config.gin): the dataset gives the image shape
  and number of classes, `evaluation.*` the settings of accumulated batch-norm statistics.
  """

  def __init__(self, model_dir: str, log: Callable[[str], None] = print):
    self.model_dir, self.log = model_dir, log
    try:
      info = datasets.get_dataset().info
    except FileNotFoundError as e:
      raise FileNotFoundError(f"export needs the run's dataset for its image shape and "
                              f"classes: {e}") from e
    self.dataset_name = info.name
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # Exports are float32 (see docstring).
    try:
      self.model = modular_gan.ModularGAN(info.image_shape, info.num_classes)
    finally:
      keras.mixed_precision.set_global_policy(policy)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    items = {k: v for k, v in self.model.checkpoint_items().items()
             if k in ("generator", "generator_ema", "discriminator")}
    self.checkpoint = tf.train.Checkpoint(step=self.step, **items)
    self.protocol = evaluate.evaluation_protocol()
    self.eval_z = evaluate.eval_latent_distribution() or self.model.z

  def export(self, export_dir: str, step: Optional[int] = None, use_ema: Optional[bool] = None,
             overwrite: bool = False, include_discriminator: bool = True) -> dict:
    """Exports the checkpoint of `step` (default: the latest) to `export_dir`; returns the
    metadata it wrote.

    Raises:
      FileNotFoundError: the run has no checkpoints.
      ValueError: no checkpoint for `step` (the message lists the steps), or `use_ema=True`
        for a run trained without EMA.
      FileExistsError: `export_dir` is not empty and not `overwrite`.
    """
    export_dir = export_dir.rstrip("/") or export_dir
    check_export_dir(export_dir, overwrite)
    (step, path), = evaluate.select_checkpoints(self.model_dir, step=step).items()
    model = self.model
    if use_ema and model.generator_ema is None:
      raise ValueError("use_ema=True, but the run was trained without EMA "
                       "(ModularGAN.g_use_ema = False).")
    use_ema = model.generator_ema is not None if use_ema is None else use_ema
    self.checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    generator = model.sampling_generator if use_ema else model.generator
    bn_card = self._prepare_batch_norm(generator)
    discriminator, d_note = model.discriminator, "exported"
    if not include_discriminator:
      discriminator, d_note = None, "not exported (include_discriminator=False)"
    elif any(not s.use_moving_averages for s in normalization.standardizers(discriminator)):
      discriminator, d_note = None, ("not exported: its batch norm uses accumulated statistics, "
                                     "which are only accumulated for G")
    metadata = self._metadata(step, path, "ema" if use_ema else "raw", bn_card, d_note)

    parent = os.path.dirname(export_dir)
    if parent:
      tf.io.gfile.makedirs(parent)
    staging = f"{export_dir}.tmp-{uuid.uuid4().hex[:12]}"
    assets = tempfile.mkdtemp(prefix="compare_gan_export_")
    try:
      metadata_path = os.path.join(assets, METADATA_FILE)
      with open(metadata_path, "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
        f.write("\n")
      root, signatures = _saved_model(model, generator, discriminator, metadata_path)
      tf.saved_model.save(root, staging, signatures=signatures)
      _publish(staging, export_dir)
    except BaseException:
      if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
      raise
    finally:
      shutil.rmtree(assets, ignore_errors=True)
    self.log(f"exported step {step} ({'EMA' if use_ema else 'raw'} generator, discriminator "
             f"{d_note.split(':')[0]}) to {export_dir}")
    return metadata

  def _prepare_batch_norm(self, generator) -> str:
    """Accumulates G's batch-norm statistics when it uses them; returns how BN is set."""
    accumulating = [s for s in normalization.standardizers(generator)
                    if not s.use_moving_averages]
    if not normalization.standardizers(generator):
      return "none"
    if not accumulating:
      return "moving averages"
    p, model = self.protocol, self.model

    @tf.function(autograph=False)
    def sample(z, labels):
      y = None if labels is None else tf.one_hot(labels, model.num_classes)
      return generator(z, y=y, training=False)

    def latents(seed, n):
      return evaluate.draw_latents(self.eval_z, model.z_dim, model.num_classes, seed, n)

    evaluate.accumulate_bn_statistics(sample, accumulating, latents,
                                      samples=p.bn_accumulation_samples,
                                      batch_size=p.batch_size, seed=p.seed)
    return (f"accumulated over {p.bn_accumulation_samples} samples (seed {p.seed}, batch "
            f"{p.batch_size}, z {self.eval_z.kind})")

  def _metadata(self, step: int, checkpoint: str, generator: str, bn_card: str,
                d_note: str) -> dict:
    model = self.model
    config_name, config = None, None
    for name in (run_dir.OPERATIVE_CONFIG, run_dir.CONFIG):
      full = os.path.join(self.model_dir, name)
      if tf.io.gfile.exists(full):
        with tf.io.gfile.GFile(full) as f:
          config_name, config = name, f.read()
        break
    metrics = results_lib.latest(results_lib.read_metrics(self.model_dir)).get(step, {})
    return dict(
        format=FORMAT, step=step, checkpoint=os.path.relpath(checkpoint, self.model_dir),
        dataset=self.dataset_name, architecture=model.architecture.name, z_dim=model.z_dim,
        z_distribution=model.z.as_dict(), image_shape=list(model.image_shape),
        conditional=model.conditional, num_classes=model.num_classes, generator=generator,
        ema=(dict(decay=model.ema_decay, start_step=model.ema_start_step)
             if model.generator_ema is not None else None),
        batch_norm=bn_card, spectral_norm="stored u, not updated by calls", dtype="float32",
        discriminator=d_note, config_file=config_name, operative_config=config,
        # The checkpoint's scores for the exported weights (EMA or raw), newest per metric.
        metrics=[r for _, r in sorted(metrics.items())
                 if r.get("protocol", {}).get("generator", generator) == generator],
        signatures=dict(
            generator="generator(z float32 [B, z_dim]" + (", labels int32 [B]"
                                                           if model.conditional else "")
            + ") -> images float32 [B, H, W, C] in [0, 1]",
            serving_default="{'generated': images}",
            discriminator="discriminator(images[, labels]) -> logits [B, 1]"))


def _saved_model(model: modular_gan.ModularGAN, generator, discriminator,
                 metadata_path: str) -> Tuple[tf.Module, Dict[str, object]]:
  """The object graph to save (plain TF objects only) and its signatures."""
  conditional, num_classes = model.conditional, model.num_classes
  root = tf.train.Checkpoint()  # An AutoTrackable; loading needs no compare_gan class.
  # Keras 3 layers are not trackable containers: list the tf.Variables the functions capture.
  root.variables = [v.value for v in generator.variables]
  root.trainable_variables = [v.value for v in generator.trainable_variables]
  root.regularization_losses = []
  root.metadata_file = tf.saved_model.Asset(metadata_path)
  z_spec = tf.TensorSpec([None, model.z_dim], tf.float32, name="z")
  labels_spec = tf.TensorSpec([None], tf.int32, name="labels")

  def one_hot(labels):
    if labels is None:
      return None
    with tf.control_dependencies([
        tf.debugging.assert_non_negative(labels, message="labels must be >= 0"),
        tf.debugging.assert_less(labels, num_classes,
                                 message=f"labels must be < num_classes = {num_classes}")]):
      return tf.one_hot(labels, num_classes)

  # Each network is traced once (autograph off: the models use no tensor-dependent Python
  # control flow); __call__ and the signatures call that function.
  function = lambda fn, *specs: tf.function(fn, input_signature=list(specs), autograph=False)
  if conditional:
    root.generator = function(
        lambda z, labels: tf.cast(generator(z, y=one_hot(labels), training=False), tf.float32),
        z_spec, labels_spec)
    root.__call__ = function(lambda inputs: root.generator(inputs["z"], inputs["labels"]),
                             {"z": z_spec, "labels": labels_spec})
    serving = function(lambda z, labels: {"generated": root.generator(z, labels)},
                       z_spec, labels_spec)
  else:
    root.generator = function(
        lambda z: tf.cast(generator(z, training=False), tf.float32), z_spec)
    root.__call__ = root.generator
    serving = function(lambda z: {"generated": root.generator(z)}, z_spec)
  signatures = {"serving_default": serving.get_concrete_function()}

  if discriminator is not None:
    root.discriminator_variables = [v.value for v in discriminator.variables]
    images_spec = tf.TensorSpec([None] + list(model.image_shape), tf.float32, name="images")
    if discriminator.conditional:
      root.discriminator = function(
          lambda images, labels: discriminator(images, y=one_hot(labels), training=False)[0],
          images_spec, labels_spec)
      d_serving = function(lambda images, labels: {"logits": root.discriminator(images, labels)},
                           images_spec, labels_spec)
    else:
      root.discriminator = function(
          lambda images: discriminator(images, training=False)[0], images_spec)
      d_serving = function(lambda images: {"logits": root.discriminator(images)}, images_spec)
    signatures["discriminator"] = d_serving.get_concrete_function()
  return root, signatures


def _publish(staging: str, export_dir: str) -> None:
  """Moves the finished `staging` directory to `export_dir`, replacing what is there."""
  old = None
  if tf.io.gfile.exists(export_dir):
    if tf.io.gfile.listdir(export_dir):
      old = f"{export_dir}.old-{uuid.uuid4().hex[:12]}"
      tf.io.gfile.rename(export_dir, old)
    else:
      tf.io.gfile.rmtree(export_dir)
  try:
    tf.io.gfile.rename(staging, export_dir)
  except BaseException:
    if old is not None:
      tf.io.gfile.rename(old, export_dir)
    raise
  if old is not None:
    tf.io.gfile.rmtree(old)


def export_run(model_dir: str, export_dir: str, step: Optional[int] = None,
               use_ema: Optional[bool] = None, overwrite: bool = False,
               include_discriminator: bool = True,
               log: Callable[[str], None] = print) -> dict:
  """One export (`Exporter(model_dir).export(...)`); gin must hold the run's config."""
  check_export_dir(export_dir.rstrip("/") or export_dir, overwrite)  # Before building anything.
  return Exporter(model_dir, log=log).export(export_dir, step=step, use_ema=use_ema,
                                             overwrite=overwrite,
                                             include_discriminator=include_discriminator)


# ----------------------------------------------------------------------------------------------
# Loading modules (ours and third-party)
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass
class GeneratorModule:
  """A loaded generator: call it with z [B, z_dim] (and int labels [B]) for images.

  `z_distribution` comes from our metadata or the caller; `num_classes` is None for a
  third-party conditional module until the caller knows it (e.g. from the dataset).
  """
  handle: str
  kind: str
  z_dim: int
  z_distribution: modular_gan.LatentDistribution
  conditional: bool
  num_classes: Optional[int]
  image_shape: Optional[Tuple[int, ...]]
  metadata: Optional[dict]
  fixed_batch_size: Optional[int]
  call_fn: Callable[..., tf.Tensor] = dataclasses.field(repr=False)
  loaded: object = dataclasses.field(repr=False)  # Keeps the restored variables alive.

  def __call__(self, z: tf.Tensor, labels: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Images float32 [B, ...]; a fixed-batch module is run on padded chunks."""
    z = tf.convert_to_tensor(z, tf.float32)
    if self.conditional and labels is None:
      raise ValueError(f"module {self.handle} is conditional: pass labels int32 [B].")
    if labels is not None:
      if not self.conditional:
        raise ValueError(f"module {self.handle} is unconditional; it takes no labels.")
      labels = tf.convert_to_tensor(labels, tf.int32)
    if self.fixed_batch_size is None:
      return tf.convert_to_tensor(self.call_fn(z, labels), tf.float32)
    b, n, out = self.fixed_batch_size, int(z.shape[0]), []
    for start in range(0, n, b):
      size = min(b, n - start)
      pad = lambda t: tf.concat([t[start:start + size],
                                 tf.zeros([b - size] + t.shape[1:].as_list(), t.dtype)], 0)
      out.append(self.call_fn(pad(z), None if labels is None else pad(labels))[:size])
    return tf.cast(tf.concat(out, 0), tf.float32)

  def as_source(self, name: Optional[str] = None) -> "evaluate.GeneratorSource":
    """This module as what `evaluate.Evaluator(source=...)` scores."""
    return evaluate.GeneratorSource(
        sample_fn=self, z_dim=self.z_dim, z_distribution=self.z_distribution,
        conditional=self.conditional, num_classes=self.num_classes,
        name=name or f"module {self.handle}")


def read_metadata(path: str) -> Optional[dict]:
  """Our metadata of the SavedModel directory `path`, or None (a third-party module)."""
  full = os.path.join(path, "assets", METADATA_FILE)
  if not tf.io.gfile.exists(full):
    return None
  with tf.io.gfile.GFile(full) as f:
    return json.load(f)


def _tag_sets(path: str) -> List[Tuple[str, ...]]:
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-direct-tensorflow-import
  full = os.path.join(path, "saved_model.pb")
  if not tf.io.gfile.exists(full):
    return []
  proto = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(full, "rb") as f:
    proto.ParseFromString(f.read())
  return [tuple(sorted(m.meta_info_def.tags)) for m in proto.meta_graphs]


def _choose_tags(tag_sets: List[Tuple[str, ...]]) -> Optional[List[str]]:
  """The generator graph of a multi-graph (TF1 Hub) module: the reference v3 exported
  {gen, bsNone}, {gen, bs64}, ... and the default `gen` graph under the empty tag set."""
  if len(tag_sets) <= 1:
    return None
  for wanted in (("bsNone", "gen"), (), ("bs64", "gen")):
    if wanted in tag_sets:
      return list(wanted)
  for tags in tag_sets:
    if "gen" in tags:
      return list(tags)
  raise ValueError(f"Cannot choose a generator graph among the tag sets {tag_sets}; expected "
                   "one with 'gen' (reference modules) or a single graph.")


def _pick(names, preferred, what: str, handle: str) -> str:
  for name in preferred:
    if name in names:
      return name
  if len(names) == 1:
    return next(iter(names))
  raise ValueError(f"module {handle}: cannot tell which {what} to use among {sorted(names)}; "
                   f"expected one of {list(preferred)}.")


def load_module(handle: str, z_distribution: Optional[str] = None,
                num_classes: Optional[int] = None) -> GeneratorModule:
  """Loads a generator module from a directory or TF Hub handle (see the module docstring).

  Args:
    handle: SavedModel directory or TF Hub handle (resolved by tensorflow_hub).
    z_distribution: "uniform" | "normal" | "truncated_normal"; overrides the metadata, and is
      required for a module without our metadata.
    num_classes: the classes of a third-party conditional module (ours record it).
  Raises:
    ValueError: no usable signature, or an unknown z distribution.
  """
  import tensorflow_hub as hub  # Only loading needs it.
  if not handle.startswith(("http://", "https://")) and not tf.io.gfile.exists(handle):
    raise FileNotFoundError(f"module {handle} does not exist; give a SavedModel directory "
                            "(e.g. written by `compare_gan export`) or a TF Hub URL.")
  path = hub.resolve(handle)
  metadata = read_metadata(path)
  if metadata is not None:
    loaded = hub.load(path)
    dist = (parse_z_distribution(z_distribution) if z_distribution
            else modular_gan.LatentDistribution(**metadata["z_distribution"]))
    conditional = bool(metadata["conditional"])
    fn = loaded.generator
    call = (lambda z, labels: fn(z, labels)) if conditional else (lambda z, labels: fn(z))
    return GeneratorModule(handle, "compare_gan", int(metadata["z_dim"]), dist, conditional,
                           metadata["num_classes"], tuple(metadata["image_shape"]), metadata,
                           None, call, loaded)
  if not z_distribution:
    raise ValueError(f"module {handle} has no compare_gan metadata, so its z distribution is "
                     f"unknown; give it ({' | '.join(Z_DISTRIBUTIONS)}: the reference's "
                     "modules used uniform (v2) or normal (v3 s3gan/ssgan)).")
  dist = parse_z_distribution(z_distribution)
  loaded = hub.load(path, tags=_choose_tags(_tag_sets(path)))
  signatures = dict(getattr(loaded, "signatures", {}) or {})
  if signatures:
    name = _pick(signatures, ("generator", "serving_default", "default"), "signature", handle)
    fn = signatures[name]
    inputs = fn.structured_input_signature[1]
    z_key = _pick(inputs, ("z", "z_for_eval", "latents", "inputs"), "z input", handle)
    labels_key = "labels" if "labels" in inputs else None
    extra = set(inputs) - {z_key, labels_key}
    if extra:
      raise ValueError(f"module {handle} signature {name!r} needs inputs {sorted(extra)} "
                       "besides z and labels.")
    outputs = fn.structured_outputs
    out_key = _pick(outputs, ("generated", "images", "default", "output_0"), "output", handle)
    z_spec = inputs[z_key]

    def call(z, labels):
      feed = {z_key: z}
      if labels_key:
        feed[labels_key] = labels
      return fn(**feed)[out_key]
    kind = f"signature {name!r}"
  elif callable(loaded) and getattr(loaded.__call__, "concrete_functions", None):
    spec = loaded.__call__.concrete_functions[0].structured_input_signature[0][0]
    labels_key = "labels" if isinstance(spec, dict) and "labels" in spec else None
    z_spec = spec["z"] if isinstance(spec, dict) else spec
    if labels_key:
      call = lambda z, labels: loaded({"z": z, "labels": labels})
    else:
      call = lambda z, labels: loaded({"z": z} if isinstance(spec, dict) else z)
    kind = "__call__"
  else:
    raise ValueError(f"module {handle} has no signature and is not callable; expected a "
                     "'generator'/'serving_default'/'default' signature or __call__.")
  if z_spec.shape.rank != 2 or z_spec.shape[-1] is None:
    raise ValueError(f"module {handle}: z input has shape {z_spec.shape}; expected "
                     "[batch, z_dim] with a known z_dim.")
  return GeneratorModule(handle, kind, int(z_spec.shape[-1]), dist, labels_key is not None,
                         num_classes, None, None, z_spec.shape[0], call, loaded)


def module_summary(module: GeneratorModule) -> dict:
  """The module's facts for a results file (the metadata without the gin config)."""
  summary = dict(handle=module.handle, kind=module.kind, z_dim=module.z_dim,
                 z_distribution=module.z_distribution.as_dict(),
                 conditional=module.conditional, num_classes=module.num_classes)
  if module.metadata:
    summary.update({k: v for k, v in module.metadata.items()
                    if k not in ("operative_config", "metrics", "z_distribution")})
  return summary

