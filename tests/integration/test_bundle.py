"""The relocatable bundle (`openhix bundle DIR`, qemu_scripts/make-bundle),
made into a temporary directory: its launcher boots the VM with the cpu device
server behind the hix-gpu and the default scenario attests; the platform key
is made on first use in the state directory; QEMU and the device server load
no library from outside the bundle but glibc's (and the host's cuBLAS, which
the device server links), and QEMU's firmware comes from the bundle."""

import os
import re
import glob
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import vmtest

BUILD = os.environ.get("HIX_BUILD_DIR", os.path.join(vmtest.ROOT, "build"))
MAKE_BUNDLE = os.path.join(vmtest.ROOT, "qemu_scripts", "make-bundle")
GLIBC = re.compile(r"^(ld-linux-x86-64|libc|libm|libmvec|libpthread|libdl|librt|libresolv|libutil)\.so")
CUBLAS = re.compile(r"^libcublas(Lt)?\.so")
SHARED_OBJECT = re.compile(r"^/.*\.so(\.[0-9]+)*$")
BAR = "b=$(head -1 /sys/bus/pci/devices/0000:01:00.0/resource | cut -d' ' -f1)"
# The device server answers CAPS (the frontend alone reads all-ones), then
# the image's default scenario: hix-probe and the hello enclave's report.
# NFKC through the bundle's ICU (its data library cut to the NFKC tables):
# U+FB01 (the fi ligature) becomes "fi"; prints the data library's path.
NFKC = r"""
import ctypes, glob, os, sys
uc_path = glob.glob(os.path.join(sys.argv[1], "libicuuc.so.*"))[0]
v = uc_path.rsplit(".", 1)[1]
uc = ctypes.CDLL(uc_path)
err = ctypes.c_int(0)
get = getattr(uc, "unorm2_getNFKCInstance_" + v)
get.restype = ctypes.c_void_p
norm = getattr(uc, "unorm2_normalize_" + v)
norm.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_char_p,
                 ctypes.c_int32, ctypes.POINTER(ctypes.c_int)]
n = get(ctypes.byref(err))
src = "\ufb01".encode("utf-16-le")
out = ctypes.create_string_buffer(16)
k = norm(n, src, 1, out, 8, ctypes.byref(err))
print("status", err.value, "nfkc", out.raw[: 2 * max(k, 0)].decode("utf-16-le"))
print("\n".join(sorted({l.split()[-1] for l in open("/proc/self/maps") if "libicudata" in l})))
"""
SCENARIO = BAR + '; echo "R caps=$(devmem $((b+0x14)) 32)"; sh /etc/hix/default-scenario.sh'


def outside_libs(paths, bundle, allow_cublas):
    """The libraries of PATHS that neither lie in BUNDLE/lib nor are glibc's
    (nor cuBLAS, where allowed)."""
    lib = os.path.join(bundle, "lib") + os.sep
    bad = []
    for p in sorted(paths):
        name = os.path.basename(p)
        if p.startswith(lib) or GLIBC.match(name) or (allow_cublas and CUBLAS.match(name)):
            continue
        bad.append(p)
    return bad


def ldd(prog, env):
    """ldd's resolution of PROG: (library paths, names it could not find)."""
    out = subprocess.run(["ldd", prog], env=env, capture_output=True, text=True, check=True).stdout
    found = re.findall(r"=> (/\S+)", out)
    missing = re.findall(r"^\s*(\S+) => not found", out, re.M)
    return found, missing


class Watcher(threading.Thread):
    """Reads /proc/PID/maps of every process running a program of the
    bundle's libexec/openhix, until stopped: the shared objects each program
    actually mapped."""

    def __init__(self, libexec):
        super().__init__(daemon=True)
        self.libexec = libexec + os.sep
        self.maps = {}
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    exe = os.readlink(f"/proc/{pid}/exe")
                    if not exe.startswith(self.libexec):
                        continue
                    with open(f"/proc/{pid}/maps", encoding="utf-8") as f:
                        libs = {p for p in (line.split()[-1] for line in f) if SHARED_OBJECT.search(p)}
                except OSError:
                    continue
                self.maps.setdefault(os.path.basename(exe), set()).update(libs)
            time.sleep(0.2)


class Bundle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.bundle = os.path.join(cls.tmp.name, "bundle")
        cls.state = os.path.join(cls.tmp.name, "state")
        t0 = time.monotonic()
        cls.make = subprocess.run([MAKE_BUNDLE, BUILD, cls.bundle], capture_output=True, text=True)
        print(f"make-bundle: {time.monotonic() - t0:.1f} s: {cls.make.stdout.strip()}")
        if cls.make.returncode != 0:
            return
        # Nothing of the build tree: the launcher alone names the artifacts.
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENHIX_", "HIX_"))}
        cls.env["TMPDIR"] = cls.tmp.name
        # A GPU host without cpio (Ubuntu's server images): PATH holds every
        # program of this machine's but that one.
        cls.env["PATH"] = cls.path_without(("cpio",))
        watcher = Watcher(os.path.join(cls.bundle, "libexec", "openhix"))
        watcher.start()
        t0 = time.monotonic()
        cls.vm = cls.launch("--backend", "cpu", "--run", SCENARIO)
        print(f"boot from the bundle: {time.monotonic() - t0:.1f} s")
        watcher.done.set()
        watcher.join()
        cls.maps = watcher.maps
        # Control: without the bundle's BIOS QEMU finds none (it looks in the
        # bundle only), so the boot above used the bundle's firmware.
        bios = os.path.join(cls.bundle, "share", "qemu", "bios-256k.bin")
        shutil.move(bios, bios + ".aside")
        try:
            cls.no_bios = cls.launch("--run", "true", timeout=120)
        finally:
            shutil.move(bios + ".aside", bios)
        # Control: without the bundle's cpio the same PATH cannot boot.
        cpio = os.path.join(cls.bundle, "libexec", "openhix", "bin", "cpio")
        shutil.move(cpio, cpio + ".aside")
        try:
            cls.no_cpio = cls.launch("--run", "true", timeout=120)
        finally:
            shutil.move(cpio + ".aside", cpio)

    @classmethod
    def path_without(cls, names):
        bin_dir = os.path.join(cls.tmp.name, "host-bin")
        os.makedirs(bin_dir)
        for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                link = os.path.join(bin_dir, name)
                if name not in names and not os.path.lexists(link):
                    os.symlink(os.path.join(d, name), link)
        return bin_dir

    @classmethod
    def launch(cls, *args, timeout=300):
        log = os.path.join(cls.tmp.name, "serial.log")
        proc = subprocess.run(
            [os.path.join(cls.bundle, "bin", "openhix-vm"), "--state-dir", cls.state,
             "--log", log, "--timeout", str(timeout), *args],
            env=cls.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout + 30)
        with open(log, encoding="utf-8", errors="replace") as f:
            serial = f.read()
        return vmtest.VmResult(proc.returncode, proc.stdout, proc.stderr, serial)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(self.make.returncode, 0, self.make.stderr[-3000:])

    def test_it_is_under_64_mib(self):
        size = sum(os.path.getsize(os.path.join(d, f))
                   for d, _, files in os.walk(self.bundle) for f in files)
        reported = int(re.search(r"\(([0-9]+) bytes\)", self.make.stdout).group(1))
        self.assertGreaterEqual(reported, size)  # du: the files and the directories
        self.assertLess(reported, 64 << 20)

    def test_its_launcher_boots_the_vm_and_the_enclave_attests(self):
        self.assertEqual(self.vm.rc, 0, self.vm.log[-3000:] + self.vm.stderr[-2000:])
        self.assertRegex(self.vm.log, r"(?m)^REPORT=[0-9a-f]+")
        caps = re.search(r"(?m)^R caps=(0x[0-9A-Fa-f]+)", self.vm.log)
        self.assertIsNotNone(caps, self.vm.log[-3000:])
        self.assertEqual(int(caps.group(1), 16), vmtest.spec_register_reset("CAPS"),
                         "the device server answers through the hix-gpu")
        # Every firmware file and option ROM QEMU asked for was in the bundle.
        self.assertNotRegex(self.vm.stderr, r"(?im)^qemu: .*(could not|no such file)")

    def test_it_makes_the_platform_key_on_first_use(self):
        self.assertTrue(os.path.isfile(os.path.join(self.state, "platform.key")))
        self.assertTrue(os.path.isfile(os.path.join(self.state, "platform.key.pub")))
        self.assertFalse(any("platform.key" in f for _, _, fs in os.walk(self.bundle) for f in fs))

    def test_qemu_and_the_device_server_map_only_the_bundles_libraries(self):
        self.assertIn("qemu-system-x86_64", self.maps, "QEMU was never seen running")
        self.assertIn("hix-vgpu-server", self.maps, "the device server was never seen running")
        for prog in ("qemu-system-x86_64", "hix-vgpu-server"):
            self.assertIn(os.path.join(self.bundle, "lib", "libsodium.so.23"), self.maps[prog])
        self.assertEqual(outside_libs(self.maps["qemu-system-x86_64"], self.bundle, False), [])
        self.assertEqual(outside_libs(self.maps["hix-vgpu-server"], self.bundle, True), [])

    def test_with_only_the_bundles_library_path_every_library_resolves_inside_it(self):
        lib = os.path.join(self.bundle, "lib")
        env = dict(os.environ, LD_LIBRARY_PATH=lib)
        for prog in ("qemu-system-x86_64", "hix", "hix-keygen", "hix-vgpu-server"):
            with self.subTest(prog=prog):
                found, missing = ldd(os.path.join(self.bundle, "libexec", "openhix", prog), env)
                self.assertEqual([m for m in missing if not CUBLAS.match(m)], [])
                self.assertEqual(outside_libs(found, self.bundle, prog == "hix-vgpu-server"), [])

    def test_the_cut_icu_data_still_normalizes_nfkc(self):
        lib = os.path.join(self.bundle, "lib")
        self.assertLess(os.path.getsize(glob.glob(os.path.join(lib, "libicudata.so.*"))[0]), 1 << 20)
        run = subprocess.run([sys.executable, "-c", NFKC, lib], env=dict(os.environ, LD_LIBRARY_PATH=lib),
                             capture_output=True, text=True, check=True)
        self.assertIn("status 0 nfkc fi\n", run.stdout, run.stderr)
        self.assertIn(os.path.join(lib, "libicudata.so."), run.stdout)

    def test_the_client_runs_through_its_wrapper(self):
        run = subprocess.run([os.path.join(self.bundle, "bin", "hix"), "verify"], env=self.env,
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertRegex(run.stderr, r"^hix: ")

    def test_control_without_the_bundles_library_path_the_check_finds_host_libraries(self):
        env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        found, _ = ldd(os.path.join(self.bundle, "libexec", "openhix", "qemu-system-x86_64"), env)
        self.assertTrue(any("libglib-2.0" in p for p in outside_libs(found, self.bundle, False)))

    def test_a_guest_image_older_than_the_builds_enclave_is_refused(self):
        # A build tree whose vm.env names an image holding another GPU
        # enclave (the tampered one): the bundle would publish an MRENCLAVE
        # its own guest does not run.
        fake = os.path.join(self.tmp.name, "stale-build")
        os.makedirs(os.path.join(fake, "image", "usr", "share", "openhix", "enclaves"))
        for name in ("host-bin", "guest-enclaves", "CMakeCache.txt"):
            os.symlink(os.path.join(BUILD, name), os.path.join(fake, name))
        shutil.copy(os.path.join(BUILD, "guest-enclaves", "gpu_enclave-tampered.elf"),
                    os.path.join(fake, "image", "usr", "share", "openhix", "enclaves",
                                 "gpu_enclave.elf"))
        initrd = os.path.join(fake, "initrd.cpio")
        with open(initrd, "wb") as out:
            subprocess.run("find usr | cpio -o -H newc --quiet", shell=True, check=True,
                           cwd=os.path.join(fake, "image"), stdout=out)
        with open(os.path.join(BUILD, "vm.env"), encoding="utf-8") as f:
            env = [line for line in f.read().splitlines() if not line.startswith("INITRD=")]
        with open(os.path.join(fake, "vm.env"), "w", encoding="utf-8") as f:
            f.write("\n".join(env + [f"INITRD={initrd}"]) + "\n")
        out = os.path.join(self.tmp.name, "stale-bundle")
        run = subprocess.run([MAKE_BUNDLE, fake, out], capture_output=True, text=True)
        self.assertNotEqual(run.returncode, 0, run.stdout)
        self.assertIn("is not the build's", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "share", "openhix", "MANIFEST")))

    def test_it_carries_the_host_tools_a_gpu_host_may_lack(self):
        self.assertIsNone(shutil.which("cpio", path=self.env["PATH"]))
        self.assertTrue(os.access(os.path.join(self.bundle, "libexec", "openhix", "bin", "cpio"),
                                  os.X_OK))
        self.assertNotEqual(self.no_cpio.rc, 0)
        self.assertIn("cpio", self.no_cpio.stderr)

    def test_control_without_the_bundles_bios_qemu_does_not_start(self):
        self.assertEqual(self.no_bios.rc, 125, self.no_bios.stderr[-2000:])
        self.assertIn("bios", self.no_bios.stderr.lower())


if __name__ == "__main__":
    vmtest.main()
