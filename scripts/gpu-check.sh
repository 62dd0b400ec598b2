#!/usr/bin/env bash
# scripts/gpu-check.sh: the check run ON the GPU machine (one H100, nvcc 13, CMake, ninja, PyTorch; cuDNN only
# as the pip wheel nvidia-cudnn-cu13; no apt, no network). Needs .deps/ from scripts/pack-gpu-deps.sh carried
# along. Phases: env (GPU, nvcc, cuDNN), configure build-gpu/ (SPML_CUDA=ON, builtin BLAS), build, test
# (the CUDA tests first, then every test binary, under SPML_REQUIRE_CUDA=1), train (the end-to-end parity test, then
# spml-train on toy shapes, cuda then cpu, mAPs compared), bench (build-gpu/bin/spml-bench --device cuda / cpu, when
# built; on the GPU also the SPML step and the throughput step and the fused GR loss against PyTorch on the same
# GPU, then the dev/kernels studies), sanitize (compute-sanitizer memcheck and racecheck over a filter of the CUDA
# tests, with the time that is left). Each phase runs
# under a timeout and logs to ${OUT:-gpu-logs}/<phase>.log; a one-screen summary comes last (phase, status, seconds;
# tests run / failed / skipped per binary; the bench's ratio lines), also in summary.txt. Exit status: 0 when every
# phase that ran passed, 1 otherwise. Without a GPU, a driver at least as new as nvcc's CUDA major version, nvcc,
# cuDNN or CMake >= 3.25 it stops after env with one line "gpu-check: STOP: <what is missing>" (exit 1), unless
# SPML_GPU_CHECK_BUILD_ANYWAY=1 (a compile rehearsal). The whole script keeps within SPML_GPU_CHECK_BUDGET seconds
# (default 540, inside one 10-minute call).
# Environment: CUDNN_ROOT (else the wheel's folder), SPML_CUDA_ARCHITECTURES (else native, fallback the GPU's
# compute capability or 90), SPML_CTEST_JOBS (default nproc/2), OMP_NUM_THREADS for the tests (default 2).
set -uo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
cd "$(dirname "$SELF")/.." || exit 1
ROOT="$PWD"
BUILD="build-gpu"
JOBS="$(nproc)"

# ======================================================================================================
# Phase bodies. The main part runs each one as `timeout T gpu-check.sh --phase NAME` (so the timeout covers
# the whole process group); their settings come through the exported SPML_GC_* variables.
# ======================================================================================================
phase_configure() {
  local args=(-S "$ROOT" -B "$BUILD" -DSPML_CUDA=ON -DSPML_BLAS=builtin -DCMAKE_BUILD_TYPE=Release
    "-DSPML_DEPS_DIR=$ROOT/.deps" "-DCUDNN_ROOT=${SPML_GC_CUDNN_ROOT}")
  [[ -n "${SPML_GC_NINJA}" ]] && args+=(-G Ninja "-DCMAKE_MAKE_PROGRAM=${SPML_GC_NINJA}")
  [[ -n "${SPML_GC_NVCC}" ]] && args+=("-DCMAKE_CUDA_COMPILER=${SPML_GC_NVCC}")
  # zlib / libjpeg-turbo from .deps: find_package(ZLIB) and find_library/find_path look under the prefix.
  [[ "${SPML_GC_DEPS_PREFIX}" == 1 ]] && args+=("-DCMAKE_PREFIX_PATH=$ROOT/.deps")
  echo "+ cmake ${args[*]} -DSPML_CUDA_ARCHITECTURES=${SPML_GC_ARCH}"
  if cmake "${args[@]}" "-DSPML_CUDA_ARCHITECTURES=${SPML_GC_ARCH}"; then
    echo "gpu-check: configured with SPML_CUDA_ARCHITECTURES=${SPML_GC_ARCH}"
    return 0
  fi
  if [[ "${SPML_GC_ARCH}" == native && "${SPML_GC_ARCH_FALLBACK}" != native ]]; then
    echo "gpu-check: configure with 'native' failed; retrying in a fresh $BUILD/ with ${SPML_GC_ARCH_FALLBACK}"
    rm -rf "$BUILD"
    echo "+ cmake ${args[*]} -DSPML_CUDA_ARCHITECTURES=${SPML_GC_ARCH_FALLBACK}"
    if cmake "${args[@]}" "-DSPML_CUDA_ARCHITECTURES=${SPML_GC_ARCH_FALLBACK}"; then
      echo "gpu-check: configured with SPML_CUDA_ARCHITECTURES=${SPML_GC_ARCH_FALLBACK}"
      return 0
    fi
  fi
  return 1
}

phase_build() {
  # Keep going after an error, so one broken file still leaves the other tests built and runnable.
  local keep_going=(-k)
  [[ -n "${SPML_GC_NINJA}" ]] && keep_going=(-k 0)
  # The ops area holds the CPU/CUDA parity tests: built first, so they run even when another area fails.
  echo "+ cmake --build $BUILD -j $JOBS --target spml_tests_ops"
  cmake --build "$BUILD" -j "$JOBS" --target spml_tests_ops
  echo "+ cmake --build $BUILD -j $JOBS -- ${keep_going[*]}"
  cmake --build "$BUILD" -j "$JOBS" -- "${keep_going[@]}"
}

# gtest_counts LOG: "run passed failed skipped" from a gtest binary's output (0 where a line is absent).
gtest_counts() {
  local run passed failed skipped
  run="$(sed -n 's/^\[==========\] \([0-9]*\) tests\{0,1\} from .* ran\..*/\1/p' "$1" | tail -n 1)"
  passed="$(sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' "$1" | tail -n 1)"
  failed="$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' "$1" | tail -n 1)"
  skipped="$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' "$1" | tail -n 1)"
  echo "${run:-0} ${passed:-0} ${failed:-0} ${skipped:-0}"
}

phase_test() {
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
  # A CUDA test that would skip (no device, driver too old, a build without the backend) fails instead.
  export SPML_REQUIRE_CUDA=1
  local counts="$SPML_GC_LOG_DIR/test-counts.txt" rc=0 b log
  : >"$counts"
  # The CUDA tests first, alone (every binary's; the ops binary holds most), so that they run even if time runs out.
  local binaries=(spml_tests_ops spml_tests_cnn spml_tests_losses spml_tests_data spml_tests_training)
  for b in "${binaries[@]}"; do
    [[ -x "$BUILD/bin/$b" ]] || { echo "gpu-check: $b was not built"; echo "$b(cuda) not-built" >>"$counts"; rc=1; continue; }
    log="$SPML_GC_LOG_DIR/test-$b-cuda.txt"
    echo "+ SPML_REQUIRE_CUDA=1 $BUILD/bin/$b --gtest_filter='*Cuda*'"
    "$BUILD/bin/$b" "--gtest_filter=*Cuda*" >"$log" 2>&1 || rc=1
    grep -E '^\[  (FAILED|SKIPPED) ' "$log" | head -n 20
    echo "$b(cuda) $(gtest_counts "$log")" >>"$counts"
  done
  # Then the rest of every binary, in parallel.
  local pids=()
  for b in "${binaries[@]}"; do
    [[ -x "$BUILD/bin/$b" ]] || continue
    "$BUILD/bin/$b" "--gtest_filter=-*Cuda*" >"$SPML_GC_LOG_DIR/test-$b.txt" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  for b in "${binaries[@]}"; do
    log="$SPML_GC_LOG_DIR/test-$b.txt"
    [[ -f "$log" ]] || continue
    grep -E '^\[  (FAILED|SKIPPED) ' "$log" | head -n 10
    echo "$b $(gtest_counts "$log")" >>"$counts"
  done
  cat "$counts"
  return "$rc"
}

# compute-sanitizer memcheck and racecheck over a filter of the CUDA tests (the sanitizer slows kernels 10-100x).
# A machine whose sanitizer refuses the device says so in one line and the phase passes; a reported error fails it.
phase_sanitize() {
  local cs
  cs="$(command -v compute-sanitizer || true)"
  [[ -z "$cs" && -x /usr/local/cuda/bin/compute-sanitizer ]] && cs=/usr/local/cuda/bin/compute-sanitizer
  if [[ -z "$cs" ]]; then
    echo "gpu-check: compute-sanitizer not found: sanitizer passes skipped"
    return 0
  fi
  export SPML_REQUIRE_CUDA=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
  local rc=0 tool filter log status
  for tool in memcheck racecheck; do
    filter='OpTableCudaParity.*:CudaParity.ReductionIsDeterministic/*:CudaParity.LoopsAndReductionsPastOneGrid/*'
    [[ "$tool" == memcheck ]] && filter="$filter:CudaParity.OptimizersMatchTheCpu/*:CudaIntegerParity.*:CudaConvTest.ForcedIm2colFloat64MatchesTheCpu"
    log="$SPML_GC_LOG_DIR/sanitize-$tool.txt"
    echo "+ $cs --tool $tool --error-exitcode 99 $BUILD/bin/spml_tests_ops --gtest_filter='$filter'"
    status=0
    timeout -k 5 "${SPML_GC_SANITIZE_SECONDS:-100}" "$cs" --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "$BUILD/bin/spml_tests_ops" "--gtest_filter=$filter" >"$log" 2>&1 || status=$?
    tail -n 5 "$log"
    if ((status == 0)); then
      echo "gpu-check: compute-sanitizer $tool: clean ($(gtest_counts "$log" | awk '{ print $1 }') tests)"
    elif grep -qiE 'not supported|unable to (attach|initialize)|insufficient permission|ERR_NVGPUCTRPERM' "$log"; then
      echo "gpu-check: compute-sanitizer $tool refused the device: $(grep -iE 'not supported|unable to|permission' "$log" | head -n 1)"
    elif ((status == 124 || status == 137)); then
      echo "gpu-check: compute-sanitizer $tool: timed out after ${SPML_GC_SANITIZE_SECONDS:-100} s (no error reported before)"
    else
      echo "gpu-check: compute-sanitizer $tool: FAILED (exit $status, see $log)"
      rc=1
    fi
  done
  return "$rc"
}

# A short spml-train run on the GPU and the same on the CPU. It asserts: the end-to-end parity test (ResNet-18, three
# training steps on CUDA and on the CPU from the same weights: logits, every gradient, BatchNorm statistics and the
# Adam-updated weights), both runs finish, and their test mAPs agree within SPML_GC_TRAIN_MAP_TOLERANCE points (the
# float32 paths differ in rounding only, over 2 epochs); then the mAPs side by side.
phase_train() {
  local dir="$BUILD/train-check" tolerance="${SPML_GC_TRAIN_MAP_TOLERANCE:-3}"
  rm -rf "$dir"
  echo "+ SPML_REQUIRE_CUDA=1 $BUILD/bin/spml_tests_ops --gtest_filter='CudaEndToEnd.*'"
  SPML_REQUIRE_CUDA=1 "$BUILD/bin/spml_tests_ops" --gtest_filter='CudaEndToEnd.*' || return 1
  local flags=(--dataset toy-shapes --data "$dir/toy" --epochs 2 --deterministic)
  echo "+ $BUILD/bin/spml-train ${flags[*]} --device cuda --out $dir/cuda"
  "$BUILD/bin/spml-train" "${flags[@]}" --device cuda --out "$dir/cuda" || return 1
  echo "+ $BUILD/bin/spml-train ${flags[*]} --device cpu --out $dir/cpu"
  "$BUILD/bin/spml-train" "${flags[@]}" --device cpu --out "$dir/cpu" || return 1
  "$BUILD/bin/spml-report" "$dir/cuda" "$dir/cpu" --plot "$dir/val_mAP.svg" || return 1
  local cuda_map cpu_map
  cuda_map="$(sed -n 's/.*"test_mAP": *\([-0-9.eE+]*\).*/\1/p' "$dir/cuda/test.json" | head -n 1)"
  cpu_map="$(sed -n 's/.*"test_mAP": *\([-0-9.eE+]*\).*/\1/p' "$dir/cpu/test.json" | head -n 1)"
  if [[ -z "$cuda_map" || -z "$cpu_map" ]]; then
    echo "gpu-check: train: test_mAP missing from $dir/cuda/test.json or $dir/cpu/test.json"
    return 1
  fi
  if ! awk -v a="$cuda_map" -v b="$cpu_map" -v t="$tolerance" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
  then
    echo "gpu-check: train: test mAP cuda $cuda_map vs cpu $cpu_map differ by more than $tolerance points"
    return 1
  fi
  echo "gpu-check: train: test mAP cuda $cuda_map, cpu $cpu_map (within $tolerance points)"
}

phase_bench() {  # phase_bench DEVICE
  echo "+ $BUILD/bin/spml-bench --device $1"
  "$BUILD/bin/spml-bench" --device "$1" || return 1
  if [[ "$1" == cuda ]]; then
    # Against PyTorch on the same GPU in the same call: the python3 on PATH holds this machine's CUDA PyTorch
    # (the apps default to Debian's /usr/bin/python3, the CPU machines' torch).
    export SPML_TORCH_PYTHON="$(command -v python3 || echo python3)"
    echo "+ SPML_TORCH_PYTHON=$SPML_TORCH_PYTHON ($(timeout 60 "$SPML_TORCH_PYTHON" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -n 1))"
    # The SPML step (ResNet-50, batch 8, 448 px) and the throughput step (batch 64, 224 px), each after 2 warm-ups.
    echo "+ $BUILD/bin/spml-bench --device cuda --gpu-suite --repeats 6 --warmup 2"
    "$BUILD/bin/spml-bench" --device cuda --gpu-suite --repeats 6 --warmup 2 || return 1
    # The fused GR loss against PyTorch's unfused ops at B = 256, C = 80 and 312.
    echo "+ $BUILD/bin/spml-loss --bench --device cuda --loss gr --repeats 50"
    "$BUILD/bin/spml-loss" --bench --device cuda --loss gr --repeats 50 || return 1
  fi
  # The kernel studies (dev/kernels): every GPU version validated against the float64 reference, then timed.
  if [[ "$1" == cuda && -x "$BUILD/bin/dev-spml-loss" ]]; then
    echo "+ $BUILD/bin/dev-spml-loss --reps 20"
    "$BUILD/bin/dev-spml-loss" --reps 20 || return 1
    echo "+ $BUILD/bin/dev-adam --tensors 161 --reps 10"
    "$BUILD/bin/dev-adam" --tensors 161 --reps 10 || return 1
  fi
}

if [[ "${1:-}" == --phase ]]; then
  shift
  case "${1:-}" in
    configure) phase_configure ;;
    build) phase_build ;;
    test) phase_test ;;
    sanitize) phase_sanitize ;;
    bench) phase_bench "${2:?device}" ;;
    train) phase_train ;;
    *) echo "gpu-check: unknown phase '${1:-}'" >&2; exit 2 ;;
  esac
  exit $?
fi

# ======================================================================================================
# Main part.
# ======================================================================================================
LOG_DIR="${OUT:-gpu-logs}"
mkdir -p "$LOG_DIR"
LOG_DIR="$(cd "$LOG_DIR" && pwd)"
BUDGET="${SPML_GPU_CHECK_BUDGET:-540}"
export SPML_GC_LOG_DIR="$LOG_DIR"
T0="$(date +%s.%N)"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
left() { awk -v a="$T0" -v b="$(now)" -v B="$BUDGET" 'BEGIN { printf "%d", B - (b - a) }'; }
min() { if (($1 < $2)); then echo "$1"; else echo "$2"; fi; }

P_NAME=()
P_STATUS=()
P_SECS=()
FAILED=0
record() {  # record PHASE STATUS SECONDS
  P_NAME+=("$1")
  P_STATUS+=("$2")
  P_SECS+=("$3")
  case "$2" in ok | "skipped (no spml-bench)") ;; *) FAILED=1 ;; esac
}

# run_timed LOG CAP ARGS...: runs `gpu-check.sh --phase ARGS...` under a timeout of min(CAP, time left - 10),
# appends its output to LOG; sets RUN_STATUS (ok / failed (exit N) / timeout after Ns / skipped (no time left)).
run_timed() {
  local log="$1" cap="$2" t rc
  shift 2
  t="$(min "$cap" $(($(left) - 10)))"
  if ((t < 10)); then
    echo "=== gpu-check: $* skipped: no time left in the ${BUDGET}s budget" | tee -a "$log"
    RUN_STATUS="skipped (no time left)"
    return
  fi
  echo "=== gpu-check: $* (timeout ${t}s, $(left)s left)" | tee -a "$log"
  timeout -k 5 "$t" bash "$SELF" --phase "$@" 2>&1 | tee -a "$log"
  rc="${PIPESTATUS[0]}"
  case "$rc" in
    0) RUN_STATUS=ok ;;
    124 | 137) RUN_STATUS="timeout after ${t}s" ;;
    *) RUN_STATUS="failed (exit $rc)" ;;
  esac
  echo "=== gpu-check: $* -> $RUN_STATUS" | tee -a "$log"
}

summary() {
  local i
  {
    echo
    echo "=== gpu-check summary (logs in $LOG_DIR)"
    printf '%-10s %-26s %8s\n' phase status seconds
    printf '%-10s %-26s %8s\n' ---------- -------------------------- --------
    for i in "${!P_NAME[@]}"; do
      printf '%-10s %-26s %8s\n' "${P_NAME[$i]}" "${P_STATUS[$i]}" "${P_SECS[$i]}"
    done
    printf '%-10s %-26s %8s\n' total "$( ((FAILED)) && echo FAILED || echo ok)" "$(since "$T0")"
    if [[ -s "$LOG_DIR/test-counts.txt" ]]; then
      echo
      printf '%-26s %6s %6s %6s %7s\n' binary run passed failed skipped
      while read -r name run passed failed skipped; do
        printf '%-26s %6s %6s %6s %7s\n' "$name" "$run" "${passed:-}" "${failed:-}" "${skipped:-}"
      done <"$LOG_DIR/test-counts.txt"
    fi
    if [[ -s "$LOG_DIR/sanitize.log" ]]; then
      echo
      grep '^gpu-check: compute-sanitizer' "$LOG_DIR/sanitize.log" || true
    fi
    if [[ -s "$LOG_DIR/bench.log" ]]; then
      echo
      echo "bench vs PyTorch (spml/PyTorch time ratio < 1: spml faster; torch/fused > 1: the fused loss faster):"
      grep -E '^(SPML step|  spml |  PyTorch|  spml/PyTorch)|^PyTorch baseline|^loss +B +C |^gr +256 ' \
        "$LOG_DIR/bench.log" | head -n 24 || true
      echo "bench kernels (ratio > 1: faster than the same-run baseline):"
      grep -E 'ratio|img/s|speedup' "$LOG_DIR/bench.log" |
        grep -vE '^\+|^(SPML step|  )|^PyTorch baseline|^loss +B +C |^spml [0-9]' | head -n 24 || true
    fi
  } | tee "$LOG_DIR/summary.txt"
}

# --- env: GPU, toolchain, cuDNN, .deps -----------------------------------------------------------------
ENV_LOG="$LOG_DIR/env.log"
: >"$ENV_LOG"
t_env="$(now)"
env_ok=1
env_reason=""  # the first thing missing, said in the one line the check stops with
missing() {
  env_ok=0
  [[ -n "$env_reason" ]] || env_reason="$1"
}
{
  echo "=== gpu-check: env ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm), nproc $JOBS, budget ${BUDGET}s)"
  echo "--- nvidia-smi"
  gpu_visible=0
  compute_cap=""
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu-check: nvidia-smi not found: no NVIDIA driver here"
    missing "no NVIDIA driver (nvidia-smi not found): no GPU on this machine"
  elif timeout 30 nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap --format=csv; then
    gpu_visible=1
    compute_cap="$(timeout 15 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 |
      tr -d ' .')"
  elif timeout 30 nvidia-smi; then
    gpu_visible=1
  else
    echo "gpu-check: nvidia-smi failed: no GPU visible"
    missing "nvidia-smi failed: no GPU visible"
  fi

  echo "--- nvcc"
  NVCC="$(command -v nvcc || true)"
  if [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]]; then
    NVCC=/usr/local/cuda/bin/nvcc
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  if [[ -n "$NVCC" ]]; then
    echo "nvcc: $NVCC"
    "$NVCC" --version | tail -n 3
    # The driver must support the runtime's CUDA major version (minor versions are compatible); an older one makes
    # the runtime report "no CUDA device", which would turn every CUDA test into a failure further on.
    nvcc_cuda="$("$NVCC" --version | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)"
    driver_cuda=""
    ((gpu_visible)) && driver_cuda="$(timeout 15 nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)"
    echo "driver supports CUDA ${driver_cuda:-unknown}; nvcc (the runtime the build links) is CUDA ${nvcc_cuda:-unknown}"
    if [[ -n "$driver_cuda" && -n "$nvcc_cuda" ]]; then
      if ((${driver_cuda%%.*} < ${nvcc_cuda%%.*})); then
        missing "the NVIDIA driver supports CUDA $driver_cuda, older than nvcc's CUDA $nvcc_cuda (update the driver)"
      elif ! printf '%s\n%s\n' "$nvcc_cuda" "$driver_cuda" | sort -V -C; then
        echo "gpu-check: warning: the driver's CUDA $driver_cuda is older than nvcc's $nvcc_cuda (minor-version compatibility only)"
      fi
    fi
  else
    echo "gpu-check: nvcc not found (PATH, /usr/local/cuda/bin)"
    missing "nvcc not found (PATH, /usr/local/cuda/bin)"
  fi

  echo "--- cmake / generator"
  cmake --version | head -n 1
  cmake_ver="$(cmake --version | head -n 1 | awk '{ print $3 }')"
  if ! printf '%s\n3.25\n' "$cmake_ver" | sort -V -C -r; then
    echo "gpu-check: CMake $cmake_ver is older than the 3.25 the project needs"
    missing "CMake $cmake_ver < 3.25"
  fi
  NINJA="$(command -v ninja || true)"
  if [[ -z "$NINJA" ]]; then  # the pip package 'ninja' may hold the only copy
    NINJA="$(timeout 20 python3 -c 'import ninja, os; print(os.path.join(ninja.BIN_DIR, "ninja"))' 2>/dev/null || true)"
    [[ -n "$NINJA" && -x "$NINJA" ]] || NINJA=""
  fi
  if [[ -n "$NINJA" ]]; then echo "generator: Ninja ($NINJA, $("$NINJA" --version))"; else echo "generator: default (no ninja)"; fi
  # A build folder made by another generator cannot be reused.
  if [[ -f "$BUILD/CMakeCache.txt" ]]; then
    old_gen="$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$BUILD/CMakeCache.txt")"
    want_gen="Unix Makefiles"
    [[ -n "$NINJA" ]] && want_gen="Ninja"
    if [[ "$old_gen" != "$want_gen" ]]; then
      echo "gpu-check: $BUILD/ was made with '$old_gen', now '$want_gen': removing it"
      rm -rf "$BUILD"
    fi
  fi

  echo "--- CUDA architectures"
  ARCH_FALLBACK="${compute_cap:-90}"
  if [[ -n "${SPML_CUDA_ARCHITECTURES:-}" ]]; then
    ARCH="$SPML_CUDA_ARCHITECTURES"
  elif ((gpu_visible)) && printf '%s\n3.24\n' "$cmake_ver" | sort -V -C -r; then
    ARCH=native  # CMake >= 3.24 and a GPU to ask
  else
    ARCH="$ARCH_FALLBACK"
  fi
  echo "SPML_CUDA_ARCHITECTURES=$ARCH (fallback $ARCH_FALLBACK)"

  echo "--- cuDNN"
  # Candidates, in order: CUDNN_ROOT; the wheel's package folder (nvidia.cudnn may be a namespace package,
  # __file__ None: use __path__); any site-packages/nvidia/*/ holding include/cudnn.h; system folders.
  mapfile -t cudnn_candidates < <(
    [[ -n "${CUDNN_ROOT:-}" ]] && echo "$CUDNN_ROOT"
    timeout 30 python3 - <<'PY'
import glob, os, site, sys
roots = []
try:
    import nvidia.cudnn as m
    f = getattr(m, "__file__", None)
    if f:
        roots.append(os.path.dirname(f))
    roots += [str(p) for p in getattr(m, "__path__", [])]
except Exception as e:  # not installed, or no nvidia package at all
    print("gpu-check: python3 cannot import nvidia.cudnn: %r" % (e,), file=sys.stderr)
dirs = []
try:
    dirs += site.getsitepackages()
except Exception:
    pass
try:
    dirs.append(site.getusersitepackages())
except Exception:
    pass
for d in dirs:
    for h in sorted(glob.glob(os.path.join(d, "nvidia", "*", "include", "cudnn.h"))):
        roots.append(os.path.dirname(os.path.dirname(h)))
for r in roots:
    print(os.path.realpath(r))
PY
    echo /usr/local/cuda
    echo /usr
  )
  CUDNN_DIR=""
  CUDNN_LIB=""
  declare -A seen=()
  for c in "${cudnn_candidates[@]}"; do
    [[ -z "$c" || -n "${seen[$c]:-}" ]] && continue
    seen[$c]=1
    inc=""
    lib=""
    [[ -f "$c/include/cudnn.h" ]] && inc="$c/include"
    for l in lib lib64 "lib/$(uname -m)-linux-gnu"; do
      if [[ -e "$c/$l/libcudnn.so.9" ]]; then lib="$c/$l"; break; fi
    done
    echo "candidate $c: include/cudnn.h $([[ -n "$inc" ]] && echo yes || echo NO), libcudnn.so.9 in ${lib:-NO}"
    if [[ -n "$inc" && -n "$lib" ]]; then
      CUDNN_DIR="$c"
      CUDNN_LIB="$lib"
      break
    fi
  done
  if [[ -n "$CUDNN_DIR" ]]; then
    echo "cuDNN: $CUDNN_DIR (library folder $CUDNN_LIB)"
    ver_h="$CUDNN_DIR/include/cudnn_version.h"
    [[ -f "$ver_h" ]] && echo "cuDNN version: $(awk '/#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) /{ printf "%s%s", s, $3; s="." }' "$ver_h")"
    export LD_LIBRARY_PATH="$CUDNN_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # cuDNN's sublibraries are loaded at run time: report (and where possible resolve) what they miss.
    missing="$(ldd "$CUDNN_LIB"/libcudnn*.so.9 2>/dev/null | awk '/not found/ { print $1 }' | sort -u)"
    for so in $missing; do
      hit="$(find "$CUDNN_DIR/.." /usr/local/cuda/lib64 /usr/local/cuda/targets/*/lib -maxdepth 3 -name "$so" \
        2>/dev/null | head -n 1)"
      if [[ -n "$hit" ]]; then
        echo "cuDNN needs $so: adding $(dirname "$hit") to LD_LIBRARY_PATH"
        LD_LIBRARY_PATH="$(dirname "$hit"):$LD_LIBRARY_PATH"
      else
        echo "gpu-check: warning: cuDNN needs $so, not found"
      fi
    done
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  else
    echo "gpu-check: cuDNN not found (need include/cudnn.h and lib/libcudnn.so.9 under one folder; set CUDNN_ROOT)"
    missing "cuDNN not found (set CUDNN_ROOT)"
  fi

  echo "--- .deps"
  DEPS_PREFIX=0
  if [[ -f .deps/MANIFEST ]]; then
    sed -n '1,4p' .deps/MANIFEST
    deps_arch="$(sed -n 's/^arch: //p' .deps/MANIFEST)"
    if [[ -d .deps/lib && "$deps_arch" == "$(uname -m)" ]]; then
      DEPS_PREFIX=1
    elif [[ -d .deps/lib ]]; then
      echo "gpu-check: warning: .deps/lib was packed for '$deps_arch', this is $(uname -m): not using its libraries"
    fi
  else
    echo "gpu-check: warning: no .deps/ (run scripts/pack-gpu-deps.sh and carry .deps): json, CLI11 and"
    echo "           GoogleTest will be missing here"
  fi

  # Hand the results to the phase processes.
  export SPML_GC_NINJA="$NINJA" SPML_GC_NVCC="$NVCC" SPML_GC_ARCH="$ARCH" SPML_GC_ARCH_FALLBACK="$ARCH_FALLBACK"
  export SPML_GC_CUDNN_ROOT="$CUDNN_DIR" SPML_GC_DEPS_PREFIX="$DEPS_PREFIX" LD_LIBRARY_PATH PATH
} >>"$ENV_LOG" 2>&1
cat "$ENV_LOG"
if ((env_ok)); then
  record env ok "$(since "$t_env")"
elif [[ "${SPML_GPU_CHECK_BUILD_ANYWAY:-0}" == 1 ]]; then
  record env "failed (see env.log)" "$(since "$t_env")"
  echo "gpu-check: env: $env_reason; going on (SPML_GPU_CHECK_BUILD_ANYWAY=1)"
else
  # Nothing after this can pass: stop in one line instead of spending the budget on a build.
  echo "gpu-check: STOP: $env_reason (env.log has the details; SPML_GPU_CHECK_BUILD_ANYWAY=1 builds anyway)" |
    tee -a "$ENV_LOG"
  exit 1
fi

# --- configure, build, test, bench ---------------------------------------------------------------------
CONFIGURE_LOG="$LOG_DIR/configure.log"
: >"$CONFIGURE_LOG"
t="$(now)"
run_timed "$CONFIGURE_LOG" 90 configure
record configure "$RUN_STATUS" "$(since "$t")"
configured="$([[ "$RUN_STATUS" == ok ]] && echo 1 || echo 0)"

BUILD_LOG="$LOG_DIR/build.log"
: >"$BUILD_LOG"
built=0
if ((configured)); then
  t="$(now)"
  run_timed "$BUILD_LOG" 200 build
  record build "$RUN_STATUS" "$(since "$t")"
  [[ "$RUN_STATUS" == ok ]] && built=1
else
  echo "=== gpu-check: build skipped: configure failed" | tee -a "$BUILD_LOG"
  record build "skipped (configure failed)" 0
fi

BENCH="$BUILD/bin/spml-bench"
TEST_LOG="$LOG_DIR/test.log"
: >"$TEST_LOG"
if ((configured)); then
  # Even after a failed build the tests that did build still run (the build keeps going after errors).
  # Leave the training check, the bench and the sanitizers half of what is left, at most 240 s, when they are
  # there to run (the tests usually finish well inside their cap).
  reserve=0
  ((built)) && [[ -x "$BENCH" ]] && reserve="$(min 240 $(($(left) / 2)))"
  t="$(now)"
  run_timed "$TEST_LOG" $(($(left) - reserve - 10)) test
  record test "$RUN_STATUS" "$(since "$t")"
else
  echo "=== gpu-check: test skipped: configure failed" | tee -a "$TEST_LOG"
  record test "skipped (configure failed)" 0
fi

TRAIN_LOG="$LOG_DIR/train.log"
: >"$TRAIN_LOG"
if ((built)) && [[ -x "$BUILD/bin/spml-train" ]]; then
  t="$(now)"
  run_timed "$TRAIN_LOG" "$(min 60 $(($(left) / 3)))" train
  record train "$RUN_STATUS" "$(since "$t")"
else
  echo "=== gpu-check: train skipped: spml-train was not built" | tee -a "$TRAIN_LOG"
  record train "skipped (not built)" 0
fi

BENCH_LOG="$LOG_DIR/bench.log"
: >"$BENCH_LOG"
if ((!built)); then
  echo "=== gpu-check: bench skipped: the build failed" | tee -a "$BENCH_LOG"
  record bench "skipped (build failed)" 0
elif [[ ! -x "$BENCH" ]]; then
  echo "=== gpu-check: bench skipped: $BENCH was not built (no such target yet)" | tee -a "$BENCH_LOG"
  record bench "skipped (no spml-bench)" 0
else
  t="$(now)"
  # The bench against PyTorch comes before the sanitizers: it is the measure a lent GPU exists for.
  run_timed "$BENCH_LOG" "$(min 180 $(($(left) / 2 + 5)))" bench cuda
  status_cuda="$RUN_STATUS"
  run_timed "$BENCH_LOG" "$(min 60 $(($(left) / 4)))" bench cpu
  status_cpu="$RUN_STATUS"
  if [[ "$status_cuda" == ok && "$status_cpu" == ok ]]; then
    record bench ok "$(since "$t")"
  else
    record bench "cuda: ${status_cuda%% *}, cpu: ${status_cpu%% *}" "$(since "$t")"
  fi
fi

SANITIZE_LOG="$LOG_DIR/sanitize.log"
: >"$SANITIZE_LOG"
if ((built)); then
  t="$(now)"
  export SPML_GC_SANITIZE_SECONDS="$(min 100 $((($(left) - 30) / 2)))"  # last: what is left, per tool
  run_timed "$SANITIZE_LOG" $((2 * SPML_GC_SANITIZE_SECONDS + 20)) sanitize
  record sanitize "$RUN_STATUS" "$(since "$t")"
else
  echo "=== gpu-check: sanitize skipped: the build failed" | tee -a "$SANITIZE_LOG"
  record sanitize "skipped (build failed)" 0
fi

summary
exit "$FAILED"
