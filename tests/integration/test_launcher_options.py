"""run-vm's documented options: --run's exit status, --extra, --log, and
the exit codes for a guest that dies or a bad option."""

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


if __name__ == "__main__":
    vmtest.main()
