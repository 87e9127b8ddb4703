#!/usr/bin/env bash
# The product end to end on a GPU host (issue: the whole protected path on the
# H200): the bundle's VM with the cuda device server, the `hix` client from
# outside, protected against plain through the VM and against in-process.
#   tests/gpu/run-e2e-on-device.sh BUNDLE TOOLS_DIR OUT_DIR [e2e_vm.py options]
# BUNDLE: `qemu_scripts/openhix bundle DIR`'s output. TOOLS_DIR:
# hix-session-client (the plain side), hix-model-run and hix-bench (in-process).
# Options (e2e_vm.py --help): --shapes gpt2-small,llama-1b,llama-8b,
# --backend cuda|cpu, --prompt-lens 16,128,1024, --new-tokens 128, --work DIR,
# --checkpoint NAME=DIR, --budget-s S. Writes OUT_DIR/e2e.json,
# OUT_DIR/e2e-summary.txt, OUT_DIR/machine.txt and OUT_DIR/logs/.
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: run-e2e-on-device.sh BUNDLE TOOLS_DIR OUT_DIR [options]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
bundle=$(cd "$1" 2>/dev/null && pwd) || { echo "no bundle $1" >&2; exit 2; }
tools=$(cd "$2" 2>/dev/null && pwd) || { echo "no tools directory $2" >&2; exit 2; }
mkdir -p "$3" || exit 2
out=$(cd "$3" && pwd)
shift 3

# cuBLAS for the in-process tools (the bundle's programs find their own).
# shellcheck source=tests/gpu/cublas-libdirs.sh
. "$here/cublas-libdirs.sh"

work=${HIX_E2E_WORK:-/tmp/hix-e2e}
mkdir -p "$work" || exit 2
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: ${HIX_COMMIT:-unknown}"
  echo "kernel: $(uname -r); cores: $(nproc); memory: $(free -g | awk '/^Mem:/ {print $2}') GiB"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  else
    echo "no nvidia-smi"
  fi
  sed -n '1,8p' "$bundle/share/openhix/MANIFEST"
  df -h "$work" | tail -n 1
} >"$out/machine.txt" 2>&1
cat "$out/machine.txt"

exec "$py" "$here/e2e_vm.py" --bundle "$bundle" --tools "$tools" --out "$out" \
  --work "$work" "$@"
