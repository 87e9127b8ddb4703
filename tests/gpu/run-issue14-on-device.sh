#!/usr/bin/env bash
# Every open figure of issue 14 in one call of at most HIX_ISSUE14_S (590)
# seconds on the GPU machine, most wanted first, each part within its share
# of the time (what is under OUT_DIR comes back even if the call is cut
# off); the shares below are for 590 s and scale with it:
#   1. hix-cuda-backend-test, the cases of the new paths (GEMV groups and
#      kernels, loops, attention incl. the tensor-core prefill, batched ops);
#   2. decode at batch 1 (run-decode-on-device.sh: HBM read ceiling, each
#      GEMV kernel, protected and plain) until +200 s;
#   3. the crypto engine's bench (every open mode incl. one-pass, 60 s);
#   4. prefill (run-prefill-on-device.sh: SDPA, fast and exact modes) until
#      +390 s;
#   5. batched decode (run-batch-on-device.sh: batch 1/8/32 against the
#      CUDA-graph anchor) until +540 s;
#   6. the crypto engine's test (every open mode against libsodium) with
#      what is left.
#   tests/gpu/run-issue14-on-device.sh BIN_DIR OUT_DIR
# BIN_DIR: stripped hix-cuda-backend-test, hix-bench, hix-cuda-crypto-test
# and hix-cuda-crypto-bench. The scripts and python files are read from
# beside this one. Output: OUT_DIR/{test,decode,onepass,prefill,batch}.
set -uo pipefail

[ $# -eq 2 ] || { echo "usage: run-issue14-on-device.sh BIN_DIR OUT_DIR" >&2; exit 2; }
bin=$(cd "$1" 2>/dev/null && pwd) || { echo "no BIN_DIR $1" >&2; exit 2; }
mkdir -p "$2" || exit 2
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export HIX_BENCH_REPS=${HIX_BENCH_REPS:-3}
total=${HIX_ISSUE14_S:-590}
t0=$SECONDS
# left S: seconds until S of 590 (scaled to the total) have passed.
left() { echo $(($1 * total / 590 - (SECONDS - t0))); }
part() { echo "=== +$((SECONDS - t0))s $*"; }

py=${PYTHON:-python3}  # cublas-libdirs.sh asks it where torch keeps cuBLAS
# shellcheck source=tests/gpu/cublas-libdirs.sh
. "$here/cublas-libdirs.sh"
mkdir -p "$out/test" "$out/onepass"
part "backend test (new paths)"
timeout --kill-after=5 "$(left 110)" "$bin/hix-cuda-backend-test" \
  --gtest_filter='*Group*:*Gemv*:*Attention*:*Batched*:*Loop*' >"$out/test/backend-test.log" 2>&1
echo "exit $?: $(grep -E '^hix-cuda-backend-test: ' "$out/test/backend-test.log" | tail -n 1)"
grep -E '^\[  FAILED  \]' "$out/test/backend-test.log" | sort -u | head -n 20
export HIX_BACKEND_TEST_LOG="$out/test/backend-test.log"

part decode
HIX_DECODE_BUDGET_S=$(left 200) "$here/run-decode-on-device.sh" "$bin" "$out/decode" 2>&1 | tail -n 16
part "crypto bench"
timeout --kill-after=5 "$((60 * total / 590))" "$bin/hix-cuda-crypto-bench" --json "$out/onepass/bench.json" \
  >"$out/onepass/bench.stdout" 2>"$out/onepass/bench-table.txt"
tail -n 30 "$out/onepass/bench-table.txt"
part prefill
HIX_PREFILL_BUDGET_S=$(left 390) "$here/run-prefill-on-device.sh" "$bin" "$out/prefill" 2>&1 | tail -n 14
part batch
HIX_BATCH_BUDGET_S=$(left 540) "$here/run-batch-on-device.sh" "$bin" "$out/batch" 2>&1 | tail -n 14
if [ "$(left 560)" -gt 0 ]; then
  part "crypto test"
  timeout --kill-after=5 "$(left 585)" "$bin/hix-cuda-crypto-test" >"$out/onepass/test.log" 2>&1
  echo "exit $?: $(tail -n 1 "$out/onepass/test.log")"
fi
part done
