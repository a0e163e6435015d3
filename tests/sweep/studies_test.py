"""Every shipped study loads and expands to its expected settings, with the GAN Landscape's
Table 1 grid and ranges; every best-model config parses and matches its table row; the "Are
GANs Created Equal?" studies have v1's models, defaults, ranges, budgets and FID protocol."""

import glob
import math
import os
import re

import gin
import pytest

from compare_gan import config
from compare_gan.sweep import study_file

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
LANDSCAPE_DIR = os.path.join(CONFIG_DIR, "landscape")
BEST_DIR = os.path.join(LANDSCAPE_DIR, "best_models")
DATASETS = ("cifar10", "celeb_a_hq_128", "lsun_bedroom_128")

# Settings per study file, counted by hand from each file's axes.
LANDSCAPE_SETTINGS = {"loss": 3 * 2 * 2, "norm_reg": 7 * 2, "combined": 2 * 2 * 2,
                      "architecture": 2 * 2 * 2}
EXPECTED_SETTINGS = {f"landscape/{study}_{dataset}.gin": n
                     for study, n in LANDSCAPE_SETTINGS.items() for dataset in DATASETS}
EXPECTED_SETTINGS["studies/quickstart.gin"] = 2 * 2
CREATED_EQUAL_DIR = os.path.join(CONFIG_DIR, "created_equal")
CREATED_EQUAL_DATASETS = ("mnist", "fashion_mnist", "cifar10", "celeb_a")
CREATED_EQUAL_MODELS = ("ns", "mm", "lsgan", "wgan", "wgan_gp", "dragan", "began", "vae")
# One setting per model: phase 1 (wide) and phase 2 (narrow) per dataset, and the miniature.
EXPECTED_SETTINGS.update({f"created_equal/{dataset}{phase}.gin": len(CREATED_EQUAL_MODELS)
                          for dataset in CREATED_EQUAL_DATASETS for phase in ("", "_narrow")})
EXPECTED_SETTINGS["created_equal/triangles_miniature.gin"] = len(CREATED_EQUAL_MODELS)


def _relative(path):
  return os.path.relpath(path, CONFIG_DIR).replace(os.sep, "/")


STUDIES = sorted(glob.glob(os.path.join(LANDSCAPE_DIR, "*.gin")) +
                 glob.glob(os.path.join(CONFIG_DIR, "studies", "*.gin")) +
                 glob.glob(os.path.join(CREATED_EQUAL_DIR, "*.gin")))
LANDSCAPE_STUDIES = sorted(glob.glob(os.path.join(LANDSCAPE_DIR, "*.gin")))


def test_every_shipped_study_has_an_expected_count():
  assert {_relative(p) for p in STUDIES} == set(EXPECTED_SETTINGS)


@pytest.mark.parametrize("path", STUDIES, ids=_relative)
def test_study_loads_and_expands_to_the_expected_settings(path):
  with open(path) as f:
    assert f.read().startswith("#"), "each study's header says what it reproduces"
  study = study_file.load_study(path)
  assert len(study.settings) == EXPECTED_SETTINGS[_relative(path)]
  assert len({s.key for s in study.settings}) == len(study.settings)
  for setting in study.settings:
    assert setting.grid or (setting.space and study.budget > 0), setting.key


# ----------------------------------------------------------------------------------------
# The GAN Landscape studies: Table 1 and the step budgets.
# ----------------------------------------------------------------------------------------

TABLE1_LEARNING_RATES = {0.0002, 0.0001, 0.001}
TABLE1_LAMBDAS = {1.0, 10.0}
TABLE1_TUPLES = {(0.5, 0.9, 5), (0.5, 0.999, 1), (0.5, 0.999, 5), (0.9, 0.999, 5)}
PENALTY_LAMBDA_RANGE = {"wgangp_penalty": (0.1, 100.0), "dragan_penalty": (0.1, 100.0),
                        "l2_penalty": (1e-4, 10.0)}


def _bound(bindings, target):
  """The value the last of `bindings` binding `target` gives it (gin source text)."""
  values = [b.split("=", 1)[1].strip() for b in bindings
            if b.split("=", 1)[0].strip() == target]
  assert values, f"nothing binds {target}"
  return values[-1]


def _d_update_budget(path):
  name = os.path.basename(path)
  if name.startswith("architecture_") and "cifar10" not in name:
    return 100000  # SNDCGAN at 128x128 (the reference's BestModelSNDCGan)
  return 200000


@pytest.mark.parametrize("path", LANDSCAPE_STUDIES, ids=_relative)
def test_landscape_study_has_table1_grid_and_ranges(path):
  study = study_file.load_study(path)
  assert (study.sweeper, study.budget, study.seeds) == ("gp", 60, [0])
  assert (study.objective.metric, study.objective.mode, study.objective.reduce) == (
      "fid_score", "min", "best")
  assert study.parameters["lambda"] == ["penalty.weight"]
  methods = {}  # labels without n_disc -> [(beta1, beta2, n_disc) of the grid]
  for setting in study.settings:
    n_disc = int(_bound(study.base_bindings + setting.bindings, "ModularGAN.disc_iters"))
    assert setting.labels["n_disc"] == str(n_disc)
    steps = int(_bound(setting.bindings, "train.training_steps"))
    every = int(_bound(setting.bindings, "train.save_checkpoints_steps"))
    assert steps * n_disc == _d_update_budget(path), setting.key  # v2 counted D updates
    assert every * n_disc == 20000, setting.key
    penalty = _bound(setting.bindings, "penalty.fn").lstrip("@")

    dims = {d.name: d for d in setting.space}
    assert (dims["learning_rate"].kind, dims["learning_rate"].low,
            dims["learning_rate"].high) == ("log_uniform", 1e-5, 1e-2)
    for beta in ("beta1", "beta2"):
      assert (dims[beta].kind, dims[beta].low, dims[beta].high) == ("uniform", 0.0, 1.0)
    if penalty == "no_penalty":
      assert set(dims) == {"learning_rate", "beta1", "beta2"}, setting.key
    else:
      assert (dims["lambda"].kind, (dims["lambda"].low, dims["lambda"].high)) == (
          "log_uniform", PENALTY_LAMBDA_RANGE[penalty]), setting.key

    grid = setting.grid
    assert {p["learning_rate"] for p in grid} == TABLE1_LEARNING_RATES
    betas = {(p["beta1"], p["beta2"]) for p in grid}
    if penalty == "no_penalty":
      assert all("lambda" not in p for p in grid)
      assert len(grid) == 3 * len(betas)
    else:
      assert {p["lambda"] for p in grid} == TABLE1_LAMBDAS
      assert len(grid) == 3 * 2 * len(betas)
    method = tuple(sorted((a, v) for a, v in setting.labels.items() if a != "n_disc"))
    methods.setdefault(method, []).extend(b + (n_disc,) for b in sorted(betas))
  # Over its two n_disc settings a method has Table 1's four (beta1, beta2, n_disc) tuples:
  # 3 x 2 x 4 = 24 grid points with a penalty, 12 without.
  for method, tuples in methods.items():
    assert sorted(tuples) == sorted(TABLE1_TUPLES), method


def test_landscape_studies_cover_every_study_and_dataset():
  names = {os.path.basename(p)[:-len(".gin")] for p in LANDSCAPE_STUDIES}
  assert names == {f"{s}_{d}" for s in LANDSCAPE_SETTINGS for d in DATASETS}
  with open(os.path.join(LANDSCAPE_DIR, "README.md")) as f:
    readme = f.read()
  for study in LANDSCAPE_SETTINGS:
    assert f"`{study}_<dataset>.gin`" in readme


def test_norm_reg_study_has_the_papers_seven_methods():
  study = study_file.load_study(os.path.join(LANDSCAPE_DIR, "norm_reg_celeb_a_hq_128.gin"))
  assert {s.labels["method"] for s in study.settings} == {
      "none", "bn", "ln", "sn", "gp", "dragan", "l2"}
  l2 = study.setting("method=l2,n_disc=1")
  assert _bound(l2.bindings, "penalty.fn") == "@l2_penalty"


# ----------------------------------------------------------------------------------------
# The quickstart study.
# ----------------------------------------------------------------------------------------


def test_quickstart_is_a_small_weight_free_gp_sweep():
  study = study_file.load_study(os.path.join(CONFIG_DIR, "studies", "quickstart.gin"))
  assert study.sweeper == "gp"
  assert study.objective.metric == "swd_pixels" and study.objective.mode == "min"
  trials = sum(len(s.grid) + study.budget for s in study.settings) * len(study.seeds)
  assert 16 <= trials <= 26, "about 10 minutes with two workers on two cores"
  assert any(os.path.basename(p) == "triangles_sndcgan.gin" for p in study.base_configs)


# ----------------------------------------------------------------------------------------
# The best-model configs: one per distinct table row, each matching its row.
# ----------------------------------------------------------------------------------------

# file: (architecture, dataset, loss, penalty, lambda, D normaliser, lr, beta1, beta2,
#        n_disc, D updates, seed), from v2 generate_tasks_lib.py (reference notes 9.4).
BEST_MODELS = {
    "sndcgan_cifar10_01": ("sndcgan", "cifar10", "non_saturating", "no_penalty", None,
                           "none", 1e-4, 0.5, 0.999, 1, 200000, 2),
    "sndcgan_cifar10_02": ("sndcgan", "cifar10", "non_saturating", "no_penalty", None,
                           "none", 2e-4, 0.5, 0.999, 1, 200000, 2),
    "sndcgan_celeb_a_hq_128_03": ("sndcgan", "celeb_a_hq_128", "non_saturating", "no_penalty",
                                  None, "none", 4.12e-4, 0.246, 0.341, 1, 100000, 23),
    "sndcgan_celeb_a_hq_128_04": ("sndcgan", "celeb_a_hq_128", "non_saturating", "no_penalty",
                                  None, "none", 2.54e-4, 0.222, 0.599, 1, 100000, 23),
    "sndcgan_lsun_bedroom_128_05": ("sndcgan", "lsun_bedroom_128", "non_saturating",
                                    "no_penalty", None, "none", 2e-4, 0.5, 0.999, 1, 100000,
                                    23),
    "sndcgan_lsun_bedroom_128_06": ("sndcgan", "lsun_bedroom_128", "non_saturating",
                                    "no_penalty", None, "none", 6.2e-5, 0.608, 0.620, 1,
                                    100000, 23),
    "sndcgan_cifar10_07": ("sndcgan", "cifar10", "non_saturating", "no_penalty", None, "sn",
                           2e-4, 0.5, 0.999, 1, 200000, 2),
    "sndcgan_cifar10_08": ("sndcgan", "cifar10", "non_saturating", "no_penalty", None, "sn",
                           1e-4, 0.5, 0.999, 1, 200000, 2),
    "sndcgan_celeb_a_hq_128_09": ("sndcgan", "celeb_a_hq_128", "non_saturating", "no_penalty",
                                  None, "sn", 2e-4, 0.5, 0.9, 1, 100000, 2),
    "sndcgan_celeb_a_hq_128_10": ("sndcgan", "celeb_a_hq_128", "non_saturating", "no_penalty",
                                  None, "sn", 1.54e-4, 0.246, 0.734, 1, 100000, 2),
    "sndcgan_lsun_bedroom_128_11": ("sndcgan", "lsun_bedroom_128", "non_saturating",
                                    "no_penalty", None, "sn", 2.64e-4, 0.011, 0.966, 1,
                                    100000, 2),
    "sndcgan_lsun_bedroom_128_12": ("sndcgan", "lsun_bedroom_128", "non_saturating",
                                    "no_penalty", None, "sn", 1.92e-3, 0.097, 0.938, 1,
                                    100000, 2),
    "sndcgan_cifar10_14": ("sndcgan", "cifar10", "non_saturating", "wgangp_penalty", 10.0,
                           "sn", 2e-4, 0.5, 0.999, 1, 200000, 2),
    "sndcgan_celeb_a_hq_128_15": ("sndcgan", "celeb_a_hq_128", "non_saturating",
                                  "wgangp_penalty", 1.0, "sn", 2e-4, 0.5, 0.999, 1, 100000,
                                  2),
    "sndcgan_celeb_a_hq_128_16": ("sndcgan", "celeb_a_hq_128", "non_saturating",
                                  "wgangp_penalty", 1.0, "sn", 2e-4, 0.5, 0.9, 1, 100000, 2),
    "resnet19_celeb_a_hq_128_01": ("resnet19", "celeb_a_hq_128", "non_saturating",
                                   "no_penalty", None, "none", 3.38e-5, 0.3753, 0.9982, 1,
                                   200000, 2),
    "resnet19_celeb_a_hq_128_02": ("resnet19", "celeb_a_hq_128", "non_saturating",
                                   "no_penalty", None, "none", 1e-4, 0.5, 0.999, 1, 200000, 2),
    "resnet19_lsun_bedroom_128_03": ("resnet19", "lsun_bedroom_128", "least_squares",
                                     "no_penalty", None, "none", 3.22e-5, 0.585, 0.9904, 1,
                                     200000, 2),
    "resnet19_lsun_bedroom_128_04": ("resnet19", "lsun_bedroom_128", "non_saturating",
                                     "no_penalty", None, "none", 1.93e-5, 0.1947, 0.8819, 1,
                                     200000, 2),
    "resnet19_celeb_a_hq_128_05": ("resnet19", "celeb_a_hq_128", "non_saturating",
                                   "no_penalty", None, "ln", 1e-4, 0.5, 0.999, 1, 200000, 2),
    "resnet19_lsun_bedroom_128_07": ("resnet19", "lsun_bedroom_128", "least_squares",
                                     "no_penalty", None, "sn", 2e-4, 0.5, 0.999, 1, 200000, 2),
    "resnet19_lsun_bedroom_128_08": ("resnet19", "lsun_bedroom_128", "non_saturating",
                                     "no_penalty", None, "sn", 2.851e-4, 0.1019, 0.998, 1,
                                     200000, 2),
    "resnet19_celeb_a_hq_128_09": ("resnet19", "celeb_a_hq_128", "non_saturating",
                                   "wgangp_penalty", 1.0, "sn", 2e-4, 0.5, 0.999, 1, 200000,
                                   2),
    "resnet19_celeb_a_hq_128_10": ("resnet19", "celeb_a_hq_128", "non_saturating",
                                   "dragan_penalty", 1.0, "ln", 1e-4, 0.5, 0.9, 5, 200000, 2),
    "resnet19_lsun_bedroom_128_11": ("resnet19", "lsun_bedroom_128", "non_saturating",
                                     "wgangp_penalty", 0.1451, "ln", 1.281e-4, 0.7108, 0.9792,
                                     1, 200000, 2),
    "resnet19_lsun_bedroom_128_12": ("resnet19", "lsun_bedroom_128", "non_saturating",
                                     "no_penalty", None, "sn", 2e-4, 0.5, 0.999, 1, 200000, 2),
    "resnet_cifar_cifar10_01": ("resnet_cifar", "cifar10", "non_saturating", "no_penalty",
                                None, "none", 2e-4, 0.5, 0.999, 5, 200000, 2),
    "resnet_cifar_cifar10_02": ("resnet_cifar", "cifar10", "non_saturating", "no_penalty",
                                None, "none", 1e-4, 0.5, 0.999, 5, 200000, 2),
    "resnet_cifar_cifar10_03": ("resnet_cifar", "cifar10", "non_saturating", "no_penalty",
                                None, "sn", 2e-4, 0.5, 0.999, 5, 200000, 2),
    "resnet_cifar_cifar10_05": ("resnet_cifar", "cifar10", "non_saturating", "wgangp_penalty",
                                1.0, "sn", 2e-4, 0.5, 0.999, 5, 200000, 2),
}
BEST_CONFIGS = sorted(glob.glob(os.path.join(BEST_DIR, "*.gin")))


def _name(path):
  return os.path.basename(path)[:-len(".gin")]


def test_every_best_model_config_is_expected_and_listed():
  assert {_name(p) for p in BEST_CONFIGS} == set(BEST_MODELS)
  with open(os.path.join(BEST_DIR, "README.md")) as f:
    listed = set(re.findall(r"`([a-z0-9_]+)\.gin`", f.read()))
  assert listed == set(BEST_MODELS)


def _reference_name(value) -> str:
  """'@name' or a gin configurable reference as the registered name."""
  return getattr(value, "selector", str(value)).lstrip("@").split(".")[-1]


def _query_or(query, name, default):
  """The bound value of `name`, or `default` when the config does not bind it."""
  try:
    return query(name)
  except ValueError:
    return default


@pytest.mark.parametrize("path", BEST_CONFIGS, ids=_name)
def test_best_model_config_parses_and_matches_its_row(path):
  (arch, dataset, loss, penalty, lam, norm, lr, beta1, beta2, n_disc, d_updates,
   seed) = BEST_MODELS[_name(path)]
  with open(path) as f:
    header = f.read()
  assert header.startswith("# GAN Landscape best model") and "Published FID" in header
  config.parse_gin([path], [])
  q = gin.query_parameter
  assert q("dataset.name") == dataset
  assert _reference_name(q("ModularGAN.architecture")) == arch
  assert (q("train.batch_size"), q("ModularGAN.z_dim"), q("train.seed")) == (64, 128, seed)
  assert _reference_name(q("loss.fn")) == loss
  assert _reference_name(q("penalty.fn")) == penalty
  if lam is not None:
    assert q("penalty.weight") == lam
  assert q("D.spectral_norm") == (norm == "sn")
  assert _query_or(q, "D.layer_norm", False) == (norm == "ln")
  assert _reference_name(q("G.batch_norm_fn")) == "batch_norm"
  assert q("standardize_batch.epsilon") == (2e-5 if arch == "sndcgan" else 1e-5)
  for name, value in [("learning_rate", lr), ("beta_1", beta1), ("beta_2", beta2)]:
    assert math.isclose(q(f"tf.keras.optimizers.Adam.{name}"), value), name
  # v2's "steps" were D updates; train.training_steps counts G updates.
  assert q("ModularGAN.disc_iters") == n_disc
  assert q("train.training_steps") * n_disc == d_updates
  assert q("train.save_checkpoints_steps") * n_disc == 20000


# ----------------------------------------------------------------------------------------
# "Are GANs Created Equal?": v1's models, defaults, ranges, budgets and FID protocol
# (reference notes created_equal.md sections 2, 3 and 5).
# ----------------------------------------------------------------------------------------

BN, NO_BN = "@batch_norm", "@no_batch_norm"
# v1 params.py defaults, sample 0 of both phases; the VAE's D-BN default is phase-dependent.
CE_DEFAULTS = {
    "ns": dict(learning_rate=5e-5, beta1=0.0, n_disc=1, d_batch_norm=BN),
    "mm": dict(learning_rate=5e-5, beta1=0.0, n_disc=1, d_batch_norm=BN),
    "lsgan": dict(learning_rate=2e-4, beta1=0.5, n_disc=1, d_batch_norm=BN),
    "wgan": dict(learning_rate=5e-5, beta1=0.5, n_disc=5, d_batch_norm=BN, clip=0.01),
    "wgan_gp": {"learning_rate": 1e-4, "beta1": 0.5, "n_disc": 5, "d_batch_norm": NO_BN,
                "lambda": 10.0},
    "dragan": {"learning_rate": 1e-4, "beta1": 0.5, "n_disc": 1, "d_batch_norm": BN,
               "lambda": 10.0},
    "began": dict(learning_rate=1e-4, beta1=0.5, n_disc=5, d_batch_norm=NO_BN, lambda_k=1e-3,
                  gamma=0.75),
    "vae": dict(learning_rate=5e-5, beta1=0.5),
}
CE_VAE_D_BN = {"wide": BN, "narrow": NO_BN}
# v1 params.py ranges as (kind, low, high) or ('choice', values).
CE_SHARED_RANGES = {
    "wide": {"learning_rate": ("log_uniform", 1e-5, 1e-2), "beta1": ("uniform", 0.0, 1.0),
             "n_disc": ("choice", (1, 5)), "d_batch_norm": ("choice", (BN, NO_BN))},
    "narrow": {"learning_rate": ("log_uniform", 1e-4, 1e-3), "beta1": ("choice", (0.5,)),
               "n_disc": ("choice", (1,)), "d_batch_norm": ("choice", (BN, NO_BN))},
}
CE_MODEL_RANGES = {
    "wide": {"wgan": {"clip": ("log_uniform", 1e-3, 1.0)},
             "wgan_gp": {"lambda": ("log_uniform", 0.1, 100.0)},
             "dragan": {"lambda": ("log_uniform", 0.1, 100.0)},
             "began": {"lambda_k": ("log_uniform", 1e-4, 1e-2), "gamma": ("uniform", 0.0, 1.0)}},
    "narrow": {"wgan": {"clip": ("log_uniform", 1e-2, 1.0)},
               "wgan_gp": {"lambda": ("log_uniform", 0.1, 10.0),
                           "d_batch_norm": ("choice", (NO_BN,))},
               "dragan": {"lambda": ("log_uniform", 0.1, 10.0),
                          "d_batch_norm": ("choice", (NO_BN,))},
               "began": {"lambda_k": ("choice", (1e-3,)), "gamma": ("uniform", 0.6, 0.9)}},
}
# What each model binds: (family, loss, penalty).
CE_MODELS = {"ns": ("ModularGAN", "non_saturating", "no_penalty"),
             "mm": ("ModularGAN", "minimax", "no_penalty"),
             "lsgan": ("ModularGAN", "least_squares", "no_penalty"),
             "wgan": ("ModularGAN", "wasserstein", "no_penalty"),
             "wgan_gp": ("ModularGAN", "wasserstein", "wgangp_penalty"),
             "dragan": ("ModularGAN", "non_saturating", "dragan_penalty"),
             "began": ("BEGAN", None, None),
             "vae": ("VAE", None, None)}
# v1 TuneParams: (training_steps, checkpoint interval) in D updates; the FID reference split.
CE_BUDGETS = {"mnist": (15625, 3906), "fashion_mnist": (15625, 3906), "cifar10": (78125, 3906),
              "celeb_a": (101250, 12656)}
CE_REAL_SPLIT = {"mnist": "test", "fashion_mnist": "test", "cifar10": "test",
                 "celeb_a": "validation"}
CE_PHASES = {"": ("wide", "created_equal_phase1_wide", 99),
             "_narrow": ("narrow", "created_equal_phase2_narrow", 49)}
CE_STUDIES = [(dataset, phase) for dataset in CREATED_EQUAL_DATASETS for phase in CE_PHASES]


def _ce_path(name):
  return os.path.join(CREATED_EQUAL_DIR, f"{name}.gin")


_LOADED = {}


def _ce_study(name):
  """The loaded study configs/created_equal/<name>.gin, loaded once per test session."""
  if name not in _LOADED:
    _LOADED[name] = study_file.load_study(_ce_path(name))
  return _LOADED[name]


def _dimension(dim):
  if dim.kind == "choice":
    return ("choice", tuple(dim.choices))
  return (dim.kind, dim.low, dim.high)


def _family_parameter(family, name):
  return gin.query_parameter(f"{family}.{name}")


def test_created_equal_studies_are_every_dataset_and_phase():
  names = {os.path.basename(p)[:-len(".gin")]
           for p in glob.glob(os.path.join(CREATED_EQUAL_DIR, "*.gin"))}
  assert names == {d + p for d, p in CE_STUDIES} | {"triangles_miniature"}


@pytest.mark.parametrize("dataset, phase", CE_STUDIES, ids=lambda v: v or "wide")
def test_created_equal_study_has_v1_models_defaults_and_ranges(dataset, phase):
  ranges, name, budget = CE_PHASES[phase]
  study = _ce_study(dataset + phase)
  assert (study.name, study.sweeper, study.budget, study.seeds) == (name, "random", budget, [0])
  assert (study.objective.metric, study.objective.mode, study.objective.reduce) == (
      "fid_score", "min", "best")
  assert [s.labels["model"] for s in study.settings] == list(CREATED_EQUAL_MODELS)
  for setting in study.settings:
    model = setting.labels["model"]
    defaults = dict(CE_DEFAULTS[model])
    if model == "vae":
      defaults["d_batch_norm"] = CE_VAE_D_BN[ranges]
    # Sample 0 is the model's defaults, then the budget's draws: 1 + 99 (or 1 + 49).
    assert setting.grid == [defaults], model
    expected = dict(CE_SHARED_RANGES[ranges], **CE_MODEL_RANGES[ranges].get(model, {}))
    if model == "vae":
      del expected["n_disc"]  # one update per step: the VAE has no n_disc.
    assert {d.name: _dimension(d) for d in setting.space} == expected, model


def _check_ce_trial_config(study, setting, params, dataset):
  """Parses one trial config as `compare_gan train` will, and checks what v1 did."""
  from compare_gan.metrics import protocol as protocol_lib
  model = setting.labels["model"]
  family, loss, penalty = CE_MODELS[model]
  q = gin.query_parameter
  gin.clear_config()
  config.parse_gin(study.base_configs, study.trial_bindings(setting, params, 0))
  assert q("dataset.name") == dataset
  assert _reference_name(q("model.family")) == family
  assert _reference_name(q(f"{family}.architecture")) == "infogan"
  assert _family_parameter(family, "z_dim") == 64
  assert (q("train.batch_size"), q("train.seed")) == (64, 0)
  assert q("train.budget_unit") == "discriminator_updates"
  assert (q("train.training_steps"), q("train.save_checkpoints_steps")) == CE_BUDGETS[dataset]
  assert (q("standardize_batch.decay"), q("standardize_batch.epsilon")) == (0.999, 1e-3)
  assert _reference_name(q("G.batch_norm_fn")) == "batch_norm"
  assert _reference_name(q("D.batch_norm_fn")) == params["d_batch_norm"].lstrip("@")
  assert math.isclose(q("tf.keras.optimizers.Adam.learning_rate"), params["learning_rate"])
  assert math.isclose(q("tf.keras.optimizers.Adam.beta_1"), params["beta1"])
  assert (q("tf.keras.optimizers.Adam.beta_2"), q("tf.keras.optimizers.Adam.epsilon")) == (
      0.999, 1e-8)
  if family != "VAE":
    assert _family_parameter(family, "disc_iters") == params["n_disc"]
    assert _query_or(q, "z.distribution_fn", None) is None  # U(-1, 1)
  else:
    assert _reference_name(q("z.distribution_fn")) == "normal"
  if family == "ModularGAN":
    assert _reference_name(q("loss.fn")) == loss
    assert _reference_name(q("penalty.fn")) == penalty
    assert q("ModularGAN.deprecated_split_disc_calls") is True
    assert q("ModularGAN.v2_generator_step") is True
    if penalty != "no_penalty":
      assert q("penalty.weight") == params["lambda"]
    if penalty == "dragan_penalty":
      assert q("dragan_penalty.variant") == "created_equal"
    assert _query_or(q, "weight_clipping.clip_value", None) == params.get("clip")
  if family == "BEGAN":
    assert (q("BEGAN.gamma"), q("BEGAN.lambda_k"), q("BEGAN.clip_k")) == (
        params["gamma"], params["lambda_k"], False)
  protocol = protocol_lib.evaluation_protocol()
  assert "fid_score" in [type(t).gin_name for t in protocol.metrics]
  assert (protocol.num_fake, protocol.num_real, protocol.num_averaging_runs) == (
      10000, 10000, 1)
  assert protocol.real_split == CE_REAL_SPLIT[dataset]


@pytest.mark.parametrize("dataset, phase", CE_STUDIES, ids=lambda v: v or "wide")
def test_created_equal_trial_configs_parse_as_v1(dataset, phase):
  """The defaults and the first random draw of every model parse into v1's recipe."""
  from compare_gan.sweep import sweepers
  study = _ce_study(dataset + phase)
  for setting in study.settings:
    sweeper = sweepers.make_sweeper(study.sweeper, setting, study.budget,
                                    study.sweeper_seed(setting))
    points = sweeper.ask(2)
    assert [source for _, source in points] == ["grid", "random"]
    for params, _ in points:
      _check_ce_trial_config(study, setting, params, dataset)


@pytest.mark.parametrize("phase", list(CE_PHASES), ids=lambda v: v or "wide")
def test_created_equal_datasets_train_the_same_configurations(phase):
  """As v1, whose sampling ignored the dataset: one study.name seeds every dataset's draws."""
  from compare_gan.sweep import sweepers
  proposals = {}
  for dataset in CREATED_EQUAL_DATASETS:
    study = _ce_study(dataset + phase)
    proposals[dataset] = [
        sweepers.make_sweeper(study.sweeper, s, study.budget, study.sweeper_seed(s)).ask(100)
        for s in study.settings]
  first = proposals[CREATED_EQUAL_DATASETS[0]]
  assert [len(p) for p in first] == [1 + CE_PHASES[phase][2]] * len(CREATED_EQUAL_MODELS)
  for dataset, points in proposals.items():
    assert points == first, dataset


@pytest.mark.parametrize("model", CREATED_EQUAL_MODELS)
def test_created_equal_defaults_build_with_v1_budget_in_d_updates(model, tmp_path):
  """Each model's defaults build on (mock) MNIST at a tiny width, and the loop turns v1's
  15,625 D updates, a checkpoint every 3,906, into G steps at the model's n_disc."""
  import tensorflow_datasets as tfds
  from compare_gan.training import loop
  study = _ce_study("mnist")
  setting = study.setting(f"model={model}")
  bindings = study.trial_bindings(setting, setting.grid[0], 0) + [
      "G.width = 0.0625", "D.width = 0.0625"]
  config.parse_gin(study.base_configs, bindings)
  lines = []
  with tfds.testing.mock_data(num_examples=64):
    result = loop.train(str(tmp_path / "run"), dry_run=True, log=lines.append)
  assert result.state == "dry_run"
  n_disc = CE_DEFAULTS[model].get("n_disc", 1)
  family = CE_MODELS[model][0]
  steps, every = -(-15625 // n_disc), -(-3906 // n_disc)
  assert (f"budget: 15625 D updates, a checkpoint every 3906, at {n_disc} per {family} step: "
          f"{steps} steps, a checkpoint every {every}") in lines


def test_triangles_miniature_is_offline_weight_free_and_small():
  from compare_gan.metrics import protocol as protocol_lib
  study = _ce_study("triangles_miniature")
  phase1 = _ce_study("mnist")
  # The phase-1 study in miniature: its models, defaults and ranges.
  assert [(s.key, s.grid, s.space) for s in study.settings] == [
      (s.key, s.grid, s.space) for s in phase1.settings]
  assert (study.sweeper, study.seeds) == ("random", [0])
  trials = sum(len(s.grid) + study.budget for s in study.settings)
  assert trials <= 2 * len(CREATED_EQUAL_MODELS)
  assert study.objective.metric == "swd_pixels" and study.objective.mode == "min"
  assert not any("reference_protocol" in p for p in study.base_configs)
  for setting in study.settings:
    gin.clear_config()
    config.parse_gin(study.base_configs, study.trial_bindings(setting, setting.grid[0], 0))
    assert gin.query_parameter("dataset.name") == "triangles"
    protocol = protocol_lib.evaluation_protocol()
    # No Inception network: nothing to download.
    assert sorted(type(t).gin_name for t in protocol.metrics) == [
        "polygon_prf", "sliced_wasserstein"]
    assert gin.query_parameter("train.budget_unit") == "discriminator_updates"
