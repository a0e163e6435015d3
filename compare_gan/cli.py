"""`compare_gan <command>`: the command-line entry point.

Commands (DESIGN section 3): `train` (the reference main.py flags, with its `--schedule`),
`eval` (score a run's checkpoints, or any TF Hub generator with `--module`), `export` (a
checkpoint's generator as a TF Hub SavedModel), `sample` (PNG grids, single images and latent
interpolations from a module), `sweep` (a study's trials, proposed by grid, random or GP
search, run by local or Dask workers, recorded in study.db; compare_gan/sweep/command.py),
`report` (a sweep's tables and plots; compare_gan/report/command.py) and `components` (every
gin name a config can use).

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


def _parse_or_report(command: str, config_files: List[str], bindings: List[str],
                     tfds_data_dir: Optional[str]) -> Optional[str]:
  """`parse_gin` for a command (with `--tfds_data_dir` as a binding); on a config error prints
  it, prefixed by the command, and returns None."""
  if tfds_data_dir is not None:
    bindings = bindings + [f"dataset.tfds_data_dir = {tfds_data_dir!r}"]
  try:
    return parse_gin(config_files, bindings)
  except (ValueError, FileNotFoundError, KeyError, TypeError, SyntaxError) as e:
    print(f"compare_gan {command}: config error: {e}", file=sys.stderr)
    return None


def _train(args: argparse.Namespace) -> int:
  if args.export_evaluated and args.schedule == "train":
    print("compare_gan train: --export_evaluated exports the checkpoints a schedule evaluates; "
          "use --schedule eval_after_train, train_and_eval or continuous_eval.",
          file=sys.stderr)
    return EXIT_USAGE
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
  config_text = _parse_or_report("train", args.gin_config, bindings, args.tfds_data_dir)
  if config_text is None:
    return EXIT_USAGE
  from compare_gan.training import loop
  from compare_gan.training import schedules
  try:
    if args.dry_run:
      loop.train(args.model_dir, config_text=config_text, dry_run=True)
      return 0
    failures = schedules.run_schedule(args.schedule, args.model_dir, config_text=config_text,
                                      eval_every_steps=args.eval_every_steps,
                                      export_evaluated=args.export_evaluated)
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
  if args.module is not None:
    return _eval_module(args)
  module_only = [f"--{f}" for f in ("dataset", "z_distribution", "num_classes", "out")
                 if getattr(args, f) is not None]
  if module_only:
    print(f"compare_gan eval: {', '.join(module_only)} apply to --module; a run directory "
          "brings its own dataset and model.", file=sys.stderr)
    return EXIT_USAGE
  config = os.path.join(args.model_dir, "config.gin")
  if not os.path.isfile(config):
    print(f"compare_gan eval: {config} does not exist; --model_dir must be a run directory "
          "written by `compare_gan train`.", file=sys.stderr)
    return EXIT_USAGE
  bindings = _protocol_bindings(args)
  config_text = _parse_or_report("eval", [config] + args.gin_config, bindings,
                                 args.tfds_data_dir)
  if config_text is None:
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


def _protocol_bindings(args: argparse.Namespace) -> List[str]:
  bindings = list(args.gin_bindings)
  for flag, binding in [("num_averaging_runs", "evaluation.num_averaging_runs"),
                        ("num_fake", "evaluation.num_fake"),
                        ("inception_weights", "inception.weights")]:
    value = getattr(args, flag)
    if value is not None:
      bindings.append(f"{binding} = {value!r}")
  return bindings


def _eval_module(args: argparse.Namespace) -> int:
  """`eval --module PATH --dataset NAME`: scores a module; results go to --out (JSON)."""
  run_only = [f for f, set_ in [("--step", args.step is not None), ("--all", args.all),
                                ("--continuous", args.continuous), ("--force", args.force),
                                ("--eval_every_steps", args.eval_every_steps is not None)]
              if set_]
  if run_only:
    print(f"compare_gan eval: {', '.join(run_only)} select checkpoints of a --model_dir; a "
          "--module is one generator.", file=sys.stderr)
    return EXIT_USAGE
  if args.dataset is None:
    print("compare_gan eval: --module needs --dataset NAME, the real data to compare with "
          "(e.g. cifar10, triangles).", file=sys.stderr)
    return EXIT_USAGE
  bindings = [f"dataset.name = {args.dataset!r}"] + _protocol_bindings(args)
  config_text = _parse_or_report("eval", args.gin_config, bindings, args.tfds_data_dir)
  if config_text is None:
    return EXIT_USAGE
  import json
  from compare_gan import export
  from compare_gan.metrics import evaluate
  from compare_gan.training import run_dir
  try:
    module = export.load_module(args.module, z_distribution=args.z_distribution,
                                num_classes=args.num_classes)
    evaluator = evaluate.Evaluator(None, source=module.as_source())
    records = evaluator.score((module.metadata or {}).get("step"), module=args.module)
  except (ValueError, OSError) as e:
    print(f"compare_gan eval: {type(e).__name__}: {e}", file=sys.stderr)
    return EXIT_FAILED
  if args.out:
    import os
    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    result = dict(module=export.module_summary(module), dataset=args.dataset, records=records)
    run_dir.write_atomically(args.out, json.dumps(result, indent=2, sort_keys=True,
                                                  allow_nan=False) + "\n")
    print(f"wrote {len(records)} results to {args.out}")
  return 0


def _export(args: argparse.Namespace) -> int:
  import os
  config = os.path.join(args.model_dir, "config.gin")
  if not os.path.isfile(config):
    print(f"compare_gan export: {config} does not exist; --model_dir must be a run directory "
          "written by `compare_gan train`.", file=sys.stderr)
    return EXIT_USAGE
  from compare_gan import export
  try:
    export.check_export_dir(args.export_dir, args.overwrite)
  except FileExistsError as e:
    print(f"compare_gan export: {e}", file=sys.stderr)
    return EXIT_USAGE
  bindings = list(args.gin_bindings)
  config_text = _parse_or_report("export", [config] + args.gin_config, bindings,
                                 args.tfds_data_dir)
  if config_text is None:
    return EXIT_USAGE
  try:
    export.export_run(args.model_dir, args.export_dir, step=args.step,
                      use_ema=False if args.no_ema else None, overwrite=args.overwrite,
                      include_discriminator=not args.no_discriminator)
  except (ValueError, OSError) as e:
    print(f"compare_gan export: {type(e).__name__}: {e}", file=sys.stderr)
    return EXIT_FAILED
  return 0


def _sample(args: argparse.Namespace) -> int:
  if not args.out and not args.out_dir:
    print("compare_gan sample: give --out GRID.png and/or --out_dir DIR.", file=sys.stderr)
    return EXIT_USAGE
  from compare_gan import export
  from compare_gan import sampling
  num = args.num if args.num is not None else (8 if args.interpolate else 64)
  try:
    module = export.load_module(args.module, z_distribution=args.z_distribution,
                                num_classes=args.num_classes)
    sampling.sample_to_files(module, num=num, seed=args.seed, out=args.out,
                             out_dir=args.out_dir, labels=args.labels,
                             interpolate=args.interpolate, steps=args.steps,
                             columns=args.columns)
  except (ValueError, OSError) as e:
    print(f"compare_gan sample: {type(e).__name__}: {e}", file=sys.stderr)
    return EXIT_FAILED
  return 0


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
  p.add_argument("--export_evaluated", action="store_true",
                 help="with an evaluating schedule: also export every evaluated checkpoint as "
                 "a TF Hub SavedModel to MODEL_DIR/tfhub/<step>/")
  p.set_defaults(run=_train)

  p = commands.add_parser(
      "eval", help="score a run's checkpoints or a TF Hub generator (FID/IS/KID, diversity and "
      "weight-free metrics)",
      description="Score checkpoints of a run directory under the evaluation protocol "
      "(gin evaluation.*). Results go to metrics.jsonl (with protocol cards), scores.csv and "
      "TensorBoard. Default: the latest checkpoint. With --module PATH --dataset NAME, score "
      "any TF Hub generator (ours or third-party) under the same protocol; its results, with "
      "protocol cards, go to --out FILE.json.")
  source = p.add_mutually_exclusive_group(required=True)
  source.add_argument("--model_dir", help="run directory written by `train`")
  source.add_argument("--module", metavar="PATH",
                      help="TF Hub module (directory or handle) to score instead of a run")
  p.add_argument("--dataset", help="with --module: the dataset to compare with (a registered "
                 "name, e.g. cifar10)")
  p.add_argument("--z_distribution", choices=["uniform", "normal", "truncated_normal"],
                 help="with --module: its z (default: from our metadata; required for "
                 "third-party modules)")
  p.add_argument("--num_classes", type=int, help="with --module: classes of a third-party "
                 "conditional module (default: the dataset's)")
  p.add_argument("--out", metavar="FILE.json", help="with --module: write the results there")
  p.add_argument("--tfds_data_dir", help="TensorFlow Datasets data directory (overrides "
                 "dataset.tfds_data_dir)")
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

  p = commands.add_parser(
      "export", help="export a checkpoint's generator as a TF Hub SavedModel",
      description="Write a TF2 SavedModel that hub.load and hub.KerasLayer load without "
      "compare_gan: generator(z[, labels]) -> images in [0, 1], discriminator(images[, "
      "labels]) -> logits, a serving_default signature, and metadata (assets/"
      "compare_gan_metadata.json). EMA weights when the run has them.")
  p.add_argument("--model_dir", required=True, help="run directory written by `train`")
  p.add_argument("--export_dir", required=True, help="where to write the SavedModel")
  p.add_argument("--step", type=int, help="checkpoint step (default: the latest)")
  p.add_argument("--no_ema", action="store_true",
                 help="export the raw generator weights even when the run has EMA weights")
  p.add_argument("--no_discriminator", action="store_true", help="export G only")
  p.add_argument("--overwrite", action="store_true",
                 help="replace a non-empty --export_dir")
  p.add_argument("--tfds_data_dir", help="TensorFlow Datasets data directory (the image "
                 "shape and classes come from the run's dataset)")
  p.add_argument("--gin_config", action="append", default=[], metavar="FILE",
                 help="extra gin file applied after the run's config.gin")
  p.add_argument("--gin_bindings", action="append", default=[], metavar="BINDING",
                 help="extra gin binding (e.g. evaluation.bn_accumulation_samples)")
  p.set_defaults(run=_export)

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
  p.add_argument("--steps", type=int, default=8, help="images per interpolation row")
  p.add_argument("--columns", type=int, default=None,
                 help="grid columns (default: ceil(sqrt(num)); --steps when interpolating)")
  p.add_argument("--labels", type=_int_list, default=None, metavar="IDS",
                 help="class ids of a conditional module: one for all, or one per sample/row "
                 "(default: i %% num_classes)")
  p.add_argument("--z_distribution", choices=["uniform", "normal", "truncated_normal"],
                 help="the module's z (default: from our metadata; required for third-party "
                 "modules)")
  p.add_argument("--num_classes", type=int,
                 help="classes of a third-party conditional module")
  p.set_defaults(run=_sample)

  from compare_gan.sweep import command as sweep_command  # Neither imports TensorFlow.
  from compare_gan.report import command as report_command
  sweep_command.add_parser(commands)
  report_command.add_parser(commands)

  p = commands.add_parser("components", help="list the registered gin components")
  p.set_defaults(run=_components)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  return args.run(args)


if __name__ == "__main__":
  sys.exit(main())
