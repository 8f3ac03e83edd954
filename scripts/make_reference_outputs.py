#!/usr/bin/env python3
"""Records what the reference engine (llama.cpp, through llama-cpp-python) produces for
our test models, so the end-to-end tests can compare without llama.cpp installed.

    python3 -m venv .venv-ref && .venv-ref/bin/pip install llama-cpp-python==0.3.36 numpy
    # On AMX machines build it with: CMAKE_ARGS="-DCMAKE_C_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'
    #   -DCMAKE_CXX_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'" (GCC 12 miscompiles _tile_loadconfig)
    .venv-ref/bin/python scripts/make_reference_outputs.py [--only NAME]

tiny-qwen2 is a random-weight qwen2 model (scripts/tiny_models.py) with the real Qwen2
vocabulary; tests/e2e rebuilds the same weights in C++, so no model file is stored.

For each model and prompt it stores, in tests/data/reference/<name>.json:
  - tokens: the prompt's token ids (BOS added as the model asks; special tokens parsed)
  - logits at a few positions: the full row for small vocabularies, else the top 64
    (ids and values) plus the value at a handful of fixed ids
  - greedy: a greedy continuation (argmax of the logits, one token at a time), with the
    prompt evaluated as one batch (llama.cpp's usual path, matrix-matrix kernels)
  - greedy_margins: at each greedy step, the gap between the best and second-best logit
  - greedy_tokenwise: the same with the prompt fed one token at a time (n_batch 1, the
    matrix-vector kernels). On quantized models the two paths round differently and
    the reference engine does not always agree with itself; the tests report both.
Settings: n_ctx 512, n_batch 512, flash attention off (llama-cpp-python's default),
F16 KV cache, one sequence. Models come from ../shared/models and models/ (fetch the
default with scripts/fetch_model.py).
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
from llama_cpp import Llama, __version__ as llama_cpp_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT = os.path.join(ROOT, "tests", "data", "reference")

PROMPTS = {
    "english": "Once upon a time, there was a little girl who loved to",
    "code": "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
    "unicode": "Ünïcödé: café, naïve, 日本語のテキスト, Ελληνικά, and русский.",
    "whitespace": "Lots   of    spaces\t\tand tabs\n\n\nand newlines    here",
    "digits": "The numbers 3.14159, 2718281828 and 1,000,000 are",
    "emoji": "Emoji time: 🐦‍⬛🦜🎉 👍🏽 and more 🚀",
}

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models  # noqa: E402

TINY_QWEN2 = os.path.join("/tmp", "corvid-tiny-qwen2.gguf")

MODELS = {
    "tiny-qwen2": {"path": TINY_QWEN2, "synthetic": "tiny-qwen2",
                   "prompts": ["english", "code", "unicode", "emoji"], "greedy": 32},
    "stories260K": {"path": os.path.join(SHARED, "models", "stories260K.gguf"),
                    "prompts": ["english", "code", "digits", "whitespace"], "greedy": 64},
    "gemma3-270m-q4_k_m": {"path": os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf"),
                           "prompts": ["english", "code", "unicode", "emoji"], "greedy": 32},
}

FULL_ROW_LIMIT = 4096  # vocabularies up to this size store whole logit rows
TOP = 64
FIXED_IDS = [0, 1, 2, 3, 100, 1000, 10000]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def logit_record(row, n_vocab):
    row = np.asarray(row, dtype=np.float32)
    if n_vocab <= FULL_ROW_LIMIT:
        return {"full": [float(x) for x in row]}
    top = np.argsort(-row, kind="stable")[:TOP]
    fixed = [i for i in FIXED_IDS if i < n_vocab]
    return {"top_ids": [int(i) for i in top], "top_logits": [float(row[i]) for i in top],
            "fixed_ids": fixed, "fixed_logits": [float(row[i]) for i in fixed]}


def greedy_after(llm, toks, n, margins=None):
    llm.reset()
    llm.eval(toks)
    out = []
    for _ in range(n):
        row = np.array(llm.scores[llm.n_tokens - 1])
        nxt = int(np.argmax(row))
        if margins is not None:
            top2 = np.partition(row, -2)[-2:]
            margins.append(float(top2[1] - top2[0]))
        out.append(nxt)
        if nxt == llm.token_eos():
            break
        llm.eval([nxt])
    return out


def record_model(name, spec):
    path = spec["path"]
    if spec.get("synthetic") == "tiny-qwen2":
        tiny_models.write_tiny_qwen2(path, os.path.join(SHARED, "vocab", "ggml-vocab-qwen2.gguf"))
    if not os.path.exists(path):
        print(f"skip {name}: {path} not found", file=sys.stderr)
        return
    llm = Llama(model_path=path, n_ctx=512, n_batch=512, logits_all=True, verbose=False, seed=0)
    llm_tw = Llama(model_path=path, n_ctx=512, n_batch=1, n_ubatch=1, logits_all=True, verbose=False, seed=0)
    n_vocab = llm.n_vocab()
    out = {"model": name, "file": os.path.basename(path), "sha256": sha256(path), "synthetic": spec.get("synthetic"),
           "engine": f"llama-cpp-python {llama_cpp_version}", "n_ctx": 512, "prompts": []}
    for key in spec["prompts"]:
        text = PROMPTS[key]
        toks = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        llm.reset()
        llm.eval(toks)
        scores = np.array(llm.scores[: len(toks)])
        positions = sorted(set([0, len(toks) // 2, len(toks) - 1]))
        margins = []
        greedy = greedy_after(llm, toks, spec["greedy"], margins)
        greedy_tw = greedy_after(llm_tw, toks, spec["greedy"])
        text_out = llm.detokenize(greedy).decode("utf-8", errors="replace")
        out["prompts"].append({
            "name": key, "text": text, "tokens": toks,
            "logits": [{"pos": p, **logit_record(scores[p], n_vocab)} for p in positions],
            "greedy": greedy, "greedy_text": text_out, "greedy_margins": margins,
            "greedy_tokenwise": greedy_tw,
            "greedy_tokenwise_text": llm.detokenize(greedy_tw).decode("utf-8", errors="replace"),
        })
        print(f"{name}/{key}: {len(toks)} tokens, greedy {text_out[:60]!r}", file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    args = ap.parse_args()
    for name, spec in MODELS.items():
        if args.only and args.only != name:
            continue
        record_model(name, spec)


if __name__ == "__main__":
    main()
