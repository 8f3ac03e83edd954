// IQ4_NL and IQ4_XS: 4-bit indices into the non-uniform table kIQ4NLValues.
//
// The quantizers reproduce ggml_quantize_chunk without an importance matrix: for each
// 32-element sub-block, start from the scale that maps the largest-magnitude element
// onto -127, take the x^2-weighted least-squares scale of the nearest table entries,
// then try the 15 scales that map that element onto -127 - 7 .. -127 + 7 and keep the
// one whose least-squares scale explains most weighted energy. IQ4_NL stores that
// scale as fp16; IQ4_XS quantizes the 8 sub-block scales to 6 bits against one fp16
// super-block scale. The indices are then recomputed against the final scale.
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

constexpr int kSub = 32;
constexpr int kSteps = 7; // scale candidates on each side of the starting one

int nearest_level(float v) { return best_index(16, kIQ4NLValues, v); }

int clamp_scale(int l) { return std::max(-32, std::min(31, l)); }

// Best scale for one sub-block given per-element weights; 0 for an (almost) all-zero
// sub-block. Writes the indices of the starting grid to L (callers recompute them).
float subblock_scale(const float *x, const float *weights, uint8_t *L) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kSub; ++j) {
        if (std::fabs(x[j]) > amax) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    if (amax < kGroupMaxEps) return 0.0f;

    const float v0 = static_cast<float>(kIQ4NLValues[0]); // -127
    float d = -max / v0;
    float id = 1.0f / d;
    float sumqx = 0.0f, sumq2 = 0.0f;
    for (int j = 0; j < kSub; ++j) {
        const int l = nearest_level(id * x[j]);
        L[j] = static_cast<uint8_t>(l);
        const float q = static_cast<float>(kIQ4NLValues[l]);
        sumqx += weights[j] * q * x[j];
        sumq2 += weights[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int step = -kSteps; step <= kSteps; ++step) {
        id = static_cast<float>(step + kIQ4NLValues[0]) / max;
        sumqx = 0.0f;
        sumq2 = 0.0f;
        for (int j = 0; j < kSub; ++j) {
            const float q = static_cast<float>(kIQ4NLValues[nearest_level(id * x[j])]);
            sumqx += weights[j] * q * x[j];
            sumq2 += weights[j] * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

// Without an importance matrix each element is weighted by its square.
void square_weights(const float *x, float *w) {
    for (int j = 0; j < kSub; ++j) w[j] = x[j] * x[j];
}

// Byte j of each 16-byte group holds index j (low nibble) and j + 16 (high) of its sub-block.
void pack_indices(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < kSub / 2; ++j) qs[j] = static_cast<uint8_t>(L[j] | L[j + kSub / 2] << 4);
}

} // namespace

void quantize_iq4_nl(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        float weights[kSub];
        uint8_t L[kSub];
        square_weights(x, weights);
        const float d = subblock_scale(x, weights, L);

        BlockIQ4_NL blk{};
        blk.d = fp32_to_fp16(d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < kSub; ++j) L[j] = static_cast<uint8_t>(nearest_level(id * x[j]));
        pack_indices(L, blk.qs);
        store_block(dst, b, blk);
    }
}

void dequantize_iq4_nl(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockIQ4_NL>(src, b);
        const float d = fp16_to_fp32(blk.d);
        float *y = dst + b * kQK32;
        for (int j = 0; j < kSub / 2; ++j) {
            y[j] = d * static_cast<float>(kIQ4NLValues[blk.qs[j] & 0x0F]);
            y[j + kSub / 2] = d * static_cast<float>(kIQ4NLValues[blk.qs[j] >> 4]);
        }
    }
}

namespace {

// 2 * mean(x^2) over n elements, as ggml computes it (sum, then times 2/n).
float twice_mean_square(const float *x, int n) {
    float s = 0.0f;
    for (int j = 0; j < n; ++j) s += x[j] * x[j];
    return s * (2.0f / static_cast<float>(n));
}

// One IQ4_XS super-block; qw == nullptr weights each element by its square, else by
// qw * sqrt(sigma2 + x^2) with sigma2 = 2 * mean(x^2) over the super-block.
void quantize_iq4_xs_block(const float *x, const float *qw, void *dst, int64_t b) {
    constexpr int kNSub = kQK_K / kSub;
    const float sigma2 = qw ? twice_mean_square(x, kQK_K) : 0.0f;
    {
        float weights[kSub];
        uint8_t L[kQK_K];
        float scales[kNSub];

        float max_scale = 0.0f, amax_scale = 0.0f; // the signed scale of largest magnitude
        for (int ib = 0; ib < kNSub; ++ib) {
            if (qw) {
                for (int j = 0; j < kSub; ++j)
                    weights[j] = qw[kSub * ib + j] * std::sqrt(sigma2 + x[kSub * ib + j] * x[kSub * ib + j]);
            } else {
                square_weights(x + kSub * ib, weights);
            }
            scales[ib] = subblock_scale(x + kSub * ib, weights, L + kSub * ib);
            if (std::fabs(scales[ib]) > amax_scale) {
                amax_scale = std::fabs(scales[ib]);
                max_scale = scales[ib];
            }
        }

        // Sub-block scales become d * (ls - 32), ls in 0..63. The sign makes the largest
        // one land on -32. (An all-zero block stores d = -0.)
        BlockIQ4_XS blk{};
        const float d = -max_scale / 32.0f;
        blk.d = fp32_to_fp16(d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int ib = 0; ib < kNSub; ++ib) {
            const int l = clamp_scale(nearest_int(id * scales[ib]));
            // Indices against the quantized sub-block scale (from the unrounded d, as ggml).
            const float dl = d * static_cast<float>(l);
            const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
            for (int j = 0; j < kSub; ++j)
                L[kSub * ib + j] = static_cast<uint8_t>(nearest_level(idl * x[kSub * ib + j]));
            const int ls = l + 32;
            blk.scales_l[ib / 2] = static_cast<uint8_t>(blk.scales_l[ib / 2] | (ls & 0x0F) << (4 * (ib % 2)));
            blk.scales_h = static_cast<uint16_t>(blk.scales_h | (ls >> 4) << (2 * ib));
        }
        for (int ib = 0; ib < kNSub; ++ib) pack_indices(L + kSub * ib, blk.qs + (kSub / 2) * ib);
        store_block(dst, b, blk);
    }
}

} // namespace

void quantize_iq4_xs(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) quantize_iq4_xs_block(src + b * kQK_K, nullptr, dst, b);
}

void dequantize_iq4_xs(const void *src, float *dst, int64_t n_blocks) {
    constexpr int kNSub = kQK_K / kSub;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockIQ4_XS>(src, b);
        const float d = fp16_to_fp32(blk.d);
        float *y = dst + b * kQK_K;
        for (int ib = 0; ib < kNSub; ++ib) {
            const int ls = ((blk.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F) | ((blk.scales_h >> (2 * ib)) & 3) << 4;
            const float dl = d * static_cast<float>(ls - 32);
            const uint8_t *qs = blk.qs + (kSub / 2) * ib;
            for (int j = 0; j < kSub / 2; ++j) {
                y[kSub * ib + j] = dl * static_cast<float>(kIQ4NLValues[qs[j] & 0x0F]);
                y[kSub * ib + j + kSub / 2] = dl * static_cast<float>(kIQ4NLValues[qs[j] >> 4]);
            }
        }
    }
}

// ---- importance-matrix variants (ggml_quantize_chunk with quant_weights) -------------
// Element weights qw * sqrt(sigma2 + x^2), sigma2 = 2 * mean(x^2) over the block (IQ4_NL,
// 32 elements) or super-block (IQ4_XS, 256); otherwise as above.

namespace {

void importance_weights(const float *x, const float *qw, float sigma2, float *w) {
    for (int j = 0; j < kSub; ++j) w[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

} // namespace

void quantize_iq4_nl_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK32;
        float weights[kSub];
        uint8_t L[kSub];
        importance_weights(x, qw + b * kQK32, twice_mean_square(x, kSub), weights);
        const float d = subblock_scale(x, weights, L);

        BlockIQ4_NL blk{};
        blk.d = fp32_to_fp16(d);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < kSub; ++j) L[j] = static_cast<uint8_t>(nearest_level(id * x[j]));
        pack_indices(L, blk.qs);
        store_block(dst, b, blk);
    }
}

void quantize_iq4_xs_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw) {
    for (int64_t b = 0; b < n_blocks; ++b) quantize_iq4_xs_block(src + b * kQK_K, qw + b * kQK_K, dst, b);
}

} // namespace corvid::quant
