"""`compare_gan report --workdir DIR [--out DIR] [--metric NAME] [--mode min|max]
[--no_plots] [--no_galleries]`.

Reads <workdir>/study.db read-only (a running sweep is not disturbed) and writes under --out
(default <workdir>/report):

  index.html                       one static page with all of the below (report/html.py)
  best_models.md / .csv / .tex     best search trial per setting, with counts and the median
  trials.csv                       every trial, re-runs included (column `source`)
  budget_<metric>.csv / .png       expected best <metric> after k search trials, 95% band
  significance_<metric>.md / .csv / .tex
                                   per pair of settings and budget k: P(best of k of one beats
                                   the other's), its bootstrap interval and the verdict of a
                                   permutation test (report/significance.py, best_of_k.py)
  significance_<metric>.png        the same probabilities as a heat map
  intervals_<metric>.md / .csv     bootstrap intervals of each setting's best and median
  reruns_<metric>.md / .csv        the seed spread of re-run points, when the study has any
                                   (report/reruns.py)
  top5_<metric>.png                the best 5% search trials per setting
  curves_<metric>.png              <metric> against the training step per trial
  galleries/trial_<id>_*.png       samples (gallery_step<step>.png) and interpolations
                                   (interpolation_step<step>.png) of each setting's best trial
                                   at its best step (TensorFlow; --no_galleries leaves them out)

<metric> in a file name is `tables.file_stem(metric)`. Re-runs (a setting's best point trained
again with new seeds, source 'rerun') are no part of the search: every search statistic (best
model, counts, median, budget curve, top 5%, significance) leaves them out; trials.csv, the
curves, the page's trials table and reruns_* show them.

The best-model table goes to stdout, then the list of files written and the page's path.
Exit status 0 (a gallery that cannot be drawn is a note on stderr and on the page); 1 when
study.db is not a readable SQLite database (corrupt, truncated) or SQLite fails on it, as
`compare_gan sweep` does; 2 when study.db is missing or is not a sweep's, or the metric is
unknown. Every failure is one line on stderr.
"""

import argparse
import os
import sqlite3
import sys
from typing import TYPE_CHECKING, Callable, List, Optional

from compare_gan import run_dir as run_dir_lib

if TYPE_CHECKING:  # Annotations only: pandas is imported when a report is made.
  import pandas
  from compare_gan.report import html

# Metrics where higher is better, for a --metric other than the objective given without --mode.
HIGHER_IS_BETTER = ("inception_score", "precision", "recall", "prd_")

# What a gallery of one trial may fail with and still leave the report whole: our one-line
# failures and ConfigError (no checkpoint of the step), a missing config.gin or checkpoints
# directory (FileNotFoundError) and other file errors; and, once TensorFlow is loaded, its op
# errors (a damaged checkpoint: DataLossError). Anything else is a bug and propagates.
GALLERY_ERRORS = (run_dir_lib.Failure, OSError, ValueError)


def _gallery_errors() -> tuple:
  tf = sys.modules.get("tensorflow")  # Loaded by then if the error came from it.
  return GALLERY_ERRORS + ((tf.errors.OpError,) if tf is not None else ())


def default_mode(metric: str) -> str:
  """'max' for metric names that start with one of HIGHER_IS_BETTER, else 'min'."""
  return "max" if metric.startswith(HIGHER_IS_BETTER) else "min"


def make_report(workdir: str, out: Optional[str] = None, metric: Optional[str] = None,
                mode: Optional[str] = None, bootstrap_samples: int = 1000, seed: int = 0,
                draw: bool = True, galleries: bool = True,
                log: Callable[[str], None] = print) -> dict:
  """Writes the report of <workdir>/study.db under `out` (default <workdir>/report).

  metric / mode default to the study's objective (`study.objective`, `study.mode`), as the
  sweep stored it in study.db; a metric other than the objective is taken per trial as its
  best value over steps in the results table. `draw=False` writes the tables, CSVs and
  index.html only (no matplotlib, no PNG); `galleries=False` leaves out the sample galleries,
  the only part that loads TensorFlow and the trials' checkpoints. `bootstrap_samples` is the
  number of resamples (or random deals) of every bootstrap and permutation test; `seed` seeds
  them and the galleries' latent vectors. Returns {'metric', 'mode', 'markdown' (the best-model
  table), 'files' (paths written, index.html last), 'index' (its path), 'messages'}.
  Raises FileNotFoundError (no study.db) or ValueError (unreadable database, no objective
  recorded, unknown metric). A gallery that cannot be drawn (run directory or checkpoint
  missing or unreadable) is a message, on the page too, never an error.
  """
  # pandas, and the writers that use it: not imported by `compare_gan --help`.
  from compare_gan.report import html
  from compare_gan.report import reruns
  from compare_gan.report import significance
  from compare_gan.report import tables
  if bootstrap_samples < 1:
    raise ValueError(f"bootstrap_samples = {bootstrap_samples}; it must be at least 1.")
  trials, results = tables.load(workdir)
  meta = tables.read_meta(workdir)
  objective = tables.read_objective(workdir)
  metric = metric or objective[0]
  mode = mode or (objective[1] if metric == objective[0] else default_mode(metric))
  known = set(tables.metrics_in(results)) | {objective[0]}
  if len(results) and metric not in known:
    raise ValueError(f"--metric {metric!r} is not in study.db; its metrics: "
                     f"{', '.join(sorted(known))}.")
  out = out or os.path.join(workdir, "report")
  os.makedirs(out, exist_ok=True)
  stem = tables.file_stem(metric)
  trials = tables.with_values(trials, results, metric, mode, objective)
  search = tables.search_trials(trials)  # Without re-runs: what the search statistics read.
  files, messages = [], []

  def write(name: str, text: str) -> str:
    path = os.path.join(out, name)
    run_dir_lib.write_atomically(path, text)
    files.append(path)
    return path

  best = tables.best_models(trials, metric, mode)
  markdown = tables.to_markdown(best, metric)
  write("best_models.md", markdown)
  write("best_models.csv", best.to_csv(index=False))
  write("best_models.tex", tables.to_latex(best, metric))
  write("trials.csv", tables.trials_table(trials, metric, objective, mode).to_csv(index=False))
  budget = tables.budget_table(trials, metric, mode, bootstrap_samples, seed)
  page = html.Page(workdir=workdir, meta=meta, metric=metric, mode=mode, trials=trials,
                   best=best, protocol=html.objective_card(search, results, metric, mode),
                   plots_wanted=draw, galleries_wanted=draw and galleries)
  page.budget_csv = write(f"budget_{stem}.csv", budget.to_csv(index=False))

  if not trials["value"].notna().any():
    messages.append(f"No finished trial with a {metric} value yet ({len(trials)} trials in "
                    "study.db); the table has no best values and the plots of them are left out.")
  written = significance.write(trials, metric, mode, out, samples=bootstrap_samples, seed=seed,
                               draw=draw)
  files += written["files"]
  page.blocks.append(html.Block("Significance and intervals", written["markdown"],
                                list(written["files"])))
  written = reruns.write(trials, metric, mode, out)
  if written["files"]:  # A study without re-runs gets no section.
    files += written["files"]
    page.blocks.append(html.Block("Seed spread of re-runs", written["markdown"],
                                  list(written["files"])))
  if draw:
    from compare_gan.report import plots  # matplotlib: imported only to draw.
    page.top = plots.top_percent_plot(search, metric, mode,
                                      os.path.join(out, f"top5_{stem}.png"))
    page.budget = plots.budget_plot(budget, metric, mode, os.path.join(out, f"budget_{stem}.png"))
    page.curves = plots.curves_plot(trials, results, metric, mode,
                                    os.path.join(out, f"curves_{stem}.png"))
    files += [p for p in (page.top, page.budget, page.curves) if p]
    if not page.curves:
      messages.append(f"No {metric} records in the results table; curves_{stem}.png left out.")
  if page.galleries_wanted:
    page.galleries = _galleries(trials, best, out, seed)
    for g in page.galleries:
      files += [p for p in (g.grid, g.strip) if p]
      if g.note:
        messages.append(g.note)
  page.files, page.messages = list(files), messages
  index = html.write(page, out)
  files.append(index)
  for message in messages:
    log(message)
  return {"metric": metric, "mode": mode, "markdown": markdown, "files": files,
          "index": index, "messages": messages}


def _galleries(trials: "pandas.DataFrame", best: "pandas.DataFrame", out: str,
               seed: int) -> List["html.Gallery"]:
  """Samples and interpolations of each setting's best trial at its best step, into
  <out>/galleries/trial_<id>_*. A trial whose run directory is gone, or whose checkpoint
  cannot be read, gets a note instead; TensorFlow is imported only when a directory exists."""
  import pandas
  from compare_gan.report import galleries  # Cheap: write_gallery imports TensorFlow itself.
  from compare_gan.report import html
  from compare_gan.report import tables
  out_dir = os.path.join(out, "galleries")
  drawn = []
  for trial_id, step in zip(best["trial"].tolist(), best["step"].tolist()):
    if trial_id is None or trial_id is pandas.NA:  # A setting without a done trial.
      continue
    trial = trials.loc[trials["id"] == int(trial_id)].iloc[0]
    name, model_dir = tables.setting_name(trial["labels"]), str(trial["run_dir"])
    gallery = html.Gallery(setting=name, trial=int(trial_id), step=int(step))
    drawn.append(gallery)
    if not run_dir_lib.is_remote(model_dir) and not os.path.isdir(model_dir):
      gallery.note = (f"No gallery of {name} (trial {gallery.trial}): its run directory "
                      f"{model_dir} does not exist.")
      continue
    try:
      result = galleries.write_gallery(model_dir, out_dir, step=gallery.step, seed=seed,
                                       prefix=f"trial_{gallery.trial:04d}_")
    except _gallery_errors() as e:  # Evaluated as the error arrives, after TF's import.
      why = run_dir_lib.one_line(e)
      if not isinstance(e, GALLERY_ERRORS):  # TensorFlow's: it names no file.
        why = f"a checkpoint in {model_dir} cannot be read ({why})"
      gallery.note = f"No gallery of {name} (trial {gallery.trial}, step {gallery.step}): {why}"
      continue
    gallery.grid, gallery.strip = result["grid"], result["strip"]
    gallery.step, gallery.ema = int(result["step"]), bool(result["ema"])
  return drawn


def _run(args: argparse.Namespace) -> int:
  from compare_gan.sweep import store as store_lib  # The owner of study.db; no TensorFlow.
  try:
    report = make_report(args.workdir, args.out, args.metric, args.mode,
                         bootstrap_samples=args.bootstrap_samples, seed=args.seed,
                         draw=not args.no_plots, galleries=not args.no_galleries,
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
  print(f"\nReport page (open it in a browser): {os.path.abspath(report['index'])}")
  return run_dir_lib.EXIT_OK


def add_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
  """Registers `report` on the `compare_gan` subparsers; the command runs `args.run(args)`."""
  p = subparsers.add_parser(
      "report", help="tables, plots and a static HTML page of a sweep's study.db (best "
      "models, significance, top 5%%, budget, galleries)",
      description="Best model per setting (markdown, CSV, LaTeX), every trial (CSV), pairwise "
      "significance between settings, box plots of the best 5% trials, expected best metric "
      "after k trials with a bootstrap band, training curves, sample galleries of the best "
      "trials, and all of it on one static page, <out>/index.html, from <workdir>/study.db "
      "(read-only; works while a sweep runs).")
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
                 help="resamples of every bootstrap and permutation test: random k-subsets "
                 "per k for the budget band, resamples of each setting for the significance "
                 "and interval tables, and random deals per pair of settings for the "
                 "permutation test (default 1000)")
  p.add_argument("--seed", type=int, default=0,
                 help="seed of the bootstraps and of the galleries' latent vectors (default 0)")
  p.add_argument("--no_plots", action="store_true",
                 help="write the tables, CSV files and index.html only (no PNG, no galleries)")
  p.add_argument("--no_galleries", action="store_true",
                 help="leave out the sample galleries of the best trials (they load each "
                 "trial's checkpoint with TensorFlow)")
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
