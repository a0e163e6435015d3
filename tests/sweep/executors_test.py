"""Trial executors: the `compare_gan train` command, exit status -> trial status, logs, timeouts,
stopping a driver's trials, and a real Dask LocalCluster with two worker processes.

A fake interpreter stands in for `python` (a task's 'python'): it receives exactly the command
line of a trial, writes metrics.jsonl/status.json as a run would, and exits as its bindings say,
so these tests take seconds; tests/sweep/driver_test.py runs real trainings.
"""

import concurrent.futures
import json
import os
import stat
import sys
import time

import pytest

import cli_harness  # tests/: pytest puts it on sys.path.

from compare_gan import run_dir
from compare_gan.sweep import executors

FAKE_PYTHON = """#!{python}
import datetime, json, os, sys, time
args = sys.argv[1:]
assert args[:3] == ["-m", "compare_gan", "train"], args
model_dir = args[args.index("--model_dir") + 1]
bindings = dict(args[i + 1].split(" = ") for i, a in enumerate(args) if a == "--gin_bindings")
print("argv", json.dumps(args))
print("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL"), flush=True)
print("trial.json", os.path.exists(os.path.join(model_dir, "trial.json")), flush=True)
time.sleep(float(bindings.get("fake.sleep", 0)))
with open(os.path.join(model_dir, "metrics.jsonl"), "w") as f:
  for step in (1, 2):
    f.write(json.dumps(dict(step=step, metric="swd_pixels", value=float(step), std=0.0,
                            n=8, status="ok", protocol=dict(parent=os.getppid()))) + "\\n")
    if "fake.torn" in bindings:  # Lines that are not metric records, as a hand edit leaves.
      f.write("\\n{{torn line\\n" + json.dumps([1, 2]) + "\\n" + json.dumps(dict(step=4)) + "\\n")
if "fake.status" in bindings:
  with open(os.path.join(model_dir, "status.json"), "w") as f:
    json.dump(dict(state=bindings["fake.status"], step=2, message=bindings.get(
                       "fake.message", "diverged at step 2: non-finite loss (d_loss=nan)"),
                   updated=datetime.datetime.now(datetime.timezone.utc).isoformat(
                       timespec="seconds")), f)
if "fake.error" in bindings:  # `compare_gan train`'s one line, before more output.
  print("compare_gan train: " + bindings["fake.error"], file=sys.stderr, flush=True)
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


def _identity(trial_id=1, study_id="a" * 32, fingerprint="f" * 64):
  return dict(study_id=study_id, study_name="toy", study_db="/work/study.db", trial_id=trial_id,
              fingerprint=fingerprint)


def _task(tmp_path, python, trial_id=1, session=None, timeout_s=None, identity=None,
          **bindings):
  return dict(trial_id=trial_id, run_dir=str(tmp_path / "trials" / f"{trial_id:04d}-fake"),
              gin_configs=["/configs/a.gin", "/configs/b.gin"],
              bindings=[f"{k.replace('_', '.', 1)} = {v}" for k, v in bindings.items()],
              schedule="train_and_eval", eval_every_steps=2, timeout_s=timeout_s,
              python=python, session=session,
              identity=identity if identity is not None else _identity(trial_id))


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
  elif status == "failed":  # No reason given: the tail of the log, its last 20 lines.
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


# ----------------------------------------------------------------------------------------------
# The run directory's owner (trial.json) and the one-line reason of a failure.
# ----------------------------------------------------------------------------------------------



def test_trial_json_is_written_before_the_trial_and_a_resume_keeps_it(tmp_path, fake_python):
  task = _task(tmp_path, fake_python)
  assert executors.run_trial(task)["status"] == "done"
  path = os.path.join(task["run_dir"], "trial.json")
  written = json.load(open(path))
  assert {k: written[k] for k in _identity()} == _identity() and written["created"]
  assert "trial.json True" in open(os.path.join(task["run_dir"], "trial.log")).read()
  mtime = os.stat(path).st_mtime_ns
  # The same study and config again (a re-queued trial): it runs in its directory.
  assert executors.run_trial(task)["status"] == "done"
  assert os.stat(path).st_mtime_ns == mtime
  assert open(os.path.join(task["run_dir"], "trial.log")).read().count("==== trial 1 on ") == 2


@pytest.mark.parametrize("change, message", [
    (dict(study_id="b" * 32), "{run_dir} belongs to another study: its trial.json has study id "
     + "a" * 32 + " ('toy', /work/study.db), this study's id is " + "b" * 32
     + " (/work/study.db); not touched. Give this sweep a new --trials_dir"),
    (dict(fingerprint="e" * 64), "{run_dir} holds trial 1 of config fingerprint " + "f" * 64
     + ", but trial 1 of this study (id " + "a" * 32 + ") now has config fingerprint "
     + "e" * 64 + ": its config changed since it started; not touched."),
])
def test_another_study_or_config_is_refused_untouched(tmp_path, fake_python, change, message):
  task = _task(tmp_path, fake_python)
  assert executors.run_trial(task)["status"] == "done"
  before = cli_harness.snapshot(task["run_dir"])
  result = executors.run_trial(dict(task, identity=dict(task["identity"], **change)))
  assert result["status"] == "refused" and result["returncode"] is None
  assert result["error"].startswith(message.format(run_dir=task["run_dir"]))
  assert result["error"].endswith("Give this sweep a new --trials_dir (or --workdir), or move "
                                  "the directory aside (the trial then starts from scratch).")
  assert "\n" not in result["error"] and result["records"] == []
  assert cli_harness.snapshot(task["run_dir"]) == before


def test_a_directory_without_trial_json_is_refused_an_empty_one_adopted(tmp_path, fake_python):
  task = _task(tmp_path, fake_python)
  os.makedirs(os.path.join(task["run_dir"], "checkpoints"))
  with open(os.path.join(task["run_dir"], "config.gin"), "w") as f:
    f.write("train.training_steps = 5\n")
  before = cli_harness.snapshot(task["run_dir"])
  result = executors.run_trial(task)
  assert result["status"] == "refused"
  assert result["error"].startswith(f"{task['run_dir']} exists without trial.json (checkpoints, "
                                    "config.gin): another tool or an older compare_gan wrote "
                                    "it, so it is not adopted")
  assert cli_harness.snapshot(task["run_dir"]) == before
  # An empty directory holds nothing to adopt: it becomes the trial's.
  empty = _task(tmp_path, fake_python, trial_id=2)
  os.makedirs(empty["run_dir"])
  assert executors.run_trial(empty)["status"] == "done"
  assert json.load(open(os.path.join(empty["run_dir"], "trial.json")))["trial_id"] == 2


def test_an_unreadable_trial_json_or_a_file_is_refused(tmp_path, fake_python):
  task = _task(tmp_path, fake_python)
  os.makedirs(task["run_dir"])
  with open(os.path.join(task["run_dir"], "trial.json"), "w") as f:
    f.write("{torn")
  result = executors.run_trial(task)
  assert result["status"] == "refused" and "trial.json is unreadable (" in result["error"]
  other = _task(tmp_path, fake_python, trial_id=2)
  os.makedirs(os.path.dirname(other["run_dir"]), exist_ok=True)
  with open(other["run_dir"], "w") as f:
    f.write("a file")
  result = executors.run_trial(other)
  assert result["status"] == "refused" and "is a file, not a run directory" in result["error"]
  assert open(other["run_dir"]).read() == "a file"


def test_failure_reason_prefers_status_json_then_the_train_line(tmp_path, fake_python):
  # status.json written by this attempt, state failed: its message.
  result = executors.run_trial(_task(tmp_path, fake_python, fake_exit=1, fake_status="failed",
                                     fake_message="OSError: /data: No space left on device",
                                     fake_error="OSError: /data: disk full"))
  assert (result["status"], result["error"]) == ("failed",
                                                  "OSError: /data: No space left on device")
  # Interrupted (SIGTERM from elsewhere, exit 143): its message too.
  result = executors.run_trial(_task(tmp_path, fake_python, trial_id=2, fake_exit=143,
                                     fake_status="interrupted",
                                     fake_message="interrupted by SIGTERM at step 2"))
  assert result["error"] == "interrupted by SIGTERM at step 2"
  # No status.json: the `compare_gan train: ` line, though 30 lines follow it.
  result = executors.run_trial(_task(tmp_path, fake_python, trial_id=3, fake_exit=1,
                                     fake_error="ValueError: train.batch_size=0"))
  assert result["error"] == "compare_gan train: ValueError: train.batch_size=0"


def test_failure_reason_ignores_a_previous_attempt(tmp_path, fake_python):
  task = _task(tmp_path, fake_python, fake_exit=1, fake_error="ValueError: first attempt")
  assert executors.run_trial(task)["error"] == "compare_gan train: ValueError: first attempt"
  # A stale status.json (an earlier attempt's) and an earlier attempt's line are not reasons.
  with open(os.path.join(task["run_dir"], "status.json"), "w") as f:
    json.dump(dict(state="failed", message="an old reason", updated="2020-01-01T00:00:00+00:00"),
              f)
  result = executors.run_trial(_task(tmp_path, fake_python, fake_exit=1))
  assert result["error"].startswith("exit status 1:") and "line 29" in result["error"]
  assert "first attempt" not in result["error"] and "an old reason" not in result["error"]


def test_a_corrupt_status_json_falls_back_to_the_log(tmp_path, fake_python):
  task = _task(tmp_path, fake_python, fake_exit=1, fake_error="RuntimeError: boom")
  os.makedirs(task["run_dir"])
  executors.claim_run_dir(task["run_dir"], task["identity"])
  with open(os.path.join(task["run_dir"], "status.json"), "w") as f:
    f.write('{"state": "failed", "mess')
  result = executors.run_trial(task)
  assert (result["status"], result["error"]) == ("failed", "compare_gan train: RuntimeError: boom")
