"""The model-family contract: what a GAN family gives the runtime, and what families share.

A *family* is a training recipe with its own networks and step (ModularGAN, BEGAN, VAE, SSGAN,
S3GAN; the last two are ModularGANs with more, built on its hooks: gans/modular_gan.py). gin
chooses one with `model.family` (gans/model.py); the training loop (training/loop.py), the
inference model (gans/inference.py), evaluation, export and sampling then use only this
contract, never a concrete family. A family is a class, gin-configurable under its own name,
built as `Family(image_shape, num_classes, seed=..., jit_compile=...)` inside
`strategy.scope()`, where it creates all its state eagerly. It provides:

  image_shape            the data's example shape, e.g. (28, 28, 1)
  num_classes            classes the model is conditioned on, or None
  conditional            bool; sample() then takes int labels [B]
  z, z_dim               the latent distribution (latents.LatentDistribution) and dimension
  architecture           the registered architecture of G (export metadata)
  generator              base.Generator: z [B, z_dim] (+ one-hot y) -> images in [0, 1] (the VAE's
                         decoder); `generator_ema` its EMA copy or None; `sampling_generator` the
                         one sample() uses by default
  discriminator          a Keras layer, `(images, y=None, training) -> (scores [B, 1],
                         features)`, with `conditional` and `num_classes` (the labels its call
                         takes), or None (the VAE has an encoder instead, and export leaves D
                         out); D's optimizer trains all its variables and checkpoints hold
                         them, so a family's extra D heads live inside it (SSGAN's rotation
                         head: gans/rotation.py `DiscriminatorWithHeads`)
  disc_iters             D updates per step (0 for the VAE); `step` always counts G updates
  train_step(batches, step, seed, global_batch_size) -> {term: scalar}
                         one step inside `strategy.run`; `batches` holds
                         `real_batches_per_step(model)` per-replica batches; each term is this
                         replica's share (the loop sums the replicas)
  sample(z, labels=None, use_ema=True) -> images [B, *image_shape] in inference mode
  checkpoint_items()     {name: trackable} a checkpoint must hold; "generator", "generator_ema"
                         and "discriminator" are what the inference model restores

and optionally (defaults are ModularGAN's, read through the functions below):

  real_batches_per_step  real batches one step consumes (default disc_iters + 1); the loop
                         draws them and checks a resumed run's data position against it
  progress_terms         the terms on the progress line (default d_loss, g_loss, penalty)
  discriminator_output   the name of D's [B, 1] output in the export (default "logits")
  checkpoint_metrics()   {term: (metric name, protocol card)}: at every checkpoint the loop
                         appends the term's mean over the steps since the previous checkpoint to
                         metrics.jsonl (default none)
  discriminator_heads()  {name: fn(images, y=None, training=None) -> [B, k]}: outputs of D
                         beside its score that the export adds as functions and signatures of
                         that name, e.g. SSGAN's "rotation_logits" (default none)
  accepts_unlabeled_examples  True when a negative label means "unlabelled" (S3GAN); a
                         conditional family without it refuses a labelled fraction < 1, and
                         its training stream fails on an example a label file leaves unlabelled
  encoder                a network beyond G and D, counted in the parameter summary

What the loop writes from the terms: every term as a TensorBoard scalar each
`train.summary_every_steps` (training/summaries.py names), `progress_terms` on the progress
line, a NaN/Inf in any term stops the run, and the checkpoint metrics above.

What the families' training steps share (optimizer preparation, the per-replica rows of
global-batch draws, layer-state bookkeeping, the XLA check) is in gans/shared_step.py.
"""

from typing import Callable, Dict, Tuple

import keras
import numpy as np
import tensorflow as tf

# ModularGAN's values of the optional parts.
_PROGRESS_TERMS = ("d_loss", "g_loss", "penalty")
_DISCRIMINATOR_OUTPUT = "logits"


# ----------------------------------------------------------------------------------------------
# The optional parts of the contract
# ----------------------------------------------------------------------------------------------

def family_name(model) -> str:
  """The family's gin name: "ModularGAN", "BEGAN", "VAE", "SSGAN", "S3GAN"."""
  return type(model).__name__


def real_batches_per_step(model) -> int:
  """Real batches one training step consumes."""
  count = getattr(model, "real_batches_per_step", None)
  return int(model.disc_iters) + 1 if count is None else int(count)


def progress_terms(model) -> Tuple[str, ...]:
  return tuple(getattr(model, "progress_terms", _PROGRESS_TERMS))


def discriminator_output(model) -> str:
  return str(getattr(model, "discriminator_output", _DISCRIMINATOR_OUTPUT))


def checkpoint_metrics(model) -> Dict[str, Tuple[str, dict]]:
  method = getattr(model, "checkpoint_metrics", None)
  return dict(method()) if method is not None else {}


def accepts_unlabeled_examples(model) -> bool:
  """Whether the family reads a negative label as "unlabelled" (S3GAN); for the others every
  training example of a conditional model needs a label."""
  return bool(getattr(model, "accepts_unlabeled_examples", False))


def discriminator_heads(model) -> Dict[str, Callable[..., tf.Tensor]]:
  """{output name: fn(images, y=None, training=None) -> [B, k]} the export adds beside D's
  score (SSGAN's and S3GAN's rotation logits ...); none by default."""
  method = getattr(model, "discriminator_heads", None)
  return dict(method()) if method is not None else {}


def networks(model) -> Dict[str, keras.layers.Layer]:
  """{"G": generator, "D": discriminator, "encoder": encoder}, the ones the family has."""
  out = {"G": model.generator, "D": model.discriminator, "encoder": getattr(model, "encoder",
                                                                           None)}
  return {name: net for name, net in out.items() if net is not None}


def parameter_summary(model) -> str:
  """"G 1,234 / D 5,678 parameters" (trainable), for the training log."""
  count = lambda m: sum(int(np.prod(v.shape)) for v in m.trainable_variables)
  return " / ".join(f"{name} {count(net):,}" for name, net in networks(model).items()) + \
      " parameters"
