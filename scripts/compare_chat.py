#!/usr/bin/env python3
"""A scripted multi-turn conversation through `corvid chat` (piped stdin, temperature 0)
next to llama.cpp (llama-cpp-python) given the same rendered prompt at every turn.

    python scripts/compare_chat.py MODEL.gguf [-n 40] [--corvid build/tools/corvid]

The prompt for llama.cpp is rendered by `corvid template` (whose renderings are tested
against jinja2) from the conversation so far, evaluated from scratch each turn, and the
reply generated greedily until an end-of-generation token or -n tokens. Prints both
transcripts and whether every reply is identical.
"""
import argparse
import json
import subprocess
import sys
import tempfile

import numpy as np
from llama_cpp import Llama

TURNS = ["Hi! What is your name?", "What is the capital of France?", "Write one sentence about cats.",
         "Thank you!"]


def render(corvid, model, messages):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(messages, f)
    return subprocess.run([corvid, "template", "-m", model, "--messages", f.name, "--add-generation-prompt"],
                          capture_output=True, check=True).stdout.decode("utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--corvid", default="build/tools/corvid")
    a = ap.parse_args()

    ours = subprocess.run([a.corvid, "chat", "-m", a.model, "--temp", "0", "-n", str(a.n), "-c", "2048"],
                          input="\n".join(TURNS).encode() + b"\n", capture_output=True, check=True).stdout.decode("utf-8")

    llm = Llama(model_path=a.model, n_ctx=2048, verbose=False, logits_all=True)
    eog = {llm.token_eos()} | {t for t in range(llm.n_vocab()) if llm.detokenize([t]) in (b"<end_of_turn>", b"<|im_end|>", b"<|eot_id|>")}
    messages, expected = [], ""
    for turn in TURNS:
        messages.append({"role": "user", "content": turn})
        prompt = render(a.corvid, a.model, messages)
        toks = llm.tokenize(prompt.encode(), add_bos=not prompt.startswith("<bos>"), special=True)
        llm.reset()
        llm.eval(toks)
        out = []
        for _ in range(a.n):
            t = int(np.argmax(np.array(llm.scores[llm.n_tokens - 1])))
            if t in eog:
                break
            out.append(t)
            llm.eval([t])
        reply = llm.detokenize(out).decode("utf-8", errors="replace")
        messages.append({"role": "assistant", "content": reply})
        expected += reply + "\n"
    same = ours == expected
    print("corvid chat:\n" + ours + "\nllama.cpp:\n" + expected)
    print("IDENTICAL" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
