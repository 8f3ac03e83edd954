// ARM64 dot-product kernels for the fast matrix product: NEON with the Armv8.2 dot
// product instructions (SDOT), compiled with -march=armv8.2-a+dotprod (this file alone;
// see CMakeLists.txt) and chosen at run time only when the processor reports them
// (cpu_matmul_fast.cpp: HWCAP_ASIMDDP). Every weight type the x86 kernels cover has a
// kernel here. The blocked (prompt) kernels are in cpu_gemm_neon.cpp (add_gemm_neon, for
// the types it covers: the driver uses them from 4 columns on); there are no multi-row
// (decode) kernels yet.
//
// Arithmetic, as in the x86 kernels (cpu_matmul_x86.inc): per block the weight's integer
// levels times the activation's int8 levels are summed exactly in int32 lanes, scaled in
// float by d_w * d_x with one multiply-add into a float lane, and the float lanes are
// flushed into double lanes every few blocks. SDOT multiplies signed by signed bytes and
// accumulates in int32 without any intermediate saturation, so the weights' offsets
// (Q4_0's -8, Q6_K's -32, Q3_K's -4) are applied to the levels themselves and need no
// correction term; the affine formats' mins still go through the activation's sums.
// tests/backends/test_conformance.cpp bounds the difference from the reference; the
// tests run under qemu-aarch64 on x86 machines (scripts/test_neon.sh, .ci/run).
#include "cpu/cpu_matmul_fast.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include "cpu/cpu_neon_common.h"

#include <cstring>

namespace corvid::cpu::fast {
namespace neon {
namespace {

// ---- primitives -----------------------------------------------------------------------

inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

constexpr int kFlushBlocks = 4; // 32-element blocks per float chain

// Per-lane sums of w[0..16) . x[0..16) + w[16..32) . x[16..32) (4 products per lane and
// instruction, exact in int32).
inline int32x4_t dot32(int8x16_t w0, int8x16_t w1, const int8_t *x) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(x)), w1, vld1q_s8(x + 16));
}

// acc + (w . x) * scale per lane, over 16 elements (a 16-element sub-block's scale).
inline int32x4_t dot16_scaled(int32x4_t acc, int8x16_t w, const int8_t *x, int scale) {
    return vmlaq_n_s32(acc, vdotq_s32(vdupq_n_s32(0), w, vld1q_s8(x)), scale);
}

// ---- the 32-element formats against Q8_0 / Q8_1 activations ---------------------------------

// Runs block(ib, acc) over the nb blocks with two sets of float accumulators (even and
// odd blocks), so consecutive blocks' multiply-adds do not wait on each other, and
// flushes them into dacc every kFlushBlocks blocks.
template <int NC, class Block> inline __attribute__((always_inline)) void blocks2(int64_t nb, DAcc *dacc, Block &&block) {
    float32x4_t a0[NC], a1[NC];
    for (int c = 0; c < NC; ++c) a0[c] = vdupq_n_f32(0.0f), a1[c] = vdupq_n_f32(0.0f);
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        block(ib, a0);
        block(ib + 1, a1);
        if ((ib + 2) % kFlushBlocks == 0)
            for (int c = 0; c < NC; ++c) dacc[c].flush(a0[c]), dacc[c].flush(a1[c]);
    }
    if (ib < nb) block(ib, a0);
    for (int c = 0; c < NC; ++c) dacc[c].flush(a0[c]), dacc[c].flush(a1[c]);
}

#define CORVID_BLOCK [&](int64_t ib, float32x4_t *acc) __attribute__((always_inline))

// acc += p * (d_w * d_x): the block's exact integer lanes, scaled once.
inline float32x4_t scale_add(float32x4_t acc, int32x4_t p, float d) { return vfmaq_n_f32(acc, vcvtq_f32_s32(p), d); }

// Q4_0: levels 0..15 minus 8, signed in the bytes.
template <int NC> void dot_q4_0(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockQ4_0 *w = static_cast<const BlockQ4_0 *>(wv);
    const int8x16_t eight = vdupq_n_s8(8);
    DAcc dacc[NC];
    blocks2<NC>(K / kQK32, dacc, CORVID_BLOCK {
        uint8x16_t l, h;
        unpack_nibbles(w[ib].qs, l, h);
        const int8x16_t lo = vsubq_s8(s8(l), eight), hi = vsubq_s8(s8(h), eight);
        const float dw = half_to_float(w[ib].d);
        for (int c = 0; c < NC; ++c) acc[c] = scale_add(acc[c], dot32(lo, hi, a[c].qs + ib * kQK32), dw * a[c].d[ib]);
    });
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum());
}

// Q4_1: levels 0..15 times d, plus m: d_w d_x sum(q x) + m d_x sum(x).
template <int NC> void dot_q4_1(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockQ4_1 *w = static_cast<const BlockQ4_1 *>(wv);
    DAcc dacc[NC];
    double accm[NC] = {};
    blocks2<NC>(K / kQK32, dacc, CORVID_BLOCK {
        uint8x16_t l, h;
        unpack_nibbles(w[ib].qs, l, h);
        const float dw = half_to_float(w[ib].d), mw = half_to_float(w[ib].m);
        for (int c = 0; c < NC; ++c) {
            acc[c] = scale_add(acc[c], dot32(s8(l), s8(h), a[c].qs + ib * kQK32), dw * a[c].d[ib]);
            accm[c] += mw * a[c].d[ib] * float(a[c].s[ib]);
        }
    });
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum() + accm[c]);
}

// Q5_0: levels 0..31 (Q4_0's nibbles plus bit 4 from qh) minus 16.
template <int NC> void dot_q5_0(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockQ5_0 *w = static_cast<const BlockQ5_0 *>(wv);
    const int8x16_t sixteen = vdupq_n_s8(16);
    DAcc dacc[NC];
    blocks2<NC>(K / kQK32, dacc, CORVID_BLOCK {
        uint8x16_t l, h, hl, hh;
        unpack_nibbles(w[ib].qs, l, h);
        high_bits(load_u32(w[ib].qh), hl, hh);
        const int8x16_t lo = vsubq_s8(s8(vorrq_u8(l, hl)), sixteen), hi = vsubq_s8(s8(vorrq_u8(h, hh)), sixteen);
        const float dw = half_to_float(w[ib].d);
        for (int c = 0; c < NC; ++c) acc[c] = scale_add(acc[c], dot32(lo, hi, a[c].qs + ib * kQK32), dw * a[c].d[ib]);
    });
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum());
}

// Q5_1: levels 0..31 times d, plus m.
template <int NC> void dot_q5_1(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockQ5_1 *w = static_cast<const BlockQ5_1 *>(wv);
    DAcc dacc[NC];
    double accm[NC] = {};
    blocks2<NC>(K / kQK32, dacc, CORVID_BLOCK {
        uint8x16_t l, h, hl, hh;
        unpack_nibbles(w[ib].qs, l, h);
        high_bits(load_u32(w[ib].qh), hl, hh);
        const int8x16_t lo = s8(vorrq_u8(l, hl)), hi = s8(vorrq_u8(h, hh));
        const float dw = half_to_float(w[ib].d), mw = half_to_float(w[ib].m);
        for (int c = 0; c < NC; ++c) {
            acc[c] = scale_add(acc[c], dot32(lo, hi, a[c].qs + ib * kQK32), dw * a[c].d[ib]);
            accm[c] += mw * a[c].d[ib] * float(a[c].s[ib]);
        }
    });
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum() + accm[c]);
}

// Q8_0: levels -127..127.
template <int NC> void dot_q8_0(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockQ8_0 *w = static_cast<const BlockQ8_0 *>(wv);
    DAcc dacc[NC];
    blocks2<NC>(K / kQK32, dacc, CORVID_BLOCK {
        const int8x16_t w0 = vld1q_s8(w[ib].qs), w1 = vld1q_s8(w[ib].qs + 16);
        const float dw = half_to_float(w[ib].d);
        for (int c = 0; c < NC; ++c) acc[c] = scale_add(acc[c], dot32(w0, w1, a[c].qs + ib * kQK32), dw * a[c].d[ib]);
    });
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum());
}

// IQ4_NL: the nibbles index the 16 signed levels (-127..113): one table lookup each.
template <int NC> void dot_iq4_nl(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockIQ4_NL *w = static_cast<const BlockIQ4_NL *>(wv);
    const int8x16_t table = vld1q_s8(kIQ4NLValues);
    DAcc dacc[NC];
    blocks2<NC>(K / kQK32, dacc, CORVID_BLOCK {
        uint8x16_t l, h;
        unpack_nibbles(w[ib].qs, l, h);
        const int8x16_t lo = vqtbl1q_s8(table, l), hi = vqtbl1q_s8(table, h);
        const float dw = half_to_float(w[ib].d);
        for (int c = 0; c < NC; ++c) acc[c] = scale_add(acc[c], dot32(lo, hi, a[c].qs + ib * kQK32), dw * a[c].d[ib]);
    });
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum());
}
#undef CORVID_BLOCK

// ---- the 256-element K formats against Q8_K activations ----------------------------------
// Per super-block the scaled integer products go into int32 lanes (64 products per lane,
// each at most 63 * 127 * 128: far inside int32), then one float multiply-add by
// d_w * d_x per lane, flushed into double lanes at once (as the x86 kernels do).

// Q4_K: d * sc * q - dmin * mn per 32-element sub-block, q 0..15; the mins go through
// the activation's per-16 sums. Q5_K (HIGH) adds bit 4 from qh: bits 2j and 2j+1 of
// byte l belong to element l of sub-blocks 2j and 2j+1.
template <int NC, bool HIGH> void dot_q45_k(int64_t K, const void *wv, const ActCol *a, float *out) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), sixteen = vdupq_n_u8(0x10);
    float32x4_t acc[NC];
    DAcc dacc[NC];
    double accm[NC] = {};
    for (int c = 0; c < NC; ++c) acc[c] = vdupq_n_f32(0.0f);
    for (int64_t ib = 0; ib < K / kQK_K; ++ib) {
        const uint8_t *scales, *qs, *qh = nullptr;
        uint16_t dh, dminh;
        if constexpr (HIGH) {
            const BlockQ5_K &b = static_cast<const BlockQ5_K *>(wv)[ib];
            scales = b.scales, qs = b.qs, qh = b.qh, dh = b.d, dminh = b.dmin;
        } else {
            const BlockQ4_K &b = static_cast<const BlockQ4_K *>(wv)[ib];
            scales = b.scales, qs = b.qs, dh = b.d, dminh = b.dmin;
        }
        int sc[8], mn[8];
        for (int j = 0; j < 8; ++j) k4_scale_min(scales, j, sc[j], mn[j]);
        uint8x16_t hb[2] = {vdupq_n_u8(0), vdupq_n_u8(0)};
        if constexpr (HIGH) hb[0] = vld1q_u8(qh), hb[1] = vld1q_u8(qh + 16);
        int32x4_t isum[NC];
        for (int c = 0; c < NC; ++c) isum[c] = vdupq_n_s32(0);
        for (int j = 0; j < 4; ++j) {
            int8x16_t lo[2], hi[2]; // elements 64j + 16h + (0..15) and 64j + 32 + 16h + (0..15)
            for (int h = 0; h < 2; ++h) {
                const uint8x16_t q = vld1q_u8(qs + 32 * j + 16 * h);
                uint8x16_t l = vandq_u8(q, m4), u = vshrq_n_u8(q, 4);
                if constexpr (HIGH) {
                    l = vorrq_u8(l, vandq_u8(vtstq_u8(hb[h], vdupq_n_u8(uint8_t(1u << (2 * j)))), sixteen));
                    u = vorrq_u8(u, vandq_u8(vtstq_u8(hb[h], vdupq_n_u8(uint8_t(1u << (2 * j + 1)))), sixteen));
                }
                lo[h] = s8(l), hi[h] = s8(u);
            }
            for (int c = 0; c < NC; ++c) {
                const int8_t *x = a[c].qs + ib * kQK_K + 64 * j;
                isum[c] = vmlaq_n_s32(isum[c], dot32(lo[0], lo[1], x), sc[2 * j]);
                isum[c] = vmlaq_n_s32(isum[c], dot32(hi[0], hi[1], x + 32), sc[2 * j + 1]);
            }
        }
        const float d = half_to_float(dh), dmin = half_to_float(dminh);
        for (int c = 0; c < NC; ++c) {
            const int16_t *bs = a[c].bs + ib * 16;
            int summ = 0;
            for (int j = 0; j < 8; ++j) summ += mn[j] * (bs[2 * j] + bs[2 * j + 1]);
            const float dx = a[c].d[ib];
            acc[c] = scale_add(acc[c], isum[c], d * dx);
            dacc[c].flush(acc[c]);
            accm[c] += dmin * dx * float(summ);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum() - accm[c]);
}

template <int NC> void dot_q4_k(int64_t K, const void *w, const ActCol *a, float *out) { dot_q45_k<NC, false>(K, w, a, out); }
template <int NC> void dot_q5_k(int64_t K, const void *w, const ActCol *a, float *out) { dot_q45_k<NC, true>(K, w, a, out); }

// Q6_K: d * sc * (q - 32), q 0..63 from 4 low bits (ql) and 2 high bits (qh), signed
// 8-bit scales per 16 elements. In half h, byte l (0..31) of ql[64h..] and ql[64h+32..]
// and of qh[32h..] gives elements 128h + l, + 32, + 64, + 96.
template <int NC> void dot_q6_k(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockQ6_K *w = static_cast<const BlockQ6_K *>(wv);
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
    const int8x16_t m32 = vdupq_n_s8(32);
    float32x4_t acc[NC];
    DAcc dacc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = vdupq_n_f32(0.0f);
    for (int64_t ib = 0; ib < K / kQK_K; ++ib) {
        const BlockQ6_K &b = w[ib];
        int32x4_t isum[NC];
        for (int c = 0; c < NC; ++c) isum[c] = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h) {
            for (int half = 0; half < 2; ++half) { // bytes l = 0..15 and 16..31
                const int o = 16 * half;
                const uint8x16_t ql0 = vld1q_u8(b.ql + 64 * h + o), ql1 = vld1q_u8(b.ql + 64 * h + 32 + o);
                const uint8x16_t qh = vld1q_u8(b.qh + 32 * h + o);
                int8x16_t q[4];
                q[0] = s8(vorrq_u8(vandq_u8(ql0, m4), vshlq_n_u8(vandq_u8(qh, m2), 4)));
                q[1] = s8(vorrq_u8(vandq_u8(ql1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), m2), 4)));
                q[2] = s8(vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), m2), 4)));
                q[3] = s8(vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4)));
                for (int k = 0; k < 4; ++k) {
                    const int8x16_t v = vsubq_s8(q[k], m32);
                    const int s = 8 * h + 2 * k + half; // = element / 16
                    for (int c = 0; c < NC; ++c)
                        isum[c] = dot16_scaled(isum[c], v, a[c].qs + ib * kQK_K + 128 * h + 32 * k + o, b.scales[s]);
                }
            }
        }
        const float d = half_to_float(b.d);
        for (int c = 0; c < NC; ++c) {
            acc[c] = scale_add(acc[c], isum[c], d * a[c].d[ib]);
            dacc[c].flush(acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum());
}

// Q2_K and Q3_K share the 2-bit packing: in each 128-element half h, byte l of the 32
// at qs + 32h holds elements 128h + l, + 32, + 64, + 96 in bits 0-1, 2-3, 4-5, 6-7.

// Q2_K: d * (sc & 15) * q - dmin * (sc >> 4), q 0..3, per 16 elements.
template <int NC> void dot_q2_k(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockQ2_K *w = static_cast<const BlockQ2_K *>(wv);
    const uint8x16_t m2 = vdupq_n_u8(0x03);
    float32x4_t acc[NC];
    DAcc dacc[NC];
    double accm[NC] = {};
    for (int c = 0; c < NC; ++c) acc[c] = vdupq_n_f32(0.0f);
    for (int64_t ib = 0; ib < K / kQK_K; ++ib) {
        const BlockQ2_K &b = w[ib];
        int32x4_t isum[NC];
        for (int c = 0; c < NC; ++c) isum[c] = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h) {
            const uint8x16_t q0 = vld1q_u8(b.qs + 32 * h), q1 = vld1q_u8(b.qs + 32 * h + 16);
            // vshlq_u8 with a negative count shifts right; the count varies with k.
            for (int k = 0; k < 4; ++k) {
                const int8x16_t shift = vdupq_n_s8(int8_t(-2 * k));
                const int8x16_t lo = s8(vandq_u8(vshlq_u8(q0, shift), m2)), hi = s8(vandq_u8(vshlq_u8(q1, shift), m2));
                const int s = 8 * h + 2 * k;
                for (int c = 0; c < NC; ++c) {
                    const int8_t *x = a[c].qs + ib * kQK_K + 128 * h + 32 * k;
                    isum[c] = dot16_scaled(isum[c], lo, x, b.scales[s] & 0x0F);
                    isum[c] = dot16_scaled(isum[c], hi, x + 16, b.scales[s + 1] & 0x0F);
                }
            }
        }
        const float d = half_to_float(b.d), dmin = half_to_float(b.dmin);
        for (int c = 0; c < NC; ++c) {
            const int16_t *bs = a[c].bs + ib * 16;
            int summ = 0;
            for (int j = 0; j < 16; ++j) summ += (b.scales[j] >> 4) * bs[j];
            const float dx = a[c].d[ib];
            acc[c] = scale_add(acc[c], isum[c], d * dx);
            dacc[c].flush(acc[c]);
            accm[c] += dmin * dx * float(summ);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum() - accm[c]);
}

// Q3_K: d * (sc - 32) * (q - 4) with q = 2 low bits | the hmask bit << 2, in 0..7; the
// hmask bit of element e is bit e / 32 of byte e % 32.
template <int NC> void dot_q3_k(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockQ3_K *w = static_cast<const BlockQ3_K *>(wv);
    const uint8x16_t m2 = vdupq_n_u8(0x03), four = vdupq_n_u8(0x04);
    float32x4_t acc[NC];
    DAcc dacc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = vdupq_n_f32(0.0f);
    for (int64_t ib = 0; ib < K / kQK_K; ++ib) {
        const BlockQ3_K &b = w[ib];
        int sc[16];
        for (int j = 0; j < 16; ++j) {
            sc[j] = q3_k_scale(b.scales, j) - 32;
        }
        const uint8x16_t hm0 = vld1q_u8(b.hmask), hm1 = vld1q_u8(b.hmask + 16);
        int32x4_t isum[NC];
        for (int c = 0; c < NC; ++c) isum[c] = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h) {
            const uint8x16_t q0 = vld1q_u8(b.qs + 32 * h), q1 = vld1q_u8(b.qs + 32 * h + 16);
            for (int k = 0; k < 4; ++k) {
                const int run = 4 * h + k; // elements 32 run .. 32 run + 31
                const int8x16_t shift = vdupq_n_s8(int8_t(-2 * k));
                const uint8x16_t bit = vdupq_n_u8(uint8_t(1u << run));
                const uint8x16_t l0 = vorrq_u8(vandq_u8(vshlq_u8(q0, shift), m2), vandq_u8(vtstq_u8(hm0, bit), four));
                const uint8x16_t l1 = vorrq_u8(vandq_u8(vshlq_u8(q1, shift), m2), vandq_u8(vtstq_u8(hm1, bit), four));
                const int8x16_t lo = vsubq_s8(s8(l0), s8(four)), hi = vsubq_s8(s8(l1), s8(four));
                for (int c = 0; c < NC; ++c) {
                    const int8_t *x = a[c].qs + ib * kQK_K + 32 * run;
                    isum[c] = dot16_scaled(isum[c], lo, x, sc[2 * run]);
                    isum[c] = dot16_scaled(isum[c], hi, x + 16, sc[2 * run + 1]);
                }
            }
        }
        const float d = half_to_float(b.d);
        for (int c = 0; c < NC; ++c) {
            acc[c] = scale_add(acc[c], isum[c], d * a[c].d[ib]);
            dacc[c].flush(acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum());
}

// IQ4_XS: d * (ls - 32) * value[q] per 32-element sub-block; each sub-block's nibbles
// as in IQ4_NL.
template <int NC> void dot_iq4_xs(int64_t K, const void *wv, const ActCol *a, float *out) {
    const BlockIQ4_XS *w = static_cast<const BlockIQ4_XS *>(wv);
    const int8x16_t table = vld1q_s8(kIQ4NLValues);
    float32x4_t acc[NC];
    DAcc dacc[NC];
    for (int c = 0; c < NC; ++c) acc[c] = vdupq_n_f32(0.0f);
    for (int64_t ib = 0; ib < K / kQK_K; ++ib) {
        const BlockIQ4_XS &b = w[ib];
        int32x4_t isum[NC];
        for (int c = 0; c < NC; ++c) isum[c] = vdupq_n_s32(0);
        for (int j = 0; j < 8; ++j) {
            const int ls = ((b.scales_l[j / 2] >> (4 * (j % 2))) & 0x0F) | ((b.scales_h >> (2 * j)) & 3) << 4;
            uint8x16_t l, h;
            unpack_nibbles(b.qs + 16 * j, l, h);
            const int8x16_t lo = vqtbl1q_s8(table, l), hi = vqtbl1q_s8(table, h);
            for (int c = 0; c < NC; ++c)
                isum[c] = vmlaq_n_s32(isum[c], dot32(lo, hi, a[c].qs + ib * kQK_K + 32 * j), ls - 32);
        }
        const float d = half_to_float(b.d);
        for (int c = 0; c < NC; ++c) {
            acc[c] = scale_add(acc[c], isum[c], d * a[c].d[ib]);
            dacc[c].flush(acc[c]);
        }
    }
    for (int c = 0; c < NC; ++c) out[c] = float(dacc[c].sum());
}

// ---- float weights against float / F16 / BF16 activations ---------------------------------
// 16 float lanes per column (four 4-lane accumulators, as many lanes as the x86 kernels'
// two 8-lane ones, so each lane's rounding chain is K / 16 long: the bound the
// conformance test derives), then 4-element steps and a scalar tail; any K. F16 x F16
// and BF16 x BF16 products are exact in float; F32 x F32 products round once (fused).

inline float32x4_t load4(const float *p) { return vld1q_f32(p); }
inline float32x4_t load4_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
inline float32x4_t load4_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
inline float scalar_f32(const float *p, int64_t i) { return p[i]; }
inline float scalar_f16(const uint16_t *p, int64_t i) { return half_to_float(p[i]); }
inline float scalar_bf16(const uint16_t *p, int64_t i) {
    const uint32_t u = uint32_t(p[i]) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

template <class T, float32x4_t (*LOAD4)(const T *), float (*SCALAR)(const T *, int64_t), int NC>
void dot_float(int64_t K, const void *wv, const ActCol *a, float *out) {
    const T *w = static_cast<const T *>(wv);
    const T *x[NC];
    float32x4_t acc[NC][4];
    for (int c = 0; c < NC; ++c) {
        x[c] = static_cast<const T *>(a[c].f);
        for (int i = 0; i < 4; ++i) acc[c][i] = vdupq_n_f32(0.0f);
    }
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const float32x4_t w0 = LOAD4(w + k), w1 = LOAD4(w + k + 4), w2 = LOAD4(w + k + 8), w3 = LOAD4(w + k + 12);
        for (int c = 0; c < NC; ++c) {
            acc[c][0] = vfmaq_f32(acc[c][0], w0, LOAD4(x[c] + k));
            acc[c][1] = vfmaq_f32(acc[c][1], w1, LOAD4(x[c] + k + 4));
            acc[c][2] = vfmaq_f32(acc[c][2], w2, LOAD4(x[c] + k + 8));
            acc[c][3] = vfmaq_f32(acc[c][3], w3, LOAD4(x[c] + k + 12));
        }
    }
    for (; k + 4 <= K; k += 4) {
        const float32x4_t w0 = LOAD4(w + k);
        for (int c = 0; c < NC; ++c) acc[c][0] = vfmaq_f32(acc[c][0], w0, LOAD4(x[c] + k));
    }
    for (int c = 0; c < NC; ++c) {
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[c][0], acc[c][1]), vaddq_f32(acc[c][2], acc[c][3])));
        for (int64_t t = k; t < K; ++t) s += SCALAR(w, t) * SCALAR(x[c], t);
        out[c] = s;
    }
}
template <int NC> void dot_f32(int64_t K, const void *w, const ActCol *a, float *out) {
    dot_float<float, load4, scalar_f32, NC>(K, w, a, out);
}
template <int NC> void dot_f16(int64_t K, const void *w, const ActCol *a, float *out) {
    dot_float<uint16_t, load4_f16, scalar_f16, NC>(K, w, a, out);
}
template <int NC> void dot_bf16(int64_t K, const void *w, const ActCol *a, float *out) {
    dot_float<uint16_t, load4_bf16, scalar_bf16, NC>(K, w, a, out);
}

// ---- the table ------------------------------------------------------------------------------

using Dot1 = void (*)(int64_t, const void *, const ActCol *, float *);
template <Dot1 F1, Dot1 F2, Dot1 F3, Dot1 F4> void by_cols(int64_t K, const void *w, const ActCol *a, int nc, float *out) {
    switch (nc) {
    case 1: F1(K, w, a, out); break;
    case 2: F2(K, w, a, out); break;
    case 3: F3(K, w, a, out); break;
    default: F4(K, w, a, out); break;
    }
}
#define CORVID_BY_COLS(F) by_cols<F<1>, F<2>, F<3>, F<4>>

Kernels make_table() {
    Kernels t{};
    t.dot[int(DType::F32)] = CORVID_BY_COLS(dot_f32);
    t.dot[int(DType::F16)] = CORVID_BY_COLS(dot_f16);
    t.dot[int(DType::BF16)] = CORVID_BY_COLS(dot_bf16);
    t.dot[int(DType::Q4_0)] = CORVID_BY_COLS(dot_q4_0);
    t.dot[int(DType::Q4_1)] = CORVID_BY_COLS(dot_q4_1);
    t.dot[int(DType::Q5_0)] = CORVID_BY_COLS(dot_q5_0);
    t.dot[int(DType::Q5_1)] = CORVID_BY_COLS(dot_q5_1);
    t.dot[int(DType::Q8_0)] = CORVID_BY_COLS(dot_q8_0);
    t.dot[int(DType::IQ4_NL)] = CORVID_BY_COLS(dot_iq4_nl);
    t.dot[int(DType::Q2_K)] = CORVID_BY_COLS(dot_q2_k);
    t.dot[int(DType::Q3_K)] = CORVID_BY_COLS(dot_q3_k);
    t.dot[int(DType::Q4_K)] = CORVID_BY_COLS(dot_q4_k);
    t.dot[int(DType::Q5_K)] = CORVID_BY_COLS(dot_q5_k);
    t.dot[int(DType::Q6_K)] = CORVID_BY_COLS(dot_q6_k);
    t.dot[int(DType::IQ4_XS)] = CORVID_BY_COLS(dot_iq4_xs);
    add_gemm_neon(t, true);
    return t;
}
#undef CORVID_BY_COLS

} // namespace
} // namespace neon

const Kernels *kernels_neon() {
    static const Kernels table = neon::make_table();
    return &table;
}

} // namespace corvid::cpu::fast
#else
namespace corvid::cpu::fast {
// Not ARM64, or a compiler without the dot-product flags: no NEON kernels in this build.
const Kernels *kernels_neon() { return nullptr; }
} // namespace corvid::cpu::fast
#endif
