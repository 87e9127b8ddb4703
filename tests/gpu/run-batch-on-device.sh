#!/usr/bin/env bash
# Batched decode on the GPU machine (issue 14, target 5), in one call of
# about five minutes on one H200: the cuda backend's batch cases (ROPE and
# ATTENTION with BATCH, a recorded batched loop with MATMUL at m = 8 and 32),
# then for llama-1b, llama-8b and gpt2-small (seeded presets, bf16 weights,
# 16-token prompt, 64 new tokens a sequence, max_seq 256):
# hix-bench --decode-only 1 --batch 1,8,32 (protected and plain side by
# side, every batch on one load) in each precision of HIX_BATCH_PRECISIONS
# ("exact fast": f32 activations and KV caches, then bf16 ones as
# `hix generate --precision fast` runs), the PyTorch CUDA-graph anchor at
# the same batches (graph_anchor.py --shape S --batch 1,8,32, bf16
# throughout), and a table of ours over the anchor per shape, precision and
# batch.
#   tests/gpu/run-batch-on-device.sh BIN_DIR OUT_DIR
# BIN_DIR holds hix-cuda-backend-test and hix-bench (stripped; cuBLAS from
# the machine, tests/gpu/cublas-libdirs.sh); graph_anchor.py is taken from
# this script's directory. A step starts only while HIX_BATCH_BUDGET_S (300)
# is not spent. HIX_BENCH_REPS (3): hix-bench --reps. HIX_BATCHES (1,8,32).
# The backend's environment switches pass through (HIX_CUDA_CUBLAS_RECORD=0:
# our tiled GEMM inside recorded loops, as before batched decode).
#
# Output: OUT_DIR/batch.json (every run's figures per batch, the anchor's,
# ours over the anchor), OUT_DIR/summary.txt (a table), OUT_DIR/machine.txt,
# OUT_DIR/backend-test.log and OUT_DIR/logs.tar.gz (every step's log and
# JSON). Exit status 1 if a step failed or was skipped.
set -uo pipefail

budget=${HIX_BATCH_BUDGET_S:-300}
reps=${HIX_BENCH_REPS:-3}
batches=${HIX_BATCHES:-1,8,32}
precisions=${HIX_BATCH_PRECISIONS:-exact fast}
# shellcheck source=tests/gpu/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
device_setup run-batch-on-device.sh "$@"
device_machine "batches: $batches"
device_backend_test 90 --gtest_filter='*Batched*'

# One shape: the anchor, then hix-bench at every batch on one load per mode
# in each precision.
shape_runs() {
  local shape=$1 limit=$2 precision dtypes
  if [ -f "$here/graph_anchor.py" ]; then
    step "anchor-$shape" 90 "$py" "$here/graph_anchor.py" --shape "$shape" --batch "$batches" --decode-tokens 64 \
      --json "$out/json/anchor-$shape.json" && say "  $(tail -n 1 "$out/logs/anchor-$shape.log")"
  else
    printf '%s\tskipped\t0\t0\n' "anchor-$shape" >>"$status"
    failed=1
    say "skipped anchor-$shape (no $here/graph_anchor.py)"
  fi
  for precision in $precisions; do
    dtypes=()
    [ "$precision" = fast ] && dtypes=(--act-dtype bf16 --kv-dtype bf16)
    step "bench-$shape-$precision" "$limit" "$bin/hix-bench" --model "$shape" --backend cuda \
      --decode-only 1 --batch "$batches" --decode-tokens 64 --max-seq 256 --reps "$reps" \
      "${dtypes[@]}" --modes protected,plain --json "$out/json/bench-$shape-$precision.json" &&
      say "  $(grep -E 'decode tok/s, batch|decode tok/s ' "$out/logs/bench-$shape-$precision.log" | tr -s ' ' | paste -sd';')"
  done
}

shape_runs llama-1b 70
shape_runs llama-8b 150
shape_runs gpt2-small 50

"$py" - "$out" "$here" "$precisions" <<'PY' || failed=1
import os, sys

sys.path.insert(0, sys.argv[2])
from device_summary import load, record, write  # noqa: E402

out = sys.argv[1]


precisions = sys.argv[3].split()
shapes = {}
for shape, precision in [(s, p) for s in ("llama-1b", "llama-8b", "gpt2-small") for p in precisions]:
    bench = load(os.path.join(out, "json", f"bench-{shape}-{precision}.json"))
    anchor = load(os.path.join(out, "json", f"anchor-{shape}.json"))
    anchor_by_batch = {}
    for r in (anchor or {}).get("results", []):
        if isinstance(r, dict) and "batch" in r:
            anchor_by_batch[int(r["batch"])] = r
    rows = {}
    if bench:
        for mode, m in bench["modes"].items():
            for b in m.get("decode_batches", []):
                row = rows.setdefault(b["batch"], {"batch": b["batch"]})
                row[mode] = {"tok_s": b["tokens_per_s"], "steps_s": b["steps_per_s"],
                             "weight_gbps": b["weight_bandwidth_gbps"]}
    for batch, a in anchor_by_batch.items():
        rows.setdefault(batch, {"batch": batch})["anchor"] = {
            "tok_s": a.get("tokens_per_s"), "steps_s": a.get("steps_per_s")}
    for row in rows.values():
        a = (row.get("anchor") or {}).get("tok_s")
        for mode in ("protected", "plain"):
            if mode in row and a:
                row[f"{mode}_over_anchor"] = row[mode]["tok_s"] / a
        if "protected" in row and "plain" in row and row["plain"]["tok_s"]:
            row["protected_over_plain"] = row["protected"]["tok_s"] / row["plain"]["tok_s"]
    shapes[f"{shape} {precision}"] = {"shape": shape, "precision": precision,
                                     "weight_bytes": (bench or {}).get("weight_bytes"),
                                     "tokens_match_across_modes":
                                         (bench or {}).get("tokens_match_across_modes"),
                                     "batches": [rows[b] for b in sorted(rows)]}
res = record(out, shapes=shapes)
write(out, "batch.json", res)


def fmt(v, f):
    return ("-" if v is None else format(v, f)).rjust(int(f.split(".")[0]))


lines = [f"commit {res['commit']}; backend test: {res.get('backend_test')}",
         f"failed/skipped steps: {', '.join(res['failed_steps']) or 'none'}", "",
         f"{'shape precision':20} {'batch':>5} {'prot tok/s':>10} {'plain tok/s':>11} {'anchor tok/s':>12} "
         f"{'prot/anchor':>11} {'plain/anchor':>12} {'prot/plain':>10} {'weight GB/s':>11}"]
for shape, s in shapes.items():
    for row in s["batches"]:
        lines.append(f"{shape:20} {row['batch']:>5} "
                     f"{fmt((row.get('protected') or {}).get('tok_s'), '10.1f')} "
                     f"{fmt((row.get('plain') or {}).get('tok_s'), '11.1f')} "
                     f"{fmt((row.get('anchor') or {}).get('tok_s'), '12.1f')} "
                     f"{fmt(row.get('protected_over_anchor'), '11.3f')} "
                     f"{fmt(row.get('plain_over_anchor'), '12.3f')} "
                     f"{fmt(row.get('protected_over_plain'), '10.4f')} "
                     f"{fmt((row.get('protected') or row.get('plain') or {}).get('weight_gbps'), '11.1f')}")
    if s["tokens_match_across_modes"] is False:
        lines.append(f"{shape}: tokens protected != plain")
with open(os.path.join(out, "summary.txt"), "w") as fh:
    fh.write("\n".join(lines) + "\n")
PY

device_finish
