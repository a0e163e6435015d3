"""`compare_gan <command>`: the command-line entry point.

Commands are added here as their subsystems land (DESIGN section 3: train, eval, sweep,
report, export, sample). `components` lists every gin name a config can use.
"""

import argparse
import sys
from typing import List, Optional


def _components(args: argparse.Namespace) -> int:
  from compare_gan import components  # Imports TensorFlow; keep `--help` fast.
  for kind, entries in components.catalogue().items():
    print(f"{kind}:")
    width = max(len(name) for name, _ in entries)
    for name, summary in entries:
      print(f"  {name.ljust(width)}  {summary}".rstrip())
    print()
  return 0


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="compare_gan",
      description="Train, sweep and score GANs under one protocol (The GAN Landscape).")
  commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
  p = commands.add_parser("components", help="list the registered gin components")
  p.set_defaults(run=_components)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  return args.run(args)


if __name__ == "__main__":
  sys.exit(main())
