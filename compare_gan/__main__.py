"""`python -m compare_gan` is the `compare_gan` command."""

import sys

from compare_gan import cli

sys.exit(cli.main())
