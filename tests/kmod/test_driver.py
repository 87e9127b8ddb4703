"""hix.ko on a platform with HIX (docs/specs/hix-isa.md §11), without entering
an enclave: hix-driver-selftest checks the argument rules and per-state errors
of every ioctl, the ENCLS statuses passed back, the ELRANGE mapping, and that
EDESTROY's pages (at HIX_IOC_DESTROY and at the last close) go back to the
kernel as ordinary memory. The kernel log must stay free of complaints and of
leaked-page warnings."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vmtest  # noqa: E402

COMPLAINTS = r"BUG:|WARNING:|Oops|Bad page|rss-counter|general protection|hix: .*leaking"

SCRIPT = f"""
echo "R dev_mode=$(stat -c %a /dev/hix)"
insmod /lib/modules/openhix-test/hix_attack.ko || exit 10
hix-driver-selftest
echo "R selftest_rc=$?"
echo "R kernel_complaints=$(dmesg | grep -cE '{COMPLAINTS}')"
dmesg | grep -E '{COMPLAINTS}' | sed 's/^/K /'
"""

# Values that are reported, not checks.
REPORTED = {"isa", "encls", "enclu", "data_phys", "result"}


def isa_header_value(name):
    """A #define from include/hix/abi/hix_isa.h, so the test follows the ABI."""
    with open(os.path.join(vmtest.ROOT, "include", "hix", "abi", "hix_isa.h")) as f:
        m = re.search(rf"#define {name} (0x[0-9A-Fa-f]+|[0-9]+)u", f.read())
    return int(m.group(1), 0)


class Driver(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vm = vmtest.run_vm("--append", "oops=panic", "--run", SCRIPT, timeout=180)
        cls.values = {}
        cls.line = None
        for line in cls.vm.log.splitlines():
            if line.startswith("R "):
                cls.values.update(vmtest.key_values(line[2:]))
            elif line.startswith("HIX-DRIVER-SELFTEST "):
                cls.line = vmtest.key_values(line)

    def test_scenario_ran(self):
        self.assertEqual(self.vm.rc, 0, self.vm.stdout + self.vm.stderr)
        self.assertIsNotNone(self.line, self.vm.log)
        self.assertEqual(self.values.get("selftest_rc"), "0", self.vm.log)

    def test_dev_hix_is_root_only(self):
        self.assertEqual(self.values.get("dev_mode"), "600", self.vm.log)

    def test_every_check_passed(self):
        checks = {k: v for k, v in self.line.items() if k not in REPORTED}
        self.assertGreaterEqual(len(checks), 25, self.line)
        self.assertEqual([k for k, v in checks.items() if v != "ok"], [], self.line)
        self.assertEqual(self.line["result"], "pass")

    def test_info_reports_the_cpuid_leaf(self):
        # The revision this checkout's ABI describes (1.1 since EGLOCK).
        isa = isa_header_value("HIX_ISA_VERSION_MAJOR") << 16 | isa_header_value("HIX_ISA_VERSION_MINOR")
        self.assertEqual(int(self.line["isa"], 16), isa)
        leaves = isa_header_value("HIX_ENCLS_LEAF_MASK")
        self.assertEqual(int(self.line["encls"], 16) & leaves, leaves)
        self.assertEqual(int(self.line["enclu"], 16), isa_header_value("HIX_ENCLU_LEAF_MASK"))

    def test_kernel_log_is_clean(self):
        complaints = [l for l in self.vm.log.splitlines() if l.startswith("K ")]
        self.assertEqual(self.values.get("kernel_complaints"), "0", "\n".join(complaints))


if __name__ == "__main__":
    vmtest.main()
