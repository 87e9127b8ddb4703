"""The image's default scenario (what `openhix demo` runs) attests the hello
enclave, and fails loudly when its security step cannot run: a hix.ko that
does not load is an error, not a quieter variant of the demo."""

import unittest

import vmtest


class DefaultScenario(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vm = vmtest.run_vm()
        # The kernel refuses to load a blacklisted module, insmod included.
        cls.broken = vmtest.run_vm("--append", "module_blacklist=hix")

    def test_it_attests_the_hello_enclave(self):
        self.assertEqual(self.vm.rc, 0, self.vm.stdout[-3000:] + self.vm.stderr[-2000:])
        self.assertRegex(self.vm.log, r"(?m)^REPORT=[0-9a-f]+")

    def test_without_hix_ko_it_fails_and_says_why(self):
        self.assertEqual(self.broken.rc, 3, self.broken.log[-3000:])
        self.assertIn("init: ERROR: failed to load", self.broken.log)
        self.assertIn("ERROR: no /dev/hix although the platform has HIX", self.broken.log)
        self.assertNotRegex(self.broken.log, r"(?m)^REPORT=")


if __name__ == "__main__":
    vmtest.main()
