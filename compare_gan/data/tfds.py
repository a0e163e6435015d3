"""TFDS access: builders, split sizes and whole splits as arrays. Nothing here downloads: a
missing dataset is an error saying how to prepare it.
"""

from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

def load_tfds_split(builder, split: str, with_labels: bool
                     ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """A whole tfds split as numpy arrays, in tfds' stored order."""
  ds = builder.as_dataset(split=split, shuffle_files=False, read_config=tfds_read_config())
  chunks = list(ds.batch(8192).as_numpy_iterator())
  images = np.concatenate([c["image"] for c in chunks])
  labels = np.concatenate([c["label"] for c in chunks]) if with_labels else None
  return images, labels




def import_tfds():
  # Imported on first use: tensorflow_datasets adds seconds to start-up, which the generated
  # datasets and image folders do not need.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def tfds_read_config():
  # One shard at a time: `split[a:]` is then exactly the tail of `split` as read (tfds
  # otherwise interleaves 16 shards), and no autocache of whole splits in memory.
  return import_tfds().ReadConfig(interleave_cycle_length=1, try_autocache=False)


def tfds_builder(dataset: str, tfds_name: str, data_dir: Optional[str]):
  tfds = import_tfds()
  try:
    return tfds.builder(tfds_name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ValueError(f"Dataset {dataset!r} needs the TFDS dataset {tfds_name!r}, which this "
                     f"tensorflow_datasets ({tfds.__version__}) does not know: {e}") from None


def _missing_tfds_message(dataset: str, tfds_name: str, builder, data_dir: Optional[str]) -> str:
  where = repr(data_dir) if data_dir else "the default TFDS data dir ($TFDS_DATA_DIR or " \
      "~/tensorflow_datasets)"
  catalog = f"https://www.tensorflow.org/datasets/catalog/{tfds_name.split('/')[0]}"
  manual = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
  if manual:
    how = (f"{tfds_name!r} is a MANUAL-download TFDS dataset: put the files its instructions "
           f"name ({catalog}; TFDS says: {' '.join(str(manual).split())}) in MANUAL_DIR, then "
           f"run\n  tfds build {tfds_name} --manual_dir MANUAL_DIR --data_dir DIR")
  else:
    how = (f"Prepare it once ({catalog}) with\n  tfds build {tfds_name} --data_dir DIR\n"
           f"or\n  python -m tensorflow_datasets.scripts.download_and_prepare "
           f"--datasets={tfds_name} --data_dir=DIR")
  return (f"Dataset {dataset!r} needs the TFDS dataset {tfds_name!r} prepared in {where}; "
          f"nothing was found at {builder.data_dir}. compare_gan never downloads data while "
          f"training. {how}\nthen set dataset.tfds_data_dir = 'DIR' (or $TFDS_DATA_DIR).")


def tfds_split_size(dataset: str, tfds_name: str, builder, tfds_split: str,
                     data_dir: Optional[str]) -> int:
  """Examples in a tfds split; FileNotFoundError with instructions if it is not prepared.

  The check goes through `builder.as_dataset` (it raises AssertionError when the prepared files
  are missing, and opens no data file), so `tfds.testing.mock_data` satisfies it too.
  """
  tfds = import_tfds()
  try:
    ds = builder.as_dataset(split=tfds_split, shuffle_files=False,
                            decoders={"image": tfds.decode.SkipDecoding()},
                            read_config=tfds_read_config())
  except AssertionError:
    raise FileNotFoundError(_missing_tfds_message(dataset, tfds_name, builder,
                                                  data_dir)) from None
  size = int(ds.cardinality())
  if size < 0:  # Unknown cardinality: count once.
    size = int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
  return size
