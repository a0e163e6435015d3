"""What the BigGAN and BigGAN-deep architectures share (reference v3 `resnet_biggan.py` and
`resnet_biggan_deep.py`; Brock et al., "Large Scale GAN Training for High Fidelity Natural
Image Synthesis", ICLR'19).

* `BigGanGenerator`: the label path and the head of both generators.
  - Labels: G is label-conditional exactly when the model has labels (`num_classes`), not when
    its normaliser is conditional (base.Generator's rule): the conditional batch norms of a
    BigGAN generator are conditioned on a vector c built from z and, with labels, the shared
    class embedding e = y E (E [num_classes, embed_y_dim], one variable `embed_y` for all
    blocks, no bias unless `embed_bias`, never spectrally normalised, as the reference);
    `embed_y=False` puts the one-hot y itself in c. Without labels `embed_y` must be False
    (the reference crashed on a linear map of y=None) and c holds z only.
  - Head: unconditional BN (`final_norm`, gamma 1, beta 0) -> ReLU -> conv3x3 (`final_conv`)
    -> (tanh + 1) / 2, images in [0, 1].
* `BigGanDiscriminator`: the family's own `project_y` switch, the glorot-normal projection
  embedding, and the head ReLU -> **sum** over H, W -> h [B, F]; logit = `final_fc`(h)
  (+ <E_D y, h> added by base.Discriminator).
* `attention_blocks`: parses the comma-separated `blocks_with_attention` option;
  `attention`: the SAGAN non-local block placed after a block (`non_local_block_<block>`).
* `condition`: c = [z, e] (or z alone without labels).
* `lazy_build`: the `build` of these layers (sub-layers build on the first call).
"""

from typing import Optional, Sequence, Tuple

import keras
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import normalization
from compare_gan.architectures import ops


def check_positive_int(option: str, value) -> None:
  """Raises ConfigError unless `value` is an int >= 1 (`option` names the gin setting)."""
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise config.ConfigError(f"{option}={value!r} must be a positive integer.")


def attention_blocks(setting: str, valid: Sequence[str], option: str,
                     resolution: int) -> Tuple[str, ...]:
  """The block names in `setting` ("B4", "B1,B2"; "" for none), in network order.

  Unknown names raise ConfigError listing `valid` (the blocks at `resolution`); the reference
  ignored them silently, so a setting meant for another resolution did nothing.
  """
  if not isinstance(setting, str):
    raise config.ConfigError(f"{option}={setting!r} must be a string of comma-separated block "
                             f"names such as \"B1,B2\", or \"\" for none.")
  names = [part.strip() for part in setting.split(",") if part.strip()]
  unknown = [name for name in names if name not in valid]
  if unknown:
    raise config.ConfigError(
        f"{option}={setting!r}: no block {', '.join(unknown)} at {resolution}x{resolution}; "
        f"valid: {', '.join(valid)} (comma-separated), or \"\" for none.")
  return tuple(name for name in valid if name in names)


def condition(z: tf.Tensor, e: Optional[tf.Tensor]) -> tf.Tensor:
  """c = concat([z, e], axis 1) [B, z + E], or z [B, z] when there are no labels (e None)."""
  return z if e is None else tf.concat([z, tf.cast(e, z.dtype)], axis=1)


def attention(module: base._Module, block_name: str) -> ops.SelfAttention:
  """The SAGAN non-local block that follows block `block_name` (SN with the module's)."""
  return ops.SelfAttention(use_sn=module.options.spectral_norm,
                           name=f"non_local_block_{block_name}")


def lazy_build(layer: keras.layers.Layer, input_shape) -> None:
  """The `build` of a layer whose sub-layers create their variables on the first call.

  Keras 3 builds a layer without its own `build` by first running `call` on symbolic inputs,
  and does so again for every nested layer inside that run: for these deep models that doubled
  the time of the first call or more. Declaring the layer built lets every sub-layer build
  itself, once, when the first real call reaches it (the variables are the same).
  """
  del layer, input_shape


def _factory_name(factory) -> str:
  return "None" if factory is None else getattr(factory, "__name__", repr(factory))


class BigGanGenerator(base.Generator):
  """Label path and head shared by the BigGAN generators (see the module docstring).

  Subclasses set `arch_options_class` (their gin-configurable options dataclass, with at least
  `ch`, `embed_y`, `embed_y_dim`) and `gin_name` (its gin name, for messages), and implement
  `generate` with `label_vector`, `condition` and `to_images`.
  """

  arch_options_class: type
  gin_name: str
  # Whether the family's embeddings have a bias (resnet_biggan's `embed_bias`).
  embed_bias: bool = False

  def __init__(self, image_shape: Sequence[int], z_dim: int = 128,
               num_classes: Optional[int] = None,
               options: Optional[base.GeneratorOptions] = None, name: str = "generator",
               arch_options=None):
    """`arch_options`: the family's own options (default: from gin `<gin_name>`)."""
    # Set before the base constructor: `label_conditional` (called there) reads it.
    self.arch_options = arch_options if arch_options is not None else self.arch_options_class()
    super().__init__(image_shape, z_dim=z_dim, num_classes=num_classes, options=options,
                     name=name)
    sn = self.options.spectral_norm
    self.embed_y = None
    if self.conditional and self.arch_options.embed_y:
      self.embed_y = ops.Linear(self.arch_options.embed_y_dim, use_sn=False,
                                use_bias=self.embed_bias, name="embed_y")
    # The head's BN is unconditional whatever G.batch_norm_fn is (the reference's `final_norm`).
    self.final_norm = normalization.BatchNorm(name="final_norm")
    self.final_conv = ops.Conv2D(self.image_shape[-1], 3, use_sn=sn, name="final_conv")

  def build(self, input_shape):
    lazy_build(self, input_shape)

  def channels(self, multiplier: int) -> int:
    """`multiplier` * ch, scaled by G.width."""
    return self.ch(self.arch_options.ch * multiplier)

  def conditions_without_labels(self) -> Optional[str]:
    """None when a conditional normaliser has a vector to use without labels, else why not."""
    return None

  def label_conditional(self, num_classes: Optional[int]) -> bool:
    """Label-conditional exactly when `num_classes` is given (see the module docstring)."""
    norm = self.options.batch_norm_fn
    if num_classes is None:
      if self.arch_options.embed_y:
        raise config.ConfigError(
            f"{self.gin_name}.embed_y = True embeds labels, but the model has none "
            f"(num_classes=None); set {self.gin_name}.embed_y = False for an unconditional "
            "generator.")
      missing = self.conditions_without_labels()
      if getattr(norm, "conditional", False) and missing:
        raise config.ConfigError(
            f"G.batch_norm_fn={_factory_name(norm)} without labels (num_classes=None) has "
            f"nothing to condition on: {missing}.")
      return False
    if not getattr(norm, "conditional", False):
      raise config.ConfigError(
          f"num_classes={num_classes} given but G.batch_norm_fn={_factory_name(norm)} does not "
          "take a condition vector, so the generator would ignore the labels: set "
          "G.batch_norm_fn = @conditional_batch_norm.")
    return True

  def label_vector(self, y: Optional[tf.Tensor], training) -> Optional[tf.Tensor]:
    """e = y E [B, embed_y_dim] (or the one-hot y [B, K] when not `embed_y`; None without
    labels), in the compute dtype."""
    if y is None:
      return None
    y = tf.cast(y, self.compute_dtype)
    return y if self.embed_y is None else self.embed_y(y, training=training)

  def to_images(self, h: tf.Tensor, training) -> tf.Tensor:
    """[B, H, W, C'] features -> images [B, H, W, C] float32 in [0, 1]."""
    h = tf.nn.relu(self.final_norm(h, training=training))
    out = tf.cast(self.final_conv(h, training=training), tf.float32)
    return (tf.nn.tanh(out) + 1.0) / 2.0


class BigGanDiscriminator(base.Discriminator):
  """Projection switch and sum-pool head shared by the BigGAN discriminators.

  The family's own `project_y` (gin `<gin_name>.project_y`, default True as the reference)
  decides whether labels are projected; `D.project_y` is not needed. `D.project_y = True`
  with the family's `project_y = False` is a contradiction and refused. As in the reference,
  `project_y = True` needs labels: an unconditional discriminator sets it False.

  Subclasses set `arch_options_class` and `gin_name` and implement `discriminate` with
  `pool_and_score`.
  """

  arch_options_class: type
  gin_name: str
  projection_initializer = "glorot_normal"

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int] = None,
               options: Optional[base.DiscriminatorOptions] = None,
               name: str = "discriminator", arch_options=None):
    """`arch_options`: the family's own options (default: from gin `<gin_name>`)."""
    self.arch_options = arch_options if arch_options is not None else self.arch_options_class()
    super().__init__(image_shape, num_classes=num_classes, options=options, name=name)
    self.final_fc = ops.Linear(1, use_sn=self.options.spectral_norm, name="final_fc")

  def build(self, input_shape):
    lazy_build(self, input_shape)

  def channels(self, multiplier: int) -> int:
    """`multiplier` * ch, scaled by D.width."""
    return self.ch(self.arch_options.ch * multiplier)

  def label_conditional(self, num_classes: Optional[int]) -> bool:
    """Projects labels exactly when the family's `project_y` is on (see the class docstring)."""
    project = self.arch_options.project_y
    if self.options.project_y and not project:
      raise config.ConfigError(
          f"D.project_y = True contradicts {self.gin_name}.project_y = False; this "
          f"discriminator's own switch decides: set {self.gin_name}.project_y = True.")
    if project and num_classes is None:
      raise config.ConfigError(
          f"{self.gin_name}.project_y = True projects labels, but the model has none "
          f"(num_classes=None); set {self.gin_name}.project_y = False for an unconditional "
          "discriminator.")
    if num_classes is not None and not project:
      raise config.ConfigError(
          f"num_classes={num_classes} given but the discriminator ignores labels: set "
          f"{self.gin_name}.project_y = True.")
    return project

  def pool_and_score(self, h: tf.Tensor, training) -> Tuple[tf.Tensor, tf.Tensor]:
    """Last features [B, H, W, F] -> (final_fc logits [B, 1], h = sum_{H,W} relu [B, F]).

    A sum, not the mean of the other ResNets: h grows with the feature map's area.
    """
    h = tf.reduce_sum(tf.nn.relu(h), axis=[1, 2])
    return self.final_fc(h, training=training), h

