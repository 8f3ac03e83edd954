#!/usr/bin/env python3
"""Reference vectors for Corvid's tokenizers, made with llama.cpp (through llama-cpp-python).

For each vocabulary (the Gemma 3 model under models/, the shared test vocabularies and the
shared real models) and a varied prompt set (English, code, Unicode scripts, whitespace runs,
digits, emoji, special-token strings), records:
  - the token ids for every combination of add_special / parse_special,
  - llama_detokenize(remove_special=False, unparse_special=0/1) of the ids with both on,
  - bos / eos / eot ids, add_bos / add_eos, and the end-of-generation token set.
Written to tests/data/vocab/<name>.vectors; the C++ tests compare against them without Python.

Usage: /work/venv-ref/v/bin/python scripts/make_vocab_vectors.py [--shared ../shared] [--out tests/data/vocab]
(needs llama-cpp-python 0.3.36; the vectors were made with it).
"""
import argparse
import ctypes
import os
import sys

import llama_cpp
from llama_cpp import Llama

PROMPTS = [
    b"",
    b"Hello world",
    b" Hello world",
    b"Once upon a time, there was a little girl named Lily.",
    b"The quick brown fox jumps over the lazy dog. It's 12:30pm; isn't it? I'll say 'no' -- we'd've gone.",
    b"def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    b"#include <stdio.h>\nint main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    b"<html><body><div class=\"x\">a &amp; b</div></body></html>",
    "Привет, мир! Καλημέρα κόσμε. こんにちは世界。你好，世界！안녕하세요".encode(),
    "مرحبا بالعالم — नमस्ते दुनिया — ស្វាគមន៍ — שלום עולם".encode(),
    "Emoji: 🦙🚀 👨‍👩‍👧‍👦 ❤️ 🇫🇷 👍🏽 ✅ (ok)".encode(),
    b"   leading and trailing spaces   ",
    b"tabs\t\tand\n\n\nnewlines\r\n  mixed \t \n end",
    b"                                        forty spaces then text",
    b"\n\n\n\n\n\n\n\n\n\n\n\n",
    b"1234567890 3.14159 1,000,000 0x1F 2024-01-01 007 99999999999999",
    b"<s>Hello</s> <|endoftext|> <|im_start|>user\nhi<|im_end|>",
    b"<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    b"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    b"<unk> <pad> <mask> [multimodal] <0x41> <unused0>",
    b"CamelCaseWords and snake_case_words and SCREAMING_CASE",
    b"!!!???...,,,;;;::: ''' \"\"\" ``` ~~~ ---",
    "naïve café résumé Ångström façade Œuvre ß ﬁ".encode(),
    b"a" * 50 + b" " + b"ab" * 20,
    "▁already▁has▁the▁marker ▁ ▁▁".encode(),
    b"not UTF-8: \xff\xfe \xc3 \xc0\x80 \xed\xa0\x80 \xf8\x88\x80\x80\x80 end \xf0\x9f",
]

VOCABS = [
    ("gemma3", "models/gemma-3-270m-q4_k_m.gguf"),
    ("stories260K", "{shared}/models/stories260K.gguf"),
    ("llama-2-tiny-random", "{shared}/models/llama-2-tiny-random.gguf"),
] + [(n, "{shared}/vocab/ggml-vocab-%s.gguf" % n) for n in
     ["llama-spm", "phi-3", "llama-bpe", "qwen2", "gpt-2", "starcoder", "falcon", "deepseek-llm", "deepseek-coder"]]


def detokenize(vocab, ids, unparse):
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 1 << 16
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, size, False, unparse)
    assert 0 <= n <= size, n
    return buf.raw[:n]


def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--shared", default=os.path.join(root, "..", "shared"))
    ap.add_argument("--out", default=os.path.join(root, "tests", "data", "vocab"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, pattern in VOCABS:
        path = pattern.format(shared=args.shared)
        if not os.path.isabs(path):
            path = os.path.join(root, path)
        if not os.path.exists(path):
            print("skip %s: %s not found" % (name, path), file=sys.stderr)
            continue
        m = Llama(model_path=path, vocab_only=True, verbose=False)
        v = m._model.vocab
        n = llama_cpp.llama_vocab_n_tokens(v)
        lines = ["# %s: llama.cpp tokenizer vectors (llama-cpp-python %s); made by scripts/make_vocab_vectors.py"
                 % (os.path.basename(path), llama_cpp.__version__),
                 "meta n_tokens %d bos %d eos %d eot %d add_bos %d add_eos %d" % (
                     n, llama_cpp.llama_vocab_bos(v), llama_cpp.llama_vocab_eos(v), llama_cpp.llama_vocab_eot(v),
                     int(llama_cpp.llama_vocab_get_add_bos(v)), int(llama_cpp.llama_vocab_get_add_eos(v))),
                 "eog " + " ".join(str(i) for i in range(n) if llama_cpp.llama_vocab_is_eog(v, i))]
        for p in PROMPTS:
            lines.append("text " + p.hex())
            for add_special in (0, 1):
                for parse_special in (0, 1):
                    ids = m.tokenize(p, add_bos=bool(add_special), special=bool(parse_special))
                    lines.append("ids %d %d : %s" % (add_special, parse_special, " ".join(map(str, ids))))
            ids = m.tokenize(p, add_bos=True, special=True)
            for unparse in (0, 1):
                lines.append("detok %d : %s" % (unparse, detokenize(v, ids, bool(unparse)).hex()))
        out = os.path.join(args.out, name + ".vectors")
        with open(out, "w") as f:
            f.write("\n".join(lines) + "\n")
        print("wrote", out, file=sys.stderr)
        del m


if __name__ == "__main__":
    main()
