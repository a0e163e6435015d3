"""The model family of a run: gin `model.family`, and the one function that builds it.

  model.family = @BEGAN        # @ModularGAN (the default), @BEGAN, @VAE, @SSGAN or @S3GAN

The training loop, the inference model (evaluation, export, sampling) and nothing else build
the model, all through `build()`, so a run is trained, evaluated and exported as the same
family. What a family provides is the contract in gans/family.py. The families:

  @ModularGAN  the GAN Landscape's G/D with pluggable losses and penalties (gans/modular_gan.py):
               MM GAN, NS GAN, LSGAN, WGAN, WGAN-GP, DRAGAN, hinge ...
  @BEGAN       boundary equilibrium GAN, autoencoder D (gans/began.py)
  @VAE         the variational autoencoder baseline (gans/vae.py)
  @SSGAN       ModularGAN plus D's auxiliary rotation task (gans/ssgan.py, gans/rotation.py)
  @S3GAN       conditional GAN from partly labelled data: rotation, projection and predictor
               heads on D (gans/s3gan.py)
"""

import inspect
from typing import Optional, Sequence

import gin

from compare_gan import config
from compare_gan.gans import began
from compare_gan.gans import modular_gan
from compare_gan.gans import s3gan
from compare_gan.gans import ssgan
from compare_gan.gans import vae

FAMILIES = (modular_gan.ModularGAN, began.BEGAN, vae.VAE, ssgan.SSGAN, s3gan.S3GAN)


@gin.configurable("model")
def model_family(family=None) -> type:
  """gin `model.family`: the family class to train (`@ModularGAN`, `@BEGAN`, `@VAE`, `@SSGAN`,
  `@S3GAN`; note: no parentheses, the class itself); default ModularGAN."""
  chosen = modular_gan.ModularGAN if family is None else family
  if chosen not in FAMILIES:
    raise config.ConfigError(
        f"model.family={family!r} is not a model family; use one of "
        + ", ".join(f"@{cls.__name__}" for cls in FAMILIES)
        + " (the class, without parentheses).")
  return chosen


def build(image_shape: Sequence[int], num_classes: Optional[int], *, seed: int = 0,
          jit_compile: bool = False):
  """The run's model: the gin-chosen family (configured by its own gin bindings), built for
  the data's `image_shape` and `num_classes`; call inside `strategy.scope()`."""
  return model_family()(image_shape, num_classes, seed=seed, jit_compile=jit_compile)


config.register_catalogue(
    "models", "models (model.family)",
    lambda: [(f"@{cls.__name__}", config.summary(inspect.getmodule(cls))) for cls in FAMILIES])
