"""Image folders (compare_gan/data/random_access.py) and TFRecord files
(compare_gan/data/streaming.py), and how bad files in them are reported.
"""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from compare_gan import config
from compare_gan import data
from compare_gan.data import base as data_base

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
  with pytest.raises(config.ConfigError, match="is not a folder"):
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
  with pytest.raises(config.ConfigError, match="no file matches the pattern .*nothing"):
    data.build_dataset("tfrecord", file_pattern=str(tmp_path / "nothing*"), resolution=6)
  with pytest.raises(ValueError, match="label_key and tfrecord.num_classes go together"):
    data.build_dataset("tfrecord", file_pattern=str(tmp_path / "train" / "*"),
                           resolution=6, label_key="label")


# ---------------------------------------------------------------------------------------------
# Bad files: one line naming the file, at build time when the header shows it, else in the
# pipeline (as an error that surfaces, never a hang).
# ---------------------------------------------------------------------------------------------


def _good_pngs(folder, n=3):
  folder.mkdir(parents=True, exist_ok=True)
  for i in range(n):
    Image.fromarray(np.full((6, 6, 3), 40 * i, np.uint8)).save(folder / f"good_{i}.png")


def _first_line(error: BaseException) -> str:
  return str(error).splitlines()[0]  # gin adds "In call to configurable ..." on a line below.


def test_non_image_files_fail_when_the_dataset_is_built(tmp_path):
  _good_pngs(tmp_path)
  (tmp_path / "notes.png").write_text("just some text")
  with pytest.raises(ValueError) as info:
    data.build_dataset("image_folder", path=str(tmp_path), resolution=4)
  assert _first_line(info.value) == (
      f"image_folder: {tmp_path / 'notes.png'} is not a decodable image (PNG, JPEG, GIF, BMP "
      f"or WebP): it starts with b'just some te'; remove it or replace it with an image.")

  (tmp_path / "empty.jpg").write_bytes(b"")
  (tmp_path / "page.gif").write_bytes(b"<html>404</html>")
  with pytest.raises(ValueError) as info:
    data.build_dataset("image_folder", path=str(tmp_path), resolution=4)
  line = _first_line(info.value)
  assert line.startswith(f"image_folder: {tmp_path / 'empty.jpg'} is not a decodable image ")
  assert "it is empty; so are 2 more files (" in line and str(tmp_path / "page.gif") in line
  assert line.endswith("; remove them or replace them with images.")


def test_every_accepted_header_is_one_tf_decodes(tmp_path):
  """The header check must not refuse a file that decodes: one file per accepted format."""
  pixels = np.random.default_rng(1).integers(0, 256, (5, 7, 3), np.uint8)
  for fmt, name in [("PNG", "a.png"), ("JPEG", "b.jpg"), ("GIF", "c.gif"), ("BMP", "d.bmp"),
                    ("WEBP", "e.png")]:  # A WebP named .png: decode_image goes by content.
    Image.fromarray(pixels).save(tmp_path / name, fmt)
  ds = data.build_dataset("image_folder", path=str(tmp_path), resolution=5)
  (batch,) = data_fakes.batches(ds.eval_input(batch_size=5), 1)
  assert batch["images"].shape == (5, 5, 5, 3)
  assert [data_base.image_format((tmp_path / n).read_bytes()[:12]) for n in sorted(
      p.name for p in tmp_path.iterdir())] == ["PNG", "JPEG", "GIF", "BMP", "WebP"]
  assert data_base.image_format(b"RIFF\x00\x00\x00\x00WAVE") is None


def _error_within(fn, timeout_s=60.0) -> BaseException:
  """Runs `fn` in a thread; the error it raised. A hang fails the test instead of blocking it."""
  outcome = {}

  def target():
    try:
      fn()
    except BaseException as e:  # pylint: disable=broad-except  # Handed to the test.
      outcome["error"] = e

  thread = threading.Thread(target=target, daemon=True)
  thread.start()
  thread.join(timeout_s)
  assert not thread.is_alive(), f"no error within {timeout_s} s: the input pipeline hangs"
  assert "error" in outcome, "the pipeline went through a corrupt image without an error"
  return outcome["error"]


@pytest.mark.parametrize("name, content", [
    ("zz_truncated.png", data_fakes.truncated_image()),
    ("zz_garbage.png", b"\x89PNG\r\n\x1a\n this is not a png"),
    ("zz_truncated.jpg", data_fakes.truncated_image(fmt="JPEG")),
    ('bad "name" [1] ü.png', data_fakes.truncated_image()),  # Quotes, brackets, UTF-8 survive.
])
def test_corrupt_image_fails_the_pipeline_naming_the_file(tmp_path, name, content):
  _good_pngs(tmp_path, 5)
  (tmp_path / name).write_bytes(content)
  ds = data.build_dataset("image_folder", path=str(tmp_path), resolution=4)  # Header passes.
  expected = (f"image_folder: {tmp_path / name} is not a decodable image (PNG, JPEG, GIF, BMP "
              f"or WebP): it is truncated or corrupt; remove it or replace it with a good copy.")

  error = _error_within(lambda: list(ds.eval_input(batch_size=4).as_numpy_iterator()))
  assert isinstance(error, tf.errors.InvalidArgumentError)
  assert data_base.input_error_line(error) == expected

  # Training reads it inside a tf.function, as the training loop does; 6 files, so the corrupt
  # one comes within 3 batches of 4.
  iterator = iter(ds.train_input(per_replica_batch_size=4, seed=0))
  step = tf.function(lambda it: next(it)["images"])
  error = _error_within(lambda: [step(iterator) for _ in range(3)])
  assert data_base.input_error_line(error) == expected


def test_input_error_line_ignores_other_errors():
  def check(i):
    with tf.control_dependencies([tf.debugging.Assert(i < 1, ["a plain assertion", i])]):
      return tf.identity(i)

  with pytest.raises(tf.errors.InvalidArgumentError, match="a plain assertion") as info:
    list(tf.data.Dataset.range(3).map(check))
  assert data_base.input_error_line(info.value) is None
  assert data_base.input_error_line(ValueError("[InputDataError: no] but not from a graph")) is None


def test_process_with_a_failed_pipeline_still_exits(tmp_path):
  """A pipeline iterator still alive at interpreter exit (here a module global, in the CLI a
  kept traceback) used to hang the process: its threads ran Python (a tf.py_function) while
  the interpreter shut down. No Python runs per image now."""
  folder = tmp_path / "images"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(40):  # Slow enough to decode that threads are busy when the error comes.
    Image.fromarray(rng.integers(0, 256, (256, 256, 3), np.uint8)).save(folder / f"{i:02d}.png")
  (folder / "20_truncated.png").write_bytes(data_fakes.truncated_image((256, 256)))
  script = tmp_path / "fail_and_exit.py"
  script.write_text(
      "import tensorflow as tf\n"
      "from compare_gan import data\n"
      f"ds = data.build_dataset('image_folder', path={str(folder)!r}, resolution=64)\n"
      "iterator = iter(ds.train_input(per_replica_batch_size=8, seed=0))\n"
      "try:\n"
      "  for _ in range(20):\n"
      "    next(iterator)\n"
      "except tf.errors.InvalidArgumentError:\n"
      "  print('FAILED AS EXPECTED', flush=True)\n")
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
             PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))
  try:
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          timeout=120)
  except subprocess.TimeoutExpired:
    pytest.fail("the process did not exit within 120 s after its input pipeline failed")
  assert proc.returncode == 0 and "FAILED AS EXPECTED" in proc.stdout, proc.stderr[-3000:]


def test_tfrecord_wrong_image_key_fails_at_build(tmp_path):
  data_fakes.write_tfrecords(str(tmp_path), [0, 3], image_key="img")  # The first file is empty.
  pattern = str(tmp_path / "*.tfrecord")
  record_file = tmp_path / "data-00001.tfrecord"
  with pytest.raises(ValueError) as info:
    data.build_dataset("tfrecord", file_pattern=pattern, resolution=6)
  assert _first_line(info.value) == (
      f"tfrecord.image_key = 'image' is not a feature of the records in {record_file}: its "
      f"first record has the features ['img', 'label']; set tfrecord.image_key to the one "
      f"holding the encoded images.")
  assert data.build_dataset("tfrecord", file_pattern=pattern, resolution=6,
                            image_key="img").info.num_train_examples == 3

  with pytest.raises(ValueError) as info:
    data.build_dataset("tfrecord", file_pattern=pattern, resolution=6, image_key="label")
  assert _first_line(info.value).startswith(
      f"tfrecord.image_key = 'label' holds 1 value(s) of kind int64_list in the first record "
      f"of {record_file}; it must hold one value of kind bytes_list")
  with pytest.raises(ValueError) as info:
    data.build_dataset("tfrecord", file_pattern=pattern, resolution=6, image_key="img",
                       label_key="class", num_classes=3)
  assert _first_line(info.value).startswith(
      f"tfrecord.label_key = 'class' is not a feature of the records in {record_file}: its "
      f"first record has the features ['img', 'label']")


def test_tfrecord_records_that_are_not_examples_of_images(tmp_path):
  (tmp_path / "eval").mkdir()
  data_fakes.write_tfrecords(str(tmp_path), [2])
  good = str(tmp_path / "*.tfrecord")
  eval_file = tmp_path / "eval" / "e.tfrecord"
  with tf.io.TFRecordWriter(str(eval_file)) as writer:  # The eval split is checked too.
    writer.write(tf.train.Example(features=tf.train.Features(feature={"image": tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[b"raw pixels, not a PNG"]))})).SerializeToString())
  with pytest.raises(ValueError) as info:
    data.build_dataset("tfrecord", file_pattern=good, eval_file_pattern=str(eval_file),
                       resolution=6)
  assert _first_line(info.value).startswith(
      f"tfrecord.image_key = 'image' holds no encoded image in the first record of {eval_file} "
      f"(its bytes start with b'raw pixels, ', not like a PNG, JPEG, GIF, BMP or WebP file)")

  with tf.io.TFRecordWriter(str(eval_file)) as writer:
    writer.write(b"\xff\xff not a serialized Example")
  with pytest.raises(ValueError, match=f"the first record of {eval_file} is not a "
                     "tf.train.Example"):
    data.build_dataset("tfrecord", file_pattern=good, eval_file_pattern=str(eval_file),
                       resolution=6)

  eval_file.write_bytes(b"this is not a TFRecord file at all")
  with pytest.raises(ValueError) as info:
    data.build_dataset("tfrecord", file_pattern=good, eval_file_pattern=str(eval_file),
                       resolution=6)
  assert _first_line(info.value) == (
      f"tfrecord: {eval_file} is not a readable TFRecord file (corrupted record at 0 (Is this "
      f"even a TFRecord file?)); fix or remove it, or narrow tfrecord.file_pattern.")


def test_header_check_reads_remote_files_too(tmp_path):
  """A `://` folder (here TensorFlow's in-memory file system) takes the threaded path."""
  root = f"ram://{tmp_path.name}"
  tf.io.gfile.makedirs(root + "/sub")
  try:
    for i in range(3):
      tf.io.write_file(f"{root}/{i}.png", data_fakes.png_bytes(np.full((4, 4, 3), i, np.uint8)))
    tf.io.write_file(f"{root}/sub/notes.jpg", b"plain text")
    with pytest.raises(ValueError) as info:
      data.build_dataset("image_folder", path=root, resolution=4)
    assert _first_line(info.value) == (
        f"image_folder: {root}/sub/notes.jpg is not a decodable image (PNG, JPEG, GIF, BMP or "
        f"WebP): it starts with b'plain text'; remove it or replace it with an image.")
    tf.io.gfile.remove(f"{root}/sub/notes.jpg")
    ds = data.build_dataset("image_folder", path=root, resolution=4)
    assert data_fakes.batches(ds.eval_input(batch_size=3), 1)[0]["images"].shape == (3, 4, 4, 3)
  finally:
    tf.io.gfile.rmtree(root)


def test_unreadable_file_fails_the_header_check(tmp_path, monkeypatch):
  _good_pngs(tmp_path)
  locked = str(tmp_path / "good_1.png")
  real_gfile = tf.io.gfile.GFile

  def gfile(path, mode="r"):  # As TensorFlow reports a file it may not read (we run as root).
    if path == locked:
      raise tf.errors.PermissionDeniedError(None, None, f"{path}; Permission denied")
    return real_gfile(path, mode)

  monkeypatch.setattr(tf.io.gfile, "GFile", gfile)
  with pytest.raises(ValueError) as info:
    data.build_dataset("image_folder", path=str(tmp_path), resolution=4)
  assert _first_line(info.value) == (f"image_folder: cannot read {locked} ({locked}; Permission "
                                     f"denied); make it readable or remove it.")
