"""The seed spread of re-run points (compare_gan.report.reruns) against hand-computed values,
on frames shaped like `tables.with_values` and on a study.db the store wrote."""

import math
import os

import numpy as np
import pandas as pd
import pytest

from compare_gan.report import reruns
from compare_gan.report import tables
from compare_gan.sweep import store as store_lib

NS = {"loss": "ns"}
WGAN = {"loss": "wgan"}
# (id, labels, params, seed, source, status, value)
ROWS = [
    (1, NS, {"lr": 1e-4}, 0, "grid", "done", 10.0),
    (2, NS, {"lr": 2e-4}, 0, "gp", "done", 12.0),
    (3, NS, {"lr": 2e-4}, 1, "gp", "done", 9.0),  # The same point, a better seed.
    (4, WGAN, {"lr": 1e-4}, 0, "grid", "done", 30.0),
    (5, WGAN, {"lr": 3e-4}, 0, "grid", "failed", math.nan),
    (6, NS, {"lr": 1e-4}, 2, "rerun", "done", 11.0),
    (7, NS, {"lr": 1e-4}, 3, "rerun", "done", 13.0),
    (8, NS, {"lr": 1e-4}, 4, "rerun", "failed", math.nan),
    (9, NS, {"lr": 2e-4}, 2, "rerun", "done", 8.0),
    (10, WGAN, {"lr": 1e-4}, 1, "rerun", "diverged", math.nan),
    (11, WGAN, {"lr": 1e-4}, 2, "rerun", "done", 40.0),
    (12, WGAN, {"lr": 1e-4}, 3, "rerun", "done", 20.0),
]


def _frame(rows=ROWS):
  return pd.DataFrame([dict(id=i, setting=",".join(f"{k}={v}" for k, v in labels.items()),
                            labels=labels, params=params, seed=seed, source=source,
                            status=status, value=value)
                       for i, labels, params, seed, source, status, value in rows])


def test_seed_spread_per_rerun_point():
  spread = reruns.seed_spread(_frame(), "min")
  assert list(spread.columns) == reruns.COLUMNS
  # loss=ns first (order of appearance): lr 2e-4 (search 9.0, trial 3) before lr 1e-4 (10.0).
  assert list(spread["setting"]) == ["loss=ns", "loss=ns", "loss=wgan"]
  assert list(spread["trial"]) == [3, 1, 4]
  assert list(spread["search_value"]) == [9.0, 10.0, 30.0]
  assert list(spread["params"]) == [{"lr": 2e-4}, {"lr": 1e-4}, {"lr": 1e-4}]
  assert list(spread["name"]) == ["loss=ns", "loss=ns", "loss=wgan"]
  assert list(spread["n_reruns"]) == [1, 3, 3]
  assert list(spread["n_seeds"]) == [1, 2, 2]
  # lr 1e-4 of ns: seeds 2, 3 -> 11, 13 (seed 4 failed): mean 12, std sqrt(2).
  one = spread.iloc[1]
  assert (one["mean"], one["min"], one["max"]) == (12.0, 11.0, 13.0)
  assert one["std"] == pytest.approx(math.sqrt(2.0))
  assert list(one["values"]) == [2, 3, 4]
  assert one["values"][2] == 11.0 and one["values"][3] == 13.0 and math.isnan(one["values"][4])
  # A single seed has no deviation; the search value is never among the statistics.
  assert spread.iloc[0]["mean"] == 8.0 and math.isnan(spread.iloc[0]["std"])
  wgan = spread.iloc[2]
  assert (wgan["mean"], wgan["min"], wgan["max"]) == (30.0, 20.0, 40.0)
  assert wgan["std"] == pytest.approx(np.std([40.0, 20.0], ddof=1))


def test_mode_max_picks_the_highest_search_trial():
  spread = reruns.seed_spread(_frame(), "max")
  # ns lr 2e-4 is now trial 2 (12.0), and it ranks first (12 > 10).
  assert list(spread["trial"]) == [2, 1, 4]
  assert list(spread["search_value"]) == [12.0, 10.0, 30.0]
  with pytest.raises(ValueError, match="mode 'best'; valid: min, max"):
    reruns.seed_spread(_frame(), "best")


def test_write_files_markdown_and_csv(tmp_path):
  out = reruns.write(_frame(), "fid/score (10k)", "min", str(tmp_path / "report"))
  md, csv = (str(tmp_path / "report" / f"reruns_fid_score__10k_.{ext}") for ext in ("md", "csv"))
  assert out["files"] == [md, csv]
  assert open(md).read() == out["markdown"]
  lines = out["markdown"].splitlines()
  assert lines[0] == ("| setting | params | trial | search fid/score (10k) | seeds | "
                      "mean fid/score (10k) | std | min | max | per seed |")
  assert lines[3] == ("| loss=ns | lr=0.0001 | 1 | 10.000 | 2/3 | 12.000 | 1.414 | 11.000 | "
                      "13.000 | 2: 11.000, 3: 13.000, 4: n/a |")
  assert len(lines) == 2 + 3
  table = pd.read_csv(csv)
  assert list(table.columns) == ["setting", "loss", "lr", "trial", "search_value", "n_reruns",
                                 "n_seeds", "mean", "std", "min", "max", "seed_1", "seed_2",
                                 "seed_3", "seed_4"]
  assert list(table["trial"]) == [3, 1, 4]
  assert table["seed_2"].tolist() == [8.0, 11.0, 40.0]
  assert table["seed_4"].isna().tolist() == [True, True, True]
  assert table["seed_1"].isna().tolist() == [True, True, True]  # wgan seed 1 diverged.


def test_nothing_is_written_without_reruns(tmp_path):
  frame = _frame([r for r in ROWS if r[4] != "rerun"])
  assert reruns.seed_spread(frame, "min").empty
  assert reruns.write(frame, "fid_score", "min", str(tmp_path / "report")) == {
      "files": [], "markdown": ""}
  assert not os.path.exists(tmp_path / "report")


def test_reads_a_study_db_the_sweep_store_wrote(tmp_path):
  study = type("Study", (), dict(
      name="toy", text="study.name = 'toy'\n", spec_text="study.name = 'toy'\n",
      path="/toy.gin", objective=type("Objective", (), dict(
          metric="fid_score", mode="min", reduce="best"))()))()
  with store_lib.Store(str(tmp_path / "study.db")) as store:
    store.init_study(study)
    for params, seed, source, fid in [({"lr": 1e-4}, 0, "grid", 25.0),
                                      ({"lr": 2e-4}, 0, "grid", 21.0),
                                      ({"lr": 2e-4}, 1, "rerun", 23.0),
                                      ({"lr": 2e-4}, 2, "rerun", 26.0)]:
      trial_id = store.add_trial(setting="loss=ns", labels=NS, params=params, seed=seed,
                                 source=source, trials_dir=str(tmp_path / "trials"),
                                 description="t")
      store.finish_trial(trial_id, "done", fid, 100, records=[
          dict(step=100, metric="fid_score", value=fid, status="ok", protocol={})])
  trials, results = tables.load(str(tmp_path))
  objective = tables.read_objective(str(tmp_path))
  spread = reruns.seed_spread(tables.with_values(trials, results, *objective, objective),
                              "min")
  (row,) = spread.to_dict("records")
  assert (row["trial"], row["search_value"], row["n_seeds"]) == (2, 21.0, 2)
  assert (row["mean"], row["min"], row["max"]) == (24.5, 23.0, 26.0)
  assert row["std"] == pytest.approx(math.sqrt(4.5))
  assert row["values"] == {1: 23.0, 2: 26.0}
