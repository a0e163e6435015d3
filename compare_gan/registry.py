"""The gin registry without TensorFlow: a committed manifest and the fast config check.

Every component registers itself with gin when its module is imported, and those modules import
TensorFlow (about 5 s). A misspelled name in a config would be reported only after that. So the
names gin knows after `config.load_components()` (each configurable's selector, its bindable
parameters, whether it takes **kwargs) are kept in `registry.json` beside this file, and
`check(config_files, bindings)` reads a config with gin's own parser and reports, before
TensorFlow is imported, what is certainly wrong:

  - a binding of an unknown configurable (`trian.batch_size = 3`);
  - a parameter that the configurable does not have (`train.batchsize = 3`);
  - a reference to an unknown configurable (`loss.fn = @hnge`);
  - a bad literal value of a `train.*` setting (training/settings.py).

Each is one line naming the file or binding, with the closest valid names. Anything it cannot
judge (an `import` or `include` statement, a name matching several configurables, a macro as
value) is left to the full parse, which reports it as before, so the check never refuses a
config that gin accepts. The manifest is regenerated with
`python -m compare_gan.registry --write`; tests/gin_registry_test.py fails when it is stale.
"""

import argparse
import difflib
import inspect
import json
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry.json")
_TRAIN = "compare_gan.training.loop.train"  # Whose literal values training/settings.py checks.


class _Reference:
  def __init__(self, name: str):
    self.name = name


class _Macro:
  def __init__(self, name: str):
    self.name = name


class _Undecided(Exception):
  """The config has something only the full parse can judge."""


# ----------------------------------------------------------------------------------------------
# The manifest
# ----------------------------------------------------------------------------------------------

def _signature(fn_or_cls) -> Tuple[List[str], bool]:
  """(parameter names, takes **kwargs) of what gin calls, as gin inspects it."""
  fn = fn_or_cls.__init__ if inspect.isclass(fn_or_cls) else fn_or_cls
  while hasattr(fn, "__wrapped__"):
    fn = fn.__wrapped__
  try:
    spec = inspect.getfullargspec(fn)
  except TypeError:
    spec = inspect.getfullargspec(fn.__call__)
  names = [a for a in spec.args + spec.kwonlyargs if a not in ("self", "cls")]
  return names, spec.varkw is not None


def build_manifest() -> Dict[str, Any]:
  """{selector: {"params": [...], "varkw": bool}} of every configurable gin knows after
  `config.load_components()` (imports TensorFlow). Parameters on a configurable's denylist
  (or off its allowlist) are left out: gin refuses to bind them."""
  import gin  # pylint: disable=import-outside-toplevel
  from compare_gan import config  # pylint: disable=import-outside-toplevel
  config.load_components()
  registry = gin.config._REGISTRY  # pylint: disable=protected-access
  out = {}
  for selector, info in sorted(registry.items()):
    params, varkw = _signature(info.wrapped)
    if info.allowlist:
      params = [p for p in params if p in info.allowlist]
    if info.denylist:
      params = [p for p in params if p not in info.denylist]
    out[selector] = {"params": params, "varkw": varkw and not info.allowlist}
  return out


def load_manifest(path: str = MANIFEST) -> Optional[Dict[str, Any]]:
  """The committed manifest, or None when it is missing or unreadable (the check is skipped)."""
  try:
    with open(path, encoding="utf-8") as f:
      manifest = json.load(f)
  except (OSError, ValueError):
    return None
  return manifest if isinstance(manifest, dict) else None


# ----------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------

def _matches(manifest: Dict[str, Any], selector: str) -> List[str]:
  """Registered selectors that `selector` names, as gin matches them (the whole dotted name
  or a dotted suffix of it)."""
  return [s for s in manifest if s == selector or s.endswith("." + selector)]


def _suggest(word: str, names: Sequence[str]) -> str:
  close = difflib.get_close_matches(word, list(names), n=3, cutoff=0.6)
  return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."


def _short_names(manifest: Dict[str, Any]) -> List[str]:
  return sorted({s.rsplit(".", 1)[-1] for s in manifest} | set(manifest))


def _references(value: Any) -> Iterator[Any]:
  if isinstance(value, (_Reference, _Macro)):
    yield value
  elif isinstance(value, dict):
    for key, item in value.items():
      yield from _references(key)
      yield from _references(item)
  elif isinstance(value, (list, tuple, set)):
    for item in value:
      yield from _references(item)


def _statements(text: str, filename: Optional[str]):
  import gin.config_parser as config_parser  # pylint: disable=import-outside-toplevel

  class Delegate(config_parser.ParserDelegate):
    def configurable_reference(self, scoped_configurable_name, evaluate):
      return _Reference(scoped_configurable_name)

    def macro(self, macro_name):
      return _Macro(macro_name)

  source = text
  if filename is not None:  # The parser names a file-like object's `name` in its locations.
    import io  # pylint: disable=import-outside-toplevel
    source = io.StringIO(text)
    source.name = filename
  try:
    yield from config_parser.ConfigParser(source, Delegate())
  except Exception as e:  # A syntax error: the full parse words it (config.gin_message).
    raise _Undecided() from e


def _check_text(manifest: Dict[str, Any], text: str, filename: Optional[str]) -> Optional[str]:
  """The first certain error in one config text, or None."""
  import gin.config_parser as config_parser  # pylint: disable=import-outside-toplevel
  from compare_gan.training import settings  # pylint: disable=import-outside-toplevel
  for statement in _statements(text, filename):
    if not isinstance(statement, config_parser.BindingStatement):
      raise _Undecided()  # import / include / blocks: new names may come with them.
    if not statement.arg_name:
      continue  # A macro definition, NAME = value.
    found = _matches(manifest, statement.selector)
    if not found:
      return (f"No configurable matching {statement.selector!r} (in "
              f"'{statement.selector}.{statement.arg_name}')"
              + _suggest(statement.selector, _short_names(manifest)))
    if len(found) == 1:
      entry = manifest[found[0]]
      if not entry["varkw"] and statement.arg_name not in entry["params"]:
        return (f"Configurable {statement.selector!r} doesn't have a parameter named "
                f"{statement.arg_name!r}" + _suggest(statement.arg_name, entry["params"]))
    for ref in _references(statement.value):
      if isinstance(ref, _Reference):
        name = ref.name.rsplit("/", 1)[-1]
        if not _matches(manifest, name):
          return (f"No configurable matching reference '@{ref.name}'"
                  + _suggest(name, _short_names(manifest)))
    if found == [_TRAIN] and not list(_references(statement.value)):
      message = settings.problem(statement.arg_name, statement.value)
      if message:
        return message
  return None


def check(config_files: Sequence[str], bindings: Sequence[str],
          manifest: Optional[Dict[str, Any]] = None) -> Optional[str]:
  """The first certain config error of `config_files` then `bindings`, as one line naming
  the file or binding ("config error in F: ..."), or None when there is none or the check
  cannot judge (then the full parse decides). Reads the manifest when none is given."""
  manifest = load_manifest() if manifest is None else manifest
  if not manifest:
    return None
  try:
    for path in config_files:
      try:
        with open(path, encoding="utf-8") as f:
          text = f.read()
      except (OSError, UnicodeDecodeError):
        return None  # The full parse reports a missing or unreadable file.
      problem = _check_text(manifest, text, path)
      if problem:
        return f"config error in {path}: {problem}"
    for binding in bindings:
      problem = _check_text(manifest, binding, None)
      if problem:
        return f"config error in --gin_bindings {binding!r}: {problem}"
  except _Undecided:
    return None
  return None


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m compare_gan.registry",
      description="Print or rewrite the gin manifest (registry.json) from the live registry.")
  parser.add_argument("--write", action="store_true", help=f"rewrite {MANIFEST}")
  args = parser.parse_args(argv)
  text = json.dumps(build_manifest(), indent=1, sort_keys=True) + "\n"
  if args.write:
    with open(MANIFEST, "w", encoding="utf-8") as f:
      f.write(text)
    print(f"wrote {MANIFEST}")
  else:
    sys.stdout.write(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
