"""Sweepers: which points of a setting to train next (DESIGN section 7).

One sweeper serves one setting of a study and speaks ask/tell:

  sweeper = make_sweeper('gp', setting, budget=20, seed=study.sweeper_seed(setting), mode='min')
  for params, source in sweeper.ask(4):   # up to 4 new points for 4 parallel workers
    ...                                   # train each once per seed
  sweeper.tell(params, fid)               # every finished trial, failures with a penalty value

  grid    the setting's grid points, in order, each once.
  random  the grid points first, then `budget` seeded draws from the search space. The draws
          are fixed by the seed, so a resumed sweep proposes what an uninterrupted one would.
  gp      the grid points first (told to the model when they lie in the space), then `budget`
          proposals of scikit-optimize's Bayesian optimizer (Gaussian-process surrogate with a
          Gaussian noise term, so the several seeds of a point are told as separate noisy
          observations; expected-improvement acquisition; the first min(5, budget) random).
          Points handed out but not yet told are "pending": the next ask tells the model the
          best value seen so far at every pending point (the constant liar, CL-min, of
          Ginsbourger et al. 2010), so parallel workers get distinct, spread-out points.
          The GAN Landscape (Kurach et al. 2019) ran this search with Google's Vizier.

On resume the driver `register`s every trial already in the store: it counts against the grid
and the budget (the several seeds of a point count once) and, when finished, is told. Rerun
trials (study.reruns) are neither registered nor told: a setting's search is over before its
reruns start (compare_gan.sweep.reruns).

Proposals never repeat an earlier point of the sweeper; when a finite space (only choice and
int_uniform dimensions) has fewer new points than the budget, the budget shrinks to them.
"""

import math
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from compare_gan.sweep import space as space_lib
from compare_gan.sweep import study as study_lib

_MAX_REDRAWS = 1000  # Draws tried per point for one not proposed before (finite spaces).


class Sweeper:
  """Proposes points for ONE setting: its grid points first, then its budget."""
  source = "grid"  # The source label of budget proposals (subclasses).

  def __init__(self, setting: study_lib.Setting, budget: int, seed: int, mode: str = "min"):
    """A sweeper with nothing handed out yet.

    Args:
      setting: the setting whose grid and space to sweep.
      budget: proposals from the space after the grid (random, gp); ignored by grid.
      seed: seeds every random choice; the same seed gives the same proposals.
      mode: 'min' or 'max', the direction of the objective told.
    """
    if mode not in study_lib.MODES:
      raise ValueError(f"mode {mode!r} is unknown; valid: {', '.join(study_lib.MODES)}.")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
      raise ValueError(f"budget must be an integer >= 0; got {budget!r}.")
    self.setting = setting
    self.budget = budget
    self.seed = int(seed)
    self.mode = mode
    self.dimensions = list(setting.space)
    self._grid = []
    seen = set()
    for point in setting.grid:
      key = space_lib.point_key(point)
      if key not in seen:
        seen.add(key)
        self._grid.append(dict(point))
    self._grid_keys = [space_lib.point_key(p) for p in self._grid]
    self._issued = set()  # keys of every point proposed or registered
    self._pending: Dict[Tuple, Dict[str, Any]] = {}  # handed out, not told yet
    self._budget_used = 0
    self._budget_total = 0
    self.history: List[Tuple[Dict[str, Any], float]] = []  # every (params, value) told

  # --- what subclasses provide -----------------------------------------------------------

  def _propose(self, n: int) -> List[Dict[str, Any]]:
    """n new budget points (n <= budget left), none of them issued before."""
    return []

  def _register_budget(self, key: Tuple, params: Dict[str, Any]) -> None:
    """A budget point found in the store on resume (already counted against the budget)."""

  def _observe(self, params: Dict[str, Any], value: float) -> None:
    """A finished point's objective value (as told, before the mode's sign)."""

  # --- the interface ---------------------------------------------------------------------

  @property
  def exhausted(self) -> bool:
    """Whether every grid point and the whole budget have been handed out (or registered)."""
    return (all(k in self._issued for k in self._grid_keys) and
            self._budget_used >= self._budget_total)

  @property
  def pending(self) -> List[Dict[str, Any]]:
    """Points handed out or registered as pending and not told yet."""
    return [dict(p) for p in self._pending.values()]

  def ask(self, n: int) -> List[Tuple[Dict[str, Any], str]]:
    """Up to `n` new, distinct points with their source ('grid', 'random' or 'gp'): grid
    points not handed out yet first, then budget proposals; [] when exhausted."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
      raise ValueError(f"ask(n) needs an integer n >= 1; got {n!r}.")
    out = []
    for point, key in zip(self._grid, self._grid_keys):
      if len(out) == n:
        break
      if key not in self._issued:
        self._issue(key, point)
        out.append((dict(point), "grid"))
    wanted = min(n - len(out), self._budget_total - self._budget_used)
    if wanted > 0:
      for point in self._propose(wanted):
        key = space_lib.point_key(point)
        if key in self._issued:  # A subclass bug, never a silent repeat.
          raise RuntimeError(f"{type(self).__name__} proposed {point} twice.")
        self._issue(key, point)
        self._budget_used += 1
        out.append((dict(point), self.source))
    return out

  def tell(self, params: Dict[str, Any], value: float) -> None:
    """A finished trial of `params` scored `value` (finite: the driver tells failed and
    diverged trials a penalty value). Every seed of a point is told on its own."""
    value = space_lib.to_python(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
        value):
      raise ValueError(f"tell({params}, {value!r}): the value must be a finite number; tell "
                       "failed or diverged trials the study's failure value.")
    params = {k: space_lib.to_python(v) for k, v in params.items()}
    self._pending.pop(space_lib.point_key(params), None)
    self.history.append((params, float(value)))
    self._observe(params, float(value))

  def register(self, params: Dict[str, Any], source: str, value: Optional[float]) -> None:
    """A trial already in the store when resuming. Its point counts against the grid or the
    budget (once, however many seeds it has) and is never proposed again; `value` None means
    still pending (not told), otherwise it is told."""
    params = {k: space_lib.to_python(v) for k, v in params.items()}
    key = space_lib.point_key(params)
    if key not in self._issued:
      self._issued.add(key)
      if key not in self._grid_keys and source != "grid":
        self._budget_used += 1
        self._register_budget(key, params)
    if value is None:
      self._pending[key] = params
    else:
      self.tell(params, value)

  # --- helpers -----------------------------------------------------------------------------

  def _issue(self, key: Tuple, point: Dict[str, Any]) -> None:
    self._issued.add(key)
    self._pending[key] = dict(point)

  def _space_size(self) -> float:
    size = 1
    for d in self.dimensions:
      size *= d.size()
    return size

  def _in_space(self, params: Dict[str, Any]) -> bool:
    """Whether params is a complete point of the search space (exactly its dimensions)."""
    return (bool(self.dimensions) and set(params) == {d.name for d in self.dimensions}
            and all(d.contains(params[d.name]) for d in self.dimensions))

  def _budget_cap(self) -> int:
    """The budget, shrunk to the number of space points that are not grid points."""
    if not self.dimensions:
      return 0
    size = self._space_size()
    if math.isinf(size):
      return self.budget
    in_space = sum(1 for p in self._grid if self._in_space(p))
    return int(min(self.budget, size - in_space))

  def _sign(self, value: float) -> float:
    return value if self.mode == "min" else -value


class GridSweeper(Sweeper):
  """The setting's grid points in order, each once (the GAN Landscape's fixed grid)."""

  def __init__(self, setting: study_lib.Setting, budget: int, seed: int, mode: str = "min"):
    super().__init__(setting, budget, seed, mode)
    if not self._grid:
      raise ValueError(f"setting {setting.key!r} has no grid points; the grid sweeper needs "
                       "study.grid (or use 'random' or 'gp' with a search space).")


class RandomSweeper(Sweeper):
  """The grid points, then `budget` seeded draws from the space, fixed at construction."""
  source = "random"

  def __init__(self, setting: study_lib.Setting, budget: int, seed: int, mode: str = "min"):
    super().__init__(setting, budget, seed, mode)
    self._budget_total = self._budget_cap()
    rng = np.random.default_rng(self.seed)
    taken = {k for k, p in zip(self._grid_keys, self._grid) if self._in_space(p)}
    self._draws = []
    for _ in range(self._budget_total):
      for _ in range(_MAX_REDRAWS):
        point = {d.name: d.sample(rng) for d in self.dimensions}
        key = space_lib.point_key(point)
        if key not in taken:
          break
      else:  # Only a nearly exhausted finite space gets here.
        break
      taken.add(key)
      self._draws.append((key, point))
    self._budget_total = len(self._draws)
    self._consumed = [False] * len(self._draws)

  def _propose(self, n: int) -> List[Dict[str, Any]]:
    out = []
    for i, (key, point) in enumerate(self._draws):
      if len(out) == n:
        break
      if not self._consumed[i] and key not in self._issued:
        self._consumed[i] = True
        out.append(dict(point))
    return out

  def _register_budget(self, key: Tuple, params: Dict[str, Any]) -> None:
    for i, (draw_key, _) in enumerate(self._draws):
      if draw_key == key and not self._consumed[i]:
        self._consumed[i] = True
        return
    # Not one of this seed's draws (the store came from another sweeper): it still uses one
    # unit of the budget, the next draw.
    for i in range(len(self._draws)):
      if not self._consumed[i]:
        self._consumed[i] = True
        return


class GPSweeper(Sweeper):
  """The grid points, then `budget` proposals of skopt's GP-based Bayesian optimizer.

  The sweeper keeps the observations (sign-flipped for mode 'max'); every ask fits a fresh
  `skopt.Optimizer` to them (seeded from the sweeper's seed), with the CL-min lie at every
  pending point, and asks it once per wanted point, lying about each new one in turn: the
  constant-liar batch of skopt's `ask(n_points=n)`, without the refits of its internal copies
  (one GP fit per proposed point). BLAS runs on one thread meanwhile: the matrices are tiny,
  and on a loaded machine threaded BLAS made each fit ~7x slower.

  Extra keyword arguments of the constructor go to `skopt.Optimizer` (for example
  acq_func='gp_hedge' or acq_optimizer='sampling'); `estimator_options` go to skopt's
  `cook_estimator('GP', ...)`, e.g. {'n_restarts_optimizer': 0} for cheaper fits (skopt's
  default, 2, fits the kernel from 3 starting points)."""
  source = "gp"

  def __init__(self, setting: study_lib.Setting, budget: int, seed: int, mode: str = "min",
               estimator_options: Optional[Dict[str, Any]] = None, **optimizer_options):
    super().__init__(setting, budget, seed, mode)
    self.estimator_options = dict(estimator_options or {})
    self._budget_total = self._budget_cap()
    self._rng = np.random.default_rng(self.seed)
    self._observations: List[Tuple[Dict[str, Any], float]] = []  # (params, signed value)
    self.optimizer_options = dict(base_estimator="GP", acq_func="EI",
                                  n_initial_points=max(1, min(5, self._budget_total)))
    self.optimizer_options.update(optimizer_options)
    if self._budget_total > 0:
      self._new_optimizer(0)  # Fails here, not at the first ask, on a bad option.

  @property
  def observations(self) -> List[Tuple[Dict[str, Any], float]]:
    """The (params, value) pairs the model is fitted to: points of the space told so far,
    values negated for mode 'max' (skopt minimizes)."""
    return list(self._observations)

  def _new_optimizer(self, random_state: int):
    import skopt  # Imported here: the package is only needed for GP sweeps.
    from skopt import utils as skopt_utils
    dimensions = [d.to_skopt() for d in self.dimensions]
    options = dict(self.optimizer_options)
    if self.estimator_options:
      options["base_estimator"] = skopt_utils.cook_estimator(
          "GP", space=dimensions, random_state=random_state, **self.estimator_options)
    return skopt.Optimizer(dimensions, random_state=random_state, **options)

  def _to_x(self, params: Dict[str, Any]) -> list:
    """params as skopt's point: a list in dimension order, clipped to the bounds."""
    return [d.coerce(params[d.name]) for d in self.dimensions]

  def _from_x(self, x: Sequence) -> Dict[str, Any]:
    return {d.name: d.coerce(v) for d, v in zip(self.dimensions, x)}

  def _observe(self, params: Dict[str, Any], value: float) -> None:
    if self._in_space(params):
      self._observations.append((dict(params), self._sign(value)))

  def _propose(self, n: int) -> List[Dict[str, Any]]:
    from threadpoolctl import threadpool_limits  # A scikit-learn dependency.
    xs = [self._to_x(p) for p, _ in self._observations]
    ys = [v for _, v in self._observations]
    # Without any observation there is nothing to lie with: the optimizer is in its random
    # phase and draws distinct random points anyway.
    lie = min(ys) if ys else None
    if lie is not None:
      pending = [self._to_x(p) for p in self._pending.values() if self._in_space(p)]
      xs, ys = xs + pending, ys + [lie] * len(pending)
    raw = []
    with threadpool_limits(limits=1), warnings.catch_warnings():
      warnings.simplefilter("ignore")  # skopt warns when it replaces a repeated point.
      optimizer = self._new_optimizer(int(self._rng.integers(2**31 - 1)))
      if xs:
        optimizer.tell(xs, ys)
      for i in range(n):
        raw.append(optimizer.ask())
        if lie is not None and i < n - 1:
          optimizer.tell(raw[-1], lie)
    out, keys = [], set()
    for x in raw:
      point = self._from_x(x)
      key = space_lib.point_key(point)
      if key in self._issued or key in keys:
        point = self._fresh_random_point(keys)
        if point is None:  # A finite space with nothing new left.
          self._budget_total = self._budget_used + len(out)
          break
        key = space_lib.point_key(point)
      keys.add(key)
      out.append(point)
    return out

  def _fresh_random_point(self, also_taken) -> Optional[Dict[str, Any]]:
    for _ in range(_MAX_REDRAWS):
      point = {d.name: d.sample(self._rng) for d in self.dimensions}
      key = space_lib.point_key(point)
      if key not in self._issued and key not in also_taken:
        return point
    return None


# Every sweeper by the name `study.sweeper` takes (study files are checked against it).
SWEEPERS = {"grid": GridSweeper, "random": RandomSweeper, "gp": GPSweeper}


def make_sweeper(kind: str, setting: study_lib.Setting, budget: int, seed: int,
                 mode: str = "min", **options) -> Sweeper:
  """The sweeper `kind` ('grid', 'random' or 'gp') for one setting.

  Raises:
    ValueError: unknown kind (listing the valid ones), or a grid sweeper for a setting
      without grid points.
  """
  if kind not in SWEEPERS:
    raise ValueError(f"Unknown sweeper {kind!r}; valid: {', '.join(SWEEPERS)}.")
  if options and kind != "gp":
    raise ValueError(f"sweeper {kind!r} takes no options; got {sorted(options)}.")
  return SWEEPERS[kind](setting, budget, seed, mode, **options)
