// The 32-element "legacy" formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
//
// Quantizers follow ggml's reference rules exactly:
//   * symmetric types (Q4_0, Q5_0) take the element of largest magnitude, keeping its
//     sign, and set d = that / -(2^(bits-1)), so that element maps to level 0;
//     levels are trunc(x/d + 2^(bits-1) + 0.5), clamped to the top level;
//   * affine types (Q4_1, Q5_1) set d = (max - min) / (2^bits - 1), m = min, and use
//     trunc((x - min)/d + 0.5);
//   * Q8_0 / Q8_1 set d = max|x| / 127 and round half away from zero (roundf).
// The inverse scale is computed in float32 from the unrounded d; the stored d is
// its fp16 rounding.
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/quant_kernels.h"
#include "tensor/quant_ksearch.h"
#include "tensor/quant_math.h"

#include <algorithm>
#include <cmath>

#include "tensor/fp_strict.h" // last: no FMA contraction below

namespace corvid::quant {
namespace {

constexpr int kHalf = kQK32 / 2;

// Signed element of largest magnitude (the first one on ties), or 0.
float signed_absmax(const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK32; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

void min_max(const float *x, float &min, float &max) {
    min = x[0];
    max = x[0];
    for (int j = 1; j < kQK32; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
}

float absmax(const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < kQK32; ++j) amax = std::max(amax, std::fabs(x[j]));
    return amax;
}

uint32_t read_qh(const uint8_t qh[4]) {
    return uint32_t(qh[0]) | uint32_t(qh[1]) << 8 | uint32_t(qh[2]) << 16 | uint32_t(qh[3]) << 24;
}

void write_qh(uint8_t qh[4], uint32_t v) {
    for (int i = 0; i < 4; ++i) qh[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Nibble layout shared by the 32-element types: byte j holds element j (low) and j + 16 (high).
int low_nibble(const uint8_t *qs, int j) { return qs[j] & 0x0F; }
int high_nibble(const uint8_t *qs, int j) { return qs[j] >> 4; }

} // namespace

// ---- Q4_0 -------------------------------------------------------------------

void quantize_q4_0(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        const float d = signed_absmax(x) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;

        BlockQ4_0 blk{};
        blk.d = fp32_to_fp16(d);
        for (int j = 0; j < kHalf; ++j) {
            const float v0 = x[j] * id;
            const float v1 = x[j + kHalf] * id;
            const int q0 = std::min(15, static_cast<int>(v0 + 8.5f));
            const int q1 = std::min(15, static_cast<int>(v1 + 8.5f));
            blk.qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
        }
        store_block(dst, b, blk);
    }
}

void dequantize_q4_0(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ4_0>(src, b);
        const float d = fp16_to_fp32(blk.d);
        float *y = dst + b * kQK32;
        for (int j = 0; j < kHalf; ++j) {
            y[j] = static_cast<float>(low_nibble(blk.qs, j) - 8) * d;
            y[j + kHalf] = static_cast<float>(high_nibble(blk.qs, j) - 8) * d;
        }
    }
}

// ---- Q4_1 -------------------------------------------------------------------

void quantize_q4_1(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        float min, max;
        min_max(x, min, max);
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;

        BlockQ4_1 blk{};
        blk.d = fp32_to_fp16(d);
        blk.m = fp32_to_fp16(min);
        for (int j = 0; j < kHalf; ++j) {
            const float v0 = (x[j] - min) * id;
            const float v1 = (x[j + kHalf] - min) * id;
            const int q0 = std::min(15, static_cast<int>(v0 + 0.5f));
            const int q1 = std::min(15, static_cast<int>(v1 + 0.5f));
            blk.qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
        }
        store_block(dst, b, blk);
    }
}

void dequantize_q4_1(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ4_1>(src, b);
        const float d = fp16_to_fp32(blk.d);
        const float m = fp16_to_fp32(blk.m);
        float *y = dst + b * kQK32;
        for (int j = 0; j < kHalf; ++j) {
            y[j] = static_cast<float>(low_nibble(blk.qs, j)) * d + m;
            y[j + kHalf] = static_cast<float>(high_nibble(blk.qs, j)) * d + m;
        }
    }
}

// ---- Q5_0 -------------------------------------------------------------------

void quantize_q5_0(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        const float d = signed_absmax(x) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;

        BlockQ5_0 blk{};
        blk.d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kHalf; ++j) {
            const float v0 = x[j] * id;
            const float v1 = x[j + kHalf] * id;
            const int q0 = std::min(31, static_cast<int>(v0 + 16.5f));
            const int q1 = std::min(31, static_cast<int>(v1 + 16.5f));
            blk.qs[j] = static_cast<uint8_t>((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= uint32_t((q0 >> 4) & 1) << j;
            qh |= uint32_t((q1 >> 4) & 1) << (j + kHalf);
        }
        write_qh(blk.qh, qh);
        store_block(dst, b, blk);
    }
}

void dequantize_q5_0(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ5_0>(src, b);
        const float d = fp16_to_fp32(blk.d);
        const uint32_t qh = read_qh(blk.qh);
        float *y = dst + b * kQK32;
        for (int j = 0; j < kHalf; ++j) {
            const int q0 = low_nibble(blk.qs, j) | int((qh >> j) & 1) << 4;
            const int q1 = high_nibble(blk.qs, j) | int((qh >> (j + kHalf)) & 1) << 4;
            y[j] = static_cast<float>(q0 - 16) * d;
            y[j + kHalf] = static_cast<float>(q1 - 16) * d;
        }
    }
}

// ---- Q5_1 -------------------------------------------------------------------

void quantize_q5_1(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        float min, max;
        min_max(x, min, max);
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;

        BlockQ5_1 blk{};
        blk.d = fp32_to_fp16(d);
        blk.m = fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < kHalf; ++j) {
            const float v0 = (x[j] - min) * id;
            const float v1 = (x[j + kHalf] - min) * id;
            // No clamp here (ggml has none): v + 0.5 stays below 32 for finite input.
            const int q0 = static_cast<uint8_t>(static_cast<int>(v0 + 0.5f));
            const int q1 = static_cast<uint8_t>(static_cast<int>(v1 + 0.5f));
            blk.qs[j] = static_cast<uint8_t>((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= uint32_t((q0 >> 4) & 1) << j;
            qh |= uint32_t((q1 >> 4) & 1) << (j + kHalf);
        }
        write_qh(blk.qh, qh);
        store_block(dst, b, blk);
    }
}

void dequantize_q5_1(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ5_1>(src, b);
        const float d = fp16_to_fp32(blk.d);
        const float m = fp16_to_fp32(blk.m);
        const uint32_t qh = read_qh(blk.qh);
        float *y = dst + b * kQK32;
        for (int j = 0; j < kHalf; ++j) {
            const int q0 = low_nibble(blk.qs, j) | int((qh >> j) & 1) << 4;
            const int q1 = high_nibble(blk.qs, j) | int((qh >> (j + kHalf)) & 1) << 4;
            y[j] = static_cast<float>(q0) * d + m;
            y[j + kHalf] = static_cast<float>(q1) * d + m;
        }
    }
}

// ---- Q8_0 / Q8_1 --------------------------------------------------------------

void quantize_q8_0(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        const float d = absmax(x) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;

        BlockQ8_0 blk{};
        blk.d = fp32_to_fp16(d);
        for (int j = 0; j < kQK32; ++j) blk.qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
        store_block(dst, b, blk);
    }
}

void dequantize_q8_0(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ8_0>(src, b);
        const float d = fp16_to_fp32(blk.d);
        float *y = dst + b * kQK32;
        for (int j = 0; j < kQK32; ++j) y[j] = static_cast<float>(blk.qs[j]) * d;
    }
}

void quantize_q8_1(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        const float d = absmax(x) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;

        BlockQ8_1 blk{};
        blk.d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < kQK32; ++j) {
            blk.qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
            sum += blk.qs[j];
        }
        // s is d * sum(q) with the unrounded float d.
        blk.s = fp32_to_fp16(static_cast<float>(sum) * d);
        store_block(dst, b, blk);
    }
}

// ggml has no Q8_1 -> float conversion; this is the obvious one (s is redundant).
void dequantize_q8_1(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ8_1>(src, b);
        const float d = fp16_to_fp32(blk.d);
        float *y = dst + b * kQK32;
        for (int j = 0; j < kQK32; ++j) y[j] = static_cast<float>(blk.qs[j]) * d;
    }
}

// ---- importance-matrix variants (ggml's quantize_row_q4_0_impl etc. with weights) ----
// One row of n_blocks * 32 elements; qw has one value per element. Element weights are
// qw * sqrt(sigma2 + x^2), sigma2 the mean of x^2 over the whole row. The symmetric
// types take the best of 19 scales (symmetric_scale_search), the affine ones the
// weighted affine search of the K-quants; the levels are not recomputed against the
// fp16-rounded scale.

namespace {

float row_sigma2(const float *x, int64_t n) {
    float s = 0.0f;
    for (int64_t j = 0; j < n; ++j) s += x[j] * x[j];
    return s / static_cast<float>(n);
}

void element_weights(const float *xb, const float *qw, float sigma2, float w[kQK32]) {
    for (int j = 0; j < kQK32; ++j) w[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
}

void pack_q5_levels(const uint8_t *L, BlockQ5_0 &blk) {
    uint32_t qh = 0;
    for (int j = 0; j < kHalf; ++j) {
        const int q0 = L[j], q1 = L[j + kHalf];
        blk.qs[j] = static_cast<uint8_t>((q0 & 0x0F) | (q1 & 0x0F) << 4);
        qh |= uint32_t((q0 >> 4) & 1) << j;
        qh |= uint32_t((q1 >> 4) & 1) << (j + kHalf);
    }
    write_qh(blk.qh, qh);
}

void pack_q5_levels(const uint8_t *L, BlockQ5_1 &blk) {
    uint32_t qh = 0;
    for (int j = 0; j < kHalf; ++j) {
        const int q0 = L[j], q1 = L[j + kHalf];
        blk.qs[j] = static_cast<uint8_t>((q0 & 0x0F) | (q1 & 0x0F) << 4);
        qh |= uint32_t((q0 >> 4) & 1) << j;
        qh |= uint32_t((q1 >> 4) & 1) << (j + kHalf);
    }
    write_qh(blk.qh, qh);
}

} // namespace

void quantize_q4_0_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw) {
    const float sigma2 = row_sigma2(src, n_blocks * kQK32);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        float w[kQK32];
        int8_t L[kQK32];
        element_weights(x, qw + b * kQK32, sigma2, w);
        BlockQ4_0 blk{};
        blk.d = fp32_to_fp16(symmetric_scale_search(kQK32, 8, x, L, w));
        for (int j = 0; j < kHalf; ++j) blk.qs[j] = static_cast<uint8_t>(L[j] | L[j + kHalf] << 4);
        store_block(dst, b, blk);
    }
}

void quantize_q5_0_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw) {
    const float sigma2 = row_sigma2(src, n_blocks * kQK32);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        float w[kQK32];
        int8_t L[kQK32];
        element_weights(x, qw + b * kQK32, sigma2, w);
        BlockQ5_0 blk{};
        blk.d = fp32_to_fp16(symmetric_scale_search(kQK32, 16, x, L, w));
        uint8_t U[kQK32];
        for (int j = 0; j < kQK32; ++j) U[j] = static_cast<uint8_t>(L[j]);
        pack_q5_levels(U, blk);
        store_block(dst, b, blk);
    }
}

void quantize_q4_1_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw) {
    const float sigma2 = row_sigma2(src, n_blocks * kQK32);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        float w[kQK32];
        uint8_t L[kQK32], aux[kQK32];
        element_weights(x, qw + b * kQK32, sigma2, w);
        float neg_min = 0.0f;
        const float d = affine_scale_search(kQK32, 15, x, w, L, &neg_min, aux, -0.9f, 0.05f, 36, false);
        BlockQ4_1 blk{};
        blk.d = fp32_to_fp16(d);
        blk.m = fp32_to_fp16(-neg_min);
        for (int j = 0; j < kHalf; ++j) blk.qs[j] = static_cast<uint8_t>(L[j] | L[j + kHalf] << 4);
        store_block(dst, b, blk);
    }
}

void quantize_q5_1_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw) {
    const float sigma2 = row_sigma2(src, n_blocks * kQK32);
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        float w[kQK32];
        uint8_t L[kQK32], aux[kQK32];
        element_weights(x, qw + b * kQK32, sigma2, w);
        float neg_min = 0.0f;
        const float d = affine_scale_search(kQK32, 31, x, w, L, &neg_min, aux, -0.9f, 0.05f, 36, false);
        BlockQ5_1 blk{};
        blk.d = fp32_to_fp16(d);
        blk.m = fp32_to_fp16(-neg_min);
        pack_q5_levels(L, blk);
        store_block(dst, b, blk);
    }
}

} // namespace corvid::quant
