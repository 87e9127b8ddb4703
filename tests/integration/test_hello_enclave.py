"""The hello enclave end to end in the VM (issue: enclaves, §4 "Hello
enclave"): a keyed hash with a key generated inside, EREPORT with caller data
verified on the host with the platform public key, MRENCLAVE equal to the
offline tool's value, and sealing keys bound to MRENCLAVE."""

import hashlib
import os
import re
import subprocess
import unittest

import vmtest

BUILD = os.environ.get("HIX_BUILD_DIR", os.path.join(vmtest.ROOT, "build"))
HOST_BIN = os.path.join(BUILD, "host-bin")
HELLO = "/usr/share/openhix/enclaves/hello.elf"
TAMPERED = "/usr/share/openhix/enclaves/hello-tampered.elf"
MESSAGE = b"OpenHIX hello"
NONCE = os.urandom(32).hex()
KEY_ID = "07" * 32


def out_of(log, tag):
    """OUT= hex of the line following 'echo TAG'."""
    m = re.search(rf"^{tag}\n(?:.*\n)*?ECALL=\d+ RESULT=(\w+) STATUS=(\w+) OUT=([0-9a-f]*)", log, re.M)
    return m.groups() if m else None


class HelloEnclave(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        arg = "00" * 32 + MESSAGE.hex()
        script = "; ".join([
            f"hix-enclave-run {HELLO} --report {NONCE}",
            f"echo HASH-A; hix-enclave-run {HELLO} --ecall 1 {arg}",
            f"echo HASH-B; hix-enclave-run {HELLO} --ecall 1 {arg}",
            f"echo SEAL-A; hix-enclave-run {HELLO} --ecall 4 {KEY_ID}",
            f"echo SEAL-B; hix-enclave-run {HELLO} --ecall 4 {KEY_ID}",
            f"echo SEAL-T; hix-enclave-run {TAMPERED} --ecall 4 {KEY_ID}",
        ])
        cls.vm = vmtest.run_vm("--run", script)
        cls.log = cls.vm.log.replace("\r", "")
        env = {}
        with open(os.environ.get("OPENHIX_VM_ENV", os.path.join(BUILD, "vm.env")), encoding="utf-8") as f:
            for line in f:
                if "=" in line:
                    k, v = line.strip().split("=", 1)
                    env[k] = v
        cls.pubkey = env["HIX_PLATFORM_KEY"] + ".pub"

    def test_guest_run_succeeded(self):
        self.assertEqual(self.vm.rc, 0, self.log[-3000:])

    def test_mrenclave_equals_the_offline_measurement(self):
        offline = subprocess.run([os.path.join(HOST_BIN, "hix-measure"),
                                  os.path.join(BUILD, "guest-enclaves", "hello.elf")],
                                 capture_output=True, text=True, check=True).stdout.strip()
        reported = re.search(r"^MRENCLAVE=([0-9a-f]{64})$", self.log, re.M)
        self.assertIsNotNone(reported, self.log[-2000:])
        self.assertEqual(reported.group(1), offline)

    def test_report_with_caller_data_verifies_on_the_host(self):
        report = re.search(r"^REPORT=([0-9a-f]{512})$", self.log, re.M)
        self.assertIsNotNone(report, self.log[-2000:])
        report = report.group(1)
        self.assertEqual(report[128:192], NONCE, "caller data is in the report")
        offline = subprocess.run([os.path.join(HOST_BIN, "hix-measure"),
                                  os.path.join(BUILD, "guest-enclaves", "hello.elf")],
                                 capture_output=True, text=True, check=True).stdout.strip()
        r = subprocess.run([os.path.join(HOST_BIN, "hix-verify-report"), "--pubkey", self.pubkey,
                            "--mrenclave", offline, report], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("VERDICT=accept", r.stdout)

    def test_keyed_hash_uses_a_key_generated_inside(self):
        a, b = out_of(self.log, "HASH-A"), out_of(self.log, "HASH-B")
        self.assertIsNotNone(a, self.log[-3000:])
        self.assertIsNotNone(b, self.log[-3000:])
        self.assertEqual(a[:2], ("exit", "ok"))
        digest_a, digest_b = a[2][:64], b[2][:64]
        # Each load draws a fresh key inside, so two loads disagree, and the
        # result is not the unkeyed hash anyone could compute.
        self.assertNotEqual(digest_a, digest_b)
        self.assertNotEqual(digest_a, hashlib.blake2b(MESSAGE, digest_size=32).hexdigest())
        self.assertNotEqual(digest_a, "00" * 32)

    def test_seal_key_is_stable_for_an_enclave_and_differs_for_another(self):
        a, b, t = (out_of(self.log, tag) for tag in ("SEAL-A", "SEAL-B", "SEAL-T"))
        for r in (a, b, t):
            self.assertIsNotNone(r, self.log[-3000:])
            self.assertEqual(r[:2], ("exit", "ok"))
        self.assertEqual(a[2], b[2], "same MRENCLAVE, same platform: same key")
        self.assertNotEqual(a[2], t[2], "another MRENCLAVE: another key")


if __name__ == "__main__":
    vmtest.main()
