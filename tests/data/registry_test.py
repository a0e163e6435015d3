"""The dataset registry (compare_gan/data/__init__.py): generated data, names and gin.
"""


import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import data
from compare_gan.data import base as data_base
from compare_gan.data import random_access
from compare_gan.data import synthetic

import data_fakes


# ---------------------------------------------------------------------------------------------
# Generated data, the registry and gin.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,n_vertices", [("triangles", 3), ("squares", 4)])
def test_polygons(name, n_vertices):
  ds = data.build_dataset(name, seed=5)
  assert ds.info == data_base.DatasetInfo(name, (28, 28, 1), None, "train", "test", 10000, 60000)
  assert ds.splits == ("train", "test", "val")
  (batch,) = data_fakes.batches(ds.eval_input(batch_size=4, num_examples=4), 1)
  expected = synthetic.convex_polygon_images(60000 + np.arange(4), seed=5,
                                                  n_vertices=n_vertices)
  np.testing.assert_array_equal(batch["images"], expected)
  # The hold-out split, read at a different offset: the examples are those of indices 70000+.
  (val,) = data_fakes.batches(ds.eval_input(batch_size=2, split="val", num_examples=6), 3)[2:]
  np.testing.assert_array_equal(val["images"], synthetic.convex_polygon_images(
      70004 + np.arange(2), seed=5, n_vertices=n_vertices))
  assert val["images"].dtype == np.float32 and set(val) == {"images"}


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixtures(name):
  ds = data.build_dataset(name)
  assert ds.info.image_shape == (2,) and ds.info.num_classes is None
  assert (ds.info.num_train_examples, ds.info.eval_size) == (100000, 10000)
  (batch,) = data_fakes.batches(ds.eval_input(batch_size=6, num_examples=6), 1)
  points, _ = synthetic.mixture_points(100000 + np.arange(6), seed=547, name=name)
  np.testing.assert_array_equal(batch["images"], points)
  (train,) = data_fakes.batches(ds.train_input(per_replica_batch_size=16, seed=4), 1)
  assert train["images"].shape == (16, 2) and set(train) == {"images"}
  # Training example at position p is example epoch_permutation(p) of the train split.
  offsets = random_access.epoch_permutation(tf.range(16, dtype=tf.int64), seed=4,
                                       num_examples=100000).numpy()
  np.testing.assert_array_equal(
      train["images"], synthetic.mixture_points(offsets, seed=547, name=name)[0])


def test_registry_and_unknown_names():
  for name in ("mnist", "fashion_mnist", "fashion-mnist", "cifar10", "celeb_a", "celeb_a_hq_128",
               "lsun_bedroom_128", "lsun-bedroom", "triangles", "squares", "ring8", "grid25",
               "image_folder", "tfrecord"):
    assert name in data.DATASETS
  with pytest.raises(ValueError) as error:
    data.build_dataset("imagenet")
  for name in data.DATASETS:
    assert repr(name) in str(error.value)
  with pytest.raises(ValueError, match="already registered"):
    data.register_dataset("mnist", data.DATASETS["mnist"])
  with pytest.raises(ValueError, match="is random-access"):
    data.build_dataset("triangles", shuffle_window=100)
  with pytest.raises(ValueError, match=r"must be an integer in \[0, 2\^64\); got -1"):
    data.build_dataset("ring8", seed=-1)


def test_gin_configures_the_dataset(tmp_path):
  gin.parse_config("dataset.name = 'triangles'\ndataset.seed = 3")
  ds = data.get_dataset()
  assert ds.info.name == "triangles" and ds.seed == 3
  gin.clear_config()
  data_fakes.image_folder(tmp_path)
  gin.parse_config(f"dataset.name = 'image_folder'\nimage_folder.path = '{tmp_path}'\n"
                   "image_folder.resolution = 12\nimage_folder.channels = 1")
  assert data.get_dataset().info.image_shape == (12, 12, 1)
