"""Labels other than a dataset's own: the label-file format (compare_gan/data/label_files.py),
keyed passes, `dataset.label_file` on array-backed data and on (mock) ImageNet, and
`dataset.labeled_fraction` / `dataset.labeled_seed` (compare_gan/data/base.py): a fixed subset
of the examples across epochs, training seeds and resumes, of the right size, with eval passes
keeping every label."""

import hashlib
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from compare_gan import config
from compare_gan import data
from compare_gan import run_dir
from compare_gan.data import base
from compare_gan.data import label_files
from compare_gan.data import random_access

import data_fakes

N_MOCK = 10


def numbers(n=400, classes=7):
  """A labelled in-memory dataset: example i of "train" is the 1-vector [i] with label i % 7;
  "test" holds [n + j] with label (n + j) % 7."""
  info = base.DatasetInfo(name="numbers", image_shape=(1,), num_classes=classes,
                          train_split="train", eval_split="test", eval_size=50,
                          num_train_examples=n)
  ids = {"train": np.arange(n), "test": np.arange(n, n + 50)}
  return random_access.InMemoryDataset(
      info, seed=0, split_sizes={"train": n, "test": 50},
      load=lambda split: (ids[split].astype(np.float32)[:, None], ids[split] % classes))


def stream(ds, *, batch_size, seed, count, start=0):
  """(ids, labels) of `count` training batches, concatenated."""
  batches = data_fakes.batches(ds.train_input(per_replica_batch_size=batch_size, seed=seed,
                                              start_position=start), count)
  return (np.concatenate([b["images"][:, 0] for b in batches]).astype(int),
          np.concatenate([b["labels"] for b in batches]))


def mock_file_names(split="train"):
  with tfds.testing.mock_data(num_examples=N_MOCK):
    ds = tfds.builder("imagenet2012").as_dataset(split=split, shuffle_files=False)
    return [e["file_name"].numpy().decode() for e in ds]


# ---------------------------------------------------------------------------------------------
# The format
# ---------------------------------------------------------------------------------------------


def test_write_and_read_round_trip(tmp_path):
  path = str(tmp_path / "sub" / "labels.npz")
  label_files.write_label_file(path, ["b", "a", "c"], [2, -1, 0], 3, {"from": "hand", "n": 3})
  read = label_files.read_label_file(path)
  assert read.keys.tolist() == ["b", "a", "c"] and read.keys.dtype.kind == "U"
  assert read.labels.tolist() == [2, -1, 0] and read.labels.dtype == np.int32
  assert read.num_classes == 3 and read.meta == {"from": "hand", "n": 3}
  assert read.sha256 == hashlib.sha256(open(path, "rb").read()).hexdigest()
  assert [p.name for p in (tmp_path / "sub").iterdir()] == ["labels.npz"]  # no temp files


def test_an_existing_file_is_never_overwritten(tmp_path):
  path = tmp_path / "labels.npz"
  label_files.write_label_file(str(path), ["a"], [0], 1, {})
  before = path.read_bytes()
  with pytest.raises(label_files.LabelFileError, match="exists; label files are never "
                     "overwritten"):
    label_files.write_label_file(str(path), ["z"], [0], 2, {})
  assert path.read_bytes() == before
  with pytest.raises(label_files.LabelFileError, match="labels are outside"):
    label_files.write_label_file(str(tmp_path / "bad.npz"), ["a"], [4], 2, {})
  assert not (tmp_path / "bad.npz").exists()


def _npz(path, **arrays):
  with open(path, "wb") as f:
    np.savez(f, **arrays)
  return str(path)


def _problems(path):
  with pytest.raises(label_files.LabelFileError) as error:
    label_files.read_label_file(path)
  lines = str(error.value).splitlines()
  assert lines[0] == f"label file {path} is invalid:" or len(lines) == 1
  assert "\n" not in run_dir.one_line(error.value)
  return lines[1:]


def test_read_names_every_problem_on_its_own_line(tmp_path):
  good = dict(keys=np.array(["a", "b", "c"]), labels=np.array([0, 1, 2]),
              num_classes=np.int64(3), meta=np.array(json.dumps({"x": 1})))
  lines = _problems(_npz(tmp_path / "f1.npz", **dict(good, keys=np.array(["a", "b", "a"]),
                                                      labels=np.array([0, 5, -2]))))
  assert len(lines) == 2
  assert "2 labels are outside [-1, num_classes=3), the first 5 at index 1" in lines[0]
  assert "1 keys occur more than once, e.g. 'a' (2 times)" in lines[1]
  lines = _problems(_npz(tmp_path / "f2.npz", **dict(good, labels=np.array([0, 1]))))
  assert lines == ["  keys and labels differ in length: 3 keys, 2 labels."]
  lines = _problems(_npz(tmp_path / "f3.npz", **dict(good, num_classes=np.float32(3),
                                                      meta=np.array("[1, 2]"))))
  assert "num_classes must be an integer >= 1; got 3.0" in lines[0]
  lines = _problems(_npz(tmp_path / "f4.npz", **dict(good, meta=np.array("[1, 2]"))))
  assert lines == ["  meta must be a str holding a JSON object."]
  lines = _problems(_npz(tmp_path / "f5.npz", keys=good["keys"], labels=good["labels"]))
  assert "lacks the field(s) ['num_classes', 'meta']" in lines[0]
  (tmp_path / "f6.npz").write_text("not a zip")
  assert _problems(str(tmp_path / "f6.npz")) == []  # one line: "... is not an .npz of arrays"
  with pytest.raises(label_files.LabelFileError, match="is not an .npz of arrays"):
    label_files.read_label_file(str(tmp_path / "f6.npz"))
  with pytest.raises(label_files.LabelFileError, match="does not exist"):
    label_files.read_label_file(str(tmp_path / "absent.npz"))
  assert issubclass(label_files.LabelFileError, config.ConfigError)  # exit status 2


# ---------------------------------------------------------------------------------------------
# Keyed passes
# ---------------------------------------------------------------------------------------------


def test_keyed_examples_of_an_array_dataset():
  ds = data_fakes.index_dataset(n=23)
  got = list(label_files.keyed_examples(ds, "train", 5))
  assert [len(k) for k, _ in got] == [5, 5, 5, 5, 3]
  keys = np.concatenate([k for k, _ in got])
  assert keys.tolist() == [f"train:{i}" for i in range(23)]
  assert np.concatenate([x for _, x in got])[:, 0].tolist() == list(range(23))
  keys, images = zip(*label_files.keyed_examples(ds, "test", 2, num_examples=3))
  assert np.concatenate(keys).tolist() == ["test:0", "test:1", "test:2"]
  assert np.concatenate(images)[:, 0].tolist() == [23, 24, 25]


def test_keyed_examples_of_mock_imagenet_are_its_file_names_in_stored_order():
  names = mock_file_names()
  with tfds.testing.mock_data(num_examples=N_MOCK):
    ds = data.build_dataset("imagenet_64")
    got = list(label_files.keyed_examples(ds, "train", 4))
    evaluation = np.concatenate([b["images"] for b in data_fakes.batches(
        ds.eval_input(batch_size=4, split="train", num_examples=N_MOCK), 5)])
  assert np.concatenate([k for k, _ in got]).tolist() == names
  np.testing.assert_array_equal(np.concatenate([x for _, x in got]), evaluation)


def test_a_dataset_without_example_keys_is_refused(tmp_path):
  ds, _ = data_fakes.tfrecord_index_dataset(tmp_path)
  assert ds.key_space is None
  with pytest.raises(config.ConfigError, match="has no stable example keys"):
    next(label_files.keyed_examples(ds, "train", 4))
  with pytest.raises(config.ConfigError, match="dataset.labeled_fraction needs stable example "
                     "keys, which dataset 'tfrecord' does not have"):
    label_files.relabel(ds, labeled_fraction=0.5)


# ---------------------------------------------------------------------------------------------
# dataset.label_file
# ---------------------------------------------------------------------------------------------


def test_a_label_file_labels_an_unlabelled_array_dataset_by_key(tmp_path):
  path = str(tmp_path / "labels.npz")
  # Even training examples get i % 3, test example 1 gets 2; the others are not in the file.
  keys = [f"train:{i}" for i in range(0, 23, 2)] + ["test:1"]
  label_files.write_label_file(path, keys, [i % 3 for i in range(0, 23, 2)] + [2], 3, {})
  ds = data_fakes.index_dataset(n=23)
  label_files.relabel(ds, label_file=path)
  assert ds.info.num_classes == 3
  assert ds.info.labels.card() == dict(
      labeled_fraction=1.0, labeled_seed=0, label_file=path,
      label_file_sha256=hashlib.sha256(open(path, "rb").read()).hexdigest(),
      label_file_classes=3, label_file_keys=13, missing_keys="label -1 (unlabelled)")
  ids, labels = stream(ds, batch_size=4, seed=3, count=18)  # > 3 epochs
  np.testing.assert_array_equal(labels, np.where(ids % 2 == 0, ids % 3, -1))
  assert labels.dtype == np.int32
  evaluation = data_fakes.batches(ds.eval_input(batch_size=5), 1)[0]
  assert evaluation["labels"].tolist() == [-1, 2, -1, -1, -1]


def test_label_files_made_for_other_data_are_refused(tmp_path):
  for i, key in enumerate(["train:23", "train:07", "val:0", "cat"]):
    path = str(tmp_path / f"f{i}.npz")
    label_files.write_label_file(path, ["train:0", key], [0, 1], 2, {})
    with pytest.raises(config.ConfigError, match=f"key '{key}' names no example of dataset "
                       "'index', whose keys are <split>:<offset> \\(train:0..22, test:0..4\\)"):
      label_files.relabel(data_fakes.index_dataset(n=23), label_file=path)
  path = str(tmp_path / "imagenet.npz")
  label_files.write_label_file(path, ["train:0"], [0], 2,
                               {"key_space": "tfds imagenet2012 file_name"})
  with pytest.raises(label_files.LabelFileError, match="holds keys of 'tfds imagenet2012 "
                     "file_name', but dataset 'index' has keys of 'index <split>:<offset>'"):
    label_files.relabel(data_fakes.index_dataset(n=23), label_file=path)


def test_gin_label_file_on_mock_mnist(tmp_path):
  path = str(tmp_path / "labels.npz")
  label_files.write_label_file(path, [f"train:{i}" for i in range(N_MOCK)],
                               [i % 4 for i in range(N_MOCK)], 4, {})
  config.parse_gin([], ["dataset.name = 'mnist'", f"dataset.label_file = {path!r}"])
  with tfds.testing.mock_data(num_examples=N_MOCK):
    ds = data.get_dataset()
    keyed = data_fakes.batches(ds.keyed_eval_input(batch_size=N_MOCK, split="train"), 1)[0]
  assert ds.info.num_classes == 4 and ds.info.labels.label_file == path
  assert keyed["keys"].tolist() == [f"train:{i}".encode() for i in range(N_MOCK)]
  assert keyed["labels"].tolist() == [i % 4 for i in range(N_MOCK)]


def test_a_label_file_on_mock_imagenet(tmp_path):
  names = mock_file_names()
  path = str(tmp_path / "labels.npz")
  label_files.write_label_file(path, names[:6][::-1], [5, 4, 3, 2, 1, 0], 6,
                               {"key_space": "tfds imagenet2012 file_name"})
  expected = [0, 1, 2, 3, 4, 5] + [-1] * (N_MOCK - 6)  # By key: order in the file is free.
  with tfds.testing.mock_data(num_examples=N_MOCK):
    ds = data.build_dataset("imagenet_64", shuffle_window=1, label_file=path)
    train = [b["labels"] for b in data_fakes.batches(
        ds.train_input(per_replica_batch_size=5, seed=0), 4)]
    evaluation = data_fakes.batches(ds.eval_input(batch_size=N_MOCK), 1)[0]
  assert ds.info.num_classes == 6
  assert np.concatenate(train).tolist() == expected * 2  # Window 1: stored order, two epochs.
  assert evaluation["labels"].tolist() == expected  # The mock's validation repeats train.


# ---------------------------------------------------------------------------------------------
# dataset.labeled_fraction and dataset.labeled_seed
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_the_labeled_mask_keeps_about_the_fraction(fraction):
  keys = tf.constant([f"train:{i}" for i in range(20000)])
  mask = base.labeled_mask(keys, fraction, seed=0).numpy()
  sigma = np.sqrt(20000 * fraction * (1 - fraction))
  assert abs(mask.sum() - 20000 * fraction) < 4 * sigma
  np.testing.assert_array_equal(mask, base.labeled_mask(keys, fraction, seed=0).numpy())
  other = base.labeled_mask(keys, fraction, seed=1).numpy()
  # Independent subsets overlap in about fraction^2 of the keys.
  assert abs((mask & other).sum() - 20000 * fraction ** 2) < 4 * np.sqrt(20000 * fraction ** 2)
  assert base.labeled_mask(keys, 1.0, seed=0).numpy().all()


def test_the_labelled_subset_is_fixed_across_epochs_seeds_and_resumes():
  ds = numbers()
  label_files.relabel(ds, labeled_fraction=0.25, labeled_seed=5)
  runs = [stream(ds, batch_size=40, seed=0, count=30),  # three epochs
          stream(ds, batch_size=40, seed=1, count=10),
          stream(ds, batch_size=40, seed=0, count=5, start=440)]
  subsets = []
  for ids, labels in runs:
    kept = labels >= 0
    np.testing.assert_array_equal(labels[kept], ids[kept] % 7)
    assert (labels[~kept] == -1).all()
    by_example = {}
    for i, k in zip(ids, kept):
      assert by_example.setdefault(i, k) == k  # The same in every epoch.
    subsets.append({i for i, k in by_example.items() if k})
  assert subsets[0] == subsets[1] and subsets[2] <= subsets[0]
  assert abs(len(subsets[0]) - 100) < 4 * np.sqrt(400 * 0.25 * 0.75)
  mask = base.labeled_mask(tf.constant([f"train:{i}" for i in range(400)]), 0.25, 5).numpy()
  assert subsets[0] == set(np.flatnonzero(mask))
  # Eval passes keep every label, of the eval split and of the training split alike.
  for split in ("test", "train"):
    batch = data_fakes.batches(ds.eval_input(batch_size=50, split=split, num_examples=50), 1)[0]
    np.testing.assert_array_equal(batch["labels"], batch["images"][:, 0].astype(int) % 7)
  assert ds.info.labels.card() == dict(labeled_fraction=0.25, labeled_seed=5,
                                       rule=base.LABELED_FRACTION_RULE)
  other = numbers()
  label_files.relabel(other, labeled_fraction=0.25, labeled_seed=6)
  ids, labels = stream(other, batch_size=40, seed=0, count=10)
  assert {i for i, l in zip(ids, labels) if l >= 0} != subsets[0]


def test_a_labelled_fraction_of_a_label_file(tmp_path):
  path = str(tmp_path / "labels.npz")
  label_files.write_label_file(path, [f"train:{i}" for i in range(23)], [1] * 23, 2, {})
  # Through the registry: an unlabelled generated dataset takes both settings.
  ds = data.build_dataset("triangles", labeled_fraction=0.5, labeled_seed=1, label_file=path)
  assert ds.info.num_classes == 2 and ds.info.labels.labeled_fraction == 0.5
  ds = data_fakes.index_dataset(n=23)
  label_files.relabel(ds, labeled_fraction=0.5, labeled_seed=1, label_file=path)
  ids, labels = stream(ds, batch_size=23, seed=0, count=2)
  mask = base.labeled_mask(tf.constant([f"train:{i}" for i in range(23)]), 0.5, 1).numpy()
  np.testing.assert_array_equal(labels, np.where(mask[ids], 1, -1))
  assert 0 < mask.sum() < 23


def test_a_labelled_fraction_of_mock_imagenet_is_keyed_by_file_name():
  names = mock_file_names()
  mask = base.labeled_mask(tf.constant(names), 0.5, 3).numpy()
  with tfds.testing.mock_data(num_examples=N_MOCK):
    plain = data.build_dataset("imagenet_64", shuffle_window=1)
    ds = data.build_dataset("imagenet_64", shuffle_window=1, labeled_fraction=0.5,
                            labeled_seed=3)
    own = np.concatenate([b["labels"] for b in data_fakes.batches(
        plain.train_input(per_replica_batch_size=5, seed=0), 4)])
    masked = np.concatenate([b["labels"] for b in data_fakes.batches(
        ds.train_input(per_replica_batch_size=5, seed=0), 4)])
    evaluation = data_fakes.batches(ds.eval_input(batch_size=N_MOCK), 1)[0]
  assert 0 < mask.sum() < N_MOCK
  np.testing.assert_array_equal(masked, np.where(np.tile(mask, 2), own, -1))
  np.testing.assert_array_equal(evaluation["labels"], own[:N_MOCK])  # mock validation = train


def test_labelled_fraction_settings_are_checked():
  with tfds.testing.mock_data(num_examples=N_MOCK):
    ds = data.build_dataset("mnist", labeled_fraction=0.5, labeled_seed=2)
    assert ds.info.num_classes == 10 and ds.info.labels.labeled_seed == 2
    assert data.build_dataset("mnist").info.labels is None
    for fraction in (0, 1.5, True, "half"):
      with pytest.raises(config.ConfigError, match="dataset.labeled_fraction must be a number "
                         r"in \(0, 1\]"):
        data.build_dataset("mnist", labeled_fraction=fraction)
    with pytest.raises(config.ConfigError, match=r"dataset.labeled_seed must be an integer in "
                       r"\[0, 2\^63\); got -1"):
      data.build_dataset("mnist", labeled_fraction=0.5, labeled_seed=-1)
  with pytest.raises(config.ConfigError, match="dataset.labeled_fraction = 0.5 needs labels, "
                     "and dataset 'ring8' has none"):
    data.build_dataset("ring8", labeled_fraction=0.5)
