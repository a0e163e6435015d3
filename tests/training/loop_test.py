"""`compare_gan train` end to end, in process, on the built-in triangles at a tiny width:
the run-directory contract, resume, divergence, corrupt checkpoints and clear errors."""

import glob
import json
import os

import gin
import numpy as np
import pytest
import tensorflow as tf

from compare_gan import cli
from compare_gan import config
from compare_gan import run_dir as run_dir_lib
from compare_gan.training import checkpoints as checkpoints_lib

TRIANGLES = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "examples",
                         "triangles_sndcgan.gin")
TINY = ["G.width = 0.0625", "D.width = 0.0625", "ModularGAN.z_dim = 8", "train.batch_size = 8",
        "train.log_every_steps = 1", "train.summary_every_steps = 1",
        "train.image_summary_every_steps = 2", "train.save_checkpoints_steps = 2"]


@gin.register(module="loop_test")
def nan_loss(d_real_logits, d_fake_logits):
  """A loss that is NaN from the first step (to test the divergence guard)."""
  from compare_gan.gans import losses
  result = losses.non_saturating(d_real_logits, d_fake_logits)
  nan = tf.fill(tf.shape(result.d_loss), float("nan"))
  return losses.LossResult(result.d_loss + nan, result.d_loss_real, result.d_loss_fake,
                           result.g_loss)


def _train(model_dir, steps, *extra, config=TRIANGLES):
  gin.clear_config()
  argv = ["train", "--model_dir", str(model_dir), "--gin_config", config]
  for binding in TINY + [f"train.training_steps = {steps}"] + list(extra):
    argv += ["--gin_bindings", binding]
  return cli.main(argv)


def _status(model_dir):
  with open(os.path.join(model_dir, "status.json")) as f:
    return json.load(f)


def _tb_tags(model_dir):
  tags = set()
  for path in glob.glob(os.path.join(model_dir, "tb", "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        tags.add(value.tag)
  return tags


def test_run_directory_contract_and_resume(tmp_path, capsys):
  model_dir = tmp_path / "run"
  assert _train(model_dir, 4) == 0
  out = capsys.readouterr().out
  assert "step 4/4 (100.0%)" in out and "steps/s" in out and "img/s" in out and "ETA" in out
  assert sorted(os.listdir(model_dir)) == ["checkpoints", "config.gin", "operative_config.gin",
                                           "status.json", "tb", "train.lock"]
  config = (model_dir / "config.gin").read_text()
  assert "dataset.name = 'triangles'" in config and "train.training_steps = 4" in config
  operative = (model_dir / "operative_config.gin").read_text()
  assert "ModularGAN.architecture = @sndcgan()" in operative
  assert "train.batch_size = 8" in operative
  assert sorted(os.path.basename(p) for p in glob.glob(str(model_dir / "checkpoints" / "*.index"))
                ) == ["ckpt-2.index", "ckpt-4.index"]
  status = _status(model_dir)
  assert status["state"] == "done" and status["step"] == 4 and status["training_steps"] == 4
  tags = _tb_tags(model_dir)
  for tag in ("loss/d", "loss/g", "loss/d_real", "loss/d_fake", "loss/penalty",
              "d/real_logits", "d/fake_logits", "speed/steps_per_sec", "samples", "real"):
    assert tag in tags, tag

  # The saved config alone reproduces the run's settings.
  gin.clear_config()
  assert cli.main(["train", "--model_dir", str(tmp_path / "again"), "--gin_config",
                   str(model_dir / "config.gin"), "--dry_run"]) == 0
  assert not (tmp_path / "again").exists()  # a dry run writes nothing

  # Re-running a finished run does nothing; raising training_steps continues it.
  assert _train(model_dir, 4) == 0
  assert "already trained" in capsys.readouterr().out
  assert _train(model_dir, 6) == 0
  out = capsys.readouterr().out
  assert "resumed from" in out and "ckpt-4" in out and "at step 4 of 6" in out
  assert _status(model_dir)["step"] == 6
  assert (model_dir / "config.previous.gin").exists()  # training_steps changed


def test_divergence_stops_the_run_and_keeps_checkpoints(tmp_path, capsys):
  model_dir = tmp_path / "run"
  assert _train(model_dir, 4) == 0
  checkpoint_files = {p: open(p, "rb").read() for p in glob.glob(
      str(model_dir / "checkpoints" / "ckpt-*"))}
  assert _train(model_dir, 8, "loss.fn = @loop_test.nan_loss") == 3
  captured = capsys.readouterr()
  assert "diverged at step 5" in captured.err
  status = _status(model_dir)
  assert status["state"] == "diverged" and status["step"] == 5
  assert "d_loss" in status["message"] and status["losses"]["d_loss"] == "nan"
  # The earlier checkpoints are untouched and still restore.
  assert {p: open(p, "rb").read() for p in checkpoint_files} == checkpoint_files
  assert not glob.glob(str(model_dir / "checkpoints" / "ckpt-5*"))
  assert _train(model_dir, 6) == 0  # and the run can continue under a sane loss
  assert "resumed from" in capsys.readouterr().out and _status(model_dir)["state"] == "done"


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
  model_dir = tmp_path / "run"
  assert _train(model_dir, 4) == 0
  data = glob.glob(str(model_dir / "checkpoints" / "ckpt-4.data-*"))[0]
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  assert _train(model_dir, 6) == 0
  out = capsys.readouterr().out
  assert "ckpt-4 is corrupt" in out and "restored" in out and "at step 2 of 6" in out
  assert _status(model_dir)["step"] == 6


def test_all_checkpoints_corrupt_is_an_error_not_a_restart(tmp_path, capsys):
  model_dir = tmp_path / "run"
  assert _train(model_dir, 2, "train.keep_checkpoint_max = 1") == 0
  for path in glob.glob(str(model_dir / "checkpoints" / "ckpt-*.data-*")):
    with open(path, "wb") as f:
      f.write(b"garbage")
  assert _train(model_dir, 4) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "none of the 1 checkpoints" in err[0] and "restore a backup" in err[0]
  assert _status(model_dir)["state"] == "failed"


def test_unreadable_checkpoint_state_file_is_moved_aside(tmp_path, capsys):
  model_dir = tmp_path / "run"
  assert _train(model_dir, 2) == 0
  (model_dir / "checkpoints" / "checkpoint").write_text("this is not a text proto {{{")
  assert _train(model_dir, 4) == 0
  out = capsys.readouterr().out
  assert "unreadable" in out and "at step 2 of 4" in out
  assert (model_dir / "checkpoints" / "checkpoint.corrupt").exists()


def test_restore_candidates_are_newest_first(tmp_path):
  v = tf.Variable(1.0)
  ckpt = tf.train.Checkpoint(v=v)
  manager = checkpoints_lib.Checkpoints(ckpt, str(tmp_path), max_to_keep=3, log=lambda m: None)
  for step in (5, 10, 15):
    v.assign(float(step))
    manager.save(step)
  assert [os.path.basename(p) for p in manager.candidates()] == ["ckpt-15", "ckpt-10", "ckpt-5"]
  v.assign(0.0)
  assert manager.restore_latest().endswith("ckpt-15") and v.numpy() == 15.0
  with pytest.raises(ValueError, match="keep_checkpoint_max"):
    checkpoints_lib.Checkpoints(ckpt, str(tmp_path), max_to_keep=0)


def test_unknown_gin_binding_is_a_usage_error(tmp_path, capsys):
  assert _train(tmp_path / "run", 2, "train.batchsize = 3") == 2
  err = capsys.readouterr().err
  assert "config error" in err and "batchsize" in err
  assert _train(tmp_path / "run", 2, "loss.fn = @hnge") == 2
  assert "hnge" in capsys.readouterr().err
  gin.clear_config()
  assert cli.main(["train", "--model_dir", str(tmp_path / "run"), "--gin_config",
                   str(tmp_path / "missing.gin")]) == 2
  assert "missing.gin" in capsys.readouterr().err
  assert not (tmp_path / "run").exists()


def test_wrong_image_shape_is_a_clear_error(tmp_path, capsys):
  # ResNet-CIFAR needs a resolution divisible by 8; triangles are 28x28.
  assert _train(tmp_path / "run", 2, "ModularGAN.architecture = @resnet_cifar()") == 1
  err = capsys.readouterr().err
  assert "28" in err and "resnet_cifar" in err
  status = _status(tmp_path / "run")
  assert status["state"] == "failed" and "28" in status["message"]


def test_missing_dataset_says_how_to_prepare_it(tmp_path, capsys):
  empty = tmp_path / "tfds"
  empty.mkdir()
  assert _train(tmp_path / "run", 2, "dataset.name = 'cifar10'",
                f"dataset.tfds_data_dir = '{empty}'") == 1
  err = capsys.readouterr().err
  assert "cifar10" in err and str(empty) in err and "tfds build" in err


def test_invalid_settings_name_the_value(tmp_path, capsys):
  assert _train(tmp_path / "a", 2, "train.batch_size = 0") == 2
  assert "train.batch_size=0" in capsys.readouterr().err
  assert _train(tmp_path / "b", 2, "train.mixed_precision = 'float8'") == 2
  assert "float8" in capsys.readouterr().err
  assert _train(tmp_path / "c", 2, "train.strategy = 'horovod'") == 2
  err = capsys.readouterr().err
  assert "horovod" in err and "mirrored" in err


def test_samples_are_images_in_unit_range(tmp_path):
  from compare_gan.training import loop
  gin.clear_config()
  config.parse_gin([TRIANGLES], TINY + ["train.training_steps = 1"])
  result = loop.train(str(tmp_path / "run"), log=lambda m: None)
  images = result.model.sample(tf.random.uniform([3, 8], -1, 1)).numpy()
  assert images.shape == (3, 28, 28, 1)
  assert np.all(images >= 0) and np.all(images <= 1)


def test_budget_in_discriminator_updates_as_v1(tmp_path, capsys):
  # 9 D updates, a checkpoint every 4, at 2 per step: ceil(9/2) = 5 steps, every ceil(4/2) = 2.
  model_dir = tmp_path / "run"
  assert _train(model_dir, 9, "train.budget_unit = 'discriminator_updates'",
                "ModularGAN.disc_iters = 2", "train.save_checkpoints_steps = 4") == 0
  assert "budget: 9 D updates, a checkpoint every 4, at 2 per ModularGAN step: 5 steps, a " \
         "checkpoint every 2" in capsys.readouterr().out
  assert sorted(checkpoints_lib.list_checkpoints(str(model_dir))) == [2, 4, 5]
  assert _status(model_dir)["step"] == 5
  assert _train(tmp_path / "bad", 2, "train.budget_unit = 'epochs'") == 2
  assert "train.budget_unit='epochs'" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Device loops (train.steps_per_loop)
# ----------------------------------------------------------------------------------------------

_LOSS_CALLS = tf.Variable(0, dtype=tf.int64, trainable=False)
_NAN_FROM_CALL = tf.Variable(0, dtype=tf.int64, trainable=False)


@gin.register(module="loop_test")
def nan_from_call(d_real_logits, d_fake_logits):
  """The non-saturating loss, NaN from the `_NAN_FROM_CALL`-th call on (ModularGAN with
  disc_iters = 1 calls it twice per step: D, then G), to diverge in the middle of a loop."""
  from compare_gan.gans import losses
  result = losses.non_saturating(d_real_logits, d_fake_logits)
  calls = _LOSS_CALLS.assign_add(1)
  bad = tf.cast(calls >= _NAN_FROM_CALL, tf.float32) * float("nan")
  bad = tf.where(calls >= _NAN_FROM_CALL, bad, 0.0)
  return losses.LossResult(result.d_loss + bad, result.d_loss_real, result.d_loss_fake,
                           result.g_loss + bad)


# Loops end only where the run ends or checkpoints; every summary and log far away.
_QUIET = ["train.log_every_steps = 1000", "train.summary_every_steps = 1000",
          "train.image_summary_every_steps = 1000", "ModularGAN.disc_iters = 1"]


def test_device_loops_give_bit_identical_weights(tmp_path, monkeypatch):
  from compare_gan.training import loop
  monkeypatch.setattr(loop, "LOOP_SECONDS", 1e9)  # Loops as long as steps_per_loop allows.
  runs = {}
  for steps_per_loop in (1, 50):
    model_dir = tmp_path / f"spl{steps_per_loop}"
    assert _train(model_dir, 12, *_QUIET, "train.save_checkpoints_steps = 12",
                  "ModularGAN.g_use_ema = True", "ModularGAN.ema_start_step = 3",
                  f"train.steps_per_loop = {steps_per_loop}") == 0
    reader = tf.train.load_checkpoint(str(model_dir / "checkpoints" / "ckpt-12"))
    runs[steps_per_loop] = {name: reader.get_tensor(name)
                            for name in reader.get_variable_to_shape_map()
                            if "OBJECT_GRAPH" not in name}
  assert sorted(runs[1]) == sorted(runs[50]) and len(runs[1]) > 20
  for name, value in runs[1].items():
    np.testing.assert_array_equal(runs[50][name], value, err_msg=name)


def test_device_loop_stops_at_the_diverged_step(tmp_path, capsys, monkeypatch):
  from compare_gan.training import loop
  monkeypatch.setattr(loop, "LOOP_SECONDS", 1e9)
  for steps_per_loop in (1, 50):
    _LOSS_CALLS.assign(0)
    _NAN_FROM_CALL.assign(2 * 7 - 1)  # The D update of step 7.
    model_dir = tmp_path / f"spl{steps_per_loop}"
    assert _train(model_dir, 20, *_QUIET, "train.save_checkpoints_steps = 5",
                  "loss.fn = @loop_test.nan_from_call",
                  f"train.steps_per_loop = {steps_per_loop}") == 3
    assert "diverged at step 7" in capsys.readouterr().err
    status = _status(model_dir)
    assert status["state"] == "diverged" and status["step"] == 7, status
    assert sorted(checkpoints_lib.list_checkpoints(str(model_dir))) == [5]
  assert _train(tmp_path / "bad", 2, "train.steps_per_loop = 0") == 2
  assert "train.steps_per_loop=0" in capsys.readouterr().err


def _tb_scalars(model_dir, tag):
  values = {}
  for path in glob.glob(os.path.join(model_dir, "tb", "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor)) if value.HasField(
              "tensor") else value.simple_value
  return values


def test_whole_step_xla_on_one_device_trains_like_the_plain_step(tmp_path):
  # train.jit_compile on one device compiles the whole replica step (gradients, optimizer
  # apply, EMA, BN statistics, SN vectors) as one XLA cluster. XLA's CPU kernels use faster
  # approximations of exp and log, so the first step's losses (before any update) agree to
  # ~2e-4, not bit for bit.
  extra = ["ModularGAN.g_use_ema = True", "ModularGAN.ema_start_step = 1"]
  assert _train(tmp_path / "plain", 2, *extra) == 0
  assert _train(tmp_path / "xla", 2, *extra, "train.jit_compile = True") == 0
  assert _status(tmp_path / "xla")["state"] == "done"
  for tag in ("loss/d", "loss/g"):
    plain, xla = _tb_scalars(tmp_path / "plain", tag), _tb_scalars(tmp_path / "xla", tag)
    assert sorted(xla) == [1, 2]
    np.testing.assert_allclose(xla[1], plain[1], rtol=1e-3, err_msg=tag)
    assert all(np.isfinite(v) for v in xla.values())
