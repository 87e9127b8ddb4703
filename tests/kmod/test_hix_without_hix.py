"""hix.ko on a CPU without HIX (docs/specs/hix-isa.md §11): the module
refuses to load with ENODEV and a clear log line, and /dev/hix never appears.

The guest boots with run-vm --no-hix when the launcher offers it (QEMU without
the hix-platform object); a launcher that predates the HIX platform boots
without HIX anyway."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vmtest  # noqa: E402

MODULE = "/lib/modules/openhix/hix.ko"

SCRIPT = f"""
echo "R module=$(test -f {MODULE} && echo present || echo missing)"
echo "R dev_hix_after_boot=$(test -e /dev/hix && echo present || echo absent)"
insmod {MODULE} 2>/tmp/insmod.err
echo "R insmod_rc=$?"
echo "R insmod_err=$(tr ' ' '_' </tmp/insmod.err)"
echo "R dev_hix_after_insmod=$(test -e /dev/hix && echo present || echo absent)"
echo "R loaded=$(grep -c '^hix ' /proc/modules)"
dmesg | grep 'hix: ' | sed 's/^/D /'
"""


def launcher_has_no_hix():
    usage = subprocess.run([vmtest.RUN_VM, "--help"], capture_output=True, text=True)
    return "--no-hix" in usage.stdout + usage.stderr


class DriverWithoutHix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        args = ["--no-hix"] if launcher_has_no_hix() else []
        cls.vm = vmtest.run_vm(*args, "--run", SCRIPT)
        cls.values = {}
        for line in cls.vm.log.splitlines():
            if line.startswith("R "):
                cls.values.update(vmtest.key_values(line[2:]))

    def value(self, key):
        self.assertIn(key, self.values, self.vm.log)
        return self.values[key]

    def test_scenario_ran(self):
        self.assertEqual(self.vm.rc, 0, self.vm.stdout + self.vm.stderr)

    def test_module_is_in_the_image(self):
        # Without it insmod would fail for the wrong reason.
        self.assertEqual(self.value("module"), "present")

    def test_no_dev_hix(self):
        self.assertEqual(self.value("dev_hix_after_boot"), "absent")
        self.assertEqual(self.value("dev_hix_after_insmod"), "absent")

    def test_insmod_fails_with_enodev(self):
        self.assertNotEqual(int(self.value("insmod_rc")), 0)
        self.assertIn("No_such_device", self.value("insmod_err"))
        self.assertEqual(self.value("loaded"), "0")

    def test_log_says_why(self):
        lines = [l for l in self.vm.log.splitlines() if l.startswith("D ")]
        pattern = re.compile(r"hix: CPU lacks HIX \(CPUID 0x48580000 EAX=0x[0-9a-f]{8}\)$")
        matching = [l for l in lines if pattern.search(l)]
        # /init's autoload and the scenario's insmod each log it (busybox
        # insmod may try both finit_module and init_module).
        self.assertGreaterEqual(len(matching), 2, "\n".join(lines) or self.vm.log)
        self.assertFalse([l for l in lines if "/dev/hix ready" in l], "\n".join(lines))


if __name__ == "__main__":
    vmtest.main()
