"""Study files: expansion into settings, validation before any trial, gin isolation."""

import contextlib
import inspect
import os
import re

import gin
import pytest

from compare_gan.sweep import study as study_lib
from compare_gan.sweep import study_file

REPO = os.path.join(os.path.dirname(__file__), "..", "..")
TRIANGLES = os.path.abspath(os.path.join(REPO, "configs", "examples", "triangles_sndcgan.gin"))
WEIGHT_FREE = os.path.abspath(os.path.join(REPO, "configs", "eval", "weight_free.gin"))

PARAMETERS = """
study.parameters = {
    'learning_rate': ['generator/tf.keras.optimizers.Adam.learning_rate',
                      'discriminator/tf.keras.optimizers.Adam.learning_rate'],
    'beta1': ['tf.keras.optimizers.Adam.beta_1'],
    'beta2': ['tf.keras.optimizers.Adam.beta_2'],
    'disc_iters': ['ModularGAN.disc_iters'],
    'lambda': ['penalty.weight'],
}
"""

AXES = """
study.axes = {
    'loss': {'ns': ['loss.fn = @non_saturating'], 'wgan': ['loss.fn = @wasserstein']},
    'penalty': {
        'none': {'bindings': ['penalty.fn = @no_penalty'], 'drop': ['lambda']},
        'gp': {'bindings': ['penalty.fn = @wgangp_penalty'],
               'space': {'lambda': ('log_uniform', 0.1, 100.0)}},
    },
}
study.space = {'learning_rate': ('log_uniform', 1e-5, 1e-2), 'beta1': ('uniform', 0.0, 1.0),
               'beta2': ('uniform', 0.0, 1.0), 'disc_iters': ('choice', [1, 5])}
study.grid = {'learning_rate': [2e-4, 1e-4, 1e-3], 'lambda': [1.0, 10.0],
              'beta1,beta2,disc_iters': [(0.5, 0.9, 5), (0.5, 0.999, 1)]}
"""


def write_study(tmp_path, body, configs=(TRIANGLES, WEIGHT_FREE), name="s.gin",
                 relative=True, header=True):
  """A study file under tmp_path/studies/ whose base configs point at the shipped configs
  (relative to the study file unless relative=False)."""
  folder = tmp_path / "studies"
  folder.mkdir(exist_ok=True)
  if relative:
    configs = [os.path.relpath(c, folder) for c in configs]
  text = ""
  if header:
    text = (f"study.name = 'test'\nstudy.base_configs = {list(configs)!r}\n"
            "study.base_bindings = ['train.training_steps = 20']\n"
            "study.objective = 'swd_pixels'\n")
  path = folder / name
  path.write_text(text + body)
  return str(path)


def test_axes_expand_into_settings_with_bindings_space_grid_and_drop(tmp_path):
  path = write_study(tmp_path, PARAMETERS + AXES + "study.sweeper = 'gp'\nstudy.budget = 3\n")
  study = study_file.load_study(path)
  assert [s.key for s in study.settings] == [
      "loss=ns,penalty=none", "loss=ns,penalty=gp", "loss=wgan,penalty=none",
      "loss=wgan,penalty=gp"]
  by_key = {s.key: s for s in study.settings}
  gp = by_key["loss=wgan,penalty=gp"]
  assert gp.labels == {"loss": "wgan", "penalty": "gp"}
  assert gp.bindings == ["loss.fn = @wasserstein", "penalty.fn = @wgangp_penalty"]
  assert [d.name for d in gp.space] == ["learning_rate", "beta1", "beta2", "disc_iters",
                                        "lambda"]
  assert gp.space[-1].kind == "log_uniform" and (gp.space[-1].low, gp.space[-1].high) == (
      0.1, 100.0)
  assert len(gp.grid) == 3 * 2 * 2
  assert gp.grid[0] == {"learning_rate": 2e-4, "lambda": 1.0, "beta1": 0.5, "beta2": 0.9,
                        "disc_iters": 5}
  # 'drop' removes lambda from the space and from every grid point.
  none = by_key["loss=ns,penalty=none"]
  assert "lambda" not in [d.name for d in none.space]
  assert len(none.grid) == 3 * 2 and all("lambda" not in p for p in none.grid)
  assert study.sweeper == "gp" and study.budget == 3 and study.seeds == [0]
  assert study.objective == study_lib.Objective("swd_pixels", "min", "best")
  assert study.schedule == "train_and_eval"
  assert study.base_bindings == ["train.training_steps = 20"]


def test_axis_grid_overrides_and_drops_joint_entries(tmp_path):
  body = PARAMETERS.replace("'lambda': ['penalty.weight'],", "") + """
study.axes = {'iters': {'one': {'grid': {'learning_rate': [5e-4]}, 'drop': ['disc_iters']},
                        'default': []}}
study.grid = {'learning_rate': [2e-4, 1e-4], 'beta1,beta2,disc_iters': [(0.5, 0.9, 5),
                                                                       (0.5, 0.9, 1)]}
"""
  study = study_file.load_study(write_study(tmp_path, body))
  one, default = study.settings
  # The joint entry loses disc_iters and its two tuples become one.
  assert one.grid == [{"learning_rate": 5e-4, "beta1": 0.5, "beta2": 0.9}]
  assert len(default.grid) == 4 and default.bindings == []
  assert study.sweeper == "grid"


def test_settings_without_axes(tmp_path):
  body = PARAMETERS.replace("'lambda': ['penalty.weight'],", "") + (
      "study.grid = {'learning_rate': [1e-4], 'beta1,beta2': [(0.5, 0.9)], "
      "'disc_iters': [1, 5]}\n")
  study = study_file.load_study(write_study(tmp_path, body))
  (setting,) = study.settings
  assert setting.key == "default" and setting.labels == {} and setting.bindings == []
  assert setting.space == [] and len(setting.grid) == 2


def test_base_configs_resolve_against_the_study_file(tmp_path, monkeypatch):
  body = ("study.parameters = {'lambda': ['penalty.weight']}\n"
          "study.grid = {'lambda': [1.0]}\n")
  path = write_study(tmp_path, body)
  with open(path) as f:
    assert "'../" in f.read()  # Really relative.
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  monkeypatch.chdir(elsewhere)
  study = study_file.load_study(os.path.relpath(path, elsewhere))
  assert study.base_configs == [os.path.normpath(TRIANGLES), os.path.normpath(WEIGHT_FREE)]
  assert study.path == path
  # Absolute paths are kept.
  absolute = write_study(tmp_path, body, name="abs.gin", relative=False)
  assert study_file.load_study(absolute).base_configs == study.base_configs


def test_missing_base_config_is_named(tmp_path):
  body = "study.parameters = {'lambda': ['penalty.weight']}\nstudy.grid = {'lambda': [1.0]}\n"
  path = write_study(tmp_path, body, configs=["../nowhere/x.gin"], relative=False)
  with pytest.raises(ValueError, match=r"'../nowhere/x.gin' \(resolved to .*nowhere/x.gin\) "
                     "does not exist"):
    study_file.load_study(path)


@pytest.mark.parametrize("change, names", [
    # An unknown gin name in an axis binding, a parameter binding and a base binding.
    (("'loss.fn = @wasserstein'", "'loss.fn = @wassersteen'"), ["wassersteen", "wgan"]),
    (("['penalty.weight']", "['penalty.wieght']"), ["wieght"]),
    (("'train.training_steps = 20'", "'train.trainig_steps = 20'"), ["trainig_steps"]),
    (("['ModularGAN.disc_iters']", "['ModularGANN.disc_iters']"), ["ModularGANN"]),
])
def test_unknown_binding_fails_naming_it(tmp_path, change, names):
  body = PARAMETERS + AXES + "study.sweeper = 'random'\nstudy.budget = 2\n"
  path = write_study(tmp_path, body)
  text = open(path).read()
  assert change[0] in text
  with open(path, "w") as f:
    f.write(text.replace(change[0], change[1]))
  with pytest.raises(ValueError) as e:
    study_file.load_study(path)
  for name in names:
    assert name in str(e.value)


@pytest.mark.parametrize("body, message", [
    ("study.budgte = 3\n",
     r"budgte[\s\S]*valid study parameters: study\.name, [\s\S]*study\.budget"),
    ("study.space = {'lr': ('uniform', 0.0, 1.0)}\n",
     r"study.space uses parameter 'lr', which study.parameters does not declare; declared: "
     "learning_rate, beta1"),
    ("study.grid = {'beta1,lr': [(0.5, 1e-3)]}\n", "study.grid uses parameter 'lr'"),
    ("study.space = {'beta1': ('uniform', 1.0, 0.0)}\n", "low 1.0 must be below high 0.0"),
    ("study.space = {'beta1': ('log_uniform', 0.0, 1.0)}\n", "needs low > 0"),
    ("study.space = {'disc_iters': ('choice', [])}\n", "choice list is empty"),
    ("study.sweeper = 'bayes'\n", "study.sweeper 'bayes' is unknown; valid: grid, random, gp"),
    ("study.mode = 'minimize'\n", "study.mode 'minimize' is unknown; valid: min, max"),
    ("study.reduce = 'mean'\n", "study.reduce 'mean' is unknown; valid: best, last"),
    ("study.schedule = 'train'\n", "study.schedule 'train' is unknown"),
    ("study.seeds = [1, 1]\n", "lists a seed twice"),
    ("study.budget = -1\n", "study.budget must be an integer >= 0"),
    ("study.axes = {'loss': {'ns': {'bindngs': []}}}\n",
     r"unknown key\(s\) 'bindngs'; valid: bindings, space, grid, drop"),
    ("study.axes = {'loss': {'ns': {'drop': ['lamda']}}}\n", "uses parameter 'lamda'"),
    ("study.axes = {'loss': {'n=s': []}}\n", "value name 'n=s'"),
    ("study.parameters = {'lr': ['generator/tf.keras.optimizers.Adam.learning_rate = 1']}\n",
     "is not a gin binding name"),
    ("train.training_steps = 5\n", r"binds '(\w+\.)*train'; a study file binds only study"),
    ("study.grid = {'learning_rate': [1e-4]}\nstudy.space = {}\n",
     "'beta1', 'beta2', 'disc_iters', 'lambda' appear in no setting's space or grid"),
])
def test_bad_studies_fail_before_anything_runs(tmp_path, body, message):
  from compare_gan.training import loop  # noqa: F401  (registers `train`)
  base = PARAMETERS + ("study.grid = {'learning_rate': [1e-4], 'beta1': [0.5], 'beta2': [0.9],"
                       " 'disc_iters': [1], 'lambda': [1.0]}\n")
  path = write_study(tmp_path, base + body)
  with pytest.raises(ValueError) as e:
    study_file.load_study(path)
  assert re.search(message, str(e.value)), str(e.value)


def test_sweeper_needs_points(tmp_path):
  space_only = PARAMETERS.replace("'lambda': ['penalty.weight'],", "") + (
      "study.space = {'learning_rate': ('log_uniform', 1e-5, 1e-2), 'beta1': ('uniform', 0, 1),"
      " 'beta2': ('uniform', 0, 1), 'disc_iters': ('choice', [1, 5])}\n")
  with pytest.raises(ValueError, match="sweeper = 'grid' but setting 'default' has no grid"):
    study_file.load_study(write_study(tmp_path, space_only))
  with pytest.raises(ValueError, match="nothing to train: no grid, and study.budget = 0"):
    study_file.load_study(write_study(tmp_path, space_only + "study.sweeper = 'random'\n"))
  grid_only = "study.parameters = {'lambda': ['penalty.weight']}\nstudy.grid = {'lambda': [1.0]}\n"
  with pytest.raises(ValueError, match="searches a space, but the study has none"):
    study_file.load_study(write_study(tmp_path, grid_only + "study.sweeper = 'gp'\n"))


def test_missing_name_and_base_configs(tmp_path):
  body = "study.parameters = {'lambda': ['penalty.weight']}\nstudy.grid = {'lambda': [1.0]}\n"
  with pytest.raises(ValueError, match="study.name is required"):
    study_file.load_study(write_study(tmp_path, body, header=False))
  with pytest.raises(ValueError, match="does not exist"):
    study_file.load_study(str(tmp_path / "missing.gin"))


def test_objective_must_be_a_metric_the_trials_compute(tmp_path):
  body = ("study.parameters = {'lambda': ['penalty.weight']}\nstudy.grid = {'lambda': [1.0]}\n"
          "study.objective = 'fid_score'\n")
  with pytest.raises(ValueError, match="'fid_score' is not computed by setting 'default'.*"
                     "swd_pixels"):
    study_file.load_study(write_study(tmp_path, body))
  # Without an explicit evaluation.metrics the check cannot know, and does not refuse.
  study = study_file.load_study(write_study(tmp_path, body, configs=[TRIANGLES], name="t.gin"))
  assert study.objective.metric == "fid_score"


def test_extra_bindings_apply_after_the_file(tmp_path):
  body = PARAMETERS + AXES + "study.sweeper = 'gp'\nstudy.budget = 3\n"
  path = write_study(tmp_path, body)
  a = study_file.load_study(path)
  b = study_file.load_study(path, ["study.budget = 5", "study.seeds = [1, 2]"])
  assert (b.budget, b.seeds) == (5, [1, 2])
  assert a.text != b.text and "5" in b.text
  assert a.text == study_file.load_study(path).text  # Canonical: the same study, the same text.
  assert "study.name = 'test'" in a.text and "study.budget = 3" in a.text


# ----------------------------------------------------------------------------------------
# The study's identity: parsed content of the study and of every file its trials read.
# ----------------------------------------------------------------------------------------
LAMBDA_ONLY = "study.parameters = {'lambda': ['penalty.weight']}\nstudy.grid = {'lambda': [1.0]}\n"


def _configs(tmp_path, base_text, extra_text="train.summary_every_steps = 7\n"):
  """A base config (tmp_path/configs/base.gin) that includes configs/extra.gin."""
  folder = tmp_path / "configs"
  folder.mkdir(exist_ok=True)
  (folder / "extra.gin").write_text(extra_text)
  (folder / "base.gin").write_text(base_text + f"include {str(folder / 'extra.gin')!r}\n")
  return str(folder / "base.gin")


def test_study_text_is_parsed_content_of_the_study_and_its_base_configs(tmp_path):
  base = _configs(tmp_path, open(TRIANGLES).read())
  path = write_study(tmp_path, LAMBDA_ONLY, configs=[base, WEIGHT_FREE])
  study = study_file.load_study(path)
  assert study.text.startswith("# study.* as parsed (gin.config_str()):\n" + study.spec_text)
  assert "study.grid = {'lambda': [1.0]}" in study.spec_text
  assert study.configs_text.startswith(
      "# study.base_configs as parsed (gin.config_str()): base.gin, weight_free.gin; files "
      f"they include: {tmp_path / 'configs' / 'extra.gin'}\n")
  assert "train.summary_every_steps = 7" in study.configs_text  # From the included file.
  assert "dataset.name = 'triangles'" in study.configs_text
  assert study.fingerprint == study_lib.fingerprint(study.text)
  # Comments, blank lines, spacing and line breaks anywhere: the same identity.
  with open(path) as f:
    text = f.read()
  with open(path, "w") as f:
    f.write("# A new header comment.\n\n" + text.replace("study.name = 'test'",
                                                          "study.name    =    'test'   # note")
            .replace("{'lambda': [1.0]}", "{\n    'lambda': [\n        1.0,\n    ],\n}"))
  _configs(tmp_path, "# Edited.\n" + open(TRIANGLES).read().replace("\n", "\n\n"),
           "# seven\ntrain.summary_every_steps  =  7  # seven\n")
  assert study_file.load_study(path).text == study.text
  # A value in a base config, or in a file it includes: another identity, naming the value.
  _configs(tmp_path, open(TRIANGLES).read().replace("'triangles'", "'ring8'"))
  changed = study_file.load_study(path)
  assert changed.spec_text == study.spec_text and "dataset.name = 'ring8'" in changed.text
  _configs(tmp_path, open(TRIANGLES).read(), "train.summary_every_steps = 9\n")
  assert "train.summary_every_steps = 9" in study_file.load_study(path).configs_text
  assert study_file.load_study(path).fingerprint != study.fingerprint


def test_base_configs_that_do_not_parse_are_named(tmp_path):
  base = _configs(tmp_path, "train.trainig_steps = 5\n")
  with pytest.raises(ValueError, match=r"study.base_configs: .*base.gin does not parse: "
                     "Configurable 'train' doesn't have a parameter named 'trainig_steps'"):
    study_file.load_study(write_study(tmp_path, LAMBDA_ONLY, configs=[base, WEIGHT_FREE]))
  unclosed = tmp_path / "configs" / "unclosed.gin"
  unclosed.write_text("train.training_steps = [1,\n")  # gin: tokenize.TokenError, not a ValueError.
  with pytest.raises(ValueError, match="unclosed.gin does not parse: .*EOF in multi-line"):
    study_file.load_study(write_study(tmp_path, LAMBDA_ONLY, configs=[TRIANGLES, str(unclosed)]))
  base = _configs(tmp_path, "")
  os.remove(tmp_path / "configs" / "extra.gin")
  with pytest.raises(ValueError, match="base.gin does not parse: .*Unable to open file: .*extra.gin"):
    study_file.load_study(write_study(tmp_path, LAMBDA_ONLY, configs=[TRIANGLES, base]))


def test_trial_fingerprint_follows_the_trial_config_not_its_layout(tmp_path):
  base = _configs(tmp_path, open(TRIANGLES).read())
  body = LAMBDA_ONLY.replace("[1.0]", "[1.0, 2.0]")
  study = study_file.load_study(write_study(tmp_path, body, configs=[base, WEIGHT_FREE]))
  (setting,) = study.settings
  one = study_file.trial_fingerprint(study, setting, {"lambda": 1.0}, 0)
  assert re.fullmatch(r"[0-9a-f]{64}", one)
  assert study_file.trial_fingerprint(study, setting, {"lambda": 1.0}, 0) == one
  assert study_file.trial_fingerprint(study, setting, {"lambda": 2.0}, 0) != one
  assert study_file.trial_fingerprint(study, setting, {"lambda": 1.0}, 1) != one  # train.seed
  _configs(tmp_path, "# A comment.\n" + open(TRIANGLES).read())
  assert study_file.trial_fingerprint(study, setting, {"lambda": 1.0}, 0) == one
  _configs(tmp_path, open(TRIANGLES).read(), "train.summary_every_steps = 9\n")
  assert study_file.trial_fingerprint(study, setting, {"lambda": 1.0}, 0) != one


def test_trial_timeout_s_is_a_positive_number_of_seconds(tmp_path):
  study = study_file.load_study(write_study(tmp_path, LAMBDA_ONLY +
                                            "study.trial_timeout_s = 90\n"))
  assert study.trial_timeout_s == 90.0
  assert study_file.load_study(write_study(tmp_path, LAMBDA_ONLY)).trial_timeout_s is None
  for bad in ("0", "-5", "'1h'", "True"):
    with pytest.raises(ValueError, match="study.trial_timeout_s must be None or a number > 0"):
      study_file.load_study(write_study(tmp_path, LAMBDA_ONLY +
                                        f"study.trial_timeout_s = {bad}\n"))
  # The name is not a second spelling: gin names it unknown and lists the valid ones.
  with pytest.raises(ValueError, match=r"trial_timeout[\s\S]*valid study parameters: .*"
                     r"study\.trial_timeout_s"):
    study_file.load_study(write_study(tmp_path, LAMBDA_ONLY + "study.trial_timeout = 90\n"))


def test_gin_state_is_not_leaked(tmp_path):
  from compare_gan import config
  config.load_components()  # Registers penalty, loss, ...
  gin.parse_config(["penalty.weight = 3.5", "loss.fn = @hinge"])
  before = gin.config_str()
  body = PARAMETERS + AXES + "study.sweeper = 'random'\nstudy.budget = 2\n"
  study_file.load_study(write_study(tmp_path, body))
  assert gin.config_str() == before
  assert gin.query_parameter("penalty.weight") == 3.5
  # A failing study restores it too, and a finalized (locked) config stays locked.
  gin.finalize()
  with pytest.raises(ValueError):
    study_file.load_study(write_study(tmp_path, "study.budgte = 1\n", name="bad.gin"))
  assert gin.config_str() == before and gin.config_is_locked()




# ----------------------------------------------------------------------------------------
# isolated_gin_config: it edits gin's private state, so a gin upgrade must fail here, loudly.
# ----------------------------------------------------------------------------------------

@gin.configurable("isolation_probe", module="tests.study_file")
def _probe(a=0, b=0, c=None):
  return a, b, c


@gin.configurable("isolation_probe_factory", module="tests.study_file")
def _probe_factory():
  return object()


def test_isolated_gin_config_uses_only_gin_internals_that_exist():
  touched = set(re.findall(r"cfg\.(_\w+)", inspect.getsource(study_file.isolated_gin_config)))
  assert touched == set(study_file.GIN_PRIVATE_STATE), "update GIN_PRIVATE_STATE"
  missing = [n for n in study_file.GIN_PRIVATE_STATE if not hasattr(gin.config, n)]
  assert not missing, (f"this gin has no gin.config.{', '.join(missing)}: "
                       "study_file.isolated_gin_config must be rewritten for it")
  cfg = gin.config
  assert isinstance(cfg._CONFIG, dict) and isinstance(cfg._IMPORTS, set)
  assert isinstance(cfg._OPERATIVE_CONFIG, dict) and isinstance(cfg._SINGLETONS, dict)
  assert hasattr(cfg._OPERATIVE_CONFIG_LOCK, "__enter__") and callable(cfg._set_config_is_locked)
  # What clear_config empties is what the context manager saves first: nothing else is global
  # per-config state it would lose.
  gin.parse_config(["import collections", "isolation_probe.a = 1"])
  _probe()
  gin.clear_config()
  assert not cfg._CONFIG and not cfg._IMPORTS and not cfg._OPERATIVE_CONFIG
  assert not cfg._SINGLETONS and not gin.config_is_locked()


OUTER = ["import collections", "isolation_probe.a = 1", "MACRO = 2", "isolation_probe.b = %MACRO",
         "isolation_probe.c = @shared/gin.singleton()",
         "shared/gin.singleton.constructor = @isolation_probe_factory"]
INNER = ["import json", "isolation_probe.a = 10", "OTHER = 3", "inner/isolation_probe.b = 4",
         "isolation_probe.c = @shared/gin.singleton()",
         "shared/gin.singleton.constructor = @isolation_probe_factory"]


def _gin_state():
  return (gin.config_str(), gin.operative_config_str(), set(gin.config._IMPORTS),
          dict(gin.config._SINGLETONS), gin.config_is_locked())


@pytest.mark.parametrize("fail", [False, True])
def test_isolated_gin_config_leaks_nothing_out_and_restores_the_outer_config(fail):
  gin.parse_config(OUTER)
  outer = _probe()
  gin.finalize()
  before = _gin_state()
  assert before[4] and before[3]  # Locked, with a singleton.
  with pytest.raises(RuntimeError) if fail else contextlib.nullcontext():
    with study_file.isolated_gin_config():
      assert gin.config_str() == "" and gin.operative_config_str() == ""
      assert not gin.config_is_locked() and not gin.config._SINGLETONS
      with pytest.raises(ValueError):
        gin.query_parameter("isolation_probe.a")
      gin.parse_config(INNER)
      inner = _probe()
      assert inner[:2] == (10, 0) and inner[2] is not outer[2]
      if fail:
        raise RuntimeError("the body failed")
  assert _gin_state() == before
  assert gin.query_parameter("isolation_probe.a") == 1
  with pytest.raises(ValueError):
    gin.query_parameter("OTHER")
  assert _probe() == outer  # The outer singleton itself, not a new one.
