"""ModularGAN's training step against the reference semantics (docs: reference section 5).

Every model is a width-1/16 SNDCGAN on 16x16x1 images with batch 4, trained eagerly (the default
strategy's `run` calls the replica function directly), so spies can record what G and D see.
"""

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import sndcgan
from compare_gan.gans import latents
from compare_gan.gans import modular_gan
from compare_gan.gans import penalties

SHAPE = (16, 16, 1)
B = 4
Z_DIM = 8
SEED = tf.constant([3, 5], tf.int64)
TINY = ["ModularGAN.architecture = @sndcgan()", "G.width = 0.0625", "D.width = 0.0625",
        f"ModularGAN.z_dim = {Z_DIM}"]


def make_model(*bindings, num_classes=None, seed=0):
  """A tiny ModularGAN with exactly TINY + `bindings` in gin."""
  gin.clear_config()
  config.parse_gin([], TINY + list(bindings))
  return modular_gan.ModularGAN(SHAPE, num_classes, seed=seed)


def make_batches(model, seed=0, num_classes=None):
  """`model.real_batches_per_step` distinct real batches (with int32 labels when
  `num_classes`)."""
  rng = np.random.default_rng(seed)
  batches = []
  for _ in range(model.real_batches_per_step):
    batch = {"images": tf.constant(rng.uniform(size=(B,) + SHAPE), tf.float32)}
    if num_classes:
      batch["labels"] = tf.constant(rng.integers(0, num_classes, B), tf.int32)
    batches.append(batch)
  return batches


def run_step(model, batches, step):
  return tf.distribute.get_strategy().run(
      model.train_step, args=(batches, tf.constant(step, tf.int64), SEED, B))


def values(variables):
  return [v.numpy().copy() for v in variables]


def spy(layer, method, record):
  """Replaces `layer.<method>(x, y, training)` by a wrapper that records (x, y) as numpy."""
  original = getattr(layer, method)

  def wrapper(x, y, training):
    record.append((x.numpy(), None if y is None else y.numpy()))
    return original(x, y, training)

  setattr(layer, method, wrapper)


def expected_z(step, sub_step):
  """The uniform [-1, 1) latents of (SEED, step, sub-step), drawn independently of the model."""
  seed = latents.derive_seed(SEED, step, sub_step, latents.TRAIN_Z)
  return tf.random.stateless_uniform([B, Z_DIM], seed, -1.0, 1.0).numpy()


# ----------------------------------------------------------------------------------------------
# Step structure
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("disc_iters", [1, 3])
def test_disc_iters_is_used_correctly(disc_iters):
  # Reference modular_gan_test.testDiscItersIsUsedCorrectly: global_step counts G updates.
  model = make_model(f"ModularGAN.disc_iters = {disc_iters}")
  assert model.disc_iters == disc_iters
  batches = make_batches(model)
  for step in range(2):
    run_step(model, batches, step)
    assert int(model.g_optimizer.iterations) == step + 1
    assert int(model.d_optimizer.iterations) == (step + 1) * disc_iters


def test_train_step_needs_disc_iters_plus_one_batches():
  model = make_model("ModularGAN.disc_iters = 2")
  with pytest.raises(ValueError, match="disc_iters \\+ 1 = 3"):
    run_step(model, make_batches(model)[:2], 0)


def test_every_sub_step_has_its_own_real_batch_and_latents():
  model = make_model("ModularGAN.disc_iters = 2")
  seen_by_d, seen_by_g = [], []
  spy(model.discriminator, "discriminate", seen_by_d)
  spy(model.generator, "generate", seen_by_g)
  batches = [make_batches(model, seed=step) for step in range(2)]
  run_step(model, batches[0], 0)
  run_step(model, batches[1], 1)
  # One joint D call per update: 2 D updates + 1 G update per step.
  assert len(seen_by_d) == len(seen_by_g) == 6
  for step in range(2):
    for i in range(3):
      x, _ = seen_by_d[3 * step + i]
      z, _ = seen_by_g[3 * step + i]
      assert x.shape == (2 * B,) + SHAPE
      # Real half: batch i (D updates 0, 1), then the last batch for the G update.
      np.testing.assert_array_equal(x[:B], batches[step][i]["images"].numpy())
      np.testing.assert_array_equal(z, expected_z(step, i))
  zs = [z for z, _ in seen_by_g]
  for a in range(6):
    for b in range(a + 1, 6):
      assert not np.allclose(zs[a], zs[b]), (a, b)


def test_fake_half_of_the_joint_d_call_is_this_sub_steps_generator_output():
  model = make_model()
  seen_by_d, fakes = [], []
  spy(model.discriminator, "discriminate", seen_by_d)
  original = model.generator.generate

  def recording_generate(z, y, training):
    out = original(z, y, training)
    fakes.append(out.numpy())
    return out

  model.generator.generate = recording_generate
  run_step(model, make_batches(model), 0)
  assert len(seen_by_d) == len(fakes) == 2
  for (x, _), fake in zip(seen_by_d, fakes):
    np.testing.assert_array_equal(x[B:], fake)


def _first_step_terms(split, *bindings):
  model = make_model(f"ModularGAN.deprecated_split_disc_calls = {split}", *bindings)
  calls = []
  spy(model.discriminator, "discriminate", calls)
  terms = run_step(model, make_batches(model), 0)
  return {k: float(v) for k, v in terms.items()}, [x.shape[0] for x, _ in calls]


def test_joint_disc_call_shares_batch_norm_statistics_split_calls_do_not():
  joint, joint_calls = _first_step_terms(False, "D.batch_norm_fn = @batch_norm")
  split, split_calls = _first_step_terms(True, "D.batch_norm_fn = @batch_norm")
  assert joint_calls == [2 * B, 2 * B]  # D update, G update: one call on [real; fake] each
  assert split_calls == [B, B, B, B]  # real and fake separately
  # The first D loss is computed with identical weights and inputs: only BN statistics differ.
  assert abs(joint["d_loss"] - split["d_loss"]) > 1e-3


def test_joint_and_split_disc_calls_agree_without_normalisation():
  joint, _ = _first_step_terms(False)
  split, _ = _first_step_terms(True)
  assert joint.keys() == split.keys()
  for name in joint:
    np.testing.assert_allclose(joint[name], split[name], rtol=1e-5, atol=1e-6, err_msg=name)


# ----------------------------------------------------------------------------------------------
# v2's generator update (the GAN Landscape code)
# ----------------------------------------------------------------------------------------------

V2 = ["ModularGAN.v2_generator_step = True", "ModularGAN.deprecated_split_disc_calls = True"]


def record_generator(model):
  """Spies on G: returns (z list, output list), both numpy, one entry per G call."""
  zs, outputs = [], []
  original = model.generator.generate

  def recording_generate(z, y, training):
    out = original(z, y, training)
    zs.append(z.numpy())
    outputs.append(out.numpy())
    return out

  model.generator.generate = recording_generate
  return zs, outputs


@pytest.mark.parametrize("disc_iters", [1, 3])
def test_v2_generator_step_reads_one_batch_per_d_update(disc_iters):
  assert make_model(f"ModularGAN.disc_iters = {disc_iters}").real_batches_per_step == (
      disc_iters + 1)
  model = make_model(f"ModularGAN.disc_iters = {disc_iters}", *V2)
  assert model.real_batches_per_step == disc_iters
  run_step(model, make_batches(model), 0)
  assert int(model.d_optimizer.iterations) == disc_iters
  assert int(model.g_optimizer.iterations) == 1
  one_more = make_batches(model) + make_batches(model)[:1]
  with pytest.raises(ValueError, match=rf"disc_iters \(v2_generator_step: the G update reads "
                                       rf"none\) = {disc_iters} batches; got {disc_iters + 1}"):
    run_step(model, one_more, 1)


def test_v2_generator_step_reuses_the_last_z_and_runs_d_on_fakes_only():
  model = make_model("ModularGAN.disc_iters = 2", "G.batch_norm_fn = @batch_norm", *V2)
  seen_by_d = []
  spy(model.discriminator, "discriminate", seen_by_d)
  zs, fakes = record_generator(model)
  batches = [make_batches(model, seed=step) for step in range(2)]
  for step in range(2):
    run_step(model, batches[step], step)
  # Per step: 2 D updates x (real call, fake call) + the G update's single call on fakes.
  assert [x.shape[0] for x, _ in seen_by_d] == [B] * 10
  assert len(zs) == 6
  for step in range(2):
    d_calls, g = seen_by_d[5 * step:5 * step + 5], 3 * step
    for i in range(2):
      np.testing.assert_array_equal(d_calls[2 * i][0], batches[step][i]["images"].numpy())
      np.testing.assert_array_equal(d_calls[2 * i + 1][0], fakes[g + i])
      np.testing.assert_array_equal(zs[g + i], expected_z(step, i))
    # The G update: the last D update's z (sub-step 1), no z of its own (sub-step 2), and D
    # sees exactly G's output, nothing real.
    np.testing.assert_array_equal(zs[g + 2], expected_z(step, 1))
    assert not np.allclose(zs[g + 2], expected_z(step, 2))
    np.testing.assert_array_equal(d_calls[4][0], fakes[g + 2])
    # Same z, same G weights and batch statistics: the D update's fakes again.
    np.testing.assert_array_equal(fakes[g + 2], fakes[g + 1])


@pytest.mark.parametrize("split", [True, False])
def test_v2_generator_step_updates_d_state_from_the_fakes_only(split):
  # D's batch-norm moving averages and spectral-norm u change in the G update exactly as one
  # training-mode D pass over the fakes alone changes them.
  model = make_model("ModularGAN.v2_generator_step = True",
                     f"ModularGAN.deprecated_split_disc_calls = {split}",
                     "D.batch_norm_fn = @batch_norm", "D.spectral_norm = True")
  d_state = model.discriminator.non_trainable_variables
  assert {v.path.rsplit("/", 1)[-1] for v in d_state} == {"moving_mean", "moving_variance", "u"}
  original, expected = model._g_gradients, {}

  def checking_g_gradients(real, real_labels, z, fake_labels, global_batch_size):
    assert real is None and real_labels is None
    with keras.StatelessScope() as scope:
      model.discriminator(model.generator(z, training=True), training=True)
    expected["before"] = values(d_state)
    expected["after"] = [np.array(scope.get_current_value(v)) for v in d_state]
    return original(real, real_labels, z, fake_labels, global_batch_size)

  model._g_gradients = checking_g_gradients
  run_step(model, make_batches(model), 0)
  for var, before, after in zip(d_state, expected["before"], expected["after"]):
    np.testing.assert_allclose(var.numpy(), after, rtol=1e-6, atol=1e-7, err_msg=var.path)
    assert not np.allclose(before, after), var.path  # the G update did update it


def test_v2_generator_step_keeps_the_last_d_updates_fake_labels():
  batches, seen_by_d, seen_by_g = _conditional_run("ModularGAN.v2_generator_step = True",
                                                   d_calls=3, g_calls=3)
  # D updates 0 and 1 see [real; fake] (joint call); the G update fakes only, with the labels
  # that G got in D update 1 (sub-step 1's draw).
  assert [x.shape[0] for x, _ in seen_by_d] == [2 * B, 2 * B, B]
  sub_step_1 = tf.random.stateless_uniform(
      [B], latents.derive_seed(SEED, 0, 1, latents.TRAIN_LABELS), 0, 3, dtype=tf.int32).numpy()
  np.testing.assert_array_equal(seen_by_g[1][1].argmax(axis=1), sub_step_1)
  np.testing.assert_array_equal(seen_by_g[2][1], seen_by_g[1][1])
  np.testing.assert_array_equal(seen_by_d[2][1], seen_by_g[1][1])


def test_v2_generator_step_rejects_a_loss_whose_g_term_reads_real_logits():
  for loss in ("ra_hinge", "ra_non_saturating"):
    with pytest.raises(config.ConfigError, match="v2_generator_step.*real logits"):
      make_model("ModularGAN.v2_generator_step = True", f"loss.fn = @{loss}")
  for loss in ("non_saturating", "least_squares", "wasserstein", "hinge", "minimax"):
    make_model("ModularGAN.v2_generator_step = True", f"loss.fn = @{loss}")


# ----------------------------------------------------------------------------------------------
# Loss terms
# ----------------------------------------------------------------------------------------------

def test_d_loss_adds_weighted_gradient_penalty():
  model = make_model("penalty.fn = @wgangp_penalty", "penalty.weight = 10.0")
  batches = make_batches(model)
  seen_by_d = []
  spy(model.discriminator, "discriminate", seen_by_d)
  # Independent penalty on the initial weights: fakes from sub-step 0's z, the penalty seed of
  # (SEED, step 0, sub-step 0). G and D have no normalisation, so these calls change no state.
  real = batches[0]["images"]
  fake = model.generator(tf.constant(expected_z(0, 0)), training=True)
  penalty_seed = latents.derive_seed(SEED, 0, 0, latents.TRAIN_PENALTY)
  expected = penalties.wgangp_penalty(
      lambda x: model.discriminator(x, training=True)[0], real, fake, seed=penalty_seed)
  del seen_by_d[:]
  terms = {k: float(v) for k, v in run_step(model, batches, 0).items()}
  assert terms["penalty"] > 0
  np.testing.assert_allclose(terms["penalty"], float(tf.reduce_mean(expected)), rtol=1e-5)
  np.testing.assert_allclose(
      terms["d_loss"], terms["d_loss_real"] + terms["d_loss_fake"] + 10.0 * terms["penalty"],
      rtol=1e-6)
  # D calls: [real; fake] and the interpolates for the D update, [real; fake] for the G update
  # (whose loss has no penalty). The interpolates use one alpha per example from the penalty seed.
  assert [x.shape[0] for x, _ in seen_by_d] == [2 * B, B, 2 * B]
  alpha = tf.random.stateless_uniform([B, 1, 1, 1], penalty_seed).numpy()
  joint, x_hat = seen_by_d[0][0], seen_by_d[1][0]
  np.testing.assert_allclose(x_hat, joint[:B] + alpha * (joint[B:] - joint[:B]), atol=1e-6)


def test_d_loss_adds_weighted_l2_penalty_once():
  model = make_model("penalty.fn = @l2_penalty", "penalty.weight = 10.0")
  kernels = [v.numpy() for v in model.discriminator.trainable_variables if v.name == "kernel"]
  assert len(kernels) == 8  # 7 convs and the final linear layer
  expected = np.mean([0.5 * np.sum(np.square(k.astype(np.float64))) for k in kernels])
  terms = {k: float(v) for k, v in run_step(model, make_batches(model), 0).items()}
  np.testing.assert_allclose(terms["penalty"], expected, rtol=1e-5)
  np.testing.assert_allclose(
      terms["d_loss"], terms["d_loss_real"] + terms["d_loss_fake"] + 10.0 * terms["penalty"],
      rtol=1e-6)


def test_without_penalty_d_loss_is_real_plus_fake():
  model = make_model()
  terms = {k: float(v) for k, v in run_step(model, make_batches(model), 0).items()}
  assert sorted(terms) == ["d_fake_logits", "d_loss", "d_loss_fake", "d_loss_real",
                           "d_real_logits", "g_loss", "penalty"]
  assert terms["penalty"] == 0.0
  np.testing.assert_allclose(terms["d_loss"], terms["d_loss_real"] + terms["d_loss_fake"],
                             rtol=1e-6)
  # Non-saturating losses from the mean logits' signs: softplus terms are positive.
  assert all(np.isfinite(list(terms.values())))


# ----------------------------------------------------------------------------------------------
# EMA
# ----------------------------------------------------------------------------------------------

def test_ema_of_generator_weights():
  model = make_model("ModularGAN.g_use_ema = True", "ModularGAN.ema_start_step = 2",
                     "ModularGAN.ema_decay = 0.5", "G.batch_norm_fn = @batch_norm")
  g, ema = model.generator, model.generator_ema
  assert model.sampling_generator is ema
  # EMA mirrors G variable for variable; D and the optimizers do not see it.
  assert [v.path for v in ema.variables] == [
      v.path.replace("generator/", "generator_ema/", 1) for v in g.variables]
  assert len(ema.trainable_variables) == len(g.trainable_variables)
  assert len(ema.non_trainable_variables) == len(g.non_trainable_variables) == 8  # 4 BN x 2
  assert not any(v.path.startswith("generator_ema") for v in model.discriminator.variables)
  # Adam: iterations, learning rate and two slots per trainable variable of its own network.
  assert len(model.g_optimizer.variables) == 2 + 2 * len(g.trainable_variables)
  assert len(model.d_optimizer.variables) == 2 + 2 * len(model.discriminator.trainable_variables)
  for a, b in zip(ema.variables, g.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())

  batches = make_batches(model)
  run_step(model, batches, 0)  # 1 G update done < ema_start_step: decay 0, EMA = G.
  for a, b in zip(values(ema.trainable_variables), values(g.trainable_variables)):
    np.testing.assert_array_equal(a, b)
  previous = values(ema.trainable_variables)
  for step in (1, 2):  # >= ema_start_step G updates done: EMA = 0.5 EMA + 0.5 G.
    run_step(model, batches, step)
    current = values(g.trainable_variables)
    for var, prev, new, now in zip(ema.trainable_variables, previous, current,
                                   values(ema.trainable_variables)):
      np.testing.assert_allclose(now, 0.5 * prev + 0.5 * new, rtol=1e-6, atol=1e-9,
                                 err_msg=var.path)
    assert any(not np.array_equal(a, b) for a, b in zip(values(ema.trainable_variables),
                                                           current))
    previous = values(ema.trainable_variables)
  # BN moving statistics are copied, not averaged (and the raw G has updated them).
  for a, b in zip(ema.non_trainable_variables, g.non_trainable_variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert any(np.any(v.numpy() != 0) for v in g.non_trainable_variables if "moving_mean" in v.path)
  # `sample` uses the EMA generator unless asked not to.
  z = tf.constant(expected_z(9, 0))
  np.testing.assert_array_equal(model.sample(z).numpy(),
                                ema(z, training=False).numpy())
  assert not np.array_equal(model.sample(z).numpy(), model.sample(z, use_ema=False).numpy())


def test_without_ema_the_raw_generator_samples():
  model = make_model()
  assert model.generator_ema is None
  assert model.sampling_generator is model.generator
  assert "generator_ema" not in model.checkpoint_items()


# ----------------------------------------------------------------------------------------------
# Conditional GAN
# ----------------------------------------------------------------------------------------------

CONDITIONAL = ["ModularGAN.conditional = True", "G.batch_norm_fn = @conditional_batch_norm",
               "D.project_y = True"]


def _conditional_run(*bindings, steps=1, d_calls=3, g_calls=3):
  model = make_model(*CONDITIONAL, "ModularGAN.disc_iters = 2", *bindings, num_classes=3)
  seen_by_d, seen_by_g = [], []
  spy(model.discriminator, "discriminate", seen_by_d)
  spy(model.generator, "generate", seen_by_g)
  batches = make_batches(model, num_classes=3)
  for step in range(steps):
    run_step(model, batches, step)
  assert len(seen_by_d) == d_calls * steps and len(seen_by_g) == g_calls * steps
  return batches, seen_by_d, seen_by_g


def _check_labels_fed(batches, seen_by_d, seen_by_g, sub_step_index):
  """D sees [real one-hot; fake one-hot] and G the fake one-hot; returns the fake int labels."""
  i = sub_step_index % 3
  _, d_y = seen_by_d[sub_step_index]
  _, g_y = seen_by_g[sub_step_index]
  assert d_y.shape == (2 * B, 3) and g_y.shape == (B, 3)
  np.testing.assert_array_equal(d_y[:B], np.eye(3)[batches[i]["labels"].numpy()])
  np.testing.assert_array_equal(d_y[B:], g_y)
  assert np.all(g_y.sum(axis=1) == 1) and set(np.unique(g_y)) <= {0.0, 1.0}
  return g_y.argmax(axis=1)


def test_conditional_fit_label_distribution_uses_the_real_labels():
  batches, seen_by_d, seen_by_g = _conditional_run("ModularGAN.fit_label_distribution = True")
  for k in range(3):
    fake_labels = _check_labels_fed(batches, seen_by_d, seen_by_g, k)
    np.testing.assert_array_equal(fake_labels, batches[k]["labels"].numpy())


def test_conditional_samples_labels_from_seed_and_step():
  batches, seen_by_d, seen_by_g = _conditional_run(steps=2)
  sampled = []
  for k in range(6):
    step, i = divmod(k, 3)
    fake_labels = _check_labels_fed(batches, seen_by_d, seen_by_g, k)
    expected = tf.random.stateless_uniform(
        [B], latents.derive_seed(SEED, step, i, latents.TRAIN_LABELS), 0, 3, dtype=tf.int32)
    np.testing.assert_array_equal(fake_labels, expected.numpy())
    sampled.append(fake_labels)
  assert len({tuple(s) for s in sampled}) > 1  # fresh labels per sub-step / step


def test_conditional_needs_labels():
  with pytest.raises(ValueError, match="labels"):
    make_model(*CONDITIONAL, num_classes=None)


def test_fit_label_distribution_needs_conditional():
  with pytest.raises(ValueError, match="conditional"):
    make_model("ModularGAN.fit_label_distribution = True")


# ----------------------------------------------------------------------------------------------
# Latents and seeds
# ----------------------------------------------------------------------------------------------

def test_latent_distribution_defaults_to_uniform_minus_one_one():
  dist = latents.latent_distribution()
  assert (dist.kind, dist.minval, dist.maxval) == ("uniform", -1.0, 1.0)
  z = dist.sample([4000, 8], SEED).numpy()
  assert z.dtype == np.float32 and z.shape == (4000, 8)
  assert z.min() >= -1.0 and z.max() < 1.0
  assert z.min() < -0.99 and z.max() > 0.99
  np.testing.assert_allclose(z, dist.sample([4000, 8], SEED).numpy())


def test_latent_distribution_gin_choices():
  config.parse_gin([], ["z.distribution_fn = @tf.random.normal", "z.stddev = 2.0"])
  dist = latents.latent_distribution()
  assert (dist.kind, dist.stddev) == ("normal", 2.0)
  z = dist.sample([20000], SEED).numpy()
  assert abs(z.std() - 2.0) < 0.05 and abs(z.mean()) < 0.05

  gin.clear_config()
  config.parse_gin([], ["z.distribution_fn = @tf.random.truncated_normal"])
  assert latents.latent_distribution().kind == "truncated_normal"

  gin.clear_config()
  config.parse_gin([], ["z.minval = 0.5", "z.maxval = 2.0"])
  dist = latents.latent_distribution()
  z = dist.sample([4000], SEED).numpy()
  assert dist.kind == "uniform" and z.min() >= 0.5 and z.max() < 2.0 and z.min() < 0.51


def test_model_uses_the_configured_latents():
  model = make_model("z.distribution_fn = @tf.random.normal")
  assert model.z.kind == "normal"
  seen_by_g = []
  spy(model.generator, "generate", seen_by_g)
  run_step(model, make_batches(model), 0)
  expected = tf.random.stateless_normal(
      [B, Z_DIM], latents.derive_seed(SEED, 0, 1, latents.TRAIN_Z)).numpy()
  np.testing.assert_array_equal(seen_by_g[1][0], expected)


def test_unsupported_latent_function_lists_the_valid_ones():
  config.parse_gin([], ["z.distribution_fn = @tf.keras.optimizers.Adam"])
  with pytest.raises(ValueError) as error:
    latents.latent_distribution()
  for name in ("@tf.random.normal", "@tf.random.uniform", "@tf.random.truncated_normal"):
    assert name in str(error.value)


def test_derive_seed_is_deterministic_and_distinct():
  keys = [(step, sub, purpose) for step in (0, 1, 7) for sub in (0, 1, 2)
          for purpose in (latents.TRAIN_Z, latents.TRAIN_LABELS, latents.TRAIN_PENALTY)]
  seeds = {k: tuple(latents.derive_seed(SEED, *k).numpy()) for k in keys}
  assert len(set(seeds.values())) == len(keys)
  for k in keys[:5]:
    assert tuple(latents.derive_seed(SEED, *k).numpy()) == seeds[k]
  other = tuple(latents.derive_seed(tf.constant([3, 6], tf.int64), *keys[0]).numpy())
  assert other != seeds[keys[0]]


# ----------------------------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------------------------

def _all_variables(model):
  return model.generator.variables + model.discriminator.variables


def test_training_is_bit_for_bit_deterministic():
  bindings = ("D.spectral_norm = True", "G.batch_norm_fn = @batch_norm")
  initial, results = [], []
  for _ in range(2):
    model = make_model(*bindings, seed=0)
    initial.append(values(_all_variables(model)))
    batches = make_batches(model)
    for step in range(2):
      run_step(model, batches, step)
    results.append(values(_all_variables(model)))
  for a, b in zip(*results):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(*initial):
    np.testing.assert_array_equal(a, b)
  # Training moved every kernel and every spectral-norm u, so the comparison has teeth.
  for var, a, b in zip(_all_variables(model), initial[0], results[0]):
    if var.path.endswith(("/kernel", "/u")):
      assert not np.array_equal(a, b), var.path


def test_seed_changes_initial_weights():
  a = make_model(seed=0)
  b = make_model(seed=1)
  c = make_model(seed=0)
  for x, y, z in zip(a.generator.trainable_variables, b.generator.trainable_variables,
                     c.generator.trainable_variables):
    np.testing.assert_array_equal(x.numpy(), z.numpy())
    if x.name == "kernel":
      assert not np.array_equal(x.numpy(), y.numpy()), x.path


# ----------------------------------------------------------------------------------------------
# Optimizers
# ----------------------------------------------------------------------------------------------

def test_default_optimizers_are_the_references_adam():
  model = make_model()
  assert model.g_optimizer is not model.d_optimizer
  for opt in (model.g_optimizer, model.d_optimizer):
    assert type(opt) is keras.optimizers.Adam
    np.testing.assert_allclose(float(opt.learning_rate), 2e-4, rtol=1e-6)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-8)


def test_ttur_through_gin_scopes():
  model = make_model("ModularGAN.g_optimizer = @generator/tf.keras.optimizers.Adam()",
                     "ModularGAN.d_optimizer = @discriminator/tf.keras.optimizers.Adam()",
                     "generator/tf.keras.optimizers.Adam.learning_rate = 1e-4",
                     "discriminator/tf.keras.optimizers.Adam.learning_rate = 4e-4",
                     "tf.keras.optimizers.Adam.beta_1 = 0.0")
  np.testing.assert_allclose(float(model.g_optimizer.learning_rate), 1e-4, rtol=1e-6)
  np.testing.assert_allclose(float(model.d_optimizer.learning_rate), 4e-4, rtol=1e-6)
  assert model.g_optimizer.beta_1 == model.d_optimizer.beta_1 == 0.0
  # The optimizers are built on their own networks' variables.
  assert len(model.g_optimizer.variables) == 2 + 2 * len(model.generator.trainable_variables)
  assert len(model.d_optimizer.variables) == 2 + 2 * len(
      model.discriminator.trainable_variables)


def test_shared_optimizer_object_is_rejected():
  gin.clear_config()
  config.parse_gin([], TINY[1:])
  opt = keras.optimizers.Adam()
  with pytest.raises(ValueError, match="same object"):
    modular_gan.ModularGAN(SHAPE, None, architecture=sndcgan.ARCHITECTURE, z_dim=Z_DIM,
                           g_optimizer=opt, d_optimizer=opt)


def test_non_optimizer_is_rejected_by_name():
  # A gin reference without parentheses hands over the class, not an optimizer.
  with pytest.raises(ValueError, match="ModularGAN.d_optimizer=.*Adam.*parentheses"):
    make_model("ModularGAN.d_optimizer = @tf.keras.optimizers.Adam")
  gin.clear_config()
  config.parse_gin([], TINY[1:])
  with pytest.raises(ValueError, match="ModularGAN.g_optimizer='adam'"):
    modular_gan.ModularGAN(SHAPE, None, architecture=sndcgan.ARCHITECTURE, z_dim=Z_DIM,
                           g_optimizer="adam")


def test_mixed_float16_wraps_optimizers_in_loss_scaling(mixed_float16):
  assert keras.mixed_precision.global_policy().name == "mixed_float16"
  # No batch norm: at this tiny width BN's float16 gradients overflow the initial loss scale
  # (2^15), and the loss-scale optimizers would (correctly) skip the step and halve the scale.
  model = make_model()
  for opt in (model.g_optimizer, model.d_optimizer):
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    assert isinstance(opt.inner_optimizer, keras.optimizers.Adam)
  before = values(_all_variables(model))
  terms = run_step(model, make_batches(model), 0)
  assert all(np.isfinite(float(v)) for v in terms.values()), terms
  assert all(v.dtype == "float32" for v in _all_variables(model))
  after = values(_all_variables(model))
  assert all(np.all(np.isfinite(a)) for a in after)
  assert any(not np.array_equal(a, b) for a, b in zip(before, after))
  # Finite scaled gradients: both updates were applied, the scale kept.
  for opt in (model.g_optimizer, model.d_optimizer):
    assert int(opt.iterations) == 1 and float(opt.dynamic_scale) == 2.0 ** 15


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------

def _escape(name):
  """tf.train.Checkpoint's escaping of a local name ("." -> "..", "/" -> ".S")."""
  return name.replace(".", "..").replace("/", ".S")


def test_checkpoint_items_hold_every_variable(tmp_path):
  bindings = ("ModularGAN.g_use_ema = True", "G.batch_norm_fn = @batch_norm",
              "D.batch_norm_fn = @batch_norm", "D.spectral_norm = True")
  model = make_model(*bindings, seed=0)
  run_step(model, make_batches(model), 0)  # moves BN statistics, u, weights and optimizers
  path = tf.train.Checkpoint(**model.checkpoint_items()).write(str(tmp_path / "ckpt"))
  stored = {name for name, _ in tf.train.list_variables(path)}
  networks = (("generator", model.generator), ("discriminator", model.discriminator),
              ("generator_ema", model.generator_ema))
  paths = [v.path for _, net in networks for v in net.variables]
  assert any(p.endswith("/u") for p in paths)
  assert any(p.endswith("/moving_variance") for p in paths)
  for key, net in networks:
    for v in net.variables:
      name = f"{key}/variables_by_path/{_escape(v.path)}/.ATTRIBUTES/VARIABLE_VALUE"
      assert name in stored, v.path

  fresh = make_model(*bindings, seed=1)
  everything = lambda m: (_all_variables(m) + m.generator_ema.variables  # noqa: E731
                          + m.g_optimizer.variables + m.d_optimizer.variables)
  saved = values(everything(model))
  assert any(not np.array_equal(a, b) for a, b in zip(saved, values(everything(fresh))))
  tf.train.Checkpoint(**fresh.checkpoint_items()).read(path).assert_consumed()
  for var, a, b in zip(everything(fresh), saved, values(everything(fresh))):
    np.testing.assert_array_equal(a, b, err_msg=var.path)


# ----------------------------------------------------------------------------------------------
# Weight clipping and configuration errors
# ----------------------------------------------------------------------------------------------

def test_weight_clipping_bounds_every_d_variable():
  model = make_model("weight_clipping.clip_value = 0.01")
  before = max(np.abs(v.numpy()).max() for v in model.discriminator.trainable_variables)
  assert before > 0.01  # N(0, 0.02) kernels: clipping has work to do
  run_step(model, make_batches(model), 0)
  for v in model.discriminator.trainable_variables:
    assert np.abs(v.numpy()).max() <= 0.01, v.path
  assert max(np.abs(v.numpy()).max() for v in model.generator.trainable_variables) > 0.01


def test_architecture_is_required():
  gin.clear_config()
  config.parse_gin([], TINY[1:])
  with pytest.raises(RuntimeError, match="Required bindings for `ModularGAN`.*architecture"):
    modular_gan.ModularGAN(SHAPE, None)


def test_architecture_must_be_an_architecture():
  with pytest.raises(ValueError, match="@sndcgan\\(\\)"):
    make_model("ModularGAN.architecture = @batch_norm")


def test_disc_iters_must_be_positive():
  with pytest.raises(ValueError, match="disc_iters=0"):
    make_model("ModularGAN.disc_iters = 0")
