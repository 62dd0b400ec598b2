#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets (tests/fuzz, docs/fuzzing.md) in build-fuzz/ (clang, CPU only,
# SPML_FUZZ=ON: ASan + UBSan + coverage over the whole library) and runs them one after the other.
#   scripts/fuzz.sh                      every target for 600 s
#   scripts/fuzz.sh --seconds 60 fuzz_npy fuzz_image   the named targets for 60 s each
#   scripts/fuzz.sh --smoke              every target for 30 s (CI)
#   scripts/fuzz.sh --make-corpus        regenerate the committed seeds tests/fuzz/corpus/ (spml_fuzz_make_corpus)
#   scripts/fuzz.sh --no-build ...       run what build-fuzz/ already holds
# Each target runs on a copy of its seeds in build-fuzz/corpus-work/<target> (the committed corpus is never written)
# with its dictionary tests/fuzz/dict/<target>.dict and -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10.
# Crash, leak, timeout and OOM inputs land in build-fuzz/artifacts/<target>/ (those of an earlier run are moved to
# build-fuzz/artifacts/<target>/previous/), logs in build-fuzz/logs/<target>.log, the table in
# build-fuzz/logs/summary.md. Exit status 1 when any target crashed; 0 with "skipped: ..." when clang++ or its
# libFuzzer runtime is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=600
build=1
make_corpus=0
targets=()
while (($#)); do
  case "$1" in
    --seconds)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || { echo "fuzz.sh: --seconds needs a positive integer" >&2; exit 2; }
      seconds="$2"
      shift
      ;;
    --smoke) seconds=30 ;;
    --no-build) build=0 ;;
    --make-corpus) make_corpus=1 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    fuzz_*) targets+=("$1") ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

APT_LINE="apt-get install -y clang libclang-rt-dev libomp-dev"
skip() {
  echo "fuzz.sh: skipped: $1"
  echo "fuzz.sh: install it with: $APT_LINE"
  exit 0
}
command -v clang++ >/dev/null 2>&1 || skip "clang not found (clang++)"
command -v clang >/dev/null 2>&1 || skip "clang not found (clang)"
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$probe_dir/p.cpp"
clang++ -fsanitize=fuzzer,address,undefined "$probe_dir/p.cpp" -o "$probe_dir/p" >/dev/null 2>&1 ||
  skip "clang's libFuzzer runtime not found (libclang-rt-dev: clang++ -fsanitize=fuzzer does not link)"
printf '#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n' >"$probe_dir/o.cpp"
clang++ -fopenmp "$probe_dir/o.cpp" -o "$probe_dir/o" >/dev/null 2>&1 || skip "clang's OpenMP runtime not found (libomp-dev)"

BUILD=build-fuzz
JOBS="${SPML_FUZZ_JOBS:-2}"
if ((build)); then
  if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
    generator=()
    command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
    CC=clang CXX=clang++ cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPML_FUZZ=ON \
      -DSPML_CUDA=OFF -DSPML_ONEDNN=OFF -DSPML_BUILD_TESTS=OFF -DSPML_BUILD_APPS=OFF -DSPML_BUILD_DEV=OFF >/dev/null
  fi
  echo "fuzz.sh: building the fuzz targets in $BUILD/ (-j$JOBS)"
  cmake --build "$BUILD" --target spml_fuzz_all spml_fuzz_make_corpus -j"$JOBS" >"$BUILD/build.log" 2>&1 ||
    { tail -40 "$BUILD/build.log"; echo "fuzz.sh: build failed (log: $BUILD/build.log)" >&2; exit 1; }
fi

if ((make_corpus)); then
  rm -rf tests/fuzz/corpus
  "$BUILD/fuzz/spml_fuzz_make_corpus" . tests/fuzz/corpus
  exit 0
fi

if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
mkdir -p "$BUILD/logs" "$BUILD/corpus-work" "$BUILD/artifacts"
summary="$BUILD/logs/summary.md"
{
  echo "| target | seconds | executions | exec/s | corpus (files / bytes) | cov | ft | crashes |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} >"$summary"
crashed=0
for t in "${targets[@]}"; do
  bin="$BUILD/fuzz/$t"
  [[ -x "$bin" ]] || { echo "fuzz.sh: no target $t in $BUILD/fuzz" >&2; exit 2; }
  work="$BUILD/corpus-work/$t"
  art="$BUILD/artifacts/$t"
  log="$BUILD/logs/$t.log"
  rm -rf "$work"
  mkdir -p "$work" "$art/previous"
  [[ -d "tests/fuzz/corpus/$t" ]] && cp -r "tests/fuzz/corpus/$t/." "$work/"
  find "$art" -maxdepth 1 -type f -exec mv -f {} "$art/previous/" \;
  dict=()
  [[ -f "tests/fuzz/dict/$t.dict" ]] && dict=("-dict=tests/fuzz/dict/$t.dict")
  echo "fuzz.sh: $t for ${seconds}s (log: $log)"
  start=$(date +%s)
  set +e
  "$bin" "$work" "${dict[@]}" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$art/" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [[ -n "$execs" ]] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  execs=${execs:-0}
  status=$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  files=$(find "$work" -type f | wc -l)
  bytes=$(find "$work" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  crashes=$(find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if ((rc != 0 && crashes == 0)); then crashes=1; fi  # died without an artifact (e.g. a sanitizer abort in init)
  rate=$((elapsed > 0 ? execs / elapsed : execs))
  line="| $t | $elapsed | $execs | $rate | $files / $bytes | ${cov:--} | ${ft:--} | $crashes |"
  echo "$line" >>"$summary"
  printf 'fuzz.sh: %-22s %5ss  %10s execs  %7s exec/s  corpus %5s files %9s bytes  cov %6s  ft %6s  crashes %s\n' \
    "$t" "$elapsed" "$execs" "$rate" "$files" "$bytes" "${cov:--}" "${ft:--}" "$crashes"
  if ((crashes > 0)); then
    crashed=1
    grep -E 'ERROR: |SUMMARY: |runtime error|fuzz: ' "$log" | head -5 | sed 's/^/fuzz.sh:   /'
    find "$art" -maxdepth 1 -type f | sed 's/^/fuzz.sh:   artifact: /'
  fi
done
echo
cat "$summary"
if ((crashed)); then
  echo "fuzz.sh: FAILED: crashes above (inputs in $BUILD/artifacts/; reproduce with $BUILD/fuzz/<target> <input>)"
  exit 1
fi
echo "fuzz.sh: all targets ran clean"
