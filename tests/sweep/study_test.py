"""The study model: trial bindings and names, sweeper seeds, the objective."""

import re

import numpy as np
import pytest

from compare_gan.sweep import study as study_lib
from compare_gan.sweep import study_file
from study_file_test import AXES, PARAMETERS, write_study  # Same folder: on sys.path.


def _grid_study(tmp_path):
  body = PARAMETERS + AXES + "study.sweeper = 'grid'\nstudy.seeds = [0, 7]\n"
  return study_file.load_study(write_study(tmp_path, body))


def test_trial_bindings(tmp_path):
  study = _grid_study(tmp_path)
  setting = study.setting("loss=wgan,penalty=gp")
  params = {"lambda": np.float64(10.0), "learning_rate": 2e-4, "disc_iters": np.int64(5),
            "beta1": 0.5, "beta2": 0.9}
  assert study.trial_bindings(setting, params, 7) == [
      "train.training_steps = 20",
      "loss.fn = @wasserstein", "penalty.fn = @wgangp_penalty",
      "generator/tf.keras.optimizers.Adam.learning_rate = 0.0002",
      "discriminator/tf.keras.optimizers.Adam.learning_rate = 0.0002",
      "tf.keras.optimizers.Adam.beta_1 = 0.5", "tf.keras.optimizers.Adam.beta_2 = 0.9",
      "ModularGAN.disc_iters = 5", "penalty.weight = 10.0", "train.seed = 7"]
  with pytest.raises(ValueError, match="unknown parameter.*'gamma'.*declares: learning_rate"):
    study.trial_bindings(setting, {"gamma": 1.0}, 0)
  with pytest.raises(KeyError, match="no setting 'loss=ls'"):
    study.setting("loss=ls")


def test_format_value():
  assert study_lib.format_value(np.float32(0.5)) == "0.5"
  assert study_lib.format_value("@batch_norm") == "@batch_norm"
  assert study_lib.format_value("triangles") == "'triangles'"
  assert study_lib.format_value((1, np.int64(2))) == "(1, 2)"
  assert study_lib.format_value((1,)) == "(1,)"
  assert study_lib.format_value(True) == "True"


def test_describe_is_short_and_filesystem_safe(tmp_path):
  study = _grid_study(tmp_path)
  setting = study.setting("loss=ns,penalty=gp")
  text = study.describe(setting, {"learning_rate": 2e-4, "beta1": 0.5, "beta2": 0.999,
                                  "disc_iters": 5, "lambda": 1e-5})
  assert text == "ns-gp-lr0.0002-beta1_0.5-beta2_0.999-di5-lambda1e-5"
  assert re.fullmatch(r"[A-Za-z0-9._+-]+", text)
  assert study.describe(setting, {}) == "ns-gp"
  assert study.describe(setting, {"lambda": "@x y/z"}) == "ns-gp-lambdax_y_z"


def test_sweeper_seeds_differ_per_setting_and_are_stable(tmp_path):
  study = _grid_study(tmp_path)
  seeds = [study.sweeper_seed(s) for s in study.settings]
  assert len(set(seeds)) == len(seeds)
  assert seeds == [_grid_study(tmp_path).sweeper_seed(s) for s in study.settings]


def _record(step, value, metric="fid_score", status="ok"):
  return {"step": step, "metric": metric, "value": value, "status": status}


def test_objective_from_records():
  records = [_record(10, 40.0), _record(20, 30.0), _record(30, 35.0),
             _record(20, 50.0),  # Re-evaluated later: replaces 30.0 at step 20.
             _record(40, None, status="non_finite_output"), _record(50, float("nan")),
             _record(10, 1.0, metric="kid_score")]
  assert study_lib.Objective().from_records(records) == (35.0, 30)
  assert study_lib.Objective(reduce="last").from_records(records) == (35.0, 30)
  assert study_lib.Objective(mode="max").from_records(records) == (50.0, 20)
  assert study_lib.Objective("kid_score").from_records(records) == (1.0, 10)
  assert study_lib.Objective("swd_pixels").from_records(records) == (None, None)
  assert study_lib.Objective().from_records([]) == (None, None)
  ties = [_record(10, 5.0), _record(20, 5.0)]
  assert study_lib.Objective().from_records(ties) == (5.0, 10)


def test_objective_better():
  low, high = study_lib.Objective(mode="min"), study_lib.Objective(mode="max")
  assert low.better(1.0, 2.0) and not low.better(2.0, 1.0) and not low.better(1.0, 1.0)
  assert high.better(2.0, 1.0) and not high.better(1.0, 2.0)
  assert low.better(5.0, None) and not low.better(None, 5.0) and not low.better(None, None)
  with pytest.raises(ValueError, match="study.mode 'up' is unknown"):
    study_lib.Objective(mode="up")
