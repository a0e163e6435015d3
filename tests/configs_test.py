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
                   "sndcgan_celebahq128", "triangles_sndcgan", "ring8_mlp"}


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
      "reference_protocol.gin", "common_protocol.gin", "weight_free.gin"}


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
