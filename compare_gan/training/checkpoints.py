"""Checkpoints: save every N steps, keep K, restore the newest *readable* one; list and select a
run's checkpoints for evaluation and export.

TensorFlow writes a checkpoint's files under temporary names and renames them, and updates the
`checkpoint` state file only afterwards, so a process killed mid-save leaves the previous
checkpoint as the latest. A checkpoint that is damaged anyway (a truncated file after a full
disk, a copy gone wrong) is reported and the one before it is used; a run never silently starts
over when checkpoints exist but none can be read.
"""

import os
import re
from typing import Callable, Dict, List, Optional

import tensorflow as tf

from compare_gan import run_dir

PREFIX = "ckpt"


def step_of(path: str) -> int:
  match = re.search(rf"{PREFIX}-(\d+)$", path)
  return int(match.group(1)) if match else -1


class Checkpoints:
  """A `tf.train.CheckpointManager` over `directory` with corrupt-checkpoint fallback."""

  def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, max_to_keep: int,
               log: Callable[[str], None] = print):
    if max_to_keep is not None and max_to_keep < 1:
      raise ValueError(f"train.keep_checkpoint_max={max_to_keep} must be >= 1 (or None: all).")
    self.checkpoint, self.directory, self._log = checkpoint, directory, log
    state_file = os.path.join(directory, "checkpoint")
    if tf.io.gfile.exists(state_file):
      try:
        readable = tf.train.get_checkpoint_state(directory) is not None
        problem = "it does not parse"
      except Exception as e:  # pylint: disable=broad-except
        readable, problem = False, _first_line(e)
      if not readable:  # Damaged: list the checkpoint files instead (`candidates`).
        self._log(f"checkpoint state file {state_file} is unreadable ({problem}); moving it "
                  "to checkpoint.corrupt and looking for checkpoint files instead")
        tf.io.gfile.rename(state_file, state_file + ".corrupt", overwrite=True)
    self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep,
                                              checkpoint_name=PREFIX)

  def candidates(self) -> List[str]:
    """Checkpoint prefixes, newest first: the state file's list, then any other complete
    checkpoint files in the directory."""
    listed = list(self.manager.checkpoints)
    found = [p[:-len(".index")] for p in tf.io.gfile.glob(os.path.join(self.directory,
                                                                       f"{PREFIX}-*.index"))]
    paths = {os.path.normpath(p) for p in listed + found}
    return sorted(paths, key=step_of, reverse=True)

  def restore_latest(self) -> Optional[str]:
    """Restores the newest readable checkpoint; returns its path, or None when there is none.

    Raises:
      RuntimeError: checkpoints exist but none of them can be restored.
    """
    candidates = self.candidates()
    errors = []
    for path in candidates:
      try:
        self.checkpoint.restore(path).assert_existing_objects_matched()
        if errors:
          self._log(f"restored {path} instead")
        return path
      except Exception as e:  # pylint: disable=broad-except
        # A damaged file raises many kinds of errors (DataLossError, IndexError, ...).
        errors.append(f"{path}: {_first_line(e)}")
        self._log(f"checkpoint {path} is corrupt or incompatible ({_first_line(e)}); "
                  "trying the previous one")
    if candidates:
      raise RuntimeError(f"None of the {len(candidates)} checkpoints in {self.directory} can be "
                         "restored:\n  " + "\n  ".join(errors) + "\nMove the directory away to "
                         "start the run over, or restore a backup.")
    return None

  def save(self, step: int) -> str:
    return self.manager.save(checkpoint_number=step)


def _first_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"


# ----------------------------------------------------------------------------------------------
# Listing and selecting the checkpoints of a run
# ----------------------------------------------------------------------------------------------

def list_checkpoints(model_dir: str) -> Dict[int, str]:
  """step -> checkpoint prefix of every checkpoint in model_dir/checkpoints."""
  directory = os.path.join(model_dir, run_dir.CHECKPOINTS)
  found = tf.io.gfile.glob(os.path.join(directory, f"{PREFIX}-*.index"))
  out = {}
  for index in found:
    prefix = index[:-len(".index")]
    step = step_of(prefix)
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
    done = run_dir.evaluated_steps(model_dir)
    chosen = {s: p for s, p in chosen.items() if s not in done}
  return chosen
