# Sourced by the GPU scripts: puts the directories holding libcublas.so.13
# (and cublasLt beside it) in front of LD_LIBRARY_PATH -- the CUDA toolkit's,
# or the pip wheel's that torch uses (nvidia/*/lib, whose layout varies
# between releases). Needs $py (a python3).
libdirs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -e "$d/libcublas.so.13" ] && libdirs+="${libdirs:+:}$d"
done
pylibs=$("$py" - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
dirs = []
for r in roots:
    for p in sorted(glob.glob(os.path.join(r, "**", "libcublas.so.13*"), recursive=True)):
        if os.path.dirname(p) not in dirs:
            dirs.append(os.path.dirname(p))
print(":".join(dirs))
PY
)
[ -n "$pylibs" ] && libdirs+="${libdirs:+:}$pylibs"
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
