"""The tf.distribute strategy a run uses (`train.strategy` or `compare_gan train --strategy`).

  default       one device: the CPU, or the first GPU when there is one
  mirrored      every local GPU (without GPUs: every logical CPU device), synchronous
                all-reduce
  multi_worker  MultiWorkerMirroredStrategy over the cluster in the TF_CONFIG variable
  tpu           TPUStrategy on `train.tpu` (a name or grpc:// address; default: TPU_NAME)

The global batch (`train.batch_size`) is split evenly over the replicas.
"""

import json
import os
from typing import Optional

import tensorflow as tf

from compare_gan import config
from compare_gan.training import settings


def make_strategy(name: str, tpu: Optional[str] = None) -> tf.distribute.Strategy:
  """The strategy called `name` (one of settings.STRATEGIES)."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if not tf.config.list_logical_devices("GPU"):
      # No GPU: mirror over the logical CPU devices (several only when configured, as tests do).
      cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
      return tf.distribute.MirroredStrategy(cpus)
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise config.ConfigError(
          "train.strategy = 'multi_worker' reads the cluster from the TF_CONFIG "
          "environment variable, which is not set (see "
          "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG).")
    try:
      json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as e:
      raise config.ConfigError(
          f"TF_CONFIG is not valid JSON ({e}): {os.environ['TF_CONFIG']!r}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    address = tpu if tpu is not None else os.environ.get("TPU_NAME", "")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise config.ConfigError(settings.problem("strategy", name))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the run directory (always, except non-chief workers)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type is None or task_type == "chief" or (
      task_type == "worker" and task_id == 0 and
      "chief" not in resolver.cluster_spec().as_dict())
