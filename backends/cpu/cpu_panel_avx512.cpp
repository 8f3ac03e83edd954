// Decode kernels over panel weights (cpu_panels.h: 16 rows interleaved) for AVX-512
// F/BW/VL/DQ + VNNI; this file alone gets those flags (CMakeLists.txt), and
// cpu_matmul_avx512.cpp puts the kernels into its table (add_panel_avx512).
//
// One 512-bit register holds the same 4 bytes of the 16 rows' blocks (one dword a row,
// lane r = row r), so one vpdpbusd against the activation dword broadcast from memory
// advances every row by 4 (Q8_0) or 8 (Q4_0: low and high nibbles, two vpdpbusd) elements;
// no byte permutation and no scale spreading, as the row kernels need. The arithmetic is
// theirs: each block's exact integer sum, started at the offset times the activation's
// block sum (Q4_0: -8, Q8_0's levels stored + 128: -128), times d_w d_x in float, the float
// lanes flushed into double every 16 blocks.
// tests/backends/test_conformance.cpp checks every kernel against the reference.
#include "cpu/cpu_matmul_fast.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__AVX512DQ__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/cpu_panel_avx512.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace corvid::cpu::fast {
namespace {

constexpr int kP = kPanelRows;
constexpr int kFlushBlocks = 16;  // blocks a float chain runs before it is added into double

// acc += w . (the activation dword at x, broadcast to every lane): the broadcast is
// vpdpbusd's memory operand, so it costs no instruction of its own.
inline __m512i dpbusd_bcst(__m512i acc, __m512i w, const int8_t *x) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*reinterpret_cast<const uint32_t *>(x)));
    return acc;
}

// The 16 rows' float lanes, flushed into double lanes; out[r] = row r's sum.
struct PanelAcc {
    __m512 f = _mm512_setzero_ps();
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    // f += the block's integer sums times its 16 scales d_w (fp16 at d16) times d_x.
    void add(__m512i sums, const uint8_t *d16, float dx) {
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(d16)));
        f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(d, _mm512_set1_ps(dx)), f);
    }
    // f += the 16 offsets m_w (fp16 at m16) times m_x (Q4_1 / Q5_1: d_x times the block's sum).
    void add_min(const uint8_t *m16, float mx) {
        const __m512 m = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(m16)));
        f = _mm512_fmadd_ps(m, _mm512_set1_ps(mx), f);
    }
    void flush() {
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
        hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
        f = _mm512_setzero_ps();
    }
    void store(float *out) {
        flush();
        _mm256_storeu_ps(out, _mm512_cvtpd_ps(lo));
        _mm256_storeu_ps(out + 8, _mm512_cvtpd_ps(hi));
    }
};

// Q4_0 panel block: 16 scales (32 bytes), then qs dword j of the 16 rows at 32 + 64 j.
// IQ4_NL (NL) is the same block with each nibble looked up (levels + 128, an in-lane byte
// shuffle of the 16-entry table), the sums started at -128 instead of -8 times the block's
// activation sum.
template <bool NL> void panel_q4x(int64_t K, const void *panel, const ActCol &a, float *out) {
    static_assert(sizeof(BlockQ4_0) == sizeof(BlockIQ4_NL), "one block size");
    constexpr int kBlock = kP * static_cast<int>(sizeof(BlockQ4_0));
    const int64_t nb = K / 32;
    const auto *p = static_cast<const uint8_t *>(panel);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    [[maybe_unused]] const __m512i table =
        _mm512_xor_si512(_mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i *>(kIQ4NLValues))),
                         _mm512_set1_epi8(char(0x80)));
    PanelAcc acc;
    for (int64_t b = 0; b < nb; ++b, p += kBlock) {
        const int8_t *x = a.qs + 32 * b;
        __m512i s = _mm512_set1_epi32((NL ? -128 : -8) * a.s[b]);
        for (int j = 0; j < 4; ++j) {
            const __m512i q = _mm512_loadu_si512(p + kB32Quants + 64 * j);
            __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            if constexpr (NL) lo = _mm512_shuffle_epi8(table, lo), hi = _mm512_shuffle_epi8(table, hi);
            s = dpbusd_bcst(s, lo, x + 4 * j);
            s = dpbusd_bcst(s, hi, x + 16 + 4 * j);
        }
        acc.add(s, p, a.d[b]);
        if (b % kFlushBlocks == kFlushBlocks - 1) acc.flush();
    }
    acc.store(out);
}
void panel_q4_0(int64_t K, const void *panel, const ActCol &a, float *out) { panel_q4x<false>(K, panel, a, out); }
void panel_iq4_nl(int64_t K, const void *panel, const ActCol &a, float *out) { panel_q4x<true>(K, panel, a, out); }

// The 32-element blocks with a fifth bit or an offset m (Q5_0, Q4_1, Q5_1; Q50Panel.. in
// cpu_matmul_fast.h). Panel blocks: 16 d (32 bytes), Q4_1 / Q5_1's 16 m (32), Q5_0 / Q5_1's 16
// qh dwords (64: bit i of a row's qh is the fifth bit of its element i), then qs dword j of
// the 16 rows (Q4_0's nibbles). Per block the exact integer sum (Q5_0: started at -16 times
// the activation's block sum) times d_w d_x, plus (Q4_1 / Q5_1) m_w times d_x sum(x): the
// reference's terms, in float lanes flushed into double as for Q4_0.
template <class F, class Block> void panel_b32x(int64_t K, const void *panel, const ActCol &a, float *out) {
    constexpr int kBlock = kP * static_cast<int>(sizeof(Block));
    const int64_t nb = K / 32;
    const auto *p = static_cast<const uint8_t *>(panel);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    PanelAcc acc;
    for (int64_t b = 0; b < nb; ++b, p += kBlock) {
        const int8_t *x = a.qs + 32 * b;
        __m512i s = _mm512_set1_epi32(-F::offset * a.s[b]);
        [[maybe_unused]] __m512i qh;
        if constexpr (F::qh >= 0) qh = _mm512_loadu_si512(p + F::qh);
        for (int j = 0; j < 4; ++j) {
            const __m512i q = _mm512_loadu_si512(p + F::qs + 64 * j);
            __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            if constexpr (F::qh >= 0) panel512::add_fifth_bits(qh, j, lo, hi);
            s = dpbusd_bcst(s, lo, x + 4 * j);
            s = dpbusd_bcst(s, hi, x + 16 + 4 * j);
        }
        acc.add(s, p, a.d[b]);
        if constexpr (F::m >= 0) acc.add_min(p + F::m, a.d[b] * static_cast<float>(a.s[b]));
        if (b % kFlushBlocks == kFlushBlocks - 1) acc.flush();
    }
    acc.store(out);
}
void panel_q5_0(int64_t K, const void *panel, const ActCol &a, float *out) { panel_b32x<Q50Panel, BlockQ5_0>(K, panel, a, out); }
void panel_q4_1(int64_t K, const void *panel, const ActCol &a, float *out) { panel_b32x<Q41Panel, BlockQ4_1>(K, panel, a, out); }
void panel_q5_1(int64_t K, const void *panel, const ActCol &a, float *out) { panel_b32x<Q51Panel, BlockQ5_1>(K, panel, a, out); }

// Q8_0 panel block: 16 scales, then qs dword j (levels + 128) of the 16 rows at 32 + 64 j.
void panel_q8_0(int64_t K, const void *panel, const ActCol &a, float *out) {
    constexpr int kBlock = kP * static_cast<int>(sizeof(BlockQ8_0));
    const int64_t nb = K / 32;
    const auto *p = static_cast<const uint8_t *>(panel);
    PanelAcc acc;
    for (int64_t b = 0; b < nb; ++b, p += kBlock) {
        const int8_t *x = a.qs + 32 * b;
        __m512i s = _mm512_set1_epi32(-128 * a.s[b]);
        for (int j = 0; j < 8; ++j) s = dpbusd_bcst(s, _mm512_loadu_si512(p + kB32Quants + 64 * j), x + 4 * j);
        acc.add(s, p, a.d[b]);
        if (b % kFlushBlocks == kFlushBlocks - 1) acc.flush();
    }
    acc.store(out);
}

// lo, hi (the 16 rows in double) += (d S1 - dmin S2) dx, the K-quants with mins (Q4_K, Q5_K,
// Q2_K): d and dmin the rows' fp16 scales at d16 and dmin16, S1 and S2 exact integer sums.
inline void add_mins(__m512d &lo, __m512d &hi, const uint8_t *d16, const uint8_t *dmin16, __m512i s1, __m512i s2, __m512d dx) {
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(d16)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(dmin16)));
    auto half = [&](__m256 dh, __m256 mh, __m256i i1, __m256i i2) {
        const __m512d t = _mm512_fmsub_pd(_mm512_cvtps_pd(dh), _mm512_cvtepi32_pd(i1), _mm512_mul_pd(_mm512_cvtps_pd(mh), _mm512_cvtepi32_pd(i2)));
        return _mm512_mul_pd(t, dx);
    };
    lo = _mm512_add_pd(lo, half(_mm512_castps512_ps256(d), _mm512_castps512_ps256(dmin), _mm512_castsi512_si256(s1),
                                _mm512_castsi512_si256(s2)));
    hi = _mm512_add_pd(hi, half(_mm512_extractf32x8_ps(d, 1), _mm512_extractf32x8_ps(dmin, 1), _mm512_extracti64x4_epi64(s1, 1),
                                _mm512_extracti64x4_epi64(s2, 1)));
}

// Q4_K panel block (kQ4K*): per super-block, qs dword k of the 16 rows holds the low
// nibbles of elements 64 (k / 8) + 4 (k % 8).. (sub-block 2 (k / 8)) and the high ones of the
// same elements + 32 (sub-block 2 (k / 8) + 1). Q5_K (HIGH) is the same block with qh dword
// k % 8 (kQ5KQh): bit 2 (k / 8) of a byte is the fifth bit of its low nibble, bit 2 (k / 8) +
// 1 of its high one, each added by one byte test and one masked add. Each sub-block's exact integer sum
// (16 rows in the lanes) times its 6-bit scale (vpmulld), the mins against the activation's
// sums per 32 (vpmaddwd of min pairs against sum pairs): one exact integer pair a
// super-block, scaled in double: (d_w S1 - dmin_w S2) d_x.
template <bool HIGH> void panel_q45(int64_t K, const void *panel, const ActCol &a, float *out) {
    using namespace panel512;
    constexpr int kQs = HIGH ? kQ5KQs : kQ4KQs, kBlock = HIGH ? kQ5KBlock : kQ4KBlock;
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(panel);
    const __m512i m4 = _mm512_set1_epi8(0x0F), even = _mm512_set1_epi32(0x00FF00FF);
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t sb = 0; sb < nsb; ++sb, p += kBlock) {
        const int8_t *x = a.qs + 256 * sb;
        const K4Scales sc = k4_scales(p);
        __m512i s1 = _mm512_setzero_si512();
        // Sub-blocks 2 pair and 2 pair + 1 (scales s_lo, s_hi) into s1. Two chains a
        // sub-block (even and odd dwords): with one, 8 dependent vpdpbusd bound the loop
        // (one core in cache, K 2048: 40 against 50 GB/s).
        auto pair_sums = [&](int pair, __m512i s_lo, __m512i s_hi) {
            const __m512i zero = _mm512_setzero_si512();
            __m512i lo_sum[2] = {zero, zero}, hi_sum[2] = {zero, zero};
            const uint8_t *q = p + kQs + 512 * pair;
            const int8_t *xp = x + 64 * pair;
            const __m512i bit_lo = _mm512_set1_epi8(static_cast<char>(1 << (2 * pair))), bit_hi = _mm512_add_epi8(bit_lo, bit_lo);
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) {
                const __m512i v = _mm512_loadu_si512(q + 64 * j);
                if constexpr (HIGH) {
                    const __m512i hb = _mm512_loadu_si512(p + kQ5KQh + 64 * j), c16 = _mm512_set1_epi8(16);
                    const __m512i l = _mm512_and_si512(v, m4), h = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                    lo_sum[j & 1] = dpbusd_bcst(lo_sum[j & 1], _mm512_mask_add_epi8(l, _mm512_test_epi8_mask(hb, bit_lo), l, c16), xp + 4 * j);
                    hi_sum[j & 1] =
                        dpbusd_bcst(hi_sum[j & 1], _mm512_mask_add_epi8(h, _mm512_test_epi8_mask(hb, bit_hi), h, c16), xp + 32 + 4 * j);
                } else {
                    lo_sum[j & 1] = dpbusd_bcst(lo_sum[j & 1], _mm512_and_si512(v, m4), xp + 4 * j);
                    hi_sum[j & 1] = dpbusd_bcst(hi_sum[j & 1], _mm512_and_si512(_mm512_srli_epi16(v, 4), m4), xp + 32 + 4 * j);
                }
            }
            s1 = _mm512_add_epi32(s1, _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(lo_sum[0], lo_sum[1]), s_lo),
                                                       _mm512_mullo_epi32(_mm512_add_epi32(hi_sum[0], hi_sum[1]), s_hi)));
        };
        pair_sums(0, lane_byte<0>(sc.sc_lo), lane_byte<1>(sc.sc_lo));
        pair_sums(1, lane_byte<2>(sc.sc_lo), lane_byte<3>(sc.sc_lo));
        pair_sums(2, lane_byte<0>(sc.sc_hi), lane_byte<1>(sc.sc_hi));
        pair_sums(3, lane_byte<2>(sc.sc_hi), lane_byte<3>(sc.sc_hi));
        // The activation's sums per 32 (from its sums per 16), as the word pairs (s0, s2),
        // (s1, s3), (s4, s6), (s5, s7) that meet the mins' (m0, m2), (m1, m3), ...
        const int16_t *bs = a.bs + 16 * sb;
        int32_t xs[8];
        for (int s = 0; s < 8; ++s) xs[s] = bs[2 * s] + bs[2 * s + 1];
        auto pair_of = [&](int i, int j) {
            return _mm512_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(xs[i]) & 0xFFFFu) | (static_cast<uint32_t>(xs[j]) << 16)));
        };
        __m512i s2 = _mm512_madd_epi16(_mm512_and_si512(sc.m_lo, even), pair_of(0, 2));
        s2 = _mm512_add_epi32(s2, _mm512_madd_epi16(_mm512_srli_epi16(sc.m_lo, 8), pair_of(1, 3)));
        s2 = _mm512_add_epi32(s2, _mm512_madd_epi16(_mm512_and_si512(sc.m_hi, even), pair_of(4, 6)));
        s2 = _mm512_add_epi32(s2, _mm512_madd_epi16(_mm512_srli_epi16(sc.m_hi, 8), pair_of(5, 7)));
        add_mins(lo, hi, p + kQ4KD, p + kQ4KDmin, s1, s2, _mm512_set1_pd(a.d[sb]));
    }
    _mm256_storeu_ps(out, _mm512_cvtpd_ps(lo));
    _mm256_storeu_ps(out + 8, _mm512_cvtpd_ps(hi));
}
void panel_q4_k(int64_t K, const void *panel, const ActCol &a, float *out) { panel_q45<false>(K, panel, a, out); }
void panel_q5_k(int64_t K, const void *panel, const ActCol &a, float *out) { panel_q45<true>(K, panel, a, out); }

// The K-quants of 16-element sub-blocks (Q2_K, Q3_K, Q6_K), one kernel over their forms.
// Per half h and dword dq of a super-block, F::levels gives the levels (0..63) of elements
// 128 h + 32 s + 4 dq.. (s = 0..3), which belong to sub-block 8 h + 2 s + dq / 4. Each
// sub-block's exact integer sum times its scale (vpmulld; F::scales puts the 16 scales of
// each row in 4 dwords a lane, as signed bytes) makes S1; the offsets (Q3_K's -4, Q6_K's
// -32) or mins (Q2_K) as sum_j o_j xsum16_j (vpmaddwd of byte pairs against the activation's
// sums per 16) make S2; the super-block is then d (S1 - 2^kShift S2) d_x, or with mins
// (d S1 - dmin S2) d_x, in double.
struct Q6Form { // levels from ql and qh (q6_levels), signed scales, offset -32
    static constexpr int kBlock = panel512::kQ6Block, kShift = 5, kD = kQ6D;
    static constexpr bool kMins = false;
    static void scales(const uint8_t *p, __m512i sc[4], __m512i off[4]) {
        for (int t = 0; t < 4; ++t) off[t] = sc[t] = _mm512_loadu_si512(p + kQ6Scales + 64 * t);
    }
    static void levels(const uint8_t *p, int h, int dq, __m512i q[4]) { panel512::q6_levels(p, h, dq, q); }
};
struct Q3Form { // levels from qs and hmask (q3_levels), signed 6-bit scales, offset -4
    static constexpr int kBlock = panel512::kQ3KBlock, kShift = 2, kD = kQ3KD;
    static constexpr bool kMins = false;
    static void scales(const uint8_t *p, __m512i sc[4], __m512i off[4]) {
        panel512::q3_scales(p, sc);
        for (int t = 0; t < 4; ++t) off[t] = sc[t];
    }
    static void levels(const uint8_t *p, int h, int dq, __m512i q[4]) { panel512::q3_levels(p, h, dq, q); }
};
struct Q2Form { // levels: shift 2 s of qs dword 8 h + dq; scale bytes scale | min << 4
    static constexpr int kBlock = panel512::kQ2KBlock, kShift = 0, kD = kQ2KD, kDmin = kQ2KDmin;
    static constexpr bool kMins = true;
    static void scales(const uint8_t *p, __m512i sc[4], __m512i mins[4]) {
        const __m512i m4 = _mm512_set1_epi8(0x0F);
        for (int t = 0; t < 4; ++t) {
            const __m512i v = _mm512_loadu_si512(p + kQ2KScales + 64 * t);
            sc[t] = _mm512_and_si512(v, m4);
            mins[t] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
    }
    static void levels(const uint8_t *p, int h, int dq, __m512i q[4]) {
        const __m512i v = _mm512_loadu_si512(p + kQ2KQs + 64 * (8 * h + dq)), m2 = _mm512_set1_epi8(0x03);
        q[0] = _mm512_and_si512(v, m2);
        q[1] = _mm512_and_si512(_mm512_srli_epi16(v, 2), m2);
        q[2] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m2);
        q[3] = _mm512_and_si512(_mm512_srli_epi16(v, 6), m2);
    }
};

template <class F> void panel_k16(int64_t K, const void *panel, const ActCol &a, float *out) {
    using namespace panel512;
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(panel);
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t sb = 0; sb < nsb; ++sb, p += F::kBlock) {
        const int8_t *x = a.qs + 256 * sb;
        const int16_t *bs = a.bs + 16 * sb;
        __m512i sc[4], off[4];
        F::scales(p, sc, off);
        __m512i s1 = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
            __m512i acc[8];
            for (int i = 0; i < 8; ++i) acc[i] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int dq = 0; dq < 8; ++dq) {
                __m512i q[4];
                F::levels(p, h, dq, q);
                const int8_t *xe = x + 128 * h + 4 * dq;
                const int j = dq / 4;
                for (int s = 0; s < 4; ++s) acc[2 * s + j] = dpbusd_bcst(acc[2 * s + j], q[s], xe + 32 * s);
            }
            // acc[i] is sub-block 8 h + i: its scale is byte i % 4 of sc[2 h + i / 4].
            const __m512i s0 = sc[2 * h], s4 = sc[2 * h + 1];
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(acc[0], lane_sbyte<0>(s0)));
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(acc[1], lane_sbyte<1>(s0)));
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(acc[2], lane_sbyte<2>(s0)));
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(acc[3], lane_sbyte<3>(s0)));
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(acc[4], lane_sbyte<0>(s4)));
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(acc[5], lane_sbyte<1>(s4)));
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(acc[6], lane_sbyte<2>(s4)));
            s1 = _mm512_add_epi32(s1, _mm512_mullo_epi32(acc[7], lane_sbyte<3>(s4)));
        }
        // sum_j o_j xsum16_j: each dword's signed bytes as the words (o0, o2) and (o1, o3)
        // against the activation's sums per 16 paired the same way.
        auto pair_of = [&](int i, int j) {
            return _mm512_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(static_cast<uint16_t>(bs[i]))) |
                                                          (static_cast<uint32_t>(static_cast<uint16_t>(bs[j])) << 16)));
        };
        __m512i s2 = _mm512_setzero_si512();
        for (int t = 0; t < 4; ++t) {
            s2 = _mm512_add_epi32(s2, _mm512_madd_epi16(_mm512_srai_epi16(_mm512_slli_epi16(off[t], 8), 8), pair_of(4 * t, 4 * t + 2)));
            s2 = _mm512_add_epi32(s2, _mm512_madd_epi16(_mm512_srai_epi16(off[t], 8), pair_of(4 * t + 1, 4 * t + 3)));
        }
        const __m512d dx = _mm512_set1_pd(a.d[sb]);
        if constexpr (F::kMins) {
            add_mins(lo, hi, p + F::kD, p + F::kDmin, s1, s2, dx);
        } else {
            const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + F::kD)));
            const __m512i isum = _mm512_sub_epi32(s1, _mm512_slli_epi32(s2, F::kShift));
            lo = _mm512_fmadd_pd(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(d)), dx),
                                 _mm512_cvtepi32_pd(_mm512_castsi512_si256(isum)), lo);
            hi = _mm512_fmadd_pd(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(d, 1)), dx),
                                 _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(isum, 1)), hi);
        }
    }
    _mm256_storeu_ps(out, _mm512_cvtpd_ps(lo));
    _mm256_storeu_ps(out + 8, _mm512_cvtpd_ps(hi));
}

void panel_q2_k(int64_t K, const void *panel, const ActCol &a, float *out) { panel_k16<Q2Form>(K, panel, a, out); }
void panel_q3_k(int64_t K, const void *panel, const ActCol &a, float *out) { panel_k16<Q3Form>(K, panel, a, out); }
void panel_q6_k(int64_t K, const void *panel, const ActCol &a, float *out) { panel_k16<Q6Form>(K, panel, a, out); }

} // namespace

void add_panel_avx512(Kernels &t) {
    t.dot_panel[int(DType::Q3_K)] = panel_q3_k;
    t.dot_panel[int(DType::Q2_K)] = panel_q2_k;
    t.dot_panel[int(DType::Q6_K)] = panel_q6_k;
    t.dot_panel[int(DType::Q4_0)] = panel_q4_0;
    t.dot_panel[int(DType::Q8_0)] = panel_q8_0;
    t.dot_panel[int(DType::Q5_0)] = panel_q5_0;
    t.dot_panel[int(DType::Q4_1)] = panel_q4_1;
    t.dot_panel[int(DType::Q5_1)] = panel_q5_1;
    t.dot_panel[int(DType::IQ4_NL)] = panel_iq4_nl;
    t.dot_panel[int(DType::Q4_K)] = panel_q4_k;
    t.dot_panel[int(DType::Q5_K)] = panel_q5_k;
}

} // namespace corvid::cpu::fast

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
namespace corvid::cpu::fast {
void add_panel_avx512(Kernels &) {}
} // namespace corvid::cpu::fast
#endif
