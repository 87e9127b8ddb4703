"""The common part of the GPU machine's run summaries (run-decode-, run-prefill- and
run-batch-on-device.sh): each step's verdict from logs/status.tsv, the steps' JSON, the backend
test's verdict line, and the record that every summary writes.

  record = device_summary.record(out, runs=...)   # commit, steps, failed_steps, backend_test
  device_summary.write(out, "decode.json", record)

Only the standard library: the scripts run it with the GPU machine's python3.
"""

import json
import os


def load(path):
    """A JSON file's value, or None when it is missing or not JSON."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def steps(out):
    """{step: {status, rc, seconds}} from OUT/logs/status.tsv (device_steps.sh's step)."""
    result = {}
    with open(os.path.join(out, "logs", "status.tsv")) as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            result[f[0]] = {"status": f[1], "rc": f[2], "seconds": f[3]}
    return result


def profile(path):
    """The kernels of a HIX_CUDA_PROFILE=1 run's log (the cuda backend's "hix-cuda-profile:"
    table): [{kernel, launches, total_ms}], the longest total first, "(all kernels)" last; and
    how many ARGMAX launches ran (one a generated token, one a prefill). None without a log."""
    if not os.path.exists(path):
        return None
    kernels = []
    with open(path, errors="replace") as fh:
        for line in fh:
            if not line.startswith("hix-cuda-profile: ") or " launches " in line:
                continue
            body = line[len("hix-cuda-profile: "):].rstrip("\n")
            label, rest = body[:56].strip(), body[56:].split()
            try:
                kernels.append({"kernel": label, "launches": int(rest[0]),
                                "total_ms": float(rest[1])})
            except (IndexError, ValueError):
                continue
    argmax = sum(k["launches"] for k in kernels if k["kernel"].startswith("k_argmax"))
    return {"kernels": kernels, "argmax_launches": argmax}


def backend_test(out):
    """hix-cuda-backend-test's last verdict line in OUT/backend-test.log, or None."""
    path = os.path.join(out, "backend-test.log")
    if not os.path.exists(path):
        return None
    with open(path, errors="replace") as fh:
        lines = [l.strip() for l in fh if l.startswith("hix-cuda-backend-test: ")]
    return lines[-1] if lines else None


def record(out, **fields):
    """The summary's record: the commit (HIX_COMMIT), the steps and those that failed or were
    skipped, the backend test's verdict, and the script's own fields."""
    s = steps(out)
    r = {"commit": os.environ.get("HIX_COMMIT", "unknown"), "steps": s,
         "failed_steps": sorted(n for n, v in s.items() if v["status"] != "ok"),
         "backend_test": backend_test(out)}
    r.update(fields)
    return r


def write(out, name, rec):
    with open(os.path.join(out, name), "w") as fh:
        json.dump(rec, fh, indent=1, sort_keys=True)
