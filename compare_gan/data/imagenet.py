"""ImageNet (ILSVRC 2012, tfds `imagenet2012`) as the reference's `imagenet_64`, `imagenet_128`
and `imagenet_256` (compare_gan v3 `datasets.py`, `ImagenetDataset`).

The data: 1000 classes, labels int32; split "train" (1,281,167 images) streams like celeb_a and
lsun (blocks of `dataset.shuffle_window` records shuffled, exact resume, see data/base.py), and
split "validation" (50,000) is the eval split, all of it scored (the reference's
`eval_test_samples`). Each example's key is its tfds `file_name` (`n01440764_10026.JPEG`,
`ILSVRC2012_val_00000001.JPEG`), which label files and `dataset.labeled_fraction` use.
imagenet2012 is a manual-download tfds dataset: nothing here downloads, and a missing dataset is
the one-line error that says where to put the archives and how to prepare them.

Preprocessing, as the reference's `_transform_imagent_image`: decode, crop by gin
`train_imagenet_transform.crop_method` (training stream; default "distorted") or
`eval_imagenet_transform.crop_method` (eval passes; default "middle"), resize to the resolution
with TF1's bilinear `resize_images` (`ResizeBilinear`, no half-pixel centres), divide by 255.
No flip. The crop methods:
  distorted  a random square of 50-100 % of the image's area (`sample_distorted_bounding_box`,
             aspect ratio 1, whole-image box); when 100 attempts find none (an image whose
             sides differ by more than a factor 2 has no square that large) the whole image,
             which the resize then squashes, as the reference does
  random     the largest square (side min(H, W)) at a uniformly random place
  middle     the largest square in the centre (top-left corner floor((H - s) / 2, (W - s) / 2))
  none       the whole image, squashed to a square by the resize
Random crops draw from the stateless seed `base.draw_seed`: the train seed and the example's
global stream position, so a resumed stream crops exactly as the uninterrupted one did, and each
epoch crops afresh; eval passes key them by the dataset seed and the offset in the split.
"""

from typing import Callable, Optional

import gin
import tensorflow as tf

from compare_gan import config
from compare_gan.data import base
from compare_gan.data import streaming
from compare_gan.data import tfds as tfds_access

TFDS_NAME = "imagenet2012"
RESOLUTIONS = (64, 128, 256)
NUM_CLASSES = 1000
EVAL_SIZE = 50000  # The reference's `eval_test_samples`: the whole validation split.
CROP_METHODS = ("distorted", "random", "middle", "none")
# Reference `sample_distorted_bounding_box` arguments of the "distorted" crop.
DISTORTED_AREA_RANGE = (0.5, 1.0)
_NO_BOXES = (0, 0, 4)  # Shape of an empty box list: crop within the whole image.


def _check_crop_method(setting: str, crop_method: str) -> str:
  if crop_method not in CROP_METHODS:
    raise config.ConfigError(f"{setting}.crop_method = {crop_method!r} is not a crop method; "
                             f"valid: {list(CROP_METHODS)}.")
  return crop_method


@gin.configurable("train_imagenet_transform")
def train_crop_method(crop_method: str = "distorted") -> str:
  """gin `train_imagenet_transform.crop_method`: the crop of the training stream."""
  return _check_crop_method("train_imagenet_transform", crop_method)


@gin.configurable("eval_imagenet_transform")
def eval_crop_method(crop_method: str = "middle") -> str:
  """gin `eval_imagenet_transform.crop_method`: the crop of eval passes (metrics, clustering)."""
  return _check_crop_method("eval_imagenet_transform", crop_method)


def crop(image: tf.Tensor, crop_method: str, draw_seed: Optional[tf.Tensor] = None) -> tf.Tensor:
  """The crop of one image: [H, W, C] -> [h, w, C] (see the module docstring for the methods).

  Args:
    image: any dtype, [H, W, C].
    crop_method: one of CROP_METHODS.
    draw_seed: int64 [2], the stateless seed of "distorted" and "random" (unused otherwise).
  """
  _check_crop_method("crop", crop_method)
  if crop_method == "none":
    return image
  if crop_method == "distorted":
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), tf.zeros(_NO_BOXES, tf.float32), seed=draw_seed,
        aspect_ratio_range=[1.0, 1.0], area_range=list(DISTORTED_AREA_RANGE),
        use_image_if_no_bounding_boxes=True)
    return tf.slice(image, begin, size)
  shape = tf.shape(image)
  side = tf.minimum(shape[0], shape[1])
  room = tf.stack([shape[0] - side, shape[1] - side])
  if crop_method == "random":  # Reference: floor([H - s, W - s] * U[0, 1)^2).
    fraction = tf.random.stateless_uniform([2], seed=draw_seed)
    corner = tf.cast(tf.cast(room, tf.float32) * fraction, tf.int32)
  else:  # middle
    corner = room // 2
  return tf.slice(image, tf.concat([corner, [0]], 0), tf.stack([side, side, shape[2]]))


def transform(image: tf.Tensor, resolution: int, crop_method: str,
              draw_seed: Optional[tf.Tensor] = None) -> tf.Tensor:
  """One decoded image uint8 [H, W, 3] -> float32 [resolution, resolution, 3] in [0, 1]:
  `crop`, then TF1 `resize_images` (bilinear, align_corners=False, no half-pixel centres)."""
  cropped = tf.cast(crop(image, crop_method, draw_seed), tf.float32)
  resized = tf.raw_ops.ResizeBilinear(images=cropped[None], size=[resolution, resolution],
                                      align_corners=False, half_pixel_centers=False)[0]
  return tf.ensure_shape(resized / 255.0, [resolution, resolution, 3])


class ImagenetDataset(streaming.TfdsStreamingDataset):
  """imagenet2012 read as a stream with labels and `file_name` keys, cropped by gin's
  `train_imagenet_transform` / `eval_imagenet_transform` (read when the dataset is built)."""

  def __init__(self, info: base.DatasetInfo, *, seed: int, shuffle_window: int, builder,
               ranges, resolution: int):
    super().__init__(info, seed=seed, shuffle_window=shuffle_window, builder=builder,
                     ranges=ranges, decode=None, finish=None, label_feature="label",
                     key_feature="file_name")
    self._resolution = resolution
    self._crop_methods = {True: train_crop_method(), False: eval_crop_method()}

  @property
  def crop_methods(self) -> dict:
    """{"train": crop method of the training stream, "eval": of eval passes}."""
    return {"train": self._crop_methods[True], "eval": self._crop_methods[False]}

  def _decode(self, record, draw_seed, training):
    image = transform(streaming.decode_rgb(record["image"]), self._resolution,
                      self._crop_methods[training], draw_seed)
    return dict(self._labels(record), images=image)

  def _finish(self, batch):
    return batch  # Already float32 in [0, 1] at the resolution.


def imagenet(resolution: int) -> Callable[..., ImagenetDataset]:
  """The builder of `imagenet_<resolution>` for the registry (data/__init__.py)."""
  name = f"imagenet_{resolution}"

  def build(*, seed: int, tfds_data_dir: Optional[str],
            shuffle_window: Optional[int]) -> ImagenetDataset:
    builder = tfds_access.tfds_builder(name, TFDS_NAME, tfds_data_dir)
    sizes = {split: tfds_access.tfds_split_size(name, TFDS_NAME, builder, split, tfds_data_dir)
             for split in ("train", "validation")}
    info = base.DatasetInfo(name=name, image_shape=(resolution, resolution, 3),
                            num_classes=NUM_CLASSES, train_split="train",
                            eval_split="validation",
                            eval_size=min(EVAL_SIZE, sizes["validation"]),
                            num_train_examples=sizes["train"])
    window = base.DEFAULT_SHUFFLE_WINDOW if shuffle_window is None else shuffle_window
    return ImagenetDataset(info, seed=seed, shuffle_window=window, builder=builder,
                           ranges={split: (split, 0, size) for split, size in sizes.items()},
                           resolution=resolution)

  return build
