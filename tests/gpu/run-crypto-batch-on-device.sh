#!/usr/bin/env bash
# Runs of DMA_IN_DECRYPT on a GPU (hix-gpu spec §7.2.1, issue 14 target 3:
# encrypted whole-model load >= 0.95 x plain): the GPU crypto engine's run
# tests and the whole-model load benchmark, from prebuilt binaries, in well
# under 5 minutes. For the GPU machine (Ubuntu 24.04, one H100 or H200, CUDA
# driver, python3 with torch's nvidia wheels for cuBLAS, no network, no
# compiler).
#   tests/gpu/run-crypto-batch-on-device.sh BIN_DIR OUT_DIR
# BIN_DIR (the carry, .carry-crypto/) holds hix-cuda-crypto-test,
# hix-cuda-backend-test and hix-bench, built with -arch=sm_90.
#
# Steps (each under `timeout`; a failure is recorded and the rest still runs):
#   crypto-test     hix-cuda-crypto-test: the whole engine test, open_run
#                   ("runs", "run forgeries") included, both open modes
#   backend-crypto  hix-cuda-backend-test --gtest_filter='*DeviceCrypto*': the
#                   cuda backend's DeviceCrypto, runs against one open per
#                   tensor and a forged run, in each backend configuration
#   load-SHAPE      hix-bench --load-only 1 for gpt2-small, llama-1b, llama-8b
#                   (seeded bf16 weights): plain load, protected load with
#                   runs, protected load one op per engine call, their
#                   ratios, and VRAM digests (runs == one by one == plain)
# Output in OUT_DIR: summary.txt (one line a step, then the load table),
# crypto-batch.json (every step's status and each shape's figures),
# machine.txt (nvidia-smi), logs/*.log (each step's output) and
# json/hix-bench-SHAPE.json (hix-bench's own JSON). Exit status 1 if any
# step failed.
# Environment: HIX_CRYPTO_BATCH_SHAPES (default "gpt2-small llama-1b
# llama-8b"), HIX_CRYPTO_BATCH_REPS (loads timed per kind, default 5),
# HIX_COMMIT (recorded), PYTHON (default python3).
set -uo pipefail

usage="usage: run-crypto-batch-on-device.sh BIN_DIR OUT_DIR"
[ $# -eq 2 ] || { echo "$usage" >&2; exit 2; }
bin=$(cd "$1" 2>/dev/null && pwd) || { echo "no BIN_DIR $1" >&2; exit 2; }
mkdir -p "$2" || exit 2
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
shapes=${HIX_CRYPTO_BATCH_SHAPES:-"gpt2-small llama-1b llama-8b"}
reps=${HIX_CRYPTO_BATCH_REPS:-5}
mkdir -p "$out/logs" "$out/json"
status="$out/logs/status.tsv"
: >"$status"
t0=$SECONDS
failed=0

say() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - t0))s] $*"; }

# step NAME LIMIT_S CMD...: runs CMD with its output in logs/NAME.log and
# records NAME, ok/failed, exit status and seconds in logs/status.tsv.
step() {
  local name=$1 limit=$2
  shift 2
  local log="$out/logs/$name.log" s=$SECONDS rc=0
  {
    echo "# $*"
    timeout --kill-after=10 "$limit" "$@"
  } >"$log" 2>&1 || rc=$?
  local took=$((SECONDS - s)) verdict=ok
  [ "$rc" -eq 0 ] || verdict=failed
  # A program that found no GPU passes where there is none (CI); here it
  # means the run proved nothing.
  [ "$rc" -eq 0 ] && grep -q 'skipped: no GPU' "$log" && verdict=skipped
  printf '%s\t%s\t%s\t%s\n' "$name" "$verdict" "$rc" "$took" >>"$status"
  if [ "$verdict" = ok ]; then
    say "ok $name (${took}s)"
  else
    failed=1
    say "${verdict^^} $name (exit $rc after ${took}s)"
    tail -n 8 "$log" | sed 's/^/    | /'
  fi
}

for b in hix-cuda-crypto-test hix-cuda-backend-test hix-bench; do
  [ -x "$bin/$b" ] || { echo "no $bin/$b" >&2; exit 2; }
done

# cuBLAS for hix-cuda-backend-test and hix-bench (tests/gpu/cublas-libdirs.sh:
# the CUDA toolkit's or torch's pip wheels).
# shellcheck source=tests/gpu/cublas-libdirs.sh
. "$here/cublas-libdirs.sh"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: ${HIX_COMMIT:-unknown}"
  echo "host: $(uname -a)"
  echo "LD_LIBRARY_PATH: $LD_LIBRARY_PATH"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit \
    --format=csv 2>&1 || echo "nvidia-smi failed"
} >"$out/machine.txt"
say "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"

step crypto-test 150 "$bin/hix-cuda-crypto-test"
step backend-crypto 90 "$bin/hix-cuda-backend-test" --gtest_filter='*DeviceCrypto*'
for shape in $shapes; do
  step "load-$shape" 150 "$bin/hix-bench" --model "$shape" --backend cuda --load-only 1 \
    --modes protected,plain --reps "$reps" --json "$out/json/hix-bench-$shape.json"
done

# One JSON and a table of the loads.
"$py" - "$out" "$shapes" <<'PY' || failed=1
import json, os, sys
out, shapes = sys.argv[1], sys.argv[2].split()
steps = []
for line in open(os.path.join(out, "logs", "status.tsv")):
    name, verdict, rc, secs = line.rstrip("\n").split("\t")
    steps.append({"step": name, "status": verdict, "exit": int(rc), "seconds": int(secs)})
loads = {}
for shape in shapes:
    path = os.path.join(out, "json", f"hix-bench-{shape}.json")
    try:
        b = json.load(open(path))
    except (OSError, ValueError) as e:
        loads[shape] = {"error": str(e)}
        continue
    p, q = b["modes"].get("protected", {}), b["modes"].get("plain", {})
    loads[shape] = {
        "weight_bytes": b.get("weight_bytes"),
        "plain_load_gbps": q.get("load_gbps"),
        "encrypted_load_gbps_runs": p.get("load_gbps"),
        "encrypted_load_gbps_one_by_one": p.get("load_one_by_one_gbps"),
        "ratio_runs": b["summary"].get("load_protected_over_plain"),
        "ratio_one_by_one": b["summary"].get("load_one_by_one_over_plain"),
        "target": 0.95,
        "decrypt_runs_per_load": p.get("decrypt_runs_per_load"),
        "plain_load_s": q.get("load_s"),
        "encrypted_load_s_runs": p.get("load_s"),
        "encrypted_load_s_one_by_one": p.get("load_one_by_one_s"),
        "first_load_s": {"protected": p.get("load_first_s"), "plain": q.get("load_first_s")},
        "vram_runs_equal_one_by_one": b.get("vram_runs_equal_one_by_one"),
        "vram_protected_equal_plain": b.get("vram_protected_equal_plain"),
    }
machine = open(os.path.join(out, "machine.txt")).read()
json.dump({"what": "runs of DMA_IN_DECRYPT (hix-gpu spec 7.2.1), issue 14 target 3",
           "machine": machine, "steps": steps, "loads": loads},
          open(os.path.join(out, "crypto-batch.json"), "w"), indent=2)
fmt = lambda v, f="{:.3f}": "-" if v is None else f.format(v)
lines = [f"{s['step']:<22} {s['status']:<7} {s['seconds']:>4}s" for s in steps]
lines.append("")
lines.append(f"{'model':<12} {'plain GB/s':>10} {'enc GB/s':>9} {'ratio':>6} "
             f"{'1-by-1 GB/s':>11} {'ratio':>6}  runs/load  VRAM runs==1by1==plain")
for shape, l in loads.items():
    if "error" in l:
        lines.append(f"{shape:<12} no figures ({l['error']})")
        continue
    lines.append(
        f"{shape:<12} {fmt(l['plain_load_gbps'], '{:.1f}'):>10} "
        f"{fmt(l['encrypted_load_gbps_runs'], '{:.1f}'):>9} {fmt(l['ratio_runs']):>6} "
        f"{fmt(l['encrypted_load_gbps_one_by_one'], '{:.1f}'):>11} "
        f"{fmt(l['ratio_one_by_one']):>6}  {l['decrypt_runs_per_load']!s:>9}  "
        f"{l['vram_runs_equal_one_by_one']}/{l['vram_protected_equal_plain']}")
open(os.path.join(out, "summary.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
bad_vram = any(l.get(k) is False for l in loads.values()
               for k in ("vram_runs_equal_one_by_one", "vram_protected_equal_plain"))
sys.exit(1 if bad_vram or any("error" in l for l in loads.values()) else 0)
PY

say "done in $((SECONDS - t0))s; $out/summary.txt, $out/crypto-batch.json"
exit "$failed"
