"""Where a sweep's trials run: one `compare_gan train` subprocess per trial (DESIGN section 7).

  local             a pool of `--parallel` threads in the driver, each waiting on its own
                    subprocess, so a crash or leak in one trial never takes down the sweep
  dask://host:port  an existing Dask cluster (`pip install compare_gan[dask]`), through its
                    concurrent.futures executor; each worker runs the subprocess

`run_trial` is the unit of work: it takes a plain dict and returns a plain dict (its status,
timings, host and the run's metric records), so results travel back by value and the driver
needs no file system shared with the workers. The workers need the trial's gin files (the same
absolute paths) and a writable run directory (local, shared or gs://).

Before anything is written, `run_trial` claims the trial's run directory (`claim_run_dir`):
RUN_DIR/trial.json records the study id (study.db's), the trial and the fingerprint of its
complete parsed config. A directory that exists is used only when its trial.json names the same
study id and fingerprint (a re-queued trial resumes there); one of another study, of another
config, or without trial.json but with files in it (another tool, an older compare_gan) is
refused, untouched: the trial ends 'refused' with a line naming both ids and the path, and the
driver stops the sweep.

A failed trial's reason is one line: status.json's message when this attempt wrote it (state
failed or interrupted), else the last `compare_gan train: ` line of this attempt's log, else
the log's tail. The whole output stays in RUN_DIR/trial.log.

A trial subprocess gets its own session, so a Ctrl-C in the driver's terminal reaches only the
driver, which then stops the trials itself (`terminate_trials`); on Linux it is also killed when
the thread that started it dies (PR_SET_PDEATHSIG), so a SIGKILLed driver leaves no orphan
training in a run directory that the next driver will resume.
"""

import concurrent.futures
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Set

# The run directory's files, status and exit codes; TF-free for local run directories, so the
# driver's threads and Dask workers read results without importing TensorFlow.
from compare_gan import run_dir as run_dir_lib

LOG = "trial.log"  # In the trial's run directory, beside the files of run_dir_lib.
TRIAL_JSON = "trial.json"  # The directory's owner: study id and config fingerprint.
TRAIN_ERROR_PREFIX = "compare_gan train: "  # The one line `compare_gan train` fails with.
ERROR_LINES = 20
TERMINATE_GRACE_S = 10.0
EXECUTORS = ("local", "dask://host:port", "tcp://host:port")

# The trial subprocesses this process runs, by the session (driver run) that submitted them,
# and the sessions stopped: their trials that have not started yet never start.
_live: Dict[str, Dict[int, subprocess.Popen]] = {}
_stopped: Set[str] = set()
_live_lock = threading.Lock()


def _die_with_parent_thread():
  """Returns a `preexec_fn` that asks Linux to SIGKILL the child when the thread that started
  it dies, or None elsewhere. libc is loaded here, before the fork, not in the child."""
  if not sys.platform.startswith("linux"):
    return None
  import ctypes
  try:
    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
  except OSError:
    return None
  parent = os.getpid()
  pr_set_pdeathsig = 1

  def preexec() -> None:
    prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # The parent died before prctl took effect.
      os._exit(1)
  return preexec


def trial_command(task: Dict[str, Any]) -> List[str]:
  """The `compare_gan train` command line of a task (see `run_trial`)."""
  command = [task.get("python") or sys.executable, "-m", "compare_gan", "train",
             "--model_dir", task["run_dir"], "--schedule", task["schedule"]]
  for path in task["gin_configs"]:
    command += ["--gin_config", path]
  for binding in task["bindings"]:
    command += ["--gin_bindings", binding]
  if task.get("eval_every_steps"):
    command += ["--eval_every_steps", str(int(task["eval_every_steps"]))]
  return command


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
  with contextlib.suppress(ProcessLookupError, PermissionError):
    os.killpg(proc.pid, signum)


def _stop(proc: subprocess.Popen, grace_s: float) -> None:
  """SIGTERM to the trial's process group, SIGKILL after `grace_s`."""
  if proc.poll() is not None:
    return
  _signal_group(proc, signal.SIGTERM)
  try:
    proc.wait(timeout=grace_s)
  except subprocess.TimeoutExpired:
    _signal_group(proc, signal.SIGKILL)
    proc.wait()


def terminate_trials(session: Optional[str] = None, grace_s: float = TERMINATE_GRACE_S) -> int:
  """Stops the trial subprocesses of `session` (a task's 'session'; None: every session) that
  this process runs: SIGTERM, then SIGKILL after `grace_s`. The session's trials that have not
  started yet will not start. Their trials stay `running` in the store and resume later.
  Returns how many subprocesses were stopped."""
  with _live_lock:
    sessions = list(_live) if session is None else [session]
    _stopped.update(s for s in sessions if s is not None)
    procs = [p for s in sessions for p in _live.get(s, {}).values()]
  for proc in procs:
    if proc.poll() is None:
      _signal_group(proc, signal.SIGTERM)
  deadline = time.time() + grace_s
  for proc in procs:
    try:
      proc.wait(timeout=max(0.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
      _signal_group(proc, signal.SIGKILL)
      proc.wait()
  return len(procs)


def stop_trials(executor: concurrent.futures.Executor, session: str) -> int:
  """`terminate_trials(session)` where `executor` (from `make_executor`) runs the trials: in
  this process, or on every worker of a Dask cluster. Returns how many were stopped."""
  if isinstance(executor, _DaskExecutor):
    stopped = executor.client.run(terminate_trials, session)  # worker address -> count
    return sum(stopped.values())
  return terminate_trials(session)


def _tail(path: str, lines: int = ERROR_LINES, max_chars: int = 4000) -> str:
  try:
    with open(path, "rb") as f:
      f.seek(0, os.SEEK_END)
      f.seek(max(0, f.tell() - 64 * 1024))
      text = f.read().decode(errors="replace")
  except OSError as e:
    return f"(no log: {e})"
  return "\n".join(text.rstrip().splitlines()[-lines:])[-max_chars:]


def _entries(run_dir: str) -> List[str]:
  """The names in `run_dir` ([] when it does not exist).

  Raises:
    NotADirectoryError: a file stands at `run_dir`.
  """
  if run_dir_lib.is_remote(run_dir):
    import tensorflow as tf
    if not tf.io.gfile.exists(run_dir):
      return []
    if not tf.io.gfile.isdir(run_dir):
      raise NotADirectoryError(f"{run_dir} is a file, not a run directory")
    return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(run_dir))
  if not os.path.lexists(run_dir):
    return []
  if not os.path.isdir(run_dir):
    raise NotADirectoryError(f"{run_dir} is a file, not a run directory")
  return sorted(os.listdir(run_dir))


def claim_run_dir(run_dir: str, identity: Dict[str, Any]) -> Optional[str]:
  """Makes `run_dir` the run directory of the trial `identity` describes, or says why not.

  Args:
    run_dir: the trial's run directory (local or remote).
    identity: {'study_id', 'study_name', 'study_db', 'trial_id', 'fingerprint', ...}: what
      RUN_DIR/trial.json records (JSON values only).

  Returns:
    None when the directory is the trial's: it did not exist or was empty (it is created and
    trial.json written, atomically, before anything else), or its trial.json has the same
    study id and fingerprint (a trial resuming). Otherwise one line saying whose it is, with
    both ids and the path; the directory is left untouched.

  Raises:
    OSError: the directory cannot be read or written.
  """
  path = os.path.join(run_dir, TRIAL_JSON)
  ours = f"this study's id is {identity['study_id']} ({identity.get('study_db')})"
  advice = ("Give this sweep a new --trials_dir (or --workdir), or move the directory aside "
            "(the trial then starts from scratch)")
  try:
    entries = _entries(run_dir)
  except NotADirectoryError as e:
    return f"{e}; it was not touched; {ours}. {advice}."
  text = run_dir_lib.read_text(path) if TRIAL_JSON in entries else None
  if text is None:
    if entries:
      shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
      return (f"{run_dir} exists without {TRIAL_JSON} ({shown}): another tool or an older "
              f"compare_gan wrote it, so it is not adopted, and was not touched; {ours}. "
              f"{advice}.")
    run_dir_lib.makedirs(run_dir)
    run_dir_lib.write_atomically(path, json.dumps(dict(identity, created=run_dir_lib.now()),
                                                  indent=2, sort_keys=True) + "\n")
    return None
  try:
    theirs = json.loads(text)
    if not isinstance(theirs, dict):
      raise ValueError("not a JSON object")
  except ValueError as e:
    return f"{path} is unreadable ({e}); {run_dir} was not touched; {ours}. {advice}."
  if theirs.get("study_id") != identity["study_id"]:
    return (f"{run_dir} belongs to another study: its {TRIAL_JSON} has study id "
            f"{theirs.get('study_id')} ({theirs.get('study_name')!r}, {theirs.get('study_db')}), "
            f"{ours}; not touched. {advice}.")
  if theirs.get("fingerprint") != identity["fingerprint"]:
    return (f"{run_dir} holds trial {theirs.get('trial_id')} of config fingerprint "
            f"{theirs.get('fingerprint')}, but trial {identity['trial_id']} of this study (id "
            f"{identity['study_id']}) now has config fingerprint {identity['fingerprint']}: its "
            f"config changed since it started; not touched. {advice}.")
  return None


def _status_message(run_dir: str, states, since: str) -> Optional[str]:
  """status.json's message when its state is one of `states` and this attempt wrote it (its
  'updated' time is not before `since`); None otherwise, or when status.json is unreadable."""
  try:
    status = run_dir_lib.read_status(run_dir)
  except Exception:  # pylint: disable=broad-except  # Only a nicer line is at stake.
    return None
  if not isinstance(status, dict) or status.get("state") not in states:
    return None
  message = status.get("message")
  updated = status.get("updated")
  if not isinstance(message, str) or not message.strip():
    return None
  if isinstance(updated, str) and updated < since:
    return None  # A previous attempt's: this one failed before writing its own.
  return message.strip().splitlines()[0]


def _train_error_line(tail: str, trial_id: Any) -> Optional[str]:
  """The last `compare_gan train: ...` line of this attempt's output in a log's tail."""
  header = f"==== trial {trial_id} on "
  lines = tail.splitlines()
  starts = [i for i, line in enumerate(lines) if line.startswith(header)]
  for line in reversed(lines[starts[-1] + 1:] if starts else lines):
    if line.startswith(TRAIN_ERROR_PREFIX):
      return line.strip()
  return None


def failure_reason(run_dir: str, log_path: str, trial_id: Any, returncode: Optional[int],
                   started: str) -> str:
  """Why an attempt that exited with `returncode` failed, as one line when the run said so:
  status.json's message (state failed or interrupted, written by this attempt), else the last
  `compare_gan train: ` line this attempt logged, else 'exit status N:' and the log's tail."""
  message = _status_message(run_dir, ("failed", "interrupted"), started)
  if message:
    return message
  line = _train_error_line(_tail(log_path, lines=10**6, max_chars=64 * 1024), trial_id)
  return line or f"exit status {returncode}:\n{_tail(log_path)}"


def run_trial(task: Dict[str, Any]) -> Dict[str, Any]:
  """Runs one trial to its end as a `compare_gan train` subprocess and reports it by value.

  Args:
    task: {'trial_id', 'run_dir', 'gin_configs' (absolute paths), 'bindings', 'schedule',
      'eval_every_steps' (or None), 'timeout_s' (the attempt's wall-clock limit in seconds, or
      None), 'python' (the interpreter; None: this process's), 'session' (the driver run, for
      `terminate_trials`), 'identity' (what trial.json records, see `claim_run_dir`; the
      driver always gives it; None only for a one-off trial in a fresh directory, as
      scripts/bench_sweep.py runs)}. The subprocess's stdout and stderr are appended to
      RUN_DIR/trial.log (a re-queued trial resumes from its checkpoints in the same run
      directory).

  Returns:
    {'trial_id', 'status' ('done' | 'failed' | 'diverged' | 'refused'), 'returncode', 'error'
    (None; 'timeout after N s'; the one-line reason of `failure_reason`; status.json's
    divergence message; or why the run directory was refused), 'host', 'started',
    'finished', 'seconds', 'records' (the run's metrics.jsonl records,
    `run_dir.read_metrics`)}. Exit status 3 (`run_dir.EXIT_DIVERGED`) is 'diverged' and any
    other non-zero status 'failed'; 'refused' means nothing ran and nothing was written. A
    trial's failure never raises.
  """
  run_dir = task["run_dir"]
  host, started, start = socket.gethostname(), run_dir_lib.now(), time.time()

  def ended(status: str, error: str) -> Dict[str, Any]:
    return dict(trial_id=task["trial_id"], status=status, returncode=None, error=error,
                host=host, started=started, finished=run_dir_lib.now(),
                seconds=time.time() - start, records=[])

  if task.get("identity") is not None:
    try:
      refusal = claim_run_dir(run_dir, task["identity"])
    except OSError as e:
      return ended("failed", f"cannot prepare the run directory {run_dir}: {e}")
    if refusal is not None:
      return ended("refused", refusal)
  # gs:// and friends: log locally, copy into the run at the end.
  remote = run_dir_lib.is_remote(run_dir)
  if remote:
    log_fd, log_path = tempfile.mkstemp(prefix=f"trial{task['trial_id']}-", suffix=".log")
    os.close(log_fd)
  else:
    os.makedirs(run_dir, exist_ok=True)
    log_path = os.path.join(run_dir, LOG)
  env = dict(os.environ)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  command = trial_command(task)
  timeout_s = task.get("timeout_s")
  error = None
  with open(log_path, "ab") as log:
    log.write(f"==== trial {task['trial_id']} on {host} at {started}: "
              f"{subprocess.list2cmdline(command)}\n".encode())
    log.flush()
    session = task.get("session")
    with _live_lock:  # Popen under the lock: terminate_trials either sees it or stops it.
      if session in _stopped:
        proc, returncode, error = None, None, "stopped before it started (driver interrupted)"
      else:
        try:
          proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                  preexec_fn=_die_with_parent_thread())
          _live.setdefault(session, {})[proc.pid] = proc
        except OSError as e:
          proc, returncode, error = None, None, f"cannot start {command[0]}: {e}"
    if proc is not None:
      try:
        returncode = proc.wait(timeout=timeout_s)
      except subprocess.TimeoutExpired:
        error = f"timeout after {timeout_s:g} s"
      finally:
        _stop(proc, TERMINATE_GRACE_S)  # Never leaves the child behind, whatever happened.
        returncode = proc.returncode
        with _live_lock:
          _live.get(session, {}).pop(proc.pid, None)
  seconds = time.time() - start
  if error is None and returncode != 0:
    error = failure_reason(run_dir, log_path, task["trial_id"], returncode, started)
  if error is None:
    status = "done"
  elif returncode == run_dir_lib.EXIT_DIVERGED and not error.startswith("timeout"):
    status = "diverged"
  else:
    status = "failed"
  if status == "diverged":  # 'diverged at step 7: non-finite loss (...)'
    error = _status_message(run_dir, ("diverged",), started) or error

  try:
    records = run_dir_lib.read_metrics(run_dir)
  except Exception as e:  # pylint: disable=broad-except  # An unreadable run is a failed trial.
    records = []
    if status == "done":
      status, error = "failed", f"cannot read the run's metrics: {type(e).__name__}: {e}"
  if remote:
    _copy_log(log_path, run_dir)
  return dict(trial_id=task["trial_id"], status=status, returncode=returncode, error=error,
              host=host, started=started, finished=run_dir_lib.now(), seconds=seconds,
              records=records)


def _copy_log(log_path: str, run_dir: str) -> None:
  import tensorflow as tf
  try:
    tf.io.gfile.makedirs(run_dir)
    target = os.path.join(run_dir, LOG)
    old = b""
    if tf.io.gfile.exists(target):
      with tf.io.gfile.GFile(target, "rb") as f:
        old = f.read()
    with open(log_path, "rb") as f:
      new = f.read()
    with tf.io.gfile.GFile(target, "wb") as f:
      f.write(old + new)
  finally:
    os.remove(log_path)


class _DaskExecutor(concurrent.futures.Executor):
  """A Dask cluster's concurrent.futures executor that also closes its client on shutdown."""

  def __init__(self, address: str):
    try:
      import distributed
    except ImportError as e:
      raise ImportError(f"--executor {address!r} needs Dask: pip install compare_gan[dask] "
                        f"({e})") from e
    self.client = distributed.Client(address)
    # pure=False: a re-queued trial is the same call again and must run again.
    self._executor = self.client.get_executor(pure=False)

  def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
    return self._executor.submit(fn, *args, **kwargs)

  def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
    try:
      self._executor.shutdown(wait=wait and not cancel_futures)
    finally:
      self.client.close()


def make_executor(spec: str, parallel: int) -> concurrent.futures.Executor:
  """The executor named by `spec`: 'local' (a pool of `parallel` threads, each waiting on one
  trial subprocess) or 'dask://host:port' / 'tcp://host:port' (a running Dask scheduler; the
  driver keeps `parallel` trials submitted)."""
  if not isinstance(parallel, int) or parallel < 1:
    raise ValueError(f"parallel={parallel!r} must be a positive integer.")
  if spec == "local":
    return concurrent.futures.ThreadPoolExecutor(parallel, thread_name_prefix="trial")
  if spec.startswith(("dask://", "tcp://")):
    host_port = spec.split("://", 1)[1]
    if not host_port or ":" not in host_port:
      raise ValueError(f"Executor {spec!r} lacks host:port; e.g. dask://scheduler:8786.")
    return _DaskExecutor("tcp://" + host_port)
  raise ValueError(f"Unknown executor {spec!r}; valid: {', '.join(EXECUTORS)}.")
