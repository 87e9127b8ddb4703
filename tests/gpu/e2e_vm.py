#!/usr/bin/env python3
"""The whole protected path, as a user runs it on a GPU host, against plain
mode through the same VM and against the device driven in-process.

For each model: a seeded checkpoint (make_checkpoint.py, or one given with
--checkpoint NAME=DIR), sealed with the bundle's `hix seal` (the .hixm) and
written unprotected by `hix-session-client seal-weights --plain`; then

  in-process  hix-model-run (the tokens of every prompt, protected mode) and
              hix-bench (prefill and decode, protected and plain) on the
              checkpoint;
  protected   the bundle's VM (openhix-vm: patched QEMU, GPU enclave and
              hixd inside, the device server outside on --backend) with the
              .hixm as the device's peer disk 0; `hix attest`, then one
              `hix generate --peer-disk 0` per prompt, all from outside;
  plain       the same VM with hixd --plain and the unprotected weights as
              peer disk 0; hix-session-client --plain, the same prompts, the
              same rounds (one token, then the rest in one round).

Prompts: deterministic token ids of each length in --prompt-lens (a model
with fewer positions than length + new tokens gets a shorter prompt, or
fewer new tokens, and the JSON says which). Decode tokens/s is the rate
after the first token of the run with --decode-prompt tokens and
--new-tokens new ones.

Writes OUT/e2e.json (every figure, the targets and whether each was met)
and OUT/e2e-summary.txt; logs of every step under OUT/logs/. Exit status:
0 when every step ran and the tokens agree, 1 otherwise (a missed speed
target is reported, never an error), 2 for a bad command line.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Targets (issue: the whole protected path on the H200).
DECODE_VS_PLAIN = 0.99
DECODE_VS_INPROC = 0.97
TTFT_REL, TTFT_ABS_MS = 0.03, 2.0
LOAD_GBPS_8B = 5.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True, help="an OpenHIX bundle (openhix bundle DIR)")
    p.add_argument("--tools", required=True,
                   help="hix-session-client, hix-model-run and hix-bench")
    p.add_argument("--out", required=True)
    p.add_argument("--work", default="/tmp/hix-e2e", help="checkpoints and sealed files")
    p.add_argument("--shapes", default="gpt2-small,llama-1b,llama-8b")
    p.add_argument("--checkpoint", action="append", default=[], metavar="NAME=DIR",
                   help="use this checkpoint for NAME instead of making one")
    p.add_argument("--backend", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--prompt-lens", default="16,128,1024")
    p.add_argument("--decode-prompt", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--reps", type=int, default=3,
                   help="runs of every prompt and mode (medians are reported)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--dtype", default="bf16", choices=("bf16", "f32"))
    p.add_argument("--mem-mib", type=int, default=1024, help="the guest's memory")
    p.add_argument("--keep", action="store_true", help="keep checkpoints and sealed files")
    p.add_argument("--no-bench", action="store_true", help="skip hix-bench (in-process)")
    p.add_argument("--budget-s", type=int, default=0,
                   help="start no new model after this many seconds (0: no limit)")
    return p.parse_args()


class Run:
    def __init__(self, out):
        self.out = out
        self.logs = os.path.join(out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.steps = {}
        self.t0 = time.monotonic()

    def say(self, msg):
        print(f"[+{time.monotonic() - self.t0:6.1f}s] {msg}", flush=True)

    def step(self, name, cmd, timeout=600, env=None, stdout_json=False):
        """Runs cmd with its output in logs/NAME.log; returns (ok, stdout, seconds)."""
        log = os.path.join(self.logs, name + ".log")
        t = time.monotonic()
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout, env=env)
            rc, so, se = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, so, se = 124, e.stdout or "", (e.stderr or "") + f"\ntimed out after {timeout}s"
            so = so.decode() if isinstance(so, bytes) else so
            se = se.decode() if isinstance(se, bytes) else se
        except OSError as e:
            rc, so, se = 127, "", str(e)
        took = time.monotonic() - t
        with open(log, "w", encoding="utf-8") as f:
            f.write("# " + " ".join(cmd) + "\n" + so + ("\n# stderr\n" + se if se else ""))
        self.steps[name] = {"ok": rc == 0, "rc": rc, "seconds": round(took, 3)}
        if rc != 0:
            tail = "\n".join((se or so).strip().splitlines()[-6:])
            self.say(f"FAILED {name} (exit {rc}, {took:.1f}s)\n    | " + tail.replace("\n", "\n    | "))
        if stdout_json and rc == 0:
            try:
                return True, json.loads(so), took
            except ValueError as e:
                self.steps[name].update(ok=False, note=f"stdout is not JSON: {e}")
                self.say(f"FAILED {name}: stdout is not JSON")
                return False, None, took
        return rc == 0, so, took

    def fail(self, name, note):
        self.steps[name] = {"ok": False, "rc": None, "seconds": 0, "note": note}
        self.say(f"FAILED {name}: {note}")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prompt_ids(n, vocab, salt):
    """n deterministic ids spread over the vocabulary (no special tokens at the ends)."""
    span = max(2, vocab - 512)
    return [(i * 7919 + salt * 104729 + 13) % span + 256 if vocab > 1024 else
            (i * 31 + salt * 7 + 3) % (vocab - 2) + 1 for i in range(n)]


def model_shape(ckpt):
    cfg = read_json(os.path.join(ckpt, "config.json")) or {}
    vocab = cfg.get("vocab_size")
    positions = cfg.get("n_positions") or cfg.get("max_position_embeddings")
    return vocab, positions


def weight_bytes(ckpt):
    total = 0
    for name in os.listdir(ckpt):
        if name.endswith(".safetensors"):
            total += os.path.getsize(os.path.join(ckpt, name))
    return total


class Vm:
    """The bundle's VM with hixd on a forwarded port, until close()."""

    def __init__(self, run, bundle, name, args):
        self.port = free_port()
        self.serial = os.path.join(run.logs, name + ".serial.log")
        self.errlog = os.path.join(run.logs, name + ".vm.log")
        cmd = [os.path.join(bundle, "bin", "openhix-vm"), *args, "--hixd", "on", "--hixd-port",
               str(self.port), "--log", self.serial, "--timeout", "1800",
               "--run", "while [ ! -e /tmp/stop ]; do sleep 1; done"]
        with open(self.errlog, "w", encoding="utf-8") as f:
            f.write("# " + " ".join(cmd) + "\n")
        self.err = open(self.errlog, "a", encoding="utf-8")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.err,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout=300):
        """Seconds from the launch to hixd's ready line, or None."""
        rx = re.compile(r"^hixd: ready\b", re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.serial, encoding="utf-8", errors="replace") as f:
                    if rx.search(f.read()):
                        return time.monotonic() - self.t0
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def why(self):
        """Why the VM is not ready: its exit status and the last lines of
        its two logs (the launcher's and the guest's serial console)."""
        rc = self.proc.poll()
        lines = [f"the VM {'exited with ' + str(rc) if rc is not None else 'is still running'}"]
        for path in (self.errlog, self.serial):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    tail = f.read().strip().splitlines()[-12:]
            except OSError:
                tail = ["(no such file)"]
            lines.append(f"{os.path.basename(path)}:")
            lines.extend("  " + line[:200] for line in tail)
        return "\n    | ".join(lines)

    def close(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=20)
                break
            except subprocess.TimeoutExpired:
                continue
        subprocess.run(["pkill", "-KILL", "-f", f"hostfwd=tcp:127.0.0.1:{self.port}-"],
                       check=False)
        self.err.close()


TIMING_KEYS = ("first_token_ms", "tokens_per_s", "load_ms", "load_mb_s", "generate_ms")


def medians(timings):
    """The median of each timing over the reps (each rep a whole session)."""
    out = {}
    for k in TIMING_KEYS:
        vals = [t[k] for t in timings if isinstance(t.get(k), (int, float)) and t[k] > 0]
        out[k] = round(statistics.median(vals), 4) if vals else None
    out["reps"] = len(timings)
    return out


def same_tokens(run, name, r, key, tokens):
    """Keeps the first rep's tokens; a later rep that differs is a failed step."""
    if r.get(key) is None:
        r[key] = tokens
    elif r[key] != tokens:
        run.fail(name, "the tokens differ between reps of one mode")


def ratio(a, b):
    return round(a / b, 4) if a and b else None


def tool_env(bundle):
    """The environment of the test tools: the bundle's libsodium beside them."""
    env = dict(os.environ)
    lib = os.path.join(bundle, "lib")
    env["LD_LIBRARY_PATH"] = lib + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    return env


def run_model(run, a, name, ckpt_given):
    """One model's runs (run_model_steps); its files are removed afterwards
    unless --keep."""
    try:
        return run_model_steps(run, a, name, ckpt_given)
    finally:
        if not a.keep:
            work = os.path.join(a.work, name)
            for f in ("model.hixm", "model.hixm.key", "model.plain", "model.plain.json"):
                if os.path.exists(os.path.join(work, f)):
                    os.remove(os.path.join(work, f))
            if not ckpt_given:
                shutil.rmtree(os.path.join(work, "ckpt"), ignore_errors=True)


def run_model_steps(run, a, name, ckpt_given):
    res = {"name": name}
    tenv = tool_env(a.bundle)
    work = os.path.join(a.work, name)
    os.makedirs(work, exist_ok=True)
    hix = os.path.join(a.bundle, "bin", "hix")
    client = os.path.join(a.tools, "hix-session-client")
    wdt = a.dtype

    # The checkpoint.
    ckpt = ckpt_given or os.path.join(work, "ckpt")
    if not ckpt_given:
        ok, _, took = run.step(f"{name}-checkpoint", [
            sys.executable, os.path.join(HERE, "make_checkpoint.py"), "--shape", name, "--seed",
            str(a.seed), "--dtype", "bfloat16" if wdt == "bf16" else "float32", "--out", ckpt],
            timeout=900)
        res["checkpoint_s"] = round(took, 1)
        if not ok:
            return res
    vocab, positions = model_shape(ckpt)
    if not vocab:
        run.fail(f"{name}-config", f"no vocab_size in {ckpt}/config.json")
        return res
    res["weight_file_bytes"] = weight_bytes(ckpt)

    # Sealed (.hixm, the product's format) and plain weights.
    hixm = os.path.join(work, "model.hixm")
    plain = os.path.join(work, "model.plain")
    ok, _, took = run.step(f"{name}-seal", [hix, "seal", ckpt, "-o", hixm, "--weight-dtype", wdt,
                                            "--threads", str(os.cpu_count() or 1), "--force"],
                           timeout=900)
    if ok:
        res["seal"] = {"seconds": round(took, 2), "bytes": os.path.getsize(hixm),
                       "gbps": round(os.path.getsize(hixm) / took / 1e9, 3)}
    if not ok:
        return res

    # The prompts: each length capped so that the prompt and its new tokens fit.
    runs = []
    for salt, n in enumerate(sorted(set([*a.lens, a.decode_prompt]))):
        new = a.new_tokens if n == a.decode_prompt else min(a.new_tokens, 8)
        if positions and n + new > positions:
            if n >= positions:
                n = positions - 1
            new = max(1, positions - n)
        runs.append({"prompt_tokens": n, "new_tokens": new,
                     "ids": prompt_ids(n, vocab, salt + 1),
                     "decode_run": n == a.decode_prompt})
    res["runs"] = runs

    # In-process: the tokens (hix-model-run) and the figures (hix-bench).
    for r in runs:
        n = r["prompt_tokens"]
        out = os.path.join(run.logs, f"{name}-inproc-{n}.json")
        ok, _, _ = run.step(f"{name}-inproc-{n}", [
            os.path.join(a.tools, "hix-model-run"), "--checkpoint", ckpt, "--backend", a.backend,
            "--mode", "protected", "--weights-dtype", wdt,
            "--prompt", ",".join(map(str, r["ids"])), "--generate", str(r["new_tokens"]),
            "--json", out], timeout=600, env=tenv)
        j = read_json(out) if ok else None
        if j and "tokens" in j:
            r["inproc_tokens"] = j["tokens"][n:n + r["new_tokens"]] if len(j["tokens"]) > n else j["tokens"]
    if not a.no_bench:
        out = os.path.join(run.logs, f"{name}-hix-bench.json")
        lens = ",".join(str(r["prompt_tokens"]) for r in runs)
        ok, _, _ = run.step(f"{name}-hix-bench", [
            os.path.join(a.tools, "hix-bench"), "--model", name, "--checkpoint", ckpt,
            "--backend", a.backend, "--weights-dtype", wdt, "--prefill-lens", lens,
            "--decode-tokens", str(a.new_tokens), "--json", out], timeout=900, env=tenv)
        res["inproc_bench"] = read_json(out) if ok else None

    # VRAM for the model, its staging and the KV cache, with room to spare.
    vram_mib = (res["weight_file_bytes"] * 5 // 4) // (1 << 20) + 2048
    res["vram_mib"] = vram_mib
    state = os.path.join(a.work, "state")
    mrenclave = open(os.path.join(a.bundle, "share", "openhix", "gpu_enclave.mrenclave"),
                     encoding="utf-8").read().strip()
    pub = os.path.join(state, "platform.key.pub")
    common = ["--state-dir", state, "--backend", a.backend, "--vram-mib", str(vram_mib),
              "--mem", str(a.mem_mib)]

    # Protected: the product, end to end.
    vm = Vm(run, a.bundle, f"{name}-vm-protected", [*common, "--peer-disk", hixm])
    try:
        boot = vm.wait_ready()
        res["protected_boot_s"] = round(boot, 2) if boot else None
        if boot is None:
            run.fail(f"{name}-vm-protected", "hixd never became ready: " + vm.why())
            return res
        endpoint = ["--endpoint", f"127.0.0.1:{vm.port}", "--platform-key", pub,
                    "--mrenclave", mrenclave]
        ok, j, took = run.step(f"{name}-attest", [hix, "attest", *endpoint, "--json"],
                               stdout_json=True, timeout=120)
        if ok:
            res["attest_ms"] = j["attestation"]["ms"]
            res["attest_wall_ms"] = round(took * 1000, 1)
        def generate(step_name, r, new):
            return run.step(step_name, [
                hix, "generate", *endpoint, "--model", hixm, "--key", hixm + ".key",
                "--peer-disk", "0", "--prompt-ids", ",".join(map(str, r["ids"])),
                "--max-tokens", str(new), "--stream-tokens", str(max(1, new - 1)),
                "--ignore-eos", "--json"], stdout_json=True, timeout=900)

        # One untimed run first: the weights file into the page cache, the
        # GPU's first kernels loaded, for both modes alike.
        generate(f"{name}-protected-warmup", runs[0], 1)
        for rep in range(a.reps):
            for r in runs:
                n = r["prompt_tokens"]
                ok, j, _ = generate(f"{name}-protected-{n}-{rep}", r, r["new_tokens"])
                if ok:
                    r.setdefault("protected_reps", []).append(j["timings"])
                    r["protected_load"] = {"path": j.get("load_path"),
                                           "bytes": j.get("load_bytes")}
                    same_tokens(run, f"{name}-protected-{n}-tokens", r, "protected_tokens",
                                j["tokens"])
        for r in runs:
            if r.get("protected_reps"):
                r["protected"] = {"timings": medians(r["protected_reps"]),
                                  "load_path": r["protected_load"]["path"],
                                  "load_bytes": r["protected_load"]["bytes"]}
    finally:
        vm.close()

    # The .hixm goes before the plain weights come: a Llama-8B shape's
    # checkpoint, .hixm and plain file would not fit one 64 GiB disk at once.
    if not a.keep:
        for p in (hixm, hixm + ".key"):
            if os.path.exists(p):
                os.remove(p)
    ok, _, _ = run.step(f"{name}-plain-weights", [
        client, "seal-weights", "--out", plain, "--checkpoint", ckpt, "--plain",
        "--weight-dtype", wdt], timeout=900, env=tenv)
    if not ok:
        return res

    # Plain: the same VM, hixd --plain, the same prompts and rounds.
    vm = Vm(run, a.bundle, f"{name}-vm-plain",
            [*common, "--peer-disk", plain, "--hixd-args", "--plain"])
    try:
        boot = vm.wait_ready()
        res["plain_boot_s"] = round(boot, 2) if boot else None
        if boot is None:
            run.fail(f"{name}-vm-plain", "hixd never became ready: " + vm.why())
            return res
        def generate_plain(step_name, r, new):
            out = os.path.join(run.logs, step_name + ".json")
            ok, _, _ = run.step(step_name, [
                client, "--port", str(vm.port), "--plain", "--checkpoint", ckpt,
                "--weight-dtype", wdt, "--disk-file", plain, "--peer-disk-index", "0",
                "--prompt", ",".join(map(str, r["ids"])), "--generate", str(new),
                "--stream-tokens", str(max(1, new - 1)), "--no-logits", "--json", out],
                timeout=900, env=tenv)
            return read_json(out) if ok else None

        generate_plain(f"{name}-plain-warmup", runs[0], 1)
        for rep in range(a.reps):
            for r in runs:
                n = r["prompt_tokens"]
                j = generate_plain(f"{name}-plain-{n}-{rep}", r, r["new_tokens"])
                if j:
                    r.setdefault("plain_reps", []).append(j["timings"])
                    r["plain_load_bytes"] = j.get("load_bytes")
                    same_tokens(run, f"{name}-plain-{n}-tokens", r, "plain_tokens",
                                j.get("generated"))
        for r in runs:
            if r.get("plain_reps"):
                r["plain"] = {"timings": medians(r["plain_reps"]),
                              "load_bytes": r["plain_load_bytes"]}
    finally:
        vm.close()
    return res


def judge(res, backend):
    """Figures side by side and the targets, from one model's runs."""
    s = {"name": res["name"]}
    runs = res.get("runs", [])
    bench = res.get("inproc_bench") or {}
    modes = bench.get("modes", {})
    s["boot_to_hixd_ready_s"] = res.get("protected_boot_s")
    s["attest_ms"] = res.get("attest_ms")
    loads = [r["protected"]["timings"] for r in runs if "protected" in r]
    if loads:
        best = min(loads, key=lambda t: t["load_ms"])
        lb = next(r["protected"]["load_bytes"] for r in runs if "protected" in r)
        s["sealed_load"] = {"bytes": lb, "seconds": round(best["load_ms"] / 1000, 3),
                            "gbps": round(lb / best["load_ms"] / 1e6, 3),
                            "path": next(r["protected"]["load_path"] for r in runs
                                         if "protected" in r)}
    plain_loads = [r["plain"] for r in runs if "plain" in r]
    if plain_loads:
        t = min((p["timings"] for p in plain_loads), key=lambda t: t["load_ms"])
        lb = plain_loads[0]["load_bytes"] or 0
        s["plain_load"] = {"bytes": lb, "seconds": round(t["load_ms"] / 1000, 3),
                           "gbps": round(lb / t["load_ms"] / 1e6, 3) if lb else None}
    ttft = []
    targets = {}
    for r in runs:
        n = r["prompt_tokens"]
        row = {"prompt_tokens": n}
        p = r.get("protected", {}).get("timings", {}).get("first_token_ms")
        q = r.get("plain", {}).get("timings", {}).get("first_token_ms")
        row["protected_ms"], row["plain_ms"] = p, q
        for m in ("protected", "plain"):
            for pf in modes.get(m, {}).get("prefill", []):
                if pf.get("tokens") == n and pf.get("seconds") is not None:
                    row[f"inproc_{m}_ms"] = round(pf["seconds"] * 1000, 3)
        if p and q:
            row["protected_minus_plain_ms"] = round(p - q, 3)
            limit = TTFT_REL * q + TTFT_ABS_MS
            targets[f"ttft_{n}"] = {"target": f"protected - plain <= 3% of plain + 2 ms "
                                              f"({limit:.2f} ms)",
                                    "value_ms": round(p - q, 3), "met": p - q <= limit}
        ttft.append(row)
    s["ttft"] = ttft
    dec = next((r for r in runs if r.get("decode_run")), None)
    if dec:
        p = dec.get("protected", {}).get("timings", {}).get("tokens_per_s")
        q = dec.get("plain", {}).get("timings", {}).get("tokens_per_s")
        ip = modes.get("protected", {}).get("decode", {}).get("tokens_per_s")
        iq = modes.get("plain", {}).get("decode", {}).get("tokens_per_s")
        s["decode"] = {"prompt_tokens": dec["prompt_tokens"], "new_tokens": dec["new_tokens"],
                       "protected_tok_s": p, "plain_tok_s": q, "inproc_protected_tok_s": ip,
                       "inproc_plain_tok_s": iq}
        targets["decode_vs_plain"] = {"target": f">= {DECODE_VS_PLAIN} x plain through the VM",
                                      "value": ratio(p, q),
                                      "met": bool(p and q and p >= DECODE_VS_PLAIN * q)}
        targets["decode_vs_inproc"] = {"target": f">= {DECODE_VS_INPROC} x in-process protected",
                                       "value": ratio(p, ip),
                                       "met": bool(p and ip and p >= DECODE_VS_INPROC * ip)}
    if res["name"] == "llama-8b" and "sealed_load" in s:
        g = s["sealed_load"]["gbps"]
        targets["load_8b"] = {"target": f">= {LOAD_GBPS_8B} GB/s", "value": g,
                              "met": g >= LOAD_GBPS_8B}
    # Correctness: the VM's tokens against the in-process ones.
    eq = []
    for r in runs:
        a, b, c = r.get("protected_tokens"), r.get("inproc_tokens"), r.get("plain_tokens")
        eq.append({"prompt_tokens": r["prompt_tokens"], "vm_protected_eq_inproc": a == b if a and b else None,
                   "vm_plain_eq_inproc": c == b if c and b else None, "tokens": a})
    s["tokens_equal"] = eq
    s["targets"] = targets
    s["backend"] = backend
    return s


def main():
    a = parse_args()
    a.lens = [int(x) for x in a.prompt_lens.split(",") if x]
    given = {}
    for c in a.checkpoint:
        if "=" not in c:
            print(f"--checkpoint {c}: expected NAME=DIR", file=sys.stderr)
            return 2
        k, v = c.split("=", 1)
        given[k] = os.path.abspath(v)
    for prog in (os.path.join(a.bundle, "bin", "openhix-vm"), os.path.join(a.bundle, "bin", "hix"),
                 *(os.path.join(a.tools, t) for t in ("hix-session-client", "hix-model-run",
                                                       "hix-bench"))):
        if not os.access(prog, os.X_OK):
            print(f"missing {prog}", file=sys.stderr)
            return 2
    os.makedirs(a.work, exist_ok=True)
    run = Run(os.path.abspath(a.out))
    models = []
    for name in [s for s in a.shapes.split(",") if s]:
        if a.budget_s and time.monotonic() - run.t0 > a.budget_s:
            run.fail(f"{name}", f"not started: the budget of {a.budget_s}s was spent")
            continue
        run.say(f"model {name}")
        try:
            res = run_model(run, a, name, given.get(name))
        except Exception as e:  # noqa: BLE001 -- recorded, the next model runs
            run.fail(f"{name}-driver", f"{type(e).__name__}: {e}")
            res = {"name": name}
        summary = judge(res, a.backend)
        models.append({"summary": summary, "detail": res})
        run.say(f"{name}: " + json.dumps({k: summary.get(k) for k in
                                          ("boot_to_hixd_ready_s", "attest_ms", "sealed_load",
                                           "decode", "targets")}))
    bad = sorted(n for n, s in run.steps.items() if not s["ok"])
    mismatch = [(m["summary"]["name"], e["prompt_tokens"]) for m in models
                for e in m["summary"].get("tokens_equal", [])
                if e["vm_protected_eq_inproc"] is False or e["vm_plain_eq_inproc"] is False]
    doc = {"benchmark": "openhix-e2e", "commit": os.environ.get("HIX_COMMIT", "unknown"),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "backend": a.backend, "weights_dtype": a.dtype,
           "units": "ms, s, tokens/s; GB/s = 1e9 bytes/s",
           "models": [m["summary"] for m in models], "detail": [m["detail"] for m in models],
           "steps": run.steps, "failed_steps": bad, "token_mismatches": mismatch}
    with open(os.path.join(run.out, "e2e.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    lines = [f"e2e ({a.backend}): {len(run.steps)} steps, {len(bad)} failed"
             + (f": {', '.join(bad)}" if bad else ""),
             f"token mismatches: {mismatch or 'none'}"]
    for m in models:
        s = m["summary"]
        lines.append(f"{s['name']}: boot {s.get('boot_to_hixd_ready_s')} s, attest "
                     f"{s.get('attest_ms')} ms, load {s.get('sealed_load')}")
        for row in s.get("ttft", []):
            lines.append(f"  ttft {row}")
        lines.append(f"  decode {s.get('decode')}")
        for k, t in s.get("targets", {}).items():
            lines.append(f"  target {k}: {'met' if t['met'] else 'MISSED'} ({t})")
    with open(os.path.join(run.out, "e2e-summary.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if bad or mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
