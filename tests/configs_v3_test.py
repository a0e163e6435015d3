"""The v3 family configs (configs/v3/: BigGAN, SSGAN, S3GAN on ImageNet 128): each has a header
naming its paper and published target, parses with the reference's settings, and trains 2 steps
at a tiny width on mock ImageNet (tfds `mock_data`)."""

import glob
import os

import gin
import pytest
import tensorflow_datasets as tfds

from compare_gan import config
from compare_gan.training import loop

V3 = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "v3", "*.gin")))
TINY = ["resnet_biggan.Generator.ch = 8", "resnet_biggan.Discriminator.ch = 8",
        "train.batch_size = 8", "train.training_steps = 2", "train.save_checkpoints_steps = 2",
        "train.steps_per_loop = 2", "SSGAN.rotated_batch_size = 8",
        "evaluation.bn_accumulation_samples = 16"]
# (family, conditional, labelled fraction, FID in the header) as the reference and docs say.
EXPECTED = {
    "biggan_imagenet128.gin": ("ModularGAN", True, 1.0, "8.51"),
    "ssgan_imagenet128.gin": ("SSGAN", False, 1.0, "20.6"),
    "s3gan_imagenet128_10.gin": ("S3GAN", True, 0.1, "7.6"),
    "s3gan_imagenet128_20.gin": ("S3GAN", True, 0.2, "6.9"),
}


def test_every_v3_config_is_tested():
  assert {os.path.basename(p) for p in V3} == set(EXPECTED)


def _query(name, default=None):
  try:
    return gin.query_parameter(name)
  except ValueError:
    return default


@pytest.mark.parametrize("path", V3, ids=os.path.basename)
def test_v3_config_has_the_reference_settings(path):
  with open(path) as f:
    text = f.read()
  family, conditional, fraction, fid = EXPECTED[os.path.basename(path)]
  header = text[:text.index("\ndataset.name")]
  assert text.startswith("#") and f"FID {fid}" in header
  gin.clear_config()
  config.parse_gin([path], [])
  chosen = _query("model.family")
  assert (chosen.selector if chosen is not None else "ModularGAN") == family
  assert _query("ModularGAN.conditional") is conditional
  assert _query("dataset.labeled_fraction", 1.0) == fraction
  # The reference's BigGAN recipe (example_configs/biggan_imagenet128.gin), shared by all four.
  assert gin.query_parameter("dataset.name") == "imagenet_128"
  assert gin.query_parameter("ModularGAN.z_dim") == 120
  assert gin.query_parameter("ModularGAN.disc_iters") == 2
  assert gin.query_parameter("train.batch_size") == 2048
  assert gin.query_parameter("train.training_steps") == 250000
  assert gin.query_parameter("weights.initializer") == "orthogonal"
  assert gin.query_parameter("G.spectral_norm") and gin.query_parameter("D.spectral_norm")
  assert gin.query_parameter("standardize_batch.use_moving_averages") is False
  assert gin.query_parameter("loss.fn").selector == "hinge"
  assert gin.query_parameter("generator/tf.keras.optimizers.Adam.learning_rate") == 1e-4
  assert gin.query_parameter("discriminator/tf.keras.optimizers.Adam.learning_rate") == 5e-4
  assert gin.query_parameter("tf.keras.optimizers.Adam.beta_1") == 0.0
  if family == "S3GAN":
    # S3GAN: its own projection and predictor with the rotation task; D's projection off.
    assert gin.query_parameter("S3GAN.project_y") and gin.query_parameter("S3GAN.use_predictor")
    assert gin.query_parameter("S3GAN.self_supervision") == "rotation"
    assert gin.query_parameter("resnet_biggan.Discriminator.project_y") is False


@pytest.mark.parametrize("path", V3, ids=os.path.basename)
def test_v3_config_trains_at_a_tiny_width(path, tmp_path):
  gin.clear_config()
  config.parse_gin([path], TINY)
  with tfds.testing.mock_data(num_examples=16):
    result = loop.train(str(tmp_path / "run"), log=lambda m: None)
  assert result.state == "done" and result.step == 2
