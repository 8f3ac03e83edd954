#!/usr/bin/env python3
"""Write a synthetic importance matrix for a model, in llama.cpp's imatrix formats.

Corvid does not compute importance matrices (that needs the squared activations entering
every matrix multiplication; use llama.cpp's llama-imatrix for real ones). This script
makes files with the right layout for tests and experiments: for every weight matrix of
MODEL that llama-quantize would quantize (>= 2 dimensions, name ending in "weight", not a
norm), per-column "mean squared activations" drawn from a log-normal distribution
(deterministic in --seed and the tensor name), a few columns 0 (never activated).

    python3 scripts/make_imatrix.py MODEL.gguf OUT [--format gguf|dat] [--seed N]
        [--chunks N] [--chunk-size N] [--dataset NAME] [--skip NAME ...] [--with-token-embd]

GGUF (llama-imatrix's current format): general.type = "imatrix", imatrix.datasets,
imatrix.chunk_count, imatrix.chunk_size; per weight W the F32 tensors "W.in_sum2"
(sums of squared activations, ne [row length, n_matrices]) and "W.counts" (ne [1,
n_matrices]); n_matrices is the number of experts for 3-D expert tensors, else 1.
dat (the legacy format): int32 n_entries; per entry int32 name length, name, int32 ncall,
int32 nval, nval float32 sums; then int32 chunk count, int32 dataset-name length, name.

Like llama-imatrix's output, token_embd.weight has no entry (it is read with get_rows, not
multiplied) unless --with-token-embd. Needs numpy and gguf (gguf-py).
"""
import argparse
import struct
import sys
import zlib

import numpy as np
from gguf import GGUFReader, GGUFWriter


def quantizable(name, shape):
    dims = [int(d) for d in shape]
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return len(dims) >= 2 and name.endswith("weight") and "_norm.weight" not in name


def entries(model, seed, skip, with_token_embd, count):
    """[(name, sums float32 (n_mat, row), counts float32 (n_mat,))] in the model's order."""
    out = []
    for t in GGUFReader(model).tensors:
        ne = [int(d) for d in t.shape]  # gguf-py: ne order, ne[0] = row length
        if not quantizable(t.name, ne) or t.name in skip:
            continue
        if t.name == "token_embd.weight" and not with_token_embd:
            continue
        row = ne[0]
        n_mat = ne[2] if len(ne) > 2 else 1
        rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(t.name.encode())]))
        mean_sq = np.exp(rng.standard_normal((n_mat, row)) * 1.0 - 1.0).astype(np.float32)
        mean_sq[:, rng.choice(row, size=max(1, row // 64), replace=False)] = 0.0
        counts = np.full(n_mat, float(count), dtype=np.float32)
        sums = (mean_sq * np.float32(count)).astype(np.float32)
        out.append((t.name, sums, counts))
    return out


def write_gguf(path, ents, datasets, chunks, chunk_size):
    w = GGUFWriter(path, arch="imatrix")  # gguf-py always writes general.architecture; readers ignore it
    w.add_type("imatrix")
    w.add_array("imatrix.datasets", datasets)
    w.add_uint32("imatrix.chunk_count", chunks)
    w.add_uint32("imatrix.chunk_size", chunk_size)
    for name, sums, counts in ents:
        w.add_tensor(name + ".in_sum2", sums)                   # numpy (n_mat, row) -> ne [row, n_mat]
        w.add_tensor(name + ".counts", counts.reshape(-1, 1))   # (n_mat, 1) -> ne [1, n_mat]
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_dat(path, ents, dataset, chunks):
    with open(path, "wb") as f:
        f.write(struct.pack("<i", len(ents)))
        for name, sums, counts in ents:
            b = name.encode()
            f.write(struct.pack("<i", len(b)) + b)
            f.write(struct.pack("<ii", int(counts[0]), sums.size))
            f.write(sums.astype("<f4").tobytes())
        d = dataset.encode()
        f.write(struct.pack("<ii", chunks, len(d)) + d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--format", choices=["gguf", "dat"], default="gguf")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunks", type=int, default=10)
    ap.add_argument("--chunk-size", type=int, default=512)
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--skip", action="append", default=[], help="leave this weight out (repeatable)")
    ap.add_argument("--with-token-embd", action="store_true")
    args = ap.parse_args()
    ents = entries(args.model, args.seed, set(args.skip), args.with_token_embd, args.chunks * args.chunk_size)
    if not ents:
        sys.exit(f"error: {args.model} has no weight matrices")
    if args.format == "gguf":
        write_gguf(args.out, ents, [args.dataset], args.chunks, args.chunk_size)
    else:
        write_dat(args.out, ents, args.dataset, args.chunks)
    print(f"wrote {args.out}: {len(ents)} entries ({args.format})")


if __name__ == "__main__":
    main()
