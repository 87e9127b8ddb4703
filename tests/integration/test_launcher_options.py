"""run-vm's documented options: --run's exit status, --extra, --log, and
the exit codes for a guest that dies or a bad option, and a machine larger
than the HIX platform supports."""

import os
import tempfile
import unittest

import vmtest


class LauncherOptions(unittest.TestCase):
    def test_run_exit_status_is_propagated(self):
        vm = vmtest.run_vm("--run", "exit 3")
        self.assertEqual(vm.rc, 3, vm.stderr)

    def test_run_output_reaches_stdout_and_log(self):
        vm = vmtest.run_vm("--run", "echo hello-$((6*7))")
        self.assertEqual(vm.rc, 0, vm.stderr)
        self.assertIn("hello-42", vm.stdout)
        self.assertIn("hello-42", vm.log)
        self.assertIn("HIX-RUN-EXIT=0", vm.log)

    def test_extra_dir_appears_under_extra(self):
        with tempfile.TemporaryDirectory() as extra:
            token = os.urandom(8).hex()
            with open(os.path.join(extra, "token.txt"), "w") as f:
                f.write(token + "\n")
            tool = os.path.join(extra, "mytool")
            with open(tool, "w") as f:
                f.write("#!/bin/sh\necho mytool-ran \"$@\"\n")
            os.chmod(tool, 0o755)
            vm = vmtest.run_vm("--extra", extra, "--run", "cat /extra/token.txt && mytool x")
        self.assertEqual(vm.rc, 0, vm.stderr)
        self.assertIn(token, vm.log)
        self.assertIn("mytool-ran x", vm.log)

    def test_guest_panic_is_reported_not_hidden(self):
        vm = vmtest.run_vm("--run", "echo c > /proc/sysrq-trigger; sleep 30; exit 0")
        self.assertEqual(vm.rc, 125, vm.stderr)
        self.assertIn("without reporting an exit status", vm.stderr)

    def test_unknown_option_is_a_usage_error(self):
        vm = vmtest.run_vm("--no-such-option")
        self.assertEqual(vm.rc, 2)
        self.assertIn("unknown option", vm.stderr)

    def test_more_vcpus_than_the_platform_tracks_is_refused_with_an_error(self):
        # q35 allows 288; the HIX platform tracks 256. Under TCG, QEMU's x86
        # code refuses more than 255 APIC ids first (hix-platform checks
        # again once the machine exists): an error and an exit, never an
        # assertion once a vCPU past 256 runs.
        vm = vmtest.run_vm("--smp", "260", "--run", "exit 0", timeout=120)
        self.assertEqual(vm.rc, 125, vm.stderr)
        self.assertRegex(vm.stderr, r"qemu: .*(-smp configuration|supports at most 256)")
        self.assertNotIn("Assertion", vm.stderr)
        self.assertNotIn("core dumped", vm.stderr)


if __name__ == "__main__":
    vmtest.main()
