"""Every shipped gin config parses, and trains 2 steps at a tiny width (tfds datasets through
`tfds.testing.mock_data`, built-in data as it is)."""

import glob
import os

import gin
import pytest
import tensorflow_datasets as tfds

from compare_gan import config
from compare_gan.training import loop

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "configs")
EXAMPLES = sorted(glob.glob(os.path.join(CONFIG_DIR, "examples", "*.gin")))
TINY = ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8", "train.batch_size = 4",
        "train.training_steps = 2", "train.save_checkpoints_steps = 2",
        "ModularGAN.disc_iters = 1"]


def test_every_example_config_is_tested():
  names = {os.path.basename(p)[:-len(".gin")] for p in EXAMPLES}
  assert names == {"dcgan_celeba64", "resnet_cifar10", "resnet_lsun-bedroom128",
                   "sndcgan_celebahq128", "triangles_sndcgan", "ring8_mlp", "began_triangles",
                   "vae_triangles"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.basename(p))
def test_example_config_parses_with_a_header_and_trains(path, tmp_path):
  with open(path) as f:
    text = f.read()
  assert text.startswith("#"), "each config's header says what it reproduces"
  config.parse_gin([path], [])
  assert gin.query_parameter("train.training_steps") > 0
  gin.clear_config()
  config.parse_gin([path], TINY)
  name = gin.query_parameter("dataset.name")
  if name in ("triangles", "ring8"):
    result = loop.train(str(tmp_path / "run"), log=lambda m: None)
  else:
    # 200: LSUN keeps the last 1% of its train split for evaluation.
    with tfds.testing.mock_data(num_examples=200):
      result = loop.train(str(tmp_path / "run"), log=lambda m: None)
  assert result.state == "done" and result.step == 2


EVAL_PRESETS = sorted(glob.glob(os.path.join(CONFIG_DIR, "eval", "*.gin")))


def test_eval_presets_exist():
  assert {os.path.basename(p) for p in EVAL_PRESETS} == {
      "reference_protocol.gin", "common_protocol.gin", "weight_free.gin", "polygons.gin"}


@pytest.mark.parametrize("path", EVAL_PRESETS, ids=lambda p: os.path.basename(p))
def test_eval_preset_parses_over_a_run_config_and_builds_its_tasks(path):
  from compare_gan.metrics import protocol as protocol_lib
  from compare_gan.metrics import tasks
  with open(path) as f:
    assert f.read().startswith("#"), "each preset's header says what protocol it is"
  config.parse_gin([os.path.join(CONFIG_DIR, "examples", "triangles_sndcgan.gin"), path], [])
  protocol = protocol_lib.evaluation_protocol()
  assert protocol.metrics and all(isinstance(t, tasks.Task) for t in protocol.metrics)
  for task in protocol.metrics:
    assert task.value_names()


# ----------------------------------------------------------------------------------------------
# The GAN Landscape configs reproduce v2, the code that produced the paper's numbers.
# ----------------------------------------------------------------------------------------------

LANDSCAPE_DIR = os.path.join(CONFIG_DIR, "landscape")
LANDSCAPE_STUDIES = sorted(glob.glob(os.path.join(LANDSCAPE_DIR, "*.gin")))
BEST_MODELS = sorted(glob.glob(os.path.join(LANDSCAPE_DIR, "best_models", "*.gin")))
REFERENCE_PROTOCOL = os.path.join(CONFIG_DIR, "eval", "reference_protocol.gin")


def _study_trial_configs(path):
  """(label, config files, bindings) of every setting of a study, as a trial parses them."""
  from compare_gan.sweep import study_file
  study = study_file.load_study(path)
  return [(f"{os.path.basename(path)}:{s.key}", study.base_configs,
           study.trial_bindings(s, {}, 0)) for s in study.settings]


def _landscape_trials():
  trials = []
  for path in LANDSCAPE_STUDIES:
    trials += _study_trial_configs(path)
  # Best models as their headers say to run them: the protocol first, then the config.
  trials += [(os.path.basename(p), [REFERENCE_PROTOCOL, p], []) for p in BEST_MODELS]
  return trials


def _v2_checks(label, files, bindings):
  """Parses one Landscape trial config and checks what v2 did (v2 eval_gan_lib, gans/ops.py,
  abstract_gan.run_single_train_step)."""
  from compare_gan.metrics import protocol as protocol_lib
  gin.clear_config()
  config.parse_gin(files, bindings)
  dataset = gin.query_parameter("dataset.name")
  architecture = gin.query_parameter("ModularGAN.architecture").selector.split(".")[-1]
  protocol = protocol_lib.evaluation_protocol()
  metrics = sorted(type(t).gin_name for t in protocol.metrics)
  # One fake set per checkpoint.
  assert protocol.num_averaging_runs == 1, label
  if dataset == "lsun_bedroom_128":
    # v2 params.py eval_test_samples: 10,000 fakes against the first 10,000 real images.
    assert (protocol.num_fake, protocol.num_real) == (10000, 10000), label
  else:
    assert (protocol.num_fake, protocol.num_real) == (None, None), label
  if dataset == "celeb_a_hq_128":
    assert metrics == ["fid_score", "inception_score", "ms_ssim"], label
  else:
    assert metrics == ["fid_score", "inception_score"], label
  assert gin.query_parameter("ModularGAN.v2_generator_step") is True, label
  assert gin.query_parameter("ModularGAN.deprecated_split_disc_calls") is True, label
  # v2 conv2d: truncated normal; SNDCGAN's D passed a normal; linear and deconv: normal.
  conv = "normal" if architecture == "sndcgan" else "truncated"
  assert gin.query_parameter("weights.conv_initializer") == conv, label
  for name in ("initializer", "linear_initializer", "deconv_initializer"):
    try:
      value = gin.query_parameter(f"weights.{name}")
    except ValueError:
      value = None  # unbound: the default, normal
    assert value in (None, "normal"), (label, name)
  return dataset


def test_every_landscape_config_evaluates_and_trains_as_v2():
  datasets = [_v2_checks(*trial) for trial in _landscape_trials()]
  # Every study setting and best model was checked, on every dataset.
  assert len(datasets) == sum(len(_study_trial_configs(p)) for p in LANDSCAPE_STUDIES) + 30
  assert set(datasets) == {"cifar10", "celeb_a_hq_128", "lsun_bedroom_128"}


def test_lsun_landscape_configs_evaluate_on_10k_fakes_and_10k_reals():
  from compare_gan.metrics import protocol as protocol_lib
  lsun = [t for t in _landscape_trials() if "lsun_bedroom" in t[0]]
  # The loss, norm_reg, combined and architecture studies' settings, and 10 best models.
  assert len(lsun) == (12 + 14 + 8 + 8) + 10
  for label, files, bindings in lsun:
    gin.clear_config()
    config.parse_gin(files, bindings)
    protocol = protocol_lib.evaluation_protocol()
    assert (protocol.num_fake, protocol.num_real) == (10000, 10000), label


@pytest.mark.parametrize("name", ["resnet19_celeb_a_hq_128_10", "sndcgan_lsun_bedroom_128_11"])
def test_landscape_best_model_runs_a_v2_step(name):
  """A best-model config (tiny width) builds its ModularGAN and runs one step on
  `real_batches_per_step` = n_disc batches (the G update reads none)."""
  import numpy as np
  import tensorflow as tf
  from compare_gan.gans import modular_gan
  path = os.path.join(LANDSCAPE_DIR, "best_models", f"{name}.gin")
  gin.clear_config()
  config.parse_gin([REFERENCE_PROTOCOL, path],
                   ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8"])
  model = modular_gan.ModularGAN((128, 128, 3), None)
  assert model.real_batches_per_step == model.disc_iters
  rng = np.random.default_rng(0)
  batches = [{"images": tf.constant(rng.uniform(size=(2, 128, 128, 3)), tf.float32)}
             for _ in range(model.real_batches_per_step)]
  terms = tf.distribute.get_strategy().run(
      model.train_step, args=(batches, tf.constant(0, tf.int64), tf.constant([1, 2]), 2))
  assert all(np.isfinite(float(v)) for v in terms.values())


def test_landscape_best_model_trains_and_resumes_through_the_loop(tmp_path):
  """Through training/loop.py, which draws `real_batches_per_step` batches per step (here
  n_disc = 2, no batch for the G update): 2 steps, then a resume to 3 whose data-position check
  holds only if both runs count the batches the same way."""
  path = os.path.join(LANDSCAPE_DIR, "best_models", "sndcgan_lsun_bedroom_128_11.gin")
  tiny = TINY[:-1] + ["ModularGAN.disc_iters = 2"]
  for steps in (2, 3):
    gin.clear_config()
    config.parse_gin([REFERENCE_PROTOCOL, path], tiny + [f"train.training_steps = {steps}"])
    assert gin.query_parameter("ModularGAN.v2_generator_step") is True
    with tfds.testing.mock_data(num_examples=200):
      result = loop.train(str(tmp_path / "run"), log=lambda m: None)
    assert result.state == "done" and result.step == steps
    assert result.model.real_batches_per_step == 2
