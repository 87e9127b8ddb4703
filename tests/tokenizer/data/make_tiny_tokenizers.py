#!/usr/bin/env python3
# Writes the small tokenizer.json files the tokenizer tests and fuzzers use
# (tiny_*.json, committed): each exercises parts of the format the real
# Llama 3 / Qwen3 files do not (added-token rules, templates, split
# behaviors, byte fallback, unknown tokens, subword prefixes). Merges come
# from a toy BPE run over TRAIN below. Run from this directory.
import collections
import json

TRAIN = """The tokenizer reads the text, splits it into words and merges the most
frequent pairs of symbols. Their merges, then these merges: the the the there.
Caf\u00e9 caf\u00e9 na\u00efve 1234 5678 12 34 it's we're don't hello hello world"""


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def train(words, symbols_of, n_merges):
    """Toy BPE: words -> list of symbol tuples; returns merges in rank order."""
    vocab = collections.Counter(tuple(symbols_of(w)) for w in words)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in vocab.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        new = collections.Counter()
        for w, c in vocab.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        vocab = new
    return merges


def byte_level_vocab(merges):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab


def byte_words(text):
    b2u = bytes_to_unicode()
    return ["".join(b2u[x] for x in w.encode()) for w in text.replace("\n", " ").split(" ") if w]


def added(id_, content, special, normalized, lstrip=False, rstrip=False, single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": normalized, "special": special}


LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tiny_bytelevel():
    merges = train(byte_words(TRAIN), list, 120)
    vocab = byte_level_vocab(merges)
    n = len(vocab)
    tokens = [
        added(n, "<|bos|>", True, False),
        added(n + 1, "<|eos|>", True, False, rstrip=True),
        added(n + 2, "<mask>", True, False, lstrip=True),
        added(n + 3, "[WORD]", False, True, single_word=True),
        added(n + 4, "Caf\u00e9", False, True),
        added(n + 5, "<sep>", False, False, lstrip=True, rstrip=True),
        added(n + 6, "<|bos|>x", True, False),
    ]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": tokens,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "<|eos|>", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [n], "tokens": ["<|bos|>"]},
                                "<|eos|>": {"id": "<|eos|>", "ids": [n + 1], "tokens": ["<|eos|>"]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }


def tiny_prefix():
    merges = train(byte_words(" " + TRAIN.replace(" ", " ")), list, 60)
    vocab = byte_level_vocab(merges)
    n = len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(n, "<s>", True, False)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [n], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }


def letters():
    return [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]


def tiny_fallback():
    words = TRAIN.replace("\n", " ").split(" ")
    merges = train([w for w in words if w.isascii() and w.isalpha()], list, 40)
    vocab = {"<unk>": 0}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for c in letters():
        vocab[c] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<unk>", True, False)],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"\s+"}, "behavior": "Removed", "invert": False},
            {"type": "Split", "pattern": {"Regex": r"\p{N}"}, "behavior": "MergedWithNext", "invert": False},
            {"type": "Split", "pattern": {"String": "'"}, "behavior": "Contiguous", "invert": False}]},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }


def tiny_unk():
    words = [w for w in TRAIN.replace("\n", " ").split(" ") if w.isascii() and w.isalpha()]
    merges = train(words, lambda w: [w[0]] + ["##" + c for c in w[1:-1]] + ([("##" if len(w) > 1 else "") + w[-1] + "</w>"] if w else []), 0)
    vocab = {"<unk>": 0}
    for c in letters():
        for form in (c, "##" + c, c + "</w>", "##" + c + "</w>"):
            vocab[form] = len(vocab)
    # Hand-written merges in the prefix/suffix convention: a + b[len("##"):].
    pairs = [("t", "##h"), ("th", "##e</w>"), ("h", "##e"), ("he", "##l"), ("hel", "##l"), ("hell", "##o</w>"),
             ("w", "##o"), ("wo", "##r"), ("wor", "##l"), ("worl", "##d</w>"), ("t", "##h</w>")]
    merges = []
    for a, b in pairs:
        merges.append((a, b))
        vocab.setdefault(a + b[2:], len(vocab))
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, "<unk>", True, False), added(len(vocab), "[x]", False, True, lstrip=True)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"[a-zA-Z]+"}, "behavior": "MergedWithPrevious", "invert": True},
            {"type": "Split", "pattern": {"Regex": r"\s"}, "behavior": "Removed", "invert": False}]},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": "##",
                  "end_of_word_suffix": "</w>", "fuse_unk": True, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }


for name, make in [("tiny_bytelevel", tiny_bytelevel), ("tiny_prefix", tiny_prefix),
                   ("tiny_fallback", tiny_fallback), ("tiny_unk", tiny_unk)]:
    with open(name + ".json", "w", encoding="utf-8") as f:
        json.dump(make(), f, ensure_ascii=False, indent=1)
        f.write("\n")
