"""The sweep in TensorBoard's HParams dashboard: `tensorboard --logdir WORKDIR` compares trials.

The driver writes, under its workdir (DESIGN section 7):

  <workdir>/hparams/events.out.tfevents.0.compare_gan
      the experiment (TensorBoard run "hparams"): its hparams and its metric
  <workdir>/hparams/<id:04d>-<description>/events.out.tfevents.0.compare_gan
      one session per finished trial (run "hparams/<id:04d>-<description>", named as the
      trial's run directory): its hparams, its status and its objective

The experiment (the HParams plugin's `Experiment`) lists as hparams:
  - every axis of the study: a discrete string hparam of its value names;
  - every study parameter, with a domain covering every setting's search space and grid: a real
    interval over log_uniform and uniform dimensions (integer for int_uniform alone) and the
    grid values, or the discrete values of choice dimensions and grid points (no domain when
    their types mix). A parameter named like an axis or a fixed hparam below is listed as
    'param.<name>' (an axis named 'seed', 'source' or 'status' as 'axis.<name>');
  - 'seed' (the study's seeds and rerun seeds), 'source' (who proposed the trial: grid, the
    sweeper, rerun) and 'status' (done, failed, diverged);
and one metric: the study's objective, a scalar (float32, as TensorBoard stores them) tagged
with the metric's name in the session's own run. The dashboard's session status is
STATUS_SUCCESS for a done trial, STATUS_FAILURE for a failed or diverged one (its 'status'
hparam says which).

Each trial is its own session group (group name = its run name), so the dashboard shows one row
per trial and never averages seeds together. A session holds the trial's axis labels,
parameters (a parameter its setting drops is left out), seed, source and status, the objective
at its step (none when the trial has none), and the trial's start and end times.

Files are derived from study.db's rows alone (no clock), so writing one again gives the same
bytes and is skipped; a changed one is written under a temporary name without "tfevents"
(TensorBoard loads any file whose name holds it) and renamed over the old one. One file per run:
a rewrite never adds a second session, so a resumed driver duplicates nothing.

Written with TensorBoard's own protobufs, HParams summary builders (`summary_v2.hparams_pb`,
`hparams_config_pb`: pure protobuf, the TensorFlow part is their `tf.summary` writers) and
record writer: no TensorFlow import (these modules cost the driver about 0.1 s to import).
"""

import datetime
import io
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.summary.writer import record_writer

from compare_gan import run_dir as run_dir_lib
from compare_gan.sweep import space as space_lib
from compare_gan.sweep import store as store_lib
from compare_gan.sweep import study as study_lib

DIRECTORY = "hparams"
EVENTS_FILE = "events.out.tfevents.0.compare_gan"
FILE_VERSION = "brain.Event:2"  # What TensorFlow's event writers put first in every file.
FIXED = ("seed", "source", "status")
# The dashboard's status of each finished trial (store.FINISHED: the trials with a session).
SESSION_STATUS = {status: api_pb2.STATUS_SUCCESS if status == "done" else api_pb2.STATUS_FAILURE
                  for status in store_lib.FINISHED}


def directory(workdir: str) -> str:
  """<workdir>/hparams: the experiment's run directory, parent of the sessions'."""
  return os.path.join(workdir, DIRECTORY)


def session_name(trial: Dict[str, Any]) -> str:
  """A trial's session (and run directory) name: its run directory's base name,
  "<id:04d>-<description>", unique per trial id."""
  return os.path.basename(str(trial["run_dir"]).rstrip("/"))


def hparam_names(study: study_lib.Study) -> Tuple[Dict[str, str], Dict[str, str]]:
  """(axis -> hparam name, parameter -> hparam name): the names themselves, but a parameter
  named like an axis or one of FIXED becomes 'param.<name>', an axis named like one of FIXED
  'axis.<name>' (module docstring)."""
  axes = {axis: (f"axis.{axis}" if axis in FIXED else axis) for axis in _axes(study)}
  taken = set(axes) | set(FIXED)
  params = {name: (f"param.{name}" if name in taken else name) for name in study.parameters}
  return axes, params


def _axes(study: study_lib.Study) -> Dict[str, List[str]]:
  """axis -> its value names, in file order."""
  out: Dict[str, List[str]] = {}
  for setting in study.settings:
    for axis, label in setting.labels.items():
      values = out.setdefault(axis, [])
      if label not in values:
        values.append(label)
  return out


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unique(values: Iterable[Any]) -> List[Any]:
  """Distinct values in order; True and 1 stay apart (as space.point_key keeps them)."""
  out, seen = [], set()
  for value in values:
    key = (type(value) is bool, value)
    if key not in seen:
      seen.add(key)
      out.append(value)
  return out


def parameter_domain(study: study_lib.Study, name: str) -> Optional[hp.Domain]:
  """The HParams domain of study parameter `name` over every setting (module docstring): an
  interval when a setting searches it on an interval (covering the grid values too), else the
  discrete values of its choice dimensions and grid points; None when its values mix types."""
  dims = [d for s in study.settings for d in s.space if d.name == name]
  values = [space_lib.to_python(p[name]) for s in study.settings for p in s.grid if name in p]
  values += [c for d in dims if d.kind == "choice" for c in d.choices]
  intervals = [d for d in dims if d.kind != "choice"]
  numeric = all(_is_number(v) for v in values)
  if intervals:
    if not numeric:
      return None
    low = min([d.low for d in intervals] + values)
    high = max([d.high for d in intervals] + values)
    if all(d.kind == "int_uniform" for d in intervals) and all(
        isinstance(v, int) for v in values):
      return hp.IntInterval(int(low), int(high))
    return hp.RealInterval(float(low), float(high))
  values = _unique(values)
  if not values:
    return None
  if all(isinstance(v, bool) for v in values):
    return hp.Discrete(values, dtype=bool)
  if all(isinstance(v, str) for v in values):
    return hp.Discrete(values, dtype=str)
  if numeric:
    if all(isinstance(v, int) for v in values):
      return hp.Discrete(values, dtype=int)
    return hp.Discrete(_unique(float(v) for v in values), dtype=float)
  return None


def _parameter_description(study: study_lib.Study, name: str) -> str:
  dims = _unique(d.describe() for s in study.settings for d in s.space if d.name == name)
  grid = _unique(space_lib.to_python(p[name]) for s in study.settings for p in s.grid
                 if name in p)
  parts = [f"sets {', '.join(study.parameters[name])}"]
  parts += [f"search {text}" for text in dims]
  if grid:
    parts.append(f"grid {', '.join(map(repr, grid))}")
  return "; ".join(parts)


def _sources(study: study_lib.Study) -> List[str]:
  """The `source` values the study's trials can have (store.py's trials table)."""
  out = []
  if any(s.grid for s in study.settings):
    out.append("grid")
  if study.sweeper != "grid" and study.budget > 0 and any(s.space for s in study.settings):
    out.append(study.sweeper)
  if study.reruns:
    out.append(study_lib.RERUN)
  return out


def experiment_summary(study: study_lib.Study, created_secs: float) -> summary_pb2.Summary:
  """The HParams plugin's experiment summary of `study` (module docstring), created at
  `created_secs` (seconds since the epoch)."""
  axes, params = hparam_names(study)
  hparams = [hp.HParam(name, hp.Discrete(_axes(study)[axis], dtype=str),
                       description=f"axis {axis!r} of study {study.name!r}")
             for axis, name in axes.items()]
  hparams += [hp.HParam(hname, parameter_domain(study, name),
                        description=_parameter_description(study, name))
              for name, hname in params.items()]
  seeds = list(study.seeds) + study.rerun_seeds
  hparams += [
      hp.HParam("seed", hp.Discrete(seeds, dtype=int), description="train.seed"),
      hp.HParam("source", hp.Discrete(_sources(study), dtype=str),
                description="who proposed the trial: a grid point, the sweeper's search, or "
                "a rerun of a best point with a new seed (study.reruns)"),
      hp.HParam("status", hp.Discrete(list(store_lib.FINISHED), dtype=str),
                description="the trial's status in study.db"),
  ]
  objective = study.objective
  better = "lower" if objective.mode == "min" else "higher"
  metric = hp.Metric(objective.metric, display_name=objective.metric,
                     description=f"the objective: the {objective.reduce} {objective.metric} "
                     f"of the trial's evaluated checkpoints ({better} is better)")
  return hp.hparams_config_pb(hparams, [metric], time_created_secs=created_secs)


def _session_end(status: int, end_secs: float) -> summary_pb2.Summary:
  """The session-end summary; summary_v2 has no builder for it (summary.py's needs TF)."""
  data = plugin_data_pb2.HParamsPluginData(
      session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=end_secs))
  summary = summary_pb2.Summary()
  summary.value.add(tag=hparams_metadata.SESSION_END_INFO_TAG,
                    metadata=hparams_metadata.create_summary_metadata(data),
                    tensor=hparams_metadata.NULL_TENSOR)
  return summary


def _seconds(*timestamps: Optional[str]) -> float:
  """The first of `timestamps` (study.db's ISO 8601 strings) that is set, in seconds since
  the epoch; 0.0 when none is."""
  for text in timestamps:
    if text:
      return datetime.datetime.fromisoformat(text).timestamp()
  return 0.0


def session_hparams(study: study_lib.Study, trial: Dict[str, Any]) -> Dict[str, Any]:
  """A trial's hparam values by hparam name: axis labels, parameters, seed, source, status."""
  axes, params = hparam_names(study)
  values: Dict[str, Any] = {axes[a]: label for a, label in trial["labels"].items() if a in axes}
  for name, value in trial["params"].items():  # Scalars only (space.expand_grid checks).
    values[params.get(name, name)] = space_lib.to_python(value)
  values.update(seed=int(trial["seed"]), source=trial["source"], status=trial["status"])
  return values


def session_events(study: study_lib.Study, trial: Dict[str, Any]) -> List[event_pb2.Event]:
  """The events of a finished trial's session (module docstring), in file order.

  Raises:
    ValueError: the trial has not finished.
  """
  if trial["status"] not in SESSION_STATUS:
    raise ValueError(f"trial {trial['id']} is {trial['status']!r}; only finished trials "
                     f"({', '.join(SESSION_STATUS)}) have a session.")
  start = _seconds(trial.get("started"), trial.get("created"))
  end = _seconds(trial.get("finished"), trial.get("started"), trial.get("created"))
  events = [
      event_pb2.Event(wall_time=start, file_version=FILE_VERSION),
      event_pb2.Event(wall_time=start, step=0, summary=hp.hparams_pb(
          session_hparams(study, trial), trial_id=session_name(trial), start_time_secs=start)),
  ]
  if trial.get("objective") is not None:
    events.append(event_pb2.Event(
        wall_time=end, step=int(trial.get("objective_step") or 0),
        summary=scalar_summary.scalar_pb(study.objective.metric, float(trial["objective"]))))
  events.append(event_pb2.Event(wall_time=end, step=0,
                                summary=_session_end(SESSION_STATUS[trial["status"]], end)))
  return events


def experiment_events(study: study_lib.Study, created: str) -> List[event_pb2.Event]:
  """The events of the experiment file; `created` is study.db's 'created' time (ISO 8601)."""
  secs = _seconds(created)
  return [event_pb2.Event(wall_time=secs, file_version=FILE_VERSION),
          event_pb2.Event(wall_time=secs, step=0, summary=experiment_summary(study, secs))]


def _encode(events: List[event_pb2.Event]) -> bytes:
  """Events as an event file's bytes (TFRecord framing with masked CRC32C)."""
  buffer = io.BytesIO()
  writer = record_writer.RecordWriter(buffer)
  for event in events:
    writer.write(event.SerializeToString())
  return buffer.getvalue()


def _write_if_changed(path: str, data: bytes) -> bool:
  """Writes `data` to `path` unless it holds exactly that; returns whether it wrote. The
  temporary file is named ".hparams-*": a name holding "tfevents" would let a TensorBoard
  watching the directory load it half written."""
  try:
    with open(path, "rb") as f:
      if f.read() == data:
        return False
  except FileNotFoundError:
    pass
  os.makedirs(os.path.dirname(path), exist_ok=True)
  run_dir_lib.write_atomically(path, data, temp_prefix=".hparams-")
  return True


def write_experiment(workdir: str, study: study_lib.Study, created: str) -> bool:
  """Writes the experiment file under `directory(workdir)` unless it is there already;
  returns whether it wrote. `created`: study.db's 'created' meta value.

  Raises:
    OSError: the file cannot be written.
  """
  return _write_if_changed(os.path.join(directory(workdir), EVENTS_FILE),
                           _encode(experiment_events(study, created)))


def write_session(workdir: str, study: study_lib.Study, trial: Dict[str, Any]) -> bool:
  """Writes the session of a finished trial (a store row) unless it is there already;
  returns whether it wrote.

  Raises:
    ValueError: the trial has not finished.
    OSError: the file cannot be written.
  """
  path = os.path.join(directory(workdir), session_name(trial), EVENTS_FILE)
  return _write_if_changed(path, _encode(session_events(study, trial)))


def write_sessions(workdir: str, study: study_lib.Study,
                   trials: Iterable[Dict[str, Any]]) -> int:
  """`write_session` for every finished trial among `trials` (store rows; others are
  skipped); returns how many files were written (0 when all were up to date)."""
  return sum(write_session(workdir, study, t) for t in trials if t["status"] in SESSION_STATUS)
