#!/usr/bin/env bash
# Runs the GPU crypto engine's test and benchmark on a GPU machine, in one go,
# with what docs/performance.md records: the GPU, its driver and clocks, the
# test log, the benchmark's JSON, the kernels' SASS and a short Nsight Compute
# look at the four kernels (when ncu is there).
#   tests/vgpu/cuda/run-on-device.sh BIN_DIR OUT_DIR
# BIN_DIR holds hix-cuda-crypto-test and hix-cuda-crypto-bench (statically
# linked against libstdc++ and libsodium, so they run on another distribution).
set -uo pipefail
bin=${1:?usage: run-on-device.sh BIN_DIR OUT_DIR}
out=${2:?usage: run-on-device.sh BIN_DIR OUT_DIR}
mkdir -p "$out"
{
  date -u +%Y-%m-%dT%H:%M:%SZ
  uname -r
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit \
    --format=csv
} 2>&1 | tee "$out/machine.txt"

rc=0
"$bin/hix-cuda-crypto-test" 2>&1 | tee "$out/test.log" || rc=1
"$bin/hix-cuda-crypto-bench" --json "$out/bench.json" 2>"$out/bench-table.txt" >/dev/null || rc=1
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv \
  >>"$out/machine.txt" 2>&1

if command -v cuobjdump >/dev/null; then
  cuobjdump --dump-sass "$bin/hix-cuda-crypto-bench" >"$out/sass.txt" 2>&1
  cuobjdump --dump-resource-usage "$bin/hix-cuda-crypto-bench" >"$out/resources.txt" 2>&1
fi
if command -v ncu >/dev/null; then
  # Seal (keystream XOR, tags) and open (verify, keystream XOR) of 256 MiB.
  timeout 180 ncu --clock-control none -k 'regex:chunk_mac|chacha_xor' -c 4 \
    --section SpeedOfLight --section ComputeWorkloadAnalysis --section Occupancy \
    --section MemoryWorkloadAnalysis \
    "$bin/hix-cuda-crypto-bench" --sizes-mib 256 --reps 1 >"$out/ncu.txt" 2>&1
fi
cat "$out/bench-table.txt"
exit "$rc"
