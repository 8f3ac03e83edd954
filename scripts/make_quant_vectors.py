#!/usr/bin/env python3
"""Generate the stored test vectors of Corvid's scalar reference (de)quantizers.

Writes tests/data/quants/ (the C++ tests in tests/tensor/ read these files; they do
not need Python). Run from anywhere:

    /work/venv-ref/v/bin/python scripts/make_quant_vectors.py [--out DIR]

Requirements (checked at start-up):
    gguf==0.19.0              (pip install gguf==0.19.0)
    llama-cpp-python==0.3.36  (pip install llama-cpp-python==0.3.36; its package
                              ships ggml's shared libraries, ggml 0.25.3)
    numpy

References
----------
Two independent references produce the expected values:

(a) ggml itself, through the libggml-base.so bundled with llama-cpp-python, called
    with ctypes:
      * ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix=NULL) for
        every type it quantizes (F16, BF16, Q4_0..Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS);
      * the same with imatrix = imatrix.f32 (one weight per column) for the types
        whose quantizers use an importance matrix (Q4_0..Q5_1, Q2_K..Q6_K, IQ4_NL,
        IQ4_XS) -> <type>.imatrix.q;
      * ggml_get_type_traits(type)->from_float_ref for Q8_1 (an activation type
        that ggml_quantize_chunk does not accept); for Q8_K, whose pointers
        ggml-base's traits table leaves empty (they live in the CPU backend), the
        exported quantize_row_q8_K_ref / dequantize_row_q8_K directly;
      * ggml_get_type_traits(type)->to_float for dequantizing every other type
        except Q8_1, for which ggml has no to_float: its expected floats are d * q
        computed in float32 by numpy (what Corvid's dequantize_row does);
      * ggml_fp32_to_fp16_row, ggml_fp32_to_bf16_row_ref, ggml_fp16_to_fp32_row for
        the conversion vectors.
    ggml is the engine Corvid must match, so every stored file is ggml's output and
    the C++ tests compare against it bit for bit.

(b) gguf-py (gguf.quants.quantize / dequantize; numpy code). It quantizes F16 (numpy
    astype), BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and dequantizes all our types except
    Q8_1 and Q8_K. The script compares it with ggml on every vector and records the
    outcome per type in manifest.txt ("gguf_quant=" / "gguf_dequant=": exact, or
    the number of differing bytes/values, or n/a). Where they agree the stored files
    are gguf-py's output too.

Result with the pinned versions: gguf-py agrees with ggml bit for bit on every
vector it can produce (quantization of F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0;
dequantization of all our types but Q8_1 and Q8_K), so those files serve as both
references. The only disagreements found (see manifest.txt for the run):
  * fp16 conversion: NaNs with a payload. ggml (and Corvid) turn every NaN into
    the quiet NaN 0x7E00 (sign kept); numpy keeps the top payload bits. Identical on
    every other input, including ties, subnormals and overflow.
  * IQ4_NL: ggml's quantize_row_iq4_nl_ref (the from_float_ref used for on-the-fly
    conversion) skips the +-7 scale search that ggml_quantize_chunk does; Corvid and
    these vectors follow ggml_quantize_chunk. The script reports how many bytes the
    two ggml paths differ by.
  * Q8_K all-zero blocks: ggml's reference leaves bsums unwritten; the script
    zero-fills output buffers first, so the vectors hold zeros there (as Corvid).

Inputs
------
8 rows of 1024 float32 (input.f32), deterministic (numpy PCG64 seed 20240611):
gaussian, uniform, heavy outliers, per-32-block special patterns (all-zero,
constant, one nonzero value, negative-only, positive-only, ramps, ...), per-256-
block special patterns, tiny magnitudes (down to below ggml's 1e-15 group
threshold), huge magnitudes (fp16 scales stay finite), and a shifted gaussian.
Values whose quantization would overflow an fp16 scale are deliberately absent.

Outputs (all little-endian)
---------------------------
  input.f32                 the rows above, concatenated
  <type>.q                  the quantized bytes of input.f32 (per type)
  <type>.deq                float32: the type's dequantization of <type>.q
  conv_input.f32            float32 edge cases + random bit patterns
  conv_fp16.u16             ggml fp32->fp16 of conv_input.f32
  conv_bf16.u16             ggml fp32->bf16 of conv_input.f32
  fp16_all.f32              ggml fp16->fp32 of every half 0x0000..0xFFFF
  manifest.txt              files, sizes, sha256, sources, versions, agreement
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

GGUF_VERSION = "0.19.0"
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SEED = 20240611
ROW_LEN = 1024


def check_versions() -> None:
    want = {"gguf": GGUF_VERSION, "llama-cpp-python": LLAMA_CPP_PYTHON_VERSION}
    for pkg, ver in want.items():
        try:
            have = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            sys.exit(f"error: {pkg}=={ver} is required (pip install {pkg}=={ver})")
        if have != ver:
            sys.exit(f"error: {pkg}=={ver} is required, found {have}")


# ---------------------------------------------------------------------------------
# ggml through ctypes

# ggml type ids, as in GGUF (and corvid::DType).
TYPE_IDS = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "q8_1": 9,
    "q2_K": 10, "q3_K": 11, "q4_K": 12, "q5_K": 13, "q6_K": 14, "q8_K": 15,
    "iq4_nl": 20, "iq4_xs": 23, "bf16": 30,
}
# (elements per block, bytes per block) as Corvid and ggml define them.
GEOMETRY = {
    "f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q4_0": (32, 18), "q4_1": (32, 20),
    "q5_0": (32, 22), "q5_1": (32, 24), "q8_0": (32, 34), "q8_1": (32, 36),
    "q2_K": (256, 84), "q3_K": (256, 110), "q4_K": (256, 144), "q5_K": (256, 176),
    "q6_K": (256, 210), "q8_K": (256, 292), "iq4_nl": (32, 18), "iq4_xs": (256, 136),
}
# Types whose ggml_quantize_chunk uses an importance matrix (stored as <type>.imatrix.q).
IMATRIX_TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs"]
IMATRIX_SEED = 20261122

# Types quantized through from_float_ref rather than ggml_quantize_chunk.
FROM_FLOAT_REF_ONLY = {"q8_1", "q8_K"}

TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
FROM_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class GgmlTypeTraits(ctypes.Structure):
    # struct ggml_type_traits in ggml.h of ggml 0.25.3
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


class Ggml:
    def __init__(self) -> None:
        spec = importlib.util.find_spec("llama_cpp")
        if spec is None or spec.origin is None:
            sys.exit("error: llama_cpp package not found")
        libdir = Path(spec.origin).parent / "lib"
        self.lib = ctypes.CDLL(str(libdir / "libggml-base.so"))
        lib = self.lib
        lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                            ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        lib.ggml_get_type_traits.restype = ctypes.POINTER(GgmlTypeTraits)
        lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        lib.ggml_version.restype = ctypes.c_char_p
        lib.ggml_commit.restype = ctypes.c_char_p
        for name in ("ggml_fp32_to_fp16_row", "ggml_fp32_to_bf16_row_ref", "ggml_fp16_to_fp32_row"):
            getattr(lib, name).restype = None
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        self.version = lib.ggml_version().decode()
        self.commit = lib.ggml_commit().decode()
        # The ctypes struct layout must match the library: check the geometry of our types.
        for name, tid in TYPE_IDS.items():
            tr = self.traits(name)
            got = (tr.type_name.decode(), tr.blck_size, tr.type_size)
            if got != (name, *GEOMETRY[name]):
                sys.exit(f"error: ggml type traits of {name} read as {got}: struct layout mismatch?")

    def traits(self, name: str) -> GgmlTypeTraits:
        return self.lib.ggml_get_type_traits(TYPE_IDS[name]).contents

    def quantize_chunk(self, name: str, x: np.ndarray) -> bytes:
        rows, n_per_row = x.shape
        block, size = GEOMETRY[name]
        out = np.zeros(rows * n_per_row // block * size, dtype=np.uint8)
        x = np.ascontiguousarray(x, dtype=np.float32)
        n = self.lib.ggml_quantize_chunk(TYPE_IDS[name], x.ctypes.data, out.ctypes.data, 0, rows, n_per_row, None)
        assert n == out.size, (name, n, out.size)
        return out.tobytes()

    def quantize_chunk_imatrix(self, name: str, x: np.ndarray, imatrix: np.ndarray) -> bytes:
        """ggml_quantize_chunk with an importance matrix (one weight per column)."""
        rows, n_per_row = x.shape
        assert imatrix.shape == (n_per_row,) and imatrix.dtype == np.float32
        block, size = GEOMETRY[name]
        out = np.zeros(rows * n_per_row // block * size, dtype=np.uint8)
        x = np.ascontiguousarray(x, dtype=np.float32)
        w = np.ascontiguousarray(imatrix)
        n = self.lib.ggml_quantize_chunk(TYPE_IDS[name], x.ctypes.data, out.ctypes.data, 0, rows, n_per_row,
                                         w.ctypes.data)
        assert n == out.size, (name, n, out.size)
        return out.tobytes()

    def _fn_ptr(self, name: str, field: str) -> int | None:
        ptr = getattr(self.traits(name), field)
        if ptr:
            return ptr
        # ggml-base's traits table leaves Q8_K's pointers to the CPU backend; the
        # reference functions themselves are exported.
        sym = {("q8_K", "from_float_ref"): "quantize_row_q8_K_ref",
               ("q8_K", "to_float"): "dequantize_row_q8_K"}.get((name, field))
        return ctypes.cast(getattr(self.lib, sym), ctypes.c_void_p).value if sym else None

    def from_float_ref(self, name: str, x: np.ndarray) -> bytes | None:
        block, size = GEOMETRY[name]
        x = np.ascontiguousarray(x, dtype=np.float32).ravel()
        out = np.zeros(x.size // block * size, dtype=np.uint8)
        ptr = self._fn_ptr(name, "from_float_ref")
        if ptr is None:
            return None
        FROM_FLOAT(ptr)(x.ctypes.data, out.ctypes.data, x.size)
        return out.tobytes()

    def to_float(self, name: str, q: bytes, n: int) -> np.ndarray | None:
        ptr = self._fn_ptr(name, "to_float")
        if ptr is None:
            return None
        src = np.frombuffer(q, dtype=np.uint8).copy()
        out = np.zeros(n, dtype=np.float32)
        TO_FLOAT(ptr)(src.ctypes.data, out.ctypes.data, n)
        return out

    def row_fn(self, fn: str, src: np.ndarray, out_dtype) -> np.ndarray:
        src = np.ascontiguousarray(src)
        out = np.zeros(src.size, dtype=out_dtype)
        getattr(self.lib, fn)(src.ctypes.data, out.ctypes.data, src.size)
        return out


# ---------------------------------------------------------------------------------
# Inputs

def make_inputs(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    rows: list[tuple[str, np.ndarray]] = []
    g = lambda n=ROW_LEN: rng.standard_normal(n).astype(np.float32)

    rows.append(("gaussian(0,1)", g()))
    rows.append(("uniform[-1,1)", rng.uniform(-1.0, 1.0, ROW_LEN).astype(np.float32)))

    r = g() * np.float32(0.02)
    idx = rng.choice(ROW_LEN, size=12, replace=False)
    r[idx] = (rng.uniform(5.0, 20.0, idx.size) * rng.choice([-1.0, 1.0], idx.size)).astype(np.float32)
    rows.append(("gaussian(0,0.02) with 12 outliers of magnitude 5..20", r))

    # One pattern per 32-element block, cycling.
    patterns = []
    def blk(i: int) -> np.ndarray:
        k = i % 16
        b = np.zeros(32, dtype=np.float32)
        if k == 0: pass                                            # all zero
        elif k == 1: b[:] = 0.75                                   # constant positive
        elif k == 2: b[:] = -1.25                                  # constant negative
        elif k == 3: b[rng.integers(32)] = 2.5                     # one positive nonzero
        elif k == 4: b[rng.integers(32)] = -0.3                    # one negative nonzero
        elif k == 5: b[:] = -np.abs(g(32))                         # negative only
        elif k == 6: b[:] = np.abs(g(32)) + 1.0                    # positive only, away from 0
        elif k == 7: b[:] = np.linspace(-1.0, 1.0, 32)             # ramp
        elif k == 8: b[:] = np.where(np.arange(32) % 2 == 0, 1.0, -1.0)  # alternating +-1
        elif k == 9: b[:] = np.arange(32) - 16.0                   # integers -16..15
        elif k == 10: b[:] = np.arange(32) * 0.5 - 8.0             # half-integers
        elif k == 11: b[:] = g(32); b[0] = 100.0                   # one dominant value
        elif k == 12: b[:] = g(32) * np.float32(1e-3)
        elif k == 13: b[:] = 1.0; b[5] = -1.0                      # constant with one flip
        elif k == 14: b[:] = np.round(g(32) * 4) / 4               # coarse grid values
        else: b[:] = g(32) + 3.0                                   # shifted
        return b
    rows.append(("per-32-block patterns (zero, constant, one nonzero, negative-only, ramps, ...)",
                 np.concatenate([blk(i) for i in range(ROW_LEN // 32)])))

    sb = []
    sb.append(np.zeros(256, dtype=np.float32))                          # all zero
    s = np.full(256, 0.75, dtype=np.float32); sb.append(s)               # constant
    s = np.zeros(256, dtype=np.float32); s[77] = -3.0; sb.append(s)      # single nonzero
    sb.append(-np.abs(g(256)))                                           # negative only
    rows.append(("per-256-block patterns (zero, constant, one nonzero, negative-only)", np.concatenate(sb)))

    rows.append(("tiny: gaussian x 1e-5, x 1e-5, x 3e-8, x 1e-20 per 256",
                 np.concatenate([g(256) * np.float32(1e-5), g(256) * np.float32(1e-5),
                                 g(256) * np.float32(3e-8), g(256) * np.float32(1e-20)])))
    rows.append(("huge: gaussian x 500, x 500, x 1e4, x 1e4 per 256",
                 np.concatenate([g(256) * np.float32(500), g(256) * np.float32(500),
                                 g(256) * np.float32(1e4), g(256) * np.float32(1e4)])))
    rows.append(("gaussian(0.5, 0.1)", g() * np.float32(0.1) + np.float32(0.5)))

    x = np.stack([r.astype(np.float32) for _, r in rows])
    assert x.shape == (8, ROW_LEN)
    assert np.all(np.isfinite(x))
    return x, [name for name, _ in rows]


def conversion_inputs(rng: np.random.Generator) -> np.ndarray:
    b = lambda u: np.array([u], dtype=np.uint32).view(np.float32)[0]
    f = np.float32
    edge = [
        0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.141592653589793, 65504.0, -65504.0,
        65519.99, 65520.0, -65520.0, 65536.0, 1e10, -1e10, np.inf, -np.inf,
        2.0 ** -14, 2.0 ** -24, -(2.0 ** -24), 2.0 ** -25, 2.0 ** -26, 3 * 2.0 ** -25, 5 * 2.0 ** -25,
        1.5 * 2.0 ** -24, 2.0 ** -14 - 2.0 ** -25, 2.0 ** -14 - 2.0 ** -24, 1023 * 2.0 ** -24,
        1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 2.0 ** -11 + 2.0 ** -23, 1 - 2.0 ** -12,
        2048 + 1, 2048 + 3, 1e-8, 1e-30, 1e-45, 1e-40, 3.4028234663852886e38, 1.1754943508222875e-38,
        1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -8 + 2.0 ** -23, 255.5, 256.5,
    ]
    vals = [f(v) for v in edge]
    vals += [b(u) for u in (0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FBFFFFF, 0x7FFFFFFF,
                            0x7FC02000, 0x7F802000, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0x477FEFFF,
                            0x477FF000, 0x477FF001, 0x3F808000, 0x3F818000, 0x3F808001, 0x387FC000,
                            0x387FE000, 0x33000000, 0x33000001, 0xB3000000)]
    vals = np.array(vals, dtype=np.float32)
    rand_bits = rng.integers(0, 2 ** 32, size=2048, dtype=np.uint64).astype(np.uint32).view(np.float32)
    mags = (2.0 ** rng.uniform(-28, 17, size=2048)) * rng.choice([-1.0, 1.0], size=2048)
    return np.concatenate([vals, rand_bits, mags.astype(np.float32)])


# ---------------------------------------------------------------------------------
# gguf-py

def gguf_quantize(name: str, x: np.ndarray) -> bytes | None:
    from gguf import GGMLQuantizationType as T, quants
    qt = {"f16": T.F16, "bf16": T.BF16, "q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0,
          "q5_1": T.Q5_1, "q8_0": T.Q8_0}.get(name)
    if qt is None:
        return None
    return np.ascontiguousarray(quants.quantize(x, qt)).tobytes()


def gguf_dequantize(name: str, q: bytes, shape: tuple[int, int]) -> np.ndarray | None:
    from gguf import GGMLQuantizationType as T, quants
    if name in ("q8_1", "q8_K", "f32"):
        return None
    qt = getattr(T, name.upper())
    block, size = GEOMETRY[name]
    raw = np.frombuffer(q, dtype=np.uint8).reshape(shape[0], shape[1] // block * size)
    return np.asarray(quants.dequantize(raw, qt), dtype=np.float32).reshape(-1)


def count_float_diffs(a: np.ndarray, b: np.ndarray) -> int:
    """Values whose bits differ, counting two NaNs as equal."""
    a = a.astype(np.float32).ravel(); b = b.astype(np.float32).ravel()
    same = (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))
    return int((~same).sum())


def count_byte_diffs(a: bytes, b: bytes) -> int:
    if len(a) != len(b):
        return max(len(a), len(b))
    return int((np.frombuffer(a, np.uint8) != np.frombuffer(b, np.uint8)).sum())


# ---------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests" / "data" / "quants"))
    args = ap.parse_args()
    check_versions()
    import gguf  # noqa: F401  (version checked above)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ggml = Ggml()
    rng = np.random.Generator(np.random.PCG64(SEED))

    x, row_names = make_inputs(rng)
    files: dict[str, bytes] = {"input.f32": x.tobytes()}
    type_lines: list[str] = []
    notes: list[str] = []

    for name in ["f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1",
                 "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "iq4_nl", "iq4_xs"]:
        if name in FROM_FLOAT_REF_ONLY:
            q = ggml.from_float_ref(name, x)
            qsrc = "ggml:from_float_ref"
        else:
            q = ggml.quantize_chunk(name, x)
            qsrc = "ggml:ggml_quantize_chunk"
            # Cross-check the other ggml entry point.
            ref = ggml.from_float_ref(name, x)
            nd = count_byte_diffs(q, ref) if ref is not None else 0
            if nd:
                notes.append(f"{name}: ggml from_float_ref differs from ggml_quantize_chunk in {nd} bytes "
                             f"(vectors follow ggml_quantize_chunk)")
        deq = ggml.to_float(name, q, x.size)
        dsrc = "ggml:to_float"
        if deq is None:
            assert name == "q8_1"
            blocks = np.frombuffer(q, dtype=np.uint8).reshape(-1, 36)
            d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)  # (nblocks, 1)
            qs = blocks[:, 4:].view(np.int8).astype(np.float32)
            deq = (qs * d).astype(np.float32).ravel()
            dsrc = "numpy:d*q (ggml has no q8_1 to_float)"

        gq = gguf_quantize(name, x)
        gq_state = "n/a" if gq is None else ("exact" if gq == q else f"differs:{count_byte_diffs(gq, q)}bytes")
        gd = gguf_dequantize(name, q, x.shape)
        gd_state = "n/a" if gd is None else (
            "exact" if count_float_diffs(gd, deq) == 0 else f"differs:{count_float_diffs(gd, deq)}values")

        files[f"{name}.q"] = q
        files[f"{name}.deq"] = deq.astype(np.float32).tobytes()
        type_lines.append(f"type {name} quant={qsrc} dequant={dsrc} gguf_quant={gq_state} gguf_dequant={gd_state}")

    # Importance-matrix quantization: the same rows with one weight per column, from a
    # generator of its own (so the vectors above do not change). Like a real imatrix
    # (mean squared activations): log-normal, a few columns 0 (never activated) and a
    # few very large.
    irng = np.random.Generator(np.random.PCG64(IMATRIX_SEED))
    imat = np.exp(irng.standard_normal(ROW_LEN) * 1.5).astype(np.float32)
    imat[irng.choice(ROW_LEN, size=16, replace=False)] = 0.0
    imat[irng.choice(ROW_LEN, size=8, replace=False)] *= np.float32(1000.0)
    files["imatrix.f32"] = imat.tobytes()
    for name in IMATRIX_TYPES:
        q = ggml.quantize_chunk_imatrix(name, x, imat)
        plain = files[f"{name}.q"]
        files[f"{name}.imatrix.q"] = q
        type_lines.append(f"imatrix {name} quant=ggml:ggml_quantize_chunk(imatrix=imatrix.f32) "
                          f"differs_from_plain:{count_byte_diffs(q, plain)}bytes")

    # fp16 / bf16 conversions.
    conv = conversion_inputs(rng)
    h_ggml = ggml.row_fn("ggml_fp32_to_fp16_row", conv, np.uint16)
    bf_ggml = ggml.row_fn("ggml_fp32_to_bf16_row_ref", conv, np.uint16)
    with np.errstate(over="ignore", invalid="ignore"):
        h_np = conv.astype(np.float16).view(np.uint16)
    from gguf import GGMLQuantizationType as T, quants
    bf_gguf = np.frombuffer(np.ascontiguousarray(quants.quantize(conv, T.BF16)).tobytes(), dtype=np.uint16)
    is_nan = np.isnan(conv)
    fp16_np = int((h_np != h_ggml).sum())
    fp16_np_nonnan = int(((h_np != h_ggml) & ~is_nan).sum())
    all_half = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    f_all = ggml.row_fn("ggml_fp16_to_fp32_row", all_half, np.float32)
    with np.errstate(invalid="ignore"):
        f_all_np = all_half.view(np.float16).astype(np.float32)
    fp16_back_np = count_float_diffs(f_all, f_all_np)
    files["conv_input.f32"] = conv.tobytes()
    files["conv_fp16.u16"] = h_ggml.tobytes()
    files["conv_bf16.u16"] = bf_ggml.tobytes()
    files["fp16_all.f32"] = f_all.tobytes()

    for fname, data in files.items():
        (out / fname).write_bytes(data)

    lines = [
        "# Corvid quantization test vectors: generated by scripts/make_quant_vectors.py; do not edit.",
        f"version gguf {importlib.metadata.version('gguf')}",
        f"version llama-cpp-python {importlib.metadata.version('llama-cpp-python')}",
        f"version ggml {ggml.version} commit {ggml.commit}",
        f"version numpy {np.__version__}",
        f"seed {SEED}",
        f"input input.f32 rows={x.shape[0]} row_len={x.shape[1]}",
    ]
    lines += [f"row {i} {n}" for i, n in enumerate(row_names)]
    lines += type_lines
    lines.append(f"conversion conv_input.f32 n={conv.size} fp16=ggml:ggml_fp32_to_fp16_row bf16=ggml:ggml_fp32_to_bf16_row_ref")
    lines.append(f"conversion numpy_fp16_vs_ggml differs:{fp16_np}values (non-NaN inputs: {fp16_np_nonnan})")
    lines.append(f"conversion gguf_bf16_vs_ggml differs:{int((bf_gguf != bf_ggml).sum())}values")
    lines.append(f"conversion fp16_all.f32 = ggml:ggml_fp16_to_fp32_row of 0x0000..0xFFFF; numpy differs:{fp16_back_np}values (NaNs counted equal)")
    lines += [f"note {n}" for n in notes]
    for fname, data in files.items():
        lines.append(f"file {fname} bytes={len(data)} sha256={hashlib.sha256(data).hexdigest()}")
    (out / "manifest.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    total = sum(len(d) for d in files.values())
    print(f"total {total} bytes in {len(files)} files -> {out}")


if __name__ == "__main__":
    main()
