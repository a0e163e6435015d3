"""Reruns (`study.reruns`): which points of a setting to train again, and with which seeds.

Once a setting's search is over (`search_over`: its sweeper has handed out everything and none
of its search trials is pending or running), its `study.rerun_top` best points are trained
again with `study.reruns` new seeds each (`Study.rerun_seeds`, never one of `study.seeds`), as
the papers retrained their best models (study.py cites them). The driver stores them as trials
with source 'rerun' (`study.RERUN`).

A point's rank is the objective of its best done search trial (ties: the earlier trial); that
trial is the point's "original" (`originals`). The choice reads only finished search trials,
which never change, so a driver resumed at any moment computes the same reruns and stores only
the ones missing (`missing`), never a second set.

The search is over when reruns start, and they stay out of it: the driver never tells them to
the sweeper (a GP whose proposals are all handed out would only be refitted for nothing, and a
replay must not change what the search saw), never counts them in the penalty of failed search
trials, and leaves them out of the best trial per setting (the best of more seeds would flatter
a point); the summary and the report give their spread instead.
"""

from typing import Any, Dict, List, Sequence, Tuple

from compare_gan.sweep import space as space_lib
from compare_gan.sweep import study as study_lib

_UNFINISHED = ("pending", "running")  # store.STATUSES not in store.FINISHED


def is_rerun(trial: Dict[str, Any]) -> bool:
  """Whether a store row is a rerun trial, not a trial of the search."""
  return trial["source"] == study_lib.RERUN


def search_over(trials: Sequence[Dict[str, Any]]) -> bool:
  """Whether none of a setting's search trials (store rows of one setting) is pending or
  running; the caller checks that its sweeper is exhausted."""
  return not any(t["status"] in _UNFINISHED for t in trials if not is_rerun(t))


def originals(trials: Sequence[Dict[str, Any]], objective: study_lib.Objective,
              top: int) -> List[Dict[str, Any]]:
  """The `top` best points of one setting's search, best first, each as its best done search
  trial (store rows; reruns and trials without a finite objective are ignored). Points are
  compared by that trial's objective, ties broken by the earlier trial id."""
  best: Dict[Tuple, Dict[str, Any]] = {}
  for trial in sorted(trials, key=lambda t: t["id"]):
    if is_rerun(trial) or trial["status"] != "done" or trial["objective"] is None:
      continue
    key = space_lib.point_key(trial["params"])
    if key not in best or objective.better(trial["objective"], best[key]["objective"]):
      best[key] = trial
  sign = 1.0 if objective.mode == "min" else -1.0
  return sorted(best.values(), key=lambda t: (sign * t["objective"], t["id"]))[:top]


def missing(study: study_lib.Study,
            trials: Sequence[Dict[str, Any]]) -> List[Tuple[Dict[str, Any], int]]:
  """(original trial, seed) of every rerun of one setting (its store rows) that the store
  lacks, in rank and seed order; [] without reruns or before the setting has a done trial."""
  stored = {(space_lib.point_key(t["params"]), t["seed"]) for t in trials if is_rerun(t)}
  return [(original, seed)
          for original in originals(trials, study.objective, study.rerun_top)
          for seed in study.rerun_seeds
          if (space_lib.point_key(original["params"]), seed) not in stored]


def by_point(trials: Sequence[Dict[str, Any]]) -> Dict[Tuple, List[Dict[str, Any]]]:
  """A setting's rerun trials grouped by point (`space.point_key` of their params)."""
  out: Dict[Tuple, List[Dict[str, Any]]] = {}
  for t in trials:
    if is_rerun(t):
      out.setdefault(space_lib.point_key(t["params"]), []).append(t)
  return out
