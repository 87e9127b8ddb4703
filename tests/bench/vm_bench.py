#!/usr/bin/env python3
"""VM-level benchmark, printed side by side in one run:

  * boot: launch-to-scenario of Debian's unpatched QEMU vs the patched QEMU
    (without and with the HIX platform and hix-gpu), same kernel and initramfs;
  * ecall: EENTER/EEXIT round trip of a null ecall in the hello enclave under
    TCG, measured in the guest by hix-enclave-run --bench.

Usage: vm_bench.py [--boots N] [--ecalls N] [--json FILE]
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vmtest  # noqa: E402

STOCK_QEMU = "/usr/bin/qemu-system-x86_64"


def vm_env():
    return vmtest.vm_env()


def boot_times(qemu, extra, boots):
    env = dict(os.environ, **vm_env())
    env["QEMU"] = qemu
    times = []
    for _ in range(boots):
        r = subprocess.run([vmtest.RUN_VM, *extra, "--run", "exit 0"], env=env,
                           capture_output=True, text=True, timeout=300)
        m = re.search(r"launch-to-scenario ([0-9.]+) s", r.stderr)
        if r.returncode != 0 or not m:
            raise SystemExit(f"boot failed ({qemu} {extra}): {r.stderr[-500:]}")
        times.append(float(m.group(1)))
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--boots", type=int, default=5)
    ap.add_argument("--ecalls", type=int, default=2000)
    ap.add_argument("--json")
    args = ap.parse_args()

    patched = vm_env()["QEMU"]
    configs = [
        ("debian-qemu (unpatched), no hix", STOCK_QEMU, ["--no-hix", "--no-gpu"]),
        ("patched, no hix", patched, ["--no-hix", "--no-gpu"]),
        ("patched, hix platform + hix-gpu", patched, []),
    ]
    results = {"machine": platform.node(), "cpus": os.cpu_count(), "boot": [], "ecall": None}
    rows = []
    present = [c for c in configs if os.path.exists(c[1])]
    for name, qemu, _ in configs:
        if (name, qemu) not in [(n, q) for n, q, _ in present]:
            rows.append((name, "skipped: " + qemu + " not installed"))
    # Interleaved rounds, so background load hits every configuration alike.
    times = {name: [] for name, _, _ in present}
    for _ in range(args.boots):
        for name, qemu, extra in present:
            times[name] += boot_times(qemu, extra, 1)
    for name, _, _ in present:
        t = times[name]
        results["boot"].append({"config": name, "median_s": statistics.median(t), "runs_s": t})
        rows.append((name, f"{statistics.median(t):.2f} s median of {len(t)} "
                           f"(min {min(t):.2f}, max {max(t):.2f})"))

    enclave = "/usr/share/openhix/enclaves/hello.elf"
    r = vmtest.run_vm("--run", f"hix-enclave-run {enclave} --bench {args.ecalls}")
    m = re.search(r"ecall_roundtrip_ns=([0-9.]+)", r.log)
    if m:
        results["ecall"] = {"roundtrip_ns": float(m.group(1)), "ecalls": args.ecalls}
        rows.append(("EENTER/EEXIT null ecall (TCG)", f"{float(m.group(1)) / 1000:.1f} us"))
    else:
        rows.append(("EENTER/EEXIT null ecall (TCG)", "not measured: " +
                     (r.log.strip().splitlines() or ["no output"])[-1]))

    width = max(len(n) for n, _ in rows)
    print("\nOpenHIX VM benchmark (TCG, %d host cpus)" % (os.cpu_count() or 0))
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
