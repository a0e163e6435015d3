"""`compare_gan cluster`: labels by k-means on a trained discriminator's features.

  compare_gan cluster --model_dir RUN --clusters K --output FILE.npz [--split train]
                      [--max_examples N] [--seed S] [--features discriminator]

This is the "Clustering" method of Lucic et al. 2019 ("High-Fidelity Image Generation With
Fewer Labels", section 3): train a GAN whose discriminator learns a self-supervised task (the
reference's rotation-only SSGAN: `model.family = @SSGAN`, `SSGAN.self_supervision =
"rotation_only"`), cluster its features of the real images with k-means, and train a
conditional GAN on the cluster ids as labels. The reference left the clustering out of its
code and took the ids as external labels; this command makes them. Any family with a
discriminator serves as the feature extractor.

It reads the run's config.gin (then --gin_config / --gin_bindings), restores D from the newest
checkpoint, computes D's features h (the [B, F] second output of every `base.Discriminator`,
taken before any label projection, so labels play no part) of the first N examples of the
split in stored order with eval preprocessing (`label_files.keyed_examples`), runs k-means
(k-means++ seeding with --seed, Lloyd iterations; clustering/kmeans.py) and writes a label file
(data/label_files.py): the examples' keys, their cluster ids, K, and meta naming the run, step,
checkpoint, seed, inertia, iterations and the dataset's key space. Train on it with
`dataset.label_file = 'FILE.npz'` (and a conditional model: num_classes is then K).

Refused with one line and exit status 2, before anything is computed: a --model_dir that is no
run directory or has no checkpoint, K < 2 or K above the examples read, an existing --output, a
dataset without example keys, an unknown --split, and a family without a discriminator (VAE).
The features of all N examples are held in memory (N x F float32: 1.28M ImageNet images x 1536
features is ~8 GB); --max_examples bounds it.
"""

import argparse
import os
from typing import Sequence

from compare_gan import config
from compare_gan import run_dir

FEATURE_KINDS = ("discriminator",)
# Images per D call: large enough to keep an accelerator busy, small enough for 256x256 images.
BATCH_SIZE = 64


def add_parser(subparsers: "argparse._SubParsersAction",
               parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
  """Registers `cluster` on the `compare_gan` subparsers (`parents`: shared flags such as the
  gin flags); the command runs `args.run(args)`."""
  p = subparsers.add_parser(
      "cluster", parents=list(parents),
      help="label a dataset by k-means on a trained discriminator's features (a label file "
      "for dataset.label_file)",
      description="Cluster the features that a run's discriminator (newest checkpoint) computes "
      "for the real examples of its dataset with k-means (k-means++ seeding, Lloyd iterations), "
      "and write the cluster ids as a label file: keys, labels, num_classes = K and meta. Train "
      "a conditional GAN on them with dataset.label_file = 'FILE.npz' (Lucic et al. 2019, "
      "'Clustering'). The gin flags apply after the run's config.gin.")
  p.add_argument("--model_dir", required=True, help="run directory written by `train`")
  p.add_argument("--clusters", type=int, required=True, metavar="K",
                 help="number of clusters, >= 2 and at most the examples read")
  p.add_argument("--output", required=True, metavar="FILE.npz",
                 help="label file to create (never overwritten)")
  p.add_argument("--split", default=None,
                 help="split of the run's dataset to cluster (default: its training split)")
  p.add_argument("--max_examples", type=int, default=None, metavar="N",
                 help="cluster the first N examples of the split in stored order (default: "
                 "all); the others are absent from the file and read as unlabelled (-1)")
  p.add_argument("--seed", type=int, default=0, help="seed of the k-means++ seeding (default 0)")
  p.add_argument("--features", choices=FEATURE_KINDS, default="discriminator",
                 help="which features to cluster: the discriminator's penultimate features h "
                 "(default; the only kind)")
  p.set_defaults(run=_run)
  return p


def check_arguments(args: argparse.Namespace) -> None:
  """The refusals that need no TensorFlow: bad K, N or seed, an existing output, no run
  directory.

  Raises:
    run_dir.UsageError: one line naming the flag and what is valid.
  """
  if args.clusters < 2:
    raise run_dir.UsageError(f"--clusters {args.clusters}: k-means needs at least 2 clusters.")
  if args.max_examples is not None and args.max_examples < 1:
    raise run_dir.UsageError(f"--max_examples {args.max_examples}: give a positive number of "
                             "examples, or leave it out to cluster the whole split.")
  if args.seed < 0:
    raise run_dir.UsageError(f"--seed {args.seed}: give a seed >= 0.")
  if os.path.lexists(args.output):
    raise run_dir.UsageError(f"--output {args.output} exists; label files are never "
                             "overwritten: give a new path, or move the old file away.")
  if not os.path.isfile(os.path.join(args.model_dir, run_dir.CONFIG)):
    raise run_dir.UsageError(f"--model_dir {args.model_dir} is not a run directory (no "
                             f"{run_dir.CONFIG}); give a directory written by `compare_gan "
                             "train`.")


def _run(args: argparse.Namespace) -> int:
  check_arguments(args)  # Before TensorFlow's import: a refusal costs nothing.
  config.import_tensorflow()
  return cluster_command(args)


def cluster_command(args: argparse.Namespace) -> int:
  """`compare_gan cluster` for parsed arguments (see the module docstring); returns 0.

  Raises:
    run_dir.UsageError: a refusal of the module docstring (exit status 2).
    FileNotFoundError: the run's dataset is not prepared (exit status 1).
  """
  # pylint: disable=import-outside-toplevel  # TensorFlow only once the command runs.
  import numpy as np
  import tensorflow as tf
  from compare_gan import data
  from compare_gan.clustering import kmeans
  from compare_gan.data import label_files
  from compare_gan.gans import family as family_lib
  from compare_gan.gans import inference as inference_lib

  check_arguments(args)
  run_config = os.path.join(args.model_dir, run_dir.CONFIG)
  config.parse_command_config("cluster", [run_config] + list(args.gin_config),
                              list(args.gin_bindings), args.tfds_data_dir)
  dataset = data.get_dataset()
  info = dataset.info
  if dataset.key_space is None:
    raise run_dir.UsageError(
        f"dataset {info.name!r} of {args.model_dir} has no stable example keys, so its "
        "examples cannot be labelled by a file; cluster a run on imagenet_* or on an "
        "in-memory or generated dataset (mnist, cifar10, triangles, ...).")
  split = info.train_split if args.split is None else args.split
  if split not in dataset.splits:
    raise run_dir.UsageError(f"--split {split!r} is not a split of dataset {info.name!r}; "
                             f"valid: {list(dataset.splits)}.")
  available = dataset.split_size(split)
  n = available if args.max_examples is None else min(args.max_examples, available)
  if args.clusters > n:
    raise run_dir.UsageError(f"--clusters {args.clusters} exceeds the {n} examples read from "
                             f"{info.name} {split}; give at most {n} clusters.")
  inference = inference_lib.InferenceModel(info.image_shape, info.num_classes)
  discriminator = inference.model.discriminator
  if discriminator is None:
    raise run_dir.UsageError(
        f"the {family_lib.family_name(inference.model)} of {args.model_dir} has no "
        "discriminator to take features from; cluster a run of a family with one "
        "(ModularGAN, BEGAN, SSGAN, S3GAN).")
  try:
    step, checkpoint = run_dir.checkpoint_at(args.model_dir)
  except FileNotFoundError as e:
    raise run_dir.UsageError(str(e)) from None
  inference.restore(checkpoint)

  # h does not depend on the labels: a conditional D gets all-zero one-hots, which only feed
  # the projection that `base.Discriminator` adds to the logits after h.
  @tf.function(autograph=False, reduce_retracing=True)
  def features_of(images):
    y = (tf.zeros([tf.shape(images)[0], discriminator.num_classes])
         if discriminator.conditional else None)
    h = discriminator(images, y=y, training=False)[1]
    return tf.reshape(tf.cast(h, tf.float32), [tf.shape(images)[0], -1])

  keys, features = [], []
  for batch_keys, images in label_files.keyed_examples(dataset, split, BATCH_SIZE, n):
    keys.append(batch_keys)
    features.append(features_of(tf.constant(images)).numpy())
  keys, features = np.concatenate(keys), np.concatenate(features)
  print(f"clustering {len(keys)} examples of {info.name} {split} into {args.clusters} clusters "
        f"(D features of step {step}, {features.shape[1]} dimensions)")
  result = kmeans.kmeans(features, args.clusters, seed=args.seed)
  meta = dict(
      source="compare_gan cluster", run=os.path.abspath(args.model_dir), step=step,
      checkpoint=os.path.relpath(checkpoint, args.model_dir),
      family=family_lib.family_name(inference.model), features=args.features,
      feature_dim=int(features.shape[1]), dataset=info.name, key_space=dataset.key_space,
      split=split, examples=int(len(keys)), clusters=args.clusters, seed=args.seed,
      method="k-means++ seeding, Lloyd iterations", max_iter=kmeans.DEFAULT_MAX_ITER,
      iterations=result.iterations, converged=result.converged, inertia=result.inertia,
      cluster_sizes=np.bincount(result.labels, minlength=args.clusters).tolist())
  label_files.write_label_file(args.output, keys, result.labels, args.clusters, meta)
  print(f"wrote {args.output}: {len(keys)} labels in {args.clusters} clusters (inertia "
        f"{result.inertia:.6g}, {result.iterations} Lloyd iterations"
        f"{'' if result.converged else ', not converged'})")
  return run_dir.EXIT_OK
