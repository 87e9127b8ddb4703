"""The README's main job as a test (demo.readme_command): `openhix demo`
exits 0 and prints, in order, the attestation verdict, the prompt, the
streamed text, the timings and a memory scan that found no plaintext, with
its control: the same scan finds the model's ciphertext that hixd loaded."""

import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Demo(unittest.TestCase):
    def test_the_readme_demo_generates_text_through_the_enclave_and_the_scan_finds_nothing(self):
        proc = subprocess.run([os.path.join(ROOT, "qemu_scripts", "openhix"), "demo"],
                              capture_output=True, text=True, timeout=840,
                              stdin=subprocess.DEVNULL)
        out = proc.stdout
        print(out)
        self.assertEqual(proc.returncode, 0, out + proc.stderr[-3000:])
        order = [r"^attestation: ACCEPTED", r"^  MRENCLAVE +[0-9a-f]{64}", r"^prompt: ",
                 r"^output: .", r"^timings: attest \d+ ms \| load [\d.]+ MB .*first token",
                 r"^memory scan .*found in guest RAM: 0 of 3$",
                 r"^  control: the model's ciphertext, .* found in guest RAM: yes$"]
        at = 0
        for pattern in order:
            m = re.compile(pattern, re.M).search(out, at)
            self.assertIsNotNone(m, f"{pattern!r} after offset {at} in:\n{out}")
            at = m.end()
        self.assertIn("weights are random", out)


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
