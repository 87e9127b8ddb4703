"""A QEMU hook that no longer applies must stop the build with a message
naming the hook, before anything is compiled. The control is the real patch
set, which applies (build-qemu reports the cached build as up to date)."""

import os
import shutil
import subprocess
import tempfile
import unittest

import vmtest

BUILD_QEMU = os.path.join(vmtest.ROOT, "qemu_scripts", "build-qemu")
PATCHES = os.path.join(vmtest.ROOT, "hypervisor_shim", "qemu")


def build_qemu(patches):
    env = dict(os.environ, OPENHIX_QEMU_PATCHES=patches)
    return subprocess.run([BUILD_QEMU], env=env, capture_output=True, text=True, timeout=900)


class HookCheck(unittest.TestCase):
    def test_intact_patch_set_builds(self):
        r = build_qemu(PATCHES)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.strip().endswith("qemu-system-x86_64"), r.stdout)

    def test_stale_hook_stops_the_build_and_names_itself(self):
        with open(os.path.join(PATCHES, "series"), encoding="utf-8") as f:
            hooks = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        self.assertTrue(hooks)
        victim = hooks[0]
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "qemu")
            shutil.copytree(PATCHES, copy)
            path = os.path.join(copy, "hooks", victim)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            # Damage one context line, as a QEMU update that moved the hook would.
            lines = text.splitlines(keepends=True)
            idx = next(i for i, l in enumerate(lines) if l.startswith(" ") and l.strip())
            lines[idx] = " # context that is not in QEMU\n"
            with open(path, "w", encoding="utf-8") as f:
                f.write("".join(lines))
            r = build_qemu(copy)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"hook '{victim}' no longer applies", r.stderr)
        self.assertNotIn("building qemu-system-x86_64", r.stderr)


if __name__ == "__main__":
    vmtest.main()
