"""A conditional family that needs every label (all but S3GAN) never trains on label -1: a
labelled fraction < 1 is refused before training (exit 2), and an example a label file leaves
unlabelled stops the run with one line naming it (exit 1). A complete label file trains."""

import os

import numpy as np
import tensorflow_datasets as tfds

from compare_gan import run_dir
from compare_gan.data import label_files

import cli_harness as harness  # tests/: pytest puts it on sys.path.

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SNDCGAN = os.path.join(ROOT, "configs", "examples", "triangles_sndcgan.gin")
N = 16  # mock MNIST examples per split
CONDITIONAL = ["dataset.name = 'mnist'", "train.batch_size = 8", "ModularGAN.z_dim = 8",
               "G.width = 0.0625", "D.width = 0.0625", "ModularGAN.conditional = True",
               "G.batch_norm_fn = @conditional_batch_norm", "D.project_y = True",
               "train.save_checkpoints_steps = 2"]


def _train(model_dir, bindings) -> int:
  with tfds.testing.mock_data(num_examples=N):
    return harness.train(model_dir, 2, SNDCGAN, CONDITIONAL + bindings)


def _label_file(path, labels) -> str:
  label_files.write_label_file(path, np.array([f"train:{i}" for i in range(N)]),
                               np.array(labels, np.int32), 2, {"what": "test labels"})
  return path


def test_a_labelled_fraction_is_refused_before_training(tmp_path, capsys):
  model_dir = str(tmp_path / "run")
  assert _train(model_dir, ["dataset.labeled_fraction = 0.5"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "dataset.labeled_fraction = 0.5" in err[0] and "@S3GAN" in err[0]
  assert not os.path.exists(os.path.join(model_dir, run_dir.CHECKPOINTS))


def test_an_unlabelled_example_of_a_label_file_stops_the_run_naming_it(tmp_path, capsys):
  path = _label_file(str(tmp_path / "labels.npz"), [0, 1] * (N // 2 - 1) + [0, -1])
  assert _train(str(tmp_path / "run"), [f"dataset.label_file = '{path}'"]) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1, err
  assert f"train:{N - 1}" in err[0] and "has no label" in err[0] and "@S3GAN" in err[0]


def test_a_complete_label_file_trains(tmp_path):
  path = _label_file(str(tmp_path / "labels.npz"), [0, 1] * (N // 2))
  assert _train(str(tmp_path / "run"), [f"dataset.label_file = '{path}'"]) == 0
