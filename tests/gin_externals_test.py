"""The third-party symbols registered for configs, including G/D-scoped optimizers."""

import gin
import pytest
import tensorflow as tf

from compare_gan import gin_externals


@gin.configurable("two_optimizers")
def _two_optimizers(g_optimizer_fn=None, d_optimizer_fn=None):
  return g_optimizer_fn(), d_optimizer_fn()


def test_scoped_keras_optimizers():
  gin.parse_config("""
      two_optimizers.g_optimizer_fn = @generator/tf.keras.optimizers.Adam
      two_optimizers.d_optimizer_fn = @discriminator/tf.keras.optimizers.Adam
      generator/tf.keras.optimizers.Adam.learning_rate = 1e-4
      generator/tf.keras.optimizers.Adam.beta_1 = 0.0
      discriminator/tf.keras.optimizers.Adam.learning_rate = 4e-4
      discriminator/tf.keras.optimizers.Adam.beta_2 = 0.9
  """)
  g_opt, d_opt = _two_optimizers()
  assert isinstance(g_opt, tf.keras.optimizers.Adam)
  assert float(g_opt.learning_rate) == pytest.approx(1e-4)
  assert float(g_opt.beta_1) == 0.0 and float(g_opt.beta_2) == pytest.approx(0.999)
  assert float(d_opt.learning_rate) == pytest.approx(4e-4)
  assert float(d_opt.beta_2) == pytest.approx(0.9)


@pytest.mark.parametrize("name", gin_externals.OPTIMIZERS)
def test_every_registered_optimizer_builds(name):
  gin.parse_config(f"two_optimizers.g_optimizer_fn = @tf.keras.optimizers.{name}\n"
                   f"two_optimizers.d_optimizer_fn = @tf.keras.optimizers.{name}")
  g_opt, _ = _two_optimizers()
  assert type(g_opt).__name__ == name


@gin.configurable("draw", module="test")
def _draw(distribution_fn=None):
  return distribution_fn


@pytest.mark.parametrize("name", gin_externals.RANDOM)
def test_random_distributions(name):
  gin.parse_config(f"test.draw.distribution_fn = @tf.random.{name}")
  fn = _draw()
  assert fn([3]).shape == (3,)


def test_misspelled_optimizer_is_a_parse_error():
  with pytest.raises(Exception, match="Adamm"):
    gin.parse_config("two_optimizers.g_optimizer_fn = @tf.keras.optimizers.Adamm")
