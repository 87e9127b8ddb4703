# Sourced by the GPU machine's measurement scripts (run-decode-, run-prefill-
# and run-batch-on-device.sh): their arguments, the step runner within a time
# budget, the machine record, the backend test and the end of a run. The
# script sets `budget` (seconds) and `reps`, then:
#   device_setup NAME "$@"          BIN_DIR OUT_DIR into bin, out, here (the
#                                   script's directory), py; OUT_DIR/logs and
#                                   OUT_DIR/json; logs/status.tsv
#   step NAME LIMIT_S CMD...        CMD's output to logs/NAME.log, started only
#                                   while the budget is not spent; a line of
#                                   status.tsv (name, ok/failed/skipped, exit
#                                   status, seconds)
#   device_machine [LINE...]        OUT_DIR/machine.txt (date, commit, GPU,
#                                   driver, clocks, torch, the
#                                   HIX_CUDA_* switches, the lines given)
#   device_backend_test LIMIT_S [ARG...]
#                                   hix-cuda-backend-test ARG... into
#                                   OUT_DIR/backend-test.log, or the log named
#                                   by HIX_BACKEND_TEST_LOG copied there (a
#                                   call running several scripts runs the test
#                                   once, whole)
#   device_finish                   logs and json into OUT_DIR/logs.tar.gz,
#                                   summary.txt printed; exits 1 if a step
#                                   failed or was skipped
# shellcheck shell=bash

device_setup() {
  local name=$1
  shift
  [ $# -eq 2 ] || { echo "usage: $name BIN_DIR OUT_DIR" >&2; exit 2; }
  bin=$(cd "$1" 2>/dev/null && pwd) || { echo "no BIN_DIR $1" >&2; exit 2; }
  mkdir -p "$2" || exit 2
  out=$(cd "$2" && pwd)
  here=$(cd "$(dirname "$0")" && pwd)
  py=${PYTHON:-python3}
  mkdir -p "$out/logs" "$out/json"
  status="$out/logs/status.tsv"
  : >"$status"
  t0=$SECONDS
  failed=0
  # shellcheck source=tests/gpu/cublas-libdirs.sh
  . "$here/cublas-libdirs.sh"
}

say() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - t0))s] $*"; }

step() {
  local name=$1 limit=$2
  shift 2
  if [ $((SECONDS - t0)) -ge "$budget" ]; then
    printf '%s\tskipped\t0\t0\n' "$name" >>"$status"
    failed=1
    say "skipped $name (budget of ${budget}s spent)"
    return 1
  fi
  local s0=$SECONDS rc=0
  { echo "# $*"; timeout --kill-after=10 "$limit" "$@"; } >"$out/logs/$name.log" 2>&1 || rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$([ $rc -eq 0 ] && echo ok || echo failed)" "$rc" \
    "$((SECONDS - s0))" >>"$status"
  if [ "$rc" -ne 0 ]; then
    failed=1
    say "FAILED $name (exit $rc)"
    tail -n 5 "$out/logs/$name.log" | sed 's/^/    | /'
    return 1
  fi
  say "ok $name ($((SECONDS - s0))s)"
}

device_machine() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: ${HIX_COMMIT:-unknown}"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit \
      --format=csv 2>&1
    "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 |
      tail -n 1
    echo "LD_LIBRARY_PATH: $LD_LIBRARY_PATH"
    env | grep -E '^HIX_CUDA_' || true
    local line
    for line in "$@"; do echo "$line"; done
  } 2>&1 | tee "$out/machine.txt"
}

device_backend_test() {
  local limit=$1
  shift
  if [ -n "${HIX_BACKEND_TEST_LOG:-}" ]; then
    cp "$HIX_BACKEND_TEST_LOG" "$out/logs/backend-test.log"
  else
    step backend-test "$limit" "$bin/hix-cuda-backend-test" "$@" \
      --gtest_output="xml:$out/logs/backend-test.xml"
  fi
  cp "$out/logs/backend-test.log" "$out/backend-test.log" 2>/dev/null
  grep -E '^\[  FAILED  \]|^hix-cuda-backend-test: ' "$out/backend-test.log" 2>/dev/null |
    sort -u | head -n 40
}

device_finish() {
  nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv \
    >>"$out/machine.txt" 2>&1
  tar -czf "$out/logs.tar.gz" -C "$out" logs json || failed=1
  rm -rf "$out/logs" "$out/json"
  echo "==== $out/summary.txt"
  cat "$out/summary.txt" 2>/dev/null
  exit "$failed"
}
