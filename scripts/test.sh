#!/usr/bin/env bash
# scripts/test.sh: the project's test command. Installs packages (scripts/setup.sh), builds build/ (CUDA when
# nvcc and cuDNN are found) and runs its tests, builds and tests the CPU-only configuration with AddressSanitizer +
# UndefinedBehaviorSanitizer in build-asan/ (the whole suite), and, when clang is present, runs a 30-second smoke
# run of every fuzz target (scripts/fuzz.sh --smoke, build-fuzz/).
#   --quick        build/ only (no CPU-only configuration, sanitizers or fuzzing)
#   --no-sanitize  the CPU-only configuration as a plain Release build in build-cpu/ instead of build-asan/
#   --cpu-release  build-cpu/ as well as build-asan/
#   --no-fuzz      skip the fuzz smoke run
# Environment: SPML_CUDA_ARCHITECTURES (default 90), SPML_SKIP_CPU_ONLY_TESTS=1 (build build-cpu/ but skip its
# tests), SPML_FORCE_CPU_ONLY_BUILD=1 (build build-cpu/ even when build/ is already CPU-only),
# SPML_SKIP_SETUP=1 (skip scripts/setup.sh, e.g. on a machine without apt).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
sanitize=1
cpu_release=0
fuzz=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1; sanitize=0; fuzz=0 ;;
    --sanitize) sanitize=1 ;;  # the default; kept for older command lines
    --no-sanitize) sanitize=0; cpu_release=1 ;;
    --cpu-release) cpu_release=1 ;;
    --no-fuzz) fuzz=0 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

JOBS="$(nproc)"
CUDA_ARCHS="${SPML_CUDA_ARCHITECTURES:-90}"

# --- phase timing -----------------------------------------------------------------------------------
PHASES=()
current_phase=""
phase_start=0
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
begin() {
  current_phase="$1"
  phase_start="$(now)"
  echo
  echo "=== test.sh: $current_phase"
}
end() {
  local secs
  secs="$(elapsed "$phase_start")"
  PHASES+=("$(printf '%-28s %8s s' "$current_phase" "$secs")")
  echo "=== test.sh: $current_phase done in $secs s"
  current_phase=""
}
script_start="$(now)"
report() {
  local rc=$?
  echo
  echo "=== test.sh: timings (seconds)"
  local line
  for line in "${PHASES[@]+"${PHASES[@]}"}"; do echo "  $line"; done
  if [[ -n "$current_phase" ]]; then
    printf '  %-28s %8s s  FAILED\n' "$current_phase" "$(elapsed "$phase_start")"
  fi
  printf '  %-28s %8s s\n' "total" "$(elapsed "$script_start")"
  if ((rc == 0)); then echo "=== test.sh: OK"; else echo "=== test.sh: FAILED (exit $rc)"; fi
}
trap report EXIT

# --- setup --------------------------------------------------------------------------------------------
if [[ "${SPML_SKIP_SETUP:-0}" != 1 ]]; then
  begin "setup"
  scripts/setup.sh
  end
fi

# --- main configuration: build/ -----------------------------------------------------------------------
begin "configure build/"
mkdir -p build
# The configure output is kept to tell whether build/ got the CUDA backend (pipefail: cmake's status counts).
cmake -S . -B build -DSPML_CUDA=AUTO "-DSPML_CUDA_ARCHITECTURES=${CUDA_ARCHS}" -DCMAKE_BUILD_TYPE=Release \
  2>&1 | tee build/spml-configure.log
end
main_has_cuda=0
if grep -q "spml: CUDA backend on" build/spml-configure.log; then main_has_cuda=1; fi

begin "build build/"
cmake --build build -j"${JOBS}"
end

begin "ctest build/"
ctest --test-dir build --output-on-failure -j"${JOBS}"
end

# --- CPU-only configuration: build-cpu/ ---------------------------------------------------------------
if ((quick)); then
  echo "=== test.sh: --quick: skipping the CPU-only configuration (build-cpu/)"
elif ((cpu_release == 0)) && [[ "${SPML_FORCE_CPU_ONLY_BUILD:-0}" != 1 ]]; then
  echo "=== test.sh: the CPU-only configuration is built and tested under the sanitizers (build-asan/);"
  echo "===          --cpu-release (or --no-sanitize) builds it as a Release build in build-cpu/"
elif ((main_has_cuda == 0)) && [[ "${SPML_FORCE_CPU_ONLY_BUILD:-0}" != 1 ]]; then
  echo "=== test.sh: build/ has no CUDA backend, so it already is the CPU-only configuration: skipping build-cpu/"
  echo "===          (SPML_FORCE_CPU_ONLY_BUILD=1 builds it anyway)"
else
  begin "configure build-cpu/"
  cmake -S . -B build-cpu -DSPML_CUDA=OFF -DCMAKE_BUILD_TYPE=Release
  end

  begin "build build-cpu/"
  cmake --build build-cpu -j"${JOBS}"
  end

  if [[ "${SPML_SKIP_CPU_ONLY_TESTS:-0}" == 1 ]]; then
    echo "=== test.sh: SPML_SKIP_CPU_ONLY_TESTS=1: not running the tests of build-cpu/"
  else
    begin "ctest build-cpu/"
    ctest --test-dir build-cpu --output-on-failure -j"${JOBS}"
    end
  fi
fi

# --- sanitizers: build-asan/ --------------------------------------------------------------------------
if ((sanitize)); then
  begin "configure build-asan/"
  # -O1: ASan's recommended level; -O0 makes the CNN tests several times slower for no extra finding.
  cmake -S . -B build-asan -DSPML_CUDA=OFF -DSPML_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1"
  end

  begin "build build-asan/"
  cmake --build build-asan -j"${JOBS}"
  end

  begin "ctest build-asan/"
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    ctest --test-dir build-asan --output-on-failure -j"${JOBS}"
  end
fi

# --- fuzz smoke run: build-fuzz/ ----------------------------------------------------------------------
if ((fuzz)); then
  if command -v clang++ > /dev/null 2>&1; then
    begin "fuzz smoke (build-fuzz/)"
    scripts/fuzz.sh --smoke
    end
  else
    echo "=== test.sh: clang++ not found: skipping the fuzz smoke run (apt-get install -y clang libclang-rt-dev)"
  fi
fi
