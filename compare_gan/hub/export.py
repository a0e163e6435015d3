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
"""

import json
import os
import shutil
import tempfile
import uuid
from typing import Callable, Dict, Optional, Tuple

import tensorflow as tf

from compare_gan import data
from compare_gan import run_dir
from compare_gan.architectures import normalization
from compare_gan.gans import inference as inference_lib
from compare_gan.gans import latents
from compare_gan.gans import modular_gan
from compare_gan.metrics import protocol as protocol_lib
from compare_gan.training import checkpoints as checkpoints_lib

METADATA_FILE = "compare_gan_metadata.json"
FORMAT = "compare_gan.tfhub.v1"


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

  def __init__(self, model_dir: str, log: Callable[[str], None] = print,
               dataset_name: Optional[str] = None,
               inference: Optional[inference_lib.InferenceModel] = None):
    """`dataset_name` and `inference`: the run's dataset name and inference model when the
    caller built them already (the train_and_eval schedule shares its evaluator's)."""
    self.model_dir, self.log = model_dir, log
    if inference is None:
      try:
        info = data.get_dataset().info
      except FileNotFoundError as e:
        raise FileNotFoundError(f"export needs the run's dataset for its image shape and "
                                f"classes: {e}") from e
      dataset_name = info.name
      inference = inference_lib.InferenceModel(info.image_shape, info.num_classes)
    self.dataset_name = dataset_name
    self.inference = inference
    self.model = inference.model
    self.protocol = protocol_lib.evaluation_protocol()
    self.eval_z = latents.eval_latent_distribution() or self.model.z

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
    (step, path), = checkpoints_lib.select_checkpoints(self.model_dir, step=step).items()
    model = self.model
    use_ema = self.inference.resolve_use_ema(use_ema, "use_ema")
    self.inference.restore(path)
    bn_card = self._prepare_batch_norm(use_ema)
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
      root, signatures = _saved_model(model, use_ema, discriminator, metadata_path)
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

  def _prepare_batch_norm(self, use_ema: bool) -> str:
    """Accumulates G's batch-norm statistics when it uses them; returns how BN is set."""
    if not normalization.standardizers(self.inference.generator(use_ema)):
      return "none"
    if not self.inference.accumulating_standardizers(use_ema):
      return "moving averages"
    p = self.protocol
    self.inference.accumulate_bn_statistics(use_ema, self.eval_z,
                                            samples=p.bn_accumulation_samples,
                                            batch_size=p.batch_size, seed=p.seed)
    return (f"accumulated over {p.bn_accumulation_samples} samples (seed {p.seed}, batch "
            f"{p.batch_size}, z {self.eval_z.kind})")

  def _metadata(self, step: int, checkpoint: str, generator: str, bn_card: str,
                d_note: str) -> dict:
    model = self.model
    config_name, config = run_dir.read_config(self.model_dir)
    metrics = run_dir.latest_metrics(run_dir.read_metrics(self.model_dir)).get(step, {})
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


def _saved_model(model: modular_gan.ModularGAN, use_ema: bool, discriminator,
                 metadata_path: str) -> Tuple[tf.Module, Dict[str, object]]:
  """The object graph to save (plain TF objects only) and its signatures; G runs through
  `model.sample` (EMA weights when `use_ema`)."""
  conditional, num_classes = model.conditional, model.num_classes
  generator = model.sampling_generator if use_ema else model.generator
  root = tf.train.Checkpoint()  # An AutoTrackable; loading needs no compare_gan class.
  # Keras 3 layers are not trackable containers: list the tf.Variables the functions capture.
  root.variables = [v.value for v in generator.variables]
  root.trainable_variables = [v.value for v in generator.trainable_variables]
  root.regularization_losses = []
  root.metadata_file = tf.saved_model.Asset(metadata_path)
  z_spec = tf.TensorSpec([None, model.z_dim], tf.float32, name="z")
  labels_spec = tf.TensorSpec([None], tf.int32, name="labels")

  def checked(labels):
    with tf.control_dependencies([
        tf.debugging.assert_non_negative(labels, message="labels must be >= 0"),
        tf.debugging.assert_less(labels, num_classes,
                                 message=f"labels must be < num_classes = {num_classes}")]):
      return tf.identity(labels)

  def one_hot(labels):
    return tf.one_hot(checked(labels), num_classes)

  # Each network is traced once (autograph off: the models use no tensor-dependent Python
  # control flow); __call__ and the signatures call that function.
  function = lambda fn, *specs: tf.function(fn, input_signature=list(specs), autograph=False)
  if conditional:
    root.generator = function(
        lambda z, labels: tf.cast(model.sample(z, checked(labels), use_ema), tf.float32),
        z_spec, labels_spec)
    root.__call__ = function(lambda inputs: root.generator(inputs["z"], inputs["labels"]),
                             {"z": z_spec, "labels": labels_spec})
    serving = function(lambda z, labels: {"generated": root.generator(z, labels)},
                       z_spec, labels_spec)
  else:
    root.generator = function(
        lambda z: tf.cast(model.sample(z, None, use_ema), tf.float32), z_spec)
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


