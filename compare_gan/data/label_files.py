"""Label files: labels from elsewhere (k-means cluster ids from `compare_gan cluster`, a
classifier's predictions), matched to a dataset's examples by key. The reference fed such
labels from TFRecords of {file_name, label} zipped in order with TFDS ImageNet
(`replace_labels`); here they are one .npz matched by key, so order and coverage are free.

The format, an .npz (numpy's zip of arrays, written compressed) with four entries:
  keys         str [n]: each example's key, unique (tfds `file_name` for ImageNet,
               "<split>:<offset>" for the in-memory and generated datasets; see
               `Dataset.key_space` and data/base.py)
  labels       int32 [n]: in [-1, num_classes); -1 is "unlabelled"
  num_classes  int scalar >= 1
  meta         str scalar: a JSON object saying where the labels came from; its optional
               "key_space" (the `Dataset.key_space` the keys were read from) is checked
               against the dataset the file is used with

gin `dataset.label_file = 'labels.npz'` (data/__init__.py) replaces the labels of every split by
key; an example whose key the file does not hold reads -1, unlabelled (so a file may label a
subset, e.g. the first N examples that `compare_gan cluster --max_examples N` read). With a
label file the dataset's `info.num_classes` is the file's, and `info.labels` records its path
and sha256 for the protocol card.
"""

import dataclasses
import hashlib
import io
import json
import os
import uuid
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir
from compare_gan.data import base

FIELDS = ("keys", "labels", "num_classes", "meta")


class LabelFileError(config.ConfigError):
  """A label file that cannot be used: missing, unreadable, invalid or made for other data."""


@dataclasses.dataclass(frozen=True)
class LabelFile:
  """A label file as read and validated by `read_label_file`.

  Attributes:
    path: where it was read.
    keys: str [n], unique example keys.
    labels: int32 [n] in [-1, num_classes).
    num_classes: number of classes.
    meta: where the labels came from (the file's JSON object).
    sha256: hex digest of the file's bytes.
  """
  path: str
  keys: np.ndarray
  labels: np.ndarray
  num_classes: int
  meta: dict
  sha256: str


def _problems(keys: np.ndarray, labels: np.ndarray, num_classes: Any) -> List[str]:
  """What is wrong with the arrays of a label file (empty: nothing)."""
  problems = []
  if keys.ndim != 1 or keys.dtype.kind != "U":
    problems.append(f"keys must be a 1-D array of str; got {keys.dtype} of shape {keys.shape}")
  if labels.ndim != 1 or labels.dtype.kind not in "iu":
    problems.append(f"labels must be a 1-D array of integers; got {labels.dtype} of shape "
                    f"{labels.shape}")
  classes_ok = (np.ndim(num_classes) == 0 and np.asarray(num_classes).dtype.kind in "iu"
                and not isinstance(num_classes, bool) and int(num_classes) >= 1)
  if not classes_ok:
    shown = np.asarray(num_classes).tolist() if isinstance(num_classes, (np.ndarray, np.generic)
                                                       ) else num_classes
    problems.append(f"num_classes must be an integer >= 1; got {shown!r}")
  if problems:
    return problems
  if len(keys) != len(labels):
    problems.append(f"keys and labels differ in length: {len(keys)} keys, {len(labels)} labels")
  if len(keys) == 0:
    problems.append("it holds no examples")
  bad = np.flatnonzero((labels < -1) | (labels >= int(num_classes)))
  if len(bad):
    problems.append(f"{len(bad)} labels are outside [-1, num_classes={int(num_classes)}), the "
                    f"first {int(labels[bad[0]])} at index {bad[0]}")
  unique, counts = np.unique(keys, return_counts=True)
  if len(unique) != len(keys):
    repeated = unique[counts > 1]
    problems.append(f"{len(repeated)} keys occur more than once, e.g. {str(repeated[0])!r} "
                    f"({int(counts[counts > 1][0])} times); keys must be unique")
  return problems


def _error(path: str, problems: Sequence[str]) -> LabelFileError:
  """One line per problem; the command line joins them into one."""
  return LabelFileError(f"label file {path} is invalid:\n" + "\n".join(
      f"  {p};" if i + 1 < len(problems) else f"  {p}." for i, p in enumerate(problems)))


def write_label_file(path: str, keys: Sequence[str], labels: Sequence[int], num_classes: int,
                     meta: Mapping[str, Any]) -> None:
  """Writes a label file (the module docstring gives the format); never replaces a file.

  Args:
    path: the .npz to create (local or any tf.io.gfile path); its directory is created.
    keys: str [n], unique example keys.
    labels: int [n] in [-1, num_classes).
    num_classes: number of classes, >= 1.
    meta: JSON-able mapping saying where the labels came from.

  Raises:
    LabelFileError: `path` exists, or the arrays or meta are invalid (one line per problem).
  """
  if tf.io.gfile.exists(path):
    raise LabelFileError(f"{path} exists; label files are never overwritten: give another "
                         "output path, or move the old file away first.")
  keys, labels = np.asarray(keys), np.asarray(labels)
  if keys.size == 0:  # No keys: report "no examples", not the dtype numpy gives [].
    keys = keys.astype(str)
  problems = _problems(keys, labels, num_classes)
  try:
    meta_text = json.dumps(dict(meta), sort_keys=True, allow_nan=False)
  except (TypeError, ValueError) as e:
    problems.append(f"meta must be a JSON-able mapping ({e})")
  if problems:
    raise _error(path, problems)
  buffer = io.BytesIO()
  np.savez_compressed(buffer, keys=keys, labels=labels.astype(np.int32),
                      num_classes=np.int64(num_classes), meta=np.array(meta_text))
  _create(path, buffer.getvalue())


def _create(path: str, content: bytes) -> None:
  """Writes `content` to a new file `path` at once: a temporary file in the same directory,
  then a rename that fails when `path` appeared meanwhile (a hard link locally, gfile's
  rename without overwrite remotely), so a reader never sees a partial file."""
  directory = os.path.dirname(path)
  if directory:
    run_dir.makedirs(directory)
  tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
  if run_dir.is_remote(path):
    with tf.io.gfile.GFile(tmp, "wb") as f:
      f.write(content)
    try:
      tf.io.gfile.rename(tmp, path, overwrite=False)
    except tf.errors.AlreadyExistsError:
      tf.io.gfile.remove(tmp)
      raise LabelFileError(f"{path} appeared while it was written; label files are never "
                           "overwritten.") from None
    return
  with open(tmp, "wb") as f:
    f.write(content)
    f.flush()
    os.fsync(f.fileno())
  try:
    os.link(tmp, path)
  except FileExistsError:
    raise LabelFileError(f"{path} appeared while it was written; label files are never "
                         "overwritten.") from None
  finally:
    os.remove(tmp)


def read_label_file(path: str) -> LabelFile:
  """Reads and validates a label file.

  Raises:
    LabelFileError: no such file, not an .npz, a missing field, keys and labels of different
      lengths, labels outside [-1, num_classes), repeated keys, meta that is no JSON object
      (one line per problem).
  """
  if not tf.io.gfile.exists(path):
    raise LabelFileError(f"label file {path} does not exist.")
  with tf.io.gfile.GFile(path, "rb") as f:
    content = f.read()
  try:
    with np.load(io.BytesIO(content), allow_pickle=False) as npz:
      arrays = {name: npz[name] for name in npz.files}
  except Exception as e:  # noqa: BLE001 -- np.load raises many kinds; any means "not an npz".
    raise LabelFileError(f"label file {path} is not an .npz of arrays ({type(e).__name__}: "
                         f"{' '.join(str(e).split())}).") from None
  missing = [name for name in FIELDS if name not in arrays]
  if missing:
    raise _error(path, [f"it lacks the field(s) {missing} (a label file holds {list(FIELDS)}; "
                        f"this one holds {sorted(arrays)})"])
  keys, labels, num_classes = arrays["keys"], arrays["labels"], arrays["num_classes"]
  problems = _problems(keys, labels, num_classes[()] if num_classes.ndim == 0 else num_classes)
  meta = None
  try:
    meta = json.loads(str(arrays["meta"][()]))
  except (ValueError, TypeError):
    pass
  if not isinstance(meta, dict):
    problems.append("meta must be a str holding a JSON object")
  if problems:
    raise _error(path, problems)
  return LabelFile(path=path, keys=keys, labels=labels.astype(np.int32),
                   num_classes=int(num_classes), meta=meta,
                   sha256=hashlib.sha256(content).hexdigest())


def keyed_examples(dataset: base.Dataset, split: str, batch_size: int,
                   num_examples: Optional[int] = None
                   ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """The examples of `split` in stored order with eval preprocessing, and their keys.

  Args:
    dataset: a dataset with example keys (`key_space` not None).
    split: one of `dataset.splits`.
    batch_size: examples per batch (the last may be smaller).
    num_examples: the first this many; None: the whole split.

  Yields:
    (keys str [b], images float32 [b, *info.image_shape] in [0, 1]).

  Raises:
    ConfigError: the dataset has no example keys. ValueError: unknown split, too many examples.
  """
  n = dataset.split_size(split) if num_examples is None else num_examples
  ds = dataset.keyed_eval_input(batch_size=batch_size, split=split, num_examples=n)
  for batch in ds:
    keys = np.array([k.decode("utf-8") for k in batch["keys"].numpy()], dtype=str)
    yield keys, batch["images"].numpy()


def relabel(dataset: base.Dataset, *, labeled_fraction: float = 1.0, labeled_seed: int = 0,
            label_file: Optional[str] = None) -> None:
  """Applies gin `dataset.labeled_fraction`, `dataset.labeled_seed` and `dataset.label_file`
  to `dataset` (`Dataset.relabel`), checking that the file was made for its keys.

  Raises:
    LabelFileError: the file is invalid or its meta names another key space.
    ConfigError: what `Dataset.relabel` refuses.
  """
  source = base.LabelSource(labeled_fraction=labeled_fraction, labeled_seed=labeled_seed)
  if label_file is None:
    dataset.relabel(source)
    return
  labels = read_label_file(label_file)
  made_for = labels.meta.get("key_space")
  if made_for is not None and made_for != dataset.key_space:
    raise LabelFileError(f"label file {label_file} holds keys of {made_for!r}, but dataset "
                         f"{dataset.info.name!r} has keys of {dataset.key_space!r}; use a "
                         "label file made for this dataset.")
  source = dataclasses.replace(source, label_file=label_file, label_file_sha256=labels.sha256,
                               label_file_classes=labels.num_classes,
                               label_file_keys=len(labels.keys))
  dataset.relabel(source, labels.keys, labels.labels)
