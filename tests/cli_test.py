"""The `compare_gan` console script and `python -m compare_gan`."""

import os
import subprocess
import sys

import pytest

from compare_gan import cli
from compare_gan import config


def test_components_lists_every_registered_name(capsys):
  assert cli.main(["components"]) == 0
  printed = capsys.readouterr().out
  for entries in config.catalogue().values():
    for name, _ in entries:
      assert name in printed
  for name in ("@hinge", "@wgangp_penalty", "@conditional_batch_norm", "@resnet19()",
               "@tf.keras.optimizers.Adam"):
    assert name in printed


def test_module_entry_point_and_usage_error():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  ok = subprocess.run([sys.executable, "-m", "compare_gan", "components"], capture_output=True,
                      text=True, env=env, timeout=300)
  assert ok.returncode == 0, ok.stderr[-2000:]
  assert "@sndcgan()" in ok.stdout
  bad = subprocess.run([sys.executable, "-m", "compare_gan", "trian"], capture_output=True,
                       text=True, env=env, timeout=300)
  assert bad.returncode == 2
  assert "trian" in bad.stderr and "components" in bad.stderr


@pytest.mark.parametrize("command", [[], ["train"], ["eval"], ["export"], ["sample"], ["sweep"],
                                     ["report"], ["cluster"], ["components"]])
def test_every_command_prints_its_help(command, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(command + ["--help"])
  assert exit_info.value.code == 0
  out = capsys.readouterr().out
  assert out.startswith("usage: compare_gan")
  if not command:
    for name in ("train", "eval", "export", "sample", "sweep", "report", "cluster",
                 "components"):
      assert name in out
