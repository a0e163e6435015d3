"""Where a sweep's trials run: one `compare_gan train` subprocess per trial (DESIGN section 7).

  local             a pool of `--parallel` threads in the driver, each waiting on its own
                    subprocess, so a crash or leak in one trial never takes down the sweep
  dask://host:port  an existing Dask cluster (`pip install compare_gan[dask]`), through its
                    concurrent.futures executor; each worker runs the subprocess

`run_trial` is the unit of work: it takes a plain dict and returns a plain dict (its status,
timings, host and the run's metric records), so results travel back by value and the driver
needs no file system shared with the workers. The workers need the trial's gin files (the same
absolute paths) and a writable run directory (local, shared or gs://).

A trial subprocess gets its own session, so a Ctrl-C in the driver's terminal reaches only the
driver, which then stops the trials itself (`terminate_trials`); on Linux it is also killed when
the thread that started it dies (PR_SET_PDEATHSIG), so a SIGKILLed driver leaves no orphan
training in a run directory that the next driver will resume.
"""

import concurrent.futures
import contextlib
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


def run_trial(task: Dict[str, Any]) -> Dict[str, Any]:
  """Runs one trial to its end as a `compare_gan train` subprocess and reports it by value.

  Args:
    task: {'trial_id', 'run_dir', 'gin_configs' (absolute paths), 'bindings', 'schedule',
      'eval_every_steps' (or None), 'timeout_s' (or None), 'python' (the interpreter; None:
      this process's)}. The subprocess's stdout and stderr are appended to RUN_DIR/trial.log
      (a re-queued trial resumes from its checkpoints in the same run directory).

  Returns:
    {'trial_id', 'status' ('done' | 'failed' | 'diverged'), 'returncode', 'error' (None, the
    last lines of trial.log, or 'timeout after N s'), 'host', 'started', 'finished', 'seconds',
    'records' (the run's metrics.jsonl records, `run_dir.read_metrics`)}. Exit status 3
    (`run_dir.EXIT_DIVERGED`) is 'diverged' and any other non-zero status 'failed'; a trial's
    failure never raises.
  """
  run_dir = task["run_dir"]
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
  host, started, start = socket.gethostname(), run_dir_lib.now(), time.time()
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
    error = f"exit status {returncode}:\n{_tail(log_path)}"
  if error is None:
    status = "done"
  elif returncode == run_dir_lib.EXIT_DIVERGED and not error.startswith("timeout"):
    status = "diverged"
  else:
    status = "failed"
  if status == "diverged":
    error = _divergence(run_dir) or error

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


def _divergence(run_dir: str) -> Optional[str]:
  """status.json's message of a diverged run ('diverged at step 7: non-finite loss (...)')."""
  try:
    status = run_dir_lib.read_status(run_dir) or {}
  except Exception:  # pylint: disable=broad-except  # Only a nicer message is at stake.
    return None
  return status.get("message") if status.get("state") == "diverged" else None


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
