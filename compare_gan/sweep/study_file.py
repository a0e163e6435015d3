"""Study files: a study read from gin and checked before any trial runs (DESIGN section 7).

A study file binds the arguments of one gin configurable, `study`:

  study.name = 'quickstart'
  study.base_configs = ['../examples/triangles_sndcgan.gin']   # relative to the study file
  study.base_bindings = ['train.training_steps = 200']
  study.parameters = {'learning_rate': ['generator/tf.keras.optimizers.Adam.learning_rate',
                                        'discriminator/tf.keras.optimizers.Adam.learning_rate'],
                      'lambda': ['penalty.weight']}
  study.axes = {'loss': {'ns': ['loss.fn = @non_saturating'], 'wgan': [...]},
                'penalty': {'none': {'bindings': [...], 'drop': ['lambda']},
                            'gp': {'bindings': [...], 'space': {'lambda': (...)}}}}
  study.space = {'learning_rate': ('log_uniform', 1e-5, 1e-2)}
  study.grid = {'learning_rate': [2e-4, 1e-4], 'lambda': [1.0, 10.0]}
  study.sweeper = 'gp'        # 'grid' | 'random' | 'gp'
  study.budget = 8            # proposals per setting from the space (random, gp)
  study.seeds = [0]           # every point is trained once per seed (`train.seed = S`)
  study.objective = 'fid_score'   # the metric; mode 'min'|'max'; reduce 'best'|'last'
  study.schedule = 'train_and_eval'   # or 'eval_after_train'; eval_every_steps: None or N
  study.failure_value = None  # told for failed/diverged trials (None: worst + range)
  study.trial_timeout_s = 3600    # wall-clock seconds per trial attempt (None: no limit);
                                  # a trial past it is killed and recorded failed
  study.reruns = 0            # new seeds for each of a setting's best points, trained once
                              # its search is over (0: no reruns; Study.rerun_seeds)
  study.rerun_top = 1         # how many best points per setting (needs reruns >= 1)

The axes are crossed into settings (the GAN Landscape's loss x penalty x normalization x
architecture cells); each setting gets the study's space and grid, changed by its axis values'
'space', 'grid' and 'drop' entries. `load_study` returns the model of study.py (`Study`,
`Setting`, `Objective`); a trial is `compare_gan train` with the base configs and
`Study.trial_bindings(setting, point, seed)`.

The file is parsed in an isolated gin state (the caller's gin config is restored afterwards)
and everything is checked before any trial starts: unknown study keys, parameters, dimension
kinds and bounds, and, per setting, that the complete trial config parses with
`compare_gan.config.parse_gin` (so an unknown gin name fails here, naming it). That check
imports every component, TensorFlow included, on first use; the rest of this module does not.

The study's identity (`Study.text`, recorded in study.db) is what gin parsed, never the raw
files: the `study.*` bindings (`gin.config_str()` of the study file and its bindings) and the
base configs with every file they `include` (`config_files_text`, one parse of them all, in
order). A comment, a blank line, indentation or a line break is not a change; a value is,
including the text inside a quoted binding such as 'train.training_steps = 200'. Each trial's
own identity is `trial_fingerprint`: the hash of its complete parsed config.
"""

import contextlib
import inspect
import itertools
import math
import os
import re
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import gin

from compare_gan import config
from compare_gan.sweep import space as space_lib
from compare_gan.sweep import study as study_lib
from compare_gan.sweep import sweepers as sweepers_lib

AXIS_VALUE_KEYS = ("bindings", "space", "grid", "drop")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # parameter names (and export columns)
_LABEL = re.compile(r"^[A-Za-z0-9_.+-]+$")  # axis and value names (in Setting.key and paths)
_BINDING_TARGET = re.compile(r"^(?:[A-Za-z_][\w.]*/)*[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")


@gin.configurable("study", module="compare_gan.sweep")
def study_spec(name: Optional[str] = None, base_configs: Sequence[str] = (),
               base_bindings: Sequence[str] = (), parameters: Optional[dict] = None,
               axes: Optional[dict] = None, space: Optional[dict] = None,
               grid: Optional[dict] = None, sweeper: str = "grid", budget: int = 0,
               seeds: Sequence[int] = (0,), objective: str = "fid_score", mode: str = "min",
               reduce: str = "best", schedule: str = "train_and_eval",
               eval_every_steps: Optional[int] = None, failure_value: Optional[float] = None,
               trial_timeout_s: Optional[float] = None, reruns: int = 0,
               rerun_top: Optional[int] = None) -> dict:
  """gin `study.*`: the arguments of a study file, returned as a dict (module docstring)."""
  return dict(name=name, base_configs=base_configs, base_bindings=base_bindings,
              parameters=parameters, axes=axes, space=space, grid=grid, sweeper=sweeper,
              budget=budget, seeds=seeds, objective=objective, mode=mode, reduce=reduce,
              schedule=schedule, eval_every_steps=eval_every_steps,
              failure_value=failure_value, trial_timeout_s=trial_timeout_s, reruns=reruns,
              rerun_top=rerun_top)


STUDY_KEYS = tuple(inspect.signature(study_spec).parameters)
# gin's selector of `study_spec`: the registered module and name, not this file's, so moving the
# function leaves the study text (and so the fingerprint stored in study.db) unchanged.
_STUDY_SELECTOR = "compare_gan.sweep.study"


# The private parts of gin's state that `isolated_gin_config` saves and restores; gin has no
# public API to save a config and put it back. tests/sweep/study_file_test.py checks that they
# still exist and still isolate, so a gin upgrade that changes them fails there, loudly.
GIN_PRIVATE_STATE = ("_CONFIG", "_IMPORTS", "_OPERATIVE_CONFIG", "_OPERATIVE_CONFIG_LOCK",
                     "_SINGLETONS", "_set_config_is_locked")


@contextlib.contextmanager
def isolated_gin_config() -> Iterator[None]:
  """Runs the body on an empty gin config and restores the caller's config afterwards
  (bindings and macros, imports, operative config, singletons and the lock), whatever the body
  did. Configurables registered meanwhile stay registered: gin's registry is global, and the
  modules that registered them stay imported."""
  cfg = gin.config
  saved = ({key: dict(values) for key, values in cfg._CONFIG.items()}, set(cfg._IMPORTS),
           dict(cfg._OPERATIVE_CONFIG), dict(cfg._SINGLETONS), cfg.config_is_locked())
  gin.clear_config()
  try:
    yield
  finally:
    gin.clear_config()
    cfg._CONFIG.update(saved[0])
    cfg._IMPORTS.update(saved[1])
    with cfg._OPERATIVE_CONFIG_LOCK:
      cfg._OPERATIVE_CONFIG.update(saved[2])
    cfg._SINGLETONS.update(saved[3])
    cfg._set_config_is_locked(saved[4])


# ----------------------------------------------------------------------------------------
# Reading and checking a study file.
# ----------------------------------------------------------------------------------------


def _str_list(where: str, value: Any) -> List[str]:
  if isinstance(value, str):
    value = [value]
  if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
    raise ValueError(f"{where} must be a list of strings; got {value!r}.")
  return list(value)


def _check_names(where: str, names, parameters: Dict[str, List[str]]) -> None:
  for name in names:
    if name not in parameters:
      raise ValueError(f"{where} uses parameter {name!r}, which study.parameters does not "
                       f"declare; declared: {', '.join(parameters) or '(none)'}.")


def _parse_space(where: str, spec: Any, parameters) -> Dict[str, space_lib.Dimension]:
  if spec is None:
    return {}
  if not isinstance(spec, dict):
    raise ValueError(f"{where} must be a dict of parameter -> dimension; got {spec!r}.")
  _check_names(where, spec, parameters)
  return {name: space_lib.parse_dimension(name, dim) for name, dim in spec.items()}


def _parse_grid(where: str, spec: Any, parameters) -> Dict[Tuple[str, ...], List[tuple]]:
  """{(names...): [value tuples]}, checked by expanding it once."""
  if spec is None:
    return {}
  if not isinstance(spec, dict):
    raise ValueError(f"{where} must be a dict of parameter -> list of values; got {spec!r}.")
  try:
    space_lib.expand_grid(spec)
  except ValueError as e:
    raise ValueError(f"{where}: {e}") from None
  out = {}
  for key, values in spec.items():
    names = tuple(space_lib.split_key(key))
    _check_names(where, names, parameters)
    out[names] = [tuple(v) if len(names) > 1 else (v,) for v in values]
  return out


def _merge_grid(where: str, grid, update) -> None:
  """Adds or replaces grid entries; an entry overlapping another one partly is an error."""
  for names, values in update.items():
    for old in list(grid):
      if set(old) == set(names):
        del grid[old]
      elif set(old) & set(names):
        raise ValueError(f"{where}: grid key {','.join(names)!r} overlaps the study's grid key "
                         f"{','.join(old)!r}; override the whole key.")
    grid[names] = values


def _project_grid(grid, drop) -> Dict[str, list]:
  """The grid without the dropped parameters (duplicate tuples merged), as expand_grid
  takes it."""
  out = {}
  for names, values in grid.items():
    keep = [i for i, n in enumerate(names) if n not in drop]
    if not keep:
      continue
    projected = []
    for value in values:
      value = tuple(value[i] for i in keep)
      if value not in projected:
        projected.append(value)
    key = ",".join(names[i] for i in keep)
    out[key] = projected if len(keep) > 1 else [v[0] for v in projected]
  return out


def _axis_value(where: str, value: Any, parameters) -> dict:
  if isinstance(value, (list, tuple, str)):
    value = {"bindings": value}
  if not isinstance(value, dict):
    raise ValueError(f"{where} must be a list of gin bindings or a dict with keys "
                     f"{', '.join(AXIS_VALUE_KEYS)}; got {value!r}.")
  unknown = sorted(set(value) - set(AXIS_VALUE_KEYS))
  if unknown:
    raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid: "
                     f"{', '.join(AXIS_VALUE_KEYS)}.")
  drop = _str_list(f"{where}['drop']", value.get("drop", []))
  _check_names(f"{where}['drop']", drop, parameters)
  return dict(bindings=_str_list(f"{where}['bindings']", value.get("bindings", [])),
              space=_parse_space(f"{where}['space']", value.get("space"), parameters),
              grid=_parse_grid(f"{where}['grid']", value.get("grid"), parameters),
              drop=set(drop))


def _parse_parameters(spec: Any) -> Dict[str, List[str]]:
  if spec is None:
    spec = {}
  if not isinstance(spec, dict):
    raise ValueError("study.parameters must be a dict of parameter name -> list of gin "
                     f"bindings (e.g. ['penalty.weight']); got {spec!r}.")
  out = {}
  owner = {}
  for name, targets in spec.items():
    if not isinstance(name, str) or not _NAME.match(name):
      raise ValueError(f"study.parameters: {name!r} is not a valid parameter name (letters, "
                       "digits and '_', not starting with a digit).")
    targets = _str_list(f"study.parameters[{name!r}]", targets)
    if not targets:
      raise ValueError(f"study.parameters[{name!r}] names no gin binding.")
    for target in targets:
      if not _BINDING_TARGET.match(target):
        raise ValueError(f"study.parameters[{name!r}]: {target!r} is not a gin binding name "
                         "such as 'penalty.weight' or "
                         "'generator/tf.keras.optimizers.Adam.learning_rate'.")
      if target in owner:
        raise ValueError(f"gin binding {target!r} is set by parameters {owner[target]!r} and "
                         f"{name!r}; give it to one of them.")
      owner[target] = name
    out[name] = targets
  return out


def _build_settings(spec: dict, parameters) -> List[study_lib.Setting]:
  base_space = _parse_space("study.space", spec["space"], parameters)
  base_grid = _parse_grid("study.grid", spec["grid"], parameters)
  axes = spec["axes"] if spec["axes"] is not None else {}
  if not isinstance(axes, dict):
    raise ValueError(f"study.axes must be a dict of axis -> {{value name: bindings}}; got "
                     f"{axes!r}.")
  axis_values = []
  for axis, values in axes.items():
    if not isinstance(axis, str) or not _LABEL.match(axis):
      raise ValueError(f"study.axes: axis name {axis!r} must be letters, digits, '_.+-'.")
    if not isinstance(values, dict) or not values:
      raise ValueError(f"study.axes[{axis!r}] must be a non-empty dict of value name -> "
                       f"bindings; got {values!r}.")
    parsed = []
    for label, value in values.items():
      if not isinstance(label, str) or not _LABEL.match(label):
        raise ValueError(f"study.axes[{axis!r}]: value name {label!r} must be letters, "
                         "digits, '_.+-'.")
      parsed.append((label, _axis_value(f"study.axes[{axis!r}][{label!r}]", value,
                                        parameters)))
    axis_values.append((axis, parsed))

  settings = []
  for combination in itertools.product(*[parsed for _, parsed in axis_values]):
    labels = {axis: label for (axis, _), (label, _) in zip(axis_values, combination)}
    key = ",".join(f"{a}={v}" for a, v in labels.items()) or "default"
    bindings, dims, grid, drop = [], dict(base_space), dict(base_grid), set()
    for label, value in combination:
      bindings += value["bindings"]
      dims.update(value["space"])
      _merge_grid(f"setting {key!r}", grid, value["grid"])
      drop |= value["drop"]
    dims = [d for name, d in dims.items() if name not in drop]
    points = space_lib.expand_grid(_project_grid(grid, drop)) if grid else []
    if not points and not dims and drop:
      points = [{}]  # Every swept parameter was dropped: the setting runs once, as is.
    settings.append(study_lib.Setting(key, labels, bindings, dims, points))
  return settings


def _check_spec(spec: dict, study_dir: str) -> dict:
  """Checks the scalar study.* values; returns them normalized."""
  out = {}
  if not isinstance(spec["name"], str) or not spec["name"].strip():
    raise ValueError(f"study.name is required (a non-empty string); got {spec['name']!r}.")
  out["name"] = spec["name"]
  configs = _str_list("study.base_configs", spec["base_configs"])
  if not configs:
    raise ValueError("study.base_configs is required: the gin file(s) every trial trains "
                     "from, relative to the study file.")
  out["base_configs"] = []
  for given in configs:
    resolved = os.path.normpath(os.path.join(study_dir, os.path.expanduser(given)))
    if not os.path.isfile(resolved):
      raise ValueError(f"study.base_configs: {given!r} (resolved to {resolved}) does not "
                       "exist; relative paths are relative to the study file.")
    out["base_configs"].append(resolved)
  out["base_bindings"] = _str_list("study.base_bindings", spec["base_bindings"])
  if spec["sweeper"] not in sweepers_lib.SWEEPERS:
    raise ValueError(f"study.sweeper {spec['sweeper']!r} is unknown; valid: "
                     f"{', '.join(sweepers_lib.SWEEPERS)}.")
  out["sweeper"] = spec["sweeper"]
  budget = spec["budget"]
  if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
    raise ValueError(f"study.budget must be an integer >= 0; got {budget!r}.")
  out["budget"] = budget
  seeds = spec["seeds"]
  seeds = [seeds] if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
  if (not isinstance(seeds, (list, tuple)) or not seeds or
      any(isinstance(s, bool) or not isinstance(s, int) for s in seeds)):
    raise ValueError(f"study.seeds must be a non-empty list of integers; got {seeds!r}.")
  if len(set(seeds)) != len(seeds):
    raise ValueError(f"study.seeds lists a seed twice: {list(seeds)!r}.")
  out["seeds"] = list(seeds)
  out["objective"] = study_lib.Objective(spec["objective"], spec["mode"], spec["reduce"])
  if spec["schedule"] not in study_lib.SCHEDULES:
    raise ValueError(f"study.schedule {spec['schedule']!r} is unknown; valid: "
                     f"{', '.join(study_lib.SCHEDULES)} (a trial must evaluate to have an "
                     "objective).")
  out["schedule"] = spec["schedule"]
  every = spec["eval_every_steps"]
  if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
    raise ValueError(f"study.eval_every_steps must be None or an integer >= 1; got {every!r}.")
  out["eval_every_steps"] = every
  failure = spec["failure_value"]
  if failure is not None and (isinstance(failure, bool) or not isinstance(failure, (int, float))
                              or not math.isfinite(failure)):
    raise ValueError(f"study.failure_value must be None or a finite number; got {failure!r}.")
  out["failure_value"] = None if failure is None else float(failure)
  timeout = spec["trial_timeout_s"]
  if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                              or not timeout > 0):
    raise ValueError(f"study.trial_timeout_s must be None or a number > 0; got {timeout!r}.")
  out["trial_timeout_s"] = None if timeout is None else float(timeout)
  reruns, top = spec["reruns"], spec["rerun_top"]
  if isinstance(reruns, bool) or not isinstance(reruns, int) or reruns < 0:
    raise ValueError(f"study.reruns must be an integer >= 0 (new seeds per re-run point; 0: "
                     f"no reruns); got {reruns!r}.")
  if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
    raise ValueError(f"study.rerun_top must be an integer >= 1 (best points re-run per "
                     f"setting); got {top!r}.")
  if top is not None and reruns == 0:
    raise ValueError(f"study.rerun_top = {top} re-runs nothing while study.reruns is 0; set "
                     "study.reruns to the number of new seeds, or remove study.rerun_top.")
  out["reruns"], out["rerun_top"] = reruns, 1 if top is None else top
  return out


def _check_points(study: study_lib.Study, uses_space: bool) -> None:
  """Every setting must have something to train, and every parameter must be used."""
  used = set()
  for s in study.settings:
    used |= {d.name for d in s.space}
    for point in s.grid:
      used |= set(point)
    if study.sweeper == "grid" and not s.grid:
      raise ValueError(f"study.sweeper = 'grid' but setting {s.key!r} has no grid; add "
                       "study.grid (or an axis value's 'grid'), or use sweeper 'random'/'gp' "
                       "with study.space and study.budget.")
    if study.sweeper != "grid" and not s.grid and (not s.space or study.budget == 0):
      raise ValueError(f"setting {s.key!r} has nothing to train: no grid, and "
                       + ("an empty space" if not s.space else "study.budget = 0") + ".")
  if study.sweeper != "grid" and not uses_space:
    raise ValueError(f"study.sweeper = {study.sweeper!r} searches a space, but the study has "
                     "none; add study.space, or use sweeper 'grid'.")
  unused = [name for name in study.parameters if name not in used]
  if unused:
    raise ValueError(f"study.parameters {', '.join(map(repr, unused))} appear in no setting's "
                     "space or grid; remove them or give them values.")


def config_files_text(paths: Sequence[str]) -> str:
  """What the trial configs read from files, as gin parsed it: the config files at `paths`
  (a study's base configs) parsed in order in an isolated gin state, every `include` resolved
  as gin resolves it, as `gin.config_str()`, under a line naming the files and their includes.

  Comments and layout drop out (the parsed bindings are compared, not the text); an edited
  value, a binding added or removed, or an included file's change shows up.

  Raises:
    ValueError: the files do not parse on their own (an unknown name, a missing include).
  """
  from compare_gan import config  # Registers every component (TensorFlow: seconds, once).
  config.load_components()
  includes: List[str] = []

  def walk(parsed) -> None:
    for nested in parsed.includes:
      includes.append(nested.filename)
      walk(nested)

  with isolated_gin_config():
    for path in paths:
      try:
        walk(gin.parse_config_file(path))
      except config.GIN_ERRORS + (OSError,) as e:
        raise ValueError(f"study.base_configs: {path} does not parse: "
                         f"{config.gin_message(e)}") from None
    text = gin.config_str()
  names = ", ".join(os.path.basename(p) for p in paths)
  return (f"# study.base_configs as parsed (gin.config_str()): {names}; files they include: "
          f"{', '.join(includes) or 'none'}\n{text}")


def trial_fingerprint(study: study_lib.Study, setting: study_lib.Setting,
                      params: Dict[str, Any], seed: int) -> str:
  """The identity of one trial's complete config: `study_lib.fingerprint` of the config that
  the study's base configs and `study.trial_bindings(setting, params, seed)` parse to
  (`gin.config_str()`, in an isolated gin state). A trial's run directory records it
  (executors.TRIAL_JSON); it changes with any value the trial trains with, never with the
  paths, comments or layout of the files.

  Raises:
    ValueError: the trial config does not parse (e.g. a base config edited since the study
      was loaded).
  """
  bindings = study.trial_bindings(setting, params, seed)
  with isolated_gin_config():
    _parse_trial_config(study, bindings, f"setting {setting.key!r}: the trial config of "
                        f"{params} (seed {seed})")
    return study_lib.fingerprint(gin.config_str())


def _parse_trial_config(study: study_lib.Study, bindings: Sequence[str], what: str) -> None:
  """Parses a trial's config (inside `isolated_gin_config`) as `compare_gan train` will.

  Raises:
    ValueError: it does not parse; the message starts with `what`.
  """
  try:
    config.parse_gin(study.base_configs, list(bindings))
  except config.ConfigError as e:
    raise ValueError(f"{what} does not parse: {e}") from None


def _representative(setting: study_lib.Setting) -> Dict[str, Any]:
  params = {d.name: d.representative() for d in setting.space}
  if setting.grid:
    params.update(setting.grid[0])
  return params


def _check_trial_configs(study: study_lib.Study) -> None:
  """Parses every setting's complete trial config (a representative point, the first seed)
  the way `compare_gan train` will, and checks that the objective is a metric the trials'
  evaluation.metrics compute (when the config lists them)."""
  # Imported here: it imports every component, TensorFlow included (seconds), which the
  # driver, `compare_gan sweep --export` and the report never need otherwise.
  from compare_gan.metrics import protocol as protocol_lib
  for setting in study.settings:
    bindings = study.trial_bindings(setting, _representative(setting), study.seeds[0])
    with isolated_gin_config():
      _parse_trial_config(study, bindings, f"setting {setting.key!r}: its trial config")
      try:
        protocol = protocol_lib.evaluation_protocol()
      except (ValueError, TypeError) as e:
        raise ValueError(f"setting {setting.key!r}: evaluation.*: {e}") from None
      if protocol.metrics is not None:
        names = [n for task in protocol.metrics for n in task.value_names()]
        if study.objective.metric not in names:
          raise ValueError(f"study.objective {study.objective.metric!r} is not computed by "
                           f"setting {setting.key!r}'s evaluation.metrics, which give: "
                           f"{', '.join(names)}.")


def load_study(path: str, bindings: Sequence[str] = ()) -> study_lib.Study:
  """Reads, expands and checks the study file at `path` (module docstring).

  Args:
    path: the study's gin file.
    bindings: extra study bindings applied after the file, e.g. ['study.budget = 2'].

  Returns:
    The Study, its settings in axis order (the first axis varies slowest).

  Raises:
    ValueError: naming the problem, for anything wrong with the study, before any trial runs
      (including a trial config with an unknown gin name). The caller's gin config is left as
      it was.
  """
  path = os.path.abspath(os.fspath(path))
  if not os.path.isfile(path):
    raise ValueError(f"study file {path} does not exist.")
  bindings = [bindings] if isinstance(bindings, str) else list(bindings)
  valid = ", ".join(f"study.{k}" for k in STUDY_KEYS)
  with isolated_gin_config():
    try:
      gin.parse_config_files_and_bindings([path], bindings, finalize_config=False)
    except config.GIN_ERRORS as e:
      raise ValueError(f"study {path}: {config.gin_message(e)}; valid study parameters: "
                       f"{valid}.") from None
    for scope, selector in gin.config._CONFIG:
      if selector == "gin.macro":
        continue
      if selector != _STUDY_SELECTOR or scope:
        where = f"{scope}/{selector}" if scope else selector
        raise ValueError(f"study {path} binds {where!r}; a study file binds only study.* "
                         f"({valid}). Put training bindings in study.base_bindings or a "
                         "base config.")
    spec = study_spec()
    spec_text = gin.config_str()

  checked = _check_spec(spec, os.path.dirname(path))
  parameters = _parse_parameters(spec["parameters"])
  settings = _build_settings(spec, parameters)
  uses_space = bool(spec["space"]) or any(
      isinstance(v, dict) and v.get("space") for values in (spec["axes"] or {}).values()
      for v in values.values())
  study = study_lib.Study(path=path, spec_text=spec_text,
                          configs_text=config_files_text(checked["base_configs"]),
                          parameters=parameters, settings=settings, **checked)
  _check_points(study, uses_space)
  _check_trial_configs(study)
  return study
