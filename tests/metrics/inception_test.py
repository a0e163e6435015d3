"""Tests for compare_gan/metrics/inception/ (extractor.py, weights.py) on the tiny fake graphs of
tests/fake_inception.py."""

import hashlib
import io
import os
import tarfile

import gin
import numpy as np
import pytest
import tensorflow as tf

import fake_inception

from compare_gan.metrics.inception import extractor as inception_extractor
from compare_gan.metrics.inception import weights as inception_weights

KINDS_AND_NAMES = {"frozen_pb": inception_weights.FROZEN_PB_NAME,
                   "tarball": inception_weights.TARBALL_NAME,
                   "classify_image": inception_weights.CLASSIFY_IMAGE_PB_NAME,
                   "hub_dir": inception_weights.HUB_DIR_NAME}


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
  """One fake of every kind, written once for the module: {kind: path}."""
  root = tmp_path_factory.mktemp("fakes")
  return {kind: fake_inception.write_fake_inception_graph(root / name, kind)
          for kind, name in KINDS_AND_NAMES.items()}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
  """A private cache dir, no weights env var, and a download URL that cannot succeed."""
  monkeypatch.setenv(inception_weights.CACHE_ENV, str(tmp_path / "cache"))
  monkeypatch.delenv(inception_weights.WEIGHTS_ENV, raising=False)
  monkeypatch.delenv(inception_weights.DOWNLOAD_ENV, raising=False)
  monkeypatch.setenv(inception_weights.URL_ENV,
                     (tmp_path / "nowhere" / inception_weights.TARBALL_NAME).as_uri())
  return tmp_path / "cache" / "inception"


def _images(n=5, size=32, channels=3, seed=0):
  return np.random.default_rng(seed).random((n, size, size, channels)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Every loader computes the fake network
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS_AND_NAMES))
def test_every_loader_matches_numpy_recomputation(fakes, kind):
  extractor = inception_weights.load_inception(fakes[kind], batch_size=4)  # 5 images: 2 batches.
  images = _images()
  out = extractor(images)
  expected = fake_inception.fake_inception_reference(images)
  assert out["pool_3"].dtype == np.float32 and out["pool_3"].shape == (5, 2048)
  assert out["logits"].dtype == np.float32 and out["logits"].shape == (5, 1008)
  np.testing.assert_allclose(out["pool_3"], expected["pool_3"], atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(out["logits"], expected["logits"], atol=1e-4, rtol=1e-4)
  assert extractor.card()["loader"] == {"hub_dir": "hub"}.get(kind, kind)


def test_features_depend_on_content(fakes):
  extractor = inception_weights.load_inception(fakes["frozen_pb"], batch_size=8)
  a, b = extractor(_images(seed=1))["pool_3"], extractor(_images(seed=2))["pool_3"]
  assert np.abs(a - b).max() > 1e-3
  np.testing.assert_array_equal(a, extractor(_images(seed=1))["pool_3"])


def test_classify_image_needs_the_batch_patch(fakes):
  with open(fakes["classify_image"], "rb") as f:
    graph_def = tf.compat.v1.GraphDef.FromString(f.read())
  unpatched = inception_weights._wrap_graph_def(graph_def, "Mul:0", ["pool_3/_reshape:0"])
  unpatched(tf.zeros([1, 299, 299, 3]))  # Batch 1 is what the graph was built for.
  with pytest.raises(tf.errors.InvalidArgumentError, match="reshape"):
    unpatched(tf.zeros([2, 299, 299, 3]))
  card = inception_weights.load_inception(fakes["classify_image"]).card()
  assert card["logits"] == "1008 with bias (softmax/logits:0)"


def test_classify_image_own_preprocessing_equals_ours(fakes):
  """Feeding the graph's ExpandDims (TTUR's input, [0,255], batch 1) gives our features."""
  with open(fakes["classify_image"], "rb") as f:
    graph_def = tf.compat.v1.GraphDef.FromString(f.read())
  image = _images(n=1, size=40)
  own = inception_weights._wrap_graph_def(graph_def, "ExpandDims:0", ["softmax/logits:0"])
  own_logits = own(tf.image.resize(image * 255.0, [40, 40]))[0]  # Identity resize: just a feed.
  ours = inception_weights.load_inception(fakes["classify_image"], batch_size=1)(image)["logits"]
  np.testing.assert_allclose(ours, own_logits.numpy(), atol=1e-4, rtol=1e-5)


def test_hub_saved_model_with_only_a_signature(tmp_path):
  """A SavedModel whose root is not callable is used through its (only) signature."""
  inner = fake_inception._FakeHubModule(fake_inception.FAKE_SEED)
  root = tf.Module()
  root.inner = inner
  root.fn = tf.function(lambda images: inner(images),
                        input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
  tf.saved_model.save(root, str(tmp_path / "sig"), signatures={"default": root.fn})
  extractor = inception_weights.load_inception(str(tmp_path / "sig"), batch_size=4)
  assert "signature 'default'" in extractor.card()["input"]
  images = _images(n=3)
  np.testing.assert_allclose(extractor(images)["logits"],
                             fake_inception.fake_inception_reference(images)["logits"], atol=1e-4,
                             rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# Preprocessing
# ------------------------------------------------------------------------------------------------

def test_preprocessing_is_tf1_bilinear_then_minus128_over128():
  images = _images(n=2, size=17)
  ours = inception_extractor.preprocess_for_inception(images).numpy()
  expected = (fake_inception.tf1_resize_bilinear_np(images * 255.0) - 128) / 128
  assert ours.shape == (2, 299, 299, 3)
  np.testing.assert_allclose(ours, expected, atol=2e-5)
  half_pixel = (tf.image.resize(images * 255.0, [299, 299]).numpy() - 128) / 128
  assert np.abs(ours - half_pixel).max() > 0.1  # TF2's half-pixel resize is a different image.


def test_grey_images_are_tiled(fakes):
  extractor = inception_weights.load_inception(fakes["frozen_pb"], batch_size=8)
  grey = _images(channels=1)
  np.testing.assert_array_equal(extractor(grey)["pool_3"],
                                extractor(np.repeat(grey, 3, axis=-1))["pool_3"])


def test_not_quantised_by_default_and_quantize_option(fakes):
  levels = np.random.default_rng(3).integers(0, 255, (4, 8, 8, 3))
  images = ((levels + 0.3) / 255).astype(np.float32)  # Between 8-bit levels.
  rounded = (levels / 255).astype(np.float32)
  plain = inception_extractor.preprocess_for_inception(images).numpy()
  assert np.abs(plain - inception_extractor.preprocess_for_inception(rounded).numpy()).max() > 1e-3
  np.testing.assert_array_equal(
      inception_extractor.preprocess_for_inception(images, quantize=True),
      inception_extractor.preprocess_for_inception(rounded, quantize=True))
  np.testing.assert_allclose(inception_extractor.preprocess_for_inception(images, quantize=True),
                             inception_extractor.preprocess_for_inception(rounded), atol=1e-6)
  quantized = inception_weights.load_inception(fakes["frozen_pb"], quantize=True, batch_size=4)
  assert quantized.card()["quantize"] is True
  np.testing.assert_allclose(
      quantized(images)["pool_3"],
      fake_inception.fake_inception_reference(images, quantize=True)["pool_3"], atol=1e-4,
      rtol=1e-4)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 8, 8, 4), np.float32), "1 \\(grey\\) or 3 \\(RGB\\) channels, got 4"),
    (np.zeros((8, 8, 3), np.float32), "NHWC"),
    (np.zeros((2, 8, 8, 3), np.uint8), "dtype uint8"),
    (np.full((2, 8, 8, 3), 1.5, np.float32), "max 1.5"),
    (np.full((2, 8, 8, 3), -0.5, np.float32), "min -0.5"),
])
def test_bad_images_are_rejected(fakes, bad, message):
  extractor = inception_weights.load_inception(fakes["frozen_pb"], batch_size=8)
  with pytest.raises(ValueError, match=message):
    extractor(bad)


def test_nan_error_names_the_count(fakes):
  images = _images()
  images[0, 0, :3, 0] = np.nan
  with pytest.raises(ValueError, match="3 NaN"):
    inception_weights.load_inception(fakes["frozen_pb"], batch_size=8)(images)


def test_small_range_excursions_are_clipped(fakes):
  extractor = inception_weights.load_inception(fakes["frozen_pb"], batch_size=8)
  images = _images()
  nudged = images.copy()
  nudged[:, 0, 0, 0] = -5e-4
  nudged[:, 1, 1, 0] = 1 + 5e-4
  clipped = np.clip(nudged, 0, 1)
  np.testing.assert_array_equal(extractor(nudged)["pool_3"], extractor(clipped)["pool_3"])


def test_any_count_and_tensor_input(fakes):
  extractor = inception_weights.load_inception(fakes["frozen_pb"], batch_size=3)
  images = _images(n=7)
  out = extractor(tf.constant(images))
  assert out["pool_3"].shape == (7, 2048)
  np.testing.assert_allclose(out["pool_3"][:2], extractor(images[:2])["pool_3"], atol=1e-6)
  assert extractor(images[:0])["logits"].shape == (0, 1008)


# ------------------------------------------------------------------------------------------------
# Finding the weights
# ------------------------------------------------------------------------------------------------

def test_argument_beats_env_var_beats_cache_dir(fakes, tmp_path, monkeypatch, isolated_env):
  isolated_env.mkdir(parents=True)
  cached = fake_inception.write_fake_inception_graph(isolated_env, "frozen_pb")
  from_env = fake_inception.write_fake_inception_graph(tmp_path / "env.pb", "frozen_pb", seed=1)
  assert inception_weights.load_inception().card()["source"] == cached
  monkeypatch.setenv(inception_weights.WEIGHTS_ENV, from_env)
  assert inception_weights.load_inception().card()["source"] == from_env
  assert inception_weights.load_inception(fakes["classify_image"]).card()["source"] == (
      fakes["classify_image"])


def test_cache_dir_prefers_the_frozen_graph(isolated_env):
  isolated_env.mkdir(parents=True)
  fake_inception.write_fake_inception_graph(isolated_env, "tarball")
  assert inception_weights.load_inception().card()["loader"] == "tarball"
  fake_inception.write_fake_inception_graph(isolated_env, "frozen_pb")
  assert inception_weights.load_inception().card()["loader"] == "frozen_pb"


def test_directory_argument_holding_a_known_file(tmp_path):
  path = fake_inception.write_fake_inception_graph(tmp_path, "classify_image")
  assert inception_weights.load_inception(str(tmp_path)).card()["weights_file"] == path


def test_download_from_file_url_into_cache(tmp_path, monkeypatch, isolated_env):
  source = fake_inception.write_fake_inception_graph(tmp_path / "mirror" / "inception.tar.gz",
                                                     "tarball")
  monkeypatch.setenv(inception_weights.URL_ENV, "file://" + source)
  card = inception_weights.load_inception().card()
  downloaded = isolated_env / inception_weights.TARBALL_NAME
  assert card["loader"] == "tarball" and card["source"] == str(downloaded)
  assert not [name for name in os.listdir(isolated_env) if name.endswith(".tmp")]
  os.remove(source)  # The second load finds the downloaded copy and needs no download.
  assert inception_weights.load_inception().card()["source"] == str(downloaded)
  images = _images()
  np.testing.assert_allclose(inception_weights.load_inception()(images)["pool_3"],
                             fake_inception.fake_inception_reference(images)["pool_3"], atol=1e-4)


def test_explicit_url_argument_downloads(tmp_path):
  source = fake_inception.write_fake_inception_graph(tmp_path / "x" / "model.pb", "frozen_pb")
  card = inception_weights.load_inception("file://" + source).card()
  assert card["loader"] == "frozen_pb"
  assert os.path.basename(card["source"]) == inception_weights.FROZEN_PB_NAME


def test_not_found_message_lists_places_and_fixes(isolated_env):
  with pytest.raises(inception_weights.InceptionWeightsNotFound) as info:
    inception_weights.load_inception()
  message = str(info.value)
  assert isinstance(info.value, FileNotFoundError)
  for name in inception_weights.KNOWN_NAMES:
    assert str(isolated_env / name) in message
  for text in (inception_weights.WEIGHTS_ENV, inception_weights.INCEPTION_URL,
               inception_weights.CACHE_ENV, inception_weights.URL_ENV, "download of file://",
               "failed", str(isolated_env / inception_weights.TARBALL_NAME)):
    assert text in message


def test_download_can_be_disabled(monkeypatch):
  with pytest.raises(inception_weights.InceptionWeightsNotFound, match="disabled"):
    inception_weights.load_inception(download=False)
  monkeypatch.setenv(inception_weights.DOWNLOAD_ENV, "0")
  with pytest.raises(inception_weights.InceptionWeightsNotFound, match="disabled"):
    inception_weights.load_inception()


def test_missing_explicit_path_is_not_replaced_by_the_cache(tmp_path, monkeypatch, isolated_env):
  isolated_env.mkdir(parents=True)
  fake_inception.write_fake_inception_graph(isolated_env, "frozen_pb")
  missing = str(tmp_path / "nope.pb")
  with pytest.raises(inception_weights.InceptionWeightsNotFound, match="nope.pb does not exist"):
    inception_weights.load_inception(missing)
  monkeypatch.setenv(inception_weights.WEIGHTS_ENV, missing)
  with pytest.raises(inception_weights.InceptionWeightsNotFound,
                     match=inception_weights.WEIGHTS_ENV):
    inception_weights.load_inception()


def test_gin_configures_the_loader(fakes):
  gin.parse_config(f"inception.weights = '{fakes['frozen_pb']}'\n"
                   f"inception.batch_size = 8\ninception.quantize = True")
  extractor = inception_weights.load_inception()
  assert extractor.batch_size == 8 and extractor.card()["quantize"] is True


# ------------------------------------------------------------------------------------------------
# Downloads over https, checked against pinned sha256 values
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def served(fakes, monkeypatch):
  """Replaces the network: `_open_url` serves the fake tarball's bytes and records each URL."""
  with open(fakes["tarball"], "rb") as f:
    payload = f.read()
  urls = []

  def open_url(url, timeout):
    urls.append(url)
    return io.BytesIO(payload)

  monkeypatch.setattr(inception_weights, "_open_url", open_url)
  monkeypatch.delenv(inception_weights.URL_ENV)  # The real default URL, never fetched.
  return {"urls": urls, "sha256": hashlib.sha256(payload).hexdigest()}


def _pin(monkeypatch, name, *values):
  monkeypatch.setitem(inception_weights.PINNED_SHA256, name, tuple(values))


def _first_line(error):
  """The error's message: gin adds "In call to configurable 'inception'" on a line below."""
  lines = str(error).splitlines()
  assert all(line.strip().startswith("In call to configurable") for line in lines[1:]), lines
  return lines[0]


def test_the_default_download_is_https_from_the_documented_host(served, isolated_env):
  for url in (inception_weights.INCEPTION_URL, inception_weights.CLASSIFY_IMAGE_URL):
    assert url.startswith("https://download.tensorflow.org/models/")
  card = inception_weights.load_inception(download=True).card()
  assert served["urls"] == [inception_weights.INCEPTION_URL]
  assert card["source"] == str(isolated_env / inception_weights.TARBALL_NAME)


def test_a_download_matching_its_pin_enters_the_cache(served, monkeypatch, isolated_env):
  _pin(monkeypatch, inception_weights.TARBALL_NAME, "0" * 64, served["sha256"])
  assert inception_weights.load_inception(download=True).card()["loader"] == "tarball"
  assert inception_weights.TARBALL_NAME in os.listdir(isolated_env)
  inception_weights.load_inception(download=True)  # From the cache, checked again.
  assert len(served["urls"]) == 1


def test_a_download_not_matching_its_pin_never_enters_the_cache(served, monkeypatch,
                                                                 isolated_env):
  pinned = "ab" * 32
  _pin(monkeypatch, inception_weights.TARBALL_NAME, pinned)
  with pytest.raises(inception_weights.InceptionWeightsHashMismatch) as info:
    inception_weights.load_inception(download=True)
  message = _first_line(info.value)
  target = isolated_env / inception_weights.TARBALL_NAME
  assert message == (
      f"download of {inception_weights.INCEPTION_URL}: sha256 {served['sha256']}, but "
      f"{inception_weights.TARBALL_NAME} must have sha256 {pinned}; it was discarded and "
      f"{target} not written. Retry, or fetch the file yourself and pass it with "
      f"--inception_weights or gin inception.weights.")
  assert os.listdir(isolated_env) == []  # Neither the file nor a temporary one is left.
  # An explicit URL lands in the cache under a known name too, so it is checked the same way.
  with pytest.raises(inception_weights.InceptionWeightsHashMismatch, match=served["sha256"]):
    inception_weights.load_inception("https://mirror.example/frozen_inception_v1_2015_12_05.tgz")
  assert os.listdir(isolated_env) == []


def test_a_cached_file_not_matching_its_pin_is_an_error(served, monkeypatch, isolated_env):
  inception_weights.load_inception(download=True)  # Nothing pinned: cached as it came.
  cached = isolated_env / inception_weights.TARBALL_NAME
  pinned = "cd" * 32
  _pin(monkeypatch, inception_weights.TARBALL_NAME, pinned)
  with pytest.raises(inception_weights.InceptionWeightsHashMismatch) as info:
    inception_weights.load_inception()
  assert _first_line(info.value) == (
      f"{cached}: sha256 {served['sha256']}, but {inception_weights.TARBALL_NAME} must have "
      f"sha256 {pinned}; the file is damaged or another one. Delete it and retry (it is "
      f"downloaded again), or pass your own file with --inception_weights or gin "
      f"inception.weights.")
  assert cached.exists() and len(served["urls"]) == 1  # Reported, not silently replaced.
  os.remove(cached)
  _pin(monkeypatch, inception_weights.TARBALL_NAME, served["sha256"])
  assert inception_weights.load_inception().card()["source"] == str(cached)  # Downloaded again.
  assert len(served["urls"]) == 2


def test_a_users_own_file_loads_whatever_its_hash(fakes, monkeypatch, tmp_path):
  for name in inception_weights.PINNED_SHA256:
    _pin(monkeypatch, name, "ef" * 32)
  own = fakes["frozen_pb"]  # Named like the real file, yet not the pinned one.
  assert os.path.basename(own) == inception_weights.FROZEN_PB_NAME
  with open(own, "rb") as f:
    sha256 = hashlib.sha256(f.read()).hexdigest()
  assert inception_weights.load_inception(own).card()["weights_sha256"] == sha256
  monkeypatch.setenv(inception_weights.WEIGHTS_ENV, fakes["tarball"])
  card = inception_weights.load_inception().card()
  assert card["source"] == fakes["tarball"] and len(card["weights_sha256"]) == 64
  gin.parse_config(f"inception.weights = '{own}'")
  assert inception_weights.load_inception().card()["weights_sha256"] == sha256


# ------------------------------------------------------------------------------------------------
# Corrupt files
# ------------------------------------------------------------------------------------------------

def test_truncated_graph_names_the_file(fakes, tmp_path):
  with open(fakes["frozen_pb"], "rb") as f:
    data = f.read()
  truncated = tmp_path / "truncated.pb"
  truncated.write_bytes(data[:len(data) // 2 + 7])
  with pytest.raises(inception_extractor.InceptionWeightsCorrupt, match="truncated.pb"):
    inception_weights.load_inception(str(truncated))


def test_garbage_graph_names_the_file(tmp_path):
  garbage = tmp_path / "garbage.pb"
  garbage.write_bytes(b"\x00\xff" * 1000)
  with pytest.raises(inception_extractor.InceptionWeightsCorrupt, match="garbage.pb"):
    inception_weights.load_inception(str(garbage))


def test_bad_tarballs_name_the_file(fakes, tmp_path):
  with open(fakes["tarball"], "rb") as f:
    data = f.read()
  truncated = tmp_path / "truncated.tar.gz"
  truncated.write_bytes(data[:len(data) // 2])
  with pytest.raises(inception_extractor.InceptionWeightsCorrupt, match="truncated.tar.gz"):
    inception_weights.load_inception(str(truncated))
  garbage = tmp_path / "garbage.tgz"
  garbage.write_bytes(b"not a tarball" * 100)
  with pytest.raises(inception_extractor.InceptionWeightsCorrupt, match="garbage.tgz"):
    inception_weights.load_inception(str(garbage))
  empty = tmp_path / "empty.tar.gz"
  with tarfile.open(empty, "w:gz") as tar:
    tar.add(fakes["frozen_pb"], arcname="something_else.pb")
  with pytest.raises(inception_extractor.InceptionWeightsCorrupt, match="holds none of"):
    inception_weights.load_inception(str(empty))


def test_tarball_path_traversal_is_refused(fakes, tmp_path, isolated_env):
  evil = tmp_path / "evil.tar.gz"
  with tarfile.open(evil, "w:gz") as tar:
    tar.add(fakes["frozen_pb"], arcname="../../" + inception_weights.FROZEN_PB_NAME)
  with pytest.raises(inception_extractor.InceptionWeightsCorrupt, match="refusing member"):
    inception_weights.load_inception(str(evil))
  assert not (isolated_env.parent / inception_weights.FROZEN_PB_NAME).exists()
  assert not (tmp_path / inception_weights.FROZEN_PB_NAME).exists()


# ------------------------------------------------------------------------------------------------
# The card
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["frozen_pb", "classify_image", "tarball"])
def test_card_size_and_sha256_match_hashlib(fakes, kind):
  card = inception_weights.load_inception(fakes[kind]).card()
  with open(card["weights_file"], "rb") as f:
    data = f.read()
  assert card["weights_bytes"] == len(data) == os.path.getsize(card["weights_file"])
  assert card["weights_sha256"] == hashlib.sha256(data).hexdigest()
  assert card["extractor"] == "inception-2015-12-05"
  assert card["resize"] == "tf1_bilinear_299" and card["quantize"] is False
  assert list(card) == [k for k in inception_extractor.CARD_KEYS if k in card]
  assert set(inception_extractor.CARD_KEYS) - set(card) <= {"archive"}
  key = inception_weights.load_inception(fakes[kind]).cache_key()
  assert "source" not in key and "weights_file" not in key
  assert key["weights_sha256"] == card["weights_sha256"]


def test_hub_dir_card_hashes_the_tree(fakes):
  card = inception_weights.load_inception(fakes["hub_dir"]).card()
  total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(fakes["hub_dir"])
              for f in fs)
  assert card["loader"] == "hub" and card["weights_bytes"] == total
  assert len(card["weights_sha256"]) == 64
  assert inception_weights.load_inception(fakes["hub_dir"]).card()["weights_sha256"] == (
      card["weights_sha256"])  # No sidecars written inside the SavedModel.


def test_sha256_is_cached_and_refreshed_on_change(tmp_path):
  path = tmp_path / "blob.bin"
  path.write_bytes(b"abc")
  assert inception_weights.file_sha256(str(path)) == (3, hashlib.sha256(b"abc").hexdigest())
  assert (tmp_path / "blob.bin.sha256").exists()
  inception_weights._SHA256_MEMO.clear()  # The sidecar answers now.
  assert inception_weights.file_sha256(str(path))[1] == hashlib.sha256(b"abc").hexdigest()
  path.write_bytes(b"abcd")
  os.utime(path, ns=(1, 1))
  assert inception_weights.file_sha256(str(path)) == (4, hashlib.sha256(b"abcd").hexdigest())
