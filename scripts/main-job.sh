#!/usr/bin/env bash
# scripts/main-job.sh: the project's main job. Installs packages (scripts/setup.sh), builds spml-train and
# spml-report in the CPU-only configuration build-cpu/, then trains ResNet-18 from random init on Fashion-Mosaic
# (generated into data/fashion-mosaic on first use) with the GR loss and the AN baseline at the data set's reference
# configuration (2400 train / 600 val / 2000 test, 6 epochs, 64 px, batch 32, Adam lr 3e-4 with the head at 10x,
# seed 0), and prints spml-report's table of both runs (test mAP) and their paired difference GR - AN. A run takes
# about 2-2.5 minutes on 2 cores. How stable the printed difference is: README.md, docs/results.md.
# Runs go to runs/main/ (a finished run is kept and only reported again; delete the folder to retrain).
# Environment: SPML_SKIP_SETUP=1 skips setup.sh. Arguments go to scripts/run_experiments.sh after the defaults
# above, so they override them: e.g. --seeds "0 1 2" (mean ± std and the paired difference over seeds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

JOBS="$(nproc)"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
start="$(now)"

{
  if [[ "${SPML_SKIP_SETUP:-0}" != 1 ]]; then
    t="$(now)"
    scripts/setup.sh
    echo "=== main-job.sh: setup done in $(elapsed "$t") s"
  fi
  t="$(now)"
  cmake -S . -B build-cpu -DSPML_CUDA=OFF -DCMAKE_BUILD_TYPE=Release
  cmake --build build-cpu -j"${JOBS}" --target spml-train spml-report
  echo "=== main-job.sh: build done in $(elapsed "$t") s"
} >&2

scripts/run_experiments.sh --bin build-cpu/bin --dataset fashion-mosaic --data data/fashion-mosaic --out runs/main \
  --losses "gr an" --seeds 0 "$@"
echo "=== main-job.sh: total $(elapsed "$start") s (runs in runs/main/, the plot in runs/main/val_mAP.svg)"
