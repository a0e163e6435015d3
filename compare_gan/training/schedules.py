"""Schedules: how training and evaluation of one run combine (reference runner_lib).

  train             train to train.training_steps (resuming), no evaluation
  eval_after_train  train, then score every checkpoint not yet in metrics.jsonl
  continuous_eval   do not train: follow a run another process trains, scoring each new
                    checkpoint, until its status.json says it ended
  train_and_eval    train and score each checkpoint as it is written, in the same process

With `eval_every_steps`, only checkpoints at positive multiples of it are scored (the
reference's `--eval_every_steps`); train_and_eval then scores at those steps only.

With `export_evaluated` (`compare_gan train --export_evaluated`), every checkpoint an
evaluating schedule scores is also exported as a TF Hub SavedModel to
`<model_dir>/tfhub/<step>/` (the reference exported each evaluated checkpoint there); an
existing export of a step is kept. A failed export is reported and counted like a failed
evaluation.
"""

import os
from typing import Callable, List, Optional

import tensorflow as tf

from compare_gan.training import loop

SCHEDULES = ("train", "eval_after_train", "continuous_eval", "train_and_eval")


def run_schedule(schedule: str, model_dir: str, *, config_text: Optional[str] = None,
                 eval_every_steps: Optional[int] = None, poll_seconds: float = 60.0,
                 export_evaluated: bool = False, log: Callable[[str], None] = print) -> int:
  """Runs `schedule` on `model_dir` under the parsed gin config. Returns the number of
  checkpoints that failed to evaluate or export (0 when all went well).

  Raises:
    ValueError: unknown schedule or bad settings; loop.Diverged when training diverged (the
      checkpoints written before are still evaluated by eval_after_train first).
  """
  if schedule not in SCHEDULES:
    raise ValueError(f"Unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}.")
  if eval_every_steps is not None and (not isinstance(eval_every_steps, int)
                                       or eval_every_steps < 1):
    raise ValueError(f"eval_every_steps={eval_every_steps!r} must be a positive integer.")
  if export_evaluated and schedule == "train":
    raise ValueError("export_evaluated exports the checkpoints a schedule evaluates; schedule "
                     "'train' evaluates none. Use one of: "
                     f"{', '.join(s for s in SCHEDULES if s != 'train')}.")
  if schedule == "train":
    loop.train(model_dir, config_text=config_text, log=log)
    return 0

  from compare_gan.metrics import evaluate
  export_failures = []
  on_evaluated = _exporter(model_dir, export_failures, log) if export_evaluated else None
  if schedule == "continuous_eval":
    return evaluate.continuous_eval(model_dir, eval_every_steps=eval_every_steps,
                                    poll_seconds=poll_seconds, log=log,
                                    on_evaluated=on_evaluated) + len(export_failures)
  if schedule == "train_and_eval":
    # Built before the first step, so a bad evaluation config fails before hours of training.
    evaluator = evaluate.Evaluator(model_dir, log=log)
    failures = []

    def after_checkpoint(step: int, path: str) -> None:
      if eval_every_steps and step % eval_every_steps:
        return
      failures.append(evaluate.evaluate_checkpoints(model_dir, {step: path}, evaluator, log,
                                                    on_evaluated))

    loop.train(model_dir, config_text=config_text, log=log, after_checkpoint=after_checkpoint)
    # A resumed run may hold checkpoints written before an interruption and never scored.
    pending = evaluate.select_checkpoints(model_dir, all_steps=True,
                                          eval_every_steps=eval_every_steps)
    failures.append(evaluate.evaluate_checkpoints(model_dir, pending, evaluator, log,
                                                  on_evaluated))
    return sum(failures) + len(export_failures)

  # eval_after_train
  def evaluate_all() -> int:
    if not evaluate.list_checkpoints(model_dir):
      return 0
    return evaluate.evaluate_checkpoints(
        model_dir, evaluate.select_checkpoints(model_dir, all_steps=True,
                                               eval_every_steps=eval_every_steps), log=log,
        on_evaluated=on_evaluated)
  try:
    loop.train(model_dir, config_text=config_text, log=log)
  except loop.Diverged:
    evaluate_all()  # The checkpoints before the divergence are valid results.
    raise
  return evaluate_all() + len(export_failures)


def _exporter(model_dir: str, failures: List[int],
              log: Callable[[str], None]) -> Callable[[int, str], None]:
  """`on_evaluated` that exports each evaluated checkpoint to tfhub/<step>/ (once); a failure
  is logged and its step appended to `failures`."""
  from compare_gan import export
  exporter = []  # Built on first use: the run's model, as evaluation built it.

  def export_step(step: int, path: str) -> None:
    del path  # The exporter selects the checkpoint by step.
    target = os.path.join(model_dir, export.TFHUB_DIR, str(step))
    if tf.io.gfile.exists(target) and tf.io.gfile.listdir(target):
      log(f"step {step}: {target} already exists; not exported again")
      return
    try:
      if not exporter:
        exporter.append(export.Exporter(model_dir, log=log))
      exporter[0].export(target, step=step)
    except (tf.errors.OpError, AssertionError, ValueError, OSError) as e:
      failures.append(step)
      log(f"ERROR: step {step} could not be exported to {target}: {type(e).__name__}: "
          f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}")
  return export_step
