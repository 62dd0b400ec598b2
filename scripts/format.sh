#!/usr/bin/env bash
# scripts/format.sh: formats the project's C++/CUDA sources (*.h *.cpp *.cu *.cuh under framework kernels models
# losses training apps tests dev; never third_party or build*) with clang-format and the repo's .clang-format.
#   scripts/format.sh           rewrite the files in place
#   scripts/format.sh --check   change nothing; list the files that would change and exit 1 if there are any
# CLANG_FORMAT picks the binary (default clang-format).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

check=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "format.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
  echo "format.sh: $CLANG_FORMAT not found (scripts/setup.sh installs clang-format)" >&2
  exit 1
fi

dirs=()
for d in framework kernels models losses training apps tests dev; do
  [[ -d "$d" ]] && dirs+=("$d")
done
if ((${#dirs[@]} == 0)); then
  echo "format.sh: no source folders found"
  exit 0
fi

mapfile -d '' -t files < <(
  find "${dirs[@]}" \( -type d \( -name 'build*' -o -name third_party \) -prune \) -o \
    -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) -print0 | sort -z
)
if ((${#files[@]} == 0)); then
  echo "format.sh: no source files"
  exit 0
fi

if ((check == 0)); then
  "$CLANG_FORMAT" -i --style=file "${files[@]}"
  echo "format.sh: formatted ${#files[@]} files"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  if ! "$CLANG_FORMAT" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
if ((${#bad[@]} != 0)); then
  echo "format.sh: ${#bad[@]} of ${#files[@]} files need formatting (run scripts/format.sh):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "format.sh: ${#files[@]} files formatted correctly"
