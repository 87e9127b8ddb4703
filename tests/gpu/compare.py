#!/usr/bin/env python3
"""Verdict on two greedy generations in hix-model-run's JSON format (A is the reference).

  compare.py REF.json OURS.json --logits-atol X --logits-rtol Y \\
      [--allow-tie-divergence T] [--label NAME] [--json OUT]

Tokens (prompt followed by generated) must be equal. If they first differ at
generated step i, that is accepted only as a near-tie: the reference's top-2
logits at step i (its "step_top2", written by hf_reference.py) differ by less
than T and the other side took the reference's runner-up. Tokens then count as
equal up to step i and last_logits are not compared (they belong to different
continuations); the verdict says so.

With equal tokens, last_logits (the logits of the step that produced the last
token) are compared element by element as |a - b| <= atol + rtol * |ref|,
and both argmaxes must be the last token (each file consistent with itself).
Reported: max abs difference, max relative difference (|a - b| / max(|ref|,
atol), per element) and the difference relative to the logits' scale
(max abs difference / max |ref|).

Prints one verdict line, writes the same as JSON with --json, and exits 0
(pass), 1 (fail) or 2 (unreadable input). Standard library only.
"""

import argparse
import json
import math
import os
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("reference")
    p.add_argument("other")
    p.add_argument("--logits-atol", type=float, required=True)
    p.add_argument("--logits-rtol", type=float, required=True)
    p.add_argument("--allow-tie-divergence", type=float, default=0.0, metavar="T",
                   help="accept a token divergence where the reference's top-2 gap < T")
    p.add_argument("--prompt-len", type=int,
                   help="prompt tokens, when neither file has \"prompt_len\"")
    p.add_argument("--label", default="", help="name printed in the verdict")
    p.add_argument("--json", help="write the summary here")
    return p.parse_args()


def load(path):
    with open(path) as f:
        d = json.load(f)
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a JSON object")
    toks = d.get("tokens")
    if not isinstance(toks, list) or not all(isinstance(t, int) for t in toks):
        raise ValueError(f"{path}: no integer list \"tokens\"")
    logits = d.get("last_logits")
    if not isinstance(logits, list) or not all(isinstance(v, (int, float)) or v is None
                                               for v in logits):
        raise ValueError(f"{path}: no number list \"last_logits\"")
    # JSON has no NaN; writers may emit null (or Python's NaN extension) for one.
    d["last_logits"] = [float("nan") if v is None else float(v) for v in logits]
    return d


def argmax(v):
    best = 0
    for i, x in enumerate(v):
        if x > v[best] or (math.isnan(v[best]) and not math.isnan(x)):
            best = i
    return best


def self_consistent(d):
    """argmax(last_logits) is the last token, allowing an exact tie."""
    v, toks = d["last_logits"], d["tokens"]
    if not v or not toks or not 0 <= toks[-1] < len(v):
        return False
    return v[toks[-1]] == v[argmax(v)]


def compare(ref, oth, args):
    s = {"label": args.label, "reference": os.path.abspath(args.reference),
         "other": os.path.abspath(args.other), "logits_atol": args.logits_atol,
         "logits_rtol": args.logits_rtol, "tie_tolerance": args.allow_tie_divergence,
         "reference_backend": ref.get("backend"), "other_backend": oth.get("backend"),
         "other_mode": oth.get("mode")}
    fails = []
    ta, tb = ref["tokens"], oth["tokens"]
    plen = ref.get("prompt_len", oth.get("prompt_len", args.prompt_len))
    if not isinstance(plen, int) or not 0 < plen <= min(len(ta), len(tb)):
        plen = None
    s["prompt_len"] = plen
    s["generated"] = None if plen is None else len(ta) - plen
    if plen is not None and ta[:plen] != tb[:plen]:
        fails.append("prompts differ")
    div = next((i for i in range(min(len(ta), len(tb))) if ta[i] != tb[i]), None)
    s["tokens_equal"] = div is None and len(ta) == len(tb)
    s["tie_divergence"] = None
    compare_logits = s["tokens_equal"]
    if div is None and len(ta) != len(tb):
        fails.append(f"token counts differ ({len(ta)} vs {len(tb)}), equal up to the shorter")
    elif div is not None:
        step = None if plen is None else div - plen
        s["first_divergence"] = {"index": div, "step": step, "reference": ta[div],
                                 "other": tb[div]}
        top2 = ref.get("step_top2") or oth.get("step_top2")
        if step is None or step < 0:
            fails.append(f"tokens differ at index {div} (inside the prompt or no prompt_len)")
        elif args.allow_tie_divergence <= 0:
            fails.append(f"tokens differ at generated step {step} ({ta[div]} vs {tb[div]})")
        elif not isinstance(top2, list) or step >= len(top2):
            fails.append(f"tokens differ at generated step {step} and no step_top2 tells "
                         f"whether it was a near-tie")
        else:
            id1, v1, id2, v2 = top2[step]
            gap = float(v1) - float(v2)
            s["tie_divergence"] = {"step": step, "top1": [id1, v1], "top2": [id2, v2],
                                   "gap": gap}
            if gap < args.allow_tie_divergence and {ta[div], tb[div]} == {id1, id2}:
                s["tie_divergence"]["accepted"] = True
                s["tokens_compared"] = div
            else:
                s["tie_divergence"]["accepted"] = False
                why = (f"gap {gap:.4g} >= {args.allow_tie_divergence:g}"
                       if gap >= args.allow_tie_divergence
                       else f"tokens {ta[div]}/{tb[div]} are not the reference's top two "
                            f"{id1}/{id2}")
                fails.append(f"tokens differ at generated step {step}, not a near-tie ({why})")

    s["reference_self_consistent"] = self_consistent(ref)
    s["other_self_consistent"] = self_consistent(oth)
    la, lb = ref["last_logits"], oth["last_logits"]
    s["logits_compared"] = False
    if compare_logits:
        if len(la) != len(lb) or not la:
            fails.append(f"last_logits lengths differ ({len(la)} vs {len(lb)})")
        else:
            s["logits_compared"] = True
            max_abs = max_rel = 0.0
            bad = nonfinite = 0
            worst = None
            for i, (a, b) in enumerate(zip(la, lb)):
                if not (math.isfinite(a) and math.isfinite(b)):
                    nonfinite += 1
                    continue
                d = abs(a - b)
                if d > max_abs:
                    max_abs, worst = d, i
                max_rel = max(max_rel, d / max(abs(a), args.logits_atol, 1e-30))
                if d > args.logits_atol + args.logits_rtol * abs(a):
                    bad += 1
            scale = max((abs(a) for a in la if math.isfinite(a)), default=0.0)
            s.update(max_abs_diff=max_abs, max_rel_diff=max_rel, worst_index=worst,
                     scale_rel_diff=(max_abs / scale) if scale > 0 else None,
                     logits_scale=scale, outside_tolerance=bad, nonfinite=nonfinite,
                     argmax_reference=argmax(la), argmax_other=argmax(lb))
            ia, ib = s["argmax_reference"], s["argmax_other"]
            # An exact tie in either file is not a difference.
            s["argmax_equal"] = ia == ib or (lb[ia] == lb[ib] and la[ib] == la[ia])
            if nonfinite:
                fails.append(f"{nonfinite} non-finite logits")
            if bad:
                fails.append(f"{bad} of {len(la)} logits outside atol {args.logits_atol:g} + "
                             f"rtol {args.logits_rtol:g} (max abs {max_abs:.3g} at {worst})")
            if not s["argmax_equal"]:
                fails.append(f"last_logits argmax differ ({s['argmax_reference']} vs "
                             f"{s['argmax_other']})")
            if not s["reference_self_consistent"]:
                fails.append("reference: argmax(last_logits) is not its last token")
            if not s["other_self_consistent"]:
                fails.append("other: argmax(last_logits) is not its last token")
    s["failures"] = fails
    s["pass"] = not fails
    return s


def verdict_line(s):
    head = ("PASS" if s["pass"] else "FAIL") + (f" {s['label']}" if s["label"] else "")
    parts = []
    gen = s.get("generated")
    if s["tokens_equal"]:
        parts.append(f"tokens equal ({gen} generated)" if gen is not None else "tokens equal")
    elif s.get("tie_divergence") and s["tie_divergence"].get("accepted"):
        t = s["tie_divergence"]
        parts.append(f"near-tie divergence at step {t['step']} (reference top-2 gap "
                     f"{t['gap']:.3g} < {s['tie_tolerance']:g}): tokens equal up to it, "
                     f"last_logits not compared")
    if s["logits_compared"]:
        sr = s["scale_rel_diff"]
        parts.append(f"last_logits max abs {s['max_abs_diff']:.3g}, max rel "
                     f"{s['max_rel_diff']:.3g}, rel to scale "
                     f"{'n/a' if sr is None else format(sr, '.3g')} (atol "
                     f"{s['logits_atol']:g} rtol {s['logits_rtol']:g}), argmax "
                     f"{'equal' if s['argmax_equal'] else 'DIFFERENT'}")
    parts.extend(s["failures"])
    return head + ": " + "; ".join(parts)


def main():
    args = parse_args()
    try:
        ref, oth = load(args.reference), load(args.other)
    except (OSError, ValueError) as e:
        s = {"label": args.label, "pass": False, "failures": [f"unreadable input: {e}"]}
        print(f"FAIL {args.label}: unreadable input: {e}".replace("FAIL :", "FAIL:"))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(s, f, indent=1)
        return 2
    s = compare(ref, oth, args)
    s["verdict"] = verdict_line(s)
    print(s["verdict"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(s, f, indent=1)
    return 0 if s["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
