"""The schedules of one run and the bodies of `compare_gan train` and `compare_gan eval`
(reference `runner_lib`): how training, evaluation and export of one run directory combine.

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

`compare_gan eval --tournament` rates a run's checkpoints against each other (skill rating,
metrics/skill_rating.py) into `<model_dir>/tournament.json`; `compare_gan eval --gallery` writes
one checkpoint's sample grid and interpolation strip (report/galleries.py). Neither touches
metrics.jsonl, and neither replaces an earlier result without --force.

The runner sits above training/, metrics/ and hub/, which never import it: it builds the
run's dataset and inference model once per process and hands them to the evaluator and the
exporter.
"""

import argparse
import functools
import json
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Set

import tensorflow as tf

from compare_gan import config
from compare_gan import data
from compare_gan import run_dir
from compare_gan.gans import inference as inference_lib
from compare_gan.gans import latents
from compare_gan.hub import export as export_lib
from compare_gan.hub import modules
from compare_gan.metrics import evaluate
from compare_gan.metrics import protocol as protocol_lib
from compare_gan.metrics import skill_rating
from compare_gan.report import galleries
from compare_gan.training import checkpoints as checkpoints_lib
from compare_gan.training import loop

SCHEDULES = ("train", "eval_after_train", "continuous_eval", "train_and_eval")


# ----------------------------------------------------------------------------------------------
# The evaluation side of a process: built once, on first use
# ----------------------------------------------------------------------------------------------

class Evaluation:
  """The dataset, inference model, evaluator and (with `export_evaluated`) exporter of one run,
  each built once on first use under the run's parsed gin config, and shared."""

  def __init__(self, model_dir: str, log: Callable[[str], None] = print,
               export_evaluated: bool = False):
    self.model_dir, self.log, self.export_evaluated = model_dir, log, export_evaluated
    self.export_failures: List[int] = []

  @functools.cached_property
  def dataset(self) -> data.base.Dataset:
    return data.get_dataset()

  @functools.cached_property
  def evaluator(self) -> evaluate.Evaluator:
    info = self.dataset.info
    inference = inference_lib.InferenceModel(info.image_shape, info.num_classes)
    return evaluate.Evaluator(self.model_dir, log=self.log, dataset=self.dataset,
                              inference=inference)

  @functools.cached_property
  def exporter(self) -> export_lib.Exporter:
    return export_lib.Exporter(self.model_dir, log=self.log, dataset_name=self.dataset.info.name,
                               inference=self.evaluator.inference)

  def scored_steps(self) -> Set[int]:
    """The steps that metrics.jsonl holds every value of this protocol for (see
    `Evaluator.scored_steps`); `eval --all` and the schedules score the others."""
    return self.evaluator.scored_steps()

  def evaluate_checkpoints(self, checkpoints: Dict[int, str]) -> int:
    """Scores each checkpoint (and exports it with `export_evaluated`); a checkpoint that
    cannot be restored is reported and skipped. Returns the number of failures."""
    if not checkpoints:
      self.log("nothing to evaluate: every selected checkpoint is already in metrics.jsonl")
      return 0
    evaluator = self.evaluator  # A bad protocol is an error of the run, not of a checkpoint.
    failures = 0
    for step, path in checkpoints.items():
      try:
        evaluator.evaluate(path)
      except (tf.errors.OpError, AssertionError, ValueError) as e:
        failures += 1
        self.log(f"ERROR: checkpoint {path} (step {step}) could not be evaluated: "
                 f"{run_dir.one_line(e)}")
        continue
      if self.export_evaluated:
        self._export(step)
    return failures

  def _export(self, step: int) -> None:
    """Exports the checkpoint of `step` to tfhub/<step>/ (once); a failure is logged and its
    step kept in `export_failures`."""
    target = os.path.join(self.model_dir, run_dir.TFHUB, str(step))
    if tf.io.gfile.exists(target) and tf.io.gfile.listdir(target):
      self.log(f"step {step}: {target} already exists; not exported again")
      return
    try:
      self.exporter.export(target, step=step)
    except (tf.errors.OpError, AssertionError, ValueError, OSError) as e:
      self.export_failures.append(step)
      self.log(f"ERROR: step {step} could not be exported to {target}: {run_dir.one_line(e)}")


# ----------------------------------------------------------------------------------------------
# The schedules
# ----------------------------------------------------------------------------------------------

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
    raise config.ConfigError(f"Unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}.")
  if eval_every_steps is not None and (not isinstance(eval_every_steps, int)
                                       or eval_every_steps < 1):
    raise config.ConfigError(f"eval_every_steps={eval_every_steps!r} must be a positive integer.")
  if export_evaluated and schedule == "train":
    raise config.ConfigError(
        "export_evaluated exports the checkpoints a schedule evaluates; schedule "
        "'train' evaluates none. Use one of: "
        f"{', '.join(s for s in SCHEDULES if s != 'train')}.")
  if schedule == "train":
    loop.train(model_dir, config_text=config_text, log=log)
    return 0

  evaluation = Evaluation(model_dir, log, export_evaluated)
  if schedule == "continuous_eval":
    failures = continuous_eval(model_dir, eval_every_steps=eval_every_steps,
                               poll_seconds=poll_seconds, log=log, evaluation=evaluation)
    return failures + len(evaluation.export_failures)

  def pending() -> Dict[int, str]:
    return checkpoints_lib.select_checkpoints(model_dir, all_steps=True,
                                              eval_every_steps=eval_every_steps,
                                              skip_steps=evaluation.scored_steps())

  if schedule == "train_and_eval":
    # Built before the first step, so a bad evaluation config fails before hours of training.
    evaluation.evaluator  # pylint: disable=pointless-statement
    failures = []

    def after_checkpoint(step: int, path: str) -> None:
      if eval_every_steps and step % eval_every_steps:
        return
      failures.append(evaluation.evaluate_checkpoints({step: path}))

    loop.train(model_dir, config_text=config_text, log=log, after_checkpoint=after_checkpoint,
               dataset=evaluation.dataset)
    # A resumed run may hold checkpoints written before an interruption and never scored.
    failures.append(evaluation.evaluate_checkpoints(pending()))
    return sum(failures) + len(evaluation.export_failures)

  # eval_after_train
  def evaluate_all() -> int:
    if not checkpoints_lib.list_checkpoints(model_dir):
      return 0
    return evaluation.evaluate_checkpoints(pending())
  try:
    loop.train(model_dir, config_text=config_text, log=log)
  except loop.Diverged:
    evaluate_all()  # The checkpoints before the divergence are valid results.
    raise
  return evaluate_all() + len(evaluation.export_failures)


def continuous_eval(model_dir: str, *, eval_every_steps: Optional[int] = None,
                    poll_seconds: float = 60.0, timeout_seconds: float = 24 * 3600,
                    log: Callable[[str], None] = print,
                    evaluation: Optional[Evaluation] = None) -> int:
  """Follows a training run (reference `continuous_eval`): scores each new checkpoint, and
  stops once status.json says the run ended (done, diverged or failed) and every checkpoint is
  scored, or after `timeout_seconds` without a new checkpoint. Returns the failures."""
  evaluation = evaluation or Evaluation(model_dir, log)
  failures, idle_since = 0, time.time()
  while True:
    status = run_dir.read_status(model_dir) or {}
    ended = status.get("state") in run_dir.ENDED_STATES
    pending = {}
    if checkpoints_lib.list_checkpoints(model_dir):
      pending = checkpoints_lib.select_checkpoints(model_dir, all_steps=True,
                                                   eval_every_steps=eval_every_steps,
                                                   skip_steps=evaluation.scored_steps())
    if pending:
      failures += evaluation.evaluate_checkpoints(pending)
      idle_since = time.time()
      continue
    if ended:
      log(f"training {status['state']} at step {status.get('step')}; every checkpoint is "
          "evaluated")
      return failures
    if time.time() - idle_since > timeout_seconds:
      log(f"no new checkpoint for {timeout_seconds:.0f} s; stopping")
      return failures
    time.sleep(poll_seconds)


# ----------------------------------------------------------------------------------------------
# `compare_gan train` and `compare_gan eval`
# ----------------------------------------------------------------------------------------------

def _error(command: str, message: str, status: int) -> int:
  print(f"compare_gan {command}: {message}", file=sys.stderr)
  return status


def train_command(args: argparse.Namespace) -> int:
  """`compare_gan train`: parses the config, then runs `--schedule` (or the dry run)."""
  if args.export_evaluated and args.schedule == "train":
    return _error("train", "--export_evaluated exports the checkpoints a schedule evaluates; "
                  "use --schedule eval_after_train, train_and_eval or continuous_eval.",
                  run_dir.EXIT_USAGE)
  bindings = list(args.gin_bindings)
  if args.strategy is not None:
    bindings.append(f"train.strategy = {args.strategy!r}")
  if args.tpu is not None:
    bindings.append(f"train.tpu = {args.tpu!r}")
  if args.jit_compile is not None:
    bindings.append(f"train.jit_compile = {args.jit_compile == 'true'}")
  if args.mixed_precision is not None:
    value = None if args.mixed_precision == "none" else repr(args.mixed_precision)
    bindings.append(f"train.mixed_precision = {value}")
  config_text = config.parse_command_config("train", args.gin_config, bindings,
                                            args.tfds_data_dir)
  _check_model_dir(args.model_dir, must_exist=False)
  # Failures propagate to cli.main, which prints them as one line: loop.Diverged exits 3,
  # config.ConfigError 2, a busy run directory, data and disk errors 1.
  if args.dry_run:
    loop.train(args.model_dir, config_text=config_text, dry_run=True)
    return run_dir.EXIT_OK
  failures = run_schedule(args.schedule, args.model_dir, config_text=config_text,
                          eval_every_steps=args.eval_every_steps,
                          export_evaluated=args.export_evaluated)
  return _failures_status("train", failures)


def _failures_status(command: str, failures: int) -> int:
  """Exit 0, or 1 with one line when checkpoints failed to evaluate or export (each one's
  error is logged above)."""
  if not failures:
    return run_dir.EXIT_OK
  return _error(command, f"{failures} checkpoint evaluation(s) or export(s) failed (the ERROR "
                "lines above say which and why); the others are recorded.", run_dir.EXIT_FAILED)


def _check_model_dir(model_dir: str, must_exist: bool) -> None:
  """A --model_dir that is a file, or (for `eval`) no run directory, is a bad command line."""
  if run_dir.is_remote(model_dir):
    return
  if os.path.exists(model_dir) and not os.path.isdir(model_dir):
    raise run_dir.UsageError(f"--model_dir {model_dir} is a file, not a directory; give the "
                             "run directory (created by `compare_gan train`).")
  if must_exist and not os.path.isfile(os.path.join(model_dir, run_dir.CONFIG)):
    raise run_dir.UsageError(f"{os.path.join(model_dir, run_dir.CONFIG)} does not exist; "
                             "--model_dir must be a run directory written by "
                             "`compare_gan train`.")


def _protocol_bindings(args: argparse.Namespace) -> List[str]:
  bindings = list(args.gin_bindings)
  for flag, binding in [("num_averaging_runs", "evaluation.num_averaging_runs"),
                        ("num_fake", "evaluation.num_fake"),
                        ("inception_weights", "inception.weights")]:
    value = getattr(args, flag)
    if value is not None:
      bindings.append(f"{binding} = {value!r}")
  return bindings


# The flags (argparse attribute names) that `eval --tournament` and `eval --gallery` take
# besides --model_dir, --force and the gin flags; any other eval flag given with them is
# refused.
_TOURNAMENT_FLAGS = ("tournament_samples", "tournament_periods", "tournament_tau",
                     "tournament_rule")
_SPECIAL_FLAGS = {"tournament": _TOURNAMENT_FLAGS + ("seed", "eval_every_steps"),
                  "gallery": ("seed", "step", "out_dir")}
TOURNAMENT_FILE = "tournament.json"


def _given(args: argparse.Namespace, names) -> List[str]:
  """The flags among `names` that the command line set (store_true flags: when True)."""
  return [f"--{n}" for n in names if getattr(args, n) not in (None, False)]


def eval_command(args: argparse.Namespace) -> int:
  """`compare_gan eval`: scores checkpoints of `--model_dir`, or a `--module`; or, with
  `--tournament` / `--gallery`, rates a run's checkpoints / draws one checkpoint's samples."""
  if args.module is not None:
    return _eval_module(args)
  module_only = [f"--{f}" for f in ("dataset", "z_distribution", "num_classes", "out")
                 if getattr(args, f) is not None]
  if module_only:
    return _error("eval", f"{', '.join(module_only)} apply to --module; a run directory "
                  "brings its own dataset and model.", run_dir.EXIT_USAGE)
  if args.tournament or args.gallery:
    return _eval_special(args, "tournament" if args.tournament else "gallery")
  special_only = _given(args, _TOURNAMENT_FLAGS + ("seed", "out_dir"))
  if special_only:
    return _error("eval", f"{', '.join(special_only)}: only with --tournament or --gallery; "
                  "add one of them, or drop the flag.", run_dir.EXIT_USAGE)
  _check_model_dir(args.model_dir, must_exist=True)
  run_config = os.path.join(args.model_dir, run_dir.CONFIG)
  config.parse_command_config("eval", [run_config] + args.gin_config, _protocol_bindings(args),
                              args.tfds_data_dir)
  if args.continuous:
    failures = continuous_eval(
        args.model_dir, eval_every_steps=args.eval_every_steps,
        poll_seconds=60.0 if args.poll_seconds is None else args.poll_seconds,
        timeout_seconds=(24.0 if args.timeout_hours is None else args.timeout_hours) * 3600)
  else:
    evaluation = Evaluation(args.model_dir)
    chosen = checkpoints_lib.select_checkpoints(
        args.model_dir, step=args.step, all_steps=args.all,
        eval_every_steps=args.eval_every_steps,
        skip_steps=None if args.force else evaluation.scored_steps())
    failures = evaluation.evaluate_checkpoints(chosen)
  return _failures_status("eval", failures)


def _eval_module(args: argparse.Namespace) -> int:
  """`eval --module PATH --dataset NAME`: scores a module; results go to --out (JSON)."""
  run_only = [f for f, set_ in [("--step", args.step is not None), ("--all", args.all),
                                ("--continuous", args.continuous), ("--force", args.force),
                                ("--eval_every_steps", args.eval_every_steps is not None)]
              if set_]
  run_only += _given(args, ("tournament", "gallery") + _TOURNAMENT_FLAGS + ("seed", "out_dir"))
  if run_only:
    return _error("eval", f"{', '.join(run_only)} apply to the checkpoints of a --model_dir; "
                  "a --module is one generator.", run_dir.EXIT_USAGE)
  if args.dataset is None:
    return _error("eval", "--module needs --dataset NAME, the real data to compare with "
                  "(e.g. cifar10, triangles).", run_dir.EXIT_USAGE)
  if args.out is not None and os.path.isdir(args.out):
    return _error("eval", f"--out {args.out} is a directory; give the JSON file to write, e.g. "
                  f"{os.path.join(args.out, 'scores.json')}.", run_dir.EXIT_USAGE)
  try:
    modules.check_module_handle(args.module)  # Before the slow imports and parsing.
  except modules.NotAModuleError as e:
    return _error("eval", str(e), run_dir.EXIT_USAGE)
  bindings = [f"dataset.name = {args.dataset!r}"] + _protocol_bindings(args)
  try:
    if args.z_distribution is not None:
      latents.parse_z_distribution(args.z_distribution)
  except ValueError as e:
    return _error("eval", f"--z_distribution: {e}", run_dir.EXIT_USAGE)
  config.parse_command_config("eval", args.gin_config, bindings, args.tfds_data_dir)
  try:
    module = modules.load_module(args.module, z_distribution=args.z_distribution,
                                 num_classes=args.num_classes)
    source = evaluate.GeneratorSource(
        sample_fn=module, z_dim=module.z_dim, z_distribution=module.z_distribution,
        conditional=module.conditional, num_classes=module.num_classes,
        name=f"module {module.handle}")
    evaluator = evaluate.Evaluator(None, source=source)
    records = evaluator.score((module.metadata or {}).get("step"), module=args.module)
  except (ValueError, OSError) as e:
    return _error("eval", run_dir.one_line(e), run_dir.EXIT_FAILED)
  if args.out:
    run_dir.makedirs(os.path.dirname(os.path.abspath(args.out)))
    result = dict(module=modules.module_summary(module), dataset=args.dataset, records=records)
    run_dir.write_atomically(args.out, json.dumps(result, indent=2, sort_keys=True,
                                                  allow_nan=False) + "\n")
    print(f"wrote {len(records)} results to {args.out}")
  return run_dir.EXIT_OK


# ----------------------------------------------------------------------------------------------
# `compare_gan eval --tournament` and `compare_gan eval --gallery`
# ----------------------------------------------------------------------------------------------

def _eval_special(args: argparse.Namespace, mode: str) -> int:
  """Checks the flags of `eval --tournament` / `--gallery` (`mode`), then runs it under the
  run's config.gin and the command's gin files and bindings."""
  allowed = set(_SPECIAL_FLAGS[mode]) | {"tournament", "gallery", "force"}
  misplaced = _given(args, [n for n in ("step", "all", "continuous", "eval_every_steps",
                                        "num_averaging_runs", "num_fake", "inception_weights",
                                        "poll_seconds", "timeout_hours", "out_dir", "seed")
                            + _TOURNAMENT_FLAGS if n not in allowed])
  if misplaced:
    return _error("eval", f"--{mode} does not take {', '.join(misplaced)}; it takes "
                  + ", ".join(f"--{n}" for n in _SPECIAL_FLAGS[mode])
                  + ", --force and the gin flags.", run_dir.EXIT_USAGE)
  _check_model_dir(args.model_dir, must_exist=True)
  if mode == "gallery" and args.out_dir is not None and os.path.isfile(args.out_dir):
    return _error("eval", f"--out_dir {args.out_dir} is a file; give a directory for the "
                  "gallery PNGs.", run_dir.EXIT_USAGE)
  protocol = None
  if mode == "tournament":
    protocol = skill_rating.TournamentProtocol(
        games_per_match=_default(args.tournament_samples, 256),
        rating_periods=_default(args.tournament_periods, 4),
        tau=_default(args.tournament_tau, 0.5), win_rule=_default(args.tournament_rule,
                                                                  "threshold"),
        seed=_default(args.seed, 0))
    protocol.validate()  # Before the config and the model: a bad flag costs nothing.
    target = os.path.join(args.model_dir, TOURNAMENT_FILE)
    if os.path.exists(target) and not args.force:
      return _error("eval", f"{target} exists (an earlier tournament); pass --force to "
                    "replace it, or copy it away first.", run_dir.EXIT_USAGE)
  run_config = os.path.join(args.model_dir, run_dir.CONFIG)
  config.parse_command_config("eval", [run_config] + args.gin_config, list(args.gin_bindings),
                              args.tfds_data_dir)
  if mode == "tournament":
    return _tournament(args.model_dir, protocol, args.eval_every_steps)
  return _gallery(args)


def _default(value, default):
  return default if value is None else value


def _tournament(model_dir: str, protocol: skill_rating.TournamentProtocol,
                eval_every_steps: Optional[int]) -> int:
  """Plays the tournament between the run's checkpoints (multiples of `eval_every_steps` when
  given), writes tournament.json and prints the ratings."""
  dataset = data.get_dataset()
  info = dataset.info
  if protocol.games_per_match > info.eval_size:
    return _error("eval", f"--tournament_samples {protocol.games_per_match} exceeds the "
                  f"{info.eval_size} evaluation examples of {info.name} ({info.eval_split}); "
                  "give at most that.", run_dir.EXIT_USAGE)
  inference = inference_lib.InferenceModel(info.image_shape, info.num_classes)
  skill_rating.check_players(inference, protocol)  # e.g. a VAE, before counting checkpoints
  chosen = checkpoints_lib.at_multiples(checkpoints_lib.list_checkpoints(model_dir),
                                        eval_every_steps)
  if len(chosen) < 2:
    which = f" at multiples of {eval_every_steps}" if eval_every_steps else ""
    return _error("eval", f"a tournament needs >= 2 checkpoints; {model_dir} has "
                  f"{len(chosen)}{which} (steps {sorted(chosen)}); train longer or keep more "
                  "checkpoints (train.keep_checkpoint_max).", run_dir.EXIT_USAGE)
  evaluation = protocol_lib.evaluation_protocol()
  use_ema = inference.resolve_use_ema(evaluation.use_ema, "evaluation.use_ema")
  z = latents.eval_latent_distribution() or inference.model.z

  def accumulate(ema: bool) -> None:  # G's accumulated BN statistics, as evaluation sets them
    inference.accumulate_bn_statistics(ema, z, samples=evaluation.bn_accumulation_samples,
                                       batch_size=evaluation.batch_size, seed=evaluation.seed)

  bn_statistics, prepare = "moving averages", None
  if inference.accumulating_standardizers(use_ema):
    bn_statistics = (f"accumulated over {evaluation.bn_accumulation_samples} samples (seed "
                     f"{evaluation.seed}, batch {evaluation.batch_size})")
    prepare = accumulate
  print(f"tournament: {len(chosen)} checkpoints (steps {sorted(chosen)}), "
        f"{protocol.games_per_match} games per match, {protocol.win_rule} rule, "
        f"{'EMA' if use_ema else 'raw'} generators")
  result = skill_rating.checkpoint_tournament(
      model_dir, chosen, inference, dataset, protocol, use_ema=use_ema, z_distribution=z,
      prepare_generator=prepare, bn_statistics=bn_statistics)
  result["created"] = run_dir.now()
  target = os.path.join(model_dir, TOURNAMENT_FILE)
  run_dir.write_atomically(target, json.dumps(result, indent=2, sort_keys=True,
                                              allow_nan=False) + "\n")
  print(f"{'step':>10}  {'rating':>8}  {'RD':>6}  {'rank':>4}  {'win rate':>8}")
  for player in result["players"]:
    print(f"{player['step']:>10}  {player['rating']:8.1f}  {player['rd']:6.1f}  "
          f"{player['rank']:>4}  {player['win_rate']:8.3f}")
  print(f"wrote {target}")
  return run_dir.EXIT_OK


def _gallery(args: argparse.Namespace) -> int:
  """Writes the gallery of the checkpoint of --step (default: the latest) and prints the
  paths; files of an earlier gallery are replaced only with --force."""
  (step, _), = checkpoints_lib.select_checkpoints(args.model_dir, step=args.step).items()
  out_dir = args.out_dir or os.path.join(args.model_dir, "gallery")
  existing = [p for p in galleries.gallery_paths(out_dir, step).values() if os.path.exists(p)]
  if existing and not args.force:
    return _error("eval", f"an earlier gallery is in the way: {', '.join(existing)}; pass "
                  "--force to replace it, or give another --out_dir.", run_dir.EXIT_USAGE)
  result = galleries.render_gallery(args.model_dir, out_dir, step=step,
                                    seed=_default(args.seed, 0),
                                    use_ema=protocol_lib.evaluation_protocol().use_ema)
  print(f"step {result['step']} ({'EMA' if result['ema'] else 'raw'} generator):")
  print(f"wrote {result['grid']}")
  print(f"wrote {result['strip']}")
  return run_dir.EXIT_OK
