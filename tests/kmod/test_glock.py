"""HIX_IOC_GLOCK of hix.ko (docs/specs/hix-isa.md §11, §12): hix-glock-selftest
checks the driver's refusals (ENXIO before EINIT, ENODEV, EINVAL for a bad
BAR, offset, range or overlap, each with status 0 and nothing left mapped),
that a refused EGLOCK leaves no BAR mapped, and, where the platform implements
EGLOCK, the lock's life: BAR0 of the hix-gpu mapped at its GLRANGE, a second
enclave refused with HIX_ERR_DEVICE_LOCKED, the device lockable again after
DESTROY and after the owner's last close. What the platform cannot do is
skipped with the reason printed, never passed silently."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vmtest  # noqa: E402

COMPLAINTS = r"BUG:|WARNING:|Oops|Bad page|rss-counter|general protection|hix: .*leaking"

SCRIPT = f"""
insmod /lib/modules/openhix-test/hix_attack.ko || exit 10
echo "R load_eglock=$(dmesg | sed -n 's/.*hix: HIX ISA revision .*, \\/dev\\/hix ready (EGLOCK: \\([a-z]*\\)).*/\\1/p')"
hix-glock-selftest
echo "R selftest_rc=$?"
echo "R kernel_complaints=$(dmesg | grep -cE '{COMPLAINTS}')"
dmesg | grep -E '{COMPLAINTS}' | sed 's/^/K /'
"""

EGLOCK_LEAF = 1 << 6  # HIX_EGLOCK

# Values that are reported, not checks.
REPORTED = {
    "isa", "encls", "gpu", "bar0", "bar0_size", "io_bar", "other_bar", "error_paths",
    "success_path", "lock_err", "lock_status", "second_status", "bar_read_outside_enclave",
    "result",
}

# The driver's refusals, run whenever the CPU advertises EGLOCK.
REFUSALS = [
    "enxio_before_create", "enxio_before_init", "mask_empty", "mask_beyond_bar5",
    "reserved_set", "bdf_beyond_16_bits", "enodev", "bar_unassigned", "bar_io",
    "offset_unaligned", "overlap_added_page", "outside_elrange", "refusals_map_nothing",
]

# The lock's life, run where EGLOCK is implemented.
LOCK_LIFE = [
    "lock", "lock_mapped", "lock_maps_only_the_bar", "overlap_locked_range",
    "other_device_refused", "relock_by_owner_refused", "second_lock_refused",
    "refused_unmapped", "refused_not_recorded", "destroy_while_mapped", "destroy",
    "relock_after_destroy", "mmap_maps_locked_bar", "locked_while_mapped", "release_unlocks",
]


class Glock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vm = vmtest.run_vm("--append", "oops=panic", "--run", SCRIPT, timeout=240)
        cls.values = {}
        cls.line = None
        cls.skips = []
        for line in cls.vm.log.splitlines():
            if line.startswith("R "):
                cls.values.update(vmtest.key_values(line[2:]))
            elif line.startswith("HIX-GLOCK-SELFTEST-SKIP "):
                cls.skips.append(line.split(" ", 1)[1])
            elif line.startswith("HIX-GLOCK-SELFTEST "):
                cls.line = vmtest.key_values(line)

    def skip_with_reason(self, what):
        reason = f"{what}: " + ("; ".join(self.skips) or "no reason given")
        print(f"\nSKIPPED {self.id()}: {reason}", file=sys.stderr)
        self.skipTest(reason)

    def require(self, keys):
        missing = [k for k in keys if k not in self.line]
        self.assertEqual(missing, [], self.line)
        self.assertEqual([k for k in keys if self.line[k] != "ok"], [], self.line)

    def test_scenario_ran(self):
        self.assertEqual(self.vm.rc, 0, self.vm.stdout + self.vm.stderr)
        self.assertIsNotNone(self.line, self.vm.log)
        self.assertEqual(self.values.get("selftest_rc"), "0", self.vm.log)

    def test_every_check_passed(self):
        checks = {k: v for k, v in self.line.items() if k not in REPORTED}
        self.assertEqual([k for k, v in checks.items() if v != "ok"], [], self.line)
        self.assertEqual(self.line["result"], "pass")

    def test_load_line_names_eglock(self):
        has = int(self.line["encls"], 16) & EGLOCK_LEAF
        self.assertEqual(self.values.get("load_eglock"), "yes" if has else "no", self.vm.log)

    def test_without_eglock_the_ioctl_is_unsupported(self):
        if int(self.line["encls"], 16) & EGLOCK_LEAF:
            self.skipTest("the CPU advertises EGLOCK")
        self.require(["enxio_before_create", "eopnotsupp"])

    def test_driver_refusals(self):
        if self.line.get("error_paths") != "run":
            self.skip_with_reason("HIX_IOC_GLOCK's refusals not checked")
        self.require(REFUSALS)

    def test_refused_eglock_maps_nothing(self):
        if self.line.get("error_paths") != "run":
            self.skip_with_reason("EGLOCK's refusals not checked")
        self.require(["refused_unmapped"])

    def test_lock_life(self):
        if self.line.get("success_path") != "run":
            self.skip_with_reason("the lock itself not checked")
        self.require(LOCK_LIFE)
        self.assertEqual(int(self.line["second_status"]), 18)  # HIX_ERR_DEVICE_LOCKED

    def test_kernel_log_is_clean(self):
        complaints = [l for l in self.vm.log.splitlines() if l.startswith("K ")]
        self.assertEqual(self.values.get("kernel_complaints"), "0", "\n".join(complaints))


if __name__ == "__main__":
    vmtest.main(verbosity=2)
