"""`compare_gan <command>`: the command-line entry point. It parses and dispatches; each
command's body lives in its package:

  train, eval      compare_gan/runner.py (the schedules; `eval --module` scores any TF Hub
                   generator; `eval --tournament` rates a run's checkpoints, `eval --gallery`
                   draws one checkpoint's samples)
  export, sample   compare_gan/hub/command.py
  sweep            compare_gan/sweep/command.py (grid, random or GP search; local or Dask)
  report           compare_gan/report/command.py
  cluster          compare_gan/clustering/command.py (k-means labels from a run's D features)
  components       every gin name a config can use (compare_gan/config.py)

Exit status (compare_gan/run_dir.py): 0 success, 1 a runtime failure (a run failed, a
checkpoint could not be evaluated, a busy run directory), 2 bad command line or config (unknown
gin name, missing file, invalid value), 3 the run diverged (NaN/Inf loss; see status.json), 130
interrupted (SIGINT, Ctrl-C), 143 terminated (SIGTERM).

An expected failure is one line on stderr, `compare_gan <command>: <what, where, what to do>`,
without a traceback; `--verbose` or COMPARE_GAN_DEBUG=1 adds the traceback (and TensorFlow's
own log lines, which are otherwise limited to errors).
"""

import argparse
import contextlib
import importlib
import os
import signal
import sys
import traceback
from typing import Callable, Iterator, List, Optional

from compare_gan import config
from compare_gan import run_dir


def _body(module: str, function: str) -> Callable[[argparse.Namespace], int]:
  """A command's body, imported when the command runs (the bodies import TensorFlow; parsing
  and `--help` do not)."""
  def run(args: argparse.Namespace) -> int:
    _check_config_before_tensorflow(args)
    config.import_tensorflow()
    return getattr(importlib.import_module(module), function)(args)
  return run


def _check_config_before_tensorflow(args: argparse.Namespace) -> None:
  """Reports a certain error in the command's --gin_config / --gin_bindings (an unknown name or
  parameter, a bad train.* value) in well under a second, before TensorFlow is imported, from
  the committed gin manifest (compare_gan/registry.py). Once TensorFlow is loaded (in tests,
  notebooks) the full parse is as quick and is left to decide."""
  if "tensorflow" in sys.modules:
    return
  files, bindings = getattr(args, "gin_config", None), getattr(args, "gin_bindings", None)
  if not files and not bindings:
    return
  from compare_gan import registry  # pylint: disable=import-outside-toplevel
  problem = registry.check(files or [], bindings or [])
  if problem:
    raise config.ConfigError(f"compare_gan {args.command}: {problem}")


def _components(args: argparse.Namespace) -> int:
  del args
  for kind, entries in config.catalogue().items():
    print(f"{kind}:")
    width = max(len(name) for name, _ in entries)
    for name, summary in entries:
      print(f"  {name.ljust(width)}  {summary}".rstrip())
    print()
  return run_dir.EXIT_OK


def _gin_flags(run_config: bool) -> argparse.ArgumentParser:
  """The flags every gin-configured command shares (a parent parser). With `run_config`, the
  files and bindings apply after the run's own config.gin."""
  after = " applied after the run's config.gin" if run_config else ""
  p = argparse.ArgumentParser(add_help=False)
  p.add_argument("--gin_config", action="append", default=[], metavar="FILE",
                 help=f"gin config file{after}; repeat to combine (later files win)")
  p.add_argument("--gin_bindings", action="append", default=[], metavar="BINDING",
                 help=f"a gin binding such as 'train.training_steps = 100'{after}; repeatable, "
                 "applied after the files")
  p.add_argument("--tfds_data_dir", help="TensorFlow Datasets data directory (overrides "
                 "dataset.tfds_data_dir)")
  return p


Z_HELP = ("the module's z distribution, a name `compare_gan components` lists under "
          "distributions (default: from our metadata; required for third-party modules)")


def _int_list(text: str) -> List[int]:
  try:
    return [int(t) for t in text.split(",") if t.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected comma-separated class ids such as 0,3,7; got "
                                     f"{text!r}") from None


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="compare_gan",
      description="Train, sweep and score GANs under one protocol (The GAN Landscape).")
  parser.add_argument("--verbose", action="store_true",
                      help="on a failure, print the traceback (also: COMPARE_GAN_DEBUG=1)")
  commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

  p = commands.add_parser(
      "train", parents=[_gin_flags(run_config=False)],
      help="train a GAN from gin configs (resumes when model_dir has checkpoints)",
      description="Train the GAN a gin config describes. Re-running the same command resumes "
      "from the newest readable checkpoint. Exit status 3 means the run diverged.")
  p.add_argument("--model_dir", required=True, help="run directory (DESIGN section 6)")
  p.add_argument("--strategy", choices=["default", "mirrored", "multi_worker", "tpu"],
                 help="tf.distribute strategy (overrides train.strategy)")
  p.add_argument("--tpu", help="TPU name or grpc:// address for --strategy tpu "
                 "(default: $TPU_NAME)")
  p.add_argument("--jit_compile", choices=["true", "false"],
                 help="XLA-compile the gradient maths (overrides train.jit_compile)")
  p.add_argument("--mixed_precision", choices=["none", "mixed_bfloat16", "mixed_float16"],
                 help="Keras mixed-precision policy (overrides train.mixed_precision)")
  p.add_argument("--dry_run", action="store_true",
                 help="build data, model and checkpoint, report them, take no step")
  p.add_argument("--schedule", default="train",
                 choices=["train", "eval_after_train", "continuous_eval", "train_and_eval"],
                 help="train only; train then score every checkpoint; score a run that "
                 "another process trains; or score each checkpoint as it is written")
  p.add_argument("--eval_every_steps", type=int, default=None, metavar="K",
                 help="score only checkpoints at multiples of K (evaluating schedules)")
  p.add_argument("--export_evaluated", action="store_true",
                 help="with an evaluating schedule: also export every evaluated checkpoint as "
                 "a TF Hub SavedModel to MODEL_DIR/tfhub/<step>/")
  p.set_defaults(run=_body("compare_gan.runner", "train_command"))

  p = commands.add_parser(
      "eval", parents=[_gin_flags(run_config=True)],
      help="score a run's checkpoints or a TF Hub generator (FID/IS/KID, diversity and "
      "weight-free metrics)",
      description="Score checkpoints of a run directory under the evaluation protocol "
      "(gin evaluation.*). Results go to metrics.jsonl (with protocol cards), scores.csv and "
      "TensorBoard. Default: the latest checkpoint. With --module PATH --dataset NAME, score "
      "any TF Hub generator (ours or third-party) under the same protocol; its results, with "
      "protocol cards, go to --out FILE.json. With --tournament, rate the run's checkpoints "
      "against each other (skill rating, Olsson et al. 2018): results go to "
      "MODEL_DIR/tournament.json. With --gallery, write a sample grid and an interpolation "
      "strip of one checkpoint as PNGs.")
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--model_dir", help="run directory written by `train`")
  source.add_argument("--module", metavar="PATH",
                      help="TF Hub module (directory or handle) to score instead of a run")
  p.add_argument("--dataset", help="with --module: the dataset to compare with (a registered "
                 "name, e.g. cifar10)")
  p.add_argument("--z_distribution", help="with --module: " + Z_HELP)
  p.add_argument("--num_classes", type=int, help="with --module: classes of a third-party "
                 "conditional module (default: the dataset's)")
  p.add_argument("--out", metavar="FILE.json", help="with --module: write the results there")
  which = p.add_mutually_exclusive_group()
  which.add_argument("--step", type=int, help="score the checkpoint of this step")
  which.add_argument("--all", action="store_true",
                     help="score every checkpoint not yet in metrics.jsonl")
  which.add_argument("--continuous", action="store_true",
                     help="follow a training run: score each new checkpoint until it ends")
  p.add_argument("--force", action="store_true",
                 help="with --all: score already-scored checkpoints again; with --tournament "
                 "or --gallery: replace the files a previous run of it wrote")
  p.add_argument("--eval_every_steps", type=int, default=None, metavar="K",
                 help="with --all/--continuous/--tournament: only checkpoints at multiples of K")
  special = p.add_mutually_exclusive_group()
  special.add_argument("--tournament", action="store_true",
                       help="skill-rating tournament between the run's checkpoints: each "
                       "checkpoint's D judges the others' G samples; Glicko-2 ratings per "
                       "generator go to MODEL_DIR/tournament.json (metrics.jsonl is not "
                       "touched)")
  special.add_argument("--gallery", action="store_true",
                       help="write a sample grid and an interpolation strip (PNG) of the "
                       "checkpoint of --step (default: the latest) to --out_dir")
  p.add_argument("--tournament_samples", type=int, default=None, metavar="N",
                 help="with --tournament: games per generator-discriminator match (default "
                 "256; real examples: the first N of the evaluation split)")
  p.add_argument("--tournament_periods", type=int, default=None, metavar="P",
                 help="with --tournament: Glicko-2 rating periods the games are split into "
                 "(default 4)")
  p.add_argument("--tournament_tau", type=float, default=None,
                 help="with --tournament: Glicko-2 system constant tau (default 0.5)")
  p.add_argument("--tournament_rule", choices=["threshold", "paired"], default=None,
                 help="with --tournament: who wins a game: threshold (default; G wins when D "
                 "calls its sample real, D when it calls the real example real and the sample "
                 "fake, else a draw) or paired (G wins when D rates its sample above the real "
                 "example; for critics without a real/fake threshold: WGAN, BEGAN)")
  p.add_argument("--seed", type=int, default=None,
                 help="with --tournament or --gallery: seed of the latents (default 0)")
  p.add_argument("--out_dir", metavar="DIR", default=None,
                 help="with --gallery: where to write the PNGs (default MODEL_DIR/gallery)")
  p.add_argument("--num_averaging_runs", type=int, default=None,
                 help="fake sample sets per checkpoint (overrides evaluation.*; default 3)")
  p.add_argument("--num_fake", type=int, default=None,
                 help="fake samples per set (overrides evaluation.num_fake)")
  p.add_argument("--inception_weights", default=None, metavar="PATH",
                 help="Inception weights: .pb, .tar.gz, or TF-Hub directory/handle "
                 "(overrides inception.weights; else $COMPARE_GAN_INCEPTION_WEIGHTS, then "
                 "the cache directory)")
  p.add_argument("--poll_seconds", type=float, default=None,
                 help="with --continuous: seconds between looks for new checkpoints "
                 "(default 60)")
  p.add_argument("--timeout_hours", type=float, default=None,
                 help="with --continuous: stop after this long without a new checkpoint "
                 "(default 24)")
  p.set_defaults(run=_body("compare_gan.runner", "eval_command"))

  p = commands.add_parser(
      "export", parents=[_gin_flags(run_config=True)],
      help="export a checkpoint's generator as a TF Hub SavedModel",
      description="Write a TF2 SavedModel that hub.load and hub.KerasLayer load without "
      "compare_gan: generator(z[, labels]) -> images in [0, 1], discriminator(images[, "
      "labels]) -> logits (BEGAN: energy; none for a VAE), a serving_default signature, and "
      "metadata (assets/"
      "compare_gan_metadata.json). EMA weights when the run has them.")
  p.add_argument("--model_dir", required=True, help="run directory written by `train`")
  p.add_argument("--export_dir", required=True, help="where to write the SavedModel")
  p.add_argument("--step", type=int, help="checkpoint step (default: the latest)")
  p.add_argument("--no_ema", action="store_true",
                 help="export the raw generator weights even when the run has EMA weights")
  p.add_argument("--no_discriminator", action="store_true", help="export G only")
  p.add_argument("--overwrite", action="store_true",
                 help="replace a previous export in --export_dir (never a directory holding "
                 "anything else, and never the run or a part of it)")
  p.set_defaults(run=_body("compare_gan.hub.command", "export_command"))

  p = commands.add_parser(
      "sample", help="write sample grids, single PNGs or latent interpolations from a module",
      description="Sample a TF Hub generator (ours or third-party) deterministically: the same "
      "--seed gives the same PNG bytes.")
  p.add_argument("--module", required=True, metavar="PATH",
                 help="TF Hub module: directory or handle")
  p.add_argument("--out", metavar="GRID.png", help="write one grid image")
  p.add_argument("--out_dir", metavar="DIR", help="write one PNG per sample (000000.png ...)")
  p.add_argument("--num", type=int, default=None,
                 help="samples (default 64), or interpolation rows (default 8)")
  p.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
  p.add_argument("--interpolate", action="store_true",
                 help="rows interpolating between two latents (--steps columns)")
  p.add_argument("--steps", type=int, default=None,
                 help="with --interpolate: images per interpolation row (default 8)")
  p.add_argument("--columns", type=int, default=None,
                 help="grid columns (default: ceil(sqrt(num)); --steps when interpolating)")
  p.add_argument("--labels", type=_int_list, default=None, metavar="IDS",
                 help="class ids of a conditional module: one for all, or one per sample/row "
                 "(default: i %% num_classes)")
  p.add_argument("--z_distribution", help=Z_HELP)
  p.add_argument("--num_classes", type=int,
                 help="classes of a third-party conditional module")
  p.set_defaults(run=_body("compare_gan.hub.command", "sample_command"))

  # None of them imports TensorFlow.
  from compare_gan.clustering import command as cluster_command
  from compare_gan.report import command as report_command
  from compare_gan.sweep import command as sweep_command
  sweep_command.add_parser(commands)
  report_command.add_parser(commands)
  cluster_command.add_parser(commands, parents=[_gin_flags(run_config=True)])

  p = commands.add_parser("components", help="list the registered gin components")
  p.set_defaults(run=_components)
  return parser


def debug_mode(args: Optional[argparse.Namespace] = None) -> bool:
  """Whether failures show their traceback: `--verbose` or COMPARE_GAN_DEBUG=1."""
  return bool(getattr(args, "verbose", False)) or config.debug_mode()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
  """SIGTERM raises run_dir.Terminated (a KeyboardInterrupt) in the main thread, so a killed
  command cleans up as on Ctrl-C: status.json says `interrupted`, locks are released."""
  def terminate(signum, frame):
    del signum, frame
    raise run_dir.Terminated()
  try:
    previous = signal.signal(signal.SIGTERM, terminate)
  except ValueError:  # Not the main thread (an embedding program): leave signals alone.
    yield
    return
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def report(command: str, error: BaseException, debug: bool) -> int:
  """Prints `error` as one line (with the traceback before it in debug mode) and returns the
  exit status: the error's own (run_dir.Failure), 130 for SIGINT, 143 for SIGTERM, else 1.
  An error of no expected kind is a bug: the line says so and how to see the traceback."""
  if debug:
    traceback.print_exception(error)
  error = config.gin_call_error(error) or error
  if isinstance(error, run_dir.Terminated):
    line, status = "terminated (SIGTERM)", run_dir.EXIT_TERMINATED
  elif isinstance(error, KeyboardInterrupt):
    line, status = "interrupted (Ctrl-C)", run_dir.EXIT_INTERRUPTED
  elif isinstance(error, run_dir.Failure):
    line, status = run_dir.one_line(error), error.exit_code
  else:
    line, status = run_dir.one_line(error), run_dir.EXIT_FAILED
    expected = isinstance(error, (OSError, ValueError, RuntimeError)) or type(
        error).__module__.startswith("tensorflow")
    if not expected and not debug:
      line += " (unexpected: rerun with COMPARE_GAN_DEBUG=1 for the traceback, and report it)"
  prefix = f"compare_gan {command}: "
  print(line if line.startswith(prefix) else prefix + line, file=sys.stderr)
  return status


def main(argv: Optional[List[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  debug = debug_mode(args)
  if args.verbose:  # Also for what this process starts (a sweep's trials).
    os.environ["COMPARE_GAN_DEBUG"] = "1"
  if not debug:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ log: errors only.
  with _sigterm_as_interrupt():
    try:
      return args.run(args)
    except BaseException as e:  # pylint: disable=broad-except  # Reported as one line.
      if isinstance(e, SystemExit):
        raise
      return report(args.command, e, debug)


if __name__ == "__main__":
  sys.exit(main())
