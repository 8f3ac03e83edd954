// Scalar reference quantization: float32 rows to and from every type with
// traits(t).has_reference, bit-identical to ggml's reference code.
//
// These routines are written for clarity, not speed: they are the ground truth
// the vectorised CPU kernels and the GPU kernels are tested against.
//
// Quantizers reproduce ggml's quantizers without an importance matrix, i.e. the
// bytes ggml_quantize_chunk(type, ..., imatrix = NULL) writes (what
// llama-quantize stores for a model quantized without an imatrix):
//   * F16/BF16: round-to-nearest-even (fp16.h).
//   * Q4_0 .. Q8_1, Q8_K: ggml's quantize_row_*_ref.
//   * Q2_K .. Q6_K: quantize_row_*_K_ref, including their scale searches.
//   * IQ4_NL, IQ4_XS: the best-scale search over +-7 steps of ggml_quantize_chunk.
//     (ggml's quantize_row_iq4_nl_ref, used only for on-the-fly conversion inside
//     ggml, skips that search and is not reproduced.)
//
// quantize_row_imatrix reproduces ggml_quantize_chunk WITH an importance matrix (what
// llama-quantize --imatrix stores): for Q4_0, Q4_1, Q5_0, Q5_1, Q2_K .. Q6_K, IQ4_NL and
// IQ4_XS, ggml's quantize_row_*_impl searches (weighted scale searches, sub-block scales
// fitted rather than taken from the maximum); the other types ignore the matrix.
//
// Arithmetic is plain float32, each operation rounded on its own, in ggml's order
// (ggml's reference file as built for x86-64, without FMA). The sources disable FMA
// contraction themselves (fp_strict.h); never build them with -ffast-math.
//
// The quantized buffers (void *) need no particular alignment; the float buffers are
// ordinary float arrays. n is the number of elements.
#pragma once

#include "tensor/dtype.h"

#include <cstdint>

namespace corvid {

// Converts n elements of type t at src into n floats at dst.
// Returns false (writing nothing) when t has no reference implementation,
// n is negative, or n is not a multiple of traits(t).block_size.
bool dequantize_row(DType t, const void *src, float *dst, int64_t n);

// Converts n floats at src into type t at dst (dtype_row_bytes(t, n) bytes).
// Same failure rules as dequantize_row. Inputs are expected to be finite.
bool quantize_row(DType t, const float *src, void *dst, int64_t n);

// True when quantize_row_imatrix's result depends on the importance matrix for type t.
bool uses_importance(DType t);

// Converts ONE row of n floats into type t using per-column importance weights
// (importance[0..n), non-negative and finite, as llama.cpp's imatrix gives them).
// importance == nullptr, or a type for which uses_importance() is false, gives exactly
// quantize_row(). The row matters: Q4_0 .. Q5_1 use the mean square of the whole row,
// so a longer span is not the same as several rows. Same failure rules as quantize_row.
bool quantize_row_imatrix(DType t, const float *src, void *dst, int64_t n, const float *importance);

} // namespace corvid
