"""The gin manifest and the config check that runs before TensorFlow (compare_gan/registry.py)."""

import glob
import json
import os
import subprocess
import sys

import gin
import pytest

from compare_gan import cli
from compare_gan import registry

ROOT = os.path.join(os.path.dirname(__file__), "..")
RING8 = os.path.join(ROOT, "configs", "examples", "ring8_mlp.gin")


def test_committed_manifest_matches_the_live_registry():
  # A fresh process: tests register configurables of their own in this one.
  proc = subprocess.run([sys.executable, "-m", "compare_gan.registry"], capture_output=True,
                        text=True, timeout=300, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-2000:]
  live = json.loads(proc.stdout)
  committed = registry.load_manifest()
  assert committed is not None, "compare_gan/registry.json is missing"
  stale = sorted(set(live) ^ set(committed)) + sorted(
      s for s in set(live) & set(committed) if live[s] != committed[s])
  assert not stale, (f"compare_gan/registry.json is stale for {stale[:5]}; run "
                     "`python -m compare_gan.registry --write`")
  train = committed["compare_gan.training.loop.train"]
  assert "steps_per_loop" in train["params"] and "model_dir" not in train["params"]
  assert committed["tf.keras.optimizers.Adam"]["varkw"]


@pytest.mark.parametrize("binding, expected", [
    ("train.batchsize = 3", "Configurable 'train' doesn't have a parameter named 'batchsize'; "
                            "did you mean 'batch_size'?"),
    ("trian.batch_size = 3", "No configurable matching 'trian' (in 'trian.batch_size'); did "
                             "you mean 'train'?"),
    ("loss.fn = @hnge", "No configurable matching reference '@hnge'; did you mean 'hinge'"),
    ("ModularGAN.g_optimizer = @generator/tf.keras.optimizers.Adm()",
     "No configurable matching reference '@generator/tf.keras.optimizers.Adm'"),
    ("penalty.fn = [@no_penalty, {'a': @wgangp_penality}]",
     "No configurable matching reference '@wgangp_penality'"),
    ("train.mixed_precision = 'fp8'", "train.mixed_precision='fp8'; valid: None, 'float32'"),
    ("train.steps_per_loop = 0", "train.steps_per_loop=0 must be a positive integer."),
    ("train.training_steps = -1", "train.training_steps=-1 must be an integer >= 0."),
    ("train.budget_unit = 'epochs'", "train.budget_unit='epochs'; valid:"),
    ("train.strategy = 'horovod'", "Unknown strategy 'horovod'; valid: default, mirrored"),
])
def test_certain_errors_are_found_without_the_registry(binding, expected):
  problem = registry.check([RING8], [binding])
  assert problem is not None and problem.startswith(
      f"config error in --gin_bindings {binding!r}: "), problem
  assert expected in problem


@pytest.mark.parametrize("binding", [
    "G.width = 0.5",
    "generator/tf.keras.optimizers.Adam.learning_rate = 1e-3",
    "standardize_batch.use_cross_replica_mean = False",
    "ModularGAN.architecture = @resnet_cifar()",
    "z.distribution_fn = @tf.random.normal",
    "train.training_steps = 0",
    "train.strategy = %STRATEGY",     # a macro: its value is the full parse's business
    "STRATEGY = 'horovod'",           # a macro definition
    "import my_plugin.losses",        # may register new names: left to the full parse
    "loss.fn = @my_plugin_loss",      # ... only together with its import; alone it is an error
])
def test_valid_or_undecidable_configs_pass(binding):
  if binding == "loss.fn = @my_plugin_loss":
    assert registry.check([], [binding]) is not None
    assert registry.check([], ["import my_plugin.losses", binding]) is None
  else:
    assert registry.check([RING8], [binding]) is None


def test_a_bad_name_in_a_file_names_the_file(tmp_path):
  path = tmp_path / "bad.gin"
  path.write_text("train.batch_size = 8\n\nModularGAN.z_dimension = 64\n")
  problem = registry.check([str(path)], [])
  assert problem.startswith(f"config error in {path}: ") and "'z_dimension'" in problem
  assert "did you mean 'z_dim'?" in problem
  assert registry.check([str(tmp_path / "missing.gin")], []) is None  # The full parse says so.
  (tmp_path / "syntax.gin").write_text("train.batch_size = (8\n")
  assert registry.check([str(tmp_path / "syntax.gin")], []) is None


def test_every_shipped_training_config_passes():
  checked = 0
  for path in sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.gin"), recursive=True)):
    text = open(path, encoding="utf-8").read()
    if "study." in text:
      continue  # A study file (compare_gan sweep --study), not a training config.
    assert registry.check([path], []) is None, path
    checked += 1
  assert checked >= 20


def test_a_missing_or_broken_manifest_turns_the_check_off(tmp_path):
  assert registry.load_manifest(str(tmp_path / "none.json")) is None
  (tmp_path / "bad.json").write_text("{not json")
  assert registry.load_manifest(str(tmp_path / "bad.json")) is None
  assert registry.check([], ["trian.x = 1"], manifest={}) is None


def test_the_cli_reports_it_before_importing_tensorflow(tmp_path):
  code = ("import sys\n"
          "from compare_gan import cli\n"
          f"rc = cli.main(['train', '--model_dir', {str(tmp_path / 'run')!r}, '--gin_config', "
          f"{RING8!r}, '--gin_bindings', 'train.batchsize = 3'])\n"
          "print('rc', rc, 'tensorflow' in sys.modules)\n")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        timeout=120, cwd=ROOT)
  assert proc.stdout.strip() == "rc 2 False", proc.stdout + proc.stderr
  assert proc.stderr.strip().splitlines() == [
      "compare_gan train: config error in --gin_bindings 'train.batchsize = 3': Configurable "
      "'train' doesn't have a parameter named 'batchsize'; did you mean 'batch_size'?"]
  assert not (tmp_path / "run").exists()


def test_with_tensorflow_loaded_the_full_parse_reports_the_same_errors(tmp_path, capsys):
  # In process, TensorFlow is loaded: the CLI skips the check and gin itself refuses the
  # binding, also with exit status 2.
  gin.clear_config()
  assert cli.main(["train", "--model_dir", str(tmp_path / "run"), "--gin_config", RING8,
                   "--gin_bindings", "train.batchsize = 3"]) == 2
  err = capsys.readouterr().err
  assert "doesn't have a parameter named 'batchsize'" in err
  gin.clear_config()
