"""What the model families' training steps share (gans/modular_gan.py, began.py, vae.py):
the default optimizer and its checks, the per-replica slice of a global-batch draw, and the
layer-state bookkeeping that keeps the gradient maths pure (so it can be XLA-compiled).
"""

from typing import Iterable, List, Optional, Sequence

import keras
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import normalization


def default_optimizer() -> keras.optimizers.Optimizer:
  """The reference's default: `tf.train.AdamOptimizer(2e-4)` with TF1's beta_1 0.9, beta_2
  0.999 and epsilon 1e-8 (Keras's default epsilon is 1e-7)."""
  return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def prepare_optimizer(optimizer: Optional[keras.optimizers.Optimizer],
                      setting: str) -> keras.optimizers.Optimizer:
  """`optimizer` (default: `default_optimizer()`), checked, with loss scaling
  under the mixed_float16 policy. `setting` names the gin binding, e.g. "BEGAN.g_optimizer"."""
  optimizer = default_optimizer() if optimizer is None else optimizer
  if not isinstance(optimizer, keras.optimizers.Optimizer):
    raise config.ConfigError(
        f"{setting}={optimizer!r} is not a Keras optimizer; write e.g. {setting} = "
        "@tf.keras.optimizers.Adam() (note the parentheses).")
  mixed_float16 = keras.mixed_precision.global_policy().name == "mixed_float16"
  if mixed_float16 and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)  # float16 needs loss scaling.
  return optimizer


def per_replica_batch(global_batch_size: int) -> int:
  """The per-replica batch size; the global batch must split evenly over the replicas."""
  replicas = tf.distribute.get_strategy().num_replicas_in_sync
  if global_batch_size % replicas:
    raise ValueError(f"global_batch_size={global_batch_size} is not divisible by the "
                     f"{replicas} replicas.")
  return global_batch_size // replicas


def replica_rows(values: tf.Tensor, per_replica: int) -> tf.Tensor:
  """This replica's rows of a draw made for the whole global batch [GB, ...], so a run draws
  the same numbers on any number of replicas."""
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  start = tf.cast(replica, tf.int32) * per_replica
  return values[start:start + per_replica]


def layer_states(modules: Iterable[keras.layers.Layer]) -> List:
  """The non-trainable variables (BN statistics, spectral-norm u) of `modules`, in order."""
  return [v for m in modules for v in m.non_trainable_variables]


def new_states(scope: keras.StatelessScope, states: Sequence) -> List[tf.Tensor]:
  """The values `states` hold at the end of `scope`: what the forward passes assigned, or the
  unchanged value. A pure gradient function returns them; the caller assigns them outside XLA."""
  return [scope.get_current_value(v) if scope.get_current_value(v) is not None
          else tf.convert_to_tensor(v) for v in states]


def assign_states(states: Sequence, values: Sequence[tf.Tensor]) -> None:
  for var, value in zip(states, values):
    var.assign(value)


def check_jit_compatible(family: str, modules: Iterable[keras.layers.Layer]) -> None:
  """Refuses jit_compile where batch norm takes cross-replica moments on several non-TPU
  replicas: that all-reduce cannot run inside an XLA cluster (DESIGN section 10)."""
  ctx = tf.distribute.get_strategy()
  if ctx.num_replicas_in_sync == 1 or isinstance(ctx, tf.distribute.TPUStrategy):
    return
  for module in modules:
    for layer in normalization.standardizers(module):
      if layer.use_cross_replica_mean is not False:
        raise config.ConfigError(
            f"{family} with jit_compile on {ctx.num_replicas_in_sync} replicas: batch norm "
            f"({layer.path}) takes cross-replica moments, an all-reduce that cannot run inside "
            "an XLA cluster here. Set standardize_batch.use_cross_replica_mean = False "
            "(per-replica statistics) or turn jit_compile off.")
