"""The seed spread of re-run points: the papers' best models trained again with new seeds.

A sweep with `study.reruns = N` trains each setting's `study.rerun_top` best points again with
N new seeds once the setting's search is over (trials with source 'rerun' in study.db; see
compare_gan.sweep.driver), as "Are GANs Created Equal?" (Lucic et al. 2018) retrained each
model's best configuration with 50 seeds. `seed_spread` gives, per re-run point, the mean,
sample standard deviation (n - 1), min and max of the metric over the rerun seeds, beside the
value of the search trial it repeats. That search trial is left out of the statistics: it was
picked for being the best, so its value is biased towards good luck.

  reruns_<metric>.md / .csv    one row per re-run point (`write`; nothing without reruns)
"""

import math
import os
from typing import Any, Dict, List

import numpy as np
import pandas as pd

from compare_gan import run_dir
from compare_gan.report import tables
from compare_gan.sweep import space as space_lib
from compare_gan.sweep import study as study_lib

COLUMNS = ["setting", "name", "labels", "params", "trial", "search_value", "n_reruns",
           "n_seeds", "mean", "std", "min", "max", "values"]


def _better(a: float, b: float, mode: str) -> bool:
  if math.isnan(a):
    return False
  if math.isnan(b):
    return True
  return a < b if mode == "min" else a > b


def seed_spread(trials: pd.DataFrame, mode: str) -> pd.DataFrame:
  """One row per re-run point (setting, params) of a sweep.

  Args:
    trials: `tables.with_values(...)`: columns id, setting, labels, params (dict), seed,
      source, status, value (NaN unless the trial is done with a finite value).
    mode: 'min' or 'max', the direction of `value`.

  Returns:
    Columns COLUMNS: the setting key and its name ("loss=ns, penalty=gp"), labels and params
    (dicts), `trial` (the original: the point's search trial with the best value, the earlier
    on ties), `search_value` (its value), `n_reruns` (rerun trials of the point, whatever
    their status), `n_seeds` (those with a value), the `mean`, sample `std` (ddof 1; NaN
    below 2 seeds), `min` and `max` of their values, and `values` ({seed: value}, NaN for a
    rerun without a value). Settings in order of appearance, points best search value first.
    Empty (with these columns) when there are no reruns.
  """
  if mode not in study_lib.MODES:
    raise ValueError(f"mode {mode!r}; valid: {', '.join(study_lib.MODES)}.")
  trials = trials.sort_values("id", kind="stable")  # Ties go to the earlier trial.
  is_rerun = trials["source"] == study_lib.RERUN
  if not is_rerun.any():
    return pd.DataFrame(columns=COLUMNS)
  keys = [(setting, space_lib.point_key(params))
          for setting, params in zip(trials["setting"], trials["params"])]
  search: Dict[Any, Any] = {}  # (setting, point) -> the original trial's row
  for key, rerun, (_, row) in zip(keys, is_rerun, trials.iterrows()):
    if rerun:
      continue
    current = search.get(key)
    if current is None or _better(float(row["value"]), float(current["value"]), mode):
      search[key] = row
  points: Dict[Any, List[Any]] = {}
  for key, rerun, (_, row) in zip(keys, is_rerun, trials.iterrows()):
    if rerun:
      points.setdefault(key, []).append(row)
  rows = []
  for key, runs in points.items():
    original = search.get(key)
    runs = sorted(runs, key=lambda r: (int(r["seed"]), int(r["id"])))
    values = {int(r["seed"]): float(r["value"]) for r in runs}
    finite = np.array([v for v in values.values() if not math.isnan(v)])
    rows.append({
        "setting": key[0], "name": tables.setting_name(runs[0]["labels"]),
        "labels": dict(runs[0]["labels"]), "params": dict(runs[0]["params"]),
        "trial": pd.NA if original is None else int(original["id"]),
        "search_value": math.nan if original is None else float(original["value"]),
        "n_reruns": len(runs), "n_seeds": len(finite),
        "mean": float(finite.mean()) if len(finite) else math.nan,
        "std": float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
        "min": float(finite.min()) if len(finite) else math.nan,
        "max": float(finite.max()) if len(finite) else math.nan,
        "values": values})
  out = pd.DataFrame(rows, columns=COLUMNS)
  order = {s: i for i, s in enumerate(dict.fromkeys(trials["setting"]))}
  sign = 1.0 if mode == "min" else -1.0
  rank = [(order[s], math.isnan(v), sign * v if not math.isnan(v) else 0.0,
           math.inf if t is pd.NA else t)
          for s, v, t in zip(out["setting"], out["search_value"], out["trial"])]
  out = out.iloc[sorted(range(len(out)), key=rank.__getitem__)].reset_index(drop=True)
  out["trial"] = out["trial"].astype("Int64")
  return out


def _csv_frame(spread: pd.DataFrame) -> pd.DataFrame:
  """The spread with labels and params as columns (a parameter named like another column gets
  the prefix 'param_') and one column `seed_<s>` per rerun seed."""
  fixed = ["setting", "trial", "search_value", "n_reruns", "n_seeds", "mean", "std", "min",
           "max"]
  seeds = sorted({s for values in spread["values"] for s in values})
  out = pd.DataFrame({"setting": spread["setting"]})
  for column, values in tables.label_and_param_columns(spread, fixed).items():
    out[column] = values
  for column in fixed[1:]:
    out[column] = spread[column]
  for seed in seeds:
    out[f"seed_{seed}"] = [values.get(seed, math.nan) for values in spread["values"]]
  return out


def to_markdown(spread: pd.DataFrame, metric: str) -> str:
  """A GitHub-flavoured markdown table of `seed_spread` (missing values as '-')."""
  header = ["setting", "params", "trial", f"search {metric}", "seeds", f"mean {metric}",
            "std", "min", "max", "per seed"]
  rows = []
  for _, r in spread.iterrows():
    params = tables.params_text(r["params"])
    per_seed = ", ".join(f"{seed}: {tables.format_metric(v) or 'n/a'}"
                         for seed, v in r["values"].items())
    rows.append([r["name"], params, tables.format_cell(r["trial"]),
                 tables.format_metric(r["search_value"]), f"{r['n_seeds']}/{r['n_reruns']}"]
                + [tables.format_metric(r[c]) for c in ("mean", "std", "min", "max")]
                + [per_seed])
  return tables.markdown_table(header, rows, [False, False] + [True] * 7 + [False])


def write(trials: pd.DataFrame, metric: str, mode: str, out_dir: str) -> Dict[str, Any]:
  """Writes reruns_<stem>.md and reruns_<stem>.csv under `out_dir` (stem:
  `tables.file_stem(metric)`), or nothing when `trials` has no rerun.

  Args:
    trials: `tables.with_values(...)` for `metric` and `mode`.
    metric: the metric name `value` holds (table headers and file names).
    mode: 'min' or 'max'.
    out_dir: the report directory (created when absent and something is written).

  Returns:
    {'files': paths written ([] without reruns), 'markdown': the table ('' without reruns)}.
  """
  spread = seed_spread(trials, mode)
  if spread.empty:
    return {"files": [], "markdown": ""}
  stem = tables.file_stem(metric)
  os.makedirs(out_dir, exist_ok=True)
  markdown = to_markdown(spread, metric)
  files = []
  for name, text in ((f"reruns_{stem}.md", markdown),
                     (f"reruns_{stem}.csv", _csv_frame(spread).to_csv(index=False))):
    files.append(os.path.join(out_dir, name))
    run_dir.write_atomically(files[-1], text)
  return {"files": files, "markdown": markdown}
