#!/usr/bin/env bash
# Decode at batch 1 on the GPU machine (issue 14, target 1), in one call of
# about six minutes: the cuda backend's test, the HBM read ceiling, then
# hix-bench's decode figures for gpt2-small, llama-1b and llama-8b (its
# seeded presets, bf16 weights, f32 activations and KV cache, 16-token
# prompt, 128 new tokens, protected and plain side by side) for each small-m
# matmul kernel and launch setting of the cuda backend (HIX_CUDA_GEMV,
# HIX_CUDA_GROUP_GEMVS, HIX_CUDA_GROUP_NORMS, HIX_CUDA_GROUP_ROPES,
# HIX_CUDA_GROUP_ACT_MUL, HIX_CUDA_PDL, HIX_CUDA_ATTENTION_MERGE,
# HIX_CUDA_SPLIT_ARGMAX, HIX_CUDA_ASYNC_NORM_STAGE, HIX_CUDA_ROPE_IN_ATTENTION):
#   c2u4      the defaults: the GEMV-group kernel with GEMV groups, the
#             launch fusions (norms leading their groups, the ROPEs of q and
#             k with the cache stores, activation and MUL in one pass), every
#             kernel launched early (programmatic dependent launch: each
#             waits on the GPU for the one before it)
#   c2u4-unstaged the defaults with the norms leading GEMV groups read
#                element by element (HIX_CUDA_ASYNC_NORM_STAGE=0)
#   c2u4-merged  the defaults with the attention's key splits merged in its
#                own launch (off by default: run G)
#   c2u4-roped   the defaults with a decode step's ROPEs and cache stores
#                inside the attention's launch (likewise)
#   c2u4-argmax  the defaults with ARGMAX split across blocks (likewise)
#   c2u4-switches the defaults with those three on
#   c2u4-unfused the defaults without the launch fusions (run B of
#                docs/performance.md named the defaults c2u4-fused and this
#                c2u4)
#   legacy    one warp per column, one launch per op, no early launches (the
#             kernels before the group kernel)
#   c2u4-nopdl   the defaults without early launches
#   c2u4-fast    the defaults in the fast mode (bf16 activations and KV
#                cache, `hix generate --precision fast`)
#   c4u4, c2u8          the group kernel's other shapes, with groups
#   c2u4-ungrouped      the group kernel, one launch per matmul
#   c2u4-baseline       the defaults of an earlier build: its hix-bench in
#                       the directory HIX_DECODE_BASELINE (when set), so a
#                       change is measured against it on the same machine
#   tests/gpu/run-decode-on-device.sh BIN_DIR OUT_DIR
# BIN_DIR holds hix-cuda-backend-test and hix-bench (stripped; cuBLAS from
# the machine, tests/gpu/cublas-libdirs.sh). A step starts only while
# HIX_DECODE_BUDGET_S (330) is not spent: c2u4, c2u4-switches (with a
# baseline: c2u4-baseline), c2u4-unstaged, c2u4-merged, c2u4-roped,
# c2u4-argmax and legacy for every shape, then each shape's
# profile (the defaults with HIX_CUDA_PROFILE=1: every kernel's GPU time per
# token), then c2u4-unfused, c2u4-nopdl and c2u4-fast, then the rest;
# llama-8b's last three run in plain mode only. HIX_BENCH_REPS (5): hix-bench --reps.
# HIX_DECODE_FIRST (space-separated names) replaces the first list.
#
# Output: OUT_DIR/decode.json (the ceiling, every run's figures, the ratios
# the targets name, whether each kernel's tokens equal legacy's),
# OUT_DIR/summary.txt (a table), OUT_DIR/machine.txt, OUT_DIR/backend-test.log
# (its last line the verdict) and OUT_DIR/logs.tar.gz (every step's log and
# JSON). Exit status 1 if a step failed or was skipped.
set -uo pipefail

budget=${HIX_DECODE_BUDGET_S:-330}
reps=${HIX_BENCH_REPS:-5}
# shellcheck source=tests/gpu/device_steps.sh
. "$(dirname "$0")/device_steps.sh"
device_setup run-decode-on-device.sh "$@"
device_machine
device_backend_test 200

step hbm-read 90 "$py" "$here/hbm_read.py" --json "$out/json/hbm-read.json" &&
  say "  $(tail -n 1 "$out/logs/hbm-read.log")"

# bench SHAPE KERNEL MODES: one hix-bench --decode-only run.
bench() {
  local shape=$1 kernel=$2 modes=$3 gemv=${2%%-*} group=1 fuse=1 pdl=1 merge=0 stage=1 rope=0
  local argmax=0 dtypes=()
  local exe=$bin/hix-bench
  case $kernel in *-baseline) exe=$HIX_DECODE_BASELINE/hix-bench ;; esac
  case $kernel in *-ungrouped*) group=0 ;; esac
  case $kernel in *-unfused*) fuse=0 ;; esac
  case $kernel in *-merged*) merge=1 ;; esac
  case $kernel in *-unstaged*) stage=0 ;; esac
  case $kernel in *-roped*) rope=1 ;; esac
  case $kernel in *-argmax*) argmax=1 ;; esac
  case $kernel in *-switches*) merge=1 rope=1 argmax=1 ;; esac
  case $kernel in legacy* | *-nopdl*) pdl=0 ;; esac
  case $kernel in *-fast*) dtypes=(--act-dtype bf16 --kv-dtype bf16) ;; esac
  step "decode-$shape-$kernel" 150 env HIX_CUDA_GEMV="$gemv" HIX_CUDA_GROUP_GEMVS="$group" \
    HIX_CUDA_GROUP_NORMS="$fuse" HIX_CUDA_GROUP_ROPES="$fuse" HIX_CUDA_GROUP_ACT_MUL="$fuse" \
    HIX_CUDA_PDL="$pdl" HIX_CUDA_ATTENTION_MERGE="$merge" HIX_CUDA_SPLIT_ARGMAX="$argmax" \
    HIX_CUDA_ASYNC_NORM_STAGE="$stage" HIX_CUDA_ROPE_IN_ATTENTION="$rope" \
    "$exe" --model "$shape" --backend cuda "${dtypes[@]}" \
    --decode-only 1 --reps "$reps" --modes "$modes" --json "$out/json/decode-$shape-$kernel.json" &&
    say "  $(grep -E 'decode tok/s' "$out/logs/decode-$shape-$kernel.log")"
}

shapes="gpt2-small llama-1b llama-8b"
# With a baseline, it takes c2u4-unfused's place ahead of the profiles.
first="c2u4 c2u4-switches c2u4-unstaged c2u4-merged c2u4-roped c2u4-argmax legacy"
[ -n "${HIX_DECODE_BASELINE:-}" ] &&
  first="c2u4 c2u4-switches c2u4-baseline c2u4-unstaged c2u4-merged c2u4-roped c2u4-argmax legacy"
# HIX_DECODE_FIRST: other variants to run first, for a call with little time.
first=${HIX_DECODE_FIRST:-$first}
for kernel in $first; do
  for shape in $shapes; do bench "$shape" "$kernel" protected,plain; done
done
# Where a step's time goes: the defaults with every launch timed on the GPU
# (HIX_CUDA_PROFILE=1: ops one by one, no recording), plain mode.
for shape in $shapes; do
  step "profile-$shape" 120 env HIX_CUDA_PROFILE=1 "$bin/hix-bench" --model "$shape" \
    --backend cuda --decode-only 1 --reps 1 --modes plain --json "$out/json/profile-$shape.json"
done
for kernel in c2u4-unfused c2u4-nopdl c2u4-fast; do
  for shape in $shapes; do bench "$shape" "$kernel" protected,plain; done
done
for kernel in c4u4 c2u8 c2u4-ungrouped; do
  for shape in $shapes; do
    modes=protected,plain
    [ "$shape" = llama-8b ] && modes=plain
    bench "$shape" "$kernel" "$modes"
  done
done

"$py" - "$out" "$here" <<'PY' || failed=1
import glob, os, sys

sys.path.insert(0, sys.argv[2])
from device_summary import load, profile, record, write  # noqa: E402

out = sys.argv[1]


hbm = load(os.path.join(out, "json", "hbm-read.json")) or {}
ceiling = hbm.get("read_gbps")
targets = {"gpt2-small": 3000.0, "llama-1b": 1000.0}
runs = {}
for path in sorted(glob.glob(os.path.join(out, "json", "decode-*.json"))):
    d = load(path)
    if not d:
        continue
    name = os.path.basename(path)[len("decode-"):-len(".json")]
    shape = d["model"]
    kernel = name[len(shape) + 1:]
    r = {"shape": shape, "kernel": kernel, "weight_bytes": d["weight_bytes"]}
    for mode, m in d["modes"].items():
        dec = m["decode"]
        r[mode] = {"tok_s": dec["tokens_per_s"], "weight_gbps": dec["weight_bandwidth_gbps"],
                   "tokens": dec.get("tokens")}
    tok = (r.get("protected") or r.get("plain"))["tok_s"]
    if "protected" in r and "plain" in r and r["plain"]["tok_s"]:
        r["protected_over_plain"] = r["protected"]["tok_s"] / r["plain"]["tok_s"]
    if ceiling:
        r["weight_gbps_over_read_ceiling"] = d["weight_bytes"] * tok / 1e9 / ceiling
    if shape == "llama-8b" and ceiling:
        r["target"] = {"what": ">= 0.85 x HBM read ceiling", "met": r["weight_gbps_over_read_ceiling"] >= 0.85}
    elif shape in targets:
        r["target"] = {"what": f">= {targets[shape]:g} tok/s", "met": tok >= targets[shape]}
    runs[name] = r
# Tokens against the legacy kernels' (rounding may move a near-tie: reported, not judged).
for name, r in runs.items():
    ref = runs.get(f"{r['shape']}-legacy")
    if ref and r is not ref:
        mode = "plain"
        a, b = (r.get(mode) or {}).get("tokens"), (ref.get(mode) or {}).get("tokens")
        if a and b:
            r["tokens_equal_legacy"] = a == b
            r["tokens_first_difference"] = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
# These switches store the values the paths they replace store: their
# tokens must equal the defaults', in both modes.
for name, r in runs.items():
    ref = runs.get(f"{r['shape']}-c2u4")
    if ref and r["kernel"] in ("c2u4-unstaged", "c2u4-merged", "c2u4-roped", "c2u4-argmax",
                               "c2u4-switches"):
        r["tokens_equal_default"] = all(
            (r.get(m) or {}).get("tokens") == (ref.get(m) or {}).get("tokens")
            for m in ("protected", "plain"))
        if not r["tokens_equal_default"]:
            print(f"{name}: tokens differ from the defaults'", file=sys.stderr)
# The profiles: each kernel's GPU time per generated token (one ARGMAX a
# token), against the step time of the same shape's recorded default run.
profiles = {}
for shape in ("gpt2-small", "llama-1b", "llama-8b"):
    pr = profile(os.path.join(out, "logs", f"profile-{shape}.log"))
    tokens = pr and pr["argmax_launches"]
    if not tokens:
        continue
    kernels = pr["kernels"]
    for k in kernels:
        k["us_per_token"] = 1000.0 * k["total_ms"] / tokens
    every = next((k for k in kernels if k["kernel"] == "(all kernels)"), None)
    step_us = None
    ref = runs.get(f"{shape}-c2u4", {}).get("plain")
    if ref and ref.get("tok_s"):
        step_us = 1e6 / ref["tok_s"]
    profiles[shape] = {"tokens": tokens, "kernels": kernels,
                       "kernel_us_per_token": every and every["us_per_token"],
                       "recorded_step_us": step_us}
res = record(out, hbm=hbm, runs=runs, profiles=profiles)
write(out, "decode.json", res)

rows = [f"commit {res['commit']}; backend test: {res.get('backend_test')}",
        f"HBM read ceiling {ceiling} GB/s (sum f32 {hbm.get('sum_f32_gbps')}, amax bf16 "
        f"{hbm.get('amax_bf16_gbps')}; copy {hbm.get('copy_gbps')})",
        f"failed/skipped steps: {', '.join(res['failed_steps']) or 'none'}", "",
        f"{'shape':11} {'kernel':15} {'prot tok/s':>10} {'plain tok/s':>11} {'prot/plain':>10} "
        f"{'GB/s/ceiling':>12} {'target':>7} {'tokens=legacy':>13}"]
for name, r in sorted(runs.items(), key=lambda kv: (kv[1]["shape"], kv[1]["kernel"])):
    fmt = lambda v, f: ("-" if v is None else format(v, f)).rjust(int(f.split(".")[0]))
    rows.append(f"{r['shape']:11} {r['kernel']:15} "
                f"{fmt((r.get('protected') or {}).get('tok_s'), '10.1f')} "
                f"{fmt((r.get('plain') or {}).get('tok_s'), '11.1f')} "
                f"{fmt(r.get('protected_over_plain'), '10.4f')} "
                f"{fmt(r.get('weight_gbps_over_read_ceiling'), '12.3f')} "
                f"{('met' if r['target']['met'] else 'missed') if 'target' in r else '-':>7} "
                f"{str(r.get('tokens_equal_legacy', '-')):>13}")
for shape, pr in profiles.items():
    rows += ["", f"{shape}: GPU time per token by kernel ({pr['tokens']} tokens profiled op by op); "
             f"all kernels {pr['kernel_us_per_token']:.1f} us, recorded default step "
             f"{pr['recorded_step_us'] or 0:.1f} us"]
    for k in [k for k in pr["kernels"] if k["kernel"] != "(all kernels)"][:14]:
        rows.append(f"  {k['kernel']:56} {k['us_per_token']:9.1f} us/token "
                    f"{k['launches'] / pr['tokens']:6.1f} launches/token")
with open(os.path.join(out, "summary.txt"), "w") as fh:
    fh.write("\n".join(rows) + "\n")
PY

device_finish
