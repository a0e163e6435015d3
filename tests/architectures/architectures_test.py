"""Contract, parameter-count, naming, error and gin tests for every registered architecture.

Tier 2 of the house style: every registered architecture at two resolutions builds, has the right
shapes and ranges, and backpropagates (at a tiny width so the whole file stays fast on CPU).
Parameter counts at full width are computed by hand from the reference layer tables
(docs: shared/reference/compare_gan.md sections 3.7, 3.8 and 4), layer by layer.
"""

import gin
import numpy as np
import pytest
import tensorflow as tf

import compare_gan.architectures
from compare_gan.architectures import base
from compare_gan.architectures import normalization
from compare_gan.architectures import ops

ARCHITECTURES = compare_gan.architectures.ARCHITECTURES

TINY = 0.125  # G.width = D.width for the contract tests.
BATCH = 3
Z_DIM = 16


@gin.configurable("architectures_test_holder")
def _holder(arch):
  """Receives whatever gin binds to `architectures_test_holder.arch`."""
  return arch


# ------------------------------------------------------------------------------------------------
# Helpers.
# ------------------------------------------------------------------------------------------------


def _count(variables) -> int:
  return int(sum(np.prod(v.shape) for v in variables))


def _paths(module):
  return [v.path for v in module.variables]


def _build(name, image_shape, z_dim=Z_DIM, num_classes=None, g_kwargs=None, d_kwargs=None):
  g_opts = base.GeneratorOptions(**(g_kwargs or {}))
  d_opts = base.DiscriminatorOptions(**(d_kwargs or {}))
  return compare_gan.architectures.get_architecture(name).build(
      image_shape, z_dim=z_dim, num_classes=num_classes, generator_options=g_opts,
      discriminator_options=d_opts)


def _z(batch=BATCH, z_dim=Z_DIM, seed=0):
  return tf.random.stateless_normal([batch, z_dim], seed=[seed, 17])


# Hand-written layer sizes (reference arch_ops: every linear/conv/deconv has a bias by default).
def linear(i, o, bias=True):
  """Kernel [i, o] (+ bias [o])."""
  return i * o + (o if bias else 0)


def conv(k, cin, cout):
  """Kernel [k, k, cin, cout] + bias [cout]."""
  return k * k * cin * cout + cout


def deconv(k, cin, cout):
  """Kernel [k, k, cout, cin] + bias [cout]."""
  return k * k * cout * cin + cout


def bn(c):
  """Trainable gamma + beta of a batch norm (its moving mean/variance are non-trainable)."""
  return 2 * c


def cbn(c, num_classes):
  """Conditional BN: gamma and beta are `linear(y, c, use_bias=False)`, kernels [K, c]."""
  return linear(num_classes, c, bias=False) + linear(num_classes, c, bias=False)


# ------------------------------------------------------------------------------------------------
# 1. Every registered architecture at two resolutions: shapes, ranges, gradients.
# ------------------------------------------------------------------------------------------------

_SHAPES = [
    ("sndcgan", (28, 28, 1)),
    ("sndcgan", (32, 32, 3)),
    ("dcgan", (28, 28, 1)),
    ("dcgan", (32, 32, 3)),
    ("dcgan", (64, 64, 3)),
    ("infogan", (28, 28, 1)),
    ("infogan", (32, 32, 3)),
    ("resnet19", (16, 16, 1)),
    ("resnet19", (32, 32, 3)),
    ("resnet_cifar", (32, 32, 1)),
    ("resnet_cifar", (48, 48, 3)),
    ("resnet30", (128, 128, 1)),
    ("resnet_stl", (16, 16, 1)),
    ("resnet_stl", (48, 48, 3)),
    ("mlp", (2,)),
    ("mlp", (8, 8, 1)),
]

# Layers the reference never spectrally normalises, whatever G/D.spectral_norm say.
_NO_SPECTRAL_NORM = {"resnet30": ("fc_noise", "final_conv", "color_conv"),
                     "resnet_stl": ("fc_noise", "final_conv")}

_NORMS = {
    "none": (dict(width=TINY), dict(width=TINY)),
    "bn_ln_sn": (dict(width=TINY, batch_norm_fn=normalization.batch_norm, spectral_norm=True),
                 dict(width=TINY, batch_norm_fn=normalization.batch_norm, layer_norm=True,
                      spectral_norm=True)),
}


def test_every_registered_architecture_is_covered():
  assert set(ARCHITECTURES) == {"sndcgan", "dcgan", "infogan", "resnet19", "resnet_cifar", "mlp",
                                "resnet30", "resnet_stl", "resnet_biggan", "resnet_biggan_deep"}
  # The BigGAN family needs its own options (tests/architectures/biggan_test.py covers it).
  own_tests = {"resnet_biggan", "resnet_biggan_deep"}
  assert {name for name, _ in _SHAPES} | own_tests == set(ARCHITECTURES)


@pytest.mark.parametrize("norm", sorted(_NORMS))
@pytest.mark.parametrize("name,image_shape", _SHAPES,
                         ids=[f"{n}-{'x'.join(map(str, s))}" for n, s in _SHAPES])
def test_shapes_range_and_gradients(name, image_shape, norm):
  g_kwargs, d_kwargs = _NORMS[norm]
  g, d = _build(name, image_shape, g_kwargs=g_kwargs, d_kwargs=d_kwargs)
  z = _z()
  with tf.GradientTape() as tape:
    images = g(z, training=True)
    logits, features = d(images, training=True)
    loss = tf.reduce_mean(logits)

  assert tuple(images.shape) == (BATCH,) + image_shape
  assert images.dtype == tf.float32
  pixels = images.numpy()
  assert np.all(np.isfinite(pixels))
  assert pixels.min() >= 0.0 and pixels.max() <= 1.0
  assert tuple(logits.shape) == (BATCH, 1)
  assert logits.dtype == tf.float32
  assert np.all(np.isfinite(logits.numpy()))
  assert features.shape.rank == 2 and features.shape[0] == BATCH

  variables = g.trainable_variables + d.trainable_variables
  assert g.trainable_variables and d.trainable_variables
  grads = tape.gradient(loss, variables)
  missing = [v.path for v, grad in zip(variables, grads) if grad is None]
  assert not missing, f"no gradient for {missing}"
  bad = [v.path for v, grad in zip(variables, grads) if not np.all(np.isfinite(grad.numpy()))]
  assert not bad, f"non-finite gradient for {bad}"

  # Variable paths are unique (checkpoints key on them) and start with the module name.
  for module, prefix in ((g, "generator/"), (d, "discriminator/")):
    paths = _paths(module)
    assert len(paths) == len(set(paths)), paths
    assert all(p.startswith(prefix) for p in paths), paths

  if norm == "bn_ln_sn":
    # Every kernel of G and D is spectrally normalised: one non-trainable u per kernel, but
    # where the reference never normalised (ResNet30 and ResNet-STL: fc_noise, final_conv and
    # ResNet30 D's color_conv; resnet30_stl_test.py checks these layers one by one).
    exempt = _NO_SPECTRAL_NORM.get(name, ())
    for module in (g, d):
      kernels = [v.path[:-len("/kernel")] for v in module.trainable_variables
                 if v.path.endswith("/kernel")]
      us = [v.path[:-len("/u")] for v in module.non_trainable_variables if v.path.endswith("/u")]
      assert us and sorted(us) == sorted(k for k in kernels
                                         if k.split("/", 1)[1] not in exempt)


@pytest.mark.parametrize("name,image_shape", [
    ("sndcgan", (28, 28, 1)), ("dcgan", (32, 32, 3)), ("infogan", (28, 28, 1)),
    ("resnet19", (16, 16, 3)), ("resnet_cifar", (32, 32, 3)), ("mlp", (2,))])
def test_inference_outputs_in_range(name, image_shape):
  g, d = _build(name, image_shape,
                g_kwargs=dict(width=TINY, batch_norm_fn=normalization.batch_norm),
                d_kwargs=dict(width=TINY))
  images = g(_z(), training=False)
  assert tuple(images.shape) == (BATCH,) + image_shape
  assert images.numpy().min() >= 0.0 and images.numpy().max() <= 1.0
  logits, _ = d(images, training=False)
  assert tuple(logits.shape) == (BATCH, 1)


_SMALLEST = [("sndcgan", (16, 16, 1)), ("dcgan", (16, 16, 1)), ("infogan", (16, 16, 1)),
             ("resnet19", (8, 8, 3)), ("resnet_cifar", (8, 8, 3)), ("mlp", (2,))]


@pytest.mark.parametrize("name,image_shape", _SMALLEST)
def test_self_modulated_generator_backpropagates(name, image_shape):
  g, d = _build(name, image_shape,
                g_kwargs=dict(width=TINY, batch_norm_fn=normalization.self_modulated_batch_norm),
                d_kwargs=dict(width=TINY))
  with tf.GradientTape() as tape:
    images = g(_z(), training=True)
    loss = tf.reduce_mean(d(images, training=True)[0])
  assert tuple(images.shape) == (BATCH,) + image_shape
  assert images.numpy().min() >= 0.0 and images.numpy().max() <= 1.0
  grads = tape.gradient(loss, g.trainable_variables)
  assert any("/hidden/kernel" in v.path for v in g.trainable_variables)
  assert not [v.path for v, grad in zip(g.trainable_variables, grads) if grad is None]


# ------------------------------------------------------------------------------------------------
# 2. Parameter counts at full width, by hand from the reference layer tables.
# ------------------------------------------------------------------------------------------------


def _built(name, image_shape, z_dim=128, num_classes=None, g_kwargs=None, d_kwargs=None,
           only=None):
  """G and D with their variables created (batch 1); `only` ("g"/"d") skips the other's call."""
  g, d = _build(name, image_shape, z_dim=z_dim, num_classes=num_classes, g_kwargs=g_kwargs,
                d_kwargs=d_kwargs)
  if only != "d":
    g.build_variables(batch_size=1)
  if only != "g":
    d.build_variables(batch_size=1)
  return g, d


def test_sndcgan_32x32x3_param_counts_no_norm():
  g, d = _built("sndcgan", (32, 32, 3))
  # s=32: s8=4. G table (section 4.1).
  expected_g = (linear(128, 4 * 4 * 512)   # g_fc1
                + deconv(4, 512, 256)      # g_dc2, 4x4 s2 -> 8x8
                + deconv(4, 256, 128)      # g_dc3 -> 16x16
                + deconv(4, 128, 64)       # g_dc4 -> 32x32
                + deconv(3, 64, 3))        # g_dc5, 3x3 s1 -> C
  expected_d = (conv(3, 3, 64)             # c0_0 3x3 s1
                + conv(4, 64, 128)         # 4x4 s2 -> 16
                + conv(3, 128, 128)
                + conv(4, 128, 256)        # -> 8
                + conv(3, 256, 256)
                + conv(4, 256, 512)        # -> 4
                + conv(3, 512, 512)
                + linear(4 * 4 * 512, 1))  # d_fc1
  assert _count(g.trainable_variables) == expected_g
  assert _count(d.trainable_variables) == expected_d
  assert not g.non_trainable_variables and not d.non_trainable_variables


def test_sndcgan_generator_batch_norm_adds_gamma_beta():
  g, _ = _built("sndcgan", (32, 32, 3), g_kwargs=dict(batch_norm_fn=normalization.batch_norm),
                only="g")
  convs = (linear(128, 4 * 4 * 512) + deconv(4, 512, 256) + deconv(4, 256, 128)
           + deconv(4, 128, 64) + deconv(3, 64, 3))
  # g_bn1 normalises the flat fc output, one gamma/beta per unit; g_bn2..4 per channel.
  norms = bn(4 * 4 * 512) + bn(256) + bn(128) + bn(64)
  assert _count(g.trainable_variables) == convs + norms
  # moving_mean + moving_variance per BN.
  assert _count(g.non_trainable_variables) == 2 * (4 * 4 * 512 + 256 + 128 + 64)


# Reference parameter counts at 32x32x3 (z_dim 128, BN in G, none in D unless said), written
# out as numbers, with the arithmetic: kernel + bias per layer, gamma + beta per BN unit.

def test_sndcgan_32x32x3_reference_counts():
  """SNDCGAN, s8 = 4, the first BN before the reshape (v2 sn_generator, v3 sndcgan.py).

  G: g_fc1   128*8192 + 8192            = 1,056,768
     g_bn1   2*8192 (per unit)          =    16,384
     g_dc2   4*4*512*256 + 256          = 2,097,408   g_bn2 2*256 = 512
     g_dc3   4*4*256*128 + 128          =   524,416   g_bn3 2*128 = 256
     g_dc4   4*4*128*64 + 64            =   131,136   g_bn4 2*64  = 128
     g_dc5   3*3*64*3 + 3               =     1,731
     total                              = 3,828,739   (per-channel g_bn1: 3,813,379)
  D: 3x3 3->64 1,792; 4x4 64->128 131,200; 3x3 128->128 147,584; 4x4 128->256 524,544;
     3x3 256->256 590,080; 4x4 256->512 2,097,664; 3x3 512->512 2,359,808;
     d_fc1 4*4*512 + 1 = 8,193; total 5,860,865.
  """
  g, d = _built("sndcgan", (32, 32, 3), g_kwargs=dict(batch_norm_fn=normalization.batch_norm))
  assert _count(g.trainable_variables) == 3828739
  assert _count(d.trainable_variables) == 5860865
  gamma = [v for v in g.trainable_variables if v.path == "generator/g_bn1/gamma"]
  assert [tuple(v.shape) for v in gamma] == [(8192,)]


def test_dcgan_32x32x3_reference_counts():
  """DCGAN, s16 = 2, the first BN after the reshape, per channel (v2 generator, v3 dcgan.py).

  G: g_fc1 128*2048 + 2048 = 264,192; g_bn0 2*512 = 1,024;
     g_dc1 5*5*512*256 + 256 = 3,277,056; g_bn1 512; g_dc2 5*5*256*128 + 128 = 819,328;
     g_bn2 256; g_dc3 5*5*128*64 + 64 = 204,864; g_bn3 128; g_dc4 5*5*64*3 + 3 = 4,803;
     total 4,572,163.
  D: d_conv0 5*5*3*64 + 64 = 4,864; d_conv1 5*5*64*128 + 128 = 204,928;
     d_conv2 5*5*128*256 + 256 = 819,456; d_conv3 5*5*256*512 + 512 = 3,277,312;
     d_fc4 2*2*512 + 1 = 2,049; total 4,308,609; with BN (d_bn1..3) + 2*(128+256+512) = 1,792:
     4,310,401.
  """
  g, d = _built("dcgan", (32, 32, 3), g_kwargs=dict(batch_norm_fn=normalization.batch_norm))
  assert _count(g.trainable_variables) == 4572163
  assert _count(d.trainable_variables) == 4308609
  _, d_bn = _built("dcgan", (32, 32, 3), d_kwargs=dict(batch_norm_fn=normalization.batch_norm),
                   only="d")
  assert _count(d_bn.trainable_variables) == 4310401
  gamma = [v for v in g.trainable_variables if v.path == "generator/g_bn0/gamma"]
  assert [tuple(v.shape) for v in gamma] == [(512,)]


@pytest.mark.parametrize("image_shape,expected_g,expected_d", [
    # z_dim 64 (v1's); BN in G (always, as the reference) and in D (v1's discriminator_batchnorm).
    # 32x32x3, s/4 = 8:
    #   G: g_fc1 64*1024 + 1024 = 66,560; g_bn1 2,048; g_fc2 1024*8192 + 8192 = 8,396,800;
    #      g_bn2 2*8192 = 16,384 (per unit, before the reshape); g_dc3 4*4*128*64 + 64 =
    #      131,136; g_bn3 128; g_dc4 4*4*64*3 + 3 = 3,075; total 8,616,131.
    #   D: d_conv1 4*4*3*64 + 64 = 3,136; d_conv2 4*4*64*128 + 128 = 131,200; d_bn2 256;
    #      d_fc3 8192*1024 + 1024 = 8,389,632; d_bn3 2,048; d_fc4 1,025; total 8,527,297.
    ((32, 32, 3), 8616131, 8527297),
    # 28x28x1 (MNIST, the v1 study), s/4 = 7:
    #   G: 66,560 + 2,048 + g_fc2 1024*6272 + 6272 = 6,428,800 + g_bn2 2*6272 = 12,544
    #      + 131,136 + 128 + g_dc4 4*4*64*1 + 1 = 1,025; total 6,642,241.
    #   D: d_conv1 4*4*1*64 + 64 = 1,088; 131,200; 256; d_fc3 6272*1024 + 1024 = 6,423,552;
    #      2,048; 1,025; total 6,559,169.
    ((28, 28, 1), 6642241, 6559169),
])
def test_infogan_reference_counts(image_shape, expected_g, expected_d):
  g, d = _built("infogan", image_shape, z_dim=64,
                g_kwargs=dict(batch_norm_fn=normalization.batch_norm),
                d_kwargs=dict(batch_norm_fn=normalization.batch_norm))
  assert _count(g.trainable_variables) == expected_g
  assert _count(d.trainable_variables) == expected_d


@pytest.mark.parametrize("norm", [normalization.conditional_batch_norm,
                                  normalization.self_modulated_batch_norm])
def test_sndcgan_first_norm_is_per_unit_for_every_normaliser(norm):
  """Conditional and self-modulated BN on the flat fc output [B, 4*4*8] at width 1/64: their
  gamma/beta maps produce one value per unit, and the forward pass runs in both modes."""
  k = 3 if norm is normalization.conditional_batch_norm else None
  g = ARCHITECTURES["sndcgan"].generator(
      (32, 32, 3), z_dim=Z_DIM, num_classes=k,
      options=base.GeneratorOptions(width=1 / 64, batch_norm_fn=norm))
  y = tf.one_hot([0, 2, 1], 3) if k else None
  for training in (True, False):
    out = g(_z(), y=y, training=training)
    assert out.shape == (BATCH, 32, 32, 3)
  gammas = {v.path: tuple(v.shape) for v in g.trainable_variables
            if v.path.startswith("generator/g_bn1/") and "gamma" in v.path
            and v.path.endswith("kernel")}
  in_dim = k if k else 32  # labels, or the SBN hidden layer
  assert gammas == {"generator/g_bn1/gamma/kernel": (in_dim, 4 * 4 * 8)}
  states = {v.path: tuple(v.shape) for v in g.non_trainable_variables
            if v.path.startswith("generator/g_bn1/")}
  assert set(states.values()) == {(4 * 4 * 8,)}


def test_dcgan_64x64x3_param_counts_with_batch_norm():
  g, d = _built("dcgan", (64, 64, 3), g_kwargs=dict(batch_norm_fn=normalization.batch_norm),
                d_kwargs=dict(batch_norm_fn=normalization.batch_norm))
  # s=64: s16=4. Section 4.2.
  expected_g = (linear(128, 4 * 4 * 512) + bn(512)   # g_fc1, g_bn0
                + deconv(5, 512, 256) + bn(256)      # -> 8
                + deconv(5, 256, 128) + bn(128)      # -> 16
                + deconv(5, 128, 64) + bn(64)        # -> 32
                + deconv(5, 64, 3))                  # -> 64, no BN
  expected_d = (conv(5, 3, 64)                       # -> 32, no BN
                + conv(5, 64, 128) + bn(128)         # d_bn1, -> 16
                + conv(5, 128, 256) + bn(256)        # d_bn2, -> 8
                + conv(5, 256, 512) + bn(512)        # d_bn3, -> 4
                + linear(4 * 4 * 512, 1))            # d_fc4
  assert _count(g.trainable_variables) == expected_g
  assert _count(d.trainable_variables) == expected_d
  assert _count(g.non_trainable_variables) == 2 * (512 + 256 + 128 + 64)
  assert _count(d.non_trainable_variables) == 2 * (128 + 256 + 512)


def test_infogan_28x28x1_param_counts_with_batch_norm():
  g, d = _built("infogan", (28, 28, 1), z_dim=62,
                g_kwargs=dict(batch_norm_fn=normalization.batch_norm),
                d_kwargs=dict(batch_norm_fn=normalization.batch_norm))
  # Section 4.3, s/4 = 7.
  expected_g = (linear(62, 1024) + bn(1024)                 # g_fc1, g_bn1
                + linear(1024, 7 * 7 * 128) + bn(7 * 7 * 128)  # g_fc2, g_bn2
                + deconv(4, 128, 64) + bn(64)               # g_dc3 -> 14, g_bn3
                + deconv(4, 64, 1))                         # g_dc4 -> 28
  expected_d = (conv(4, 1, 64)                              # d_conv1 -> 14
                + conv(4, 64, 128) + bn(128)                # d_conv2 -> 7, d_bn2
                + linear(7 * 7 * 128, 1024) + bn(1024)      # d_fc3, d_bn3
                + linear(1024, 1))                          # d_fc4
  assert _count(g.trainable_variables) == expected_g
  assert _count(d.trainable_variables) == expected_d
  assert _count(g.non_trainable_variables) == 2 * (1024 + 7 * 7 * 128 + 64)
  assert _count(d.non_trainable_variables) == 2 * (128 + 1024)


def _resnet_g_block(cin, cout, norm=bn):
  """Section 3.7 G block: 3x3 shortcut, conv1 (in->out), conv2 (out->out), bn1(in), bn2(out)."""
  return conv(3, cin, cout) + conv(3, cin, cout) + conv(3, cout, cout) + norm(cin) + norm(cout)


def _resnet_d_block(cin, cout):
  """Section 3.7 D block without normalisation: shortcut, conv1 (in->out), conv2 (out->out)."""
  return conv(3, cin, cout) + conv(3, cin, cout) + conv(3, cout, cout)


def test_resnet19_128x128x3_param_counts():
  g, d = _built("resnet19", (128, 128, 3), g_kwargs=dict(batch_norm_fn=normalization.batch_norm))
  # Section 4.6 tables, ch = 64.
  expected_g = (linear(128, 4 * 4 * 512)       # fc_noise
                + _resnet_g_block(512, 512)    # B1 -> 8
                + _resnet_g_block(512, 256)    # B2 -> 16
                + _resnet_g_block(256, 256)    # B3 -> 32
                + _resnet_g_block(256, 128)    # B4 -> 64
                + _resnet_g_block(128, 64)     # B5 -> 128
                + bn(64)                       # final_norm
                + conv(3, 64, 3))              # final_conv
  expected_d = (_resnet_d_block(3, 64)         # B0 -> 64
                + _resnet_d_block(64, 128)     # B1 -> 32
                + _resnet_d_block(128, 256)    # B2 -> 16
                + _resnet_d_block(256, 256)    # B3 -> 8
                + _resnet_d_block(256, 512)    # B4 -> 4
                + _resnet_d_block(512, 512)    # B5 -> 2
                + linear(512, 1))              # disc_final_fc
  assert _count(g.trainable_variables) == expected_g
  assert _count(d.trainable_variables) == expected_d
  bn_channels = (512 + 512) + (512 + 256) + (256 + 256) + (256 + 128) + (128 + 64) + 64
  assert _count(g.non_trainable_variables) == 2 * bn_channels
  assert not d.non_trainable_variables
  # "ResNet19": 6 blocks x 3 convs + final fc = 19 D weight layers; G = 15 convs + fc + final = 17.
  assert sum(v.path.endswith("/kernel") for v in d.trainable_variables) == 19
  assert sum(v.path.endswith("/kernel") for v in g.trainable_variables) == 17


def test_resnet19_spectral_norm_adds_only_u_vectors():
  _, d = _built("resnet19", (128, 128, 3), d_kwargs=dict(spectral_norm=True), only="d")
  expected_d = (_resnet_d_block(3, 64) + _resnet_d_block(64, 128) + _resnet_d_block(128, 256)
                + _resnet_d_block(256, 256) + _resnet_d_block(256, 512)
                + _resnet_d_block(512, 512) + linear(512, 1))
  assert _count(d.trainable_variables) == expected_d
  kernels = {v.path[:-len("/kernel")]: v for v in d.trainable_variables
             if v.path.endswith("/kernel")}
  us = {v.path[:-len("/u")]: v for v in d.non_trainable_variables if v.path.endswith("/u")}
  assert len(kernels) == 19
  assert set(us) == set(kernels)
  assert len(d.non_trainable_variables) == 19
  for scope, kernel in kernels.items():
    # Default singular_value="left": u is [prod(kernel.shape[:-1]), 1].
    assert tuple(us[scope].shape) == (int(np.prod(kernel.shape[:-1])), 1), scope


def test_resnet_cifar_32x32x3_param_counts():
  g, d = _built("resnet_cifar", (32, 32, 3), g_kwargs=dict(batch_norm_fn=normalization.batch_norm))
  # Section 4.4.
  expected_g = (linear(128, 4 * 4 * 256)      # fc_noise
                + _resnet_g_block(256, 256)   # B1 -> 8
                + _resnet_g_block(256, 256)   # B2 -> 16
                + _resnet_g_block(256, 256)   # B3 -> 32
                + bn(256)                     # final_norm
                + conv(3, 256, 3))            # final_conv
  expected_d = (_resnet_d_block(3, 128)       # B1 down -> 16
                + _resnet_d_block(128, 128)   # B2 down -> 8
                + _resnet_d_block(128, 128)   # B3
                + _resnet_d_block(128, 128)   # B4
                + linear(128, 1))             # disc_final_fc
  assert _count(g.trainable_variables) == expected_g
  assert _count(d.trainable_variables) == expected_d
  assert _count(g.non_trainable_variables) == 2 * 7 * 256
  # 4 blocks x 3 convs + fc = 13 (v2 N_DISCRIMINATOR_LAYERS).
  assert sum(v.path.endswith("/kernel") for v in d.trainable_variables) == 13


def test_resnet_cifar_conditional_param_counts():
  k = 10
  g, d = _built("resnet_cifar", (32, 32, 3), num_classes=k,
                g_kwargs=dict(batch_norm_fn=normalization.conditional_batch_norm),
                d_kwargs=dict(project_y=True))
  cond_norm = lambda c: cbn(c, k)
  expected_g = (linear(128, 4 * 4 * 256)
                + _resnet_g_block(256, 256, cond_norm)
                + _resnet_g_block(256, 256, cond_norm)
                + _resnet_g_block(256, 256, cond_norm)
                + cond_norm(256)              # final_norm
                + conv(3, 256, 3))
  expected_d = (_resnet_d_block(3, 128) + _resnet_d_block(128, 128) + _resnet_d_block(128, 128)
                + _resnet_d_block(128, 128) + linear(128, 1)
                + linear(k, 128, bias=False))  # embedding_fc [K, F], no bias
  assert _count(g.trainable_variables) == expected_g
  assert _count(d.trainable_variables) == expected_d
  assert _count(g.non_trainable_variables) == 2 * 7 * 256
  embedding = [v for v in d.trainable_variables if "embedding_fc" in v.path]
  assert [tuple(v.shape) for v in embedding] == [(k, 128)]
  gammas = [v for v in g.trainable_variables if "final_norm/gamma" in v.path]
  assert [tuple(v.shape) for v in gammas] == [(k, 256)]


def test_mlp_param_counts():
  g, d = _built("mlp", (2,), z_dim=64)
  expected_g = linear(64, 256) + linear(256, 256) + linear(256, 256) + linear(256, 2)
  expected_d = linear(2, 256) + linear(256, 256) + linear(256, 256) + linear(256, 1)
  assert _count(g.trainable_variables) == expected_g
  assert _count(d.trainable_variables) == expected_d


def test_batch_norm_state_is_non_trainable_mean_and_variance():
  g, _ = _built("mlp", (2,), z_dim=8, g_kwargs=dict(batch_norm_fn=normalization.batch_norm,
                                                    width=TINY), only="g")
  state = sorted(v.path.rsplit("/", 1)[-1] for v in g.non_trainable_variables)
  assert state == ["moving_mean"] * 3 + ["moving_variance"] * 3
  assert _count(g.non_trainable_variables) == 2 * 3 * 32


# ------------------------------------------------------------------------------------------------
# 3. Variable names follow the reference scopes.
# ------------------------------------------------------------------------------------------------

_NAMES = {
    "resnet19": ((16, 16, 3), dict(batch_norm_fn=normalization.batch_norm), dict(),
                 ["generator/fc_noise/kernel", "generator/B1/up_conv1/kernel",
                  "generator/B1/same_conv2/kernel", "generator/B1/up_conv_shortcut/kernel",
                  "generator/B1/bn1/gamma", "generator/B2/up_conv1/kernel",
                  # 16x16: log2(16/4) = 2 up blocks, then "none" blocks.
                  "generator/B3/same_conv1/kernel", "generator/B5/same_conv_shortcut/kernel",
                  "generator/final_norm/gamma", "generator/final_conv/kernel"],
                 ["discriminator/B0/down_conv2/kernel", "discriminator/B0/same_conv1/kernel",
                  "discriminator/B0/down_conv_shortcut/kernel",
                  "discriminator/B5/same_conv2/kernel", "discriminator/disc_final_fc/kernel"]),
    "resnet_cifar": ((32, 32, 3), dict(batch_norm_fn=normalization.batch_norm), dict(),
                     ["generator/fc_noise/kernel", "generator/B3/up_conv1/kernel",
                      "generator/final_norm/beta", "generator/final_conv/bias"],
                     ["discriminator/B1/down_conv2/kernel", "discriminator/B4/same_conv2/kernel",
                      "discriminator/B4/same_conv_shortcut/kernel",
                      "discriminator/disc_final_fc/kernel"]),
    "sndcgan": ((32, 32, 3), dict(batch_norm_fn=normalization.batch_norm), dict(),
                ["generator/g_fc1/kernel", "generator/g_bn1/gamma", "generator/g_dc2/kernel",
                 "generator/g_dc5/kernel"],
                ["discriminator/d_fc1/kernel"]),
    "dcgan": ((32, 32, 3), dict(batch_norm_fn=normalization.batch_norm),
              dict(batch_norm_fn=normalization.batch_norm),
              ["generator/g_fc1/kernel", "generator/g_dc4/kernel"],
              ["discriminator/d_bn1/gamma", "discriminator/d_bn3/beta",
               "discriminator/d_fc4/kernel"]),
    "infogan": ((28, 28, 1), dict(batch_norm_fn=normalization.batch_norm),
                dict(batch_norm_fn=normalization.batch_norm),
                ["generator/g_fc1/kernel", "generator/g_fc2/kernel", "generator/g_dc3/kernel",
                 "generator/g_dc4/kernel"],
                ["discriminator/d_conv1/kernel", "discriminator/d_conv2/kernel",
                 "discriminator/d_bn2/gamma", "discriminator/d_fc3/kernel",
                 "discriminator/d_bn3/gamma", "discriminator/d_fc4/kernel"]),
}


@pytest.mark.parametrize("name", sorted(_NAMES))
def test_variable_names_follow_reference_scopes(name):
  image_shape, g_extra, d_extra, g_names, d_names = _NAMES[name]
  g, d = _built(name, image_shape, z_dim=Z_DIM, g_kwargs=dict(width=TINY, **g_extra),
                d_kwargs=dict(width=TINY, **d_extra))
  g_paths, d_paths = set(_paths(g)), set(_paths(d))
  assert not set(g_names) - g_paths, sorted(g_paths)
  assert not set(d_names) - d_paths, sorted(d_paths)


def test_projection_embedding_name_and_initializer():
  _, d = _built("resnet_cifar", (16, 16, 3), num_classes=10,
                g_kwargs=dict(width=TINY, batch_norm_fn=normalization.conditional_batch_norm),
                d_kwargs=dict(project_y=True), only="d")
  assert "discriminator/embedding_fc/kernel" in _paths(d)
  # normal(0.02) as the reference resnet_cifar's linear embedding_fc; glorot normal on [10, 128]
  # would have std sqrt(2 / 138) = 0.12.
  w = [v for v in d.trainable_variables if v.path == "discriminator/embedding_fc/kernel"][0]
  assert abs(float(np.std(w.numpy())) - 0.02) < 0.003


# ------------------------------------------------------------------------------------------------
# 4. Bad configuration fails fast, naming the bad value and the valid choices.
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,image_shape", [
    ("resnet19", (48, 48, 3)),
    ("resnet19", (256, 256, 3)),
    ("resnet_cifar", (30, 30, 3)),
    ("infogan", (30, 30, 3)),
    ("sndcgan", (32, 32, 2)),
    ("dcgan", (32, 28, 3)),
    ("resnet_cifar", (32, 32)),
    ("mlp", (0, 2)),
])
def test_unsupported_image_shape(name, image_shape):
  arch = compare_gan.architectures.get_architecture(name)
  for module in (arch.generator, arch.discriminator):
    with pytest.raises(ValueError) as error:
      module(image_shape, options=None)
    assert str(tuple(image_shape)) in str(error.value)


def test_unknown_architecture_lists_registered_names():
  with pytest.raises(ValueError) as error:
    compare_gan.architectures.get_architecture("resnet18")
  message = str(error.value)
  assert "resnet18" in message
  for name in ARCHITECTURES:
    assert name in message


def test_conditional_generator_without_num_classes():
  with pytest.raises(ValueError, match="num_classes"):
    _build("resnet_cifar", (32, 32, 3),
           g_kwargs=dict(width=TINY, batch_norm_fn=normalization.conditional_batch_norm))


def test_conditional_models_need_labels():
  g, d = _build("resnet_cifar", (16, 16, 3), num_classes=5,
                g_kwargs=dict(width=TINY, batch_norm_fn=normalization.conditional_batch_norm),
                d_kwargs=dict(width=TINY, project_y=True))
  with pytest.raises(ValueError, match="labels"):
    g(_z(), training=False)
  with pytest.raises(ValueError, match="labels"):
    d(tf.zeros([2, 16, 16, 3]), training=False)
  # Labels of the wrong width name the expected shape.
  with pytest.raises(ValueError, match=r"\[B, 5\]"):
    g(_z(), y=tf.one_hot([0, 1, 2], 4), training=False)


def test_project_y_without_num_classes():
  with pytest.raises(ValueError, match="num_classes"):
    _build("resnet_cifar", (32, 32, 3), d_kwargs=dict(width=TINY, project_y=True))


@pytest.mark.parametrize("module", ["generator", "discriminator"])
def test_num_classes_for_a_model_that_ignores_labels(module):
  arch = compare_gan.architectures.get_architecture("sndcgan")
  options = (base.GeneratorOptions(width=TINY) if module == "generator"
             else base.DiscriminatorOptions(width=TINY))
  with pytest.raises(ValueError, match="num_classes=10"):
    getattr(arch, module)((32, 32, 3), num_classes=10, options=options)


def test_unconditional_model_given_labels():
  g, d = _build("sndcgan", (16, 16, 1), g_kwargs=dict(width=TINY), d_kwargs=dict(width=TINY))
  y = tf.one_hot([0, 1, 2], 3)
  with pytest.raises(ValueError, match="unconditional"):
    g(_z(), y=y)
  with pytest.raises(ValueError, match="unconditional"):
    d(tf.zeros([3, 16, 16, 1]), y=y)


def test_conditional_normaliser_in_discriminator():
  with pytest.raises(ValueError, match="project_y"):
    _build("sndcgan", (16, 16, 1),
           d_kwargs=dict(width=TINY, batch_norm_fn=normalization.conditional_batch_norm))


def test_wrong_image_shape_passed_to_discriminator():
  _, d = _build("dcgan", (32, 32, 3), g_kwargs=dict(width=TINY), d_kwargs=dict(width=TINY))
  with pytest.raises(ValueError) as error:
    d(tf.zeros([2, 28, 28, 1]))
  message = str(error.value)
  assert "32, 32, 3" in message and "28, 28, 1" in message


@pytest.mark.parametrize("z_shape", [(3, Z_DIM + 1), (3, 4, Z_DIM), (Z_DIM,)])
def test_wrong_z_shape(z_shape):
  g, _ = _build("mlp", (2,), g_kwargs=dict(width=TINY), d_kwargs=dict(width=TINY))
  with pytest.raises(ValueError) as error:
    g(tf.zeros(z_shape))
  assert f"[B, {Z_DIM}]" in str(error.value)


@pytest.mark.parametrize("width", [0.0, -1.0])
def test_non_positive_width(width):
  with pytest.raises(ValueError, match="G.width"):
    _build("mlp", (2,), g_kwargs=dict(width=width))
  with pytest.raises(ValueError, match="D.width"):
    _build("mlp", (2,), d_kwargs=dict(width=width))


def test_non_normaliser_factory():
  with pytest.raises(ValueError, match="not a normaliser"):
    _build("mlp", (2,), g_kwargs=dict(batch_norm_fn=lambda name, use_sn: tf.identity))


def test_self_modulated_norm_in_discriminator_fails_by_the_first_call():
  # D has no latent z; the error comes at the latest when the variables are created.
  with pytest.raises(ValueError, match="latent z"):
    _built("mlp", (2,), d_kwargs=dict(width=TINY,
                                      batch_norm_fn=normalization.self_modulated_batch_norm),
           only="d")


# ------------------------------------------------------------------------------------------------
# 5. gin surface.
# ------------------------------------------------------------------------------------------------


def test_gin_options():
  gin.parse_config("G.width = 0.25\nG.batch_norm_fn = @batch_norm\nD.spectral_norm = True")
  g_opts = base.GeneratorOptions()
  d_opts = base.DiscriminatorOptions()
  assert g_opts.width == 0.25
  assert g_opts.batch_norm_fn is normalization.batch_norm
  assert not g_opts.spectral_norm
  assert d_opts.spectral_norm
  assert d_opts.batch_norm_fn is None and not d_opts.layer_norm and not d_opts.project_y


def test_build_reads_gin_options():
  gin.parse_config("G.width = 0.125\nG.batch_norm_fn = @batch_norm\n"
                   "D.width = 0.125\nD.spectral_norm = True")
  g, d = ARCHITECTURES["sndcgan"].build((16, 16, 1), z_dim=Z_DIM)
  assert g.options.width == 0.125 and d.options.spectral_norm
  g.build_variables()
  d.build_variables()
  assert any(v.path.endswith("g_bn1/gamma") for v in g.trainable_variables)
  assert any(v.path.endswith("/u") for v in d.non_trainable_variables)


def test_gin_unknown_reference_is_named():
  with pytest.raises(Exception) as error:
    gin.parse_config("G.batch_norm_fn = @batch_nrom")
  assert "batch_nrom" in str(error.value)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_gin_reference_returns_architecture(name):
  gin.parse_config(f"architectures_test_holder.arch = @{name}()")
  arch = _holder()
  assert arch is ARCHITECTURES[name]
  assert arch.name == name


def test_gin_reference_with_module_prefix():
  gin.parse_config("architectures_test_holder.arch = @architectures.resnet19()")
  assert _holder().name == "resnet19"


def test_gin_conditional_batch_norm_reference_is_conditional():
  gin.parse_config("G.batch_norm_fn = @conditional_batch_norm\nG.width = 0.125\n"
                   "D.project_y = True\nD.width = 0.125")
  g, d = ARCHITECTURES["resnet_cifar"].build((16, 16, 3), z_dim=Z_DIM, num_classes=3)
  assert g.conditional and d.conditional


# ------------------------------------------------------------------------------------------------
# 6. Conditional models depend on the labels.
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,training", [("resnet_cifar", True), ("resnet19", False)])
def test_conditional_outputs_depend_on_labels(name, training):
  k = 5
  g, d = _build(name, (16, 16, 3), num_classes=k,
                g_kwargs=dict(width=TINY, batch_norm_fn=normalization.conditional_batch_norm),
                d_kwargs=dict(width=TINY, project_y=True))
  z = _z()
  y0 = tf.one_hot([0, 0, 0], k)
  y1 = tf.one_hot([1, 2, 3], k)
  images0 = g(z, y=y0, training=training).numpy()
  images1 = g(z, y=y1, training=training).numpy()
  assert images0.shape == (BATCH, 16, 16, 3)
  assert np.abs(images0 - images1).max() > 1e-6
  logits0, _ = d(tf.constant(images0), y=y0, training=training)
  logits1, _ = d(tf.constant(images0), y=y1, training=training)
  assert tuple(logits0.shape) == (BATCH, 1)
  assert np.all(np.abs(logits0.numpy() - logits1.numpy()) > 0)
  if not training:
    # Inference changes no state: the same inputs give the same outputs.
    np.testing.assert_array_equal(images0, g(z, y=y0, training=False).numpy())


# ------------------------------------------------------------------------------------------------
# 7. Determinism of the initial weights.
# ------------------------------------------------------------------------------------------------


def _weights(seed, name, image_shape):
  with ops.initializer_seed(seed):
    g, d = _built(name, image_shape, z_dim=Z_DIM,
                  g_kwargs=dict(width=TINY, batch_norm_fn=normalization.batch_norm,
                                spectral_norm=True),
                  d_kwargs=dict(width=TINY, spectral_norm=True))
  return {v.path: v.numpy() for v in g.variables + d.variables}


def test_initializer_seed_determinism():
  name, image_shape = "resnet_cifar", (8, 8, 3)
  first = _weights(3, name, image_shape)
  second = _weights(3, name, image_shape)
  other = _weights(4, name, image_shape)
  assert first.keys() == second.keys() == other.keys()
  for path in first:
    np.testing.assert_array_equal(first[path], second[path], err_msg=path)
  randomly_initialised = [p for p in first if p.endswith("/kernel") or p.endswith("/u")]
  assert randomly_initialised
  for path in randomly_initialised:
    assert not np.array_equal(first[path], other[path]), path
  # B3 and B4 of the D are identical 128->128 blocks: their kernels must not coincide.
  a = first["discriminator/B3/same_conv1/kernel"]
  b = first["discriminator/B4/same_conv1/kernel"]
  assert a.shape == b.shape and not np.array_equal(a, b)


# ------------------------------------------------------------------------------------------------
# 8. Mixed precision: G images and D logits stay float32.
# ------------------------------------------------------------------------------------------------


def _mixed_precision_step(name, image_shape, **d_kwargs):
  g, d = _build(name, image_shape,
                g_kwargs=dict(width=TINY, batch_norm_fn=normalization.batch_norm,
                              spectral_norm=True),
                d_kwargs=dict(width=TINY, batch_norm_fn=normalization.batch_norm,
                              spectral_norm=True, **d_kwargs))
  with tf.GradientTape() as tape:
    images = g(_z(), training=True)
    logits, _ = d(images, training=True)
    loss = tf.reduce_mean(logits)
  assert images.dtype == tf.float32 and logits.dtype == tf.float32
  assert np.all(np.isfinite(logits.numpy()))
  grads = tape.gradient(loss, g.trainable_variables + d.trainable_variables)
  assert all(grad is not None for grad in grads)


@pytest.mark.parametrize("name,image_shape", [("mlp", (2,)), ("sndcgan", (8, 8, 1))])
def test_mixed_precision(mixed_float16, name, image_shape):
  _mixed_precision_step(name, image_shape)


def test_mixed_precision_with_layer_norm(mixed_float16):
  _mixed_precision_step("mlp", (2,), layer_norm=True)
