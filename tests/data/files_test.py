"""Image folders (compare_gan/data/random_access.py) and TFRecord files
(compare_gan/data/streaming.py).
"""


import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from compare_gan import data

import data_fakes



def test_image_folder_shapes_channels_and_split(tmp_path):
  n = data_fakes.image_folder(tmp_path)
  ds = data.build_dataset("image_folder", path=str(tmp_path), resolution=8)
  assert ds.info.image_shape == (8, 8, 3) and ds.info.num_classes is None
  assert (ds.info.eval_split, ds.info.eval_size, ds.info.num_train_examples) == ("train", n, n)
  batches = data_fakes.batches(ds.eval_input(batch_size=3), 5)
  assert [b["images"].shape for b in batches] == [(3, 8, 8, 3), (3, 8, 8, 3), (1, 8, 8, 3)]
  # Sorted order: a.png, b.jpg, c_gray.png, ...; the uniform grey file stays uniform grey.
  np.testing.assert_allclose(batches[0]["images"][2], 128 / 255, atol=1e-6)
  train = data_fakes.batches(ds.train_input(per_replica_batch_size=4, seed=0), 2)
  for images in [b["images"] for b in batches + train]:
    assert images.dtype == np.float32 and 0.0 <= images.min() and images.max() <= 1.0

  gray = data.build_dataset("image_folder", path=str(tmp_path), resolution=5, channels=1,
                                eval_fraction=0.3)
  assert gray.info.image_shape == (5, 5, 1) and gray.info.eval_split == "test"
  assert (gray.info.num_train_examples, gray.info.eval_size) == (5, 2)
  assert data_fakes.batches(gray.train_input(per_replica_batch_size=2, seed=0), 1)[0]["images"].shape == (
      2, 5, 5, 1)


def test_image_folder_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="is not a folder"):
    data.build_dataset("image_folder", path=str(tmp_path / "missing"), resolution=8)
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "readme.txt").write_text("x")
  with pytest.raises(FileNotFoundError, match=r"no image files .*'\.png', '\.jpg'"):
    data.build_dataset("image_folder", path=str(tmp_path / "empty"), resolution=8)
  with pytest.raises(ValueError, match="channels must be 1 or 3"):
    data.build_dataset("image_folder", path=str(tmp_path), resolution=8, channels=2)

  bad = tmp_path / "bad"
  bad.mkdir()
  Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(bad / "good.png")
  (bad / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
  ds = data.build_dataset("image_folder", path=str(bad), resolution=4)
  with pytest.raises(Exception, match="zz_broken.png"):
    list(ds.eval_input(batch_size=2).as_numpy_iterator())


def test_tfrecord_shapes_labels_and_errors(tmp_path):
  (tmp_path / "train").mkdir()
  (tmp_path / "eval").mkdir()
  data_fakes.write_tfrecords(str(tmp_path / "train"), [5, 6])
  data_fakes.write_tfrecords(str(tmp_path / "eval"), [4], shape=(8, 10), offset=11)
  ds = data.build_dataset(
      "tfrecord", file_pattern=str(tmp_path / "train" / "*.tfrecord"), resolution=6,
      eval_file_pattern=str(tmp_path / "eval" / "*"), label_key="label", num_classes=20)
  assert ds.info.image_shape == (6, 6, 3) and ds.info.num_classes == 20
  assert (ds.info.num_train_examples, ds.info.eval_split, ds.info.eval_size) == (11, "test", 4)
  (evaluation,) = data_fakes.batches(ds.eval_input(batch_size=10), 5)
  np.testing.assert_array_equal(evaluation["labels"], [11, 12, 13, 14])
  # Uniform images stay uniform through crop and (antialiased) resize.
  np.testing.assert_allclose(evaluation["images"][:, 0, 0, 0], np.arange(11, 15) / 255, atol=1e-5)
  train = data_fakes.batches(ds.train_input(per_replica_batch_size=4, seed=0), 3)
  assert train[0]["images"].shape == (4, 6, 6, 3) and train[0]["labels"].dtype == np.int32

  gray = data.build_dataset("tfrecord", file_pattern=str(tmp_path / "train" / "*"),
                                resolution=6, channels=1, crop_and_resize=False)
  assert "labels" not in data_fakes.batches(gray.eval_input(batch_size=2), 1)[0]
  assert data_fakes.batches(gray.eval_input(batch_size=2), 1)[0]["images"].shape == (2, 6, 6, 1)
  wrong = data.build_dataset("tfrecord", file_pattern=str(tmp_path / "eval" / "*"),
                                 resolution=6, crop_and_resize=False)
  with pytest.raises(tf.errors.InvalidArgumentError, match="expected 6x6"):
    data_fakes.batches(wrong.eval_input(batch_size=2), 1)
  with pytest.raises(FileNotFoundError, match="no file matches the pattern .*nothing"):
    data.build_dataset("tfrecord", file_pattern=str(tmp_path / "nothing*"), resolution=6)
  with pytest.raises(ValueError, match="label_key and tfrecord.num_classes go together"):
    data.build_dataset("tfrecord", file_pattern=str(tmp_path / "train" / "*"),
                           resolution=6, label_key="label")
