"""ResNet30 and ResNet-STL (reference resnet30.py, resnet_stl.py; docs: shared/reference/
v3_families.md section 4): parameter counts at full size, computed by hand layer by layer, and,
at tiny widths, the layer order, which layers are spectrally normalised, shapes and ranges,
conditional use, size checks and one ModularGAN training step each.
"""

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import normalization
from compare_gan.architectures import resnet30
from compare_gan.architectures import resnet_stl
from compare_gan.gans import modular_gan

R30 = (128, 128, 3)
STL = (48, 48, 3)
TINY = 1 / 16  # G.width = D.width for the small-model tests
Z_DIM = 8
BATCH = 2
K = 3  # classes of the conditional models


# ------------------------------------------------------------------------------------------------
# Hand-written layer sizes (every conv and linear layer of the reference has a bias).
# ------------------------------------------------------------------------------------------------


def conv3(cin, cout):
  """3x3 conv kernel [3, 3, cin, cout] + bias [cout]."""
  return 9 * cin * cout + cout


def linear(i, o):
  """Kernel [i, o] + bias [o]."""
  return i * o + o


def bn(c):
  """Trainable gamma + beta of a plain batch norm."""
  return 2 * c


def no_norm(c):
  del c
  return 0


def block(cin, cout, norm=no_norm):
  """Generic ResNet block: 3x3 shortcut and conv1 (cin -> cout), conv2 (cout -> cout), bn1(cin),
  bn2(cout)."""
  return 2 * conv3(cin, cout) + conv3(cout, cout) + norm(cin) + norm(cout)


def _count(variables) -> int:
  return int(sum(np.prod(v.shape) for v in variables))


def _count_under(module, prefix: str) -> int:
  return _count([v for v in module.trainable_variables if v.path.startswith(prefix)])


def _generator(module, image_shape, z_dim=Z_DIM, num_classes=None, **options):
  return module.Generator(image_shape, z_dim=z_dim, num_classes=num_classes,
                          options=base.GeneratorOptions(**options))


def _discriminator(module, image_shape, num_classes=None, **options):
  return module.Discriminator(image_shape, num_classes=num_classes,
                              options=base.DiscriminatorOptions(**options))


def _z(batch=BATCH, z_dim=Z_DIM, seed=0):
  return tf.random.stateless_uniform([batch, z_dim], [seed, 3], -1.0, 1.0)


# ------------------------------------------------------------------------------------------------
# 1. Full-size parameter counts (z_dim 128, width 1), each model built once.
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_size():
  """The full-size models, variables created by one batch-1 inference call each."""
  models = {
      "r30_g": _generator(resnet30, R30, z_dim=128),
      "r30_g_bn": _generator(resnet30, R30, z_dim=128, batch_norm_fn=normalization.batch_norm),
      "r30_d": _discriminator(resnet30, R30),
      "stl_g": _generator(resnet_stl, STL, z_dim=128),
      "stl_g_bn": _generator(resnet_stl, STL, z_dim=128,
                             batch_norm_fn=normalization.batch_norm),
      "stl_d": _discriminator(resnet_stl, STL),
  }
  for model in models.values():
    model.build_variables(batch_size=1)
  return models


_R30_G_CHANNELS = (512, 256, 128, 64, 32, 16)
_R30_D_CHANNELS = (16, 32, 64, 128, 256, 512)


def test_resnet30_generator_counts(full_size):
  """ResNet30 G at 128x128, no normaliser:
     fc_noise (128+1)*4*4*512                                       =  1,056,768
     super-block 0: 5 x block(512, 512) 35,397,120 + up block(512, 256) 2,949,888 = 38,347,008
     super-blocks 1..5: 9,588,864 / 2,398,272 / 600,096 / 150,288 / 34,800 (no up block)
     final_conv 3x3 16 -> 3                                         =        435
     total                                                          = 52,176,531
  Plain BN adds 2 per channel for bn1 (in) and bn2 (out) of every block, no final norm:
     23 c per super-block c = 512..32 (5 x 4c + 2(c + c/2)) and 20 * 16 = 23,136: 52,199,667.
  """
  g, g_bn = full_size["r30_g"], full_size["r30_g_bn"]
  assert _count(g.trainable_variables) == 52176531
  assert _count(g_bn.trainable_variables) == 52199667

  expected_super_blocks = []
  for s, c in enumerate(_R30_G_CHANNELS):
    expected = 5 * block(c, c) + (block(c, c // 2) if s < 5 else 0)
    expected_super_blocks.append(expected)
    assert _count_under(g, f"generator/B_{s}_") == expected, s
    with_bn = 5 * block(c, c, bn) + (block(c, c // 2, bn) if s < 5 else 0)
    assert _count_under(g_bn, f"generator/B_{s}_") == with_bn, s
  assert expected_super_blocks == [38347008, 9588864, 2398272, 600096, 150288, 34800]
  # The reference table's rounding: 38.35M/9.59M/2.40M/0.60M/0.15M/0.03M.
  assert [round(x / 1e6, 2) for x in expected_super_blocks] == [38.35, 9.59, 2.40, 0.60, 0.15,
                                                                0.03]
  assert _count_under(g, "generator/fc_noise/") == (128 + 1) * 8192 == linear(128, 4 * 4 * 512)
  assert _count_under(g, "generator/final_conv/") == conv3(16, 3)
  assert (_count(g.trainable_variables)
          == linear(128, 8192) + sum(expected_super_blocks) + conv3(16, 3))
  # 35 blocks x 3 convs + fc_noise + final_conv; no final normaliser.
  assert sum(v.path.endswith("/kernel") for v in g.trainable_variables) == 107
  assert g.final_norm is None and g_bn.final_norm is None
  assert _count(g_bn.non_trainable_variables) == 23136  # moving mean + variance, 2 per channel
  assert not g.non_trainable_variables


def test_resnet30_discriminator_counts(full_size):
  """ResNet30 D at 128x128, no normaliser:
     color_conv 3x3 3 -> 16                                     =        448
     super-blocks d = 16..256: 5 x block(d, d) + down block(d, 2d):
       53,328 / 212,640 / 849,216 / 3,394,176 / 13,571,328
     super-block 5: 5 x block(512, 512)                         = 35,397,120
     disc_final_fc 4*4*512 + 1                                  =      8,193
     total                                                      = 53,486,449
  """
  d = full_size["r30_d"]
  assert _count(d.trainable_variables) == 53486449
  expected_super_blocks = []
  for s, c in enumerate(_R30_D_CHANNELS):
    expected = 5 * block(c, c) + (block(c, 2 * c) if s < 5 else 0)
    expected_super_blocks.append(expected)
    assert _count_under(d, f"discriminator/B_{s}_") == expected, s
  assert expected_super_blocks == [53328, 212640, 849216, 3394176, 13571328, 35397120]
  assert _count_under(d, "discriminator/color_conv/") == conv3(3, 16) == 448
  assert _count_under(d, "discriminator/disc_final_fc/") == linear(8192, 1)
  assert (_count(d.trainable_variables)
          == conv3(3, 16) + sum(expected_super_blocks) + linear(8192, 1))
  assert not d.non_trainable_variables
  # The final layer reads the flattened 4x4x512 map: an [8192, 1] kernel.
  fc = [v for v in d.trainable_variables if v.path == "discriminator/disc_final_fc/kernel"]
  assert [tuple(v.shape) for v in fc] == [(8192, 1)]


def test_resnet_stl_counts(full_size):
  """ResNet-STL at 48x48:
     G: fc_noise (128+1)*6*6*512 = 2,377,728; B1 block(512, 256) = 2,949,888;
        B2 block(256, 128) = 737,664; B3 block(128, 64) = 184,512; final_conv 3x3 64 -> 3 = 1,731;
        total 6,251,523. Plain BN: bn1 + bn2 of 3 blocks and final_norm(64),
        2 * (512 + 256 + 256 + 128 + 128 + 64 + 64) = 2,816: 6,254,339.
     D: B0 block(3, 64) 40,512; B1 block(64, 128) 295,296; B2 block(128, 256) 1,180,416;
        B3 block(256, 512) 4,720,128; B4 block(512, 1024) 18,877,440; disc_final_fc 1,025;
        total 25,114,817.
  """
  g, g_bn, d = full_size["stl_g"], full_size["stl_g_bn"], full_size["stl_d"]
  assert _count(g.trainable_variables) == 6251523
  assert _count(g_bn.trainable_variables) == 6254339
  assert _count(d.trainable_variables) == 25114817

  assert _count_under(g, "generator/fc_noise/") == (128 + 1) * 18432 == 2377728
  blocks = {"B1": (512, 256), "B2": (256, 128), "B3": (128, 64)}
  assert {name: _count_under(g, f"generator/{name}/") for name in blocks} == {
      "B1": 2949888, "B2": 737664, "B3": 184512}
  for name, (cin, cout) in blocks.items():
    assert _count_under(g, f"generator/{name}/") == block(cin, cout)
    assert _count_under(g_bn, f"generator/{name}/") == block(cin, cout, bn)
  assert _count_under(g_bn, "generator/final_norm/") == bn(64)
  assert _count_under(g, "generator/final_conv/") == conv3(64, 3)

  d_blocks = [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1024)]
  for i, (cin, cout) in enumerate(d_blocks):
    assert _count_under(d, f"discriminator/B{i}/") == block(cin, cout), i
  assert _count_under(d, "discriminator/disc_final_fc/") == linear(1024, 1)
  assert (_count(d.trainable_variables)
          == sum(block(cin, cout) for cin, cout in d_blocks) + linear(1024, 1))


# ------------------------------------------------------------------------------------------------
# 2. Tiny models inside a ModularGAN, built once per architecture.
# ------------------------------------------------------------------------------------------------


def _modular_gan(name, image_shape, num_classes, bindings):
  """A ModularGAN at width 1/16 with `bindings`; gin is cleared again once it is built."""
  gin.clear_config()
  config.parse_gin([], [f"ModularGAN.architecture = @{name}()", f"G.width = {TINY}",
                        f"D.width = {TINY}", f"ModularGAN.z_dim = {Z_DIM}",
                        # Orthogonal kernels keep the signal O(1) through ResNet30's 35 blocks
                        # of conv shortcuts: at the default normal(0.02) its D logits start
                        # near 1e-35 at this width (1e-10 at full width), and so do the
                        # gradients that the training-step test expects to move every weight.
                        "weights.initializer = 'orthogonal'"] + bindings)
  try:
    return modular_gan.ModularGAN(image_shape, num_classes, seed=0)
  finally:
    gin.clear_config()


# Creating the variables is the costly part (a few seconds for this tiny ResNet30, whose ~700
# variables each run an initializer), so each architecture's tiny model is built once.
@pytest.fixture(scope="module")
def r30_gan():
  """ResNet30 128x128x3, unconditional: BN and SN in G, SN in D."""
  return _modular_gan("resnet30", R30, None, [
      "G.batch_norm_fn = @batch_norm", "G.spectral_norm = True", "D.spectral_norm = True"])


@pytest.fixture(scope="module")
def stl_gan():
  """ResNet-STL 48x48x3, conditional: CBN and SN in G, projection, SN and LN in D."""
  return _modular_gan("resnet_stl", STL, K, [
      "ModularGAN.conditional = True", "G.batch_norm_fn = @conditional_batch_norm",
      "G.spectral_norm = True", "D.project_y = True", "D.spectral_norm = True",
      "D.layer_norm = True"])


def _labels(model, classes):
  return tf.one_hot(classes, K) if model.conditional else None


# ------------------------------------------------------------------------------------------------
# 3. Layer order, re-composed by hand from the reference's description.
# ------------------------------------------------------------------------------------------------


def test_resnet30_generator_layer_order(r30_gan):
  g = r30_gan.generator
  z, y = _z(), _labels(g, [0, 2])
  images = g(z, y=y, training=False)
  assert tuple(images.shape) == (BATCH,) + R30

  expected_names = []
  for s in range(6):
    expected_names += [f"B_{s}_{i}" for i in range(5)] + ([f"B_{s}_up"] if s < 5 else [])
  assert [b.name for b in g.blocks] == expected_names

  h = tf.reshape(g.fc_noise(z), [BATCH, 4, 4, 32])  # 512 / 16 channels on a 4x4 seed
  ups = []
  for b in g.blocks:
    h = b(h, z=z, y=y, training=False)
    if b.name.endswith("_up"):
      ups.append((b.name, h.shape[1], h.shape[-1]))
  assert ups == [("B_0_up", 8, 16), ("B_1_up", 16, 8), ("B_2_up", 32, 4), ("B_3_up", 64, 2),
                 ("B_4_up", 128, 1)]
  # The last block's output goes straight into final_conv: no BN, no ReLU (it has negatives).
  assert g.final_norm is None and h.numpy().min() < 0
  np.testing.assert_allclose(images.numpy(), tf.sigmoid(g.final_conv(h)).numpy(),
                             rtol=1e-6, atol=1e-7)


def test_resnet30_discriminator_flattens_the_last_map_without_relu(r30_gan):
  d = r30_gan.discriminator
  x = tf.random.stateless_uniform((BATCH,) + R30, [1, 2])
  logits, features = d(x, training=False)
  assert tuple(logits.shape) == (BATCH, 1)
  assert tuple(features.shape) == (BATCH, 4 * 4 * 32)  # 512 / 16 channels at 4x4

  names = [b.name for b in d.blocks]
  assert len(names) == 35 and names[-1] == "B_5_4"
  assert names[:7] == [f"B_0_{i}" for i in range(5)] + ["B_0_down", "B_1_0"]
  h = d.stem(x)
  assert tuple(h.shape) == (BATCH, 128, 128, 1)  # color_conv: 16 / 16 channels
  for b in d.blocks:
    h = b(h, training=False)
  assert tuple(h.shape) == (BATCH, 4, 4, 32)
  assert h.numpy().min() < 0
  np.testing.assert_allclose(features.numpy(), tf.reshape(h, [BATCH, -1]).numpy(),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(logits.numpy(), d.final_fc(features).numpy(), rtol=1e-5, atol=1e-6)


def test_resnet_stl_layer_order(stl_gan):
  g, d = stl_gan.generator, stl_gan.discriminator
  z, y = _z(), _labels(g, [2, 0])
  images = g(z, y=y, training=False)
  h = tf.reshape(g.fc_noise(z), [BATCH, 6, 6, 32])  # 512 / 16 channels on a 6x6 seed
  for b, side in zip(g.blocks, (12, 24, 48)):
    h = b(h, z=z, y=y, training=False)
    assert h.shape[1] == side
  assert [b.name for b in g.blocks] == ["B1", "B2", "B3"] and h.shape[-1] == 4  # 64 / 16
  h = tf.nn.relu(g.final_norm(h, y=y, training=False))  # CBN: G.batch_norm_fn
  np.testing.assert_allclose(images.numpy(), tf.sigmoid(g.final_conv(h)).numpy(),
                             rtol=1e-6, atol=1e-7)

  logits, features = d(images, y=y, training=False)
  h = images
  sides = []
  for b in d.blocks:
    h = b(h, training=False)
    sides.append(h.shape[1])
  assert sides == [24, 12, 6, 3, 3]  # 6 -> 3 by pooling, then B4 at 3x3
  assert tuple(h.shape) == (BATCH, 3, 3, 64)  # 1024 / 16
  assert h.numpy().min() < 0  # so the ReLU before the mean matters
  expected = tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])
  assert tuple(features.shape) == (BATCH, 64)
  np.testing.assert_allclose(features.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
  expected = d.final_fc(features) + d.embedding(features, y)  # + projection <embed(y), h>
  np.testing.assert_allclose(logits.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# 4. Spectral norm: which layers own a `u` vector.
# ------------------------------------------------------------------------------------------------


def _layers(module, suffix):
  """Layer paths of the module's variables whose path ends in `suffix`."""
  return {v.path[:-len(suffix)] for v in module.variables if v.path.endswith(suffix)}


@pytest.mark.parametrize("name,d_free,n_g_kernels,n_d_kernels", [
    # G: 35 blocks x 3 convs (plain BN owns no kernel); D: 35 x 3 + final fc.
    ("r30_gan", {"discriminator/color_conv"}, 35 * 3, 35 * 3 + 1),
    # G: 3 blocks x (3 convs + the CBN gamma/beta maps of bn1 and bn2) + final_norm's two maps
    # (CBN gets SN with G.spectral_norm: reference AbstractGenerator.batch_norm passes use_sn);
    # D: 5 x 3 + final fc + projection embedding.
    ("stl_gan", set(), 3 * 7 + 2, 5 * 3 + 2),
])
def test_spectral_norm_covers_all_but_the_reference_exceptions(request, name, d_free,
                                                               n_g_kernels, n_d_kernels):
  gan = request.getfixturevalue(name)
  g, d = gan.generator, gan.discriminator
  g_free = {"generator/fc_noise", "generator/final_conv"}
  for m, free, n in ((g, g_free, n_g_kernels), (d, d_free, n_d_kernels)):
    kernels, us = _layers(m, "/kernel"), _layers(m, "/u")
    assert free <= kernels
    assert us == kernels - free, m.name
    assert len(us) == n, m.name
  assert "discriminator/disc_final_fc" in _layers(d, "/u")
  if gan.conditional:
    assert {"generator/final_norm/gamma", "generator/B1/bn1/beta",
            "discriminator/embedding_fc"} <= _layers(g, "/u") | _layers(d, "/u")


def test_no_spectral_norm_without_the_switches(full_size):
  for name, model in full_size.items():
    assert _layers(model, "/kernel") and not _layers(model, "/u"), name


# ------------------------------------------------------------------------------------------------
# 5. Shapes, [0, 1] outputs, gradients, greyscale, labels.
# ------------------------------------------------------------------------------------------------


def _forward_backward(g, d, y):
  with tf.GradientTape() as tape:
    images = g(_z(), y=y, training=True)
    logits, features = d(images, y=y, training=True)
    loss = tf.reduce_mean(logits)
  assert tuple(images.shape) == (BATCH,) + g.image_shape
  pixels = images.numpy()
  assert np.all(np.isfinite(pixels)) and pixels.min() >= 0.0 and pixels.max() <= 1.0
  assert tuple(logits.shape) == (BATCH, 1) and logits.dtype == tf.float32
  variables = g.trainable_variables + d.trainable_variables
  grads = tape.gradient(loss, variables)
  assert not [v.path for v, grad in zip(variables, grads) if grad is None]
  assert all(np.all(np.isfinite(grad.numpy())) for grad in grads)
  for m, prefix in ((g, "generator/"), (d, "discriminator/")):
    paths = [v.path for v in m.variables]
    assert len(paths) == len(set(paths)) and all(p.startswith(prefix) for p in paths)
  return features


@pytest.mark.parametrize("image_shape", [R30, (128, 128, 1)])
def test_resnet30_forward_and_backward(r30_gan, image_shape):
  if image_shape == R30:
    g, d = r30_gan.generator, r30_gan.discriminator
  else:
    g = _generator(resnet30, image_shape, width=TINY)
    d = _discriminator(resnet30, image_shape, width=TINY)
  features = _forward_backward(g, d, None)
  assert tuple(features.shape) == (BATCH, 4 * 4 * 32)


@pytest.mark.parametrize("image_shape", [STL, (32, 32, 1)])
def test_resnet_stl_forward_and_backward(stl_gan, image_shape):
  if image_shape == STL:
    g, d = stl_gan.generator, stl_gan.discriminator
  else:
    g = _generator(resnet_stl, image_shape, width=TINY, batch_norm_fn=normalization.batch_norm)
    d = _discriminator(resnet_stl, image_shape, width=TINY)
  features = _forward_backward(g, d, _labels(g, [1, 2]))
  assert tuple(features.shape) == (BATCH, 64)


def test_sigmoid_reaches_both_ends_of_the_range():
  """final_conv biases +-50 saturate the sigmoid: 1 and ~0, never outside [0, 1]."""
  g = _generator(resnet_stl, STL, width=TINY)
  g.build_variables()
  g.final_conv.bias.assign([50.0, -50.0, 0.0])
  images = g(_z(), training=False).numpy()
  assert images.min() >= 0.0 and images.max() <= 1.0
  assert images[..., 0].min() > 1 - 1e-6 and images[..., 1].max() < 1e-6
  np.testing.assert_allclose(images[..., 2], 0.5, atol=0.01)


def test_resnet_stl_conditional_depends_on_labels(stl_gan):
  g, d = stl_gan.generator, stl_gan.discriminator
  z = _z()
  y0, y1 = tf.one_hot([0, 0], K), tf.one_hot([1, 2], K)
  images0 = g(z, y=y0, training=False).numpy()
  images1 = g(z, y=y1, training=False).numpy()
  assert np.abs(images0 - images1).max() > 1e-6
  logits0, _ = d(tf.constant(images0), y=y0, training=False)
  logits1, _ = d(tf.constant(images0), y=y1, training=False)
  assert np.all(np.abs(logits0.numpy() - logits1.numpy()) > 0)
  shapes = {v.path: tuple(v.shape) for v in g.trainable_variables + d.trainable_variables
            if "embedding_fc" in v.path or "final_norm" in v.path}
  assert shapes == {"discriminator/embedding_fc/kernel": (K, 64),  # [classes, 1024 / 16]
                    "generator/final_norm/gamma/kernel": (K, 4),   # [classes, 64 / 16]
                    "generator/final_norm/beta/kernel": (K, 4)}


def test_resnet30_projection_reads_the_flattened_features():
  """ResNet30's D with D.project_y: the embedding is [classes, 4*4*C] and the logits are
  `disc_final_fc(h) + <embed(y), h>` on the flattened map h."""
  d = _discriminator(resnet30, R30, num_classes=K, width=TINY, project_y=True)
  x = tf.random.stateless_uniform((BATCH,) + R30, [4, 2])
  y0, y1 = tf.one_hot([0, 0], K), tf.one_hot([1, 2], K)
  logits0, features = d(x, y=y0, training=False)
  logits1, _ = d(x, y=y1, training=False)
  assert tuple(features.shape) == (BATCH, 4 * 4 * 32)
  assert np.all(np.abs(logits0.numpy() - logits1.numpy()) > 0)
  embedding = [tuple(v.shape) for v in d.trainable_variables if "embedding_fc" in v.path]
  assert embedding == [(K, 4 * 4 * 32)]
  expected = d.final_fc(features) + d.embedding(features, y1)
  np.testing.assert_allclose(logits1.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# 6. Sizes: ResNet30 is 128x128 only; ResNet-STL takes sizes divisible by 16.
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module,image_shape,message", [
    (resnet30, (64, 64, 3), "resnet30 supports 128x128 images only"),
    (resnet30, (256, 256, 3), "resnet30 supports 128x128 images only"),
    (resnet30, (128, 128, 4), "expected 1 or 3 channels"),
    (resnet30, (128, 64, 3), "expected square images"),
    (resnet_stl, (40, 40, 3), "resnet_stl needs a size divisible by 16"),
    (resnet_stl, (56, 56, 3), "resnet_stl needs a size divisible by 16"),
    (resnet_stl, (48, 48, 2), "expected 1 or 3 channels"),
])
def test_unsupported_sizes_are_refused_in_one_line(module, image_shape, message):
  for build in (lambda: _generator(module, image_shape),
                lambda: _discriminator(module, image_shape)):
    with pytest.raises(ValueError) as error:
      build()
    text = str(error.value)
    assert message in text and str(image_shape) in text and "\n" not in text


def test_supported_sizes():
  # Construction checks the size (building the variables is what the other tests pay for).
  for module, image_shape in ((resnet_stl, (16, 16, 3)), (resnet_stl, (96, 96, 1))):
    g, d = _generator(module, image_shape), _discriminator(module, image_shape)
    assert g.image_shape == d.image_shape == image_shape
  g = _generator(resnet_stl, (96, 96, 3))
  assert g.seed_shape == [12, 12, 512]


# ------------------------------------------------------------------------------------------------
# 7. One ModularGAN training step each.
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,arch", [("r30_gan", "resnet30"), ("stl_gan", "resnet_stl")])
def test_modular_gan_train_step(request, name, arch):
  model = request.getfixturevalue(name)
  g, d = model.generator, model.discriminator
  assert model.architecture.name == arch and type(g).__module__.endswith(arch)
  rng = np.random.default_rng(0)
  batches = []
  for _ in range(model.real_batches_per_step):
    batch = {"images": tf.constant(rng.uniform(size=(BATCH,) + g.image_shape), tf.float32)}
    if model.conditional:
      batch["labels"] = tf.constant(rng.integers(0, K, BATCH), tf.int32)
    batches.append(batch)
  variables = g.trainable_variables + d.trainable_variables
  before = [v.numpy().copy() for v in variables]
  g_steps, d_steps = int(model.g_optimizer.iterations), int(model.d_optimizer.iterations)
  terms = tf.distribute.get_strategy().run(
      model.train_step, args=(batches, tf.constant(0, tf.int64),
                              tf.constant([3, 5], tf.int64), BATCH))
  assert {"d_loss", "g_loss"} <= set(terms)
  assert all(np.isfinite(float(v)) for v in terms.values())
  assert int(model.g_optimizer.iterations) == g_steps + 1
  assert int(model.d_optimizer.iterations) == d_steps + 1
  unchanged = [v.path for b, v in zip(before, variables) if np.array_equal(b, v.numpy())]
  assert not unchanged
  assert all(np.all(np.isfinite(v.numpy())) for v in variables)
