"""Every architecture, with BN/LN/SN, inside tf.function(jit_compile=True) on one device."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import architectures
from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import normalization


# Architectures that cannot run at 16x16, with their smallest size and the options they need;
# those whose XLA compile takes a minute or more on 2 CPU cores are slow tests.
_UNCONDITIONAL_BIGGAN = ["resnet_biggan.Generator.embed_y = False",
                         "resnet_biggan.Generator.blocks_with_attention = 'B2'",
                         "resnet_biggan.Discriminator.project_y = False",
                         "resnet_biggan_deep.Generator.embed_y = False",
                         "resnet_biggan_deep.Discriminator.project_y = False",
                         "resnet_biggan.Generator.ch = 64", "resnet_biggan.Discriminator.ch = 64",
                         "resnet_biggan_deep.Generator.ch = 64",
                         "resnet_biggan_deep.Discriminator.ch = 64"]
_SPECIAL = {"resnet30": ((128, 128, 1), []),
            "resnet_biggan": ((32, 32, 3), _UNCONDITIONAL_BIGGAN),
            "resnet_biggan_deep": ((32, 32, 3), _UNCONDITIONAL_BIGGAN)}
_NAMES = [pytest.param(n, marks=pytest.mark.slow) if n in _SPECIAL else n
          for n in sorted(architectures.ARCHITECTURES)]


@pytest.fixture
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.mark.parametrize("name", _NAMES)
def test_xla_matches_eager_and_trains(name, clean_gin):
  shape, bindings = _SPECIAL.get(name, ((2,) if name == "mlp" else (16, 16, 1), []))
  config.parse_gin([], bindings)
  g, d = architectures.get_architecture(name).build(
      shape, z_dim=8,
      generator_options=base.GeneratorOptions(width=0.0625, spectral_norm=True,
                                              batch_norm_fn=normalization.batch_norm),
      discriminator_options=base.DiscriminatorOptions(
          width=0.0625, spectral_norm=True, layer_norm=True,
          batch_norm_fn=normalization.batch_norm))
  g.build_variables()
  d.build_variables()
  z = tf.random.stateless_uniform([4, 8], [1, 2], -1.0, 1.0)

  def inference(z):
    return d(g(z, training=False), training=False)[0]

  np.testing.assert_allclose(tf.function(inference, jit_compile=True)(z).numpy(),
                             inference(z).numpy(), rtol=1e-4, atol=1e-5)

  variables = g.trainable_variables + d.trainable_variables
  state = g.non_trainable_variables + d.non_trainable_variables
  before = [v.numpy().copy() for v in state]

  @tf.function(jit_compile=True)
  def training_grads(z):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(d(g(z, training=True), training=True)[0])
    return tape.gradient(loss, variables)

  grads = training_grads(z)
  assert all(gr is not None and np.all(np.isfinite(gr.numpy())) for gr in grads)
  # Spectral-norm u and BN moving averages were updated inside the compiled function.
  assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, state))
