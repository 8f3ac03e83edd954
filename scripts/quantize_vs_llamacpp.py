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
import struct
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


def load_imatrix(path):
    """An imatrix file read the way llama-quantize reads it: (values per weight as float32,
    datasets, chunk count). GGUF: in_sum2 / round(count) per matrix (1 where the count
    rounds to 0); legacy .dat: values / ncall (as is when ncall <= 0)."""
    with open(path, "rb") as f:
        magic = f.read(4)
    values, datasets, chunks = {}, [], 0
    if magic == b"GGUF":
        r = GGUFReader(path)
        ds = r.fields["imatrix.datasets"]
        datasets = [bytes(ds.parts[i]).decode() for i in ds.data]
        chunks = int(r.fields["imatrix.chunk_count"].parts[-1][0])
        ts = {t.name: t for t in r.tensors}
        for name, t in ts.items():
            if not name.endswith(".in_sum2"):
                continue
            w = name[: -len(".in_sum2")]
            sums = np.array(t.data, dtype=np.float32).reshape(-1)
            counts = np.array(ts[w + ".counts"].data, dtype=np.float32).reshape(-1)
            row = sums.size // counts.size
            v = sums.reshape(counts.size, row).copy()
            for j, c in enumerate(counts):
                n = int(np.floor(float(c) + 0.5))  # lround for c >= 0
                v[j] = v[j] / np.float32(n) if n > 0 else np.float32(1.0)
            values[w] = v.reshape(-1).astype(np.float32)
    else:
        b = open(path, "rb").read()
        (n,), at = struct.unpack_from("<i", b, 0), 4
        for _ in range(n):
            (ln,) = struct.unpack_from("<i", b, at); at += 4
            name = b[at:at + ln].decode(); at += ln
            ncall, nval = struct.unpack_from("<ii", b, at); at += 8
            v = np.frombuffer(b, dtype="<f4", count=nval, offset=at).astype(np.float32); at += 4 * nval
            values[name] = v / np.float32(ncall) if ncall > 0 else v
        if at < len(b):
            chunks, ln = struct.unpack_from("<ii", b, at); at += 8
            if ln > 0:
                datasets = [b[at:at + ln].decode()]
    return values, datasets, chunks


def llama_quantize(inp, out, ftype, threads, imatrix=None, imatrix_label=None):
    """llama.cpp's quantizer; with an imatrix, fed exactly as llama-quantize feeds it
    (values and the quantize.imatrix.* key overrides the tool adds)."""
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = FTYPE[ftype]
    p.nthread = threads
    keep = []
    if imatrix:
        values, datasets, chunks = load_imatrix(imatrix)
        arr = (llama_cpp.llama_model_imatrix_data * (len(values) + 1))()
        for i, (name, v) in enumerate(values.items()):
            v = np.ascontiguousarray(v, dtype=np.float32)
            keep.append(v)
            arr[i].name = name.encode()
            arr[i].data = v.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            arr[i].size = v.size
        arr[len(values)].name = None
        p.imatrix = arr
        kvs = [("quantize.imatrix.file", (imatrix_label or imatrix).encode()[:127])]
        if datasets:
            kvs.append(("quantize.imatrix.dataset", datasets[0].encode()[:127]))
        kvs.append(("quantize.imatrix.entries_count", len(values)))
        if chunks > 0:
            kvs.append(("quantize.imatrix.chunks_count", chunks))
        ov = (llama_cpp.llama_model_kv_override * (len(kvs) + 1))()
        for i, (k, v) in enumerate(kvs):
            ov[i].key = k.encode()
            if isinstance(v, bytes):
                ov[i].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
                ov[i].value.val_str = v
            else:
                ov[i].tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
                ov[i].value.val_i64 = v
        ov[len(kvs)].key = b""
        p.kv_overrides = ov
        keep += [arr, ov]
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
    ap.add_argument("--imatrix", action="store_true",
                    help="also quantize the fixtures with their importance matrices (tests/data/quantize/"
                         "<fixture>.imatrix.*, made by scripts/make_imatrix.py) and record those outputs")
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
    record_imatrix = {}
    if args.imatrix and not args.skip_fixtures:
        data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "quantize")
        for label, inp in fixtures.items():
            im = [f for f in sorted(os.listdir(data)) if f.startswith(label + ".imatrix.")]
            if not im:
                continue
            im = im[0]
            print(f"== {label} with importance matrix {im}")
            for ty in args.types.split(","):
                ref = os.path.abspath(os.path.join(work, f"{label}-{ty}-imatrix.llama.gguf"))
                ours = os.path.abspath(os.path.join(work, f"{label}-{ty}-imatrix.corvid.gguf"))
                # Both record the imatrix path as given: run from its folder with the bare name.
                llama_quantize(inp, ref, ty, args.threads, imatrix=os.path.join(data, im), imatrix_label=im)
                r = subprocess.run([os.path.abspath(corvid), "quantize", "-q", "-t", str(args.threads), "--imatrix", im,
                                    os.path.abspath(inp), ours, ty], capture_output=True, text=True, cwd=data)
                if r.returncode != 0:
                    print(f"  {ty:7s} corvid failed: {r.stderr.strip()}")
                    failures += 1
                    continue
                same = open(ours, "rb").read() == open(ref, "rb").read()
                print(f"  {ty:7s} {'byte-identical' if same else 'DIFFERENT'} ({os.path.getsize(ref)} bytes)")
                if not same:
                    failures += 1
                    print("\n".join(explain_difference(ours, ref)))
                record_imatrix.setdefault(label, {"imatrix": im, "types": {}})["types"][ty] = {
                    "size": os.path.getsize(ref),
                    "hash": f"{file_hash(ref):016x}",
                    "types": tensor_types(ref),
                }
    if args.write_json and not args.skip_fixtures:
        os.makedirs(os.path.dirname(args.write_json), exist_ok=True)
        out = {"generator": f"scripts/quantize_vs_llamacpp.py, llama-cpp-python {llama_cpp.__version__}",
               "fixtures": record}
        if record_imatrix:
            out["fixtures_imatrix"] = record_imatrix
        with open(args.write_json, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {args.write_json}")
    print("all identical" if failures == 0 else f"{failures} difference(s)/failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
