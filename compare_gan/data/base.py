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
