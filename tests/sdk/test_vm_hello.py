#!/usr/bin/env python3
"""The hello enclave on the real platform (the QEMU shim and hix.ko), through
hix-enclave-run in the guest (docs/enclave-sdk.md §7, §8).

One boot runs the scenario below; a second boot with --hix-enforce off is the
control for report verification. Checks: the shim's MRENCLAVE equals
hix-measure's offline value; the report verifies under the platform public
key with libhix's rules and carries the caller's data; ecall semantics
(keyed hash, seal key, unknown number, null); no register survives an EEXIT;
the fault ecall aborts with #UD, nothing is left in the registers, and the
enclave refuses EENTER afterwards; the benchmark prints its figure.
Environment: OPENHIX_VM_ENV (vm.env), HIX_BUILD_DIR (host-bin, guest-enclaves).
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vmtest  # noqa: E402

BUILD = os.environ.get("HIX_BUILD_DIR", os.path.join(vmtest.ROOT, "build"))
HOST_BIN = os.path.join(BUILD, "host-bin")
ENCLAVES = "/usr/share/openhix/enclaves"
NONCE = "6e6f6e63652d31323334"  # "nonce-1234"
Z32 = "00" * 32
MSG = "68656c6c6f"  # "hello"


vm_env = vmtest.vm_env


def measure(image):
    out = subprocess.run([os.path.join(HOST_BIN, "hix-measure"), image],
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


def verify(pubkey, mrenclave, report):
    p = subprocess.run([os.path.join(HOST_BIN, "hix-verify-report"), "--pubkey", pubkey,
                        "--mrenclave", mrenclave, "REPORT=" + report],
                       capture_output=True, text=True)
    return p.returncode, p.stdout


def runs(log):
    """Splits the serial log into hix-enclave-run outputs, one per RUN= marker."""
    out = {}
    for block in re.split(r"^RUN=", log, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        out[name.strip()] = body
    return out


def field(body, key):
    m = re.search(r"^" + key + r"=(\S+)$", body, re.M)
    return m.group(1) if m else None


def ecalls(body):
    return [dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            for line in body.splitlines() if line.startswith("ECALL=")]


class HelloOnTheShim(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = vm_env()
        cache = os.environ.get("OPENHIX_CACHE", "/var/cache/openhix")
        cls.key = env.get("HIX_PLATFORM_KEY", os.path.join(cache, "platform", "platform.key"))
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pub = os.path.join(cls.tmp.name, "platform.pub")
        script = "; ".join([
            f"echo RUN=main; hix-enclave-run {ENCLAVES}/hello.elf --report {NONCE} --bench 50 "
            f"--ecall 1 {Z32}{MSG} --ecall 1 {Z32}{MSG} --ecall 1 {Z32}{MSG}21 "
            f"--ecall 4 {Z32} --ecall 4 {'01' * 32} --ecall 99 --ecall 3; echo RC=$?",
            f"echo RUN=reload; hix-enclave-run {ENCLAVES}/hello.elf --ecall 1 {Z32}{MSG} "
            f"--ecall 4 {Z32}; echo RC=$?",
            f"echo RUN=tampered; hix-enclave-run {ENCLAVES}/hello-tampered.elf --ecall 4 {Z32}; "
            "echo RC=$?",
            f"echo RUN=fault; hix-enclave-run {ENCLAVES}/hello.elf --ecall 2 --ecall 3; echo RC=$?",
        ])
        # No hix-gpu: the hello enclave never touches the GPU, and this test
        # should fail only for the SDK, the shim's enclave ISA or hix.ko.
        cls.vm = vmtest.run_vm("--no-gpu", "--platform-key", cls.key, "--run", script)
        cls.out = runs(cls.vm.log)
        cls.control = vmtest.run_vm("--no-gpu", "--platform-key", cls.key, "--hix-enforce", "off",
                                    "--run",
                                    f"echo RUN=unenforced; hix-enclave-run {ENCLAVES}/hello.elf; "
                                    "echo RC=$?")
        cls.control_out = runs(cls.control.log)
        with open(cls.key, "rb") as f:
            secret = f.read()
        with open(cls.pub, "wb") as f:
            f.write(secret[32:64])  # libsodium's Ed25519 secret key: seed || public key

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def body(self, name, out=None):
        vm = self.vm if out is None else self.control
        out = self.out if out is None else out
        self.assertIn(name, out, f"run-vm exit {vm.rc}\nstderr:\n{vm.stderr[-2000:]}\n"
                                 f"serial:\n{vm.log[-3000:]}")
        return out[name]

    def test_shim_measures_what_hix_measure_predicts(self):
        b = self.body("main")
        self.assertEqual(field(b, "MRENCLAVE"), measure(os.path.join(BUILD, "guest-enclaves", "hello.elf")))
        self.assertEqual(field(b, "MRENCLAVE_MATCH"), "yes")
        t = self.body("tampered")
        self.assertEqual(field(t, "MRENCLAVE"),
                         measure(os.path.join(BUILD, "guest-enclaves", "hello-tampered.elf")))
        self.assertNotEqual(field(t, "MRENCLAVE"), field(b, "MRENCLAVE"))

    def test_report_verifies_and_binds_the_callers_data(self):
        b = self.body("main")
        report = field(b, "REPORT")
        rc, out = verify(self.pub, field(b, "EXPECTED_MRENCLAVE"), report)
        self.assertEqual(rc, 0, out)
        self.assertIn("VERDICT=accept", out)
        self.assertTrue(bytes.fromhex(report)[64:128].startswith(bytes.fromhex(NONCE)))
        # The same report against the tampered image's value: refused.
        t = self.body("tampered")
        rc, out = verify(self.pub, field(t, "EXPECTED_MRENCLAVE"), report)
        self.assertEqual(rc, 1, out)
        self.assertIn("reason=wrong_mrenclave", out)

    def test_control_unenforced_platform_report_is_rejected(self):
        b = self.body("unenforced", self.control_out)
        self.assertEqual(field(b, "MRENCLAVE_MATCH"), "yes")
        rc, out = verify(self.pub, field(b, "EXPECTED_MRENCLAVE"), field(b, "REPORT"))
        self.assertEqual(rc, 1, out)
        self.assertIn("reason=unenforced", out)

    def test_ecalls(self):
        calls = ecalls(self.body("main"))
        self.assertEqual([c["ECALL"] for c in calls], ["1", "1", "1", "4", "4", "99", "3"])
        for c in calls:
            self.assertEqual(c["RESULT"], "exit", c)
            self.assertEqual(c["UNSCRUBBED"], "none", c)
        h1, h2, h3 = (c["OUT"][:64] for c in calls[:3])
        self.assertEqual(h1, h2, "one key per enclave")
        self.assertNotEqual(h1, h3)
        self.assertNotEqual(calls[3]["OUT"], calls[4]["OUT"], "seal key depends on the key id")
        self.assertEqual(calls[5]["STATUS"], "unknown")
        self.assertEqual(calls[6]["STATUS"], "ok")
        self.assertIn("RC=3", self.body("main"), "an unknown ecall makes the exit status 3")

        reload = ecalls(self.body("reload"))
        self.assertNotEqual(reload[0]["OUT"][:64], h1, "a new enclave draws a new hash key")
        self.assertEqual(reload[1]["OUT"], calls[3]["OUT"], "seal key stable across loads")
        tampered = ecalls(self.body("tampered"))
        self.assertNotEqual(tampered[0]["OUT"], calls[3]["OUT"], "seal key differs per MRENCLAVE")

    def test_fault_aborts_scrubbed_and_the_enclave_stays_dead(self):
        b = self.body("fault")
        fault, after = ecalls(b)
        self.assertEqual(fault["RESULT"], "aborted")
        self.assertEqual(fault["VECTOR"], "6")
        self.assertEqual(fault["ISA_STATUS"], "14")
        self.assertEqual(fault["UNSCRUBBED"], "none")
        self.assertEqual(after["RESULT"], "enter_refused")
        self.assertEqual(after["ISA_STATUS"], "13")
        self.assertIn("RC=4", b)

    def test_benchmark_prints_the_round_trip(self):
        b = self.body("main")
        self.assertEqual(field(b, "ecalls"), "50")
        self.assertGreater(int(field(b, "ecall_roundtrip_ns")), 0)


if __name__ == "__main__":
    vmtest.main()
