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
  m.signatures["discriminator"](images=...)["logits"]    # ["energy"] for a BEGAN
  m.rotation_logits(images[, labels])  # [B, 4]: D's other heads, where the family has them
  json.load(open(OUT + "/assets/" + METADATA_FILE))   # or m.metadata_file.asset_path

Any batch size works (the reference exported fixed-size variants selected by tags, `bs64` ...;
TF2 SavedModels have no tags). The generator is the EMA copy when the run trained with EMA
(unless `use_ema=False`), always float32 (a mixed-precision run's float32 weights are restored
into a float32 model), in inference mode: spectral norm uses its stored `u` without writing it
and batch norm its moving averages, or, for `standardize_batch.use_moving_averages = False`,
statistics accumulated at export exactly as `compare_gan eval` does (gin `evaluation.seed`,
`batch_size`, `bn_accumulation_samples`, `eval_z`). No exported function assigns a variable.
D is exported too (reference: `disc` signature) unless its batch norm uses accumulated
statistics, which are never accumulated for D, or the run's model family has none. Every
family (gans/family.py) exports alike: a BEGAN's D is its autoencoder, whose [B, 1] output is
the per-example reconstruction energy, so its signature output is "energy", not "logits"
(`discriminator_output`); a VAE's generator is its decoder, and it has no D (its encoder is not
exported). D's other heads (`family.discriminator_heads`: SSGAN's and S3GAN's rotation logits,
S3GAN's class logits) are exported with D, each a function and a signature of its name; the
reference's module left them out (google/compare_gan#39). The metadata names the family.

The metadata (z_dim, z distribution, image shape, conditional and number of classes, training
step, architecture, dataset, the operative gin config and the checkpoint's metrics with their
protocol cards) is a JSON asset, so plain `json` reads it.

Where an export may go (`check_export_dir`): never the run directory, a directory that contains
it, or anything under its checkpoints/ or tb/ (`<model_dir>/tfhub/<step>/` is where runs keep
their exports); a new or empty directory, or, with `overwrite`, a previous export. A previous
export is a directory that holds exactly what an export writes (EXPORT_LAYOUT) and our metadata;
one file more and it is the user's, and nothing replaces it. An export is written to a temporary
sibling directory and swapped into place: the old export is renamed aside and deleted only once
the new one is in place, so a failed export leaves the old one (or nothing) behind.
"""

import json
import os
import posixpath
import re
import shutil
import tempfile
import uuid
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import tensorflow as tf

from compare_gan import data
from compare_gan import run_dir
from compare_gan.architectures import normalization
from compare_gan.gans import family as family_lib
from compare_gan.gans import inference as inference_lib
from compare_gan.gans import latents
from compare_gan.metrics import protocol as protocol_lib

METADATA_FILE = "compare_gan_metadata.json"
FORMAT_FAMILY = "compare_gan.tfhub"  # Every version of our export format starts with it.
FORMAT = f"{FORMAT_FAMILY}.v1"


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------

# Everything an export directory holds, and all it may hold: what `tf.saved_model.save` writes
# for the object graph of `_saved_model`, whose only asset is our metadata.
#   saved_model.pb                                 graph and signatures (required)
#   fingerprint.pb                                 written by TF >= 2.12
#   variables/variables.index                      the weights
#   variables/variables.data-NNNNN-of-NNNNN
#   assets/compare_gan_metadata.json               METADATA_FILE (required; its "format" is
#                                                  FORMAT_FAMILY.<version>)
EXPORT_LAYOUT = {
    "saved_model.pb": None,
    "fingerprint.pb": None,
    "variables": re.compile(r"variables\.(index|data-\d{5}-of-\d{5})"),
    "assets": re.compile(re.escape(METADATA_FILE)),
}
EXPORT_REQUIRED = ("saved_model.pb", posixpath.join("assets", METADATA_FILE))


class ExportDirError(ValueError):
  """An export directory that `check_export_dir` refuses: a bad command line (exit 2)."""


def _join(directory: str, name: str) -> str:
  # gfile lists a remote subdirectory with a trailing slash.
  return posixpath.join(directory, name.rstrip("/"))


def not_an_export(path: str) -> Optional[str]:
  """None when the existing directory `path` is a compare_gan export (EXPORT_LAYOUT and
  nothing else); otherwise why not, for a message ("it holds notes.txt, ...")."""
  gfile = tf.io.gfile
  foreign: List[str] = []
  for name in sorted(n.rstrip("/") for n in gfile.listdir(path)):
    full, pattern = _join(path, name), EXPORT_LAYOUT.get(name, False)
    if pattern is None and not gfile.isdir(full):
      continue
    if pattern and gfile.isdir(full):
      for inner in sorted(n.rstrip("/") for n in gfile.listdir(full)):
        if not pattern.fullmatch(inner) or gfile.isdir(_join(full, inner)):
          foreign.append(posixpath.join(name, inner))
      continue
    foreign.append(name)
  if foreign:
    more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
    return f"it holds {', '.join(foreign[:3])}{more}, which no export writes"
  missing = [p for p in EXPORT_REQUIRED if not gfile.exists(_join(path, p))]
  if missing:
    return f"it has no {' or '.join(missing)}"
  try:
    with gfile.GFile(_join(path, EXPORT_REQUIRED[1])) as f:
      metadata = json.load(f)
  except ValueError:
    metadata = None
  if not (isinstance(metadata, dict)
          and str(metadata.get("format", "")).startswith(FORMAT_FAMILY + ".")):
    return f"its {EXPORT_REQUIRED[1]} is not compare_gan export metadata"
  return None


def _normalised(path: str) -> str:
  """`path` in a comparable form: local paths absolute with symlinks resolved; remote ones
  (gs://...), which have no symlinks, with `.`, `..` and repeated or trailing slashes folded."""
  if run_dir.is_remote(path):
    scheme, rest = path.split("://", 1)
    return f"{scheme}://" + posixpath.normpath("/" + rest).lstrip("/")
  return os.path.realpath(path)


def _self_and_parents(path: str) -> Iterator[str]:
  """The normalised `path`, its parent, ... up to the root (the bucket of a remote path)."""
  remote = run_dir.is_remote(path)
  while True:
    yield path
    parent = posixpath.dirname(path) if remote else os.path.dirname(path)
    if parent == path or (remote and "://" not in parent):
      return
    path = parent


def _same(a: str, b: str) -> bool:
  """Whether the normalised paths name one directory (samefile also catches a case-insensitive
  file system, bind mounts and hard-linked names)."""
  if a == b:
    return True
  if run_dir.is_remote(a) or run_dir.is_remote(b) or not (os.path.exists(a) and
                                                          os.path.exists(b)):
    return False
  return os.path.samefile(a, b)


def _within(path: str, root: str) -> bool:
  """Whether normalised `path` is `root` or lies under it."""
  return any(_same(p, root) for p in _self_and_parents(path))


def check_export_dir(export_dir: str, model_dir: str, overwrite: bool) -> None:
  """Raises ExportDirError unless an export of the run `model_dir` to `export_dir` can destroy
  nothing: `export_dir` is not the run directory, does not contain it and is not under its
  checkpoints/ or tb/; and it does not exist, is empty, or holds a previous export (with
  `overwrite`; see EXPORT_LAYOUT). Cheap: call it before building the model."""
  export, run = _normalised(export_dir), _normalised(model_dir)
  choose = (f"choose a new directory outside the run, or "
            f"{posixpath.join(model_dir, run_dir.TFHUB, '<step>')}")
  if _same(export, run):
    raise ExportDirError(f"export directory {export_dir} is the run directory {model_dir}; an "
                         f"export there would replace the run: {choose}.")
  if _within(run, export):
    raise ExportDirError(f"export directory {export_dir} contains the run directory "
                         f"{model_dir}; an export there would replace the run: {choose}.")
  for sub in (run_dir.CHECKPOINTS, run_dir.TENSORBOARD):
    if _within(export, _normalised(posixpath.join(model_dir, sub))):
      raise ExportDirError(f"export directory {export_dir} lies inside the run's {sub}/, which "
                           f"training writes and reads back: {choose}.")
  if _same(export, _normalised(posixpath.join(model_dir, run_dir.TFHUB))):
    raise ExportDirError(f"export directory {export_dir} is the run's {run_dir.TFHUB}/, which "
                         f"holds one export per step in a subdirectory: {choose}.")
  problem = _existing_contents_problem(export_dir, overwrite)
  if problem:
    raise ExportDirError(problem)


def _existing_contents_problem(export_dir: str, overwrite: bool) -> Optional[str]:
  """Why what is at `export_dir` now may not be replaced by an export, or None."""
  gfile = tf.io.gfile
  if not gfile.exists(export_dir):
    return None
  if not gfile.isdir(export_dir):
    return f"export directory {export_dir} is an existing file; choose a directory path."
  if not gfile.listdir(export_dir):
    return None
  problem = not_an_export(export_dir)
  if problem:
    return (f"export directory {export_dir} is not empty and not a compare_gan export ({problem}"
            "); --overwrite only replaces a previous export: choose a new or empty directory.")
  if not overwrite:
    return (f"export directory {export_dir} holds a previous export; pass --overwrite "
            "(overwrite=True) to replace it, or choose another directory.")
  return None


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
      run_dir.UsageError: no checkpoint for `step` (the message lists the steps).
      ConfigError: `use_ema=True` for a run trained without EMA.
      ExportDirError: `check_export_dir` refuses `export_dir`.
    """
    export_dir = export_dir.rstrip("/") or export_dir
    check_export_dir(export_dir, self.model_dir, overwrite)
    step, path = run_dir.checkpoint_at(self.model_dir, step)
    model = self.model
    use_ema = self.inference.resolve_use_ema(use_ema, "use_ema")
    self.inference.restore(path)
    bn_card = self._prepare_batch_norm(use_ema)
    discriminator, d_note = model.discriminator, "exported"
    if discriminator is None:
      d_note = f"not exported: the {family_lib.family_name(model)} has no discriminator"
    elif not include_discriminator:
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
      _publish(staging, export_dir, overwrite)
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
    signatures = dict(
        generator="generator(z float32 [B, z_dim]" + (", labels int32 [B]"
                                                       if model.conditional else "")
        + ") -> images float32 [B, H, W, C] in [0, 1]",
        serving_default="{'generated': images}")
    if model.discriminator is not None:  # A VAE has none.
      signatures["discriminator"] = (f"discriminator(images[, labels]) -> "
                                     f"{family_lib.discriminator_output(model)} [B, 1]")
    if d_note == "exported":
      for name in family_lib.discriminator_heads(model):
        signatures[name] = f"{name}(images[, labels]) -> {{'{name}': [B, k]}}"
    config_name, config = run_dir.read_config(self.model_dir)
    metrics = run_dir.latest_metrics(run_dir.read_metrics(self.model_dir)).get(step, {})
    return dict(
        format=FORMAT, step=step, checkpoint=os.path.relpath(checkpoint, self.model_dir),
        dataset=self.dataset_name, family=family_lib.family_name(model),
        architecture=model.architecture.name, z_dim=model.z_dim,
        z_distribution=model.z.as_dict(), image_shape=list(model.image_shape),
        conditional=model.conditional, num_classes=model.num_classes, generator=generator,
        ema=(dict(decay=model.ema_decay, start_step=model.ema_start_step)
             if model.generator_ema is not None else None),
        batch_norm=bn_card, spectral_norm="stored u, not updated by calls", dtype="float32",
        discriminator=d_note, config_file=config_name, operative_config=config,
        # The checkpoint's scores for the exported weights (EMA or raw), newest per metric.
        metrics=[r for _, r in sorted(metrics.items())
                 if r.get("protocol", {}).get("generator", generator) == generator],
        signatures=signatures)


def _saved_model(model, use_ema: bool, discriminator,
                 metadata_path: str) -> Tuple[tf.Module, Dict[str, object]]:
  """The object graph to save (plain TF objects only) and its signatures; G runs through
  `model.sample` (EMA weights when `use_ema`); `model` is any family (gans/family.py), and
  `discriminator` its D or None (not exported)."""
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
    d_output = family_lib.discriminator_output(model)
    root.discriminator_variables = [v.value for v in discriminator.variables]
    images_spec = tf.TensorSpec([None] + list(model.image_shape), tf.float32, name="images")
    if discriminator.conditional:
      root.discriminator = function(
          lambda images, labels: discriminator(images, y=one_hot(labels), training=False)[0],
          images_spec, labels_spec)
      d_serving = function(lambda images, labels: {d_output: root.discriminator(images, labels)},
                           images_spec, labels_spec)
    else:
      root.discriminator = function(
          lambda images: discriminator(images, training=False)[0], images_spec)
      d_serving = function(lambda images: {d_output: root.discriminator(images)}, images_spec)
    signatures["discriminator"] = d_serving.get_concrete_function()
    for name, head in family_lib.discriminator_heads(model).items():
      head_fn, head_serving = _head_functions(function, head, name, discriminator.conditional,
                                              one_hot, images_spec, labels_spec)
      setattr(root, name, head_fn)
      signatures[name] = head_serving.get_concrete_function()
  return root, signatures


def _head_functions(function: Callable, head: Callable, name: str, conditional: bool,
                    one_hot: Callable, images_spec: tf.TensorSpec,
                    labels_spec: tf.TensorSpec) -> Tuple[Callable, Callable]:
  """The exported function of one of D's other heads (`family.discriminator_heads`),
  `(images[, labels]) -> [B, k]` in inference mode, and its signature `{name: output}`."""
  if conditional:
    head_fn = function(lambda images, labels: head(images, y=one_hot(labels), training=False),
                       images_spec, labels_spec)
    serving = function(lambda images, labels: {name: head_fn(images, labels)}, images_spec,
                       labels_spec)
  else:
    head_fn = function(lambda images: head(images, training=False), images_spec)
    serving = function(lambda images: {name: head_fn(images)}, images_spec)
  return head_fn, serving


def _publish(staging: str, export_dir: str, overwrite: bool) -> None:
  """Moves the finished `staging` directory to `export_dir`. What is there is checked again (it
  may have changed while the model was built) and renamed aside, then deleted only once the new
  export is in place; an empty directory is removed with rmdir, which refuses a non-empty one."""
  gfile, old = tf.io.gfile, None
  problem = _existing_contents_problem(export_dir, overwrite)
  if problem:
    raise ExportDirError(problem.rstrip(".") + "; it changed during the export, and nothing "
                         "was replaced.")
  if gfile.exists(export_dir):
    if gfile.listdir(export_dir):
      old = f"{export_dir}.old-{uuid.uuid4().hex[:12]}"
      gfile.rename(export_dir, old)
    elif run_dir.is_remote(export_dir):
      gfile.rmtree(export_dir)  # Checked empty just above; remote "directories" are prefixes.
    else:
      os.rmdir(export_dir)
  try:
    gfile.rename(staging, export_dir)
  except BaseException:
    if old is not None:
      gfile.rename(old, export_dir)
    raise
  if old is not None:
    gfile.rmtree(old)  # A previous export (checked), under a name only this call knows.


def export_run(model_dir: str, export_dir: str, step: Optional[int] = None,
               use_ema: Optional[bool] = None, overwrite: bool = False,
               include_discriminator: bool = True,
               log: Callable[[str], None] = print) -> dict:
  """One export (`Exporter(model_dir).export(...)`); gin must hold the run's config."""
  # Before building anything: a refused directory costs no model build.
  check_export_dir(export_dir.rstrip("/") or export_dir, model_dir, overwrite)
  return Exporter(model_dir, log=log).export(export_dir, step=step, use_ema=use_ema,
                                             overwrite=overwrite,
                                             include_discriminator=include_discriminator)


