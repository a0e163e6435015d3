"""`compare_gan <command>`: the command-line entry point.

Commands (DESIGN section 3): `train` (the reference main.py flags, with its `--schedule`),
`eval` (score a run's checkpoints) and `components` (every gin name a config can use); sweep,
report, export and sample are added as their subsystems land.

Exit status: 0 success, 1 a run failed (or a checkpoint could not be evaluated), 2 bad command
line or config (unknown gin name, missing file, invalid value), 3 the run diverged (NaN/Inf
loss; see status.json).
"""

import argparse
import sys
from typing import List, Optional

EXIT_FAILED, EXIT_USAGE = 1, 2


def _components(args: argparse.Namespace) -> int:
  from compare_gan import components  # Imports TensorFlow; keep `--help` fast.
  for kind, entries in components.catalogue().items():
    print(f"{kind}:")
    width = max(len(name) for name, _ in entries)
    for name, summary in entries:
      print(f"  {name.ljust(width)}  {summary}".rstrip())
    print()
  return 0


def parse_gin(config_files: List[str], bindings: List[str]) -> str:
  """Registers every component, parses the gin files and bindings (later ones win) and returns
  the resulting config text (what config.gin holds)."""
  import os
  import gin
  from compare_gan import components  # Registers every configurable.  # noqa: F401
  from compare_gan import datasets  # noqa: F401
  from compare_gan.training import loop  # noqa: F401
  from compare_gan.metrics import evaluate  # noqa: F401  (evaluation.*, eval_z, the tasks)
  from compare_gan.metrics import inception  # noqa: F401  (inception.*)
  for path in config_files:
    if not os.path.isfile(path):
      raise FileNotFoundError(f"--gin_config {path!r} does not exist.")
  gin.parse_config_files_and_bindings(config_files, bindings, finalize_config=False)
  sources = "".join(f"#   --gin_config {p}\n" for p in config_files) + "".join(
      f"#   --gin_bindings {b!r}\n" for b in bindings)
  return "# compare_gan config, parsed from:\n" + sources + "\n" + gin.config_str()


def _train(args: argparse.Namespace) -> int:
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
  if args.tfds_data_dir is not None:
    bindings.append(f"dataset.tfds_data_dir = {args.tfds_data_dir!r}")
  try:
    config_text = parse_gin(args.gin_config, bindings)
  except (ValueError, FileNotFoundError, KeyError, TypeError, SyntaxError) as e:
    print(f"compare_gan train: config error: {e}", file=sys.stderr)
    return EXIT_USAGE
  from compare_gan.training import loop
  from compare_gan.training import schedules
  try:
    if args.dry_run:
      loop.train(args.model_dir, config_text=config_text, dry_run=True)
      return 0
    failures = schedules.run_schedule(args.schedule, args.model_dir, config_text=config_text,
                                      eval_every_steps=args.eval_every_steps)
  except loop.Diverged as e:
    print(f"compare_gan train: {e}", file=sys.stderr)
    return loop.EXIT_DIVERGED
  except (ValueError, FileNotFoundError) as e:
    # Configuration and data problems found while building the run: no traceback needed.
    print(f"compare_gan train: {type(e).__name__}: {e}", file=sys.stderr)
    return EXIT_FAILED
  return EXIT_FAILED if failures else 0


def _eval(args: argparse.Namespace) -> int:
  import os
  config = os.path.join(args.model_dir, "config.gin")
  if not os.path.isfile(config):
    print(f"compare_gan eval: {config} does not exist; --model_dir must be a run directory "
          "written by `compare_gan train`.", file=sys.stderr)
    return EXIT_USAGE
  bindings = list(args.gin_bindings)
  for flag, binding in [("num_averaging_runs", "evaluation.num_averaging_runs"),
                        ("num_fake", "evaluation.num_fake"),
                        ("inception_weights", "inception.weights")]:
    value = getattr(args, flag)
    if value is not None:
      bindings.append(f"{binding} = {value!r}")
  try:
    parse_gin([config] + args.gin_config, bindings)
  except (ValueError, FileNotFoundError, KeyError, TypeError, SyntaxError) as e:
    print(f"compare_gan eval: config error: {e}", file=sys.stderr)
    return EXIT_USAGE
  from compare_gan.metrics import evaluate
  try:
    if args.continuous:
      failures = evaluate.continuous_eval(args.model_dir, eval_every_steps=args.eval_every_steps,
                                          poll_seconds=args.poll_seconds,
                                          timeout_seconds=args.timeout_hours * 3600)
    else:
      chosen = evaluate.select_checkpoints(args.model_dir, step=args.step, all_steps=args.all,
                                           eval_every_steps=args.eval_every_steps,
                                           skip_evaluated=not args.force)
      failures = evaluate.evaluate_checkpoints(args.model_dir, chosen)
  except (ValueError, FileNotFoundError) as e:
    print(f"compare_gan eval: {type(e).__name__}: {e}", file=sys.stderr)
    return EXIT_FAILED
  return EXIT_FAILED if failures else 0


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="compare_gan",
      description="Train, sweep and score GANs under one protocol (The GAN Landscape).")
  commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

  p = commands.add_parser(
      "train", help="train a GAN from gin configs (resumes when model_dir has checkpoints)",
      description="Train the GAN a gin config describes. Re-running the same command resumes "
      "from the newest readable checkpoint. Exit status 3 means the run diverged.")
  p.add_argument("--model_dir", required=True, help="run directory (DESIGN section 6)")
  p.add_argument("--gin_config", action="append", default=[], metavar="FILE",
                 help="gin config file; repeat to combine (later files win)")
  p.add_argument("--gin_bindings", action="append", default=[], metavar="BINDING",
                 help="a gin binding such as 'train.training_steps = 100'; repeatable, applied "
                 "after the files")
  p.add_argument("--strategy", choices=["default", "mirrored", "multi_worker", "tpu"],
                 help="tf.distribute strategy (overrides train.strategy)")
  p.add_argument("--tpu", help="TPU name or grpc:// address for --strategy tpu "
                 "(default: $TPU_NAME)")
  p.add_argument("--jit_compile", choices=["true", "false"],
                 help="XLA-compile the gradient maths (overrides train.jit_compile)")
  p.add_argument("--mixed_precision", choices=["none", "mixed_bfloat16", "mixed_float16"],
                 help="Keras mixed-precision policy (overrides train.mixed_precision)")
  p.add_argument("--tfds_data_dir", help="TensorFlow Datasets data directory "
                 "(overrides dataset.tfds_data_dir)")
  p.add_argument("--dry_run", action="store_true",
                 help="build data, model and checkpoint, report them, take no step")
  p.add_argument("--schedule", default="train",
                 choices=["train", "eval_after_train", "continuous_eval", "train_and_eval"],
                 help="train only; train then score every checkpoint; score a run that "
                 "another process trains; or score each checkpoint as it is written")
  p.add_argument("--eval_every_steps", type=int, default=None, metavar="K",
                 help="score only checkpoints at multiples of K (evaluating schedules)")
  p.set_defaults(run=_train)

  p = commands.add_parser(
      "eval", help="score a run's checkpoints (FID/IS/KID, diversity and weight-free metrics)",
      description="Score checkpoints of a run directory under the evaluation protocol "
      "(gin evaluation.*). Results go to metrics.jsonl (with protocol cards), scores.csv and "
      "TensorBoard. Default: the latest checkpoint.")
  p.add_argument("--model_dir", required=True, help="run directory written by `train`")
  which = p.add_mutually_exclusive_group()
  which.add_argument("--step", type=int, help="score the checkpoint of this step")
  which.add_argument("--all", action="store_true",
                     help="score every checkpoint not yet in metrics.jsonl")
  which.add_argument("--continuous", action="store_true",
                     help="follow a training run: score each new checkpoint until it ends")
  p.add_argument("--force", action="store_true",
                 help="with --all: score already-scored checkpoints again")
  p.add_argument("--eval_every_steps", type=int, default=None, metavar="K",
                 help="with --all/--continuous: only checkpoints at multiples of K")
  p.add_argument("--num_averaging_runs", type=int, default=None,
                 help="fake sample sets per checkpoint (overrides evaluation.*; default 3)")
  p.add_argument("--num_fake", type=int, default=None,
                 help="fake samples per set (overrides evaluation.num_fake)")
  p.add_argument("--inception_weights", default=None, metavar="PATH",
                 help="Inception weights: .pb, .tar.gz, or TF-Hub directory/handle "
                 "(overrides inception.weights; else $COMPARE_GAN_INCEPTION_WEIGHTS, then "
                 "the cache directory)")
  p.add_argument("--gin_config", action="append", default=[], metavar="FILE",
                 help="extra gin file applied after the run's config.gin (e.g. evaluation.*)")
  p.add_argument("--gin_bindings", action="append", default=[], metavar="BINDING",
                 help="extra gin binding, e.g. 'inception_score.splits = 10'")
  p.add_argument("--poll_seconds", type=float, default=60.0,
                 help="with --continuous: seconds between looks for new checkpoints")
  p.add_argument("--timeout_hours", type=float, default=24.0,
                 help="with --continuous: stop after this long without a new checkpoint")
  p.set_defaults(run=_eval)

  p = commands.add_parser("components", help="list the registered gin components")
  p.set_defaults(run=_components)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  return args.run(args)


if __name__ == "__main__":
  sys.exit(main())
