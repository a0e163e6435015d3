"""Generator/Discriminator base classes, their gin surface (`G`, `D`) and the registry.

The gin surface is the reference's (abstract_arch.py), plus a width multiplier:

  G.batch_norm_fn = @batch_norm        # normaliser factory for G (None: no normalisation)
  G.spectral_norm = False              # SN on every G kernel
  G.width = 1.0                        # channel multiplier (tests use tiny widths)
  D.batch_norm_fn = None               # the GAN Landscape normaliser settings for D:
  D.layer_norm = False                 #   none / BN / LN / SN are these three switches
  D.spectral_norm = False
  D.width = 1.0
  D.project_y = False                  # projection discriminator (Miyato & Koyama, 2018)

An architecture is chosen by gin reference, e.g. `ModularGAN.architecture = @resnet19()`; see
`ARCHITECTURES` for the names. Every generator maps z [B, z_dim] (and one-hot labels y [B, K]
when conditional) to images [B, H, W, C] in [0, 1]; every discriminator maps images in [0, 1]
(and y) to `(logits [B, 1], features [B, F])`.
"""

import dataclasses
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Type

import gin
import keras
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import normalization
from compare_gan.architectures import ops

NormFactory = Callable[..., keras.layers.Layer]


@gin.configurable("G")
@dataclasses.dataclass(frozen=True)
class GeneratorOptions:
  """gin `G`: normaliser, spectral norm and width of the generator."""
  batch_norm_fn: Optional[NormFactory] = None
  spectral_norm: bool = False
  width: float = 1.0


@gin.configurable("D")
@dataclasses.dataclass(frozen=True)
class DiscriminatorOptions:
  """gin `D`: normalisers, spectral norm, width and label projection of the discriminator."""
  batch_norm_fn: Optional[NormFactory] = None
  layer_norm: bool = False
  spectral_norm: bool = False
  width: float = 1.0
  project_y: bool = False


def _check_width(width: float, owner: str):
  if not width > 0:
    raise ValueError(f"{owner}.width={width} must be positive.")


def _is_conditional(factory: Optional[NormFactory]) -> bool:
  return bool(getattr(factory, "conditional", False))


class _Module(keras.layers.Layer):
  """What G and D share: image-shape validation, normaliser creation, variable creation."""

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int], name: str):
    super().__init__(name=name)
    self.image_shape = tuple(int(d) for d in image_shape)
    self.num_classes = num_classes
    problem = self.check_image_shape(self.image_shape)
    if problem:
      raise ValueError(f"{type(self).__module__.split('.')[-1]} {name} cannot handle image "
                       f"shape {self.image_shape}: {problem}.")
    if num_classes is not None and int(num_classes) < 1:
      raise config.ConfigError(f"num_classes={num_classes} must be a positive integer or None.")

  @classmethod
  def check_image_shape(cls, image_shape: Tuple[int, ...]) -> Optional[str]:
    """Returns why `image_shape` is unsupported, or None. Default: square [H, W, 1 or 3]."""
    if len(image_shape) != 3:
      return "expected [height, width, channels]"
    h, w, c = image_shape
    if h != w:
      return "expected square images"
    if c not in (1, 3):
      return "expected 1 or 3 channels"
    return None

  def _make_norm(self, factory: Optional[NormFactory], name: str,
                 use_sn: bool) -> keras.layers.Layer:
    if factory is None:
      return normalization.NoBatchNorm(name=name)
    layer = factory(name=name, use_sn=use_sn)
    if not isinstance(layer, normalization.Normalizer):
      raise ValueError(f"batch_norm_fn {factory!r} made {layer!r}, not a normaliser; use one of "
                       "@batch_norm, @conditional_batch_norm, @self_modulated_batch_norm, "
                       "@no_batch_norm.")
    return layer

  def _check_labels(self, y):
    if self.conditional:
      if y is None:
        raise ValueError(f"{self.name} is conditional (num_classes={self.num_classes}): pass "
                         "one-hot labels y [B, num_classes].")
      if y.shape.rank != 2 or y.shape[-1] != self.num_classes:
        raise ValueError(f"{self.name}: labels y must be [B, {self.num_classes}] (one-hot); got "
                         f"shape {y.shape}.")
    elif y is not None:
      raise ValueError(f"{self.name} is unconditional but was given labels y; build it with "
                       "num_classes and a label-aware setting to use them.")


class Generator(_Module):
  """Base generator. Subclasses implement `generate(z, y, training)`."""

  def __init__(self, image_shape: Sequence[int], z_dim: int = 128,
               num_classes: Optional[int] = None,
               options: Optional[GeneratorOptions] = None, name: str = "generator"):
    super().__init__(image_shape, num_classes, name)
    self.options = options if options is not None else GeneratorOptions()
    _check_width(self.options.width, "G")
    self.z_dim = int(z_dim)
    self.conditional = self.label_conditional(num_classes)

  def label_conditional(self, num_classes: Optional[int]) -> bool:
    """Whether this generator takes labels y; raises ConfigError for settings that contradict
    `num_classes`. Here labels reach G only through its normaliser, so G is conditional exactly
    when `G.batch_norm_fn` is; an architecture with its own label path overrides this."""
    conditional = _is_conditional(self.options.batch_norm_fn)
    if conditional and num_classes is None:
      raise config.ConfigError("G.batch_norm_fn is conditional but the data have no labels: give "
                               "num_classes (a labelled dataset) or use @batch_norm.")
    if num_classes is not None and not conditional:
      raise config.ConfigError(
          f"num_classes={num_classes} given but the generator ignores labels: set "
          "G.batch_norm_fn = @conditional_batch_norm for a conditional generator.")
    return conditional

  def ch(self, channels: int) -> int:
    return ops.scaled(channels, self.options.width)

  def norm(self, name: str) -> keras.layers.Layer:
    return self._make_norm(self.options.batch_norm_fn, name, self.options.spectral_norm)

  def call(self, z, y=None, training=None):
    if z.shape.rank != 2 or z.shape[-1] != self.z_dim:
      raise ValueError(f"{self.name}: z must be [B, {self.z_dim}]; got shape {z.shape}.")
    self._check_labels(y)
    z = tf.cast(z, self.compute_dtype)
    return self.generate(z, y, training)

  def generate(self, z, y, training):
    raise NotImplementedError

  def build_variables(self, batch_size: int = 2):
    """Creates every variable with one inference call (changes no state)."""
    z = tf.zeros([batch_size, self.z_dim])
    y = tf.one_hot(tf.zeros([batch_size], tf.int32), self.num_classes) if self.conditional else None
    return self(z, y=y, training=False)


class Discriminator(_Module):
  """Base discriminator. Subclasses implement `discriminate(x, y, training) -> (logits, h)`;
  the base adds the label projection `<embed(y), h>` when `D.project_y`."""

  # The projection embedding's initializer: None is gin `weights` (a linear kernel, as the
  # reference resnet_cifar); the BigGAN family sets "glorot_normal", as its reference.
  projection_initializer: Optional[str] = None

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int] = None,
               options: Optional[DiscriminatorOptions] = None, name: str = "discriminator"):
    super().__init__(image_shape, num_classes, name)
    self.options = options if options is not None else DiscriminatorOptions()
    _check_width(self.options.width, "D")
    if _is_conditional(self.options.batch_norm_fn):
      raise config.ConfigError(
          "D.batch_norm_fn cannot be conditional; use D.project_y = True for a "
          "label-conditional discriminator.")
    if getattr(self.options.batch_norm_fn, "needs_z", False):
      raise config.ConfigError(
          f"D.batch_norm_fn={self.options.batch_norm_fn.__name__} needs the latent "
          "z, which a discriminator does not see; use @batch_norm or D.layer_norm.")
    self.conditional = self.label_conditional(num_classes)
    self.embedding = None
    if self.conditional:
      self.embedding = ops.Projection(num_classes, use_sn=self.options.spectral_norm,
                                      initializer=self.projection_initializer,
                                      name="embedding_fc")

  def label_conditional(self, num_classes: Optional[int]) -> bool:
    """Whether this discriminator projects labels y (then the base adds `<embed(y), h>`);
    raises ConfigError for settings that contradict `num_classes`. Here `D.project_y` decides;
    an architecture with its own switch overrides this."""
    if self.options.project_y and num_classes is None:
      raise config.ConfigError("D.project_y = True needs a labelled dataset (num_classes).")
    if num_classes is not None and not self.options.project_y:
      raise config.ConfigError(
          f"num_classes={num_classes} given but the discriminator ignores labels: "
          "set D.project_y = True for a projection discriminator.")
    return self.options.project_y

  def ch(self, channels: int) -> int:
    return ops.scaled(channels, self.options.width)

  def norm(self, name: str) -> keras.layers.Layer:
    return self._make_norm(self.options.batch_norm_fn, name, self.options.spectral_norm)

  def layer_norm(self, name: str) -> Optional[keras.layers.Layer]:
    return normalization.LayerNorm(name=name) if self.options.layer_norm else None

  def normalize(self, x, bn, ln, training):
    """BN (if any) then LN (if any), the reference's order inside D blocks."""
    x = bn(x, training=training)
    if ln is not None:
      x = ln(x, training=training)
    return x

  def call(self, images, y=None, training=None):
    if images.shape.rank is None or tuple(images.shape[1:]) != self.image_shape:
      raise ValueError(f"{self.name} expects images [B, {', '.join(map(str, self.image_shape))}]"
                       f"; got shape {images.shape}.")
    self._check_labels(y)
    x = tf.cast(images, self.compute_dtype)
    logits, features = self.discriminate(x, y, training)
    if self.embedding is not None:
      logits = logits + self.embedding(features, y, training=training)
    return tf.cast(logits, tf.float32), features

  def discriminate(self, x, y, training):
    raise NotImplementedError

  def build_variables(self, batch_size: int = 2):
    """Creates every variable with one inference call (changes no state)."""
    x = tf.zeros((batch_size,) + self.image_shape)
    y = tf.one_hot(tf.zeros([batch_size], tf.int32), self.num_classes) if self.conditional else None
    return self(x, y=y, training=False)


class Architecture(NamedTuple):
  """A registered G/D pair."""
  name: str
  generator: Type[Generator]
  discriminator: Type[Discriminator]

  def build(self, image_shape: Sequence[int], z_dim: int = 128,
            num_classes: Optional[int] = None,
            generator_options: Optional[GeneratorOptions] = None,
            discriminator_options: Optional[DiscriminatorOptions] = None,
            ) -> Tuple[Generator, Discriminator]:
    """G and D for `image_shape`, with gin's `G`/`D` options unless given."""
    g = self.generator(image_shape, z_dim=z_dim, num_classes=num_classes,
                       options=generator_options)
    d = self.discriminator(image_shape, num_classes=num_classes,
                           options=discriminator_options)
    return g, d


ARCHITECTURES: Dict[str, Architecture] = {}


def register_architecture(name: str, generator: Type[Generator],
                          discriminator: Type[Discriminator]) -> Architecture:
  """Adds an architecture to `ARCHITECTURES` and to gin as `@<name>()`."""
  if name in ARCHITECTURES:
    raise ValueError(f"Architecture {name!r} is registered twice.")
  arch = Architecture(name, generator, discriminator)
  ARCHITECTURES[name] = arch

  def factory() -> Architecture:
    return arch

  factory.__name__ = factory.__qualname__ = name
  factory.__doc__ = f"The {name} architecture ({generator.__module__})."
  gin.register(name, module="architectures")(factory)
  return arch


def get_architecture(name: str) -> Architecture:
  """The registered architecture `name`; the error lists the valid names."""
  try:
    return ARCHITECTURES[name]
  except KeyError:
    raise ValueError(f"Unknown architecture {name!r}; registered: "
                     f"{', '.join(sorted(ARCHITECTURES))}.") from None
