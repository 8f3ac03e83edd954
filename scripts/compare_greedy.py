#!/usr/bin/env python3
"""Greedy text from `corvid run --temp 0` next to llama.cpp's (llama-cpp-python), for
prompts given on the command line or a built-in set that is not in the test data.

    python scripts/compare_greedy.py MODEL.gguf [-n 32] [--corvid build/tools/corvid] [PROMPT ...]

For each prompt it prints whether the texts are identical and, if not, where they
part. llama.cpp is run both ways it can evaluate a prompt (one batch, and one token at
a time), because on quantized models those two paths can disagree with each other.
"""
import argparse
import subprocess
import sys

import numpy as np
from llama_cpp import Llama

PROMPTS = [
    "The old lighthouse keeper looked out at the sea and",
    "Here is a Python function that reverses a string:\n",
    "Q: What is the capital of France?\nA:",
    "Tom had three apples. He gave one to Sara, and",
]


def llama_greedy(llm, toks, n):
    llm.reset()
    llm.eval(toks)
    out = []
    for _ in range(n):
        t = int(np.argmax(np.array(llm.scores[llm.n_tokens - 1])))
        if t == llm.token_eos():
            break
        out.append(t)
        llm.eval([t])
    return llm.detokenize(out).decode("utf-8", errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("prompts", nargs="*")
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--corvid", default="build/tools/corvid")
    a = ap.parse_args()
    batch = Llama(model_path=a.model, n_ctx=512, n_batch=512, verbose=False, logits_all=True)
    tokwise = Llama(model_path=a.model, n_ctx=512, n_batch=1, n_ubatch=1, verbose=False, logits_all=True)
    same = 0
    prompts = a.prompts or PROMPTS
    for p in prompts:
        toks = batch.tokenize(p.encode(), add_bos=True, special=True)
        ref_b = llama_greedy(batch, toks, a.n)
        ref_t = llama_greedy(tokwise, toks, a.n)
        ours = subprocess.run([a.corvid, "run", "-m", a.model, "-p", p, "-n", str(a.n), "--temp", "0", "-c", "512"],
                              capture_output=True, check=True).stdout.decode("utf-8", errors="replace")
        ours = ours[len(p):]
        ours = ours[:-1] if ours.endswith("\n") else ours  # the newline corvid run ends with
        ok_b, ok_t = ours == ref_b, ours == ref_t
        same += ok_b or ok_t
        print(f"{'SAME' if ok_b or ok_t else 'DIFF'} (batch {'=' if ok_b else '!'}, token-by-token {'=' if ok_t else '!'}) {p!r}")
        if not (ok_b or ok_t):
            k = next((i for i, (x, y) in enumerate(zip(ours, ref_b)) if x != y), min(len(ours), len(ref_b)))
            print(f"   ours:     {ours!r}\n   llama.cpp {ref_b!r}\n   part at char {k}")
    print(f"{same}/{len(prompts)} identical to one of llama.cpp's paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
