// K-quants: 256-element super-blocks split into sub-blocks of 16 or 32, each with its
// own scale (and minimum, for the affine types), the per-sub-block scales themselves
// quantized against one or two fp16 super-block scales. Also Q8_K (activations).
//
// The quantizers are ggml's reference ones (quantize_row_qN_K_ref): a scale search
// per sub-block (quant_ksearch.h), quantization of the sub-block scales, then the
// levels recomputed against the scales as they were actually stored.
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

int clamp(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }

// Q2_K and Q3_K store 2-bit fields four to a byte: in each 128-element half, byte l
// (0..31) holds elements l, l+32, l+64, l+96 in bits 0-1, 2-3, 4-5, 6-7.
void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int half = 0; half < kQK_K; half += 128)
        for (int l = 0; l < 32; ++l)
            qs[half / 4 + l] = static_cast<uint8_t>(L[half + l] | L[half + l + 32] << 2 | L[half + l + 64] << 4 |
                                                    L[half + l + 96] << 6);
}

int unpack_2bit(const uint8_t *qs, int e) {
    const int half = e / 128, within = e % 128;
    return (qs[half * 32 + within % 32] >> (2 * (within / 32))) & 3;
}

// Q4_K / Q5_K: 8 six-bit scales and 8 six-bit mins in 12 bytes. Bytes 0-3 hold scales
// 0-3, bytes 4-7 mins 0-3 (low 6 bits); bytes 8-11 hold the low nibbles of scale
// (low) and min (high) 4-7, whose top 2 bits sit in bits 6-7 of bytes 0-3 / 4-7.
// (Read back by k4_scale_min, tensor/blocks.h.)
void pack_scales_mins_k4(const uint8_t sc[8], const uint8_t mn[8], uint8_t out[kKScaleBytes]) {
    for (int j = 0; j < 4; ++j) {
        out[j] = static_cast<uint8_t>((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        out[j + 4] = static_cast<uint8_t>((mn[j] & 63) | (mn[j + 4] >> 4) << 6);
        out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | (mn[j + 4] & 0x0F) << 4);
    }
}

// Q3_K: 16 six-bit scales (biased by 32) in 12 bytes: low nibbles of scales 0-7 in the
// low halves of bytes 0-7, of scales 8-15 in their high halves; the top 2 bits of scale
// j in bits 2*(j/4) of byte 8 + j%4. (Read back by q3_k_scale, tensor/blocks.h.)
void pack_scales_q3(const int sc[16], uint8_t out[12]) {
    for (int i = 0; i < 12; ++i) out[i] = 0;
    for (int j = 0; j < 16; ++j) {
        if (j < 8)
            out[j] = static_cast<uint8_t>(sc[j] & 0x0F);
        else
            out[j - 8] = static_cast<uint8_t>(out[j - 8] | (sc[j] & 0x0F) << 4);
        out[8 + j % 4] = static_cast<uint8_t>(out[8 + j % 4] | (sc[j] >> 4) << (2 * (j / 4)));
    }
}

} // namespace

// ---- Q2_K ---------------------------------------------------------------------
// 16 sub-blocks of 16, affine; 4-bit sub-block scales and mins.

namespace {

// Requantizes against the stored scales (sub-blocks whose scale rounded to 0 keep the
// levels of the search) and packs the levels.
void finish_q2_k(const float *x, uint8_t L[kQK_K], BlockQ2_K &blk) {
    constexpr int kSub = 16, kNSub = kQK_K / kSub;
    const float d_all = fp16_to_fp32(blk.d), m_all = fp16_to_fp32(blk.dmin);
    for (int j = 0; j < kNSub; ++j) {
        const float d = d_all * static_cast<float>(blk.scales[j] & 0x0F);
        if (d == 0.0f) continue;
        const float dm = m_all * static_cast<float>(blk.scales[j] >> 4);
        for (int l = 0; l < kSub; ++l)
            L[kSub * j + l] = static_cast<uint8_t>(clamp(nearest_int((x[kSub * j + l] + dm) / d), 0, 3));
    }
    pack_2bit(L, blk.qs);
}

// Sum of squares of one 256-element super-block, in ggml's order.
float sum_squares(const float *x, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; ++i) s += x[i] * x[i];
    return s;
}

} // namespace

void quantize_q2_k(const float *src, void *dst, int64_t n_blocks) {
    constexpr int kSub = 16, kNSub = kQK_K / kSub;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK_K;
        uint8_t L[kQK_K];
        uint8_t aux[kSub];
        float weights[kSub];
        float scales[kNSub], mins[kNSub];

        float max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < kNSub; ++j) {
            const float *xs = x + kSub * j;
            for (int l = 0; l < kSub; ++l) weights[l] = std::fabs(xs[l]);
            scales[j] = affine_scale_search(kSub, 3, xs, weights, L + kSub * j, &mins[j], aux, -0.5f, 0.1f, 15, true);
            max_scale = std::max(max_scale, scales[j]);
            max_min = std::max(max_min, mins[j]);
        }

        BlockQ2_K blk{};
        if (max_scale > 0) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < kNSub; ++j) blk.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
            blk.d = fp32_to_fp16(max_scale / 15.0f);
        } else {
            blk.d = fp32_to_fp16(0.0f);
        }
        if (max_min > 0) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < kNSub; ++j)
                blk.scales[j] = static_cast<uint8_t>(blk.scales[j] | nearest_int(iscale * mins[j]) << 4);
            blk.dmin = fp32_to_fp16(max_min / 15.0f);
        } else {
            blk.dmin = fp32_to_fp16(0.0f);
        }

        finish_q2_k(x, L, blk);
        store_block(dst, b, blk);
    }
}

void dequantize_q2_k(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ2_K>(src, b);
        const float d = fp16_to_fp32(blk.d), min = fp16_to_fp32(blk.dmin);
        float *y = dst + b * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            const uint8_t sc = blk.scales[e / 16];
            const float dl = d * static_cast<float>(sc & 0x0F);
            const float ml = min * static_cast<float>(sc >> 4);
            y[e] = dl * static_cast<float>(unpack_2bit(blk.qs, e)) - ml;
        }
    }
}

// ---- Q3_K ---------------------------------------------------------------------
// 16 sub-blocks of 16, symmetric, levels -4..3; signed 6-bit sub-block scales.

namespace {

// Requantizes against the stored scales and packs the levels (low 2 bits in qs, bit 2
// in hmask). blk.scales and blk.d are set.
void finish_q3_k(const float *x, int8_t L[kQK_K], BlockQ3_K &blk) {
    constexpr int kSub = 16, kNSub = kQK_K / kSub;
    const float d_all = fp16_to_fp32(blk.d);
    for (int j = 0; j < kNSub; ++j) {
        const float d = d_all * static_cast<float>(q3_k_scale(blk.scales, j) - 32);
        if (d == 0.0f) continue;
        for (int l = 0; l < kSub; ++l)
            L[kSub * j + l] = static_cast<int8_t>(clamp(nearest_int(x[kSub * j + l] / d), -4, 3) + 4);
    }

    // Bit 2 of each level goes to hmask: element e sets bit e/32 of hmask[e%32].
    uint8_t low[kQK_K];
    for (int e = 0; e < kQK_K; ++e) {
        int l = L[e];
        if (l > 3) {
            blk.hmask[e % 32] = static_cast<uint8_t>(blk.hmask[e % 32] | 1 << (e / 32));
            l -= 4;
        }
        low[e] = static_cast<uint8_t>(l);
    }
    pack_2bit(low, blk.qs);
}

} // namespace

void quantize_q3_k(const float *src, void *dst, int64_t n_blocks) {
    constexpr int kSub = 16, kNSub = kQK_K / kSub;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK_K;
        int8_t L[kQK_K];
        float scales[kNSub];

        float max_scale = 0.0f, amax = 0.0f; // the signed scale of largest magnitude
        for (int j = 0; j < kNSub; ++j) {
            scales[j] = symmetric_scale_refine(kSub, 4, x + kSub * j, L + kSub * j);
            if (std::fabs(scales[j]) > amax) {
                amax = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }

        BlockQ3_K blk{};
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            int sc[kNSub];
            for (int j = 0; j < kNSub; ++j) {
                const int8_t l = static_cast<int8_t>(nearest_int(iscale * scales[j]));
                sc[j] = clamp(l, -32, 31) + 32;
            }
            pack_scales_q3(sc, blk.scales);
            blk.d = fp32_to_fp16(1.0f / iscale);
        } else {
            blk.d = fp32_to_fp16(0.0f);
        }

        finish_q3_k(x, L, blk);
        store_block(dst, b, blk);
    }
}

void dequantize_q3_k(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ3_K>(src, b);
        const float d_all = fp16_to_fp32(blk.d);
        float *y = dst + b * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            const float dl = d_all * static_cast<float>(q3_k_scale(blk.scales, e / 16) - 32);
            const bool high = (blk.hmask[e % 32] >> (e / 32)) & 1;
            const int q = unpack_2bit(blk.qs, e) - (high ? 0 : 4);
            y[e] = dl * static_cast<float>(q);
        }
    }
}

// ---- Q4_K / Q5_K ----------------------------------------------------------------
// 8 sub-blocks of 32, affine; 6-bit sub-block scales and mins. They differ only in
// the level count, the search grid and where the fifth bit goes.

namespace {

// Levels 0..nmax against the stored (packed, fp16) scales and mins; sub-blocks whose
// scale is 0 keep the levels of the search.
void requantize_k4(const float *x, int nmax, uint8_t L[kQK_K], const uint8_t packed[kKScaleBytes], uint16_t d16,
                   uint16_t dmin16) {
    constexpr int kSub = 32, kNSub = kQK_K / kSub;
    const float d_all = fp16_to_fp32(d16), m_all = fp16_to_fp32(dmin16);
    for (int j = 0; j < kNSub; ++j) {
        int s, m;
        k4_scale_min(packed, j, s, m);
        const float d = d_all * static_cast<float>(s);
        if (d == 0.0f) continue;
        const float dm = m_all * static_cast<float>(m);
        for (int l = 0; l < kSub; ++l)
            L[kSub * j + l] = static_cast<uint8_t>(clamp(nearest_int((x[kSub * j + l] + dm) / d), 0, nmax));
    }
}

// The importance-matrix variant of the scale search and scale quantization of Q4_K and
// Q5_K (ggml's quantize_row_q4_K_impl / q5_K_impl with weights): element weights
// qw * sqrt(sigma2 + x^2) with sigma2 = 2 * mean(x^2) over the super-block, a finer
// affine search (36 steps of 0.05 from nmax - 0.9), then the sub-block scales and mins
// quantized to 6 bits by positive_scale_search weighted by each sub-block's weight sum.
void quantize_k4_weighted(const float *x, const float *qw, int nmax, uint8_t L[kQK_K],
                          uint8_t packed[kKScaleBytes], uint16_t *d_out, uint16_t *dmin_out) {
    constexpr int kSub = 32, kNSub = kQK_K / kSub;
    uint8_t aux[kSub];
    float weights[kSub];
    float scales[kNSub], mins[kNSub], sw[kNSub];
    const float sigma2 = 2.0f * sum_squares(x, kQK_K) / static_cast<float>(kQK_K);
    for (int j = 0; j < kNSub; ++j) {
        const float *xs = x + kSub * j;
        for (int l = 0; l < kSub; ++l) weights[l] = qw[kSub * j + l] * std::sqrt(sigma2 + xs[l] * xs[l]);
        float sumw = 0.0f;
        for (int l = 0; l < kSub; ++l) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = affine_scale_search(kSub, nmax, xs, weights, L + kSub * j, &mins[j], aux, -0.9f, 0.05f, 36, false);
    }
    uint8_t ls[kNSub], lm[kNSub];
    const float d_block = positive_scale_search(kNSub, 63, scales, ls, sw);
    const float m_block = positive_scale_search(kNSub, 63, mins, lm, sw);
    // ggml's byte operations (the same as pack_scales_mins_k4 for levels <= 63, which
    // positive_scale_search guarantees for the non-negative scales and mins it gets).
    for (int j = 0; j < kNSub; ++j) {
        if (j < 4) {
            packed[j] = ls[j];
            packed[j + 4] = lm[j];
        } else {
            packed[j + 4] = static_cast<uint8_t>((ls[j] & 0x0F) | (lm[j] & 0x0F) << 4);
            packed[j - 4] = static_cast<uint8_t>(packed[j - 4] | (ls[j] >> 4) << 6);
            packed[j] = static_cast<uint8_t>(packed[j] | (lm[j] >> 4) << 6);
        }
    }
    *d_out = fp32_to_fp16(d_block);
    *dmin_out = fp32_to_fp16(m_block);
    requantize_k4(x, nmax, L, packed, *d_out, *dmin_out);
}

// Scale search and scale quantization shared by Q4_K and Q5_K: fills L (levels 0..nmax),
// the packed scales, d and dmin.
void quantize_k4_common(const float *x, int nmax, float rmin, int nstep, uint8_t L[kQK_K],
                        uint8_t packed[kKScaleBytes], uint16_t *d_out, uint16_t *dmin_out) {
    constexpr int kSub = 32, kNSub = kQK_K / kSub;
    uint8_t aux[kSub];
    float weights[kSub];
    float scales[kNSub], mins[kNSub];

    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < kNSub; ++j) {
        const float *xs = x + kSub * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < kSub; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32.0f);
        for (int l = 0; l < kSub; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = affine_scale_search(kSub, nmax, xs, weights, L + kSub * j, &mins[j], aux, rmin, 0.1f, nstep, false);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }

    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t sc[kNSub], mn[kNSub];
    for (int j = 0; j < kNSub; ++j) {
        // Truncated to a byte before clamping, as ggml does.
        sc[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
        mn[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    pack_scales_mins_k4(sc, mn, packed);
    *d_out = fp32_to_fp16(max_scale / 63.0f);
    *dmin_out = fp32_to_fp16(max_min / 63.0f);
    requantize_k4(x, nmax, L, packed, *d_out, *dmin_out);
}

} // namespace

namespace {

// Each 64-element chunk: byte l holds element l (low nibble) and l + 32 (high).
void pack_q4_k(const uint8_t L[kQK_K], BlockQ4_K &blk) {
    for (int c = 0; c < kQK_K / 64; ++c)
        for (int l = 0; l < 32; ++l)
            blk.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | L[64 * c + l + 32] << 4);
}

// Low 4 bits as in Q4_K; bit 4 of element 64c + l (l < 32) is bit 2c of qh[l], of
// element 64c + 32 + l bit 2c + 1.
void pack_q5_k(const uint8_t L[kQK_K], BlockQ5_K &blk) {
    for (int c = 0; c < kQK_K / 64; ++c) {
        for (int l = 0; l < 32; ++l) {
            const int lo = L[64 * c + l], hi = L[64 * c + l + 32];
            blk.qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0F) | (hi & 0x0F) << 4);
            blk.qh[l] = static_cast<uint8_t>(blk.qh[l] | (lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
        }
    }
}

} // namespace

void quantize_q4_k(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint8_t L[kQK_K];
        BlockQ4_K blk{};
        quantize_k4_common(src + b * kQK_K, 15, -1.0f, 20, L, blk.scales, &blk.d, &blk.dmin);
        pack_q4_k(L, blk);
        store_block(dst, b, blk);
    }
}

void dequantize_q4_k(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ4_K>(src, b);
        const float d = fp16_to_fp32(blk.d), min = fp16_to_fp32(blk.dmin);
        float *y = dst + b * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            int s, m;
            k4_scale_min(blk.scales, e / 32, s, m);
            const float dl = d * static_cast<float>(s);
            const float ml = min * static_cast<float>(m);
            const int c = e / 64, l = e % 32;
            const int q = (e % 64) < 32 ? (blk.qs[32 * c + l] & 0x0F) : (blk.qs[32 * c + l] >> 4);
            y[e] = dl * static_cast<float>(q) - ml;
        }
    }
}

void quantize_q5_k(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint8_t L[kQK_K];
        BlockQ5_K blk{};
        quantize_k4_common(src + b * kQK_K, 31, -0.5f, 15, L, blk.scales, &blk.d, &blk.dmin);
        pack_q5_k(L, blk);
        store_block(dst, b, blk);
    }
}

void dequantize_q5_k(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ5_K>(src, b);
        const float d = fp16_to_fp32(blk.d), min = fp16_to_fp32(blk.dmin);
        float *y = dst + b * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            int s, m;
            k4_scale_min(blk.scales, e / 32, s, m);
            const float dl = d * static_cast<float>(s);
            const float ml = min * static_cast<float>(m);
            const int c = e / 64, l = e % 32;
            const bool upper = (e % 64) >= 32;
            const int low4 = upper ? (blk.qs[32 * c + l] >> 4) : (blk.qs[32 * c + l] & 0x0F);
            const int bit4 = (blk.qh[l] >> (2 * c + (upper ? 1 : 0))) & 1;
            y[e] = dl * static_cast<float>(low4 + 16 * bit4) - ml;
        }
    }
}

// ---- Q6_K ---------------------------------------------------------------------
// 16 sub-blocks of 16, symmetric, levels -32..31; signed 8-bit sub-block scales.
// In each 128-element half h: ql[64h + l] holds elements l (low nibble) and l + 64
// (high), ql[64h + 32 + l] elements l + 32 and l + 96; qh[32h + l] holds the top two
// bits of elements l, l + 32, l + 64, l + 96 in bits 0-1, 2-3, 4-5, 6-7.

namespace {

// One Q6_K block; qw == nullptr weights each element by its square (the reference
// quantizer), else by the importance-matrix values themselves (ggml's q6_K_impl).
void quantize_q6_k_block(const float *x, const float *qw, void *dst, int64_t b) {
    constexpr int kSub = 16, kNSub = kQK_K / kSub;
    {
        int8_t L[kQK_K];
        float scales[kNSub];

        float max_scale = 0.0f, max_abs_scale = 0.0f;
        for (int j = 0; j < kNSub; ++j) {
            scales[j] = symmetric_scale_search(kSub, 32, x + kSub * j, L + kSub * j, qw ? qw + kSub * j : nullptr);
            if (std::fabs(scales[j]) > max_abs_scale) {
                max_abs_scale = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }

        BlockQ6_K blk{};
        if (max_abs_scale < kGroupMaxEps) { // all (near) zero: an all-zero block
            store_block(dst, b, blk);
            return;
        }
        const float iscale = -128.0f / max_scale;
        blk.d = fp32_to_fp16(1.0f / iscale);
        for (int j = 0; j < kNSub; ++j)
            blk.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));

        const float d_all = fp16_to_fp32(blk.d);
        for (int j = 0; j < kNSub; ++j) {
            const float d = d_all * static_cast<float>(blk.scales[j]);
            if (d == 0.0f) continue;
            for (int l = 0; l < kSub; ++l)
                L[kSub * j + l] = static_cast<int8_t>(clamp(nearest_int(x[kSub * j + l] / d), -32, 31) + 32);
        }

        for (int h = 0; h < 2; ++h) {
            const int8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; ++l) {
                blk.ql[64 * h + l] = static_cast<uint8_t>((Lh[l] & 0x0F) | (Lh[l + 64] & 0x0F) << 4);
                blk.ql[64 * h + l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0x0F) | (Lh[l + 96] & 0x0F) << 4);
                blk.qh[32 * h + l] = static_cast<uint8_t>(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 |
                                                          (Lh[l + 96] >> 4) << 6);
            }
        }
        store_block(dst, b, blk);
    }
}

} // namespace

void quantize_q6_k(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) quantize_q6_k_block(src + b * kQK_K, nullptr, dst, b);
}

void dequantize_q6_k(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ6_K>(src, b);
        const float d = fp16_to_fp32(blk.d);
        float *y = dst + b * kQK_K;
        for (int e = 0; e < kQK_K; ++e) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32; // k: which of the four 32-runs
            const uint8_t qlb = blk.ql[64 * h + l + (k & 1) * 32];
            const int low4 = k < 2 ? (qlb & 0x0F) : (qlb >> 4);
            const int high2 = (blk.qh[32 * h + l] >> (2 * k)) & 3;
            const int q = (low4 | high2 << 4) - 32;
            y[e] = d * static_cast<float>(blk.scales[e / 16]) * static_cast<float>(q);
        }
    }
}

// ---- Q8_K ---------------------------------------------------------------------

void quantize_q8_k(const float *src, void *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK_K;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < kQK_K; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        BlockQ8_K blk{};
        if (amax != 0.0f) {
            // -127 rather than -128 keeps every level within -127..127.
            const float iscale = -127.0f / max;
            for (int j = 0; j < kQK_K; ++j) blk.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
            for (int j = 0; j < kQK_K / 16; ++j) {
                int sum = 0;
                for (int l = 0; l < 16; ++l) sum += blk.qs[16 * j + l];
                blk.bsums[j] = static_cast<int16_t>(sum);
            }
            blk.d = 1.0f / iscale;
        }
        store_block(dst, b, blk);
    }
}

void dequantize_q8_k(const void *src, float *dst, int64_t n_blocks) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        const auto blk = load_block<BlockQ8_K>(src, b);
        float *y = dst + b * kQK_K;
        for (int j = 0; j < kQK_K; ++j) y[j] = blk.d * static_cast<float>(blk.qs[j]);
    }
}

// ---- importance-matrix variants (ggml's quantize_row_qN_K_impl with quant_weights) ----
// qw holds one weight per element of the row (the importance matrix row, not the
// element weights); n_blocks is the row length / 256.

void quantize_q2_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw_row) {
    constexpr int kSub = 16, kNSub = kQK_K / kSub;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK_K;
        const float *qw = qw_row + b * kQK_K;
        uint8_t L[kQK_K];
        uint8_t aux[kSub];
        float weight[kSub];
        float scales[kNSub], mins[kNSub], sw[kNSub];
        // Q2_K uses the plain mean of x^2 (the other K types twice that).
        const float sigma2 = sum_squares(x, kQK_K) / static_cast<float>(kQK_K);
        for (int j = 0; j < kNSub; ++j) {
            for (int l = 0; l < kSub; ++l)
                weight[l] = qw[kSub * j + l] * std::sqrt(sigma2 + x[kSub * j + l] * x[kSub * j + l]);
            sw[j] = 0.0f;
            for (int l = 0; l < kSub; ++l) sw[j] += weight[l];
            scales[j] = affine_scale_search(kSub, 3, x + kSub * j, weight, L + kSub * j, &mins[j], aux, -0.9f, 0.05f,
                                            36, false);
        }
        uint8_t ls[kNSub], lm[kNSub];
        const float dm = positive_scale_search(kNSub, 15, scales, ls, sw);
        const float mm = positive_scale_search(kNSub, 15, mins, lm, sw);
        BlockQ2_K blk{};
        blk.d = fp32_to_fp16(dm);
        blk.dmin = fp32_to_fp16(mm);
        for (int j = 0; j < kNSub; ++j) blk.scales[j] = static_cast<uint8_t>(ls[j] | lm[j] << 4);
        finish_q2_k(x, L, blk);
        store_block(dst, b, blk);
    }
}

void quantize_q3_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw_row) {
    constexpr int kSub = 16, kNSub = kQK_K / kSub;
    for (int64_t b = 0; b < n_blocks; ++b) {
        const float *x = src + b * kQK_K;
        const float *qw = qw_row + b * kQK_K;
        int8_t L[kQK_K];
        float weight[kSub];
        float scales[kNSub], sw[kNSub];
        const float sigma2 = 2.0f * sum_squares(x, kQK_K) / static_cast<float>(kQK_K);
        for (int j = 0; j < kNSub; ++j) {
            for (int l = 0; l < kSub; ++l)
                weight[l] = qw[kSub * j + l] * std::sqrt(sigma2 + x[kSub * j + l] * x[kSub * j + l]);
            float sumw = 0.0f;
            for (int l = 0; l < kSub; ++l) sumw += weight[l];
            sw[j] = sumw;
            scales[j] = symmetric_scale_search(kSub, 4, x + kSub * j, L + kSub * j, weight);
        }
        // The 16 sub-block scales themselves: a weighted symmetric fit with levels 0..63
        // (stored with the bias of 32 already in).
        int8_t ls[kNSub];
        const float d_block = symmetric_scale_search(kNSub, 32, scales, ls, sw);
        int sc[kNSub];
        for (int j = 0; j < kNSub; ++j) sc[j] = ls[j];
        BlockQ3_K blk{};
        pack_scales_q3(sc, blk.scales);
        blk.d = fp32_to_fp16(d_block);
        finish_q3_k(x, L, blk);
        store_block(dst, b, blk);
    }
}

void quantize_q4_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw_row) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint8_t L[kQK_K];
        BlockQ4_K blk{};
        quantize_k4_weighted(src + b * kQK_K, qw_row + b * kQK_K, 15, L, blk.scales, &blk.d, &blk.dmin);
        pack_q4_k(L, blk);
        store_block(dst, b, blk);
    }
}

void quantize_q5_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw_row) {
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint8_t L[kQK_K];
        BlockQ5_K blk{};
        quantize_k4_weighted(src + b * kQK_K, qw_row + b * kQK_K, 31, L, blk.scales, &blk.d, &blk.dmin);
        pack_q5_k(L, blk);
        store_block(dst, b, blk);
    }
}

void quantize_q6_k_imatrix(const float *src, void *dst, int64_t n_blocks, const float *qw_row) {
    for (int64_t b = 0; b < n_blocks; ++b) quantize_q6_k_block(src + b * kQK_K, qw_row + b * kQK_K, dst, b);
}

} // namespace corvid::quant
