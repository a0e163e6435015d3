"""Files of the statistics between a sweep's settings: tables, CSV and a heat map.

`write` puts `pairwise` and `intervals` of report/best_of_k.py (P(A's best of k trials beats
B's) with its bootstrap interval and permutation-test verdict; bootstrap intervals of each
setting's best and median) into markdown, CSV and LaTeX, and draws the pairwise probabilities
as a heat map. best_of_k's docstring gives the model and why the verdict is a permutation
test and not the interval. Its public names are re-exported here, so that a caller of the
significance report needs this one module: `significance.pairwise`, `significance.LEVEL`, ...
"""

import math
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from compare_gan import run_dir
from compare_gan.report import tables
# Re-exported (__all__): the statistics this module writes.
from compare_gan.report.best_of_k import (INTERVAL_COLUMNS, KS, LEVEL, MIN_DEALS,
                                          PAIRWISE_COLUMNS, VERDICTS, intervals, pairwise)

__all__ = ["INTERVAL_COLUMNS", "KS", "LEVEL", "MIN_DEALS", "PAIRWISE_COLUMNS", "VERDICTS",
           "intervals", "pairwise", "write"]

_PANELS_UP_TO = 15  # Settings up to which the heat map has a panel per k and numbers in cells.


# ---------------------------------------------------------------------------------------------
# Files: markdown, CSV, LaTeX and the heat map.

def _k_title(k: Optional[int]) -> str:
  return "all trials" if k is None or k is pd.NA else f"k = {int(k)}"


def _probability(p: float) -> str:
  return "" if math.isnan(p) else f"{p:.3f}"


def _cell(p: float, low: float, high: float, verdict: str) -> str:
  """'0.973 [0.931, 1.000] A better' for one pair and k."""
  if math.isnan(p):
    return verdict
  return f"{_probability(p)} [{_probability(low)}, {_probability(high)}] {verdict}"


def _pair_cells(table: pd.DataFrame) -> Tuple[List[str], List[List[str]], List[bool]]:
  """Header, rows and right-alignment of the pairwise table with each pair once (the order in
  which `pairwise` lists it first: the setting with the better best as A), a column per k."""
  ks = list(dict.fromkeys(table["k"].tolist()))
  header = ["A", "B", "n A", "n B"] + [f"P(A better), {_k_title(k)}" for k in ks]
  rows: Dict[Tuple[str, str], List[str]] = {}
  for a, b, name_a, name_b, n_a, n_b, p, low, high, verdict in zip(
      *(table[c].tolist() for c in ("setting_a", "setting_b", "name_a", "name_b", "n_a", "n_b",
                                    "p_a_better", "ci_low", "ci_high", "verdict"))):
    if (b, a) in rows:
      continue
    rows.setdefault((a, b), [name_a, name_b, str(n_a), str(n_b)])
    rows[(a, b)].append(_cell(p, low, high, verdict))
  return header, list(rows.values()), [False, False, True, True] + [False] * len(ks)


def _interval_cells(table: pd.DataFrame,
                    level: float) -> Tuple[List[str], List[List[str]], List[bool]]:
  percent = f"{100 * level:g}%"
  header = ["setting", "n", "best", f"resampled best, {percent}", "median",
            f"median, {percent}"]
  def span(low, high):
    return "" if pd.isna(low) else f"[{tables.format_metric(low)}, {tables.format_metric(high)}]"
  rows = []
  for _, r in table.iterrows():
    rows.append([r["name"], str(r["n"]), tables.format_metric(r["best"]),
                 span(r["best_low"], r["best_high"]), tables.format_metric(r["median"]),
                 span(r["median_low"], r["median_high"])])
  return header, rows, [False, True, True, False, True, False]


def _heat_map(table: pd.DataFrame, metric: str, mode: str, path: str) -> Optional[str]:
  """P(row setting's best of k beats the column's), the cells where the permutation test finds
  a difference marked: one panel per k for up to _PANELS_UP_TO settings, the full budget's
  alone (the last k without one) for more. None when no pair has a probability (fewer than
  two settings with done trials)."""
  if not table["p_a_better"].notna().any():
    return None
  import matplotlib  # Imported only to draw, as plots.py.
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  from compare_gan.report import plots

  keys = list(dict.fromkeys(table["setting_a"].tolist() + table["setting_b"].tolist()))
  names = {key: f"{name} (n={n})" for key, name, n in
           zip(table["setting_a"], table["name_a"], table["n_a"])}
  index = {key: i for i, key in enumerate(keys)}
  ks = list(dict.fromkeys(table["k"].tolist()))
  n = len(keys)
  if n > _PANELS_UP_TO:  # Four big panels take long to draw and are hard to take in.
    ks = [pd.NA] if any(k is pd.NA for k in ks) else ks[-1:]
  ncols = min(2, len(ks))
  nrows = math.ceil(len(ks) / ncols)
  side = max(3.5, (0.32 if n <= _PANELS_UP_TO else 0.2) * n + 1.0)  # Inches: n readable rows.
  label = 0.065 * max(len(names[k]) for k in keys)  # Inches for the longest tick label.
  fig = Figure(figsize=(ncols * (side + label) + 1.2, nrows * (side + label) + 0.8),
               layout="constrained")
  axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
  cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="0.85")
  annotate = n <= _PANELS_UP_TO
  for ax, k in zip(axes, ks):
    rows = table[table["k"].isna() if k is pd.NA else table["k"].eq(k).fillna(False)]
    grid = np.full((n, n), np.nan)
    marked = np.zeros((n, n), dtype=bool)
    for a, b, p, verdict in zip(rows["setting_a"], rows["setting_b"], rows["p_a_better"],
                                rows["verdict"]):
      grid[index[a], index[b]] = p
      marked[index[a], index[b]] = verdict in VERDICTS[:2]  # 'A better', 'B better'.
    image = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0)
    if annotate:
      for i, j in zip(*np.nonzero(~np.isnan(grid))):
        ax.text(j, i, f"{grid[i, j]:.2f}" + ("*" if marked[i, j] else ""), ha="center",
                va="center", fontsize="small",
                color="white" if abs(grid[i, j] - 0.5) > 0.3 else "black")
    else:  # Numbers would not fit: one dot per cell with a difference, one artist in all.
      i, j = np.nonzero(marked)
      ax.scatter(j, i, s=7, facecolor="white", edgecolor="black", linewidths=0.3)
    ax.set_xticks(range(n), [names[key] for key in keys], rotation=90, fontsize="small")
    ax.set_yticks(range(n), [names[key] for key in keys], fontsize="small")
    ax.set_title("each setting's full budget (all its trials)" if k is pd.NA
                 else f"best of k = {int(k)} trials", fontsize="medium")
  for ax in axes[len(ks):]:
    ax.set_visible(False)
  fig.colorbar(image, ax=list(axes[:len(ks)]), shrink=0.8,
               label="P(row setting beats column setting)")
  mark = "*" if annotate else "dot"
  fig.suptitle(f"P(row's best {metric} of k trials beats column's) ({tables.better_text(mode)}); "
               f"{mark}: permutation test p < {1 - LEVEL:.2f}")
  FigureCanvasAgg(fig)
  fig.savefig(path, dpi=plots.DPI)
  return path


def write(trials: pd.DataFrame, metric: str, mode: str, out_dir: str, *, samples: int = 1000,
          seed: int = 0, draw: bool = True) -> Dict[str, object]:
  """Writes the statistics between settings of `metric` under out_dir (created if missing):

    significance_<stem>.csv       `pairwise`, every ordered pair and k (k blank: full budget)
    significance_<stem>.md / .tex each pair once, one column per k: P(A better) [95%] verdict
    intervals_<stem>.csv / .md    `intervals` at level 0.95
    significance_<stem>.png       (draw, two settings with done trials or more) heat map of
                                  P(row beats column), one panel per k (above 15 settings,
                                  the full budget's alone)

  <stem> is `tables.file_stem(metric)`. Files of these names are overwritten; nothing else is
  touched. `trials` comes from `tables.with_values`; re-runs are left out (`pairwise`), and
  settings without a done trial show as NaN / 'not enough trials'. Returns {'files': paths
  written, 'markdown': both tables with their explanations, '#' headings}.
  """
  pairs = pairwise(trials, mode, samples=samples, seed=seed)
  spans = intervals(trials, mode, samples=samples, seed=seed, level=LEVEL)
  stem = tables.file_stem(metric)
  os.makedirs(out_dir, exist_ok=True)
  files = []

  def save(name: str, text: str) -> None:
    files.append(os.path.join(out_dir, name))
    run_dir.write_atomically(files[-1], text)

  interval_md = (
      f"# {metric} per setting, with 95% bootstrap intervals\n\n"
      f"Done search trials only (re-runs left out), {tables.better_text(mode)}; {samples} "
      "two-stage resamples (points, then seeds). The resampled best is the spread of the best "
      "over resampled searches: its better end is the observed best by construction, so it "
      "does not bound how good the setting can be.\n\n"
      + tables.markdown_table(*_interval_cells(spans, LEVEL)))
  if pairs.empty:
    pair_md = (f"# Pairwise comparison of settings\n\nNo pair to compare: {len(spans)} "
               "setting(s).\n")
  else:
    pair_md = (
        "# Pairwise comparison of settings\n\n"
        f"P(A better): the probability that the best {metric} of k trials drawn from A beats "
        "that of k trials drawn from B (ties half; 'all trials': each setting's own count), "
        f"with its 95% bootstrap interval over {samples} resamples. The verdict is a two-sided "
        "permutation test of the two settings' points at 5%, not the interval (too narrow at "
        "large k). Each pair is "
        "listed once: P(B better) = 1 - P(A better). Every pair is tested on its own: among "
        "many equally good settings about 5% of the pairs still read 'better'.\n\n"
        + tables.markdown_table(*_pair_cells(pairs)))
  save(f"significance_{stem}.csv", pairs.to_csv(index=False))
  save(f"significance_{stem}.md", pair_md)
  save(f"significance_{stem}.tex", tables.latex_table(*_pair_cells(pairs)))
  save(f"intervals_{stem}.csv", spans.to_csv(index=False))
  save(f"intervals_{stem}.md", interval_md)
  if draw:
    path = _heat_map(pairs, metric, mode, os.path.join(out_dir, f"significance_{stem}.png"))
    if path:
      files.append(path)
  return {"files": files, "markdown": interval_md + "\n" + pair_md}
