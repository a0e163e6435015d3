"""What the end-to-end tests share: `compare_gan` run in this process with a clean gin state,
and tiny training runs through it (tests/ is on sys.path: `import cli_harness`)."""

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
