"""The sweep store (study.db): schema, trial life cycle, resume bookkeeping, study mismatch,
the driver lock (also across processes) and CSV/Parquet export."""

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import types

import pandas as pd
import pytest

from compare_gan.sweep import store as store_lib


def _study(text="study.name = 'toy'\n", mode="min", spec_text="study.name = 'toy'\n"):
  return types.SimpleNamespace(
      name="toy", text=text, spec_text=spec_text, path="/studies/toy.gin",
      objective=types.SimpleNamespace(metric="fid_score", mode=mode, reduce="best"))


def _record(step, metric, value, status="ok"):
  return {"step": step, "checkpoint": f"checkpoints/ckpt-{step}", "metric": metric,
          "value": value, "std": 0.1, "values": [value], "n": 70, "status": status,
          "protocol": {"num_fake": 70, "metric": metric}, "evaluated": "2026-01-01T00:00:00"}


def _add(store, tmp_path, setting="loss=ns", params=None, seed=0):
  return store.add_trial(setting=setting, labels={"loss": setting.split("=")[1]},
                         params=params if params is not None else {"learning_rate": 2e-4},
                         seed=seed, source="grid", trials_dir=str(tmp_path / "trials"),
                         description="ns-lr2e-4")


@pytest.fixture
def store(tmp_path):
  with store_lib.Store(str(tmp_path / "study.db")) as s:
    assert s.init_study(_study()) is True
    yield s


def test_schema_wal_and_meta(store, tmp_path):
  db = sqlite3.connect(str(tmp_path / "study.db"))
  assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
  tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
  assert {"meta", "trials", "results"} <= tables
  meta = store.meta()
  assert meta["study_name"] == "toy" and meta["study_text"] == "study.name = 'toy'\n"
  assert meta["schema_version"] == "1" and meta["study_path"] == "/studies/toy.gin"
  assert meta["objective_mode"] == "min" and meta["objective_metric"] == "fid_score"
  assert meta["fingerprint_version"] == "2"
  assert meta["study_fingerprint"] == hashlib.sha256(b"study.name = 'toy'\n").hexdigest()
  assert re.fullmatch(r"[0-9a-f]{32}", meta["study_id"]) and store.study_id == meta["study_id"]
  with store_lib.Store(str(tmp_path / "other.db")) as other:  # Every study.db its own id.
    other.init_study(_study())
    assert other.study_id != store.study_id


def test_tables_have_the_declared_columns_and_the_objective(store, tmp_path):
  db = sqlite3.connect(str(tmp_path / "study.db"))
  for table, columns in (("trials", store_lib.TRIAL_COLUMNS),
                         ("results", store_lib.RESULT_COLUMNS)):
    assert tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})")) == columns
  db.close()
  assert store_lib.stored_objective(store.meta()) == ("fid_score", "min")
  with pytest.raises(ValueError, match="lacks objective_metric, objective_mode"):
    store_lib.stored_objective({"study_name": "toy"})


def test_trial_life_cycle(store, tmp_path):
  first = _add(store, tmp_path)
  second = _add(store, tmp_path, params={"learning_rate": 1e-3}, seed=1)
  assert (first, second) == (1, 2)
  trial = store.trial(1)
  assert trial["status"] == "pending" and trial["attempts"] == 0
  assert trial["run_dir"] == str(tmp_path / "trials" / "0001-ns-lr2e-4")
  assert trial["params"] == {"learning_rate": 2e-4} and trial["labels"] == {"loss": "ns"}

  store.mark_running(1, "hostA")
  assert store.trial(1)["status"] == "running" and store.trial(1)["attempts"] == 1
  # Older records of a (step, metric) are replaced by the newest; NaN/inf are stored as NULL.
  records = [_record(2, "fid_score", 40.0), _record(4, "fid_score", 35.0),
             _record(4, "fid_score", 30.0), _record(4, "kid_score", float("nan"),
                                                    "non_finite_output")]
  store.finish_trial(1, "done", 30.0, 4, 12.5, None, records, host="worker1")
  trial = store.trial(1)
  assert (trial["status"], trial["objective"], trial["objective_step"]) == ("done", 30.0, 4)
  assert trial["host"] == "worker1" and trial["seconds"] == 12.5 and trial["finished"]
  rows = store.results(1)
  assert [(r["step"], r["metric"], r["value"]) for r in rows] == [
      (2, "fid_score", 40.0), (4, "fid_score", 30.0), (4, "kid_score", None)]
  assert rows[0]["protocol"] == {"num_fake": 70, "metric": "fid_score"}
  assert rows[2]["status"] == "non_finite_output"

  # Finishing again (a re-run) replaces the trial's result rows.
  store.finish_trial(1, "done", 31.0, 2, 1.0, None, [_record(2, "fid_score", 31.0)])
  assert [(r["step"], r["value"]) for r in store.results(1)] == [(2, 31.0)]
  store.mark_running(2)
  store.finish_trial(2, "diverged", None, None, 3.0, "diverged at step 2", [])
  assert store.trial(2)["error"] == "diverged at step 2"
  assert store.counts() == {"pending": 0, "running": 0, "done": 1, "failed": 0, "diverged": 1}
  assert [t["id"] for t in store.trials("done")] == [1]

  with pytest.raises(ValueError, match="valid: done, failed, diverged"):
    store.finish_trial(1, "pending")
  with pytest.raises(ValueError, match="Unknown trial status 'finished'"):
    store.trials("finished")
  with pytest.raises(KeyError, match="no trial with id 9"):
    store.mark_running(9, "h")


def test_requeue_running_and_reopen(store, tmp_path):
  for _ in range(3):
    _add(store, tmp_path)
  store.mark_running(1, "h")
  store.mark_running(2, "h")
  store.finish_trial(2, "failed", error="exit status 1")
  store.close()
  with store_lib.Store(str(tmp_path / "study.db")) as again:
    assert again.init_study(_study()) is False  # The same study: resume.
    assert again.requeue_running() == 1
    assert [(t["id"], t["status"]) for t in again.trials()] == [
        (1, "pending"), (2, "failed"), (3, "pending")]
    assert again.trial(1)["attempts"] == 1
    assert _add(again, tmp_path) == 4  # Ids continue.


def test_a_different_study_is_refused_with_a_diff(store, tmp_path):
  store.close()
  with store_lib.Store(str(tmp_path / "study.db")) as again:
    with pytest.raises(store_lib.StudyMismatch) as e:
      again.init_study(_study("study.name = 'toy'\nstudy.budget = 3\n"))
  assert "+study.budget = 3" in str(e.value) and "new --workdir" in str(e.value)


# The study record of a study.db written before study ids and fingerprints (version 1): the
# parsed study.* and then the raw study file.
LEGACY_TEXT = ("# study.* as parsed (gin.config_str()):\nstudy.name = 'toy'\n"
               "\n# study file:\n# The old file, comments and all.\nstudy.name = 'toy'\n")


def _legacy_db(tmp_path, text=LEGACY_TEXT):
  """A study.db as the store wrote it before this version: no study_id, no fingerprint."""
  path = str(tmp_path / "study.db")
  with store_lib.Store(path) as store:
    store.init_study(_study())
    _add(store, tmp_path)
  db = sqlite3.connect(path)
  db.execute("DELETE FROM meta WHERE key IN ('study_id', 'study_fingerprint', "
             "'fingerprint_version')")
  db.execute("UPDATE meta SET value = ? WHERE key = 'study_text'", (text,))
  db.commit()
  db.close()
  return path


def test_a_legacy_study_db_is_upgraded_once_when_its_study_is_unchanged(tmp_path):
  path = _legacy_db(tmp_path)
  new_text = "study.name = 'toy'\n# base configs as parsed\nx.y = 1\n"
  with store_lib.Store(path) as store:
    assert store.init_study(_study(text=new_text)) is False and store.upgraded
    meta = store.meta()
    assert meta["study_text"] == new_text and meta["fingerprint_version"] == "2"
    assert meta["study_fingerprint"] == hashlib.sha256(new_text.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{32}", meta["study_id"]) and meta["upgraded"]
    assert [t["id"] for t in store.trials()] == [1]  # Its trials are kept.
  with store_lib.Store(path) as store:  # Once: then it is an ordinary study.db.
    assert store.init_study(_study(text=new_text)) is False and not store.upgraded
    assert store.study_id == meta["study_id"]


def test_a_legacy_study_db_of_another_study_is_refused_with_a_diff(tmp_path):
  path = _legacy_db(tmp_path)
  with store_lib.Store(path) as store:
    with pytest.raises(store_lib.StudyMismatch) as e:
      store.init_study(_study(spec_text="study.name = 'toy'\nstudy.budget = 3\n"))
    assert "+study.budget = 3" in str(e.value) and "holds a different study" in str(e.value)
    assert "study_id" not in store.meta()  # Nothing was written.


def test_an_unknown_study_record_format_is_refused(tmp_path):
  path = _legacy_db(tmp_path)
  db = sqlite3.connect(path)
  db.execute("INSERT INTO meta VALUES ('fingerprint_version', '7')")
  db.commit()
  db.close()
  with store_lib.Store(path) as store:
    with pytest.raises(store_lib.StudyMismatch, match="fingerprint_version '7'; it reads '1' "
                       "and '2'"):
      store.init_study(_study())


def test_requeue_trial_undoes_an_attempt_that_never_started(store, tmp_path):
  _add(store, tmp_path)
  store.mark_running(1, "h")
  store.requeue_trial(1)
  assert (store.trial(1)["status"], store.trial(1)["attempts"]) == ("pending", 0)
  with pytest.raises(KeyError, match="no running trial with id 1"):
    store.requeue_trial(1)


@pytest.mark.parametrize("content, reason", [
    (b"\x00garbage" * 500, "file is not a database"), (b"", "it is empty: 0 bytes")])
def test_an_unreadable_database_is_named(tmp_path, content, reason):
  path = tmp_path / "study.db"
  path.write_bytes(content)
  with pytest.raises(store_lib.StoreUnreadable) as e:
    store_lib.Store(str(path))
  assert str(e.value) == f"{path} is not a readable SQLite database ({reason})"
  assert path.read_bytes() == content


def test_driver_lock(tmp_path):
  workdir = str(tmp_path)
  other = ("import sys\nfrom compare_gan.sweep import store\n"
           "try:\n  store.driver_lock(sys.argv[1]).acquire()\nexcept store.DriverBusy as e:\n"
           "  print(e)\nelse:\n  print('acquired')\n")
  with store_lib.driver_lock(workdir):
    with open(os.path.join(workdir, "driver.lock")) as f:
      assert json.loads(f.read())["pid"] == os.getpid()
    # Another process is refused, naming this one.
    out = subprocess.run([sys.executable, "-c", other, workdir], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert f"pid {os.getpid()}" in out and "another `compare_gan sweep` driver" in out
    with pytest.raises(store_lib.DriverBusy):  # flock is per open file: the same process too.
      with store_lib.driver_lock(workdir):
        pass
  # Released on exit, for this process and others.
  out = subprocess.run([sys.executable, "-c", other, workdir], capture_output=True, text=True,
                       check=True, timeout=60).stdout
  assert out.strip() == "acquired"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export(store, tmp_path, suffix):
  _add(store, tmp_path, params={"learning_rate": 2e-4, "seed": 7})
  _add(store, tmp_path, params={"learning_rate": 1e-3, "seed": 7})
  _add(store, tmp_path, setting="loss=wgan", params={"learning_rate": 1e-4, "seed": 7})
  for trial_id, value in [(1, 30.0), (2, 20.0), (3, 50.0)]:
    store.mark_running(trial_id, "h")
    store.finish_trial(trial_id, "done", value, 4, 1.0, None,
                       [_record(2, "fid_score", value + 5), _record(4, "fid_score", value)])
  _add(store, tmp_path)  # Pending: exported without an objective.
  paths = store.export(str(tmp_path / "out" / f"trials{suffix}"))
  assert paths == [str(tmp_path / "out" / f"trials{suffix}"),
                   str(tmp_path / "out" / f"trials_results{suffix}")]
  read = pd.read_csv if suffix == ".csv" else pd.read_parquet
  trials, results = read(paths[0]), read(paths[1])
  assert list(trials["id"]) == [1, 2, 3, 4]
  assert list(trials["learning_rate"]) == [2e-4, 1e-3, 1e-4, 2e-4]
  assert list(trials["param_seed"])[:3] == [7, 7, 7]  # Clashes with the trial's seed column.
  assert list(trials["seed"]) == [0, 0, 0, 0]
  assert list(trials["loss"]) == ["ns", "ns", "wgan", "ns"]
  assert list(trials["best_in_setting"]) == [False, True, True, False]
  assert len(results) == 6 and set(results["setting"]) == {"loss=ns", "loss=wgan"}
  assert json.loads(results["protocol"][0])["num_fake"] == 70
  with pytest.raises(ValueError, match=r"unknown suffix '\.xlsx'; valid: \.csv, \.parquet"):
    store.export(str(tmp_path / "trials.xlsx"))


def test_export_of_an_empty_store(store, tmp_path):
  paths = store.export(str(tmp_path / "empty.parquet"))
  assert len(pd.read_parquet(paths[0])) == 0 and "metric" in pd.read_parquet(paths[1]).columns
