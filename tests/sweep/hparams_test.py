"""The sweep's TensorBoard HParams view, read back with TensorBoard's own event loader, HParams
metadata parsers and the HParams plugin's request handlers.

One fake sweep (executors.run_trial replaced) with done, failed, diverged and rerun trials is
written once per module; the tests read its workdir/hparams/ files.
"""

import datetime
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata
from tensorboard.util import tensor_util

from compare_gan import run_dir
from compare_gan.sweep import driver
from compare_gan.sweep import executors
from compare_gan.sweep import hparams
from compare_gan.sweep import space as space_lib
from compare_gan.sweep import store as store_lib
from compare_gan.sweep import study as study_lib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RING8 = os.path.join(ROOT, "configs", "examples", "ring8_mlp.gin")
LR = "tf.keras.optimizers.Adam.learning_rate"
# Axis 'loss' x a parameter 'seed' (named like the fixed hparam) x learning rate: a grid point
# outside the search interval widens the domain; lr 1e-2 fails, 5e-3 diverges.
STUDY = f"""
study.name = 'hparams'
study.base_configs = [{RING8!r}]
study.parameters = {{'learning_rate': [{LR!r}], 'seed': ['ModularGAN.z_dim']}}
study.objective = 'swd_pixels'
study.mode = 'min'
study.axes = {{'loss': {{'ns': ['loss.fn = @non_saturating'], 'hinge': ['loss.fn = @hinge']}}}}
study.grid = {{'learning_rate': [1e-2, 5e-3, 1e-6], 'seed': [8]}}
study.space = {{'learning_rate': ('log_uniform', 1e-5, 1e-2), 'seed': ('choice', [8, 16])}}
study.sweeper = 'random'
study.budget = 1
study.reruns = 1
"""
OUTCOMES = {"0.01": ("failed", None), "0.005": ("diverged", None)}


def _run_trial(task):
  bindings = dict(b.split(" = ", 1) for b in task["bindings"])
  status, value = OUTCOMES.get(bindings[LR], ("done", None))
  if status == "done":
    value = float(bindings[LR]) * 1000 + int(bindings["train.seed"]) / 8
  records = [] if value is None else [
      dict(step=5, metric="swd_pixels", value=value + 1, status="ok", protocol={}),
      dict(step=10, metric="swd_pixels", value=value, status="ok", protocol={})]
  return dict(trial_id=task["trial_id"], status=status, returncode=0, host="fakehost",
              error=None if status == "done" else status, started="2026-01-02T03:04:05+00:00",
              finished=run_dir.now(), seconds=0.01, records=records)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("hparams")
  study = tmp / "study.gin"
  study.write_text(STUDY)
  workdir = str(tmp / "work")
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(executors, "run_trial", _run_trial)
    driver.run_sweep(workdir, str(study), parallel=2, log=lambda _: None)
  with store_lib.Store(os.path.join(workdir, "study.db")) as store:
    trials, meta = store.trials(), store.meta()
  return types.SimpleNamespace(workdir=workdir, study=str(study), trials=trials, meta=meta,
                               logdir=os.path.join(workdir, "hparams"))


def _load(path):
  acc = event_accumulator.EventAccumulator(path, size_guidance={
      event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0})
  acc.Reload()
  return acc


def _plugin_content(acc, tag):
  return acc.SummaryMetadata(tag).plugin_data.content


def _epoch(iso):
  return datetime.datetime.fromisoformat(iso).timestamp()


def _end_time(acc):
  return metadata.parse_session_end_info_plugin_data(
      _plugin_content(acc, metadata.SESSION_END_INFO_TAG)).end_time_secs


def _value(pb):
  kind = pb.WhichOneof("kind")
  return getattr(pb, kind)


def test_the_experiment_lists_axes_parameters_seed_source_status_and_the_objective(sweep):
  acc = _load(sweep.logdir)
  experiment = metadata.parse_experiment_plugin_data(
      _plugin_content(acc, metadata.EXPERIMENT_TAG))
  infos = {h.name: h for h in experiment.hparam_infos}
  assert list(infos) == ["loss", "learning_rate", "param.seed", "seed", "source", "status"]
  assert infos["loss"].type == api_pb2.DATA_TYPE_STRING
  assert [v.string_value for v in infos["loss"].domain_discrete.values] == ["hinge", "ns"]
  lr = infos["learning_rate"]
  assert lr.type == api_pb2.DATA_TYPE_FLOAT64
  # The search interval [1e-5, 1e-2], widened to the grid point 1e-6.
  assert (lr.domain_interval.min_value, lr.domain_interval.max_value) == (1e-6, 1e-2)
  assert "sets tf.keras.optimizers.Adam.learning_rate" in lr.description
  assert [v.number_value for v in infos["param.seed"].domain_discrete.values] == [8, 16]
  assert [v.number_value for v in infos["seed"].domain_discrete.values] == [0, 1]
  assert [v.string_value for v in infos["source"].domain_discrete.values] == [
      "grid", "random", "rerun"]
  assert [v.string_value for v in infos["status"].domain_discrete.values] == [
      "diverged", "done", "failed"]
  (metric,) = experiment.metric_infos
  assert (metric.name.group, metric.name.tag) == ("", "swd_pixels")
  assert "best swd_pixels" in metric.description and "lower is better" in metric.description
  assert experiment.time_created_secs == _epoch(sweep.meta["created"])


def test_each_finished_trial_has_one_session_with_its_params_status_and_objective(sweep):
  finished = [t for t in sweep.trials if t["status"] in store_lib.FINISHED]
  assert len(finished) == len(sweep.trials) == 2 * (3 + 1) + 2  # grid, random, 1 rerun each
  assert {t["status"] for t in finished} == {"done", "failed", "diverged"}
  assert sorted(t["source"] for t in finished).count("rerun") == 2
  sessions = sorted(d for d in os.listdir(sweep.logdir)
                    if os.path.isdir(os.path.join(sweep.logdir, d)))
  assert sessions == sorted(os.path.basename(t["run_dir"]) for t in finished)
  for trial in finished:
    path = os.path.join(sweep.logdir, os.path.basename(trial["run_dir"]))
    assert os.listdir(path) == [hparams.EVENTS_FILE]
    acc = _load(path)
    start = metadata.parse_session_start_info_plugin_data(
        _plugin_content(acc, metadata.SESSION_START_INFO_TAG))
    values = {name: _value(v) for name, v in start.hparams.items()}
    expected = {"loss": trial["labels"]["loss"], "seed": trial["seed"],
                "source": trial["source"], "status": trial["status"],
                "learning_rate": trial["params"]["learning_rate"],
                "param.seed": trial["params"]["seed"]}
    assert values == expected
    assert start.group_name == os.path.basename(trial["run_dir"])
    assert start.start_time_secs == _epoch("2026-01-02T03:04:05+00:00")
    assert trial["finished"] and _end_time(acc) == _epoch(trial["finished"])
    end = metadata.parse_session_end_info_plugin_data(
        _plugin_content(acc, metadata.SESSION_END_INFO_TAG))
    assert end.status == (api_pb2.STATUS_SUCCESS if trial["status"] == "done"
                          else api_pb2.STATUS_FAILURE)
    if trial["objective"] is None:
      assert "swd_pixels" not in acc.Tags()["tensors"]
    else:  # The objective: the best of steps 5 and 10, at its step, as float32.
      (event,) = acc.Tensors("swd_pixels")
      assert event.step == trial["objective_step"] == 10
      assert tensor_util.make_ndarray(event.tensor_proto) == np.float32(trial["objective"])
      lr, seed = trial["params"]["learning_rate"], trial["seed"]
      assert trial["objective"] == pytest.approx(lr * 1000 + seed / 8)


def test_the_hparams_plugin_lists_one_session_group_per_finished_trial(sweep):
  """TensorBoard's HParams plugin itself, as the dashboard queries it (logdir = workdir)."""
  from tensorboard import context
  from tensorboard.backend.event_processing import data_provider
  from tensorboard.backend.event_processing import plugin_event_multiplexer
  from tensorboard.plugins import base_plugin
  from tensorboard.plugins.hparams import backend_context
  from tensorboard.plugins.hparams import get_experiment
  from tensorboard.plugins.hparams import list_session_groups
  multiplexer = plugin_event_multiplexer.EventMultiplexer()
  multiplexer.AddRunsFromDirectory(sweep.workdir)
  multiplexer.Reload()
  provider = data_provider.MultiplexerDataProvider(multiplexer, sweep.workdir)
  backend = backend_context.Context(base_plugin.TBContext(
      logdir=sweep.workdir, multiplexer=multiplexer, data_provider=provider))
  request_context = context.RequestContext()
  experiment = get_experiment.Handler(request_context, backend, "",
                                      api_pb2.GetExperimentRequest()).run()
  assert [m.name.tag for m in experiment.metric_infos] == ["swd_pixels"]
  request = api_pb2.ListSessionGroupsRequest(
      start_index=0, slice_size=100,
      allowed_statuses=[api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE])
  for info in experiment.hparam_infos:
    request.col_params.add(hparam=info.name)
  request.col_params.add(metric=api_pb2.MetricName(tag="swd_pixels"))
  groups = list_session_groups.Handler(request_context, backend, "", request).run()
  by_name = {g.name: g for g in groups.session_groups}
  assert sorted(by_name) == sorted(os.path.basename(t["run_dir"]) for t in sweep.trials)
  for trial in sweep.trials:
    group = by_name[os.path.basename(trial["run_dir"])]
    (session,) = group.sessions
    assert session.name == f"hparams/{group.name}"
    assert group.hparams["status"].string_value == trial["status"]
    metric_values = [m.value for m in group.metric_values]
    if trial["objective"] is None:
      assert metric_values == []
    else:
      assert metric_values == [pytest.approx(trial["objective"], rel=1e-6)]


def test_a_resumed_driver_rewrites_nothing_and_restores_a_lost_session(sweep, monkeypatch):
  files = [os.path.join(root, name) for root, _, names in os.walk(sweep.logdir)
           for name in names]
  before = {path: (open(path, "rb").read(), os.stat(path).st_mtime_ns) for path in files}
  lost = os.path.join(sweep.logdir, os.path.basename(sweep.trials[0]["run_dir"]),
                      hparams.EVENTS_FILE)
  os.remove(lost)  # As if the driver was killed between the trial's end and its session.
  monkeypatch.setattr(executors, "run_trial", _run_trial)
  driver.run_sweep(sweep.workdir, sweep.study, log=lambda _: None)
  after = [os.path.join(root, name) for root, _, names in os.walk(sweep.logdir)
           for name in names]
  assert sorted(after) == sorted(files)  # One file per run, no temporary left behind.
  for path in files:
    content = open(path, "rb").read()
    assert content == before[path][0]
    if path != lost:
      assert os.stat(path).st_mtime_ns == before[path][1]


def _setting(space=(), grid=()):
  return study_lib.Setting("default", {}, [], list(space), [dict(p) for p in grid])


@pytest.mark.parametrize("space, grid, domain", [
    ([("choice", [1, 5])], [], ("discrete", [1, 5])),
    ([("choice", [1, 5])], [2.5], ("discrete", [1.0, 2.5, 5.0])),
    ([("int_uniform", 1, 4)], [7], ("interval", 1, 7)),
    ([("int_uniform", 1, 4), ("uniform", 0.5, 2.0)], [], ("interval", 0.5, 4.0)),
    ([("choice", ["@batch_norm", "@layer_norm"])], [], ("discrete", ["@batch_norm",
                                                                    "@layer_norm"])),
    ([("choice", [True, False])], [], ("discrete", [False, True])),
    ([("choice", ["a", 1])], [], None),
    ([("uniform", 0.0, 1.0)], ["a"], None),
    ([], [0.5, 0.9], ("discrete", [0.5, 0.9])),
])
def test_parameter_domain(space, grid, domain):
  # One setting per dimension: a parameter searched differently across settings.
  settings = [_setting([space_lib.parse_dimension("x", d)]) for d in space]
  settings.append(_setting(grid=[{"x": v} for v in grid]))
  got = hparams.parameter_domain(types.SimpleNamespace(settings=settings), "x")
  if domain is None:
    assert got is None
  elif domain[0] == "interval":
    assert (got.min_value, got.max_value) == domain[1:]
    assert isinstance(got.min_value, type(domain[1]))
  else:
    assert got.values == domain[1]


def test_hparam_names_keep_the_fixed_names_free():
  study = types.SimpleNamespace(
      settings=[study_lib.Setting("status=a", {"status": "a", "loss": "ns"}, [], [], [])],
      parameters={"loss": ["x.y"], "source": ["x.z"], "lr": ["x.w"]})
  axes, params = hparams.hparam_names(study)
  assert axes == {"status": "axis.status", "loss": "loss"}
  assert params == {"loss": "param.loss", "source": "param.source", "lr": "lr"}


def test_an_unwritable_hparams_directory_warns_once_and_the_sweep_goes_on(tmp_path,
                                                                          monkeypatch):
  monkeypatch.setattr(executors, "run_trial", _run_trial)
  study = tmp_path / "study.gin"
  study.write_text(STUDY.replace("study.reruns = 1\n", "").replace("study.budget = 1",
                                                                   "study.budget = 0"))
  workdir = tmp_path / "work"
  workdir.mkdir()
  (workdir / "hparams").write_text("a file where the directory goes")
  lines = []
  summary = driver.run_sweep(str(workdir), str(study), log=lines.append)
  assert sum(summary["counts"].values()) == 6
  warnings = [line for line in lines if line.startswith("WARNING: cannot write the "
                                                        "TensorBoard HParams files under ")]
  assert len(warnings) == 1 and "the sweep goes on" in warnings[0]
  assert (workdir / "hparams").read_text() == "a file where the directory goes"


def test_the_hparams_writer_does_not_import_tensorflow():
  code = ("import sys, time; t = time.perf_counter(); import compare_gan.sweep.hparams; "
          "print(time.perf_counter() - t); assert 'tensorflow' not in sys.modules")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
  assert out.returncode == 0, out.stderr
