#!/usr/bin/env python3
"""Size and quality of every `corvid quantize` target for one base model: a markdown table.

For each type: quantize the base (F32/F16) with `corvid quantize`, then run
`corvid perplexity --kl-divergence` against the base's log-probabilities (saved once by a
plain perplexity run of the base), and report file size, bits per weight, perplexity,
its change from the base, mean KL divergence and how often the top token agrees.

    python3 scripts/quant_table.py --model BASE.gguf --text wiki.test.raw \\
        [--corvid build/tools/corvid] [--ctx 512] [--chunks 20] [--threads 2] \\
        [--types Q8_0,Q4_K_M,...] [--imatrix FILE] [--work /tmp/quant_table]

Only Python's standard library is needed. Quantized files and the base log-probabilities
(large for big vocabularies: ~n_vocab * 2 bytes per scored token) go to --work, which is
deleted at the end unless --keep.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ALL_TYPES = ["F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_1",
             "Q4_0", "IQ4_NL", "IQ4_XS", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K"]


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}")
    return p.stdout


def grab(pattern, text, what):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"error: could not find {what} in:\n{text[-3000:]}")
    return m


def bits_per_weight(quantize_output):
    # "quant size:  0.25 MiB (7.18 bits per weight)"
    return float(grab(r"quant size:\s+[\d.]+ MiB \(([\d.]+) bits per weight\)", quantize_output, "bpw").group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="base model (F32 or F16 GGUF)")
    ap.add_argument("--text", required=True)
    ap.add_argument("--corvid", default="build/tools/corvid")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--types", default=",".join(ALL_TYPES))
    ap.add_argument("--imatrix", help="pass --imatrix FILE to corvid quantize")
    ap.add_argument("--work", default="/tmp/corvid_quant_table")
    ap.add_argument("--keep", action="store_true", help="keep the quantized files and base log-probabilities")
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    base_kl = os.path.join(args.work, "base.kl")
    common = ["-c", str(args.ctx), "--chunks", str(args.chunks), "-t", str(args.threads)]
    t0 = time.time()

    out = run([args.corvid, "perplexity", "-m", args.model, "-f", args.text, "--kl-divergence-base", base_kl] + common)
    base_ppl, base_err = map(float, grab(r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)", out, "base PPL").groups())
    n_tokens = int(grab(r"saved the base log-probabilities of (\d+) positions", out, "positions").group(1))
    base_size = os.path.getsize(args.model)
    print(f"base: PPL {base_ppl:.4f} +/- {base_err:.4f} over {n_tokens} tokens ({time.time() - t0:.0f} s)",
          file=sys.stderr)

    rows = []
    for t in [x.strip() for x in args.types.split(",") if x.strip()]:
        q = os.path.join(args.work, f"{t}.gguf")
        qcmd = [args.corvid, "quantize", "-q"] + (["-t", str(args.threads)] if args.threads > 0 else [])
        if args.imatrix:
            qcmd += ["--imatrix", args.imatrix]
        qout = run(qcmd + [args.model, q, t])
        bpw = bits_per_weight(qout)
        size = os.path.getsize(q)
        out = run([args.corvid, "perplexity", "-m", q, "--kl-divergence-base", base_kl, "--kl-divergence",
                   "-t", str(args.threads)])
        ppl, ppl_err = map(float, grab(r"Mean PPL\(Q\)\s*:\s*([\d.]+)\s*±\s*([\d.]+)", out, "PPL(Q)").groups())
        dppl, dppl_err = map(float, grab(r"Mean PPL\(Q\)-PPL\(base\)\s*:\s*(-?[\d.]+)\s*±\s*([\d.]+)", out,
                                         "delta PPL").groups())
        kld, kld_err = map(float, grab(r"Mean\s+KLD:\s*(-?[\d.]+)\s*±\s*([\d.]+)", out, "KLD").groups())
        top, top_err = map(float, grab(r"Same top p:\s*([\d.]+)\s*±\s*([\d.]+)\s*%", out, "top-1").groups())
        rows.append((t, size, bpw, ppl, ppl_err, dppl, dppl_err, kld, kld_err, top, top_err))
        print(f"{t}: {size / 2**20:.2f} MiB, PPL {ppl:.4f}, KLD {kld:.5f}, top-1 {top:.2f}% "
              f"({time.time() - t0:.0f} s)", file=sys.stderr)
        os.remove(q)

    mib = lambda b: f"{b / 2**20:.2f}" if b < 100 * 2**20 else f"{b / 2**20:.1f}"
    print(f"| type | size (MiB) | bits/weight | perplexity | Δppl | mean KLD | top-1 agreement |")
    print(f"|---|---:|---:|---:|---:|---:|---:|")
    print(f"| base ({os.path.basename(args.model)}) | {mib(base_size)} | — | {base_ppl:.4f} ± {base_err:.4f} "
          f"| — | — | — |")
    for t, size, bpw, ppl, ppl_err, dppl, dppl_err, kld, kld_err, top, top_err in rows:
        print(f"| {t} | {mib(size)} | {bpw:.2f} | {ppl:.4f} ± {ppl_err:.4f} | {dppl:+.4f} ± {dppl_err:.4f} "
              f"| {kld:.5f} ± {kld_err:.5f} | {top:.2f} ± {top_err:.2f} % |")
    print(f"\n{n_tokens} scored tokens (context {args.ctx}, chunks {args.chunks}); "
          f"{time.time() - t0:.0f} s.", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
