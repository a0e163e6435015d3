#!/usr/bin/env bash
# The README's first command: a hyperparameter sweep in about 4 minutes on a 2-core CPU, with
# no download beyond the Python packages. Sets up .venv if needed (as scripts/test.sh does),
# runs the Gaussian-process sweep of configs/studies/quickstart.gin (loss x D normaliser on the
# built-in triangles, weight-free metrics) with two local workers, then prints the best model
# per setting, writes the plots and galleries, and prints where the report page index.html is.
#
#   bash scripts/demo.sh                        # results in runs/quickstart
#   WORKDIR=/tmp/qs bash scripts/demo.sh        # elsewhere
#   PARALLEL=4 bash scripts/demo.sh             # more workers on a bigger machine
#
# Interrupt it at any moment and run it again: the sweep resumes where it stopped, and a
# finished sweep only reprints its report.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
WORKDIR=${WORKDIR:-runs/quickstart}
PARALLEL=${PARALLEL:-2}
STUDY=configs/studies/quickstart.gin

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when setup.py changed since the last successful install (the stamp is shared
# with scripts/test.sh, so both install the same extras).
stamp=.venv/.compare_gan_installed
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  echo "Installing compare_gan into .venv (first run only) ..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test,dask]"
  touch "$stamp"
fi

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
echo "Sweeping $STUDY into $WORKDIR with $PARALLEL workers (about 4 minutes on 2 cores) ..."
start=$(date +%s)
.venv/bin/compare_gan sweep --workdir "$WORKDIR" --study "$STUDY" --parallel "$PARALLEL"
echo "Sweep finished in $(( $(date +%s) - start )) s."
echo
.venv/bin/compare_gan report --workdir "$WORKDIR"
echo
echo "Plots and tables: $WORKDIR/report/ (top5_swd_pixels.png: the best trials per setting;"
echo "budget_swd_pixels.png: expected best SWD after k trials; curves_swd_pixels.png: SWD per"
echo "checkpoint; significance_swd_pixels.png: which setting beats which; galleries/: samples"
echo "of each setting's best trial). Each trial's run directory (samples in tb/, metrics.jsonl)"
echo "is under $WORKDIR/trials/."
echo
echo "All of it on one page (no server needed; open it in a browser):"
echo "  $(cd "$WORKDIR/report" && pwd)/index.html"
