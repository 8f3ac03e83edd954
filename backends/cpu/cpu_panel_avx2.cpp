// Decode kernels over panel weights (cpu_panels.h: 16 rows interleaved) for AVX2 + FMA +
// F16C; this file alone gets those flags (CMakeLists.txt), and cpu_matmul_avx2.cpp puts the
// kernels into its table (add_panel_avx2).
//
// A 64-byte group of a panel is two 256-bit halves of 8 rows (the same 4 bytes of rows 0-7,
// then of rows 8-15), both against one broadcast activation dword. AVX2 has no vpdpbusd:
// vpmaddubsw multiplies the unsigned level bytes by the signed activation bytes and adds
// pairs into 16 bits, which are summed while they cannot overflow (|pair| <= 2 * 15 * 127
// for 4-bit levels, 2 * 63 * 127 for 6-bit ones) and widened by vpmaddwd, against ones or,
// for the K-quants, against the sub-block's scale as a word pair (the scale applied for
// free). Q8_0's levels (stored + 128) and IQ4_NL's looked-up ones are signed and take the
// sign trick (|w| times x with w's sign), widened every group. The sums are exact integers
// as in the AVX-512 kernels (cpu_panel_avx512.cpp), scaled the same way (the 32-element
// types: float chains of 16 blocks flushed into double; K-quants: double per super-block).
// Every block type has a kernel here but Q5_K (its row kernel decodes faster: see
// panel_q4_k) and IQ4_XS.
// tests/backends/test_conformance.cpp checks every kernel against the reference.
#include "cpu/cpu_matmul_fast.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/cpu_x86_simd.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#include <cstring>
#include <immintrin.h>

namespace corvid::cpu::fast {
namespace {

constexpr int kP = kPanelRows;
constexpr int kFlushBlocks = 16; // blocks a float chain runs before it is added into double

inline __m256i bcast32(const int8_t *p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}
inline __m256i load(const uint8_t *p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)); }
// a + b in 16-bit lanes, opaque to the compiler: GCC 12 otherwise reassociates a chain of
// these adds into a tree that keeps every vpmaddubsw result live (as cpu_gemm_avx2.cpp notes).
inline __m256i add16(__m256i a, __m256i b) {
    a = _mm256_add_epi16(a, b);
    __asm__("" : "+x"(a));
    return a;
}

// Rows 8 h .. 8 h + 7 of a panel, in double: d[2 h], d[2 h + 1]; out[r] = row r's sum.
struct Acc16 {
    __m256d d[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    void add(int h, __m256 f) {
        d[2 * h] = _mm256_add_pd(d[2 * h], _mm256_cvtps_pd(_mm256_castps256_ps128(f)));
        d[2 * h + 1] = _mm256_add_pd(d[2 * h + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
    }
    // Rows 8 h..: += (d S1 - dmin S2) dx, in double (the K-quants with mins: Q4_K, Q2_K); d and
    // dmin are the rows' 8 fp16 scales at d16 and dmin16, S1 and S2 their exact integer sums.
    void add_mins(int h, const uint8_t *d16, const uint8_t *dmin16, __m256i s1, __m256i s2, __m256d dx) {
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(d16)));
        const __m256 mv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(dmin16)));
        for (int q = 0; q < 2; ++q) {
            const __m256d dq = _mm256_cvtps_pd(q ? _mm256_extractf128_ps(dv, 1) : _mm256_castps256_ps128(dv));
            const __m256d mq = _mm256_cvtps_pd(q ? _mm256_extractf128_ps(mv, 1) : _mm256_castps256_ps128(mv));
            const __m256d i1 = _mm256_cvtepi32_pd(q ? _mm256_extracti128_si256(s1, 1) : _mm256_castsi256_si128(s1));
            const __m256d i2 = _mm256_cvtepi32_pd(q ? _mm256_extracti128_si256(s2, 1) : _mm256_castsi256_si128(s2));
            d[2 * h + q] = _mm256_fmadd_pd(_mm256_fmsub_pd(dq, i1, _mm256_mul_pd(mq, i2)), dx, d[2 * h + q]);
        }
    }
    void store(float *out) {
        for (int i = 0; i < 4; ++i) _mm_storeu_ps(out + 4 * i, _mm256_cvtpd_ps(d[i]));
    }
};

// The float chains of Q4_0 / Q8_0: per half, the block's integer sums times d_w (fp16 at
// d16, 8 of them) times d_x, flushed into double every kFlushBlocks blocks.
struct ChainAcc {
    __m256 f[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    Acc16 acc;
    void add(int h, __m256i sums, const uint8_t *d16, float dx) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(d16)));
        f[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(d, _mm256_set1_ps(dx)), f[h]);
    }
    // Per half: the 8 offsets m_w (fp16 at m16) times mx (Q4_1 / Q5_1: d_x times the block's sum).
    void add_min(int h, const uint8_t *m16, float mx) {
        const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(m16)));
        f[h] = _mm256_fmadd_ps(m, _mm256_set1_ps(mx), f[h]);
    }
    void flush() {
        for (int h = 0; h < 2; ++h) acc.add(h, f[h]), f[h] = _mm256_setzero_ps();
    }
};

// The 32-element blocks of nibbles (Q4_0, Q5_0, Q4_1, Q5_1; Q40Panel.. in cpu_matmul_fast.h),
// as panel_b32x in cpu_panel_avx512.cpp: 16 d, Q4_1 / Q5_1's 16 m, Q5_0 / Q5_1's 16 qh dwords,
// then qs dword j of the 16 rows, each dword two 8-row halves against one broadcast. Levels
// 0..15 are summed in 16 bits over the whole block, 0..31 (a fifth bit) two dwords at a time.
// Per block the exact integer sum (started at -offset times the activation's block sum)
// times d_w d_x, plus (Q4_1 / Q5_1) m_w times d_x sum(x).
template <class F, class Block> void panel_b32x(int64_t K, const void *panel, const ActCol &a, float *out) {
    constexpr int kBlock = kP * static_cast<int>(sizeof(Block));
    constexpr bool kFifth = F::qh >= 0;
    const int64_t nb = K / 32;
    const auto *p = static_cast<const uint8_t *>(panel);
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    ChainAcc acc;
    for (int64_t b = 0; b < nb; ++b, p += kBlock) {
        const int8_t *x = a.qs + 32 * b;
        const __m256i off = _mm256_set1_epi32(-F::offset * a.s[b]);
        __m256i t[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}, s[2] = {off, off};
        [[maybe_unused]] __m256i qh[2];
        if constexpr (kFifth) qh[0] = load(p + F::qh), qh[1] = load(p + F::qh + 32);
        for (int j = 0; j < 4; ++j) {
            const __m256i xl = bcast32(x + 4 * j), xh = bcast32(x + 16 + 4 * j);
            for (int h = 0; h < 2; ++h) {
                const __m256i q = load(p + F::qs + 64 * j + 32 * h);
                __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if constexpr (kFifth) x86::add_fifth_bits(qh[h], j, lo, hi);
                t[h] = add16(t[h], _mm256_maddubs_epi16(lo, xl)); // 16-bit: <= 8 * 2 * 15 * 127, 4 * 2 * 31 * 127
                t[h] = add16(t[h], _mm256_maddubs_epi16(hi, xh));
                if (kFifth ? j % 2 == 1 : j == 3) {
                    s[h] = _mm256_add_epi32(s[h], _mm256_madd_epi16(t[h], ones));
                    t[h] = _mm256_setzero_si256();
                }
            }
        }
        [[maybe_unused]] const float mx = a.d[b] * static_cast<float>(a.s[b]);
        for (int h = 0; h < 2; ++h) {
            acc.add(h, s[h], p + 16 * h, a.d[b]);
            if constexpr (F::m >= 0) acc.add_min(h, p + F::m + 16 * h, mx);
        }
        if (b % kFlushBlocks == kFlushBlocks - 1) acc.flush();
    }
    acc.flush();
    acc.acc.store(out);
}
void panel_q4_0(int64_t K, const void *panel, const ActCol &a, float *out) { panel_b32x<Q40Panel, BlockQ4_0>(K, panel, a, out); }
void panel_q5_0(int64_t K, const void *panel, const ActCol &a, float *out) { panel_b32x<Q50Panel, BlockQ5_0>(K, panel, a, out); }
void panel_q4_1(int64_t K, const void *panel, const ActCol &a, float *out) { panel_b32x<Q41Panel, BlockQ4_1>(K, panel, a, out); }
void panel_q5_1(int64_t K, const void *panel, const ActCol &a, float *out) { panel_b32x<Q51Panel, BlockQ5_1>(K, panel, a, out); }

// Q8_0 panel block: 16 scales, then qs dword j (levels + 128) of the 16 rows at 32 + 64 j.
void panel_q8_0(int64_t K, const void *panel, const ActCol &a, float *out) {
    constexpr int kBlock = kP * static_cast<int>(sizeof(BlockQ8_0));
    const int64_t nb = K / 32;
    const auto *p = static_cast<const uint8_t *>(panel);
    const __m256i flip = _mm256_set1_epi8(char(0x80)), ones = _mm256_set1_epi16(1);
    ChainAcc acc;
    for (int64_t b = 0; b < nb; ++b, p += kBlock) {
        const int8_t *x = a.qs + 32 * b;
        __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int j = 0; j < 8; ++j) {
            const __m256i xb = bcast32(x + 4 * j);
            for (int h = 0; h < 2; ++h) {
                const __m256i w = _mm256_xor_si256(load(p + kB32Quants + 64 * j + 32 * h), flip);
                const __m256i pr = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xb, w));
                s[h] = _mm256_add_epi32(s[h], _mm256_madd_epi16(pr, ones));
            }
        }
        for (int h = 0; h < 2; ++h) acc.add(h, s[h], p + 16 * h, a.d[b]);
        if (b % kFlushBlocks == kFlushBlocks - 1) acc.flush();
    }
    acc.flush();
    acc.acc.store(out);
}

// IQ4_NL panel block: Q4_0's (16 scales, then qs dword j of the 16 rows at 32 + 64 j), each
// nibble looked up in the 16-entry table (an in-lane byte shuffle) to a signed level in
// [-127, 113]. Signed levels take Q8_0's sign trick (|w| times x with w's sign: a pair sum
// stays below 2 * 127 * 128), widened every group.
void panel_iq4_nl(int64_t K, const void *panel, const ActCol &a, float *out) {
    static_assert(sizeof(BlockQ4_0) == sizeof(BlockIQ4_NL), "Q4_0's panel block");
    constexpr int kBlock = kP * static_cast<int>(sizeof(BlockIQ4_NL));
    const int64_t nb = K / 32;
    const auto *p = static_cast<const uint8_t *>(panel);
    const __m128i t128 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(kIQ4NLValues));
    const __m256i table = _mm256_set_m128i(t128, t128), m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    ChainAcc acc;
    for (int64_t b = 0; b < nb; ++b, p += kBlock) {
        const int8_t *x = a.qs + 32 * b;
        __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int j = 0; j < 4; ++j) {
            const __m256i xl = bcast32(x + 4 * j), xh = bcast32(x + 16 + 4 * j);
            for (int h = 0; h < 2; ++h) {
                const __m256i q = load(p + kB32Quants + 64 * j + 32 * h);
                const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(q, m4));
                const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
                const __m256i pl = _mm256_maddubs_epi16(_mm256_abs_epi8(lo), _mm256_sign_epi8(xl, lo));
                const __m256i ph = _mm256_maddubs_epi16(_mm256_abs_epi8(hi), _mm256_sign_epi8(xh, hi));
                s[h] = _mm256_add_epi32(s[h], _mm256_add_epi32(_mm256_madd_epi16(pl, ones), _mm256_madd_epi16(ph, ones)));
            }
        }
        for (int h = 0; h < 2; ++h) acc.add(h, s[h], p + 16 * h, a.d[b]);
        if (b % kFlushBlocks == kFlushBlocks - 1) acc.flush();
    }
    acc.flush();
    acc.acc.store(out);
}

// Byte j of every 32-bit lane as the word pair (v, v) (a sub-block scale for vpmaddwd).
template <int J> inline __m256i scale_pair(__m256i v) {
    const __m256i b = J == 3 ? _mm256_srli_epi32(v, 24) : _mm256_and_si256(_mm256_srli_epi32(v, 8 * J), _mm256_set1_epi32(0xFF));
    return _mm256_or_si256(b, _mm256_slli_epi32(b, 16));
}
// The same for a signed byte.
template <int J> inline __m256i sscale_pair(__m256i v) {
    const __m256i b = _mm256_srai_epi32(_mm256_slli_epi32(v, 24 - 8 * J), 24);
    return _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(b, 16));
}
// A word pair (lo, hi) broadcast to every lane.
inline __m256i pair_of(int32_t lo, int32_t hi) {
    return _mm256_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(lo) & 0xFFFFu) | (static_cast<uint32_t>(hi) << 16)));
}

// Byte J of each dword of sd as a signed word pair (a sub-block's scale for vpmaddwd).
inline __m256i scale_pair_of(const __m256i &sd, int j) {
    switch (j) {
    case 0: return sscale_pair<0>(sd);
    case 1: return sscale_pair<1>(sd);
    case 2: return sscale_pair<2>(sd);
    default: return sscale_pair<3>(sd);
    }
}

// Q4_K panel block (cpu_panels.h): 16 d, 16 dmin, the 12 scale bytes as 3 dwords of 16 rows,
// then qs dword k: low nibbles of elements 64 (k / 8) + 4 (k % 8).., high ones + 32. Both
// 8-row halves of each 64-byte group are taken together (one broadcast of the activation
// for both, the block read front to back once): 29 -> 43 GB/s a core in cache against a
// pass per half. (Q5_K the same way, its fifth bits tested from qh as on AVX-512, read only
// 8.5 GB/s a core from memory against 27 in cache and 15 for its row kernel; with the block
// after next prefetched, 20.6, but a 1B Q5_K_M decoded slower than with the row kernel
// (tg32 0.97x llama.cpp against 1.08x): Q5_K keeps the row kernel on AVX2.)
void panel_q4_k(int64_t K, const void *panel, const ActCol &a, float *out) {
    constexpr int kBlock = kP * static_cast<int>(sizeof(BlockQ4_K));
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(panel);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F), m30 = _mm256_set1_epi8(0x30);
    const __m256i even = _mm256_set1_epi32(0x00FF00FF);
    Acc16 acc;
    for (int64_t sb = 0; sb < nsb; ++sb, p += kBlock) {
        const int8_t *x = a.qs + 256 * sb;
        const int16_t *bs = a.bs + 16 * sb;
        int32_t xs[8];
        for (int s = 0; s < 8; ++s) xs[s] = bs[2 * s] + bs[2 * s + 1];
        const __m256d dx = _mm256_set1_pd(a.d[sb]);
        // The 6-bit scales and mins of rows 8 h.. (ggml's get_scale_min_k4, 8 rows at once).
        __m256i sc_lo[2], sc_hi[2], m_lo[2], m_hi[2], s1[2];
        for (int h = 0; h < 2; ++h) {
            const __m256i d0 = load(p + kQ4KScales + 32 * h), d1 = load(p + kQ4KScales + 64 + 32 * h),
                          d2 = load(p + kQ4KScales + 128 + 32 * h);
            sc_lo[h] = _mm256_and_si256(d0, m6), m_lo[h] = _mm256_and_si256(d1, m6);
            sc_hi[h] = _mm256_or_si256(_mm256_and_si256(d2, m4), _mm256_and_si256(_mm256_srli_epi32(d0, 2), m30));
            m_hi[h] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(d2, 4), m4), _mm256_and_si256(_mm256_srli_epi32(d1, 2), m30));
            s1[h] = _mm256_setzero_si256();
        }
        // Sub-blocks 2 pair and 2 pair + 1 of both halves into s1: their scales are bytes
        // (2 pair) % 4 and + 1 of sc_lo (pairs 0, 1) or sc_hi (pairs 2, 3).
#pragma GCC unroll 4
        for (int pair = 0; pair < 4; ++pair) {
            const uint8_t *q = p + kQ4KQs + 512 * pair;
            const int8_t *xp = x + 64 * pair;
            __m256i lo[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}, hi[2] = {lo[0], lo[0]}; // 16-bit: <= 8 * 2 * 15 * 127
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j) {
                const __m256i xl = bcast32(xp + 4 * j), xh = bcast32(xp + 32 + 4 * j);
                for (int h = 0; h < 2; ++h) {
                    const __m256i v = load(q + 64 * j + 32 * h);
                    lo[h] = add16(lo[h], _mm256_maddubs_epi16(_mm256_and_si256(v, m4), xl));
                    hi[h] = add16(hi[h], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), xh));
                }
            }
            for (int h = 0; h < 2; ++h) {
                const __m256i sc = pair < 2 ? sc_lo[h] : sc_hi[h];
                s1[h] = _mm256_add_epi32(s1[h], _mm256_add_epi32(_mm256_madd_epi16(lo[h], scale_pair_of(sc, 2 * pair % 4)),
                                                                 _mm256_madd_epi16(hi[h], scale_pair_of(sc, 2 * pair % 4 + 1))));
            }
        }
        for (int h = 0; h < 2; ++h) {
            // Mins as word pairs (m0, m2), (m1, m3), ... against the activation's sums per 32.
            __m256i s2 = _mm256_madd_epi16(_mm256_and_si256(m_lo[h], even), pair_of(xs[0], xs[2]));
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(_mm256_srli_epi16(m_lo[h], 8), pair_of(xs[1], xs[3])));
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(_mm256_and_si256(m_hi[h], even), pair_of(xs[4], xs[6])));
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(_mm256_srli_epi16(m_hi[h], 8), pair_of(xs[5], xs[7])));
            acc.add_mins(h, p + kQ4KD + 16 * h, p + kQ4KDmin + 16 * h, s1[h], s2, dx);
        }
    }
    acc.store(out);
}

// The K-quants of 16-element sub-blocks (Q2_K, Q3_K, Q6_K), one kernel over their forms, as
// panel_k16 in cpu_panel_avx512.cpp: per 8-row half r8, half h and dword dq of a super-block,
// F::levels gives the levels of elements 128 h + 32 s + 4 dq.. (s = 0..3), which belong to
// sub-block 8 h + 2 s + dq / 4. vpmaddubsw sums them in 16 bits for F::kWiden dwords (Q6_K's
// 6-bit levels: two, a third could overflow; Q3_K's and Q2_K's: all four of a sub-block),
// then vpmaddwd against the sub-block's scale as a word pair widens and scales them at once
// (S1). The offsets (Q3_K's -4, Q6_K's -32) or mins (Q2_K) against the activation's sums per
// 16 make S2; the super-block is d (S1 - 2^kShift S2) d_x, or with mins (d S1 - dmin S2) d_x,
// in double. F::scales gives each row's 16 scales in 4 dwords a lane (signed bytes).
struct Q6Form { // levels from ql and qh, signed scales, offset -32
    static constexpr int kBlock = kP * static_cast<int>(sizeof(BlockQ6_K)), kShift = 5, kD = kQ6D, kWiden = 2;
    static constexpr bool kMins = false;
    static void scales(const uint8_t *p, int r8, __m256i sc[4], __m256i off[4]) {
        for (int t = 0; t < 4; ++t) off[t] = sc[t] = load(p + kQ6Scales + 64 * t + 32 * r8);
    }
    static void levels(const uint8_t *p, int r8, int h, int dq, __m256i q[4]) {
        x86::q6_panel_levels(p + kQ6Data + 192 * (8 * h + dq) + 32 * r8, q);
    }
};
struct Q3Form { // levels from qs and hmask, signed 6-bit scales, offset -4
    static constexpr int kBlock = kP * static_cast<int>(sizeof(BlockQ3_K)), kShift = 2, kD = kQ3KD, kWiden = 4;
    static constexpr bool kMins = false;
    static void scales(const uint8_t *p, int r8, __m256i sc[4], __m256i off[4]) {
        x86::q3_panel_scales(p + kQ3KScales + 32 * r8, sc);
        for (int t = 0; t < 4; ++t) off[t] = sc[t];
    }
    static void levels(const uint8_t *p, int r8, int h, int dq, __m256i q[4]) {
        x86::q3_panel_levels(p + kQ3KQs + 64 * (8 * h + dq) + 32 * r8, p + kQ3KHmask + 64 * dq + 32 * r8, h, q);
    }
};
struct Q2Form { // levels: shift 2 s of qs dword 8 h + dq; scale bytes scale | min << 4
    static constexpr int kBlock = kP * static_cast<int>(sizeof(BlockQ2_K)), kShift = 0, kD = kQ2KD, kWiden = 4;
    static constexpr int kDmin = kQ2KDmin;
    static constexpr bool kMins = true;
    static void scales(const uint8_t *p, int r8, __m256i sc[4], __m256i mins[4]) {
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        for (int t = 0; t < 4; ++t) {
            const __m256i v = load(p + kQ2KScales + 64 * t + 32 * r8);
            sc[t] = _mm256_and_si256(v, m4);
            mins[t] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
    }
    static void levels(const uint8_t *p, int r8, int h, int dq, __m256i q[4]) {
        const __m256i v = load(p + kQ2KQs + 64 * (8 * h + dq) + 32 * r8), m2 = _mm256_set1_epi8(0x03);
        for (int s = 0; s < 4; ++s) q[s] = _mm256_and_si256(_mm256_srli_epi16(v, 2 * s), m2);
    }
};

template <class F> void panel_k16(int64_t K, const void *panel, const ActCol &a, float *out) {
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(panel);
    Acc16 acc;
    for (int64_t sb = 0; sb < nsb; ++sb, p += F::kBlock) {
        const int8_t *x = a.qs + 256 * sb;
        const int16_t *bs = a.bs + 16 * sb;
        const __m256d dx = _mm256_set1_pd(a.d[sb]);
        for (int r8 = 0; r8 < 2; ++r8) { // rows 8 r8 ..
            __m256i sc[4], off[4];
            F::scales(p, r8, sc, off);
            __m256i s1 = _mm256_setzero_si256();
            for (int h = 0; h < 2; ++h) {
                __m256i t16[8];
                for (int i = 0; i < 8; ++i) t16[i] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int dq = 0; dq < 8; ++dq) {
                    __m256i q[4];
                    F::levels(p, r8, h, dq, q);
                    const int8_t *xe = x + 128 * h + 4 * dq;
                    const int j = dq / 4;
                    for (int s = 0; s < 4; ++s) t16[2 * s + j] = add16(t16[2 * s + j], _mm256_maddubs_epi16(q[s], bcast32(xe + 32 * s)));
                    if (dq % F::kWiden == F::kWiden - 1)
                        for (int s = 0; s < 4; ++s) {
                            const int sub = 2 * s + j; // sub-block 8 h + sub: byte sub % 4 of scale dword 2 h + sub / 4
                            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(t16[sub], scale_pair_of(sc[2 * h + sub / 4], sub % 4)));
                            t16[sub] = _mm256_setzero_si256();
                        }
                }
            }
            // sum_j o_j xsum16_j: signed offset bytes as word pairs (o0, o2), (o1, o3).
            __m256i s2 = _mm256_setzero_si256();
            for (int t = 0; t < 4; ++t) {
                s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(_mm256_srai_epi16(_mm256_slli_epi16(off[t], 8), 8),
                                                             pair_of(bs[4 * t], bs[4 * t + 2])));
                s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(_mm256_srai_epi16(off[t], 8), pair_of(bs[4 * t + 1], bs[4 * t + 3])));
            }
            if constexpr (F::kMins) {
                acc.add_mins(r8, p + F::kD + 16 * r8, p + F::kDmin + 16 * r8, s1, s2, dx);
            } else {
                const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + F::kD + 16 * r8)));
                const __m256i isum = _mm256_sub_epi32(s1, _mm256_slli_epi32(s2, F::kShift));
                for (int q = 0; q < 2; ++q) {
                    const __m256d dq = _mm256_cvtps_pd(q ? _mm256_extractf128_ps(d, 1) : _mm256_castps256_ps128(d));
                    const __m256d iq = _mm256_cvtepi32_pd(q ? _mm256_extracti128_si256(isum, 1) : _mm256_castsi256_si128(isum));
                    acc.d[2 * r8 + q] = _mm256_fmadd_pd(_mm256_mul_pd(dq, dx), iq, acc.d[2 * r8 + q]);
                }
            }
        }
    }
    acc.store(out);
}

void panel_q2_k(int64_t K, const void *panel, const ActCol &a, float *out) { panel_k16<Q2Form>(K, panel, a, out); }
void panel_q3_k(int64_t K, const void *panel, const ActCol &a, float *out) { panel_k16<Q3Form>(K, panel, a, out); }
void panel_q6_k(int64_t K, const void *panel, const ActCol &a, float *out) { panel_k16<Q6Form>(K, panel, a, out); }

} // namespace

void add_panel_avx2(Kernels &t) {
    t.dot_panel[int(DType::Q4_0)] = panel_q4_0;
    t.dot_panel[int(DType::Q8_0)] = panel_q8_0;
    t.dot_panel[int(DType::Q5_0)] = panel_q5_0;
    t.dot_panel[int(DType::Q4_1)] = panel_q4_1;
    t.dot_panel[int(DType::Q5_1)] = panel_q5_1;
    t.dot_panel[int(DType::Q4_K)] = panel_q4_k;
    t.dot_panel[int(DType::Q6_K)] = panel_q6_k;
    t.dot_panel[int(DType::Q3_K)] = panel_q3_k;
    t.dot_panel[int(DType::Q2_K)] = panel_q2_k;
    t.dot_panel[int(DType::IQ4_NL)] = panel_iq4_nl;
}

} // namespace corvid::cpu::fast
#else
namespace corvid::cpu::fast {
void add_panel_avx2(Kernels &) {}
} // namespace corvid::cpu::fast
#endif
