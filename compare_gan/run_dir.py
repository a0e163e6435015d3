"""The run directory (`--model_dir`) contract, DESIGN section 6, and the process exit codes.

  config.gin            the full config as given (written before step 0)
  operative_config.gin  what was actually used (after the first step)
  checkpoints/          tf.train.CheckpointManager files
  tb/                   TensorBoard events (tb/eval: evaluation scalars)
  metrics.jsonl         one JSON object per evaluated (step, metric), with its protocol card
  scores.csv            the reference's columns, derived from metrics.jsonl
  status.json           running | done | diverged | failed, with step and message
  tfhub/<step>/         exported generators

Every file is written atomically (a temporary file in the same directory, flushed to disk, then
renamed), so a killed process never leaves a half-written status, config or metrics file.
Local paths use the os module alone, so the sweep driver and its executors read run directories
without importing TensorFlow (~5 s); a path with a scheme (gs://...) goes through
`tf.io.gfile`, as TPU runs need.
"""

import datetime
import difflib
import json
import logging
import os
import tempfile
from typing import Callable, Dict, List, Optional, Set, Union

# ----------------------------------------------------------------------------------------------
# Exit codes of every command
# ----------------------------------------------------------------------------------------------
EXIT_OK = 0
EXIT_FAILED = 1        # a runtime failure (a run failed, a checkpoint could not be evaluated)
EXIT_USAGE = 2         # a bad command line or config
EXIT_DIVERGED = 3      # a run stopped by a NaN/Inf loss (status.json says where)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

# ----------------------------------------------------------------------------------------------
# Paths inside a run directory
# ----------------------------------------------------------------------------------------------
CONFIG = "config.gin"
PREVIOUS_CONFIG = "config.previous.gin"
OPERATIVE_CONFIG = "operative_config.gin"
STATUS = "status.json"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tb"
EVAL_TENSORBOARD = os.path.join(TENSORBOARD, "eval")
METRICS = "metrics.jsonl"
SCORES = "scores.csv"
TFHUB = "tfhub"  # tfhub/<step>/: exports of evaluated checkpoints.

STATES = ("running", "done", "diverged", "failed")
ENDED_STATES = ("done", "diverged", "failed")


def now() -> str:
  """The current UTC time as an ISO 8601 string with seconds (every timestamp we write)."""
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# Files: local through os, remote (scheme://) through tf.io.gfile
# ----------------------------------------------------------------------------------------------

def is_remote(path: str) -> bool:
  """Whether `path` names a file system with a scheme (gs://, s3://, ...)."""
  return "://" in str(path)


def _gfile():
  import tensorflow as tf  # Only remote paths need it.
  return tf.io.gfile


def makedirs(path: str) -> None:
  if is_remote(path):
    _gfile().makedirs(path)
  else:
    os.makedirs(path, exist_ok=True)


def read_text(path: str) -> Optional[str]:
  """The text of `path`, or None when it does not exist."""
  if is_remote(path):
    gfile = _gfile()
    if not gfile.exists(path):
      return None
    with gfile.GFile(path) as f:
      return f.read()
  try:
    with open(path, encoding="utf-8") as f:
      return f.read()
  except FileNotFoundError:
    return None


def write_atomically(path: str, content: Union[str, bytes, Callable]) -> None:
  """Writes `path` through a temporary file in its directory and a rename, so readers see the
  old or the new file, never a part. `content` is text, bytes, or `write(binary_file)`.

  Local files are fsynced before the rename (a power cut keeps the old or the new file);
  remote file systems rename atomically on their own terms (GCS: a copy, then a delete).
  """
  def write(f) -> None:
    if callable(content):
      content(f)
    else:
      f.write(content.encode("utf-8") if isinstance(content, str) else content)

  if is_remote(path):
    gfile = _gfile()
    tmp = f"{path}.tmp-{os.getpid()}"
    with gfile.GFile(tmp, "wb") as f:
      write(f)
    gfile.rename(tmp, path, overwrite=True)
    return
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


# ----------------------------------------------------------------------------------------------
# status.json and config.gin
# ----------------------------------------------------------------------------------------------

def write_status(model_dir: str, state: str, step: int, training_steps: int,
                 message: str = "", **extra) -> dict:
  """Writes status.json; returns what it wrote."""
  if state not in STATES:
    raise ValueError(f"Unknown run state {state!r}; valid: {', '.join(STATES)}.")
  status = dict(state=state, step=int(step), training_steps=int(training_steps),
                message=message, updated=now(), **extra)
  write_atomically(os.path.join(model_dir, STATUS), json.dumps(status, indent=2) + "\n")
  return status


def read_status(model_dir: str) -> Optional[dict]:
  """status.json as a dict, or None when the run has none yet."""
  text = read_text(os.path.join(model_dir, STATUS))
  return None if text is None else json.loads(text)


def write_config(model_dir: str, config_text: str) -> Optional[str]:
  """Writes config.gin. When a different config.gin is already there (a resumed run whose
  config changed), keeps the old one as config.previous.gin and returns a unified diff."""
  path = os.path.join(model_dir, CONFIG)
  diff = None
  old = read_text(path)
  if old is not None and old != config_text:
    diff = "".join(difflib.unified_diff(old.splitlines(True), config_text.splitlines(True),
                                        "config.gin (before)", "config.gin (now)"))
    write_atomically(os.path.join(model_dir, PREVIOUS_CONFIG), old)
  write_atomically(path, config_text)
  return diff


def read_config(model_dir: str) -> tuple:
  """(file name, text) of operative_config.gin, else config.gin (before the first step), else
  (None, None)."""
  for name in (OPERATIVE_CONFIG, CONFIG):
    text = read_text(os.path.join(model_dir, name))
    if text is not None:
      return name, text
  return None, None


# ----------------------------------------------------------------------------------------------
# metrics.jsonl
# ----------------------------------------------------------------------------------------------

def read_metrics(model_dir: str) -> List[dict]:
  """Every record of model_dir/metrics.jsonl, in file order. A line that is not a JSON object
  with "step" and "metric" (a hand edit) is skipped with a warning, never fatal."""
  path = os.path.join(model_dir, METRICS)
  records = []
  for number, line in enumerate((read_text(path) or "").splitlines(), 1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
      if not isinstance(record, dict) or "step" not in record or "metric" not in record:
        raise ValueError("not a metric record")
    except ValueError as e:
      logging.warning("%s line %d is not a metric record (%s); skipped", path, number, e)
      continue
    records.append(record)
  return records


def latest_metrics(records: List[dict]) -> Dict[int, Dict[str, dict]]:
  """step -> metric -> the newest record of that (step, metric)."""
  out: Dict[int, Dict[str, dict]] = {}
  for r in records:
    out.setdefault(int(r["step"]), {})[r["metric"]] = r
  return dict(sorted(out.items()))


def append_metrics(model_dir: str, records: List[dict]) -> None:
  """Appends `records` to metrics.jsonl (one JSON object a line), rewriting the file
  atomically so a killed evaluation never leaves a torn line."""
  path = os.path.join(model_dir, METRICS)
  old = read_text(path) or ""
  if old and not old.endswith("\n"):
    old += "\n"
  new = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in records)
  write_atomically(path, old + new)


def evaluated_steps(model_dir: str) -> Set[int]:
  """The steps that have at least one record in metrics.jsonl."""
  return {int(r["step"]) for r in read_metrics(model_dir)}
