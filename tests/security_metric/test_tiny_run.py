#!/usr/bin/env python3
"""The model-security metric's --tiny run, checked (CTest: security_metric.tiny_run_ranks_exposure_as_expected).

Builds a small corpus from this machine's Debian text files in a temporary
folder, runs security_metric.py --tiny on one thread, and checks what must
hold whatever the exact figures:
  - nothing protected: every parameter and activation visible, and the
    stolen model is the original (agreement 1, same perplexity);
  - everything protected: nothing visible, exactly;
  - each splitting configuration's exposed parameter count equals the one
    computed here from the model's shape, independently of the masks;
  - random sampling with fraction p: every linear layer has exactly
    rows - round(p * rows) output channels exposed, so the linear layers'
    visible fraction is 1 - p within rounding; the visible fractions of
    parameters and activations fall as p grows;
  - the attack ranks exposure: the original beats training from scratch by a
    clear margin, and the attacker recovers more with p = 0.25 than 0.9.
Exit status 77 (skipped) when torch is not importable or this is no Debian
system (no /usr/share/common-licenses).
"""

import json
import math
import os
import py_compile
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expected_exposed(args, protect):
    """Exposed parameter count when the operator groups in `protect` are protected
    (the model's shape, written out again here)."""
    d, n, t = args["d_model"], args["layers"], args["context"]
    attn = 2 * d + (3 * d * d + 3 * d) + (d * d + d)   # ln1, qkv, proj
    mlp = 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d)  # ln2, fc, out
    embed, head = 256 * d + t * d, 2 * d + 256 * d  # tok + pos; ln_f + head (no bias)
    total = embed + n * (attn + mlp) + head
    hidden = 0
    hidden += embed if "embed" in protect else 0
    hidden += head if "head" in protect else 0
    for i in range(n):
        block = f"block{i}" in protect
        hidden += attn if block or "attn" in protect else 0
        hidden += mlp if block or "mlp" in protect else 0
    return total, total - hidden


def main():
    # Compiled first, so that a machine without torch still catches a syntax error.
    for script in ("make_corpus.py", "security_metric.py"):
        py_compile.compile(os.path.join(HERE, script), doraise=True)
    try:
        import torch  # noqa: F401
    except ImportError as e:
        print(f"skipped: torch is not importable ({e}); on Debian: apt-get install python3-torch")
        return SKIP
    if not os.path.isdir("/usr/share/common-licenses"):
        print("skipped: no /usr/share/common-licenses, so no corpus to build (not a Debian system)")
        return SKIP

    with tempfile.TemporaryDirectory(prefix="hix-security-metric-") as tmp:
        corpus, out = os.path.join(tmp, "corpus"), os.path.join(tmp, "result.json")
        subprocess.run([sys.executable, os.path.join(HERE, "make_corpus.py"), "--out", corpus,
                        "--max-bytes", "300000"], check=True)
        subprocess.run([sys.executable, os.path.join(HERE, "security_metric.py"), "--tiny", "--threads", "1",
                        "--corpus", corpus, "--json", out], check=True)
        with open(out) as f:
            r = json.load(f)

    args, orig = r["args"], r["original"]["test"]
    conf = {c["name"]: c for c in r["configurations"]}

    e = conf["exposed-all"]
    check(e["exposure"]["params_visible_fraction"] == 1.0, "exposed-all: every parameter visible")
    check(e["exposure"]["activations_visible_fraction"] == 1.0, "exposed-all: every activation visible")
    check(e["stolen"]["agreement"] >= 0.99, f"exposed-all: stolen agreement {e['stolen']['agreement']}")
    check(e["stolen"]["perplexity"] <= 1.05 * orig["perplexity"],
          f"exposed-all: stolen perplexity {e['stolen']['perplexity']} against {orig['perplexity']}")
    check(e["variants"]["frozen"]["test"]["agreement"] == 1.0, "exposed-all, frozen: the original itself")

    a = conf["protected-all"]
    check(a["exposure"]["params_exposed"] == 0 and a["exposure"]["params_visible_fraction"] == 0.0,
          "protected-all: no parameter visible")
    check(a["exposure"]["activations_visible"] == 0 and a["exposure"]["activations_visible_fraction"] == 0.0,
          "protected-all: no activation visible")

    k, n = args["split_k"], args["layers"]
    splits = {"exposed-all": set(), "protected-all": {"embed", "head"} | {f"block{i}" for i in range(n)},
              f"split-first-{k}": {f"block{i}" for i in range(k)},
              f"split-last-{k}": {f"block{i}" for i in range(n - k, n)},
              "split-attention": {"attn"}, "split-mlp": {"mlp"}, "split-embed-head": {"embed", "head"}}
    for name, protect in splits.items():
        total, exposed = expected_exposed(args, protect)
        ex = conf[name]["exposure"]
        check(ex["params_total"] == total, f"{name}: {ex['params_total']} parameters, expected {total}")
        check(ex["params_exposed"] == exposed, f"{name}: {ex['params_exposed']} exposed, expected {exposed}")
        check(0.0 < ex["activations_visible_fraction"] < 1.0 or name in ("exposed-all", "protected-all"),
              f"{name}: some but not all activations visible")

    fractions = sorted(float(name[len("sample-p"):]) for name in conf if name.startswith("sample-p"))
    check(fractions == [0.25, 0.5, 0.75, 0.9], f"sampling fractions {fractions}")
    previous = None
    for p in fractions:
        ex = conf[f"sample-p{p:g}"]["exposure"]
        linear = {op: v for op, v in ex["operators"].items() if op == "head" or
                  op.rsplit(".", 1)[-1] in ("qkv", "proj", "fc", "out")}
        check(len(linear) == 4 * n + 1, f"p={p}: {len(linear)} linear layers")
        for op, v in ex["operators"].items():
            if op not in linear:
                check(v["exposed"] == 0, f"p={p}: {op} is not sampled, so protected")
                continue
            rows = v["rows"]
            kept = rows - int(round(p * rows))
            check(math.isclose(v["output_exposed"], kept / rows, rel_tol=0, abs_tol=1e-12), f"p={p}: {op} exposes {v['output_exposed']} of its rows")
            check(v["exposed"] * rows == kept * v["params"], f"p={p}: {op} exposes {v['exposed']} parameters")
        tolerance = max(0.5 / v["rows"] for v in linear.values())
        check(abs(ex["linear_params_visible_fraction"] - (1 - p)) <= tolerance,
              f"p={p}: linear layers {ex['linear_params_visible_fraction']} visible, 1-p within {tolerance}")
        now = (ex["params_visible_fraction"], ex["linear_params_visible_fraction"],
               ex["activations_visible_fraction"])
        if previous is not None:
            check(all(b < a for a, b in zip(previous, now)), f"p={p}: visible fractions {now} after {previous}")
        previous = now

    scratch = conf["protected-all"]["stolen"]
    check(scratch["perplexity"] > 1.2 * orig["perplexity"],
          f"scratch perplexity {scratch['perplexity']} not clearly above the original's {orig['perplexity']}")
    check(scratch["agreement"] < 0.9, f"scratch agrees {scratch['agreement']} with the original")
    check(math.isclose(conf["exposed-all"]["recovered"], 1.0, abs_tol=0.05), "exposed-all recovers everything")
    low, high = conf["sample-p0.25"]["recovered"], conf["sample-p0.9"]["recovered"]
    check(low > high, f"recovered with p=0.25 ({low}) should exceed p=0.9 ({high})")
    print("security_metric tiny run: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
