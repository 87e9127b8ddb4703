#!/usr/bin/env bash
# Runs the GPU crypto engine's test and benchmark on a GPU machine, in one go,
# with what docs/performance.md records: the GPU, its driver and clocks, the
# test log, the benchmark's JSON, the kernels' SASS and a short Nsight Compute
# look at the four kernels (when ncu is there); and, when BIN_DIR has it, the
# cuda compute backend's test (GoogleTest; its log in backend-test.log, its
# per-case results in backend-test.xml, its last line the verdict).
#   tests/vgpu/cuda/run-on-device.sh BIN_DIR OUT_DIR
# BIN_DIR holds hix-cuda-crypto-test and hix-cuda-crypto-bench (statically
# linked against libstdc++ and libsodium, so they run on another distribution)
# and optionally hix-cuda-backend-test (which needs libcublas.so.13: the CUDA
# toolkit's or a pip wheel's, on LD_LIBRARY_PATH). HIX_BACKEND_TEST_ARGS adds
# arguments to it (--gtest_filter=..., --seed N).
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
if [ -x "$bin/hix-cuda-backend-test" ]; then
  # Every case's output in the log; the failures and the verdict printed here.
  # shellcheck disable=SC2086  # HIX_BACKEND_TEST_ARGS is a list of words
  "$bin/hix-cuda-backend-test" --gtest_output="xml:$out/backend-test.xml" \
    ${HIX_BACKEND_TEST_ARGS:-} >"$out/backend-test.log" 2>&1 || rc=1
  grep -E '^\[  FAILED  \]|^hix-cuda-backend-test: ' "$out/backend-test.log" | sort -u
fi
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
