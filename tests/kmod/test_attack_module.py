"""hix_attack.ko on ordinary memory (tests/attacks/kmod/hix_attack_abi.h):
each primitive the attack tests rely on is checked against the kernel's own
view (/proc/self/pagemap, the user's reads, the hix-gpu's documented
registers), and a PTE rewrite left in place at exit, close or munmap is undone
without the kernel noticing a corrupted page table."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vmtest  # noqa: E402

SCRIPT = """
insmod /lib/modules/openhix-test/hix_attack.ko || exit 10
test -c /dev/hix-attack || exit 11
echo "R dev_mode=$(stat -c %a /dev/hix-attack)"
hix-attack-selftest
hix-attack-selftest --exit-remapped
hix-attack-selftest --close-remapped
hix-attack-selftest --munmap-remapped
# The same page remapped in a loop: nothing leaks or trips the kernel.
i=0; while [ $i -lt 20 ]; do hix-attack-selftest --exit-remapped >/dev/null; i=$((i+1)); done
rmmod hix_attack
echo "R unloaded=$(grep -c '^hix_attack ' /proc/modules)"
echo "R kernel_complaints=$(dmesg | grep -cE 'BUG:|WARNING:|Oops|Bad page|rss-counter|general protection')"
dmesg | grep -E 'BUG:|WARNING:|Oops|Bad page|rss-counter|general protection' | sed 's/^/K /'
"""


class AttackModule(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # oops=panic: a kernel oops ends the run at once (run-vm exits 125)
        # instead of leaving a wedged guest to time out.
        cls.vm = vmtest.run_vm("--append", "oops=panic", "--run", SCRIPT, timeout=180)
        cls.values = {}
        cls.runs = []
        for line in cls.vm.log.splitlines():
            if line.startswith("R "):
                cls.values.update(vmtest.key_values(line[2:]))
            elif line.startswith("HIX-ATTACK-SELFTEST "):
                cls.runs.append(vmtest.key_values(line))

    def run_with(self, key):
        runs = [r for r in self.runs if key in r]
        self.assertEqual(len(runs), 1, self.vm.log)
        return runs[0]

    def full(self):
        return self.run_with("direct_read")

    def test_scenario_ran(self):
        self.assertEqual(self.vm.rc, 0, self.vm.stdout + self.vm.stderr)
        self.assertEqual(self.values.get("dev_mode"), "600", self.vm.log)

    def test_every_run_passed(self):
        self.assertEqual(len(self.runs), 4, self.vm.log)
        for r in self.runs:
            self.assertEqual(r.get("result"), "pass", r)

    def test_marked_page_reads_back_through_both_kernel_mappings(self):
        r = self.full()
        self.assertEqual(r["direct_read"], "ok")
        self.assertEqual(r["map_read"], "ok")
        self.assertNotEqual(int(r["marked_phys"], 16), 0)

    def test_virt_to_phys_matches_pagemap(self):
        for r in self.runs:
            self.assertNotEqual(r["v2p"], "error", r)
            self.assertEqual(int(r["v2p"], 16), int(r["pagemap"], 16), r)
            self.assertEqual(r["v2p_match"], "ok")

    def test_direct_write_reaches_the_user_page(self):
        r = self.full()
        self.assertEqual(r["write_direct"], "ok")
        self.assertEqual(r["read_back"], "ok")
        self.assertEqual(r["cross_page_refused"], "ok")

    def test_remapped_user_page_reads_the_marked_page(self):
        for r in self.runs:
            self.assertEqual(r["remap"], "ok", r)
            self.assertEqual(int(r["remap_read"], 16), 0xA5, r)
            self.assertEqual(r["remap_full"], "ok", r)
            self.assertEqual(r["remap_old"], "ok", r)
            self.assertEqual(r["v2p_after_remap"], "ok", r)

    def test_remap_back_restores_the_user_page(self):
        r = self.full()
        self.assertEqual(r["restore_read"], "ok")
        self.assertEqual(r["v2p_restored"], "ok")

    def test_close_undoes_the_rewrite(self):
        self.assertEqual(self.run_with("close_restore")["close_restore"], "ok")

    def test_exit_and_munmap_with_a_rewrite_leave_the_kernel_intact(self):
        self.run_with("exit_remapped")
        self.run_with("munmap_remapped")
        complaints = [l for l in self.vm.log.splitlines() if l.startswith("K ")]
        self.assertEqual(self.values.get("kernel_complaints"), "0", "\n".join(complaints))
        self.assertEqual(self.values.get("unloaded"), "0", self.vm.log)

    def test_mmio_reaches_the_hix_gpu_registers(self):
        r = self.full()
        self.assertEqual(int(r["mmio_id"], 16), vmtest.spec_register_reset("ID"))
        self.assertEqual(r["mmio_scratch"], "ok")
        self.assertEqual(r["mmio_ram_refused"], "ok")


if __name__ == "__main__":
    vmtest.main()
