"""`compare_gan report --workdir DIR [--out DIR] [--metric NAME] [--mode min|max]`.

Reads <workdir>/study.db read-only (a running sweep is not disturbed) and writes under --out
(default <workdir>/report):

  best_models.md / .csv / .tex   best trial per setting, with counts and the median
  trials.csv                     every trial, labels and params as columns
  budget_<metric>.csv / .png     expected best <metric> after k trials, with a 95% band
  top5_<metric>.png              the best 5% trials per setting
  curves_<metric>.png            <metric> against the training step per trial

The best-model table goes to stdout, then the list of files written. Exit status 0; 1 when
study.db is not a readable SQLite database (corrupt, truncated) or SQLite fails on it, as
`compare_gan sweep` does; 2 when study.db is missing or is not a sweep's, or the metric is
unknown. Every failure is one line on stderr.
"""

import argparse
import os
import re
import sqlite3
import sys
from typing import Callable, List, Optional

from compare_gan import run_dir as run_dir_lib

# Metrics where higher is better, for a --metric other than the objective given without --mode.
HIGHER_IS_BETTER = ("inception_score", "precision", "recall", "prd_")


def default_mode(metric: str) -> str:
  """'max' for metric names that start with one of HIGHER_IS_BETTER, else 'min'."""
  return "max" if metric.startswith(HIGHER_IS_BETTER) else "min"


def make_report(workdir: str, out: Optional[str] = None, metric: Optional[str] = None,
                mode: Optional[str] = None, bootstrap_samples: int = 1000, seed: int = 0,
                draw: bool = True, log: Callable[[str], None] = print) -> dict:
  """Writes the report of <workdir>/study.db under `out` (default <workdir>/report).

  metric / mode default to the study's objective (`study.objective`, `study.mode`), as the
  sweep stored it in study.db; a metric other than the objective is taken per trial as its
  best value over steps in the results table. `draw=False` writes the tables and CSVs only
  (no matplotlib). Returns {'metric', 'mode', 'markdown' (the best-model table), 'files'
  (paths written), 'messages'}.
  Raises FileNotFoundError (no study.db) or ValueError (unreadable database, no objective
  recorded, unknown metric).
  """
  from compare_gan.report import tables  # pandas: not imported by `compare_gan --help`.
  if bootstrap_samples < 1:
    raise ValueError(f"bootstrap_samples = {bootstrap_samples}; it must be at least 1.")
  trials, results = tables.load(workdir)
  objective = tables.read_objective(workdir)
  metric = metric or objective[0]
  mode = mode or (objective[1] if metric == objective[0] else default_mode(metric))
  known = set(tables.metrics_in(results)) | {objective[0]}
  if len(results) and metric not in known:
    raise ValueError(f"--metric {metric!r} is not in study.db; its metrics: "
                     f"{', '.join(sorted(known))}.")
  out = out or os.path.join(workdir, "report")
  os.makedirs(out, exist_ok=True)
  stem = re.sub(r"[^A-Za-z0-9_.-]", "_", metric)
  trials = tables.with_values(trials, results, metric, mode, objective)
  files, messages = [], []

  def write(name: str, text: str) -> None:
    path = os.path.join(out, name)
    with open(path, "w", encoding="utf-8") as f:
      f.write(text)
    files.append(path)

  best = tables.best_models(trials, metric, mode)
  markdown = tables.to_markdown(best, metric)
  write("best_models.md", markdown)
  write("best_models.csv", best.to_csv(index=False))
  write("best_models.tex", tables.to_latex(best, metric))
  write("trials.csv", tables.trials_table(trials, metric, objective, mode).to_csv(index=False))
  budget = tables.budget_table(trials, metric, mode, bootstrap_samples, seed)
  write(f"budget_{stem}.csv", budget.to_csv(index=False))

  if not trials["value"].notna().any():
    messages.append(f"No finished trial with a {metric} value yet ({len(trials)} trials in "
                    "study.db); the table has no best values and the plots of them are left out.")
  if not draw:
    for message in messages:
      log(message)
    return {"metric": metric, "mode": mode, "markdown": markdown, "files": files,
            "messages": messages}
  from compare_gan.report import plots  # matplotlib: imported only to draw.
  for path in (plots.top_percent_plot(trials, metric, mode, os.path.join(out, f"top5_{stem}.png")),
               plots.budget_plot(budget, metric, mode, os.path.join(out, f"budget_{stem}.png")),
               plots.curves_plot(trials, results, metric, mode,
                                 os.path.join(out, f"curves_{stem}.png"))):
    if path:
      files.append(path)
  if not any(p.endswith(f"curves_{stem}.png") for p in files):
    messages.append(f"No {metric} records in the results table; curves_{stem}.png left out.")
  for message in messages:
    log(message)
  return {"metric": metric, "mode": mode, "markdown": markdown, "files": files,
          "messages": messages}


def _run(args: argparse.Namespace) -> int:
  from compare_gan.sweep import store as store_lib  # The owner of study.db; no TensorFlow.
  try:
    report = make_report(args.workdir, args.out, args.metric, args.mode,
                         bootstrap_samples=args.bootstrap_samples, seed=args.seed,
                         draw=not args.no_plots,
                         log=lambda m: print(m, file=sys.stderr))
  except (FileNotFoundError, ValueError) as e:
    print(f"compare_gan report: {e}", file=sys.stderr)
    return run_dir_lib.EXIT_USAGE
  except (store_lib.StoreUnreadable, sqlite3.Error) as e:
    if isinstance(e, store_lib.StoreUnreadable):
      line = (f"{e}; restore it from a backup and run the report again (each trial's results "
              "also stay in its run directory's metrics.jsonl)")
    else:
      line = (f"SQLite cannot read {os.path.join(args.workdir, store_lib.DATABASE)} ({e}); "
              "check the file and its permissions, then run the report again")
    print(f"compare_gan report: {line}.", file=sys.stderr)
    return run_dir_lib.EXIT_FAILED
  print(f"Best model per setting by {report['metric']} ({report['mode']}):\n")
  print(report["markdown"])
  print("Files written:")
  for path in report["files"]:
    print(f"  {path}")
  return run_dir_lib.EXIT_OK


def add_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
  """Registers `report` on the `compare_gan` subparsers; the command runs `args.run(args)`."""
  p = subparsers.add_parser(
      "report", help="tables and plots of a sweep's study.db (best models, top 5%%, budget)",
      description="Best model per setting (markdown, CSV, LaTeX), every trial (CSV), box plots "
      "of the best 5%% trials, expected best metric after k trials with a bootstrap band, and "
      "training curves, from <workdir>/study.db (read-only; works while a sweep runs).")
  p.add_argument("--workdir", required=True, help="sweep directory holding study.db")
  p.add_argument("--out", default=None, help="output directory (default <workdir>/report)")
  p.add_argument("--metric", default=None,
                 help="metric to report (default: the study's objective); another metric is "
                 "taken per trial as its best value over the evaluated steps")
  p.add_argument("--mode", choices=["min", "max"], default=None,
                 help="whether lower or higher is better (default: the study's mode for its "
                 "objective; for another metric 'max' if it starts with one of "
                 f"{', '.join(HIGHER_IS_BETTER)}, else 'min')")
  p.add_argument("--bootstrap_samples", type=int, default=1000, metavar="B",
                 help="random k-subsets per k for the budget band (default 1000)")
  p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
  p.add_argument("--no_plots", action="store_true",
                 help="write the tables and CSV files only (no PNG)")
  p.set_defaults(run=_run)
  return p


def main(argv: Optional[List[str]] = None) -> int:
  """`compare_gan report ...` without the rest of the CLI (argv without the word 'report')."""
  parser = argparse.ArgumentParser(prog="compare_gan")
  add_parser(parser.add_subparsers(dest="command", required=True))
  args = parser.parse_args(["report"] + list(sys.argv[1:] if argv is None else argv))
  return args.run(args)


if __name__ == "__main__":
  sys.exit(main())
