"""The bodies of `compare_gan export` and `compare_gan sample` (parsed by compare_gan/cli.py)."""

import argparse
import os
import sys

from compare_gan import config
from compare_gan import run_dir
from compare_gan.gans import latents
from compare_gan.hub import export as export_lib
from compare_gan.hub import modules
from compare_gan.hub import sampling


def _error(command: str, message: str, status: int) -> int:
  print(f"compare_gan {command}: {message}", file=sys.stderr)
  return status


def export_command(args: argparse.Namespace) -> int:
  """`compare_gan export`: one checkpoint of a run as a TF Hub SavedModel."""
  run_config = os.path.join(args.model_dir, run_dir.CONFIG)
  if not os.path.isfile(run_config):
    return _error("export", f"{run_config} does not exist; --model_dir must be a run directory "
                  "written by `compare_gan train`.", run_dir.EXIT_USAGE)
  try:
    export_lib.check_export_dir(args.export_dir, args.overwrite)
  except FileExistsError as e:
    return _error("export", str(e), run_dir.EXIT_USAGE)
  config.parse_command_config("export", [run_config] + args.gin_config,
                              list(args.gin_bindings), args.tfds_data_dir)
  try:
    export_lib.export_run(args.model_dir, args.export_dir, step=args.step,
                          use_ema=False if args.no_ema else None, overwrite=args.overwrite,
                          include_discriminator=not args.no_discriminator)
  except (ValueError, OSError) as e:
    return _error("export", f"{type(e).__name__}: {e}", run_dir.EXIT_FAILED)
  return run_dir.EXIT_OK


def sample_command(args: argparse.Namespace) -> int:
  """`compare_gan sample`: grids, single PNGs or interpolations from a module."""
  if not args.out and not args.out_dir:
    return _error("sample", "give --out GRID.png and/or --out_dir DIR.", run_dir.EXIT_USAGE)
  if args.z_distribution is not None:
    try:
      latents.parse_z_distribution(args.z_distribution)
    except ValueError as e:
      return _error("sample", f"--z_distribution: {e}", run_dir.EXIT_USAGE)
  num = args.num if args.num is not None else (8 if args.interpolate else 64)
  try:
    module = modules.load_module(args.module, z_distribution=args.z_distribution,
                                 num_classes=args.num_classes)
    sampling.sample_to_files(module, num=num, seed=args.seed, out=args.out,
                             out_dir=args.out_dir, labels=args.labels,
                             interpolate=args.interpolate, steps=args.steps,
                             columns=args.columns)
  except (ValueError, OSError) as e:
    return _error("sample", f"{type(e).__name__}: {e}", run_dir.EXIT_FAILED)
  return run_dir.EXIT_OK
