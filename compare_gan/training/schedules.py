"""Schedules: how training and evaluation of one run combine (reference runner_lib).

  train             train to train.training_steps (resuming), no evaluation
  eval_after_train  train, then score every checkpoint not yet in metrics.jsonl
  continuous_eval   do not train: follow a run another process trains, scoring each new
                    checkpoint, until its status.json says it ended
  train_and_eval    train and score each checkpoint as it is written, in the same process

With `eval_every_steps`, only checkpoints at positive multiples of it are scored (the
reference's `--eval_every_steps`); train_and_eval then scores at those steps only.
"""

from typing import Callable, Optional

from compare_gan.training import loop

SCHEDULES = ("train", "eval_after_train", "continuous_eval", "train_and_eval")


def run_schedule(schedule: str, model_dir: str, *, config_text: Optional[str] = None,
                 eval_every_steps: Optional[int] = None, poll_seconds: float = 60.0,
                 log: Callable[[str], None] = print) -> int:
  """Runs `schedule` on `model_dir` under the parsed gin config. Returns the number of
  checkpoints that failed to evaluate (0 when all went well).

  Raises:
    ValueError: unknown schedule or bad settings; loop.Diverged when training diverged (the
      checkpoints written before are still evaluated by eval_after_train first).
  """
  if schedule not in SCHEDULES:
    raise ValueError(f"Unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}.")
  if eval_every_steps is not None and (not isinstance(eval_every_steps, int)
                                       or eval_every_steps < 1):
    raise ValueError(f"eval_every_steps={eval_every_steps!r} must be a positive integer.")
  if schedule == "train":
    loop.train(model_dir, config_text=config_text, log=log)
    return 0

  from compare_gan.metrics import evaluate
  if schedule == "continuous_eval":
    return evaluate.continuous_eval(model_dir, eval_every_steps=eval_every_steps,
                                    poll_seconds=poll_seconds, log=log)
  if schedule == "train_and_eval":
    # Built before the first step, so a bad evaluation config fails before hours of training.
    evaluator = evaluate.Evaluator(model_dir, log=log)
    failures = []

    def after_checkpoint(step: int, path: str) -> None:
      if eval_every_steps and step % eval_every_steps:
        return
      failures.append(evaluate.evaluate_checkpoints(model_dir, {step: path}, evaluator, log))

    loop.train(model_dir, config_text=config_text, log=log, after_checkpoint=after_checkpoint)
    # A resumed run may hold checkpoints written before an interruption and never scored.
    pending = evaluate.select_checkpoints(model_dir, all_steps=True,
                                          eval_every_steps=eval_every_steps)
    return sum(failures) + evaluate.evaluate_checkpoints(model_dir, pending, evaluator, log)

  # eval_after_train
  def evaluate_all() -> int:
    if not evaluate.list_checkpoints(model_dir):
      return 0
    return evaluate.evaluate_checkpoints(
        model_dir, evaluate.select_checkpoints(model_dir, all_steps=True,
                                               eval_every_steps=eval_every_steps), log=log)
  try:
    loop.train(model_dir, config_text=config_text, log=log)
  except loop.Diverged:
    evaluate_all()  # The checkpoints before the divergence are valid results.
    raise
  return evaluate_all()
