"""The evaluation loop end to end on a fake Inception graph: `compare_gan eval`, the records
(keys, averaging, protocol cards), truncation to N, batch-size independence, non-finite
generator output, missing weights, the schedules and the 2-D mixture metrics."""

import csv
import glob
import hashlib
import json
import os
import shutil

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import cli
from compare_gan import config
from compare_gan.metrics import evaluate
from compare_gan.metrics import protocol as protocol_lib
from compare_gan.training import checkpoints
from compare_gan import run_dir as run_dir_lib
from compare_gan.metrics import tasks
import fake_inception

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "examples")
TRIANGLES = os.path.join(CONFIGS, "triangles_sndcgan.gin")
RING8 = os.path.join(CONFIGS, "ring8_mlp.gin")
TINY = ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8", "train.batch_size = 8",
        "train.log_every_steps = 1", "train.summary_every_steps = 2",
        "train.image_summary_every_steps = 4", "train.save_checkpoints_steps = 2"]
ALL_METRICS = ("evaluation.metrics = [@fid_score(), @inception_score(), @kid_score(), "
               "@ms_ssim(), @sliced_wasserstein(), @precision_recall(), @density_coverage(), "
               "@prd_score()]")
SMALL_EVAL = ["evaluation.num_fake = 70", "evaluation.num_averaging_runs = 2",
              "ms_ssim.batch_size = 8", "ms_ssim.num_batches = 2", "kid_score.max_block_size = 32",
              "prd_score.num_clusters = 5", "prd_score.num_runs = 2",
              "sliced_wasserstein.num_projections = 16"]


def _cli(*argv):
  gin.clear_config()
  return cli.main([str(a) for a in argv])


def _bindings(flags):
  out = []
  for b in flags:
    out += ["--gin_bindings", b]
  return out


def _train(model_dir, steps, *extra, config=TRIANGLES, schedule="train"):
  return _cli("train", "--model_dir", model_dir, "--gin_config", config, "--schedule", schedule,
              *_bindings(TINY + [f"train.training_steps = {steps}"] + list(extra)))


@pytest.fixture
def inception_env(tmp_path, monkeypatch):
  """A fake Inception graph as the configured weights, and a private cache directory."""
  weights = fake_inception.write_fake_inception_graph(str(tmp_path / "fake_inception.pb"), "frozen_pb")
  monkeypatch.setenv("COMPARE_GAN_INCEPTION_WEIGHTS", weights)
  monkeypatch.setenv("COMPARE_GAN_CACHE_DIR", str(tmp_path / "cache"))
  return weights


@pytest.fixture
def no_inception(tmp_path, monkeypatch):
  """No weights anywhere, and a download that fails at once."""
  monkeypatch.delenv("COMPARE_GAN_INCEPTION_WEIGHTS", raising=False)
  monkeypatch.setenv("COMPARE_GAN_CACHE_DIR", str(tmp_path / "empty_cache"))
  monkeypatch.setenv("COMPARE_GAN_INCEPTION_URL", (tmp_path / "nowhere.tar.gz").as_uri())


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
  """A 4-step triangles run with checkpoints at steps 2 and 4 (copied by each test)."""
  model_dir = tmp_path_factory.mktemp("trained") / "run"
  assert _train(model_dir, 4) == 0
  gin.clear_config()
  return model_dir


@pytest.fixture
def run_dir(trained_run, tmp_path):
  copy = tmp_path / "run"
  shutil.copytree(trained_run, copy)
  return copy


def _evaluator(model_dir, *bindings, metrics=None):
  """An in-process Evaluator under the run's config plus `bindings`."""
  gin.clear_config()
  config.parse_gin([os.path.join(model_dir, "config.gin")], list(bindings))
  protocol = protocol_lib.evaluation_protocol()
  if metrics is not None:
    protocol.metrics = metrics
  return evaluate.Evaluator(str(model_dir), protocol, log=lambda s: None)


def _records(model_dir):
  return run_dir_lib.read_metrics(str(model_dir))


def test_eval_cli_records_every_metric_with_its_protocol(run_dir, inception_env, capsys):
  # FID at d = 2048 costs seconds per value on 2 cores: score one checkpoint with everything.
  assert _cli("eval", "--model_dir", run_dir, "--all", "--eval_every_steps", 4,
              *_bindings(SMALL_EVAL + [ALL_METRICS])) == 0
  out = capsys.readouterr().out
  assert "step 4:" in out and "fid_score" in out and "step 2:" not in out
  records = _records(run_dir)
  names = {"fid_score", "inception_score", "kid_score", "ms_ssim", "swd_pixels",
           "precision", "recall", "density", "coverage", "prd_f8", "prd_f1_8"}
  assert {(r["step"], r["metric"]) for r in records} == {(4, m) for m in names}
  for r in records:
    assert r["status"] == "ok" and r["n"] == 70 and r["checkpoint"] == "checkpoints/ckpt-4"
    assert len(r["values"]) == 2  # num_averaging_runs
    assert r["value"] == pytest.approx(np.mean(r["values"]))
    assert r["std"] == pytest.approx(np.std(r["values"]))
    card = r["protocol"]
    for key in ("dataset", "dataset_fingerprint", "real_split", "n_real", "n_fake",
                "averaging_runs", "feature_extractor", "task", "eval_z", "generator", "seed"):
      assert key in card, key
    assert card["n_fake"] == 70 and card["averaging_runs"] == 2 and card["dataset"] == "triangles"
  by_metric = {r["metric"]: r for r in records}
  fid_card = by_metric["fid_score"]["protocol"]
  assert fid_card["n_real"] == 70 and fid_card["real_split"] == "test"
  with open(inception_env, "rb") as f:
    assert fid_card["feature_extractor"]["weights_sha256"] == hashlib.sha256(
        f.read()).hexdigest()
  assert by_metric["inception_score"]["protocol"]["n_real"] == 0  # IS ignores real data
  assert by_metric["inception_score"]["protocol"]["task"]["splits"] == 1
  assert by_metric["kid_score"]["protocol"]["task"]["max_block_size"] == 32
  assert by_metric["swd_pixels"]["protocol"]["feature_extractor"]["id"] == "pixels_28x28x1"
  assert by_metric["fid_score"]["value"] > 0
  assert 1.0 <= by_metric["inception_score"]["value"] <= 1008

  # --all scores what is missing (step 2), then nothing; --step re-scores, the newest wins.
  swd = SMALL_EVAL + ["evaluation.metrics = [@sliced_wasserstein()]"]
  assert _cli("eval", "--model_dir", run_dir, "--all", *_bindings(swd)) == 0
  out = capsys.readouterr().out
  assert "step 2:" in out and "step 4:" not in out
  assert _cli("eval", "--model_dir", run_dir, "--all", *_bindings(swd)) == 0
  assert "nothing to evaluate" in capsys.readouterr().out
  before = len(_records(run_dir))
  assert _cli("eval", "--model_dir", run_dir, "--step", 2, *_bindings(swd)) == 0
  assert len(_records(run_dir)) == before + 1
  assert run_dir_lib.evaluated_steps(str(run_dir)) == {2, 4}

  # scores.csv: the reference's columns, one row per step, then the gin parameters.
  with open(os.path.join(run_dir, "scores.csv")) as f:
    rows = list(csv.DictReader(f))
  assert [int(r["step"]) for r in rows] == [2, 4]
  assert rows[1]["fid_score_mean"] and len(rows[1]["fid_score_list"].split("_")) == 2
  assert rows[0]["fid_score_mean"] == "" and rows[0]["swd_pixels_mean"]
  assert rows[1]["train.batch_size"] == "8"
  assert rows[1]["checkpoint_path"].endswith("ckpt-4")

  # TensorBoard scalars under tb/eval.
  tags = set()
  for path in glob.glob(os.path.join(run_dir, "tb", "eval", "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  assert {"eval/fid_score", "eval/inception_score", "eval/ms_ssim", "eval/swd_pixels"} <= tags


def test_real_features_are_cached_across_evaluators(run_dir, inception_env):
  first = _evaluator(run_dir, *SMALL_EVAL, "evaluation.metrics = [@fid_score()]")
  real = first.real_features()
  cached = glob.glob(os.path.join(os.environ["COMPARE_GAN_CACHE_DIR"], "**", "*.npz"),
                     recursive=True)
  assert len(cached) == 1
  second = _evaluator(run_dir, *SMALL_EVAL, "evaluation.metrics = [@fid_score()]")
  second.log = lambda s: pytest.fail(f"recomputed: {s}") if "computing" in s else None
  np.testing.assert_array_equal(second.real_features()["pool_3"], real["pool_3"])
  assert real["pool_3"].shape == (70, 2048)


class _Recorder(tasks.Task):
  """Records the features it is given (to check truncation and batch-size independence)."""
  gin_name = "recorder"
  features = "inception"

  def __init__(self):
    self.seen = []

  def value_names(self):
    return ["recorder"]

  def __call__(self, real, fake):
    self.seen.append((real["pool_3"], fake["pool_3"], fake["logits"]))
    return {"recorder": float(fake["pool_3"].sum())}

  def card(self):
    return {"task": "recorder"}


def test_truncation_and_batch_size_independence(run_dir, inception_env):
  outputs = {}
  for batch_size in (64, 16):
    recorder = _Recorder()
    ev = _evaluator(run_dir, "evaluation.num_fake = 70", "evaluation.num_averaging_runs = 2",
                    f"evaluation.batch_size = {batch_size}", metrics=[recorder])
    ev.evaluate(checkpoints.list_checkpoints(str(run_dir))[4])
    assert len(recorder.seen) == 2
    real, fake, logits = recorder.seen[0]
    assert real.shape == (70, 2048) and fake.shape == (70, 2048) and logits.shape == (70, 1008)
    assert not np.allclose(recorder.seen[0][1], recorder.seen[1][1])  # runs differ
    outputs[batch_size] = recorder.seen
  for (r64, f64, l64), (r16, f16, l16) in zip(outputs[64], outputs[16]):
    np.testing.assert_allclose(r16, r64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f16, f64, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(l16, l64, rtol=1e-5, atol=1e-6)


def test_non_finite_generator_output_is_recorded_not_crashed_on(run_dir, inception_env):
  ev = _evaluator(run_dir, *SMALL_EVAL, "evaluation.metrics = [@fid_score(), @ms_ssim()]")
  logs = []
  ev.log = logs.append
  original = ev._sample_fn
  ev._sample_fn = lambda z, labels: original(z, labels) * float("nan")
  records = ev.evaluate(checkpoints.list_checkpoints(str(run_dir))[2])
  assert {r["metric"] for r in records} == {"fid_score", "ms_ssim"}
  for r in records:
    assert r["status"] == "non_finite_output" and r["value"] is None
    assert "non-finite" in r["message"]
  assert any("non-finite" in line for line in logs)
  ev._sample_fn = original
  ev.protocol.num_averaging_runs = 1
  ev.evaluate(checkpoints.list_checkpoints(str(run_dir))[4])
  with open(os.path.join(run_dir, "scores.csv")) as f:
    rows = {int(r["step"]): r for r in csv.DictReader(f)}
  assert rows[2]["fid_score_mean"] == "nan" and float(rows[4]["fid_score_mean"]) > 0
  with open(os.path.join(run_dir, "metrics.jsonl")) as f:
    for line in f:
      json.loads(line)  # strict JSON: no NaN tokens


def test_missing_weights_skip_inception_metrics_or_fail_when_asked_for(run_dir, no_inception,
                                                                      capsys):
  assert _cli("eval", "--model_dir", run_dir, *_bindings(SMALL_EVAL)) == 0
  out = capsys.readouterr().out
  assert "Inception metrics (FID, IS, KID) are not computed" in out
  metrics = {r["metric"] for r in _records(run_dir)}
  assert "fid_score" not in metrics and {"swd_pixels", "ms_ssim", "precision_pixels"} <= metrics
  code = _cli("eval", "--model_dir", run_dir, "--step", 2,
              *_bindings(SMALL_EVAL + ["evaluation.metrics = [@fid_score()]"]))
  assert code == 1
  err = capsys.readouterr().err
  assert "COMPARE_GAN_INCEPTION_WEIGHTS" in err


def test_bad_requests_are_clear_errors(run_dir, tmp_path, inception_env, capsys):
  assert _cli("eval", "--model_dir", run_dir, "--step", 3) == 2
  assert "available steps: [2, 4]" in capsys.readouterr().err
  assert _cli("eval", "--model_dir", tmp_path / "nothing") == 2
  assert "config.gin" in capsys.readouterr().err
  assert _cli("eval", "--model_dir", run_dir, "--gin_bindings", "evaluation.num_fakes = 3") == 2
  assert "num_fakes" in capsys.readouterr().err
  assert _cli("eval", "--model_dir", run_dir,
              "--gin_bindings", "evaluation.metrics = [@mode_metrics()]") == 2
  assert "mode_metrics applies to the 2-D mixtures" in capsys.readouterr().err


def test_eval_after_train_and_train_and_eval_schedules(tmp_path, inception_env, capsys):
  small = SMALL_EVAL + ["evaluation.metrics = [@kid_score(), @sliced_wasserstein()]",
                        "evaluation.num_averaging_runs = 1"]
  after = tmp_path / "after"
  assert _train(after, 4, *small, schedule="eval_after_train") == 0
  assert run_dir_lib.evaluated_steps(str(after)) == {2, 4}
  together = tmp_path / "together"
  code = _cli("train", "--model_dir", together, "--gin_config", TRIANGLES, "--schedule",
              "train_and_eval", "--eval_every_steps", 4,
              *_bindings(TINY + small + ["train.training_steps = 4"]))
  assert code == 0
  assert run_dir_lib.evaluated_steps(str(together)) == {4}
  # continuous_eval on a finished run scores what is left and stops.
  assert _cli("eval", "--model_dir", together, "--continuous", "--poll_seconds", 0.1,
              *_bindings(small)) == 0
  assert run_dir_lib.evaluated_steps(str(together)) == {2, 4}
  assert "every checkpoint is evaluated" in capsys.readouterr().out


def test_mixture_runs_get_mode_metrics(tmp_path, no_inception):
  model_dir = tmp_path / "ring"
  assert _cli("train", "--model_dir", model_dir, "--gin_config", RING8, "--schedule",
              "eval_after_train", *_bindings([
                  "train.training_steps = 2", "train.save_checkpoints_steps = 2",
                  "train.batch_size = 16", "evaluation.num_fake = 500",
                  "evaluation.num_averaging_runs = 1", "train.log_every_steps = 1"])) == 0
  records = {r["metric"]: r for r in _records(model_dir)}
  assert {"modes_covered", "high_quality_rate", "reverse_kl", "swd_pixels", "precision_pixels",
          "recall_pixels"} <= set(records)
  assert 0 <= records["modes_covered"]["value"] <= 8
  assert 0.0 <= records["high_quality_rate"]["value"] <= 1.0
  assert records["swd_pixels"]["protocol"]["feature_extractor"]["id"] == "points_2d"


def test_accumulated_batch_norm_statistics(tmp_path, inception_env):
  model_dir = tmp_path / "accumulated"
  assert _train(model_dir, 2, "standardize_batch.use_moving_averages = False") == 0
  ev = _evaluator(model_dir, *SMALL_EVAL, "evaluation.bn_accumulation_samples = 64",
                  "evaluation.metrics = [@sliced_wasserstein()]")
  assert ev.accumulating_bn
  records = ev.evaluate(checkpoints.list_checkpoints(str(model_dir))[2])
  assert records[0]["protocol"]["bn_statistics"] == "accumulated over 64 samples"
  assert np.isfinite(records[0]["value"])
  counters = [float(s.accu_counter.numpy()) for s in ev.accumulating_bn]
  assert all(c == pytest.approx(1.0) for c in counters)  # 64 samples = one batch of 64
