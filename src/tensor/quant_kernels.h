// Internal: the per-type reference row kernels behind quants.h's dispatch table.
// Each takes a count of whole blocks (elements for F32/F16/BF16); the caller has
// validated it.
#pragma once

#include <cstdint>

namespace corvid::quant {

using DequantizeFn = void (*)(const void *src, float *dst, int64_t n_blocks);
using QuantizeFn = void (*)(const float *src, void *dst, int64_t n_blocks);
// Importance-matrix variants: ONE row of n_blocks blocks, qw one weight per element of
// that row (some types use statistics of the whole row).
using QuantizeWeightedFn = void (*)(const float *src, void *dst, int64_t n_blocks, const float *qw);

// quant_float.cpp
void dequantize_f32(const void *src, float *dst, int64_t n);
void quantize_f32(const float *src, void *dst, int64_t n);
void dequantize_f16(const void *src, float *dst, int64_t n);
void quantize_f16(const float *src, void *dst, int64_t n);
void dequantize_bf16(const void *src, float *dst, int64_t n);
void quantize_bf16(const float *src, void *dst, int64_t n);

// quant_legacy.cpp
void dequantize_q4_0(const void *src, float *dst, int64_t n_blocks);
void quantize_q4_0(const float *src, void *dst, int64_t n_blocks);
void dequantize_q4_1(const void *src, float *dst, int64_t n_blocks);
void quantize_q4_1(const float *src, void *dst, int64_t n_blocks);
void dequantize_q5_0(const void *src, float *dst, int64_t n_blocks);
void quantize_q5_0(const float *src, void *dst, int64_t n_blocks);
void dequantize_q5_1(const void *src, float *dst, int64_t n_blocks);
void quantize_q5_1(const float *src, void *dst, int64_t n_blocks);
void dequantize_q8_0(const void *src, float *dst, int64_t n_blocks);
void quantize_q8_0(const float *src, void *dst, int64_t n_blocks);
void dequantize_q8_1(const void *src, float *dst, int64_t n_blocks);
void quantize_q8_1(const float *src, void *dst, int64_t n_blocks);

void quantize_q4_0_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);
void quantize_q4_1_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);
void quantize_q5_0_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);
void quantize_q5_1_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);

// quant_k.cpp
void dequantize_q2_k(const void *src, float *dst, int64_t n_blocks);
void quantize_q2_k(const float *src, void *dst, int64_t n_blocks);
void dequantize_q3_k(const void *src, float *dst, int64_t n_blocks);
void quantize_q3_k(const float *src, void *dst, int64_t n_blocks);
void dequantize_q4_k(const void *src, float *dst, int64_t n_blocks);
void quantize_q4_k(const float *src, void *dst, int64_t n_blocks);
void dequantize_q5_k(const void *src, float *dst, int64_t n_blocks);
void quantize_q5_k(const float *src, void *dst, int64_t n_blocks);
void dequantize_q6_k(const void *src, float *dst, int64_t n_blocks);
void quantize_q6_k(const float *src, void *dst, int64_t n_blocks);
void dequantize_q8_k(const void *src, float *dst, int64_t n_blocks);
void quantize_q8_k(const float *src, void *dst, int64_t n_blocks);

void quantize_q2_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);
void quantize_q3_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);
void quantize_q4_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);
void quantize_q5_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);
void quantize_q6_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);

// quant_iq.cpp
void dequantize_iq4_nl(const void *src, float *dst, int64_t n_blocks);
void quantize_iq4_nl(const float *src, void *dst, int64_t n_blocks);
void dequantize_iq4_xs(const void *src, float *dst, int64_t n_blocks);
void quantize_iq4_xs(const float *src, void *dst, int64_t n_blocks);
void quantize_iq4_nl_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);
void quantize_iq4_xs_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw);

} // namespace corvid::quant
