"""HIX_IOC_STAGING (docs/specs/hix-isa.md §11.1), the DMA staging buffers
hixd uses: hix-staging-selftest checks the extents, the mapping, an O_DIRECT
read from a virtio-blk disk (run-vm --disk) straight into the mapping, the
refusals, the per-file cap and freeing. The disk holds a pattern both sides
compute; the kernel log must stay free of complaints."""

import os
import random
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vmtest  # noqa: E402

COMPLAINTS = r"BUG:|WARNING:|Oops|Bad page|rss-counter|general protection|hix: .*leaking"

# 5 MiB and three pages: an O_DIRECT read that crosses the driver's 4 MiB
# blocks and ends off a block boundary.
DISK_BYTES = 5 * 1024 * 1024 + 3 * 4096
MASK = (1 << 64) - 1

# Values that are reported, not checks.
REPORTED = {"cap_mib", "extents", "largest_extent", "first_gpa", "odirect_bytes",
            "odirect_errno", "odirect_untouched_errno", "memfree_mib", "result"}


def pattern_word(seed, i):
    """splitmix64(seed + i), as hix_staging_selftest.cpp computes it."""
    z = (seed + i + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def pattern(seed, nbytes):
    words = nbytes // 8
    return struct.pack(f"<{words}Q", *(pattern_word(seed, i) for i in range(words)))


class Staging(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.seed = random.getrandbits(63)
        with tempfile.TemporaryDirectory() as tmp:
            disk = os.path.join(tmp, "sealed.img")
            with open(disk, "wb") as f:
                f.write(pattern(cls.seed, DISK_BYTES))
            script = f"""
echo "R vda=$(cat /sys/block/vda/size 2>/dev/null) serial=$(cat /sys/block/vda/serial 2>/dev/null)"
insmod /lib/modules/openhix-test/hix_attack.ko || exit 10
hix-staging-selftest /dev/vda {cls.seed} {DISK_BYTES}
echo "R selftest_rc=$?"
echo "R kernel_complaints=$(dmesg | grep -cE '{COMPLAINTS}')"
dmesg | grep -E '{COMPLAINTS}' | sed 's/^/K /'
"""
            cls.vm = vmtest.run_vm("--append", "oops=panic", "--disk", disk, "--run", script,
                                   timeout=420)
        cls.values = {}
        cls.line = None
        for line in cls.vm.log.splitlines():
            if line.startswith("R "):
                cls.values.update(vmtest.key_values(line[2:]))
            elif line.startswith("HIX-STAGING-SELFTEST "):
                cls.line = vmtest.key_values(line)

    def test_scenario_ran(self):
        self.assertEqual(self.vm.rc, 0, self.vm.stdout + self.vm.stderr)
        self.assertIsNotNone(self.line, self.vm.log)
        self.assertEqual(self.values.get("selftest_rc"), "0", self.vm.log)

    def test_disk_is_vda(self):
        # /dev/vda: the disk's size in 512-byte sectors, run-vm's serial.
        self.assertEqual(self.values.get("vda"), str(DISK_BYTES // 512), self.vm.log)
        self.assertEqual(self.values.get("serial"), "hixd0", self.vm.log)

    def test_every_check_passed(self):
        self.assertIsNotNone(self.line, self.vm.log)
        checks = {k: v for k, v in self.line.items() if k not in REPORTED}
        self.assertGreaterEqual(len(checks), 30, self.line)
        self.assertEqual([k for k, v in checks.items() if v != "ok"], [], self.line)
        self.assertEqual(self.line["result"], "pass")

    def test_odirect_read_everything(self):
        self.assertIsNotNone(self.line, self.vm.log)
        self.assertEqual(self.line.get("odirect_bytes"), str(DISK_BYTES), self.line)
        self.assertEqual(self.line.get("odirect_errno"), "0", self.line)

    def test_kernel_log_is_clean(self):
        complaints = [l for l in self.vm.log.splitlines() if l.startswith("K ")]
        self.assertEqual(self.values.get("kernel_complaints"), "0", "\n".join(complaints))


if __name__ == "__main__":
    vmtest.main()
