"""Argument checks shared by the metric functions (MS-SSIM, PRD, precision/recall, SWD).

Each check raises ValueError with one line naming the argument, what it must be and what it got,
in the same words across the metrics (tests match on them). Checks that only one metric needs
(MS-SSIM's image shapes, PRD's distributions, SWD's trailing shapes) stay next to that metric.
"""

from typing import Mapping, Tuple

import numpy as np


def integer_at_least(name: str, value, minimum: int = 1) -> None:
  """Checks that `value` is an integer (an int or an integral float) >= `minimum`.

  Args:
    name: the argument's name, as the caller spells it (`batch_size`, `num_runs`, `k`, ...).
    value: the argument.
    minimum: the smallest allowed value.

  Raises:
    ValueError: "`name` must be an integer >= `minimum`; got `value!r`."
  """
  if int(value) != value or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")


def non_negative_integer(name: str, value) -> None:
  """Checks that `value` is an integer >= 0 (seeds: `np.random.default_rng` and
  `SeedSequence` reject negative entropy).

  Raises:
    ValueError: "`name` must be a non-negative integer; got `value!r`."
  """
  if int(value) != value or value < 0:
    raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")


def feature_sets(first_name: str, first, second_name: str,
                 second) -> Tuple[np.ndarray, np.ndarray]:
  """Returns two feature sets as float64 arrays after checking that they are [N, D] and [M, D].

  Args:
    first_name, second_name: the arguments' names, for the message.
    first: array-like [N, D].
    second: array-like [M, D], the same D (N and M may differ).

  Returns:
    (first, second) as float64 np.ndarrays [N, D] and [M, D] (copies only where the dtype
    differs; float64 because distances and clusterings cancel large terms).

  Raises:
    ValueError: either is not 2-D, or their D differ.
  """
  first = np.asarray(first, dtype=np.float64)
  second = np.asarray(second, dtype=np.float64)
  if first.ndim != 2 or second.ndim != 2 or first.shape[1] != second.shape[1]:
    raise ValueError(f"{first_name} and {second_name} must be 2-D [N, D] and [M, D] arrays with "
                     f"the same D; got shapes {first.shape} and {second.shape}.")
  return first, second


def finite(arrays: Mapping[str, np.ndarray]) -> None:
  """Checks that every array in {name: array of any shape} holds no NaN or infinity.

  Raises:
    ValueError: "`name1` and `name2` must be finite (no NaN or infinity)." (all names, in order).
  """
  if not all(np.all(np.isfinite(array)) for array in arrays.values()):
    raise ValueError(f"{' and '.join(arrays)} must be finite (no NaN or infinity).")
