#!/usr/bin/env bash
# scripts/setup.sh: installs the Debian packages the project needs to build and test (idempotent).
#   scripts/setup.sh             base packages (compilers incl. clang for fuzzing and TSan, CMake, GoogleTest, OpenBLAS,
#                                oneDNN, headers, data set)
#   scripts/setup.sh --fixtures  also the Python packages of the fixture generators and baselines (PyTorch, torchvision, ...)
# All present: prints "setup: all packages present", exits 0. Some missing: as root, one `apt-get update`
# and one `apt-get install`; as another user, prints the `sudo apt-get install` line and exits 1.
set -euo pipefail

BASE_PACKAGES=(
  build-essential cmake git pkg-config
  googletest libgtest-dev
  libopenblas-dev libdnnl-dev
  nlohmann-json3-dev libcli11-dev libstb-dev
  zlib1g-dev libturbojpeg0-dev
  dataset-fashion-mnist
  clang-format
  clang-14 libclang-rt-14-dev libomp-14-dev
)
FIXTURE_PACKAGES=(python3-torch python3-torchvision python3-numpy python3-pil python3-sklearn)

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
}

packages=("${BASE_PACKAGES[@]}")
for arg in "$@"; do
  case "$arg" in
    --fixtures) packages+=("${FIXTURE_PACKAGES[@]}") ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup: dpkg-query not found: this is not a Debian-like system." >&2
  echo "setup: install the equivalents of: ${packages[*]}" >&2
  echo "setup: (scripts/test.sh and scripts/demo.sh skip this step with SPML_SKIP_SETUP=1)" >&2
  exit 1
fi

# A package counts as present only in the state "install ok installed" (not "deinstall", "config-files", ...).
missing_packages() {
  local p
  for p in "$@"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != "installed" ]]; then
      printf '%s\n' "$p"
    fi
  done
}

mapfile -t missing < <(missing_packages "${packages[@]}")
if ((${#missing[@]} == 0)); then
  echo "setup: all packages present"
  exit 0
fi

echo "setup: missing packages: ${missing[*]}"
if [[ "$(id -u)" -ne 0 ]]; then
  echo "setup: not root; install them with:"
  echo "sudo apt-get install -y ${missing[*]}"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-get update; then
  echo "setup: warning: apt-get update failed; trying the install with the package lists at hand" >&2
fi
apt-get install -y --no-install-recommends "${missing[@]}"

mapfile -t still_missing < <(missing_packages "${packages[@]}")
if ((${#still_missing[@]} != 0)); then
  echo "setup: still missing after apt-get install: ${still_missing[*]}" >&2
  exit 1
fi
echo "setup: installed ${missing[*]}"
