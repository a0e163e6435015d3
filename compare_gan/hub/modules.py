"""Loading generator modules, ours and third-party (`compare_gan sample`, `eval --module`).

`load_module(handle)` opens ours or a third-party module for `compare_gan sample` and
`compare_gan eval --module`: TF2 SavedModels with our `generator`, a `generator`,
`serving_default` or `default` signature or a callable `__call__`, and TF1 Hub modules
(reference v2 `generator` signature, v3 tags {"gen", "bsNone"}) whose signature takes `z`.
`check_module_handle(handle)` tells, before anything loads, whether a path is a SavedModel at
all, and says what it is instead (missing, a file, an empty directory, a run directory).
"""

import dataclasses
import json
import os
from typing import Callable, List, Optional, Tuple

import tensorflow as tf

from compare_gan import run_dir
from compare_gan.gans import latents
from compare_gan.hub import export as export_lib


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
  z_distribution: latents.LatentDistribution
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


def read_metadata(path: str) -> Optional[dict]:
  """Our metadata of the SavedModel directory `path`, or None (a third-party module)."""
  full = os.path.join(path, "assets", export_lib.METADATA_FILE)
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


SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
EXPECTED = ("expected a SavedModel directory (one with saved_model.pb, e.g. written by "
            "`compare_gan export`) or a TF Hub handle (https://...)")


class NotAModuleError(ValueError):
  """A module path that names no SavedModel: a bad command line (exit 2), found before any
  loading."""


def _is_url(handle: str) -> bool:
  return handle.startswith(("http://", "https://"))


def check_module_handle(handle: str) -> None:
  """Raises NotAModuleError unless the local or remote (gs://) path `handle` is a SavedModel
  directory; cheap, so commands call it before loading anything. An http(s) handle passes: only
  tensorflow_hub's download tells what it is (`load_module` checks what it unpacks)."""
  if not _is_url(handle):
    _check_saved_model_dir(handle, handle)


def _check_saved_model_dir(handle: str, path: str) -> None:
  """`check_module_handle` of the directory `path` that `handle` resolved to."""
  gfile = tf.io.gfile
  if not gfile.exists(path):
    raise NotAModuleError(f"module {handle} does not exist; {EXPECTED}.")
  if not gfile.isdir(path):
    raise NotAModuleError(f"module {handle} is a file, not a SavedModel directory; {EXPECTED}.")
  if any(gfile.exists(os.path.join(path, name)) for name in SAVED_MODEL_FILES):
    return
  names = sorted(n.rstrip("/") for n in gfile.listdir(path))
  if not names:
    raise NotAModuleError(f"module {handle} is an empty directory, not a SavedModel; "
                          f"{EXPECTED}.")
  if run_dir.CONFIG in names:
    tfhub = os.path.join(path, run_dir.TFHUB)
    steps = sorted(int(n.rstrip("/")) for n in (gfile.listdir(tfhub) if gfile.isdir(tfhub)
                                                 else []) if n.rstrip("/").isdigit())
    hint = (f", or give one of its exports {os.path.join(handle, run_dir.TFHUB, '<step>')} "
            f"(steps {', '.join(map(str, steps))})" if steps else "")
    raise NotAModuleError(f"module {handle} is a compare_gan run directory, not a SavedModel: "
                          f"export a checkpoint (`compare_gan export --model_dir {handle} "
                          f"--export_dir DIR`) and give DIR{hint}.")
  inner = [n for n in names if any(gfile.exists(os.path.join(path, n, f))
                                   for f in SAVED_MODEL_FILES)]
  hint = f" (SavedModels inside it: {', '.join(inner[:3])})" if inner else ""
  raise NotAModuleError(f"module {handle} is not a SavedModel: it has no saved_model.pb"
                        f"{hint}; {EXPECTED}.")


def load_module(handle: str, z_distribution: Optional[str] = None,
                num_classes: Optional[int] = None) -> GeneratorModule:
  """Loads a generator module from a directory or TF Hub handle (see the module docstring).

  Args:
    handle: SavedModel directory or TF Hub handle (resolved by tensorflow_hub).
    z_distribution: "uniform" | "normal" | "truncated_normal"; overrides the metadata, and is
      required for a module without our metadata.
    num_classes: the classes of a third-party conditional module (ours record it; a different
      number is an error).
  Raises:
    NotAModuleError: `handle` is no SavedModel (`check_module_handle`).
    ValueError: no usable signature, an unknown z distribution or a bad num_classes.
  """
  if num_classes is not None and num_classes < 1:
    raise ValueError(f"num_classes must be >= 1; got {num_classes}.")
  check_module_handle(handle)
  import tensorflow_hub as hub  # Only loading needs it.
  path = hub.resolve(handle)
  if _is_url(handle):
    _check_saved_model_dir(handle, path)
  metadata = read_metadata(path)
  if metadata is not None:
    if num_classes is not None and num_classes != metadata["num_classes"]:
      raise ValueError(f"module {handle} records num_classes = {metadata['num_classes']}; "
                       f"num_classes = {num_classes} disagrees (leave it out for our modules).")
    loaded = hub.load(path)
    dist = (latents.parse_z_distribution(z_distribution) if z_distribution
            else latents.LatentDistribution(**metadata["z_distribution"]))
    conditional = bool(metadata["conditional"])
    fn = loaded.generator
    call = (lambda z, labels: fn(z, labels)) if conditional else (lambda z, labels: fn(z))
    return GeneratorModule(handle, "compare_gan", int(metadata["z_dim"]), dist, conditional,
                           metadata["num_classes"], tuple(metadata["image_shape"]), metadata,
                           None, call, loaded)
  if not z_distribution:
    raise ValueError(f"module {handle} has no compare_gan metadata, so its z distribution is "
                     f"unknown; give it ({' | '.join(latents.Z_DISTRIBUTIONS)}: the reference's "
                     "modules used uniform (v2) or normal (v3 s3gan/ssgan)).")
  dist = latents.parse_z_distribution(z_distribution)
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

