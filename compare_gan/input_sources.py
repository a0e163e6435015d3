"""Input pipelines with an exact-resume contract: the `Dataset` interface and the
random-access sources (in-memory arrays, generated data, image folders).

Elements are dicts `{"images": float32 [b, *info.image_shape] in [0, 1]}`, with
`"labels": int32 [b]` exactly when `info.num_classes` is not None. `compare_gan/datasets.py`
names the datasets built from these sources.

Exact resume. `tf.distribute`'s iterators cannot be checkpointed, so the input state is one
integer: the global example position p. The training stream is an infinite sequence e_0, e_1, ...
where e_p is a pure function of (dataset, train seed, p): epoch p // N, offset p % N, and every
epoch visits the N training examples in its own seeded order. Global batch k holds positions
[k*GB, (k+1)*GB) with GB = per_replica_batch_size * num_replicas; replica r takes the r-th slice
of b examples. `train_input(start_position=step * GB)` restarts the stream exactly.

Two kinds of source:
* Random access (tfds arrays and generated data, both held in memory from first use; image
  folders): epoch e's order is `RandomIndexShuffle(offset, seed=[seed, e, salt])`, a full
  permutation in O(1) memory, and a pipeline computes only the positions of its own replicas.
  In-memory sources run no Python per batch (see `InMemoryDataset` for why).
* Streaming (tfds celeb_a / celeb_a_hq / lsun, TFRecord globs): records are read in their stored
  order and permuted within consecutive blocks of `shuffle_window` records (seed [seed, e, block]),
  kept as *encoded* bytes so memory stays ~window x file size. Resume reads from the start of
  p's block (tfds: split slicing, which skips whole shards by their recorded lengths; TFRecord:
  whole files by their counted lengths, then `skip` within one file). Several input pipelines
  each read the whole stream and keep their own positions (n-fold read cost, no extra memory).
"""

import dataclasses
import threading
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf


Record = Dict[str, tf.Tensor]
Batch = Dict[str, tf.Tensor]

DEFAULT_SEED = 547  # Reference `dataset.seed`.
DEFAULT_SHUFFLE_WINDOW = 10000  # Reference `shuffle(10000)`, here over encoded records.
DEFAULT_EVAL_SIZE = 10000  # Reference `eval_test_samples` of most datasets.
# Third seed word of the random-access epoch permutations; keeps them apart from the streaming
# block permutations, whose third word is the block number.
_RANDOM_ACCESS_SALT = 0x5EED


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a model and the metrics need to know about a dataset.

  Attributes:
    name: canonical registry name (an alias resolves to it).
    image_shape: (H, W, C) of the preprocessed images, or (2,) for 2-D point data.
    num_classes: number of labels, or None when the data have no (usable) labels.
    train_split: split that `train_input` streams.
    eval_split: split whose first `eval_size` examples the metrics use.
    eval_size: examples of `eval_split` the metrics use (reference `eval_test_samples`, capped at
      the split's size).
    num_train_examples: size of `train_split` (None if unknown).
  """
  name: str
  image_shape: Tuple[int, ...]
  num_classes: Optional[int]
  train_split: str
  eval_split: str
  eval_size: int
  num_train_examples: Optional[int]


def positive_int(name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{name} must be a positive integer; got {value!r}.")
  return int(value)


def _pipeline_options() -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = True
  # Each pipeline already holds exactly its replicas' examples; tf.distribute must not re-shard.
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
  return options


# =============================================================================================
# The Dataset interface.
# =============================================================================================


class Dataset:
  """A named dataset with a resumable training stream and a deterministic eval pass.

  Subclasses implement `splits`, `_split_size`, `_train_batches` and `_eval_batches`.
  """

  def __init__(self, name: str, seed: int):
    self._name = name
    self._seed = int(seed)
    self._info: Optional[DatasetInfo] = None

  @property
  def info(self) -> DatasetInfo:
    if self._info is None:
      self._info = self._make_info()
    return self._info

  @property
  def seed(self) -> int:
    """The dataset seed (gin `dataset.seed`): fixes generated content (polygons, mixtures).

    The training order is `train_input`'s own `seed` argument; passing this one there gives the
    reference's behaviour (one `dataset.seed` for everything).
    """
    return self._seed

  @property
  def splits(self) -> Tuple[str, ...]:
    raise NotImplementedError

  def _make_info(self) -> DatasetInfo:
    raise NotImplementedError  # Set `self._info` in __init__ instead, unless it is costly.

  def _split_size(self, split: str) -> int:
    raise NotImplementedError

  def _check_split(self, split: str) -> str:
    if split not in self.splits:
      raise ValueError(f"Unknown split {split!r} of dataset {self._name!r}; valid splits: "
                       f"{list(self.splits)}.")
    return split

  def train_input(self, *, per_replica_batch_size: int, seed: int, start_position: int = 0,
                  input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Infinite training batches of input pipeline `input_context.input_pipeline_id`.

    With R replicas in n pipelines (L = R / n local replicas each), b = per_replica_batch_size
    and GB = b * R, this pipeline yields for k = start_position / GB, k + 1, ... the batches of
    replicas i*L .. i*L + L - 1 in that order, replica r's batch being global positions
    [k*GB + r*b, k*GB + (r+1)*b). Pass it to `strategy.distribute_datasets_from_function`, which
    hands a pipeline's batches round-robin to its local replicas.

    Args:
      per_replica_batch_size: b, examples per replica and step.
      seed: training-order seed (every epoch's permutation derives from it).
      start_position: global example position to resume at, a multiple of GB.
      input_context: from tf.distribute; None means one pipeline feeding one replica.

    Returns:
      Dataset of dicts {"images": float32 [b, *image_shape], "labels": int32 [b] if labelled}.

    Raises:
      ValueError: bad batch size, replica/pipeline counts, or a start_position that is not a
        non-negative multiple of GB.
    """
    b = positive_int("per_replica_batch_size", per_replica_batch_size)
    if input_context is None:
      replicas, pipelines, pipeline_id = 1, 1, 0
    else:
      replicas = input_context.num_replicas_in_sync
      pipelines = input_context.num_input_pipelines
      pipeline_id = input_context.input_pipeline_id
    if replicas % pipelines:
      raise ValueError(f"num_replicas_in_sync ({replicas}) must be a multiple of "
                       f"num_input_pipelines ({pipelines}).")
    local_replicas = replicas // pipelines
    global_batch = b * replicas
    if (isinstance(start_position, bool) or not isinstance(start_position, (int, np.integer))
        or start_position < 0 or start_position % global_batch):
      raise ValueError(
          f"start_position must be a non-negative multiple of the global batch size "
          f"{global_batch} (= {b} per replica x {replicas} replicas); got {start_position!r}.")
    ds = self._train_batches(
        seed=int(seed), first_batch=int(start_position) // global_batch,
        global_batch=global_batch, begin=pipeline_id * local_replicas * b,
        local_replicas=local_replicas, batch_size=b)
    return ds.with_options(_pipeline_options()).prefetch(tf.data.AUTOTUNE)

  def eval_input(self, *, batch_size: int, split: Optional[str] = None,
                 num_examples: Optional[int] = None) -> tf.data.Dataset:
    """One pass over the first examples of a split, in stored order, last batch kept.

    Args:
      batch_size: examples per batch (the last one may be smaller).
      split: defaults to `info.eval_split`.
      num_examples: how many; defaults to `info.eval_size` capped at the split's size.

    Returns:
      Finite dataset of dicts like `train_input`'s, same preprocessing, no shuffling.

    Raises:
      ValueError: unknown split, or num_examples larger than the split.
    """
    batch_size = positive_int("batch_size", batch_size)
    split = self._check_split(self.info.eval_split if split is None else split)
    size = self._split_size(split)
    if num_examples is None:
      n = min(self.info.eval_size, size)
    else:
      n = positive_int("num_examples", num_examples)
      if n > size:
        raise ValueError(f"Split {split!r} of dataset {self.info.name!r} has {size} examples; "
                         f"num_examples={n} asked for more.")
    ds = self._eval_batches(split, n, batch_size)
    return ds.with_options(_pipeline_options()).prefetch(tf.data.AUTOTUNE)

  def _train_batches(self, *, seed: int, first_batch: int, global_batch: int, begin: int,
                     local_replicas: int, batch_size: int) -> tf.data.Dataset:
    raise NotImplementedError

  def _eval_batches(self, split: str, num_examples: int, batch_size: int) -> tf.data.Dataset:
    raise NotImplementedError


def parallel_map(ds: tf.data.Dataset, fn: Callable) -> tf.data.Dataset:
  return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def to_unit_float(images: tf.Tensor) -> tf.Tensor:
  """uint8 (or float in [0, 255]) -> float32 in [0, 1], as the reference's `_parse_fn`."""
  return tf.cast(images, tf.float32) / 255.0


# =============================================================================================
# Random-access sources: an example is a function of its offset in the split.
# =============================================================================================


def epoch_permutation(positions: tf.Tensor, *, seed: int, num_examples: int) -> tf.Tensor:
  """Offsets in the split of global stream positions: int64 [m] -> int64 [m] in [0, N).

  Epoch e = p // N visits all N offsets in the order `RandomIndexShuffle(p % N,
  seed=[seed, e, salt])`, a different full permutation per epoch and seed in O(1) memory. The raw
  op is used because `tf.random.experimental.index_shuffle` pads a batched seed [m, 2] along the
  wrong axis and fails; a batch may straddle two epochs, so seeds are per element.
  """
  positions = tf.cast(positions, tf.int64)
  n = tf.constant(num_examples, tf.int64)
  epochs = positions // n
  seeds = tf.stack([tf.fill(tf.shape(epochs), tf.constant(seed, tf.int64)), epochs,
                    tf.fill(tf.shape(epochs), tf.constant(_RANDOM_ACCESS_SALT, tf.int64))],
                   axis=-1)
  return tf.raw_ops.RandomIndexShuffle(index=positions % n, seed=seeds, max_index=n - 1,
                                       rounds=4)


class RandomAccessDataset(Dataset):
  """Base of sources that load any example by its offset in a split.

  Subclasses implement `_batches(split, offsets, batch_size)`: a dataset of int64 offset vectors
  ([batch_size], the last eval one possibly shorter) -> a dataset of element dicts, one per vector.
  """

  def __init__(self, info: DatasetInfo, *, seed: int, split_sizes: Dict[str, int]):
    super().__init__(info.name, seed)
    self._info = info
    self._split_sizes = dict(split_sizes)

  @property
  def splits(self) -> Tuple[str, ...]:
    return tuple(self._split_sizes)

  def _split_size(self, split: str) -> int:
    return self._split_sizes[self._check_split(split)]

  def _batches(self, split: str, offsets: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    raise NotImplementedError

  def _train_batches(self, *, seed, first_batch, global_batch, begin, local_replicas,
                     batch_size):
    n = self._split_size(self.info.train_split)
    count = local_replicas * batch_size

    def offsets(k):  # Global batch k -> this pipeline's [L, b] offsets; no other positions.
      positions = k * global_batch + begin + tf.range(count, dtype=tf.int64)
      shuffled = epoch_permutation(positions, seed=seed, num_examples=n)
      return tf.reshape(shuffled, [local_replicas, batch_size])

    ds = tf.data.Dataset.counter(first_batch, dtype=tf.int64).map(offsets).unbatch()
    return self._batches(self.info.train_split, ds, batch_size)

  def _eval_batches(self, split, num_examples, batch_size):
    offsets = tf.data.Dataset.range(num_examples).batch(batch_size)
    return self._batches(split, offsets, batch_size)


class InMemoryDataset(RandomAccessDataset):
  """Random-access source whose splits are held in memory, each loaded on first use.

  `load(split)` returns (images [N, *image_shape] uint8 or float, labels int [N] or None); the
  arrays become CPU tensors that the pipeline gathers from in the graph, then uint8 becomes
  float32 / 255. No Python runs per batch: a `tf.numpy_function` would hold the GIL against the
  training loop, and CPython terminates threads that take the GIL during interpreter shutdown,
  so a pipeline still iterating then hangs the process at exit. Cost: the arrays' memory (cifar10
  train 150 MB), and building a pipeline copies them once into its graph (~0.3 s for 150 MB).
  """

  def __init__(self, info: DatasetInfo, *, seed: int, split_sizes: Dict[str, int],
               load: Callable[[str], Tuple[np.ndarray, Optional[np.ndarray]]]):
    super().__init__(info, seed=seed, split_sizes=split_sizes)
    self._load = load
    self._tensors: Dict[str, Tuple[tf.Tensor, Optional[tf.Tensor]]] = {}
    self._lock = threading.Lock()

  def _split_tensors(self, split: str) -> Tuple[tf.Tensor, Optional[tf.Tensor]]:
    with self._lock:
      if split not in self._tensors:
        images, labels = self._load(split)
        if images.shape != (self._split_size(split), *self.info.image_shape):
          raise ValueError(f"Dataset {self.info.name!r}, split {split!r}: loaded images of "
                           f"shape {images.shape}; expected "
                           f"{(self._split_size(split), *self.info.image_shape)}.")
        if (labels is None) != (self.info.num_classes is None):
          raise ValueError(f"Dataset {self.info.name!r}: labels must be loaded exactly when "
                           f"num_classes ({self.info.num_classes}) is set.")
        with tf.device("/cpu:0"):
          self._tensors[split] = (
              tf.constant(images),
              None if labels is None else tf.constant(labels.astype(np.int32)))
      return self._tensors[split]

  def _batches(self, split, offsets, batch_size):
    images, labels = self._split_tensors(split)

    def gather(offsets_batch):
      batch = tf.gather(images, offsets_batch)
      batch = to_unit_float(batch) if batch.dtype == tf.uint8 else tf.cast(batch, tf.float32)
      if labels is None:
        return {"images": batch}
      return {"images": batch, "labels": tf.gather(labels, offsets_batch)}

    return parallel_map(offsets, gather)


def load_tfds_split(builder, split: str, with_labels: bool
                     ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """A whole tfds split as numpy arrays, in tfds' stored order."""
  ds = builder.as_dataset(split=split, shuffle_files=False, read_config=tfds_read_config())
  chunks = list(ds.batch(8192).as_numpy_iterator())
  images = np.concatenate([c["image"] for c in chunks])
  labels = np.concatenate([c["label"] for c in chunks]) if with_labels else None
  return images, labels


class GeneratedDataset(InMemoryDataset):
  """Procedural data (`synthetic_data`): example i of a split is `generate([split_start + i])`.

  `generate` maps int64 indices [m] to float32 [m, *image_shape] (example i depends only on i
  and the dataset seed). A split is generated in chunks on first use (60k polygons: ~4 s) and
  kept, in float16 when that is lossless (polygon grey levels are multiples of 1/64).
  """

  def __init__(self, info: DatasetInfo, *, seed: int, split_ranges: Dict[str, Tuple[int, int]],
               generate: Callable[[np.ndarray], np.ndarray]):

    def load(split):
      start, size = split_ranges[split]
      chunks = [generate(np.arange(start + i, start + min(i + 4096, size), dtype=np.int64))
                for i in range(0, size, 4096)]
      images = np.concatenate(chunks).astype(np.float32)
      compact = images.astype(np.float16)
      return (compact if np.array_equal(compact, images) else images), None

    super().__init__(info, seed=seed, load=load,
                     split_sizes={name: size for name, (_, size) in split_ranges.items()})


def crop_square_and_resize(image: tf.Tensor, resolution: int) -> tf.Tensor:
  """uint8 [H, W, C] -> float32 [res, res, C] in [0, 255].

  Centre crop to the largest square, then `tf.image.resize(bilinear, antialias=True)` (half-pixel
  centres; the antialiasing filter matters only when downscaling), skipped at the right size.
  """
  shape = tf.shape(image)
  side = tf.minimum(shape[0], shape[1])
  image = tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2, (shape[1] - side) // 2,
                                        side, side)
  image = tf.cast(image, tf.float32)
  image = tf.cond(
      tf.equal(side, resolution), lambda: image,
      lambda: tf.image.resize(image, [resolution, resolution], method="bilinear", antialias=True))
  return tf.clip_by_value(tf.ensure_shape(image, [resolution, resolution, None]), 0.0, 255.0)


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
  """float [H, W, 3] -> [H, W, channels]; 1 channel is `tf.image.rgb_to_grayscale` (BT.601)."""
  image = tf.image.rgb_to_grayscale(image) if channels == 1 else image
  return tf.ensure_shape(image, [None, None, channels])


class ImageFolderDataset(RandomAccessDataset):
  """Image files under a folder (see `image_folder`): offset -> file -> decoded, cropped image."""

  def __init__(self, info: DatasetInfo, *, seed: int, paths: Sequence[str],
               split_files: Dict[str, np.ndarray], resolution: int, channels: int):
    super().__init__(info, seed=seed,
                     split_sizes={name: len(files) for name, files in split_files.items()})
    self._paths = list(paths)
    self._split_files = split_files
    self._resolution = resolution
    self._channels = channels

  def _decode(self, path_index) -> np.ndarray:
    """Reads and decodes one file eagerly (uint8 [H, W, 3]); errors name the file."""
    path = self._paths[int(path_index)]
    try:
      return tf.io.decode_image(tf.io.read_file(path), channels=3,
                                expand_animations=False).numpy()
    except tf.errors.OpError as e:
      raise ValueError(f"image_folder: cannot read or decode image file {path!r}: "
                       f"{e.message.strip()}") from None

  def _batches(self, split, offsets, batch_size):
    files = tf.constant(self._split_files[split], tf.int64)
    resolution, channels = self._resolution, self._channels

    def load(offset):
      # Decoding runs in Python (tf.py_function) only so that a corrupt file's error can name
      # it; the decode kernel still runs in C++, and crop/resize stay in the graph. Cost: ~0.1
      # ms of GIL per image, and an iterator must not outlive the interpreter (see
      # `InMemoryDataset`): keep iterators in function scope, not in module globals.
      image = tf.py_function(self._decode, [tf.gather(files, offset)], tf.uint8)
      image = crop_square_and_resize(tf.ensure_shape(image, [None, None, 3]), resolution)
      return to_channels(image, channels) / 255.0

    # Re-batching the examples by batch_size restores the offset vectors' grouping.
    ds = parallel_map(offsets.unbatch(), load).batch(batch_size)
    return ds.map(lambda images: {"images": images})


# =============================================================================================
# TFDS access: never downloads; a missing dataset is an error saying how to prepare it.
# =============================================================================================


def import_tfds():
  # Imported on first use: tensorflow_datasets adds seconds to start-up, which the generated
  # datasets and image folders do not need.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def tfds_read_config():
  # One shard at a time: `split[a:]` is then exactly the tail of `split` as read (tfds
  # otherwise interleaves 16 shards), and no autocache of whole splits in memory.
  return import_tfds().ReadConfig(interleave_cycle_length=1, try_autocache=False)


def tfds_builder(dataset: str, tfds_name: str, data_dir: Optional[str]):
  tfds = import_tfds()
  try:
    return tfds.builder(tfds_name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ValueError(f"Dataset {dataset!r} needs the TFDS dataset {tfds_name!r}, which this "
                     f"tensorflow_datasets ({tfds.__version__}) does not know: {e}") from None


def _missing_tfds_message(dataset: str, tfds_name: str, builder, data_dir: Optional[str]) -> str:
  where = repr(data_dir) if data_dir else "the default TFDS data dir ($TFDS_DATA_DIR or " \
      "~/tensorflow_datasets)"
  catalog = f"https://www.tensorflow.org/datasets/catalog/{tfds_name.split('/')[0]}"
  manual = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
  if manual:
    how = (f"{tfds_name!r} is a MANUAL-download TFDS dataset: put the files its instructions "
           f"name ({catalog}; TFDS says: {' '.join(str(manual).split())}) in MANUAL_DIR, then "
           f"run\n  tfds build {tfds_name} --manual_dir MANUAL_DIR --data_dir DIR")
  else:
    how = (f"Prepare it once ({catalog}) with\n  tfds build {tfds_name} --data_dir DIR\n"
           f"or\n  python -m tensorflow_datasets.scripts.download_and_prepare "
           f"--datasets={tfds_name} --data_dir=DIR")
  return (f"Dataset {dataset!r} needs the TFDS dataset {tfds_name!r} prepared in {where}; "
          f"nothing was found at {builder.data_dir}. compare_gan never downloads data while "
          f"training. {how}\nthen set dataset.tfds_data_dir = 'DIR' (or $TFDS_DATA_DIR).")


def tfds_split_size(dataset: str, tfds_name: str, builder, tfds_split: str,
                     data_dir: Optional[str]) -> int:
  """Examples in a tfds split; FileNotFoundError with instructions if it is not prepared.

  The check goes through `builder.as_dataset` (it raises AssertionError when the prepared files
  are missing, and opens no data file), so `tfds.testing.mock_data` satisfies it too.
  """
  tfds = import_tfds()
  try:
    ds = builder.as_dataset(split=tfds_split, shuffle_files=False,
                            decoders={"image": tfds.decode.SkipDecoding()},
                            read_config=tfds_read_config())
  except AssertionError:
    raise FileNotFoundError(_missing_tfds_message(dataset, tfds_name, builder,
                                                  data_dir)) from None
  size = int(ds.cardinality())
  if size < 0:  # Unknown cardinality: count once.
    size = int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
  return size
