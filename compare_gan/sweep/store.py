"""A sweep's state: `<workdir>/study.db` (SQLite, WAL) and the driver lock (DESIGN section 7).

  meta     the study: 'study_id' (a random id, new with every study.db; each trial directory
           records it in trial.json), 'study_name', 'study_path', 'study_text' (the study as
           parsed, base configs included: `Study.text`), 'study_fingerprint' (its SHA-256),
           'fingerprint_version', 'created', 'schema_version', 'objective_metric',
           'objective_mode', 'objective_reduce'
  trials   one row per trial: setting, labels, params, seed, source, status, objective, run
           directory, host, timings, attempts and the reason of a failure. `source` says who
           proposed it: 'grid' (a grid point), 'random' or 'gp' (the sweeper's search), or
           'rerun' (`study.reruns`: a best point of a setting whose search is over, trained
           again with a new seed; never told to the sweeper, see driver.py)
  results  every evaluated (trial, step, metric) with its value and protocol card

A trial moves pending -> running -> done | failed | diverged. Every write is one transaction,
so a driver killed at any moment leaves the database consistent: trials that were `running`
are re-queued (`requeue_running`) by the next driver and resume in the same run directory.
In WAL mode readers (`compare_gan report`, pandas) never block the driver and see committed
rows only. SQLite locking needs a local file system: keep the workdir local even when the
trials' run directories live on a shared or gs:// path.

A study.db written before study ids and fingerprints (fingerprint version 1: 'study_text' was
the parsed study.* and the raw study file, no base configs, no id) is still read by everything,
and `init_study` upgrades it once when the study's parsed study.* is unchanged: it records an
id and today's fingerprint (base configs as they are now). Its trial directories have no
trial.json, so the driver refuses to restart a trial in one that exists (move it aside).

A file that SQLite cannot read (not a database, truncated, malformed) raises `StoreUnreadable`
naming it, at open (`PRAGMA quick_check`), never a traceback halfway through a sweep.

Only one driver may own a workdir: `driver_lock` holds `<workdir>/driver.lock` for the driver's
lifetime (run_dir.DirectoryLock, as a trainer holds its run directory: an flock the operating
system releases when the process ends in any way, SIGKILL included, so a crashed driver never
leaves a stale lock).
"""

import contextlib
import difflib
import json
import math
import os
import pathlib
import socket
import sqlite3
import uuid
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from compare_gan import run_dir as run_dir_lib
from compare_gan.sweep import study as study_lib

SCHEMA_VERSION = "1"  # The tables; the meta keys added since are read when present.
# How 'study_text' and 'study_fingerprint' are made: "2" Study.text (study.* and base configs, as
# parsed) and its SHA-256; "1" (no key) study.* as parsed plus the raw study file.
FINGERPRINT_VERSION = "2"
_LEGACY_HEAD = "# study.* as parsed (gin.config_str()):\n"  # Version 1's study_text ...
_LEGACY_FILE = "\n# study file:\n"  # ... and the raw file that followed the parsed part.
DATABASE = "study.db"
LOCK = "driver.lock"
STATUSES = ("pending", "running", "done", "failed", "diverged")
FINISHED = ("done", "failed", "diverged")
EXPORT_FORMATS = (".csv", ".parquet")

# The tables' columns and their SQL, in table order: the schema below is built from them, and
# the report (compare_gan.report.tables) reads these names, so a column is declared only here.
_TRIALS_TABLE = (
    ("id", "INTEGER PRIMARY KEY"),
    ("setting", "TEXT NOT NULL"),
    ("labels", "TEXT NOT NULL"),  # JSON: axis -> value name
    ("params", "TEXT NOT NULL"),  # JSON: parameter -> value
    ("seed", "INTEGER NOT NULL"),
    ("source", "TEXT NOT NULL"),  # 'grid', 'random', 'gp' or 'rerun' (module docstring)
    ("status", "TEXT NOT NULL"),  # one of STATUSES
    ("objective", "REAL"),
    ("objective_step", "INTEGER"),
    ("run_dir", "TEXT NOT NULL"),
    ("host", "TEXT"), ("created", "TEXT"), ("started", "TEXT"), ("finished", "TEXT"),
    ("seconds", "REAL"),
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("error", "TEXT"),
)
_RESULTS_TABLE = (
    ("trial_id", "INTEGER NOT NULL REFERENCES trials(id)"),
    ("step", "INTEGER NOT NULL"), ("metric", "TEXT NOT NULL"),
    ("value", "REAL"), ("std", "REAL"), ("n", "INTEGER"), ("status", "TEXT"),
    ("protocol", "TEXT"),  # JSON: the protocol card
)
TRIAL_COLUMNS = tuple(name for name, _ in _TRIALS_TABLE)
RESULT_COLUMNS = tuple(name for name, _ in _RESULTS_TABLE)


def _columns_sql(table) -> str:
  return ",\n".join(f"  {name} {sql}" for name, sql in table)


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS trials (
{_columns_sql(_TRIALS_TABLE)}
);
CREATE TABLE IF NOT EXISTS results (
{_columns_sql(_RESULTS_TABLE)},
  PRIMARY KEY (trial_id, step, metric)
);
CREATE INDEX IF NOT EXISTS trials_status ON trials (status);
"""
_JSON_COLUMNS = ("labels", "params")
# The exported files' columns: trials without the JSON columns (spread into label and param
# columns instead), results with each trial's setting.
_EXPORT_TRIAL_COLUMNS = [c for c in TRIAL_COLUMNS if c not in _JSON_COLUMNS]
_EXPORT_RESULT_COLUMNS = ["trial_id", "setting"] + [c for c in RESULT_COLUMNS if c != "trial_id"]


class StudyMismatch(ValueError):
  """The workdir holds a different study than the one given."""


DriverBusy = run_dir_lib.Busy  # Another driver holds the workdir's lock.


class StoreUnreadable(RuntimeError):
  """study.db is not a readable SQLite database (not one at all, truncated, malformed)."""


def check_readable(db: sqlite3.Connection, path: str) -> None:
  """Checks that SQLite can read every page of the database open on `db` (`PRAGMA
  quick_check`, linear in its size: milliseconds for a sweep's study.db).

  Raises:
    StoreUnreadable: naming `path` and SQLite's reason.
  """
  try:
    problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
  except sqlite3.OperationalError:
    raise  # Cannot open or lock it (permissions, a missing directory): not a damaged file.
  except sqlite3.DatabaseError as e:  # "file is not a database", "... disk image is malformed"
    problems = [str(e)]
  if problems != ["ok"]:
    raise StoreUnreadable(f"{path} is not a readable SQLite database ({problems[0]})")


def check_not_empty(path: str) -> None:
  """SQLite takes an empty file for a new database; an empty study.db is a truncated one.

  Raises:
    StoreUnreadable: `path` exists and has 0 bytes.
  """
  if os.path.isfile(path) and os.path.getsize(path) == 0:
    raise StoreUnreadable(f"{path} is not a readable SQLite database (it is empty: 0 bytes)")


def check_file(path: str) -> None:
  """When `path` exists, checks that it is a readable SQLite database, read-only and without
  creating anything: for a caller that wants to fail fast, before seconds of other work.

  Raises:
    StoreUnreadable: it exists and is not readable (empty, truncated, corrupt).
  """
  if not os.path.isfile(path):
    return
  check_not_empty(path)
  uri = pathlib.Path(path).resolve().as_uri() + "?mode=ro"
  with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30.0)) as db:
    check_readable(db, path)


def _diff(old: str, new: str, old_label: str, new_label: str) -> str:
  return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), old_label,
                                      new_label))


def _legacy_spec(study_text: str) -> Optional[str]:
  """The parsed study.* part of a version-1 'study_text', or None when it is not one."""
  if not study_text.startswith(_LEGACY_HEAD) or _LEGACY_FILE not in study_text:
    return None
  return study_text[len(_LEGACY_HEAD):study_text.index(_LEGACY_FILE)]


def stored_objective(meta: Dict[str, str]) -> Tuple[str, str]:
  """(metric, mode) of the study's objective, as `Store.init_study` wrote them in the meta
  table (`Store.meta()`, or the report's read-only read of it).

  Raises:
    ValueError: the meta table has no objective (not a database of `compare_gan sweep`, or one
      whose driver died before it recorded the study).
  """
  missing = [k for k in ("objective_metric", "objective_mode") if not meta.get(k)]
  if missing:
    raise ValueError(f"study.db's meta table lacks {', '.join(missing)}; it was not written "
                     "by `compare_gan sweep`, or its driver stopped before recording the "
                     "study (run the sweep again to record it).")
  return meta["objective_metric"], meta["objective_mode"]


def _finite_or_none(value: Any) -> Optional[float]:
  if value is None:
    return None
  value = float(value)
  return value if math.isfinite(value) else None


class Store:
  """The SQLite store of one sweep. Use from one thread (the driver's); readers may open the
  same file concurrently.

  Args:
    path: the database file, normally `<workdir>/study.db`; created with its tables if absent.
    busy_timeout_s: how long a write waits for another connection's transaction.
  """

  def __init__(self, path: str, busy_timeout_s: float = 30.0):
    self.path = path
    self.upgraded = False  # Whether init_study upgraded a version-1 study record.
    check_not_empty(path)
    # isolation_level=None: no implicit transactions; every write opens its own BEGIN IMMEDIATE.
    self._db = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
      check_readable(self._db, path)
    except BaseException:
      self._db.close()
      raise
    self._db.row_factory = sqlite3.Row
    mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
      raise RuntimeError(f"{path}: SQLite refused WAL journal mode (got {mode!r}); the workdir "
                         "must be on a local file system.")
    self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    self._db.execute("PRAGMA foreign_keys=ON")
    # WAL + synchronous=NORMAL is durable against a killed process (not against power loss),
    # which is what resuming a sweep needs, at a fraction of FULL's fsyncs.
    self._db.execute("PRAGMA synchronous=NORMAL")
    with self._transaction() as db:
      for statement in filter(str.strip, _SCHEMA.split(";")):
        db.execute(statement)

  def close(self) -> None:
    """Closes the connection (the `with` block does it on exit)."""
    self._db.close()

  def __enter__(self) -> "Store":
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  @contextlib.contextmanager
  def _transaction(self) -> Iterator[sqlite3.Connection]:
    self._db.execute("BEGIN IMMEDIATE")
    try:
      yield self._db
    except BaseException:
      self._db.execute("ROLLBACK")
      raise
    self._db.execute("COMMIT")

  # ------------------------------------------------------------------------------------------
  # The study
  # ------------------------------------------------------------------------------------------
  def meta(self) -> Dict[str, str]:
    """The meta table as a dict (empty before `init_study`)."""
    return {row["key"]: row["value"] for row in self._db.execute("SELECT key, value FROM meta")}

  def init_study(self, study: study_lib.Study) -> bool:
    """Binds the store to `study`: on the first run records it (a new random study id, its
    name, path, text, fingerprint and objective); later, checks that it is the same study.
    Returns True on the first run, False when resuming (`self.upgraded` says whether a
    version-1 record was upgraded on the way).

    Raises:
      StudyMismatch: the store holds another study, or the same study.* whose base configs
        (or files they include) changed; the message has a unified diff.
    """
    with self._transaction() as db:
      stored = {row["key"]: row["value"] for row in db.execute("SELECT key, value FROM meta")}
      if not stored:
        rows = dict(study_id=uuid.uuid4().hex, study_name=study.name, study_text=study.text,
                    study_fingerprint=study_lib.fingerprint(study.text), study_path=study.path,
                    fingerprint_version=FINGERPRINT_VERSION, created=run_dir_lib.now(),
                    schema_version=SCHEMA_VERSION, objective_metric=study.objective.metric,
                    objective_mode=study.objective.mode, objective_reduce=study.objective.reduce)
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(rows.items()))
        return True
      if stored.get("schema_version") != SCHEMA_VERSION:
        raise StudyMismatch(f"{self.path} has schema version {stored.get('schema_version')!r}; "
                            f"this compare_gan writes {SCHEMA_VERSION!r}. Use a new --workdir.")
      version = stored.get("fingerprint_version", "1")
      if version == FINGERPRINT_VERSION:
        if stored.get("study_fingerprint") != study_lib.fingerprint(study.text):
          raise self._mismatch(stored, stored.get("study_text") or "", study.text, study)
        return False
      if version != "1":
        raise StudyMismatch(
            f"{self.path} records its study in a format this compare_gan does not know "
            f"(fingerprint_version {version!r}; it reads '1' and {FINGERPRINT_VERSION!r}). "
            "Run it with the compare_gan that wrote it, or use a new --workdir.")
      legacy = _legacy_spec(stored.get("study_text") or "")
      if legacy is None:
        raise self._mismatch(stored, stored.get("study_text") or "", study.text, study)
      if legacy != study.spec_text:
        raise self._mismatch(stored, legacy, study.spec_text, study)
      # The same study.* (comments aside); its base configs were never recorded, so today's
      # are, with an id for its trial directories from now on.
      rows = dict(study_id=uuid.uuid4().hex, study_text=study.text,
                  study_fingerprint=study_lib.fingerprint(study.text),
                  fingerprint_version=FINGERPRINT_VERSION, upgraded=run_dir_lib.now())
      db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     sorted(rows.items()))
      self.upgraded = True
      return False

  def _mismatch(self, stored: Dict[str, str], old: str, new: str,
                study: study_lib.Study) -> StudyMismatch:
    return StudyMismatch(
        f"{self.path} holds a different study ({stored.get('study_name')!r} from "
        f"{stored.get('study_path')}) than {study.path} and its base configs give now; its "
        "trials would not be comparable. Resume with the same study file, --gin_bindings and "
        "base config values (comments and layout may differ), or use a new --workdir.\n"
        + _diff(old, new, f"study in {self.path}", f"study from {study.path}"))

  @property
  def study_id(self) -> str:
    """The id `init_study` recorded; trial directories name it in their trial.json."""
    study_id = self.meta().get("study_id")
    if not study_id:
      raise KeyError(f"{self.path} records no study id yet; call init_study first.")
    return study_id

  # ------------------------------------------------------------------------------------------
  # Trials
  # ------------------------------------------------------------------------------------------
  def add_trial(self, *, setting: str, labels: Dict[str, str], params: Dict[str, Any],
                seed: int, source: str, trials_dir: str, description: str) -> int:
    """Adds a `pending` trial; its run directory is `<trials_dir>/<id:04d>-<description>`.
    Returns the new id (1, 2, ... in proposal order)."""
    with self._transaction() as db:
      next_id = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM trials").fetchone()[0]
      run_dir = os.path.join(trials_dir, f"{next_id:04d}-{description}")
      db.execute(
          "INSERT INTO trials (id, setting, labels, params, seed, source, status, run_dir, "
          "created) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
          (next_id, setting, json.dumps(labels, sort_keys=True), json.dumps(params),
           int(seed), source, run_dir, run_dir_lib.now()))
    return next_id

  def mark_running(self, trial_id: int, host: Optional[str] = None) -> None:
    """pending -> running: counts an attempt and stamps the start time."""
    with self._transaction() as db:
      cursor = db.execute(
          "UPDATE trials SET status = 'running', host = ?, started = ?, attempts = attempts + 1 "
          "WHERE id = ?", (host or socket.gethostname(), run_dir_lib.now(), trial_id))
      if cursor.rowcount != 1:
        raise KeyError(f"no trial with id {trial_id} in {self.path}")

  def finish_trial(self, trial_id: int, status: str, objective: Optional[float] = None,
                   objective_step: Optional[int] = None, seconds: Optional[float] = None,
                   error: Optional[str] = None, records: Sequence[dict] = (), *,
                   host: Optional[str] = None, started: Optional[str] = None,
                   finished: Optional[str] = None) -> None:
    """Records a trial's outcome and its metric records (`compare_gan.metrics.results` records;
    the newest per (step, metric) replaces the trial's earlier rows) in one transaction."""
    if status not in FINISHED:
      raise ValueError(f"finish_trial status {status!r}; valid: {', '.join(FINISHED)}.")
    newest = {}
    for r in records:
      newest[(int(r["step"]), str(r["metric"]))] = r
    rows = [(trial_id, step, metric, _finite_or_none(r.get("value")),
             _finite_or_none(r.get("std")), None if r.get("n") is None else int(r["n"]),
             r.get("status"), json.dumps(r.get("protocol"), sort_keys=True))
            for (step, metric), r in sorted(newest.items())]
    with self._transaction() as db:
      cursor = db.execute(
          "UPDATE trials SET status = ?, objective = ?, objective_step = ?, seconds = ?, "
          "error = ?, finished = ?, host = COALESCE(?, host), started = COALESCE(?, started) "
          "WHERE id = ?",
          (status, _finite_or_none(objective), objective_step, seconds, error,
           finished or run_dir_lib.now(), host, started, trial_id))
      if cursor.rowcount != 1:
        raise KeyError(f"no trial with id {trial_id} in {self.path}")
      db.execute("DELETE FROM results WHERE trial_id = ?", (trial_id,))
      db.executemany("INSERT INTO results (trial_id, step, metric, value, std, n, status, "
                     "protocol) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

  def requeue_running(self) -> int:
    """running -> pending (trials a dead driver left behind); returns how many."""
    with self._transaction() as db:
      return db.execute("UPDATE trials SET status = 'pending' WHERE status = 'running'").rowcount

  def requeue_trial(self, trial_id: int) -> None:
    """running -> pending, not counting the attempt: the trial never started (its run
    directory was refused, and the sweep stopped)."""
    with self._transaction() as db:
      cursor = db.execute(
          "UPDATE trials SET status = 'pending', attempts = MAX(attempts - 1, 0) "
          "WHERE id = ? AND status = 'running'", (trial_id,))
      if cursor.rowcount != 1:
        raise KeyError(f"no running trial with id {trial_id} in {self.path}")

  def trials(self, status: Optional[str] = None) -> List[dict]:
    """Trials in id order (labels and params decoded), optionally only those in `status`."""
    if status is not None and status not in STATUSES:
      raise ValueError(f"Unknown trial status {status!r}; valid: {', '.join(STATUSES)}.")
    query = "SELECT * FROM trials" + (" WHERE status = ?" if status else "") + " ORDER BY id"
    return [self._decode(row) for row in self._db.execute(query, (status,) if status else ())]

  @staticmethod
  def _decode(row: sqlite3.Row) -> dict:
    trial = dict(row)
    for column in _JSON_COLUMNS:
      trial[column] = json.loads(trial[column])
    return trial

  def trial(self, trial_id: int) -> dict:
    """One trial (labels and params decoded)."""
    row = self._db.execute("SELECT * FROM trials WHERE id = ?", (trial_id,)).fetchone()
    if row is None:
      raise KeyError(f"no trial with id {trial_id} in {self.path}")
    return self._decode(row)

  def results(self, trial_id: Optional[int] = None) -> List[dict]:
    """Result rows ordered by (trial_id, step, metric); protocol cards decoded."""
    query = "SELECT * FROM results" + (" WHERE trial_id = ?" if trial_id is not None else "")
    rows = self._db.execute(query + " ORDER BY trial_id, step, metric",
                            (trial_id,) if trial_id is not None else ()).fetchall()
    out = []
    for row in rows:
      result = dict(row)
      result["protocol"] = json.loads(result["protocol"]) if result["protocol"] else None
      out.append(result)
    return out

  def counts(self) -> Dict[str, int]:
    """Number of trials per status (every status present, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for row in self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status"):
      counts[row[0]] = row[1]
    return counts

  # ------------------------------------------------------------------------------------------
  # Export
  # ------------------------------------------------------------------------------------------
  def export(self, path: str) -> List[str]:
    """Writes the trials (one row each; labels and params as columns, `best_in_setting` marking
    each setting's best search trial by objective, reruns left out as in the driver's summary)
    to `path` and the result rows to `<stem>_results<suffix>`.
    The format follows the suffix: .csv or .parquet. Returns both paths."""
    stem, suffix = os.path.splitext(path)
    if suffix.lower() not in EXPORT_FORMATS:
      raise ValueError(f"Cannot export to {path!r}: unknown suffix {suffix!r}; valid: "
                       f"{', '.join(EXPORT_FORMATS)}.")
    import pandas as pd  # Only an export needs pandas.
    maximize = self.meta().get("objective_mode", "min") == "max"
    trials = self.trials()
    fixed = set(_EXPORT_TRIAL_COLUMNS)
    rows = []
    for trial in trials:
      row = {k: v for k, v in trial.items() if k not in _JSON_COLUMNS}
      for prefix, values in (("label_", trial["labels"]), ("param_", trial["params"])):
        for name, value in values.items():
          column = name if name not in row and name not in fixed else prefix + name
          row[column] = json.dumps(value) if isinstance(value, (list, dict)) else value
      rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else _EXPORT_TRIAL_COLUMNS)
    frame["best_in_setting"] = False
    done = frame[frame["objective"].notna() & (frame["source"] != study_lib.RERUN)]
    if len(done):
      by_setting = done.groupby("setting")["objective"]
      frame.loc[(by_setting.idxmax() if maximize else by_setting.idxmin()).values,
                "best_in_setting"] = True
    settings = {t["id"]: t["setting"] for t in trials}
    results = pd.DataFrame(
        [dict(r, setting=settings[r["trial_id"]],
              protocol=None if r["protocol"] is None else json.dumps(r["protocol"],
                                                                     sort_keys=True))
         for r in self.results()], columns=_EXPORT_RESULT_COLUMNS)
    results_path = f"{stem}_results{suffix}"
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    for out, table in ((path, frame), (results_path, results)):
      if suffix.lower() == ".csv":
        table.to_csv(out, index=False)
      else:
        table.to_parquet(out, index=False)
    return [path, results_path]


# --------------------------------------------------------------------------------------------
# The driver lock
# --------------------------------------------------------------------------------------------
def driver_lock(workdir: str) -> run_dir_lib.DirectoryLock:
  """The driver's lock of a workdir (`driver.lock`, run_dir.DirectoryLock): held while the
  driver runs; a second driver is refused with `DriverBusy`, naming the holder."""
  return run_dir_lib.DirectoryLock(
      workdir, LOCK, "`compare_gan sweep` driver",
      "Only one driver may run a workdir: wait for it to end or stop it (it can be killed at "
      "any moment; its running trials are re-queued), or use another --workdir.")
