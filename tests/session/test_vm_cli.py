"""The `hix` CLI end to end through the VM (vm.cli): seal a Hugging Face
checkpoint (the demo's small Llama with the real Llama 3 tokenizer), verify
it, attest the GPU enclave, generate text with the weights loaded from
hixd's disk and through the connection; refuse a wrong MRENCLAVE, a .hixm
whose chunk or manifest was changed, and a key of another model — and hixd
serves a good request after each refusal."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sessionvm as sv  # noqa: E402

HIX = os.path.join(sv.HOST_BIN, "hix")
DEMO_MODEL = os.path.join(sv.HOST_BIN, "hix-demo-model")
PROMPT = "Sealed weights, attested enclave:"
MAX_TOKENS = 12
CHUNK_STRIDE = 65584


def npm_data():
    env = sv.vmtest.vm_env()
    return env.get("HIX_NPM_DATA", "")


def hix(*args, stdin=None, timeout=600):
    return subprocess.run([HIX, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL if stdin is None else stdin)


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tok = os.path.join(npm_data(), "node_modules", "@lenml", "tokenizer-llama3", "models")
        # Required: `openhix build` fetches it (a skip here would pass silently).
        assert os.path.exists(os.path.join(tok, "tokenizer.json")), \
            f"no Llama 3 tokenizer test data at {tok} (qemu_scripts/fetch-test-data)"
        t = cls.tmp.name
        cls.ckpt = os.path.join(t, "model")
        subprocess.run([DEMO_MODEL, "--tokenizer-dir", tok, "--out", cls.ckpt, "--seed", "3"],
                       check=True, capture_output=True)
        cls.hixm = os.path.join(t, "model.hixm")
        r = hix("seal", cls.ckpt, "-o", cls.hixm)
        assert r.returncode == 0, r.stderr
        # A second model, for its key.
        cls.other = os.path.join(t, "other.hixm")
        r = hix("seal", cls.ckpt, "-o", cls.other)
        assert r.returncode == 0, r.stderr
        # A chunk of the largest tensor changed on the disk.
        cls.tampered = os.path.join(t, "tampered.hixm")
        shutil.copy(cls.hixm, cls.tampered)
        shutil.copy(cls.hixm + ".key", cls.tampered + ".key")
        os.chmod(cls.tampered + ".key", 0o600)
        with open(cls.tampered, "r+b") as f:
            # hixm.md §1-2: the first tensor starts at align4096(128 +
            # manifest_bytes); a byte of its chunk 1's ciphertext.
            f.seek(56)
            manifest_bytes = int.from_bytes(f.read(8), "little")
            at = (128 + manifest_bytes + 4095) // 4096 * 4096 + CHUNK_STRIDE + 100
            f.seek(at)
            b = f.read(1)
            f.seek(at)
            f.write(bytes([b[0] ^ 0x40]))
        cls.mrenclave = sv.measure()
        cls.pub = sv.platform_pubkey()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def attest_args(self, port, mrenclave=None):
        return ["--endpoint", f"127.0.0.1:{port}", "--platform-key", self.pub,
                "--mrenclave", mrenclave or self.mrenclave]

    def generate(self, port, *extra, model=None):
        return hix("generate", *self.attest_args(port), "--model", model or self.hixm,
                   "--prompt", PROMPT, "--max-tokens", str(MAX_TOKENS), "--json", *extra)

    def test_a_sealed_model_verifies_and_a_changed_one_is_refused_with_its_chunk(self):
        r = hix("verify", self.hixm)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("every chunk authenticates", r.stdout)
        r = hix("verify", self.tampered)
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"chunk \d+")
        # The other model's key: refused by model id.
        r = hix("verify", self.hixm, "--key", self.other + ".key")
        self.assertEqual(r.returncode, 4)
        self.assertIn("the key is for model", r.stderr)
        # The key file must stay private.
        os.chmod(self.hixm + ".key", 0o644)
        try:
            r = hix("verify", self.hixm)
            self.assertEqual(r.returncode, 4)
            self.assertIn("chmod 600", r.stderr)
        finally:
            os.chmod(self.hixm + ".key", 0o600)

    def test_generate_through_the_vm_and_refuse_what_is_wrong(self):
        # The same files as the device server's peer disks 0 and 1 (hix-gpu §7.4).
        peers = ["--peer-disk", self.hixm, "--peer-disk", self.tampered]
        with sv.SessionVm(disks=[self.hixm, self.tampered], extra_args=peers) as vm:
            vm.wait_ready()
            r = hix("attest", *self.attest_args(vm.port))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("attestation: ACCEPTED", r.stdout)
            self.assertIn(self.mrenclave, r.stdout)

            wrong = ("0" if self.mrenclave[0] != "0" else "1") + self.mrenclave[1:]
            r = hix("attest", *self.attest_args(vm.port, wrong))
            self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
            self.assertIn("wrong_mrenclave", r.stderr)

            disk = self.generate(vm.port, "--remote-disk", "0")
            self.assertEqual(disk.returncode, 0, disk.stderr)
            out = json.loads(disk.stdout)
            self.assertEqual(out["load_path"], "disk")
            self.assertEqual(out["attestation"]["verdict"], "accepted")
            self.assertGreater(len(out["tokens"]), 0)
            self.assertGreater(len(out["prompt_tokens"]), 1)
            self.assertGreater(out["timings"]["first_token_ms"], 0)
            self.assertGreater(out["timings"]["rounds"], 1, "the text was streamed in rounds")
            print(f"vm.cli generate (disk): {out['timings']}")

            # The tampered file on hixd's disk: the device refuses the chunk,
            # the client names it from its own copy.
            bad = self.generate(vm.port, "--remote-disk", "1", model=self.tampered)
            self.assertEqual(bad.returncode, 4, bad.stdout + bad.stderr)
            self.assertRegex(bad.stderr, r"chunk \d+")

            # Read by the device from its peer disk: the same tokens, no
            # byte through the window; the tampered copy is refused there too.
            peer = self.generate(vm.port, "--peer-disk", "0")
            self.assertEqual(peer.returncode, 0, peer.stderr)
            self.assertEqual(json.loads(peer.stdout)["tokens"], out["tokens"])
            self.assertEqual(json.loads(peer.stdout)["load_path"], "peer")
            bad_peer = self.generate(vm.port, "--peer-disk", "1", model=self.tampered)
            self.assertEqual(bad_peer.returncode, 4, bad_peer.stdout + bad_peer.stderr)
            self.assertRegex(bad_peer.stderr, r"chunk \d+")
            missing = self.generate(vm.port, "--peer-disk", "2")
            self.assertEqual(missing.returncode, 1, missing.stdout + missing.stderr)
            self.assertIn("load program", missing.stderr)

            # Through the connection (no disk): the same tokens (greedy).
            put = self.generate(vm.port)
            self.assertEqual(put.returncode, 0, put.stderr)
            self.assertEqual(json.loads(put.stdout)["tokens"], out["tokens"])
            self.assertEqual(json.loads(put.stdout)["load_path"], "file")

            # The fast mode (bf16 activations and KV caches) through the same
            # enclave and device: its programs are accepted and run to the
            # end. Its tokens may differ from exact's (bf16 rounding of a
            # seeded model's near-tied logits), so they are not compared.
            fast = self.generate(vm.port, "--remote-disk", "0", "--precision", "fast")
            self.assertEqual(fast.returncode, 0, fast.stderr)
            f = json.loads(fast.stdout)
            self.assertEqual((f["precision"], out["precision"]), ("fast", "exact"))
            self.assertEqual(f["prompt_tokens"], out["prompt_tokens"])
            self.assertGreater(len(f["tokens"]), 0)

            # The human output streams the text after the attestation.
            human = hix("generate", *self.attest_args(vm.port), "--model", self.hixm,
                        "--remote-disk", "0", "--prompt", PROMPT, "--max-tokens", "4")
            self.assertEqual(human.returncode, 0, human.stderr)
            lines = human.stdout.splitlines()
            self.assertEqual(lines[0].split(" (")[0], "attestation: ACCEPTED")
            self.assertTrue(any(line.startswith("prompt: ") for line in lines))
            self.assertTrue(any(line.startswith("timings: ") for line in lines))
            st = vm.serial()
            self.assertIn("hixd: ready", st)

        # A manifest byte changed: refused before any connection.
        t = os.path.join(self.tmp.name, "manifest-edit.hixm")
        shutil.copy(self.hixm, t)
        shutil.copy(self.hixm + ".key", t + ".key")
        os.chmod(t + ".key", 0o600)
        with open(t, "r+b") as f:
            f.seek(200)
            b = f.read(1)
            f.seek(200)
            f.write(bytes([b[0] ^ 1]))
        r = hix("generate", "--endpoint", "127.0.0.1:1", "--platform-key", self.pub,
                "--mrenclave", self.mrenclave, "--model", t, "--prompt", PROMPT)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("does not authenticate", r.stderr)

    def test_an_unknown_precision_is_a_bad_command_line(self):
        r = hix("generate", "--endpoint", "127.0.0.1:1", "--platform-key", self.pub,
                "--mrenclave", self.mrenclave, "--model", self.hixm, "--prompt", PROMPT,
                "--precision", "half")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--precision must be exact or fast", r.stderr)

    def test_an_unreachable_endpoint_is_one_clear_line(self):
        r = hix("attest", "--endpoint", "127.0.0.1:1", "--platform-key", self.pub,
                "--mrenclave", self.mrenclave)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("cannot reach hixd at 127.0.0.1:1", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
