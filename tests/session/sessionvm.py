"""Helpers for the VM session tests: boot the guest with hixd serving on a
forwarded port, run the host-side test client against it, read the serial
log. Used by tests/session/test_vm_session.py, the session attack suite and
the session benchmark."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import vmtest  # noqa: E402

RUN_VM = os.path.join(ROOT, "qemu_scripts", "run-vm")
BUILD = os.environ.get("HIX_BUILD_DIR", os.path.join(ROOT, "build"))
HOST_BIN = os.path.join(BUILD, "host-bin")
CLIENT = os.path.join(HOST_BIN, "hix-session-client")
MEASURE = os.path.join(HOST_BIN, "hix-measure")
ENCLAVES = os.path.join(BUILD, "guest-enclaves")
GUEST_ENCLAVE = "/usr/share/openhix/enclaves/gpu_enclave.elf"
TAMPERED_ENCLAVE = "/usr/share/openhix/enclaves/gpu_enclave-tampered.elf"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def platform_pubkey():
    env = vmtest.vm_env()
    return env["HIX_PLATFORM_KEY"] + ".pub"


def measure(image="gpu_enclave.elf"):
    out = subprocess.run([MEASURE, os.path.join(ENCLAVES, image)], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


class SessionVm:
    """A VM running hixd. `scenario` is the guest command that runs beside
    hixd (the VM stops when it exits); by default it waits until a file
    /tmp/stop appears, which never happens, so the VM runs until close()."""

    def __init__(self, plain=False, disks=(), scenario=None, hixd_args="", timeout=600,
                 extra_args=(), mem=None):
        self.port = free_port()
        self.tmp = tempfile.TemporaryDirectory()
        self.log = os.path.join(self.tmp.name, "serial.log")
        self.audit = os.path.join(self.tmp.name, "audit.jsonl")
        args = [RUN_VM, "--log", self.log, "--timeout", str(timeout), "--audit", self.audit,
                "--hixd", "on", "--hixd-port", str(self.port)]
        hargs = ("--plain " if plain else "") + hixd_args
        if hargs.strip():
            args += ["--hixd-args", hargs.strip()]
        for d in disks:
            args += ["--disk", d]
        if mem:
            args += ["--mem", str(mem)]
        args += list(extra_args)
        args += ["--run", scenario or "while [ ! -e /tmp/stop ]; do sleep 1; done"]
        # Its own process group: run-vm's QEMU and device server run in a
        # pipeline and a background job, which a signal to run-vm alone
        # would leave running.
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.stdout = self.stderr = ""

    def serial(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, timeout=180):
        """Waits until the serial log has a line matching pattern; returns the match."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while time.monotonic() < deadline:
            m = rx.search(self.serial())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r} in the serial log:\n{self.serial()[-4000:]}\n"
                             f"stderr: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")

    def wait_ready(self, timeout=180):
        return self.wait_for(r"^hixd: ready\b.*$", timeout)

    def wait_exit(self, timeout=300):
        self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        return self.proc.returncode

    def close(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.stdout, self.stderr = self.proc.communicate(timeout=20)
                break
            except subprocess.TimeoutExpired:
                continue
        # The group may outlive run-vm (the device server), and timeout(1)
        # puts QEMU in a process group of its own: end it by its unique
        # port forward.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        subprocess.run(["pkill", "-KILL", "-f",
                        f"qemu-system-x86_64 .*hostfwd=tcp:127.0.0.1:{self.port}-"],
                       check=False)
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_client(port, *args, timeout=300, check=True):
    """Runs hix-session-client against 127.0.0.1:port; returns (rc, json or None, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        proc = subprocess.run([CLIENT, "--port", str(port), *args, "--json", out],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
        data = None
        if os.path.exists(out) and os.path.getsize(out) > 0:
            with open(out, encoding="utf-8") as f:
                data = json.load(f)
    if check and proc.returncode != 0:
        raise AssertionError(f"hix-session-client {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc.returncode, data, proc.stderr


def protected_args():
    return ["--pubkey", platform_pubkey(), "--mrenclave", measure()]
