"""The run-directory contract (compare_gan/run_dir.py): atomic writes, status, config, metrics."""

import json
import os
import subprocess
import sys

import pytest

from compare_gan import run_dir


def test_write_atomically_text_bytes_and_callable(tmp_path):
  path = str(tmp_path / "f.txt")
  run_dir.write_atomically(path, "one\n")
  assert open(path).read() == "one\n"
  run_dir.write_atomically(path, b"two\n")
  assert open(path).read() == "two\n"
  run_dir.write_atomically(path, lambda f: f.write(b"three\n"))
  assert open(path).read() == "three\n"
  assert os.listdir(tmp_path) == ["f.txt"]  # No temporary file left behind.


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
  path = str(tmp_path / "f.txt")
  run_dir.write_atomically(path, "old")

  def fail(f):
    f.write(b"partial")
    raise OSError("disk full")
  with pytest.raises(OSError, match="disk full"):
    run_dir.write_atomically(path, fail)
  assert open(path).read() == "old"
  assert os.listdir(tmp_path) == ["f.txt"]


def test_the_temporary_file_is_named_by_temp_prefix(tmp_path):
  name = "events.out.tfevents.1.host"
  path = str(tmp_path / name)
  seen = []

  def write(f):  # Records the temporary while it is being written.
    seen.extend(n for n in os.listdir(tmp_path) if n != name)
    f.write(b"event")
  run_dir.write_atomically(path, write, temp_prefix=".hidden-")
  assert len(seen) == 1 and seen[0].startswith(".hidden-") and "tfevents" not in seen[0]
  run_dir.write_atomically(path, write)
  assert len(seen) == 2 and seen[1].startswith(name + ".")  # By default: the file's name.
  assert os.listdir(tmp_path) == [name]
  assert open(path, "rb").read() == b"event"


def test_status_round_trip_and_unknown_state(tmp_path):
  assert run_dir.read_status(str(tmp_path)) is None
  written = run_dir.write_status(str(tmp_path), "running", 3, 10, replicas=2)
  assert run_dir.read_status(str(tmp_path)) == written
  assert written["state"] == "running" and written["step"] == 3 and written["replicas"] == 2
  assert written["updated"].endswith("+00:00")
  with pytest.raises(ValueError, match="valid: running, done, diverged, failed"):
    run_dir.write_status(str(tmp_path), "paused", 3, 10)


def test_write_config_keeps_the_previous_one_and_returns_a_diff(tmp_path):
  assert run_dir.write_config(str(tmp_path), "a = 1\n") is None
  assert run_dir.write_config(str(tmp_path), "a = 1\n") is None
  diff = run_dir.write_config(str(tmp_path), "a = 2\n")
  assert "-a = 1" in diff and "+a = 2" in diff
  assert (tmp_path / run_dir.PREVIOUS_CONFIG).read_text() == "a = 1\n"
  assert run_dir.read_config(str(tmp_path)) == (run_dir.CONFIG, "a = 2\n")
  (tmp_path / run_dir.OPERATIVE_CONFIG).write_text("b = 3\n")
  assert run_dir.read_config(str(tmp_path)) == (run_dir.OPERATIVE_CONFIG, "b = 3\n")


def test_metrics_reader_skips_bad_lines_and_takes_the_newest_record(tmp_path):
  records = [dict(step=2, metric="fid", value=3.0), dict(step=4, metric="fid", value=2.0)]
  run_dir.append_metrics(str(tmp_path), records)
  with open(tmp_path / run_dir.METRICS, "a") as f:
    f.write("not json\n[1, 2]\n")
  run_dir.append_metrics(str(tmp_path), [dict(step=2, metric="fid", value=1.0)])
  read = run_dir.read_metrics(str(tmp_path))
  assert [r["value"] for r in read] == [3.0, 2.0, 1.0]
  assert run_dir.latest_metrics(read)[2]["fid"]["value"] == 1.0
  assert run_dir.evaluated_steps(str(tmp_path)) == {2, 4}
  lines = (tmp_path / run_dir.METRICS).read_text().splitlines()
  assert json.loads(lines[-1]) == dict(metric="fid", step=2, value=1.0)


def _touch(directory, *names):
  directory.mkdir(parents=True, exist_ok=True)
  for name in names:
    (directory / name).write_bytes(b"")


def test_checkpoints_are_listed_by_step_from_their_index_files(tmp_path):
  ckpts = tmp_path / run_dir.CHECKPOINTS
  _touch(ckpts, "checkpoint", "ckpt-10.index", "ckpt-10.data-00000-of-00001", "ckpt-2.index",
         "ckpt-2.data-00000-of-00001", "ckpt-7.data-00000-of-00001",  # no .index: incomplete
         "ckpt-x.index", "other-3.index", "ckpt-3.index.tmp")
  expected = {2: str(ckpts / "ckpt-2"), 10: str(ckpts / "ckpt-10")}
  listed = run_dir.list_checkpoints(str(tmp_path))
  assert listed == expected and list(listed) == [2, 10]  # By step, not by name (10 < 2).
  assert run_dir.checkpoint_files(str(ckpts)) == expected
  assert run_dir.checkpoint_step(str(ckpts / "ckpt-10")) == 10
  assert run_dir.checkpoint_step(str(ckpts / "ckpt-10.index")) == -1
  assert run_dir.checkpoint_at(str(tmp_path)) == (10, str(ckpts / "ckpt-10"))
  assert run_dir.checkpoint_at(str(tmp_path), 2) == (2, str(ckpts / "ckpt-2"))
  with pytest.raises(run_dir.UsageError, match=r"No checkpoint for step 7 .*steps: \[2, 10\]"):
    run_dir.checkpoint_at(str(tmp_path), 7)


def test_a_run_without_checkpoints(tmp_path):
  assert run_dir.list_checkpoints(str(tmp_path)) == {}  # No checkpoints/ directory at all.
  _touch(tmp_path / run_dir.CHECKPOINTS, "checkpoint")
  assert run_dir.list_checkpoints(str(tmp_path)) == {}
  for call in (lambda: run_dir.list_checkpoints(str(tmp_path), required=True),
               lambda: run_dir.checkpoint_at(str(tmp_path), 5)):
    with pytest.raises(FileNotFoundError, match="No checkpoints in .*; train first"):
      call()


def test_local_paths_need_no_tensorflow(tmp_path):
  code = ("import sys; from compare_gan import run_dir; "
          f"run_dir.write_status({str(tmp_path)!r}, 'done', 1, 1); "
          f"run_dir.read_metrics({str(tmp_path)!r}); "
          f"run_dir.list_checkpoints({str(tmp_path)!r}); "
          "assert 'tensorflow' not in sys.modules, 'run_dir imported TensorFlow'")
  subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
