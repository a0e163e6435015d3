"""The sweep driver's text: parameters in log lines and the end-of-sweep tables.

  summary_table  per setting: search trials by status and the best of them
  reruns_table   per re-run point (study.reruns): its search trial and the spread over seeds

Both read the store; reruns never enter the best trial per setting (compare_gan.sweep.reruns
says why).
"""

import collections
import math
from typing import Any, Dict, List, Optional, Sequence

from compare_gan.sweep import reruns as reruns_lib
from compare_gan.sweep import space as space_lib
from compare_gan.sweep import store as store_lib
from compare_gan.sweep import study as study_lib


def format_params(params: Dict[str, Any]) -> str:
  """`learning_rate=0.0002 beta1=0.5` (floats to 4 significant digits)."""
  return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                  for k, v in params.items())


def best_trials(store: store_lib.Store, settings: Sequence[str],
                objective: study_lib.Objective) -> Dict[str, Any]:
  """setting -> its best search trial by `objective` (a store row with a finite objective;
  reruns left out), or None; of equal values the earliest trial."""
  best: Dict[str, Any] = dict.fromkeys(settings)
  for trial in store.trials("done"):
    if reruns_lib.is_rerun(trial):
      continue
    current = best.get(trial["setting"])
    if objective.better(trial["objective"], None if current is None else current["objective"]):
      best[trial["setting"]] = trial
  return best


def _text_table(rows: List[List[str]]) -> str:
  """Left-aligned columns two spaces apart, a rule of dashes under the header row."""
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def summary_table(store: store_lib.Store, settings: Sequence[str],
                  objective: study_lib.Objective) -> str:
  """A text table: per setting, search trials by status and the best of them by `objective`
  (reruns are in `reruns_table`)."""
  trials = [t for t in store.trials() if not reruns_lib.is_rerun(t)]
  best = best_trials(store, settings, objective)
  rows = [["setting", "done", "failed", "diverged",
           f"best {objective.metric} ({objective.mode})", "step", "trial", "params"]]
  for key in settings:
    statuses = collections.Counter(t["status"] for t in trials if t["setting"] == key)
    b = best[key]
    rows.append([key, str(statuses["done"]), str(statuses["failed"]), str(statuses["diverged"]),
                 "-" if b is None else f"{b['objective']:.6g}",
                 "-" if b is None else str(b["objective_step"]),
                 "-" if b is None else str(b["id"]),
                 "-" if b is None else format_params(b["params"])])
  return _text_table(rows)


def spread(values: Sequence[float]) -> List[Optional[float]]:
  """[mean, sample standard deviation (n - 1), min, max] of `values`; None where undefined
  (everything without values, the deviation below two)."""
  if not values:
    return [None] * 4
  mean = sum(values) / len(values)
  std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
         if len(values) > 1 else None)
  return [mean, std, min(values), max(values)]


def reruns_table(store: store_lib.Store, settings: Sequence[str],
                 objective: study_lib.Objective) -> Optional[str]:
  """A text table of the reruns, None when there are none: per re-run point (settings in
  `settings` order, points best first), the search trial it repeats and its value, its
  reruns (all, done, failed, diverged), and `spread` of the done reruns' objective (the search
  trial left out: it was picked for being the best)."""
  trials = store.trials()
  if not any(reruns_lib.is_rerun(t) for t in trials):
    return None
  rows = [["setting", "trial", f"search {objective.metric}", "reruns", "done", "failed",
           "diverged", "mean", "std", "min", "max", "params"]]
  for key in settings:
    mine = [t for t in trials if t["setting"] == key]
    points = reruns_lib.by_point(mine)
    for original in reruns_lib.originals(mine, objective, len(mine)):
      runs = points.get(space_lib.point_key(original["params"]))
      if not runs:
        continue
      statuses = collections.Counter(t["status"] for t in runs)
      values = [t["objective"] for t in runs
                if t["status"] == "done" and t["objective"] is not None]
      rows.append([key, str(original["id"]), f"{original['objective']:.6g}", str(len(runs)),
                   str(statuses["done"]), str(statuses["failed"]), str(statuses["diverged"])]
                  + ["-" if v is None else f"{v:.6g}" for v in spread(values)]
                  + [format_params(original["params"])])
  return _text_table(rows)
