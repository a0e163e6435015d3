"""The composition root: gin parsing of config files and bindings, the component catalogue, and
the cache root that every on-disk cache lives under (`cache_root`).

Every command and the sweep parse configs here, so they all see the same registered names.
Nothing in this module imports a component: the modules that register gin configurables are
named in `COMPONENT_MODULES` and imported on first parse (so `compare_gan --help` and the sweep
driver start without TensorFlow), and each of them adds its section to the catalogue
(`compare_gan components`) with `register_catalogue`.
"""

import importlib
import inspect
import os
import re
import sys
import tokenize
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from compare_gan import run_dir

# The modules whose import registers every gin configurable (each imports what it builds on:
# gans.model the model families (modular_gan, began, vae) and with them the losses, penalties
# and latents; evaluate the protocol and metric tasks).
# tests/config_test.py checks that no registering module is missing.
COMPONENT_MODULES = (
    "compare_gan.gin_externals",
    "compare_gan.architectures",
    "compare_gan.gans.model",
    "compare_gan.data",
    "compare_gan.training.loop",
    "compare_gan.metrics.evaluate",
    "compare_gan.metrics.inception.weights",
)

# The catalogue's sections, in the order `compare_gan components` prints them.
SECTIONS = ("losses", "penalties", "models", "normalizers", "architectures", "optimizers",
            "distributions", "datasets", "metrics")

Entry = Tuple[str, str]  # (gin reference, one-line description)
_catalogue: Dict[str, Tuple[str, Callable[[], Iterable[Entry]]]] = {}


class ConfigError(run_dir.UsageError, ValueError):
  """A config file or binding is invalid; the message says which and why. `compare_gan`
  prints it as one line and exits 2."""


# gin's own errors for a config that does not parse or bind (an unknown name, a bad value, a
# syntax error, an unclosed bracket).
GIN_ERRORS = (ValueError, KeyError, TypeError, SyntaxError, tokenize.TokenError)


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


# The root of the machine-wide caches (Inception weights, real features, generated datasets).
CACHE_ENV = "COMPARE_GAN_CACHE_DIR"


def cache_root(cache_dir: Optional[str] = None) -> str:
  """The compare_gan cache root, absolute: `cache_dir`, `$COMPARE_GAN_CACHE_DIR` or
  `~/.cache/compare_gan`. Each cache keeps a subdirectory: inception/, features/, datasets/."""
  root = cache_dir or os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "compare_gan")
  return os.path.abspath(os.path.expanduser(root))


def debug_mode() -> bool:
  """COMPARE_GAN_DEBUG=1 (or `compare_gan --verbose`): failures show their traceback, and
  TensorFlow's start-up notes are not hidden."""
  return os.environ.get("COMPARE_GAN_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def import_tensorflow() -> None:
  """Imports TensorFlow and lists the devices with stderr closed (unless in debug mode):
  TensorFlow's C++ runtime writes start-up notes (oneDNN, CUDA stubs, a missing GPU driver)
  before its log level applies, and they would bury a command's one-line error. A failed
  import still raises here, after stderr is back. Listing the physical devices leaves the
  logical ones configurable."""
  if "tensorflow" in sys.modules or debug_mode():
    return
  sys.stderr.flush()
  saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(null, 2)
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.list_physical_devices()
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(null)


def load_components() -> None:
  """Imports every module that registers gin configurables (idempotent)."""
  import_tensorflow()
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
    ConfigError: a config file does not exist, or a file or binding does not parse; the
      message names the file or the binding.
  """
  import gin
  load_components()
  for path in config_files:
    if not os.path.isfile(path):
      raise ConfigError(f"--gin_config {path!r} does not exist.")
  # One file at a time, as gin.parse_config_files_and_bindings does, so an error names it.
  for path in config_files:
    try:
      gin.parse_config_file(path)
    except GIN_ERRORS as e:
      raise ConfigError(f"config error in {path}: {gin_message(e)}") from e
  for binding in bindings:
    try:
      gin.parse_config(binding)
    except GIN_ERRORS as e:
      raise ConfigError(f"config error in --gin_bindings {binding!r}: {gin_message(e)}") from e
  sources = "".join(f"#   --gin_config {p}\n" for p in config_files) + "".join(
      f"#   --gin_bindings {b!r}\n" for b in bindings)
  return "# compare_gan config, parsed from:\n" + sources + "\n" + gin.config_str()


def gin_message(error: BaseException) -> str:
  """gin's message on one line, in words where Python's own is cryptic."""
  if isinstance(error, tokenize.TokenError):
    line = error.args[1][0] if len(error.args) > 1 and error.args[1] else "?"
    return (f"{error.args[0]} (line {line}): a bracket, parenthesis or string is not closed; "
            "close it")
  text = " ".join(str(error).split())
  if "malformed node or string" in text:  # Python's ast.literal_eval, quoted by gin.
    text = re.sub(r"malformed node or string on line \d+: <[^>]*>\s*", "", text)
    return (f"{text}: a value is not a Python literal or @reference; quote strings ('name'), "
            "write references as @name or @name()")
  if isinstance(error, KeyError) and len(error.args) == 1:
    return str(error.args[0])
  return text


def gin_call_error(error: BaseException) -> Optional[ConfigError]:
  """A ConfigError for an error gin raises when a configurable is called (a gin.REQUIRED
  argument that no config binds), else None."""
  match = re.match(r"Required bindings for `([^`]+)` not provided in config: \[(.*)\]",
                   str(error))
  if not isinstance(error, RuntimeError) or not match:
    return None
  names = [f"{match.group(1)}.{n.strip(chr(39))}" for n in match.group(2).split(", ")]
  return ConfigError(f"config error: {', '.join(names)} must be set (no default); bind it in a "
                     f"--gin_config file or with --gin_bindings, e.g. '{names[0]} = ...'")


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
  except ConfigError as e:
    raise ConfigError(f"compare_gan {command}: {e}") from e
