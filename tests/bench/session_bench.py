#!/usr/bin/env python3
"""bench.session: protected inference through the VM against plain mode, side
by side in one run (cpu backend, TCG). Prints figures; it passes or fails
only on whether the runs worked, never on time.

Per mode, for the tiny GPT-2: session setup (connect, attest and open), the
per-request overhead (one MODEL_KEY round trip: client -> hixd -> enclave ->
client), loading the weights from the VM disk (LOAD: O_DIRECT into the
staging window, then DMA_IN(_DECRYPT)) and through the socket (PUT), and a
generation. Staging: LOAD MB/s of a large sealed disk."""

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "session"))
import sessionvm as sv  # noqa: E402

PRESET, SEED = "tiny-gpt2", "21"
PROMPT = "5,17,42,9,3,60,28,7"


def median(values):
    return round(statistics.median(values), 3) if values else None


def run_mode(plain, disk, reps):
    figures = {"setup_ms": [], "request_overhead_ms": [], "load_disk_mb_s": [],
               "load_put_mb_s": [], "generate_ms": [], "load_disk_ms": [], "load_put_ms": []}
    tokens = None
    with sv.SessionVm(plain=plain, disks=[disk]) as vm:
        vm.wait_ready()
        mode_args = ["--plain"] if plain else sv.protected_args()
        for _ in range(reps):
            for path in ("disk", "put"):
                extra = ["--disk-file", disk, "--disk-index", "0"] if path == "disk" else []
                _, out, _ = sv.run_client(vm.port, *mode_args, "--preset", PRESET, "--seed", SEED,
                                          "--prompt", PROMPT, "--generate", "16", *extra)
                t = out["timings"]
                if tokens is None:
                    tokens = out["tokens"]
                elif tokens != out["tokens"]:
                    raise AssertionError("tokens differ between runs of one mode")
                figures[f"load_{path}_mb_s"].append(t["load_mb_s"])
                figures[f"load_{path}_ms"].append(t["load_ms"])
                if path == "disk":
                    figures["setup_ms"].append(t["connect_ms"] + t["info_ms"] + t["attest_open_ms"])
                    figures["request_overhead_ms"].append(t["request_overhead_ms"])
                    figures["generate_ms"].append(t["generate_ms"])
        load_bytes = out["load_bytes"]
    return {k: median(v) for k, v in figures.items()}, tokens, load_bytes


FRAME = struct.Struct("<IHHII")
MAGIC = 0x31445848
STAGING_MIB = 32


def call(sock, ftype, payload):
    sock.sendall(FRAME.pack(MAGIC, ftype, 0, len(payload), 0) + payload)
    head = b""
    while len(head) < FRAME.size:
        head += sock.recv(FRAME.size - len(head))
    _, rtype, _, length, status = FRAME.unpack(head)
    body = b""
    while len(body) < length:
        body += sock.recv(length - len(body))
    if status != 0:
        raise AssertionError(f"frame {ftype:#x}: status {status}: {body!r}")
    return body


def staging_throughput(plain, reps):
    """MB/s of moving STAGING_MIB MiB of ciphertext into a session's staging
    window: LOAD (virtio-blk, O_DIRECT) against PUT (the TCP socket)."""
    with tempfile.TemporaryDirectory() as tmp:
        disk = os.path.join(tmp, "bulk.disk")
        with open(disk, "wb") as f:
            f.write(os.urandom(STAGING_MIB << 20))
        with sv.SessionVm(plain=plain, disks=[disk]) as vm:
            vm.wait_ready()
            with socket.create_connection(("127.0.0.1", vm.port), timeout=300) as s:
                # Any 32 bytes make a usable X25519 public key for a session
                # that only moves ciphertext.
                call(s, 0x02, os.urandom(64) + struct.pack("<Q", STAGING_MIB << 20))
                load, put = [], []
                chunk = 4 << 20
                data = os.urandom(chunk)
                for _ in range(reps):
                    body = call(s, 0x06, struct.pack("<IIQQQ", 0, 0, 0, 0, STAGING_MIB << 20))
                    nbytes, ns = struct.unpack("<QQ", body)
                    load.append(nbytes / (ns / 1e9) / 1e6)
                    t0 = time.monotonic()
                    for off in range(0, STAGING_MIB << 20, chunk):
                        call(s, 0x04, struct.pack("<Q", off) + data)
                    put.append((STAGING_MIB << 20) / (time.monotonic() - t0) / 1e6)
                call(s, 0x07, b"")
    return {"staging_bytes": STAGING_MIB << 20, "load_mb_s": median(load), "put_mb_s": median(put)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        disks = {}
        for plain in (False, True):
            path = os.path.join(tmp, f"weights-{'plain' if plain else 'sealed'}.disk")
            cmd = [sv.CLIENT, "seal-weights", "--out", path, "--preset", PRESET, "--seed", SEED]
            subprocess.run(cmd + (["--plain"] if plain else []), check=True, capture_output=True)
            disks[plain] = path
        protected, ptok, pbytes = run_mode(False, disks[False], args.reps)
        plain, qtok, _ = run_mode(True, disks[True], args.reps)
    protected.update(staging_throughput(False, args.reps))
    plain.update(staging_throughput(True, args.reps))
    ratio = {k: (round(protected[k] / plain[k], 3) if protected[k] and plain[k] else None)
             for k in protected}
    result = {"model": PRESET, "backend": "cpu", "host": os.uname().nodename, "guest": "TCG, 2 vCPUs",
              "reps": args.reps, "sealed_weight_bytes": pbytes,
              "protected": protected, "plain": plain, "protected_over_plain": ratio,
              "tokens_match_across_modes": ptok == qtok}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0 if ptok == qtok else 1


if __name__ == "__main__":
    sys.exit(main())
