"""The GPU host's end-to-end script (tests/gpu/run-e2e-on-device.sh) on this
machine, with the cpu device server and the demo's small Llama: it boots the
bundle's VM protected and plain, seals the checkpoint with the bundle's
`hix`, and writes one JSON whose figures are all present and whose tokens
through the VM equal the in-process ones. Its judge is checked against a
doctored run too: a changed token is a mismatch, a slow protected decode a
missed target."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import vmtest

ROOT = vmtest.ROOT
BUILD = os.environ.get("HIX_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "gpu"))
import e2e_vm  # noqa: E402

SCRIPT = os.path.join(ROOT, "tests", "gpu", "run-e2e-on-device.sh")
TOOLS = {"hix-session-client": os.path.join(BUILD, "host-bin", "hix-session-client"),
         "hix-model-run": os.path.join(BUILD, "hix-model-run"),
         "hix-bench": os.path.join(BUILD, "hix-bench")}


class E2eScript(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        t = cls.tmp.name
        bundle = os.path.join(BUILD, "bundle")
        if not os.path.exists(os.path.join(bundle, "bin", "openhix-vm")):
            bundle = os.path.join(t, "bundle")
            subprocess.run([os.path.join(ROOT, "qemu_scripts", "make-bundle"), BUILD, bundle],
                           check=True, capture_output=True)
        tools = os.path.join(t, "tools")
        os.makedirs(tools)
        for name, path in TOOLS.items():
            assert os.access(path, os.X_OK), f"missing {path} (qemu_scripts/openhix build)"
            os.symlink(path, os.path.join(tools, name))
        env = vmtest.vm_env()
        tok = os.path.join(env.get("HIX_NPM_DATA", ""), "node_modules", "@lenml",
                           "tokenizer-llama3", "models")
        assert os.path.exists(os.path.join(tok, "tokenizer.json")), f"no tokenizer at {tok}"
        ckpt = os.path.join(t, "demo")
        subprocess.run([os.path.join(BUILD, "host-bin", "hix-demo-model"), "--tokenizer-dir", tok,
                        "--out", ckpt, "--seed", "5"], check=True, capture_output=True)
        cls.out = os.path.join(t, "out")
        run_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENHIX_", "HIX_"))}
        run_env["HIX_E2E_WORK"] = os.path.join(t, "work")
        cls.proc = subprocess.run(
            [SCRIPT, bundle, tools, cls.out, "--backend", "cpu", "--shapes", "demo",
             "--checkpoint", f"demo={ckpt}", "--prompt-lens", "5,12", "--decode-prompt", "12",
             "--new-tokens", "6", "--mem-mib", "512", "--reps", "1"],
            capture_output=True, text=True, timeout=900, env=run_env, stdin=subprocess.DEVNULL)
        print(cls.proc.stdout[-3000:])
        with open(os.path.join(cls.out, "e2e.json"), encoding="utf-8") as f:
            cls.doc = json.load(f)
        cls.model = cls.doc["models"][0]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_every_step_ran(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stdout[-2000:] + self.proc.stderr)
        self.assertEqual(self.doc["failed_steps"], [])
        for step in ("demo-seal", "demo-plain-weights", "demo-hix-bench", "demo-attest",
                     "demo-protected-warmup", "demo-protected-12-0", "demo-plain-12-0"):
            self.assertTrue(self.doc["steps"][step]["ok"], step)

    def test_tokens_through_the_vm_equal_the_in_process_ones(self):
        rows = self.model["tokens_equal"]
        self.assertEqual([r["prompt_tokens"] for r in rows], [5, 12])
        for r in rows:
            self.assertIs(r["vm_protected_eq_inproc"], True, r)
            self.assertIs(r["vm_plain_eq_inproc"], True, r)
        self.assertEqual(len(rows[1]["tokens"]), 6)
        self.assertEqual(self.doc["token_mismatches"], [])

    def test_the_figures_are_measured(self):
        m = self.model
        self.assertGreater(m["boot_to_hixd_ready_s"], 0)
        self.assertGreater(m["attest_ms"], 0)
        self.assertEqual(m["sealed_load"]["path"], "peer")
        self.assertGreater(m["sealed_load"]["gbps"], 0)
        self.assertGreater(m["plain_load"]["gbps"], 0)
        for row in m["ttft"]:
            for k in ("protected_ms", "plain_ms", "inproc_protected_ms", "inproc_plain_ms"):
                self.assertGreater(row[k], 0, (k, row))
        d = m["decode"]
        self.assertEqual((d["prompt_tokens"], d["new_tokens"]), (12, 6))
        for k in ("protected_tok_s", "plain_tok_s", "inproc_protected_tok_s", "inproc_plain_tok_s"):
            self.assertGreater(d[k], 0, k)
        self.assertEqual(set(m["targets"]), {"ttft_5", "ttft_12", "decode_vs_plain",
                                             "decode_vs_inproc"})

    def test_the_judge_sees_a_changed_token_and_a_slow_decode(self):
        detail = json.loads(json.dumps(self.doc["detail"][0]))
        run = next(r for r in detail["runs"] if r["decode_run"])
        run["protected_tokens"][2] += 1
        run["protected"]["timings"]["tokens_per_s"] = 0.5 * run["plain"]["timings"]["tokens_per_s"]
        s = e2e_vm.judge(detail, "cpu")
        row = next(r for r in s["tokens_equal"] if r["prompt_tokens"] == 12)
        self.assertIs(row["vm_protected_eq_inproc"], False)
        self.assertIs(s["targets"]["decode_vs_plain"]["met"], False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
