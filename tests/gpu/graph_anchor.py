#!/usr/bin/env python3
"""The PyTorch decode anchor: one hand-written decode step captured as a CUDA graph.

  graph_anchor.py --shape gpt2-small|llama-1b|llama-8b --json OUT [--batch 1,8,32]
                  [--prompt 16] [--decode-tokens 128] [--reps 3] [--seed 0]

What issue 14 compares our decode with (targets 1 and 5): the fastest decode
PyTorch gives without a compiler. The model is written out with torch ops,
not transformers' classes: bf16 weights (seeded random, the shape's sizes
from shapes.py, q/k/v and gate/up each one weight so a layer runs one GEMM
where the model has two or three), bf16 activations, a static KV cache of
prompt + decode-tokens rows per sequence, and scaled_dot_product_attention
over the whole cache with a mask of the rows written so far. One step (the
embedding of the last tokens, every layer, the logits, greedy argmax into
the next step's tokens, the position moved on by one) is captured as one
CUDA graph; decoding is replaying it.

At each batch size B the B sequences decode in lockstep from the same
position. Timed: DECODE_TOKENS replays from position PROMPT between CUDA
events, median of REPS after one untimed pass. steps_per_s is replays a
second; tokens_per_s = B x steps_per_s; weight_gbps is the weight bytes read
per step (everything but the embedding table unless the head shares it)
times steps_per_s / 10^9.
The cache rows the prompt would fill are left as zeros: the timing does not
depend on their values.
"""

import argparse
import json
import math
import os
import statistics
import sys

import shapes

ANCHOR_SHAPES = ("gpt2-small", "llama-1b", "llama-8b")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", required=True, choices=ANCHOR_SHAPES)
    p.add_argument("--json", required=True)
    p.add_argument("--batch", default="1,8,32", help="batch sizes (comma-separated)")
    p.add_argument("--prompt", type=int, default=16, help="position of the first timed step")
    p.add_argument("--decode-tokens", type=int, default=128, help="timed steps")
    p.add_argument("--reps", type=int, default=3, help="timed passes (median)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


class Weights:
    """Seeded random bf16 weights drawn on the GPU, scaled so activations stay finite."""

    def __init__(self, torch, seed):
        self.torch = torch
        self.gen = torch.Generator(device="cuda").manual_seed(seed)
        self.bytes = 0

    def normal(self, *shape, count=True):
        t = self.torch.randn(*shape, device="cuda", dtype=self.torch.bfloat16,
                             generator=self.gen).mul_(0.02)
        if count:
            self.bytes += t.numel() * t.element_size()
        return t

    def ones(self, n):
        self.bytes += 2 * n
        return self.torch.ones(n, device="cuda", dtype=self.torch.bfloat16)

    def zeros(self, n):
        self.bytes += 2 * n
        return self.torch.zeros(n, device="cuda", dtype=self.torch.bfloat16)


def sdpa(torch, q, k_cache, v_cache, pos):
    """One token's heads q [B,KV,G,hd] (the G query heads of each KV head as G query rows,
    so grouped heads need no copy of the cache) against rows 0..pos of k/v_cache
    [B,KV,S,hd]."""
    rows = torch.arange(k_cache.shape[2], device="cuda")
    mask = (rows <= pos).view(1, 1, 1, -1)
    return torch.nn.functional.scaled_dot_product_attention(q, k_cache, v_cache, attn_mask=mask)


def llama_step(torch, c, batch, seq, w):
    """The Llama decode step's closure and its state (ids [B], pos [1])."""
    F = torch.nn.functional
    d, n_layer = c["hidden_size"], c["num_hidden_layers"]
    heads, kv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or d // heads
    ff, vocab, eps = c["intermediate_size"], c["vocab_size"], c["rms_norm_eps"]
    emb = w.normal(vocab, d, count=False)
    head = emb if c.get("tie_word_embeddings") else w.normal(vocab, d)
    if head is emb:
        w.bytes += emb.numel() * 2
    layers = [{"ln1": w.ones(d), "qkv": w.normal((heads + 2 * kv) * hd, d),
               "o": w.normal(d, heads * hd), "ln2": w.ones(d), "gu": w.normal(2 * ff, d),
               "down": w.normal(d, ff)} for _ in range(n_layer)]
    ln_f = w.ones(d)
    kc = torch.zeros(n_layer, batch, kv, seq, hd, device="cuda", dtype=torch.bfloat16)
    vc = torch.zeros_like(kc)
    theta = float(c.get("rope_theta", 10000.0))
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, device="cuda", dtype=torch.float32) / hd)
    ang = torch.outer(torch.arange(seq, device="cuda", dtype=torch.float32), inv)
    cos_t, sin_t = ang.cos(), ang.sin()
    ids = torch.zeros(batch, device="cuda", dtype=torch.long)
    pos = torch.zeros(1, device="cuda", dtype=torch.long)

    def rope(x, cos, sin):  # x [B, n, hd], rotate-half pairs (i, i + hd/2)
        x1, x2 = x.float().chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)

    def step():
        x = emb.index_select(0, ids)
        cos = cos_t.index_select(0, pos)
        sin = sin_t.index_select(0, pos)
        for i, L in enumerate(layers):
            h = F.rms_norm(x, (d,), L["ln1"], eps)
            q, k, v = (h @ L["qkv"].t()).split((heads * hd, kv * hd, kv * hd), dim=-1)
            q = rope(q.view(batch, heads, hd), cos, sin)
            k = rope(k.view(batch, kv, hd), cos, sin)
            kc[i].index_copy_(2, pos, k.unsqueeze(2))
            vc[i].index_copy_(2, pos, v.view(batch, kv, hd).unsqueeze(2))
            o = sdpa(torch, q.view(batch, kv, heads // kv, hd), kc[i], vc[i], pos)
            x = x + o.reshape(batch, heads * hd) @ L["o"].t()
            g, u = (F.rms_norm(x, (d,), L["ln2"], eps) @ L["gu"].t()).chunk(2, dim=-1)
            x = x + (F.silu(g) * u) @ L["down"].t()
        logits = F.rms_norm(x, (d,), ln_f, eps) @ head.t()
        ids.copy_(logits.argmax(dim=-1))
        pos.add_(1)

    return step, ids, pos


def gpt2_step(torch, c, batch, seq, w):
    """The GPT-2 decode step's closure and its state (ids [B], pos [1])."""
    F = torch.nn.functional
    d, n_layer, heads = c["n_embd"], c["n_layer"], c["n_head"]
    hd, vocab, eps = d // heads, c["vocab_size"], c["layer_norm_epsilon"]
    wte = w.normal(vocab, d, count=False)
    w.bytes += wte.numel() * 2  # the tied head reads it every step
    wpe = w.normal(c["n_positions"], d, count=False)
    layers = [{"ln1": (w.ones(d), w.zeros(d)), "qkv": (w.normal(3 * d, d), w.zeros(3 * d)),
               "o": (w.normal(d, d), w.zeros(d)), "ln2": (w.ones(d), w.zeros(d)),
               "fc": (w.normal(4 * d, d), w.zeros(4 * d)),
               "proj": (w.normal(d, 4 * d), w.zeros(d))} for _ in range(n_layer)]
    ln_f = (w.ones(d), w.zeros(d))
    kc = torch.zeros(n_layer, batch, heads, seq, hd, device="cuda", dtype=torch.bfloat16)
    vc = torch.zeros_like(kc)
    ids = torch.zeros(batch, device="cuda", dtype=torch.long)
    pos = torch.zeros(1, device="cuda", dtype=torch.long)

    def step():
        x = wte.index_select(0, ids) + wpe.index_select(0, pos)
        for i, L in enumerate(layers):
            h = F.layer_norm(x, (d,), *L["ln1"], eps)
            q, k, v = F.linear(h, *L["qkv"]).split(d, dim=-1)
            kc[i].index_copy_(2, pos, k.view(batch, heads, 1, hd))
            vc[i].index_copy_(2, pos, v.view(batch, heads, 1, hd))
            o = sdpa(torch, q.view(batch, heads, 1, hd), kc[i], vc[i], pos)
            x = x + F.linear(o.reshape(batch, d), *L["o"])
            h = F.gelu(F.linear(F.layer_norm(x, (d,), *L["ln2"], eps), *L["fc"]),
                       approximate="tanh")
            x = x + F.linear(h, *L["proj"])
        logits = F.layer_norm(x, (d,), *ln_f, eps) @ wte.t()
        ids.copy_(logits.argmax(dim=-1))
        pos.add_(1)

    return step, ids, pos


def measure(torch, args, config, arch, batch):
    seq = args.prompt + args.decode_tokens
    w = Weights(torch, args.seed)
    build = gpt2_step if arch == "gpt2" else llama_step
    step, ids, pos = build(torch, config, batch, seq, w)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm-up outside the graph (allocations, cuBLAS handles)
        for _ in range(3):
            pos.fill_(args.prompt)
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    pos.fill_(args.prompt)
    with torch.cuda.graph(graph):
        step()

    def decode_pass():
        pos.fill_(args.prompt)
        ids.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(args.decode_tokens):
            graph.replay()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    decode_pass()
    last = int(pos.item())
    if last != seq:
        raise RuntimeError(f"the graph moved the position to {last}, expected {seq}")
    seconds = statistics.median(decode_pass() for _ in range(args.reps))
    steps = args.decode_tokens / seconds
    r = {"batch": batch, "steps_per_s": round(steps, 2), "tokens_per_s": round(batch * steps, 1),
         "ms_per_step": round(1e3 / steps, 4), "weight_bytes": w.bytes,
         "weight_gbps": round(w.bytes * steps / 1e9, 1)}
    del graph, step
    return r


def main():
    args = parse_args()
    import torch

    if not torch.cuda.is_available():
        print("graph_anchor: CUDA is not available", file=sys.stderr)
        return 2
    arch = shapes.arch_of(args.shape)
    config = shapes.config_kwargs(args.shape)
    batches = [int(b) for b in args.batch.split(",") if b]
    if not batches or min(batches) < 1 or args.prompt < 0 or args.decode_tokens < 1:
        print("graph_anchor: bad --batch, --prompt or --decode-tokens", file=sys.stderr)
        return 2
    out = {"shape": args.shape, "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "prompt": args.prompt, "decode_tokens": args.decode_tokens, "reps": args.reps,
           "what": "hand-written bf16 decode step, static KV cache, SDPA, one CUDA graph",
           "results": []}
    with torch.inference_mode():
        for b in batches:
            r = measure(torch, args, config, arch, b)
            out["results"].append(r)
            print(f"graph_anchor {args.shape} batch {b}: {r['tokens_per_s']} tok/s "
                  f"({r['steps_per_s']} steps/s, {r['weight_gbps']} GB/s of weights)", flush=True)
            torch.cuda.empty_cache()
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    return 0 if all(math.isfinite(r["tokens_per_s"]) for r in out["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
