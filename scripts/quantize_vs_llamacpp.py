#!/usr/bin/env python3
"""`corvid quantize` next to llama.cpp's quantizer (llama-cpp-python's llama_model_quantize)
on the same inputs: are the output files byte-identical, and if not, which tensors differ
(type or bytes)? Optionally loads every output in llama.cpp and generates a few tokens.

    python scripts/quantize_vs_llamacpp.py [--build build] [--types Q4_0,Q4_K_M] [--model X.gguf ...]
        [--generate] [--write-json tests/data/quantize/llamacpp.json]

Inputs: the test fixtures (tests/quantize/quant_fixture.h; the test binary writes them when
CORVID_QUANT_EXPORT_DIR is set) plus any --model files. --write-json records, for each
fixture and type, llama.cpp's output size, fingerprint and per-tensor types; the doctest
suite compares Corvid's output against that record without Python.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import llama_cpp
from gguf import GGUFReader

TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M",
         "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "F16", "BF16", "F32"]
FTYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
         "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18,
         "IQ4_NL": 25, "IQ4_XS": 30, "BF16": 32}


def file_hash(path):
    """tests/quantize/quant_fixture.h's file_hash(): sum (b_i + 1) * P^(i+1) mod 2^64."""
    b = np.fromfile(path, dtype=np.uint8).astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        pw = np.cumprod(np.full(b.size, 0x100000001B3, dtype=np.uint64), dtype=np.uint64)
        return int(np.sum(b * pw, dtype=np.uint64))


def tensor_types(path):
    return {t.name: t.tensor_type.name.lower().replace("_k", "_K") for t in GGUFReader(path).tensors}


def llama_quantize(inp, out, ftype, threads):
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = FTYPE[ftype]
    p.nthread = threads
    rc = llama_cpp.llama_model_quantize(inp.encode(), out.encode(), ctypes.byref(p))
    if rc != 0:
        raise RuntimeError(f"llama.cpp failed to quantize {inp} to {ftype}")


def explain_difference(ours, ref):
    ra, rb = GGUFReader(ours), GGUFReader(ref)
    lines = []
    ka, kb = list(ra.fields), list(rb.fields)
    if ka != kb:
        lines.append(f"    metadata keys differ: ours {ka[-4:]} vs llama.cpp {kb[-4:]}")
    ta = {t.name: t for t in ra.tensors}
    na, nb = [t.name for t in ra.tensors], [t.name for t in rb.tensors]
    if na != nb:
        lines.append("    tensor order differs")
    for t in rb.tensors:
        a = ta.get(t.name)
        if a is None:
            lines.append(f"    {t.name}: missing in ours")
        elif a.tensor_type != t.tensor_type:
            lines.append(f"    {t.name}: type {a.tensor_type.name} vs llama.cpp {t.tensor_type.name}")
        elif bytes(a.data.tobytes()) != bytes(t.data.tobytes()):
            lines.append(f"    {t.name}: same type {t.tensor_type.name}, different bytes")
    return lines or ["    (header/padding bytes differ)"]


def generate(path, n=8):
    llm = llama_cpp.Llama(model_path=path, n_ctx=64, verbose=False, seed=1)
    out = llm.create_completion("the", max_tokens=n, temperature=0.0)
    return out["choices"][0]["text"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="CMake build folder (tools/corvid, tests/corvid-tests)")
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--model", action="append", default=[], help="more inputs to compare on (not recorded)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--generate", action="store_true", help="load each output in llama.cpp and generate")
    ap.add_argument("--write-json", help="record llama.cpp's outputs of the fixtures here")
    ap.add_argument("--work", help="folder for the files (default: a temporary one)")
    ap.add_argument("--skip-fixtures", action="store_true", help="compare on the --model files only")
    args = ap.parse_args()

    corvid = os.path.join(args.build, "tools", "corvid")
    tests = os.path.join(args.build, "tests", "corvid-tests")
    work = args.work or tempfile.mkdtemp(prefix="quant-cmp-")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, CORVID_QUANT_EXPORT_DIR=work)
    subprocess.run([tests, "--test-case=quantize: export fixtures"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    fixtures = {"mix": os.path.join(work, "mix.gguf"), "fallback": os.path.join(work, "fallback.gguf")}
    inputs = {} if args.skip_fixtures else dict(fixtures)
    for m in args.model:
        inputs[os.path.basename(m)] = m

    record = {}
    failures = 0
    for label, inp in inputs.items():
        print(f"== {label} ({inp})")
        for ty in args.types.split(","):
            ref = os.path.join(work, f"{label}-{ty}.llama.gguf")
            ours = os.path.join(work, f"{label}-{ty}.corvid.gguf")
            llama_quantize(inp, ref, ty, args.threads)
            r = subprocess.run([corvid, "quantize", "-q", "-t", str(args.threads), inp, ours, ty],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"  {ty:7s} corvid failed: {r.stderr.strip()}")
                failures += 1
                continue
            same = open(ours, "rb").read() == open(ref, "rb").read()
            line = f"  {ty:7s} {'byte-identical' if same else 'DIFFERENT'} ({os.path.getsize(ref)} bytes)"
            if args.generate:
                try:
                    line += f"; llama.cpp generates {generate(ours)!r}"
                except Exception as e:  # noqa: BLE001 - report and go on
                    line += f"; llama.cpp FAILED to run it: {e}"
                    failures += 1
            print(line)
            if not same:
                failures += 1
                print("\n".join(explain_difference(ours, ref)))
            if label in fixtures:
                record.setdefault(label, {})[ty] = {
                    "size": os.path.getsize(ref),
                    "hash": f"{file_hash(ref):016x}",
                    "types": tensor_types(ref),
                }
    if args.write_json and not args.skip_fixtures:
        os.makedirs(os.path.dirname(args.write_json), exist_ok=True)
        with open(args.write_json, "w") as f:
            json.dump({"generator": f"scripts/quantize_vs_llamacpp.py, llama-cpp-python {llama_cpp.__version__}",
                       "fixtures": record}, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {args.write_json}")
    print("all identical" if failures == 0 else f"{failures} difference(s)/failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
