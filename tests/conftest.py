"""Shared test set-up: quiet TensorFlow, and no gin state leaking between tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin
import pytest


@pytest.fixture(autouse=True)
def _clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.fixture
def mixed_float16():
  """Runs a test under Keras' mixed_float16 policy and restores float32 after it."""
  import keras
  keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    yield
  finally:
    keras.mixed_precision.set_global_policy("float32")
