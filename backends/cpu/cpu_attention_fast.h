// The fast attention path (flash-attention style): the interface between the driver
// (cpu_attention_fast.cpp: task split, threads, Q rounding, merging of partial softmax
// states) and the SIMD kernels (cpu_attention_simd.inc, compiled as cpu_attention_avx2.cpp,
// cpu_attention_avx512.cpp and cpu_attention_neon.cpp).
//
// The kernels stream one range of keys of one KV head for a set of query rows (all query
// heads of a GQA group, for a block of tokens), a tile of W keys (W = the vector width)
// at a time, so each K and V row is read and converted to float once for all the rows:
//   score_pass: scores s = (q . k) * scale + mask for every row and key, stored in s[],
//               and each row's running max m;
//   sum_pass:   l += sum exp(s - m) over the stored scores (m: the final max), leaving
//               exp(s - m) in s[] in their place;
//   value_pass: p = exp(s - m) * inv (inv = 1 / the row's total sum), rounded to F16 with
//               an F16 cache, acc += p * v (the rows of a tile four at a time, each V row
//               loaded once for them).
// Not a one-pass online softmax: rounding unnormalised probabilities to F16 (or summing
// them relative to a moving max) moves Gemma 3's logits past the end-to-end tolerance,
// so the probabilities are normalised first and rounded where the reference's (and
// llama.cpp's) non-flash path rounds them. K and V are still read once per task. Q
// arrives rounded to F16 (exact in float). For a long cache the driver runs the
// passes over key ranges in parallel and merges the ranges' maxima and sums in between.
#pragma once

#include "cpu/cpu_dispatch.h"

#include <cstddef>
#include <cstdint>

namespace corvid::cpu::attn {

struct Tile {
    int64_t D = 0;               // head size
    int64_t Dp = 0;              // D rounded up to the kernel's width; rows of q/acc are Dp floats
    int rows = 0;                // query rows (at most 256)
    const float *q = nullptr;    // rows x Dp (zero padded), already rounded to F16 for an F16 cache
    const float *const *mask = nullptr; // per row: its mask row, at the first key of the range
    const uint8_t *k = nullptr;  // first key's row
    const uint8_t *v = nullptr;
    size_t k_stride = 0, v_stride = 0; // bytes between consecutive keys
    int64_t n = 0;               // keys in the range
    bool f16 = true;             // K/V are F16 (else F32)
    float scale = 1.0f;
    float *s = nullptr;          // rows x s_stride scores (s_stride >= n rounded up to W)
    int64_t s_stride = 0;
    float *m = nullptr;          // per row: score_pass raises it (start: -inf); the others read it
    double *l = nullptr;         // per row: sum_pass adds to it
    const float *inv = nullptr;  // value_pass: per row 1 / total sum (0: the row sees no key)
    float *acc = nullptr;        // value_pass adds to it: rows x Dp
    float *scratch = nullptr;    // width * Dp floats (value_pass: the V tile)
    float *ktile = nullptr;      // width * Dp floats (score_pass: the K tile, converted once for all rows)
};

struct Kernels {
    int width = 0; // floats per vector (8 or 16)
    // dst[0..D) = src rounded to F16 (f16) or copied, dst[D..Dp) = 0: a query row.
    void (*query_row)(const float *src, int64_t D, int64_t Dp, bool f16, float *dst) = nullptr;
    void (*score_pass)(const Tile &t) = nullptr;
    void (*sum_pass)(const Tile &t) = nullptr;
    void (*value_pass)(const Tile &t) = nullptr;
};

const Kernels *kernels_avx2();   // nullptr where not built
const Kernels *kernels_avx512(); // nullptr where not built
const Kernels *kernels_neon();   // nullptr where not built

} // namespace corvid::cpu::attn

namespace corvid::cpu {
// Whether attention has a fast kernel on `isa` (F16 or F32 caches with contiguous rows).
bool attention_has_fast_path(Isa isa);
} // namespace corvid::cpu
