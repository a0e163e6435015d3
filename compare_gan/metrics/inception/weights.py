"""The 2015-12-05 Inception network's weights: finding, downloading and fingerprinting them, and
the loaders of the four published formats; `load_inception` (gin name `inception`) ties them
together and returns the running network (`extractor.InceptionExtractor`).

Formats (all hold the same weights):
  frozen_pb       `inceptionv1_for_inception_score.pb`, TF-GAN's re-frozen graph (input `Mul:0`,
                  any batch; outputs `pool_3:0` [N,1,1,2048], `logits:0` [N,1008]).
  tarball         `frozen_inception_v1_2015_12_05.tar.gz`, which holds the frozen_pb above (the
                  file compare_gan v3 downloads); `inception-2015-12-05.tgz` works too.
  classify_image  `classify_image_graph_def.pb` from `inception-2015-12-05.tgz` (TTUR's file). It
                  takes one decoded JPEG (`ExpandDims:0`, batch 1) and resizes/normalises itself;
                  we feed our normalised batch at `Mul:0` instead and patch the hard-coded
                  batch of 1 in `pool_3/_reshape`. Logits: `softmax/logits:0` (with bias).
  hub             TF-Hub `tensorflow/tfgan/eval/inception/1`: a TF2 SavedModel whose root is
                  callable, images [-1, 1] at 299x299 -> {'pool_3', 'logits'} (TF-GAN calls
                  `hub.load(handle)(images)`); a TF1 Hub module's signature works too.

Where the weights are looked for, in order: the `weights` argument,
`$COMPARE_GAN_INCEPTION_WEIGHTS`, the known file names in `$COMPARE_GAN_CACHE_DIR/inception/`
(default `~/.cache/compare_gan`), then a download of `INCEPTION_URL` (https, or
`$COMPARE_GAN_INCEPTION_URL`) into that directory. Nothing found raises `InceptionWeightsNotFound`,
whose message says where to put the file.

Verification. Every file that enters the cache directory under a known name, and every file
found there, is checked against `PINNED_SHA256`: a download is hashed while it is written and
only renamed into place when it matches, so a bad one never reaches the cache; a cached file that
does not match is an error, `InceptionWeightsHashMismatch` (one line: the file, both hashes, what
to do), never silently replaced. A file the user names (`weights`, `inception.weights`,
`--inception_weights`, `$COMPARE_GAN_INCEPTION_WEIGHTS`) is used whatever its hash: any file's
size and sha256 go into the protocol card (`weights_bytes`, `weights_sha256`), which is what
makes scores comparable. A name without a pinned value is accepted with its hash recorded the
same way; see `PINNED_SHA256` for which values are known.
"""

import hashlib
import json
import os
import tarfile
import urllib.parse
import urllib.request
import zlib
from typing import Dict, List, Optional, Tuple

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir
from compare_gan.metrics.inception import extractor

# The documented addresses (TF-GAN's, TTUR's), over https, which download.tensorflow.org serves.
INCEPTION_URL = "https://download.tensorflow.org/models/frozen_inception_v1_2015_12_05.tar.gz"
CLASSIFY_IMAGE_URL = (
    "https://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz")
TFHUB_HANDLE = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"

WEIGHTS_ENV = "COMPARE_GAN_INCEPTION_WEIGHTS"
URL_ENV = "COMPARE_GAN_INCEPTION_URL"
DOWNLOAD_ENV = "COMPARE_GAN_INCEPTION_DOWNLOAD"  # "0"/"false"/"no"/"off" disables downloads.
CACHE_ENV = config.CACHE_ENV  # Re-exported: the error messages below name it.

FROZEN_PB_NAME = "inceptionv1_for_inception_score.pb"
TARBALL_NAME = "frozen_inception_v1_2015_12_05.tar.gz"
CLASSIFY_IMAGE_PB_NAME = "classify_image_graph_def.pb"
CLASSIFY_IMAGE_TARBALL_NAME = "inception-2015-12-05.tgz"
HUB_DIR_NAME = "tfgan_eval_inception_1"
# Looked for in the cache directory, in this order.
KNOWN_NAMES = (FROZEN_PB_NAME, TARBALL_NAME, CLASSIFY_IMAGE_PB_NAME, CLASSIFY_IMAGE_TARBALL_NAME,
               HUB_DIR_NAME)
_GRAPH_MEMBERS = (FROZEN_PB_NAME, CLASSIFY_IMAGE_PB_NAME)  # Looked for inside tarballs.
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")

# The sha256 values accepted for a file under each name in the cache directory (downloaded, or
# put there by hand); an empty tuple accepts any file (its hash still goes into the card). No
# value is pinned yet: no authoritative sha256 of these files is published (TF-GAN, TTUR and the
# reference compare_gan download them unchecked; docs/ and the reference notes give none, only
# the tgz's size, 88,931,400 bytes). Add one only from a copy fetched over https from its URL
# above and hashed with `sha256sum`; a file then has to match it to be used from the cache.
PINNED_SHA256: Dict[str, Tuple[str, ...]] = {
    TARBALL_NAME: (),
    FROZEN_PB_NAME: (),
    CLASSIFY_IMAGE_TARBALL_NAME: (),
    CLASSIFY_IMAGE_PB_NAME: (),
}

DEFAULT_DOWNLOAD_TIMEOUT_S = 10.0  # Per socket operation, when download=None (just trying).
EXPLICIT_DOWNLOAD_TIMEOUT_S = 60.0  # download=True or a URL given explicitly.


class InceptionWeightsNotFound(FileNotFoundError):
  """No Inception weights at any place looked at; the message lists them and how to fix it."""


class InceptionWeightsHashMismatch(extractor.InceptionWeightsCorrupt):
  """A cached or downloaded weights file whose sha256 is not the one pinned for its name."""


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------

@gin.configurable("inception")
def load_inception(weights: Optional[str] = None, *, cache_dir: Optional[str] = None,
                   download: Optional[bool] = None, quantize: bool = False,
                   batch_size: int = extractor.DEFAULT_BATCH_SIZE
                   ) -> extractor.InceptionExtractor:
  """Finds and loads the 2015-12-05 Inception network.

  Args:
    weights: path to a `.pb` (frozen_pb or classify_image), a `.tar.gz`/`.tgz` holding one, a
      TF-Hub SavedModel directory, a directory holding any of `KNOWN_NAMES`, a TF-Hub handle
      (https://tfhub.dev/...), or an http(s)/file URL of a `.pb`/tarball. None: look at
      `$COMPARE_GAN_INCEPTION_WEIGHTS`, then the cache directory, then download.
    cache_dir: root cache directory; None: `$COMPARE_GAN_CACHE_DIR` or `~/.cache/compare_gan`.
      Weights are looked for, downloaded and extracted under `<cache_dir>/inception/`.
    download: True: download when nothing is found locally (errors are reported); False: never;
      None: try (short timeout) unless `$COMPARE_GAN_INCEPTION_DOWNLOAD` is 0/false/no/off.
    quantize: round x255 images to 8-bit levels before resizing (compare_gan does not).
    batch_size: the fixed internal batch.

  Returns:
    An `InceptionExtractor`.

  Raises:
    InceptionWeightsNotFound: nothing found; the message lists where it looked and how to fix it.
    extractor.InceptionWeightsCorrupt: a file was found but is not a readable Inception network.
    InceptionWeightsHashMismatch: a cached or downloaded file is not the pinned one.
  """
  path = find_inception_weights(weights, cache_dir=cache_dir, download=download)
  network, card = _load_network(path, inception_cache_dir(cache_dir))
  return extractor.InceptionExtractor(network, card, batch_size=batch_size, quantize=quantize)


def inception_cache_dir(cache_dir: Optional[str] = None) -> str:
  """Where Inception weights are looked for and downloaded to: `<cache root>/inception`."""
  return os.path.join(config.cache_root(cache_dir), "inception")


def find_inception_weights(weights: Optional[str] = None, *, cache_dir: Optional[str] = None,
                           download: Optional[bool] = None) -> str:
  """Returns the local path (or TF-Hub handle) of the weights; see `load_inception`'s order."""
  cache = inception_cache_dir(cache_dir)
  if weights is not None:
    return _resolve_given(str(weights), f"argument weights={weights!r}", cache, download)
  looked: List[str] = ["argument `weights`: not given"]
  from_env = os.environ.get(WEIGHTS_ENV)
  if from_env:
    return _resolve_given(from_env, f"${WEIGHTS_ENV}={from_env!r}", cache, download)
  looked.append(f"${WEIGHTS_ENV}: not set")
  for name in KNOWN_NAMES:
    candidate = os.path.join(cache, name)
    if os.path.exists(candidate):
      check_pinned(candidate, name)
      return candidate
    looked.append(f"{candidate}: missing")
  url = os.environ.get(URL_ENV) or INCEPTION_URL
  if not _download_allowed(download):
    looked.append(f"download of {url}: disabled (download=False or ${DOWNLOAD_ENV})")
    raise InceptionWeightsNotFound(_not_found_message(looked, cache))
  try:
    timeout = EXPLICIT_DOWNLOAD_TIMEOUT_S if download else DEFAULT_DOWNLOAD_TIMEOUT_S
    return _download(url, cache, timeout=timeout)
  except OSError as e:
    looked.append(f"download of {url}: failed ({type(e).__name__}: {e})")
    raise InceptionWeightsNotFound(_not_found_message(looked, cache)) from e


def _resolve_given(given: str, what: str, cache: str, download: Optional[bool]) -> str:
  """An explicitly named location: used as is, never silently replaced by another one."""
  scheme = urllib.parse.urlparse(given).scheme
  if scheme in ("http", "https", "file") and given.lower().endswith(
      _ARCHIVE_SUFFIXES + (".pb",)):
    if download is False:
      raise InceptionWeightsNotFound(_not_found_message(
          [f"{what}: a URL, but download=False"], cache))
    try:
      return _download(given, cache, timeout=EXPLICIT_DOWNLOAD_TIMEOUT_S)
    except OSError as e:
      raise InceptionWeightsNotFound(_not_found_message(
          [f"{what}: download failed ({type(e).__name__}: {e})"], cache)) from e
  if scheme in ("http", "https", "gs"):
    return given  # A TF-Hub handle; resolved (and downloaded) by tensorflow_hub.
  path = os.path.abspath(os.path.expanduser(given))
  if not os.path.exists(path):
    raise InceptionWeightsNotFound(_not_found_message([f"{what}: {path} does not exist"], cache))
  if os.path.isdir(path) and not _is_saved_model_dir(path):
    for name in KNOWN_NAMES:
      if os.path.exists(os.path.join(path, name)):
        return os.path.join(path, name)
    raise InceptionWeightsNotFound(_not_found_message(
        [f"{what}: directory {path} is not a SavedModel and holds none of "
         f"{', '.join(KNOWN_NAMES)}"], cache))
  return path


def _download_allowed(download: Optional[bool]) -> bool:
  if download is not None:
    return bool(download)
  return os.environ.get(DOWNLOAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _not_found_message(looked: List[str], cache: str) -> str:
  places = "\n".join(f"  - {line}" for line in looked)
  return (
      f"Inception weights ({extractor.EXTRACTOR_ID}, needed by FID, KID and IS) not found. "
      f"Looked at:\n"
      f"{places}\n"
      f"To fix it, do one of:\n"
      f"  - download {INCEPTION_URL}\n"
      f"    and put it at {os.path.join(cache, TARBALL_NAME)} (or unpack {FROZEN_PB_NAME} there);\n"
      f"  - point ${WEIGHTS_ENV} (or gin `inception.weights`, or load_inception(weights=...)) at\n"
      f"    {FROZEN_PB_NAME}, {TARBALL_NAME}, {CLASSIFY_IMAGE_PB_NAME} or\n"
      f"    {CLASSIFY_IMAGE_TARBALL_NAME} (from {CLASSIFY_IMAGE_URL}), or a local copy of the\n"
      f"    TF-Hub model {TFHUB_HANDLE};\n"
      f"  - set ${CACHE_ENV} to a directory whose inception/ subdirectory holds one of them;\n"
      f"  - set ${URL_ENV} to a mirror of the tarball (http(s):// or file://).\n"
      f"Weight-free metrics (features='pixels') work without these weights.")


def _download(url: str, cache: str, timeout: float) -> str:
  """Downloads `url` into `cache` and returns the file's path.

  The file is written to a temporary file, hashed on the way, and renamed to its known name only
  when its sha256 is a pinned one (or its name has none); a mismatch removes it and raises
  `InceptionWeightsHashMismatch`. A file already there is checked the same way.
  """
  name = os.path.basename(urllib.parse.urlparse(url).path)
  if name not in KNOWN_NAMES:
    name = FROZEN_PB_NAME if name.endswith(".pb") else TARBALL_NAME
  target = os.path.join(cache, name)
  if os.path.exists(target):
    check_pinned(target, name)
    return target
  os.makedirs(cache, exist_ok=True)
  logging.info("Downloading the Inception weights from %s to %s.", url, target)
  with _open_url(url, timeout) as response:
    run_dir.write_atomically(target, lambda f: _write_if_pinned(response, f, url, target))
  return target


def _write_if_pinned(response, destination, url: str, target: str) -> None:
  """Copies the download into the temporary file; raising here makes write_atomically delete
  it instead of renaming it to `target`."""
  digest = hashlib.sha256()
  _copy_stream(response, destination, digest)
  name = os.path.basename(target)
  pinned = PINNED_SHA256.get(name, ())
  if pinned and digest.hexdigest() not in pinned:
    raise InceptionWeightsHashMismatch(
        f"download of {url}: sha256 {digest.hexdigest()}, but {name} must have sha256 "
        f"{' or '.join(pinned)}; it was discarded and {target} not written. Retry, or fetch "
        f"the file yourself and pass it with --inception_weights or gin inception.weights.")
  if not pinned:
    logging.warning("Downloaded %s with sha256 %s; no value is pinned for %s to check it "
                    "against (the protocol cards record it).", url, digest.hexdigest(), name)


def _open_url(url: str, timeout: float):
  """The response to `url` (http(s) or file), a binary file object; tests replace it."""
  return urllib.request.urlopen(url, timeout=timeout)


def _copy_stream(source, destination, digest=None, chunk: int = 1 << 20) -> None:
  while True:
    data = source.read(chunk)
    if not data:
      return
    if digest is not None:
      digest.update(data)
    destination.write(data)


def check_pinned(path: str, name: str) -> None:
  """Raises `InceptionWeightsHashMismatch` when `name` has pinned sha256 values and the file at
  `path` has none of them (the hash is memoised, see `file_sha256`)."""
  pinned = PINNED_SHA256.get(name, ())
  if not pinned:
    return
  _, digest = file_sha256(path)
  if digest not in pinned:
    raise InceptionWeightsHashMismatch(
        f"{path}: sha256 {digest}, but {name} must have sha256 {' or '.join(pinned)}; the file "
        f"is damaged or another one. Delete it and retry (it is downloaded again), or pass your "
        f"own file with --inception_weights or gin inception.weights.")


# ------------------------------------------------------------------------------------------------
# Fingerprints
# ------------------------------------------------------------------------------------------------

_SHA256_MEMO: Dict[Tuple, str] = {}


def file_sha256(path: str, sidecar: bool = True) -> Tuple[int, str]:
  """(size in bytes, sha256 hex) of a file, or of a directory tree (relative names + contents).

  Computed once per (path, size, mtime): memoised in memory and, for a file with `sidecar`, in a
  `<path>.sha256` file next to it when its directory is writable (never inside directory trees,
  which would change their hash).
  """
  path = os.path.abspath(path)
  if os.path.isdir(path):
    return _tree_sha256(path)
  stat = os.stat(path)
  memo_key = (path, stat.st_size, stat.st_mtime_ns)
  if memo_key in _SHA256_MEMO:
    return stat.st_size, _SHA256_MEMO[memo_key]
  sidecar_path = path + ".sha256"
  saved = _read_sidecar(sidecar_path) if sidecar else None
  if saved and saved.get("size") == stat.st_size and saved.get("mtime_ns") == stat.st_mtime_ns:
    _SHA256_MEMO[memo_key] = str(saved.get("sha256"))
    return stat.st_size, _SHA256_MEMO[memo_key]
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  _SHA256_MEMO[memo_key] = digest.hexdigest()
  if sidecar:
    payload = json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                          "sha256": _SHA256_MEMO[memo_key]}).encode()
    try:
      run_dir.write_atomically(sidecar_path, lambda f: f.write(payload))
    except OSError:
      pass  # A read-only directory: the in-memory memo still saves the work.
  return stat.st_size, _SHA256_MEMO[memo_key]


def _read_sidecar(path: str) -> Optional[dict]:
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return None
  return saved if isinstance(saved, dict) and isinstance(saved.get("sha256"), str) else None


def _tree_sha256(root: str) -> Tuple[int, str]:
  files = []
  for directory, _, names in os.walk(root):
    for name in names:
      full = os.path.join(directory, name)
      files.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
  files.sort()
  digest, total = hashlib.sha256(), 0
  for relative, full in files:
    size, file_digest = file_sha256(full, sidecar=False)
    total += size
    digest.update(f"{relative}\0{size}\0{file_digest}\n".encode())
  return total, digest.hexdigest()


# ------------------------------------------------------------------------------------------------
# Formats
# ------------------------------------------------------------------------------------------------

def _load_network(path: str, cache: str) -> Tuple[extractor.Network, dict]:
  """Loads any supported format; returns (network, card without `quantize`)."""
  base = {"extractor": extractor.EXTRACTOR_ID, "resize": "tf1_bilinear_299",
          "normalization": "x*255 -> (x-128)/128"}
  if urllib.parse.urlparse(path).scheme in ("http", "https", "gs") or _is_saved_model_dir(path):
    network, card = _load_hub(path)
    return network, {**base, "source": path, **card}
  if path.lower().endswith(_ARCHIVE_SUFFIXES):
    graph_path = _extract_graph(path, cache)
    network, card = _load_graph_file(graph_path)
    return network, {**base, "source": path, **card, "loader": "tarball", "archive": path}
  network, card = _load_graph_file(path)
  return network, {**base, "source": path, **card}


def _is_saved_model_dir(path: str) -> bool:
  return os.path.isdir(path) and any(
      os.path.exists(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt"))


def _extract_graph(archive: str, cache: str) -> str:
  """Extracts the graph member of a tarball into `<cache>/extracted/<sha256 prefix>/`."""
  _, digest = file_sha256(archive)
  out_dir = os.path.join(cache, "extracted", digest[:16])
  try:
    with tarfile.open(archive, "r:*") as tar:
      members = [m for m in tar.getmembers() if os.path.basename(m.name) in _GRAPH_MEMBERS]
      if not members:
        names = [m.name for m in tar.getmembers()][:10]
        raise extractor.InceptionWeightsCorrupt(
            f"{archive}: holds none of {', '.join(_GRAPH_MEMBERS)} (members: {names}).")
      members.sort(key=lambda m: _GRAPH_MEMBERS.index(os.path.basename(m.name)))
      member = members[0]
      parts = member.name.replace("\\", "/").split("/")
      if member.name.startswith("/") or ".." in parts or not member.isfile():
        raise extractor.InceptionWeightsCorrupt(
            f"{archive}: refusing member {member.name!r} (absolute path, '..' or not a regular "
            f"file).")
      target = os.path.join(out_dir, os.path.basename(member.name))
      if os.path.exists(target) and os.path.getsize(target) == member.size:
        return target
      os.makedirs(out_dir, exist_ok=True)
      source = tar.extractfile(member)
      run_dir.write_atomically(target, lambda f: _copy_stream(source, f))
      if os.path.getsize(target) != member.size:
        raise extractor.InceptionWeightsCorrupt(f"{archive}: member {member.name} is truncated.")
      return target
  except (tarfile.TarError, EOFError, zlib.error) as e:
    raise extractor.InceptionWeightsCorrupt(
        f"{archive}: not a readable tarball ({type(e).__name__}: {e}); delete it and download "
        f"it again from {INCEPTION_URL}.") from e
  except OSError as e:
    if os.path.exists(archive) and not isinstance(e, PermissionError):
      raise extractor.InceptionWeightsCorrupt(
          f"{archive}: could not be read or extracted ({type(e).__name__}: {e}); delete it and "
          f"download it again from {INCEPTION_URL}.") from e
    raise


def _read_graph_def(path: str) -> tf.compat.v1.GraphDef:
  with open(path, "rb") as f:
    data = f.read()
  graph_def = tf.compat.v1.GraphDef()
  try:
    graph_def.ParseFromString(data)
  except Exception as e:  # protobuf's DecodeError, which has no stable import path.
    raise extractor.InceptionWeightsCorrupt(
        f"{path}: not a GraphDef ({len(data)} bytes; {type(e).__name__}: {e}); the file is "
        f"truncated or is something else. Delete it and download it again.") from e
  for node in graph_def.node:  # Shapes recorded at export time (batch 1) would fight ours.
    if "_output_shapes" in node.attr:
      del node.attr["_output_shapes"]
  return graph_def


def _load_graph_file(path: str) -> Tuple[extractor.Network, dict]:
  """A frozen GraphDef: TF-GAN's frozen_pb or TTUR's classify_image (told apart by node names)."""
  graph_def = _read_graph_def(path)
  names = {node.name for node in graph_def.node}
  if "logits" in names and "pool_3" in names and "Mul" in names:
    outputs = ["pool_3:0", "logits:0"]
    card = {"loader": "frozen_pb", "graph": FROZEN_PB_NAME, "input": "Mul:0",
            "pool_3": "pool_3:0", "logits": "1008 logits:0 (as frozen by TF-GAN)"}
  elif "pool_3/_reshape" in names and "Mul" in names:
    _patch_any_batch(graph_def, path)
    logits_name = "softmax/logits" if "softmax/logits" in names else "softmax/logits/MatMul"
    if logits_name not in names:
      raise extractor.InceptionWeightsCorrupt(f"{path}: has no softmax/logits node.")
    outputs = ["pool_3:0", logits_name + ":0"]
    bias = "with bias" if logits_name == "softmax/logits" else "without bias"
    card = {"loader": "classify_image", "graph": CLASSIFY_IMAGE_PB_NAME,
            "input": "Mul:0 (after our own resize; pool_3/_reshape patched to any batch)",
            "pool_3": "pool_3:0", "logits": f"1008 {bias} ({logits_name}:0)"}
  else:
    raise extractor.InceptionWeightsCorrupt(
        f"{path}: a GraphDef, but not the Inception network (no Mul/pool_3/logits or "
        f"Mul/pool_3/_reshape nodes; {len(names)} nodes).")
  try:
    network = _wrap_graph_def(graph_def, "Mul:0", outputs)
  except (ValueError, tf.errors.OpError) as e:
    raise extractor.InceptionWeightsCorrupt(f"{path}: the graph does not import ({e}).") from e
  size, digest = file_sha256(path)
  return network, {**card, "weights_file": path, "weights_bytes": size, "weights_sha256": digest}


def _patch_any_batch(graph_def: tf.compat.v1.GraphDef, path: str) -> None:
  """Rewires `pool_3/_reshape` from its hard-coded [1, 2048] to [-1, 2048] (TTUR's batch fix)."""
  reshape = next(node for node in graph_def.node if node.name == "pool_3/_reshape")
  if reshape.op != "Reshape" or len(reshape.input) < 2:
    raise extractor.InceptionWeightsCorrupt(
        f"{path}: pool_3/_reshape is a {reshape.op}, not a Reshape.")
  shape_node = graph_def.node.add()
  shape_node.name = "pool_3/_reshape/shape_any_batch"
  shape_node.op = "Const"
  shape_node.attr["dtype"].type = tf.int32.as_datatype_enum
  shape_node.attr["value"].tensor.CopyFrom(
      tf.make_tensor_proto(np.array([-1, extractor.POOL_3_DIM], np.int32)))
  reshape.input[1] = shape_node.name


def _wrap_graph_def(graph_def: tf.compat.v1.GraphDef, input_name: str,
                    outputs: List[str]) -> extractor.Network:
  """A TF2 function running `graph_def` from `input_name` to `outputs`, pruned to what they need."""
  def import_graph(images):
    return tf.compat.v1.import_graph_def(graph_def, input_map={input_name: images},
                                         return_elements=outputs, name="inception")

  wrapped = tf.compat.v1.wrap_function(
      import_graph,
      [tf.TensorSpec([None, extractor.INPUT_SIZE, extractor.INPUT_SIZE, 3], tf.float32)])
  pruned = wrapped.prune(feeds=wrapped.inputs[0], fetches=wrapped.outputs)
  return lambda images: tuple(pruned(images))


def _load_hub(handle: str) -> Tuple[extractor.Network, dict]:
  """TF-Hub `tfgan/eval/inception/1` (TF2 SavedModel; TF1 Hub modules via their signature)."""
  if os.path.isdir(handle):
    local = handle
  else:
    import tensorflow_hub as hub  # Only for remote handles: resolves into $TFHUB_CACHE_DIR.
    try:
      local = hub.resolve(handle)
    except Exception as e:  # Offline, unknown handle, ...: all mean "not found here".
      raise InceptionWeightsNotFound(_not_found_message(
          [f"TF-Hub handle {handle}: could not be resolved ({type(e).__name__}: {e})"],
          inception_cache_dir())) from e
  try:
    if os.path.exists(os.path.join(local, "tfhub_module.pb")):
      import tensorflow_hub as hub  # A TF1 Hub module: hub.load picks its tags.
      module = hub.load(local)
    else:
      module = tf.saved_model.load(local)
  except Exception as e:
    raise extractor.InceptionWeightsCorrupt(f"{local}: not a loadable SavedModel ({e}).") from e

  if callable(module):
    call, how = module, "SavedModel __call__"
  else:
    signatures = dict(module.signatures)
    name = "default" if "default" in signatures else (
        next(iter(signatures)) if len(signatures) == 1 else None)
    if name is None:
      raise extractor.InceptionWeightsCorrupt(
          f"{local}: not callable and no unique signature (signatures: {sorted(signatures)}).")
    signature = signatures[name]
    arg = next(iter(signature.structured_input_signature[1]))
    call = lambda images: signature(**{arg: images})  # noqa: E731
    how = f"signature {name!r}, input {arg!r}"

  def network(images):
    outputs = call(images)
    missing = [key for key in ("pool_3", "logits") if key not in outputs]
    if missing:
      raise extractor.InceptionWeightsCorrupt(
          f"{local}: outputs {sorted(outputs)} lack {missing}; expected 'pool_3' and 'logits'.")
    return outputs["pool_3"], outputs["logits"]

  network.module = module  # Signatures alone do not keep the module's variables alive.
  size, digest = file_sha256(local)
  return network, {"loader": "hub", "graph": "tfgan/eval/inception/1 SavedModel",
                   "input": f"{how}, [-1,1] at 299x299", "pool_3": "'pool_3' output",
                   "logits": "1008 'logits' output (TF-GAN's)", "weights_file": local,
                   "weights_bytes": size, "weights_sha256": digest}
