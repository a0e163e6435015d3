"""Shared test set-up: quiet TensorFlow, and no gin state leaking between tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin
import pytest


@pytest.fixture(autouse=True)
def _clear_gin():
  yield
  gin.clear_config()
