"""ImageNet (compare_gan/data/imagenet.py) under `tfds.testing.mock_data`: shapes, ranges,
labels and splits; random crops keyed by the stream position (fresh each epoch, identical
after a resume and across input pipelines); the crop methods and the TF1 resize checked by hand
on synthetic images; gin's crop methods; the missing-dataset message.

tfds' mock ignores split slicing (`train[k:]` reads from the start), so resumed streams here use
a shuffle window of a whole epoch, whose reads always start at record 0.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from compare_gan import config
from compare_gan import data
from compare_gan.data import imagenet

import data_fakes

N = 10  # mock examples per split


@pytest.mark.parametrize("resolution", [64, 256])
def test_imagenet_under_mock_data(resolution):
  with tfds.testing.mock_data(num_examples=N):
    ds = data.build_dataset(f"imagenet_{resolution}")
    info = ds.info
    train = data_fakes.batches(ds.train_input(per_replica_batch_size=4, seed=0), 3)
    evaluation = data_fakes.batches(ds.eval_input(batch_size=4), 5)
  assert (info.image_shape, info.num_classes) == ((resolution, resolution, 3), 1000)
  assert (info.train_split, info.eval_split, info.eval_size) == ("train", "validation", N)
  assert info.num_train_examples == N and ds.key_space == "tfds imagenet2012 file_name"
  assert [len(b["images"]) for b in evaluation] == [4, 4, 2]
  for batch in train + evaluation:
    assert batch["images"].dtype == np.float32
    assert batch["images"].shape[1:] == (resolution, resolution, 3)
    assert 0.0 <= batch["images"].min() and batch["images"].max() <= 1.0
    assert batch["images"].std() > 0.05  # Random mock pixels, not a constant.
    assert batch["labels"].dtype == np.int32
    assert 0 <= batch["labels"].min() and batch["labels"].max() < 1000


def _stream(ds, batches, batch_size=5, start=0, seed=0, context=None):
  return data_fakes.batches(ds.train_input(per_replica_batch_size=batch_size, seed=seed,
                                           start_position=start, input_context=context),
                            batches)


@pytest.mark.parametrize("method,changes", [("distorted", True), ("middle", False)])
def test_random_crops_change_with_the_position(method, changes):
  """Window 1 keeps the stored order, so positions i and N + i hold the same example."""
  config.parse_gin([], [f"train_imagenet_transform.crop_method = {method!r}"])
  with tfds.testing.mock_data(num_examples=N):
    ds = data.build_dataset("imagenet_64", shuffle_window=1)
    batches = _stream(ds, 2 * N // 5)
  images = np.concatenate([b["images"] for b in batches])
  labels = np.concatenate([b["labels"] for b in batches])
  np.testing.assert_array_equal(labels[:N], labels[N:])
  same = [np.array_equal(images[i], images[N + i]) for i in range(N)]
  if changes:  # Mock images far from square have no large square: those crop whole.
    assert 3 <= same.count(False) < N, same
  else:
    assert all(same)


def test_a_resumed_stream_crops_exactly_as_the_uninterrupted_one():
  with tfds.testing.mock_data(num_examples=N):
    ds = data.build_dataset("imagenet_64")  # Window 10000 > N: one block per epoch.
    whole = _stream(ds, 6, batch_size=4)
    resumed = _stream(ds, 4, batch_size=4, start=8)
    other_seed = _stream(ds, 2, batch_size=4, seed=1)
    halves = [_stream(ds, 6, batch_size=2, context=data_fakes.replica_context(2, 2, i))
              for i in range(2)]
  for a, b in zip(whole[2:], resumed):
    np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_array_equal(a["labels"], b["labels"])
  assert not np.array_equal(whole[0]["images"], other_seed[0]["images"])
  # Two input pipelines of one replica each: their batches are the halves of the global ones.
  for k, batch in enumerate(whole):
    np.testing.assert_array_equal(batch["images"],
                                  np.concatenate([halves[0][k]["images"],
                                                  halves[1][k]["images"]]))


def _numbered(h, w):
  """uint8 [h, w, 3] whose pixel (r, c) is (r, c, r * w + c) (all < 256)."""
  r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  return np.stack([r, c, r * w + c], -1).astype(np.uint8)


def test_middle_none_and_random_crops_and_the_tf1_resize_by_hand():
  image = _numbered(4, 8)
  middle = imagenet.crop(tf.constant(image), "middle").numpy()
  np.testing.assert_array_equal(middle, image[:, 2:6])  # floor((8 - 4) / 2) = 2
  np.testing.assert_array_equal(imagenet.crop(tf.constant(_numbered(7, 4)), "middle").numpy(),
                                _numbered(7, 4)[1:5])  # floor(3 / 2) = 1
  # Same size: the resize is the identity. Half size, TF1 (no half-pixel centres): output
  # pixel (i, j) reads input (2i, 2j) exactly.
  np.testing.assert_allclose(imagenet.transform(tf.constant(image), 4, "middle").numpy(),
                             image[:, 2:6] / 255.0, rtol=1e-6)
  np.testing.assert_allclose(imagenet.transform(tf.constant(image), 2, "middle").numpy(),
                             image[0::2, 2:6:2] / 255.0, rtol=1e-6)
  # "none": the whole 4 x 8 image squashed to 4 x 4 reads columns 0, 2, 4, 6.
  np.testing.assert_allclose(imagenet.transform(tf.constant(image), 4, "none").numpy(),
                             image[:, 0::2] / 255.0, rtol=1e-6)
  corners = set()
  for seed in range(12):
    seed_tensor = tf.constant([seed, 1], tf.int64)
    crop = imagenet.crop(tf.constant(image), "random", seed_tensor).numpy()
    assert crop.shape == (4, 4, 3) and crop[0, 0, 0] == 0  # rows: no room to move
    left = int(crop[0, 0, 1])
    np.testing.assert_array_equal(crop, image[:, left:left + 4])
    np.testing.assert_array_equal(
        imagenet.crop(tf.constant(image), "random", seed_tensor).numpy(), crop)
    corners.add(left)
  assert corners <= set(range(5)) and len(corners) >= 3


def test_distorted_crops_are_squares_of_half_to_all_of_the_area():
  h, w = 100, 120
  r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  image = tf.constant(np.stack([r, c, np.zeros_like(r)], -1).astype(np.int32))
  seen = set()
  for seed in range(10):
    seed_tensor = tf.constant([7, seed], tf.int64)
    crop = imagenet.crop(image, "distorted", seed_tensor).numpy()
    side = crop.shape[0]
    assert crop.shape == (side, side, 3) and 0.5 * h * w <= side * side <= h * w
    top, left = int(crop[0, 0, 0]), int(crop[0, 0, 1])
    np.testing.assert_array_equal(crop, image.numpy()[top:top + side, left:left + side])
    np.testing.assert_array_equal(imagenet.crop(image, "distorted", seed_tensor).numpy(), crop)
    seen.add((top, left, side))
  assert len(seen) >= 5


def test_crop_methods_come_from_gin_and_bad_ones_are_refused():
  config.parse_gin([], ["train_imagenet_transform.crop_method = 'random'",
                        "eval_imagenet_transform.crop_method = 'none'"])
  with tfds.testing.mock_data(num_examples=N):
    ds = data.build_dataset("imagenet_128")
  assert ds.crop_methods == {"train": "random", "eval": "none"}
  config.parse_gin([], ["train_imagenet_transform.crop_method = 'center'"])
  with tfds.testing.mock_data(num_examples=N):
    with pytest.raises(config.ConfigError, match=r"train_imagenet_transform.crop_method = "
                       r"'center' is not a crop method; valid: \['distorted', 'random', "
                       r"'middle', 'none'\]"):
      data.build_dataset("imagenet_64")


def test_missing_imagenet_says_how_to_prepare_it(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    data.build_dataset("imagenet_128", tfds_data_dir=str(tmp_path))
  message = str(error.value)
  assert "'imagenet_128' needs the TFDS dataset 'imagenet2012'" in message
  assert "--manual_dir MANUAL_DIR" in message and str(tmp_path) in message
  assert "never downloads" in message
