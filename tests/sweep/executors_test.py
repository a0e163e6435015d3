"""Trial executors: the `compare_gan train` command, exit status -> trial status, logs, timeouts,
stopping a driver's trials, and a real Dask LocalCluster with two worker processes.

A fake interpreter stands in for `python` (a task's 'python'): it receives exactly the command
line of a trial, writes metrics.jsonl/status.json as a run would, and exits as its bindings say,
so these tests take seconds; tests/sweep/driver_test.py runs real trainings.
"""

import concurrent.futures
import os
import stat
import sys
import time

import pytest

from compare_gan import run_dir
from compare_gan.sweep import executors

FAKE_PYTHON = """#!{python}
import json, os, sys, time
args = sys.argv[1:]
assert args[:3] == ["-m", "compare_gan", "train"], args
model_dir = args[args.index("--model_dir") + 1]
bindings = dict(args[i + 1].split(" = ") for i, a in enumerate(args) if a == "--gin_bindings")
print("argv", json.dumps(args))
print("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL"), flush=True)
time.sleep(float(bindings.get("fake.sleep", 0)))
with open(os.path.join(model_dir, "metrics.jsonl"), "w") as f:
  for step in (1, 2):
    f.write(json.dumps(dict(step=step, metric="swd_pixels", value=float(step), std=0.0,
                            n=8, status="ok", protocol=dict(parent=os.getppid()))) + "\\n")
    if "fake.torn" in bindings:  # Lines that are not metric records, as a hand edit leaves.
      f.write("\\n{{torn line\\n" + json.dumps([1, 2]) + "\\n" + json.dumps(dict(step=4)) + "\\n")
if "fake.status" in bindings:
  with open(os.path.join(model_dir, "status.json"), "w") as f:
    json.dump(dict(state=bindings["fake.status"], message="diverged at step 2: non-finite "
                   "loss (d_loss=nan)", step=2), f)
for i in range(30):
  print("line", i)
sys.exit(int(bindings.get("fake.exit", 0)))
"""


@pytest.fixture
def fake_python(tmp_path):
  path = tmp_path / "fake_python"
  path.write_text(FAKE_PYTHON.format(python=sys.executable))
  path.chmod(path.stat().st_mode | stat.S_IXUSR)
  return str(path)


def _task(tmp_path, python, trial_id=1, session=None, timeout_s=None, **bindings):
  return dict(trial_id=trial_id, run_dir=str(tmp_path / "trials" / f"{trial_id:04d}-fake"),
              gin_configs=["/configs/a.gin", "/configs/b.gin"],
              bindings=[f"{k.replace('_', '.', 1)} = {v}" for k, v in bindings.items()],
              schedule="train_and_eval", eval_every_steps=2, timeout_s=timeout_s,
              python=python, session=session)


def test_trial_command(tmp_path):
  task = _task(tmp_path, "/usr/bin/python3", fake_exit=1)
  assert executors.trial_command(task) == [
      "/usr/bin/python3", "-m", "compare_gan", "train", "--model_dir", task["run_dir"],
      "--schedule", "train_and_eval", "--gin_config", "/configs/a.gin", "--gin_config",
      "/configs/b.gin", "--gin_bindings", "fake.exit = 1", "--eval_every_steps", "2"]
  task.update(python=None, eval_every_steps=None)
  command = executors.trial_command(task)
  assert command[0] == sys.executable and "--eval_every_steps" not in command


@pytest.mark.parametrize("exit_status,status", [(0, "done"), (1, "failed"), (3, "diverged")])
def test_exit_status_gives_the_trial_status(tmp_path, fake_python, monkeypatch, exit_status,
                                            status):
  monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
  extra = {"fake_status": "diverged"} if exit_status == 3 else {}
  result = executors.run_trial(_task(tmp_path, fake_python, fake_exit=exit_status, **extra))
  assert result["status"] == status and result["returncode"] == exit_status
  assert result["trial_id"] == 1 and result["host"] and result["seconds"] > 0
  assert result["started"] <= result["finished"]
  assert [(r["step"], r["value"]) for r in result["records"]] == [(1, 1.0), (2, 2.0)]
  log = open(os.path.join(tmp_path, "trials", "0001-fake", "trial.log")).read()
  assert log.startswith("==== trial 1 on ") and "TF_CPP_MIN_LOG_LEVEL 2" in log
  assert '"--gin_bindings", "fake.exit = ' in log  # The fake got the trial's bindings.
  if status == "done":
    assert result["error"] is None
  elif status == "failed":  # The tail of the log: the last 20 lines, not the first.
    assert result["error"].startswith("exit status 1:")
    assert "line 29" in result["error"] and "line 9\n" not in result["error"]
  else:  # The reason status.json gives.
    assert result["error"] == "diverged at step 2: non-finite loss (d_loss=nan)"


def test_rerun_appends_to_the_log_and_keeps_the_environment(tmp_path, fake_python,
                                                            monkeypatch):
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
  for _ in range(2):
    assert executors.run_trial(_task(tmp_path, fake_python))["status"] == "done"
  log = open(os.path.join(tmp_path, "trials", "0001-fake", "trial.log")).read()
  assert log.count("==== trial 1 on ") == 2 and "TF_CPP_MIN_LOG_LEVEL 0" in log


def test_timeout_kills_the_trial(tmp_path, fake_python):
  start = time.time()
  result = executors.run_trial(_task(tmp_path, fake_python, timeout_s=0.5, fake_sleep=60))
  assert time.time() - start < 20
  assert result["status"] == "failed" and result["error"] == "timeout after 0.5 s"
  assert result["returncode"] < 0  # Killed by a signal.


def test_a_missing_interpreter_is_a_failed_trial(tmp_path):
  result = executors.run_trial(_task(tmp_path, str(tmp_path / "no_such_python")))
  assert result["status"] == "failed" and result["error"].startswith("cannot start ")


def _wait_for_log(task, text="argv", timeout_s=60):
  path = os.path.join(task["run_dir"], "trial.log")
  deadline = time.time() + timeout_s
  while time.time() < deadline:
    if os.path.exists(path) and text in open(path).read():
      return
    time.sleep(0.05)
  raise AssertionError(f"{path} never showed {text!r}")


def test_terminate_trials_stops_one_session_only(tmp_path, fake_python):
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    stopped = _task(tmp_path, fake_python, trial_id=1, session="driver-a", fake_sleep=60)
    other = _task(tmp_path, fake_python, trial_id=2, session="driver-b", fake_sleep=1)
    futures = [pool.submit(executors.run_trial, t) for t in (stopped, other)]
    _wait_for_log(stopped)
    start = time.time()
    assert executors.terminate_trials("driver-a", grace_s=5) == 1
    result = futures[0].result(timeout=30)
    assert time.time() - start < 10
    assert result["status"] == "failed" and result["returncode"] < 0
    assert futures[1].result(timeout=60)["status"] == "done"
    # A stopped session's trials that had not started never start.
    late = pool.submit(executors.run_trial, dict(stopped, trial_id=3)).result(timeout=30)
    assert late["status"] == "failed" and "stopped before it started" in late["error"]


def test_make_executor_validates_its_spec():
  with executors.make_executor("local", 2) as pool:
    assert isinstance(pool, concurrent.futures.ThreadPoolExecutor) and pool._max_workers == 2
  with pytest.raises(ValueError, match="Unknown executor 'ray'; valid: local, dask://host:port"):
    executors.make_executor("ray", 1)
  with pytest.raises(ValueError, match="lacks host:port"):
    executors.make_executor("dask://", 1)
  with pytest.raises(ValueError, match="parallel=0 must be a positive integer"):
    executors.make_executor("local", 0)


def test_dask_local_cluster_with_two_worker_processes(tmp_path, fake_python):
  distributed = pytest.importorskip("distributed")
  with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                dashboard_address=None, silence_logs=40) as cluster:
    address = cluster.scheduler_address.replace("tcp://", "dask://")
    executor = executors.make_executor(address, 2)
    try:
      tasks = [_task(tmp_path, fake_python, trial_id=i, fake_sleep=2, fake_exit=exit_status)
               for i, exit_status in ((1, 0), (2, 3))]
      results = [f.result(timeout=120) for f in
                 [executor.submit(executors.run_trial, t) for t in tasks]]
      assert [r["status"] for r in results] == ["done", "diverged"]
      # Results came back by value, from two different worker processes (not this one).
      parents = {r["records"][0]["protocol"]["parent"] for r in results}
      assert len(parents) == 2 and os.getpid() not in parents
      assert results[0]["records"][1]["value"] == 2.0

      # Stopping a driver's trials reaches the workers.
      slow = _task(tmp_path, fake_python, trial_id=3, session="dask-driver", fake_sleep=60)
      future = executor.submit(executors.run_trial, slow)
      _wait_for_log(slow)
      assert executors.stop_trials(executor, "dask-driver") == 1
      assert future.result(timeout=30)["status"] == "failed"
    finally:
      executor.shutdown(wait=True, cancel_futures=True)
    assert executor.client.status == "closed"


def test_records_are_what_the_run_directory_reader_reads(tmp_path, fake_python):
  task = _task(tmp_path, fake_python, fake_torn=1)
  result = executors.run_trial(task)
  with open(os.path.join(task["run_dir"], "metrics.jsonl")) as f:
    assert "{torn line" in f.read()
  assert result["status"] == "done"
  assert result["records"] == run_dir.read_metrics(task["run_dir"])
  assert [(r["step"], r["value"]) for r in result["records"]] == [(1, 1.0), (2, 2.0)]
