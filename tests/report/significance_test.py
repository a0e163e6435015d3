"""Statistics between settings (report/significance.py) on synthetic trials with known gaps,
checked against hand-computed probabilities and brute-force enumeration."""

import itertools
import math
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib import image

from compare_gan.report import significance
from compare_gan.report import tables
from tables_test import write_study_db  # Same folder: pytest puts it on sys.path.

NONE_K = pd.NA  # How `pairwise` writes k for each setting's full budget.


def _trials(values_by_setting, source="random", seeds_per_point=1, start_id=1):
  """A `tables.with_values`-like frame: per setting (axis 'loss' = its name) one done trial per
  value; trials i, i+1, ... share a point (params) in runs of `seeds_per_point`."""
  rows, tid = [], start_id
  for name, values in values_by_setting.items():
    for i, value in enumerate(values):
      point = i // seeds_per_point
      rows.append({"id": tid, "setting": f"loss={name}", "labels": {"loss": name},
                   "params": {"learning_rate": 1e-4 * (point + 1)}, "seed": i % seeds_per_point,
                   "source": source, "status": "done", "value": float(value),
                   "value_step": 100})
      tid += 1
  out = pd.DataFrame(rows)
  out["value_step"] = out["value_step"].astype("Int64")
  return out


def _row(table, a, b, k):
  k_match = table["k"].isna() if k is NONE_K else table["k"].eq(k).fillna(False)
  rows = table[(table["setting_a"] == f"loss={a}") & (table["setting_b"] == f"loss={b}")
               & k_match]
  assert len(rows) == 1
  return rows.iloc[0]


def _from_study_db(tmp_path, values_by_setting):
  """The trials of a synthetic study.db (tables_test's schema) read back through `tables`."""
  trials, tid = [], 1
  for name, values in values_by_setting.items():
    for value in values:
      # learning_rate differs per trial: every trial is its own point (one seed each).
      trials.append((tid, {"loss": name}, "done", float(value), 200, 1e-5 * tid, None))
      tid += 1
  write_study_db(tmp_path, trials=trials, extra_records=False)
  loaded, results = tables.load(str(tmp_path))
  return tables.with_values(loaded, results, "fid_score", "min", ("fid_score", "min"))


# ---------------------------------------------------------------------------------------------
# Known gaps.

def test_no_gap_gives_no_difference_at_every_k(tmp_path):
  rng = np.random.default_rng(3)
  trials = _from_study_db(tmp_path, {"a": rng.normal(40, 5, 30), "b": rng.normal(40, 5, 30)})
  table = significance.pairwise(trials, "min", samples=500, seed=0)
  assert len(table) == 2 * 4 and set(table["verdict"]) == {"no difference"}
  assert (table["p_value"] >= 0.05).all()
  assert table["n_a"].eq(30).all() and table["n_b"].eq(30).all()
  assert table["k"].dropna().tolist() == [1, 1, 5, 5, 10, 10] and table["k"].isna().sum() == 2
  for k in (1, 5, 10, NONE_K):
    ab, ba = _row(table, "a", "b", k), _row(table, "b", "a", k)
    assert ab["p_a_better"] + ba["p_a_better"] == pytest.approx(1.0)
    assert (ab["ci_low"], ab["ci_high"]) == pytest.approx((1 - ba["ci_high"], 1 - ba["ci_low"]))


def test_false_positive_rate_is_at_most_about_five_percent():
  # 100 studies of two equally good settings: the permutation test must keep its 5% level at
  # every budget, the full one too (where a bootstrap interval's rule flags ~15%).
  rng = np.random.default_rng(7)
  flagged = {1: 0, 5: 0, 10: 0, None: 0}
  for _ in range(100):
    trials = _trials({"a": rng.normal(size=30), "b": rng.normal(size=30)})
    table = significance.pairwise(trials, "min", samples=200, seed=1)
    half = table[table["setting_a"] == "loss=a"]
    for k, verdict in zip(half["k"], half["verdict"]):
      flagged[None if k is NONE_K else int(k)] += verdict != "no difference"
  assert all(count <= 10 for count in flagged.values()), flagged  # 5 expected, sd ~2.2.


def test_large_gap_is_found_with_probability_near_one(tmp_path):
  rng = np.random.default_rng(4)
  trials = _from_study_db(tmp_path, {"worse": rng.normal(60, 5, 30),
                                     "better": rng.normal(40, 5, 30)})
  table = significance.pairwise(trials, "min", samples=500, seed=0)
  for k in (1, 5, 10, NONE_K):
    row = _row(table, "better", "worse", k)
    assert row["verdict"] == "A better" and row["p_a_better"] > 0.95 and row["ci_low"] > 0.9
    assert row["p_value"] < 0.01
    assert _row(table, "worse", "better", k)["verdict"] == "B better"
  # The better setting is listed first (best-first order of the settings).
  assert table["setting_a"].iloc[0] == "loss=better"


def test_mode_max_mirrors_mode_min():
  rng = np.random.default_rng(5)
  values = {"a": rng.normal(0, 1, 12), "b": rng.normal(0.8, 1, 9), "c": rng.normal(0, 1, 15)}
  low = significance.pairwise(_trials(values), "min", samples=300, seed=2)
  high = significance.pairwise(_trials({n: -v for n, v in values.items()}), "max", samples=300,
                               seed=2)
  pd.testing.assert_frame_equal(low, high)
  low_iv = significance.intervals(_trials(values), "min", samples=300, seed=2)
  high_iv = significance.intervals(_trials({n: -v for n, v in values.items()}), "max",
                                   samples=300, seed=2)
  assert high_iv["best"].tolist() == pytest.approx((-low_iv["best"]).tolist())
  assert high_iv["best_low"].tolist() == pytest.approx((-low_iv["best_high"]).tolist())
  assert high_iv["median_high"].tolist() == pytest.approx((-low_iv["median_low"]).tolist())


# ---------------------------------------------------------------------------------------------
# Hand-checked and brute-force probabilities.

def test_two_trials_each_by_hand():
  # A = {30, 40}, B = {35, 50}, lower is better. k = 1: A wins 3 of the 4 pairs. The best of
  # k draws with replacement is 30 with P 1 - (1/2)^k, and likewise 35 for B; A loses only
  # when it draws 40 every time and B does not draw 50 every time:
  # P = 1 - (1/2)^k (1 - (1/2)^k): 13/16 for k = 2 (the full budget), 993/1024 for k = 5.
  trials = _trials({"a": [30.0, 40.0], "b": [35.0, 50.0]})
  table = significance.pairwise(trials, "min", ks=(1, 2, 5, None), samples=200)
  assert _row(table, "a", "b", 1)["p_a_better"] == pytest.approx(3 / 4, abs=1e-12)
  assert _row(table, "a", "b", 2)["p_a_better"] == pytest.approx(13 / 16, abs=1e-12)
  assert _row(table, "a", "b", NONE_K)["p_a_better"] == pytest.approx(13 / 16, abs=1e-12)
  assert _row(table, "a", "b", 5)["p_a_better"] == pytest.approx(993 / 1024, abs=1e-12)
  assert _row(table, "b", "a", 1)["p_a_better"] == pytest.approx(1 / 4, abs=1e-12)
  # C(4, 2) = 6 deals of the trials: no test can reach 5%.
  assert set(table["verdict"]) == {"not enough trials"} and table["p_value"].isna().all()


def _brute_force(a, b, k_a, k_b):
  """P(min of k_a draws from a < min of k_b draws from b), ties half, by enumerating every
  equally likely tuple of draws."""
  wins = 0.0
  for draw_a in itertools.product(a, repeat=k_a):
    for draw_b in itertools.product(b, repeat=k_b):
      wins += 1.0 if min(draw_a) < min(draw_b) else 0.5 if min(draw_a) == min(draw_b) else 0.0
  return wins / (len(a) ** k_a * len(b) ** k_b)


@pytest.mark.parametrize("a, b", [([1.0, 2.0, 2.0], [2.0, 3.0]),
                                  ([5.0, 1.0, 4.0, 4.0], [4.0, 1.0, 6.0]),
                                  ([2.0], [2.0, 2.0, 0.5])])
def test_probability_matches_enumeration_with_ties(a, b):
  table = significance.pairwise(_trials({"a": a, "b": b}), "min", ks=(1, 2, 3, None),
                                samples=50)
  for k in (1, 2, 3):
    assert _row(table, "a", "b", k)["p_a_better"] == pytest.approx(_brute_force(a, b, k, k),
                                                                   abs=1e-12)
  assert _row(table, "a", "b", NONE_K)["p_a_better"] == pytest.approx(
      _brute_force(a, b, len(a), len(b)), abs=1e-12)


def test_bootstrap_interval_covers_the_exact_probability():
  # k = 1 is the common-language effect size P(X_A < X_B) of two normals N(0, 1), N(1, 1):
  # Phi(1 / sqrt(2)) = 0.7602. Its bootstrap interval from 200 trials each must hold it and
  # be narrow; the estimate itself is the fraction of the 200 x 200 pairs.
  rng = np.random.default_rng(6)
  a, b = rng.normal(0, 1, 200), rng.normal(1, 1, 200)
  row = _row(significance.pairwise(_trials({"a": a, "b": b}), "min", ks=(1,), samples=1000),
             "a", "b", 1)
  assert row["p_a_better"] == pytest.approx(np.mean(a[:, None] < b[None, :]), abs=1e-12)
  truth = 0.5 * (1 + math.erf(1 / math.sqrt(2) / math.sqrt(2)))
  assert row["ci_low"] < truth < row["ci_high"] and row["ci_high"] - row["ci_low"] < 0.15
  assert row["verdict"] == "A better"


def _exact_permutation_p(a, b):
  """Two-sided p-value of |P(A beats B) - 1/2| at k = 1 over every deal of the pooled trials."""
  def statistic(x, y):
    return abs(_brute_force(x, y, 1, 1) - 0.5)
  pooled, observed = a + b, statistic(a, b)
  deals = list(itertools.combinations(range(len(pooled)), len(a)))
  extreme = 0
  for deal in deals:
    x = [pooled[i] for i in deal]
    y = [pooled[i] for i in range(len(pooled)) if i not in deal]
    extreme += statistic(x, y) >= observed - 1e-12
  return extreme / len(deals)


@pytest.mark.parametrize("a, b", [([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]),  # No ties.
                                  ([1.0, 2.0, 2.0, 3.0], [2.0, 4.0, 5.0, 3.0])])  # Ties.
def test_permutation_p_value_matches_every_deal(a, b):
  exact = _exact_permutation_p(a, b)
  row = _row(significance.pairwise(_trials({"a": a, "b": b}), "min", ks=(1,), samples=4000),
             "a", "b", 1)
  assert row["p_value"] == pytest.approx(exact, abs=0.012)
  assert row["verdict"] == ("A better" if exact < 0.05 else "no difference")


def test_points_not_seeds_are_dealt():
  # Each setting: a few points, each trained with several seeds; every trial of A beats
  # every trial of B. 3 points a side give C(6, 3) = 20 deals: not enough, however many
  # seeds (15 single-seed trials a side would give p ~ 1e-8). 5 points a side give 252
  # deals: two of them are this extreme, p = 2/252.
  few = _trials({"a": np.arange(15.0), "b": 100 + np.arange(15.0)}, seeds_per_point=5)
  table = significance.pairwise(few, "min", ks=(1,), samples=500)
  assert _row(table, "a", "b", 1)["verdict"] == "not enough trials"
  assert _row(table, "a", "b", 1)["p_a_better"] == pytest.approx(1.0)
  more = _trials({"a": np.arange(10.0), "b": 100 + np.arange(10.0)}, seeds_per_point=2)
  row = _row(significance.pairwise(more, "min", ks=(1,), samples=4000), "a", "b", 1)
  assert row["verdict"] == "A better" and row["p_value"] == pytest.approx(2 / 252, abs=0.006)


def test_one_point_many_seeds_resamples_the_seeds():
  # One point with 40 seeds: the two-stage bootstrap draws that point, then its seeds, so the
  # median still has an interval around the sample median.
  values = np.random.default_rng(8).normal(10, 1, 40)
  row = significance.intervals(_trials({"a": values}, seeds_per_point=40), "min",
                               samples=500).iloc[0]
  assert row["n"] == 40 and row["median_low"] < np.median(values) < row["median_high"]
  assert row["median_high"] - row["median_low"] > 0.1


# ---------------------------------------------------------------------------------------------
# Intervals.

def test_intervals_by_hand_and_bias_of_the_best():
  table = significance.intervals(_trials({"a": [4.0, 1.0, 3.0, 2.0], "one": [7.0]}), "min",
                                 samples=400)
  a, one = table.iloc[0], table.iloc[1]
  assert (a["name"], a["n"], a["best"], a["median"]) == ("loss=a", 4, 1.0, 2.5)
  # A resample holds trial 1.0 with probability 1 - (3/4)^4 = 0.68: the best's interval starts
  # at the observed best (the bias the docstring describes).
  assert a["best_low"] == 1.0 and 1.0 < a["best_high"] <= 4.0
  assert 1.0 <= a["median_low"] < 2.5 < a["median_high"] <= 4.0
  assert one[["best", "best_low", "best_high", "median", "median_low", "median_high"]].tolist() \
      == [7.0] * 6


def test_median_interval_covers_the_true_median():
  rng = np.random.default_rng(9)
  large = significance.intervals(_trials({"a": rng.normal(50, 5, 400)}), "min").iloc[0]
  assert large["median_low"] < 50 < large["median_high"]
  assert large["median_high"] - large["median_low"] < 2.0
  covered = 0
  for _ in range(60):
    row = significance.intervals(_trials({"a": rng.normal(50, 5, 40)}), "min",
                                 samples=300).iloc[0]
    covered += row["median_low"] <= 50 <= row["median_high"]
  assert covered >= 51  # 95% nominal: 57 expected.


# ---------------------------------------------------------------------------------------------
# What is left out, determinism, bad input.

def test_reruns_and_unfinished_trials_are_left_out():
  rng = np.random.default_rng(10)
  values = {"a": rng.normal(0, 1, 10), "b": rng.normal(0, 1, 10)}
  plain = _trials(values)
  # Re-runs of a point with a new seed, far better than any search trial, and a failed trial.
  reruns = _trials({"a": [-100.0, -99.0]}, source="rerun", start_id=100)
  failed = _trials({"b": [0.0]}, start_id=200).assign(status="failed", value=math.nan)
  dead = _trials({"c": [0.0]}, start_id=300).assign(status="diverged", value=math.nan)
  mixed = pd.concat([plain, reruns, failed, dead], ignore_index=True)
  expected = significance.pairwise(plain, "min", samples=200)
  table = significance.pairwise(mixed, "min", samples=200)
  pd.testing.assert_frame_equal(table[table["n_a"].gt(0) & table["n_b"].gt(0)]
                                .reset_index(drop=True), expected)
  assert len(table) == 3 * 2 * 4
  lonely = table[(table["setting_a"] == "loss=c") | (table["setting_b"] == "loss=c")]
  assert lonely["p_a_better"].isna().all() and set(lonely["verdict"]) == {"not enough trials"}
  spans = significance.intervals(mixed, "min", samples=200)
  assert spans["n"].tolist() == [10, 10, 0] and spans.iloc[2, 3:].isna().all()


def test_deterministic_for_a_seed():
  rng = np.random.default_rng(11)
  trials = _trials({"a": rng.normal(0, 1, 20), "b": rng.normal(0.3, 1, 25)})
  first = significance.pairwise(trials, "min", samples=300, seed=5)
  pd.testing.assert_frame_equal(first, significance.pairwise(trials, "min", samples=300, seed=5))
  other = significance.pairwise(trials, "min", samples=300, seed=6)
  assert first["p_a_better"].tolist() == other["p_a_better"].tolist()  # Exact, no sampling.
  assert first["ci_low"].tolist() != other["ci_low"].tolist()
  # A third setting does not change the first two's resamples.
  more = pd.concat([trials, _trials({"c": rng.normal(0, 1, 5)}, start_id=1000)])
  grown = significance.pairwise(more, "min", samples=300, seed=5)
  grown = grown[grown["setting_a"].ne("loss=c") & grown["setting_b"].ne("loss=c")]
  pd.testing.assert_frame_equal(grown.reset_index(drop=True), first)


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "median"}, "mode 'median'; valid: min, max"),
    ({"ks": (0, 5)}, "k = 0 in ks"),
    ({"ks": (1, 1)}, "names a budget twice"),
    ({"ks": ()}, "ks is empty"),
    ({"samples": 0}, "samples = 0"),
    ({"seed": -1}, "seed = -1"),
])
def test_bad_arguments_name_the_value(kwargs, message):
  args = {"mode": "min", **kwargs}
  with pytest.raises(ValueError, match=re.escape(message)):
    significance.pairwise(_trials({"a": [1.0, 2.0]}), args.pop("mode"), **args)


def test_bad_level():
  with pytest.raises(ValueError, match="level = 1.5"):
    significance.intervals(_trials({"a": [1.0]}), "min", level=1.5)


# ---------------------------------------------------------------------------------------------
# Files.

def test_write_tables_and_heat_map(tmp_path):
  rng = np.random.default_rng(12)
  trials = _from_study_db(tmp_path, {"ns": rng.normal(40, 5, 12), "wgan": rng.normal(30, 5, 12),
                                     "lsgan": rng.normal(45, 5, 8)})
  out = tmp_path / "report"
  written = significance.write(trials, "fid/score", "min", str(out), samples=200)
  names = sorted(p.rsplit("/", 1)[-1] for p in written["files"])
  assert names == ["intervals_fid_score.csv", "intervals_fid_score.md",
                   "significance_fid_score.csv", "significance_fid_score.md",
                   "significance_fid_score.png", "significance_fid_score.tex"]
  for name in ("significance_fid_score.md", "significance_fid_score.tex",
               "significance_fid_score.csv", "intervals_fid_score.md", "intervals_fid_score.csv"):
    text = (out / name).read_text()
    assert all(f"loss={s}" in text for s in ("ns", "wgan", "lsgan")), name
  csv = pd.read_csv(out / "significance_fid_score.csv")
  assert len(csv) == 3 * 2 * 4 and list(csv.columns) == list(significance.PAIRWISE_COLUMNS)
  assert csv["k"].isna().sum() == 6  # Blank k: the full budget.
  md = (out / "significance_fid_score.md").read_text()
  assert md.count("\n| loss=") == 3  # Each pair once.
  assert "P(A better), all trials" in md and "A better" in md
  assert written["markdown"].count("\n# ") + written["markdown"].startswith("# ") == 2
  assert r"\begin{tabular}" in (out / "significance_fid_score.tex").read_text()
  pixels = image.imread(str(out / "significance_fid_score.png"))
  assert pixels.shape[0] > 300 and pixels.shape[1] > 300
  assert pixels[..., :3].std() > 0.05  # Coloured cells, not a blank canvas.


def test_write_without_plots_or_pairs(tmp_path):
  written = significance.write(_trials({"a": [1.0, 2.0, 3.0]}), "fid", "min", str(tmp_path),
                               samples=50, draw=False)
  assert not any(p.endswith(".png") for p in written["files"]) and len(written["files"]) == 5
  assert "No pair to compare: 1 setting(s)." in written["markdown"]
  assert len(pd.read_csv(tmp_path / "significance_fid.csv")) == 0
  assert significance.write(_trials({"a": [1.0]}), "fid", "min", str(tmp_path / "x"),
                            samples=10)["files"][-1].endswith("intervals_fid.md")


@pytest.mark.slow
def test_fifty_settings_of_a_hundred_trials_take_seconds():
  import time
  rng = np.random.default_rng(13)
  trials = _trials({f"s{i:02d}": rng.normal(i * 0.05, 1, 100) for i in range(50)})
  start = time.process_time()
  table = significance.pairwise(trials, "min", samples=1000)
  assert time.process_time() - start < 10.0 and len(table) == 50 * 49 * 4
