"""TensorBoard summaries of a run (`model_dir/tb/`): loss scalars and image grids.

Scalars (every `train.summary_every_steps`): loss/d, loss/d_real, loss/d_fake, loss/g,
loss/penalty, d/real_logits, d/fake_logits (mean D outputs); BEGAN's began/k_t and
began/convergence; the VAE's loss/vae, loss/nll and loss/kl; SSGAN's and S3GAN's rotation/*
(the rotation task's loss and accuracy on reals and fakes); S3GAN's s3gan/class_loss,
s3gan/class_accuracy, s3gan/label_fraction; speed/steps_per_sec,
speed/images_per_sec. Images (every `train.image_summary_every_steps`): `samples`, an 8x8 grid of
G's (EMA) samples on a fixed z, and `real`, a grid of real training images (written once),
tiled by the one image-grid function (data/images.py). 2-D point data are drawn as the one
scatter picture (data/images.py), as the galleries draw them.
"""

from typing import Dict

import numpy as np
import tensorflow as tf

from compare_gan.data import images as images_lib

SCALARS = {
    "d_loss": "loss/d", "d_loss_real": "loss/d_real", "d_loss_fake": "loss/d_fake",
    "g_loss": "loss/g", "penalty": "loss/penalty", "d_real_logits": "d/real_logits",
    "d_fake_logits": "d/fake_logits",
    # BEGAN (gans/began.py): the equilibrium variable and the convergence measure M.
    "k_t": "began/k_t", "convergence": "began/convergence",
    # VAE (gans/vae.py): the loss and its two terms.
    "loss": "loss/vae", "nll": "loss/nll", "kl": "loss/kl",
    # SSGAN and S3GAN (gans/rotation.py): the rotation task on real and fake images.
    "rotation_loss_real": "rotation/loss_real", "rotation_loss_fake": "rotation/loss_fake",
    "rotation_accuracy_real": "rotation/accuracy_real",
    "rotation_accuracy_fake": "rotation/accuracy_fake",
    # S3GAN (gans/s3gan.py): the D-side classifier on the labelled reals.
    "class_loss": "s3gan/class_loss", "class_accuracy": "s3gan/class_accuracy",
    "label_fraction": "s3gan/label_fraction",
}


def as_picture(examples: np.ndarray) -> np.ndarray:
  """A batch of images or 2-D points -> one [H, W, C] picture."""
  examples = np.asarray(examples)
  if examples.ndim == 2:
    return images_lib.scatter_picture(examples).astype(np.float32)
  images = np.clip(examples.astype(np.float32), 0.0, 1.0)
  return images_lib.make_grid(images, columns=int(np.ceil(len(images) / 8)), padding=0,
                            pad_value=0.0)


class Summaries:
  """Writes a run's TensorBoard events; a no-op on non-chief workers."""

  def __init__(self, directory: str, enabled: bool = True):
    self.writer = tf.summary.create_file_writer(directory) if enabled else None

  def scalars(self, step: int, values: Dict[str, float]) -> None:
    if self.writer is None:
      return
    with self.writer.as_default(step=step):
      for key, value in values.items():
        tf.summary.scalar(SCALARS.get(key, key), value)

  def picture(self, step: int, name: str, examples: np.ndarray) -> None:
    if self.writer is None:
      return
    with self.writer.as_default(step=step):
      tf.summary.image(name, as_picture(examples)[None], max_outputs=1)

  def flush(self) -> None:
    if self.writer is not None:
      self.writer.flush()
