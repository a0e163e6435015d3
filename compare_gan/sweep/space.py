"""Search-space dimensions and fixed grids of a study (DESIGN section 7).

A study names its hyperparameters and gives each one either a search-space dimension,

  ('log_uniform', low, high)   floats with log(x) ~ U[log low, log high]  (learning rates, lambda)
  ('uniform', low, high)       floats ~ U[low, high]                      (beta1, beta2)
  ('int_uniform', low, high)   integers in [low, high], both ends included
  ('choice', [v1, v2, ...])    one of the listed values                   (disc_iters in {1, 5})

or a list of fixed "good" values on a grid (the GAN Landscape's Table 1, top), where a key
'a,b,c' binds a tuple of parameters jointly: {'beta1,beta2': [(0.5, 0.9), (0.5, 0.999)]}.
The ranges of the GAN Landscape (Kurach et al. 2019, Table 1 bottom; reference params.py wide
ranges): learning rate log-uniform [1e-5, 1e-2], lambda log-uniform [0.1, 100] (GP, DRAGAN)
or [1e-4, 10] (L2), beta1 and beta2 uniform [0, 1], disc_iters choice {1, 5}.

Values handed out are plain Python numbers and strings (never numpy scalars), so they go to
JSON, SQLite and gin bindings unchanged.
"""

import dataclasses
import itertools
import math
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

KINDS = ("log_uniform", "uniform", "int_uniform", "choice")
_SCALARS = (bool, int, float, str)
# Relative slack when testing whether a float lies in [low, high]: exp(log(high)) may come
# back one ulp above high, and such a value is still the bound.
_BOUND_SLACK = 1e-9


def to_python(value: Any) -> Any:
  """A numpy scalar as the equivalent Python scalar; other values unchanged."""
  if isinstance(value, np.generic):
    return value.item()
  return value


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
      value, (bool, np.bool_))


@dataclasses.dataclass(frozen=True)
class Dimension:
  """One named search-space dimension.

  Attributes:
    name: the study parameter it sets.
    kind: one of KINDS.
    low: lower bound (log_uniform, uniform, int_uniform).
    high: upper bound, included (log_uniform, uniform, int_uniform).
    choices: the values of a 'choice' dimension, in the order given.
  """
  name: str
  kind: str
  low: Any = None
  high: Any = None
  choices: Tuple = ()

  def contains(self, value: Any) -> bool:
    """Whether `value` is a point of this dimension (floats: within [low, high] up to
    rounding; integers: integral and within; choice: equal to one of the choices)."""
    value = to_python(value)
    if self.kind == "choice":
      return any(value == c and isinstance(value, bool) == isinstance(c, bool)
                 for c in self.choices)
    if not _is_number(value) or not math.isfinite(value):
      return False
    if self.kind == "int_uniform":
      return float(value).is_integer() and self.low <= value <= self.high
    slack = _BOUND_SLACK * max(abs(self.low), abs(self.high))
    return self.low - slack <= value <= self.high + slack

  def coerce(self, value: Any) -> Any:
    """`value` (for example as skopt returns it: numpy scalars, floats a rounding step
    outside the bounds) as the plain Python value this dimension hands out.

    Raises:
      ValueError: `value` is not a point of the dimension.
    """
    if not self.contains(value):
      raise ValueError(f"{value!r} is not in dimension {self.describe()}.")
    value = to_python(value)
    if self.kind == "choice":
      for c in self.choices:  # The listed object itself (1, not 1.0 or np.int64(1)).
        if value == c and isinstance(value, bool) == isinstance(c, bool):
          return c
    if self.kind == "int_uniform":
      return int(value)
    return float(min(max(float(value), self.low), self.high))

  def sample(self, rng: np.random.Generator) -> Any:
    """One draw from the dimension's distribution, as a plain Python value."""
    if self.kind == "log_uniform":
      x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
      return float(min(max(x, self.low), self.high))
    if self.kind == "uniform":
      return float(rng.uniform(self.low, self.high))
    if self.kind == "int_uniform":
      return int(rng.integers(self.low, self.high + 1))
    return self.choices[int(rng.integers(len(self.choices)))]

  def size(self) -> float:
    """Number of distinct points: finite for int_uniform and choice, math.inf otherwise."""
    if self.kind == "choice":
      return len(self.choices)
    if self.kind == "int_uniform":
      return self.high - self.low + 1
    return math.inf

  def representative(self) -> Any:
    """A typical value (geometric or arithmetic middle, the first choice); used to check that
    a trial config parses before anything runs."""
    if self.kind == "log_uniform":
      return float(math.sqrt(self.low * self.high))
    if self.kind == "uniform":
      return float((self.low + self.high) / 2)
    if self.kind == "int_uniform":
      return int(self.low)
    return self.choices[0]

  def to_skopt(self) -> Any:
    """The scikit-optimize dimension: Real (log-uniform prior), Real, Integer or Categorical."""
    from skopt import space as skopt_space  # Imported here: only the GP sweeper needs it.
    if self.kind == "log_uniform":
      return skopt_space.Real(self.low, self.high, prior="log-uniform", name=self.name)
    if self.kind == "uniform":
      return skopt_space.Real(self.low, self.high, prior="uniform", name=self.name)
    if self.kind == "int_uniform":
      return skopt_space.Integer(self.low, self.high, name=self.name)
    return skopt_space.Categorical(list(self.choices), name=self.name)

  def describe(self) -> str:
    """One line for logs: "lambda: log_uniform [0.1, 100.0]"."""
    if self.kind == "choice":
      return f"{self.name}: choice {list(self.choices)!r}"
    return f"{self.name}: {self.kind} [{self.low!r}, {self.high!r}]"


def parse_dimension(name: str, spec: Any) -> Dimension:
  """A Dimension from its study form, `('log_uniform', low, high)` and so on (module doc).

  Raises:
    ValueError: naming the parameter, when the kind is unknown, the bounds are not numbers or
      not increasing, a log bound is <= 0, integer bounds are not integers, or a choice list
      is empty, holds duplicates or holds non-scalar values.
  """
  where = f"space parameter {name!r}"
  if not isinstance(spec, (tuple, list)) or not spec or not isinstance(spec[0], str):
    raise ValueError(f"{where}: {spec!r} is not a dimension; write one of "
                     "('log_uniform', low, high), ('uniform', low, high), "
                     "('int_uniform', low, high), ('choice', [v1, v2, ...]).")
  kind = spec[0]
  if kind not in KINDS:
    raise ValueError(f"{where}: unknown dimension kind {kind!r}; valid: {', '.join(KINDS)}.")
  if kind == "choice":
    if len(spec) != 2 or not isinstance(spec[1], (tuple, list)):
      raise ValueError(f"{where}: write ('choice', [v1, v2, ...]); got {spec!r}.")
    choices = tuple(to_python(v) for v in spec[1])
    if not choices:
      raise ValueError(f"{where}: the choice list is empty.")
    for v in choices:
      if not isinstance(v, _SCALARS):
        raise ValueError(f"{where}: choice value {v!r} is not a number, string or bool.")
    for i, v in enumerate(choices):
      if any(v == w and isinstance(v, bool) == isinstance(w, bool) for w in choices[:i]):
        raise ValueError(f"{where}: choice value {v!r} is listed twice.")
    return Dimension(name, kind, choices=choices)
  if len(spec) != 3:
    raise ValueError(f"{where}: write ({kind!r}, low, high); got {spec!r}.")
  low, high = (to_python(v) for v in spec[1:])
  if not (_is_number(low) and _is_number(high)) or not (math.isfinite(low)
                                                        and math.isfinite(high)):
    raise ValueError(f"{where}: bounds {low!r}, {high!r} must be finite numbers.")
  if low >= high:
    raise ValueError(f"{where}: low {low!r} must be below high {high!r}.")
  if kind == "log_uniform" and low <= 0:
    raise ValueError(f"{where}: a log_uniform dimension needs low > 0; got {low!r}.")
  if kind == "int_uniform":
    if not (float(low).is_integer() and float(high).is_integer()):
      raise ValueError(f"{where}: int_uniform bounds must be integers; got {low!r}, {high!r}.")
    return Dimension(name, kind, int(low), int(high))
  return Dimension(name, kind, float(low), float(high))


def split_key(key: str) -> List[str]:
  """The parameter names of a grid key: 'beta1, beta2' -> ['beta1', 'beta2']."""
  if not isinstance(key, str):
    raise ValueError(f"grid key {key!r} must be a string of parameter names ('a' or 'a,b').")
  names = [n.strip() for n in key.split(",")]
  if any(not n for n in names):
    raise ValueError(f"grid key {key!r} has an empty parameter name.")
  if len(set(names)) != len(names):
    raise ValueError(f"grid key {key!r} names a parameter twice.")
  return names


def expand_grid(grid: Dict[str, Sequence]) -> List[Dict[str, Any]]:
  """The cross product of a grid's entries, as parameter -> value dicts.

  Keys are parameter names or comma-separated names bound jointly ('beta1,beta2': a list of
  tuples). The first key varies slowest. An empty grid has one point, the empty assignment.

  Example: {'lr': [1e-4, 2e-4], 'beta1,beta2': [(0.5, 0.9), (0.5, 0.999)]} -> 4 points.

  Raises:
    ValueError: an entry that is not a non-empty list, a joint value of the wrong length, a
      duplicate value within an entry, a parameter named by two keys, or a value that is not a
      number, string or bool.
  """
  if not isinstance(grid, dict):
    raise ValueError(f"a grid must be a dict of parameter -> list of values; got {grid!r}.")
  axes = []
  seen = {}
  for key, values in grid.items():
    names = split_key(key)
    for n in names:
      if n in seen:
        raise ValueError(f"grid parameter {n!r} appears in keys {seen[n]!r} and {key!r}.")
      seen[n] = key
    if not isinstance(values, (list, tuple)) or not values:
      raise ValueError(f"grid entry {key!r}: {values!r} must be a non-empty list of values.")
    points = []
    for value in values:
      if len(names) == 1:
        value = (value,)
      elif not isinstance(value, (list, tuple)) or len(value) != len(names):
        raise ValueError(f"grid entry {key!r}: {value!r} must be a tuple of {len(names)} "
                         f"values, one for each of {', '.join(names)}.")
      value = tuple(to_python(v) for v in value)
      for v in value:
        if not isinstance(v, _SCALARS):
          raise ValueError(f"grid entry {key!r}: value {v!r} is not a number, string or bool.")
      if value in points:
        raise ValueError(f"grid entry {key!r}: value {value if len(names) > 1 else value[0]!r}"
                         " is listed twice.")
      points.append(value)
    axes.append([dict(zip(names, value)) for value in points])
  out = []
  for combination in itertools.product(*axes):
    point = {}
    for part in combination:
      point.update(part)
    out.append(point)
  return out


def point_key(params: Dict[str, Any]) -> Tuple:
  """A hashable identity of a point (parameter names and plain values, sorted by name)."""
  return tuple(sorted((name, to_python(value)) for name, value in params.items()))
