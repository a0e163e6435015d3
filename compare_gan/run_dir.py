"""The run directory (`--model_dir`) contract, DESIGN section 6, and the process exit codes.

  config.gin            the full config as given (written before step 0)
  operative_config.gin  what was actually used (after the first step)
  checkpoints/          tf.train.CheckpointManager files, ckpt-<step>.index / .data-*
  tb/                   TensorBoard events (tb/eval: evaluation scalars)
  metrics.jsonl         one JSON object per evaluated (step, metric), with its protocol card
                        (and a family's training-side values, e.g. BEGAN's convergence)
  scores.csv            the reference's columns, derived from metrics.jsonl
  status.json           running | done | diverged | failed | interrupted, with step and message
  train.lock            held by the trainer while it runs (pid, host, heartbeat)
  metrics.jsonl.lock    taken for each append to metrics.jsonl (writers take turns)
  tfhub/<step>/         exported generators

Every file is written atomically (a temporary file in the same directory, flushed to disk, then
renamed), so a killed process never leaves a half-written status, config or metrics file.
Local paths use the os module alone, so the sweep driver and its executors read run directories
without importing TensorFlow (~5 s); a path with a scheme (gs://...) goes through
`tf.io.gfile`, as TPU runs need.
"""

import datetime
import difflib
import errno
import fcntl
import json
import logging
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from typing import Callable, Dict, List, Optional, Set, Tuple, Union

# ----------------------------------------------------------------------------------------------
# Exit codes of every command
# ----------------------------------------------------------------------------------------------
EXIT_OK = 0
EXIT_FAILED = 1        # a runtime failure (a run failed, a checkpoint could not be evaluated)
EXIT_USAGE = 2         # a bad command line or config
EXIT_DIVERGED = 3      # a run stopped by a NaN/Inf loss (status.json says where)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + 15)


class Failure(Exception):
  """An expected failure of a command: its message is the one line `compare_gan` prints (what
  is wrong, which file or value, what to do), `exit_code` the status it exits with. Anything
  else that escapes a command is a bug, shown with its traceback in debug mode."""
  exit_code = EXIT_FAILED


class UsageError(Failure):
  """A bad command line or config (exit 2)."""
  exit_code = EXIT_USAGE


class Terminated(KeyboardInterrupt):
  """SIGTERM, raised in the main thread by the handler `compare_gan` installs, so that every
  `except KeyboardInterrupt` cleanup (status.json, sweep trials) also runs on SIGTERM."""

_OS_ADVICE = {
    errno.EACCES: "check its permissions, or choose another directory",
    errno.EPERM: "check its permissions, or choose another directory",
    errno.EROFS: "the file system is read-only; choose another directory",
    errno.ENOSPC: "the disk is full; free space and rerun the same command (a run resumes from "
                  "its last checkpoint)",
    errno.EDQUOT: "the disk quota is used up; free space and rerun the same command",
    errno.ENOTDIR: "a file stands where a directory is needed; give a directory path",
    errno.EISDIR: "a directory stands where a file is needed; give a file path",
}
# The noise TensorFlow wraps around an op's message: graph node names, op names, the
# `{{function_node ...}}` prefix and gin's "In call to configurable" line.
_TF_NOISE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[\[\{\{node [^}]*\}\}\]\]|"
                       r"\s*\[Op:[^\]]*\]( name:\s*\S*)?")
_OS_TEXT = re.compile(r"^\[Errno (\d+)\] ([^:]+)(?:: '(.*)')?")
_PYTHON_ERROR = re.compile(r"^(?:\w+\.)*(\w*(?:Error|Exception|Failure|NotFound|Busy)): (.+)$")


def one_line(error: BaseException) -> str:
  """The one line that reports an expected failure: our own message as written; an OSError as
  path, reason and what to do; a TensorFlow error as its message without graph noise (and,
  when it wraps a Python error raised inside the input pipeline, that error's message)."""
  if isinstance(error, Failure):
    return _joined(str(error))
  if isinstance(error, OSError):
    number, reason, where = error.errno, error.strerror, error.filename
    # gin re-raises an error from inside a configurable with its text only: parse it back.
    parsed = _OS_TEXT.match(_first(str(error))) if not reason else None
    if parsed:
      number, reason, where = int(parsed.group(1)), parsed.group(2), parsed.group(3)
    if reason:
      advice = _OS_ADVICE.get(number)
      return (f"{where}: " if where else "") + reason + (f"; {advice}" if advice else "")
  text = getattr(error, "message", None) or str(error)
  if type(error).__module__.startswith("tensorflow"):
    # A py_function's Python error arrives as its traceback text inside the op's message.
    inner = [m for m in map(_PYTHON_ERROR.match, text.splitlines()) if m]
    if inner:
      text = inner[-1].group(2)
    text = _TF_NOISE.sub("", _first(text)).strip()
    if "No space left on device" in text:
      text += f"; {_OS_ADVICE[errno.ENOSPC]}"
    elif text.startswith("OOM when allocating"):
      text += "; the model or batch does not fit in memory: lower train.batch_size"
    return text or type(error).__name__
  return f"{type(error).__name__}: {_joined(text)}" if text.strip() else type(error).__name__


def _joined(text: str) -> str:
  """A message of ours on one line (its lines joined), without the line gin appends to an
  error raised inside a configurable ("In call to configurable 'train' (<function ...>)")."""
  lines = [line.strip() for line in str(text).strip().splitlines()
           if line.strip() and not line.strip().startswith("In call to configurable")]
  return " ".join(lines)


def _first(text: str) -> str:
  lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
  return lines[0] if lines else ""


# ----------------------------------------------------------------------------------------------
# Paths inside a run directory
# ----------------------------------------------------------------------------------------------
CONFIG = "config.gin"
PREVIOUS_CONFIG = "config.previous.gin"
OPERATIVE_CONFIG = "operative_config.gin"
STATUS = "status.json"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tb"
EVAL_TENSORBOARD = os.path.join(TENSORBOARD, "eval")
METRICS = "metrics.jsonl"
SCORES = "scores.csv"
TFHUB = "tfhub"  # tfhub/<step>/: exports of evaluated checkpoints.

TRAIN_LOCK = "train.lock"

STATES = ("running", "done", "diverged", "failed", "interrupted")
ENDED_STATES = ("done", "diverged", "failed", "interrupted")  # no trainer is running


def now() -> str:
  """The current UTC time as an ISO 8601 string with seconds (every timestamp we write)."""
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# Files: local through os, remote (scheme://) through tf.io.gfile
# ----------------------------------------------------------------------------------------------

def is_remote(path: str) -> bool:
  """Whether `path` names a file system with a scheme (gs://, s3://, ...)."""
  return "://" in str(path)


def _gfile():
  import tensorflow as tf  # Only remote paths need it.
  return tf.io.gfile


def makedirs(path: str) -> None:
  if is_remote(path):
    _gfile().makedirs(path)
  else:
    os.makedirs(path, exist_ok=True)


def read_text(path: str) -> Optional[str]:
  """The text of `path`, or None when it does not exist."""
  if is_remote(path):
    gfile = _gfile()
    if not gfile.exists(path):
      return None
    with gfile.GFile(path) as f:
      return f.read()
  try:
    with open(path, encoding="utf-8") as f:
      return f.read()
  except FileNotFoundError:
    return None


def write_atomically(path: str, content: Union[str, bytes, Callable],
                     temp_prefix: Optional[str] = None) -> None:
  """Writes `path` through a temporary file in its directory and a rename, so readers see the
  old or the new file, never a part. `content` is text, bytes, or `write(binary_file)`.

  Local files are fsynced before the rename (a power cut keeps the old or the new file);
  remote file systems rename atomically on their own terms (GCS: a copy, then a delete).
  The temporary file's name starts with `temp_prefix`, by default the file's own name: give
  another where a reader of the directory picks files by name (TensorBoard loads every file
  whose name holds "tfevents", a half-written one too).
  """
  def write(f) -> None:
    if callable(content):
      content(f)
    else:
      f.write(content.encode("utf-8") if isinstance(content, str) else content)

  if is_remote(path):
    gfile = _gfile()
    tmp = (f"{path}.tmp-{os.getpid()}" if temp_prefix is None else
           os.path.join(os.path.dirname(path), f"{temp_prefix}{uuid.uuid4().hex}.tmp"))
    with gfile.GFile(tmp, "wb") as f:
      write(f)
    gfile.rename(tmp, path, overwrite=True)
    return
  directory = os.path.dirname(os.path.abspath(path))
  prefix = os.path.basename(path) + "." if temp_prefix is None else temp_prefix
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


# ----------------------------------------------------------------------------------------------
# status.json and config.gin
# ----------------------------------------------------------------------------------------------

def write_status(model_dir: str, state: str, step: int, training_steps: int,
                 message: str = "", **extra) -> dict:
  """Writes status.json; returns what it wrote."""
  if state not in STATES:
    raise ValueError(f"Unknown run state {state!r}; valid: {', '.join(STATES)}.")
  status = dict(state=state, step=int(step), training_steps=int(training_steps),
                message=message, updated=now(), **extra)
  write_atomically(os.path.join(model_dir, STATUS), json.dumps(status, indent=2) + "\n")
  return status


def read_status(model_dir: str) -> Optional[dict]:
  """status.json as a dict, or None when the run has none yet, or when it is damaged (a hand
  edit, a disk error): that is logged, never raised, so it cannot hide the error that a
  caller is reporting, and a follower (`eval --continuous`) keeps following until the
  trainer writes it again."""
  path = os.path.join(model_dir, STATUS)
  try:
    text = read_text(path)
    if text is None:
      return None
    status = json.loads(text)
    if not isinstance(status, dict):
      raise ValueError("not a JSON object")
    return status
  except (OSError, ValueError) as e:
    logging.warning("%s is unreadable (%s); treated as absent", path, e)
    return None


def write_config(model_dir: str, config_text: str) -> Optional[str]:
  """Writes config.gin. When a different config.gin is already there (a resumed run whose
  config changed), keeps the old one as config.previous.gin and returns a unified diff."""
  path = os.path.join(model_dir, CONFIG)
  diff = None
  old = read_text(path)
  if old is not None and old != config_text:
    diff = "".join(difflib.unified_diff(old.splitlines(True), config_text.splitlines(True),
                                        "config.gin (before)", "config.gin (now)"))
    write_atomically(os.path.join(model_dir, PREVIOUS_CONFIG), old)
  write_atomically(path, config_text)
  return diff


def read_config(model_dir: str) -> tuple:
  """(file name, text) of operative_config.gin, else config.gin (before the first step), else
  (None, None)."""
  for name in (OPERATIVE_CONFIG, CONFIG):
    text = read_text(os.path.join(model_dir, name))
    if text is not None:
      return name, text
  return None, None


# ----------------------------------------------------------------------------------------------
# metrics.jsonl
# ----------------------------------------------------------------------------------------------

def read_metrics(model_dir: str) -> List[dict]:
  """Every record of model_dir/metrics.jsonl, in file order. A line that is not a JSON object
  with "step" and "metric" (a hand edit) is skipped with a warning, never fatal."""
  path = os.path.join(model_dir, METRICS)
  records = []
  for number, line in enumerate((read_text(path) or "").splitlines(), 1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
      if not isinstance(record, dict) or "step" not in record or "metric" not in record:
        raise ValueError("not a metric record")
    except ValueError as e:
      logging.warning("%s line %d is not a metric record (%s); skipped", path, number, e)
      continue
    records.append(record)
  return records


def latest_metrics(records: List[dict]) -> Dict[int, Dict[str, dict]]:
  """step -> metric -> the newest record of that (step, metric)."""
  out: Dict[int, Dict[str, dict]] = {}
  for r in records:
    out.setdefault(int(r["step"]), {})[r["metric"]] = r
  return dict(sorted(out.items()))


def append_metrics(model_dir: str, records: List[dict]) -> None:
  """Appends `records` to metrics.jsonl (one JSON object a line), rewriting the file
  atomically so a killed evaluation never leaves a torn line. Writers of one run (a trainer
  recording its checkpoint metrics, an `eval --continuous` beside it) take turns: locally under
  an flock of metrics.jsonl.lock, so neither rewrite loses the other's lines."""
  path = os.path.join(model_dir, METRICS)
  new = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in records)

  def append() -> None:
    old = read_text(path) or ""
    if old and not old.endswith("\n"):
      old += "\n"
    write_atomically(path, old + new)

  if is_remote(path):  # Object stores have no locks; one writer per run is the rule there.
    append()
    return
  fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)  # Held for one read-modify-write: milliseconds.
    append()
  finally:
    os.close(fd)


def evaluated_steps(model_dir: str) -> Set[int]:
  """The steps that have at least one record in metrics.jsonl."""
  return {int(r["step"]) for r in read_metrics(model_dir)}


# ----------------------------------------------------------------------------------------------
# checkpoints/: which checkpoints a run has (training/checkpoints.py writes and restores them)
# ----------------------------------------------------------------------------------------------
# The checkpoint of step N is tf.train.CheckpointManager's ckpt-N.index and ckpt-N.data-*.
CHECKPOINT_PREFIX = "ckpt"
_CHECKPOINT_INDEX = re.compile(rf"^({CHECKPOINT_PREFIX}-(\d+))\.index$")


def checkpoint_step(prefix: str) -> int:
  """The step of a checkpoint prefix (`.../ckpt-<step>`), -1 for a path that names none."""
  match = re.search(rf"{CHECKPOINT_PREFIX}-(\d+)$", prefix)
  return int(match.group(1)) if match else -1


def checkpoint_files(directory: str) -> Dict[int, str]:
  """{step: prefix} of every checkpoint in `directory` (a `ckpt-<step>.index` file is there),
  ordered by step; {} when the directory does not exist."""
  if is_remote(directory):
    names = [os.path.basename(p) for p in _gfile().glob(os.path.join(directory, "*.index"))]
  else:
    names = os.listdir(directory) if os.path.isdir(directory) else []
  found = {int(m.group(2)): os.path.join(directory, m.group(1))
           for m in map(_CHECKPOINT_INDEX.match, names) if m}
  return dict(sorted(found.items()))


def list_checkpoints(model_dir: str, *, required: bool = False) -> Dict[int, str]:
  """{step: prefix} of every checkpoint in model_dir/checkpoints, ordered by step; with
  `required`, FileNotFoundError (saying to train first) when there is none."""
  directory = os.path.join(model_dir, CHECKPOINTS)
  found = checkpoint_files(directory)
  if required and not found:
    raise FileNotFoundError(f"No checkpoints in {directory}; train first (compare_gan train "
                            "--model_dir ...).")
  return found


def checkpoint_at(model_dir: str, step: Optional[int] = None) -> Tuple[int, str]:
  """(step, prefix) of the run's checkpoint of `step`, or of its newest (step None). Raises
  FileNotFoundError without checkpoints, UsageError (listing the steps) without `step`'s."""
  available = list_checkpoints(model_dir, required=True)
  if step is None:
    step = max(available)
  elif step not in available:
    raise UsageError(f"No checkpoint for step {step} in {model_dir}; available steps: "
                     f"{sorted(available)}.")
  return step, available[step]


# ----------------------------------------------------------------------------------------------
# Locks: one trainer per run directory
# ----------------------------------------------------------------------------------------------

class Busy(Failure):
  """Another process holds the lock of a directory; the message names it."""


class DirectoryLock:
  """An exclusive lock on `directory`, held as `directory/name` while the context is open (or
  between `acquire()` and `release()`). The file says who holds it: pid, host, start time and
  a heartbeat refreshed every `heartbeat_s` seconds by a daemon thread.

  Local paths: an `flock` on the file. The operating system drops it when the process ends in
  any way (SIGKILL included), so a dead holder never blocks anyone, and the guarantee is
  exact on one machine (and on NFS, where Linux maps flock to POSIX locks).

  Remote paths (gs://...) have no locks: the file is advisory. It is taken when it is absent or
  stale (no heartbeat for `stale_s` seconds, or its holder is a dead pid on this host), then
  read back to see who won. Two trainers started within the same second can both pass; one
  started while another's heartbeat is live is refused.

  Raises:
    Busy: (acquire) another live process holds it; the message names its pid, host, start
      and last heartbeat, and what to do.
  """

  def __init__(self, directory: str, name: str, holder: str, advice: str,
               heartbeat_s: float = 30.0, stale_s: float = 300.0):
    self.directory, self.path = directory, os.path.join(directory, name)
    self.holder, self.advice = holder, advice
    self.heartbeat_s, self.stale_s = heartbeat_s, stale_s
    self.held = False
    self._fd: Optional[int] = None
    self._me = dict(pid=os.getpid(), host=socket.gethostname(), started=now(),
                    token=uuid.uuid4().hex)
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None

  def __enter__(self) -> "DirectoryLock":
    self.acquire()
    return self

  def __exit__(self, *exc_info) -> None:
    self.release()

  def _content(self) -> bytes:
    return (json.dumps(dict(self._me, heartbeat=now()), sort_keys=True) + "\n").encode()

  def _busy(self, content: Optional[str]) -> Busy:
    try:
      other = json.loads(content or "")
      who = (f"pid {other['pid']} on {other['host']}, started {other['started']}, last "
             f"heartbeat {other.get('heartbeat', '?')}")
    except (ValueError, KeyError, TypeError):
      who = "an unknown process"
    return Busy(f"{self.directory} is in use by another {self.holder} ({who}; lock file "
                f"{self.path}). {self.advice}")

  def acquire(self) -> None:
    if is_remote(self.path):
      self._acquire_remote()
    else:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError:  # BlockingIOError: someone else holds it.
        content = os.read(fd, 4096).decode(errors="replace")
        os.close(fd)
        raise self._busy(content) from None
      self._fd = fd
      self._write()
    self.held = True
    self._stop.clear()
    self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.path}",
                                    daemon=True)
    self._thread.start()

  def _acquire_remote(self) -> None:
    current = read_text(self.path)
    if current is not None and not self._stale(current):
      raise self._busy(current)
    write_atomically(self.path, self._content())
    time.sleep(1.0)  # Let a racing writer's rename land, then see who won.
    current = read_text(self.path)
    if current is None or json.loads(current).get("token") != self._me["token"]:
      raise self._busy(current)

  def _stale(self, content: str) -> bool:
    try:
      other = json.loads(content)
      beat = datetime.datetime.fromisoformat(other["heartbeat"])
    except (ValueError, KeyError, TypeError):
      return True  # Unreadable: not a live holder's file.
    if other.get("host") == self._me["host"] and not _pid_alive(int(other.get("pid", -1))):
      return True
    age = (datetime.datetime.now(datetime.timezone.utc) - beat).total_seconds()
    return age > self.stale_s

  def _write(self) -> None:
    if self._fd is not None:
      content = self._content()
      os.ftruncate(self._fd, 0)
      os.pwrite(self._fd, content, 0)
    else:
      write_atomically(self.path, self._content())

  def _beat(self) -> None:
    while not self._stop.wait(self.heartbeat_s):
      try:
        self._write()
      except Exception as e:  # pylint: disable=broad-except  # A missed beat is not fatal.
        logging.warning("cannot refresh the heartbeat of %s: %s", self.path, e)

  def release(self) -> None:
    if not self.held:
      return
    self._stop.set()
    if self._thread is not None:
      self._thread.join()
    self.held = False
    if self._fd is not None:
      fcntl.flock(self._fd, fcntl.LOCK_UN)  # The file stays: removing it would race a waiter.
      os.close(self._fd)
      self._fd = None
      return
    try:
      current = read_text(self.path)
      if current is not None and json.loads(current).get("token") == self._me["token"]:
        _gfile().remove(self.path)
    except Exception as e:  # pylint: disable=broad-except  # A stale file is harmless.
      logging.warning("cannot remove %s: %s", self.path, e)


def _pid_alive(pid: int) -> bool:
  if pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def run_lock(model_dir: str) -> DirectoryLock:
  """The trainer's lock of a run directory (`train.lock`). `eval` and `eval --continuous`
  read a run without it; a second `train` is refused."""
  return DirectoryLock(
      model_dir, TRAIN_LOCK, "`compare_gan train`",
      "Only one trainer may write a run directory: wait for it to end or stop it (a killed "
      "trainer resumes exactly from its last checkpoint), or use another --model_dir. "
      "`compare_gan eval` may score the run meanwhile.")
