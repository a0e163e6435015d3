"""The input-pipeline contract: the `Dataset` interface, its exact resume, and shared helpers.
The sources live beside it: random_access.py (in-memory arrays, generated data, image folders),
streaming.py (tfds streams, TFRecord globs) and tfds.py (TFDS access).

Elements are dicts `{"images": float32 [b, *info.image_shape] in [0, 1]}`, with
`"labels": int32 [b]` exactly when `info.num_classes` is not None. `compare_gan/data/__init__.py`
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

Random preprocessing (ImageNet's random crops) is stateless too: the draws for the example at
global stream position p use the seed `draw_seed(train seed, p)` (eval passes: the dataset seed and
the example's offset in the split), so a resumed stream crops every example as the uninterrupted
one did, and an example is cropped afresh in every epoch.

Labels other than the dataset's own (`Dataset.relabel`, gin `dataset.labeled_fraction`,
`dataset.labeled_seed`, `dataset.label_file`) work on *example keys*: a string naming an example
independently of any order (tfds `file_name` for ImageNet, `"<split>:<offset>"` for the
random-access sources; `Dataset.key_space`). A label file replaces the labels of every split by
key, an example absent from it getting -1 ("unlabelled"). A labelled fraction f < 1 then keeps
the label of a training example exactly when `labeled_mask` says so (LABELED_FRACTION_RULE): a
keyed hash of its key, so the subset is the same in every epoch, after any resume and for any
training seed, and holds about f*N examples (a binomial count: f*N +- 3 sqrt(N f (1-f)) almost
surely). The others read -1, which S3GAN takes for "unlabelled". Eval passes keep every label.
`DatasetInfo.labels` records all of it for the protocol card.

Bad data. What can be checked cheaply is checked when a dataset is built, as a ValueError of
one line (the first bytes of every image file, the feature keys of a TFRecord's first record).
What only decoding finds (a truncated or corrupt image) fails inside the pipeline: the graph
asserts with the line `InputDataError: <what, which file, what to do>`, which reaches the caller
inside a `tf.errors.InvalidArgumentError` full of graph noise; `input_error_line(error)` returns
that line (None for other errors), for whoever reports the failure. No Python runs per example
(no `tf.py_function`): a pipeline thread that needs the GIL while the interpreter shuts down
hangs the process, and an iterator that is still alive at exit (a module global, a traceback kept
by the caller) would do exactly that.
"""

import codecs
import dataclasses
import re
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from compare_gan import config


Record = Dict[str, tf.Tensor]
Batch = Dict[str, tf.Tensor]

DEFAULT_SEED = 547  # Reference `dataset.seed`.
DEFAULT_SHUFFLE_WINDOW = 10000  # Reference `shuffle(10000)`, here over encoded records.
DEFAULT_EVAL_SIZE = 10000  # Reference `eval_test_samples` of most datasets.


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
    labels: where the labels come from when not all of them are the dataset's own (a labelled
      fraction, a label file), or None.
  """
  name: str
  image_shape: Tuple[int, ...]
  num_classes: Optional[int]
  train_split: str
  eval_split: str
  eval_size: int
  num_train_examples: Optional[int]
  labels: Optional["LabelSource"] = None


# Key of the keyed hash behind `labeled_mask` (second word; the first is dataset.labeled_seed).
_LABELED_SALT = 0x1ABE1ED
_HASH_BUCKETS = 1 << 32
LABELED_FRACTION_RULE = (
    "a training example keeps its label iff SipHash-2-4 of its key (tf.strings."
    f"to_hash_bucket_strong, key [labeled_seed, {_LABELED_SALT:#x}]) mod 2^32 < "
    "round(labeled_fraction * 2^32); the others read -1")
MISSING_KEY_LABEL = -1  # The label of an example that a label file does not name.


@dataclasses.dataclass(frozen=True)
class LabelSource:
  """How the labels differ from all of the dataset's own (`DatasetInfo.labels`; see the module
  docstring).

  Attributes:
    labeled_fraction: f in (0, 1], gin `dataset.labeled_fraction`: about f of the training
      examples keep a label, chosen by LABELED_FRACTION_RULE.
    labeled_seed: gin `dataset.labeled_seed`, the hash key of that choice.
    label_file: gin `dataset.label_file`: the label file replacing the labels by key, or None.
    label_file_sha256: sha256 of that file's bytes.
    label_file_classes: its num_classes (then `DatasetInfo.num_classes`).
    label_file_keys: how many examples it names.
  """
  labeled_fraction: float = 1.0
  labeled_seed: int = 0
  label_file: Optional[str] = None
  label_file_sha256: Optional[str] = None
  label_file_classes: Optional[int] = None
  label_file_keys: Optional[int] = None

  def card(self) -> dict:
    """The JSON-able facts a protocol card shows."""
    card = dict(labeled_fraction=self.labeled_fraction, labeled_seed=self.labeled_seed)
    if self.labeled_fraction < 1.0:
      card["rule"] = LABELED_FRACTION_RULE
    if self.label_file is not None:
      card.update(label_file=self.label_file, label_file_sha256=self.label_file_sha256,
                  label_file_classes=self.label_file_classes,
                  label_file_keys=self.label_file_keys,
                  missing_keys=f"label {MISSING_KEY_LABEL} (unlabelled)")
    return card


def check_labeled_subset(fraction: float, seed: int) -> Tuple[float, int]:
  """(fraction, seed) of gin `dataset.labeled_fraction` and `dataset.labeled_seed`, checked.

  Raises:
    ConfigError: a fraction outside (0, 1] or a seed outside [0, 2^63) (the hash key's range).
  """
  if (isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer,
                                                              np.floating))
      or not 0.0 < fraction <= 1.0):
    raise config.ConfigError(f"dataset.labeled_fraction must be a number in (0, 1]; got "
                             f"{fraction!r}.")
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 1 << 63:
    raise config.ConfigError(f"dataset.labeled_seed must be an integer in [0, 2^63); got "
                             f"{seed!r}.")
  return float(fraction), int(seed)


def labeled_mask(keys: tf.Tensor, fraction: float, seed: int) -> tf.Tensor:
  """Which examples keep their label: string keys [b] -> bool [b] (LABELED_FRACTION_RULE).

  A pure function of (key, fraction, seed): independent of order, epoch, resume and training
  seed. The count over N keys is Binomial(N, fraction) for a good hash.
  """
  buckets = tf.strings.to_hash_bucket_strong(keys, _HASH_BUCKETS, key=[int(seed), _LABELED_SALT])
  return buckets < tf.constant(round(float(fraction) * _HASH_BUCKETS), tf.int64)


# Second word of the stateless seeds of per-example preprocessing draws (random crops), in the
# training stream and in eval passes.
_TRAIN_DRAW_SALT = 0xC209
_EVAL_DRAW_SALT = 0xE7A1


def draw_seed(seed: int, position: tf.Tensor, *, training: bool) -> tf.Tensor:
  """The stateless seed int64 [2] of one example's random preprocessing.

  `position`: int64 scalar, the global stream position (training: `seed` is the train seed) or
  the offset in the split (eval passes: `seed` is the dataset seed). Different positions give
  independent draws (`stateless_fold_in`).
  """
  # Seeds are int64 words: a seed of 2^63 or more (possible for generated data) wraps around.
  salt = _TRAIN_DRAW_SALT if training else _EVAL_DRAW_SALT
  base_seed = tf.constant([int(seed) % (1 << 63), salt], tf.int64)
  return tf.random.experimental.stateless_fold_in(base_seed, tf.cast(position, tf.int64))


def positive_int(name: str, value) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise config.ConfigError(f"{name} must be a positive integer; got {value!r}.")
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
    self._label_table: Optional[tf.lookup.StaticHashTable] = None
    self._labeled_fraction = 1.0
    self._labeled_seed = 0
    self._relabelled = False
    self._labels_required_by: Optional[str] = None

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

  def split_size(self, split: str) -> int:
    """Examples in `split` (ValueError for an unknown split, listing the valid ones)."""
    return self._split_size(self._check_split(split))

  @property
  def key_space(self) -> Optional[str]:
    """What this dataset's example keys are (see the module docstring), e.g. "tfds imagenet2012
    file_name"; None when it has no stable keys (then it cannot be relabelled)."""
    return None

  def _check_keys(self, keys: np.ndarray) -> None:
    """Raises ConfigError when `keys` (str [n], unique) cannot be keys of this dataset. Sources
    whose keys are known without reading the data check them all; the default checks none."""
    del keys

  def relabel(self, source: "LabelSource", keys: Optional[np.ndarray] = None,
              labels: Optional[np.ndarray] = None) -> None:
    """Gives the dataset labels other than its own (see the module docstring). Call it once,
    before building pipelines.

    Args:
      source: the labelled fraction and seed, and the label file's facts (when `keys` is set).
      keys: str [n], unique example keys of a label file, or None.
      labels: int [n] in [-1, source.label_file_classes), the file's labels of `keys`.

    Raises:
      ConfigError: the dataset has no example keys, a fraction < 1 of a dataset without labels
        or a bad fraction or seed, or keys that name no example of this dataset.
    """
    if self._relabelled:
      raise ValueError(f"Dataset {self._name!r} is relabelled already.")
    what = ("dataset.labeled_fraction" if keys is None else "dataset.label_file")
    if self.key_space is None:
      raise config.ConfigError(
          f"{what} needs stable example keys, which dataset {self._name!r} does not have; it "
          "applies to the imagenet_* datasets and the in-memory and generated ones (mnist, "
          "cifar10, triangles, ...).")
    fraction, seed = check_labeled_subset(source.labeled_fraction, source.labeled_seed)
    if keys is None and self.info.num_classes is None:
      raise config.ConfigError(
          f"dataset.labeled_fraction = {fraction} needs labels, and dataset {self._name!r} "
          "has none; give it labels with dataset.label_file.")
    num_classes = self.info.num_classes
    if keys is not None:
      self._check_keys(keys)
      with tf.device("/cpu:0"):
        self._label_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string),
                                                tf.constant(labels, tf.int32)),
            default_value=MISSING_KEY_LABEL)
      num_classes = source.label_file_classes
    self._labeled_fraction, self._labeled_seed = float(fraction), int(seed)
    self._info = dataclasses.replace(self.info, num_classes=num_classes, labels=source)
    self._relabelled = True

  def require_labels(self, consumer: str) -> None:
    """Makes the training stream fail, with one line naming the example, on an example that
    has no label (-1: a label file does not name it or gives it -1). `consumer` names what needs
    every label, e.g. "a conditional ModularGAN"; call before building pipelines."""
    self._labels_required_by = consumer

  def _apply_labels(self, batch: Batch, *, training: bool, keep_keys: bool = False) -> Batch:
    """A batch carrying "keys" (str [b]) -> its labels by key (the label file), masked to the
    labelled subset in the training stream; "keys" dropped unless `keep_keys`."""
    batch = dict(batch)
    keys = batch["keys"] if keep_keys else batch.pop("keys")
    if self._label_table is not None:
      batch["labels"] = self._label_table.lookup(keys)
    if training and self._labeled_fraction < 1.0:
      batch["labels"] = tf.where(labeled_mask(keys, self._labeled_fraction, self._labeled_seed),
                                 batch["labels"], MISSING_KEY_LABEL)
    if training and self._labels_required_by is not None:
      missing = tf.where(batch["labels"] < 0)[:, 0]
      first = tf.gather(keys, missing[:1])
      batch = assert_input(tf.size(missing) == 0, tf.strings.join([
          "training example ", tf.strings.reduce_join(first), " has no label in ",
          tf.constant(str(self._info.labels.label_file if self._info.labels else None)),
          f" (label -1), and {self._labels_required_by} needs every label; label every "
          "example or train a family that takes unlabelled examples (@S3GAN)"]), batch)
    return batch

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
        local_replicas=local_replicas, batch_size=b, with_keys=self._relabelled)
    if self._relabelled:
      ds = parallel_map(ds, lambda batch: self._apply_labels(batch, training=True))
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
    return self._eval_pass(batch_size, split, num_examples, keep_keys=False)

  def keyed_eval_input(self, *, batch_size: int, split: Optional[str] = None,
                       num_examples: Optional[int] = None) -> tf.data.Dataset:
    """`eval_input` whose elements also hold "keys": str [b], the examples' keys.

    Raises:
      ConfigError: the dataset has no example keys (`key_space` is None).
      ValueError: as `eval_input`.
    """
    if self.key_space is None:
      raise config.ConfigError(
          f"Dataset {self._name!r} has no stable example keys; keyed passes (label files, "
          "`compare_gan cluster`) work on the imagenet_* datasets and the in-memory and "
          "generated ones (mnist, cifar10, triangles, ...).")
    return self._eval_pass(batch_size, split, num_examples, keep_keys=True)

  def _eval_pass(self, batch_size, split, num_examples, keep_keys: bool) -> tf.data.Dataset:
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
    with_keys = keep_keys or self._relabelled
    ds = self._eval_batches(split, n, batch_size, with_keys=with_keys)
    if with_keys:
      ds = parallel_map(ds, lambda batch: self._apply_labels(batch, training=False,
                                                             keep_keys=keep_keys))
    return ds.with_options(_pipeline_options()).prefetch(tf.data.AUTOTUNE)

  def _train_batches(self, *, seed: int, first_batch: int, global_batch: int, begin: int,
                     local_replicas: int, batch_size: int, with_keys: bool) -> tf.data.Dataset:
    """The training batches (see `train_input`); with "keys" str [b] when `with_keys`."""
    raise NotImplementedError

  def _eval_batches(self, split: str, num_examples: int, batch_size: int,
                    with_keys: bool) -> tf.data.Dataset:
    """The eval pass (see `eval_input`); with "keys" str [b] when `with_keys`."""
    raise NotImplementedError


def parallel_map(ds: tf.data.Dataset, fn: Callable) -> tf.data.Dataset:
  return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def to_unit_float(images: tf.Tensor) -> tf.Tensor:
  """uint8 (or float in [0, 255]) -> float32 in [0, 1], as the reference's `_parse_fn`."""
  return tf.cast(images, tf.float32) / 255.0


# =============================================================================================
# Bad data: image signatures and errors raised inside a pipeline.
# =============================================================================================

# The formats the checks accept, told apart by their first bytes (WebP: "RIFF", size, "WEBP"); all
# of them `tf.io.decode_image` decodes (its JPEG XL is left out: image_folder lists no .jxl files).
IMAGE_FORMATS = "PNG, JPEG, GIF, BMP or WebP"
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"),
               (b"GIF89a", "GIF"), (b"BM", "BMP"))
SIGNATURE_BYTES = 12  # Enough for every signature above.


def image_format(head: bytes) -> Optional[str]:
  """The image format that the first `SIGNATURE_BYTES` bytes of a file announce, or None."""
  for signature, name in _SIGNATURES:
    if head.startswith(signature):
      return name
  if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
    return "WebP"
  return None


def op_error_reason(error: tf.errors.OpError) -> str:
  """An op error's reason without its decoration: "{{function_node ...}} <reason> [Op:...]"."""
  return error.message.split("}}")[-1].split("[Op:")[0].strip() or type(error).__name__


INPUT_ERROR_TAG = "InputDataError"
# tf.debugging.Assert prints its string as `[<C-escaped text>]` on one line (newlines escaped),
# followed by the end of the line or the node name `[[{{node ...}}]]`.
_INPUT_ERROR = re.compile(r"\[" + INPUT_ERROR_TAG + r": (.*?)\](?=\s*(?:\[\[|$))")


def assert_input(condition: tf.Tensor, message: tf.Tensor, value):
  """`value` (any nest of tensors), once `condition` (bool scalar) holds in the graph.

  When it does not, the pipeline fails with a `tf.errors.InvalidArgumentError` that carries
  `message` (a string tensor built in the graph, e.g. naming the file; one line: what is wrong,
  where, what to do), which `input_error_line` extracts. Costs one Assert op per element.
  """
  tagged = tf.strings.join([INPUT_ERROR_TAG + ": ", message])
  with tf.control_dependencies([tf.debugging.Assert(condition, [tagged])]):
    return tf.nest.map_structure(tf.identity, value)


def input_error_line(error: BaseException) -> Optional[str]:
  """The one line of an `assert_input` failure inside `error` (as iterating a pipeline raises
  it, eagerly or from a tf.function), or None when the error is of another kind."""
  text = getattr(error, "message", None) or str(error)
  for line in text.splitlines():
    match = _INPUT_ERROR.search(line)
    if match:  # Undo the Assert's C escaping (quotes, backslashes); UTF-8 passes through.
      return codecs.escape_decode(match.group(1).encode("utf-8"))[0].decode("utf-8", "replace")
  return None
