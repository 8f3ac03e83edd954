#!/usr/bin/env python3
"""`corvid perplexity` next to llama.cpp's perplexity of the same model, text and context.

    python scripts/perplexity_vs_llamacpp.py MODEL.gguf TEXT [-c 512] [-b 512] [--chunks N]
        [-t THREADS] [--corvid build/tools/corvid]

llama.cpp's side runs through llama-cpp-python's low-level API (venv /work/venv-ref/v) with
llama-perplexity's method: the whole text tokenized once (add_special, no special parsing),
chunks of n_ctx tokens, each from an empty KV cache with its first token replaced by BOS when
the model adds one, logits only for positions n_ctx/2 .. n_ctx-2, each scored by
-log softmax(next token) (max in float, expf terms summed in double, as llama-perplexity does),
and the final standard error PPL * sqrt((E[nll^2] - E[nll]^2) / (N - 1)).

Prints both running lines, both final estimates, and the relative difference (target: < 0.1%).
"""
import argparse
import ctypes
import math
import re
import subprocess
import sys
import time

import numpy as np
import llama_cpp as L


_QUIET = L.llama_log_callback(lambda level, text, user_data: None)  # kept alive: llama.cpp holds it


def llama_perplexity(model_path, text, n_ctx, n_batch, n_chunks, threads):
    L.llama_backend_init()
    L.llama_log_set(_QUIET, ctypes.c_void_p(0))
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(model_path.encode(), mp)
    if not model:
        sys.exit(f"llama.cpp cannot load {model_path}")
    cp = L.llama_context_default_params()
    cp.n_ctx = n_ctx
    cp.n_batch = min(n_batch, n_ctx)
    cp.n_ubatch = min(n_batch, n_ctx)
    cp.n_seq_max = 1
    if threads > 0:
        cp.n_threads = threads
        cp.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, cp)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    add_bos = L.llama_vocab_get_add_bos(vocab)
    bos = L.llama_vocab_bos(vocab)

    data = text.encode("utf-8")
    cap = len(data) + 16
    buf = (L.llama_token * cap)()
    n = L.llama_tokenize(vocab, data, len(data), buf, cap, True, False)
    if n < 0:
        sys.exit("llama.cpp tokenization failed")
    tokens = list(buf[:n])
    if len(tokens) < 2 * n_ctx:
        sys.exit(f"llama.cpp: the text tokenizes to only {len(tokens)} tokens; need {2 * n_ctx}")
    n_max = len(tokens) // n_ctx
    n_chunk = n_max if n_chunks < 0 else min(n_chunks, n_max)
    nb = min(n_batch, n_ctx)
    first = n_ctx // 2
    batch = L.llama_batch_init(nb, 0, 1)
    mem = L.llama_get_memory(ctx)
    nll = nll2 = 0.0
    count = 0
    line = []
    for c in range(n_chunk):
        start = c * n_ctx
        L.llama_memory_clear(mem, True)
        for j in range(0, n_ctx, nb):
            m = min(nb, n_ctx - j)
            batch.n_tokens = m
            wanted = []
            for k in range(m):
                t = tokens[start + j + k]
                if j + k == 0 and add_bos:
                    t = bos
                batch.token[k] = t
                batch.pos[k] = j + k
                batch.n_seq_id[k] = 1
                batch.seq_id[k][0] = 0
                w = first <= j + k < n_ctx - 1
                batch.logits[k] = 1 if w else 0
                if w:
                    wanted.append(k)
            if not wanted:
                batch.logits[m - 1] = 1
            if L.llama_decode(ctx, batch) != 0:
                sys.exit("llama_decode failed")
            for k in wanted:
                ptr = L.llama_get_logits_ith(ctx, k)
                row = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float32)
                mx = row.max()
                s = np.exp(row - mx, dtype=np.float32).astype(np.float64).sum()
                target = tokens[start + j + k + 1]
                v = -(float(row[target] - mx) - math.log(s))
                nll += v
                nll2 += v * v
                count += 1
        line.append(f"[{c + 1}]{math.exp(nll / count):.4f},")
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)
    mean = nll / count
    var = nll2 / count - mean * mean
    ppl = math.exp(mean)
    err = ppl * math.sqrt(var / (count - 1)) if var > 0 else float("nan")
    return "".join(line), ppl, err, len(tokens), n_chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("text")
    ap.add_argument("-c", type=int, default=512)
    ap.add_argument("-b", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=-1)
    ap.add_argument("-t", type=int, default=0)
    ap.add_argument("--corvid", default="build/tools/corvid")
    a = ap.parse_args()
    with open(a.text, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")

    t0 = time.time()
    cmd = [a.corvid, "perplexity", "-m", a.model, "-f", a.text, "-c", str(a.c), "-b", str(a.b),
           "--chunks", str(a.chunks), "-t", str(a.t)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    t_corvid = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"corvid perplexity failed ({r.returncode}):\n{r.stderr}")
    m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", r.stdout)
    if not m:
        sys.exit(f"no final estimate in corvid's output:\n{r.stdout}")
    c_ppl, c_err = float(m.group(1)), float(m.group(2))
    c_line = r.stdout.strip().splitlines()[0]

    t0 = time.time()
    l_line, l_ppl, l_err, n_tok, n_chunk = llama_perplexity(a.model, text, a.c, a.b, a.chunks, a.t)
    t_llama = time.time() - t0

    print(f"model {a.model}, text {a.text} ({n_tok} tokens), -c {a.c}, {n_chunk} chunks")
    def short(s):
        return s if len(s) < 400 else s[:200] + " ... " + s[-180:]
    print(f"corvid   : {short(c_line)}")
    print(f"llama.cpp: {short(l_line)}")
    print(f"corvid    Final estimate: PPL = {c_ppl:.4f} +/- {c_err:.5f}   ({t_corvid:.1f} s)")
    print(f"llama.cpp Final estimate: PPL = {l_ppl:.4f} +/- {l_err:.5f}   ({t_llama:.1f} s)")
    rel = abs(c_ppl - l_ppl) / l_ppl
    print(f"relative difference: {100 * rel:.4f}% ({'within' if rel < 1e-3 else 'OUTSIDE'} 0.1%)")
    return 0 if rel < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
