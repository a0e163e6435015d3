"""Tables of a sweep: study.db read-only into pandas, best model per setting, the budget curve.

study.db is opened with SQLite's `mode=ro` URI and read inside one transaction, so a report
taken while `compare_gan sweep` writes (WAL) sees one consistent snapshot and never blocks it.
A file SQLite cannot read raises `store.StoreUnreadable` naming it. Every study.db a sweep
wrote is read, those from before study ids and fingerprints included: only the tables and the
objective in the meta table are used.

Only trials with status 'done' and a finite value enter objective statistics (best, median,
top 5%, budget curves); failed and diverged trials are counted per setting. Re-runs (source
`study.RERUN`: a setting's best point trained again with new seeds) are no part of the search
and are left out of all of these (`search_trials`); `trials_table` lists them, with their
source, and report/reruns.py shows their seed spread.

The expected best value after k trials (the GAN Landscape paper's "FID vs computational
budget", Kurach et al. 2019, after Lucic et al. 2018) is computed exactly from the order
statistics of the setting's m finished trials: drawing k of them without replacement, the best
is the i-th best value v_i with probability C(m-i, k-1) / C(m, k). The 95% band comes from B
seeded random k-subsets (percentiles 2.5 and 97.5 of their best values).
"""

import json
import math
import os
import pathlib
import re
import sqlite3
import zlib
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np
import pandas as pd

# The store owns study.db (file name, tables, meta keys, trial statuses); the study model owns
# the objective's modes. Neither imports TensorFlow or gin.
from compare_gan.sweep import store as store_lib
from compare_gan.sweep import study as study_lib

COUNTED = store_lib.FINISHED  # Trial statuses counted per setting in `best_models`.


# ---------------------------------------------------------------------------------------------
# Reading study.db.

def connect(workdir: str) -> sqlite3.Connection:
  """A read-only connection to <workdir>/study.db, checked readable.

  Raises:
    FileNotFoundError: there is no study.db.
    store.StoreUnreadable: it is not a readable SQLite database (empty, truncated, corrupt).
  """
  path = os.path.join(workdir, store_lib.DATABASE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} does not exist; --workdir must be a directory written by "
                            "`compare_gan sweep`.")
  store_lib.check_not_empty(path)
  uri = pathlib.Path(path).resolve().as_uri() + "?mode=ro"
  conn = sqlite3.connect(uri, uri=True, timeout=30.0)
  try:
    store_lib.check_readable(conn, path)
  except BaseException:
    conn.close()
    raise
  return conn


def _select(conn: sqlite3.Connection, table: str, columns: Sequence[str],
            order: str) -> pd.DataFrame:
  try:
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}").fetchall()
  except sqlite3.OperationalError as e:
    raise ValueError(f"study.db is not a compare_gan study database ({e}).") from e
  return pd.DataFrame(rows, columns=list(columns))


def load(workdir: str) -> Tuple[pd.DataFrame, pd.DataFrame]:
  """(trials, results) of <workdir>/study.db as DataFrames with the columns of its tables.

  trials: one row per trial in id order; `labels` and `params` are parsed from JSON to dicts.
  results: one row per (trial_id, step, metric), sorted by trial and step.
  """
  conn = connect(workdir)
  try:
    conn.execute("BEGIN")  # One snapshot for both tables while a driver writes.
    trials = _select(conn, "trials", store_lib.TRIAL_COLUMNS, "id")
    results = _select(conn, "results", store_lib.RESULT_COLUMNS, "trial_id, step, metric")
    conn.execute("ROLLBACK")
  finally:
    conn.close()
  for column in ("labels", "params"):
    trials[column] = [json.loads(text) if text else {} for text in trials[column]]
  for column in ("objective", "seconds"):
    trials[column] = trials[column].astype(float)
  results["value"] = results["value"].astype(float)
  return trials, results


def read_meta(workdir: str) -> Dict[str, str]:
  """The `meta` table of <workdir>/study.db as a dict (study_name, study_text, ...)."""
  conn = connect(workdir)
  try:
    return dict(_select(conn, "meta", ("key", "value"), "key").itertuples(index=False))
  finally:
    conn.close()


def read_objective(workdir: str) -> Tuple[str, str]:
  """(metric, mode) of the study's objective, as the sweep stored it in <workdir>/study.db.

  Raises:
    FileNotFoundError: no study.db.
    ValueError: study.db has no objective recorded, or an unknown mode.
  """
  metric, mode = store_lib.stored_objective(read_meta(workdir))
  if mode not in study_lib.MODES:
    raise ValueError(f"objective_mode = {mode!r} in study.db; valid: "
                     f"{', '.join(study_lib.MODES)}.")
  return metric, mode


def search_trials(trials: pd.DataFrame) -> pd.DataFrame:
  """The rows of `trials` (from `load` or `with_values`) that belong to the search: all but
  the re-runs (source `study.RERUN`), in order, index kept.

  A re-run trains a setting's best point again with a new seed once its search is over. It
  is no draw from the setting's search distribution (the point was chosen for being the
  best), so counting it would bias every search statistic towards that point: the best per
  setting, the counts and the median, the top 5%, the budget curve and the significance
  tests all read these rows only.
  """
  return trials[trials["source"] != study_lib.RERUN]


def setting_name(labels: Dict[str, str]) -> str:
  """"loss=ns, penalty=gp" for a setting's axis labels; "default" without axes."""
  return ", ".join(f"{axis}={value}" for axis, value in labels.items()) or "default"


def with_values(trials: pd.DataFrame, results: pd.DataFrame, metric: str, mode: str,
                objective: Tuple[str, str]) -> pd.DataFrame:
  """trials plus `value` and `value_step`: the study's objective when (metric, mode) is it,
  else the best (by mode) finite 'ok' value of `metric` over a trial's steps in `results`.
  NaN for trials that are not done or have no value."""
  if mode not in study_lib.MODES:
    raise ValueError(f"mode {mode!r}; valid: {', '.join(study_lib.MODES)}.")
  out = trials.copy()
  if (metric, mode) == tuple(objective):
    out["value"], out["value_step"] = out["objective"], out["objective_step"]
  else:
    rows = results[(results["metric"] == metric) & np.isfinite(results["value"])
                   & (results["status"].isna() | (results["status"] == "ok"))]
    rows = rows.sort_values(["trial_id", "step"], kind="stable")
    grouped = rows.groupby("trial_id")["value"]
    best = rows.loc[best_index(grouped, mode)]
    best = best.set_index("trial_id")
    out["value"] = out["id"].map(best["value"])
    out["value_step"] = out["id"].map(best["step"])
  done = (out["status"] == "done") & np.isfinite(out["value"].astype(float))
  out["value"] = out["value"].astype(float).where(done)
  out["value_step"] = out["value_step"].where(done).astype("Int64")
  return out


def best_index(values: Any, mode: str) -> Any:
  """The index label of the best of `values`, a Series (NaN skipped; the first of ties), by
  `mode`; of a grouped Series, one label per group."""
  return values.idxmin() if mode == "min" else values.idxmax()


def metrics_in(results: pd.DataFrame) -> List[str]:
  """The metric names in a results table (from `load`), sorted."""
  return sorted(results["metric"].unique())


# ---------------------------------------------------------------------------------------------
# Tables.

def _axes_and_params(trials: pd.DataFrame, reserved: Sequence[str]) -> Tuple[List[str], Dict]:
  """Axis names and parameter name -> column name of a frame with `labels` and `params` (dicts)
  columns, in order of first appearance; a parameter whose name clashes with an axis or a
  `reserved` column gets the prefix `param_`."""
  axes = list(dict.fromkeys(a for labels in trials["labels"] for a in labels))
  names = dict.fromkeys(p for params in trials["params"] for p in params)
  taken = set(axes) | set(reserved)
  return axes, {p: (f"param_{p}" if p in taken else p) for p in names}


def label_and_param_columns(trials: pd.DataFrame, reserved: Sequence[str]) -> Dict[str, list]:
  """{column: values} of each axis label, then each parameter, of a frame with `labels` and
  `params` (dicts) columns (named by `_axes_and_params`; None where a row has none)."""
  axes, params = _axes_and_params(trials, reserved)
  out = {axis: [labels.get(axis) for labels in trials["labels"]] for axis in axes}
  out.update({column: [p.get(name) for p in trials["params"]] for name, column in params.items()})
  return out


def best_models(trials: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
  """One row per setting (best first; settings without a finished trial last): axis labels,
  best `metric`, its step, trial id, seed and params, counts done / failed / diverged /
  pending (pending or running), and the median `metric` of the done trials.
  `trials` comes from `with_values`; re-runs are left out of every column, the counts too
  (`search_trials`).
  """
  fixed = [metric, "step", "trial", "seed", *COUNTED, "pending", f"median_{metric}"]
  trials = search_trials(trials)
  axes, params = _axes_and_params(trials, fixed)
  rows = []
  for _, group in trials.groupby("setting", sort=False):
    row = dict(group["labels"].iloc[0])
    values = group["value"].dropna()
    if len(values):
      best = group.loc[best_index(values, mode)]
      row.update({metric: best["value"], "step": best["value_step"], "trial": best["id"],
                  "seed": best["seed"]})
      row.update({column: best["params"].get(name) for name, column in params.items()})
    else:
      row.update({metric: math.nan, "step": pd.NA, "trial": pd.NA, "seed": pd.NA})
    for status in COUNTED:
      row[status] = int((group["status"] == status).sum())
    row["pending"] = int(group["status"].isin(("pending", "running")).sum())
    row[f"median_{metric}"] = float(values.median()) if len(values) else math.nan
    rows.append(row)
  table = pd.DataFrame(rows, columns=axes + fixed[:4] + list(params.values()) + fixed[4:])
  for column in ("step", "trial", "seed"):
    table[column] = table[column].astype("Int64")
  key = table[metric] if mode == "min" else -table[metric]
  return table.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def trials_table(trials: pd.DataFrame, metric: str, objective: Tuple[str, str],
                 mode: str) -> pd.DataFrame:
  """Every trial, labels and params flattened into columns; when (metric, mode) is not the
  study's objective, also the columns `metric` and `<metric>_step` (from `with_values`)."""
  fixed = ["id", "setting", "seed", "source", "status", "objective", "objective_step"]
  extra = [] if (metric, mode) == tuple(objective) else [metric, f"{metric}_step"]
  tail = ["seconds", "attempts", "host", "created", "started", "finished", "error", "run_dir"]
  out = trials[fixed[:2]].copy()
  for column, values in label_and_param_columns(trials, fixed + extra + tail).items():
    out[column] = values
  for column in fixed[2:]:
    out[column] = trials[column]
  if extra:
    out[metric], out[f"{metric}_step"] = trials["value"], trials["value_step"]
  for column in tail:
    out[column] = trials[column]
  out["objective_step"] = out["objective_step"].astype("Int64")
  return out


# ---------------------------------------------------------------------------------------------
# Expected best after k trials.

def top_values(values: Sequence[float], mode: str, percent: int = 5) -> np.ndarray:
  """The best `percent`% (rounded up, at least one) of `values`, best first."""
  ordered = np.sort(np.asarray(values, dtype=float))
  ordered = ordered if mode == "min" else ordered[::-1]
  return ordered[:max(1, (len(ordered) * percent + 99) // 100)]


def expected_best(values: Sequence[float], mode: str) -> np.ndarray:
  """E[best of k drawn without replacement] for k = 1..m (entry k-1), exactly.

  With v_1, ..., v_m sorted best first, P(best of k = v_i) = C(m-i, k-1) / C(m, k). The
  weights come from the ratio w_{i+1} / w_i = (m-i-k+1) / (m-i), w_1 = k / m, which stays in
  [0, 1] and so never overflows (C(m, k) does in floating point for m ~ 1000).
  """
  v = np.sort(np.asarray(values, dtype=float))
  v = v if mode == "min" else v[::-1]
  m = len(v)
  i = np.arange(1, m)
  out = np.empty(m)
  for k in range(1, m + 1):
    ratios = np.clip((m - i - k + 1) / (m - i), 0.0, None)
    weights = (k / m) * np.concatenate([[1.0], np.cumprod(ratios)])
    out[k - 1] = weights @ v
  return out


def bootstrap_best(values: Sequence[float], mode: str, samples: int = 1000,
                   seed: Union[int, Sequence[int]] = 0) -> np.ndarray:
  """[samples, m] array: column k-1 holds the best of `samples` random k-subsets (without
  replacement). Row b takes the first k of one random permutation, so each column is a sample
  of uniformly random k-subsets; all k come from one sort of [samples, m] random keys."""
  v = np.asarray(values, dtype=float)
  rng = np.random.default_rng(seed)
  order = np.argsort(rng.random((samples, len(v))), axis=1)
  running = np.minimum.accumulate if mode == "min" else np.maximum.accumulate
  return running(v[order], axis=1)


def budget_table(trials: pd.DataFrame, metric: str, mode: str, samples: int = 1000,
                 seed: int = 0) -> pd.DataFrame:
  """Per setting with finished trials and k = 1..m: the exact expected best `metric` after k
  trials, the bootstrap mean, and the 95% band (percentiles 2.5 / 97.5 of `samples` seeded
  k-subsets; the seed of a setting derives from `seed` and its key, so adding a setting does
  not change another's band). `trials` comes from `with_values`; m counts the finished
  search trials (re-runs are left out: `search_trials`)."""
  columns = ["setting", "name", "k", "n_trials", "expected_best", "bootstrap_mean", "lower",
             "upper"]
  parts = []
  for key, group in search_trials(trials).groupby("setting", sort=False):
    values = group["value"].dropna().to_numpy()
    if not len(values):
      continue
    best = bootstrap_best(values, mode, samples, seed=[seed, zlib.crc32(key.encode())])
    lower, upper = np.percentile(best, [2.5, 97.5], axis=0)
    parts.append(pd.DataFrame({
        "setting": key, "name": setting_name(group["labels"].iloc[0]),
        "k": np.arange(1, len(values) + 1), "n_trials": len(values),
        "expected_best": expected_best(values, mode), "bootstrap_mean": best.mean(axis=0),
        "lower": lower, "upper": upper}))
  if not parts:
    return pd.DataFrame(columns=columns)
  return pd.concat(parts, ignore_index=True)[columns]


# ---------------------------------------------------------------------------------------------
# Markdown, LaTeX and file names, written here (no tabulate / jinja2).

def file_stem(metric: str) -> str:
  """`metric` as the stem of a report file's name (budget_<stem>.csv, ...): every character
  outside [A-Za-z0-9_.-] becomes '_', so that 'fid/score' names no subdirectory."""
  return re.sub(r"[^A-Za-z0-9_.-]", "_", metric)


def is_missing(value: Any) -> bool:
  """Whether a cell holds no value: None, pd.NA or a float NaN."""
  return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def better_text(mode: str) -> str:
  """'lower is better' for mode 'min', 'higher is better' for 'max' (titles and captions)."""
  return "lower is better" if mode == "min" else "higher is better"


def format_metric(value: Any) -> str:
  """3 decimals for FID-like values (|v| >= 1), 4 significant digits below; '' for NaN."""
  if is_missing(value):
    return ""
  value = float(value)
  return f"{value:.3f}" if abs(value) >= 1 else f"{value:.4g}"


def format_cell(value: Any) -> str:
  """Parameters and counts: ints as ints, floats with 4 significant digits, '' for missing."""
  if value is None or value is pd.NA:
    return ""
  if isinstance(value, (bool, np.bool_, str)):
    return str(value)
  if isinstance(value, (int, np.integer)):
    return str(int(value))
  if isinstance(value, (float, np.floating)):
    return "" if math.isnan(value) else f"{float(value):.4g}"
  return str(value)


def params_text(params: Dict[str, Any]) -> str:
  """A trial's parameters on one line: "learning_rate=0.0002, lambda=10" (`format_cell`)."""
  return ", ".join(f"{name}={format_cell(value)}" for name, value in params.items())


def _cells(table: pd.DataFrame, metric: str) -> Tuple[List[str], List[List[str]], List[bool]]:
  """Header, rows of strings and per-column right-alignment (numbers) for best_models."""
  metric_columns = {metric, f"median_{metric}"}
  # Column by column: a row (iterrows) would upcast a step of 20000 to float in an all-numeric
  # table and print it as 2e+04.
  columns = [[format_metric(v) if c in metric_columns else format_cell(v)
              for v in table[c].tolist()] for c in table]
  rows = [list(row) for row in zip(*columns)]
  numeric = [all(isinstance(v, (int, float, np.number)) or v is None or v is pd.NA
                 for v in table[c].tolist()) for c in table]
  return [str(c) for c in table.columns], rows, numeric


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   right: Sequence[bool]) -> str:
  """A GitHub-flavoured markdown table of strings: `right[j]` right-aligns column j; a '|' in
  a cell is escaped, an empty cell shows as '-'."""
  def line(cells):
    return "| " + " | ".join(c.replace("|", "\\|") or "-" for c in cells) + " |"
  rule = "|" + "|".join("---:" if r else "---" for r in right) + "|"
  return "\n".join([line(header), rule] + [line(r) for r in rows]) + "\n"


def to_markdown(table: pd.DataFrame, metric: str) -> str:
  """A GitHub-flavoured markdown table of `best_models`; missing values as '-'."""
  return markdown_table(*_cells(table, metric))


# Characters that LaTeX text mode does not print as themselves. In the default OT1 font
# encoding '|' comes out as an em dash, '<' and '>' as inverted exclamation and question marks.
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "|": r"\textbar{}", "<": r"\textless{}",
                  ">": r"\textgreater{}"}
_LATEX_PATTERN = re.compile("[" + re.escape("".join(_LATEX_SPECIAL)) + "]")


def latex_escape(text: str) -> str:
  """`text` with LaTeX's special characters escaped, for a tabular cell."""
  return _LATEX_PATTERN.sub(lambda m: _LATEX_SPECIAL[m.group()], text)


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                right: Sequence[bool]) -> str:
  """A booktabs tabular of strings (needs \\usepackage{booktabs}): `right[j]` right-aligns
  column j; cells are escaped (`latex_escape`), an empty one shows as '--'."""
  def line(cells):
    return " & ".join(latex_escape(c) or "--" for c in cells) + r" \\"
  spec = "".join("r" if r else "l" for r in right)
  return "\n".join([r"% Written by the compare-gan report command; needs \usepackage{booktabs}.",
                    rf"\begin{{tabular}}{{{spec}}}", r"\toprule", line(header), r"\midrule"]
                   + [line(r) for r in rows] + [r"\bottomrule", r"\end{tabular}"]) + "\n"


def to_latex(table: pd.DataFrame, metric: str) -> str:
  """A booktabs tabular of `best_models` (needs \\usepackage{booktabs}); missing values '--'."""
  return latex_table(*_cells(table, metric))
