#!/usr/bin/env bash
# Packs run-issue14-on-device.sh's BIN_DIR into a folder of this checkout
# that the device call carries (git-ignores /.carry-*/): hix-bench,
# hix-cuda-backend-test, hix-cuda-crypto-test and hix-cuda-crypto-bench
# stripped, libhix-kernel-trace.so, the toolkit's libcupti in lib/ (put it on
# LD_LIBRARY_PATH there), and with --baseline COMMIT that commit's hix-bench
# in baseline/ (built in a worktree of its own under BUILD_DIR-baseline), for
# HIX_DECODE_BASELINE. Prints the folder's size: a call carries 64 MiB.
#   tests/gpu/pack-for-device.sh [--baseline COMMIT] [DIR]
# DIR: .carry-gpu. BUILD_DIR: build (this checkout's configured build).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
baseline=
if [ "${1:-}" = --baseline ]; then
  baseline=$2
  shift 2
fi
dir=${1:-.carry-gpu}
build=${BUILD_DIR:-build}
cd "$root"
# ccache as qemu_scripts/openhix sets it (paths relative to the tree built).
export CCACHE_DIR=${OPENHIX_CACHE:-/var/cache/openhix}/ccache CCACHE_BASEDIR=$root \
  CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=500M
[ -f "$build/build.ninja" ] || { echo "no configured build in $build" >&2; exit 2; }
programs=(hix-bench hix-cuda-backend-test hix-cuda-crypto-test hix-cuda-crypto-bench)
cmake --build "$build" --target "${programs[@]}" hix-kernel-trace >/dev/null
rm -rf "$dir"
mkdir -p "$dir/lib"
for p in "${programs[@]}"; do strip -o "$dir/$p" "$build/$p"; done
strip -o "$dir/libhix-kernel-trace.so" "$build/libhix-kernel-trace.so"
cupti=$(find /usr/local/cuda/ -name 'libcupti.so.*' -type f 2>/dev/null | sort | tail -n 1)
[ -n "$cupti" ] || { echo "no libcupti in the toolkit" >&2; exit 2; }
cp "$cupti" "$dir/lib/$(basename "$cupti" | sed -E 's/^(libcupti\.so\.[0-9]+).*/\1/')"

if [ -n "$baseline" ]; then
  tree=$root/$build-baseline
  if [ ! -d "$tree/src" ]; then
    git worktree add --detach "$tree/src" "$baseline" >/dev/null
  else
    git -C "$tree/src" checkout -q --detach "$baseline"
  fi
  # The same configuration as this checkout's build, apart from its paths.
  if [ ! -f "$tree/obj/build.ninja" ]; then
    mapfile -t launchers < <(grep -E '^CMAKE_(C|CXX|CUDA)_COMPILER_LAUNCHER:' \
      "$build/CMakeCache.txt" | sed -E 's/^([A-Z_]+):[A-Z]+=(.*)$/-D\1=\2/')
    cmake -S "$tree/src" -B "$tree/obj" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "-DHIX_NPM_DATA=$(sed -n 's/^HIX_NPM_DATA:PATH=//p' "$build/CMakeCache.txt")" \
      "${launchers[@]}" >/dev/null
  fi
  CCACHE_BASEDIR=$tree/src cmake --build "$tree/obj" --target hix-bench >/dev/null
  mkdir -p "$dir/baseline"
  strip -o "$dir/baseline/hix-bench" "$tree/obj/hix-bench"
  git -C "$tree/src" rev-parse --short HEAD >"$dir/baseline/commit"
fi
git rev-parse --short HEAD >"$dir/commit"
du -sh "$dir"
