"""What the end-to-end tests share: `compare_gan` run in this process with a clean gin state,
tiny training runs through it, and a directory snapshot to prove a command wrote nothing
(tests/ is on sys.path: `import cli_harness`)."""

import os

import gin

from compare_gan import cli


def run_cli(*argv) -> int:
  """`compare_gan *argv` after clearing gin's state; returns the exit status."""
  gin.clear_config()
  return cli.main([str(a) for a in argv])


def train(model_dir, steps, config, bindings) -> int:
  """`compare_gan train` of `config` with `bindings` and `train.training_steps = steps`."""
  flags = [a for b in list(bindings) + [f"train.training_steps = {steps}"]
           for a in ("--gin_bindings", b)]
  return run_cli("train", "--model_dir", model_dir, "--gin_config", config, *flags)


def snapshot(path) -> dict:
  """Every file and directory under `path`: {relative path: (mtime_ns, content or None)}."""
  out = {}
  for root, dirs, files in os.walk(path):
    for name in dirs + files:
      full = os.path.join(root, name)
      content = open(full, "rb").read() if os.path.isfile(full) else None
      out[os.path.relpath(full, path)] = (os.stat(full).st_mtime_ns, content)
  return out
