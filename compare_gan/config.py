"""The composition root: gin parsing of config files and bindings, and the component catalogue.

Every command and the sweep parse configs here, so they all see the same registered names.
Nothing in this module imports a component: the modules that register gin configurables are
named in `COMPONENT_MODULES` and imported on first parse (so `compare_gan --help` and the sweep
driver start without TensorFlow), and each of them adds its section to the catalogue
(`compare_gan components`) with `register_catalogue`.
"""

import importlib
import inspect
import os
from typing import Callable, Dict, Iterable, List, Optional, Tuple

# The modules whose import registers every gin configurable (each imports what it builds on:
# modular_gan the losses, penalties and latents; evaluate the protocol and metric tasks).
# tests/config_test.py checks that no registering module is missing.
COMPONENT_MODULES = (
    "compare_gan.gin_externals",
    "compare_gan.architectures",
    "compare_gan.gans.modular_gan",
    "compare_gan.data",
    "compare_gan.training.loop",
    "compare_gan.metrics.evaluate",
    "compare_gan.metrics.inception.weights",
)

# The catalogue's sections, in the order `compare_gan components` prints them.
SECTIONS = ("losses", "penalties", "normalizers", "architectures", "optimizers",
            "distributions", "datasets", "metrics")

Entry = Tuple[str, str]  # (gin reference, one-line description)
_catalogue: Dict[str, Tuple[str, Callable[[], Iterable[Entry]]]] = {}


class ConfigError(ValueError):
  """A config file or binding is invalid; the message says which and why. `compare_gan`
  prints it as one line and exits 2."""


def summary(obj) -> str:
  """The first paragraph of obj's docstring, on one line."""
  doc = inspect.getdoc(obj) or ""
  return " ".join(doc.split("\n\n")[0].split())


def register_catalogue(section: str, title: str, entries: Callable[[], Iterable[Entry]]) -> None:
  """Lists a kind of component in `compare_gan components`: `section` is one of SECTIONS,
  `title` its heading (with the gin binding that takes it), `entries()` its (reference,
  description) pairs, read when the catalogue is printed (so later registrations show)."""
  if section not in SECTIONS:
    raise ValueError(f"Unknown catalogue section {section!r}; valid: {', '.join(SECTIONS)}.")
  _catalogue[section] = (title, entries)


def load_components() -> None:
  """Imports every module that registers gin configurables (idempotent)."""
  for name in COMPONENT_MODULES:
    importlib.import_module(name)


def catalogue() -> Dict[str, List[Entry]]:
  """{title: [(gin reference, one-line description)]} for every registered component."""
  load_components()
  return {_catalogue[s][0]: list(_catalogue[s][1]()) for s in SECTIONS if s in _catalogue}


def parse_gin(config_files: List[str], bindings: List[str]) -> str:
  """Registers every component, parses the gin files and bindings (later ones win) and returns
  the resulting config text (what config.gin holds).

  Raises:
    FileNotFoundError: a config file does not exist.
    ValueError, KeyError, TypeError, SyntaxError: gin's own errors (an unknown name, a bad
      value, a syntax error).
  """
  import gin
  load_components()
  for path in config_files:
    if not os.path.isfile(path):
      raise FileNotFoundError(f"--gin_config {path!r} does not exist.")
  gin.parse_config_files_and_bindings(config_files, bindings, finalize_config=False)
  sources = "".join(f"#   --gin_config {p}\n" for p in config_files) + "".join(
      f"#   --gin_bindings {b!r}\n" for b in bindings)
  return "# compare_gan config, parsed from:\n" + sources + "\n" + gin.config_str()


def parse_command_config(command: str, config_files: List[str], bindings: List[str],
                         tfds_data_dir: Optional[str] = None) -> str:
  """`parse_gin` for a command, with `--tfds_data_dir` as a binding.

  Raises:
    ConfigError: the config does not parse; the message starts with the command.
  """
  if tfds_data_dir is not None:
    bindings = bindings + [f"dataset.tfds_data_dir = {tfds_data_dir!r}"]
  try:
    return parse_gin(config_files, bindings)
  except (ValueError, FileNotFoundError, KeyError, TypeError, SyntaxError) as e:
    raise ConfigError(f"compare_gan {command}: config error: {e}") from e
