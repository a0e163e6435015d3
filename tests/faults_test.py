"""Fault injection (README "Failure behaviour and security"): every expected failure of
`compare_gan` is one line on stderr with the right exit status, never a traceback or a hang, and
no fault loses a run.

Cheap cases run `cli.main` in this process; the signal and hang cases run the real command in
a subprocess, with a timeout, so a hang fails the test instead of blocking it.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from compare_gan import cli
from compare_gan import run_dir
from compare_gan import runner
from compare_gan.training import checkpoints as checkpoints_lib

ROOT = os.path.join(os.path.dirname(__file__), "..")
RING8 = os.path.join(ROOT, "configs", "examples", "ring8_mlp.gin")
TINY = ["train.batch_size = 16", "train.training_steps = 4", "train.save_checkpoints_steps = 2",
        "train.log_every_steps = 2", "train.summary_every_steps = 2",
        "train.image_summary_every_steps = 1000", "ModularGAN.z_dim = 4", "G.width = 0.0625", "D.width = 0.0625",
        "evaluation.metrics = [@mode_metrics()]", "evaluation.num_fake = 64",
        "evaluation.num_averaging_runs = 1"]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _argv(command, model_dir, *bindings, config=RING8):
  argv = [command, "--model_dir", str(model_dir), "--gin_config", config]
  for binding in TINY + list(bindings):
    argv += ["--gin_bindings", binding]
  return argv


def _one_line(capsys, *expected):
  """The command's stderr is exactly one line, `compare_gan <command>: ...`, holding every
  `expected` text; returns it."""
  lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
  assert len(lines) == 1, lines
  assert lines[0].startswith("compare_gan "), lines[0]
  assert "Traceback" not in lines[0]
  for text in expected:
    assert text in lines[0], (text, lines[0])
  return lines[0]


def _status(model_dir):
  with open(os.path.join(model_dir, run_dir.STATUS)) as f:
    return json.load(f)


def _files(model_dir):
  """{relative path: bytes} of every file of a run (to show that a refused command kept it)."""
  out = {}
  for root, _, names in os.walk(model_dir):
    for name in names:
      if name == run_dir.TRAIN_LOCK:
        continue
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, model_dir)] = f.read()
  return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny ring8 run trained to step 4 (checkpoints 2 and 4); tests copy it before harming it."""
  model_dir = tmp_path_factory.mktemp("faults") / "run"
  assert cli.main(_argv("train", model_dir)) == 0
  return model_dir


@pytest.fixture
def run(trained, tmp_path):
  import shutil
  copy = tmp_path / "run"
  shutil.copytree(trained, copy)
  return copy


# ----------------------------------------------------------------------------------------------
# Configs and command lines: exit 2, one line naming the file or value
# ----------------------------------------------------------------------------------------------

def test_unclosed_bracket_names_the_file(tmp_path, capsys):
  bad = tmp_path / "bad.gin"
  bad.write_text("train.batch_size = 16\nevaluation.metrics = [@mode_metrics()\n")
  assert cli.main(["train", "--model_dir", str(tmp_path / "r"), "--gin_config", str(bad)]) == 2
  _one_line(capsys, str(bad), "not closed")
  assert cli.main(_argv("train", tmp_path / "r", "train.seed = (1")) == 2
  _one_line(capsys, "--gin_bindings 'train.seed = (1'", "not closed")
  assert not (tmp_path / "r").exists()


def test_missing_required_binding_is_a_config_error(tmp_path, capsys):
  config = tmp_path / "c.gin"
  config.write_text("dataset.name = 'ring8'\nModularGAN.architecture = @mlp()\n")
  assert cli.main(["train", "--model_dir", str(tmp_path / "r"), "--gin_config", str(config)]) == 2
  _one_line(capsys, "train.training_steps must be set")


def test_bad_value_is_a_config_error(tmp_path, capsys):
  assert cli.main(_argv("train", tmp_path / "r", "train.batch_size = 0")) == 2
  _one_line(capsys, "train.batch_size=0")


def test_model_dir_that_is_a_file(tmp_path, capsys):
  path = tmp_path / "file"
  path.write_text("mine")
  assert cli.main(_argv("train", path)) == 2
  _one_line(capsys, str(path), "is a file")
  assert cli.main(["eval", "--model_dir", str(path)]) == 2
  _one_line(capsys, str(path), "is a file")
  assert path.read_text() == "mine"


def test_eval_out_that_is_a_directory(tmp_path, capsys):
  assert cli.main(["eval", "--module", str(tmp_path), "--dataset", "ring8",
                   "--out", str(tmp_path)]) == 2
  _one_line(capsys, "--out", "is a directory")


def test_changed_batch_size_on_resume_is_refused_and_keeps_the_config(run, capsys):
  before = (run / run_dir.CONFIG).read_text()
  assert cli.main(_argv("train", run, "train.batch_size = 8", "train.training_steps = 6")) == 2
  _one_line(capsys, "cannot resume", "train.batch_size=8", "new --model_dir")
  assert (run / run_dir.CONFIG).read_text() == before
  assert not (run / run_dir.PREVIOUS_CONFIG).exists()


def test_debug_mode_adds_the_traceback(tmp_path, capsys, monkeypatch):
  monkeypatch.setenv("COMPARE_GAN_DEBUG", "1")
  assert cli.main(_argv("train", tmp_path / "r", "train.batch_size = 0")) == 2
  err = capsys.readouterr().err
  assert "Traceback" in err and err.strip().splitlines()[-1].startswith("compare_gan train:")


# ----------------------------------------------------------------------------------------------
# Runtime failures: exit 1, one line, the run kept
# ----------------------------------------------------------------------------------------------

def test_every_checkpoint_unreadable(run, capsys):
  for name in os.listdir(run / "checkpoints"):
    if ".data-" in name:
      (run / "checkpoints" / name).write_bytes(b"garbage")
  assert cli.main(_argv("train", run, "train.training_steps = 6")) == 1
  _one_line(capsys, "none of the 2 checkpoints", "restore a backup")
  assert _status(run)["state"] == "failed"
  assert sorted(checkpoints_lib.list_checkpoints(str(run))) == [2, 4]


def test_read_only_model_dir(tmp_path, capsys, monkeypatch):
  # Tests may run as root, whom permissions do not stop: the file system's answer is injected.
  model_dir = tmp_path / "ro"
  write = run_dir.write_atomically

  def read_only(path, content):
    if str(path).startswith(str(model_dir)):
      raise OSError(errno.EROFS, "Read-only file system", str(path))
    write(path, content)
  monkeypatch.setattr(run_dir, "write_atomically", read_only)
  assert cli.main(_argv("train", model_dir)) == 1
  _one_line(capsys, str(model_dir), "Read-only file system", "choose another directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root is not stopped by file permissions")
def test_unwritable_model_dir_for_real(tmp_path, capsys):
  parent = tmp_path / "locked"
  parent.mkdir()
  parent.chmod(0o500)
  try:
    assert cli.main(_argv("train", parent / "run")) == 1
    _one_line(capsys, str(parent / "run"), "Permission denied")
  finally:
    parent.chmod(0o700)


def test_full_disk_keeps_the_checkpoints(run, capsys, monkeypatch):
  def full(self, step):
    raise tf.errors.ResourceExhaustedError(
        None, None, f"{self.directory}/ckpt-{step}_temp/part-00000; No space left on device")
  monkeypatch.setattr(checkpoints_lib.Checkpoints, "save", full)
  assert cli.main(_argv("train", run, "train.training_steps = 6")) == 1
  _one_line(capsys, "No space left on device", "free space and rerun")
  assert sorted(checkpoints_lib.list_checkpoints(str(run))) == [2, 4]
  assert _status(run)["state"] == "failed"


def test_corrupt_status_json_does_not_hide_the_error(run, capsys, monkeypatch):
  (run / run_dir.STATUS).write_text("{ not json")

  def full(self, step):
    raise OSError(errno.ENOSPC, "No space left on device", self.directory)
  monkeypatch.setattr(checkpoints_lib.Checkpoints, "save", full)
  assert cli.main(_argv("train", run, "train.training_steps = 6")) == 1
  _one_line(capsys, "No space left on device")
  assert _status(run)["state"] == "failed"  # Rewritten whole.


def test_continuous_eval_follows_a_corrupt_status_json(run):
  (run / run_dir.STATUS).write_text("{ not json")
  for name in os.listdir(run / "checkpoints"):
    os.remove(run / "checkpoints" / name)
  log = []
  start = time.time()
  assert runner.continuous_eval(str(run), poll_seconds=0.05, timeout_seconds=0.3,
                                log=log.append) == 0
  assert time.time() - start < 30 and "no new checkpoint" in log[-1]


def test_divergence_without_checkpoints_says_so(tmp_path, capsys):
  assert cli.main(_argv("train", tmp_path / "r", "tf.keras.optimizers.Adam.learning_rate = 1e30",
                        "train.training_steps = 50", "train.save_checkpoints_steps = 50")) == 3
  out, err = capsys.readouterr()
  assert "no checkpoint was written before it" in out or "diverged" in err
  assert _status(tmp_path / "r")["state"] == "diverged"


# ----------------------------------------------------------------------------------------------
# One trainer per run directory
# ----------------------------------------------------------------------------------------------

def test_second_trainer_is_refused_and_changes_nothing(run, capsys):
  before = _files(run)
  holder = run_dir.run_lock(str(run))
  holder.acquire()
  try:
    assert cli.main(_argv("train", run, "train.training_steps = 6")) == 1
    line = _one_line(capsys, "in use by another `compare_gan train`", f"pid {os.getpid()}",
                     "another --model_dir")
    assert str(run) in line
    assert _files(run) == before  # Neither config.gin, status.json nor a checkpoint touched.
    # eval reads without the lock.
    assert cli.main(["eval", "--model_dir", str(run), "--step", "4"]) == 0
  finally:
    holder.release()
  assert cli.main(_argv("train", run, "train.training_steps = 6")) == 0


def test_a_killed_trainers_lock_is_not_in_the_way(run):
  code = ("import sys, time; from compare_gan import run_dir; "
          f"run_dir.run_lock({str(run)!r}).acquire(); print('locked', flush=True); "
          "time.sleep(600)")
  proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=ENV)
  try:
    assert proc.stdout.readline().strip() == b"locked"
    with pytest.raises(run_dir.Busy, match=f"pid {proc.pid}"):
      run_dir.run_lock(str(run)).acquire()
  finally:
    proc.kill()
    proc.wait(timeout=30)
  lock = run_dir.run_lock(str(run))
  lock.acquire()
  lock.release()


def test_remote_lock_detects_a_live_holder_and_takes_a_stale_one(tmp_path, monkeypatch):
  # gs:// has no flock: the lock is a file with a heartbeat. Local paths stand in for it here.
  monkeypatch.setattr(run_dir, "is_remote", lambda path: True)
  monkeypatch.setattr(run_dir.time, "sleep", lambda s: None)
  first = run_dir.DirectoryLock(str(tmp_path), "train.lock", "trainer", "wait.", stale_s=60)
  first.acquire()
  second = run_dir.DirectoryLock(str(tmp_path), "train.lock", "trainer", "wait.", stale_s=60)
  with pytest.raises(run_dir.Busy, match="last heartbeat"):
    second.acquire()
  first._stop.set()  # The holder dies without releasing: its heartbeat ages.
  path = tmp_path / "train.lock"
  content = json.loads(path.read_text())
  content.update(heartbeat="2000-01-01T00:00:00+00:00", pid=2 ** 22 + 7, host="elsewhere")
  path.write_text(json.dumps(content))
  second.acquire()
  assert json.loads(path.read_text())["token"] == second._me["token"]
  second.release()
  assert not path.exists()


# ----------------------------------------------------------------------------------------------
# Signals: status.json says `interrupted`, exit 130 / 143, one line
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig, code, words", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                              (signal.SIGINT, 130, "interrupted (Ctrl-C)")])
def test_signal_during_training(tmp_path, sig, code, words):
  model_dir = tmp_path / "run"
  argv = _argv("train", model_dir, "train.training_steps = 1000000",
               "train.save_checkpoints_steps = 5", "train.log_every_steps = 1000000")
  proc = subprocess.Popen([sys.executable, "-m", "compare_gan"] + argv, env=ENV,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None:
    status = (run_dir.read_status(str(model_dir)) or {})
    if status.get("step", 0) >= 5:
      break
    time.sleep(0.05)
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=120)
  lines = err.decode().strip().splitlines()
  assert proc.returncode == code, err.decode()
  assert lines == [f"compare_gan train: {words}"], lines
  status = _status(model_dir)
  assert status["state"] == "interrupted" and status["step"] >= 5
  lock = run_dir.run_lock(str(model_dir))  # Released: acquiring it works.
  lock.acquire()
  lock.release()


# ----------------------------------------------------------------------------------------------
# Checkpoint bookkeeping and evaluation records
# ----------------------------------------------------------------------------------------------

def test_pruning_continues_after_a_corrupt_checkpoint_state_file(run, capsys):
  (run / "checkpoints" / "checkpoint").write_text("this is not a text proto {{{")
  assert cli.main(_argv("train", run, "train.training_steps = 8",
                        "train.keep_checkpoint_max = 2")) == 0
  assert sorted(checkpoints_lib.list_checkpoints(str(run))) == [6, 8]


def test_eval_all_scores_a_metric_added_to_the_protocol(run, capsys):
  assert cli.main(["eval", "--model_dir", str(run), "--all"]) == 0
  assert {(r["step"], r["metric"]) for r in run_dir.read_metrics(str(run))} >= {
      (2, "modes_covered"), (4, "modes_covered")}
  assert cli.main(["eval", "--model_dir", str(run), "--all"]) == 0
  assert "nothing to evaluate" in capsys.readouterr().out
  # A metric added later: every checkpoint lacks it, so every one is scored again.
  assert cli.main(["eval", "--model_dir", str(run), "--all", "--gin_bindings",
                   "evaluation.metrics = [@mode_metrics(), @sliced_wasserstein()]",
                   "--gin_bindings", "sliced_wasserstein.num_projections = 4"]) == 0
  metrics = {(r["step"], r["metric"]) for r in run_dir.read_metrics(str(run))}
  assert {(2, "swd_pixels"), (4, "swd_pixels")} <= metrics
  # A changed protocol (more fake samples) is another protocol: scored again too.
  before = len(run_dir.read_metrics(str(run)))
  assert cli.main(["eval", "--model_dir", str(run), "--all", "--num_fake", "32"]) == 0
  assert len(run_dir.read_metrics(str(run))) > before
  assert np.isfinite([r["value"] for r in run_dir.read_metrics(str(run))
                      if r["value"] is not None]).all()


# ----------------------------------------------------------------------------------------------
# A bad input file ends the process with its name (it used to hang after status `failed`)
# ----------------------------------------------------------------------------------------------

def test_truncated_image_ends_training_with_its_name(tmp_path):
  from PIL import Image
  folder = tmp_path / "images"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for i in range(12):
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
  bad = folder / "05.png"
  bad.write_bytes(bad.read_bytes()[:60])  # A valid PNG signature, then nothing.
  config = tmp_path / "c.gin"
  config.write_text(f"dataset.name = 'image_folder'\nimage_folder.path = '{folder}'\n"
                    "image_folder.resolution = 8\nimage_folder.eval_fraction = 0.0\n"
                    "ModularGAN.architecture = @mlp()\n")
  model_dir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, "-m", "compare_gan", "train", "--model_dir", str(model_dir),
       "--gin_config", str(config), "--gin_bindings", "train.batch_size = 4",
       "--gin_bindings", "train.training_steps = 20"],
      env=ENV, capture_output=True, timeout=180)
  lines = proc.stderr.decode().strip().splitlines()
  assert proc.returncode == 1, proc.stderr.decode()
  assert len(lines) == 1 and str(bad) in lines[0] and "truncated or corrupt" in lines[0], lines
  status = _status(model_dir)
  assert status["state"] == "failed" and str(bad) in status["message"]


def test_unclosed_bracket_in_a_study_or_its_base_config_names_the_file(tmp_path, capsys):
  study = tmp_path / "study.gin"
  study.write_text(f"study.name = 'x'\nstudy.base_configs = ['{RING8}'\n")
  assert cli.main(["sweep", "--workdir", str(tmp_path / "w1"), "--study", str(study)]) == 2
  _one_line(capsys, str(study), "not closed")
  base = tmp_path / "base.gin"
  base.write_text("train.batch_size = (16\n")
  study.write_text(f"study.name = 'x'\nstudy.base_configs = ['{base}']\n"
                   "study.objective = 'swd_pixels'\n")
  assert cli.main(["sweep", "--workdir", str(tmp_path / "w2"), "--study", str(study)]) == 2
  _one_line(capsys, str(base), "not closed")
