#!/usr/bin/env python3
"""The TEE-only baseline (issue 15 §1), printed side by side in one run: a
GPT-2-architecture model with seeded weights run inside an SDK enclave (the
tee_gpt2 enclave, in the OpenHIX VM under QEMU's TCG) and the same source run
natively on this CPU (tee-gpt2-native), one thread each.

For each shape: time to first token after a 16-token prompt and decode
tokens/s over 32 new tokens, enclave and native, and their ratio. Both runs
must produce the same greedy tokens (same code, IEEE arithmetic on both
sides): the exit status is 1 when they differ or an ecall fails.

Usage: tee_only_bench.py --native PATH [--launcher PATH] [--shapes tiny,small]
                         [--native-only gpt2-small] [--json FILE]
The launcher defaults to qemu_scripts/run-vm with build/vm.env (or
$OPENHIX_VM_ENV); on a GPU host pass a bundle's bin/openhix-vm.

GPT-2-small runs in its own enclave (tee_gpt2_gpt2_small, a 528 MiB heap)
on a VM given 768 MiB of EPC and 3 GiB of RAM; under TCG it takes minutes,
so the CTest run leaves it out (--shapes tiny,small,gpt2-small to add it).
"""

import argparse
import json
import os
import platform
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN_VM = os.path.join(ROOT, "qemu_scripts", "run-vm")
ENCLAVES = "/usr/share/openhix/enclaves"

# (dim, heads, layers, mlp, vocab, max_pos). tee_gpt2's heap (24 MiB) holds
# "tiny" and "small"; GPT-2-small's 498 MB of f32 weights need the big one.
SHAPES = {
    "tiny": (32, 4, 2, 128, 64, 64),
    "small": (256, 8, 4, 1024, 4096, 256),
    "gpt2-small": (768, 12, 12, 3072, 50257, 1024),
}
BIG = {"gpt2-small"}
# The big enclave's 528 MiB heap plus its image and stack, and a guest with
# room for them besides its own (the loader holds the page list, 4 KiB a page).
BIG_VM = ["--epc-pages", "196608", "--mem", "3072"]
PROMPT = 16
NEW = 32
SEED = 1


def shape_hex(s):
    d, h, l, f, v, p = SHAPES[s]
    return struct.pack("<8IQ", d, h, l, f, v, p, PROMPT + NEW, 0, SEED).hex()


def request_hex(new):
    return (struct.pack("<II", PROMPT, new) + b"\0" * (4 * new)).hex()


def native(path, s, reps):
    d, h, l, f, v, p = SHAPES[s]
    r = subprocess.run([path, "--dim", str(d), "--heads", str(h), "--layers", str(l), "--mlp", str(f),
                        "--vocab", str(v), "--max-pos", str(p), "--seed", str(SEED),
                        "--prompt-len", str(PROMPT), "--new-tokens", str(NEW), "--reps", str(reps)],
                       capture_output=True, text=True, timeout=900, check=True)
    out = dict(line.split("=", 1) for line in r.stdout.split())
    return ([int(t) for t in out["TOKENS"].split(",")], int(out["TTFT_NS"]), int(out["GEN_NS"]))


def enclave_runs(launcher, shapes, timeout):
    """One VM: per shape setup, a one-token run and a NEW-token run."""
    runs = []
    for name, group in (("tee_gpt2", [s for s in shapes if s not in BIG]),
                        ("tee_gpt2_gpt2_small", [s for s in shapes if s in BIG])):
        if group:
            runs.append(f"hix-enclave-run {ENCLAVES}/{name}.elf" + "".join(
                f" --ecall 1 {shape_hex(s)} --ecall 2 {request_hex(1)}"
                f" --ecall 2 {request_hex(NEW)}" for s in group))
    shapes = [s for s in shapes if s not in BIG] + [s for s in shapes if s in BIG]
    vm_args = BIG_VM if any(s in BIG for s in shapes) else []
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "serial.log")
        proc = subprocess.run([launcher, "--log", log, "--timeout", str(timeout), *vm_args,
                               "--run", " && ".join(runs)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout + 60)
        serial = open(log, encoding="utf-8", errors="replace").read() if os.path.exists(log) else ""
    calls = re.findall(r"^ECALL=(\d+) (\S+ \S+) OUT=([0-9a-f]*) .*\n(?:.*\n)*?ECALL_NS=\1 (\d+)",
                       serial, re.M)
    if len(calls) != 3 * len(shapes):
        tail = "\n".join((serial or proc.stderr).strip().splitlines()[-15:])
        raise SystemExit(f"tee_only_bench: the VM ran {len(calls)} of {3 * len(shapes)} ecalls "
                         f"(launcher exit {proc.returncode}):\n{tail}")
    results = {}
    for i, s in enumerate(shapes):
        setup, one, full = calls[3 * i: 3 * i + 3]
        for c in (setup, one, full):
            if c[1] != "RESULT=exit STATUS=ok":
                raise SystemExit(f"tee_only_bench: {s}: ecall {c[0]} {c[1]}")
        raw = bytes.fromhex(full[2])[8:]
        tokens = list(struct.unpack(f"<{NEW}I", raw))
        results[s] = (tokens, int(one[3]), int(full[3]), int(setup[3]))
    return results


def rates(ttft_ns, gen_ns):
    decode = (NEW - 1) / ((gen_ns - ttft_ns) / 1e9) if gen_ns > ttft_ns else 0.0
    return ttft_ns / 1e6, decode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--native", required=True, help="tee-gpt2-native")
    ap.add_argument("--launcher", default=RUN_VM)
    ap.add_argument("--shapes", default="tiny,small")
    ap.add_argument("--native-only", default="", help="shapes run natively only")
    ap.add_argument("--reps", type=int, default=3, help="native repetitions (median)")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--json")
    args = ap.parse_args()
    shapes = [s for s in args.shapes.split(",") if s]
    native_only = [s for s in args.native_only.split(",") if s]
    for s in shapes + native_only:
        if s not in SHAPES:
            raise SystemExit(f"unknown shape {s} (known: {', '.join(SHAPES)})")

    inside = enclave_runs(args.launcher, shapes, args.timeout)
    result = {"machine": platform.node(), "cpu": platform.processor() or platform.machine(),
              "prompt_tokens": PROMPT, "new_tokens": NEW, "seed": SEED, "shapes": []}
    rows, failed = [], False
    for s in shapes + native_only:
        n_tokens, n_ttft, n_gen = native(args.native, s, args.reps if s not in native_only else 1)
        n_ms, n_rate = rates(n_ttft, n_gen)
        row = {"shape": s, "dim_heads_layers_mlp_vocab_maxpos": SHAPES[s],
               "native": {"ttft_ms": n_ms, "decode_tok_s": n_rate, "tokens": n_tokens}}
        if s in inside:
            e_tokens, e_ttft, e_gen, setup_ns = inside[s]
            e_ms, e_rate = rates(e_ttft, e_gen)
            equal = e_tokens == n_tokens
            failed |= not equal
            row["enclave_tcg"] = {"ttft_ms": e_ms, "decode_tok_s": e_rate, "tokens": e_tokens,
                                  "setup_ms": setup_ns / 1e6}
            row["tokens_equal"] = equal
            rows.append((s, f"{e_ms:16.1f}{e_rate:10.2f}{n_ms:16.2f}{n_rate:10.2f}"
                            f"{e_ms / n_ms:12.1f}x{n_rate / e_rate if e_rate else 0:7.1f}x  "
                            f"{'yes' if equal else 'NO'}"))
        else:
            rows.append((s, f"{'-':>16}{'-':>10}{n_ms:16.2f}{n_rate:10.2f}"
                            f"{'-':>13}{'-':>8}  (native only)"))
        result["shapes"].append(row)

    print(f"\nTEE-only baseline: {PROMPT}-token prompt, {NEW} new tokens, one thread "
          f"(enclave under TCG; {os.cpu_count()} host cpus)")
    print(f"  {'shape':<11}{'enclave TTFT ms':>16}{'tok/s':>10}{'native TTFT ms':>16}{'tok/s':>10}"
          f"{'slower TTFT':>13}{'tok/s':>8}  tokens equal")
    for s, line in rows:
        print(f"  {s:<11}{line}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    if failed:
        print("tee_only_bench: the enclave's tokens differ from the native run's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
