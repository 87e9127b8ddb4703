"""Boot the image and check what hix-probe reads through BAR0 against the
spec (docs/specs/hix-gpu.md), plus the device's access rules seen from the
guest through a second path (/dev/mem)."""

import re
import unittest

import vmtest

# Budget from the foundation issue: launch to scenario under TCG.
LAUNCH_TO_SCENARIO_MAX_S = 10.0


class BootProbe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vm = vmtest.run_vm("--run", "hix-probe")

    def test_probe_exits_zero(self):
        self.assertEqual(self.vm.rc, 0, self.vm.stdout + self.vm.stderr)

    def test_launch_to_scenario_within_budget(self):
        t = self.vm.launch_to_scenario()
        self.assertIsNotNone(t, "run-vm printed no launch-to-scenario time")
        self.assertLessEqual(t, LAUNCH_TO_SCENARIO_MAX_S)

    def probe_line(self):
        lines = [l for l in self.vm.log.splitlines() if l.startswith("HIX-PROBE ")]
        self.assertEqual(len(lines), 1, self.vm.log)
        return vmtest.key_values(lines[0])

    def test_found_device_matches_spec_identity(self):
        m = re.search(r"found hix-gpu ([0-9a-f]{4}):([0-9a-f]{4}) rev ([0-9a-f]{2}) class ([0-9a-f]{6})",
                      self.vm.log)
        self.assertIsNotNone(m, self.vm.log)
        self.assertEqual(int(m.group(1), 16), vmtest.spec_identity("vendor id"))
        self.assertEqual(int(m.group(2), 16), vmtest.spec_identity("device id"))
        self.assertEqual(int(m.group(3), 16), vmtest.spec_identity("revision"))
        self.assertEqual(int(m.group(4), 16), vmtest.spec_identity("class code"))

    def test_id_read_through_bar0_is_the_documented_value(self):
        self.assertEqual(int(self.probe_line()["id"], 16), vmtest.spec_register_reset("ID"))

    def test_version_and_status_are_the_documented_values(self):
        p = self.probe_line()
        self.assertEqual(int(p["version"], 16), vmtest.spec_register_reset("VERSION"))
        self.assertEqual(int(p["status"], 16), vmtest.spec_register_reset("STATUS"))

    def test_bar0_is_assigned_with_the_documented_size(self):
        p = self.probe_line()
        self.assertNotEqual(int(p["bar0"], 16), 0)
        self.assertEqual(int(p["bar0_size"], 16), 0x10000)

    def test_scratch_round_trips_and_id_is_read_only(self):
        p = self.probe_line()
        self.assertEqual(p["scratch_read"], p["scratch_written"])
        self.assertEqual(p["id_after_write"], p["id"])
        self.assertGreaterEqual(int(p["badacc"]), 1, "the refused ID write is counted")


class AccessRulesThroughDevMem(unittest.TestCase):
    """Spec §2 access rules, exercised with busybox devmem on the BAR."""

    SCRIPT = r"""
b=$(head -1 /sys/bus/pci/devices/0000:01:00.0/resource | cut -d' ' -f1)
echo "R id=$(devmem $b 32)"
echo "R badacc0=$(devmem $((b+0x10)) 32)"
echo "R byte=$(devmem $((b+1)) 8)"
echo "R half=$(devmem $((b+4)) 16)"
echo "R reserved=$(devmem $((b+0x100)) 32)"
devmem $((b+0x100)) 32 0x12345678
devmem $((b+0xC)) 32 0xA5A5A5A5
echo "R scratch=$(devmem $((b+0xC)) 32)"
echo "R badacc1=$(devmem $((b+0x10)) 32)"
"""

    @classmethod
    def setUpClass(cls):
        cls.vm = vmtest.run_vm("--run", cls.SCRIPT)
        cls.values = {}
        for line in cls.vm.log.splitlines():
            if line.startswith("R "):
                cls.values.update(vmtest.key_values(line[2:]))

    def v(self, key):
        self.assertIn(key, self.values, self.vm.log)
        return int(self.values[key], 16)

    def test_aligned_word_reads_the_id(self):
        self.assertEqual(self.v("id"), vmtest.spec_register_reset("ID"))

    def test_narrow_accesses_are_refused_with_all_ones(self):
        self.assertEqual(self.v("byte"), 0xFF)
        self.assertEqual(self.v("half"), 0xFFFF)

    def test_reserved_offset_reads_zero(self):
        self.assertEqual(self.v("reserved"), 0)

    def test_scratch_written_through_dev_mem(self):
        self.assertEqual(self.v("scratch"), 0xA5A5A5A5)

    def test_refusals_are_counted(self):
        # Two narrow reads and one write to a reserved offset.
        self.assertEqual(self.v("badacc1") - self.v("badacc0"), 3)


if __name__ == "__main__":
    vmtest.main()
