#!/usr/bin/env bash
# scripts/demo.sh: the project's main-job command. Installs packages (scripts/setup.sh), configures build/ like
# scripts/test.sh, builds only the target spml-demo and runs it: every argument goes to build/bin/spml-demo.
# Setup and build output go to stderr, so stdout is the demo's own. SPML_SKIP_SETUP=1 skips setup.sh;
# SPML_CUDA_ARCHITECTURES (default 90) as in test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

JOBS="$(nproc)"
CUDA_ARCHS="${SPML_CUDA_ARCHITECTURES:-90}"
TARGET=spml-demo

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

{
  if [[ "${SPML_SKIP_SETUP:-0}" != 1 ]]; then
    t="$(now)"
    scripts/setup.sh
    echo "=== demo.sh: setup done in $(elapsed "$t") s"
  fi

  t="$(now)"
  cmake -S . -B build -DSPML_CUDA=AUTO "-DSPML_CUDA_ARCHITECTURES=${CUDA_ARCHS}" -DCMAKE_BUILD_TYPE=Release
  echo "=== demo.sh: configure done in $(elapsed "$t") s"

  t="$(now)"
  cmake --build build -j"${JOBS}" --target "${TARGET}"
  echo "=== demo.sh: build of ${TARGET} done in $(elapsed "$t") s"
} >&2

exe="build/bin/${TARGET}"
if [[ ! -x "$exe" ]]; then
  echo "demo.sh: ${exe} was not built (is the target ${TARGET} defined under apps/?)" >&2
  exit 1
fi
echo "=== demo.sh: running ${exe} $*" >&2
exec "$exe" "$@"
