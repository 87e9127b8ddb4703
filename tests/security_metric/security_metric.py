#!/usr/bin/env python3
"""Model-security metric for partial protection (issue 15, section 3).

  security_metric.py [--corpus DIR] [--json OUT] [--tiny] [--train-steps N] [--attack-steps M] ...

Trains a small byte-level GPT on the corpus's train split (make_corpus.py),
then, for each protection configuration (nothing protected, everything
protected, model splitting, random sampling of the linear layers' output
channels), reports
  - the fraction of the parameters the untrusted side holds;
  - the fraction of the activations of one forward pass over a full context
    that the untrusted side sees (every tensor an unprotected operator reads
    or writes; for a sampled linear layer its whole input and its unprotected
    output channels);
  - the attack: an attacker holding the exposed parameters draws the
    protected ones afresh and fine-tunes on the public split for the same
    number of steps in every configuration, once with the exposed parameters
    frozen and once with them trainable; each stolen model's test-split
    perplexity and next-byte agreement (argmax) with the original, and the
    attacker's best of the two for each figure.
Baselines: the original model, and a model trained from scratch on the
public split with the attack's budget (which is the attack on the
everything-protected configuration: nothing is exposed, so the attacker
trains from its own initialisation). docs/security-metric.md has the method.

Prints a markdown table and writes every figure to --json. Runs on CUDA when
available (bfloat16 autocast), else on the CPU in float32; PyTorch 1.13 or
later. Seeds are fixed; on the CPU a rerun gives the same figures.
Exit status 77 when torch cannot be imported.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # CI has no torch: the CTest test reports a skip
    print(f"security_metric: torch is not importable ({e}); skipped", file=sys.stderr)
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CORPUS = os.path.join(REPO, "build", "security-metric", "corpus")
VOCAB = 256  # bytes
SAMPLE_FRACTIONS = (0.25, 0.5, 0.75, 0.9)

# Model and budget presets; every field can be overridden on the command line.
PRESETS = {
    "default": dict(layers=6, d_model=384, heads=6, context=256, batch=64, train_steps=3000,
                    attack_steps=300, lr=2e-3, eval_windows=1024),
    # Sized for two shared cores and a reference (netlib) BLAS, which
    # Debian's python3-torch may be linked with: the whole run in about 30 s.
    "tiny": dict(layers=2, d_model=32, heads=2, context=32, batch=8, train_steps=400,
                 attack_steps=40, lr=3e-3, eval_windows=64),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default=DEFAULT_CORPUS, help="make_corpus.py output (default %(default)s)")
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--tiny", action="store_true", help="tiny model and budget (a CPU test run)")
    p.add_argument("--exposure-only", action="store_true",
                   help="only the visible fractions of each configuration (no corpus, no training)")
    for key, value in PRESETS["default"].items():
        p.add_argument("--" + key.replace("_", "-"), type=type(value), default=None,
                       help=f"default {value}, --tiny {PRESETS['tiny'][key]}")
    p.add_argument("--max-train-seconds", type=float, default=None,
                   help="stop training the original early after this many seconds (steps done are recorded)")
    p.add_argument("--attack-lr", type=float, default=None, help="attacker's peak learning rate (default --lr)")
    p.add_argument("--split-k", type=int, default=None,
                   help="blocks protected by the first-k and last-k splits (default half the layers)")
    p.add_argument("--variants", default="frozen,trainable",
                   help="attack variants tried for each configuration (frozen, trainable)")
    p.add_argument("--seed", type=int, default=15, help="the owner's seed (init, batches)")
    p.add_argument("--mask-seed", type=int, default=16, help="which channels random sampling protects")
    p.add_argument("--attack-seed", type=int, default=17, help="the attacker's seed (init, batches)")
    p.add_argument("--device", default=None, help="cuda or cpu (default cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    a = p.parse_args(argv)
    preset = PRESETS["tiny" if a.tiny else "default"]
    for key, value in preset.items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    if a.d_model % a.heads:
        p.error("--d-model must be a multiple of --heads")
    if a.split_k is None:
        a.split_k = max(1, a.layers // 2)
    if not 1 <= a.split_k <= a.layers:
        p.error("--split-k must be in [1, layers]")
    if a.attack_lr is None:
        a.attack_lr = a.lr
    a.variants = [v for v in a.variants.split(",") if v]
    if not a.variants or any(v not in ("frozen", "trainable") for v in a.variants):
        p.error("--variants: a comma-separated subset of frozen,trainable")
    return a


# ---------------------------------------------------------------------------
# The model: GPT-2 shaped, pre-norm, byte vocabulary, learned positions.

class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def attention(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        if hasattr(F, "scaled_dot_product_attention"):  # PyTorch 2.0 and later
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x):
        x = x + self.attention(x)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, args):
        super().__init__()
        d = args.d_model
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(args.context, d)
        self.blocks = nn.ModuleList(Block(d, args.heads) for _ in range(args.layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB, bias=False)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln" in name or name.startswith("ln_"):
                nn.init.ones_(p)
            else:
                # GPT-2's init: residual-branch outputs scaled by depth.
                std = 0.02 / math.sqrt(2 * args.layers) if name.endswith(("proj.weight", "out.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def new_model(args, seed, device):
    torch.manual_seed(seed)
    return GPT(args).to(device)


# ---------------------------------------------------------------------------
# The operator graph of one forward pass, for placing operators on the
# trusted or untrusted side and counting what the untrusted side sees.

def operators(args):
    """[(name, kind, params, inputs, output, groups)] and {tensor: elements per sequence}.

    kind is linear (the operators random sampling splits by output channel),
    table, norm or none (no parameters). groups name what the model-splitting
    configurations protect: embed, head, attn, mlp, block<i>.
    """
    t, d, h = args.context, args.d_model, args.heads
    sizes = {"tokens": t, "x0": t * d, "h_f": t * d, "logits": t * VOCAB}
    ops = [("embed", "table", ["tok.weight", "pos.weight"], ["tokens"], "x0", {"embed"})]
    for i in range(args.layers):
        b, x_in, x_out = f"blocks.{i}", ("x0" if i == 0 else f"x{i}"), f"x{i + 1}"
        sizes.update({f"{b}.h1": t * d, f"{b}.qkv": t * 3 * d, f"{b}.probs": h * t * (t + 1) // 2,
                      f"{b}.ctx": t * d, f"{b}.attn": t * d, f"{b}.mid": t * d, f"{b}.h2": t * d,
                      f"{b}.fc": t * 4 * d, f"{b}.gelu": t * 4 * d, f"{b}.mlp": t * d, x_out: t * d})
        a, m = {"attn", f"block{i}"}, {"mlp", f"block{i}"}
        ops += [
            (f"{b}.ln1", "norm", [f"{b}.ln1.weight", f"{b}.ln1.bias"], [x_in], f"{b}.h1", a),
            (f"{b}.qkv", "linear", [f"{b}.qkv.weight", f"{b}.qkv.bias"], [f"{b}.h1"], f"{b}.qkv", a),
            (f"{b}.scores", "none", [], [f"{b}.qkv"], f"{b}.probs", a),  # softmax(QK^T/sqrt(d_h)), causal
            (f"{b}.mix", "none", [], [f"{b}.probs", f"{b}.qkv"], f"{b}.ctx", a),  # probs @ V
            (f"{b}.proj", "linear", [f"{b}.proj.weight", f"{b}.proj.bias"], [f"{b}.ctx"], f"{b}.attn", a),
            (f"{b}.res1", "none", [], [x_in, f"{b}.attn"], f"{b}.mid", a),
            (f"{b}.ln2", "norm", [f"{b}.ln2.weight", f"{b}.ln2.bias"], [f"{b}.mid"], f"{b}.h2", m),
            (f"{b}.fc", "linear", [f"{b}.fc.weight", f"{b}.fc.bias"], [f"{b}.h2"], f"{b}.fc", m),
            (f"{b}.gelu", "none", [], [f"{b}.fc"], f"{b}.gelu", m),
            (f"{b}.out", "linear", [f"{b}.out.weight", f"{b}.out.bias"], [f"{b}.gelu"], f"{b}.mlp", m),
            (f"{b}.res2", "none", [], [f"{b}.mid", f"{b}.mlp"], x_out, m),
        ]
    last = f"x{args.layers}"
    ops += [("ln_f", "norm", ["ln_f.weight", "ln_f.bias"], [last], "h_f", {"head"}),
            ("head", "linear", ["head.weight"], ["h_f"], "logits", {"head"})]
    return ops, sizes


def configurations(args):
    """[(name, description, spec)]; spec is ("split", groups) or ("sample", p)."""
    k, n = args.split_k, args.layers
    return [
        ("exposed-all", "nothing protected: every operator runs unprotected", ("split", set())),
        ("protected-all", "everything protected (the attack is training from scratch)", ("split", None)),
        (f"split-first-{k}", f"blocks 0..{k - 1} protected", ("split", {f"block{i}" for i in range(k)})),
        (f"split-last-{k}", f"blocks {n - k}..{n - 1} protected", ("split", {f"block{i}" for i in range(n - k, n)})),
        ("split-attention", "every attention sublayer protected (ln1, qkv, attention, proj)", ("split", {"attn"})),
        ("split-mlp", "every MLP sublayer protected (ln2, fc, gelu, out)", ("split", {"mlp"})),
        ("split-embed-head", "embeddings, final norm and output head protected", ("split", {"embed", "head"})),
    ] + [(f"sample-p{p:g}", f"a random {p:g} of the output channels of every linear layer protected, "
          "all else protected", ("sample", p)) for p in SAMPLE_FRACTIONS]


def protection(model, args, spec):
    """({param name: bool tensor, True = protected}, {op name: exposed fraction of its output})."""
    ops, _ = operators(args)
    params = dict(model.named_parameters())
    covered = [p for op in ops for p in op[2]]
    assert sorted(covered) == sorted(params), "the operator table must list every parameter once"
    masks, out_exposed = {}, {}
    kind, arg = spec
    gen = torch.Generator().manual_seed(args.mask_seed)
    for name, op_kind, op_params, _, _, groups in ops:
        if kind == "split":
            protected = arg is None or bool(groups & arg)
            for p in op_params:
                masks[p] = torch.full(params[p].shape, protected, dtype=torch.bool)
            out_exposed[name] = 0.0 if protected else 1.0
        elif op_kind == "linear":  # sample: a random round(p * rows) output channels protected
            rows = params[op_params[0]].shape[0]
            chosen = torch.randperm(rows, generator=gen)[:int(round(arg * rows))]
            row_mask = torch.zeros(rows, dtype=torch.bool)
            row_mask[chosen] = True
            for p in op_params:
                shape = params[p].shape
                masks[p] = row_mask.view(-1, *([1] * (len(shape) - 1))).expand(shape).clone()
            out_exposed[name] = (rows - len(chosen)) / rows
        else:
            for p in op_params:
                masks[p] = torch.ones(params[p].shape, dtype=torch.bool)
            out_exposed[name] = 0.0
    return masks, out_exposed


def exposure(model, args, masks, out_exposed):
    """The visible-fraction figures of one configuration."""
    ops, sizes = operators(args)
    params = dict(model.named_parameters())
    total = sum(p.numel() for p in params.values())
    exposed = sum(int((~masks[n]).sum()) for n in params)
    lin = [p for op in ops if op[1] == "linear" for p in op[2]]
    lin_total = sum(params[p].numel() for p in lin)
    lin_exposed = sum(int((~masks[p]).sum()) for p in lin)
    # A tensor is visible in full if any operator with an unprotected part
    # reads it (a sampled linear layer's untrusted part needs its whole
    # input), else in the share of its channels its producer computes
    # unprotected. The tokens come from the user, inside the trusted side.
    seen = {name: 0.0 for name in sizes}
    for name, _, _, inputs, output, _ in ops:
        if out_exposed[name] > 0:
            for t in inputs:
                seen[t] = 1.0
        seen[output] = max(seen[output], out_exposed[name])
    act_total = sum(sizes.values())
    act_seen = sum(seen[t] * sizes[t] for t in sizes)
    per_op = {}
    for name, _, op_params, _, _, _ in ops:
        if op_params:
            per_op[name] = {"params": sum(params[p].numel() for p in op_params),
                            "exposed": sum(int((~masks[p]).sum()) for p in op_params),
                            "rows": params[op_params[0]].shape[0], "output_exposed": out_exposed[name]}
    return {
        "params_total": total, "params_exposed": exposed, "params_visible_fraction": exposed / total,
        "linear_params_total": lin_total, "linear_params_exposed": lin_exposed,
        "linear_params_visible_fraction": lin_exposed / lin_total,
        "activations_total": act_total, "activations_visible": act_seen,
        "activations_visible_fraction": act_seen / act_total,
        "operators": per_op,
    }


# ---------------------------------------------------------------------------
# Training and evaluation.

def load_split(corpus, name, device):
    with open(os.path.join(corpus, f"{name}.txt"), "rb") as f:
        data = f.read()
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)


def batch_of(data, args, gen):
    starts = torch.randint(len(data) - args.context - 1, (args.batch,), generator=gen)
    idx = (starts[:, None] + torch.arange(args.context + 1)).to(data.device)
    window = data[idx].long()
    return window[:, :-1], window[:, 1:]


def autocast(device):
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return torch.autocast(device_type="cpu", enabled=False)


def lr_at(step, steps, peak):
    warmup = max(1, min(100, steps // 10))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def optimizer_for(params, lr):
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.95))


def train(model, data, args, steps, peak_lr, seed, trainable=None, after_step=None, max_seconds=None):
    """AdamW with warm-up and cosine decay; returns (steps done, seconds, last losses)."""
    params = [p for p in model.parameters() if p.requires_grad] if trainable is None else trainable
    if not params or steps == 0:
        return 0, 0.0, []
    opt = optimizer_for(params, peak_lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    sync(data.device)
    start, losses, done = time.time(), [], 0
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, peak_lr)
        x, y = batch_of(data, args, gen)
        with autocast(data.device):
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if after_step is not None:
            after_step()
        done = step + 1
        if step % 50 == 0 or step == steps - 1:
            losses.append((step, float(loss.detach())))
        if max_seconds is not None and time.time() - start > max_seconds:
            break
    sync(data.device)
    return done, time.time() - start, losses


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def windows(data, args, limit):
    """Non-overlapping windows of context + 1 bytes: inputs and next-byte targets."""
    n = min(limit, (len(data) - 1) // args.context)
    idx = torch.arange(n * args.context, device=data.device).view(n, args.context)
    return data[idx].long(), data[idx + 1].long()


@torch.no_grad()
def evaluate(model, x, y, reference=None, batch=64):
    """Mean loss (nats/byte), accuracy, argmax predictions, agreement with reference."""
    model.eval()
    nll, correct, preds = 0.0, 0, []
    for i in range(0, x.shape[0], batch):
        with autocast(x.device):
            logits = model(x[i:i + batch])
        logits = logits.float()
        nll += float(F.cross_entropy(logits.view(-1, VOCAB), y[i:i + batch].reshape(-1), reduction="sum"))
        pred = logits.argmax(dim=-1)
        correct += int((pred == y[i:i + batch]).sum())
        preds.append(pred)
    preds = torch.cat(preds)
    n = y.numel()
    out = {"loss": nll / n, "perplexity": math.exp(nll / n), "accuracy": correct / n}
    if reference is not None:
        out["agreement"] = float((preds == reference).float().mean())
    return out, preds


# ---------------------------------------------------------------------------
# The attack.

def attack(original, masks, args, variant, public_train, device):
    """The stolen model: exposed parameters kept, protected ones drawn by the
    attacker, fine-tuned on the attacker's public data."""
    model = new_model(args, args.attack_seed, device)  # the attacker's own init
    orig = dict(original.named_parameters())
    keep = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            m = masks[name].to(device)
            p.copy_(torch.where(m, p, orig[name]))
            if variant == "frozen":
                if not bool(m.any()):
                    p.requires_grad_(False)  # entirely exposed: nothing to learn
                elif not bool(m.all()):
                    keep[name] = (m, orig[name].detach().clone())

    def restore():  # frozen: exposed entries of partly protected tensors back after every step
        with torch.no_grad():
            params = dict(model.named_parameters())
            for name, (m, ref) in keep.items():
                params[name].copy_(torch.where(m, params[name], ref))

    trainable = [p for p in model.parameters() if p.requires_grad]
    steps, seconds, losses = train(model, public_train, args, args.attack_steps, args.attack_lr,
                                   args.attack_seed, trainable=trainable,
                                   after_step=restore if keep else None)
    return model, {"steps": steps, "seconds": seconds, "train_losses": losses,
                   "trainable_params": sum(p.numel() for p in trainable)}


def run(args):
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    data = {s: load_split(args.corpus, s, device) for s in ("train", "public", "test")}
    for name, split in data.items():
        if len(split) <= 2 * (args.context + 1):
            raise SystemExit(f"security_metric: the {name} split is too small for --context")
    test_x, test_y = windows(data["test"], args, args.eval_windows)

    original = new_model(args, args.seed, device)
    steps, seconds, losses = train(original, data["train"], args, args.train_steps, args.lr, args.seed,
                                   max_seconds=args.max_train_seconds)
    orig_eval, orig_pred = evaluate(original, test_x, test_y)
    orig_eval["agreement"] = 1.0
    print(f"original: {steps} steps in {seconds:.1f} s, test perplexity {orig_eval['perplexity']:.3f}",
          flush=True)

    results = []
    for name, description, spec in configurations(args):
        masks, out_exposed = protection(original, args, spec)
        entry = {"name": name, "description": description, "exposure": exposure(original, args, masks, out_exposed)}
        any_exposed = any(bool((~m).any()) for m in masks.values())
        variants = args.variants if any_exposed else ["frozen"]  # nothing exposed: one attack
        entry["variants"] = {}
        for variant in variants:
            stolen, info = attack(original, masks, args, variant, data["public"], device)
            info["test"], _ = evaluate(stolen, test_x, test_y, orig_pred)
            entry["variants"][variant] = info
            del stolen
            print(f"{name} ({variant}): perplexity {info['test']['perplexity']:.3f}, "
                  f"agreement {info['test']['agreement']:.3f}, {info['steps']} steps in {info['seconds']:.1f} s",
                  flush=True)
        entry["stolen"] = best_of(entry["variants"])
        results.append(entry)

    scratch = next(r for r in results if r["name"] == "protected-all")["stolen"]
    for r in results:
        gap = scratch["loss"] - orig_eval["loss"]
        r["recovered"] = (scratch["loss"] - r["stolen"]["loss"]) / gap if gap > 0 else None

    return {
        "what": "model-security metric of partial protection (docs/security-metric.md)",
        "args": {k: v for k, v in vars(args).items()},
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                        "threads": torch.get_num_threads()},
        "corpus": corpus_manifest(args.corpus),
        "data_bytes": {"train": len(data["train"]), "public": len(data["public"]), "test": len(data["test"]),
                       "test_evaluated": test_y.numel()},
        "params": sum(p.numel() for p in original.parameters()),
        "original": {"steps": steps, "seconds": seconds, "train_losses": losses, "test": orig_eval},
        "baseline_scratch": {"same_as": "protected-all", "test": scratch},
        "configurations": results,
        "seconds_total": time.time() - t0,
    }


def best_of(variants):
    """The attacker's best figure over the variants, each figure on its own
    (read on the test split: an upper bound over the strategies tried)."""
    tests = {v: info["test"] for v, info in variants.items()}
    low = min(tests, key=lambda v: tests[v]["loss"])
    agree = max(tests, key=lambda v: tests[v]["agreement"])
    return {"loss": tests[low]["loss"], "perplexity": tests[low]["perplexity"], "perplexity_variant": low,
            "accuracy": max(t["accuracy"] for t in tests.values()),
            "agreement": tests[agree]["agreement"], "agreement_variant": agree}


def corpus_manifest(corpus):
    try:
        with open(os.path.join(corpus, "manifest.json")) as f:
            m = json.load(f)
        return {"splits": m.get("splits"), "documents": len(m.get("documents", [])), "args": m.get("args")}
    except (OSError, ValueError):
        return None


def table(result):
    o = result["original"]["test"]
    rows = ["| configuration | params visible | activations visible | frozen: ppl | agreement "
            "| trainable: ppl | agreement | recovered |",
            "|---|---|---|---|---|---|---|---|",
            f"| original | - | - | {o['perplexity']:.3f} | 1.000 | - | - | 1 |"]
    for r in result["configurations"]:
        e = r["exposure"]
        cells = []
        for variant in ("frozen", "trainable"):
            if variant not in r["variants"]:  # not run, or nothing exposed (one attack: from scratch)
                cells += ["-", "-"]
                continue
            t = r["variants"][variant]["test"]
            cells += [f"{t['perplexity']:.3f}", f"{t['agreement']:.3f}"]
        rec = "-" if r["recovered"] is None else f"{r['recovered']:.3f}"
        name = r["name"] + (" (= from scratch)" if r["name"] == "protected-all" else "")
        rows.append(f"| {name} | {e['params_visible_fraction']:.3f} | {e['activations_visible_fraction']:.3f} | "
                    + " | ".join(cells) + f" | {rec} |")
    return "\n".join(rows)


def exposure_table(args):
    model = GPT(args)
    rows = ["| configuration | params visible | linear-layer params visible | activations visible |",
            "|---|---|---|---|"]
    result = {"args": vars(args), "params": sum(p.numel() for p in model.parameters()), "configurations": []}
    for name, description, spec in configurations(args):
        e = exposure(model, args, *protection(model, args, spec))
        result["configurations"].append({"name": name, "description": description, "exposure": e})
        rows.append(f"| {name} | {e['params_visible_fraction']:.4f} | {e['linear_params_visible_fraction']:.4f} "
                    f"| {e['activations_visible_fraction']:.4f} |")
    return result, "\n".join(rows)


def main(argv=None):
    args = parse_args(argv)
    if args.exposure_only:
        result, text = exposure_table(args)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
                f.write("\n")
        print(text)
        print(f"\n{result['params']} parameters: {args.layers} layers, d_model {args.d_model}, "
              f"{args.heads} heads, context {args.context}")
        return 0
    if not os.path.exists(os.path.join(args.corpus, "train.txt")):
        print(f"security_metric: no corpus in {args.corpus}; run make_corpus.py first", file=sys.stderr)
        return 2
    result = run(args)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    print()
    print(table(result))
    print(f"\n{result['params']} parameters, {result['environment']['device']}, "
          f"torch {result['environment']['torch']}, {result['seconds_total']:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
