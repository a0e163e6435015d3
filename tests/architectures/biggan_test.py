"""BigGAN and BigGAN-deep (`resnet_biggan`, `resnet_biggan_deep`).

Parameter counts are computed here by hand, layer by layer, from the reference's block tables
(shared/reference/v3_families.md sections 2 and 3; the totals are the reference's docstring
and test numbers). The conditioning paths are checked against vectors computed in numpy from
a known z and the embedding variable; the rest at tiny widths (ch 4-8) to stay fast.

Run as a script (`python biggan_test.py`), this file is the two-replica check that the test
`test_two_replicas_match_one_device` starts in a fresh process.
"""

import json
import os
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import config
from compare_gan.architectures import base
from compare_gan.architectures import normalization
from compare_gan.architectures import resnet_biggan
from compare_gan.architectures import resnet_biggan_deep

CBN = normalization.conditional_batch_norm
BG, DEEP = "resnet_biggan", "resnet_biggan_deep"
MODULES = {BG: resnet_biggan, DEEP: resnet_biggan_deep}


# ------------------------------------------------------------------------------------------------
# Helpers.
# ------------------------------------------------------------------------------------------------

def _build(name, size, z_dim, num_classes=None, g=None, d=None, g_arch=None, d_arch=None,
           channels=3):
  """(G, D) of architecture `name`; g/d: base options kwargs, g_arch/d_arch: family options."""
  module = MODULES[name]
  gen = module.Generator((size, size, channels), z_dim=z_dim, num_classes=num_classes,
                         options=base.GeneratorOptions(**(g or {})),
                         arch_options=module.GeneratorOptions(**(g_arch or {})))
  disc = module.Discriminator((size, size, channels), num_classes=num_classes,
                              options=base.DiscriminatorOptions(**(d or {})),
                              arch_options=module.DiscriminatorOptions(**(d_arch or {})))
  return gen, disc


def _tiny(name, size, z_dim=12, num_classes=5, g=None, d=None, g_arch=None, d_arch=None):
  """A model at ch 8, BigGAN's attention after G B2 and D B1: conditional (CBN, projection)
  with num_classes, else unconditional (embed_y and project_y off)."""
  g = dict(dict(batch_norm_fn=CBN) if num_classes else {}, **(g or {}))
  attention = dict(blocks_with_attention="B2") if name == BG else {}
  g_arch = dict(dict(ch=8, **attention), **(g_arch or {}))
  d_arch = dict(dict(ch=8), **(d_arch or {}))
  if not num_classes:
    g_arch.setdefault("embed_y", False)
    d_arch.setdefault("project_y", False)
  return _build(name, size, z_dim, num_classes, g, d, g_arch, d_arch)


def _labels(labels, k=5):
  return tf.one_hot(labels, k)


def _known_z(batch, z_dim):
  """A z whose every entry is distinct, so a wrong chunk cannot match by accident."""
  return tf.constant(np.arange(batch * z_dim).reshape(batch, z_dim) / (batch * z_dim) - 0.5,
                     tf.float32)


def _count(variables) -> int:
  return int(sum(np.prod(v.shape) for v in variables))


def _parts(module) -> dict:
  """{top-level sub-layer name: trainable parameter count} (e.g. "B1", "fc_noise")."""
  parts = {}
  for v in module.trainable_variables:
    top = v.path.split("/")[1]
    parts[top] = parts.get(top, 0) + int(np.prod(v.shape))
  return parts


def _var(module, path):
  matches = [v for v in module.variables if v.path == path]
  assert len(matches) == 1, (path, sorted(v.path for v in module.variables))
  return matches[0].numpy()


def _attention_channels(module):
  """{block name: channels} of every non-local block, from its theta kernel [1, 1, C, C/8]."""
  out = {}
  for v in module.variables:
    if "/non_local_block_" in v.path and v.path.endswith("conv2d_theta/kernel"):
      out[v.path.split("/")[1][len("non_local_block_"):]] = v.shape[2]
  return out


def _one_line_error(fn, error=ValueError):
  with pytest.raises(error) as caught:
    fn()
  # gin appends an "In call to configurable" line, which the CLI drops (run_dir).
  lines = [l for l in str(caught.value).splitlines()
           if not l.strip().startswith("In call to configurable")]
  assert len(lines) == 1, str(caught.value)
  return lines[0]


# Hand-written layer sizes: every conv and linear has a bias unless said; CBN maps have none.
def conv(k, cin, cout):
  return k * k * cin * cout + cout


def linear(cin, cout, bias=True):
  return cin * cout + (cout if bias else 0)


def cbn(c, d):
  """Conditional BN on c channels from a d-dim condition: gamma and beta maps [d, c]."""
  return 2 * d * c


def attention(c):
  """theta, phi [C, C/8], g [C, C/2], o [C/2, C], all 1x1 without bias, plus sigma."""
  return c * (c // 8) * 2 + c * (c // 2) * 2 + 1


def biggan_g_block(a, b, d):
  """CBN(a) -> conv3x3 a->b -> CBN(b) -> conv3x3 b->b, shortcut conv1x1 a->b."""
  return cbn(a, d) + conv(3, a, b) + cbn(b, d) + conv(3, b, b) + conv(1, a, b)


def biggan_d_block(a, b):
  """conv3x3 a->b, conv3x3 b->b; a conv1x1 shortcut only when a != b."""
  return conv(3, a, b) + conv(3, b, b) + (conv(1, a, b) if a != b else 0)


def deep_block(a, b, d=None):
  """Bottleneck k = max(a, b)/4: 1x1 a->k, 3x3 k->k twice, 1x1 k->b; four CBNs (G, on a, k, k,
  k channels from a d-dim condition); D adds a 1x1 conv making b - a channels when b > a."""
  k = max(a, b) // 4
  norms = 0 if d is None else cbn(a, d) + 3 * cbn(k, d)
  extra = conv(1, a, b - a) if b > a else 0
  return norms + conv(1, a, k) + 2 * conv(3, k, k) + conv(1, k, b) + extra


# The reference's multiplier tables, written out again (v3_families.md, resnet_biggan*.py).
BG_G = {128: [16, 16, 8, 4, 2, 1], 256: [16, 16, 8, 8, 4, 2, 1], 512: [16, 16, 8, 8, 4, 2, 1, 1]}
BG_D = {128: [1, 2, 4, 8, 16, 16], 256: [1, 2, 4, 8, 8, 16, 16],
        512: [1, 1, 2, 4, 8, 8, 16, 16]}
DEEP_G = {128: [16] * 4 + [8] * 2 + [4, 4, 2, 2, 1], 256: [16] * 4 + [8] * 4 + [4, 4, 2, 2, 1],
          512: [16] * 4 + [8] * 4 + [4, 4, 2, 2, 1, 1, 1]}
DEEP_D = {128: [1, 2, 2, 4, 4] + [8] * 2 + [16] * 4, 256: [1, 2, 2, 4, 4] + [8] * 4 + [16] * 4,
          512: [1, 1, 1, 2, 2, 4, 4] + [8] * 4 + [16] * 4}
# (G attention block, D attention block, z_dim): the reference docstring's settings.
BG_SETTINGS = {128: ("B4", "B1", 120), 256: ("B5", "B2", 140), 512: ("B4", "B3", 160)}


def biggan_expected(size, classes=1000, ch=96, embed=128):
  """Per-part trainable counts of BigGAN G and D at `size` (dicts keyed like `_parts`)."""
  g_attn, d_attn, z_dim = BG_SETTINGS[size]
  m = [ch * x for x in BG_G[size]]
  n = len(m) - 1
  chunk = z_dim // (n + 1)
  g = {"embed_y": linear(classes, embed, bias=False),
       "fc_noise": linear(chunk, 4 * 4 * m[0]),
       "final_norm": 2 * m[-1], "final_conv": conv(3, m[-1], 3)}
  for i in range(n):
    g[f"B{i + 1}"] = biggan_g_block(m[i], m[i + 1], chunk + embed)
  g[f"non_local_block_{g_attn}"] = attention(m[int(g_attn[1:])])
  dm = [3] + [ch * x for x in BG_D[size]]
  d = {f"B{i + 1}": biggan_d_block(dm[i], dm[i + 1]) for i in range(len(dm) - 1)}
  d[f"non_local_block_{d_attn}"] = attention(dm[int(d_attn[1:])])
  d["final_fc"] = linear(dm[-1], 1)
  d["embedding_fc"] = classes * dm[-1]
  return g, d


def deep_expected(size, classes=1000, ch=128, z_dim=128, embed=128):
  """Per-part trainable counts of BigGAN-deep G and D at `size`."""
  m = [ch * x for x in DEEP_G[size]]
  c = z_dim + embed
  g = {"embed_y": linear(classes, embed, bias=False), "fc_noise": linear(c, 4 * 4 * m[0]),
       "final_norm": 2 * m[-1], "final_conv": conv(3, m[-1], 3)}
  side = 4
  for i in range(len(m) - 1):
    g[f"B{i + 1}"] = deep_block(m[i], m[i + 1], c)
    side *= 2 if i % 2 else 1
    if i % 2 and side == 64:
      g[f"non_local_block_B{i + 1}"] = attention(m[i + 1])
  dm = [ch * x for x in DEEP_D[size]]
  d = {"initial_conv": conv(3, 3, dm[0])}
  side = size
  for i in range(len(dm) - 1):
    d[f"B{i + 1}"] = deep_block(dm[i], dm[i + 1])
    side //= 1 if i % 2 else 2
    if i % 2 and side == 64:
      d[f"non_local_block_B{i + 1}"] = attention(dm[i + 1])
  d["final_fc"] = linear(dm[-1], 1)
  d["embedding_fc"] = classes * dm[-1]
  return g, d


def _full_size(name, size):
  """The reference configuration at `size`: 1000 classes, CBN, SN in G and D, batch-1 build."""
  if name == BG:
    g_attn, d_attn, z_dim = BG_SETTINGS[size]
    g_arch, d_arch = dict(blocks_with_attention=g_attn), dict(blocks_with_attention=d_attn)
  else:
    z_dim, g_arch, d_arch = 128, {}, {}
  g, d = _build(name, size, z_dim, 1000, dict(batch_norm_fn=CBN, spectral_norm=True),
                dict(spectral_norm=True), g_arch, d_arch)
  g.build_variables(batch_size=1)
  d.build_variables(batch_size=1)
  return g, d


# ------------------------------------------------------------------------------------------------
# 1. Parameter counts at full width.
# ------------------------------------------------------------------------------------------------


def test_biggan_128_parameter_counts():
  g, d = _full_size(BG, 128)
  expected_g, expected_d = biggan_expected(128)
  # The reference's rows (v3_families.md section 2), hand-computed there.
  assert expected_g["B1"] == 45_740_544 and expected_g["non_local_block_B4"] == 46_081
  assert expected_d["B6"] == 42_470_400 and expected_d["embedding_fc"] == 1_536_000
  assert sum(expected_g.values()) == 70_433_988
  assert sum(expected_d.values()) == 87_982_370
  assert _parts(g) == expected_g
  assert _parts(d) == expected_d
  assert _count(g.trainable_variables) == 70_433_988
  assert _count(d.trainable_variables) == 87_982_370
  # B6 (1536 -> 1536) has no shortcut conv; B5 (768 -> 1536) has one.
  d_paths = {v.path for v in d.variables}
  assert "discriminator/B5/down_conv_shortcut/kernel" in d_paths
  assert not [p for p in d_paths if p.startswith("discriminator/B6/") and "shortcut" in p]
  # Spectral norm on every kernel (CBN maps, fc_noise, attention, projection included) except
  # the label embedding, which the reference never normalises.
  for module, unnormalised in ((g, {"generator/embed_y"}), (d, set())):
    kernels = {v.path[:-len("/kernel")] for v in module.variables if v.path.endswith("/kernel")}
    us = {v.path[:-len("/kernel/u")] if v.path.endswith("/kernel/u") else v.path[:-len("/u")]
          for v in module.non_trainable_variables if v.path.endswith("/u")}
    assert kernels - us == unnormalised
    assert us <= kernels
  # c_i = [z_i (20), e (128)] feeds each CBN map.
  assert _var(g, "generator/B1/bn1/gamma/kernel").shape == (148, 1536)


def test_biggan_deep_128_parameter_counts():
  g, d = _full_size(DEEP, 128)
  expected_g, expected_d = deep_expected(128)
  # Rows of the reference's arithmetic (v3_families.md section 3).
  assert expected_g["fc_noise"] == 8_421_376
  assert expected_g["B1"] == expected_g["B2"] == expected_g["B3"] == 8_654_336
  assert expected_g["B4"] == 8_129_024 and expected_g["B10"] == 328_000
  assert expected_g["non_local_block_B8"] == 81_921
  assert expected_d["embedding_fc"] == 2_048_000
  assert sum(expected_g.values()) == 50_244_484
  assert sum(expected_d.values()) == 34_590_210
  assert _parts(g) == expected_g
  assert _parts(d) == expected_d
  assert _count(g.trainable_variables) == 50_244_484
  assert _count(d.trainable_variables) == 34_590_210
  # Attention after the G up block to 64x64 (B8) and the D same block at 64x64 (B2).
  assert "non_local_block_B8" in _parts(g) and "non_local_block_B2" in _parts(d)


@pytest.mark.slow
@pytest.mark.parametrize("name,size,g_total,d_total", [
    (BG, 256, 82_097_604, 98_635_298),
    (BG, 512, 82_468_068, 98_801_378),
    (DEEP, 256, 55_736_708, 38_247_426),
    (DEEP, 512, 56_019_780, 38_301_122),
])
def test_parameter_counts_256_512(name, size, g_total, d_total):
  expected_g, expected_d = (biggan_expected if name == BG else deep_expected)(size)
  assert (sum(expected_g.values()), sum(expected_d.values())) == (g_total, d_total)
  g, d = _full_size(name, size)
  assert _parts(g) == expected_g
  assert _parts(d) == expected_d


# ------------------------------------------------------------------------------------------------
# 2. Shapes, range and gradients at tiny widths.
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,size", [(BG, 32), (BG, 64), (BG, 128), (DEEP, 32), (DEEP, 64),
                                       (DEEP, 128)])
def test_shapes_range_and_gradients(name, size):
  z_dim = 10 if size == 64 else 12  # BigGAN: 4, 5, 6 z chunks at 32, 64, 128
  sn = size == 32  # (spectral norm doubles the ops; the count tests cover it at full size)
  g, d = _tiny(name, size, z_dim=z_dim, g=dict(spectral_norm=sn), d=dict(spectral_norm=sn))
  y = _labels([0, 4])
  with tf.GradientTape() as tape:
    images = g(_known_z(2, z_dim), y=y, training=True)
    logits, features = d(images, y=y, training=True)
    loss = tf.reduce_mean(logits)
  assert images.shape == (2, size, size, 3) and images.dtype == tf.float32
  pixels = images.numpy()
  assert np.all(np.isfinite(pixels)) and pixels.min() >= 0.0 and pixels.max() <= 1.0
  assert logits.shape == (2, 1) and logits.dtype == tf.float32
  assert features.shape == (2, 8 * (2 if size == 32 else 16))  # D's last channels, ch 8
  variables = g.trainable_variables + d.trainable_variables
  grads = tape.gradient(loss, variables)
  assert not [v.path for v, grad in zip(variables, grads) if grad is None]
  for module, prefix in ((g, "generator/"), (d, "discriminator/")):
    paths = [v.path for v in module.variables]
    assert len(paths) == len(set(paths)) and all(p.startswith(prefix) for p in paths)
  # BigGAN: attention after G B2 and D B1 (set by _tiny). BigGAN-deep: after the G up block to
  # 64x64 (B8 at 64 and 128; 2 ch) and the D same block at 64x64 (B2 at 128; 2 ch); none at 32
  # and none in D at 64 (its B1 already halves the image).
  expected = {(BG, 32): ({"B2": 32}, {"B1": 16}), (BG, 64): ({"B2": 64}, {"B1": 16}),
              (BG, 128): ({"B2": 64}, {"B1": 8}), (DEEP, 32): ({}, {}),
              (DEEP, 64): ({"B8": 16}, {}), (DEEP, 128): ({"B8": 16}, {"B2": 16})}
  assert (_attention_channels(g), _attention_channels(d)) == expected[name, size]
  # Inference is deterministic: it reads the stored BN statistics and u, and updates neither.
  first = g(_known_z(2, z_dim), y=y, training=False).numpy()
  np.testing.assert_array_equal(first, g(_known_z(2, z_dim), y=y, training=False).numpy())


def test_grayscale_images():
  g, d = _build(BG, 32, 8, g_arch=dict(ch=4, blocks_with_attention="", embed_y=False),
                d_arch=dict(ch=4, project_y=False, blocks_with_attention=""), channels=1)
  images = g(tf.zeros([2, 8]), training=False)
  assert images.shape == (2, 32, 32, 1)
  assert d(images, training=False)[0].shape == (2, 1)


# ------------------------------------------------------------------------------------------------
# 3. What each conditional batch norm is conditioned on.
# ------------------------------------------------------------------------------------------------


class _RecordingCBN(normalization.ConditionalBatchNorm):
  """Conditional BN that records the condition vector it receives, by layer path."""

  seen = {}

  def call(self, x, z=None, y=None, training=None):
    _RecordingCBN.seen[self.path] = None if y is None else y.numpy()
    return super().call(x, z=z, y=y, training=training)


def recording_cbn(name, use_sn=False):
  return _RecordingCBN(name=name, use_sn=use_sn)


recording_cbn.conditional = True


@pytest.fixture
def seen():
  _RecordingCBN.seen = {}
  yield _RecordingCBN.seen
  _RecordingCBN.seen = {}


def _block_norms(seen, blocks, norms=("bn1", "bn2")):
  return [[seen[f"generator/B{i}/{bn}"] for bn in norms] for i in range(1, blocks + 1)]


def test_hierarchical_z_chunks_and_shared_embedding(seen):
  # 32x32: 3 blocks, so z (12) splits into 4 chunks of 3: chunk 0 -> fc_noise, chunk i -> Bi.
  g, _ = _tiny(BG, 32, z_dim=12, g=dict(batch_norm_fn=recording_cbn),
               g_arch=dict(embed_y_dim=6))
  z, y = _known_z(2, 12), _labels([1, 3])
  g(z, y=y, training=True)
  embeddings = [v for v in g.variables if "embed" in v.path]
  assert [v.path for v in embeddings] == ["generator/embed_y/kernel"]  # one, shared, no bias
  e = y.numpy() @ embeddings[0].numpy()
  assert e.shape == (2, 6)
  for i, (bn1, bn2) in enumerate(_block_norms(seen, 3)):
    expected = np.concatenate([z.numpy()[:, 3 * (i + 1):3 * (i + 2)], e], axis=1)
    np.testing.assert_allclose(bn1, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(bn2, expected, rtol=1e-6, atol=1e-7)
  assert _var(g, "generator/fc_noise/kernel").shape == (3, 4 * 4 * 32)
  # The head's BN is unconditional: per-channel gamma/beta, no condition.
  assert "generator/final_norm" not in seen
  assert _var(g, "generator/final_norm/gamma").shape == (32,)


def test_embed_z_maps_z_before_the_split(seen):
  g, _ = _tiny(BG, 32, z_dim=12, g=dict(batch_norm_fn=recording_cbn),
               g_arch=dict(embed_z=True, embed_y=False))
  z, y = _known_z(2, 12), _labels([0, 2])
  g(z, y=y, training=True)
  mapped = z.numpy() @ _var(g, "generator/embed_z/kernel")  # embed_bias False: no bias
  assert not [v for v in g.variables if v.path.startswith("generator/embed_z/bias")]
  for i, (bn1, _) in enumerate(_block_norms(seen, 3)):
    # embed_y=False: the one-hot labels themselves follow the chunk.
    expected = np.concatenate([mapped[:, 3 * (i + 1):3 * (i + 2)], y.numpy()], axis=1)
    np.testing.assert_allclose(bn1, expected, rtol=1e-5, atol=1e-6)


def test_embed_bias_adds_biases_to_both_embeddings():
  g, _ = _tiny(BG, 32, g_arch=dict(embed_z=True, embed_bias=True))
  g.build_variables()
  paths = {v.path for v in g.variables}
  assert {"generator/embed_y/bias", "generator/embed_z/bias"} <= paths


def test_without_hierarchical_z_every_block_gets_the_embedding(seen):
  g, _ = _tiny(BG, 32, z_dim=10, g=dict(batch_norm_fn=recording_cbn),
               g_arch=dict(hierarchical_z=False))
  y = _labels([4, 1])
  g(_known_z(2, 10), y=y, training=True)
  e = y.numpy() @ _var(g, "generator/embed_y/kernel")
  for bn1, bn2 in _block_norms(seen, 3):
    np.testing.assert_allclose(bn1, e, rtol=1e-6)
    np.testing.assert_allclose(bn2, e, rtol=1e-6)
  assert _var(g, "generator/fc_noise/kernel").shape[0] == 10  # z feeds fc_noise only


def test_unconditional_biggan_conditions_on_the_z_chunks(seen):
  """SSGAN's generator: no labels, embed_y False; the CBNs take the z chunks."""
  g, d = _tiny(BG, 32, z_dim=8, num_classes=None, g=dict(batch_norm_fn=recording_cbn))
  assert not g.conditional and not d.conditional
  z = _known_z(3, 8)
  images = g(z, training=True)
  assert images.shape == (3, 32, 32, 3)
  for i, (bn1, bn2) in enumerate(_block_norms(seen, 3)):
    np.testing.assert_array_equal(bn1, z.numpy()[:, 2 * (i + 1):2 * (i + 2)])
    np.testing.assert_array_equal(bn2, z.numpy()[:, 2 * (i + 1):2 * (i + 2)])
  logits, _ = d(images, training=True)
  assert logits.shape == (3, 1)
  paths = {v.path for v in g.variables + d.variables}
  assert not [p for p in paths if "embed_y" in p or "embedding_fc" in p]
  with pytest.raises(ValueError, match="unconditional"):
    g(z, y=_labels([0, 1, 2]))


def test_unconditional_biggan_with_plain_batch_norm():
  g, d = _tiny(BG, 32, z_dim=8, num_classes=None, g=dict(batch_norm_fn=normalization.batch_norm))
  images = g(_known_z(2, 8), training=True)
  assert images.shape == (2, 32, 32, 3)
  assert d(images, training=True)[0].shape == (2, 1)


@pytest.mark.parametrize("num_classes", [5, None])
def test_biggan_deep_conditions_every_norm_on_z_and_embedding(seen, num_classes):
  g, _ = _tiny(DEEP, 32, z_dim=7, num_classes=num_classes,
               g=dict(batch_norm_fn=recording_cbn))
  z = _known_z(2, 7)
  y = _labels([2, 0]) if num_classes else None
  g(z, y=y, training=True)
  expected = z.numpy()
  if num_classes:
    expected = np.concatenate([expected, y.numpy() @ _var(g, "generator/embed_y/kernel")], 1)
  # 7 blocks (32x32), four norms each, all conditioned on the same c.
  records = _block_norms(seen, 7, norms=("bn1", "bn2", "bn3", "bn4"))
  assert len(seen) == 28
  for norms in records:
    for record in norms:
      np.testing.assert_allclose(record, expected, rtol=1e-6)
  assert _var(g, "generator/fc_noise/kernel").shape[0] == expected.shape[1]


# ------------------------------------------------------------------------------------------------
# 4. Attention placement, D's quirks, sum pooling, projection and initial values.
# ------------------------------------------------------------------------------------------------


def test_biggan_attention_follows_the_named_blocks():
  # 64x64, ch 8: G blocks output 16,8,4,2 x ch; D blocks output 2,4,8,16,16 x ch.
  g, d = _tiny(BG, 64, z_dim=10, g_arch=dict(blocks_with_attention="B3, B2"),
               d_arch=dict(blocks_with_attention="B1,B3"))
  g.build_variables()
  d.build_variables()
  assert _attention_channels(g) == {"B2": 8 * 8, "B3": 4 * 8}
  assert _attention_channels(d) == {"B1": 2 * 8, "B3": 8 * 8}
  # An empty setting means no attention.
  g, d = _tiny(BG, 32, g_arch=dict(blocks_with_attention=""), d_arch=dict(
      blocks_with_attention=""))
  g.build_variables()
  d.build_variables()
  assert _attention_channels(g) == {} and _attention_channels(d) == {}


def test_discriminator_block_without_channel_change_has_no_residual_path():
  _, d = _tiny(BG, 32, d_arch=dict(blocks_with_attention=""))
  d.build_variables()
  paths = {v.path for v in d.variables}
  # 32x32 D: B1 3 -> 16 (shortcut), B2..B4 16 -> 16 (none: the reference's quirk).
  assert "discriminator/B1/down_conv_shortcut/kernel" in paths
  assert not [p for p in paths if "shortcut" in p and not p.startswith("discriminator/B1/")]
  # With its last conv zeroed, B2 outputs exactly zero: nothing bypasses the convolutions.
  block = d.blocks[1]
  block.conv2.kernel.assign(tf.zeros_like(block.conv2.kernel))
  block.conv2.bias.assign(tf.zeros_like(block.conv2.bias))
  x = tf.random.stateless_normal([2, 16, 16, 16], [1, 2])
  np.testing.assert_array_equal(block(x, training=False).numpy(), 0.0)
  # A G block in the same situation still passes its 1x1 shortcut.
  g, _ = _tiny(BG, 32)
  g.build_variables()
  block = g.blocks[1]
  block.conv2.kernel.assign(tf.zeros_like(block.conv2.kernel))
  block.conv2.bias.assign(tf.zeros_like(block.conv2.bias))
  condition = tf.zeros([2, _var(g, "generator/B2/bn1/gamma/kernel").shape[0]])
  x = tf.random.stateless_normal([2, 8, 8, 32], [1, 2])
  assert np.abs(block(x, y=condition, training=False).numpy()).max() > 0


@pytest.mark.parametrize("name", [BG, DEEP])
def test_sum_pooling_and_projection(name, monkeypatch):
  _, d = _tiny(name, 32, num_classes=5, d_arch=dict(blocks_with_attention="")
               if name == BG else None)
  outputs = {}
  block_class = MODULES[name].Block
  original = block_class.call

  def recording_call(self, x, z=None, y=None, training=None):
    out = original(self, x, z=z, y=y, training=training)
    outputs[self.name] = out.numpy()
    return out

  monkeypatch.setattr(block_class, "call", recording_call)
  images = tf.random.stateless_uniform([3, 32, 32, 3], [4, 5])
  y = _labels([0, 3, 3])
  logits, h = d(images, y=y, training=False)
  last = outputs[d.blocks[-1].name]
  assert last.shape[1:3] == ((4, 4) if name == BG else (2, 2))
  area = last.shape[1] * last.shape[2]
  relu = np.maximum(last, 0.0)
  np.testing.assert_allclose(h.numpy(), relu.sum(axis=(1, 2)), rtol=1e-5, atol=1e-6)
  # A sum, not a mean: h is area times the mean of the features.
  np.testing.assert_allclose(h.numpy(), area * relu.mean(axis=(1, 2)), rtol=1e-5, atol=1e-5)
  # logit = w.h + b + <y E_D, h> (no spectral norm here, so the raw kernels apply).
  w, b = _var(d, "discriminator/final_fc/kernel"), _var(d, "discriminator/final_fc/bias")
  embed = _var(d, "discriminator/embedding_fc/kernel")
  expected = h.numpy() @ w + b + np.sum((y.numpy() @ embed) * h.numpy(), 1, keepdims=True)
  np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_initial_values():
  gin.parse_config("weights.initializer = 'orthogonal'")
  g, d = _tiny(BG, 32, num_classes=100)
  g.build_variables()
  d.build_variables()
  for module in (g, d):
    for v in module.variables:
      if v.path.endswith("/sigma") or v.path.endswith("/bias"):
        assert not np.any(v.numpy()), v.path  # attention sigma and every bias start at 0
  # Orthogonal kernels from gin `weights`: fc_noise [3, 512] has orthonormal rows.
  w = _var(g, "generator/fc_noise/kernel")
  np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-5)
  # The projection embedding is glorot-normal, as the reference: std sqrt(2 / (100 + 16))
  # = 0.131 (an orthogonal [100, 16] would have std 0.1).
  embed = _var(d, "discriminator/embedding_fc/kernel")
  assert embed.shape == (100, 16)
  assert abs(float(embed.std()) - np.sqrt(2 / 116)) < 0.01


# ------------------------------------------------------------------------------------------------
# 5. Bad configuration: one line naming the value and what is valid.
# ------------------------------------------------------------------------------------------------


def test_default_attention_block_missing_at_32x32():
  # The 128x128 default "B4" names no block at 32x32 (G has B1..B3).
  message = _one_line_error(lambda: _build(BG, 32, 12, 5, dict(batch_norm_fn=CBN)),
                            config.ConfigError)
  assert "blocks_with_attention='B4'" in message and "B1, B2, B3" in message


def test_unknown_discriminator_attention_block():
  message = _one_line_error(lambda: _tiny(BG, 128, d_arch=dict(blocks_with_attention="B1,B9")),
                            config.ConfigError)
  assert "B9" in message and "B1, B2, B3, B4, B5, B6" in message


def test_z_dim_must_split_into_equal_chunks():
  message = _one_line_error(lambda: _tiny(BG, 128, z_dim=128), config.ConfigError)
  assert "z_dim=128" in message and "6" in message and "120" in message
  # Without the split any z_dim works.
  _tiny(BG, 128, z_dim=128, g_arch=dict(hierarchical_z=False))


@pytest.mark.parametrize("name", [BG, DEEP])
def test_label_settings_without_labels(name):
  gin_name = name
  message = _one_line_error(
      lambda: _tiny(name, 32, num_classes=None, g_arch=dict(embed_y=True)), config.ConfigError)
  assert f"{gin_name}.Generator.embed_y" in message and "num_classes=None" in message
  message = _one_line_error(
      lambda: _tiny(name, 32, num_classes=None, d_arch=dict(project_y=True)),
      config.ConfigError)
  assert f"{gin_name}.Discriminator.project_y = False" in message


@pytest.mark.parametrize("name", [BG, DEEP])
def test_labels_need_a_conditional_normaliser_and_projection(name):
  message = _one_line_error(
      lambda: _tiny(name, 32, g=dict(batch_norm_fn=normalization.batch_norm)),
      config.ConfigError)
  assert "num_classes=5" in message and "@conditional_batch_norm" in message
  message = _one_line_error(lambda: _tiny(name, 32, d_arch=dict(project_y=False)),
                            config.ConfigError)
  assert "num_classes=5" in message and f"{name}.Discriminator.project_y = True" in message
  message = _one_line_error(
      lambda: _tiny(name, 32, d=dict(project_y=True), d_arch=dict(project_y=False)),
      config.ConfigError)
  assert "D.project_y = True contradicts" in message


def test_unconditional_cbn_without_hierarchical_z():
  message = _one_line_error(
      lambda: _tiny(BG, 32, num_classes=None, g=dict(batch_norm_fn=CBN),
                    g_arch=dict(hierarchical_z=False)), config.ConfigError)
  assert "hierarchical_z = False" in message and "conditional_batch_norm" in message


@pytest.mark.parametrize("name", [BG, DEEP])
@pytest.mark.parametrize("shape", [(16, 16, 3), (48, 48, 3), (1024, 1024, 3), (32, 32, 2)])
def test_unsupported_image_shapes(name, shape):
  for cls in (MODULES[name].Generator, MODULES[name].Discriminator):
    message = _one_line_error(lambda cls=cls: cls(shape))
    assert str(shape) in message
    if shape[-1] == 3:
      assert "(32, 64, 128, 256, 512)" in message


def test_option_values():
  gin.parse_config("resnet_biggan.Generator.ch = 0")
  message = _one_line_error(resnet_biggan.GeneratorOptions, config.ConfigError)
  assert "resnet_biggan.Generator.ch=0" in message
  gin.clear_config()
  message = _one_line_error(lambda: resnet_biggan_deep.GeneratorOptions(embed_y_dim=-1),
                            config.ConfigError)
  assert "resnet_biggan_deep.Generator.embed_y_dim=-1" in message
  message = _one_line_error(
      lambda: _tiny(BG, 32, g_arch=dict(blocks_with_attention=["B1"])), config.ConfigError)
  assert "comma-separated" in message


# ------------------------------------------------------------------------------------------------
# 6. gin surface, mixed precision, ModularGAN, two replicas.
# ------------------------------------------------------------------------------------------------


def test_gin_options_are_module_qualified():
  gin.parse_config("\n".join([
      "resnet_biggan.Generator.ch = 8",
      "resnet_biggan.Generator.blocks_with_attention = 'B2'",
      "resnet_biggan.Generator.hierarchical_z = False",
      "resnet_biggan.Discriminator.project_y = False",
      "resnet_biggan_deep.Generator.ch = 16",
      "resnet_biggan_deep.Discriminator.ch = 4",
      "G.width = 0.5",
  ]))
  g_options = resnet_biggan.GeneratorOptions()
  assert (g_options.ch, g_options.blocks_with_attention, g_options.hierarchical_z) == (
      8, "B2", False)
  assert g_options.embed_y and g_options.embed_y_dim == 128  # unbound: the defaults
  assert not resnet_biggan.DiscriminatorOptions().project_y
  assert resnet_biggan.DiscriminatorOptions().ch == 96
  assert resnet_biggan_deep.GeneratorOptions().ch == 16
  assert resnet_biggan_deep.DiscriminatorOptions().ch == 4
  assert resnet_biggan_deep.DiscriminatorOptions().project_y
  # The architecture reads both its own options and G.width: 4 x 8 x 0.5 = 16 channels at 4x4.
  g = resnet_biggan.Generator((32, 32, 3), z_dim=8, num_classes=3,
                              options=base.GeneratorOptions(batch_norm_fn=CBN, width=0.5))
  g.build_variables()
  assert _var(g, "generator/fc_noise/kernel").shape == (8, 4 * 4 * 16)


def test_gin_reference_returns_architecture():
  from compare_gan import architectures  # pylint: disable=import-outside-toplevel
  for name in (BG, DEEP):
    gin.clear_config()
    gin.parse_config(f"biggan_test_holder.arch = @{name}()")
    assert _holder() is architectures.get_architecture(name)


@gin.configurable("biggan_test_holder")
def _holder(arch=None):
  return arch


@pytest.mark.parametrize("name", [BG, DEEP])
def test_mixed_precision(mixed_float16, name):
  g, d = _tiny(name, 32, g=dict(spectral_norm=True), d=dict(spectral_norm=True))
  y = _labels([1, 2])
  with tf.GradientTape() as tape:
    images = g(_known_z(2, 12), y=y, training=True)
    logits, _ = d(images, y=y, training=True)
    loss = tf.reduce_mean(logits)
  assert images.dtype == tf.float32 and logits.dtype == tf.float32
  assert np.all(np.isfinite(images.numpy())) and np.all(np.isfinite(logits.numpy()))
  grads = tape.gradient(loss, g.trainable_variables + d.trainable_variables)
  assert all(grad is not None and np.all(np.isfinite(grad.numpy())) for grad in grads)


# BigGAN-deep's label path is BigGAN's (biggan_ops); its conditional build and backward pass
# are in test_shapes_range_and_gradients.
@pytest.mark.parametrize("name,conditional", [(BG, True), (BG, False), (DEEP, False)])
def test_modular_gan_train_step(name, conditional):
  from compare_gan.gans import modular_gan  # pylint: disable=import-outside-toplevel
  bindings = [f"ModularGAN.architecture = @{name}()", "ModularGAN.z_dim = 8",
              "G.spectral_norm = True", "D.spectral_norm = True",
              f"{name}.Generator.ch = 4", f"{name}.Discriminator.ch = 4"]
  if name == BG:
    bindings += ["resnet_biggan.Generator.blocks_with_attention = 'B1'"]
  if conditional:
    bindings += ["ModularGAN.conditional = True", "G.batch_norm_fn = @conditional_batch_norm"]
    if name == BG:
      bindings += ["ModularGAN.g_use_ema = True"]  # the EMA copy reads the same gin options
  else:
    bindings += [f"{name}.Generator.embed_y = False", f"{name}.Discriminator.project_y = False",
                 "G.batch_norm_fn = @batch_norm"]
  config.parse_gin([], bindings)
  num_classes = 10
  model = modular_gan.ModularGAN((32, 32, 3), num_classes)
  assert model.generator.conditional == model.discriminator.conditional == conditional
  rng = np.random.default_rng(0)
  batches = [{"images": tf.constant(rng.uniform(size=(4, 32, 32, 3)), tf.float32),
              "labels": tf.constant(rng.integers(0, num_classes, 4), tf.int32)}
             for _ in range(model.real_batches_per_step)]
  before = [v.numpy().copy() for v in model.generator.trainable_variables]
  terms = tf.distribute.get_strategy().run(
      model.train_step, args=(batches, tf.constant(0, tf.int64), tf.constant([3, 5], tf.int64),
                              4))
  assert all(np.isfinite(float(t)) for t in terms.values())
  assert int(model.g_optimizer.iterations) == int(model.d_optimizer.iterations) == 1
  after = model.generator.trainable_variables
  assert any(not np.array_equal(a, b.numpy()) for a, b in zip(before, after))
  labels = tf.constant([0, 9]) if conditional else None
  samples = model.sample(tf.zeros([2, 8]), labels)
  assert samples.shape == (2, 32, 32, 3)


def test_two_replicas_match_one_device(tmp_path):
  """Cross-replica BN: BigGAN's G (conditional BN) and D (plain BN) on two replicas, half the
  batch each, give the one-device outputs on the whole batch; and the reference's accumulated
  statistics (`standardize_batch.use_moving_averages = False`, what the BigGAN config
  evaluates with) accumulate over the global batch: G's inference output while accumulating
  one batch on two replicas equals the one-device batch-statistics output (in a fresh process:
  logical devices come first). BigGAN-deep normalises through the same layers."""
  tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  sys.path.insert(0, tests)
  try:
    from gans import family_harness  # pylint: disable=import-outside-toplevel
  finally:
    sys.path.remove(tests)
  report = family_harness.fresh_process_report(os.path.abspath(__file__), tmp_path)
  assert report["replicas"] == 2
  assert report["images"] < 1e-4, report
  assert report["logits"] < 1e-3, report
  assert report["accumulated_images"] < 1e-4, report
  assert report["accumulators_agree"] == 0.0, report
  assert report["accumulated_batches"] == 1, report


def _two_replica_main():
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  config.parse_gin([], ["standardize_batch.use_moving_averages = False"])
  z, y = _known_z(4, 8), _labels([0, 1, 2, 3])
  with strategy.scope():
    g, d = _build(BG, 32, 8, 5, dict(batch_norm_fn=CBN),
                  dict(batch_norm_fn=normalization.batch_norm),
                  dict(ch=4, blocks_with_attention="B1"), dict(ch=4, blocks_with_attention=""))
    g.build_variables()
    d.build_variables()
  standardizers = normalization.standardizers(g)
  for layer in standardizers:
    layer.reset_accumulators()  # build_variables ran one inference call
  # No spectral norm here: each training call advances u, which would change the second run.
  single_images = g(z, y=y, training=True).numpy()
  single_logits = d(tf.constant(single_images), y=y, training=True)[0].numpy()

  def replica_fn(z, y, images):
    return g(z, y=y, training=True), d(images, y=y, training=True)[0]

  halves = lambda t: strategy.experimental_distribute_values_from_function(
      lambda ctx: t[2 * ctx.replica_id_in_sync_group:2 * ctx.replica_id_in_sync_group + 2])
  gather = lambda t: np.concatenate([v.numpy() for v in strategy.experimental_local_results(t)])
  images, logits = strategy.run(replica_fn, (halves(z), halves(y),
                                             halves(tf.constant(single_images))))
  images, logits = gather(images), gather(logits)

  # Accumulated statistics: one inference batch accumulated on two replicas.
  for layer in standardizers:
    layer.set_accumulating(True)
  accumulated = gather(strategy.run(lambda z, y: g(z, y=y, training=False),
                                    (halves(z), halves(y))))
  for layer in standardizers:
    layer.set_accumulating(False)
  agree = 0.0
  for layer in standardizers:
    for var in (layer.accu_mean, layer.accu_variance):
      values = [v.numpy() for v in strategy.experimental_local_results(var.value)]
      agree = max(agree, float(np.abs(values[0] - values[1]).max()))
  counters = {round(float(layer.accu_counter.numpy())) for layer in standardizers}
  print("REPORT " + json.dumps({
      "replicas": strategy.num_replicas_in_sync,
      "images": float(np.abs(images - single_images).max()),
      "logits": float(np.abs(logits - single_logits).max()),
      "accumulated_images": float(np.abs(accumulated - single_images).max()),
      "accumulators_agree": agree,
      "accumulated_batches": counters.pop() if len(counters) == 1 else sorted(counters)}))


if __name__ == "__main__":
  _two_replica_main()
