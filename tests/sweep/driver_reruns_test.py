"""study.reruns: the best points of a setting trained again with new seeds once its search is
over, never told to the sweeper, resumable, in the fingerprint, and checked values.

The sweeps run fake trials (executors.run_trial replaced; a trial's value is a function of its
learning rate and seed given in the test), so the driver's bookkeeping runs in seconds.
"""

import dataclasses
import os
import re
import threading

import pandas as pd
import pytest

from compare_gan import run_dir
from compare_gan.sweep import command
from compare_gan.sweep import driver
from compare_gan.sweep import executors
from compare_gan.sweep import reruns
from compare_gan.sweep import store as store_lib
from compare_gan.sweep import study as study_lib
from compare_gan.sweep import sweepers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RING8 = os.path.join(ROOT, "configs", "examples", "ring8_mlp.gin")
LR = "tf.keras.optimizers.Adam.learning_rate"
STUDY = f"""
study.name = 'reruns'
study.base_configs = [{RING8!r}]
study.parameters = {{'learning_rate': [{LR!r}]}}
study.objective = 'swd_pixels'
study.axes = {{'loss': {{'ns': ['loss.fn = @non_saturating'], 'hinge': ['loss.fn = @hinge']}}}}
study.grid = {{'learning_rate': [1e-4, 2e-4, 3e-4, 4e-4]}}
"""
# (loss, learning rate) -> the search value (seed 0). ns: 2e-4 is best, then 4e-4 (1e-4 and
# 3e-4 fail or are worse); hinge: 3e-4, then 1e-4 (4e-4 diverges).
SEARCH = {("non_saturating", "0.0001"): ("failed", None),
          ("non_saturating", "0.0002"): ("done", 1.0),
          ("non_saturating", "0.0003"): ("done", 9.0),
          ("non_saturating", "0.0004"): ("done", 2.0),
          ("hinge", "0.0001"): ("done", 5.0), ("hinge", "0.0002"): ("done", 7.0),
          ("hinge", "0.0003"): ("done", 4.0), ("hinge", "0.0004"): ("diverged", None)}


def _value(loss, lr, seed):
  """A rerun scores below the search value (luck the other way), so that a best that counted
  reruns would pick one; seed 2 of ns at 4e-4 fails."""
  status, value = SEARCH[(loss, lr)]
  if seed == 0 or value is None:
    return status, value
  if (loss, lr, seed) == ("non_saturating", "0.0004", 2):
    return "failed", None
  return "done", value - 0.5 + 0.25 * seed


def _fake_run_trial(ran):
  def run_trial(task):
    bindings = dict(b.split(" = ", 1) for b in task["bindings"])
    loss = bindings["loss.fn"].lstrip("@")
    seed = int(bindings["train.seed"])
    status, value = _value(loss, bindings[LR], seed)
    ran.append((task["trial_id"], loss, bindings[LR], seed))
    records = [] if value is None else [
        dict(step=3, metric="swd_pixels", value=value, status="ok", protocol={})]
    return dict(trial_id=task["trial_id"], status=status, returncode=0, host="fakehost",
                error=None if status == "done" else f"{status} for the test",
                started=run_dir.now(), finished=run_dir.now(), seconds=0.01, records=records)
  return run_trial


def _write(tmp_path, text):
  path = tmp_path / "study.gin"
  path.write_text(text)
  return str(path)


def _trials(workdir):
  with store_lib.Store(os.path.join(workdir, "study.db")) as store:
    return store.trials()


def _row(trial_id, objective, params, status="done", source="grid", seed=0):
  return dict(id=trial_id, objective=objective, params=params, status=status, source=source,
              seed=seed)


def test_rerun_seeds_skip_the_study_seeds():
  study = study_lib.Study(
      name="s", path="s.gin", spec_text="", configs_text="", base_configs=[], base_bindings=[],
      parameters={}, settings=[], sweeper="grid", budget=0, seeds=[0], objective=None,
      schedule="train_and_eval", eval_every_steps=None, failure_value=None,
      trial_timeout_s=None)
  assert study.reruns == 0 and study.rerun_top == 1 and study.rerun_seeds == []
  assert dataclasses.replace(study, reruns=3).rerun_seeds == [1, 2, 3]
  assert dataclasses.replace(study, seeds=[0, 2, 3], reruns=3).rerun_seeds == [1, 4, 5]
  # "Are GANs Created Equal?" phase 3: the best configuration with seeds 0..49.
  assert [0] + dataclasses.replace(study, reruns=49).rerun_seeds == list(range(50))


def test_originals_rank_points_by_their_best_done_search_trial():
  minimize, maximize = study_lib.Objective("fid", "min"), study_lib.Objective("is", "max")
  rows = [_row(1, 3.0, {"lr": 1}), _row(2, 3.0, {"lr": 2}), _row(3, 1.0, {"lr": 2}, seed=1),
          _row(4, None, {"lr": 3}, status="failed"), _row(5, 3.0, {"lr": 4}),
          _row(6, 0.5, {"lr": 5}, status="running"), _row(7, 0.1, {"lr": 1}, source="rerun"),
          _row(8, 9.0, {"lr": 6}, source="gp")]
  # min: lr 2 by its seed-1 trial (1.0); lr 1 and lr 4 tie at 3.0: the earlier trial first.
  # The running trial, the failed one and the rerun rank nothing.
  assert [t["id"] for t in reruns.originals(rows, minimize, 10)] == [3, 1, 5, 8]
  assert [t["id"] for t in reruns.originals(rows, minimize, 2)] == [3, 1]
  # max: lr 6, then lr 1, lr 2 (its trial 2) and lr 4 tie at 3.0.
  assert [t["id"] for t in reruns.originals(rows, maximize, 10)] == [8, 1, 2, 5]
  assert reruns.search_over(rows[:5] + rows[6:]) and not reruns.search_over(rows)
  assert reruns.search_over(rows[:5] + [_row(9, None, {"lr": 7}, "pending", "rerun")])


@pytest.mark.parametrize("binding, message", [
    ("study.reruns = -1", "study.reruns must be an integer >= 0 (new seeds per re-run point; "
     "0: no reruns); got -1."),
    ("study.reruns = 2.5", "study.reruns must be an integer >= 0 (new seeds per re-run point; "
     "0: no reruns); got 2.5."),
    ("study.reruns = True", "got True."),
    ("study.rerun_top = 0", "study.rerun_top must be an integer >= 1 (best points re-run per "
     "setting); got 0."),
    ("study.rerun_top = 3", "study.rerun_top = 3 re-runs nothing while study.reruns is 0"),
])
def test_a_bad_reruns_value_is_one_line_exit_2(tmp_path, capsys, binding, message):
  study = _write(tmp_path, STUDY)
  assert command.main(["--workdir", str(tmp_path / "w"), "--study", study,
                       "--gin_bindings", binding]) == 2
  err = capsys.readouterr().err
  assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
  assert message in err
  assert not os.path.exists(tmp_path / "w" / "study.db")  # Refused before anything ran.


def test_reruns_follow_the_search_untold_and_resume(tmp_path, monkeypatch):
  ran = []
  fake = _fake_run_trial(ran)
  # Before the interruption, reruns after the first two hold their worker thread (up to 2 s,
  # which the interrupted driver's shutdown waits out), so a trial is surely running when the
  # interruption comes, however the machine's load orders the threads.
  interrupted = threading.Event()
  reruns_started = []

  def run_trial(task):
    if not interrupted.is_set() and "train.seed = 0" not in task["bindings"]:
      reruns_started.append(task["trial_id"])
      if len(reruns_started) > 2:
        interrupted.wait(timeout=2.0)
    return fake(task)
  monkeypatch.setattr(executors, "run_trial", run_trial)
  told = []
  tell = sweepers.Sweeper.tell
  monkeypatch.setattr(sweepers.Sweeper, "tell", lambda self, params, value: (
      told.append((self.setting.key, params["learning_rate"])), tell(self, params, value)))
  study = _write(tmp_path, STUDY + "study.reruns = 2\nstudy.rerun_top = 2\n")
  workdir = str(tmp_path / "work")

  def interrupt_in_the_reruns(line):
    finished = re.search(r"\((\d+) finished, ", line)
    if " (rerun): " in line and finished and int(finished.group(1)) >= 10:
      raise KeyboardInterrupt
  with pytest.raises(KeyboardInterrupt):
    driver.run_sweep(workdir, study, parallel=2, log=interrupt_in_the_reruns)
  interrupted.set()
  at_kill = {t["id"]: t for t in _trials(workdir)}
  assert any(t["status"] == "running" for t in at_kill.values())
  assert any(t["status"] == "done" and t["source"] == "rerun" for t in at_kill.values())
  lines = []
  summary = driver.run_sweep(workdir, study, parallel=2, log=lines.append)
  trials = _trials(workdir)

  # 2 settings x 4 grid points, then 2 settings x 2 best points x seeds 1 and 2: nothing
  # lost, nothing twice.
  search = [t for t in trials if t["source"] == "grid"]
  rerun = [t for t in trials if t["source"] == "rerun"]
  assert len(search) == 8 and len(rerun) == 8 and len(trials) == 16
  points = sorted((t["setting"], t["params"]["learning_rate"], t["seed"]) for t in rerun)
  assert points == sorted((s, lr, seed) for s, lrs in (("loss=ns", (2e-4, 4e-4)),
                                                       ("loss=hinge", (3e-4, 1e-4)))
                          for lr in lrs for seed in (1, 2))
  assert all(t["status"] in store_lib.FINISHED for t in trials)
  runs = [i for i, *_ in ran]
  for t in at_kill.values():
    if t["status"] in store_lib.FINISHED:  # Never re-run.
      assert [u for u in trials if u["id"] == t["id"]] == [t] and runs.count(t["id"]) == 1
  assert all(1 <= runs.count(t["id"]) <= 2 for t in trials)
  # Every rerun of a setting started after every search trial of that setting ran.
  order = [(trial_id, f"loss={'ns' if loss == 'non_saturating' else loss}", seed)
           for trial_id, loss, _, seed in ran]
  for setting in ("loss=ns", "loss=hinge"):
    mine = [(i, seed) for i, s, seed in order if s == setting]
    last_search = max(k for k, (i, seed) in enumerate(mine) if seed == 0)
    assert all(seed == 0 for _, seed in mine[:last_search + 1])
  # The sweeper heard the search only, in both runs (replay tells finished trials again).
  search_points = [(t["setting"], t["params"]["learning_rate"]) for t in search]
  assert sorted(set(told)) == sorted(search_points)
  assert len(told) == 8 + sum(t["status"] in store_lib.FINISHED and t["source"] == "grid"
                              for t in at_kill.values())
  # The best per setting is a search trial, although reruns scored better.
  assert summary["best"]["loss=ns"]["objective"] == 1.0
  assert summary["best"]["loss=ns"]["source"] == "grid"
  assert summary["best"]["loss=hinge"]["objective"] == 4.0
  assert summary["counts"] == {"pending": 0, "running": 0, "done": 13, "failed": 2,
                               "diverged": 1}
  # The summary: search counts without reruns, then each re-run point's spread.
  table = summary["table"].splitlines()
  assert table[2].split()[:4] == ["loss=ns", "3", "1", "0"]
  spread = [line.split() for line in summary["reruns"].splitlines()[2:]]
  trial = {(t["setting"], t["params"]["learning_rate"]): str(t["id"]) for t in search}
  # ns 2e-4: seeds 1, 2 -> 0.75, 1.0 (mean 0.875, std 0.25 / sqrt 2); ns 4e-4: seed 2 failed.
  assert spread[0][:11] == ["loss=ns", trial["loss=ns", 2e-4], "1", "2", "2", "0", "0",
                            "0.875", "0.176777", "0.75", "1"]
  assert spread[1][:11] == ["loss=ns", trial["loss=ns", 4e-4], "2", "2", "1", "1", "0",
                            "1.75", "-", "1.75", "1.75"]
  assert [row[:3] for row in spread[2:]] == [["loss=hinge", trial["loss=hinge", 3e-4], "4"],
                                             ["loss=hinge", trial["loss=hinge", 1e-4], "5"]]
  assert re.match(r"sweep finished: 13 done, 2 failed, 1 diverged \(\d+ run now; 8 of the "
                  r"trials are reruns\)", lines[-1])
  assert "\nreruns (new seeds of each setting's best points" in lines[-1]
  assert all(t["run_dir"].endswith(f"-seed{t['seed']}") for t in rerun)
  # The export marks the same best trials (pandas reads the CSV back).
  with store_lib.Store(os.path.join(workdir, "study.db")) as store:
    store.export(str(tmp_path / "trials.csv"))
  exported = pd.read_csv(tmp_path / "trials.csv")
  best = exported[exported["best_in_setting"]]
  assert sorted(best["objective"]) == [1.0, 4.0] and set(best["source"]) == {"grid"}
  # A finished sweep run again adds nothing.
  again = driver.run_sweep(workdir, study, log=lambda _: None)
  assert again["counts"] == summary["counts"] and len(_trials(workdir)) == 16


def test_max_trials_counts_reruns_and_the_rest_follows(tmp_path, monkeypatch):
  monkeypatch.setattr(executors, "run_trial", _fake_run_trial([]))
  study = _write(tmp_path, STUDY.replace(", 'hinge': ['loss.fn = @hinge']", "")
                 .replace("1e-4, 2e-4, 3e-4, 4e-4", "2e-4, 3e-4") + "study.reruns = 3\n")
  workdir = str(tmp_path / "work")
  first = driver.run_sweep(workdir, study, max_trials=3, log=lambda _: None)
  assert sum(first["counts"].values()) == 3
  assert [(t["source"], t["seed"]) for t in _trials(workdir)] == [
      ("grid", 0), ("grid", 0), ("rerun", 1)]
  driver.run_sweep(workdir, study, log=lambda _: None)
  trials = _trials(workdir)
  assert [(t["source"], t["params"]["learning_rate"], t["seed"]) for t in trials] == [
      ("grid", 2e-4, 0), ("grid", 3e-4, 0), ("rerun", 2e-4, 1), ("rerun", 2e-4, 2),
      ("rerun", 2e-4, 3)]


def test_a_setting_without_a_done_trial_reruns_nothing(tmp_path, monkeypatch):
  monkeypatch.setattr(executors, "run_trial", _fake_run_trial([]))
  study = _write(tmp_path, STUDY.replace("1e-4, 2e-4, 3e-4, 4e-4", "1e-4") +
                 "study.reruns = 1\n")
  lines = []
  summary = driver.run_sweep(str(tmp_path / "work"), study, log=lines.append)
  assert "setting loss=ns: search over without a done trial; nothing to re-run" in lines
  assert [t["source"] for t in _trials(str(tmp_path / "work"))] == ["grid", "grid", "rerun"]
  assert summary["reruns"].splitlines()[2].split()[:2] == ["loss=hinge", "2"]


def test_the_fingerprint_covers_the_reruns(tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(executors, "run_trial", _fake_run_trial([]))
  study = _write(tmp_path, STUDY.replace("1e-4, 2e-4, 3e-4, 4e-4", "2e-4"))
  workdir = str(tmp_path / "work")
  assert command.main(["--workdir", workdir, "--study", study]) == 0
  capsys.readouterr()
  assert command.main(["--workdir", workdir, "--study", study, "--gin_bindings",
                       "study.reruns = 2"]) == 2
  err = capsys.readouterr().err
  assert "holds a different study" in err and "+study.reruns = 2" in err
  assert len(_trials(workdir)) == 2
