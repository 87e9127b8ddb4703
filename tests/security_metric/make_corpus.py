#!/usr/bin/env python3
"""Text corpus for the model-security metric, made from text files Debian packages install.

  make_corpus.py [--out DIR] [--max-bytes N] [--seed S] [--public 0.05] [--test 0.05]

Sources (nothing is downloaded): /usr/share/common-licenses/*, and under
/usr/share/doc every copyright file and every README*, NEWS*, changelog*,
CHANGES*, AUTHORS*, THANKS*, TODO*, FAQ* and *.txt, *.md, *.rst file, gzip
ones decompressed. A file is a document. It is kept only if it is UTF-8 with
no NUL and almost no other control characters (at most 1 in 1000 characters
besides tab, newline and form feed); CRLF becomes LF; documents over
--max-doc-bytes are cut at a line boundary; documents with equal contents
are kept once (the first one in the selection order below).

Selection is deterministic for a given set of installed files: the sorted,
de-duplicated candidates are taken in the order of sha256(seed, path) until
--max-bytes is reached, so installing one more package changes the corpus by
at most that package's files. The split is by document, with the same seed:
documents are shuffled and the first ones make the test split (held out,
about --test of the bytes), the next ones the public split (about --public of
the bytes: what the attacker is assumed to hold), the rest the train split.

Writes DIR/train.txt, DIR/public.txt, DIR/test.txt (each split's documents
in path order, separated by a blank line) and DIR/manifest.json (every
document's path, size, sha256 and split; each split file's size and sha256;
the arguments). The corpus is generated: it stays out of git (DIR defaults to
build/security-metric/corpus in the repository, which git ignores).
"""

import argparse
import fnmatch
import gzip
import hashlib
import json
import os
import random
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "build", "security-metric", "corpus")
LICENSES = "/usr/share/common-licenses"
DOCS = "/usr/share/doc"
# Basenames (without .gz, case-insensitive) taken from /usr/share/doc.
DOC_PATTERNS = ("copyright", "readme*", "news*", "changelog*", "changes*", "authors*",
                "thanks*", "todo*", "faq*", "*.txt", "*.md", "*.rst")
SPLITS = ("train", "public", "test")
SEPARATOR = "\n\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder (default %(default)s)")
    p.add_argument("--max-bytes", type=int, default=8 << 20,
                   help="corpus size cap in bytes of UTF-8 text (default 8 MiB)")
    p.add_argument("--max-doc-bytes", type=int, default=32 << 10,
                   help="one document's cap, so that no long changelog dominates (default 32 KiB)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--public", type=float, default=0.05, help="public split's share of the bytes")
    p.add_argument("--test", type=float, default=0.05, help="test split's share of the bytes")
    p.add_argument("--roots", nargs="*", default=None,
                   help="take every file under these folders instead of the Debian paths (tests)")
    a = p.parse_args(argv)
    if not 0 < a.public < 1 or not 0 < a.test < 1 or a.public + a.test >= 1:
        p.error("--public and --test must be in (0, 1) and leave bytes for train")
    return a


def candidates(roots):
    """Every candidate path, sorted."""
    out = []
    if roots is not None:
        for root in roots:
            for d, _, files in os.walk(root):
                out.extend(os.path.join(d, f) for f in files)
        return sorted(set(out))
    if os.path.isdir(LICENSES):
        out.extend(os.path.join(LICENSES, f) for f in os.listdir(LICENSES))
    for d, _, files in os.walk(DOCS):
        for f in files:
            base = f[:-3] if f.endswith(".gz") else f
            if any(fnmatch.fnmatch(base.lower(), pat) for pat in DOC_PATTERNS):
                out.append(os.path.join(d, f))
    return sorted(set(out))


def read_text(path, max_doc_bytes):
    """The file as normalised text, or None if it is not text we keep."""
    if os.path.islink(path) and not os.path.exists(path):
        return None
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile):
        return None
    if "\x00" in text:
        return None
    text = text.replace("\r\n", "\n")
    control = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\f")
    if control * 1000 > len(text):
        return None
    text = text.strip("\n")
    data = text.encode("utf-8")
    if len(data) > max_doc_bytes:
        cut = data.rfind(b"\n", 0, max_doc_bytes)
        data = data[:cut if cut > 0 else max_doc_bytes]
        text = data.decode("utf-8", errors="ignore")  # a cut mid-character drops it
    return text if text.strip() else None


def order_key(seed, path):
    return hashlib.sha256(f"{seed}:{path}".encode()).hexdigest()


def select(paths, args):
    """(path, text) documents in selection order, de-duplicated, within the cap."""
    docs, seen, total = [], set(), 0
    for path in sorted(paths, key=lambda p: order_key(args.seed, p)):
        if total >= args.max_bytes:
            break
        text = read_text(path, args.max_doc_bytes)
        if text is None:
            continue
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest in seen:
            continue
        room = args.max_bytes - total
        data = text.encode("utf-8")
        if len(data) > room:  # the last document is cut to fit, at a line boundary
            cut = data.rfind(b"\n", 0, room)
            if cut <= 0:
                break
            text = data[:cut].decode("utf-8", errors="ignore")
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        seen.add(digest)
        docs.append((path, text, digest))
        total += len(text.encode("utf-8"))
    return sorted(docs)


def split(docs, args):
    rng = random.Random(args.seed)
    order = list(range(len(docs)))
    rng.shuffle(order)
    total = sum(len(t.encode("utf-8")) for _, t, _ in docs)
    target = {"test": args.test * total, "public": args.public * total}
    assignment, filled = {}, {"test": 0, "public": 0}
    for i in order:
        size = len(docs[i][1].encode("utf-8"))
        for name in ("test", "public"):
            if filled[name] < target[name]:
                assignment[i] = name
                filled[name] += size
                break
        else:
            assignment[i] = "train"
    return assignment


def main(argv=None):
    args = parse_args(argv)
    docs = select(candidates(args.roots), args)
    if len(docs) < 3:
        print(f"make_corpus: only {len(docs)} text documents found; need at least 3", file=sys.stderr)
        return 1
    assignment = split(docs, args)
    os.makedirs(args.out, exist_ok=True)
    manifest = {
        "generator": "tests/security_metric/make_corpus.py",
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "documents": [],
        "splits": {},
    }
    for name in SPLITS:
        texts = [t for i, (_, t, _) in enumerate(docs) if assignment[i] == name]
        if not texts:
            print(f"make_corpus: the {name} split is empty; raise --max-bytes", file=sys.stderr)
            return 1
        data = SEPARATOR.join(texts).encode("utf-8") + b"\n"
        with open(os.path.join(args.out, f"{name}.txt"), "wb") as f:
            f.write(data)
        manifest["splits"][name] = {"file": f"{name}.txt", "bytes": len(data), "documents": len(texts),
                                    "sha256": hashlib.sha256(data).hexdigest()}
    for i, (path, text, digest) in enumerate(docs):
        manifest["documents"].append({"path": path, "bytes": len(text.encode("utf-8")),
                                      "sha256": digest, "split": assignment[i]})
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    s = manifest["splits"]
    print(f"corpus in {args.out}: {len(docs)} documents, "
          + ", ".join(f"{n} {s[n]['bytes']} bytes ({s[n]['documents']} docs)" for n in SPLITS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
