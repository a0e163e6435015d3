"""The one place that registers third-party symbols with gin.

`gin.tf` cannot be imported on TF >= 2.16 (it needs `tf.estimator`), so the few TensorFlow and
Keras symbols our configs name are registered here, under the module names the reference
configs used:

  generator/tf.keras.optimizers.Adam.learning_rate = 2e-4
  ModularGAN.g_optimizer = @generator/tf.keras.optimizers.Adam()
  z.distribution_fn = @tf.random.normal
"""

import gin
import tensorflow as tf

from compare_gan import config

OPTIMIZERS = ("Adam", "AdamW", "RMSprop", "SGD", "Adagrad", "Adamax", "Nadam", "Lion")
RANDOM = ("normal", "uniform", "truncated_normal")

# name -> the gin-wrapped function a config's `@tf.random.<name>` evaluates to (gin hands out
# its wrapper, not `tf.random.<name>` itself); the z sampler maps these to stateless draws.
RANDOM_FUNCTIONS = {}


def _register():
  for name in OPTIMIZERS:
    gin.external_configurable(getattr(tf.keras.optimizers, name), name=name,
                              module="tf.keras.optimizers")
  for name in RANDOM:
    RANDOM_FUNCTIONS[name] = gin.external_configurable(getattr(tf.random, name), name=name,
                                                       module="tf.random")


_register()

config.register_catalogue(
    "optimizers", "optimizers",
    lambda: [(f"@tf.keras.optimizers.{name}",
              f"Keras optimizer (scope it: @generator/tf.keras.optimizers.{name})")
             for name in OPTIMIZERS])
config.register_catalogue("distributions", "distributions (z.distribution_fn)",
                          lambda: [(f"@tf.random.{name}", "") for name in RANDOM])
