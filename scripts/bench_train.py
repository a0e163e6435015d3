#!/usr/bin/env python
"""Training-step benchmark: steps/s, images/s, FLOPs and achieved fraction of matmul peak.

Usage (from the repository root):

  .venv/bin/python scripts/bench_train.py                 # the full matrix (see below)
  .venv/bin/python scripts/bench_train.py --quick         # tiny smoke run, XLA off (~2 min)
  .venv/bin/python scripts/bench_train.py --quick --xla off on   # ... and XLA on (~9 min)
  .venv/bin/python scripts/bench_train.py --arch sndcgan --precision float32 --xla off
  .venv/bin/python scripts/bench_train.py --arch resnet19 --budget_s 0   # all of resnet19
  .venv/bin/python scripts/bench_train.py --json out.json # also write the results as JSON
  .venv/bin/python scripts/bench_train.py --onednn off    # TF_ENABLE_ONEDNN_OPTS=0 workers
  .venv/bin/python scripts/bench_train.py --patch leaky_relu bias_add   # candidate changes
  .venv/bin/python scripts/bench_train.py --profile --arch sndcgan --precision float32 \
      --xla off --steps 2                                 # where the time goes, per op
  .venv/bin/python scripts/bench_train.py --check_convergence   # fp32 vs bf16 sanity run

Results depend on the machine's load: every configuration reports how much CPU other
processes used while it was timed ("others"); re-measure when that is not ~0.

What is measured
----------------
The GAN Landscape training step of `compare_gan.gans.modular_gan.ModularGAN` (G.batch_norm_fn =
@batch_norm, D.spectral_norm = True, non-saturating loss, Adam, disc_iters = 1 unless
--disc_iters) for sndcgan 32x32x3, resnet_cifar 32x32x3 and resnet19 128x128x3, batch 64, full
width, in each of {float32, mixed_bfloat16} x {XLA off, XLA on}. One step is `disc_iters` D
updates and one G update, each fed its own real batch, exactly as compare_gan/training/loop.py
runs it, but with constant in-memory batches so that the input pipeline is not measured.

Every configuration runs in its own subprocess (fresh TensorFlow state, no cross-talk between
XLA caches or mixed-precision policies). Per configuration:

* trace_s: tracing the step's tf.function (Python -> graph).
* first_step_s: the first execution (grappler, XLA compilation for XLA on, kernel
  set-up) including one step; compile_s = first_step_s - median step time. The table's
  "compile s" column is trace_s + compile_s, the one-off cost before steady state.
* `--warmup` further untimed steps, then up to `--steps` timed steps (stopping early once the
  timed steps would exceed --max_timed_s, keeping at least one); step_s is their median
  (every step time is in the JSON), steps/s = 1 / step_s.
* others_cpu ("others" column): cores' worth of CPU used by *other* processes during the
  timed steps (from /proc/stat minus this process); anything well above 0 means the figures
  were taken on a busy machine and should be re-measured.
* Configurations predicted to overrun --budget_s (default 900 s for the whole run) are
  skipped and say so; the prediction uses the FLOP count and the GFLOP/s just measured for
  the same precision and XLA setting on a smaller architecture. Use --budget_s 0 to run all.
* images/s = steps/s x batch x (disc_iters + 1): real images consumed per second.

FLOP counting
-------------
FLOPs are 2 x multiply-accumulates of the convolutions and matmuls (conv, transposed conv,
linear, spectral-norm power iterations), counted two ways:

1. Analytic (`flops_analytic`), from the layers' shapes. One eager forward of G (batch 1) and D
   (batch 1) records every kernel layer's input/output shape; a layer's forward MACs are
   Conv2D: H_out*W_out*k*k*C_in*C_out, Deconv2D (transposed conv): H_in*W_in*k*k*C_in*C_out,
   Linear: in*out, per example. The backward pass of a layer costs one more forward for the
   gradient w.r.t. its input (when needed) and one for the gradient w.r.t. its kernel (when
   needed). With B the batch and F(X, n) the forward MACs of module X on n examples:

     D step:  G forward on B (no G backward: the fakes are stop_gradient'ed)
              + D forward on 2B (real and fake concatenated in one call)
              + D kernel gradients on 2B
              + D input gradients on 2B for every layer whose input depends on a D variable
                (not the layer(s) reading the images directly)
     G step:  G forward on B + D forward on 2B
              + D input gradients on 2B for every D layer (the fake half needs them; the op
                runs on the concatenated batch, and batch statistics couple the halves)
              + no D kernel gradients
              + G kernel gradients on B + G input gradients on B for every layer whose input
                depends on a G variable (not the first linear layer, which reads z)

   Spectral norm adds, per SN layer and forward call, three (rows x cols) matrix-vector
   products (W^T u, W v, u^T W), and in the D step one more (an outer product) for the
   gradient through sigma.
   Zero-insertion up-sampling (`ops.unpool`) is counted as executed: the conv after it runs
   on the full-size map although 3/4 of its inputs are zeros.

2. TensorFlow's own count (`flops_tf`): the step's concrete function is traced (XLA off, so
   every op is visible; XLA on traces the same maths into nested functions, which are walked
   too), ops not needed for the function's outputs or side effects are pruned as the TF
   runtime prunes them (e.g. the D kernel gradients the G step's tape creates but never uses),
   and the registered "flops" statistics (tf.compat.v1.profiler's float_operation, i.e.
   tensorflow/python/profiler/internal/flops_registry.py) are summed over MatMul,
   BatchMatMul*, Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter. `flops_tf_unpruned`
   (every op in the graph) and `flops_tf_other` (element-wise ops: BN, activations, Adam ...
   one FLOP per element per the registry) are reported too. The two counts agree to <0.1% for
   the configurations here; when they do not, the script prints both.

Achieved GFLOP/s = flops_analytic x steps/s; `%peak` divides it by the machine's measured
matmul peak for the compute dtype (float32 for float32, bfloat16 for mixed_bfloat16): the best
of several runs of a large square matmul (sizes in --peak_sizes) under tf.function, with
jit_compile off and on (the best of both), measured once at the start. `%now` divides it by
the same dtype's 2048^3 matmul peak measured right after that configuration's timed steps:
on a shared VM the attainable peak drifts by +-15% over minutes, and %now is the fairer
fraction when it does.

Convergence sanity check (--check_convergence)
----------------------------------------------
SNDCGAN 32x32 at reduced width (default 0.25) trained for a few hundred steps on a fixed
synthetic set of smooth random blobs (generated here, seeded) in float32 and in mixed_bfloat16
from the same initial weights and latents; prints the D and G losses side by side every
--log_every steps (mean over the window) and whether any loss was non-finite.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

ARCHS = {  # name -> (image shape, default timed steps, default extra warm-up steps)
    "sndcgan": ((32, 32, 3), 8, 1),
    "resnet_cifar": ((32, 32, 3), 3, 1),
    "resnet19": ((128, 128, 3), 1, 0),
}
PRECISIONS = ("float32", "mixed_bfloat16")
RESULT_MARK = "@@BENCH_RESULT@@ "
ONEDNN = ["default"]  # --onednn, read by _worker
MM_OPS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D",
          "Conv2DBackpropInput", "Conv2DBackpropFilter")


def _uptime() -> str:
  try:
    return " ".join(open("/proc/loadavg").read().split()[:3])
  except OSError:
    return "?"


def _cpu_counters():
  """(busy CPU seconds of the whole machine, CPU seconds of this process), from /proc."""
  try:
    ticks = os.sysconf("SC_CLK_TCK")
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    own = sum(int(v) for v in open("/proc/self/stat").read().rsplit(")", 1)[1].split()[11:13])
    return busy / ticks, own / ticks
  except (OSError, ValueError, IndexError):
    return None


def _others_cpu(start, end, seconds):
  """Cores' worth of CPU used by other processes between two `_cpu_counters()` readings."""
  if not start or not end or seconds <= 0:
    return None
  return max(0.0, ((end[0] - start[0]) - (end[1] - start[1])) / seconds)


# ------------------------------------------------------------------------------------------------
# Worker side (imports TensorFlow)
# ------------------------------------------------------------------------------------------------

def _quiet_tf():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import absl.logging
  absl.logging.set_verbosity(absl.logging.ERROR)


def measure_peak(dtype_name: str, sizes, repeats: int = 5) -> dict:
  """Best GFLOP/s of an n x n x n matmul under tf.function, over sizes, repeats and
  jit_compile off/on (the TF kernel and XLA's dot can differ, notably for bfloat16)."""
  import tensorflow as tf
  dtype = tf.as_dtype(dtype_name)
  best = {}
  for jit in (False, True):
    f = tf.function(lambda a, b: tf.matmul(a, b), jit_compile=jit)
    for n in sizes:
      a = tf.cast(tf.random.stateless_normal([n, n], [1, 2]), dtype)
      b = tf.cast(tf.random.stateless_normal([n, n], [3, 4]), dtype)
      f(a, b).numpy()  # warm-up / trace / compile
      t_best = float("inf")
      for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).numpy()
        t_best = min(t_best, time.perf_counter() - t)
      best[f"{'xla' if jit else 'tf'}_{n}"] = 2.0 * n ** 3 / t_best / 1e9
  tf_best = max(v for k, v in best.items() if k.startswith("tf_"))
  xla_best = max(v for k, v in best.items() if k.startswith("xla_"))
  return {"dtype": dtype_name, "gflops": max(tf_best, xla_best), "tf_gflops": tf_best,
          "xla_gflops": xla_best, "by_size": best}


def onednn_state() -> str:
  """Whether TensorFlow's oneDNN (MKL) kernels are on in this process."""
  try:
    from tensorflow.python.util import _pywrap_util_port
    return "on" if _pywrap_util_port.IsMklEnabled() else "off"
  except Exception:  # pylint: disable=broad-except
    return "unknown"


def _bindings(arch: str, width: float, disc_iters: int, extra=()):
  return [f"ModularGAN.architecture = @{arch}()",
          f"ModularGAN.disc_iters = {disc_iters}",
          "G.batch_norm_fn = @batch_norm",
          "D.spectral_norm = True",
          "loss.fn = @non_saturating",
          "penalty.fn = @no_penalty",
          f"G.width = {width}",
          f"D.width = {width}",
          # The GAN Landscape's batch-statistics settings (no effect on speed).
          "standardize_batch.decay = 0.9",
          "standardize_batch.epsilon = 1e-5"] + list(extra)


def build_model(arch, image_shape, precision, xla, width, disc_iters, seed=0, extra=()):
  import gin
  import keras
  import tensorflow as tf
  from compare_gan import config
  from compare_gan.gans import modular_gan
  gin.clear_config()
  config.parse_gin([], _bindings(arch, width, disc_iters, extra))
  keras.mixed_precision.set_global_policy(precision)
  strategy = tf.distribute.get_strategy()
  with strategy.scope():
    model = modular_gan.ModularGAN(image_shape, num_classes=None, seed=seed, jit_compile=xla)
  return model, strategy


# --- analytic FLOPs -----------------------------------------------------------------------------


def make_step(model, strategy, image_shape, batch, steps_per_loop=1, whole_step_xla=False):
  """The traced training step and `disc_iters + 1` constant real batches for it. With
  `steps_per_loop` K > 1 one call runs K steps in a device loop (train.steps_per_loop); with
  `whole_step_xla` the replica step (gradients, optimizer apply, EMA, layer states) is one XLA
  cluster, as training/loop.py compiles it on one device with train.jit_compile."""
  import numpy as np
  import tensorflow as tf
  rng = np.random.default_rng(0)
  batches = [{"images": tf.constant(rng.uniform(size=(batch,) + image_shape), tf.float32)}
             for _ in range(model.disc_iters + 1)]
  seed = tf.constant([0, 0], tf.int64)

  replica_step = model.train_step
  if whole_step_xla:
    replica_step = tf.function(model.train_step, jit_compile=True)

  @tf.function
  def step_fn(batches, step):
    terms = strategy.run(replica_step, args=(batches, step, seed, batch))
    if steps_per_loop > 1:  # A Python condition: with 1, the graph holds no loop body.
      for i in tf.range(1, steps_per_loop):
        terms = strategy.run(replica_step, args=(batches, step + tf.cast(i, tf.int64), seed,
                                                 batch))
    return terms

  return step_fn, batches

def _record_kernel_layers(module, inputs):
  """Runs `module(inputs)` eagerly (batch 1, inference mode: no state change) and returns, per
  kernel-layer call, (layer, forward MACs per example, input depends on a trainable variable,
  SN matrix shape or None)."""
  import tensorflow as tf
  from compare_gan.architectures import ops as arch_ops
  calls = []
  patched = {}
  for cls in (arch_ops.Linear, arch_ops.Conv2D, arch_ops.Deconv2D, arch_ops.Projection):
    original = cls.__dict__["call"]
    patched[cls] = original

    def call(self, x, *args, _original=original, **kwargs):
      out = _original(self, x, *args, **kwargs)
      calls.append((self, x, out))
      return out
    cls.call = call
  # With --patch unpool_conv, G's up-sampling convs bypass Conv2D.call: recorded as stride-2
  # transposed convs of their (small) input.
  _UP_CONV_HOOK[0] = lambda layer, x: calls.append((layer, x, "up_conv"))
  try:
    with tf.GradientTape(persistent=True) as tape:
      if isinstance(inputs, dict):
        module(**inputs, training=False)
      else:
        module(inputs, training=False)
  finally:
    _UP_CONV_HOOK[0] = None
    for cls, original in patched.items():
      cls.call = original
  records = []
  variables = module.trainable_variables
  for layer, x, out in calls:
    kernel = tuple(int(d) for d in layer.kernel.shape)
    name = type(layer).__name__
    if isinstance(out, str):  # an up-sampling conv done as a transposed conv (unpool_conv)
      name = "Deconv2D"
      kernel = (kernel[0], kernel[1], kernel[3], kernel[2])
    if name == "Conv2D":
      macs = int(out.shape[1]) * int(out.shape[2]) * kernel[0] * kernel[1] * kernel[2] * kernel[3]
    elif name == "Deconv2D":
      macs = int(x.shape[1]) * int(x.shape[2]) * kernel[0] * kernel[1] * kernel[2] * kernel[3]
    else:  # Linear, Projection: one [1, in] x [in, out] matmul
      macs = kernel[0] * kernel[1]
    # The target must be a tensor the tape recorded: `x` itself (summed implicitly).
    grads = tape.gradient(x, variables, unconnected_gradients=tf.UnconnectedGradients.NONE)
    depends = any(g is not None for g in grads)
    sn = None
    if layer.use_sn:
      rows = 1
      for d in kernel[:-1]:
        rows *= d
      sn = (rows, kernel[-1])
    records.append(dict(layer=layer.path, kind=name, macs=macs, input_needs_grad=depends,
                        sn=sn))
  del tape
  return records


def analytic_flops(model, batch: int) -> dict:
  """FLOPs of one training step from the layers' shapes; see the module docstring."""
  import tensorflow as tf
  g_rec = _record_kernel_layers(model.generator, tf.zeros([1, model.z_dim]))
  d_rec = _record_kernel_layers(model.discriminator, tf.zeros((1,) + model.image_shape))
  fwd = lambda rec: sum(r["macs"] for r in rec)
  igrad = lambda rec, all_layers=False: sum(r["macs"] for r in rec
                                            if all_layers or r["input_needs_grad"])
  sn_matvec = lambda rec: sum(r["sn"][0] * r["sn"][1] for r in rec if r["sn"])
  b, b2, n = batch, 2 * batch, model.disc_iters
  d_step = b * fwd(g_rec) + b2 * fwd(d_rec) + b2 * fwd(d_rec) + b2 * igrad(d_rec)
  g_step = (b * fwd(g_rec) + b * fwd(g_rec) + b * igrad(g_rec)
            + b2 * fwd(d_rec) + b2 * igrad(d_rec, all_layers=True))
  # Spectral norm: 3 matvecs per forward call of each SN layer (W^T u, W v, u^T W); 1 more
  # (the outer product u (dL/d(u^T W))) in the backward through sigma of the module updated.
  sn = n * (3 * sn_matvec(g_rec) + 4 * sn_matvec(d_rec)) + (4 * sn_matvec(g_rec)
                                                            + 3 * sn_matvec(d_rec))
  macs = n * d_step + g_step
  return {
      "flops_layers": 2 * macs,
      "flops_sn": 2 * sn,
      "flops": 2 * (macs + sn),
      "g_forward_flops_per_example": 2 * fwd(g_rec),
      "d_forward_flops_per_example": 2 * fwd(d_rec),
      "d_step_flops": 2 * d_step, "g_step_flops": 2 * g_step,
      "layers": {"G": g_rec, "D": d_rec},
  }


# --- TensorFlow's FLOP count ------------------------------------------------------------------------

def _graph_flops(graph, prune: bool, seen_functions=None):
  """(matmul/conv FLOPs, other FLOPs, {op type: FLOPs}) of `graph`, recursing into called
  functions; with `prune`, only ops reachable (backwards) from the outputs, control outputs and
  stateful ops that TF keeps."""
  from tensorflow.python.framework import ops as tf_ops
  from tensorflow.python.profiler.internal import flops_registry  # noqa: F401 registers stats
  mm = other = 0
  by_type = {}
  op_list = graph.get_operations()
  if prune:
    keep = set()
    stack = [t.op for t in getattr(graph, "outputs", [])]
    stack += list(getattr(graph, "control_outputs", []))
    while stack:
      op = stack.pop()
      if op.name in keep:
        continue
      keep.add(op.name)
      stack.extend(t.op for t in op.inputs)
      stack.extend(op.control_inputs)
    op_list = [op for op in op_list if op.name in keep]
  for op in op_list:
    for attr in ("f", "then_branch", "else_branch", "body", "cond"):
      try:
        fn_attr = op.get_attr(attr)
      except (ValueError, TypeError):
        continue
      name = getattr(fn_attr, "name", None)
      fn = graph._get_function(name) if name else None  # pylint: disable=protected-access
      if fn is not None and getattr(fn, "graph", None) is not None:
        sub_mm, sub_other, sub_types = _graph_flops(fn.graph, prune)
        mm += sub_mm
        other += sub_other
        for k, v in sub_types.items():
          by_type[k] = by_type.get(k, 0) + v
    try:
      stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
    except Exception:  # pylint: disable=broad-except
      continue  # no registered statistic or incomplete shapes
    value = stats.value or 0
    if not value:
      continue
    by_type[op.type] = by_type.get(op.type, 0) + int(value)
    if op.type in MM_OPS:
      mm += int(value)
    else:
      other += int(value)
  return mm, other, by_type


def tf_flops(concrete_fn) -> dict:
  mm, other, by_type = _graph_flops(concrete_fn.graph, prune=True)
  mm_all, _, _ = _graph_flops(concrete_fn.graph, prune=False)
  return {"flops_tf": mm, "flops_tf_other": other, "flops_tf_unpruned": mm_all,
          "flops_tf_by_type": by_type}


# --- candidate source changes, applied as monkeypatches (--patch) ------------------------------------

def _patch_leaky_relu():
  """ops.lrelu: tf.maximum(x, leak * x) -> tf.nn.leaky_relu (one fused op and one fused
  gradient op instead of Mul + Maximum and GreaterEqual + 2 SelectV2 + ...)."""
  import tensorflow as tf
  from compare_gan.architectures import ops as arch_ops
  arch_ops.lrelu = lambda x, leak=0.2: tf.nn.leaky_relu(x, alpha=leak)


def _patch_bias_add():
  """KernelLayer._add_bias: outputs + bias -> tf.nn.bias_add (BiasAdd/BiasAddGrad instead of a
  broadcasting AddV2 whose gradient is a generic Sum reduction)."""
  import tensorflow as tf
  from compare_gan.architectures import ops as arch_ops

  def _add_bias(self, outputs):
    if self.bias is None:
      return outputs
    return tf.nn.bias_add(outputs, tf.cast(self.bias, outputs.dtype))
  arch_ops.KernelLayer._add_bias = _add_bias


def _patch_fused_bn():
  """normalization.Standardize (training, per-replica statistics): tf.nn.moments + 4
  element-wise ops -> one FusedBatchNormV3 (and FusedBatchNormGradV3 in backward). Same maths:
  population variance for normalising; the fused op's returned variance is Bessel-corrected, so
  it is scaled back by (n - 1) / n for the moving average."""
  import tensorflow as tf
  from compare_gan.architectures import normalization
  original = normalization.Standardize.call

  def call(self, x, training=None):
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync if ctx is not None else 1
    if not training or x.shape.rank != 4 or replicas > 1 or not self.use_moving_averages:
      return original(self, x, training=training)
    c = x.shape[-1]
    ones = tf.ones([c], tf.float32)
    zeros = tf.zeros([c], tf.float32)
    y, mean, var, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=ones, offset=zeros, mean=zeros, variance=ones, epsilon=self.epsilon,
        data_format="NHWC", is_training=True)
    n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
    var = var * (n - 1.0) / n
    self.moving_mean.assign(self.moving_mean - (1 - self.decay) * (self.moving_mean - mean))
    self.moving_variance.assign(
        self.moving_variance - (1 - self.decay) * (self.moving_variance - var))
    return y
  normalization.Standardize.call = call


_UP_CONV_HOOK = [None]  # set by the analytic FLOP recorder while _patch_unpool_conv is on


def _patch_unpool_conv():
  """resnet_ops.ResNetBlock (generator "up" blocks): conv3x3(unpool(x)) -> the equivalent
  stride-2 transposed conv of x (kernel flipped in space and in/out swapped, explicit padding
  (1, 0)). Exact up to summation order; 4x fewer MACs for the two up-sampling convs."""
  import tensorflow as tf
  from compare_gan.architectures import resnet_ops

  original = resnet_ops.ResNetBlock.call

  def up_conv(layer, x, training):
    if not layer.built:  # the model's first (inference) call builds the layer as Keras does
      layer(tf.zeros([1, 2 * x.shape[1], 2 * x.shape[2], x.shape[3]], x.dtype), training=False)
    if _UP_CONV_HOOK[0] is not None:
      _UP_CONV_HOOK[0](layer, x)
    kernel = layer._kernel(training)                       # [3, 3, in, out]
    kernel = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])  # [3, 3, out, in]
    b, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
    # out[p] = sum_i,k x[i] W[k] over p = 2i + k - 1: the forward conv's padding is (1, 0).
    out = tf.nn.conv2d_transpose(x, kernel, tf.stack([b, 2 * h, 2 * w, layer.filters]),
                                 strides=[1, 2, 2, 1],
                                 padding=[[0, 0], [1, 0], [1, 0], [0, 0]])
    return layer._add_bias(out)

  def call(self, x, z=None, y=None, training=None):
    if not (self.is_gen_block and self.scale == "up"):
      return original(self, x, z=z, y=y, training=training)
    shortcut = up_conv(self.conv_shortcut, x, training)
    h = tf.nn.relu(self.bn1(x, z=z, y=y, training=training))
    h = up_conv(self.conv1, h, training)
    h = tf.nn.relu(self.bn2(h, z=z, y=y, training=training))
    h = self.conv2(h, training=training)
    return h + shortcut
  resnet_ops.ResNetBlock.call = call


def _patch_inter_op1():
  """One inter-op thread (TF's default is one per core): ops run one at a time, each with all
  the intra-op threads, instead of two ops competing for two cores."""
  import tensorflow as tf
  tf.config.threading.set_inter_op_parallelism_threads(1)


PATCHES = {"leaky_relu": _patch_leaky_relu, "bias_add": _patch_bias_add,
           "fused_bn": _patch_fused_bn, "unpool_conv": _patch_unpool_conv,
           "inter_op1": _patch_inter_op1}


def apply_patches(names):
  for name in names:
    PATCHES[name]()


# --- op-level profile (--profile) --------------------------------------------------------------------

def _op_category(op_type: str, name: str, matvec: bool) -> str:
  import re
  for prefix in ("_MklNative", "_Mkl"):  # oneDNN rewrites, e.g. _MklNativeConv2D
    if op_type.startswith(prefix):
      op_type = op_type[len(prefix):]
  n = name.lower()
  if n.startswith("adam") or "/adam" in n or n.startswith("assign") or "optimizer" in n:
    return "optimizer (Adam) + state assigns"
  if op_type in MM_OPS:
    if matvec:
      return "spectral norm (+grad)"
    kind = "backward" if n.startswith("gradient_tape/") else "forward"
    module = "G" if "generator" in n else "D"
    return f"conv/matmul {module} {kind}"
  if "standardize" in n or "moments" in n or re.search(r"(_bn\d*|bn\d|final_norm)(_\d+)?/", n):
    return "batch norm (+grad)"
  if re.search(r"/(c\d+_\d+|d_fc1|g_fc1|g_dc\d|[a-z_]*conv[a-z_0-9]*|fc_noise|disc_final_fc|"
               r"embedding_fc)(_\d+)?/", n):
    if re.search(r"/(add|biasadd)(/|$)", n) or op_type in ("BiasAdd", "BiasAddGrad"):
      return "bias add (+grad)"
    return "spectral norm (+grad)"
  if op_type in ("Relu", "ReluGrad", "Maximum", "GreaterEqual", "SelectV2", "Select", "Tanh",
                 "TanhGrad", "Sigmoid", "SigmoidGrad", "LeakyRelu", "LeakyReluGrad"):
    return "activations (+grad)"
  if op_type in ("AvgPool", "AvgPoolGrad") or "unpool" in n or op_type in ("Pack", "Unpack"):
    return "pooling / unpool"
  return "other element-wise / layout"


def run_profile(args) -> dict:
  """Profiles `--steps` steps with tf.profiler and aggregates the ops' self time."""
  _quiet_tf()
  import glob
  import tempfile
  import tensorflow as tf
  from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as profiler_plugin
  apply_patches(args.patch)
  image_shape = tuple(ARCHS[args.arch][0]) if args.image_size is None else (
      args.image_size, args.image_size, 3)
  model, strategy = build_model(args.arch, image_shape, args.precision, args.xla == "on",
                                args.width, args.disc_iters)
  batch = args.batch_size
  step_fn, batches = make_step(model, strategy, image_shape, batch)

  concrete = step_fn.get_concrete_function(batches, tf.constant(0, tf.int64))
  from tensorflow.python.framework import ops as tf_ops
  from tensorflow.python.profiler.internal import flops_registry  # noqa: F401
  matvec = set()
  op_flops = {}

  def visit(graph):
    for op in graph.get_operations():
      if op.type in MM_OPS and op.type.startswith("MatMul"):
        dims = [d for t in op.inputs for d in t.shape.as_list()]
        if 1 in dims:
          matvec.add(op.name)
      if op.type in MM_OPS:
        try:
          op_flops[op.name] = int(tf_ops.get_stats_for_node_def(graph, op.node_def,
                                                                 "flops").value or 0)
        except Exception:  # pylint: disable=broad-except
          pass
      for attr in ("f",):
        try:
          fn = graph._get_function(op.get_attr(attr).name)  # pylint: disable=protected-access
        except Exception:  # pylint: disable=broad-except
          fn = None
        if fn is not None:
          visit(fn.graph)
  visit(concrete.graph)
  for i in range(max(args.warmup, 1) + 1):
    step_fn(batches, tf.constant(i, tf.int64))
  logdir = tempfile.mkdtemp(prefix="bench_train_profile_")
  tf.profiler.experimental.start(logdir)
  t0 = time.perf_counter()
  for i in range(args.steps):
    step_fn(batches, tf.constant(100 + i, tf.int64))
  wall = (time.perf_counter() - t0) / args.steps
  tf.profiler.experimental.stop()
  planes = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
  data, ok = profiler_plugin.xspace_to_tools_data(planes, "framework_op_stats", {})
  table = json.loads(data)
  table = table[0] if isinstance(table, list) else table
  cols = [c["id"] for c in table["cols"]]
  by_cat, by_type, top, cat_flops = {}, {}, [], {}
  total = 0.0
  for row in table["rows"]:
    rec = dict(zip(cols, [c.get("v") for c in row["c"]]))
    if rec["type"] == "IDLE":
      continue
    us = float(rec["total_self_time"]) / args.steps
    total += us
    cat = _op_category(rec["type"], rec["operation"], rec["operation"] in matvec)
    by_cat[cat] = by_cat.get(cat, 0.0) + us
    cat_flops[cat] = cat_flops.get(cat, 0) + op_flops.get(rec["operation"], 0)
    by_type[rec["type"]] = by_type.get(rec["type"], 0.0) + us
    top.append((us, rec["type"], rec["operation"], cat, op_flops.get(rec["operation"], 0)))
  top.sort(reverse=True)
  return dict(arch=args.arch, precision=args.precision, xla=args.xla == "on",
              patch=args.patch, step_s=wall, op_self_time_s=total / 1e6,
              by_category={k: v / 1e6 for k, v in sorted(by_cat.items(), key=lambda kv: -kv[1])},
              category_gflops_per_s={k: cat_flops[k] / (v / 1e6) / 1e9
                                     for k, v in by_cat.items() if cat_flops.get(k) and v},
              by_type={k: v / 1e6 for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])},
              top_ops=[dict(s=u / 1e6, type=t, name=n, category=c,
                            gflops_per_s=(f / (u / 1e6) / 1e9 if f and u else None))
                       for u, t, n, c, f in top[:40]],
              logdir=logdir, load=_uptime())


# --- one configuration ------------------------------------------------------------------------------

def run_config(args) -> dict:
  _quiet_tf()
  import tensorflow as tf
  image_shape = tuple(ARCHS[args.arch][0]) if args.image_size is None else (
      args.image_size, args.image_size, 3)
  xla = args.xla in ("on", "step")
  apply_patches(args.patch)
  load_before = _uptime()
  t0 = time.perf_counter()
  model, strategy = build_model(args.arch, image_shape, args.precision, xla, args.width,
                                args.disc_iters)
  build_s = time.perf_counter() - t0
  batch = args.batch_size
  spl = args.steps_per_loop
  step_fn, batches = make_step(model, strategy, image_shape, batch, spl, args.xla == "step")

  step0 = tf.constant(0, tf.int64)
  t0 = time.perf_counter()
  concrete = step_fn.get_concrete_function(batches, step0)
  trace_s = time.perf_counter() - t0

  result = dict(arch=args.arch, image_shape=list(image_shape), precision=args.precision,
                xla=args.xla, steps_per_loop=spl, batch=batch, width=args.width, disc_iters=model.disc_iters,
                build_s=build_s, trace_s=trace_s, load_before=load_before, patch=args.patch,
                intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                onednn=onednn_state(),
                tf_version=tf.__version__)
  if not args.no_flops:
    result.update({k: v for k, v in analytic_flops(model, batch).items()
                   if args.verbose_layers or k != "layers"})
    if spl == 1:  # The traced graph holds one step (a loop's holds two: first + body).
      result.update(tf_flops(concrete))

  def run(i):
    terms = step_fn(batches, tf.constant(i * spl, tf.int64))
    return {k: float(v) for k, v in terms.items()}

  t0 = time.perf_counter()
  terms = run(0)
  first_step_s = time.perf_counter() - t0
  # The first step bounds the step time from above; skip warm-up steps that would not fit in
  # the time cap, and stop timing once another step would exceed it (at least one timed step).
  done = 1
  warmup = args.warmup if first_step_s * args.warmup <= args.max_timed_s / 2 else 0
  for _ in range(warmup):
    terms = run(done)
    done += 1
  times = []
  cpu_start, wall_start = _cpu_counters(), time.perf_counter()
  while len(times) < args.steps:
    if times and sum(times) + statistics.median(times) > args.max_timed_s:
      break
    t0 = time.perf_counter()
    terms = run(done)
    done += 1
    times.append((time.perf_counter() - t0) / spl)  # Per step.
  step_s = statistics.median(times)
  others = _others_cpu(cpu_start, _cpu_counters(), time.perf_counter() - wall_start)
  # The host's speed drifts (shared VM: the same matmul varies by +-15% over minutes), so the
  # matmul peak is also measured right after the timed steps, for this precision's dtype.
  peak_now = None if args.no_peak_now else measure_peak(
      "float32" if args.precision == "float32" else "bfloat16", [2048], repeats=3)["gflops"]
  result.update(others_cpu=others, peak_now_gflops=peak_now,
      first_step_s=first_step_s, compile_s=max(first_step_s - step_s, 0.0), step_times_s=times,
      warmup_steps=warmup, timed_steps=len(times),
      step_s=step_s, steps_per_s=1.0 / step_s,
      images_per_s=batch * (model.disc_iters + 1) / step_s,
      final_terms=terms, finite=all(math.isfinite(v) for v in terms.values()),
      load_after=_uptime())
  if "flops" in result:
    result["gflops_per_s"] = result["flops"] / step_s / 1e9
    if peak_now:
      result["fraction_of_peak_now"] = result["gflops_per_s"] / peak_now
  return result


# --- convergence sanity run ---------------------------------------------------------------------------

def smooth_blobs(n: int, size: int, seed: int = 0):
  """n RGB images [n, size, size, 3] in [0, 1]: 1-3 Gaussian blobs of random colour, position
  and radius on a dark background (a fixed, smooth, easy-to-learn distribution)."""
  import numpy as np
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
  out = np.zeros((n, size, size, 3), np.float32) + 0.05
  for i in range(n):
    for _ in range(rng.integers(1, 4)):
      cy, cx = rng.uniform(0.2, 0.8, 2)
      r = rng.uniform(0.08, 0.2)
      colour = rng.uniform(0.2, 1.0, 3)
      blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
      out[i] += blob[..., None] * colour
  return np.clip(out, 0.0, 1.0)


def run_convergence(args) -> dict:
  _quiet_tf()
  import numpy as np
  import tensorflow as tf
  data = smooth_blobs(args.conv_examples, 32, seed=0)
  batch = args.conv_batch_size
  model, strategy = build_model("sndcgan", (32, 32, 3), args.precision, args.xla == "on",
                                args.conv_width, 1)
  seed = tf.constant([0, 0], tf.int64)

  @tf.function
  def step_fn(batches, step):
    return strategy.run(model.train_step, args=(batches, step, seed, batch))

  rng = np.random.default_rng(1)  # the same data order in every precision
  history = []
  t0 = time.perf_counter()
  for step in range(args.conv_steps):
    idx = rng.integers(0, len(data), size=(2, batch))
    batches = [{"images": tf.constant(data[idx[j]])} for j in range(2)]
    terms = step_fn(batches, tf.constant(step, tf.int64))
    history.append({k: float(terms[k]) for k in ("d_loss", "g_loss", "d_real_logits",
                                                  "d_fake_logits")})
  elapsed = time.perf_counter() - t0
  samples = model.sample(tf.random.stateless_uniform([256, model.z_dim], [9, 9], -1, 1),
                         use_ema=False).numpy()
  real = data[:256]
  # Crude distribution match: per-channel mean/std of pixels, and mean image distance.
  stats = {"fake_mean": float(samples.mean()), "real_mean": float(real.mean()),
           "fake_std": float(samples.std()), "real_std": float(real.std()),
           "mean_image_l2": float(np.sqrt(((samples.mean(0) - real.mean(0)) ** 2).mean()))}
  return dict(precision=args.precision, width=args.conv_width, steps=args.conv_steps,
              seconds=elapsed, history=history, sample_stats=stats,
              nonfinite=[i for i, h in enumerate(history)
                         if not all(math.isfinite(v) for v in h.values())])


# ------------------------------------------------------------------------------------------------
# Driver side (no TensorFlow import)
# ------------------------------------------------------------------------------------------------

def _worker(argv, timeout=None) -> dict:
  cmd = [sys.executable, os.path.abspath(__file__)] + argv
  env = dict(os.environ)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if ONEDNN[0] == "default":
    # compare_gan turns oneDNN on unless the environment says otherwise (compare_gan/__init__);
    # the peak worker does not import compare_gan, so it gets the same default here.
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
  else:
    env["TF_ENABLE_ONEDNN_OPTS"] = "1" if ONEDNN[0] == "on" else "0"
  try:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
  except subprocess.TimeoutExpired:
    return {"error": f"timed out after {timeout} s"}
  for line in proc.stdout.splitlines():
    if line.startswith(RESULT_MARK):
      return json.loads(line[len(RESULT_MARK):])
  tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
  return {"error": f"worker exited {proc.returncode}:\n{tail}"}


def _fmt_flops(x):
  return f"{x / 1e12:.3f} T" if x >= 1e11 else f"{x / 1e9:.2f} G"


def _fmt_others(x):
  return "?" if x is None else f"{x:.2f}"


def _xla(row) -> str:
  """'off', 'on' or 'step' (older JSON rows hold a bool)."""
  xla = row.get("xla")
  return xla if isinstance(xla, str) else ("on" if xla else "off")


def print_table(peaks, rows, out=sys.stdout):
  print(f"\nmatmul peak: float32 {peaks.get('float32', {}).get('gflops', float('nan')):.1f} "
        f"GFLOP/s, bfloat16 {peaks.get('bfloat16', {}).get('gflops', float('nan')):.1f} GFLOP/s",
        file=out)
  header = (f"{'arch':<13} {'precision':<15} {'xla':<4} {'loop':>4} {'steps/s':>8} {'img/s':>7} "
            f"{'step ms':>9} {'compile s':>9} {'FLOP/step':>10} {'TF count':>10} "
            f"{'GFLOP/s':>8} {'%peak':>6} {'%now':>6} {'others':>6}")
  print(header, file=out)
  print("-" * len(header), file=out)
  for r in rows:
    if "skipped" in r:
      print(f"{r['arch']:<13} {r['precision']:<15} {_xla(r):<4} {r.get('steps_per_loop', 1):>4} skipped: "
            f"predicted {r['predicted_step_s']:.0f} s/step (--budget_s)", file=out)
      continue
    if "error" in r:
      print(f"{r['arch']:<13} {r['precision']:<15} {_xla(r):<4} {r.get('steps_per_loop', 1):>4} ERROR: "
            f"{r['error'].splitlines()[-1][:90]}", file=out)
      continue
    peak_key = "float32" if r["precision"] == "float32" else "bfloat16"
    peak = peaks.get(peak_key, {}).get("gflops")
    gf = r.get("gflops_per_s")
    pct = f"{100 * gf / peak:5.1f}%" if gf and peak else "  n/a"
    now = (f"{100 * r['fraction_of_peak_now']:5.1f}%" if r.get("fraction_of_peak_now")
           else "  n/a")
    print(f"{r['arch']:<13} {r['precision']:<15} {_xla(r):<4} {r.get('steps_per_loop', 1):>4} "
          f"{r['steps_per_s']:8.3f} {r['images_per_s']:7.1f} {1e3 * r['step_s']:9.0f} "
          f"{r['trace_s'] + r['compile_s']:9.1f} {_fmt_flops(r.get('flops', 0)):>10} "
          f"{_fmt_flops(r['flops_tf']) if r.get('flops_tf') else '-':>10} {gf or 0:8.1f} {pct:>6} {now:>6} "
          f"{_fmt_others(r.get('others_cpu')):>6}", file=out)
  done = {(r["arch"], r["precision"], _xla(r), r.get("steps_per_loop", 1)): r
          for r in rows if "steps_per_s" in r}
  ratios = []
  for (arch, precision, xla, spl), r in done.items():
    if precision == "mixed_bfloat16":
      for ref_xla in ("off", "on", "step"):
        ref = done.get((arch, "float32", ref_xla, spl))
        if ref:
          loop = f" loop {spl}" if spl > 1 else ""
          ratios.append(f"{arch}{loop} bf16 xla={xla} / fp32 xla={ref_xla}: "
                        f"{r['steps_per_s'] / ref['steps_per_s']:.2f}x")
    elif spl > 1 and (arch, precision, xla, 1) in done:
      ratios.append(f"{arch} {precision} xla={xla} loop {spl} / loop 1: "
                    f"{r['steps_per_s'] / done[(arch, precision, xla, 1)]['steps_per_s']:.2f}x")
  if ratios:
    print("step-rate ratios: " + "; ".join(ratios), file=out)
  for r in rows:
    if "flops" in r and "flops_tf" in r and r["flops_tf"]:
      rel = abs(r["flops"] - r["flops_tf"]) / r["flops"]
      if rel > 1e-3:
        print(f"note: {r['arch']} {r['precision']} xla={r['xla']}: analytic {r['flops']:.4g} vs "
              f"TF {r['flops_tf']:.4g} FLOPs ({100 * rel:.2f}% apart)", file=out)


def print_profile(res, arch, precision, xla, out=sys.stdout):
  if "error" in res:
    print(f"{arch} {precision} xla={xla}: ERROR {res['error']}", file=out)
    return
  total = res["op_self_time_s"]
  print(f"\nprofile {arch} {precision} xla={xla} patch={res['patch'] or '-'}: step "
        f"{1e3 * res['step_s']:.0f} ms wall, {1e3 * total:.0f} ms op self time (load "
        f"{res['load']})", file=out)
  for cat, sec in res["by_category"].items():
    rate = res["category_gflops_per_s"].get(cat)
    rate = f"{rate:7.1f} GFLOP/s" if rate else ""
    print(f"  {cat:<36} {1e3 * sec:9.1f} ms {100 * sec / total:5.1f}%  {rate}", file=out)
  print("  top ops (self time per step):", file=out)
  for op in res["top_ops"][:15]:
    rate = f"{op['gflops_per_s']:6.1f} GFLOP/s" if op["gflops_per_s"] else " " * 13
    print(f"    {1e3 * op['s']:8.1f} ms {rate}  {op['type']:<22} {op['name']}", file=out)


def print_convergence(results, every: int, out=sys.stdout):
  names = [r["precision"] for r in results]
  print("\nconvergence sanity run: SNDCGAN 32x32, width "
        f"{results[0]['width']}, {results[0]['steps']} steps (window means)", file=out)
  head = f"{'steps':>9} " + " ".join(f"{n + ' d_loss':>22} {n + ' g_loss':>22}" for n in names)
  print(head, file=out)
  steps = results[0]["steps"]
  for start in range(0, steps, every):
    cells = []
    for r in results:
      window = r["history"][start:start + every]
      d = statistics.fmean(h["d_loss"] for h in window)
      g = statistics.fmean(h["g_loss"] for h in window)
      cells.append(f"{d:22.4f} {g:22.4f}")
    print(f"{start + 1:>4}-{min(start + every, steps):<4} " + " ".join(cells), file=out)
  for r in results:
    s = r["sample_stats"]
    print(f"{r['precision']}: {r['seconds']:.0f} s, non-finite losses at "
          f"{r['nonfinite'] or 'no step'}; samples mean/std {s['fake_mean']:.3f}/"
          f"{s['fake_std']:.3f} vs data {s['real_mean']:.3f}/{s['real_std']:.3f}, "
          f"mean-image RMSE {s['mean_image_l2']:.3f}", file=out)


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--arch", nargs="+", choices=sorted(ARCHS), default=None,
                 help="architectures (default: all three)")
  p.add_argument("--precision", nargs="+", choices=PRECISIONS, default=None,
                 help="precisions (default: both)")
  p.add_argument("--xla", nargs="+", choices=("off", "on", "step"), default=None,
                 help="XLA settings (default: off and on): off; on = the gradient maths "
                 "(the model's jit_compile); step = the whole replica step, as "
                 "train.jit_compile compiles it on one device")
  p.add_argument("--steps_per_loop", type=int, nargs="+", default=[1],
                 help="steps per call (train.steps_per_loop; default 1): one row per value")
  p.add_argument("--steps", type=int, default=None,
                 help="timed steps per configuration (default: per architecture, "
                 "sndcgan 8, resnet_cifar 3, resnet19 1)")
  p.add_argument("--warmup", type=int, default=None,
                 help="untimed steps after the first (compiling) one (default: per "
                 "architecture, 1; resnet19 0)")
  p.add_argument("--batch_size", type=int, default=64)
  p.add_argument("--width", type=float, default=1.0, help="G.width = D.width")
  p.add_argument("--disc_iters", type=int, default=1)
  p.add_argument("--image_size", type=int, default=None,
                 help="override the architecture's image size (square, 3 channels)")
  p.add_argument("--quick", action="store_true",
                 help="smoke run: width 0.125, batch 8, 2 timed steps, 32x32 for resnet19, "
                 "XLA off unless --xla is given")
  p.add_argument("--json", metavar="FILE", help="write all results as JSON to FILE")
  p.add_argument("--peak_sizes", type=int, nargs="+", default=[1024, 2048, 3072])
  p.add_argument("--peak_repeats", type=int, default=7)
  p.add_argument("--no_flops", action="store_true", help="skip the FLOP counts")
  p.add_argument("--no_peak_now", action="store_true",
                 help="skip the per-configuration matmul peak measured after the timed steps")
  p.add_argument("--verbose_layers", action="store_true",
                 help="include the per-layer analytic records in the JSON")
  p.add_argument("--max_timed_s", type=float, default=60,
                 help="stop timing a configuration once its timed steps would exceed this "
                 "(at least one timed step); warm-up steps are dropped when they would take "
                 "more than half of it")
  p.add_argument("--budget_s", type=float, default=900,
                 help="skip configurations predicted (from the FLOP count and the GFLOP/s "
                 "measured for the same precision and XLA setting on a smaller architecture) to "
                 "end past this many seconds from the start; 0 = no limit")
  p.add_argument("--timeout", type=float, default=3600,
                 help="seconds before a configuration's subprocess is abandoned")
  p.add_argument("--onednn", choices=("default", "on", "off"), default="default",
                 help="TF_ENABLE_ONEDNN_OPTS for the workers (default: the environment's "
                 "value, else on, as compare_gan does)")
  p.add_argument("--patch", nargs="+", default=[], choices=sorted(PATCHES),
                 help="apply candidate source changes as monkeypatches (see PATCHES)")
  p.add_argument("--profile", action="store_true",
                 help="instead of timing: profile --steps steps with tf.profiler and print "
                 "where the time goes (op self time by category; most useful with --xla off)")
  p.add_argument("--check_convergence", action="store_true",
                 help="fp32 vs mixed_bfloat16 SNDCGAN sanity run instead of the benchmark")
  p.add_argument("--conv_steps", type=int, default=300)
  p.add_argument("--conv_width", type=float, default=0.25)
  p.add_argument("--conv_batch_size", type=int, default=32)
  p.add_argument("--conv_examples", type=int, default=2048)
  p.add_argument("--log_every", type=int, default=50)
  # Internal: run one configuration / the peak / one convergence run in this process.
  p.add_argument("--_worker", choices=("config", "peak", "convergence", "profile", "flops"),
                 help=argparse.SUPPRESS)
  return p.parse_args(argv)


def _flops_only(args) -> dict:
  """Analytic FLOPs per step of every requested architecture (for the driver's budget)."""
  _quiet_tf()
  out = {}
  for arch in args.arch:
    image_shape = tuple(ARCHS[arch][0]) if args.image_size is None else (
        args.image_size, args.image_size, 3)
    model, _ = build_model(arch, image_shape, "float32", False, args.width, args.disc_iters)
    out[arch] = analytic_flops(model, args.batch_size)["flops"]
  return out


def _worker_main(args):
  if args._worker == "flops":
    res = _flops_only(args)
  elif args._worker == "peak":
    _quiet_tf()
    res = {dt: measure_peak(dt, args.peak_sizes, args.peak_repeats)
           for dt in ("float32", "bfloat16")}
    res["onednn"] = onednn_state()
  elif args._worker in ("config", "profile"):
    args.arch, args.precision, args.xla = args.arch[0], args.precision[0], args.xla[0]
    args.steps_per_loop = args.steps_per_loop[0]
    res = run_config(args) if args._worker == "config" else run_profile(args)
  else:
    args.precision, args.xla = args.precision[0], args.xla[0]
    res = run_convergence(args)
  print(RESULT_MARK + json.dumps(res), flush=True)


def main(argv=None):
  args = parse_args(argv)
  if args._worker:
    return _worker_main(args)
  ONEDNN[0] = args.onednn
  common = ["--batch_size", str(args.batch_size), "--disc_iters", str(args.disc_iters)]
  if args.check_convergence:
    results = []
    for precision in (args.precision or PRECISIONS):
      print(f"[convergence] {precision} ...", flush=True)
      res = _worker(["--_worker", "convergence", "--precision", precision, "--xla",
                     (args.xla or ["on"])[0], "--conv_steps", str(args.conv_steps),
                     "--conv_width", str(args.conv_width), "--conv_batch_size",
                     str(args.conv_batch_size), "--conv_examples", str(args.conv_examples)],
                    timeout=args.timeout)
      if "error" in res:
        print(res["error"])
        return 1
      results.append(res)
    print_convergence(results, args.log_every)
    if args.json:
      with open(args.json, "w") as f:
        json.dump({"convergence": results}, f, indent=1)
    return 0 if not any(r["nonfinite"] for r in results) else 1

  archs = args.arch or list(ARCHS)
  precisions = args.precision or list(PRECISIONS)
  xlas = args.xla or (["off"] if args.quick else ["off", "on"])
  width, batch = args.width, args.batch_size
  if args.quick:
    width, batch = 0.125, 8
    common = ["--batch_size", str(batch), "--disc_iters", str(args.disc_iters)]
  started = time.time()
  print(f"load average before: {_uptime()}", flush=True)
  peaks = {} if args.profile else _worker(["--_worker", "peak", "--peak_sizes"]
                  + [str(n) for n in (args.peak_sizes if not args.quick else [512, 1024])],
                  timeout=args.timeout)
  if "error" in peaks:
    print(peaks["error"])
    peaks = {}
  elif peaks:
    print(f"matmul peak: float32 {peaks['float32']['gflops']:.1f} GFLOP/s (TF kernel "
          f"{peaks['float32']['tf_gflops']:.1f}, XLA {peaks['float32']['xla_gflops']:.1f}), "
          f"bfloat16 {peaks['bfloat16']['gflops']:.1f} GFLOP/s (TF kernel "
          f"{peaks['bfloat16']['tf_gflops']:.1f}, XLA {peaks['bfloat16']['xla_gflops']:.1f}); "
          f"oneDNN {peaks.get('onednn', '?')}", flush=True)
  flops = {}
  # resnet19 at its quick 32x32 size gets its FLOP count from its own config worker.
  flop_archs = [a for a in archs if not (args.quick and a == "resnet19")]
  if args.budget_s and not args.profile and flop_archs:
    argv = ["--_worker", "flops", "--arch"] + flop_archs + ["--width", str(width)] + common
    if args.image_size and not args.quick:
      argv += ["--image_size", str(args.image_size)]
    flops = _worker(argv, timeout=args.timeout)
    if "error" in flops:
      print(flops["error"])
      flops = {}
  rates = {}  # (precision, xla) -> (GFLOP/s achieved, compile s, arch) of the last run
  rows = []
  for arch in archs:
    _, steps, warmup = ARCHS[arch]
    steps = args.steps if args.steps is not None else (2 if args.quick else steps)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else warmup)
    for precision in precisions:
      for xla, spl in [(x, k) for x in xlas for k in args.steps_per_loop]:
        argv = ["--_worker", "config", "--arch", arch, "--precision", precision, "--xla", xla,
                "--steps_per_loop", str(spl), "--steps", str(steps), "--warmup", str(warmup), "--width", str(width),
                "--max_timed_s", str(args.max_timed_s)] + common
        if args.quick and arch == "resnet19":
          argv += ["--image_size", "32"]
        elif args.image_size:
          argv += ["--image_size", str(args.image_size)]
        if args.patch:
          argv += ["--patch"] + list(args.patch)
        if args.profile:
          argv[1] = "profile"
          res = _worker(argv, timeout=args.timeout)
          rows.append(res)
          print_profile(res, arch, precision, xla)
          continue
        if args.no_flops:
          argv.append("--no_flops")
        if args.no_peak_now:
          argv.append("--no_peak_now")
        if args.verbose_layers:
          argv.append("--verbose_layers")
        key = (precision, xla)
        if args.budget_s and key in rates and arch in flops:
          rate, compile_s, ref_arch = rates[key]
          step_pred = flops[arch] / (rate * 1e9)
          n_pred = 1 + max(1, min(steps, int(args.max_timed_s // step_pred)))
          if step_pred * warmup <= args.max_timed_s / 2:
            n_pred += warmup
          pred = 20 + 2 * compile_s + n_pred * step_pred
          if time.time() - started + pred > args.budget_s:
            res = dict(arch=arch, precision=precision, xla=xla, steps_per_loop=spl, skipped=(
                f"predicted {step_pred:.0f} s/step ({flops[arch] / 1e12:.2f} TFLOP at the "
                f"{rate:.1f} GFLOP/s measured on {ref_arch}), {pred:.0f} s in all: over "
                f"--budget_s {args.budget_s:.0f}"), predicted_step_s=step_pred,
                flops=flops[arch])
            rows.append(res)
            print(f"{arch} {precision} xla={xla}: skipped, {res['skipped']}", flush=True)
            continue
        t0 = time.time()
        res = _worker(argv, timeout=args.timeout)
        res.setdefault("arch", arch)
        res.setdefault("precision", precision)
        res.setdefault("xla", xla)
        res.setdefault("steps_per_loop", spl)
        res["wall_s"] = time.time() - t0
        rows.append(res)
        if "error" in res:
          print(f"{arch} {precision} xla={xla}: ERROR {res['error']}", flush=True)
        else:
          if res.get("gflops_per_s"):
            rates[key] = (res["gflops_per_s"], res["compile_s"], arch)
          print(f"{arch} {precision} xla={xla} steps_per_loop={spl}: "
                f"{res['steps_per_s']:.3f} steps/s, "
                f"{res['images_per_s']:.1f} img/s, first step {res['first_step_s']:.1f} s, "
                f"{res['timed_steps']} timed, {res.get('gflops_per_s', 0):.1f} GFLOP/s, other "
                f"processes {_fmt_others(res.get('others_cpu'))} cores, load "
                f"{res['load_before']} -> {res['load_after']} ({res['wall_s']:.0f} s)",
                flush=True)
  if args.profile:
    if args.json:
      with open(args.json, "w") as f:
        json.dump({"profiles": rows}, f, indent=1)
    return 0
  print_table(peaks, rows)
  print(f"\ntotal {time.time() - started:.0f} s; load average after: {_uptime()}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"peaks": peaks, "results": rows, "total_s": time.time() - started}, f,
                indent=1)
  return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
  sys.exit(main())
