#!/usr/bin/env bash
# scripts/tsan.sh: a ThreadSanitizer run of the threaded code: the data loader (std::thread workers, mutex and
# condition variables) and the OpenMP CPU kernels (element-wise, reductions, GEMM, convolution, batch norm, losses).
# Builds build-tsan/ with clang (-fsanitize=thread), the project's own kernels only (builtin GEMM, no oneDNN: an
# uninstrumented library's threads would hide its accesses) and LLVM's OpenMP runtime with its ThreadSanitizer tool
# (libarcher), which tells TSan about OpenMP's barriers and tasks so that a report is a real race. Not part of CI
# (about 10 minutes on 2 cores). docs/reliability.md records its last result.
#   --threads N   OpenMP and loader threads (default 4: more threads than cores, to shuffle the interleavings)
# Exit status: 0 when every test passes with no report, 1 otherwise (the report is in build-tsan/tsan-*.log).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

threads=4
while (($#)); do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tsan.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

archer=/usr/lib/llvm-14/lib/libarcher.so
if ! command -v clang++ > /dev/null || [[ ! -f "$archer" ]]; then
  echo "tsan.sh: needs clang++ and LLVM's OpenMP runtime with libarcher:"
  echo "  apt-get install -y clang-14 libomp-14-dev libclang-rt-14-dev"
  exit 1
fi

start="$(date +%s)"
mkdir -p build-tsan
cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSPML_CUDA=OFF \
  -DSPML_SANITIZE=thread -DSPML_ONEDNN=OFF -DSPML_BLAS=builtin -DSPML_BUILD_APPS=OFF \
  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1" > build-tsan/configure.log 2>&1 ||
  { cat build-tsan/configure.log; exit 1; }
cmake --build build-tsan -j"$(nproc)" --target spml_tests_data spml_tests_ops spml_tests_cnn spml_tests_losses
build_seconds=$(($(date +%s) - start))

export OMP_TOOL_LIBRARIES="$archer"
export OMP_NUM_THREADS="$threads"
export SPML_THREADS="$threads"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 history_size=4 suppressions=$PWD/scripts/tsan.supp}"
export ARCHER_OPTIONS="${ARCHER_OPTIONS:-verbose=1}"

# binary and filter: every data test (loader, builders), every CNN and loss test, and the ops tests whose kernels
# run OpenMP loops (the op table's float64 gradient checks are left out: hours under TSan, one thread's work).
runs=(
  "spml_tests_data:*"
  "spml_tests_ops:Ops*:*Reduc*:*Elementwise*:*Gemm*:*Matmul*:VectorMath*:*Optim*:*Adam*"
  "spml_tests_cnn:*"
  "spml_tests_losses:*"
)
failed=0
summary=()
for run in "${runs[@]}"; do
  binary="${run%%:*}"
  filter="${run#*:}"
  log="build-tsan/tsan-${binary}.log"
  t0="$(date +%s)"
  rc=0
  "build-tsan/bin/${binary}" "--gtest_filter=${filter}" > "$log" 2>&1 || rc=$?
  tests="$(grep -Eo '\[  PASSED  \] [0-9]+' "$log" | grep -Eo '[0-9]+$' || echo 0)"
  reports="$(grep -c 'WARNING: ThreadSanitizer' "$log" || true)"
  if ((rc != 0)) || ((reports > 0)); then failed=1; fi
  summary+=("$(printf '%-20s %4s tests passed, %s TSan reports, exit %s, %s s' "$binary" "$tests" "$reports" "$rc" \
    "$(($(date +%s) - t0))")")
done

echo
echo "tsan.sh: ${threads} threads, archer ${archer}, build ${build_seconds} s"
for line in "${summary[@]}"; do echo "  $line"; done
if ((failed)); then
  echo "tsan.sh: FAILED (see build-tsan/tsan-*.log)"
  exit 1
fi
echo "tsan.sh: clean"
