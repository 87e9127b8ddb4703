"""Helpers for the VM integration tests: boot the guest through run-vm and
read what it printed. Each test is a unittest module run by CTest."""

import os
import re
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN_VM = os.path.join(ROOT, "qemu_scripts", "run-vm")


class VmResult:
    def __init__(self, rc, stdout, stderr, log):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.log = log

    def launch_to_scenario(self):
        m = re.search(r"^run-vm: launch-to-scenario ([0-9.]+) s$", self.stderr, re.M)
        return float(m.group(1)) if m else None


def vm_env():
    """The VM artifacts openhix build recorded (build/vm.env), as a dict."""
    path = os.environ.get("OPENHIX_VM_ENV", os.path.join(ROOT, "build", "vm.env"))
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                env[k] = v
    return env


def run_vm(*args, timeout=300):
    """Boot the VM with run-vm ARGS; returns a VmResult (serial log included)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "serial.log")
        proc = subprocess.run(
            [RUN_VM, "--log", log, "--timeout", str(timeout), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
        )
        serial = ""
        if os.path.exists(log):
            with open(log, encoding="utf-8", errors="replace") as f:
                serial = f.read()
    return VmResult(proc.returncode, proc.stdout, proc.stderr, serial)


def spec_register_reset(name, spec="docs/specs/hix-gpu.md"):
    """The reset value the spec's register table documents for NAME."""
    with open(os.path.join(ROOT, spec), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`0x[0-9A-Fa-f]+`\s*\|\s*`([A-Z0-9_]+)`\s*\|\s*\w+\s*\|\s*`0x([0-9A-Fa-f]+)`", line)
            if m and m.group(1) == name:
                return int(m.group(2), 16)
    raise KeyError(f"{name} not in {spec}")


def spec_identity(field, spec="docs/specs/hix-gpu.md"):
    """A value from the spec's PCI identity table."""
    with open(os.path.join(ROOT, spec), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*([a-z ]+?)\s*\|\s*`0x([0-9A-Fa-f]+)`", line)
            if m and m.group(1) == field:
                return int(m.group(2), 16)
    raise KeyError(f"{field} not in {spec}")


def key_values(line):
    """'a=1 b=0x2' -> {'a': '1', 'b': '0x2'}"""
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


main = unittest.main
