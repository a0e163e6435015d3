"""Report tables on a synthetic study.db written with raw sqlite3 in the store's schema."""

import hashlib
import itertools
import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

from compare_gan.report import command
from compare_gan.report import tables
from compare_gan.sweep import store as store_lib

import report_fakes  # Same folder: pytest puts it on sys.path.

# The store's schema (sweep spec section 3), written here without compare_gan.sweep.store: a
# frozen copy, so that changing the tables the report reads is a deliberate change here too.
# test_reads_a_database_the_store_wrote covers the store's own.
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE trials (
  id INTEGER PRIMARY KEY, setting TEXT NOT NULL, labels TEXT NOT NULL, params TEXT NOT NULL,
  seed INTEGER NOT NULL, source TEXT NOT NULL, status TEXT NOT NULL, objective REAL,
  objective_step INTEGER, run_dir TEXT NOT NULL, host TEXT, created TEXT, started TEXT,
  finished TEXT, seconds REAL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT);
CREATE TABLE results (
  trial_id INTEGER NOT NULL REFERENCES trials(id), step INTEGER NOT NULL, metric TEXT NOT NULL,
  value REAL, std REAL, n INTEGER, status TEXT, protocol TEXT,
  PRIMARY KEY (trial_id, step, metric));
"""
STUDY_TEXT = """# Parameters for study:
study.mode = 'min'
study.name = 'synthetic'
study.objective = 'fid_score'
"""
NS_NONE = {"loss": "ns", "penalty": "none"}
NS_GP = {"loss": "ns", "penalty": "gp"}
WGAN_NONE = {"loss": "wgan", "penalty": "none"}
# (id, labels, status, fid, step of the best fid, learning_rate, lambda or None)
TRIALS = [
    (1, NS_NONE, "done", 40.0, 200, 1e-4, None), (2, NS_NONE, "done", 35.0, 200, 2e-4, None),
    (3, NS_NONE, "done", 50.0, 200, 1e-3, None), (4, NS_NONE, "done", 33.0, 200, 3.5e-4, None),
    (5, NS_NONE, "done", 60.0, 200, 1e-5, None), (6, NS_NONE, "done", 45.0, 200, 5e-5, None),
    (7, NS_NONE, "failed", None, None, 1e-2, None),
    (8, NS_NONE, "diverged", None, None, 5e-3, None),
    (9, NS_GP, "done", 30.0, 200, 1e-4, 1.0), (10, NS_GP, "done", 31.5, 200, 2e-4, 10.0),
    (11, NS_GP, "done", 38.0, 200, 1e-3, 1.0), (12, NS_GP, "done", 29.25, 300, 2e-4, 1.0),
    (13, WGAN_NONE, "failed", None, None, 1e-4, None),
    (14, WGAN_NONE, "diverged", None, None, 2e-4, None),
    (15, WGAN_NONE, "pending", None, None, 1e-3, None),
    (16, WGAN_NONE, "running", None, None, 1e-4, None),
]


def _key(labels):
  return ",".join(f"{a}={v}" for a, v in labels.items())


def write_study_db(workdir, trials=TRIALS, study_text=STUDY_TEXT, extra_records=True,
                   reruns=()):
  """study.db with `trials`; results rows per done trial: fid at steps 100/200/300 with its
  minimum at the listed step, inception_score 5 + step/100 + id/100 (best at step 300). With
  `extra_records`, the diverged trial 8 has records better than every done trial (which the
  report must ignore) and trial 1 a non-finite record. The trials whose ids are in `reruns`
  are re-runs (source 'rerun', seed = id), the others grid trials with seed 0."""
  conn = sqlite3.connect(str(workdir / "study.db"))
  conn.execute("PRAGMA journal_mode=WAL")
  conn.executescript(SCHEMA)
  conn.executemany("INSERT INTO meta VALUES (?, ?)", [
      ("study_name", "synthetic"), ("study_text", study_text), ("schema_version", "1"),
      ("objective_metric", "fid_score"), ("objective_mode", "min"),
      ("objective_reduce", "best")])
  results = []
  for tid, labels, status, fid, step, lr, lam in trials:
    params = {"learning_rate": lr, "beta1": 0.5}
    if lam is not None:
      params["lambda"] = lam
    conn.execute("INSERT INTO trials (id, setting, labels, params, seed, source, status, "
                 "objective, objective_step, run_dir, seconds, attempts, error) VALUES "
                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 12.5, 1, ?)",
                 (tid, _key(labels), json.dumps(labels), json.dumps(params),
                  tid if tid in reruns else 0, "rerun" if tid in reruns else "grid", status,
                  fid, step, f"{workdir}/trials/{tid:04d}", None if status == "done" else "boom"))
    if fid is not None:
      for s in (100, 200, 300):
        value = fid if s == step else fid + (20.0 if s == 100 else 5.0)
        results.append((tid, s, "fid_score", value, "ok"))
        results.append((tid, s, "inception_score", 5 + s / 100 + tid / 100, "ok"))
  if extra_records:
    ids = {t[0] for t in trials}
    results += [r for r in [(8, 100, "fid_score", 1.0, "ok"),
                            (8, 100, "inception_score", 100.0, "ok"),
                            (1, 400, "fid_score", None, "non_finite_output")] if r[0] in ids]
  conn.executemany("INSERT INTO results (trial_id, step, metric, value, status) "
                   "VALUES (?, ?, ?, ?, ?)", results)
  conn.commit()
  conn.close()
  return workdir


@pytest.fixture
def study(tmp_path):
  return write_study_db(tmp_path)


def _best(workdir, metric="fid_score", mode="min"):
  trials, results = tables.load(str(workdir))
  objective = tables.read_objective(str(workdir))
  return tables.best_models(tables.with_values(trials, results, metric, mode, objective),
                            metric, mode)


def test_load_parses_every_trial_and_result(study):
  trials, results = tables.load(str(study))
  assert list(trials["id"]) == list(range(1, 17))
  assert trials.loc[8, "labels"] == NS_GP and trials.loc[8, "params"]["lambda"] == 1.0
  assert len(results) == 10 * 6 + 3
  assert tables.read_objective(str(study)) == ("fid_score", "min")


def test_best_models_one_row_per_setting_best_first(study):
  best = _best(study)
  assert list(best["loss"]) == ["ns", "ns", "wgan"]
  assert list(best["penalty"]) == ["gp", "none", "none"]
  assert best["fid_score"].iloc[:2].tolist() == [29.25, 33.0]
  assert math.isnan(best["fid_score"].iloc[2])
  assert best["trial"].iloc[:2].tolist() == [12, 4]
  assert best["step"].iloc[:2].tolist() == [300, 200]
  assert best["learning_rate"].iloc[:2].tolist() == [2e-4, 3.5e-4]
  assert best["lambda"].iloc[0] == 1.0 and pd.isna(best["lambda"].iloc[1])
  # Failed and diverged trials are counted but never enter best or median.
  assert best[["done", "failed", "diverged", "pending"]].values.tolist() == [
      [4, 0, 0, 0], [6, 1, 1, 0], [0, 1, 1, 2]]
  assert best["median_fid_score"].iloc[:2].tolist() == [30.75, 42.5]


def test_other_metric_takes_each_trials_best_step_and_skips_diverged(study):
  best = _best(study, "inception_score", "max")
  assert best["trial"].iloc[:2].tolist() == [12, 6]  # Not the diverged trial 8 (IS 100).
  assert best["inception_score"].iloc[:2].tolist() == pytest.approx([8.12, 8.06])
  assert best["step"].iloc[:2].tolist() == [300, 300]
  # The objective's metric with the other mode is recomputed from the results rows.
  worst = _best(study, "fid_score", "max")
  assert best.columns.tolist()[:3] == worst.columns.tolist()[:2] + ["inception_score"]
  assert worst["fid_score"].iloc[0] == 80.0 and worst["trial"].iloc[0] == 5


def test_no_finished_trials_gives_empty_tables(tmp_path):
  write_study_db(tmp_path, trials=[t for t in TRIALS if t[2] != "done"])
  best = _best(tmp_path)
  assert best["fid_score"].isna().all() and best["done"].sum() == 0
  assert best["failed"].sum() == 2 and best["diverged"].sum() == 2
  empty = tmp_path / "empty"
  empty.mkdir()
  write_study_db(empty, trials=[])
  messages = []
  report = command.make_report(str(empty), log=messages.append)
  assert len(pd.read_csv(empty / "report" / "best_models.csv")) == 0
  assert report["markdown"].count("\n") == 2 and "No finished trial" in messages[0]


def test_missing_db_names_the_path(tmp_path, capsys):
  with pytest.raises(FileNotFoundError, match=str(tmp_path / "study.db")):
    tables.load(str(tmp_path))
  assert command.main(["--workdir", str(tmp_path)]) == 2
  assert str(tmp_path / "study.db") in capsys.readouterr().err


def test_unknown_metric_lists_the_known_ones(study, capsys):
  assert command.main(["--workdir", str(study), "--metric", "fid"]) == 2
  assert "fid_score, inception_score" in capsys.readouterr().err


def test_reads_a_snapshot_while_a_driver_writes_and_changes_nothing(study):
  before = hashlib.sha256((study / "study.db").read_bytes()).hexdigest()
  assert len(tables.load(str(study))[0]) == 16
  assert hashlib.sha256((study / "study.db").read_bytes()).hexdigest() == before
  writer = sqlite3.connect(str(study / "study.db"))
  writer.execute("BEGIN IMMEDIATE")
  writer.execute("INSERT INTO trials (id, setting, labels, params, seed, source, status, "
                 "run_dir) VALUES (17, 'default', '{}', '{}', 0, 'gp', 'pending', 'x')")
  assert len(tables.load(str(study))[0]) == 16  # Uncommitted: not seen, not blocked.
  writer.commit()
  assert len(tables.load(str(study))[0]) == 17
  writer.close()
  reader = tables.connect(str(study))
  with pytest.raises(sqlite3.OperationalError, match="readonly"):
    reader.execute("DELETE FROM trials")
  reader.close()


def test_the_objective_is_the_one_the_store_recorded(study, capsys):
  db = sqlite3.connect(str(study / "study.db"))
  # The stored study text says otherwise: the report reads the meta row, never the text.
  db.execute("UPDATE meta SET value = 'swd_pixels' WHERE key = 'objective_metric'")
  db.execute("UPDATE meta SET value = 'max' WHERE key = 'objective_mode'")
  db.commit()
  assert tables.read_objective(str(study)) == ("swd_pixels", "max")
  db.execute("UPDATE meta SET value = 'best' WHERE key = 'objective_mode'")
  db.commit()
  with pytest.raises(ValueError, match="'best'.*min, max"):
    tables.read_objective(str(study))
  db.execute("DELETE FROM meta WHERE key LIKE 'objective_%'")
  db.commit()
  db.close()
  with pytest.raises(ValueError, match="lacks objective_metric, objective_mode"):
    tables.read_objective(str(study))
  assert command.main(["--workdir", str(study), "--no_plots"]) == 2
  assert "lacks objective_metric" in capsys.readouterr().err


def test_reads_a_database_the_store_wrote(tmp_path):
  study = report_fakes.fake_study("real", mode="max", reduce="last")
  with store_lib.Store(str(tmp_path / store_lib.DATABASE)) as store:
    store.init_study(study)
    tid = store.add_trial(setting="loss=ns", labels={"loss": "ns"}, params={"lr": 1e-4},
                          seed=0, source="grid", trials_dir=str(tmp_path), description="ns")
    store.mark_running(tid)
    store.finish_trial(tid, "done", 0.5, 2, 1.0, records=[
        dict(step=2, metric="swd_pixels", value=0.5, status="ok", protocol={"n": 8})])
  trials, results = tables.load(str(tmp_path))
  assert list(trials.columns) == list(store_lib.TRIAL_COLUMNS)
  assert trials.loc[0, "labels"] == {"loss": "ns"} and trials.loc[0, "objective"] == 0.5
  assert list(results.columns) == list(store_lib.RESULT_COLUMNS)
  assert results[["step", "metric", "value"]].values.tolist() == [[2, "swd_pixels", 0.5]]
  assert tables.read_objective(str(tmp_path)) == ("swd_pixels", "max")


def test_expected_best_matches_enumeration():
  rng = np.random.default_rng(3)
  values = rng.uniform(20, 80, size=7)
  for mode, pick in (("min", min), ("max", max)):
    exact = tables.expected_best(values, mode)
    for k in range(1, 8):
      subsets = [pick(c) for c in itertools.combinations(values, k)]
      assert exact[k - 1] == pytest.approx(np.mean(subsets), rel=1e-12)
  # Large m: weights from ratios, no overflow of C(m, k).
  big = tables.expected_best(np.arange(2000.0), "min")
  assert np.isfinite(big).all() and big[0] == pytest.approx(999.5) and big[-1] == 0.0


def test_bootstrap_agrees_with_the_exact_expectation():
  values = np.array([40.0, 35.0, 50.0, 33.0, 60.0, 45.0, 70.0, 31.0])
  best = tables.bootstrap_best(values, "min", samples=4000, seed=1)
  assert best.shape == (4000, 8) and np.isin(best, values).all()
  assert (best[:, -1] == 31.0).all()
  np.testing.assert_allclose(best.mean(axis=0), tables.expected_best(values, "min"), atol=1.0)
  np.testing.assert_array_equal(best, tables.bootstrap_best(values, "min", 4000, seed=1))


def test_budget_table_rows_and_band(study):
  trials, results = tables.load(str(study))
  trials = tables.with_values(trials, results, "fid_score", "min", ("fid_score", "min"))
  budget = tables.budget_table(trials, "fid_score", "min", samples=500, seed=0)
  assert budget.groupby("setting", sort=False)["k"].max().to_dict() == {
      "loss=ns,penalty=none": 6, "loss=ns,penalty=gp": 4}
  first = budget[budget["k"] == 1].set_index("setting")
  assert first.loc["loss=ns,penalty=gp", "expected_best"] == pytest.approx(32.1875)
  assert first.loc["loss=ns,penalty=gp", "name"] == "loss=ns, penalty=gp"
  last = budget[budget["k"] == budget["n_trials"]]
  assert (last["lower"] == last["expected_best"]).all() and (last["upper"] == last["lower"]).all()
  assert (budget["lower"] <= budget["upper"]).all()
  assert (np.diff(budget[budget["n_trials"] == 6]["expected_best"]) < 0).all()


def test_markdown_and_latex(study):
  best = _best(study)
  md = tables.to_markdown(best, "fid_score").splitlines()
  assert md[0] == ("| loss | penalty | fid_score | step | trial | seed | learning_rate | beta1 "
                   "| lambda | done | failed | diverged | pending | median_fid_score |")
  assert md[1].startswith("|---|---|---:|") and len(md) == 5
  assert md[2] == "| ns | gp | 29.250 | 300 | 12 | 0 | 0.0002 | 0.5 | 1 | 4 | 0 | 0 | 0 | 30.750 |"
  assert md[4].startswith("| wgan | none | - | - | - | - |")
  tex = tables.to_latex(best, "fid_score")
  body = [line for line in tex.splitlines() if not line.startswith("%")]
  assert body[0] == r"\begin{tabular}{llrrrrrrrrrrrr}" and body[1] == r"\toprule"
  assert r"median\_fid\_score" in tex and r"learning\_rate" in tex
  assert not any("_" in line.replace(r"\_", "") for line in body)
  assert sum(line.endswith(r"\\") for line in body) == 4 and body[-2] == r"\bottomrule"


def test_formatting():
  assert tables.format_metric(29.25) == "29.250" and tables.format_metric(0.01234) == "0.01234"
  assert tables.format_metric(float("nan")) == "" and tables.format_cell(20000) == "20000"
  assert tables.latex_escape("a_b & 50% {x}") == r"a\_b \& 50\% \{x\}"
  # OT1 text prints '|' as a dash, '<' and '>' as inverted marks; braces of a replacement are
  # not escaped again.
  assert tables.latex_escape("lr|beta <2> \\") == (
      r"lr\textbar{}beta \textless{}2\textgreater{} \textbackslash{}")
  assert tables.file_stem("fid/score 10k") == "fid_score_10k"
  assert tables.file_stem("swd_pixels-1.5") == "swd_pixels-1.5"
  assert tables.markdown_table(["a", "b|c"], [["", "1"]], [False, True]) == (
      "| a | b\\|c |\n|---|---:|\n| - | 1 |\n")
  assert tables.latex_table(["a|b", "n"], [["", "1"]], [False, True]).splitlines()[1:] == [
      r"\begin{tabular}{lr}", r"\toprule", r"a\textbar{}b & n \\", r"\midrule",
      r"-- & 1 \\", r"\bottomrule", r"\end{tabular}"]
  assert tables.top_values([5, 1, 4, 2, 3] * 5, "min").tolist() == [1, 1]  # 5% of 25 -> 2.
  assert tables.top_values([5.0, 1.0], "max").tolist() == [5.0]


def test_report_command_writes_tables_and_prints(study, capsys):
  out = study / "out"
  assert command.main(["--workdir", str(study), "--out", str(out), "--no_plots"]) == 0
  printed = capsys.readouterr().out
  assert "| ns | gp | 29.250 |" in printed and str(out / "budget_fid_score.csv") in printed
  assert not list(out.glob("*.png"))
  assert len(pd.read_csv(out / "best_models.csv")) == 3
  every = pd.read_csv(out / "trials.csv")
  assert len(every) == 16 and {"loss", "penalty", "learning_rate", "lambda"} <= set(every)
  assert every.set_index("id").loc[12, "objective"] == 29.25
  command.main(["--workdir", str(study), "--out", str(out), "--metric", "inception_score",
                "--no_plots"])
  assert "by inception_score (max)" in capsys.readouterr().out  # Mode from the metric's name.
  budget = pd.read_csv(out / "budget_inception_score.csv")
  assert budget.groupby("setting")["expected_best"].is_monotonic_increasing.all()
  every = pd.read_csv(out / "trials.csv").set_index("id")
  assert every.loc[6, "inception_score"] == pytest.approx(8.06)


# ---------------------------------------------------------------------------------------------
# Re-runs: a setting's best point trained again with new seeds, no part of the search.

# Trial 12 (the best of ns/gp, 29.25) and trial 4 (the best of ns/none, 33.0) re-run. The
# re-run 17 beats every search trial of ns/gp, and 21 every search trial of the study: were
# they counted, ns/none (20.0) would come first with trial 21 as its best.
RERUNS = [
    (17, NS_GP, "done", 25.0, 200, 2e-4, 1.0), (18, NS_GP, "done", 34.0, 200, 2e-4, 1.0),
    (19, NS_GP, "failed", None, None, 2e-4, 1.0), (20, NS_GP, "pending", None, None, 2e-4, 1.0),
    (21, NS_NONE, "done", 20.0, 300, 3.5e-4, None),
]


def _trials_with_values(workdir):
  trials, results = tables.load(str(workdir))
  return tables.with_values(trials, results, "fid_score", "min", ("fid_score", "min"))


def test_reruns_count_in_no_search_table_but_are_listed(tmp_path):
  plain, rerun = tmp_path / "plain", tmp_path / "rerun"
  plain.mkdir()
  rerun.mkdir()
  write_study_db(plain)
  write_study_db(rerun, trials=TRIALS + RERUNS, reruns={t[0] for t in RERUNS})
  trials = _trials_with_values(rerun)
  assert list(tables.search_trials(trials)["id"]) == list(range(1, 17))
  best = tables.best_models(trials, "fid_score", "min")
  # The hand-computed table of test_best_models_one_row_per_setting_best_first, unchanged.
  assert list(best["penalty"]) == ["gp", "none", "none"]
  assert best["fid_score"].iloc[:2].tolist() == [29.25, 33.0]
  assert best["trial"].iloc[:2].tolist() == [12, 4] and best["seed"].iloc[:2].tolist() == [0, 0]
  assert best[["done", "failed", "diverged", "pending"]].values.tolist() == [
      [4, 0, 0, 0], [6, 1, 1, 0], [0, 1, 1, 2]]
  assert best["median_fid_score"].iloc[:2].tolist() == [30.75, 42.5]
  pd.testing.assert_frame_equal(best, _best(plain))
  budget = tables.budget_table(trials, "fid_score", "min", samples=200, seed=0)
  assert budget.groupby("setting", sort=False)["k"].max().to_dict() == {
      "loss=ns,penalty=none": 6, "loss=ns,penalty=gp": 4}
  gp = budget[budget["setting"] == "loss=ns,penalty=gp"].set_index("k")["expected_best"]
  # The four search trials 29.25, 30, 31.5, 38 by hand: the best of k is the i-th with
  # probability C(4-i, k-1) / C(4, k); k = 2: (3 * 29.25 + 2 * 30 + 31.5) / 6. The re-run's
  # 25 would make k = 5 the best, 25.
  assert gp.tolist() == pytest.approx([32.1875, 29.875, 29.4375, 29.25], rel=1e-12)
  pd.testing.assert_frame_equal(
      budget, tables.budget_table(_trials_with_values(plain), "fid_score", "min", 200, 0))
  every = tables.trials_table(trials, "fid_score", ("fid_score", "min"), "min")
  assert len(every) == 21
  assert every.set_index("id").loc[[12, 17, 21], ["source", "seed", "objective"]].values.tolist(
      ) == [["grid", 0, 29.25], ["rerun", 17, 25.0], ["rerun", 21, 20.0]]



def test_the_report_draws_the_top_5_percent_of_the_search_only(tmp_path, monkeypatch):
  from compare_gan.report import plots  # matplotlib: only this test of the file draws.
  write_study_db(tmp_path, trials=TRIALS + RERUNS, reruns={t[0] for t in RERUNS})
  drawn = []
  real = plots._horizontal_boxplot
  def spy(ax, data, positions):
    drawn.extend(list(d) for d in data)
    real(ax, data, positions)
  monkeypatch.setattr(plots, "_horizontal_boxplot", spy)
  report = command.make_report(str(tmp_path), bootstrap_samples=20, galleries=False,
                               log=lambda m: None)
  # One trial (5% rounded up) of each setting, bottom to top: ns/none's 33, then ns/gp's
  # 29.25; with the re-runs it would be 25 and 20.
  assert drawn == [[33.0], [29.25]]
  out = tmp_path / "report"
  best = pd.read_csv(out / "best_models.csv")
  assert best["trial"].iloc[:2].tolist() == [12, 4] and best["done"].iloc[:2].tolist() == [4, 6]
  budget = pd.read_csv(out / "budget_fid_score.csv")
  assert budget.groupby("setting")["k"].max().to_dict() == {
      "loss=ns,penalty=gp": 4, "loss=ns,penalty=none": 6}
  assert len(pd.read_csv(out / "trials.csv")) == 21
  assert str(out / "reruns_fid_score.csv") in report["files"]


# ---------------------------------------------------------------------------------------------
# Old and damaged study.db files.

LEGACY_STUDY_TEXT = ("# study.* as parsed (gin.config_str()):\n" + STUDY_TEXT +
                     "\n# study file:\n# A comment.\nstudy.name = 'synthetic'\n")


def test_a_study_db_from_before_study_ids_reports_before_and_after_its_upgrade(tmp_path,
                                                                            capsys):
  write_study_db(tmp_path, study_text=LEGACY_STUDY_TEXT)
  assert "study_id" not in tables.read_meta(str(tmp_path))
  assert command.main(["--workdir", str(tmp_path), "--no_plots"]) == 0
  before = capsys.readouterr().out
  assert "| ns | gp | 29.250 |" in before
  study = report_fakes.fake_study("synthetic", metric="fid_score", spec_text=STUDY_TEXT,
                                  text=STUDY_TEXT + "# base configs\n")
  with store_lib.Store(str(tmp_path / store_lib.DATABASE)) as store:  # A sweep resumes it.
    assert store.init_study(study) is False and store.upgraded
  assert tables.read_meta(str(tmp_path))["fingerprint_version"] == "2"
  assert command.main(["--workdir", str(tmp_path), "--no_plots"]) == 0
  assert capsys.readouterr().out == before


@pytest.mark.parametrize("how, why", [
    ("random bytes", "file is not a database"), ("truncated", "database disk image is malformed"),
    ("empty", "it is empty: 0 bytes")])
def test_a_corrupt_study_db_is_one_line_exit_1(study, capsys, how, why):
  path = study / "study.db"
  data = path.read_bytes()
  if how == "random bytes":
    path.write_bytes(np.random.default_rng(0).bytes(len(data)))
  elif how == "truncated":
    path.write_bytes(data[:len(data) // 2])
  else:
    path.write_bytes(b"")
  damaged = path.read_bytes()
  with pytest.raises(store_lib.StoreUnreadable, match=why):
    tables.load(str(study))
  assert command.main(["--workdir", str(study), "--no_plots"]) == 1
  err = capsys.readouterr().err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1
  assert err.startswith(f"compare_gan report: {path} is not a readable SQLite database ({why}")
  assert "restore it from a backup" in err
  assert path.read_bytes() == damaged and not (study / "report").exists()
