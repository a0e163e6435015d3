"""`compare_gan <command>`: the command-line entry point.

Commands (DESIGN section 3): `train` (this file wires the reference main.py flags to the
training loop) and `components` (every gin name a config can use); eval, sweep, report, export
and sample are added as their subsystems land.

Exit status: 0 success, 1 a run failed, 2 bad command line or config (unknown gin name, missing
file, invalid value), 3 the run diverged (NaN/Inf loss; see status.json).
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
  try:
    loop.train(args.model_dir, config_text=config_text, dry_run=args.dry_run)
  except loop.Diverged as e:
    print(f"compare_gan train: {e}", file=sys.stderr)
    return loop.EXIT_DIVERGED
  except (ValueError, FileNotFoundError) as e:
    # Configuration and data problems found while building the run: no traceback needed.
    print(f"compare_gan train: {type(e).__name__}: {e}", file=sys.stderr)
    return EXIT_FAILED
  return 0


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
  p.set_defaults(run=_train)

  p = commands.add_parser("components", help="list the registered gin components")
  p.set_defaults(run=_components)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  return args.run(args)


if __name__ == "__main__":
  sys.exit(main())
