"""The package layout of DESIGN section 3: imports run one way, and no module is too long.

Every import is read from the source (module level and inside functions alike), so a lazy
import cannot hide an upward arrow.
"""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "compare_gan")

# From the top floor down; a module may import its own floor or any floor below it.
FLOORS = (
    ("cli", "__main__"),
    ("runner", "registry", "sweep", "report"),
    ("training", "metrics", "hub", "clustering"),
    ("gans", "data"),
    ("architectures",),
    ("config", "run_dir", "gin_externals", "__init__"),
)
TOP_LEVEL = {"__init__", "__main__", "cli", "config", "runner", "registry", "run_dir",
             "gin_externals",
             "sweep", "report", "training", "metrics", "hub", "clustering", "gans", "data",
             "architectures"}
# (importer part, imported part): pairs DESIGN forbids within a floor.
FORBIDDEN = {("metrics", "training"), ("metrics", "hub"), ("training", "metrics"),
             ("training", "hub"), ("gans", "data"), ("data", "gans")}
MAX_LINES = 550


def _modules():
  """{dotted module name: path} of every module of the package."""
  out = {}
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, os.path.join(PACKAGE, ".."))[:-3].replace(os.sep, ".")
        out[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
  return out


def _imports(path, module, is_package):
  """The compare_gan modules `module` imports."""
  found = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name.startswith("compare_gan"))
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = module.split(".")[:len(module.split(".")) - node.level + is_package]
        base = ".".join(parts + ([base] if base else []))
      if base.startswith("compare_gan"):
        found.update(f"{base}.{a.name}" for a in node.names)
  return found


def _part(module):
  """The top-level part of a dotted compare_gan module name: 'metrics', 'cli', ..."""
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else "__init__"


def _floor(module):
  for i, names in enumerate(FLOORS):
    if _part(module) in names:
      return i
  raise AssertionError(f"{module} is on no floor of DESIGN section 3")


def _graph():
  modules = _modules()
  graph = {}
  for name, path in modules.items():
    targets = set()
    for target in _imports(path, name, path.endswith("__init__.py")):
      while target not in modules and "." in target:  # `from pkg import name` -> pkg
        target = target.rsplit(".", 1)[0]
      if target in modules and target != name:
        targets.add(target)
    graph[name] = targets
  return graph


def test_top_level_holds_only_the_design_modules():
  entries = {e[:-3] if e.endswith(".py") else e for e in os.listdir(PACKAGE)
             if e.endswith(".py") or os.path.isdir(os.path.join(PACKAGE, e, ""))
             and os.path.exists(os.path.join(PACKAGE, e, "__init__.py"))}
  assert entries == TOP_LEVEL


def test_imports_never_run_upward():
  upward = [f"{a} -> {b}" for a, targets in _graph().items() for b in targets
            if _floor(b) < _floor(a)]
  assert not upward, "imports from a lower floor to a higher one:\n" + "\n".join(upward)


def test_forbidden_pairs_of_one_floor():
  bad = [f"{a} -> {b}" for a, targets in _graph().items() for b in targets
         if (_part(a), _part(b)) in FORBIDDEN]
  assert not bad, "\n".join(bad)


def test_no_import_circle():
  graph, state, stack = _graph(), {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for target in sorted(graph[node]):
      if state.get(target) == "open":
        circle = stack[stack.index(target):] + [target]
        pytest.fail("import circle: " + " -> ".join(circle))
      if target not in state:
        visit(target)
    stack.pop()
    state[node] = "done"

  for node in sorted(graph):
    if node not in state:
      visit(node)


def test_no_module_is_too_long():
  long = {name: n for name, path in _modules().items()
          if (n := sum(1 for _ in open(path))) > MAX_LINES}
  assert not long, f"split these at their seams (over {MAX_LINES} lines): {long}"
