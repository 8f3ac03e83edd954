#!/usr/bin/env python3
"""llama.cpp's grammar sampler on the same grammars, vocabulary and tokens as corvid-grammar-bench.

  build/tests/corvid-grammar-bench VOCAB.gguf /tmp/gdump      # writes *.gbnf, *.tokens
  .venv-ref/bin/python scripts/grammar_bench_llamacpp.py VOCAB.gguf /tmp/gdump   # a venv with llama-cpp-python (see make_reference_outputs.py)

For each grammar: the time of llama_sampler_init_grammar (compile), then per token the time
of llama_sampler_apply over all n_vocab candidates (the full mask, as llama.cpp computes it
when the lazy check fails) and of llama_sampler_accept. Prints median / p99 like the bench.
"""
import ctypes
import pathlib
import sys
import time

import llama_cpp as L
import numpy as np

BUDGET_S = 120  # per grammar: llama.cpp can take seconds per token on the pathological one


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else 0.0


@L.llama_log_callback
def _quiet(level, text, user_data):  # keeps llama.cpp's loading chatter out of the table
    pass


def main():
    vocab_path, dump = sys.argv[1], pathlib.Path(sys.argv[2])
    L.llama_backend_init()
    L.llama_log_set(_quiet, ctypes.c_void_p(0))
    mp = L.llama_model_default_params()
    mp.vocab_only = True
    model = L.llama_model_load_from_file(vocab_path.encode(), mp)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    # A template candidate array (id = i, logit 0), copied in before each apply.
    template = np.zeros(n_vocab, dtype=[("id", np.int32), ("logit", np.float32), ("p", np.float32)])
    template["id"] = np.arange(n_vocab, dtype=np.int32)
    data = (L.llama_token_data * n_vocab)()
    print(f"llama.cpp {L.__version__}, vocabulary {vocab_path}: {n_vocab} tokens")
    print(f"{'grammar':13s} {'tokens':>6s} {'compile':>9s} {'mask med':>10s} {'mask p99':>10s} {'mask max':>10s} {'accept med':>10s}")
    for name in ("json", "large-schema", "pathological"):
        gbnf = (dump / f"{name}.gbnf").read_text()
        toks = [int(x) for x in (dump / f"{name}.tokens").read_text().split()]
        t0 = time.perf_counter()
        smpl = L.llama_sampler_init_grammar(vocab, gbnf.encode(), b"root")
        compile_ms = (time.perf_counter() - t0) * 1e3
        if not smpl:
            print(f"{name:13s} llama.cpp refused the grammar")
            continue
        mask_us, accept_us = [], []
        started = time.perf_counter()
        for t in toks:
            if time.perf_counter() - started > BUDGET_S:
                print(f"{name}: stopped after {BUDGET_S} s ({len(mask_us)} of {len(toks)} tokens)")
                break
            ctypes.memmove(data, template.ctypes.data, template.nbytes)
            arr = L.llama_token_data_array(data, n_vocab, -1, False)
            t0 = time.perf_counter()
            L.llama_sampler_apply(smpl, ctypes.byref(arr))
            mask_us.append((time.perf_counter() - t0) * 1e6)
            if data[t].logit == float("-inf"):
                print(f"{name}: llama.cpp refuses token {t}")
                break
            t0 = time.perf_counter()
            L.llama_sampler_accept(smpl, t)
            accept_us.append((time.perf_counter() - t0) * 1e6)
        print(f"{name:13s} {len(toks):6d} {compile_ms:7.1f}ms {pct(mask_us, .5):8.0f}us {pct(mask_us, .99):8.0f}us "
              f"{pct(mask_us, 1.0):8.0f}us {pct(accept_us, .5):8.1f}us", flush=True)
        L.llama_sampler_free(smpl)
    L.llama_model_free(model)


if __name__ == "__main__":
    main()
