"""The best of k trials of one setting against another's, and how sure we are: the statistics.

"Are GANs Created Equal?" (Lucic et al. 2018) and "The GAN Landscape" (Kurach et al. 2019)
argue that many claimed wins vanish once seed and search noise are counted. This module puts
a number on that for the settings of one study (`tables.with_values` gives the trials);
report/significance.py writes its results to files and re-exports its public names.

  pairwise   for every ordered pair of settings (A, B) and budget k: the probability that
             the best of k trials of A beats the best of k trials of B, its 95% bootstrap
             interval, and the verdict of a permutation test
  intervals  per setting: 95% bootstrap intervals of its best and its median

The model. A setting's done search trials are draws from its search distribution (a point of
its search space, trained with a seed). "The best of k trials" is the best of k draws, with
replacement, from those trials: the limit of drawing k of them at random infinitely often,
which is what a bootstrap of the search estimates. For k <= n this differs from the budget
curve's draws without replacement (`tables.expected_best`) only in that a trial may come up
twice; for k > n it extrapolates what a search of k trials would find from the n there are
(the table's n_a / n_b show when it does). k = None is each setting's own full budget: A's n_a
trials against B's n_b. P(A beats B) counts ties half, so P(A beats B) + P(B beats A) = 1.
It is computed exactly from the two settings' trial values (no Monte Carlo): with X_A the best
of k_A draws from A, P(X_A <= x) = 1 - (1 - F_A(x))^k_A where F_A is the fraction of A's
trials at or better than x, and P(A beats B) = sum over A's values x of
P(X_A = x) * (P(X_B worse than x) + P(X_B = x) / 2).

Re-runs (trials with source `study.RERUN`) re-train an existing point with a new seed; they are
no search draws (the points re-run are the best ones), so every statistic here leaves them out
(`tables.search_trials`).

Resampling "over trials and seeds" is two-stage: a resample draws the setting's points (the
trials sharing one set of params are one point, trained with the study's seeds) with
replacement, then each drawn point's seeds with replacement. With one seed per point this is
the ordinary bootstrap of trials; with one point and many seeds, the bootstrap of seeds.

The verdict is not read off the bootstrap interval. In our simulations (200 pairs of settings
with 30 trials each, drawn from one normal, exponential or uniform distribution), the 95%
percentile interval of P(A beats B) at the full budget, which is decided by each setting's
few best trials (an extreme), excluded 0.5 for 13-16% of the pairs (6-8% at k = 1). The
verdict comes from a two-sided permutation test instead, of level 5% whatever k is: under
"A and B are equally good" (their points come from one distribution) A's and B's points are
exchangeable, so the statistic |P(A beats B) - 1/2| after dealing the pooled points at random
into groups of A's and B's sizes is as likely as the observed one to be extreme.
p_value = (1 + #{random deals at least as extreme}) / (1 + samples), which keeps the level
with any number of deals. 'A better' / 'B better' when p_value < 0.05, 'no difference'
otherwise, and 'not enough trials' when a setting has no done trial or the points allow at
most 20 distinct deals (then no deal is rarer than 1/20 and no test can reach 5%). Points are
dealt, not trials, because the seeds of one point are alike: a setting searched at a single
point, however many seeds it has, cannot be told from another by this test (its seeds
measure the point, not the setting). Each pair and k is tested at 5% on its own, without a
correction for multiple comparisons: among many equally good settings about 5% of the pairs
still read 'better'.
"""

import dataclasses
import json
import math
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from compare_gan.report import tables
from compare_gan.sweep import study as study_lib

LEVEL = 0.95  # Of the pairwise bootstrap interval and of the permutation test (alpha = 0.05).
# A permutation test needs more distinct deals than this to reach p < 1 - LEVEL at all.
MIN_DEALS = round(1 / (1 - LEVEL))
KS = (1, 5, 10, None)  # The budgets of the issue: 1, 5, 10 trials and each setting's full budget.
VERDICTS = ("A better", "B better", "no difference", "not enough trials")
PAIRWISE_COLUMNS = ("setting_a", "setting_b", "name_a", "name_b", "k", "n_a", "n_b",
                    "p_a_better", "ci_low", "ci_high", "p_value", "verdict")
INTERVAL_COLUMNS = ("setting", "name", "n", "best", "best_low", "best_high", "median",
                    "median_low", "median_high")

# The purpose of a random stream, the second entry of its seed (STYLE habit 5): resamples of a
# setting, random deals of a pair of settings, and of any pair with the same numbers of trials.
_RESAMPLE, _DEAL, _DEAL_BY_SIZE = 1, 2, 3
_TOLERANCE = 1e-9  # Of "at least as extreme": the same deal must count as equal after rounding.


# ---------------------------------------------------------------------------------------------
# The settings' search trials.

@dataclasses.dataclass
class _Setting:
  key: str
  name: str
  values: np.ndarray  # [n] done search trials' values, best first.
  scores: np.ndarray  # [n] the same, as "lower is better" (negated for mode 'max'), ascending.
  points: np.ndarray  # [n] index of each trial's point (trials with equal params), 0..G-1.

  @property
  def n(self) -> int:
    return len(self.values)

  @property
  def n_points(self) -> int:
    return int(self.points.max()) + 1 if self.n else 0


def _check(mode: str, samples: int, seed: int) -> None:
  if mode not in study_lib.MODES:
    raise ValueError(f"mode {mode!r}; valid: {', '.join(study_lib.MODES)}.")
  if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
    raise ValueError(f"samples = {samples!r}; it must be an integer >= 1.")
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ValueError(f"seed = {seed!r}; it must be an integer >= 0.")


def _settings(trials: pd.DataFrame, mode: str) -> List[_Setting]:
  """Every setting in `trials`, the one with the best done trial first and those without one
  last (each group in order of first appearance), with its done search trials."""
  out = []
  for key, group in trials.groupby("setting", sort=False):
    search = tables.search_trials(group)
    done = search[search["value"].notna()]
    raw = done["value"].to_numpy(dtype=float)
    scores = raw if mode == "min" else -raw
    order = np.argsort(scores, kind="stable")
    point_keys = [json.dumps(p, sort_keys=True) for p in done["params"]]
    points = pd.factorize(pd.Series([point_keys[i] for i in order], dtype=object))[0]
    out.append(_Setting(key=str(key), name=tables.setting_name(group["labels"].iloc[0]),
                        values=raw[order], scores=scores[order],
                        points=points.astype(np.int64)))
  best = [s.scores[0] if s.n else math.inf for s in out]
  return [out[i] for i in np.argsort(best, kind="stable")]


def _rng(seed: int, purpose: int, *keys: str) -> np.random.Generator:
  """A stream for `purpose` from the report's seed and setting keys (crc32, not Python's salted
  hash): a setting's resamples do not change when another setting is added."""
  return np.random.default_rng([seed, purpose] + [zlib.crc32(k.encode()) for k in keys])


def _resample(s: _Setting, samples: int, rng: np.random.Generator) -> np.ndarray:
  """[samples, n] int: how often each of the setting's (sorted) trials is in each two-stage
  bootstrap resample: its G points drawn with replacement, then each drawn point's m seeds
  drawn with replacement. A point drawn c times contributes c * m seed draws, uniform over
  its m trials: Multinomial(c * m, 1/m)."""
  sizes = np.bincount(s.points, minlength=s.n_points)
  picks = rng.multinomial(s.n_points, np.full(s.n_points, 1.0 / s.n_points), size=samples)
  counts = np.zeros((samples, s.n), dtype=np.int64)
  by_point = np.argsort(s.points, kind="stable")  # Trials grouped by point, point 0 first.
  starts = np.concatenate([[0], np.cumsum(sizes)])
  for m in np.unique(sizes):
    points = np.flatnonzero(sizes == m)
    members = by_point[starts[points][:, None] + np.arange(m)]  # [points, m] trial indices.
    if m == 1:
      counts[:, members[:, 0]] = picks[:, points]
    else:
      draws = rng.multinomial(picks[:, points] * m, np.full(m, 1.0 / m))  # [samples, P, m]
      counts[:, members.ravel()] = draws.reshape(samples, -1)
  return counts


# ---------------------------------------------------------------------------------------------
# The probability that the best of k of A beats the best of k of B.

def _best_of_k_cdf(counts: np.ndarray, k: Optional[int]) -> np.ndarray:
  """[rows, n+1]: entry c is P(the best of k draws from a row's trials is one of its c best),
  1 - (1 - F_c)^k with F_c the row's share of draws among the c best sorted trials; counts
  [rows, n] weigh each trial (resample counts, or ones). k None: k = the row's trial count."""
  total = counts.sum(axis=1, keepdims=True)
  share = np.concatenate([np.zeros_like(total), np.cumsum(counts, axis=1)], axis=1) / total
  return 1.0 - (1.0 - share) ** (total if k is None else k)


def _win_probability(mass_a: np.ndarray, b_at_or_below: np.ndarray,
                     b_below: Optional[np.ndarray]) -> np.ndarray:
  """[rows]: P(X_A < X_B) + P(X_A = X_B) / 2, lower is better, from P(X_A = x) at support
  points x (mass_a [s, rows]) and X_B's distribution function there, P(X_B <= x) and
  P(X_B < x) ([s, rows] each; b_below None: the same, no x is one of B's values):
  sum_x P(X_A = x) (1 - (P(X_B <= x) + P(X_B < x)) / 2)."""
  total = mass_a.sum(axis=0)
  if b_below is None:
    return total - np.einsum("ij,ij->j", mass_a, b_at_or_below)
  return total - 0.5 * np.einsum("ij,ij->j", mass_a, b_at_or_below + b_below)


@dataclasses.dataclass
class _BestOfK:
  """A setting's best-of-k distribution for each budget, observed (1 row) or resampled; the
  support (its sorted trials) runs down the first axis, so that a pair gathers whole rows."""
  cdf: Dict[Optional[int], np.ndarray]   # [n+1, rows], `_best_of_k_cdf` transposed
  mass: Dict[Optional[int], np.ndarray]  # [n, rows], P(best of k is sorted trial i)


def _best_of_k(counts: np.ndarray, ks: Sequence[Optional[int]]) -> _BestOfK:
  cdf = {k: np.ascontiguousarray(_best_of_k_cdf(counts, k).T) for k in ks}
  return _BestOfK(cdf, {k: np.diff(c, axis=0) for k, c in cdf.items()})


def _pair_probability(dist_a: _BestOfK, dist_b: _BestOfK, k: Optional[int],
                      at_or_below: np.ndarray, below: np.ndarray) -> np.ndarray:
  """[rows]: P(A's best of k beats B's), row by row of the two distributions; at_or_below and
  below [n_a]: how many of B's sorted trials score <= and < each of A's."""
  cdf_b = dist_b.cdf[k]
  ties = not np.array_equal(at_or_below, below)
  return _win_probability(dist_a.mass[k], cdf_b[at_or_below], cdf_b[below] if ties else None)


def _dealt_probability(in_a: np.ndarray, ends: np.ndarray,
                       ks: Sequence[Optional[int]]) -> Dict[Optional[int], np.ndarray]:
  """P(A's best of k beats B's) per row of in_a ([rows, N] bool: which of the pooled trials,
  sorted by score, are dealt to A), for each k; ends [U]: the index of the last pooled trial
  of each distinct score (ties share one support point).

  A row's best-of-k distribution function at the j-th distinct score is 1 - (1 - c / n)^k with
  c of its n trials at or below it. The powers come from a table over the few distinct n and
  every c: a power per table entry instead of one per entry of the [rows, U] grid, which is
  most of the cost of a permutation test."""
  below_a = np.cumsum(in_a, axis=1, dtype=np.int32)[:, ends]
  below_a = np.concatenate([np.zeros((len(in_a), 1), below_a.dtype), below_a], axis=1)
  below_b = (np.concatenate([[0], ends + 1]) - below_a).astype(np.int32)
  width = in_a.shape[1] + 1
  sides = []
  for below in (below_a, below_b):
    totals, row = np.unique(below[:, -1], return_inverse=True)
    base = np.clip(1.0 - np.arange(width) / totals[:, None], 0.0, None)  # [totals, width]
    # Flat indices into the table: one take is cheaper than a 2-D fancy index.
    sides.append((totals[:, None], base, row.reshape(-1, 1) * width + below))
  out = {}
  for k in ks:
    cdf_a, cdf_b = (np.take(1.0 - base ** (totals if k is None else k), flat)
                    for totals, base, flat in sides)
    out[k] = _win_probability(np.diff(cdf_a, axis=1).T, cdf_b[:, 1:].T, cdf_b[:, :-1].T)
  return out


def _random_deals(units: np.ndarray, n_units_a: int, samples: int,
                  rng: np.random.Generator) -> np.ndarray:
  """[samples, N] bool: each row deals n_units_a of the pooled units (points), uniformly at
  random, to A; entry j says whether pooled trial j (of unit units[j]) went to A."""
  keys = rng.random((samples, int(units.max()) + 1))
  kth = np.partition(keys, n_units_a - 1, axis=1)[:, n_units_a - 1:n_units_a]
  return (keys <= kth)[:, units]


def _permutation_test(a: _Setting, b: _Setting, ks: Sequence[Optional[int]], samples: int,
                      seed: int, cache: Dict) -> Dict[Optional[int], float]:
  """Two-sided permutation p-values of |P(A beats B) - 1/2| for each k (module docstring)."""
  scores = np.concatenate([a.scores, b.scores])
  order = np.argsort(scores, kind="stable")
  scores = scores[order]
  units = np.concatenate([a.points, a.n_points + b.points])[order]
  ends = np.flatnonzero(np.append(np.diff(scores) != 0, True))
  observed = _dealt_probability((units < a.n_points)[None], ends, ks)
  if len(ends) == len(scores) and a.n_points == a.n and b.n_points == b.n:
    # One trial per point and no ties: the statistic depends on the ranks only, so every pair
    # with these numbers of trials shares one null distribution (as a rank-sum test's table).
    size = (a.n, b.n)
    if size not in cache:
      deals = _random_deals(np.arange(a.n + b.n), a.n, samples,
                            np.random.default_rng([seed, _DEAL_BY_SIZE, a.n, b.n]))
      cache[size] = _dealt_probability(deals, np.arange(a.n + b.n), ks)
    null = cache[size]
  else:
    deals = _random_deals(units, a.n_points, samples, _rng(seed, _DEAL, a.key, b.key))
    null = _dealt_probability(deals, ends, ks)
  return {k: float((1 + np.sum(np.abs(null[k] - 0.5)
                               >= np.abs(observed[k][0] - 0.5) - _TOLERANCE)) / (1 + samples))
          for k in ks}


def _check_ks(ks: Sequence[Optional[int]]) -> Tuple[Optional[int], ...]:
  ks = tuple(ks)
  valid = "each k must be an integer >= 1, or None for each setting's full budget"
  if not ks:
    raise ValueError(f"ks is empty; {valid}.")
  for k in ks:
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
      raise ValueError(f"k = {k!r} in ks = {ks!r}; {valid}.")
  if len(set(ks)) != len(ks):
    raise ValueError(f"ks = {ks!r} names a budget twice; {valid}, each once.")
  return ks


def pairwise(trials: pd.DataFrame, mode: str, *, ks: Sequence[Optional[int]] = KS,
             samples: int = 1000, seed: int = 0) -> pd.DataFrame:
  """P(A's best of k trials beats B's) for every ordered pair of settings and every k.

  `trials` comes from `tables.with_values`; only done search trials count (re-runs are left
  out: the module docstring says why and defines the model). One row per ordered pair
  (setting_a, setting_b) and k in `ks`, pairs in the order of the settings' best trials
  (best first; settings without a done trial last), columns PAIRWISE_COLUMNS:

    setting_a, setting_b  the settings' keys (study.db's `setting`); name_a, name_b: labels
    k           Int64; <NA> for each setting's full budget (A's n_a trials against B's n_b).
                A k above a setting's trial count draws with replacement (module docstring).
    n_a, n_b    done search trials of A and B
    p_a_better  P(best of k draws from A beats best of k from B), ties half, computed exactly
                from the trials (the limit of infinitely many bootstrap draws); NaN when a
                setting has no done trial. The row (B, A) has 1 - p_a_better.
    ci_low, ci_high  its 95% percentile interval over `samples` two-stage resamples (points,
                then seeds) of each setting; too narrow at large k (module docstring), so the
                verdict does not use it.
    p_value     of the two-sided permutation test of the settings' points with `samples`
                random deals
    verdict     'A better' / 'B better' (p_value < 0.05, in the direction of p_a_better),
                'no difference', or 'not enough trials' (a setting without a done trial, or
                at most MIN_DEALS = 20 distinct deals of the points); VERDICTS lists them.

  Deterministic for `seed`; a pair's resamples and deals do not depend on the other settings.
  Cost: with one seed per point and no tied values, the statistic depends on ranks only and
  pairs with equal trial counts share one null distribution: 50 settings of 100 trials with
  1000 samples take about 2 s. Otherwise each pair deals its own, about 15 ms a pair: some
  20 s for the same study with 2 seeds per point (1225 pairs).
  Raises ValueError for a bad mode, k, samples or seed (the message names it).
  """
  _check(mode, samples, seed)
  ks = _check_ks(ks)
  settings = _settings(trials, mode)
  observed, resampled = {}, {}
  for s in settings:
    if s.n:
      observed[s.key] = _best_of_k(np.ones((1, s.n), dtype=np.int64), ks)
      resampled[s.key] = _best_of_k(_resample(s, samples, _rng(seed, _RESAMPLE, s.key)), ks)
  a_better, b_better, no_difference, not_enough = VERDICTS
  null_cache: Dict = {}
  rows = []
  for i, a in enumerate(settings):
    for b in settings[i + 1:]:
      enough = (bool(a.n and b.n)
                and math.comb(a.n_points + b.n_points, a.n_points) > MIN_DEALS)
      p_values = _permutation_test(a, b, ks, samples, seed, null_cache) if enough else {}
      at_or_below = np.searchsorted(b.scores, a.scores, side="right")
      below = np.searchsorted(b.scores, a.scores, side="left")
      for k in ks:
        p = lo = hi = math.nan
        if a.n and b.n:
          p = float(_pair_probability(observed[a.key], observed[b.key], k, at_or_below,
                                      below)[0])
          boot = _pair_probability(resampled[a.key], resampled[b.key], k, at_or_below, below)
          lo, hi = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        p_value = p_values.get(k, math.nan)
        if not enough:
          verdict = not_enough
        elif p_value < 1 - LEVEL:
          verdict = a_better if p > 0.5 else b_better
        else:
          verdict = no_difference
        mirror = {a_better: b_better, b_better: a_better}.get(verdict, verdict)
        rows.append((a.key, b.key, a.name, b.name, k, a.n, b.n, p, lo, hi, p_value, verdict))
        rows.append((b.key, a.key, b.name, a.name, k, b.n, a.n, 1 - p, 1 - hi, 1 - lo, p_value,
                     mirror))
  table = pd.DataFrame(rows, columns=list(PAIRWISE_COLUMNS))
  table["k"] = table["k"].astype("Int64")
  for column in ("n_a", "n_b"):
    table[column] = table[column].astype(np.int64)
  for column in ("p_a_better", "ci_low", "ci_high", "p_value"):
    table[column] = table[column].astype(float)
  return table


# ---------------------------------------------------------------------------------------------
# Intervals of each setting's best and median.

def intervals(trials: pd.DataFrame, mode: str, *, samples: int = 1000, seed: int = 0,
              level: float = 0.95) -> pd.DataFrame:
  """Percentile bootstrap intervals of each setting's best and median done search trial.

  One row per setting (best first; settings without a done trial last, with NaN), columns
  INTERVAL_COLUMNS: setting (key), name, n (done search trials; re-runs are left out),
  best and median of those trials, and the (1 - level) / 2 and (1 + level) / 2 percentiles
  of the best and the median over `samples` two-stage resamples (points, then seeds; the
  module docstring) as best_low / best_high and median_low / median_high. `low` is the
  smaller number whatever the mode.

  The best's interval is biased, as the bootstrap of any extreme is (Bickel & Freedman 1981:
  the bootstrap of the sample maximum is inconsistent). A resample of n single-seed trials
  holds the best one with probability 1 - (1 - 1/n)^n >= 0.63 (>= 0.46 with several seeds
  per point), far above (1 - level) / 2, so the interval's better end is the observed best
  itself. Its worse end is too close as well: with 30 trials it is the 4th best
  ((1 - 4/30)^30 = 1.4% of resamples lie beyond it), while a fresh search of 30 trials ends
  worse than the 4th best here with probability (30*29*28*27) / (60*59*58*57) = 5.6%, and
  better than the observed best with probability 1/2 (both by exchangeability of the 60
  trials; how much better no sample can say without a model of the tail). What we do about
  it: the interval is reported as what it is, the spread of the best over resampled searches
  ("resampled best" in the markdown), not as a confidence interval of the setting's best, and
  no verdict rests on it: comparisons between settings go through `pairwise`, whose
  permutation test keeps its 5% level at every budget. The median's percentile interval is
  the usual one.

  Deterministic for `seed`; the resamples are those of `pairwise` for the same seed.
  Raises ValueError for a bad mode, samples, seed or level.
  """
  _check(mode, samples, seed)
  if not 0 < level < 1:
    raise ValueError(f"level = {level!r}; it must lie strictly between 0 and 1 (e.g. 0.95).")
  quantiles = [(1 - level) / 2, (1 + level) / 2]
  rows = []
  for s in _settings(trials, mode):
    row = {"setting": s.key, "name": s.name, "n": s.n}
    if not s.n:
      rows.append(row)
      continue
    counts = _resample(s, samples, _rng(seed, _RESAMPLE, s.key))
    best = s.values[np.argmax(counts > 0, axis=1)]  # Sorted best first: the first drawn.
    # The resample's median: the mean of its order statistics ceil(T/2) and floor(T/2) + 1.
    total, cumulative = counts.sum(axis=1), np.cumsum(counts, axis=1)
    lower = (cumulative < ((total + 1) // 2)[:, None]).sum(axis=1)
    upper = (cumulative < (total // 2 + 1)[:, None]).sum(axis=1)
    median = (s.values[lower] + s.values[upper]) / 2
    row.update(best=s.values[0], median=float(np.median(s.values)))
    row["best_low"], row["best_high"] = np.quantile(best, quantiles)
    row["median_low"], row["median_high"] = np.quantile(median, quantiles)
    rows.append(row)
  table = pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))
  table["n"] = table["n"].astype(np.int64)
  return table

