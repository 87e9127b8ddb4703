#!/usr/bin/env python3
"""kernel_trace_summary.py on a trace written here: each replay of one graph
holds A (0-10 us), B (5-14 us: launched early, advance 4) and C (16-20 us:
a gap of 2, advance 6); a second graph with too few replays is left out,
and a trace without the smem column (the first format) reads the same."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = ["name", "start_ns", "end_ns", "correlation", "graph", "node", "stream", "grid", "block",
          "regs", "smem"]


def trace(path, with_smem):
    rows = []
    t = 0
    for rep in range(14):
        for node, (name, start, end) in enumerate([("A", 0, 10), ("B", 5, 14), ("C", 16, 20)]):
            rows.append([name, t + start * 1000, t + end * 1000, 100 + rep, 7, node, 1, 64, 256, 40,
                         4096])
        t += 50000
    for rep in range(3):  # another graph, three replays
        rows.append(["D", t, t + 1000, 500 + rep, 9, 0, 1, 1, 32, 8, 0])
        t += 5000
    rows.append(["E", t, t + 3000, 900, 0, 0, 1, 1, 32, 8, 0])  # outside graphs
    cols = HEADER if with_smem else HEADER[:-1]
    with open(path, "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in rows:
            f.write("\t".join(str(v) for v in r[:len(cols)]) + "\n")


def summary(path):
    return subprocess.run([sys.executable, os.path.join(HERE, "kernel_trace_summary.py"),
                           "--positions", path], capture_output=True, text=True, check=True).stdout


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")


def main():
    with tempfile.TemporaryDirectory() as d:
        outs = []
        for with_smem in (True, False):
            path = os.path.join(d, f"t{int(with_smem)}.tsv")
            trace(path, with_smem)
            outs.append(summary(path))
        out = outs[0]
        check("2 graph shapes, 1 with 10+ replays" in out, "shapes counted:\n" + out)
        check("12 replays, 3 kernels a replay" in out, "two warm-up replays skipped:\n" + out)
        check("(advances 20.0)" in out, "the advances sum to the span:\n" + out)
        pos = {line.split()[1]: line.split() for line in out.splitlines()
               if line.strip()[:1].isdigit() and len(line.split()) == 7}
        check(pos["B"][5:] == ["-5.00", "4.00"], "B: gap -5, advance 4:\n" + out)
        check(pos["C"][5:] == ["2.00", "6.00"], "C: gap 2, advance 6:\n" + out)
        check(" D " not in out.split("outside graphs")[0], "the rare graph left out:\n" + out)
        check("E" in out.split("outside graphs")[1], "E listed outside graphs:\n" + out)
        def words(text):  # the tables' words, the trace's name and the smem column aside
            return [l.replace("4096", "0").split() for l in text.splitlines()
                    if not l.startswith("/")]
        check(words(outs[0]) == words(outs[1]), "a trace without smem reads the same")
    print("kernel_trace_summary: advances, gaps and shapes as written")


if __name__ == "__main__":
    main()
