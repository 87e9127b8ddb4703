"""Verifier for the device-lockdown attack suite (tests/attacks/lockdown/):
one test class per violated property, each reading its attacker's verdict
lines and the audit log. The hix-gpu is locked to the gpu_owner enclave by
hix-gpu-owner, which holds the lock while the attackers run and answers their
"what does the owner see now" requests through its enclave. Properties with a
meaningful control are also attacked with the lockdown off (run-vm
--hix-enforce off: no memory checks, no configuration lock, no DMA filter,
no tag check), where every attack must succeed: a control that succeeds
proves the attack would have worked.

  owner           the lock itself: GLOCK, SCRATCH through the GLRANGE,
                  STATUS.LOCKED, EREPORT names the device (verified on the host)
  (a) bar-access      root reads/writes BAR0 via sysfs resource0, /dev/mem,
                      ioremap (hix_attack.ko) and libpciaccess
  (b) bar-relocate    root rewrites BAR0 via sysfs config, CF8/CFC and ECAM;
                      BAR sizing still answers the size mask; another
                      device's BAR moved onto the locked address
  (c) decode-window   root clears MEMORY in COMMAND (device, root port) or
                      closes the root port's memory window
  (d) glrange-remap   the kernel points the GLRANGE PTE at attacker RAM
  (e) glrange-thread  another thread of the owner's process uses the GLRANGE
  (f) dma             edu (a PCI bus master) DMAs from/to EPC and the BAR
  (f') dma-fwcfg      fw_cfg's DMA engine (not a PCI bus master) copies
                      from/to EPC and the BAR
  (g) owner-death     SIGKILL the owner, then read the device

Two boots in all (one enforcing, one control), each running every attacker.
"""

import functools
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vmtest  # noqa: E402

BUILD = os.environ.get("HIX_BUILD_DIR", os.path.join(vmtest.ROOT, "build"))
HOST_BIN = os.path.join(BUILD, "host-bin")
SOCKET = "/tmp/hix-owner.sock"
# Attackers that need the lock held by someone else run under the owner;
# the others are (or start) their own owner, one after the other.
UNDER_OWNER = ["bar-access", "bar-relocate", "decode-window", "dma-edu", "dma-fwcfg"]
OWN_OWNER = ["glrange-thread", "glrange-remap", "owner-death"]
# iomem=relaxed: /dev/mem may map MMIO the kernel has claimed (the MMCONFIG
# window for the ECAM path). edu: a second bus master that reaches any
# address (its default DMA mask is 28 bits).
VM_ARGS = ["--append", "iomem=relaxed"]
QEMU_ARGS = ["--", "-device", "edu,dma_mask=0xffffffffffffffff"]

ALL_ONES = 0xFFFFFFFF
HIX_ATTR_UNENFORCED = 1 << 63
STATUS_LOCKED = 1 << 1  # docs/specs/hix-gpu.md §2.1


def script():
    under = "; ".join(f"hix-lockdown-{n}" for n in UNDER_OWNER)
    own = "; ".join(f"hix-lockdown-{n}" for n in OWN_OWNER)
    return f"hix-gpu-owner --serve {SOCKET} --run '{under}'; {own}"


def parse(log):
    """({(property, path): kv}, {OWNER line kind: kv} of the first owner)."""
    verdicts, owner = {}, {}
    for line in log.splitlines():
        if line.startswith("ATTACK "):
            kv = vmtest.key_values(line[len("ATTACK "):])
            verdicts[(kv["property"], kv["path"])] = kv
        elif line.startswith("OWNER"):
            kind, _, rest = line.partition(" ")
            owner.setdefault(kind, vmtest.key_values(rest))
    return verdicts, owner


def boot(*vm_args):
    with tempfile.TemporaryDirectory() as tmp:
        audit = os.path.join(tmp, "audit.jsonl")
        vm = vmtest.run_vm("--audit", audit, *VM_ARGS, *vm_args, "--run", script(), *QEMU_ARGS)
        lines = []
        if os.path.exists(audit):
            with open(audit, encoding="utf-8") as f:
                lines = [json.loads(l) for l in f if l.strip()]
    verdicts, owner = parse(vm.log)
    return vm, verdicts, owner, lines


@functools.lru_cache(maxsize=None)
def runs():
    """One boot with the lockdown, one without (the controls), shared by all."""
    return boot(), boot("--hix-enforce", "off")


def platform_pubkey():
    return vmtest.vm_env()["HIX_PLATFORM_KEY"] + ".pub"


def num(value):
    return int(value, 0)


class Lockdown(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        (cls.vm, cls.v, cls.owner, cls.audit), (cls.control_vm, cls.control, cls.control_owner,
                                                 cls.control_audit) = runs()
        cls.bar0 = num(cls.owner["OWNER"]["bar0"]) if "OWNER" in cls.owner else None
        cls.bar0_size = num(cls.owner["OWNER"]["bar0_size"]) if "OWNER" in cls.owner else None
        cls.bdf = num(cls.owner["OWNER"]["bdf"]) if "OWNER" in cls.owner else None

    def verdict(self, prop, path, control=False):
        table = self.control if control else self.v
        vm = self.control_vm if control else self.vm
        self.assertIn((prop, path), table, vm.stdout[-3000:] + vm.stderr[-2000:])
        return table[(prop, path)]

    def denials(self, kind, **fields):
        return [d for d in self.audit
                if d.get("kind") == kind and all(d.get(k) == v for k, v in fields.items())]

    def in_bar0(self, physical):
        return self.bar0 <= num(physical) < self.bar0 + self.bar0_size

    def assert_all_blocked(self, prop, paths):
        for path in paths:
            with self.subTest(path=path):
                self.assertEqual(self.verdict(prop, path)["outcome"], "blocked",
                                 self.verdict(prop, path))

    def assert_all_succeed_unprotected(self, prop, paths):
        for path in paths:
            with self.subTest(path=path):
                self.assertEqual(self.verdict(prop, path, control=True)["outcome"], "succeeded",
                                 self.verdict(prop, path, control=True))


class Owner(Lockdown):
    """The lock: what every attack below is measured against."""

    def test_both_boots_ran_to_the_end(self):
        for vm in (self.vm, self.control_vm):
            self.assertEqual(vm.rc, 0, vm.stdout[-2000:] + vm.stderr[-2000:])
        self.assertEqual(self.owner.get("OWNER-RUN", {}).get("exit"), "0", self.vm.stdout[-3000:])

    def test_locks_bar0_at_a_glrange_inside_elrange(self):
        o = self.owner["OWNER"]
        self.assertEqual(o["lock"], "ok")
        self.assertEqual(self.bar0_size, 0x10000)  # docs/specs/hix-gpu.md §1
        base, size, glrange = num(o["elrange"]), num(o["elrange_size"]), num(o["glrange"])
        self.assertEqual(glrange % 4096, 0)
        self.assertLessEqual(base, glrange)
        self.assertLessEqual(glrange + self.bar0_size, base + size)

    def test_the_enclave_reaches_its_device_and_sees_it_locked(self):
        c = self.owner["OWNER-CHECK"]
        self.assertEqual(c["result"], "pass", c)
        self.assertEqual(c["write"], "ok")
        self.assertEqual(num(c["readback"]), num(c["secret"]))
        self.assertEqual(num(c["id"]), vmtest.spec_register_reset("ID"))
        self.assertTrue(num(c["status"]) & STATUS_LOCKED)
        self.assertEqual(self.owner["OWNER-END"]["enclave"], "alive")

    def test_report_names_the_locked_device(self):
        r = self.owner["OWNER-REPORT"]
        report = bytes.fromhex(r["report"])
        self.assertEqual(len(report), 256)
        bdf, vendor, device, locked, reserved = struct.unpack_from("<IHHII", report, 48)
        self.assertEqual(bdf, self.bdf)
        self.assertEqual(vendor, vmtest.spec_identity("vendor id"))
        self.assertEqual(device, vmtest.spec_identity("device id"))
        self.assertEqual((locked, reserved), (1, 0))
        self.assertEqual(num(r["device_bdf"]), self.bdf)
        self.assertEqual(r["data_ok"], "yes")

    def test_report_verifies_on_the_host_only_when_enforced(self):
        expected = subprocess.run(
            [os.path.join(HOST_BIN, "hix-measure"), os.path.join(BUILD, "guest-enclaves",
                                                                 "gpu_owner.elf")],
            capture_output=True, text=True, check=True).stdout.strip()
        pubkey = platform_pubkey()
        for owner, ok in ((self.owner, True), (self.control_owner, False)):
            report = owner["OWNER-REPORT"]["report"]
            (attributes,) = struct.unpack_from("<Q", bytes.fromhex(report), 8)
            self.assertEqual(bool(attributes & HIX_ATTR_UNENFORCED), not ok)
            r = subprocess.run([os.path.join(HOST_BIN, "hix-verify-report"), "--pubkey", pubkey,
                                "--mrenclave", expected, report], capture_output=True, text=True)
            self.assertEqual(r.returncode == 0, ok, r.stdout + r.stderr)

    def test_the_lock_engages_without_enforcement_too(self):
        # The control differs only in enforcement: the device is locked there as well.
        c = self.control_owner["OWNER-CHECK"]
        self.assertEqual(c["result"], "pass", c)


class BarAccess(Lockdown):
    """(a) root maps BAR0 itself and reads/forges SCRATCH."""

    PATHS = ["sysfs-resource0", "devmem", "ioremap", "libpciaccess"]

    def test_every_path_reads_all_ones_and_cannot_write(self):
        self.assert_all_blocked("bar-access", self.PATHS)
        for path in self.PATHS:
            with self.subTest(path=path):
                v = self.verdict("bar-access", path)
                self.assertEqual(num(v["read"]), ALL_ONES)
                self.assertEqual(num(v["id"]), ALL_ONES)
                self.assertEqual(num(v["owner_after"]), num(v["secret"]))

    def test_reads_and_writes_are_logged_at_user_and_kernel_privilege(self):
        for kind in ("bar-read", "bar-write"):
            for cpl in (3, 0):  # mappings in user space; ioremap in the kernel
                with self.subTest(kind=kind, cpl=cpl):
                    hits = [d for d in self.denials(kind, cpl=cpl, verdict="abort-page")
                            if self.in_bar0(d["physical"])]
                    self.assertTrue(hits)

    def test_control_every_path_reads_the_secret_and_writes(self):
        self.assert_all_succeed_unprotected("bar-access", self.PATHS)
        for path in self.PATHS:
            with self.subTest(path=path):
                v = self.verdict("bar-access", path, control=True)
                self.assertEqual(num(v["read"]), num(v["secret"]))
                self.assertEqual(num(v["owner_after"]), num(v["forged"]))


class BarRelocate(Lockdown):
    """(b) root moves BAR0 by writing configuration space."""

    PATHS = ["sysfs-config", "cf8-cfc", "ecam", "sysfs-config-over-ram",
             "sysfs-config-over-device"]

    def sizing_answer(self):
        # A 32-bit, non-prefetchable memory BAR: the size mask, type bits 0.
        return ~(self.bar0_size - 1) & ALL_ONES

    def test_the_bar_stays_and_the_owner_keeps_its_device(self):
        self.assert_all_blocked("bar-relocate", self.PATHS)
        for path in self.PATHS:
            with self.subTest(path=path):
                v = self.verdict("bar-relocate", path)
                self.assertEqual(num(v["bar_readback"]), num(v["bar_before"]))
                self.assertEqual(num(v["bar_before"]), self.bar0)
                self.assertEqual(num(v["owner_during"]), num(v["secret"]))
                self.assertEqual(num(v["owner_after"]), num(v["secret"]))

    def test_bar_sizing_still_answers_the_size_mask(self):
        for control in (False, True):
            for path in self.PATHS:
                with self.subTest(path=path, control=control):
                    v = self.verdict("bar-relocate", path, control)
                    self.assertEqual(num(v["sizing"]), self.sizing_answer())
                    self.assertEqual(num(v["bar_after"]), num(v["bar_before"]))

    def test_dropped_writes_are_logged_with_offset_and_bdf(self):
        hits = self.denials("config-write", linear="0x10", physical=hex(self.bdf))
        self.assertGreaterEqual(len(hits), len(self.PATHS))

    def test_another_device_cannot_take_over_the_locked_address(self):
        # edu's BAR0 moved onto the locked BAR: the owner's GLRANGE must
        # still reach the hix-gpu, not whatever else decodes there.
        v = self.verdict("bar-relocate", "other-bar-overlap")
        self.assertEqual(num(v["owner_id"]), vmtest.spec_register_reset("ID"), v)
        self.assertEqual(num(v["owner_during"]), num(v["secret"]), v)
        self.assertEqual(v["outcome"], "blocked")

    def test_control_another_device_takes_over_the_locked_address(self):
        v = self.verdict("bar-relocate", "other-bar-overlap", control=True)
        self.assertEqual(v["outcome"], "succeeded")
        self.assertNotEqual(num(v["owner_id"]), vmtest.spec_register_reset("ID"))

    def test_control_every_path_moves_the_bar(self):
        self.assert_all_succeed_unprotected("bar-relocate", self.PATHS)
        for path in self.PATHS:
            with self.subTest(path=path):
                v = self.verdict("bar-relocate", path, control=True)
                self.assertEqual(num(v["bar_readback"]), num(v["bar_target"]))
                self.assertNotEqual(num(v["owner_during"]), num(v["secret"]))


class DecodeWindow(Lockdown):
    """(c) root turns off decoding or routing instead of moving the BAR."""

    PATHS = ["command-memory", "bridge-command-memory", "bridge-window"]

    def test_writes_are_dropped_and_the_owner_keeps_its_device(self):
        self.assert_all_blocked("decode-window", self.PATHS)
        for path in self.PATHS:
            with self.subTest(path=path):
                v = self.verdict("decode-window", path)
                self.assertEqual(num(v["readback"]), num(v["before"]))
                self.assertNotEqual(num(v["wrote"]), num(v["before"]))
                self.assertEqual(num(v["owner_during"]), num(v["secret"]))

    def test_device_and_bridge_writes_are_logged(self):
        bridge = self.verdict("decode-window", "bridge-window")["function"]
        bridge_bdf = int(bridge[5:7], 16) << 8 | int(bridge[8:10], 16) << 3 | int(bridge[11], 16)
        self.assertTrue(self.denials("config-write", linear="0x4", physical=hex(self.bdf)))
        for offset in ("0x4", "0x20"):
            with self.subTest(offset=offset):
                self.assertTrue(self.denials("config-write-bridge", linear=offset,
                                             physical=hex(bridge_bdf)))

    def test_control_every_write_takes_the_device_off_the_bus(self):
        self.assert_all_succeed_unprotected("decode-window", self.PATHS)
        for path in self.PATHS:
            with self.subTest(path=path):
                v = self.verdict("decode-window", path, control=True)
                self.assertEqual(num(v["readback"]), num(v["wrote"]))
                self.assertNotEqual(num(v["owner_during"]), num(v["secret"]))
                self.assertEqual(num(v["owner_after"]), num(v["secret"]))  # put back


class GlrangeRemap(Lockdown):
    """(d) the kernel remaps the GLRANGE to attacker RAM, then EENTER."""

    def test_enclave_aborts_and_nothing_reaches_the_attacker_page(self):
        v = self.verdict("glrange-remap", "pte-to-attacker-ram")
        self.assertEqual(v["outcome"], "blocked")
        self.assertEqual(v["before_ok"], "yes")
        self.assertEqual(v["result"], "enclave_aborted")
        self.assertEqual(int(v["isa_status"]), 14)  # HIX_ERR_ENCLAVE_ABORTED
        self.assertEqual(v["marker_intact"], "yes")
        self.assertEqual(v["value_in_attacker_page"], "no")
        self.assertEqual(int(v["unscrubbed"]), 0)
        linear = num(v["linear"])
        hits = [d for d in self.denials("enclave-glrange-mismatch", verdict="enclave-abort")
                if num(d["linear"]) & ~0xFFF == linear & ~0xFFF]
        self.assertTrue(hits)

    def test_the_dead_owner_keeps_the_device_locked(self):
        v = self.verdict("glrange-remap", "pte-to-attacker-ram")
        self.assertEqual(num(v["status_outside"]), ALL_ONES)  # still locked: abort page
        self.assertEqual(int(v["next_isa_status"]), 13)  # HIX_ERR_ENCLAVE_DEAD

    def test_control_the_enclave_writes_into_attacker_ram(self):
        v = self.verdict("glrange-remap", "pte-to-attacker-ram", control=True)
        self.assertEqual(v["outcome"], "succeeded")
        self.assertEqual(v["result"], "ok")
        self.assertEqual(v["value_in_attacker_page"], "yes")


class GlrangeThread(Lockdown):
    """(e) another thread of the owner's process, outside enclave mode."""

    def test_reads_all_ones_and_cannot_write(self):
        v = self.verdict("glrange-thread", "second-thread")
        self.assertEqual(v["outcome"], "blocked")
        self.assertEqual(num(v["read"]), ALL_ONES)
        self.assertEqual(num(v["id"]), ALL_ONES)
        self.assertEqual(v["owner_ok"], "yes")
        self.assertEqual(num(v["owner_after"]), num(v["secret"]))

    def test_logged_at_the_glrange_address(self):
        page = num(self.verdict("glrange-thread", "second-thread")["linear"]) & ~0xFFF
        for kind in ("bar-read", "bar-write"):
            with self.subTest(kind=kind):
                self.assertTrue([d for d in self.denials(kind, cpl=3)
                                 if num(d["linear"]) & ~0xFFF == page
                                 and self.in_bar0(d["physical"])])

    def test_control_reads_the_secret_and_writes(self):
        v = self.verdict("glrange-thread", "second-thread", control=True)
        self.assertEqual(v["outcome"], "succeeded")
        self.assertEqual(num(v["read"]), num(v["secret"]))
        self.assertEqual(num(v["owner_after"]), num(v["forged"]))


class Dma(Lockdown):
    """(f) another PCI bus master (edu) DMAs from and into EPC and the BAR."""

    PATHS = ["epc-to-device", "device-to-epc", "bar-to-device", "device-to-bar"]

    def test_nothing_is_copied(self):
        self.assert_all_blocked("dma", self.PATHS)
        for path in self.PATHS:
            with self.subTest(path=path):
                self.assertEqual(self.verdict("dma", path)["done"], "yes")
        # A refused read must not leave the EPC page's bytes in the device's
        # buffer; spec §15 says all-ones, the buffer may also keep its marker.
        # QEMU delivers zeros for a failed DMA read (reported, not an EPC leak).
        self.assertIn(self.verdict("dma", "epc-to-device")["bytes"],
                      ("all-ones", "zeros", "marker"))
        self.assertEqual(self.verdict("dma", "device-to-epc")["vault"], "intact")
        v = self.verdict("dma", "bar-to-device")
        self.assertNotEqual(num(v["word"]), num(v["secret"]))
        v = self.verdict("dma", "device-to-bar")
        self.assertEqual(num(v["owner_after"]), num(v["secret"]))

    def test_refusals_are_logged_with_the_target(self):
        epc = num(self.verdict("dma", "epc-to-device")["epc"])
        self.assertTrue([d for d in self.denials("dma-epc") if num(d["physical"]) & ~0xFFF == epc])
        target = self.verdict("dma", "bar-to-device")["target"]
        self.assertGreaterEqual(len(self.denials("dma-bar", physical=target)), 2)

    def test_control_every_transfer_lands(self):
        self.assert_all_succeed_unprotected("dma", self.PATHS)
        self.assertEqual(self.verdict("dma", "device-to-epc", control=True)["vault"], "marker")


class DmaFwcfg(Lockdown):
    """(f') fw_cfg's DMA engine, which is not a PCI bus master, copies between
    a writable fw_cfg item and EPC or the BAR."""

    def test_epc_is_neither_read_nor_written(self):
        # docs/architecture.md §4.3: no device may DMA into EPC.
        self.assert_all_blocked("dma-fwcfg", ["epc-to-item", "item-to-epc"])

    def test_epc_refusals_are_logged(self):
        epc = num(self.verdict("dma-fwcfg", "epc-to-item")["epc"])
        self.assertTrue([d for d in self.denials("dma-epc") if num(d["physical"]) & ~0xFFF == epc])

    def test_bar_accesses_are_refused_by_the_dma_filter(self):
        self.assert_all_blocked("dma-fwcfg", ["bar-to-item", "item-to-bar"])
        # A refused DMA read moves nothing: the item keeps what the device
        # model leaves there (zeros), never a register value.
        self.assertIn(num(self.verdict("dma-fwcfg", "bar-to-item")["word"]), (0, ALL_ONES))
        v = self.verdict("dma-fwcfg", "item-to-bar")
        self.assertEqual(num(v["owner_after"]), num(v["secret"]))
        target = num(self.verdict("dma-fwcfg", "bar-to-item")["target"])
        hits = [d for d in self.denials("dma-bar") if num(d["physical"]) & ~0xFFF == target & ~0xFFF]
        self.assertGreaterEqual(len(hits), 2, "both directions refused and logged")

    def test_control_every_transfer_lands(self):
        self.assert_all_succeed_unprotected(
            "dma-fwcfg", ["epc-to-item", "item-to-epc", "bar-to-item", "item-to-bar"])


class OwnerDeath(Lockdown):
    """(g) the owner is killed; root reads the device once the lock is gone."""

    def test_device_is_scrubbed_and_unlocked(self):
        v = self.verdict("owner-death", "sigkill")
        self.assertEqual(int(v["killed_by"]), 9)
        self.assertEqual(num(v["while_locked"]), ALL_ONES)
        self.assertEqual(v["locked_after"], "no")
        self.assertEqual(num(v["id_after"]), vmtest.spec_register_reset("ID"))
        self.assertEqual(num(v["scratch_after"]), vmtest.spec_register_reset("SCRATCH"),
                         "SCRATCH survived the owner's death")
        if v["arg0_planted"] == "yes":
            self.assertEqual(num(v["arg0_after"]), vmtest.spec_register_reset("ARG0"),
                             "ARG0 survived the owner's death")
        self.assertEqual(v["outcome"], "blocked")

    def test_control_the_read_path_works_and_the_scrub_is_not_an_enforcement_check(self):
        # Unenforced, root reads the secret while the owner lives: the path
        # is real. Scrubbing at destruction does not depend on enforcement,
        # so the control must end scrubbed too.
        v = self.verdict("owner-death", "sigkill", control=True)
        self.assertEqual(num(v["while_locked"]), num(v["secret"]))
        self.assertEqual(v["locked_after"], "no")
        self.assertEqual(num(v["scratch_after"]), vmtest.spec_register_reset("SCRATCH"))


if __name__ == "__main__":
    vmtest.main(verbosity=2)
