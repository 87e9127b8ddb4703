#!/usr/bin/env python3
"""Audits an enclave image's machine code and headers (docs/enclave-sdk.md §8).

An enclave has no OS: a system call, an interrupt or a TLS access through a
foreign FS/GS base would abort it or read memory the OS controls. Checks:
  - no syscall/sysenter/sysret/int/int3/into instruction;
  - %gs never used; %fs only as %fs:0x28 (the stack canary in the SDK's TCB);
  - no TLS, interpreter or dynamic section/segment; no W+X PT_LOAD;
  - no undefined symbols (nm -u).
Usage: audit_image.py IMAGE | --selftest. Exit 0 clean, 1 findings.
"""
import re
import subprocess
import sys

FORBIDDEN_MNEMONICS = {"syscall", "sysenter", "sysexit", "sysret", "sysretq", "int", "int3", "into", "int1"}
SEGMENT_USE = re.compile(r"%(fs|gs):([^,\s)]*)")


def audit_disassembly(lines):
    """Findings for `objdump -d --no-show-raw-insn` output lines."""
    findings = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) < 2 or not re.match(r"^\s*[0-9a-f]+:$", parts[0]):
            continue
        insn = parts[-1].strip()
        mnemonic = insn.split()[0] if insn else ""
        if mnemonic in FORBIDDEN_MNEMONICS:
            findings.append(f"forbidden instruction: {line.strip()}")
        for seg, disp in SEGMENT_USE.findall(insn):
            if seg == "gs" or disp != "0x28":
                findings.append(f"segment access other than the canary: {line.strip()}")
    return findings


def audit_headers(sections_text, segments_text):
    findings = []
    for name in (".tdata", ".tbss", ".interp", ".dynamic"):
        if re.search(r"\s" + re.escape(name) + r"\s", sections_text):
            findings.append(f"section {name} present")
    for kind in ("TLS", "INTERP", "DYNAMIC"):
        if re.search(r"^\s*" + kind + r"\s", segments_text, re.M):
            findings.append(f"segment {kind} present")
    for m in re.finditer(r"^\s*LOAD\s.*\s(R?W?E?)\s+0x[0-9a-f]+$", segments_text, re.M):
        if "W" in m.group(1) and "E" in m.group(1):
            findings.append(f"writable and executable segment: {m.group(0).strip()}")
    return findings


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def audit(image):
    findings = audit_disassembly(run("objdump", "-d", "--no-show-raw-insn", image).splitlines())
    findings += audit_headers(run("readelf", "-SW", image), run("readelf", "-lW", image))
    undefined = run("nm", "-u", image).split()
    if undefined:
        findings.append("undefined symbols: " + " ".join(undefined))
    return findings


def selftest():
    bad = [
        "  200000001000:\tsyscall",
        "  200000001000:\tint3",
        "  200000001000:\tint    $0x80",
        "  200000001000:\tmov    %fs:0x0,%rax",
        "  200000001000:\tmov    %gs:0x28,%rax",
        "  200000001000:\tmov    %fs:0x10(%rax),%rdx",
    ]
    good = [
        "  200000001000:\tmov    %fs:0x28,%rax",
        "  200000001000:\tsub    %fs:0x28,%rdx",
        "  200000001000:\tcall   200000002000 <interrupt_handler>",
    ]
    for line in bad:
        assert audit_disassembly([line]), f"not flagged: {line}"
    for line in good:
        assert not audit_disassembly([line]), f"flagged: {line}"
    rw_x = "  LOAD           0x002000 0x0000200000001000 0x0000200000001000 0x0100 0x0100 RWE 0x1000"
    assert audit_headers("", rw_x), "W+X segment not flagged"
    assert audit_headers("  [ 7] .tbss NOBITS", ""), ".tbss not flagged"
    assert not audit_headers("  [ 1] .text PROGBITS", rw_x.replace("RWE", "R E")), "clean flagged"
    print("audit_image selftest: ok")
    return 0


def main():
    if sys.argv[1:] == ["--selftest"]:
        return selftest()
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    findings = audit(sys.argv[1])
    for f in findings:
        print(f)
    print(f"audit_image {sys.argv[1]}: {'clean' if not findings else f'{len(findings)} finding(s)'}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
