// Decode kernels (one activation column, several weight rows) for AVX-512 F/BW/VL/DQ +
// VBMI + VNNI. This file alone gets those -m flags (CMakeLists.txt); cpu_matmul_avx512.cpp
// puts these kernels into its table (add_gemv_avx512) when the processor has VBMI.
//
// Decode at batch 1 streams every weight once per token, so these kernels must keep up
// with memory: a 2-core machine reads ~14 GB/s per core, i.e. one Q4_0 block every
// ~3 cycles. They work in 512-bit registers, two 32-element blocks (or one 64-element
// run of a super-block) per register, and can compute up to kRowsPerCall rows at once so
// that each activation load, conversion and scale vector is shared by those rows (the
// driver asks for one row per call by default, see decode_rows() in cpu_matmul_fast.cpp:
// a single sequential stream per thread streams faster than interleaved rows):
//   - the quant levels of a block pair come from one masked load (never past the row)
//     and one byte permutation into element order, so the activations are used as the
//     partner quantizer wrote them (cpu_matmul_fast.cpp: ActCol);
//   - vpdpbusd gives 8 int32 lanes per 32 elements; per-block scales d_w * d_x are made
//     8 blocks at a time (the weights' fp16 scales by one gather) and spread to the lanes
//     by a permutation; products accumulate by FMA in float lanes, which are flushed into
//     double lanes every 8-16 blocks (Q4_K: every 8 super-blocks; Q6_K adds in double), as
//     in the other kernels: the e2e agreement with llama.cpp needs short float chains;
//   - offsets (-8 for Q4_0, -16 for Q5_0, K-quant mins, Q6_K's -32) go through the
//     activation's block sums in a separate float accumulator.
// tests/backends/test_conformance.cpp checks every kernel against the reference (M = 1
// shapes: odd row counts, K with partial groups of 8 blocks).
#include "cpu/cpu_matmul_fast.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__AVX512DQ__) && defined(__AVX512VBMI__) && defined(__FMA__) &&     \
    defined(__F16C__)
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#include <cstring>
#include <type_traits>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#ifndef CV_PREFETCH_HINT
#define CV_PREFETCH_HINT _MM_HINT_T1
#endif

namespace corvid::cpu::fast {
namespace {

constexpr size_t kR = kRowsPerCall;

// Software prefetch of the weights. A call reads kRowsPerCall rows side by side, and the
// driver hands the next call the rows right after them, so each kernel prefetches the
// same bytes of the row kRowsPerCall rows further on (distance `ahead`): a linear sweep
// one call ahead, about 4 memory latencies. Rows of a decode matrix are short (1-5 KiB),
// too short for the hardware prefetcher to lock on before each one ends. Prefetches
// past the end of the matrix never fault.
inline void prefetch_ahead(const uint8_t *p, int bytes, size_t ahead) {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char *>(p + ahead + o), CV_PREFETCH_HINT);
}
// A prefetch distance of whole calls (call_bytes each), at least min_bytes: for short rows one
// call ahead is too close to cover a memory latency. Measured for Q6_K (the output head of
// models with n_embd 768, one Zen 4 core from memory, `cpu_decode_rates 768`): 14.3-14.9 GB/s
// one call (2.5 KiB) ahead, 22.6-25.8 at 8 KiB; at K 2048 (6.6 KiB a call) 27.8 -> 28.7. The
// other kernels gained less or lost (Q4_0 at K 768 fell from ~16 to 10-12 GB/s), so they keep
// one call.
inline size_t calls_ahead(size_t call_bytes, size_t min_bytes) {
    return call_bytes >= min_bytes ? call_bytes : (min_bytes + call_bytes - 1) / call_bytes * call_bytes;
}
constexpr size_t kQ6MinAheadBytes = 8192; // Q6_K's least prefetch distance (above)

// Groups of 8 blocks whose products share a float chain before it is flushed into double.
constexpr int kFlushGroups = 2;

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// Float lanes into double lanes (16 lanes -> two 8-lane halves).
struct DAcc16 {
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    void add(__m512 &f) {
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
        hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
        f = _mm512_setzero_ps();
    }
    void add(__m256 &f) {
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(f));
        f = _mm256_setzero_ps();
    }
    double sum() const { return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi)); }
};

// The fp16 scales of 8 consecutive blocks (stride bytes apart, the scale first in each
// block), as floats; lanes >= n are 0. Eight 2-byte loads and word inserts: vpgatherdd is
// microcoded on AMD Zen 4, and with it the Q8_0 rows ran at 18.9 GB/s on one core in
// cache against 27.6 this way (scripts/cpu_decode_rates.cpp). The partial group at a row's
// end keeps the masked gather (never past the row).
inline __m256 scales8(const uint8_t *p, int stride, int n) {
    if (n >= 8) {
        uint16_t h[8];
        for (int j = 0; j < 8; ++j) std::memcpy(&h[j], p + j * stride, 2);
        return _mm256_cvtph_ps(_mm_setr_epi16(short(h[0]), short(h[1]), short(h[2]), short(h[3]), short(h[4]), short(h[5]),
                                              short(h[6]), short(h[7])));
    }
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    const __mmask8 m = static_cast<__mmask8>((1u << n) - 1u);
    const __m256i g = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), m, idx, p, 1);
    return _mm256_cvtph_ps(_mm256_cvtepi32_epi16(g));
}

// 8 floats / ints of an activation array, lanes >= n zero (never reads past them).
inline __m256 load8f(const float *p, int n) {
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskz_loadu_ps(static_cast<__mmask8>((1u << n) - 1u), p);
}
inline __m256 load8i_as_f(const int32_t *p, int n) {
    const __m256i v = n >= 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p))
                             : _mm256_maskz_loadu_epi32(static_cast<__mmask8>((1u << n) - 1u), p);
    return _mm256_cvtepi32_ps(v);
}

// Lanes 0..7 = s[2p], lanes 8..15 = s[2p + 1] of an 8-lane vector (in a 16-lane register).
inline __m512i pair_index(int p) {
    return _mm512_setr_epi32(2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p + 1, 2 * p + 1, 2 * p + 1,
                             2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1);
}

// Byte permutation for a pair of 32-element nibble blocks loaded from the first block's
// start: 128-bit lanes qsA, qsA, qsB, qsB (qs at byte offsets a and b); with the lanes
// shifted right by 0, 4, 0, 4 bits and masked, the bytes are elements 0..31 of A then B.
inline __m512i nibble_pair_perm(int a, int b) {
    alignas(64) uint8_t idx[64];
    for (int i = 0; i < 64; ++i) idx[i] = static_cast<uint8_t>((i < 32 ? a : b) + i % 16);
    return _mm512_load_si512(idx);
}
inline __m512i nibble_pair_shift() { return _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4); }

inline __mmask64 first_bytes(int n) { return n >= 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1; }

// ---- 32-element formats with nibbles: Q4_0, Q5_0 --------------------------------------
// HIGH: Q5_0's fifth bit from qh (bit j of the block's qh = element j).
template <class B, int OFFSET, bool HIGH, int NR>
void rows_q4q5(int64_t K, const uint8_t *w, size_t stride, const ActCol &a, float *out) {
    constexpr int kB = sizeof(B);
    constexpr int kQs = offsetof(B, qs);
    const int64_t nb = K / 32;
    const __m512i perm = nibble_pair_perm(kQs, kB + kQs);
    const __m512i shift = nibble_pair_shift();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i c16 = _mm512_set1_epi8(0x10);
    __m512 acc[NR];
    __m256 corr[NR];
    DAcc16 dacc[NR], dcorr[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps(), corr[r] = _mm256_setzero_ps();
    // One group of n <= 8 blocks; FULL: n == 8 (the loops unroll, everything stays in registers).
    auto group = [&](int64_t g, int n, bool flush, auto full) __attribute__((always_inline)) {
        constexpr bool FULL = decltype(full)::value;
        const int np = FULL ? 4 : (n + 1) / 2;
        const __m256 dx = load8f(a.d + g, FULL ? 8 : n);
        const __m256 sx = load8i_as_f(a.s + g, FULL ? 8 : n);
        __m512i x[4];
#pragma GCC unroll 4
        for (int p = 0; p < np; ++p) x[p] = _mm512_loadu_si512(a.qs + (g + 2 * p) * 32);
#pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
            const uint8_t *blk = w + r * stride + g * kB;
            prefetch_ahead(blk, 8 * kB, kR * stride);
            const __m256 sv = _mm256_mul_ps(scales8(blk, kB, FULL ? 8 : n), dx);
            corr[r] = _mm256_fmadd_ps(sv, sx, corr[r]);
            const __m512 svz = _mm512_castps256_ps512(sv);
#pragma GCC unroll 4
            for (int p = 0; p < np; ++p) {
                const uint8_t *pb = blk + 2 * p * kB;
                const int bytes = FULL || 2 * p + 1 < n ? 2 * kB : kB;
                const __m512i raw = _mm512_maskz_loadu_epi8(first_bytes(bytes), pb);
                __m512i q = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutexvar_epi8(perm, raw), shift), m4);
                if constexpr (HIGH) {
                    uint32_t ha, hb = 0;
                    std::memcpy(&ha, pb + offsetof(B, qh), 4);
                    if (bytes > kB) std::memcpy(&hb, pb + kB + offsetof(B, qh), 4);
                    q = _mm512_mask_add_epi8(q, _cvtu64_mask64(uint64_t(ha) | uint64_t(hb) << 32), q, c16);
                }
                const __m512i i = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, x[p]);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_permutexvar_ps(pair_index(p), svz), acc[r]);
            }
            if (flush) dacc[r].add(acc[r]), dcorr[r].add(corr[r]);
        }
    };
    int64_t g = 0;
    for (; g + 8 <= nb; g += 8) group(g, 8, (g / 8) % kFlushGroups == kFlushGroups - 1, std::true_type{});
    if (g < nb) group(g, static_cast<int>(nb - g), false, std::false_type{});
    for (int r = 0; r < NR; ++r) dacc[r].add(acc[r]), dcorr[r].add(corr[r]);
    for (int r = 0; r < NR; ++r) out[r] = static_cast<float>(dacc[r].sum() - OFFSET * dcorr[r].sum());
}

// ---- Q4_0, four blocks per register ----------------------------------------------------
// A group of 16 blocks is 288 bytes, 5 registers as they lie in memory. Blocks 4j..4j+3
// (bytes 72j..72j+71) always lie within two neighbouring registers, so ONE two-source
// byte permutation puts their 16 nibble bytes in the four 128-bit lanes of a register.
// The activations come pre-arranged to match (ActCol::qt, cpu_matmul_fast.h): the low
// and high halves of the same four blocks and -8 * sum(x) per lane, which starts the
// integer sum so that it is exact sum((q - 8) x). The 16 fp16 scales of a group come out
// of the same registers by three word permutations, are converted and multiplied by d_x
// once, and each quad takes its four by one in-lane shuffle. Per 16 blocks that is 4 byte permutations where
// gathering one block per lane took 20, which bound the first kernel (one core, in cache,
// scripts/cpu_decode_rates.cpp: ~16 -> ~19 GB/s at K 2048, Intel); with the scales made
// once a group instead of once a quad, one Zen 4 core in cache reads ~4-7% more at K 2048
// (a harness around this file; scripts/cpu_decode_rates.cpp) and decode (1B tg32) is level
// to +1%; taking the scale words from the lines again by unaligned loads instead of from
// the registers was faster in cache but ~5% slower from memory.

struct Q40Perms {
    __m512i qs[4];      // lane l of register j = qs of block 4j + l, from registers j * 72 / 64 and the next
    // The group's scales in the order 4l + j = block 4j + l, so that quad j takes its four by
    // an in-lane shuffle with an immediate: the fp16 words of blocks 0..7 (registers 0 and
    // 1: w_lo), 8..14 (registers 2 and 3: w_mid) and 15 (register 4: w_last), and the d_x
    // floats' permutation.
    __m512i w_lo, w_mid, w_last, dx_order;
};
const Q40Perms &q4_0_perms() {
    static const Q40Perms p = [] {
        Q40Perms t;
        for (int j = 0; j < 4; ++j) {
            const int base = 64 * (72 * j / 64);
            alignas(64) uint8_t b[64];
            for (int i = 0; i < 64; ++i) b[i] = static_cast<uint8_t>(72 * j + 18 * (i / 16) + 2 + i % 16 - base);
            t.qs[j] = _mm512_load_si512(b);
        }
        alignas(64) uint16_t lo[32] = {}, mid[32] = {}, last[32] = {};
        alignas(64) int32_t o[16];
        for (int l = 0; l < 4; ++l)
            for (int j = 0; j < 4; ++j) {
                const int blk = 4 * j + l, lane = 4 * l + j; // block blk's d: byte 18 blk of the group
                if (blk < 8) lo[lane] = static_cast<uint16_t>(9 * blk);               // words of registers 0, 1
                else if (blk < 15) mid[lane] = static_cast<uint16_t>(9 * blk - 64);   // registers 2, 3
                else last[lane] = static_cast<uint16_t>(9 * blk - 128);               // register 4
                o[lane] = blk;
            }
        t.w_lo = _mm512_load_si512(lo);
        t.w_mid = _mm512_load_si512(mid);
        t.w_last = _mm512_load_si512(last);
        t.dx_order = _mm512_load_si512(o);
        return t;
    }();
    return p;
}

// IQ4_NL's levels + 128 (0..241), the unsigned side of vpdpbusd.
struct alignas(16) BiasedLevels {
    uint8_t b[16];
};
constexpr BiasedLevels kIQ4NLBiased = [] {
    BiasedLevels t{};
    for (int i = 0; i < 16; ++i) t.b[i] = static_cast<uint8_t>(kIQ4NLValues[i] + 128);
    return t;
}();

// IQ4_NL (NL) is Q4_0's layout with non-linear levels: each nibble is looked up by one
// in-lane byte shuffle in kIQ4NLValues + 128 (unsigned for vpdpbusd), and the qt record's
// -8 sum(x) per lane, times 16, starts the sums at -128 sum(x): exact sum(value * x).
template <int NR, bool NL> void rows_q4x(int64_t K, const uint8_t *w, size_t stride, const ActCol &a, float *out) {
    static_assert(sizeof(BlockQ4_0) == sizeof(BlockIQ4_NL), "one layout");
    constexpr int kB = sizeof(BlockQ4_0), kG = kQtBlocks;
    static_assert(kG == 16, "four registers of four blocks");
    const int64_t nb = K / 32, ng = nb / kG;
    // A partial last group: its whole quads here too (ActCol::qt has them), the last
    // 0-3 blocks in the pair kernel. (At K = 768, a third of the blocks.)
    const int nq = static_cast<int>((nb - ng * kG) / 4);
    const Q40Perms &pm = q4_0_perms();
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    [[maybe_unused]] __m512i table; // NL: the 16 levels + 128 in every 128-bit lane
    if constexpr (NL) table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i *>(kIQ4NLBiased.b)));
    __m512 acc[NR];
    DAcc16 dacc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps();
    // The group's 16 scale products d_w * d_x, one float per block (lane 4l + j = block
    // 4j + l), made once a group; quad j's lanes l (block 4j + l / 4) take theirs by one
    // in-lane shuffle. The same products as one per lane, with one fp16 conversion and one
    // product a group instead of four.
    // bytes: the group's bytes that may be read (288 for a whole group; blocks past them get 0).
    // The scale words come out of R itself (extra loads of the same lines, even from L1,
    // made decode from memory ~5% slower: they hold load slots while the lines are missing).
    auto group_scales = [&](const __m512i R[5], int64_t G, int bytes) __attribute__((always_inline)) {
        const __m512 dx = bytes >= kG * kB ? _mm512_loadu_ps(a.d + G * kG)
                                           : _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (bytes / kB)) - 1u), a.d + G * kG);
        __m512i h = _mm512_mask_blend_epi16(0x4CCCu, _mm512_permutex2var_epi16(R[0], pm.w_lo, R[1]),
                                            _mm512_permutex2var_epi16(R[2], pm.w_mid, R[3]));
        h = _mm512_mask_blend_epi16(0x8000u, h, _mm512_permutexvar_epi16(pm.w_last, R[4]));
        return _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(h)), _mm512_permutexvar_ps(pm.dx_order, dx));
    };
    // Quads 0..n-1 of group G, whose bytes are in R, with the group's scale products S.
    auto quads = [&](const __m512i R[5], const __m512 S, int64_t G, int n, __m512 &acc_r) __attribute__((always_inline)) {
        const int8_t *xg = a.qt + G * kQtGroupBytes;
        const int32_t *s8 = reinterpret_cast<const int32_t *>(xg + kQtS);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) { // (n <= 4: a constant trip count for the compiler)
            if (j >= n) break;
            const int ra = 72 * j / 64;
            const __m512i q = _mm512_permutex2var_epi8(R[ra], pm.qs[j], R[ra + 1]);
            __m512i is = _mm512_loadu_si512(s8 + 16 * j);
            if constexpr (NL) {
                is = _mm512_slli_epi32(is, 4);
                const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(q, m4));
                const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
                is = _mm512_dpbusd_epi32(is, lo, _mm512_loadu_si512(xg + 64 * j));
                is = _mm512_dpbusd_epi32(is, hi, _mm512_loadu_si512(xg + 256 + 64 * j));
            } else { // (as before NL existed: written once for both, Q4_0 tg32 read 40-41 against 49 tokens/s)
                is = _mm512_dpbusd_epi32(is, _mm512_and_si512(q, m4), _mm512_loadu_si512(xg + 64 * j));
                is = _mm512_dpbusd_epi32(is, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), _mm512_loadu_si512(xg + 256 + 64 * j));
            }
            __m512 sc;
            switch (j) { // lane 4l + j of S is block 4j + l: each 128-bit lane takes its element j
            case 0: sc = _mm512_permute_ps(S, 0x00); break;
            case 1: sc = _mm512_permute_ps(S, 0x55); break;
            case 2: sc = _mm512_permute_ps(S, 0xAA); break;
            default: sc = _mm512_permute_ps(S, 0xFF); break;
            }
            acc_r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), sc, acc_r);
        }
    };
    for (int64_t G = 0; G < ng; ++G) {
        #pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
            const uint8_t *blk = w + r * stride + G * kG * kB;
            prefetch_ahead(blk, kG * kB, kR * stride);
            __m512i R[5];
            for (int i = 0; i < 4; ++i) R[i] = _mm512_loadu_si512(blk + 64 * i);
            R[4] = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk + 256)));
            quads(R, group_scales(R, G, kG * kB), G, 4, acc[r]);
            if (G % 2 == 1) dacc[r].add(acc[r]);
        }
    }
    if (nq > 0) {
        const int bytes = 4 * nq * kB; // masked loads: nothing past the quads is read
        for (int r = 0; r < NR; ++r) {
            const uint8_t *blk = w + r * stride + ng * kG * kB;
            __m512i R[5];
            for (int i = 0; i < 5; ++i)
                R[i] = 64 * i < bytes ? _mm512_maskz_loadu_epi8(first_bytes(bytes - 64 * i), blk + 64 * i) : _mm512_setzero_si512();
            quads(R, group_scales(R, ng, bytes), ng, nq, acc[r]);
        }
    }
    float tail[NR] = {};
    if (ng * kG + 4 * nq < nb) {
        const int64_t b0 = ng * kG + 4 * nq;
        if constexpr (NL) { // the last 1-3 blocks: exact integers, one float product each
            for (int r = 0; r < NR; ++r)
                for (int64_t b = b0; b < nb; ++b) {
                    const BlockIQ4_NL &blk = reinterpret_cast<const BlockIQ4_NL *>(w + r * stride)[b];
                    int32_t sum = 0;
                    for (int e = 0; e < 16; ++e)
                        sum += kIQ4NLValues[blk.qs[e] & 15] * a.qs[32 * b + e] + kIQ4NLValues[blk.qs[e] >> 4] * a.qs[32 * b + 16 + e];
                    tail[r] += half_to_float(blk.d) * a.d[b] * static_cast<float>(sum);
                }
        } else {
            const ActCol at{a.qs + b0 * 32, a.d + b0, a.s + b0, nullptr, nullptr, nullptr};
            rows_q4q5<BlockQ4_0, 8, false, NR>(K - b0 * 32, w + b0 * kB, stride, at, tail);
        }
    }
    #pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) {
        dacc[r].add(acc[r]);
        out[r] = static_cast<float>(dacc[r].sum() + double(tail[r]));
    }
}

// ---- Q8_0: signed levels --------------------------------------------------------------
// vpdpbusd wants one unsigned side: the weights flipped to w + 128 (one xor), and each
// block's sum started at -128 sum(x), i.e. -16 sum(x) in each of its 8 lanes (the
// activation's block sums, ActCol::s): exactly x . w, for one vpdpbusd a block pair.
// (Flipping the activations instead needs a second vpdpbusd for 128 sum(w): one Zen 4
// core in cache, scripts/cpu_decode_rates.cpp, read 25.7 GB/s that way against 28.0.)
template <int NR> void rows_q8_0(int64_t K, const uint8_t *w, size_t stride, const ActCol &a, float *out) {
    constexpr int kB = sizeof(BlockQ8_0);
    const int64_t nb = K / 32;
    const __m512i flip = _mm512_set1_epi8(char(0x80));
    __m512 acc[NR];
    DAcc16 dacc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t g = 0; g < nb; g += 8) {
        const int n = static_cast<int>(nb - g < 8 ? nb - g : 8);
        const __m256 dx = load8f(a.d + g, n);
        const __m256i sx = n >= 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.s + g))
                                  : _mm256_maskz_loadu_epi32(static_cast<__mmask8>((1u << n) - 1u), a.s + g);
        const __m512i start = _mm512_castsi256_si512(_mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), sx), 4));
        const int np = (n + 1) / 2;
        __m512i x[4], x0[4];
        for (int p = 0; p < np; ++p) {
            x[p] = _mm512_loadu_si512(a.qs + (g + 2 * p) * 32);
            x0[p] = _mm512_permutexvar_epi32(pair_index(p), start);
        }
        #pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
            const uint8_t *blk = w + r * stride + g * kB;
            prefetch_ahead(blk, 8 * kB, kR * stride);
            const __m512 svz = _mm512_castps256_ps512(_mm256_mul_ps(scales8(blk, kB, n), dx));
            for (int p = 0; p < np; ++p) {
                const uint8_t *pb = blk + 2 * p * kB;
                const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(pb + 2));
                // A missing second block: levels 0 after the flip (not 128), so that nothing is added.
                const __m256i hi = 2 * p + 1 < n ? _mm256_loadu_si256(reinterpret_cast<const __m256i *>(pb + kB + 2))
                                                 : _mm512_castsi512_si256(flip);
                const __m512i q = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), flip);
                const __m512i i = _mm512_dpbusd_epi32(x0[p], q, x[p]);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_permutexvar_ps(pair_index(p), svz), acc[r]);
            }
            dacc[r].add(acc[r]);
        }
    }
    for (int r = 0; r < NR; ++r) out[r] = static_cast<float>(dacc[r].sum());
}

// ---- K-quants against Q8_K activations ------------------------------------------------

inline __m256 bytes8_to_float(const uint8_t *b) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(b))));
}

// Both K-quant kernels below leave 4 runs of 64 elements as vpdpbusd sums: 16 lanes of 4
// elements each, small enough for 16 bits. Two runs pack into one register of words
// (packs_epi32), and one vpmaddwd against the sub-block scales, spread to the words by
// one two-source byte permutation (the scales, then their sign bytes), gives the
// super-block's exact integer sum(scale * q * x). That is scaled once per super-block
// (a float product per run and a flush into double per super-block cost twice the
// instructions): Q6_K in double; Q4_K in float, its mins in the same vector, flushed into
// double every 8 super-blocks.
struct RunScaleIdx {
    __m512i runs01, runs23; // word w of packs(run a, run b): byte 2w the scale, 2w + 1 its sign
};
// scale_of(run, L): the scale index of run `run`'s dpbusd lanes 4L..4L+3 (L = 0..3).
template <class ScaleOf> RunScaleIdx make_run_scale_idx(ScaleOf &&scale_of) {
    alignas(64) uint8_t b[2][64];
    // packs_epi32(i_a, i_b), 128-bit lane L: words 0-3 = i_a lanes 4L.., words 4-7 = i_b lanes 4L...
    for (int h = 0; h < 2; ++h)
        for (int w = 0; w < 32; ++w) {
            const int sc = scale_of(2 * h + (w % 8 >= 4 ? 1 : 0), w / 8);
            b[h][2 * w] = static_cast<uint8_t>(sc);          // from the scales
            b[h][2 * w + 1] = static_cast<uint8_t>(64 + sc); // from their sign bytes
        }
    return RunScaleIdx{_mm512_load_si512(b[0]), _mm512_load_si512(b[1])};
}
// sum over the 4 runs of scale * run sum, in 8 int32 lanes (exact). sc: the scales as
// bytes in the low lanes; sign: their sign bytes (0 for unsigned scales).
inline __m256i scaled_run_sums(const __m512i i[4], __m512i sc, __m512i sign, const RunScaleIdx &ix) {
    const __m512i m = _mm512_add_epi32(_mm512_madd_epi16(_mm512_packs_epi32(i[0], i[1]), _mm512_permutex2var_epi8(sc, ix.runs01, sign)),
                                       _mm512_madd_epi16(_mm512_packs_epi32(i[2], i[3]), _mm512_permutex2var_epi8(sc, ix.runs23, sign)));
    return _mm256_add_epi32(_mm512_castsi512_si256(m), _mm512_extracti64x4_epi64(m, 1));
}

// Q4_K: 64 bytes of nibbles at a time (two 64-element groups, sub-blocks 4h .. 4h + 3):
// run 2h their low nibbles, sub-blocks 4h (dpbusd lanes 0-7) and 4h + 2 (lanes 8-15); run
// 2h + 1 their high nibbles, 4h + 1 and 4h + 3. The activations are rearranged to match
// once a super-block for all the rows of a call (four 128-bit moves), so a row's 64 bytes
// take one and, one shift and one more and. (Splitting 32 bytes into both nibbles of one
// sub-block pair by a variable shift of a broadcast took twice the instructions: one Zen 4
// core in cache read 22.9 GB/s that way, 26.2 this way; scripts/cpu_decode_rates.cpp.)
// The mins go into the same double sum, against the activation's sums per 32 (vpmaddwd on
// 8 words).
const RunScaleIdx &q4_k_scale_idx() {
    static const RunScaleIdx t =
        make_run_scale_idx([](int run, int L) { return 4 * (run / 2) + run % 2 + (L >= 2 ? 2 : 0); });
    return t;
}

// Q5_K (HIGH) is Q4_K with a fifth bit per element from qh (bit s of qh[l] for element l of
// sub-block s): each run's two sub-blocks take theirs from qh broadcast to both 256-bit
// halves by one byte test and one masked add of 16 (levels 0..31: |dpbusd lane| <= 4 * 31 *
// 127, still within 16 bits for scaled_run_sums).
template <int NR, bool HIGH> void rows_q45_k(int64_t K, const uint8_t *w, size_t stride, const ActCol &a, float *out) {
    using Block = std::conditional_t<HIGH, BlockQ5_K, BlockQ4_K>;
    constexpr int kB = sizeof(Block);
    const int64_t nb = K / kQK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    // Q5_K: run k's qh bit in each half, sub-blocks 4h + k % 2 (bytes 0-31) and 4h + k % 2 + 2
    // (bytes 32-63), h = k / 2. (Made only for Q5_K: kept out of Q4_K's registers.)
    [[maybe_unused]] __m512i bit[4], c16;
    if constexpr (HIGH) {
        c16 = _mm512_set1_epi8(0x10);
        for (int k = 0; k < 4; ++k) {
            const int s = 4 * (k / 2) + k % 2;
            bit[k] = _mm512_inserti64x4(_mm512_set1_epi8(char(1 << s)), _mm256_set1_epi8(char(1 << (s + 2))), 1);
        }
    }
    const __m256i neg_ones16 = _mm256_set1_epi16(-1);
    // A super-block's terms as one float vector: lanes 0-7 the scaled run sums (times d),
    // lanes 8-11 the mins against the activation's sums, negated (times dmin), 12-15 zero.
    const __m512i factor_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2);
    const RunScaleIdx &si = q4_k_scale_idx();
    __m512 acc[NR];
    DAcc16 dacc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < nb; ++ib) {
        const __m128 dx = _mm_set1_ps(a.d[ib]);
        // Minus the activation's sums per 32 (the 16-sums in pairs), as 8 words (|sum| <= 4064).
        const __m256i bs32 = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.bs + ib * 16)), neg_ones16);
        const __m128i bs32w = _mm_packs_epi32(_mm256_castsi256_si128(bs32), _mm256_extracti128_si256(bs32, 1));
        __m512i x[4]; // run k's activations (sub-blocks 0 | 2, 1 | 3, 4 | 6, 5 | 7)
        for (int h = 0; h < 2; ++h) {
            const __m512i lo = _mm512_loadu_si512(a.qs + ib * kQK_K + 128 * h);
            const __m512i hi = _mm512_loadu_si512(a.qs + ib * kQK_K + 128 * h + 64);
            x[2 * h] = _mm512_shuffle_i64x2(lo, hi, 0x44);
            x[2 * h + 1] = _mm512_shuffle_i64x2(lo, hi, 0xEE);
        }
        #pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
            const uint8_t *blk = w + r * stride + ib * kB;
            const Block &b = *reinterpret_cast<const Block *>(blk);
            prefetch_ahead(blk, kB, kR * stride);
            alignas(8) uint8_t sc[8], mn[8];
            k4_scales_mins(b.scales, sc, mn);
            const __m512i scv = _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(sc)));
            __m512i i[4];
            [[maybe_unused]] __m512i qhb; // Q5_K: qh in both 256-bit halves
            if constexpr (HIGH) qhb = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qh)));
            for (int h = 0; h < 2; ++h) {
                const __m512i raw = _mm512_loadu_si512(b.qs + 64 * h);
                if constexpr (HIGH) {
                    __m512i lo = _mm512_and_si512(raw, m4), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
                    lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qhb, bit[2 * h]), lo, c16);
                    hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qhb, bit[2 * h + 1]), hi, c16);
                    i[2 * h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, x[2 * h]);
                    i[2 * h + 1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, x[2 * h + 1]);
                } else {
                    i[2 * h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(raw, m4), x[2 * h]);
                    i[2 * h + 1] =
                        _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4), x[2 * h + 1]);
                }
            }
            const __m256i m8 = scaled_run_sums(i, scv, _mm512_setzero_si512(), si);
            const __m128i mins = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(mn))), bs32w);
            const __m512i terms = _mm512_inserti32x4(_mm512_zextsi256_si512(m8), mins, 2);
            // (d, dmin) * d_x in lanes 0, 1; lanes 2, 3 zero.
            uint32_t ddm;
            std::memcpy(&ddm, blk, 4);
            const __m128 f = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(ddm))), dx);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(terms), _mm512_permutexvar_ps(factor_idx, _mm512_castps128_ps512(f)), acc[r]);
        }
        if ((ib & 7) == 7)
            for (int r = 0; r < NR; ++r) dacc[r].add(acc[r]);
    }
    for (int r = 0; r < NR; ++r) {
        dacc[r].add(acc[r]);
        out[r] = static_cast<float>(dacc[r].sum());
    }
}

// Q6_K: per 128-element half h, the 64 bytes ql[64h..] hold elements 0..63 (low nibbles)
// and 64..127 (high nibbles); qh[32h..] adds two bits per element (bits 0-1, 2-3, 4-5, 6-7
// for elements l, 32 + l, 64 + l, 96 + l). Value (q - 32) * scale per 16 elements.
// As for Q4_K (scaled_run_sums; |run sum| <= 4 * 63 * 127), with the signed scales
// sign-extended; the offset is 32 * sum(scale * sum(x) per 16), in integers too. Run k,
// dpbusd lane L (elements 64k + 4L..) has scale 4k + L / 4.
const RunScaleIdx &q6_k_scale_idx() {
    static const RunScaleIdx t = make_run_scale_idx([](int run, int L) { return 4 * run + L; });
    return t;
}

template <int NR> void rows_q6_k(int64_t K, const uint8_t *w, size_t stride, const ActCol &a, float *out) {
    const size_t ahead = calls_ahead(kR * stride, kQ6MinAheadBytes);
    constexpr int kB = sizeof(BlockQ6_K);
    const int64_t nb = K / kQK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    // 16-bit lane shifts: low 256 bits by the first count, high 256 by the second.
    const __m512i sl_a = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1); // 0..31: bits 0-1; 32..63: 2-3
    const __m512i sr_b = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1); // 64..95: 4-5; 96..127: 6-7
    const RunScaleIdx &si = q6_k_scale_idx();
    __m512d acc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_pd();
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float dx = a.d[ib];
        const __m256i bs16 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.bs + ib * 16));
        __m512i x[4];
        for (int k = 0; k < 4; ++k) x[k] = _mm512_loadu_si512(a.qs + ib * kQK_K + 64 * k);
        #pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
            const BlockQ6_K &b = *reinterpret_cast<const BlockQ6_K *>(w + r * stride + ib * kB);
            prefetch_ahead(w + r * stride + ib * kB, kB, ahead);
            const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b.scales));
            const __m512i scz = _mm512_castsi128_si512(sc);
            const __m512i sgn = _mm512_castsi128_si512(_mm_cmpgt_epi8(_mm_setzero_si128(), sc));
            __m512i i[4];
            for (int h = 0; h < 2; ++h) {
                const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
                const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qh + 32 * h)));
                const __m512i qa = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, sl_a), m30));
                const __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                                   _mm512_and_si512(_mm512_srlv_epi16(qh, sr_b), m30));
                i[2 * h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qa, x[2 * h]);
                i[2 * h + 1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qb, x[2 * h + 1]);
            }
            const __m256i corr = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), bs16);
            const __m256i m8 = _mm256_sub_epi32(scaled_run_sums(i, scz, sgn, si), _mm256_slli_epi32(corr, 5));
            acc[r] = _mm512_fmadd_pd(_mm512_cvtepi32_pd(m8), _mm512_set1_pd(half_to_float(b.d) * dx), acc[r]);
        }
    }
    for (int r = 0; r < NR; ++r) out[r] = static_cast<float>(_mm512_reduce_add_pd(acc[r]));
}

// ---- float weights -------------------------------------------------------------------
// F16 / BF16 weights against the F16 / BF16 partner activations: products exact in
// float, summed in float lanes (two chains per row), as the other float kernels do.
inline __m512 widen_f16(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
inline __m512 widen_bf16(const uint16_t *p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

template <bool BF16, int NR> void rows_f16(int64_t K, const uint8_t *w, size_t stride, const ActCol &a, float *out) {
    const uint16_t *x = static_cast<const uint16_t *>(a.f);
    auto widen = [](const uint16_t *p, __mmask16 m) { return BF16 ? widen_bf16(p, m) : widen_f16(p, m); };
    __m512 acc0[NR], acc1[NR];
    for (int r = 0; r < NR; ++r) acc0[r] = _mm512_setzero_ps(), acc1[r] = _mm512_setzero_ps();
    const __mmask16 all = 0xFFFF;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        const __m512 x0 = widen(x + k, all), x1 = widen(x + k + 16, all);
        #pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
            const uint16_t *wr = reinterpret_cast<const uint16_t *>(w + r * stride);
            prefetch_ahead(reinterpret_cast<const uint8_t *>(wr + k), 64, kR * stride);
            acc0[r] = _mm512_fmadd_ps(widen(wr + k, all), x0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(widen(wr + k + 16, all), x1, acc1[r]);
        }
    }
    for (; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? all : static_cast<__mmask16>((1u << (K - k)) - 1u);
        const __m512 x0 = widen(x + k, m);
        for (int r = 0; r < NR; ++r)
            acc0[r] = _mm512_fmadd_ps(widen(reinterpret_cast<const uint16_t *>(w + r * stride) + k, m), x0, acc0[r]);
    }
    for (int r = 0; r < NR; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}

// Q3_K: d * (scale - 32) * (q - 4), q = 2 bits from qs | the hmask bit << 2. In each
// 128-element half h, qs byte l holds elements 32k + l (k = 0..3) in bits 2k, 2k + 1, and
// bit 4h + k of hmask[l] is their third bit. Run k takes shift k of both halves at once (64
// bytes: half 0, then half 1), the third bits by one byte test of hmask (broadcast to both
// halves) and one masked add of 4: levels 0..7 against activations rearranged to match
// (elements 32k.. | 128 + 32k..). Then as Q6_K: the 16 signed scales by scaled_run_sums,
// the -4 offset as 4 sum(scale * sum(x) per 16), exact integers, scaled once in double.
const RunScaleIdx &q3_k_scale_idx() {
    static const RunScaleIdx t = make_run_scale_idx([](int run, int L) { return L < 2 ? 2 * run + L : 8 + 2 * run + L - 2; });
    return t;
}

// The 16 scales of a Q3_K block (6 bits, biased by 32) as signed bytes, in registers: the low
// nibbles of bytes 0-7 (scales 0-7) and their high nibbles (8-15), or'd with the top bit pairs,
// which are byte j % 4 of the last word shifted right by 2 (j / 4). (Unpacked in general
// registers and stored, the 16-byte load after the four 4-byte stores missed store forwarding:
// one core in cache read 7.2 GB/s of Q3_K rows against 14 from registers.)
inline __m128i q3_k_scales16(const uint8_t *p) {
    uint64_t lo8;
    uint32_t top;
    std::memcpy(&lo8, p, 8);
    std::memcpy(&top, p + 8, 4);
    const __m128i v = _mm_cvtsi64_si128(static_cast<long long>(lo8)), m4 = _mm_set1_epi8(0x0F);
    const __m128i low = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    const __m128i t = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(top)), _mm_setr_epi32(0, 2, 4, 6)),
                                    _mm_set1_epi8(0x03));
    return _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi32(t, 4)), _mm_set1_epi8(32));
}

// A super-block's activations for the 2-bit packing's runs (Q2_K, Q3_K): run k = elements
// 32k .. 32k + 31, then 128 + 32k .. (shift k of both halves' bytes).
// (Each shuffle spelled out: its selector must be an immediate even where the compiler
// does not unroll, as in the sanitizer build.)
inline void two_bit_run_acts(const int8_t *xs, __m512i x[4]) {
    __m512i X[4];
    for (int i = 0; i < 4; ++i) X[i] = _mm512_loadu_si512(xs + 64 * i);
    x[0] = _mm512_shuffle_i64x2(X[0], X[2], 0x44);
    x[1] = _mm512_shuffle_i64x2(X[0], X[2], 0xEE);
    x[2] = _mm512_shuffle_i64x2(X[1], X[3], 0x44);
    x[3] = _mm512_shuffle_i64x2(X[1], X[3], 0xEE);
}

// Q2_K: d * (sc & 15) * q - dmin * (sc >> 4) per 16 elements, q 0..3 in Q3_K's 2-bit
// packing: Q3_K's runs without the third bit, the scales unsigned (low nibbles), and the mins
// (high nibbles) against the activation's sums per 16, a second integer per super-block.
template <int NR, bool Q3> void rows_q23_k(int64_t K, const uint8_t *w, size_t stride, const ActCol &a, float *out) {
    using Block = std::conditional_t<Q3, BlockQ3_K, BlockQ2_K>;
    constexpr int kB = sizeof(Block);
    const int64_t nb = K / kQK_K;
    const __m512i m3 = _mm512_set1_epi8(0x03);
    [[maybe_unused]] __m512i bit[4]; // Q3_K: run k's hmask bit: k in bytes 0-31 (half 0), 4 + k in 32-63 (half 1)
    if constexpr (Q3)
        for (int k = 0; k < 4; ++k) bit[k] = _mm512_inserti64x4(_mm512_set1_epi8(char(1 << k)), _mm256_set1_epi8(char(1 << (4 + k))), 1);
    const RunScaleIdx &si = q3_k_scale_idx(); // (Q2_K: the same sub-blocks in the same lanes)
    __m512d acc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_pd();
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float dx = a.d[ib];
        const __m256i bs16 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.bs + ib * 16));
        __m512i x[4];
        two_bit_run_acts(a.qs + ib * kQK_K, x);
        #pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) {
            const Block &b = *reinterpret_cast<const Block *>(w + r * stride + ib * kB);
            prefetch_ahead(w + r * stride + ib * kB, kB, kR * stride);
            const __m512i q = _mm512_loadu_si512(b.qs);
            __m512i i[4];
            if constexpr (Q3) {
                const __m128i sc = q3_k_scales16(b.scales);
                const __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.hmask)));
                for (int k = 0; k < 4; ++k) {
                    __m512i l = _mm512_and_si512(_mm512_srli_epi16(q, 2 * k), m3);
                    l = _mm512_mask_add_epi8(l, _mm512_test_epi8_mask(hm, bit[k]), l, _mm512_set1_epi8(0x04));
                    i[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), l, x[k]);
                }
                const __m512i sgn = _mm512_castsi128_si512(_mm_cmpgt_epi8(_mm_setzero_si128(), sc));
                const __m256i corr = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), bs16);
                const __m256i m8 = _mm256_sub_epi32(scaled_run_sums(i, _mm512_castsi128_si512(sc), sgn, si), _mm256_slli_epi32(corr, 2));
                acc[r] = _mm512_fmadd_pd(_mm512_cvtepi32_pd(m8), _mm512_set1_pd(half_to_float(b.d) * dx), acc[r]);
            } else {
                const __m128i m4 = _mm_set1_epi8(0x0F);
                const __m128i sm = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b.scales));
                const __m128i sc = _mm_and_si128(sm, m4), mn = _mm_and_si128(_mm_srli_epi16(sm, 4), m4);
                for (int k = 0; k < 4; ++k)
                    i[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(q, 2 * k), m3), x[k]);
                const __m256i m8 = scaled_run_sums(i, _mm512_castsi128_si512(sc), _mm512_setzero_si512(), si);
                const __m256i mins = _mm256_madd_epi16(_mm256_cvtepu8_epi16(mn), bs16);
                uint32_t ddm;
                std::memcpy(&ddm, &b.d, 4); // d, dmin
                const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(ddm)));
                const __m512d dd = _mm512_set1_pd(double(_mm_cvtss_f32(f) * dx));
                const __m512d dm = _mm512_set1_pd(double(_mm_cvtss_f32(_mm_movehdup_ps(f)) * dx));
                acc[r] = _mm512_fmadd_pd(_mm512_cvtepi32_pd(m8), dd, acc[r]);
                acc[r] = _mm512_fnmadd_pd(_mm512_cvtepi32_pd(mins), dm, acc[r]);
            }
        }
    }
    for (int r = 0; r < NR; ++r) out[r] = static_cast<float>(_mm512_reduce_add_pd(acc[r]));
}

// ---- the table -----------------------------------------------------------------------

using Rows1 = void (*)(int64_t, const uint8_t *, size_t, const ActCol &, float *);
template <Rows1 F1, Rows1 F2, Rows1 F3, Rows1 F4>
void by_rows(int64_t K, const void *w, size_t stride, int nrows, const ActCol &a, float *out) {
    const uint8_t *p = static_cast<const uint8_t *>(w);
    switch (nrows) {
    case 1: F1(K, p, stride, a, out); break;
    case 2: F2(K, p, stride, a, out); break;
    case 3: F3(K, p, stride, a, out); break;
    default: F4(K, p, stride, a, out); break;
    }
}
template <int NR> void rows_q5_0(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_q4q5<BlockQ5_0, 16, true, NR>(K, w, s, a, o); }
template <int NR> void rows_q4_0(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_q4x<NR, false>(K, w, s, a, o); }
template <int NR> void rows_iq4_nl(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_q4x<NR, true>(K, w, s, a, o); }
template <int NR> void rows_q2_k(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_q23_k<NR, false>(K, w, s, a, o); }
template <int NR> void rows_q3_k(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_q23_k<NR, true>(K, w, s, a, o); }
template <int NR> void rows_q4_k(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_q45_k<NR, false>(K, w, s, a, o); }
template <int NR> void rows_q5_k(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_q45_k<NR, true>(K, w, s, a, o); }
template <int NR> void rows_f16h(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_f16<false, NR>(K, w, s, a, o); }
template <int NR> void rows_bf16(int64_t K, const uint8_t *w, size_t s, const ActCol &a, float *o) { rows_f16<true, NR>(K, w, s, a, o); }
#define CORVID_BY_ROWS(F) by_rows<F<1>, F<2>, F<3>, F<4>>
static_assert(kRowsPerCall == 4, "by_rows covers 1..4 rows");

} // namespace

void add_gemv_avx512(Kernels &t) {
    // The byte permutation (vpermb) is AVX-512 VBMI: the caller asks the processor.
    t.dot_rows[int(DType::Q4_0)] = CORVID_BY_ROWS(rows_q4_0);
    t.dot_rows[int(DType::Q5_0)] = CORVID_BY_ROWS(rows_q5_0);
    t.dot_rows[int(DType::Q8_0)] = CORVID_BY_ROWS(rows_q8_0);
    t.dot_rows[int(DType::Q2_K)] = CORVID_BY_ROWS(rows_q2_k);
    t.dot_rows[int(DType::Q3_K)] = CORVID_BY_ROWS(rows_q3_k);
    t.dot_rows[int(DType::Q4_K)] = CORVID_BY_ROWS(rows_q4_k);
    t.dot_rows[int(DType::Q5_K)] = CORVID_BY_ROWS(rows_q5_k);
    t.dot_rows[int(DType::Q6_K)] = CORVID_BY_ROWS(rows_q6_k);
    t.dot_rows[int(DType::F16)] = CORVID_BY_ROWS(rows_f16h);
    t.dot_rows[int(DType::BF16)] = CORVID_BY_ROWS(rows_bf16);
    t.dot_rows[int(DType::IQ4_NL)] = CORVID_BY_ROWS(rows_iq4_nl);
    t.dot_rows_qt[int(DType::Q4_0)] = true;
    t.dot_rows_qt[int(DType::IQ4_NL)] = true;
    // Quantized rows cost enough compute that sharing the activation work between four
    // rows pays more than one sequential stream (cpu_matmul_fast.cpp, decode_rows()).
    // Q5_0 keeps one: with four its rows read 7.4 GB/s from memory on one Zen 4 core against
    // 13-14 with one (in cache level; scripts/cpu_decode_rates.cpp 2048 [1|4]; the cause is
    // not known: a prefetch of every line the four rows touch did not change it).
    for (DType type : {DType::Q4_0, DType::IQ4_NL, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K})
        t.dot_rows_per_call[int(type)] = kRowsPerCall;
}
#undef CORVID_BY_ROWS

} // namespace corvid::cpu::fast

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
namespace corvid::cpu::fast {
void add_gemv_avx512(Kernels &) {}
} // namespace corvid::cpu::fast
#endif
