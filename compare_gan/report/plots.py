"""PNG plots of a sweep, in the GAN Landscape paper's style (Kurach et al. 2019, figures 1-4).

  top5_<metric>.png    per setting, box plot and points of the best 5% trials, sorted by median
  budget_<metric>.png  expected best value after k trials, one line per setting, 95% band;
                       the k axis has integer ticks only (it counts trials)
  curves_<metric>.png  the metric against the training step, one panel per setting, one line
                       per trial, the setting's best trial highlighted

Figures are built on matplotlib's object API with an explicit Agg canvas: no pyplot, no global
backend switch, nothing left open between calls (safe inside a test process or a notebook).
Every function returns the path it wrote, or None when there was nothing to draw.
"""

import inspect
import math
from typing import List, Optional

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from compare_gan.report import tables

DPI = 120
_BEST_COLOR = "tab:red"


def _save(fig: Figure, path: str, outside_legend: bool = False) -> str:
  """Lays the figure out and writes it. bbox_inches="tight" costs one more full draw, so only
  a figure with a legend outside its axes pays for it."""
  FigureCanvasAgg(fig)
  fig.tight_layout()
  fig.savefig(path, dpi=DPI, bbox_inches="tight" if outside_legend else None)
  return path


def _settings(trials: pd.DataFrame) -> List[tuple]:
  """(key, name, done values) per setting, in order of first appearance."""
  return [(key, tables.setting_name(group["labels"].iloc[0]), group["value"].dropna().to_numpy())
          for key, group in trials.groupby("setting", sort=False)]


def _horizontal_boxplot(ax, data, positions) -> None:
  # matplotlib 3.10 replaced `vert=False` with `orientation=`; the project allows >= 3.7.
  kw = ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.boxplot).parameters
        else {"vert": False})
  ax.boxplot(data, positions=positions, widths=0.6, showfliers=False, patch_artist=True,
             boxprops={"facecolor": "#cfe0f3", "edgecolor": "#3b6ea5"},
             medianprops={"color": "#1f3d66", "linewidth": 2}, **kw)


def top_percent_plot(trials: pd.DataFrame, metric: str, mode: str, path: str,
                     percent: int = 5) -> Optional[str]:
  """Box plot (whiskers 1.5 IQR) and points of each setting's best `percent`% trials (at least
  one), the setting with the best median on top. `trials` comes from `tables.with_values`."""
  rows = []
  for _, name, values in _settings(trials):
    if len(values):
      top = tables.top_values(values, mode, percent)
      rows.append((name, top, len(values)))
  if not rows:
    return None
  rows.sort(key=lambda r: np.median(r[1]) if mode == "min" else -np.median(r[1]))
  rows.reverse()  # barh-style: the last position is drawn at the top.
  fig = Figure(figsize=(8, max(2.8, 1.2 + 0.45 * len(rows))))
  ax = fig.add_subplot()
  positions = np.arange(1, len(rows) + 1)
  _horizontal_boxplot(ax, [r[1] for r in rows], positions)
  rng = np.random.default_rng(0)  # Jitter only; fixed so the picture is reproducible.
  for y, (_, top, _) in zip(positions, rows):
    ax.scatter(top, y + rng.uniform(-0.15, 0.15, len(top)), s=14, color="#222222", alpha=0.7,
               zorder=3)
  ax.set_yticks(positions, [f"{name}  (top {len(top)} of {n})" for name, top, n in rows])
  ax.set_xlabel(f"{metric} ({tables.better_text(mode)})")
  ax.set_title(f"Best {percent}% of trials per setting by {metric}")
  ax.grid(axis="x", alpha=0.3)
  return _save(fig, path)


def budget_plot(budget: pd.DataFrame, metric: str, mode: str, path: str) -> Optional[str]:
  """One line per setting: the expected best `metric` after k trials with its 95% bootstrap
  band, the legend ordered by the value at the setting's largest k (best first); x logarithmic
  when a setting has more than 20 trials. `budget` comes from `tables.budget_table`."""
  if budget.empty:
    return None
  fig = Figure(figsize=(8, 5))
  ax = fig.add_subplot()
  groups = [g for _, g in budget.groupby("setting", sort=False)]
  groups.sort(key=lambda g: g["expected_best"].iloc[-1] * (1 if mode == "min" else -1))
  colors = _colors("tab10" if len(groups) <= 10 else "tab20", len(groups))
  alpha = 0.18 if len(groups) <= 4 else 0.07  # Many overlapping bands turn to mud otherwise.
  for color, group in zip(colors, groups):
    k = group["k"].to_numpy()
    ax.fill_between(k, group["lower"], group["upper"], color=color, alpha=alpha, linewidth=0)
    ax.plot(k, group["expected_best"], color=color, linewidth=2, marker="o" if len(k) < 15
            else None, markersize=4, label=f"{group['name'].iloc[0]}  (m={len(k)})")
  k_max = int(budget["k"].max())
  if k_max > 20:
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t <= k_max]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
  else:
    # k counts trials: matplotlib would tick a few trials at 1.25, 1.5, 1.75, ...
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel("number of trials k")
  ax.set_ylabel(f"expected best {metric} after k trials")
  ax.set_title(f"{metric} vs computational budget ({tables.better_text(mode)}; band: 95% of "
               "random k-subsets)")
  ax.grid(alpha=0.3, which="both")
  outside = len(groups) > 4  # Then right of the axes: inside, it would hide the curves.
  ax.legend(fontsize="small", loc="upper left" if outside else "best",
            bbox_to_anchor=(1.01, 1.0) if outside else None)
  return _save(fig, path, outside_legend=outside)


def _colors(cmap_name: str, n: int) -> list:
  cmap = matplotlib.colormaps[cmap_name]
  return [cmap(i % cmap.N) for i in range(n)]


def curves_plot(trials: pd.DataFrame, results: pd.DataFrame, metric: str, mode: str,
                path: str) -> Optional[str]:
  """`metric` against the step: one panel per setting, one thin line per trial (dashed for
  failed / diverged ones), the setting's best trial thick and labelled. Settings without any
  record of `metric` are left out. `trials` comes from `tables.with_values`."""
  rows = results[(results["metric"] == metric) & np.isfinite(results["value"])]
  by_trial = {t: g.sort_values("step") for t, g in rows.groupby("trial_id")}
  panels = []
  for key, name, _ in _settings(trials):
    group = trials[trials["setting"] == key]
    if any(t in by_trial for t in group["id"]):
      panels.append((name, group))
  if not panels:
    return None
  ncols = min(3, len(panels))
  nrows = math.ceil(len(panels) / ncols)
  fig = Figure(figsize=(5 * ncols, 3.6 * nrows))
  axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
  # A log axis only when the finished trials span > 20x; failed ones must not decide it.
  done_ids = trials.loc[trials["status"] == "done", "id"]
  values = rows.loc[rows["trial_id"].isin(done_ids), "value"].to_numpy()
  log_y = len(values) > 0 and values.min() > 0 and values.max() / values.min() > 20
  for ax, (name, group) in zip(axes, panels):
    done = tables.search_trials(group)["value"].dropna()  # A rerun is never the best trial.
    best_id = None
    if len(done):
      best_id = group.loc[tables.best_index(done, mode), "id"]
    for trial_id, status in zip(group["id"], group["status"]):
      if trial_id not in by_trial or trial_id == best_id:
        continue
      curve = by_trial[trial_id]
      ax.plot(curve["step"], curve["value"], color="0.55", alpha=0.6, linewidth=1,
              linestyle="-" if status == "done" else "--", marker=".", markersize=3)
    if best_id is not None and best_id in by_trial:
      curve = by_trial[best_id]
      ax.plot(curve["step"], curve["value"], color=_BEST_COLOR, linewidth=2.2, marker="o",
              markersize=4, zorder=3, label=f"best: trial {best_id}")
      ax.legend(fontsize="small", loc="best")
    ax.set_title(f"{name}  ({len(group)} trials)", fontsize="medium")
    ax.grid(alpha=0.3)
    if log_y:
      ax.set_yscale("log")
  for ax in axes[len(panels):]:
    ax.set_visible(False)
  # Steps are whole numbers too; sharex makes this the locator of every panel.
  axes[0].xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  for i, ax in enumerate(axes[:len(panels)]):
    if i + ncols >= len(panels):  # The lowest panel of its column: it carries the x axis.
      ax.set_xlabel("training step")
      ax.xaxis.set_tick_params(labelbottom=True)
  for ax in axes[::ncols]:
    ax.set_ylabel(metric)
  fig.suptitle(f"{metric} during training ({tables.better_text(mode)}; dashed: failed or diverged)")
  return _save(fig, path)
