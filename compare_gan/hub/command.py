"""The bodies of `compare_gan export` and `compare_gan sample` (parsed by compare_gan/cli.py)."""

import argparse
import os
import sys

import tensorflow as tf

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
  try:  # Before the gin config and the model: a refused --export_dir costs nothing.
    export_lib.check_export_dir(args.export_dir, args.model_dir, args.overwrite)
  except export_lib.ExportDirError as e:
    return _error("export", str(e), run_dir.EXIT_USAGE)
  except (OSError, tf.errors.OpError) as e:
    return _error("export", f"cannot read --export_dir {args.export_dir}: {run_dir.one_line(e)}",
                  run_dir.EXIT_FAILED)
  config.parse_command_config("export", [run_config] + args.gin_config,
                              list(args.gin_bindings), args.tfds_data_dir)
  try:
    export_lib.export_run(args.model_dir, args.export_dir, step=args.step,
                          use_ema=False if args.no_ema else None, overwrite=args.overwrite,
                          include_discriminator=not args.no_discriminator)
  except export_lib.ExportDirError as e:  # --export_dir changed while the model was built.
    return _error("export", str(e), run_dir.EXIT_USAGE)
  except run_dir.UsageError as e:  # no checkpoint of --step; a ConfigError is one too
    return _error("export", run_dir.one_line(e), run_dir.EXIT_USAGE)
  except (ValueError, OSError, tf.errors.OpError) as e:
    return _error("export", run_dir.one_line(e), run_dir.EXIT_FAILED)
  return run_dir.EXIT_OK


def sample_command(args: argparse.Namespace) -> int:
  """`compare_gan sample`: grids, single PNGs or interpolations from a module. Every argument
  is checked before the module is loaded (loading takes seconds to minutes)."""
  num = args.num if args.num is not None else (8 if args.interpolate else 64)
  steps = args.steps if args.steps is not None else 8
  try:
    if args.steps is not None and not args.interpolate:
      raise ValueError(f"--steps {args.steps} sets the images of an interpolation row; add "
                       "--interpolate, or drop --steps.")
    sampling.check_request(num=num, out=args.out, out_dir=args.out_dir,
                           interpolate=args.interpolate, steps=steps,
                           columns=args.columns, labels=args.labels, flag="--")
    if args.num_classes is not None and args.num_classes < 1:
      raise ValueError(f"--num_classes {args.num_classes}: a conditional module has >= 1 "
                       "classes.")
    modules.check_module_handle(args.module)
  except ValueError as e:
    return _error("sample", str(e), run_dir.EXIT_USAGE)
  except (OSError, tf.errors.OpError) as e:  # e.g. a directory we may not list
    return _error("sample", run_dir.one_line(e), run_dir.EXIT_FAILED)
  if args.z_distribution is not None:
    try:
      latents.parse_z_distribution(args.z_distribution)
    except ValueError as e:
      return _error("sample", f"--z_distribution: {e}", run_dir.EXIT_USAGE)
  try:
    module = modules.load_module(args.module, z_distribution=args.z_distribution,
                                 num_classes=args.num_classes)
    sampling.sample_to_files(module, num=num, seed=args.seed, out=args.out,
                             out_dir=args.out_dir, labels=args.labels,
                             interpolate=args.interpolate, steps=steps,
                             columns=args.columns)
  except (ValueError, OSError, tf.errors.OpError) as e:
    return _error("sample", run_dir.one_line(e), run_dir.EXIT_FAILED)
  return run_dir.EXIT_OK
