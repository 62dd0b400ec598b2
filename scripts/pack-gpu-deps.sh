#!/usr/bin/env bash
# scripts/pack-gpu-deps.sh: run on this Debian machine (apt available) to fill the git-ignored folder .deps/
# with what the GPU machine lacks (no apt, no network there): the header-only dependencies (nlohmann-json,
# CLI11, stb), the GoogleTest sources, and zlib/libjpeg-turbo headers and shared libraries. Carry .deps to
# the GPU machine and configure with -DSPML_DEPS_DIR=$PWD/.deps (scripts/gpu-check.sh does).
# Layout: .deps/include/{nlohmann,CLI,stb,zlib.h,zconf.h,turbojpeg.h} .deps/googletest/ .deps/lib/ MANIFEST
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEPS=.deps
MAX_MIB=32  # the working tree that travels to the GPU machine is limited to 64 MiB in all
MULTIARCH="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -dumpmachine)"
LIBDIR="/usr/lib/${MULTIARCH}"

need() {
  if [[ ! -e "$1" ]]; then
    echo "pack-gpu-deps: $1 not found: install the packages first (scripts/setup.sh)" >&2
    exit 1
  fi
}
need /usr/include/nlohmann/json.hpp
need /usr/include/CLI/CLI.hpp
need /usr/include/stb/stb_image.h
need /usr/include/stb/stb_image_write.h
need /usr/src/googletest/CMakeLists.txt
need /usr/src/googletest/googletest/CMakeLists.txt
need /usr/src/googletest/googlemock/CMakeLists.txt

rm -rf "$DEPS"
mkdir -p "$DEPS/include/stb" "$DEPS/lib"

# Header-only libraries (-L: copy what symlinks point to, so the folder is self-contained).
cp -rL /usr/include/nlohmann "$DEPS/include/"
cp -rL /usr/include/CLI "$DEPS/include/"
cp -L /usr/include/stb/stb_image.h /usr/include/stb/stb_image_write.h "$DEPS/include/stb/"
for f in /usr/include/stb/stb_image_resize*.h; do
  [[ -e "$f" ]] && cp -L "$f" "$DEPS/include/stb/"
done

# GoogleTest: the whole source tree (googletest + googlemock), built from source by third_party/.
cp -rL /usr/src/googletest "$DEPS/googletest"

# zlib and libjpeg-turbo: headers, and the shared libraries under their link name (libX.so) and SONAME
# (libX.so.N), as plain files (no symlinks to lose on the way).
copy_lib() {  # copy_lib NAME: e.g. copy_lib z copies libz.so and the file named by its SONAME
  local name="$1" link real soname
  link="${LIBDIR}/lib${name}.so"
  if [[ ! -e "$link" ]]; then
    echo "pack-gpu-deps: warning: ${link} not found; lib${name} not packed" >&2
    return 0
  fi
  real="$(readlink -f "$link")"
  soname="$(objdump -p "$real" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')"
  cp -L "$real" "$DEPS/lib/lib${name}.so"
  if [[ -n "$soname" && "$soname" != "lib${name}.so" ]]; then
    cp -L "$real" "$DEPS/lib/${soname}"
  fi
}
have_zlib=0
have_tj=0
if [[ -e /usr/include/zlib.h ]]; then
  cp -L /usr/include/zlib.h "$DEPS/include/"
  # zconf.h sits in /usr/include on Debian, in the multiarch folder on some others.
  for z in /usr/include/zconf.h "/usr/include/${MULTIARCH}/zconf.h"; do
    if [[ -e "$z" ]]; then cp -L "$z" "$DEPS/include/"; break; fi
  done
  copy_lib z
  have_zlib=1
else
  echo "pack-gpu-deps: warning: /usr/include/zlib.h not found (zlib1g-dev); zlib not packed" >&2
fi
if [[ -e /usr/include/turbojpeg.h ]]; then
  cp -L /usr/include/turbojpeg.h "$DEPS/include/"
  copy_lib turbojpeg
  have_tj=1
else
  echo "pack-gpu-deps: warning: /usr/include/turbojpeg.h not found (libturbojpeg0-dev); libjpeg-turbo not packed" >&2
fi

# The newest glibc symbol version the packed libraries need: the GPU machine's glibc must be at least this.
glibc_need="none"
if compgen -G "$DEPS/lib/*.so*" >/dev/null; then
  glibc_need="$(objdump -T "$DEPS"/lib/*.so* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1 || true)"
fi

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
{
  echo "# .deps/ packed by scripts/pack-gpu-deps.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(. /etc/os-release && echo "${PRETTY_NAME}"), $(uname -m), ${MULTIARCH}"
  echo "arch: $(uname -m)"
  echo "glibc_needed: ${glibc_need}"
  echo "nlohmann-json3-dev: $(pkg_version nlohmann-json3-dev)"
  echo "libcli11-dev: $(pkg_version libcli11-dev)"
  echo "libstb-dev: $(pkg_version libstb-dev)"
  echo "googletest: $(pkg_version googletest)"
  if ((have_zlib)); then echo "zlib1g-dev: $(pkg_version zlib1g-dev)"; fi
  if ((have_tj)); then echo "libturbojpeg0-dev: $(pkg_version libturbojpeg0-dev)"; fi
  echo "files:"
  (cd "$DEPS" && find . -maxdepth 2 -mindepth 1 | sort | sed 's/^/  /')
} >"$DEPS/MANIFEST"

bytes="$(du -sb "$DEPS" | cut -f1)"
mib="$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
nfiles="$(find "$DEPS" -type f | wc -l)"
echo "pack-gpu-deps: packed ${DEPS}/ (${nfiles} files):"
du -sh "$DEPS"/include/* "$DEPS"/googletest "$DEPS"/lib/* 2>/dev/null | sed 's/^/  /'
echo "pack-gpu-deps: glibc needed by the packed libraries: ${glibc_need}"
echo "pack-gpu-deps: total ${mib} MiB (${bytes} bytes)"
if ((bytes > MAX_MIB * 1048576)); then
  echo "pack-gpu-deps: error: ${DEPS}/ is over ${MAX_MIB} MiB; the working tree that travels is limited to 64 MiB" >&2
  exit 1
fi
echo "pack-gpu-deps: carry it to the GPU machine (carry: [\".deps\"]) and run scripts/gpu-check.sh there"
