"""A run's model rebuilt for inference: the one G that evaluation, export and sampling run.

`InferenceModel` builds the run's model, of the family gin `model.family` chose (gans/model.py;
ModularGAN, BEGAN, VAE), in float32 under the run's parsed gin config (variables are float32
under every Keras mixed policy, so any run's checkpoint restores into it), restores G, its EMA
copy and D from a checkpoint (those the family has; never the optimizers, whose structure
depends on the training precision, nor a VAE's encoder, which sampling does not use), and
samples through the family's `sample` in inference mode:
spectral norm uses its stored `u` without writing it, batch norm its moving averages or, for
`standardize_batch.use_moving_averages = False`, statistics accumulated here with the
evaluation protocol's seed tree (gans/latents.py). One process builds it once: the
train_and_eval schedule shares it between its evaluator and its exporter.
"""

from typing import Callable, List, Optional, Sequence

import keras
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import normalization
from compare_gan.gans import latents
from compare_gan.gans import model as model_lib


class InferenceModel:
  """G (raw and EMA) and D of one run (those its family has), restorable from its checkpoints.

  Args:
    image_shape, num_classes: the run's data (from its dataset's info).
  """

  def __init__(self, image_shape: Sequence[int], num_classes: Optional[int]):
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
      self.model = model_lib.build(image_shape, num_classes)
    finally:
      keras.mixed_precision.set_global_policy(policy)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    items = {k: v for k, v in self.model.checkpoint_items().items()
             if k in ("generator", "generator_ema", "discriminator")}
    self.checkpoint = tf.train.Checkpoint(step=self.step, **items)
    self._sample_fns = {}

  @property
  def has_ema(self) -> bool:
    return self.model.generator_ema is not None

  def resolve_use_ema(self, use_ema: Optional[bool], setting: str) -> bool:
    """`use_ema`, or whether the run has EMA weights when it is None.

    Raises:
      ValueError: `use_ema` is True for a run trained without EMA (`setting` names the flag).
    """
    if use_ema and not self.has_ema:
      raise config.ConfigError(f"{setting}=True, but the run was trained without EMA "
                               f"(the {type(self.model).__name__} has no EMA generator; "
                               "ModularGAN.g_use_ema = True trains one).")
    return self.has_ema if use_ema is None else bool(use_ema)

  def restore(self, checkpoint_path: str) -> int:
    """Loads G, its EMA copy, D and the step of a checkpoint; returns the step."""
    self.checkpoint.restore(checkpoint_path).expect_partial().assert_existing_objects_matched()
    return int(self.step.numpy())

  def generator(self, use_ema: bool) -> base.Generator:
    return self.model.sampling_generator if use_ema else self.model.generator

  def sample_fn(self, use_ema: bool) -> Callable[..., tf.Tensor]:
    """`(z [B, z_dim], labels int32 [B] or None) -> images [B, *image_shape]` in [0, 1], one
    traced function per weight set."""
    if use_ema not in self._sample_fns:
      model = self.model

      # reduce_retracing: the last, smaller chunk of an evaluation run is not a new trace.
      @tf.function(autograph=False, reduce_retracing=True)
      def sample(z, labels):
        return model.sample(z, labels if model.conditional else None, use_ema=use_ema)
      self._sample_fns[use_ema] = sample
    return self._sample_fns[use_ema]

  def accumulating_standardizers(self, use_ema: bool) -> List[normalization.Standardize]:
    """G's batch-norm layers that normalise with accumulated statistics."""
    return [s for s in normalization.standardizers(self.generator(use_ema))
            if not s.use_moving_averages]

  def accumulate_bn_statistics(self, use_ema: bool, z_distribution: latents.LatentDistribution,
                               *, samples: int, batch_size: int, seed: int) -> None:
    """Accumulates G's batch-norm statistics (when it uses them) over `samples` samples drawn
    as evaluation draws them (`latents.accumulate_bn_statistics`)."""
    model = self.model

    def draw(seed_tensor, n):
      return latents.draw_latents(z_distribution, model.z_dim, model.num_classes, seed_tensor, n)

    latents.accumulate_bn_statistics(self.sample_fn(use_ema),
                                     self.accumulating_standardizers(use_ema), draw,
                                     samples=samples, batch_size=batch_size, seed=seed)
