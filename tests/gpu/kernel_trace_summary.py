#!/usr/bin/env python3
"""What a kernel trace (kernel_trace.cpp's TSV) says about replayed graphs.

Every replay of a CUDA graph gives its kernels one correlation id (the
launch's). Replays with the same kernels in the same order form a shape;
for each shape seen at least --min-replays times this prints, position by
position, the median duration of the kernel, the median gap between the end
of the one before and its start (negative: it started before the one before
ended, as programmatic dependent launch allows) and its advance, how much
later it ends than the one before (what it adds to the replay: a kernel
launched early spends its first microseconds waiting), then per kernel name
and grid the launches and the advance a replay. Kernels outside graphs are
summed by name.

  kernel_trace_summary.py TRACE.tsv [--min-replays N] [--skip N] [--positions]
"""
import argparse
import collections
import csv
import statistics
import sys


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        r.setdefault("smem", "0")  # traces written before the column
        for key in ("start_ns", "end_ns", "correlation", "graph", "grid", "block", "regs", "smem"):
            r[key] = int(r[key] or 0)
    return rows


def short(name, width=44):
    return name if len(name) <= width else name[: width - 3] + "..."


def replays_by_shape(rows):
    launches = collections.defaultdict(list)
    for r in rows:
        if r["graph"] != 0:
            launches[r["correlation"]].append(r)
    shapes = collections.defaultdict(list)
    for corr in sorted(launches, key=lambda c: min(k["start_ns"] for k in launches[c])):
        ks = sorted(launches[corr], key=lambda k: k["start_ns"])
        shapes[tuple(k["name"] for k in ks)].append(ks)
    return shapes


def median(values):
    return statistics.median(values) if values else 0.0


def print_shape(index, names, replays, positions, out):
    n = len(names)
    span = [(ks[-1]["end_ns"] - ks[0]["start_ns"]) / 1e3 for ks in replays]
    dur = [[(ks[i]["end_ns"] - ks[i]["start_ns"]) / 1e3 for ks in replays] for i in range(n)]
    gap = [[(ks[i]["start_ns"] - ks[i - 1]["end_ns"]) / 1e3 for ks in replays] for i in range(1, n)]
    adv = [[(ks[i]["end_ns"] - (ks[i - 1]["end_ns"] if i else ks[0]["start_ns"])) / 1e3
            for ks in replays] for i in range(n)]
    med_dur = [median(d) for d in dur]
    med_gap = [0.0] + [median(g) for g in gap]
    med_adv = [median(a) for a in adv]
    print(f"\nshape {index}: {len(replays)} replays, {n} kernels a replay; median span "
          f"{median(span):.1f} us (advances {sum(med_adv):.1f}), kernels {sum(med_dur):.1f} us, "
          f"gaps {sum(g for g in med_gap if g > 0):.1f} us, overlaps "
          f"{-sum(g for g in med_gap if g < 0):.1f} us", file=out)
    if positions:
        print(f"{'pos':>4} {'kernel':44} {'grid':>6} {'regs':>4} {'us':>8} {'gap us':>8} "
              f"{'adv us':>8}", file=out)
        for i, name in enumerate(names):
            k = replays[0][i]
            print(f"{i:4d} {short(name):44} {k['grid']:6d} {k['regs']:4d} {med_dur[i]:8.2f} "
                  f"{med_gap[i]:8.2f} {med_adv[i]:8.2f}", file=out)
    by_kernel = collections.OrderedDict()
    for i, name in enumerate(names):
        k = replays[0][i]
        e = by_kernel.setdefault((name, k["grid"], k["smem"]), [0, 0.0, 0.0])
        e[0] += 1
        e[1] += med_adv[i]
        e[2] += med_dur[i]
    total = sum(med_adv) or 1.0
    print(f"{'kernel':44} {'grid':>6} {'smem':>6} {'launches':>8} {'adv us':>9} {'each':>7} "
          f"{'share':>6} {'dur each':>8}", file=out)
    for (name, grid, smem), (count, adv_sum, dur_sum) in sorted(by_kernel.items(),
                                                                key=lambda kv: -kv[1][1]):
        print(f"{short(name):44} {grid:6d} {smem:6d} {count:8d} {adv_sum:9.1f} "
              f"{adv_sum / count:7.2f} {adv_sum / total:6.1%} {dur_sum / count:8.2f}", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--min-replays", type=int, default=10)
    ap.add_argument("--skip", type=int, default=2, help="first replays of each shape left out")
    ap.add_argument("--positions", action="store_true", help="one line per kernel of a replay")
    args = ap.parse_args()
    rows = load(args.trace)
    if not rows:
        sys.exit(f"{args.trace}: no kernels")
    shapes = replays_by_shape(rows)
    kept = [(names, reps[args.skip:]) for names, reps in shapes.items()
            if len(reps) - args.skip >= args.min_replays]
    kept.sort(key=lambda s: -len(s[1]) * len(s[0]))
    print(f"{args.trace}: {len(rows)} kernels, {len(shapes)} graph shapes, "
          f"{len(kept)} with {args.min_replays}+ replays")
    for i, (names, reps) in enumerate(kept):
        print_shape(i, names, reps, args.positions, sys.stdout)
    loose = collections.defaultdict(lambda: [0, 0.0])
    for r in rows:
        if r["graph"] == 0:
            e = loose[r["name"]]
            e[0] += 1
            e[1] += (r["end_ns"] - r["start_ns"]) / 1e3
    if loose:
        print(f"\noutside graphs:\n{'kernel':44} {'launches':>8} {'us':>10}")
        for name, (count, total) in sorted(loose.items(), key=lambda kv: -kv[1][1])[:25]:
            print(f"{short(name):44} {count:8d} {total:10.1f}")


if __name__ == "__main__":
    main()
