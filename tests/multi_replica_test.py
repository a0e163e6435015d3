"""Every registered component under MirroredStrategy with two logical CPU devices.

Logical devices must be configured before TensorFlow runs any op, so the checks run in fresh
subprocesses (this file's `__main__`).
"""

import json
import os
import subprocess
import sys

import pytest


# Tracing a two-replica training step costs ~20 s per architecture on 2 CPU cores, so the work
# is split into parts that pytest-xdist can run side by side, each in its own subprocess.
ARCHITECTURE_GROUPS = ("resnet19,mlp", "resnet_cifar,infogan", "sndcgan,dcgan",
                       "resnet_stl,resnet_biggan,resnet_biggan_deep",
                       pytest.param("resnet30", marks=pytest.mark.slow))  # 128x128 only: ~4 min
# Architectures that need another image shape than 16x16x3, and gin options (BigGAN's channels
# and attention for 32x32 at 1/16 width).
SHAPES = {"mlp": (2,), "resnet30": (128, 128, 3), "resnet_biggan": (32, 32, 3),
          "resnet_biggan_deep": (32, 32, 3)}
BIGGAN = ["resnet_biggan.Generator.ch = 64", "resnet_biggan.Discriminator.ch = 64",
          "resnet_biggan.Generator.blocks_with_attention = 'B2'",
          "resnet_biggan_deep.Generator.ch = 64", "resnet_biggan_deep.Discriminator.ch = 64"]
# Conditional ones (CBN in G, projection in D) also exercise the label paths under sync.
CONDITIONAL = ("resnet_cifar", "resnet_biggan", "resnet_biggan_deep")


def _run(part: str) -> dict:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  proc = subprocess.run([sys.executable, __file__, part], capture_output=True, text=True,
                        env=env, timeout=900)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("REPORT ")][-1]
  report = json.loads(line[len("REPORT "):])
  assert report["replicas"] == 2
  return report


def test_groups_cover_every_architecture():
  from compare_gan import architectures
  groups = [getattr(g, "values", (g,))[0] for g in ARCHITECTURE_GROUPS]
  names = [n for group in groups for n in group.split(",")]
  assert sorted(names) == sorted(architectures.ARCHITECTURES)


@pytest.mark.parametrize("group", ARCHITECTURE_GROUPS)
def test_architectures_train_and_replicas_stay_identical(group):
  report = _run("architectures:" + group)
  assert sorted(report["architectures"]) == sorted(group.split(","))
  for name, result in report["architectures"].items():
    assert result["finite"], name
    assert result["max_replica_difference"] == 0.0, name
    assert result["state_changed"], name  # SN u and BN moving averages were updated


def test_losses_penalties_batch_norm_and_xla():
  from compare_gan.gans import losses, penalties
  report = _run("components")
  # Every loss and penalty runs with gradients inside the replica function.
  assert sorted(report["losses"]) == sorted(fn.__name__ for fn in losses.LOSSES)
  assert sorted(report["penalties"]) == sorted(fn.__name__ for fn in penalties.PENALTIES)
  assert all(report["losses"].values()) and all(report["penalties"].values())
  # Two replicas on halves give the single-device values on the whole batch (the relativistic
  # losses all-reduce their mean logits).
  for name, diff in report["loss_vs_single_device"].items():
    assert diff < 1e-6, name
  # Cross-replica BN statistics equal single-device statistics of the global batch.
  assert report["bn_output_difference"] < 1e-5
  assert report["bn_moving_mean_difference"] < 1e-6
  # The XLA path: jit-compiled gradients, state updates applied outside XLA.
  assert report["xla"]["finite"]
  assert report["xla"]["u_changed"]
  assert report["xla"]["max_replica_difference"] == 0.0


def _main(part: str):
  import numpy as np
  import tensorflow as tf
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  import keras
  from compare_gan import architectures
  from compare_gan import config
  from compare_gan.architectures import base, normalization
  from compare_gan.gans import losses, penalties
  config.parse_gin([], BIGGAN)

  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  out = {"replicas": strategy.num_replicas_in_sync, "architectures": {}}
  per_replica = 2
  global_batch = per_replica * strategy.num_replicas_in_sync

  def distribute(fn):
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: fn(ctx.replica_id_in_sync_group))

  def replica_difference(variables):
    worst = 0.0
    for v in variables:
      values = [t.numpy() for t in strategy.experimental_local_results(v)]
      worst = max([worst] + [float(np.max(np.abs(values[0] - x))) for x in values[1:]])
    return worst

  def state(module):
    return [v.numpy().copy() for v in module.non_trainable_variables]

  wanted = part.split(":", 1)[1].split(",") if part.startswith("architectures:") else []
  for name in wanted:
    arch = architectures.get_architecture(name)
    shape = SHAPES.get(name, (16, 16, 3))
    conditional = name in CONDITIONAL
    gopt = base.GeneratorOptions(
        width=0.0625, spectral_norm=True,
        batch_norm_fn=(normalization.conditional_batch_norm if conditional
                       else normalization.batch_norm))
    dopt = base.DiscriminatorOptions(width=0.0625, spectral_norm=True, layer_norm=True,
                                     batch_norm_fn=normalization.batch_norm,
                                     project_y=conditional)
    num_classes = 3 if conditional else None
    with strategy.scope():
      g, d = arch.build(shape, z_dim=8, num_classes=num_classes, generator_options=gopt,
                        discriminator_options=dopt)
      g.build_variables()
      d.build_variables()
      variables = g.trainable_variables + d.trainable_variables
      opt = keras.optimizers.Adam(1e-2)
      opt.build(variables)
    before = state(g) + state(d)

    @tf.function
    def step(z, x, y):
      def replica_fn(z, x, y):
        y = y if conditional else None
        with tf.GradientTape() as tape:
          fake = g(z, y=y, training=True)
          logits, _ = d(tf.concat([x, fake], 0), y=None if y is None else tf.concat([y, y], 0),
                        training=True)
          real_logits, fake_logits = tf.split(logits, 2)
          result = losses.hinge(real_logits, fake_logits)
          loss = tf.reduce_sum(result.d_loss + result.g_loss) / global_batch
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return loss
      return strategy.run(replica_fn, (z, x, y))

    def inputs(i):
      rng = np.random.default_rng(i)
      z = tf.constant(rng.uniform(-1, 1, (per_replica, 8)), tf.float32)
      x = tf.constant(rng.uniform(0, 1, (per_replica,) + shape), tf.float32)
      y = tf.one_hot(tf.constant(rng.integers(0, 3, per_replica)), 3)
      return z, x, y

    zs = distribute(lambda i: inputs(i)[0])
    xs = distribute(lambda i: inputs(i)[1])
    ys = distribute(lambda i: inputs(i)[2])
    loss = step(zs, xs, ys)
    after = state(g) + state(d)
    out["architectures"][name] = {
        "finite": bool(all(np.isfinite(t.numpy()).all()
                           for t in strategy.experimental_local_results(loss))) and all(
                               np.isfinite(v.numpy()).all() for v in variables),
        "max_replica_difference": replica_difference(g.variables + d.variables),
        "state_changed": any(not np.array_equal(a, b) for a, b in zip(before, after)),
    }

  if part != "components":
    print("REPORT " + json.dumps(out))
    return

  # Losses and penalties inside the replica function, with gradients.
  rng = np.random.default_rng(0)
  real_logits = rng.normal(size=(global_batch, 1)).astype(np.float32)
  fake_logits = rng.normal(size=(global_batch, 1)).astype(np.float32)
  halves = lambda a: distribute(lambda i: tf.constant(a[i * per_replica:(i + 1) * per_replica]))
  out["losses"], out["loss_vs_single_device"] = {}, {}
  for fn in losses.LOSSES:
    @tf.function
    def run_loss(r, f, fn=fn):
      return strategy.run(lambda r, f: tf.stack([tf.reduce_sum(t) for t in fn(r, f)]), (r, f))
    per = strategy.experimental_local_results(run_loss(halves(real_logits), halves(fake_logits)))
    total = sum(t.numpy() for t in per) / global_batch
    single = np.array([tf.reduce_mean(t).numpy() for t in fn(tf.constant(real_logits),
                                                              tf.constant(fake_logits))])
    out["losses"][fn.__name__] = bool(np.isfinite(total).all())
    out["loss_vs_single_device"][fn.__name__] = float(np.max(np.abs(total - single)))

  with strategy.scope():
    d = architectures.get_architecture("sndcgan").discriminator(
        (8, 8, 1), options=base.DiscriminatorOptions(width=0.125, spectral_norm=True))
    d.build_variables()
  out["penalties"] = {}
  images = rng.uniform(size=(global_batch, 8, 8, 1)).astype(np.float32)
  for fn in penalties.PENALTIES:
    @tf.function
    def run_penalty(x, fn=fn):
      def replica_fn(x):
        with tf.GradientTape() as tape:
          value = tf.reduce_mean(fn(lambda t: d(t, training=True)[0], x, x[::-1],
                                    seed=tf.constant([1, 2], tf.int64)) if fn is not
                                 penalties.l2_penalty else fn(d, x, x, seed=tf.constant([1, 2])))
        grads = tape.gradient(value, d.trainable_variables)
        return value, tf.add_n([tf.reduce_sum(tf.abs(g)) for g in grads if g is not None]
                               + [tf.constant(0.0)])
      return strategy.run(replica_fn, (x,))
    value, grad_sum = run_penalty(halves(images))
    out["penalties"][fn.__name__] = bool(all(
        np.isfinite(t.numpy()) for t in strategy.experimental_local_results(value) +
        strategy.experimental_local_results(grad_sum)))

  # Cross-replica BN: two halves under the strategy equal one device on the whole batch.
  x = rng.normal(size=(global_batch, 3, 3, 4)).astype(np.float32) * 3 + 1
  with strategy.scope():
    bn = normalization.batch_norm(name="bn")
    bn(tf.zeros([1, 3, 3, 4]), training=False)
  reference = normalization.batch_norm(name="bn_single")
  reference(tf.zeros([1, 3, 3, 4]), training=False)
  expected = reference(tf.constant(x), training=True).numpy()
  got = strategy.run(tf.function(lambda t: bn(t, training=True)), (halves(x),))
  got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(got)])
  out["bn_output_difference"] = float(np.max(np.abs(got - expected)))
  out["bn_moving_mean_difference"] = float(np.max(np.abs(
      bn.standardize.moving_mean.numpy() - reference.standardize.moving_mean.numpy())))

  # The training runtime's XLA path: pure gradient maths jit-compiled inside the replica
  # function, state updates (spectral-norm u) collected by keras.StatelessScope and assigned
  # outside XLA. (BN cross-replica moments need an all-reduce, which XLA cannot hold here.)
  with strategy.scope():
    g, d = architectures.get_architecture("sndcgan").build(
        (8, 8, 1), z_dim=8,
        generator_options=base.GeneratorOptions(width=0.0625, spectral_norm=True),
        discriminator_options=base.DiscriminatorOptions(width=0.0625, spectral_norm=True))
    g.build_variables()
    d.build_variables()
    variables = g.trainable_variables + d.trainable_variables
    opt = keras.optimizers.Adam(1e-2)
    opt.build(variables)
  states = g.non_trainable_variables + d.non_trainable_variables
  u_before = [v.numpy().copy() for v in states]

  @tf.function(jit_compile=True)
  def grads_fn(z, x):
    with keras.StatelessScope() as scope:
      with tf.GradientTape() as tape:
        logits, _ = d(tf.concat([x, g(z, training=True)], 0), training=True)
        r, f = tf.split(logits, 2)
        loss = tf.reduce_mean(losses.non_saturating(r, f).d_loss)
      grads = tape.gradient(loss, variables)
      new_state = [scope.get_current_value(v) for v in states]
    return grads, [n if n is not None else tf.convert_to_tensor(v)
                   for n, v in zip(new_state, states)]

  @tf.function
  def xla_step(z, x):
    def replica_fn(z, x):
      grads, new_state = grads_fn(z, x)
      opt.apply_gradients(zip(grads, variables))
      for v, n in zip(states, new_state):
        v.assign(n)
      return tf.add_n([tf.reduce_sum(gr) for gr in grads])
    return strategy.run(replica_fn, (z, x))

  total = xla_step(distribute(lambda i: tf.random.stateless_uniform([per_replica, 8], [i, 0])),
                   distribute(lambda i: tf.random.stateless_uniform([per_replica, 8, 8, 1],
                                                                    [i, 1])))
  out["xla"] = {
      "finite": bool(all(np.isfinite(t.numpy()) for t in
                         strategy.experimental_local_results(total))),
      "u_changed": any(not np.array_equal(a, v.numpy()) for a, v in zip(u_before, states)),
      "max_replica_difference": replica_difference(g.variables + d.variables),
  }
  print("REPORT " + json.dumps(out))


if __name__ == "__main__":
  _main(sys.argv[1])
