"""`compare_gan cluster` end to end at tiny size: a 2-step ModularGAN run on (mock) MNIST, its
D features clustered into a label file whose labels are checked against features recomputed
here, the same file for the same seed, a conditional run trained on it (`dataset.label_file`:
num_classes = K), and the one-line refusals."""

import os

import gin
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from compare_gan import config
from compare_gan import data
from compare_gan import run_dir
from compare_gan.data import label_files
from compare_gan.gans import inference as inference_lib

import cli_harness as harness  # tests/: pytest puts it on sys.path.

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SNDCGAN = os.path.join(ROOT, "configs", "examples", "triangles_sndcgan.gin")
VAE = os.path.join(ROOT, "configs", "examples", "vae_triangles.gin")
N = 24  # mock MNIST examples per split
TINY = ["dataset.name = 'mnist'", "train.batch_size = 8", "train.save_checkpoints_steps = 2",
        "train.log_every_steps = 1", "train.summary_every_steps = 100",
        "train.image_summary_every_steps = 100", "ModularGAN.z_dim = 8", "G.width = 0.0625",
        "D.width = 0.0625"]
CONDITIONAL = ["ModularGAN.conditional = True", "G.batch_norm_fn = @conditional_batch_norm",
               "D.project_y = True"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("cluster") / "run")
  with tfds.testing.mock_data(num_examples=N):
    assert harness.train(model_dir, 2, SNDCGAN, TINY) == 0
  gin.clear_config()
  return model_dir


def _cluster(*flags) -> int:
  with tfds.testing.mock_data(num_examples=N):
    return harness.run_cli("cluster", *flags)


def _features(model_dir) -> np.ndarray:
  """D's features h of the first N training examples, recomputed from the checkpoint."""
  config.parse_gin([os.path.join(model_dir, run_dir.CONFIG)], [])
  with tfds.testing.mock_data(num_examples=N):
    dataset = data.get_dataset()
    images = np.concatenate([b["images"].numpy() for b in dataset.eval_input(
        batch_size=N, split="train", num_examples=N)])
  inference = inference_lib.InferenceModel(dataset.info.image_shape, dataset.info.num_classes)
  inference.restore(run_dir.checkpoint_at(model_dir)[1])
  h = inference.model.discriminator(tf.constant(images), training=False)[1]
  return tf.reshape(h, [N, -1]).numpy().astype(np.float64)


def test_cluster_writes_the_k_means_labels_of_d_features(run, tmp_path, capsys):
  out = str(tmp_path / "clusters.npz")
  assert _cluster("--model_dir", run, "--clusters", 3, "--output", out, "--seed", 1) == 0
  assert f"wrote {out}: {N} labels in 3 clusters" in capsys.readouterr().out
  result = label_files.read_label_file(out)
  assert result.keys.tolist() == [f"train:{i}" for i in range(N)] and result.num_classes == 3
  meta = result.meta
  assert (meta["run"], meta["step"], meta["seed"], meta["clusters"]) == (
      os.path.abspath(run), 2, 1, 3)
  assert meta["key_space"] == "mnist <split>:<offset>" and meta["family"] == "ModularGAN"
  assert meta["converged"] and meta["examples"] == N
  # Independently: at convergence each cluster's mean is its centroid, every example is
  # nearest to its own cluster's mean, and the inertia is the sum of squares around them.
  features = _features(run)
  labels = result.labels
  assert sorted(set(labels.tolist())) == [0, 1, 2]
  means = np.stack([features[labels == j].mean(0) for j in range(3)])
  distances = ((features[:, None, :] - means[None]) ** 2).sum(-1)
  np.testing.assert_array_equal(distances.argmin(1), labels)
  assert meta["inertia"] == pytest.approx(distances[np.arange(N), labels].sum(), rel=1e-4)
  assert meta["feature_dim"] == features.shape[1]
  # The same seed gives the same file content; another output path is needed.
  again = str(tmp_path / "again.npz")
  assert _cluster("--model_dir", run, "--clusters", 3, "--output", again, "--seed", 1) == 0
  np.testing.assert_array_equal(label_files.read_label_file(again).labels, labels)

  # A conditional run trained on the cluster ids has K classes.
  conditional = str(tmp_path / "conditional")
  with tfds.testing.mock_data(num_examples=N):
    assert harness.train(conditional, 2, SNDCGAN,
                         TINY + CONDITIONAL + [f"dataset.label_file = {out!r}"]) == 0
  shapes = {name: shape for name, shape in tf.train.list_variables(
      run_dir.checkpoint_at(conditional)[1])}
  embedding = [shape for name, shape in shapes.items()
               if name.startswith("discriminator/") and "embedding" in name
               and ".OPTIMIZER_SLOT" not in name]
  assert embedding and all(shape[0] == 3 for shape in embedding), shapes


def _one_line(capsys, *expected):
  lines = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
  assert len(lines) == 1, lines
  assert lines[0].startswith("compare_gan cluster: ") and "Traceback" not in lines[0]
  for text in expected:
    assert text in lines[0], (text, lines[0])


def _config_only_run(path, config_file, bindings):
  """A run directory holding only config.gin (no checkpoint)."""
  os.makedirs(path)
  run_dir.write_config(path, config.parse_gin([config_file], bindings))
  gin.clear_config()
  return path


def test_refusals_are_one_line_with_exit_status_2(run, tmp_path, capsys):
  out = str(tmp_path / "labels.npz")
  base = ["--model_dir", run, "--output", out]
  cases = [
      (["--model_dir", str(tmp_path / "absent"), "--clusters", 2, "--output", out],
       ["is not a run directory (no config.gin)"]),
      (base + ["--clusters", 1], ["--clusters 1: k-means needs at least 2 clusters"]),
      (base + ["--clusters", 6, "--max_examples", 5],
       ["--clusters 6 exceeds the 5 examples read from mnist train"]),
      (base + ["--clusters", 2, "--max_examples", 0], ["--max_examples 0"]),
      (base + ["--clusters", 2, "--seed", -3], ["--seed -3: give a seed >= 0"]),
      (base + ["--clusters", 2, "--split", "val"],
       ["--split 'val' is not a split of dataset 'mnist'; valid: ['train', 'test']"]),
  ]
  vae = _config_only_run(str(tmp_path / "vae"), VAE, ["dataset.name = 'mnist'"])
  cases.append((["--model_dir", vae, "--clusters", 2, "--output", out],
                ["the VAE of", "has no discriminator"]))
  untrained = _config_only_run(str(tmp_path / "untrained"), SNDCGAN, TINY)
  cases.append((["--model_dir", untrained, "--clusters", 2, "--output", out],
                ["No checkpoints in", "train first"]))
  for flags, expected in cases:
    assert _cluster(*flags) == run_dir.EXIT_USAGE, flags
    _one_line(capsys, *expected)
    assert not os.path.exists(out)
  with open(out, "wb") as f:
    f.write(b"mine")
  assert _cluster(*base, "--clusters", 2) == run_dir.EXIT_USAGE
  _one_line(capsys, f"--output {out} exists; label files are never overwritten")
  assert open(out, "rb").read() == b"mine"
