"""The sweep driver: proposes trials, runs them on an executor, records them (DESIGN section 7).

One driver owns a workdir:

  <workdir>/study.db        the store (compare_gan.sweep.store): study, trials, results
  <workdir>/driver.lock     held while the driver runs; a second driver is refused
  <workdir>/sweep.log       the driver's log lines (also printed)
  <workdir>/trials/<id:04d>-<description>/   each trial's run directory (+ trial.log, and
                            trial.json: this study's id and the trial's config fingerprint)
  <workdir>/hparams/        TensorBoard's HParams view: the experiment and one session per
                            finished trial (compare_gan.sweep.hparams), written at start for
                            every finished trial and when a trial finishes

The loop keeps `parallel` trials in flight: trials already `pending` in the store first (oldest
first), then new points asked from the sweepers round-robin over the settings. A new point is
written to the store as one `pending` trial per seed before it is submitted, so a driver killed
at any moment loses nothing: the next `run_sweep` on the workdir re-queues the trials that were
`running` (they resume from their checkpoints in the same run directory, exactly), never
re-runs a finished one, and replays every stored trial into its sweeper.

A failed or diverged trial (or one without a finite objective) is told a penalty so that the
GP avoids its region: `study.failure_value` when set, else the worst objective of the setting's
finished trials plus their range (+1.0 while the range is zero); until the setting has a finite
objective such trials wait untold.

Reruns (`study.reruns`; compare_gan.sweep.reruns): once a setting's search is over, the driver
stores the reruns of its best points as pending trials with source 'rerun' and queues them
ahead of other settings' new points. They are never told to the sweeper, nor counted in
penalties or in the best trial per setting; the final summary gives their spread. A resumed
driver stores only the missing ones. `--max_trials` counts reruns like other trials.

The driver never adopts a directory it did not create. study.db's study id and each trial's
config fingerprint (`study_file.trial_fingerprint`) go to the executor with the trial, which
writes them to the new run directory's trial.json before the trial starts and refuses one that
exists for another study, another config, or without trial.json (`executors.claim_run_dir`).
A refusal stops the sweep (`TrialDirRefused`, exit 2): the trial goes back to pending, the
running ones are stopped and resume next time. So does a base config (or a file it includes)
edited while the sweep runs: before each start the driver parses them again and compares
(`StudyMismatch` with a diff); `Store.init_study` compares them across driver runs.
"""

import collections
import concurrent.futures
import contextlib
import difflib
import math
import os
import re
import signal
import socket
import sys
import threading
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Set

from compare_gan import run_dir as run_dir_lib
from compare_gan.sweep import executors as executors_lib
from compare_gan.sweep import hparams as hparams_lib
from compare_gan.sweep import reruns as reruns_lib
from compare_gan.sweep import store as store_lib
from compare_gan.sweep import study as study_lib
from compare_gan.sweep import study_file
from compare_gan.sweep import summary as summary_lib
from compare_gan.sweep import sweepers as sweepers_lib

SWEEP_LOG = "sweep.log"
TRIALS = "trials"
POLL_S = 1.0  # Waiting for a trial wakes this often, so Ctrl-C and SIGTERM act at once.
# TensorFlow's graph context around an op's message: a line of it alone says nothing.
_TF_NOISE = re.compile(r"\s*\[\[\{\{node [^}]*\}\}\]\]|\s*\[Op:[^\]]*\]( name:\s*\S*)?")


class TrialDirRefused(store_lib.StudyMismatch):
  """A trial's run directory belongs to another study or config, or to no compare_gan study
  (`executors.claim_run_dir` says which); the sweep stops without touching it."""


class _Log:
  """Log lines to `log` and, time-stamped, to <workdir>/sweep.log."""

  def __init__(self, path: str, log: Callable[[str], None]):
    self._file = open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with
    self._log = log

  def __call__(self, message: str) -> None:
    self._log(message)
    for line in message.splitlines() or [""]:
      self._file.write(f"{run_dir_lib.now()} {line}\n")
    self._file.flush()

  def close(self) -> None:
    self._file.close()


@contextlib.contextmanager
def _sigterm_as_interrupt():
  """Turns SIGTERM into run_dir.Terminated (a KeyboardInterrupt) while the driver runs (main
  thread only), so both end the sweep the same clean way."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def interrupt(signum, frame):
    del frame
    raise run_dir_lib.Terminated(f"signal {signum}")
  previous = signal.signal(signal.SIGTERM, interrupt)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def reason(error: Optional[str]) -> str:
  """The line of a trial's error that says why: `compare_gan train`'s own error line when the
  error has one, else the last line that says something (gin's "In call to configurable"
  context and TensorFlow's `[[{{node ...}}]] [Op:...]` graph context dropped)."""
  lines = [_TF_NOISE.sub("", line).strip() for line in (error or "").splitlines()]
  lines = [line for line in lines if line]
  for line in reversed(lines):
    if line.startswith(executors_lib.TRAIN_ERROR_PREFIX):
      return line
  for line in reversed(lines):
    if not line.startswith("In call to configurable"):
      return line
  return "no result"


def failure_value(values: Sequence[float], mode: str) -> Optional[float]:
  """The penalty told for a failed trial of a setting whose finished trials scored `values`:
  the worst of them plus their range (+1.0 when the range is zero), mirrored for mode 'max';
  None when there is no value yet."""
  if not values:
    return None
  spread = (max(values) - min(values)) or 1.0
  return max(values) + spread if mode == "min" else min(values) - spread


class _Driver:
  """The loop of one `run_sweep` call (see the module docstring)."""

  def __init__(self, study: study_lib.Study, store: store_lib.Store, *, parallel: int,
               executor: str, max_trials: Optional[int], trials_dir: str, workdir: str,
               log: Callable[[str], None]):
    self.study, self.store, self.log = study, store, log
    self.workdir = workdir
    self.study_id = store.study_id  # Each trial's trial.json records it.
    self.parallel, self.executor_spec, self.max_trials = parallel, executor, max_trials
    self.trials_dir = trials_dir
    self.session = uuid.uuid4().hex  # Names this driver's trials for executors.stop_trials.
    self.settings = {s.key: s for s in study.settings}
    self.order = [s.key for s in study.settings]
    self.cursor = 0  # The setting asked first next time (round-robin).
    mode = study.objective.mode
    self.sweepers = {
        key: sweepers_lib.make_sweeper(study.sweeper, setting, study.budget,
                                       study.sweeper_seed(setting), mode)
        for key, setting in self.settings.items()}
    self.values: Dict[str, List[float]] = {key: [] for key in self.order}
    self.untold: Dict[str, List[Dict[str, Any]]] = {key: [] for key in self.order}
    self.queue: collections.deque = collections.deque()
    self.in_flight: Dict[concurrent.futures.Future, dict] = {}
    self.finished_here = 0
    self.reruns_stored: Set[str] = set()  # Settings whose reruns are all in the store.
    self.search_changed = True  # A trial finished or a sweeper asked: look for reruns again.
    self.hparams_failed = False  # Warned once: the HParams files are a view, not the results.

  # ------------------------------------------------------------------------------------------
  # Resuming: replay the store into the sweepers
  # ------------------------------------------------------------------------------------------
  def replay(self) -> None:
    trials = self.store.trials()
    unknown = sorted({t["setting"] for t in trials} - set(self.settings))
    if unknown:  # init_study compared the spec text, so this means a changed study parser.
      raise store_lib.StudyMismatch(f"{self.store.path} has trials of settings {unknown} that "
                                    f"the study does not define ({', '.join(self.order)}).")
    search = [t for t in trials if not reruns_lib.is_rerun(t)]  # Reruns are no part of the search.
    for t in search:
      if t["status"] == "done" and t["objective"] is not None:
        self.values[t["setting"]].append(t["objective"])
    # Finished trials first: a point whose other seed is still pending ends up pending.
    for t in sorted(search, key=lambda t: (t["status"] not in store_lib.FINISHED, t["id"])):
      value = self._value(t)
      self.sweepers[t["setting"]].register(t["params"], t["source"], value)
      if value is None and t["status"] in store_lib.FINISHED:
        self.untold[t["setting"]].append(t["params"])
    self.queue.extend(self.store.trials("pending"))

  def _value(self, trial: dict) -> Optional[float]:
    """What the sweeper is told for a stored trial; None while pending or untold."""
    if trial["status"] not in store_lib.FINISHED:
      return None
    if trial["objective"] is not None:
      return trial["objective"]
    return self._penalty(trial["setting"])

  def _penalty(self, key: str) -> Optional[float]:
    if self.study.failure_value is not None:
      return float(self.study.failure_value)
    return failure_value(self.values[key], self.study.objective.mode)

  # ------------------------------------------------------------------------------------------
  # Proposing
  # ------------------------------------------------------------------------------------------
  def _describe(self, setting, params: Dict[str, Any], seed: int, rerun: bool = False) -> str:
    text = self.study.describe(setting, params)
    return f"{text}-seed{seed}" if len(self.study.seeds) > 1 or rerun else text

  def _room(self) -> Optional[int]:
    """How many more trials `max_trials` lets the store hold (None: no limit)."""
    if self.max_trials is None:
      return None
    return max(0, self.max_trials - sum(self.store.counts().values()))

  def _propose(self) -> int:
    """Asks the sweepers for enough points to fill the free slots (at most `max_trials`
    trials in the store); stores them as pending trials and queues them. Returns how many
    trials were added."""
    seeds = list(self.study.seeds)
    points = math.ceil((self.parallel - len(self.in_flight)) / len(seeds))
    if self.max_trials is not None:
      stored = sum(self.store.counts().values())
      points = min(points, math.ceil((self.max_trials - stored) / len(seeds)))
    added, refused = 0, set()
    while points > 0:
      rotation = self.order[self.cursor:] + self.order[:self.cursor]
      active = [k for k in rotation if k not in refused and not self.sweepers[k].exhausted]
      if not active:
        break
      share = collections.Counter(active[i % len(active)] for i in range(points))
      self.cursor = (self.order.index(active[min(points, len(active)) - 1]) + 1) % len(self.order)
      for key in active:
        if not share[key]:
          continue
        asked = self.sweepers[key].ask(share[key])
        self.search_changed = True
        if len(asked) < share[key]:
          refused.add(key)
        setting = self.settings[key]
        for params, source in asked:
          for seed in seeds:
            trial_id = self.store.add_trial(
                setting=key, labels=setting.labels, params=params, seed=seed, source=source,
                trials_dir=self.trials_dir, description=self._describe(setting, params, seed))
            self.queue.append(self.store.trial(trial_id))
            added += 1
        points -= len(asked)
    return added

  def _add_reruns(self) -> int:
    """Stores and queues the missing rerun trials of every setting whose search is over
    (module docstring), within `max_trials`; returns how many were added."""
    if not self.study.reruns or not self.search_changed:
      return 0
    self.search_changed = False
    waiting = [k for k in self.order
               if k not in self.reruns_stored and self.sweepers[k].exhausted]
    if not waiting:
      return 0
    trials = self.store.trials()
    added = 0
    for key in waiting:
      mine = [t for t in trials if t["setting"] == key]
      if not reruns_lib.search_over(mine):
        continue
      wanted = reruns_lib.missing(self.study, mine)
      room = self._room()
      new = wanted if room is None else wanted[:room]
      setting = self.settings[key]
      for original, seed in new:
        trial_id = self.store.add_trial(
            setting=key, labels=setting.labels, params=original["params"], seed=seed,
            source=study_lib.RERUN, trials_dir=self.trials_dir,
            description=self._describe(setting, original["params"], seed, rerun=True))
        self.queue.append(self.store.trial(trial_id))
      added += len(new)
      if len(new) < len(wanted):
        continue  # --max_trials: the rest waits for a run with a larger limit.
      self.reruns_stored.add(key)
      originals = reruns_lib.originals(mine, self.study.objective, self.study.rerun_top)
      if new:
        points = ", ".join(f"trial {t['id']} ({summary_lib.format_params(t['params'])}, "
                           f"{self.study.objective.metric} {t['objective']:.6g})"
                           for t in originals)
        self.log(f"setting {key}: search over; re-running its best {len(originals)} point(s) "
                 f"with seeds {self.study.rerun_seeds}: {points}")
      elif not originals:
        self.log(f"setting {key}: search over without a done trial; nothing to re-run")
    return added

  # ------------------------------------------------------------------------------------------
  # Running
  # ------------------------------------------------------------------------------------------
  def _check_configs_unchanged(self) -> None:
    """The base configs (and their includes) still parse to what the study recorded."""
    now = study_file.config_files_text(self.study.base_configs)
    if now != self.study.configs_text:
      diff = "".join(difflib.unified_diff(
          self.study.configs_text.splitlines(True), now.splitlines(True),
          "base configs when the sweep started", "base configs now"))
      raise store_lib.StudyMismatch(
          f"a base config of study {self.study.name!r} ({', '.join(self.study.base_configs)}) "
          "or a file it includes changed while the sweep ran, so the next trials would train "
          "another model; restore it and run the same command again (running trials resume), "
          f"or start a new --workdir for the new configs.\n{diff}")

  def _submit(self, executor: concurrent.futures.Executor, trial: dict) -> None:
    setting = self.settings[trial["setting"]]
    self._check_configs_unchanged()
    identity = dict(study_id=self.study_id, study_name=self.study.name,
                    study_db=os.path.abspath(self.store.path), study_path=self.study.path,
                    trial_id=trial["id"], setting=trial["setting"], params=trial["params"],
                    seed=trial["seed"],
                    fingerprint=study_file.trial_fingerprint(self.study, setting,
                                                             trial["params"], trial["seed"]))
    task = dict(trial_id=trial["id"], run_dir=trial["run_dir"],
                gin_configs=list(self.study.base_configs),
                bindings=self.study.trial_bindings(setting, trial["params"], trial["seed"]),
                schedule=self.study.schedule, eval_every_steps=self.study.eval_every_steps,
                timeout_s=self.study.trial_timeout_s, session=self.session, identity=identity,
                # Dask workers use their own interpreter; local trials the driver's.
                python=sys.executable if self.executor_spec == "local" else None)
    host = socket.gethostname() if self.executor_spec == "local" else self.executor_spec
    self.store.mark_running(trial["id"], host)
    self.in_flight[executor.submit(executors_lib.run_trial, task)] = trial

  def _finish(self, future: concurrent.futures.Future) -> None:
    trial = self.in_flight.pop(future)
    key = trial["setting"]
    try:
      result = future.result()
    except Exception as e:  # pylint: disable=broad-except  # E.g. a Dask worker died.
      result = dict(status="failed", error=f"executor: {type(e).__name__}: {e}", records=[],
                    seconds=None, host=None, started=None, finished=None)
    status, error, records = result["status"], result["error"], result["records"]
    if status == "refused":  # Nothing ran: the trial waits for the directory to be sorted out.
      self.store.requeue_trial(trial["id"])
      raise TrialDirRefused(f"trial {trial['id']}: {error}")
    objective = step = None
    if status == "done":
      objective, step = self.study.objective.from_records(records)
      if objective is None:
        error = (f"no finite {self.study.objective.metric!r} among the run's {len(records)} "
                 "metric records")
    self.store.finish_trial(trial["id"], status, objective, step, result["seconds"], error,
                            records, host=result["host"], started=result["started"],
                            finished=result["finished"])
    self.finished_here += 1
    self.search_changed = True
    self._write_session(self.store.trial(trial["id"]))

    if not reruns_lib.is_rerun(trial):  # A setting's search is over before its reruns start.
      self._tell(key, trial["params"], objective)
    if objective is not None:
      outcome = f"{self.study.objective.metric} {objective:.6g} at step {step}"
    else:
      outcome = reason(error)
    seconds = "?" if result["seconds"] is None else f"{result['seconds']:.1f} s"
    counts = self.store.counts()
    rerun = " (rerun)" if reruns_lib.is_rerun(trial) else ""
    self.log(f"trial {trial['id']} [{key}] {summary_lib.format_params(trial['params'])} seed "
             f"{trial['seed']}{rerun}: {status}, {outcome}, {seconds} "
             f"({sum(counts[s] for s in store_lib.FINISHED)} finished, "
             f"{counts['running']} running, {counts['pending']} queued)")

  def _tell(self, key: str, params: Dict[str, Any], objective: Optional[float]) -> None:
    """Tells the setting's sweeper a finished search trial: its objective, or the penalty of
    a trial without one (waiting untold while the setting has no value yet)."""
    sweeper = self.sweepers[key]
    if objective is not None:
      self.values[key].append(objective)
      sweeper.tell(params, objective)
      penalty = self._penalty(key)
      for untold in self.untold[key]:
        sweeper.tell(untold, penalty)
      self.untold[key].clear()
    else:
      penalty = self._penalty(key)
      if penalty is None:
        self.untold[key].append(params)
      else:
        sweeper.tell(params, penalty)

  def _hparams_warning(self, error: Exception) -> None:
    if not self.hparams_failed:
      self.hparams_failed = True
      self.log(f"WARNING: cannot write the TensorBoard HParams files under "
               f"{hparams_lib.directory(self.workdir)} ({type(error).__name__}: {error}); the "
               "sweep goes on (study.db holds every result) and the next `compare_gan sweep` "
               "on this workdir writes the missing ones")

  def write_hparams(self) -> int:
    """Writes the HParams experiment and the session of every finished trial that lacks one
    or differs (a driver killed between a trial's end and its session, an older workdir);
    returns how many files were written."""
    try:
      written = hparams_lib.write_experiment(self.workdir, self.study,
                                             self.store.meta().get("created") or "")
      return written + hparams_lib.write_sessions(self.workdir, self.study,
                                                  self.store.trials())
    except OSError as e:
      self._hparams_warning(e)
      return 0

  def _write_session(self, trial: dict) -> None:
    try:
      hparams_lib.write_session(self.workdir, self.study, trial)
    except OSError as e:
      self._hparams_warning(e)

  def run(self) -> None:
    executor = executors_lib.make_executor(self.executor_spec, self.parallel)
    interrupted = False
    try:
      while True:
        while len(self.in_flight) < self.parallel and (
            self.queue or self._add_reruns() or self._propose()):
          self._submit(executor, self.queue.popleft())
        if not self.in_flight:
          break
        done, _ = concurrent.futures.wait(list(self.in_flight), timeout=POLL_S,
                                          return_when=concurrent.futures.FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: self.in_flight[f]["id"]):
          self._finish(future)
    except BaseException as e:  # Ctrl-C, SIGTERM, a refused directory, a changed config, a bug.
      interrupted = True
      what = "interrupted" if isinstance(e, KeyboardInterrupt) else (
          f"stopped ({(str(e).strip().splitlines() or [type(e).__name__])[0]})")
      self.log(f"{what}: stopping {len(self.in_flight)} running trial(s); they stay "
               "'running' and resume when `compare_gan sweep` runs again on this workdir")
      try:
        executors_lib.stop_trials(executor, self.session)
      except Exception as stop_error:  # pylint: disable=broad-except  # The first error wins.
        self.log(f"WARNING: could not stop the running trials: "
                 f"{type(stop_error).__name__}: {stop_error}")
      raise
    finally:
      # Interrupted: local trials were just stopped, so waiting for their threads is short;
      # queued work is cancelled (Dask: submitted trials are cancelled, nothing is awaited).
      executor.shutdown(wait=True, cancel_futures=interrupted)
    idle = [k for k in self.order if not self.sweepers[k].exhausted]
    if idle and self.max_trials is None:
      self.log(f"WARNING: sweepers of {idle} proposed nothing more before their budget ended")


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------
def _trials_dir(workdir: str, trials_dir: Optional[str]) -> str:
  if trials_dir is None:
    return os.path.join(os.path.abspath(workdir), TRIALS)
  return trials_dir if run_dir_lib.is_remote(trials_dir) else os.path.abspath(trials_dir)


def run_sweep(workdir: str, study_path: str, bindings: Sequence[str] = (), parallel: int = 1,
              executor: str = "local", max_trials: Optional[int] = None,
              log: Callable[[str], None] = print,
              trials_dir: Optional[str] = None) -> Dict[str, Any]:
  """Runs (or resumes) the sweep of the study file `study_path` in `workdir`.

  Args:
    workdir: the sweep's directory (local: SQLite and the lock live there); created if absent.
    study_path: the study gin file (compare_gan.sweep.study_file); `bindings` apply after it.
    parallel: trials in flight at once.
    executor: 'local' or 'dask://host:port' (compare_gan.sweep.executors.make_executor).
    max_trials: stop proposing once the store holds this many trials (all runs of the workdir
      together; pending ones still run). None: until every sweeper is exhausted.
    log: where progress lines go (they also go to <workdir>/sweep.log).
    trials_dir: the trials' run directories' parent (default <workdir>/trials; may be a
      shared or gs:// path the executors' workers can write).

  Returns:
    {'workdir', 'study', 'counts' (status -> trials, reruns included), 'best' (setting -> best
    search trial row or None), 'table' (the final text table of the search), 'reruns' (the
    text table of the reruns' spread, or None without reruns)}.

  Raises:
    store.DriverBusy: another driver runs on `workdir`.
    store.StudyMismatch: the workdir holds another study, or the base configs changed.
    TrialDirRefused: a trial's run directory exists and is not this study's trial's.
    store.StoreUnreadable: study.db is not a readable SQLite database.
    ValueError: a bad study, executor or argument.
    KeyboardInterrupt: Ctrl-C or SIGTERM; running trials were stopped and resume next time.
  """
  if not isinstance(parallel, int) or parallel < 1:
    raise ValueError(f"parallel={parallel!r} must be a positive integer.")
  if max_trials is not None and (not isinstance(max_trials, int) or max_trials < 1):
    raise ValueError(f"max_trials={max_trials!r} must be a positive integer or None.")
  os.makedirs(workdir, exist_ok=True)
  with store_lib.driver_lock(workdir), _sigterm_as_interrupt():
    logger = _Log(os.path.join(workdir, SWEEP_LOG), log)
    try:
      # A damaged study.db fails now, not after the seconds that loading the study takes.
      store_lib.check_file(os.path.join(workdir, store_lib.DATABASE))
      study = study_file.load_study(study_path, bindings)
      with store_lib.Store(os.path.join(workdir, store_lib.DATABASE)) as store:
        first = store.init_study(study)
        if store.upgraded:
          logger(f"{store.path} recorded this study as an older compare_gan did (no study id, "
                 "no base configs); upgraded: it records them now, the base configs as they "
                 "are today. A trial directory of it that has no trial.json is refused; move "
                 "it aside to restart that trial from scratch")
        requeued = store.requeue_running()
        driver = _Driver(study, store, parallel=parallel, executor=executor,
                         max_trials=max_trials,
                         trials_dir=_trials_dir(workdir, trials_dir),
                         workdir=workdir, log=logger)
        driver.replay()
        counts = store.counts()
        logger(f"study {study.name!r} ({study.path}): {len(study.settings)} setting(s), "
               f"sweeper {study.sweeper}, budget {study.budget}, seeds {list(study.seeds)}, "
               f"objective {study.objective.mode} {study.objective.metric}"
               + (f", reruns: best {study.rerun_top} point(s) per setting x seeds "
                  f"{study.rerun_seeds}" if study.reruns else "") + "; "
               + ("new sweep" if first else
                  f"resuming: {sum(counts[s] for s in store_lib.FINISHED)} finished, "
                  f"{requeued} re-queued, {counts['pending'] - requeued} pending")
               + f"; executor {executor} x {parallel}")
        driver.write_hparams()
        driver.run()
        table = summary_lib.summary_table(store, driver.order, study.objective)
        reruns = summary_lib.reruns_table(store, driver.order, study.objective)
        counts = store.counts()
        rerun_count = sum(1 for t in store.trials() if reruns_lib.is_rerun(t))
        logger(f"sweep finished: {counts['done']} done, {counts['failed']} failed, "
               f"{counts['diverged']} diverged ({driver.finished_here} run now"
               + (f"; {rerun_count} of the trials are reruns" if rerun_count else "")
               + f"); TensorBoard HParams: tensorboard --logdir {workdir}\n{table}"
               + (f"\nreruns (new seeds of each setting's best points; spread of "
                  f"{study.objective.metric} over them):\n{reruns}" if reruns else ""))
        return dict(workdir=workdir, study=study.name, counts=counts,
                    best=summary_lib.best_trials(store, driver.order, study.objective),
                    table=table, reruns=reruns)
    finally:
      logger.close()
