#!/usr/bin/env bash
# scripts/run_experiments.sh: runs SPML losses x seeds with spml-train and writes the report (spml-report).
# Default: the Fashion-Mosaic reference configuration, i.e. spml-train's defaults for the data set (ResNet-18 from
# random init, 64 px, 2400 train / 600 val / 2000 test, 6 epochs, batch 32, Adam lr 3e-4 with the head at 10x;
# about 2-2.5 minutes per run on 2 cores). scripts/main-job.sh runs it for GR and AN at seed 0.
# The paper's table on a GPU machine with a real data set, e.g.:
#   scripts/run_experiments.sh --dataset voc --data data/voc --arch resnet50 --weights resnet50.safetensors \
#     --device cuda --epochs 8 --max-train 0 --seeds "0 1 2"
# Options: --dataset D --data DIR --out DIR (default runs/experiments-<dataset>) --losses "gr an ..." --seeds "0 1 2"
# --epochs N (default: the data set's) --max-train N (default 0: all) --arch A --weights W --device DEV --bin DIR
# (default build/bin); anything after "--" goes to every spml-train call. Finished runs (test.json present) are
# kept; interrupted ones are resumed. The report covers every run folder in OUT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dataset=fashion-mosaic
data=""
out=""
losses="gr an an_ls wan epr role em bce"
seeds="0 1 2"
epochs=""
max_train=0
arch=""
weights=""
device=cpu
bin="${SPML_BIN:-build/bin}"
extra=()
while (($#)); do
  case "$1" in
    --dataset) dataset="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --losses) losses="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --max-train) max_train="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --weights) weights="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_experiments.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$data" ]] || data="data/${dataset}"
[[ -n "$out" ]] || out="runs/experiments-${dataset}"
for exe in spml-train spml-report; do
  [[ -x "${bin}/${exe}" ]] || { echo "run_experiments.sh: ${bin}/${exe} not found (build it, or pass --bin)" >&2; exit 1; }
done
mkdir -p "$out"

flags=(--dataset "$dataset" --data "$data" --device "$device" --max-train "$max_train")
[[ -n "$epochs" ]] && flags+=(--epochs "$epochs")
[[ -n "$arch" ]] && flags+=(--arch "$arch")
[[ -n "$weights" ]] && flags+=(--weights "$weights")
flags+=("${extra[@]+"${extra[@]}"}")

echo "=== run_experiments.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), losses [${losses}], seeds [${seeds}], ${flags[*]}"
run_dirs=()
for seed in $seeds; do
  for loss in $losses; do
    dir="${out}/${dataset}-${loss}-s${seed}"
    run_dirs+=("$dir")
    if [[ -f "${dir}/test.json" ]]; then
      echo "=== ${dir}: finished earlier, kept"
      continue
    fi
    start=$(date +%s)
    if [[ -f "${dir}/last.ckpt" ]]; then
      resume_flags=(--out "$dir" --resume)
      [[ -n "$epochs" ]] && resume_flags+=(--epochs "$epochs")
      "${bin}/spml-train" "${resume_flags[@]}" 2>> "${dir}.log" || exit $?
    else
      rm -rf "$dir"
      "${bin}/spml-train" "${flags[@]}" --loss "$loss" --seed "$seed" --out "$dir" 2> "${dir}.log" || exit $?
    fi
    echo "=== ${dir}: done in $(($(date +%s) - start)) s"
  done
done
# The report covers every run in OUT (earlier invocations with other losses or seeds included).
all_runs=()
for dir in "${out}"/*/; do
  [[ -f "${dir}config.json" ]] && all_runs+=("${dir%/}")
done
# GR against AN per seed when both ran (spml-report --paired).
report_flags=(--markdown "${out}/report.md" --plot "${out}/val_mAP.svg")
[[ " ${losses} " == *" gr "* && " ${losses} " == *" an "* ]] && report_flags+=(--paired gr,an)
"${bin}/spml-report" "${all_runs[@]}" "${report_flags[@]}"
