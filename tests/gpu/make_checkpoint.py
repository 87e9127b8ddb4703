#!/usr/bin/env python3
"""Seeded random-weight checkpoint in the Hugging Face layout (config.json + model.safetensors).

Builds a transformers GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM or
MistralForCausalLM from a config (shapes in shapes.py, the published configs
of Llama-3.2-1B, Qwen2.5-0.5B and Mistral-7B among them; nothing is
downloaded), initialised on the GPU under torch.manual_seed(SEED), and saves
it with save_pretrained into one model.safetensors (tied weights saved once,
as transformers does), or into shards of --max-shard-size with
model.safetensors.index.json. Both hix-model-run and hf_reference.py read the
result, so the two sides see the same bytes.

  make_checkpoint.py --shape gpt2-small --seed 1 --dtype float32 --out /tmp/ck/gpt2-f32
  make_checkpoint.py --arch llama --shape llama-1b --seed 1 --dtype float32,bfloat16 \\
      --out /tmp/ck/l1b-f32,/tmp/ck/l1b-bf16

--dtype and --out take comma-separated lists of equal length: the model is
built once in float32 and saved in each dtype, widest first, so a bfloat16
checkpoint is exactly the rounding of its float32 sibling.

Non-degenerate greedy output: transformers' random init draws every weight
from N(0, 0.02) (GPT-2's residual projections smaller still). At that scale
the GPT-2 residual stream carries little of the input, and greedy decoding
tends to repeat one token. We multiply GPT-2's position table (wpe) by
--wpe-scale (default 5), so each position's hidden state differs and greedy
tokens vary from step to step. Llama has no position table and its layer
outputs (not scaled down at init) already dominate the residual stream, so by
default nothing is changed there (--embed-scale exists; note that with tied
embeddings it scales lm_head too, and a dominant embedding makes greedy decoding
repeat the input token). After saving, a short greedy run prints how many
distinct tokens came out, so a degenerate model shows at once.

Biases: transformers' init zeroes every bias, which would leave Qwen2's q/k/v
biases unchecked; --bias-std draws them from N(0, STD) (after --qk-scale).

Attention that depends on position: at N(0, 0.02) a tiny Llama's attention
scores are a few hundredths, so softmax is nearly uniform and the RoPE base
hardly changes the logits (a base of 10000 instead of 500000 moved them by
only ~2e-3). --qk-scale multiplies every layer's q_proj and k_proj by a
factor, which multiplies the scores by its square: with 8 they are O(1) and
a wrong base changes the tokens.

config.json is left exactly as save_pretrained wrote it (transformers 5 keeps
the RoPE base under rope_parameters and writes dtype; transformers 4 a
top-level rope_theta and torch_dtype): hix-model-run reads both layouts, and
reading what transformers wrote is the point of the check (issue 16). The file
is only read back to print where its RoPE base is and to stop if that is not
the shape's. Seed and scales go to hix_init.json beside it, never into
config.json, whose unknown keys our engine refuses.
"""

import argparse
import inspect
import json
import os
import sys
import time

import shapes

DTYPES = ("float32", "bfloat16")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=shapes.ARCHS, help="checked against --shape")
    p.add_argument("--shape", required=True, choices=shapes.all_shapes())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", help="float32|bfloat16, comma-separated list")
    p.add_argument("--out", required=True, help="output folder(s), comma-separated like --dtype")
    p.add_argument("--device", default="cuda", help="where to initialise (default cuda)")
    p.add_argument("--wpe-scale", type=float, default=5.0,
                   help="GPT-2: multiply the position table by this (default 5)")
    p.add_argument("--embed-scale", type=float, default=1.0,
                   help="multiply the token embedding by this (default 1)")
    p.add_argument("--qk-scale", type=float, default=1.0,
                   help="Llama, Qwen2, Mistral: multiply q_proj and k_proj by this (default 1)")
    p.add_argument("--bias-std", type=float, default=0.0,
                   help="Qwen2: draw the q/k/v projection biases from N(0, this) (default 0: "
                        "transformers' zeros)")
    p.add_argument("--max-shard-size", default=None,
                   help="save shards of this size with an index (default: one file)")
    p.add_argument("--check-tokens", type=int, default=16,
                   help="greedy tokens generated after saving to show variety (0: none)")
    args = p.parse_args()
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    outs = [o.strip() for o in args.out.split(",") if o.strip()]
    if not dtypes or len(dtypes) != len(outs):
        p.error("--dtype and --out need the same number of comma-separated entries")
    for d in dtypes:
        if d not in DTYPES:
            p.error(f"unknown dtype {d!r} (float32 or bfloat16)")
    if args.arch and args.arch != shapes.arch_of(args.shape):
        p.error(f"--arch {args.arch} does not match --shape {args.shape}")
    if args.qk_scale != 1.0 and shapes.arch_of(args.shape) == "gpt2":
        p.error("--qk-scale is for the rotary families (GPT-2's c_attn fuses q, k and v)")
    if args.bias_std != 0.0 and shapes.arch_of(args.shape) != "qwen2":
        p.error("--bias-std is for Qwen2 (the other families' q/k/v have no bias)")
    # Widest first: casting float32 -> bfloat16 is a rounding, the way back is not.
    args.targets = sorted(zip(dtypes, outs), key=lambda t: DTYPES.index(t[0]))
    return args


def manual_init(torch, model, std):
    """N(0, std) weights, zero biases, unit norms: only if the constructor left weights unset."""
    for m in model.modules():
        w = getattr(m, "weight", None)
        b = getattr(m, "bias", None)
        name = type(m).__name__.lower()
        if isinstance(w, torch.nn.Parameter):
            if "norm" in name:
                w.data.fill_(1.0)
            else:
                w.data.normal_(0.0, std)
        if isinstance(b, torch.nn.Parameter):
            b.data.zero_()


def prepare_dir(out):
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if (f.startswith("model") and (f.endswith(".safetensors") or f.endswith(".index.json"))) \
                or f in ("config.json", "generation_config.json", "hix_init.json"):
            os.remove(os.path.join(out, f))


def save(model, out, max_shard_size=None):
    """One model.safetensors (its path), or shards with an index (the index's path)."""
    prepare_dir(out)
    kwargs = {"max_shard_size": max_shard_size or "1000GB"}
    params = inspect.signature(model.save_pretrained).parameters
    if "safe_serialization" in params:  # transformers 4; 5 always writes safetensors
        kwargs["safe_serialization"] = True
    model.save_pretrained(out, **kwargs)
    name = "model.safetensors.index.json" if max_shard_size else "model.safetensors"
    path = os.path.join(out, name)
    if not os.path.isfile(path):
        raise RuntimeError(f"save_pretrained wrote no {name} in {out}: "
                           f"{sorted(os.listdir(out))}")
    return path


def weight_files(out, path):
    """The safetensors files a save wrote: the file itself, or the index's shards."""
    if not path.endswith(".index.json"):
        return [path]
    with open(path) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    return [os.path.join(out, s) for s in shards]


def dedupe_tied(path, tied):
    """A tied lm_head is stored once (as transformers does): drop a duplicate if one slipped in."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(path, framework="pt") as f:
        keys = list(f.keys())
    if tied and "lm_head.weight" in keys:
        tensors = load_file(path)
        del tensors["lm_head.weight"]
        save_file(tensors, path, metadata={"format": "pt"})
        print("  dropped a duplicate lm_head.weight (tied to the embedding)")
        keys.remove("lm_head.weight")
    return keys


def shard_keys(path):
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return list(f.keys())


def check_config(out, shape, init_info):
    """Reads config.json back without changing it: where its RoPE base and scaling are, and
    that they are the shape's. Seed and scales are recorded in hix_init.json."""
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(out, "hix_init.json"), "w") as f:
        json.dump(init_info, f, indent=2, sort_keys=True)
        f.write("\n")
    if shapes.arch_of(shape) == "gpt2":
        return
    want = float(shapes.config_kwargs(shape).get("rope_theta", 10000.0))
    found = []
    params = cfg.get("rope_parameters")
    if isinstance(params, dict) and "rope_theta" in params:
        found.append(("rope_parameters.rope_theta", params["rope_theta"]))
    if cfg.get("rope_theta") is not None:
        found.append(("rope_theta", cfg["rope_theta"]))
    print("  config.json as written: " + (", ".join(f"{k} {v}" for k, v in found) or
                                          "no RoPE base (the family's default)") +
          f"; rope_scaling {cfg.get('rope_scaling')!r}, rope_parameters {params!r}")
    for key, value in found:
        if not isinstance(value, (int, float)) or abs(float(value) - want) > 1e-6 * want:
            raise RuntimeError(f"{out}/config.json has {key}={value!r}, the shape {shape} "
                               f"wants {want}")
    if not found and want != 10000.0:
        raise RuntimeError(f"{out}/config.json has no RoPE base, the shape {shape} wants {want}")
    scaling = shapes.rope_scaling_want(shape)
    if scaling is not None:
        written = [o for o in (cfg.get("rope_scaling"), params) if isinstance(o, dict) and
                   o.get("rope_type", o.get("type")) == scaling["rope_type"]]
        if not written or any(float(written[0].get(k, -1)) != float(v)
                              for k, v in scaling.items() if k != "rope_type"):
            raise RuntimeError(f"{out}/config.json does not carry the shape's rope_scaling "
                               f"{scaling}")


def greedy_check(torch, model, vocab, n, device):
    """Greedy tokens from a fixed prompt, full forward each step (no cache: a different code
    path from generate, and n is small)."""
    prompt = [v % vocab for v in (3, 141, 59, 265, 35)]
    ids = torch.tensor([prompt], device=device)
    with torch.no_grad():
        for _ in range(n):
            logits = model(input_ids=ids, use_cache=False).logits[0, -1]
            ids = torch.cat([ids, logits.argmax().view(1, 1).to(ids.dtype)], dim=1)
    return ids[0, len(prompt):].tolist()


def main():
    args = parse_args()
    t_start = time.perf_counter()
    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("make_checkpoint: CUDA is not available (use --device cpu)", file=sys.stderr)
        return 2
    arch = shapes.arch_of(args.shape)
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    config = shapes.make_config(args.shape)
    with torch.device(device):
        model = shapes.model_class(arch)(config)
    model.eval()
    if next(model.parameters()).dtype != torch.float32:
        model.float()
    emb = model.get_input_embeddings().weight
    std = float(emb.float().std())
    if not (0.01 < std < 0.04):
        # Never expected with transformers' constructors; kept so a changed init path shows.
        print(f"  warning: embedding std {std:.4g} after construction: initialising by hand")
        torch.manual_seed(args.seed)
        with torch.no_grad():
            manual_init(torch, model, 0.02)
        if hasattr(model, "tie_weights"):
            model.tie_weights()
    with torch.no_grad():
        if arch == "gpt2" and args.wpe_scale != 1.0:
            model.transformer.wpe.weight.mul_(args.wpe_scale)
        if args.embed_scale != 1.0:
            model.get_input_embeddings().weight.mul_(args.embed_scale)
        if arch != "gpt2" and args.qk_scale != 1.0:
            for layer in model.model.layers:
                layer.self_attn.q_proj.weight.mul_(args.qk_scale)
                layer.self_attn.k_proj.weight.mul_(args.qk_scale)
        if args.bias_std != 0.0:
            gen = torch.Generator(device=device)
            gen.manual_seed(args.seed + 1)
            for layer in model.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj,
                             layer.self_attn.v_proj):
                    proj.bias.normal_(0.0, args.bias_std, generator=gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"make_checkpoint: {args.shape} ({arch}) seed {args.seed}: {n_params / 1e6:.1f} M "
          f"parameters built on {device} in {time.perf_counter() - t0:.2f} s "
          f"(embedding std {float(model.get_input_embeddings().weight.float().std()):.4f})")

    tied = bool(getattr(config, "tie_word_embeddings", True))
    init_info = {"seed": args.seed, "std": 0.02, "wpe_scale": args.wpe_scale if arch == "gpt2"
                 else None, "embed_scale": args.embed_scale, "qk_scale": args.qk_scale,
                 "bias_std": args.bias_std, "shape": args.shape,
                 "max_shard_size": args.max_shard_size, "built_on": str(device)}
    for dtype_name, out in args.targets:
        t1 = time.perf_counter()
        # Parameters only: buffers such as Llama's rotary inv_freq stay float32, as
        # from_pretrained leaves them (the greedy check then matches hf_reference).
        with torch.no_grad():
            for p in model.parameters():
                p.data = p.data.to(getattr(torch, dtype_name))
        path = save(model, out, args.max_shard_size)
        files = weight_files(out, path)
        # A shard is left as written: its index names every tensor it holds.
        keys = dedupe_tied(path, tied) if len(files) == 1 and path == files[0] else \
            [k for f in files for k in shard_keys(f)]
        check_config(out, args.shape, dict(init_info, dtype=dtype_name))
        size = sum(os.path.getsize(f) for f in files)
        print(f"  {dtype_name}: {path} ({len(files)} file{'s' if len(files) > 1 else ''}), "
              f"{len(keys)} tensors, {size / 1e9:.3f} GB, saved in "
              f"{time.perf_counter() - t1:.2f} s")
        if args.check_tokens > 0:
            gen = greedy_check(torch, model, config.vocab_size, args.check_tokens, device)
            distinct = len(set(gen))
            verdict = "ok" if distinct > max(2, len(gen) // 4) else "DEGENERATE?"
            print(f"  greedy check ({dtype_name}): {distinct} distinct of {len(gen)} "
                  f"tokens [{verdict}]: {gen}")
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    print(f"make_checkpoint: wall time {time.perf_counter() - t_start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
