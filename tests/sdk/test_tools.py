#!/usr/bin/env python3
"""The enclave tools' command lines (docs/enclave-sdk.md §6, §7), on the host.

hix-enclave-run cannot enter an enclave here (no /dev/hix until the shim and
hix.ko exist), but its offline half can be checked: it must print the same
EXPECTED_MRENCLAVE as hix-measure and fail cleanly without a device.
Usage: test_tools.py HOST_BIN_DIR GUEST_BIN_DIR ENCLAVE_DIR
"""
import os
import re
import subprocess
import sys
import tempfile


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)
    print(f"ok: {what}")


def main():
    host_bin, guest_bin, enclaves = sys.argv[1:4]
    measure = os.path.join(host_bin, "hix-measure")
    tamper = os.path.join(host_bin, "hix-image-tamper")
    runner = os.path.join(guest_bin, "hix-enclave-run")
    hello = os.path.join(enclaves, "hello.elf")
    tampered = os.path.join(enclaves, "hello-tampered.elf")

    rc, out, _ = run(measure, hello)
    check(rc == 0 and re.fullmatch(r"[0-9a-f]{64}\n", out), "hix-measure prints 64 hex digits")
    hello_mr = out.strip()
    rc, out2, _ = run(measure, hello)
    check(out2.strip() == hello_mr, "hix-measure is deterministic")
    rc, out, _ = run(measure, tampered)
    check(rc == 0 and out.strip() != hello_mr, "the tampered image measures differently")
    rc, _, err = run(measure, "--pages", hello)
    check(rc == 0 and "RW+TCS" in err and re.search(r"^\s+\+0x00001000 RX$", err, re.M),
          "hix-measure --pages lists the TCS and code pages")
    rc, _, err = run(measure, runner)
    check(rc == 1 and "hix-measure:" in err, "hix-measure refuses a non-enclave ELF")
    rc, _, _ = run(measure)
    check(rc == 2, "hix-measure without an image is a usage error")

    with tempfile.TemporaryDirectory() as d:
        once = os.path.join(d, "once.elf")
        twice = os.path.join(d, "twice.elf")
        rc, out, _ = run(tamper, hello, once)
        check(rc == 0 and "flipped bit 0" in out, "hix-image-tamper flips a bit")
        rc, _, _ = run(tamper, once, twice)
        with open(hello, "rb") as a, open(once, "rb") as b, open(twice, "rb") as c:
            ha, hb, hc = a.read(), b.read(), c.read()
        check(sum(x != y for x, y in zip(ha, hb)) == 1 and len(ha) == len(hb),
              "exactly one byte differs")
        check(hc == ha, "flipping twice restores the image")
        rc, _, err = run(tamper, hello, once, "--symbol", "no_such_symbol")
        check(rc == 1 and "no symbol" in err, "hix-image-tamper names a missing symbol")

    if os.path.exists(runner):
        rc, out, _ = run(runner, hello, "--device", "/nonexistent/hix")
        m = re.search(r"^EXPECTED_MRENCLAVE=([0-9a-f]{64})$", out, re.M)
        check(m and m.group(1) == hello_mr, "hix-enclave-run's expected MRENCLAVE = hix-measure's")
        check(rc == 2 and "LOAD_ERROR=no_device" in out, "hix-enclave-run fails cleanly without /dev/hix")
        rc, _, _ = run(runner, hello, "--ecall")
        check(rc == 2, "hix-enclave-run: --ecall without a number is a usage error")
        rc, out, _ = run(runner, hello, "--report", "00" * 65, "--device", "/nonexistent/hix")
        check(rc == 2 and "EXPECTED_MRENCLAVE" not in out, "report data over 64 bytes is refused")
        rc, out, _ = run("file", runner)
        check("statically linked" in out, "hix-enclave-run is statically linked (guest image rule)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
