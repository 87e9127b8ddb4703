#!/usr/bin/env python3
"""PyTorch/transformers baseline on the GPU, next to hix-bench's figures for the same shapes.

  torch_bench.py --shape gpt2-small|llama-1b|llama-8b --json OUT [--attn sdpa|eager]
                 [--prefill-only]

Eager PyTorch (no torch.compile, no CUDA graphs), transformers' own model
classes in bfloat16 with seeded random weights built directly on the GPU
(shapes in shapes.py; llama-8b is 16 GB). Measured, all at batch 1:
  decode      greedy generate of 128 tokens after a 16-token prompt, use_cache,
              timed between torch.cuda.synchronize() calls after a warm-up:
              decode_tok_s = 127 / (t(128 tokens) - t(1 token)) (prefill and
              the first token excluded), generate_tok_s = 128 / t(128 tokens);
              also a hand-written cached greedy loop (decode_loop_tok_s), the
              model's forward without generate's bookkeeping;
  prefill     one forward over a 128- and a 1024-token prompt with a fresh KV
              cache (logits of the last position only where the model takes
              logits_to_keep), median of 5 after one warm-up;
  load        weights from pinned host memory into a fresh model: created on
              the meta device, to_empty() on the GPU, load_state_dict() of the
              pinned CPU state dict, synchronised (load_s, load_gbps over the
              unique weight bytes); also the same copies issued non_blocking
              into the allocated model (load_nonblocking_s/_gbps);
  copies      a plain pinned host-to-device copy and a device-to-device copy
              of 1 GiB, CUDA events, median of 20 after 2 untimed.
GB/s is 10^9 bytes of payload per second (a device copy reads and writes
each byte: its memory traffic is twice the figure), as in docs/performance.md.
Attention is transformers' default (sdpa) unless --attn says otherwise; the
choice is recorded. --prefill-only: the prefill figures alone (no decode,
load or copies), for tests/gpu/run-prefill-on-device.sh. The model and all GPU memory are released at the end.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import time

import shapes

BENCH_SHAPES = ("gpt2-small", "llama-1b", "llama-8b")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", required=True, choices=BENCH_SHAPES)
    p.add_argument("--json", required=True)
    p.add_argument("--attn", default="sdpa", help="attn_implementation (default sdpa)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt", type=int, default=16, help="decode: prompt tokens")
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--prefill", default="128,1024", help="prefill lengths")
    p.add_argument("--reps", type=int, default=5, help="prefill repetitions (median)")
    p.add_argument("--prefill-only", action="store_true", help="only the prefill figures")
    return p.parse_args()


def sync(torch):
    torch.cuda.synchronize()


def timed(torch, fn):
    sync(torch)
    t0 = time.perf_counter()
    r = fn()
    sync(torch)
    return time.perf_counter() - t0, r


def generate(torch, model, ids, n):
    return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                          do_sample=False, num_beams=1, use_cache=True, eos_token_id=None,
                          pad_token_id=0)


def decode_loop(torch, model, ids, n):
    out = model(input_ids=ids, use_cache=True)
    past = out.past_key_values
    nxt = out.logits[:, -1:].argmax(-1)
    for _ in range(n - 1):
        out = model(input_ids=nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
    return nxt


def bench_decode(torch, model, vocab, args, r):
    g = torch.Generator(device="cpu").manual_seed(args.seed + 1)
    ids = torch.randint(0, vocab, (1, args.prompt), generator=g).cuda()
    n = args.decode_tokens
    generate(torch, model, ids, 8)  # warm-up: kernels, allocator, cache classes
    t1, _ = timed(torch, lambda: generate(torch, model, ids, 1))
    tn, out = timed(torch, lambda: generate(torch, model, ids, n))
    seq = getattr(out, "sequences", out)  # a tensor unless return_dict_in_generate
    produced = seq.shape[1] - ids.shape[1]
    if produced != n:
        raise RuntimeError(f"generate produced {produced} tokens, asked for {n}")
    r["decode_tokens"] = n
    r["decode_prompt"] = args.prompt
    r["generate_s"] = round(tn, 4)
    r["generate_tok_s"] = round(n / tn, 2)
    r["decode_tok_s"] = round((n - 1) / (tn - t1), 2) if tn > t1 else None
    r["decode_ms_per_token"] = round(1e3 * (tn - t1) / (n - 1), 3) if tn > t1 else None
    decode_loop(torch, model, ids, 8)
    tl, _ = timed(torch, lambda: decode_loop(torch, model, ids, n))
    t1l, _ = timed(torch, lambda: decode_loop(torch, model, ids, 1))
    r["decode_loop_tok_s"] = round((n - 1) / (tl - t1l), 2) if tl > t1l else None


def bench_prefill(torch, model, vocab, max_pos, args, r):
    import inspect

    keep = "logits_to_keep" in inspect.signature(model.forward).parameters
    r["prefill_logits_to_keep"] = keep
    g = torch.Generator(device="cpu").manual_seed(args.seed + 2)
    for length in [int(x) for x in args.prefill.split(",") if x.strip()]:
        if length > max_pos:
            r[f"prefill_{length}_ms"] = None
            continue
        ids = torch.randint(0, vocab, (1, length), generator=g).cuda()
        kw = {"logits_to_keep": 1} if keep else {}

        def fwd():
            return model(input_ids=ids, use_cache=True, **kw)

        fwd()
        times = [timed(torch, fwd)[0] for _ in range(args.reps)]
        r[f"prefill_{length}_ms"] = round(1e3 * statistics.median(times), 3)
        r[f"prefill_{length}_tok_s"] = round(length / statistics.median(times), 1)


def event_gbps(torch, nbytes, fn, reps=20, warm=2):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return nbytes / statistics.median(times) / 1e9


def bench_copies(torch, r):
    n = 1 << 30
    host = torch.empty(n, dtype=torch.uint8, pin_memory=True)
    host.fill_(1)
    dev = torch.empty(n, dtype=torch.uint8, device="cuda")
    dev2 = torch.empty(n, dtype=torch.uint8, device="cuda")
    r["h2d_pinned_gbps"] = round(event_gbps(torch, n, lambda: dev.copy_(host, non_blocking=True),
                                            reps=5), 2)
    r["d2d_gbps"] = round(event_gbps(torch, n, lambda: dev2.copy_(dev)), 2)
    r["copy_bytes"] = n
    del host, dev, dev2


def build(torch, arch, config, device):
    """The model with bf16 parameters, constructed directly on `device`."""
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.bfloat16)  # no float32 copy of 8B weights on the way
    except (TypeError, RuntimeError):
        pass  # then built in float32 and cast below
    try:
        with torch.device(device):
            model = shapes.model_class(arch)(config)
    finally:
        torch.set_default_dtype(old)
    if next(model.parameters()).dtype != torch.bfloat16:
        model.to(torch.bfloat16)
    return model


def pin_state(torch, model, r):
    """The state dict copied into pinned host memory; a tied tensor once (its other names
    are returned as aliases: the fresh model's tied parameter gets it through one name)."""
    pinned, seen, aliases, nbytes = {}, set(), set(), 0
    for k, v in model.state_dict().items():
        key = (v.data_ptr(), v.dtype, tuple(v.shape))
        if key in seen:
            aliases.add(k)
            continue
        seen.add(key)
        p = torch.empty(v.shape, dtype=v.dtype, pin_memory=True)
        p.copy_(v)
        pinned[k] = p
        nbytes += v.numel() * v.element_size()
    r["load_bytes"] = nbytes
    r["load_tensors"] = len(pinned)
    return pinned, aliases


def load_into_fresh(torch, config, arch, pinned, aliases, r):
    t0 = time.perf_counter()
    fresh = build(torch, arch, config, "meta")
    fresh.to_empty(device="cuda")
    if hasattr(fresh, "tie_weights"):
        fresh.tie_weights()
    result = fresh.load_state_dict(pinned, strict=False)
    sync(torch)
    t = time.perf_counter() - t0
    missing = [k for k in result.missing_keys if k not in aliases]
    r["load_s"] = round(t, 4)
    r["load_gbps"] = round(r["load_bytes"] / t / 1e9, 2)
    r["load_missing_keys"] = missing
    r["load_unexpected_keys"] = list(result.unexpected_keys)
    if missing or result.unexpected_keys:
        raise RuntimeError(f"load_state_dict: missing {missing[:4]}, unexpected "
                           f"{list(result.unexpected_keys)[:4]}")
    # The same copies again, issued without waiting, into the allocated model.
    params = dict(fresh.named_parameters())
    params.update(dict(fresh.named_buffers()))
    pairs = [(params[k], v) for k, v in pinned.items() if k in params]
    sync(torch)
    t0 = time.perf_counter()
    with torch.no_grad():
        for dst, src in pairs:
            dst.copy_(src, non_blocking=True)
    sync(torch)
    t = time.perf_counter() - t0
    r["load_nonblocking_s"] = round(t, 4)
    r["load_nonblocking_gbps"] = round(r["load_bytes"] / t / 1e9, 2)
    del fresh, params, pairs


def main():
    args = parse_args()
    t_start = time.perf_counter()
    import torch
    import transformers

    if not torch.cuda.is_available():
        print("torch_bench: CUDA is not available", file=sys.stderr)
        return 2
    arch = shapes.arch_of(args.shape)
    r = {"shape": args.shape, "engine": "torch-eager", "dtype": "bfloat16", "attn": args.attn,
         "torch": torch.__version__, "transformers": transformers.__version__,
         "gpu": torch.cuda.get_device_name(0), "batch": 1}
    failures = []
    config = shapes.make_config(args.shape, attn_implementation=args.attn)
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    model = build(torch, arch, config, "cuda")
    model.eval()
    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is not None:  # no end-of-sequence stop: every run makes all its tokens
            cfg.eos_token_id = None
    sync(torch)
    r["build_s"] = round(time.perf_counter() - t0, 3)
    r["params"] = sum(p.numel() for p in model.parameters())
    r["weight_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    vocab = config.vocab_size
    max_pos = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings")
    print(f"torch_bench: {args.shape}: {r['params'] / 1e9:.3f} B parameters "
          f"({r['weight_bytes'] / 1e9:.2f} GB bf16) built on the GPU in {r['build_s']} s",
          flush=True)
    steps = (("decode", lambda: bench_decode(torch, model, vocab, args, r)),
             ("prefill", lambda: bench_prefill(torch, model, vocab, max_pos, args, r)))
    r["prefill_only"] = args.prefill_only
    if args.prefill_only:
        steps = steps[1:]
    with torch.no_grad():
        for name, fn in steps:
            try:
                fn()
            except Exception as e:  # recorded, the other figures still come
                failures.append(f"{name}: {type(e).__name__}: {e}")
            print(f"  {name} done at {time.perf_counter() - t_start:.1f} s", flush=True)
    pinned = aliases = None
    try:
        if not args.prefill_only:
            pinned, aliases = pin_state(torch, model, r)
    except Exception as e:
        failures.append(f"load (pinning): {type(e).__name__}: {e}")
    del model
    gc.collect()
    torch.cuda.empty_cache()
    if pinned is not None:
        try:
            with torch.no_grad():
                load_into_fresh(torch, config, arch, pinned, aliases, r)
        except Exception as e:
            failures.append(f"load: {type(e).__name__}: {e}")
        del pinned
        gc.collect()
        torch.cuda.empty_cache()
    try:
        if not args.prefill_only:
            bench_copies(torch, r)
    except Exception as e:
        failures.append(f"copies: {type(e).__name__}: {e}")
    gc.collect()
    torch.cuda.empty_cache()
    r["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    r["failures"] = failures
    r["wall_s"] = round(time.perf_counter() - t_start, 2)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(r, f, indent=1)
    keys = ("decode_tok_s", "decode_loop_tok_s", "generate_tok_s", "prefill_128_ms",
            "prefill_1024_ms", "load_s", "load_gbps", "load_nonblocking_gbps",
            "h2d_pinned_gbps", "d2d_gbps")
    print("torch_bench: " + args.shape + " " + " ".join(f"{k}={r.get(k)}" for k in keys))
    for f_ in failures:
        print(f"  FAILED {f_}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
