#!/usr/bin/env python3
"""Reference greedy generation with transformers, in hix-model-run's JSON format.

  hf_reference.py --checkpoint DIR --prompt 1,2,3 --generate N --dtype float32 \\
      --device cuda --json OUT

Loads DIR with from_pretrained(dtype=..., attn_implementation="eager") and runs
greedy generate (do_sample=False, use_cache=True, no end-of-sequence stop) and
writes {"tokens": prompt followed by the N generated tokens, "last_logits":
the raw logits of the step that produced the last token} — the same meaning as
hix-model-run --json. It also writes "step_top2": for every generated step
[top1 id, top1 logit, top2 id, top2 logit], which compare.py uses to tell a
near-tie from a real divergence, and cross-checks (recorded, never silently
ignored):
  * each generated token is the argmax of its step's logits (no logits
    processor changed anything);
  * a hand-written greedy loop with the KV cache gives the same tokens;
  * a final forward without cache over tokens[:-1] gives last_logits again
    (max abs difference recorded).
If generate stopped early or failed, the hand-written loop's result is written
instead ("method": "manual") and the reason is recorded.

--dtype float32 on a bfloat16 checkpoint widens the bf16 weights exactly and
computes in float32: the same arithmetic as hix-model-run's (bf16 weights,
f32 activations), up to summation order. --dtype and --json take
comma-separated lists of equal length to run several dtypes in one process.
TF32 is switched off so float32 means float32.
"""

import argparse
import json
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--prompt", required=True, help="comma-separated token ids")
    p.add_argument("--generate", type=int, required=True, help="tokens to generate")
    p.add_argument("--dtype", default="float32", help="float32|bfloat16, comma-separated list")
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", required=True, help="output file(s), comma-separated like --dtype")
    p.add_argument("--attn", default="eager", help="attn_implementation (default eager)")
    args = p.parse_args()
    try:
        args.prompt_ids = [int(t) for t in args.prompt.split(",") if t.strip() != ""]
    except ValueError:
        p.error("--prompt must be comma-separated integers")
    if not args.prompt_ids:
        p.error("--prompt is empty")
    if args.generate < 1:
        p.error("--generate must be at least 1")
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    outs = [o.strip() for o in args.json.split(",") if o.strip()]
    if not dtypes or len(dtypes) != len(outs):
        p.error("--dtype and --json need the same number of comma-separated entries")
    for d in dtypes:
        if d not in ("float32", "bfloat16"):
            p.error(f"unknown dtype {d!r}")
    args.targets = list(zip(dtypes, outs))
    return args


def load(torch, transformers, path, dtype, attn, device):
    cls = transformers.AutoModelForCausalLM
    try:
        model = cls.from_pretrained(path, dtype=dtype, attn_implementation=attn)
    except TypeError:  # transformers 4 before the dtype keyword
        model = cls.from_pretrained(path, torch_dtype=dtype, attn_implementation=attn)
    if next(model.parameters()).dtype != dtype:  # an ignored keyword must not go unnoticed
        print(f"  note: loaded as {next(model.parameters()).dtype}, casting to {dtype}")
        model.to(dtype)
    model.to(device)
    model.eval()
    return model


def no_eos(model):
    """No end-of-sequence stop: generate must produce exactly N tokens."""
    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is not None and hasattr(cfg, "eos_token_id"):
            cfg.eos_token_id = None
    gc = getattr(model, "generation_config", None)
    if gc is not None:
        for key in ("forced_eos_token_id", "forced_bos_token_id", "suppress_tokens",
                    "begin_suppress_tokens", "bad_words_ids"):
            if hasattr(gc, key):
                setattr(gc, key, None)


def run_generate(torch, model, prompt, n, device):
    ids = torch.tensor([prompt], device=device)
    out = model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
        do_sample=False, num_beams=1, use_cache=True, eos_token_id=None, pad_token_id=0,
        output_logits=True, return_dict_in_generate=True)
    tokens = out.sequences[0].tolist()
    logits = getattr(out, "logits", None)
    if not logits:  # very old transformers: scores are the logits when nothing processes them
        logits = out.scores
    steps = [step[0].float() for step in logits]
    return tokens, steps


def run_manual(torch, model, prompt, n, device):
    """Greedy with the KV cache, by hand: one prefill, then one token per forward."""
    ids = torch.tensor([prompt], device=device)
    out = model(input_ids=ids, use_cache=True)
    past = out.past_key_values
    step = out.logits[0, -1].float()
    tokens = list(prompt)
    steps = []
    for i in range(n):
        steps.append(step)
        nxt = int(step.argmax())
        tokens.append(nxt)
        if i + 1 == n:
            break
        out = model(input_ids=torch.tensor([[nxt]], device=device), past_key_values=past,
                    use_cache=True)
        past = out.past_key_values
        step = out.logits[0, -1].float()
    return tokens, steps


def top2(torch, step):
    vals, idx = torch.topk(step, 2)
    return [int(idx[0]), float(vals[0]), int(idx[1]), float(vals[1])]


def reference(torch, transformers, args, dtype_name):
    dtype = getattr(torch, dtype_name)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    model = load(torch, transformers, args.checkpoint, dtype, args.attn, device)
    no_eos(model)
    vocab = model.config.vocab_size
    bad = [t for t in args.prompt_ids if not 0 <= t < vocab]
    if bad:
        raise ValueError(f"prompt ids {bad} outside the vocabulary (size {vocab})")
    load_s = time.perf_counter() - t0
    prompt, n = args.prompt_ids, args.generate
    notes = []
    result = {"backend": "transformers", "mode": "reference", "dtype": dtype_name,
              "device": str(device), "attn_implementation": args.attn,
              "checkpoint": os.path.abspath(args.checkpoint), "prompt_len": len(prompt),
              "generate": n, "load_s": round(load_s, 3)}
    with torch.no_grad():
        t1 = time.perf_counter()
        man_tokens, man_steps = run_manual(torch, model, prompt, n, device)
        gen_tokens = gen_steps = None
        try:
            gen_tokens, gen_steps = run_generate(torch, model, prompt, n, device)
            if len(gen_tokens) != len(prompt) + n or len(gen_steps) != n:
                notes.append(f"generate returned {len(gen_tokens) - len(prompt)} tokens and "
                             f"{len(gen_steps)} logit steps for {n}: using the manual loop")
                gen_tokens = None
        except Exception as e:  # recorded; the manual loop is the fallback
            notes.append(f"generate failed ({type(e).__name__}: {e}): using the manual loop")
            gen_tokens = None
        if gen_tokens is not None:
            tokens, steps, method = gen_tokens, gen_steps, "generate"
            result["manual_loop_tokens_equal"] = man_tokens == gen_tokens
            if man_tokens != gen_tokens:
                notes.append("the manual cached loop's tokens differ from generate's "
                             "(a near-tie in float arithmetic, or a bug: see step_top2)")
        else:
            tokens, steps, method = man_tokens, man_steps, "manual"
        if device.type == "cuda":
            torch.cuda.synchronize()
        result["generate_s"] = round(time.perf_counter() - t1, 3)
        argmax_ok = [int(s.argmax()) == tokens[len(prompt) + i] for i, s in enumerate(steps)]
        result["argmax_consistent"] = all(argmax_ok)
        if not all(argmax_ok):
            notes.append(f"generated token != argmax of its logits at steps "
                         f"{[i for i, ok in enumerate(argmax_ok) if not ok]}")
        # The last step's logits again, from one forward without the cache.
        full = model(input_ids=torch.tensor([tokens[:-1]], device=device), use_cache=False)
        again = full.logits[0, -1].float()
        result["final_forward_max_abs_diff"] = float((again - steps[-1]).abs().max())
    result["method"] = method
    result["tokens"] = tokens
    result["step_top2"] = [top2(torch, s) for s in steps]
    result["last_logits"] = [float(v) for v in steps[-1].cpu().tolist()]
    result["notes"] = notes
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main():
    args = parse_args()
    t_start = time.perf_counter()
    import torch
    import transformers

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        print("hf_reference: CUDA is not available", file=sys.stderr)
        return 2
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    rc = 0
    for dtype_name, out in args.targets:
        try:
            r = reference(torch, transformers, args, dtype_name)
        except Exception as e:
            print(f"hf_reference: {dtype_name}: {type(e).__name__}: {e}", file=sys.stderr)
            rc = 1
            continue
        r["versions"] = versions
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            json.dump(r, f)
        gen = r["tokens"][r["prompt_len"]:]
        print(f"hf_reference: {dtype_name}: {len(gen)} tokens by {r['method']} "
              f"({len(set(gen))} distinct), load {r['load_s']} s, generate {r['generate_s']} s, "
              f"final-forward diff {r['final_forward_max_abs_diff']:.3g}: {gen}")
        for n in r["notes"]:
            print(f"  note: {n}")
    print(f"hf_reference: wall time {time.perf_counter() - t_start:.2f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
