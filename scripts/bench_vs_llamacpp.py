#!/usr/bin/env python3
"""Side-by-side speed of Corvid and llama.cpp on the same GGUF files.

For each model, alternates the two engines repetition by repetition (Corvid, llama.cpp,
Corvid, ...) so that a change in machine load hits both alike:

  * Corvid: `corvid bench -m MODEL -p P -n N -t T -r 1 -o json --no-bw` per repetition (the
    model is mapped anew each time; bench runs its own uncounted warm-up);
  * llama.cpp: llama-cpp-python's low-level API in this process: one context per model
    (n_threads = n_threads_batch = T, flash attention off, F16 KV cache), one uncounted
    warm-up; pp = one llama_decode of P random tokens on an empty cache, tg = N single-token
    llama_decode calls on an empty cache (what llama-bench's pp and tg tests do); with -d D the
    cache first holds D random tokens (untimed), as llama-bench -d.

Prints tokens/s (mean +- sample standard deviation over the repetitions) of both and the
ratio Corvid / llama.cpp for pp and tg, with the load average before and after.

  scripts/bench_vs_llamacpp.py -m 1b-q4_0.gguf -m 1b-f16.gguf -p 128 -n 32 -t 2 -r 5
  scripts/bench_vs_llamacpp.py -m 1b-q4_0.gguf -p 0 -n 128 -d 4096 -r 2    # tg after a long prompt

Needs llama-cpp-python (e.g. the venv at ../venv-ref/v; measured with 0.3.36, built by clang-14
with CMAKE_ARGS="-DGGML_NATIVE=ON") and a built `corvid`.
"""
import argparse
import ctypes
import json
import os
import random
import statistics
import subprocess
import sys
import time


def find_corvid():
    here = os.path.dirname(os.path.abspath(__file__))
    for build in ("build-bench", "build"):
        p = os.path.join(here, "..", build, "tools", "corvid")
        if os.path.exists(p):
            return os.path.normpath(p)
    return "corvid"


def corvid_rep(corvid, model, p, n, t, d=0):
    """One repetition of pp and tg through `corvid bench`; returns {'pp': t/s, 'tg': t/s, ...}."""
    cmd = [corvid, "bench", "-m", model, "-p", str(p), "-n", str(n), "-t", str(t), "-d", str(d), "-r", "1", "-o", "json",
           "--no-bw"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = {}
    for row in json.loads(out):
        key = "pp" if row["n_prompt"] > 0 else "tg"
        res[key] = row["samples_ts"][0]
        res["model_type"] = row["model_type"]
        res["model_size"] = row["model_size"]
    return res


class LlamaCpp:
    """A llama.cpp model and context driven through llama-cpp-python's C bindings."""

    def __init__(self, path, p, n, t, d=0):
        import llama_cpp as L
        self.L = L
        mp = L.llama_model_default_params()
        self.model = L.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError(f"llama.cpp cannot load {path}")
        cp = L.llama_context_default_params()
        cp.n_ctx = d + p + n + 16
        cp.n_batch = max(p, d, 1)
        cp.n_ubatch = min(max(p, d, 1), 512)
        cp.n_threads = t
        cp.n_threads_batch = t
        if hasattr(L, "LLAMA_FLASH_ATTN_TYPE_DISABLED"):  # llama-cpp-python >= 0.3.17 or so
            cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
        else:  # older releases: a boolean
            cp.flash_attn = False
        cp.no_perf = True
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp cannot create a context for {path}")
        self.n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(self.model))
        self.mem = L.llama_get_memory(self.ctx)
        buf = ctypes.create_string_buffer(256)
        L.llama_model_desc(self.model, buf, 256)
        self.desc = buf.value.decode()
        self.p, self.n, self.d = p, n, d
        if p:
            self.pp()  # warm-up, not counted
        self.tg(1)

    def _decode(self, toks):
        L = self.L
        arr = (L.llama_token * len(toks))(*toks)
        if L.llama_decode(self.ctx, L.llama_batch_get_one(arr, len(toks))) != 0:
            raise RuntimeError("llama_decode failed")

    def _fill(self):
        """An empty cache, then `depth` random tokens decoded (not timed)."""
        self.L.llama_memory_clear(self.mem, True)
        if self.d:
            self._decode([random.randrange(self.n_vocab) for _ in range(self.d)])
            self.L.llama_synchronize(self.ctx)

    def pp(self):
        self._fill()
        toks = [random.randrange(self.n_vocab) for _ in range(self.p)]
        t0 = time.perf_counter()
        self._decode(toks)
        self.L.llama_synchronize(self.ctx)
        return self.p / (time.perf_counter() - t0)

    def tg(self, n=None):
        n = self.n if n is None else n
        self._fill()
        toks = [random.randrange(self.n_vocab) for _ in range(n)]
        t0 = time.perf_counter()
        for tok in toks:
            self._decode([tok])
        self.L.llama_synchronize(self.ctx)
        return n / (time.perf_counter() - t0)

    def close(self):
        self.L.llama_free(self.ctx)
        self.L.llama_model_free(self.model)


_quiet_log = None


def stats(v):
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", action="append", required=True, help="GGUF file (repeatable)")
    ap.add_argument("-p", "--n-prompt", type=int, default=128)
    ap.add_argument("-n", "--n-gen", type=int, default=32)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-d", "--depth", type=int, default=0, help="tokens in the cache before each test (llama-bench -d)")
    ap.add_argument("-r", "--repetitions", type=int, default=5)
    ap.add_argument("--corvid", default=find_corvid(), help="the corvid program (default: build-bench or build)")
    ap.add_argument("--json", help="also write the raw samples here")
    a = ap.parse_args()

    import llama_cpp
    global _quiet_log  # the callback must outlive every llama.cpp call
    _quiet_log = llama_cpp.llama_log_callback(lambda *args: None)
    llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    random.seed(1)

    load0 = os.getloadavg()
    rows, raw = [], []
    for model in a.model:
        print(f"{os.path.basename(model)}: ", end="", file=sys.stderr, flush=True)
        ll = LlamaCpp(model, a.n_prompt, a.n_gen, a.threads, a.depth)
        s = {"corvid_pp": [], "corvid_tg": [], "llama_pp": [], "llama_tg": []}
        ctype = ""
        for rep in range(a.repetitions):
            c = corvid_rep(a.corvid, model, a.n_prompt, a.n_gen, a.threads, a.depth)
            ctype = c["model_type"]
            if a.n_prompt:
                s["corvid_pp"].append(c["pp"])
                s["llama_pp"].append(ll.pp())
            if a.n_gen:
                s["corvid_tg"].append(c["tg"])
                s["llama_tg"].append(ll.tg())
            # llama.cpp's worker threads spin for a while after their last graph: let them
            # go idle before the next Corvid run, or they take its cores.
            time.sleep(1.0)
            print(".", end="", file=sys.stderr, flush=True)
        print(f" {ll.desc}", file=sys.stderr)
        ll.close()
        raw.append({"model": model, "llama_desc": ll.desc, "corvid_type": ctype, **s})
        for test, n in (("pp", a.n_prompt), ("tg", a.n_gen)):
            if not n:
                continue
            cm, cs = stats(s[f"corvid_{test}"])
            lm, ls = stats(s[f"llama_{test}"])
            name = f"{test}{n}" + (f" @ d{a.depth}" if a.depth else "")
            rows.append((os.path.basename(model), ll.desc, name, cm, cs, lm, ls, cm / lm))
    load1 = os.getloadavg()

    print(f"\nthreads {a.threads}, {a.repetitions} repetitions alternating; load average "
          f"{load0[0]:.2f} before, {load1[0]:.2f} after ({os.cpu_count()} logical CPUs)\n")
    head = ("model", "llama.cpp says", "test", "Corvid t/s", "llama.cpp t/s", "Corvid/llama.cpp")
    cells = [(r[0], r[1], r[2], f"{r[3]:.2f} ± {r[4]:.2f}", f"{r[5]:.2f} ± {r[6]:.2f}", f"{r[7]:.2f}") for r in rows]
    w = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(head)) + " |")
    print("|" + "|".join("-" * (w[i] + 1) + (":" if i >= 3 else "-") for i in range(len(head))) + "|")
    for c in cells:
        print("| " + " | ".join(x.ljust(w[i]) if i < 3 else x.rjust(w[i]) for i, x in enumerate(c)) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "n_prompt": a.n_prompt, "n_gen": a.n_gen, "load_before": load0,
                       "load_after": load1, "models": raw}, f, indent=2)


if __name__ == "__main__":
    main()
