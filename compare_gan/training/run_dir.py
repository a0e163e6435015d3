"""The run directory (`--model_dir`) contract, DESIGN section 6.

  config.gin            the full config as given (written before step 0)
  operative_config.gin  what was actually used (after the first step)
  checkpoints/          tf.train.CheckpointManager files
  tb/                   TensorBoard events
  status.json           running | done | diverged | failed, with step and message

Every file is written atomically (temporary file, then rename), so a killed process never
leaves a half-written status or config. Paths go through `tf.io.gfile`, so a run directory may
live on a cloud file system (gs://...), as TPU runs need.
"""

import datetime
import difflib
import json
import os
from typing import Optional

import tensorflow as tf

STATES = ("running", "done", "diverged", "failed")
CONFIG = "config.gin"
OPERATIVE_CONFIG = "operative_config.gin"
STATUS = "status.json"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tb"


def write_atomically(path: str, text: str) -> None:
  """Writes `text` to `path` through a temporary file and a rename."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(text)
  tf.io.gfile.rename(tmp, path, overwrite=True)


def write_status(model_dir: str, state: str, step: int, training_steps: int,
                 message: str = "", **extra) -> dict:
  """Writes status.json; returns what it wrote."""
  if state not in STATES:
    raise ValueError(f"Unknown run state {state!r}; valid: {', '.join(STATES)}.")
  status = dict(state=state, step=int(step), training_steps=int(training_steps),
                message=message,
                updated=datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"), **extra)
  write_atomically(os.path.join(model_dir, STATUS), json.dumps(status, indent=2) + "\n")
  return status


def read_status(model_dir: str) -> Optional[dict]:
  """status.json as a dict, or None when the run has none yet."""
  path = os.path.join(model_dir, STATUS)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def write_config(model_dir: str, config_text: str) -> Optional[str]:
  """Writes config.gin. When a different config.gin is already there (a resumed run whose
  config changed), keeps the old one as config.previous.gin and returns a unified diff."""
  path = os.path.join(model_dir, CONFIG)
  diff = None
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      old = f.read()
    if old != config_text:
      diff = "".join(difflib.unified_diff(old.splitlines(True), config_text.splitlines(True),
                                          "config.gin (before)", "config.gin (now)"))
      write_atomically(os.path.join(model_dir, "config.previous.gin"), old)
  write_atomically(path, config_text)
  return diff
