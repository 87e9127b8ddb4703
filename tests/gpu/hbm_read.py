#!/usr/bin/env python3
"""The GPU's memory read ceiling, the bound decode at batch 1 is held to (docs/performance.md).

  hbm_read.py --json OUT [--gib 4] [--reps 20]

A decode step reads every weight once and writes almost nothing, so its
ceiling is what the GPU reads from HBM per second, not what a copy moves.
Measured with PyTorch on a GIB-sized buffer of random bytes (too large for
L2): full reductions that read each byte once (a float32 sum and a bfloat16
amax over the same bytes), timed by CUDA events, median of REPS after two
untimed runs; read_gbps is the best of them. A device-to-device copy of
the same buffer is recorded beside it (copy_gbps counts each byte once, as
docs/performance.md does; its memory traffic is twice that). GB/s is 10^9
bytes per second.
"""

import argparse
import json
import os
import sys

from torch_bench import event_gbps


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", required=True)
    p.add_argument("--gib", type=int, default=4)
    p.add_argument("--reps", type=int, default=20)
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("hbm_read: CUDA is not available", file=sys.stderr)
        return 2
    n = args.gib << 30
    raw = torch.randint(0, 256, (n,), dtype=torch.uint8, device="cuda")
    f32 = raw.view(torch.float32).nan_to_num_(0.0)  # finite, so the sum is a plain sum
    bf16 = raw.view(torch.bfloat16)
    r = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "bytes": n,
         "reps": args.reps}
    r["sum_f32_gbps"] = round(event_gbps(torch, n, lambda: f32.sum(), args.reps), 1)
    r["amax_bf16_gbps"] = round(event_gbps(torch, n, lambda: bf16.amax(), args.reps), 1)
    r["read_gbps"] = max(r["sum_f32_gbps"], r["amax_bf16_gbps"])
    dst = torch.empty_like(raw)
    r["copy_gbps"] = round(event_gbps(torch, n, lambda: dst.copy_(raw), args.reps), 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(r, f, indent=1)
    print("hbm_read: " + " ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
