"""The VM-side plumbing of protected inference (docs/decisions.md, "Protected
inference plumbing"): run-vm --hixd-port forwards the host's 127.0.0.1:PORT
to the guest's TCP port 7000 over QEMU's user-mode network (virtio-net, eth0,
restrict=on), each client its own connection; --disk attaches read-only raw
virtio-blk disks (/dev/vda, /dev/vdb, ...); --hixd on|off and --hixd-args
start hixd from /init. A guest echo server (busybox nc) stands in for hixd.
The host side only ever connects to 127.0.0.1."""

import hashlib
import os
import socket
import subprocess
import tempfile
import time
import unittest

import vmtest

# The guest's echo server: one shell per connection (nc -ll -e), "echo:" in
# front of each line; QUIT ends the scenario.
ECHO_SCENARIO = r"""
cat >/tmp/echo.sh <<'EOF'
#!/bin/sh
while IFS= read -r line; do
    if [ "$line" = QUIT ]; then
        touch /tmp/quit
        exit 0
    fi
    echo "echo:$line"
done
EOF
chmod +x /tmp/echo.sh
echo "R eth0_addr=$(ip -o -4 addr show dev eth0 | awk '{print $4}') eth0_flags=$(cat /sys/class/net/eth0/flags)"
# The guest's own connections go nowhere (restrict=on): 10.0.2.2 would be
# the host's loopback, where the test listens on OUTPORT.
if nc -w 5 10.0.2.2 OUTPORT </dev/null; then echo "R outbound=open"; else echo "R outbound=blocked"; fi
nc -ll -p 7000 -e /tmp/echo.sh &
server=$!
i=0
while [ ! -e /tmp/quit ] && [ "$i" -lt 1500 ]; do
    sleep 0.2
    i=$((i + 1))
done
kill "$server"
[ -e /tmp/quit ]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port):
    """The local IPv4 addresses with a listening TCP socket on port."""
    out = []
    with open("/proc/net/tcp", encoding="ascii") as f:
        next(f)
        for line in f:
            fields = line.split()
            addr, p = fields[1].split(":")
            if int(p, 16) == port and fields[3] == "0A":  # TCP_LISTEN
                out.append(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return out


def echo_once(port, token, timeout=3.0):
    """One connection to 127.0.0.1:port, one line; the reply or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(token.encode() + b"\n")
            return c.makefile("rb").readline().decode().strip() or None
    except OSError:
        return None


class Network(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.outbound = socket.socket()
        cls.outbound.bind(("127.0.0.1", 0))
        cls.outbound.listen(4)
        cls.outbound.setblocking(False)
        outport = cls.outbound.getsockname()[1]
        cls.tmp = tempfile.TemporaryDirectory()
        log = os.path.join(cls.tmp.name, "serial.log")
        out = open(os.path.join(cls.tmp.name, "out"), "w+", encoding="utf-8")
        err = open(os.path.join(cls.tmp.name, "err"), "w+", encoding="utf-8")
        proc = subprocess.Popen(
            [vmtest.RUN_VM, "--log", log, "--timeout", "400", "--hixd-port", str(cls.port),
             "--run", ECHO_SCENARIO.replace("OUTPORT", str(outport))],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True)
        cls.first = None
        cls.listen_addrs = []
        deadline = time.monotonic() + 360
        # The forward exists from QEMU's start; the guest answers once its
        # echo server runs.
        while time.monotonic() < deadline and proc.poll() is None:
            if not cls.listen_addrs:
                cls.listen_addrs = listening_addresses(cls.port)
            cls.first = echo_once(cls.port, "first")
            if cls.first is not None:
                break
            time.sleep(0.5)
        cls.pair = (None, None)
        if cls.first is not None:
            cls.pair = cls.two_clients()
            echo_once(cls.port, "QUIT")
        try:
            cls.rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            cls.rc = proc.wait()
        cls.outbound_connections = 0
        while True:
            try:
                conn, _ = cls.outbound.accept()
                conn.close()
                cls.outbound_connections += 1
            except BlockingIOError:
                break
        cls.outbound.close()
        out.seek(0)
        err.seek(0)
        cls.stdout, cls.stderr = out.read(), err.read()
        out.close()
        err.close()
        with open(log, encoding="utf-8", errors="replace") as f:
            cls.log = f.read()
        cls.tmp.cleanup()
        cls.values = {}
        for line in cls.log.splitlines():
            if line.startswith("R "):
                cls.values.update(vmtest.key_values(line[2:]))

    @classmethod
    def two_clients(cls):
        """Two connections open at once, lines interleaved: each gets its own."""
        try:
            with socket.create_connection(("127.0.0.1", cls.port), timeout=10) as a, \
                    socket.create_connection(("127.0.0.1", cls.port), timeout=10) as b:
                fa, fb = a.makefile("rb"), b.makefile("rb")
                a.sendall(b"client-a-1\n")
                b.sendall(b"client-b-1\n")
                a.sendall(b"client-a-2\n")
                got_b = fb.readline().decode().strip()
                got_a = [fa.readline().decode().strip(), fa.readline().decode().strip()]
                return got_a, got_b
        except OSError as e:
            return (str(e), None)

    def test_scenario_ran(self):
        self.assertEqual(self.rc, 0, self.stderr + self.log)

    def test_guest_network(self):
        self.assertEqual(self.values.get("eth0_addr"), "10.0.2.15/24", self.log)
        # IFF_UP, set by /init (the carrier, operstate, follows a moment later).
        self.assertTrue(int(self.values.get("eth0_flags", "0"), 16) & 0x1, self.log)

    def test_forward_echoes(self):
        self.assertEqual(self.first, "echo:first", self.log)

    def test_each_client_its_own_connection(self):
        got_a, got_b = self.pair
        self.assertEqual(got_a, ["echo:client-a-1", "echo:client-a-2"], self.log)
        self.assertEqual(got_b, "echo:client-b-1", self.log)

    def test_forward_listens_on_loopback_only(self):
        self.assertEqual(self.listen_addrs, ["127.0.0.1"])

    def test_guest_cannot_connect_out(self):
        self.assertEqual(self.values.get("outbound"), "blocked", self.log)
        self.assertEqual(self.outbound_connections, 0)


# Disks and the hixd switch, in one boot each.
DISK_SCENARIO = r"""
for d in vda vdb; do
    echo "R ${d}_sha=$(sha256sum /dev/$d | cut -d' ' -f1) ${d}_ro=$(blockdev --getro /dev/$d) ${d}_serial=$(cat /sys/block/$d/serial)"
done
if dd if=/dev/zero of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null; then
    echo "R vda_write=accepted"
else
    echo "R vda_write=refused"
fi
echo "R vdc=$([ -e /dev/vdc ] && echo yes || echo no)"
echo "R cmdline_hixd=$(grep -c 'hix.hixd=1' /proc/cmdline)"
echo "R has_hixd=$([ -x /usr/bin/hixd ] && echo yes || echo no)"
"""

HIXD_SCENARIO = r"""
echo "R cmdline_hixd=$(grep -c 'hix.hixd=1' /proc/cmdline)"
echo "R has_hixd=$([ -x /usr/bin/hixd ] && echo yes || echo no)"
echo "ARGS[$(cat /etc/hix/hixd.args)]"
"""

MISSING_HIXD = "init: hix.hixd=1 but this image has no /usr/bin/hixd; continuing without it"


class DisksAndHixd(unittest.TestCase):
    def test_disks_are_read_only_virtio_blk(self):
        with tempfile.TemporaryDirectory() as tmp:
            blobs = [os.urandom(64 * 1024), os.urandom(3 * 4096)]
            paths = []
            for i, blob in enumerate(blobs):
                paths.append(os.path.join(tmp, f"disk{i}.img"))
                with open(paths[-1], "wb") as f:
                    f.write(blob)
            vm = vmtest.run_vm("--disk", paths[0], "--disk", paths[1], "--run", DISK_SCENARIO,
                               timeout=240)
            with open(paths[0], "rb") as f:
                unchanged = f.read() == blobs[0]
        self.assertEqual(vm.rc, 0, vm.stderr + vm.log)
        values = {}
        for line in vm.log.splitlines():
            if line.startswith("R "):
                values.update(vmtest.key_values(line[2:]))
        for i, name in enumerate(["vda", "vdb"]):
            self.assertEqual(values.get(f"{name}_sha"), hashlib.sha256(blobs[i]).hexdigest(), vm.log)
            self.assertEqual(values.get(f"{name}_ro"), "1", vm.log)
            self.assertEqual(values.get(f"{name}_serial"), f"hixd{i}", vm.log)
        self.assertEqual(values.get("vda_write"), "refused", vm.log)
        self.assertTrue(unchanged)
        self.assertEqual(values.get("vdc"), "no", vm.log)
        # --hixd is off unless asked for: no kernel argument, no hixd line.
        self.assertEqual(values.get("cmdline_hixd"), "0", vm.log)
        self.assertNotIn("init: starting hixd", vm.log)
        self.assertNotIn(MISSING_HIXD, vm.log)

    def test_hixd_on_starts_hixd_or_says_it_is_missing(self):
        args = "--port 7000 'two words'"
        vm = vmtest.run_vm("--hixd", "on", "--hixd-args", args, "--no-gpu", "--run", HIXD_SCENARIO,
                           timeout=240)
        self.assertEqual(vm.rc, 0, vm.stderr + vm.log)
        self.assertIn("R cmdline_hixd=1", vm.log)
        self.assertIn(f"ARGS[{args}]", vm.log)
        if "R has_hixd=yes" in vm.log:
            self.assertIn(f"init: starting hixd {args}", vm.log)
        else:
            self.assertIn("R has_hixd=no", vm.log)
            self.assertIn(MISSING_HIXD, vm.log)
        # /init goes on to the scenario either way.
        self.assertIn("HIX-RUN-EXIT=0", vm.log)

    def test_bad_options_are_refused(self):
        for args in (["--hixd-port", "http"], ["--hixd-port", "70000"], ["--hixd", "maybe"],
                     ["--disk", "/nonexistent/disk.img"]):
            vm = vmtest.run_vm(*args, "--run", "true", timeout=30)
            self.assertNotEqual(vm.rc, 0, args)
            self.assertNotIn("HIX-SCENARIO-START", vm.log, args)


if __name__ == "__main__":
    vmtest.main()
