"""Checkpoints: save every N steps, keep K, restore the newest *readable* one; select a run's
checkpoints for evaluation (which ones a run has is the run-directory contract's:
run_dir.list_checkpoints, run_dir.checkpoint_at).

TensorFlow writes a checkpoint's files under temporary names and renames them, and updates the
`checkpoint` state file only afterwards, so a process killed mid-save leaves the previous
checkpoint as the latest. A checkpoint that is damaged anyway (a truncated file after a full
disk, a copy gone wrong) is reported and the one before it is used; a run never silently starts
over when checkpoints exist but none can be read.
"""

import os
from typing import Callable, Dict, List, Optional, Set

import tensorflow as tf

from compare_gan import config
from compare_gan import run_dir

# Re-exported for the trainer and the runner, which select checkpoints here too; the listing
# lives in run_dir.py so that report/ reads it without importing training/.
list_checkpoints = run_dir.list_checkpoints


def _normalized(path: str) -> str:
  """A local prefix normalized, so that the state file's and the listing's copies of one
  checkpoint compare equal; a remote one as it is (normpath would turn gs:// into gs:/)."""
  return path if run_dir.is_remote(path) else os.path.normpath(path)


class Checkpoints:
  """A `tf.train.CheckpointManager` over `directory` with corrupt-checkpoint fallback."""

  def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, max_to_keep: int,
               log: Callable[[str], None] = print):
    if max_to_keep is not None and max_to_keep < 1:
      raise config.ConfigError(
          f"train.keep_checkpoint_max={max_to_keep} must be >= 1 (or None: all).")
    self.checkpoint, self.directory, self._log = checkpoint, directory, log
    state_file = os.path.join(directory, "checkpoint")
    readable = False
    if tf.io.gfile.exists(state_file):
      try:
        readable = tf.train.get_checkpoint_state(directory) is not None
        problem = "it does not parse"
      except Exception as e:  # pylint: disable=broad-except
        readable, problem = False, run_dir.one_line(e)
      if not readable:  # Damaged: list the checkpoint files instead (`candidates`).
        self._log(f"checkpoint state file {state_file} is unreadable ({problem}); moving it "
                  "to checkpoint.corrupt and rebuilding it from the checkpoint files")
        tf.io.gfile.rename(state_file, state_file + ".corrupt", overwrite=True)
    on_disk = self._files()
    if not readable and on_disk:
      # The manager prunes only the checkpoints its state file lists: without this, the
      # checkpoints written before the state file was lost would be kept forever.
      # Timestamps after the "last preserved" one mark them as prunable.
      times = [tf.io.gfile.stat(p + ".index").mtime_nsec / 1e9 for p in on_disk]
      tf.compat.v1.train.update_checkpoint_state(
          directory, on_disk[-1], all_model_checkpoint_paths=on_disk,
          all_model_checkpoint_timestamps=times, last_preserved_timestamp=min(times) - 1.0)
    self.manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep,
                                              checkpoint_name=run_dir.CHECKPOINT_PREFIX)

  def _files(self) -> List[str]:
    """Prefixes of the checkpoint files in the directory, oldest first."""
    return [_normalized(p) for p in run_dir.checkpoint_files(self.directory).values()]

  def candidates(self) -> List[str]:
    """Checkpoint prefixes, newest first: the state file's list, then any other complete
    checkpoint files in the directory."""
    paths = {_normalized(p) for p in list(self.manager.checkpoints) + self._files()}
    return sorted(paths, key=run_dir.checkpoint_step, reverse=True)

  def restore_latest(self) -> Optional[str]:
    """Restores the newest readable checkpoint; returns its path, or None when there is none.

    Raises:
      run_dir.Failure: checkpoints exist but none of them can be restored (each one's error
        is logged).
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
        errors.append(f"{path}: {run_dir.one_line(e)}")
        self._log(f"checkpoint {path} is corrupt or incompatible ({run_dir.one_line(e)}); "
                  "trying the previous one")
    if candidates:
      raise run_dir.Failure(
          f"none of the {len(candidates)} checkpoints in {self.directory} can be restored "
          f"(newest: {errors[0]}); the run is not started over on its own: restore a backup, "
          "or move the run directory away to train from scratch.")
    return None

  def save(self, step: int) -> str:
    return self.manager.save(checkpoint_number=step)


# ----------------------------------------------------------------------------------------------
# Listing and selecting the checkpoints of a run
# ----------------------------------------------------------------------------------------------

def select_checkpoints(model_dir: str, *, step: Optional[int] = None, all_steps: bool = False,
                       eval_every_steps: Optional[int] = None,
                       skip_steps: Optional[Set[int]] = None) -> Dict[int, str]:
  """The checkpoints to score: one `step`, or every one (`all_steps`; only multiples of
  `eval_every_steps` when given, leaving out `skip_steps`: those already scored under the
  protocol, as the evaluator says), or the latest.

  Raises:
    FileNotFoundError: the run has no checkpoint.
    run_dir.UsageError: none of `step` (`run_dir.checkpoint_at`).
  """
  if step is not None or not all_steps:
    found, prefix = run_dir.checkpoint_at(model_dir, step)
    return {found: prefix}
  chosen = at_multiples(run_dir.list_checkpoints(model_dir, required=True), eval_every_steps)
  return {s: p for s, p in chosen.items() if s not in (skip_steps or set())}


def at_multiples(checkpoints: Dict[int, str], every: Optional[int]) -> Dict[int, str]:
  """The checkpoints {step: prefix} at positive multiples of `every` (all when None), as the
  reference's `--eval_every_steps` picks them."""
  return {s: p for s, p in checkpoints.items() if not every or (s > 0 and s % every == 0)}
