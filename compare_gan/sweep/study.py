"""Studies: what a sweep trains (DESIGN section 7), as `study_file.load_study` builds them.

A study crosses its axes into settings (the GAN Landscape's loss x penalty x normalization x
architecture cells); each setting has its bindings, a search space and grid points. A trial is
one point of one setting trained with one seed: `compare_gan train` with the study's base
configs and `Study.trial_bindings(setting, point, seed)`, scored by the study's `Objective`.

Reruns (`Study.reruns`, `Study.rerun_top`): once a setting's search is over, its `rerun_top`
best points are trained again with `reruns` new seeds each (`Study.rerun_seeds`), as the
papers retrained their best models to measure the spread over seeds. "Are GANs Created
Equal?" (Lucic et al. 2018, phase 3 of v1's generate_tasks_lib) took each model's best
phase-1 configuration (trained with seed 0) and trained it again with seeds 0..49: 50 runs
per model; here `study.seeds = [0]` with `study.reruns = 49` gives the same 50 seeds. The
GAN Landscape's best-model tables (Kurach et al. 2019, v2's generate_tasks_lib) give one seed
per row; the reference notes record no rerun count for that paper. Rerun trials are recorded
with source `RERUN`.

This module is the model only: plain dataclasses, no gin, no TensorFlow, so the sweepers, the
driver and the report use it without parsing anything. Reading and checking a study file is
`study_file.py`.
"""

import dataclasses
import hashlib
import math
import re
from typing import Any, Dict, List, Optional, Tuple

from compare_gan.sweep import space as space_lib

SCHEDULES = ("train_and_eval", "eval_after_train")  # The runner's schedules that evaluate.
MODES = ("min", "max")
REDUCES = ("best", "last")
SEED_BINDING = "train.seed"
RERUN = "rerun"  # The trials table's `source` of a rerun trial (sweepers give the others).


def fingerprint(text: str) -> str:
  """The SHA-256 (hex) of a canonical config text: a study's `Study.text`, or a trial's
  parsed config (`study_file.trial_fingerprint`)."""
  return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclasses.dataclass
class Setting:
  """One cell of the study's axes: the bindings its axis values set, and what to sweep.

  Attributes:
    key: stable id, axes in file order: "loss=ns,penalty=gp" ("default" without axes).
    labels: axis -> value name.
    bindings: gin bindings the axis values set.
    space: search-space dimensions (may be empty).
    grid: fixed points, parameter -> value (may be empty: no grid).
  """
  key: str
  labels: Dict[str, str]
  bindings: List[str]
  space: List[space_lib.Dimension]
  grid: List[Dict[str, Any]]


@dataclasses.dataclass
class Objective:
  """What a trial scores: `metric` over its evaluated checkpoints, the best one ('best') or
  the newest ('last'); lower is better for mode 'min' (FID, KID, SWD), higher for 'max'."""
  metric: str = "fid_score"
  mode: str = "min"
  reduce: str = "best"

  def __post_init__(self):
    if not isinstance(self.metric, str) or not self.metric:
      raise ValueError(f"study.objective must be a metric name such as 'fid_score'; got "
                       f"{self.metric!r}.")
    if self.mode not in MODES:
      raise ValueError(f"study.mode {self.mode!r} is unknown; valid: {', '.join(MODES)}.")
    if self.reduce not in REDUCES:
      raise ValueError(f"study.reduce {self.reduce!r} is unknown; valid: "
                       f"{', '.join(REDUCES)}.")

  def from_records(self, records: List[dict]) -> Tuple[Optional[float], Optional[int]]:
    """(value, step) from a trial's metrics.jsonl records: the newest record per (step,
    metric) counts, only status 'ok' with a finite value; (None, None) when there is none.
    Ties go to the earliest step."""
    newest = {}
    for r in records:
      if r.get("metric") == self.metric and "step" in r:
        newest[int(r["step"])] = r  # File order: a later line re-evaluated the step.
    valid = []
    for step, r in sorted(newest.items()):
      value = r.get("value")
      if r.get("status") == "ok" and isinstance(value, (int, float)) and math.isfinite(value):
        valid.append((float(value), step))
    if not valid:
      return None, None
    if self.reduce == "last":
      return valid[-1]
    best = valid[0]
    for candidate in valid[1:]:
      if self.better(candidate[0], best[0]):
        best = candidate
    return best

  def better(self, a: Optional[float], b: Optional[float]) -> bool:
    """Whether objective value `a` is strictly better than `b` (None is worse than any)."""
    if a is None:
      return False
    if b is None:
      return True
    return a < b if self.mode == "min" else a > b


def format_value(value: Any) -> str:
  """A parameter value as gin source: repr of plain Python values; a string that starts with
  '@' or '%' is written as is (a gin reference or macro, e.g. '@batch_norm')."""
  value = space_lib.to_python(value)
  if isinstance(value, str) and value[:1] in ("@", "%"):
    return value
  if isinstance(value, (list, tuple)):
    items = [format_value(v) for v in value]
    if isinstance(value, tuple):
      return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return "[" + ", ".join(items) + "]"
  return repr(value)


def _short(name: str) -> str:
  words = [w for w in name.split("_") if w]
  return "".join(w[0] for w in words) if len(words) > 1 else name[:6]


def _short_value(value: Any) -> str:
  value = space_lib.to_python(value)
  if isinstance(value, float):
    text = f"{value:.3g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + m.group(1).replace("+", "") + m.group(2),
                  text)
  return str(value).lstrip("@%")


@dataclasses.dataclass
class Study:
  """A parsed, validated study (module docstring); `study_file.load_study` builds it.

  Its identity is `text`: `spec_text` (the study's `study.*` bindings as gin parsed them) and
  `configs_text` (every file its trial configs read, base configs and their includes, as gin
  parsed them). Parsed, not raw: comments and layout are not part of it.
  """
  name: str
  path: str
  spec_text: str
  configs_text: str
  base_configs: List[str]
  base_bindings: List[str]
  parameters: Dict[str, List[str]]
  settings: List[Setting]
  sweeper: str
  budget: int
  seeds: List[int]
  objective: Objective
  schedule: str
  eval_every_steps: Optional[int]
  failure_value: Optional[float]
  trial_timeout_s: Optional[float]
  reruns: int = 0
  rerun_top: int = 1

  @property
  def rerun_seeds(self) -> List[int]:
    """The seeds of every rerun trial: the `reruns` smallest integers >= 0 that are not in
    `seeds`, so that a rerun never repeats a seed its point was searched with and a resumed
    sweep derives the same ones ([1, 2, 3] for seeds [0] and 3 reruns; [] without reruns)."""
    out, candidate, searched = [], 0, set(self.seeds)
    while len(out) < self.reruns:
      if candidate not in searched:
        out.append(candidate)
      candidate += 1
    return out

  @property
  def text(self) -> str:
    """The canonical text of the study that study.db records and compares on resume."""
    return ("# study.* as parsed (gin.config_str()):\n" + self.spec_text +
            "\n" + self.configs_text)

  @property
  def fingerprint(self) -> str:
    """`fingerprint(self.text)`."""
    return fingerprint(self.text)

  def setting(self, key: str) -> Setting:
    """The setting with this key."""
    for s in self.settings:
      if s.key == key:
        return s
    raise KeyError(f"study {self.name!r} has no setting {key!r}; settings: "
                   f"{', '.join(s.key for s in self.settings)}.")

  def sweeper_seed(self, setting: Setting) -> int:
    """A seed for `setting`'s sweeper, from the study name and the setting key: settings draw
    different points, and a resumed sweep draws the same ones (not Python's salted hash)."""
    digest = hashlib.sha256(f"{self.name}/{setting.key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

  def trial_bindings(self, setting: Setting, params: Dict[str, Any], seed: int) -> List[str]:
    """The gin bindings of one trial, applied after the base configs: base bindings, the
    setting's bindings, every binding of every parameter in `params` (in study.parameters
    order), then `train.seed = seed`.

    Raises:
      ValueError: `params` names a parameter the study does not declare.
    """
    unknown = sorted(set(params) - set(self.parameters))
    if unknown:
      raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; study "
                       f"{self.name!r} declares: {', '.join(self.parameters)}.")
    out = list(self.base_bindings) + list(setting.bindings)
    for name, targets in self.parameters.items():
      if name in params:
        out += [f"{target} = {format_value(params[name])}" for target in targets]
    out.append(f"{SEED_BINDING} = {int(seed)}")
    return out

  def describe(self, setting: Setting, params: Dict[str, Any]) -> str:
    """A short filesystem-safe name for a trial directory: axis values, then abbreviated
    parameters, e.g. "ns-gp-lr0.0002-beta1_0.5-lambda10"."""
    parts = list(setting.labels.values())
    for name in self.parameters:
      if name in params:
        short = _short(name)
        # "beta1_0.5", not "beta10.5".
        parts.append(short + ("_" if short[-1].isdigit() else "") + _short_value(params[name]))
    text = re.sub(r"[^A-Za-z0-9._+-]+", "_", "-".join(parts)).strip("_")
    return text[:80] or "default"
