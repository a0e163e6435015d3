"""TFDS sources under `tfds.testing.mock_data` (offline, random examples of the real feature
spec), their splits, and the missing-dataset error (compare_gan/data/tfds.py).
"""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from compare_gan import data

import data_fakes


# ---------------------------------------------------------------------------------------------
# TFDS sources (mocked) and the missing-dataset error.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,shape,classes,mock_examples", [
    ("mnist", (28, 28, 1), 10, 20),
    ("cifar10", (32, 32, 3), 10, 20),
    ("celeb_a", (64, 64, 3), None, 20),
    ("lsun_bedroom_128", (128, 128, 3), None, 500),  # Its eval split is the last 1%.
])
def test_tfds_sources_under_mock_data(name, shape, classes, mock_examples):
  with tfds.testing.mock_data(num_examples=mock_examples):
    ds = data.build_dataset(name, **({} if classes else {"shuffle_window": 8}))
    assert ds.info.image_shape == shape and ds.info.num_classes == classes
    train = data_fakes.batches(ds.train_input(per_replica_batch_size=4, seed=0), 6)  # > 1 epoch
    evaluation = data_fakes.batches(ds.eval_input(batch_size=3, num_examples=5), 10)
  assert [len(b["images"]) for b in evaluation] == [3, 2]
  for batch in train + evaluation:
    images = batch["images"]
    assert images.dtype == np.float32 and images.shape[1:] == shape
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert ("labels" in batch) == (classes is not None)
    if classes:
      assert batch["labels"].dtype == np.int32
      assert 0 <= batch["labels"].min() and batch["labels"].max() < classes
  assert train[0]["images"].shape[0] == 4 and train[0]["images"].std() > 0


def test_lsun_and_celeb_a_hq_splits_and_aliases():
  with tfds.testing.mock_data(num_examples=200):
    lsun = data.build_dataset("lsun-bedroom")
    hq = data.build_dataset("celeb_a_hq_128")
    fashion = data.build_dataset("fashion-mnist")
  assert lsun.info.name == "lsun_bedroom_128"
  assert (lsun.info.num_train_examples, lsun.info.eval_size) == (198, 2)  # 99% / 1%
  assert (hq.info.num_train_examples, hq.info.eval_size) == (180, 20)  # 90% / 10%
  assert fashion.info.name == "fashion_mnist" and fashion.info.num_classes == 10
  with pytest.raises(ValueError, match="shuffle_window=5 applies to the streaming"):
    with tfds.testing.mock_data(num_examples=4):
      data.build_dataset("mnist", shuffle_window=5)


def test_missing_tfds_dataset_says_how_to_prepare_it(tmp_path):
  data_dir = str(tmp_path / "tfds")
  with pytest.raises(FileNotFoundError) as error:
    data.build_dataset("mnist", tfds_data_dir=data_dir)
  message = str(error.value)
  assert "tfds build mnist --data_dir DIR" in message and data_dir in message
  assert "download_and_prepare --datasets=mnist" in message
  with pytest.raises(FileNotFoundError, match="--manual_dir"):
    data.build_dataset("celeb_a_hq_128", tfds_data_dir=data_dir)
  assert not os.path.exists(os.path.join(data_dir, "mnist", "3.0.1", "dataset_info.json"))
