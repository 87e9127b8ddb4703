"""vm.session: protected inference end to end through the VM (cpu backend).

hixd runs in the guest and hosts the GPU enclave; the host plays the user's
machine: hix-session-client attests the enclave (platform key, the MRENCLAVE
hix-measure computes offline, its own nonce), opens a session, loads a sealed
tiny GPT-2 and a tiny Llama from a VM disk (the bulk path) and generates.
The tokens must equal the plain-mode run through the VM and the in-process
reference (hix-model-run, plain, cpu backend). Also: a wrong MRENCLAVE is
refused, four sessions run at once, and a client that sends garbage or
stalls is dropped while the others keep being served."""

import concurrent.futures
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sessionvm as sv  # noqa: E402

MODELS = [("tiny-gpt2", "11"), ("tiny-llama", "12")]
PROMPT = "5,17,42,9,3,60,28,7"
GENERATE = "12"
MODEL_RUN = os.path.join(sv.BUILD, "hix-model-run")


def reference_tokens(preset, seed):
    """The in-process reference: the device model on the cpu backend, plain."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ref.json")
        subprocess.run([MODEL_RUN, "--preset", preset, "--seed", seed, "--backend", "cpu",
                        "--mode", "plain", "--prompt", PROMPT, "--generate", GENERATE,
                        "--json", out], check=True, capture_output=True, text=True, timeout=300)
        with open(out, encoding="utf-8") as f:
            return json.load(f)["tokens"]


def seal_disk(tmp, preset, seed, plain=False):
    path = os.path.join(tmp, f"{preset}{'-plain' if plain else ''}.disk")
    args = [sv.CLIENT, "seal-weights", "--out", path, "--preset", preset, "--seed", seed]
    if plain:
        args.append("--plain")
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=300)
    return path


class ProtectedSession(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.disks = [seal_disk(cls.tmp.name, p, s) for p, s in MODELS]
        cls.plain_disks = [seal_disk(cls.tmp.name, p, s, plain=True) for p, s in MODELS]
        cls.refs = {p: reference_tokens(p, s) for p, s in MODELS}
        cls.vm = sv.SessionVm(disks=cls.disks)
        cls.vm.wait_ready()
        cls.mrenclave = sv.measure()

    @classmethod
    def tearDownClass(cls):
        cls.vm.close()
        cls.tmp.cleanup()

    def client(self, preset, seed, *extra, check=True):
        disk_index = [p for p, _ in MODELS].index(preset)
        return sv.run_client(self.vm.port, *sv.protected_args(), "--preset", preset, "--seed",
                             seed, "--prompt", PROMPT, "--generate", GENERATE, "--disk-file",
                             self.disks[disk_index], "--disk-index", str(disk_index), *extra,
                             check=check)

    def test_a_sealed_model_generates_the_reference_tokens_through_the_enclave(self):
        for preset, seed in MODELS:
            with self.subTest(model=preset):
                _, out, _ = self.client(preset, seed)
                self.assertEqual(out["mode"], "protected")
                self.assertEqual(out["load_path"], "disk")
                self.assertEqual(out["tokens"], self.refs[preset])
                print(f"vm.session {preset}: tokens={out['generated']} timings={out['timings']}")

    def test_tokens_equal_the_plain_mode_run_through_the_vm(self):
        protected = {p: self.client(p, s)[1]["tokens"] for p, s in MODELS}
        with sv.SessionVm(plain=True, disks=self.plain_disks) as plain_vm:
            plain_vm.wait_ready()
            for i, (preset, seed) in enumerate(MODELS):
                _, out, _ = sv.run_client(plain_vm.port, "--plain", "--preset", preset, "--seed",
                                          seed, "--prompt", PROMPT, "--generate", GENERATE,
                                          "--disk-file", self.plain_disks[i], "--disk-index",
                                          str(i))
                self.assertEqual(out["mode"], "plain")
                self.assertEqual(out["tokens"], protected[preset], preset)

    def test_a_client_expecting_another_mrenclave_refuses_the_enclave(self):
        rc, _, err = sv.run_client(self.vm.port, "--pubkey", sv.platform_pubkey(), "--mrenclave",
                                   sv.measure("hello.elf"), "--preset", "tiny-gpt2", "--seed",
                                   "11", "--prompt", PROMPT, "--generate", "2", check=False)
        self.assertEqual(rc, 3, err)
        self.assertIn("mrenclave", err.lower())

    def test_a_client_trusting_another_platform_key_refuses_the_report(self):
        with tempfile.NamedTemporaryFile("w", suffix=".pub") as f:
            f.write("11" * 32)
            f.flush()
            rc, _, err = sv.run_client(self.vm.port, "--pubkey", f.name, "--mrenclave",
                                       self.mrenclave, "--preset", "tiny-gpt2", "--seed", "11",
                                       "--prompt", PROMPT, "--generate", "2", check=False)
        self.assertEqual(rc, 3, err)
        self.assertIn("signature", err.lower())

    def test_four_sessions_at_once_each_get_their_own_tokens(self):
        jobs = [MODELS[i % 2] for i in range(4)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(self.client, p, s) for p, s in jobs]
            results = [f.result() for f in futures]
        for (preset, _), (_, out, _) in zip(jobs, results):
            self.assertEqual(out["tokens"], self.refs[preset], preset)
        self.assertEqual(len({out["session"] for _, out, _ in results}), 4)

    def test_a_client_sending_garbage_is_dropped_and_the_others_are_served(self):
        with socket.create_connection(("127.0.0.1", self.vm.port), timeout=30) as s:
            s.sendall(b"GARBAGE!" * 8)
            head = s.recv(16)
            self.assertEqual(len(head), 16, "hixd answers a protocol error before closing")
            magic, ftype, _, length, st = struct.unpack("<IHHII", head)
            self.assertEqual(magic, 0x31445848)
            self.assertEqual(st, 1, "MALFORMED")
            s.settimeout(30)
            rest = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
            self.assertEqual(len(rest), length)
        _, out, _ = self.client(*MODELS[0])
        self.assertEqual(out["tokens"], self.refs[MODELS[0][0]])
        self.vm.wait_for(r"^hixd: connection \d+: protocol error: .*closing$")

    def test_a_stalled_client_is_dropped_and_the_others_are_served(self):
        with socket.create_connection(("127.0.0.1", self.vm.port), timeout=60) as s:
            s.sendall(struct.pack("<IHHII", 0x31445848, 0x01, 0, 0, 0)[:7])
            _, out, _ = self.client(*MODELS[1])
            self.assertEqual(out["tokens"], self.refs[MODELS[1][0]])
            self.vm.wait_for(r"^hixd: connection \d+: stalled inside a frame", timeout=60)
            s.settimeout(30)
            rest = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break  # hixd closed the stalled connection
                rest += chunk
            magic, _, _, length, st = struct.unpack("<IHHII", rest[:16])
            self.assertEqual((magic, st), (0x31445848, 1), "a MALFORMED reply before the close")
            self.assertIn(b"stalled", rest[16:16 + length])


if __name__ == "__main__":
    unittest.main(verbosity=2)
