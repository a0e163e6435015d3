"""Datasets by name: a registry of input-pipeline builders (reference `compare_gan/datasets.py`).

`get_dataset()` (gin: `dataset.name = 'cifar10'`) or `build_dataset(name)` returns a `Dataset`:
its `info` (shapes, splits, eval size) plus two `tf.data` pipelines whose elements are dicts
`{"images": float32 [b, *info.image_shape] in [0, 1]}`, with `"labels": int32 [b]` exactly when
`info.num_classes` is not None (for the 2-D mixtures "images" holds points [b, 2]).

The input pipelines live beside this registry: `base.py` (the `Dataset` interface and its
exact-resume contract), `random_access.py` (in-memory arrays, generated data, image folders),
`streaming.py` (tfds and TFRecord streams), `tfds.py` (TFDS access) and `synthetic.py` (the
built-in procedural data); this module names them.

| name              | source               | shape     | classes | train / eval split       | eval |
|-------------------|----------------------|-----------|---------|--------------------------|------|
| mnist             | tfds, in memory      | 28,28,1   | 10      | train / test             | 10000|
| fashion_mnist     | tfds, in memory      | 28,28,1   | 10      | train / test             | 10000|
| cifar10           | tfds, in memory      | 32,32,3   | 10      | train / test             | 10000|
| celeb_a           | tfds, streamed       | 64,64,3   | None    | train / test             | 10000|
| imagenet_64       | tfds imagenet2012,   | 64,64,3   | 1000    | train / validation       | 50000|
| imagenet_128      |   streamed (manual   | 128,128,3 | 1000    | train / validation       | 50000|
| imagenet_256      |   download)          | 256,256,3 | 1000    | train / validation       | 50000|
| celeb_a_hq_128    | tfds celeb_a_hq/128  | 128,128,3 | None    | tfds train 0-90%/90-100% | 3000 |
| lsun_bedroom_128  | tfds lsun/bedroom    | 128,128,3 | None    | tfds train 0-99%/99-100% | 30000|
| triangles/squares | generated polygons   | 28,28,1   | None    | [0, 60k) / [60k, 70k)    | 10000|
| ring8, grid25     | generated 2-D points | 2         | None    | [0, 100k) / [100k, 110k) | 10000|
| image_folder      | image files (gin)    | r,r,C     | None    | train / test (fraction)  | <=10k|
| tfrecord          | TFRecord glob (gin)  | r,r,C     | gin     | train / test (2nd glob)  | <=10k|
ImageNet (data/imagenet.py) crops by gin `train_imagenet_transform.crop_method` ("distorted",
a random square of 50-100 % of the area; "random", "middle", "none") and
`eval_imagenet_transform.crop_method` ("middle"), then resizes as TF1 did.
Polygons also have split "val" = [70k, 80k) (the reference's 80,000 instances); celeb_a and lsun
also expose tfds "validation". `fashion-mnist` and `lsun-bedroom` are the reference's spellings.
Percentage boundaries are `round(total * fraction)`, so the two sides never overlap.
Generated polygon splits are rendered once per machine and cached under
`$COMPARE_GAN_CACHE_DIR/datasets` (default `~/.cache/compare_gan/datasets`; see
`random_access.py` on the cache and how to clear it).

Preprocessing (reference section 7): uint8 / 255. celeb_a: `tf.image.resize_with_crop_or_pad` to
160x160, then `tf.raw_ops.ResizeBilinear(align_corners=False, half_pixel_centers=False)` to 64x64,
which is TF1's `tf.image.resize_images` (plain `tf.image.resize` uses half-pixel centres and
shifts the images, hence FID). lsun: centre crop_or_pad to 128x128, no resize. image_folder and
tfrecord: centre crop to a square, then `tf.image.resize(bilinear, antialias=True)`.

Labels other than a dataset's own (data/base.py and data/label_files.py): gin
`dataset.labeled_fraction` f in (0, 1] keeps the labels of about f of the training examples (a
keyed hash of each example's key with `dataset.labeled_seed`; the same subset in every epoch,
after resume and for every training seed) and gives the others -1 ("unlabelled", as S3GAN
reads it); eval passes keep all labels. `dataset.label_file = 'labels.npz'` replaces the labels
of every split by example key (ImageNet: tfds file_name; the in-memory and generated datasets:
"<split>:<offset>"), -1 for an example the file does not name, and `info.num_classes` becomes
the file's. `info.labels` records fraction, seed, rule, file path and sha256 for the protocol
card. The streaming datasets other than ImageNet have no example keys and refuse both.

TFDS data are never downloaded here: a missing dataset raises at construction with the command
that prepares it (`tfds build NAME --data_dir DIR`). Bad files fail with one line naming the file
and the fix: at construction where a cheap look shows them (every image file's first bytes, a
TFRecord split's first record: ValueError), else when the pipeline reaches them (a truncated
image: `base.input_error_line` extracts the line from the tf.errors.InvalidArgumentError).
"""

import os
from typing import Callable, Dict, Optional, Tuple

import gin
import numpy as np
import tensorflow as tf

from compare_gan import config
from compare_gan.data import base
from compare_gan.data import imagenet
from compare_gan.data import label_files
from compare_gan.data import random_access
from compare_gan.data import streaming
from compare_gan.data import synthetic
from compare_gan.data import tfds as tfds_access

# =============================================================================================
# Builders and the registry.
# =============================================================================================

DatasetBuilder = Callable[..., base.Dataset]
DATASETS: Dict[str, DatasetBuilder] = {}
STREAMING_DATASETS = ("celeb_a", "celeb_a_hq_128", "lsun_bedroom_128", "tfrecord") + tuple(
    f"imagenet_{r}" for r in imagenet.RESOLUTIONS)


def register_dataset(name: str, builder: DatasetBuilder) -> None:
  """Registers `builder(*, seed, tfds_data_dir, shuffle_window, **options) -> base.Dataset`."""
  if name in DATASETS:
    raise ValueError(f"Dataset {name!r} is already registered; registered: {sorted(DATASETS)}.")
  DATASETS[name] = builder


def build_dataset(name: str, *, seed: int = base.DEFAULT_SEED, tfds_data_dir: Optional[str] = None,
                  shuffle_window: Optional[int] = None, labeled_fraction: float = 1.0,
                  labeled_seed: int = 0, label_file: Optional[str] = None,
                  **options) -> base.Dataset:
  """The registered dataset `name`, without gin (options go to the builder, e.g. `path=`).

  Args:
    name: a key of `DATASETS`.
    seed: dataset seed; fixes the content of generated datasets (not the training order, which
      `train_input(seed=...)` sets).
    tfds_data_dir: where prepared TFDS datasets live (None: TFDS' default); other sources
      ignore it.
    shuffle_window: block size of the streaming sources' shuffle (None: 10000); an error for
      random-access sources, whose epochs are exact permutations.
    labeled_fraction: share in (0, 1] of the training examples that keep their label (see the
      module docstring); 1.0 keeps all.
    labeled_seed: seed of that subset.
    label_file: a label file (data/label_files.py) replacing the labels by key, or None.
    **options: builder-specific arguments (`image_folder`, `tfrecord`).

  Raises:
    ValueError: unknown name (listing the registered ones), bad options, a label file that is
      invalid or made for other data, or a labelled fraction the dataset cannot take.
    FileNotFoundError: data not found (with how to prepare it).
  """
  try:
    builder = DATASETS[name]
  except (KeyError, TypeError):
    raise config.ConfigError(f"Unknown dataset {name!r}; registered datasets: {sorted(DATASETS)}."
                             ) from None
  base.check_labeled_subset(labeled_fraction, labeled_seed)
  dataset = builder(seed=seed, tfds_data_dir=tfds_data_dir, shuffle_window=shuffle_window,
                    **options)
  if labeled_fraction != 1.0 or label_file is not None:
    label_files.relabel(dataset, labeled_fraction=labeled_fraction, labeled_seed=labeled_seed,
                        label_file=label_file)
  return dataset


@gin.configurable("dataset")
def get_dataset(name: str = gin.REQUIRED, seed: int = base.DEFAULT_SEED,
                tfds_data_dir: Optional[str] = None,
                shuffle_window: Optional[int] = None, labeled_fraction: float = 1.0,
                labeled_seed: int = 0, label_file: Optional[str] = None) -> base.Dataset:
  """`build_dataset` configured by gin: `dataset.name = 'cifar10'`, `dataset.seed = 547`,
  `dataset.labeled_fraction = 0.1`, `dataset.label_file = 'clusters.npz'`."""
  return build_dataset(name, seed=seed, tfds_data_dir=tfds_data_dir,
                       shuffle_window=shuffle_window, labeled_fraction=labeled_fraction,
                       labeled_seed=labeled_seed, label_file=label_file)


def _no_shuffle_window(name: str, shuffle_window: Optional[int]) -> None:
  if shuffle_window is not None:
    raise config.ConfigError(
        f"shuffle_window={shuffle_window} applies to the streaming datasets "
        f"{list(STREAMING_DATASETS)} only; {name!r} is random-access and every "
        f"epoch is an exact permutation. Leave dataset.shuffle_window unset.")


def _in_memory_tfds(name: str, tfds_name: str, image_shape: Tuple[int, ...],
                    num_classes: int) -> DatasetBuilder:
  """Builder of a small labelled tfds dataset: train / test, eval on 10k test examples."""

  def build(*, seed: int, tfds_data_dir: Optional[str],
            shuffle_window: Optional[int]) -> random_access.InMemoryDataset:
    _no_shuffle_window(name, shuffle_window)
    builder = tfds_access.tfds_builder(name, tfds_name, tfds_data_dir)
    sizes = {split: tfds_access.tfds_split_size(name, tfds_name, builder, split, tfds_data_dir)
             for split in ("train", "test")}
    info = base.DatasetInfo(name=name, image_shape=image_shape, num_classes=num_classes,
                       train_split="train", eval_split="test",
                       eval_size=min(base.DEFAULT_EVAL_SIZE, sizes["test"]),
                       num_train_examples=sizes["train"])
    return random_access.InMemoryDataset(info, seed=seed, split_sizes=sizes,
                           load=lambda split: tfds_access.load_tfds_split(builder, split, with_labels=True))

  return build


def _streaming_tfds(name: str, tfds_name: str, image_shape: Tuple[int, ...],
                    splits: Dict[str, Tuple[str, float, float]], eval_split: str,
                    eval_size: int, decode: Callable[[tf.Tensor], tf.Tensor],
                    finish: Callable[[tf.Tensor], tf.Tensor]) -> DatasetBuilder:
  """Builder of an unlabelled streaming tfds dataset.

  `splits`: our split -> (tfds split, start fraction, end fraction), resolved to record ranges
  with `round(total * fraction)` once the tfds split sizes are known.
  """

  def build(*, seed: int, tfds_data_dir: Optional[str],
            shuffle_window: Optional[int]) -> streaming.TfdsStreamingDataset:
    builder = tfds_access.tfds_builder(name, tfds_name, tfds_data_dir)
    totals = {tfds_split: tfds_access.tfds_split_size(name, tfds_name, builder, tfds_split, tfds_data_dir)
              for tfds_split, _, _ in splits.values()}
    ranges = {split: (tfds_split, round(totals[tfds_split] * lo),
                      round(totals[tfds_split] * hi))
              for split, (tfds_split, lo, hi) in splits.items()}
    for split, (tfds_split, lo, hi) in ranges.items():
      if hi <= lo:
        raise ValueError(f"Split {split!r} of dataset {name!r} would be empty: records "
                         f"[{lo}, {hi}) of the {totals[tfds_split]} in tfds split "
                         f"{tfds_split!r}.")

    def size(split):
      return ranges[split][2] - ranges[split][1]

    info = base.DatasetInfo(name=name, image_shape=image_shape, num_classes=None,
                       train_split="train", eval_split=eval_split,
                       eval_size=min(eval_size, size(eval_split)),
                       num_train_examples=size("train"))
    window = base.DEFAULT_SHUFFLE_WINDOW if shuffle_window is None else shuffle_window
    return streaming.TfdsStreamingDataset(info, seed=seed, shuffle_window=window, builder=builder,
                                ranges=ranges, decode=decode, finish=finish)

  return build


def _celeb_a_crop(image: tf.Tensor) -> tf.Tensor:
  # Reference: centre crop (or pad) the 218x178 faces to 160x160; resized per batch below.
  return tf.image.resize_with_crop_or_pad(image, 160, 160)


def _celeb_a_resize(images: tf.Tensor) -> tf.Tensor:
  # TF1 `resize_images` (bilinear, align_corners=False, no half-pixel centres), on the batch.
  images = tf.raw_ops.ResizeBilinear(images=tf.cast(images, tf.float32), size=[64, 64],
                                     align_corners=False, half_pixel_centers=False)
  return images / 255.0


def _celeb_a_hq_check(image: tf.Tensor) -> tf.Tensor:
  return streaming.assert_image_size(image, 128, 128, "celeb_a_hq_128")


def _lsun_crop(image: tf.Tensor) -> tf.Tensor:
  # Reference: centre crop (or pad) to 128x128, no resize.
  return tf.image.resize_with_crop_or_pad(image, 128, 128)


def _generated(name: str, image_shape: Tuple[int, ...], split_ranges: Dict[str, Tuple[int, int]],
               make_generate: Callable[[int], Callable[[np.ndarray], np.ndarray]], *,
               levels: Optional[int], cache_version: Optional[str]) -> DatasetBuilder:
  """Builder of a generated dataset; `make_generate(seed)` is its index -> data function.

  `levels`: the data are multiples of 1/levels, kept as uint8 counts (None: float32);
  `cache_version`: the generator's version, which keys the machine-wide cache of rendered
  splits (None: no cache). See `random_access.GeneratedDataset`.
  """

  def build(*, seed: int, tfds_data_dir: Optional[str],
            shuffle_window: Optional[int]) -> random_access.GeneratedDataset:
    del tfds_data_dir  # No files.
    _no_shuffle_window(name, shuffle_window)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
        0 <= seed < 2**64):
      raise ValueError(f"The seed of generated dataset {name!r} must be an integer in "
                       f"[0, 2^64); got {seed!r}.")
    info = base.DatasetInfo(name=name, image_shape=image_shape, num_classes=None,
                       train_split="train", eval_split="test",
                       eval_size=min(base.DEFAULT_EVAL_SIZE, split_ranges["test"][1]),
                       num_train_examples=split_ranges["train"][1])
    return random_access.GeneratedDataset(info, seed=seed, split_ranges=split_ranges,
                                          generate=make_generate(seed), levels=levels,
                                          cache_version=cache_version)

  return build


def _polygons(n_vertices: int) -> Callable[[int], Callable[[np.ndarray], np.ndarray]]:
  return lambda seed: lambda indices: synthetic.convex_polygon_images(
      indices, seed=seed, n_vertices=n_vertices)


def _mixture(name: str) -> Callable[[int], Callable[[np.ndarray], np.ndarray]]:
  return lambda seed: lambda indices: synthetic.mixture_points(
      indices, seed=seed, name=name)[0]


# Reference convex-polygon data: 80,000 instances, 60k train, 10k test, 10k hold-out ("val").
_POLYGON_SPLITS = {"train": (0, 60000), "test": (60000, 10000), "val": (70000, 10000)}
_MIXTURE_SPLITS = {"train": (0, 100000), "test": (100000, 10000)}
# Polygon grey levels are multiples of 1 / subpixel_res^2 (`convex_polygon_images`' default
# subpixel_res = 8), stored as uint8 counts; rendering 60k takes ~1.6 s, so splits are cached
# on disk. 100k mixture points take ~20 ms: rendering them is as fast as reading a cache file.
_POLYGON_LEVELS = 8 * 8
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@gin.configurable("image_folder", denylist=["seed", "tfds_data_dir", "shuffle_window"])
def image_folder(path: str = gin.REQUIRED, resolution: int = gin.REQUIRED,
                 eval_fraction: float = 0.0, channels: int = 3,
                 eval_size: int = base.DEFAULT_EVAL_SIZE, *, seed: int = base.DEFAULT_SEED,
                 tfds_data_dir: Optional[str] = None,
                 shuffle_window: Optional[int] = None) -> random_access.ImageFolderDataset:
  """Images under `path` (recursive; .png .jpg .jpeg .bmp .gif, any case), sorted by path.

  Each file is decoded (grayscale expanded to RGB, alpha dropped, a GIF's first frame), centre
  cropped to a square and resized to resolution x resolution (bilinear, antialiased); with
  channels=1 converted to grayscale. A file that is no image (by its first bytes, all read
  here) is a ValueError now; a truncated or corrupt one fails the pipeline when it is reached,
  with a line naming it (`data.base.input_error_line`).

  Args:
    path: folder (any tf.io.gfile path).
    resolution: side of the square output images.
    eval_fraction: share of files held out as split "test": round(fraction * N) files chosen by a
      fixed permutation (seed 0, independent of `seed`), so the same folder always splits the
      same way. 0: no hold-out, eval split = "train".
    channels: 3 (RGB) or 1 (grayscale).
    eval_size: examples the metrics use, capped at the eval split's size.
    seed, tfds_data_dir, shuffle_window: see `build_dataset` (none of them applies here).

  Raises:
    FileNotFoundError: the folder is missing or holds no image file.
    ValueError: bad resolution, channels or eval_fraction; a file that is no image.
  """
  del tfds_data_dir  # Files are found by path.
  _no_shuffle_window("image_folder", shuffle_window)
  resolution = base.positive_int("image_folder.resolution", resolution)
  if channels not in (1, 3):
    raise config.ConfigError(f"image_folder.channels must be 1 or 3; got {channels!r}.")
  if not 0.0 <= eval_fraction < 1.0:
    raise config.ConfigError(
        f"image_folder.eval_fraction must be in [0, 1); got {eval_fraction!r}.")
  if not tf.io.gfile.isdir(path):
    raise config.ConfigError(f"image_folder.path {path!r} is not a folder.")
  paths = sorted(
      os.path.join(folder, file) for folder, _, files in tf.io.gfile.walk(path)
      for file in files if file.lower().endswith(IMAGE_EXTENSIONS))
  if not paths:
    raise FileNotFoundError(f"image_folder: no image files under {path!r} (searched "
                            f"recursively for extensions {list(IMAGE_EXTENSIONS)}).")
  split_files = {"train": np.arange(len(paths))}
  if eval_fraction > 0:
    n_eval = round(eval_fraction * len(paths))
    if not 1 <= n_eval < len(paths):
      raise config.ConfigError(
          f"image_folder.eval_fraction={eval_fraction} of {len(paths)} files "
          f"leaves {n_eval} eval and {len(paths) - n_eval} training files; both "
          f"must be at least 1.")
    held_out = np.zeros(len(paths), bool)
    held_out[np.random.default_rng(0).permutation(len(paths))[:n_eval]] = True
    split_files = {"train": np.flatnonzero(~held_out), "test": np.flatnonzero(held_out)}
  eval_split = "test" if "test" in split_files else "train"
  info = base.DatasetInfo(name="image_folder", image_shape=(resolution, resolution, channels),
                     num_classes=None, train_split="train", eval_split=eval_split,
                     eval_size=min(base.positive_int("image_folder.eval_size", eval_size),
                                   len(split_files[eval_split])),
                     num_train_examples=len(split_files["train"]))
  return random_access.ImageFolderDataset(info, seed=seed, paths=paths, split_files=split_files,
                            resolution=resolution, channels=channels)


@gin.configurable("tfrecord", denylist=["seed", "tfds_data_dir", "shuffle_window"])
def tfrecord(file_pattern: str = gin.REQUIRED, resolution: int = gin.REQUIRED,
             image_key: str = "image", label_key: Optional[str] = None,
             num_classes: Optional[int] = None, eval_file_pattern: Optional[str] = None,
             channels: int = 3, crop_and_resize: bool = True,
             eval_size: int = base.DEFAULT_EVAL_SIZE, *, seed: int = base.DEFAULT_SEED,
             tfds_data_dir: Optional[str] = None,
             shuffle_window: Optional[int] = None) -> streaming.TFRecordFilesDataset:
  """tf.train.Example records with encoded PNG/JPEG images in files matching a glob.

  Files are read in sorted order, records in file order, and shuffled in blocks like every
  streaming source (see the module docstring); a resume skips whole files by their counted
  lengths, then reads and drops at most one file's worth of raw records.

  Args:
    file_pattern: glob of the training files (split "train").
    resolution: side of the square output images.
    image_key: feature holding the encoded image bytes.
    label_key, num_classes: an int64 label feature and its number of classes (both or neither).
    eval_file_pattern: glob of held-out files (split "test"); None: eval split = "train".
    channels: 3 (RGB) or 1 (grayscale).
    crop_and_resize: centre crop to a square and resize to `resolution` (bilinear,
      antialiased); False: images must already be resolution x resolution (error otherwise).
    eval_size: examples the metrics use, capped at the eval split's size.
    seed, tfds_data_dir, shuffle_window: see `build_dataset`.

  Raises:
    FileNotFoundError: a pattern matches no file.
    ValueError: bad options; a split's first record is no tf.train.Example, or lacks
      `image_key` (one encoded image) or `label_key` (one int64).
  """
  del tfds_data_dir  # Files are found by pattern.
  resolution = base.positive_int("tfrecord.resolution", resolution)
  if channels not in (1, 3):
    raise config.ConfigError(f"tfrecord.channels must be 1 or 3; got {channels!r}.")
  if (label_key is None) != (num_classes is None):
    raise config.ConfigError(f"tfrecord.label_key and tfrecord.num_classes go together; got "
                             f"label_key={label_key!r}, num_classes={num_classes!r}.")
  if num_classes is not None:
    num_classes = base.positive_int("tfrecord.num_classes", num_classes)
  split_files = {}
  for split, pattern in (("train", file_pattern), ("test", eval_file_pattern)):
    if pattern is None:
      continue
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
      raise config.ConfigError(f"tfrecord: no file matches the pattern {pattern!r} "
                               f"(split {split!r}).")
    split_files[split] = files
  return streaming.TFRecordFilesDataset(
      name="tfrecord", seed=seed,
      shuffle_window=base.DEFAULT_SHUFFLE_WINDOW if shuffle_window is None else shuffle_window,
      split_files=split_files, image_key=image_key, label_key=label_key,
      num_classes=num_classes, resolution=resolution, channels=channels,
      crop_and_resize=crop_and_resize,
      eval_size=base.positive_int("tfrecord.eval_size", eval_size))


for _name, _tfds_name, _shape in (("mnist", "mnist", (28, 28, 1)),
                                  ("fashion_mnist", "fashion_mnist", (28, 28, 1)),
                                  ("cifar10", "cifar10", (32, 32, 3))):
  register_dataset(_name, _in_memory_tfds(_name, _tfds_name, _shape, num_classes=10))
register_dataset("celeb_a", _streaming_tfds(
    "celeb_a", "celeb_a", (64, 64, 3),
    splits={"train": ("train", 0.0, 1.0), "validation": ("validation", 0.0, 1.0),
            "test": ("test", 0.0, 1.0)},
    eval_split="test", eval_size=10000, decode=_celeb_a_crop, finish=_celeb_a_resize))
# tfds has one split of 30k images; the reference (v2) held out shards 90-99 of 100: 3000 images.
register_dataset("celeb_a_hq_128", _streaming_tfds(
    "celeb_a_hq_128", "celeb_a_hq/128", (128, 128, 3),
    splits={"train": ("train", 0.0, 0.9), "test": ("train", 0.9, 1.0)},
    eval_split="test", eval_size=3000, decode=_celeb_a_hq_check, finish=base.to_unit_float))
# Reference `TRAIN.subsplit([99, 1])`: the last 1% (~30k) of tfds train is the eval split.
register_dataset("lsun_bedroom_128", _streaming_tfds(
    "lsun_bedroom_128", "lsun/bedroom", (128, 128, 3),
    splits={"train": ("train", 0.0, 0.99), "test": ("train", 0.99, 1.0),
            "validation": ("validation", 0.0, 1.0)},
    eval_split="test", eval_size=30000, decode=_lsun_crop, finish=base.to_unit_float))
for _resolution in imagenet.RESOLUTIONS:
  register_dataset(f"imagenet_{_resolution}", imagenet.imagenet(_resolution))
for _name, _n_vertices in (("triangles", 3), ("squares", 4)):
  register_dataset(_name, _generated(_name, (28, 28, 1), _POLYGON_SPLITS, _polygons(_n_vertices),
                                     levels=_POLYGON_LEVELS,
                                     cache_version=synthetic.POLYGON_IMAGES_VERSION))
for _name in ("ring8", "grid25"):
  register_dataset(_name, _generated(_name, (2,), _MIXTURE_SPLITS, _mixture(_name), levels=None,
                                     cache_version=None))
register_dataset("image_folder", image_folder)
register_dataset("tfrecord", tfrecord)
# The reference's spellings.
register_dataset("fashion-mnist", DATASETS["fashion_mnist"])
register_dataset("lsun-bedroom", DATASETS["lsun_bedroom_128"])


config.register_catalogue("datasets", "datasets (dataset.name)",
                          lambda: [(repr(name), "") for name in sorted(DATASETS)])
