#!/usr/bin/env bash
# The one-pass open (OpenMode::one_pass, docs/performance.md "How the engine
# works") on a GPU machine, in one go and in about four minutes: the GPU
# crypto engine's test (every open mode, the one-pass kernel at each of its
# lane counts), then the benchmark that times gated, concurrent and one-pass
# opens (kernels and engine calls, each lane count) next to plain copies, and
# a short Nsight Compute look at the one-pass kernel when ncu is there.
#   tests/vgpu/cuda/run-onepass-on-device.sh CARRY_DIR OUT_DIR
# CARRY_DIR holds hix-cuda-crypto-test and hix-cuda-crypto-bench, built for
# sm_90 with libstdc++ and libsodium linked statically (they run on another
# distribution, with only the NVIDIA driver). Needs no compiler, no network.
# Output in OUT_DIR: machine.txt (nvidia-smi before and after), test.log,
# bench.json (the benchmark's JSON), bench-table.txt (its two tables),
# bench.stdout (the JSON again, or why it skipped),
# ncu.txt, status.tsv (each step: name, ok/failed/skipped, exit status,
# seconds). Exit status 1 if a step failed.
set -uo pipefail

usage="usage: run-onepass-on-device.sh CARRY_DIR OUT_DIR"
[ $# -eq 2 ] || { echo "$usage" >&2; exit 2; }
bin=$(cd "$1" 2>/dev/null && pwd) || { echo "no CARRY_DIR $1" >&2; exit 2; }
mkdir -p "$2" || exit 2
out=$(cd "$2" && pwd)
for b in hix-cuda-crypto-test hix-cuda-crypto-bench; do
  [ -x "$bin/$b" ] || { echo "no $bin/$b" >&2; exit 2; }
done
t0=$SECONDS
failed=0
: >"$out/status.tsv"

say() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - t0))s] $*"; }

# step NAME LIMIT_S LOG CMD...: runs CMD under `timeout` with its output in
# LOG and records the verdict in status.tsv.
step() {
  local name=$1 limit=$2 log=$3
  shift 3
  local s=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 || rc=$?
  local took=$((SECONDS - s)) verdict=ok
  [ "$rc" -eq 0 ] || verdict=failed
  # A program that found no GPU passes where there is none (CI); here it
  # means the run proved nothing.
  [ "$rc" -eq 0 ] && grep -q 'skipped: no GPU' "$log" && verdict=skipped
  printf '%s\t%s\t%s\t%s\n' "$name" "$verdict" "$rc" "$took" >>"$out/status.tsv"
  if [ "$verdict" = ok ]; then
    say "ok $name (${took}s)"
  else
    failed=1
    say "${verdict^^} $name (exit $rc after ${took}s)"
    tail -n 12 "$log" | sed 's/^/    | /'
  fi
}

{
  date -u +%Y-%m-%dT%H:%M:%SZ
  uname -r
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit \
    --format=csv
} >"$out/machine.txt" 2>&1
say "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"

step crypto-test 120 "$out/test.log" "$bin/hix-cuda-crypto-test"
grep -E '^  |^hix-cuda-crypto-test: ' "$out/test.log"

# The benchmark's tables go to stderr (bench-table.txt), its JSON to stdout
# (bench.stdout; a "skipped: no GPU" there is copied to the table's file) and
# bench.json.
# shellcheck disable=SC2016  # the inner sh expands its own arguments
step crypto-bench 120 "$out/bench-table.txt" \
  sh -c '"$1" --json "$2" 2>&1 >"$3"; rc=$?; grep "skipped: no GPU" "$3"; exit $rc' \
  sh "$bin/hix-cuda-crypto-bench" "$out/bench.json" "$out/bench.stdout"
cat "$out/bench-table.txt"
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv \
  >>"$out/machine.txt" 2>&1

# Nsight Compute on the one-pass kernel at 256 MiB: the engine's first open
# (default lanes), then three timed launches at each lane count; while time
# is left.
if command -v ncu >/dev/null && [ $((SECONDS - t0)) -lt 170 ]; then
  timeout --kill-after=5 60 ncu --clock-control none -k 'regex:open_chunks' -c 10 \
    --section SpeedOfLight --section ComputeWorkloadAnalysis --section Occupancy \
    --section MemoryWorkloadAnalysis --section LaunchStats \
    "$bin/hix-cuda-crypto-bench" --sizes-mib 256 --reps 1 >"$out/ncu.txt" 2>&1 ||
    say "ncu did not finish (see ncu.txt)"
fi
say "done in $((SECONDS - t0))s; $out/bench.json, $out/test.log"
exit "$failed"
