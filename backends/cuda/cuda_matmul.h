// Pieces of the CUDA matrix product (cuda_matmul.cu dispatches between them):
// activation conversion (cuda_activations.cu), matrix x few-vectors (cuda_matvec.cu) and
// cuBLAS GEMM over dequantized tiles (cuda_gemm.cu).
#pragma once

#include "cuda/cuda_common.cuh"

namespace corvid::cuda {

enum class ActOut { f32, f16, bf16 };

// M activation columns (column m at x + m * x_nb1, K floats) converted exactly as the
// reference does before a product with weights of type w (cpu::activation_type_for:
// through Q8_0 / Q8_K / F16 / BF16 and back), written as ActOut values to out
// ([M][ld], ld >= K; elements K..ld of each column are zeroed).
void prepare_activations(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, void *out,
                         int64_t ld, ActOut kind);

// The same conversion kept as 8-bit integers: q [M][K] and one float scale per 32
// elements d [M][K / 32] (Q8_K's per-256 scale repeated), for integer dot products.
void prepare_activations_q8(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int8_t *q,
                            float *d);

// Whether matvec_q8 has an integer kernel for weight type w.
bool matvec_q8_supported(DType w);
// matvec over 8-bit activations (dp4a): dst[m * ldd + n] = sum_k W[n][k] * q[m][k] * d[m][k / 32].
void matvec_q8(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const int8_t *q,
               const float *d, int64_t M, float *dst, int64_t ldd);

// F16 / BF16 weights (K % 8 == 0, 16-byte aligned rows) against activations rounded to
// the same format, x [M][K] 16-bit values: 16-byte loads throughout.
bool matvec_h_supported(DType w, int64_t K, int64_t w_nb1);
void matvec_h(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const void *x, int64_t M,
              float *dst, int64_t ldd);

// dst[m * ldd + n] = sum_k W[n][k] * xq[m * ldx + k] for n < N, m < M (M <= kMatvecMaxCols).
constexpr int kMatvecMaxCols = 8;
void matvec(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const float *xq,
            int64_t ldx, int64_t M, float *dst, int64_t ldd);

// The same product for many columns through cuBLAS: x (raw F32 activations) is converted
// here; quantized weights are dequantized to F16 in row chunks.
void gemm(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const uint8_t *x,
          int64_t x_nb1, int64_t M, float *dst, int64_t ldd);

} // namespace corvid::cuda
