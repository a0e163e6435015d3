"""The composition root (compare_gan/config.py): component loading, the catalogue, parsing."""

import os
import re
import subprocess
import sys

import pytest

from compare_gan import config

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "compare_gan")
# Registrations of gin configurables (study.* lives in the sweep's own isolated gin state).
REGISTERS = re.compile(r"gin\.(configurable|register|external_configurable)\(")
NOT_COMPONENTS = {"compare_gan.sweep.study_file", "compare_gan.sweep.study"}


def test_component_modules_cover_every_registering_module():
  config.load_components()
  missing = []
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      path = os.path.join(root, name)
      if not name.endswith(".py") or not REGISTERS.search(open(path).read()):
        continue
      rel = os.path.relpath(path, os.path.join(PACKAGE, ".."))[:-3].replace(os.sep, ".")
      module = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel
      if module not in sys.modules and module not in NOT_COMPONENTS:
        missing.append(module)
  assert not missing, f"add these to config.COMPONENT_MODULES: {missing}"


def test_catalogue_has_every_section_in_order():
  titles = list(config.catalogue())
  assert [t.split(" ")[0] for t in titles] == list(config.SECTIONS)
  entries = {name for section in config.catalogue().values() for name, _ in section}
  for name in ("@hinge", "@wgangp_penalty", "@batch_norm", "@sndcgan()",
               "@tf.keras.optimizers.Adam", "@tf.random.normal", "'triangles'", "@fid_score()"):
    assert name in entries


def test_unknown_catalogue_section_is_refused():
  with pytest.raises(ValueError, match="valid: losses, penalties"):
    config.register_catalogue("schedulers", "schedulers", lambda: [])


def test_parse_command_config_names_the_command_and_the_problem(tmp_path):
  with pytest.raises(config.ConfigError, match=r"compare_gan eval: config error in --gin_bindings .*hnge"):
    config.parse_command_config("eval", [], ["loss.fn = @hnge"])
  with pytest.raises(config.ConfigError, match="does not exist"):
    config.parse_command_config("train", [str(tmp_path / "missing.gin")], [])
  text = config.parse_command_config("train", [], ["dataset.name = 'triangles'"],
                                     tfds_data_dir=str(tmp_path))
  assert f"dataset.tfds_data_dir = {str(tmp_path)!r}" in text


def test_importing_config_loads_no_component():
  code = ("import sys; from compare_gan import config; "
          "assert 'tensorflow' not in sys.modules and 'gin' not in sys.modules")
  subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
