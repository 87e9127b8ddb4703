"""The hix-gpu frontend wired to its device server (docs/specs/hix-gpu.md §10):
registers only the server implements answer through BAR0, the frontend alone
refuses them, and when the server dies the device reports an error while QEMU
and the guest live on, until a reset reaches the server the launcher started
again (§10.6)."""

import re
import unittest

import vmtest

BAR = "b=$(head -1 /sys/bus/pci/devices/0000:01:00.0/resource | cut -d' ' -f1)"


def values(log):
    out = {}
    for line in log.splitlines():
        if line.startswith("R "):
            out.update(vmtest.key_values(line[2:]))
    return out


class ForwardedToTheServer(unittest.TestCase):
    SCRIPT = BAR + "; echo \"R caps=$(devmem $((b+0x14)) 32) status=$(devmem $((b+8)) 32)\""

    def test_a_server_register_answers_with_its_documented_value(self):
        vm = vmtest.run_vm("--run", self.SCRIPT)
        self.assertEqual(vm.rc, 0, vm.stderr)
        v = values(vm.log)
        self.assertEqual(int(v["caps"], 16), vmtest.spec_register_reset("CAPS"))
        self.assertEqual(int(v["status"], 16) & 1, 1, "READY")

    def test_control_without_the_server_the_frontend_refuses_it(self):
        vm = vmtest.run_vm("--no-server", "--run", self.SCRIPT)
        self.assertEqual(vm.rc, 0, vm.stderr)
        self.assertEqual(int(values(vm.log)["caps"], 16), 0xFFFFFFFF)


class ServerDeath(unittest.TestCase):
    SCRIPT = BAR + """
devmem $((b+0xc)) 32 0x1234
echo "R before_status=$(devmem $((b+8)) 32) before_scratch=$(devmem $((b+0xc)) 32)"
echo HIX-KILL-DEVICE-SERVER
sleep 1
echo "R after_status=$(devmem $((b+8)) 32) after_id=$(devmem $b 32) after_scratch=$(devmem $((b+0xc)) 32)"
devmem $((b+0xc)) 32 0x5
echo "R alive=yes"
echo 1 >/sys/bus/pci/devices/0000:01:00.0/reset && echo "R reset=done"
devmem $((b+0xc)) 32 0x77
echo "R reset_status=$(devmem $((b+8)) 32) reset_caps=$(devmem $((b+0x14)) 32) reset_scratch=$(devmem $((b+0xc)) 32)"
"""

    @classmethod
    def setUpClass(cls):
        cls.vm = vmtest.run_vm("--kill-server-on-marker", "--run", cls.SCRIPT)
        cls.v = values(cls.vm.log)
        cls.control = vmtest.run_vm("--kill-server-on-marker", "--server-restart", "off",
                                    "--run", cls.SCRIPT)
        cls.cv = values(cls.control.log)

    def test_guest_and_qemu_live_on(self):
        self.assertEqual(self.vm.rc, 0, self.vm.stderr)
        self.assertEqual(self.v.get("alive"), "yes")
        self.assertIn("killed the device server", self.vm.stderr)

    def test_device_worked_before(self):
        self.assertEqual(int(self.v["before_scratch"], 16), 0x1234)
        self.assertEqual(int(self.v["before_status"], 16) & 0x5, 0x1, "READY, no ERROR")

    def test_device_reports_error_after(self):
        status = int(self.v["after_status"], 16)
        self.assertEqual(status & 0x4, 0x4, "ERROR")
        self.assertEqual(status & 0x1, 0, "READY clear")
        self.assertEqual(int(self.v["after_id"], 16), vmtest.spec_register_reset("ID"))
        self.assertEqual(int(self.v["after_scratch"], 16), 0xFFFFFFFF)

    def test_a_reset_reaches_the_restarted_server_and_the_device_works_again(self):
        self.assertEqual(self.v.get("reset"), "done", self.vm.log[-2000:])
        status = int(self.v["reset_status"], 16)
        self.assertEqual(status & 0x5, 0x1, "READY, no ERROR")
        self.assertEqual(int(self.v["reset_caps"], 16), vmtest.spec_register_reset("CAPS"))
        self.assertEqual(int(self.v["reset_scratch"], 16), 0x77)
        self.assertIn("reached a new device server", self.vm.stderr)

    def test_control_without_a_restarted_server_the_reset_leaves_the_device_failed(self):
        self.assertEqual(self.control.rc, 0, self.control.stderr)
        self.assertEqual(self.cv.get("reset"), "done", self.control.log[-2000:])
        self.assertEqual(int(self.cv["reset_status"], 16) & 0x5, 0x4, "ERROR, READY clear")
        self.assertEqual(int(self.cv["reset_scratch"], 16), 0xFFFFFFFF)


if __name__ == "__main__":
    vmtest.main()
