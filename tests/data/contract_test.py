"""The exact-resume contract of compare_gan/data/base.py, for a random-access source and two
streaming ones: sources whose examples carry their own index are compared position by
position.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from compare_gan import data
from compare_gan.data import random_access

import data_fakes


# ---------------------------------------------------------------------------------------------
# The exact-resume contract, for a random-access and two streaming sources.
# ---------------------------------------------------------------------------------------------


def _check_contract(ds, n: int, b: int = 3):
  """Epoch permutations, resume, replica concatenation and pipeline sharding of `ds`."""
  # The R = 1 stream with the global batch GB = 2b: the reference for everything below.
  gb = 2 * b
  steps = 16  # > 4 epochs of 23 / 21 examples at 6 per step.
  reference = data_fakes.stream_ids(ds, batch_size=gb, seed=1, count=steps)
  flat = np.concatenate(reference)

  # Every epoch is a permutation of the n examples, in a different order per epoch and seed.
  epochs = [flat[e * n:(e + 1) * n] for e in range(4)]
  for epoch in epochs:
    np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
  for e in range(3):
    assert not np.array_equal(epochs[e], epochs[e + 1])
  assert not np.array_equal(epochs[0], np.arange(n))
  other_seed = np.concatenate(data_fakes.stream_ids(ds, batch_size=b, seed=2, count=-(-n // b)))
  assert not np.array_equal(other_seed[:n], epochs[0])

  # Restarting at start_position = m * GB reproduces the tail exactly, in and across epochs.
  for m in (1, 4, 7):  # Inside epoch 0, just after its end, in epoch 1.
    resumed = data_fakes.stream_ids(ds, batch_size=gb, seed=1, count=steps - m, start_position=m * gb)
    np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate(reference[m:]))

  # Two replicas in one pipeline: consecutive per-replica batches concatenate to the global one.
  two = data_fakes.stream_ids(ds, batch_size=b, seed=1, count=2 * steps, context=data_fakes.replica_context(2))
  assert all(len(x) == b for x in two)
  np.testing.assert_array_equal(np.concatenate(two), np.concatenate(reference))
  resumed = data_fakes.stream_ids(ds, batch_size=b, seed=1, count=2 * (steps - 5), start_position=5 * gb,
                        context=data_fakes.replica_context(2))
  np.testing.assert_array_equal(np.concatenate(resumed), np.concatenate(reference[5:]))

  # Two pipelines of one replica each: replica r's slice of every global batch, no overlap.
  shards = [data_fakes.stream_ids(ds, batch_size=b, seed=1, count=steps, context=data_fakes.replica_context(2, 2, i))
            for i in range(2)]
  for k in range(steps):
    np.testing.assert_array_equal(shards[0][k], reference[k][:b])
    np.testing.assert_array_equal(shards[1][k], reference[k][b:])
  first_epoch = np.concatenate([np.concatenate(s[:n // gb]) for s in shards])
  assert len(set(first_epoch.tolist())) == len(first_epoch)

  # Four replicas in two pipelines: each pipeline yields its two replicas' batches per step.
  quarter = -(-b // 2)  # b' with GB' = 4b'
  gb4 = 4 * quarter
  reference4 = data_fakes.stream_ids(ds, batch_size=gb4, seed=1, count=4, start_position=2 * gb4)
  for i in range(2):
    got = data_fakes.stream_ids(ds, batch_size=quarter, seed=1, count=8, start_position=2 * gb4,
                      context=data_fakes.replica_context(4, 2, i))
    for k in range(4):
      lo = 2 * i * quarter
      np.testing.assert_array_equal(np.concatenate(got[2 * k:2 * k + 2]),
                                    reference4[k][lo:lo + 2 * quarter])


def test_contract_random_access():
  _check_contract(data_fakes.index_dataset(23), 23)


def test_contract_image_folder(tmp_path):
  """Files decoded in the graph, each in its own one-element dataset (random_access.py): the
  interleave that does it must keep the order, or resume and sharding would break."""
  ds = data_fakes.index_image_folder(tmp_path, 23)
  batches = list(ds.eval_input(batch_size=5).as_numpy_iterator())
  np.testing.assert_array_equal(np.concatenate([data_fakes.ids(b) for b in batches]),
                                np.arange(23))
  _check_contract(ds, 23)


def test_contract_tfrecord_stream(tmp_path):
  ds, n = data_fakes.tfrecord_index_dataset(tmp_path)
  assert ds.info.num_train_examples == n
  _check_contract(ds, n)


def _celeb_a_hq_index_as_dataset(total):
  """A mock `_as_dataset` for celeb_a_hq/128 that honours tfds split slicing `train[a:b]`."""

  def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
    del self, decoders, read_config, kwargs  # Always encoded, as the pipeline asks.
    match = re.fullmatch(r"train(?:\[(\d*):(\d*)\])?", split)
    assert match, split
    lo = int(match.group(1) or 0)
    hi = int(match.group(2)) if match.group(2) else total
    return tf.data.Dataset.range(lo, hi).map(lambda i: {
        "image": tf.io.encode_png(tf.fill([128, 128, 3], tf.cast(i, tf.uint8))),
        "image/filename": tf.strings.as_string(i)})

  return as_dataset


def _hq_ids(batch):
  return np.round(batch["images"][:, 0, 0, 0] * 255).astype(np.int64)


def test_contract_tfds_stream_uses_split_slicing():
  total = 40  # train = records [0, 36), test = [36, 40)
  with tfds.testing.mock_data(as_dataset_fn=_celeb_a_hq_index_as_dataset(total)):
    ds = data.build_dataset("celeb_a_hq_128", shuffle_window=5)
    assert (ds.info.num_train_examples, ds.info.eval_size) == (36, 4)
    n, gb = 36, 4

    def stream(count, start=0):
      pipeline = ds.train_input(per_replica_batch_size=gb, seed=3, start_position=start)
      return np.concatenate([_hq_ids(b) for b in data_fakes.batches(pipeline, count)])

    full = stream(20)  # 80 positions: 2 epochs and a bit.
    for e in range(2):
      epoch = full[e * n:(e + 1) * n]
      np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
      # Block shuffle: block j of 5 stored records stays together.
      np.testing.assert_array_equal(epoch // 5, np.arange(n) // 5)
    assert not np.array_equal(full[:n], full[n:2 * n])
    for m in (1, 2, 9, 13):  # Starts inside blocks, at block ends, in epoch 2.
      np.testing.assert_array_equal(stream(20 - m, m * gb), full[m * gb:])
    evaluation = list(ds.eval_input(batch_size=3).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([_hq_ids(b) for b in evaluation]),
                                  [36, 37, 38, 39])


def test_start_position_must_be_a_multiple_of_the_global_batch():
  ds = data_fakes.index_dataset()
  with pytest.raises(ValueError, match="multiple of the global batch size 8"):
    ds.train_input(per_replica_batch_size=4, seed=0, start_position=4, input_context=data_fakes.replica_context(2))
  with pytest.raises(ValueError, match="per_replica_batch_size"):
    ds.train_input(per_replica_batch_size=0, seed=0)
  with pytest.raises(ValueError, match="num_input_pipelines"):
    ds.train_input(per_replica_batch_size=2, seed=0, input_context=data_fakes.replica_context(3, 2, 0))


def test_epoch_permutation_batches_may_straddle_epochs():
  n = 1000
  first = n - 7  # The batch starts 7 positions before the end of epoch 0.
  positions = tf.range(first, 3 * n, dtype=tf.int64)
  offsets = random_access.epoch_permutation(positions, seed=9, num_examples=n).numpy()
  epoch1, epoch2 = offsets[n - first:2 * n - first], offsets[2 * n - first:]
  np.testing.assert_array_equal(np.sort(epoch1), np.arange(n))
  np.testing.assert_array_equal(np.sort(epoch2), np.arange(n))
  assert not np.array_equal(epoch1, epoch2)
  # Position by position, the same as computing one position at a time.
  single = [random_access.epoch_permutation(tf.constant([p], tf.int64), seed=9, num_examples=n)[0]
            for p in (first, n, 2 * n + 3)]
  assert single == [offsets[0], offsets[n - first], offsets[2 * n + 3 - first]]


def test_eval_input_is_finite_ordered_and_checked():
  ds = data_fakes.index_dataset(23)
  batches = list(ds.eval_input(batch_size=2).as_numpy_iterator())
  np.testing.assert_array_equal(np.concatenate([data_fakes.ids(b) for b in batches]),
                                23 + np.arange(5))
  assert [len(b["images"]) for b in batches] == [2, 2, 1]
  train = list(ds.eval_input(batch_size=10, split="train", num_examples=12).as_numpy_iterator())
  np.testing.assert_array_equal(np.concatenate([data_fakes.ids(b) for b in train]), np.arange(12))
  with pytest.raises(ValueError, match="has 5 examples"):
    ds.eval_input(batch_size=2, num_examples=6)
  with pytest.raises(ValueError, match=r"valid splits: \['train', 'test'\]"):
    ds.eval_input(batch_size=2, split="validation")


def test_mirrored_strategy_hands_batches_to_replicas_in_order():
  """Two logical CPUs need a fresh process: see `_mirrored_main` below."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  proc = subprocess.run([sys.executable, __file__, "mirrored"], capture_output=True, text=True,
                        env=env, timeout=300)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  report = json.loads([l for l in proc.stdout.splitlines() if l.startswith("REPORT ")][-1][7:])
  assert report["replicas"] == 2
  assert report["per_replica"] == report["expected"]


def _mirrored_main():
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  ds = data_fakes.index_dataset(23)
  b, gb, start = 3, 6, 12
  dist = strategy.distribute_datasets_from_function(
      lambda ctx: ds.train_input(per_replica_batch_size=ctx.get_per_replica_batch_size(gb),
                                 seed=1, start_position=start, input_context=ctx))
  iterator = iter(dist)
  per_replica = []
  for _ in range(3):
    values = strategy.experimental_local_results(next(iterator)["images"])
    per_replica.append([v.numpy()[:, 0].astype(int).tolist() for v in values])
  reference = ds.train_input(per_replica_batch_size=gb, seed=1, start_position=start)
  expected = [[g[:b].tolist(), g[b:].tolist()] for g in (data_fakes.ids(x) for x in data_fakes.batches(reference, 3))]
  print("REPORT " + json.dumps({"replicas": strategy.num_replicas_in_sync,
                                "per_replica": per_replica, "expected": expected}))




if __name__ == "__main__":
  if sys.argv[1] == "mirrored":
    _mirrored_main()
