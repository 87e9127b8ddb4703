#!/usr/bin/env bash
# Every figure of issue 14's targets on the GPU machine, in the parts named
# by HIX_ISSUE14_PARTS, most wanted first, each part within its own time
# (what is under OUT_DIR comes back even if a call is cut off):
#   test     hix-cuda-backend-test, every case in every configuration, 260 s
#   decode   decode at batch 1 (run-decode-on-device.sh: HBM read ceiling,
#            each GEMV kernel, early launches, the launch fusions, fast mode;
#            protected and plain; each kernel's time per token), target 1,
#            220 s (then the step under way ends)
#   crypto   the crypto engine's bench (every open mode incl. one-pass),
#            target 4, 60 s
#   crypto-test  hix-cuda-crypto-test (every open mode, every one-pass lane
#            count), 150 s
#   trace    each decode shape's recorded step traced kernel by kernel
#            (libhix-kernel-trace.so in BIN_DIR, libcupti on
#            LD_LIBRARY_PATH), with the defaults and with the switches off
#            by default on (HIX_CUDA_ATTENTION_MERGE, _SPLIT_ARGMAX,
#            _ROPE_IN_ATTENTION), plain mode, 150 s
#   profile  the one-pass open kernel (target 4) under Nsight Compute where
#            the machine has ncu (pipes' and memory's throughput, warp stall
#            reasons, occupancy, instruction mix), 70 s
#   prefill  prefill (run-prefill-on-device.sh: SDPA, fast and exact
#            modes), target 2, 150 s
#   batch    batched decode (run-batch-on-device.sh: batch 1/8/32 in the
#            exact and fast modes against the CUDA-graph anchor), target 5,
#            200 s
#   load     the encrypted whole-model load against the plain one and the
#            crypto engine's tests (run-crypto-batch-on-device.sh), target 3,
#            200 s
# The parts add up to more than one call's ten minutes: a whole run is two
# calls on one machine, back to back,
#   HIX_ISSUE14_PARTS="test decode prefill crypto" and
#   HIX_ISSUE14_PARTS="batch load".
# HIX_ISSUE14_PACK=FILE: after each part, OUT_DIR as it stands is packed
# into FILE (.tar.gz), so that one file carries a call's results back even
# when the call is cut off.
# HIX_ISSUE14_TEST_FILTER (a gtest filter, * by default), HIX_ISSUE14_DECODE_S
# and HIX_ISSUE14_PREFILL_S (the decode and prefill parts' budgets) shorten a
# call where the device's time is short.
#   tests/gpu/run-issue14-on-device.sh BIN_DIR OUT_DIR
# BIN_DIR: stripped hix-cuda-backend-test, hix-bench, hix-cuda-crypto-test
# and hix-cuda-crypto-bench. The scripts and python files are read from
# beside this one. Output: OUT_DIR/<part>/; the backend test's log is
# OUT_DIR/test/backend-test.log.
set -uo pipefail

[ $# -eq 2 ] || { echo "usage: run-issue14-on-device.sh BIN_DIR OUT_DIR" >&2; exit 2; }
bin=$(cd "$1" 2>/dev/null && pwd) || { echo "no BIN_DIR $1" >&2; exit 2; }
mkdir -p "$2" || exit 2
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export HIX_BENCH_REPS=${HIX_BENCH_REPS:-3}
parts=${HIX_ISSUE14_PARTS:-test decode crypto prefill batch load}
t0=$SECONDS
part() { echo "=== +$((SECONDS - t0))s $*"; }

py=${PYTHON:-python3}  # cublas-libdirs.sh asks it where torch keeps cuBLAS
# shellcheck source=tests/gpu/cublas-libdirs.sh
. "$here/cublas-libdirs.sh"
for p in $parts; do
  case $p in
    test)
      part "backend test"
      mkdir -p "$out/test"
      timeout --kill-after=5 260 "$bin/hix-cuda-backend-test" \
        --gtest_filter="${HIX_ISSUE14_TEST_FILTER:-*}" >"$out/test/backend-test.log" 2>&1
      echo "exit $?: $(grep -E '^hix-cuda-backend-test: ' "$out/test/backend-test.log" | tail -n 1)"
      grep -E '^\[  FAILED  \]' "$out/test/backend-test.log" | sort -u | head -n 20
      export HIX_BACKEND_TEST_LOG="$out/test/backend-test.log"
      ;;
    decode)
      part decode
      HIX_DECODE_BUDGET_S=${HIX_ISSUE14_DECODE_S:-220} "$here/run-decode-on-device.sh" "$bin" "$out/decode" 2>&1 | tail -n 90
      ;;
    crypto)
      part "crypto bench"
      mkdir -p "$out/crypto"
      timeout --kill-after=5 60 "$bin/hix-cuda-crypto-bench" --json "$out/crypto/bench.json" \
        >"$out/crypto/bench.stdout" 2>"$out/crypto/bench-table.txt"
      tail -n 30 "$out/crypto/bench-table.txt"
      ;;
    prefill)
      part prefill
      HIX_PREFILL_BUDGET_S=${HIX_ISSUE14_PREFILL_S:-150} "$here/run-prefill-on-device.sh" "$bin" "$out/prefill" 2>&1 | tail -n 40
      ;;
    batch)
      part batch
      HIX_BATCH_BUDGET_S=200 "$here/run-batch-on-device.sh" "$bin" "$out/batch" 2>&1 | tail -n 24
      ;;
    load)
      part "encrypted load and the crypto engine's tests"
      "$here/run-crypto-batch-on-device.sh" "$bin" "$out/load" 2>&1 | tail -n 12
      ;;
    profile)
      part "one-pass kernel under Nsight Compute"
      mkdir -p "$out/profile"
      ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu /opt/nvidia/nsight-compute/*/ncu \
        2>/dev/null | head -n 1)
      if [ -z "$ncu" ]; then
        echo "skipped: no ncu on this machine" | tee "$out/profile/ncu.txt"
      else
        # The 256 MiB tensor's one-pass kernel at the default 128 lanes (the
        # bench's third launch of it: after its untimed warm-ups).
        timeout --kill-after=5 70 "$ncu" --clock-control none --kernel-name-base mangled \
          -k "regex:open_chunks_kernelILj128ELb1E" \
          -s 2 -c 1 --section SpeedOfLight --section ComputeWorkloadAnalysis \
          --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
          --section Occupancy --section InstructionStats --section LaunchStats \
          --metrics sm__inst_executed_pipe_alu.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_fma.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_fmaheavy.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active,sm__inst_executed_pipe_uniform.avg.pct_of_peak_sustained_active,l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,smsp__cycles_active.avg,sm__warps_active.avg.pct_of_peak_sustained_active \
          "$bin/hix-cuda-crypto-bench" --sizes-mib 256 --reps 1 >"$out/profile/ncu.txt" 2>&1
        echo "ncu exit $?"
        grep -E 'Throughput|Busy|Pipe|pipe_|Stall|Issue|Eligible|Occupancy|Warp Cycles|Executed Ipc|sectors|requests|Registers|Duration|SM Frequency' \
          "$out/profile/ncu.txt" | head -n 45
      fi
      ;;
    crypto-test)
      part "crypto engine's test"
      mkdir -p "$out/crypto"
      timeout --kill-after=5 150 "$bin/hix-cuda-crypto-test" >"$out/crypto/test.log" 2>&1
      echo "exit $?: $(tail -n 1 "$out/crypto/test.log")"
      grep -E 'FAIL|failed' "$out/crypto/test.log" | grep -v ', 0 failed' | head -n 20
      ;;
    trace)
      part "kernel traces"
      mkdir -p "$out/trace"
      for shape in gpt2-small llama-1b llama-8b; do
        for cfg in defaults switches; do
          on=0
          [ $cfg = switches ] && on=1
          timeout --kill-after=5 50 env CUDA_INJECTION64_PATH="$bin/libhix-kernel-trace.so" \
            HIX_KERNEL_TRACE="$out/trace/$shape-$cfg.tsv" HIX_CUDA_ATTENTION_MERGE=$on \
            HIX_CUDA_SPLIT_ARGMAX=$on HIX_CUDA_ROPE_IN_ATTENTION=$on \
            "$bin/hix-bench" --model "$shape" --backend cuda --decode-only 1 --reps 1 \
            --modes plain --json "$out/trace/$shape-$cfg.json" >"$out/trace/$shape-$cfg.log" 2>&1
          echo "$shape $cfg: exit $? $(grep -E 'decode tok/s' "$out/trace/$shape-$cfg.log")"
          [ -f "$out/trace/$shape-$cfg.tsv" ] || continue
          "$py" "$here/kernel_trace_summary.py" --positions "$out/trace/$shape-$cfg.tsv" \
            >"$out/trace/$shape-$cfg.txt" 2>&1
          gzip -f "$out/trace/$shape-$cfg.tsv"
        done
      done
      ;;
    *) echo "unknown part $p" >&2 ;;
  esac
  if [ -n "${HIX_ISSUE14_PACK:-}" ]; then
    tar -czf "$HIX_ISSUE14_PACK" -C "$(dirname "$out")" "$(basename "$out")"
  fi
done
part "all parts done"
