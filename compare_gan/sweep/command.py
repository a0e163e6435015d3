"""`compare_gan sweep`: run, resume or export a hyperparameter sweep (DESIGN section 7).

  compare_gan sweep --workdir DIR --study FILE [--gin_bindings B ...] [--parallel N]
      [--executor local|dask://host:port] [--max_trials N] [--export FILE.csv|FILE.parquet]

Running the same command again on the same workdir resumes the sweep. `--export` without
`--study` exports an existing workdir's trials and results and runs nothing.

The workdir holds study.db, sweep.log, trials/ (each trial's run directory) and hparams/, the
TensorBoard HParams view: the experiment (the study's axes and parameters with their domains,
seed, source, status; the objective as metric) and one session per finished trial, so that
`tensorboard --logdir WORKDIR` compares the trials in its HParams dashboard
(compare_gan.sweep.hparams). With `study.reruns = N` each setting's `study.rerun_top` best
points are trained again with N new seeds once its search is over (source 'rerun' in
study.db); the final summary gives their spread.

Exit status: 0 the sweep finished (failed or diverged trials are results, not errors) or was
exported; 1 a runtime failure: study.db is not a readable SQLite database (corrupt, truncated)
or SQLite fails on it; 2 a bad command line or study, a workdir holding another study (or the
same study with changed base configs), a trial directory that is not this study's, or a
workdir another driver runs; 130 interrupted (Ctrl-C or SIGTERM; running trials resume next
time).
"""

import argparse
import os
import sqlite3
import sys
from typing import List, Optional

from compare_gan import run_dir as run_dir_lib


def _add_arguments(p: argparse.ArgumentParser) -> None:
  p.add_argument("--workdir", required=True,
                 help="the sweep's directory (study.db, sweep.log, trials/, and hparams/: "
                 "view it with `tensorboard --logdir WORKDIR`, HParams tab); must be local")
  p.add_argument("--study", metavar="FILE",
                 help="the study gin file (configs/studies/); omit it to only --export")
  p.add_argument("--gin_bindings", action="append", default=[], metavar="BINDING",
                 help="a study binding applied after the file, e.g. 'study.budget = 4'; "
                 "repeatable (resuming needs the same ones)")
  p.add_argument("--parallel", type=int, default=1, metavar="N",
                 help="trials run at once (default 1)")
  p.add_argument("--executor", default="local", metavar="local|dask://host:port",
                 help="where trials run: subprocesses here (default), or the workers of a "
                 "running Dask scheduler (pip install compare_gan[dask])")
  p.add_argument("--max_trials", type=int, default=None, metavar="N",
                 help="propose no new trial once the workdir holds N (run again with a larger "
                 "N to continue)")
  p.add_argument("--trials_dir", default=None, metavar="DIR",
                 help="parent of the trials' run directories (default WORKDIR/trials); may be "
                 "a shared or gs:// path the workers write")
  p.add_argument("--export", default=None, metavar="FILE",
                 help="write the trials to FILE (.csv or .parquet) and their results to "
                 "FILE_results.* after the sweep (alone: export only)")


def add_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
  """Registers `sweep` on the subparsers of `compare_gan`'s parser; returns its parser."""
  p = subparsers.add_parser(
      "sweep", help="run or resume a hyperparameter sweep of a study (grid / random / GP)",
      description="Run the trials of a study (configs/studies/*.gin), each a `compare_gan "
      "train` subprocess, recording them in WORKDIR/study.db and in TensorBoard's HParams "
      "dashboard (WORKDIR/hparams/: one session per finished trial; `tensorboard --logdir "
      "WORKDIR`). Kill it at any moment and run the same command again to resume.")
  _add_arguments(p)
  p.set_defaults(run=run)
  return p


# What to do about an unreadable study.db, honest about the trial directories: a new study.db
# has a new study id, so the old trial directories (their trial.json names the old one) are
# refused, not adopted.
UNREADABLE_ADVICE = (
    "restore it from a backup and run the same command again; or move it aside and start the "
    "sweep afresh with a new --workdir (and a new --trials_dir if you gave one), since this "
    "sweep's trial directories record the old study id in their trial.json and would be "
    "refused (their results stay in each run directory's metrics.jsonl)")


def _database_failure(workdir: str, error: Exception) -> int:
  """Prints the one line of an unreadable or failing study.db; returns exit status 1."""
  from compare_gan.sweep import store as store_lib
  if isinstance(error, store_lib.StoreUnreadable):
    line = f"{error}; {UNREADABLE_ADVICE}."
  else:
    line = (f"SQLite cannot use {os.path.join(workdir, store_lib.DATABASE)} ({error}); check "
            "the file and its directory (permissions, free space, a local file system), then "
            "run the same command again.")
  print(f"compare_gan sweep: {line}", file=sys.stderr)
  return run_dir_lib.EXIT_FAILED


def _export(workdir: str, path: str) -> List[str]:
  from compare_gan.sweep import store as store_lib
  database = os.path.join(workdir, store_lib.DATABASE)
  if not os.path.isfile(database):
    raise FileNotFoundError(f"{database} does not exist; --workdir must be a sweep's workdir.")
  with store_lib.Store(database) as store:
    return store.export(path)


def run(args: argparse.Namespace) -> int:
  """Runs `compare_gan sweep` for parsed arguments; returns the exit status."""
  if args.study is None and args.export is None:
    print("compare_gan sweep: give --study FILE (run or resume) and/or --export FILE.",
          file=sys.stderr)
    return run_dir_lib.EXIT_USAGE
  if args.parallel < 1:
    print(f"compare_gan sweep: --parallel {args.parallel} must be at least 1.", file=sys.stderr)
    return run_dir_lib.EXIT_USAGE
  if args.max_trials is not None and args.max_trials < 1:
    print(f"compare_gan sweep: --max_trials {args.max_trials} must be at least 1.",
          file=sys.stderr)
    return run_dir_lib.EXIT_USAGE
  from compare_gan.sweep import driver
  from compare_gan.sweep import store as store_lib
  if args.study is not None:
    try:
      driver.run_sweep(args.workdir, args.study, args.gin_bindings, parallel=args.parallel,
                       executor=args.executor, max_trials=args.max_trials,
                       trials_dir=args.trials_dir)
    except store_lib.DriverBusy as e:
      print(f"compare_gan sweep: {e}", file=sys.stderr)
      return run_dir_lib.EXIT_FAILED
    except store_lib.StudyMismatch as e:
      print(f"compare_gan sweep: {e}", file=sys.stderr)
      return run_dir_lib.EXIT_USAGE
    except (store_lib.StoreUnreadable, sqlite3.Error) as e:
      return _database_failure(args.workdir, e)
    except (ValueError, FileNotFoundError, SyntaxError, ImportError) as e:
      print(f"compare_gan sweep: {type(e).__name__}: {e}", file=sys.stderr)
      return run_dir_lib.EXIT_USAGE
    except KeyboardInterrupt as e:
      terminated = isinstance(e, run_dir_lib.Terminated)
      print(f"compare_gan sweep: {'terminated (SIGTERM)' if terminated else 'interrupted'}; "
            "run the same command again to resume.", file=sys.stderr)
      return run_dir_lib.EXIT_TERMINATED if terminated else run_dir_lib.EXIT_INTERRUPTED
  if args.export is not None:
    try:
      paths = _export(args.workdir, args.export)
    except (store_lib.StoreUnreadable, sqlite3.Error) as e:
      return _database_failure(args.workdir, e)
    except (ValueError, FileNotFoundError, ImportError) as e:
      print(f"compare_gan sweep: export: {e}", file=sys.stderr)
      return run_dir_lib.EXIT_USAGE
    print(f"exported {' and '.join(paths)}")
  return run_dir_lib.EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
  """`python -m compare_gan.sweep.command ARGS` (the arguments of `compare_gan sweep`)."""
  parser = argparse.ArgumentParser(prog="compare_gan sweep", description=__doc__.split("\n")[0])
  _add_arguments(parser)
  return run(parser.parse_args(argv))


if __name__ == "__main__":
  sys.exit(main())
