#!/usr/bin/env bash
# The test command (README): set up .venv if needed, install compare_gan with its test
# extras, and run the fast test tier. Extra arguments go to pytest, e.g.
#   bash scripts/test.sh tests/gans              # one folder
#   bash scripts/test.sh -m slow                 # the opt-in slow tier
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when setup.py changed since the last successful install.
stamp=.venv/.compare_gan_installed
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test,dask]"
  touch "$stamp"
fi

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
workers=${PYTEST_WORKERS:-2}
exec .venv/bin/python -m pytest -n "$workers" "$@"
