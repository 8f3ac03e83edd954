// Blocked matrix-product kernels (prompt processing) for AVX-512 F/BW/VL/DQ + VNNI.
// This file alone, with cpu_matmul_avx512.cpp, gets those -m flags (CMakeLists.txt);
// cpu_matmul_avx512.cpp puts these kernels into its table (add_gemm_avx512).
//
// Layout. A panel holds 16 weight rows, interleaved so that one 512-bit register holds
// the same 4 consecutive elements of all 16 rows: quant levels as unsigned bytes in
// [element / 4][row][4] (the 16 x 16-dword transpose below builds it), then the
// per-block scales as one 16-lane vector per block. One vpdpbusd against 4 activation
// bytes broadcast to every lane then advances all 16 row dot products at once: no
// horizontal sums, and each activation load serves 16 rows, each weight load a tile
// of up to 8 columns.
//
// Arithmetic (as in the dot kernels of cpu_matmul_x86.inc, so the results are the
// same to within float rounding and the e2e agreement with llama.cpp is kept):
//   - 32-element formats: per block the exact integer sum(q * x) (signed levels are
//     stored as level + offset, offset * sum(x) subtracted exactly), converted to
//     float (exact: < 2^24), times (d_w * d_x) rounded to float, accumulated by fused
//     multiply-add in float and flushed into double every 4 blocks;
//   - Q4_K / Q5_K / Q6_K: the exact integer super-block sum (sub-block sums times
//     their scales by vpmulld, mins / offsets by vpdpwssd against the activation's
//     block sums), one float product with d_w * d_x per super-block, added in double;
//   - F16 / BF16: weights widened to float at packing time into panels of 48 rows (not
//     16: see TileF), activations are the partner format's values widened to float
//     (products exact), float FMA chains of 64 elements summed into a float total per
//     row and column.
#include "cpu/cpu_matmul_fast.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__AVX512DQ__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/cpu_panel_avx512.h"
#include "cpu/cpu_x86_simd.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

// GCC 12's AVX-512 headers start some conversions from _mm512_undefined_*(), which
// -Wall reports as uninitialized (GCC bug 105593, fixed in GCC 13): a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace corvid::cpu::fast {
namespace {

constexpr int kRows = 16; // weight rows per panel
constexpr int kMaxNC = kGemmCols; // columns per register tile (one activation group)

inline uint64_t round_up(uint64_t n, uint64_t m) { return (n + m - 1) / m * m; }

using namespace x86; // load256, load128, load_u32, half_to_float, nibbles32, bits_to_bytes

// acc + vpdpbusd(w, the 4 bytes at p broadcast to every lane), with the broadcast folded
// into the instruction's memory operand (compilers emit a separate vpbroadcastd).
using u32_alias = uint32_t __attribute__((may_alias));
inline __m512i dpbusd_bcst(__m512i acc, __m512i w, const int8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*reinterpret_cast<const u32_alias *>(p)));
    return acc;
}
// One scaled sub-block of a full K-quant tile (16 rows x 8 columns against Q8_K):
// t_c = the G groups of 4 elements (G vpdpbusd per column, weights at wp + 64 g, column
// c's activations at xp + 256 c + 4 g: the Q8_K group layout's qs[8][256]), then
// i_c += t_c * (the 16 sub-block scales at sp). One asm block over named sums, because
// GCC 12 kept the intrinsics' sums in stack arrays, storing all 16 in every sub-block.
// On Zen 4 vpmulld shares the vpdpbusd pipes and vpaddd, loads and broadcasts do not, so
// this body's floor is 1.125 cycles per vpdpbusd (a loop of it alone measured 1.123).
// scripts/cpu_gemm_rates.cpp, one core, K 2048: Q4_K 330 -> 338 Gops, Q6_K 290 -> 305.
// Same integer results as the intrinsic form used for narrower tiles.
#define CV_DP8_GROUP(g)                                                                     \
    "vmovdqa64 " #g "*64(%[wp]), %[w]\n\t"                                                  \
    "vpdpbusd 0*256+" #g "*4(%[xp])%{1to16%}, %[w], %[t0]\n\t"                              \
    "vpdpbusd 1*256+" #g "*4(%[xp])%{1to16%}, %[w], %[t1]\n\t"                              \
    "vpdpbusd 2*256+" #g "*4(%[xp])%{1to16%}, %[w], %[t2]\n\t"                              \
    "vpdpbusd 3*256+" #g "*4(%[xp])%{1to16%}, %[w], %[t3]\n\t"                              \
    "vpdpbusd 4*256+" #g "*4(%[xp])%{1to16%}, %[w], %[t4]\n\t"                              \
    "vpdpbusd 5*256+" #g "*4(%[xp])%{1to16%}, %[w], %[t5]\n\t"                              \
    "vpdpbusd 6*256+" #g "*4(%[xp])%{1to16%}, %[w], %[t6]\n\t"                              \
    "vpdpbusd 7*256+" #g "*4(%[xp])%{1to16%}, %[w], %[t7]\n\t"
#define CV_DP8_ZERO                                                                         \
    "vpxord %[t0], %[t0], %[t0]\n\tvpxord %[t1], %[t1], %[t1]\n\t"                          \
    "vpxord %[t2], %[t2], %[t2]\n\tvpxord %[t3], %[t3], %[t3]\n\t"                          \
    "vpxord %[t4], %[t4], %[t4]\n\tvpxord %[t5], %[t5], %[t5]\n\t"                          \
    "vpxord %[t6], %[t6], %[t6]\n\tvpxord %[t7], %[t7], %[t7]\n\t"
#define CV_DP8_SCALE_ADD                                                                    \
    "vmovdqa64 (%[sp]), %[s]\n\t"                                                           \
    "vpmulld %[s], %[t0], %[t0]\n\tvpaddd %[t0], %[i0], %[i0]\n\t"                          \
    "vpmulld %[s], %[t1], %[t1]\n\tvpaddd %[t1], %[i1], %[i1]\n\t"                          \
    "vpmulld %[s], %[t2], %[t2]\n\tvpaddd %[t2], %[i2], %[i2]\n\t"                          \
    "vpmulld %[s], %[t3], %[t3]\n\tvpaddd %[t3], %[i3], %[i3]\n\t"                          \
    "vpmulld %[s], %[t4], %[t4]\n\tvpaddd %[t4], %[i4], %[i4]\n\t"                          \
    "vpmulld %[s], %[t5], %[t5]\n\tvpaddd %[t5], %[i5], %[i5]\n\t"                          \
    "vpmulld %[s], %[t6], %[t6]\n\tvpaddd %[t6], %[i6], %[i6]\n\t"                          \
    "vpmulld %[s], %[t7], %[t7]\n\tvpaddd %[t7], %[i7], %[i7]\n\t"
#define CV_DP8_OPERANDS                                                                     \
    : [i0] "+v"(i0), [i1] "+v"(i1), [i2] "+v"(i2), [i3] "+v"(i3), [i4] "+v"(i4), [i5] "+v"(i5), \
      [i6] "+v"(i6), [i7] "+v"(i7),                                                         \
      [t0] "=&v"(t0), [t1] "=&v"(t1), [t2] "=&v"(t2), [t3] "=&v"(t3), [t4] "=&v"(t4),             \
      [t5] "=&v"(t5), [t6] "=&v"(t6), [t7] "=&v"(t7), [w] "=&v"(w), [s] "=&v"(sv)           \
    : [wp] "r"(wp), [xp] "r"(xp), [sp] "r"(sp)                                              \
    : "memory"
template <int G>
inline __attribute__((always_inline)) void scaled_subblock8(const uint8_t *wp, const int8_t *xp, const uint8_t *sp,
                                                            __m512i &i0, __m512i &i1, __m512i &i2, __m512i &i3,
                                                            __m512i &i4, __m512i &i5, __m512i &i6, __m512i &i7) {
    static_assert(G == 4 || G == 8, "sub-blocks of 16 or 32 elements");
    __m512i t0, t1, t2, t3, t4, t5, t6, t7, w, sv;
    if constexpr (G == 8)
        __asm__(CV_DP8_ZERO CV_DP8_GROUP(0) CV_DP8_GROUP(1) CV_DP8_GROUP(2) CV_DP8_GROUP(3) CV_DP8_GROUP(4)
                    CV_DP8_GROUP(5) CV_DP8_GROUP(6) CV_DP8_GROUP(7) CV_DP8_SCALE_ADD CV_DP8_OPERANDS);
    else
        __asm__(CV_DP8_ZERO CV_DP8_GROUP(0) CV_DP8_GROUP(1) CV_DP8_GROUP(2) CV_DP8_GROUP(3) CV_DP8_SCALE_ADD
                    CV_DP8_OPERANDS);
}
#undef CV_DP8_GROUP
#undef CV_DP8_ZERO
#undef CV_DP8_SCALE_ADD
#undef CV_DP8_OPERANDS
static_assert(kActQ8KD == 8 * 256, "scaled_subblock8 reads column c's levels at 256 c");

inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// In-place transpose of a 16 x 16 matrix of 32-bit elements (one row per register).
inline void transpose16(__m512 r[16]) {
    __m512 a[16], b[16];
    for (int i = 0; i < 8; ++i) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
        const __m512d a0 = _mm512_castps_pd(a[4 * i]), a1 = _mm512_castps_pd(a[4 * i + 1]);
        const __m512d a2 = _mm512_castps_pd(a[4 * i + 2]), a3 = _mm512_castps_pd(a[4 * i + 3]);
        b[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    // b[4i + j], 128-bit lane l: rows 4i..4i+3 of column 4l + j.
    for (int j = 0; j < 4; ++j) {
        const __m512 c0 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0x44), c1 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0xEE);
        const __m512 c2 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0x44);
        const __m512 c3 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0xEE);
        r[j] = _mm512_shuffle_f32x4(c0, c2, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(c0, c2, 0xDD);
        r[8 + j] = _mm512_shuffle_f32x4(c1, c3, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(c1, c3, 0xDD);
    }
}

// Packs the quant levels: unpack64(row, chunk) gives elements 64 chunk .. 64 chunk + 63
// of a row as unsigned bytes; they land in q[(16 chunk + dword) * 64 + 4 row].
template <class Unpack64>
inline void pack_levels(int64_t K, const void *const *rows, int nrows, uint8_t *q, Unpack64 &&unpack64) {
    const int64_t nchunks = (K + 63) / 64;
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        __m512 v[16];
        for (int r = 0; r < kRows; ++r)
            v[r] = r < nrows ? _mm512_castsi512_ps(unpack64(static_cast<const uint8_t *>(rows[r]), ch)) : _mm512_setzero_ps();
        transpose16(v);
        for (int k = 0; k < 16; ++k) _mm512_store_ps(q + (16 * ch + k) * 64, v[k]);
    }
}

// Double accumulators for 16 rows (two halves of 8).
struct Acc16 {
    __m512d lo, hi;
};
inline void add_to(Acc16 &a, __m512 f) {
    a.lo = _mm512_add_pd(a.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
    a.hi = _mm512_add_pd(a.hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
}
inline void sub_from(Acc16 &a, __m512 f) {
    a.lo = _mm512_sub_pd(a.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
    a.hi = _mm512_sub_pd(a.hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
}
inline void store16(float *out, __mmask16 mask, const Acc16 &a) {
    const __m512 v = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(a.lo)), _mm512_cvtpd_ps(a.hi), 1);
    _mm512_mask_storeu_ps(out, mask, v);
}

inline __mmask16 row_mask(int nrows) { return static_cast<__mmask16>((1u << nrows) - 1u); }

// Runs Tile<NC>::run(group activations, c0, ...) over the column groups: Tile<8> for
// each full group, one narrower tile for a partial last group.
template <template <int> class Tile, class... Args>
inline void over_columns(int64_t nc, const uint8_t *acts, uint64_t group_bytes, Args &&...args) {
    int64_t c0 = 0;
    for (; c0 + kMaxNC <= nc; c0 += kMaxNC, acts += group_bytes) Tile<kMaxNC>::run(acts, c0, args...);
    switch (nc - c0) {
    case 1: Tile<1>::run(acts, c0, args...); break;
    case 2: Tile<2>::run(acts, c0, args...); break;
    case 3: Tile<3>::run(acts, c0, args...); break;
    case 4: Tile<4>::run(acts, c0, args...); break;
    case 5: Tile<5>::run(acts, c0, args...); break;
    case 6: Tile<6>::run(acts, c0, args...); break;
    case 7: Tile<7>::run(acts, c0, args...); break;
    default: break;
    }
}

// ---- 32-element formats (Q4_0, Q5_0, Q8_0, IQ4_NL) against Q8_0 activations -----------
// Panel: q[K/64 chunks][16 dwords][16 rows][4] (K rounded up to 64), then d[K/32][16].

uint64_t b32_panel_bytes(int64_t K) { return round_up(uint64_t(K), 64) * kRows + uint64_t(K / 32) * kRows * 4; }

// Unsigned levels of one block: level + the type's offset (kOffset below).
inline __m256i levels_q4_0(const BlockQ4_0 &b) { return nibbles32(b.qs); }
inline __m256i levels_q5_0(const BlockQ5_0 &b) {
    return _mm256_or_si256(nibbles32(b.qs), bits_to_bytes(load_u32(b.qh), 0x10));
}
inline __m256i levels_q8_0(const BlockQ8_0 &b) { return _mm256_xor_si256(load256(b.qs), _mm256_set1_epi8(char(0x80))); }
inline __m256i levels_iq4_nl(const BlockIQ4_NL &b) {
    const __m128i t = load128(kIQ4NLValues);
    const __m256i table = _mm256_set_m128i(t, t);
    return _mm256_xor_si256(_mm256_shuffle_epi8(table, nibbles32(b.qs)), _mm256_set1_epi8(char(0x80)));
}

template <class B, __m256i (*Levels)(const B &)>
void pack_b32(int64_t K, const void *const *rows, int nrows, void *panel) {
    uint8_t *q = static_cast<uint8_t *>(panel);
    const int64_t nb = K / 32;
    pack_levels(K, rows, nrows, q, [nb](const uint8_t *row, int64_t ch) {
        const B *b = reinterpret_cast<const B *>(row);
        const __m256i lo = Levels(b[2 * ch]);
        const __m256i hi = 2 * ch + 1 < nb ? Levels(b[2 * ch + 1]) : _mm256_setzero_si256();
        return join(lo, hi);
    });
    float *d = reinterpret_cast<float *>(q + round_up(uint64_t(K), 64) * kRows);
    for (int64_t ib = 0; ib < nb; ++ib)
        for (int r = 0; r < kRows; ++r)
            d[ib * kRows + r] = r < nrows ? half_to_float(reinterpret_cast<const B *>(rows[r])[ib].d) : 0.0f;
}

// The same panel from a decode panel of 16 rows (cpu_panels.h), without unpacking the rows:
// per block the decode panel holds the 16 scales, then dword j of the 16 rows' quants (Q4_0:
// nibbles of elements 4j.. and 16 + 4j..; Q8_0: levels + 128 of elements 4j..), which are
// this panel's dwords j and 4 + j (Q4_0, split) or j (Q8_0, as they are).
// IQ4_NL is Q4_0's panel with each nibble looked up (levels + 128, as levels_iq4_nl); Q5_0
// is Q4_0's with the 16 rows' qh dwords between the scales and the quants, whose fifth bits
// are added to the nibbles (levels 0..31, as levels_q5_0).
enum class B32Form { q4_0, q8_0, iq4_nl, q5_0 };
template <B32Form F> void pack_b32_from_panel(int64_t K, const void *src, int, void *panel) {
    constexpr bool kNibbles = F != B32Form::q8_0;
    constexpr int kBlockBytes = kRows * (F == B32Form::q8_0 ? int(sizeof(BlockQ8_0)) : F == B32Form::q5_0 ? int(sizeof(BlockQ5_0))
                                                                                                        : int(sizeof(BlockQ4_0)));
    constexpr int kQuants = F == B32Form::q5_0 ? Q50Panel::qs : kB32Quants;
    const int64_t nb = K / 32;
    const auto *p = static_cast<const uint8_t *>(src);
    uint8_t *q = static_cast<uint8_t *>(panel);
    float *d = reinterpret_cast<float *>(q + round_up(uint64_t(K), 64) * kRows);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i table = _mm512_xor_si512(_mm512_broadcast_i32x4(load128(kIQ4NLValues)), _mm512_set1_epi8(char(0x80)));
    for (int64_t b = 0; b < nb; ++b, p += kBlockBytes) {
        uint8_t *out = q + (16 * (b / 2) + 8 * (b % 2)) * 64;
        [[maybe_unused]] __m512i qh;
        if constexpr (F == B32Form::q5_0) qh = _mm512_loadu_si512(p + Q50Panel::qh);
        for (int j = 0; j < (kNibbles ? 4 : 8); ++j) {
            const __m512i v = _mm512_loadu_si512(p + kQuants + 64 * j);
            if constexpr (kNibbles) {
                __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                if constexpr (F == B32Form::iq4_nl) lo = _mm512_shuffle_epi8(table, lo), hi = _mm512_shuffle_epi8(table, hi);
                if constexpr (F == B32Form::q5_0) panel512::add_fifth_bits(qh, j, lo, hi);
                _mm512_store_si512(out + 64 * j, lo);
                _mm512_store_si512(out + 64 * (4 + j), hi);
            } else {
                _mm512_store_si512(out + 64 * j, v);
            }
        }
        _mm512_store_ps(d + kRows * b, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p))));
    }
    if (nb % 2) std::memset(q + (16 * (nb / 2) + 8) * 64, 0, 8 * 64); // the last chunk's missing block
}

// Block ib's exact integer sums (offsets included) for NC columns, scaled by d_w * d_x
// into the float chains f, which are flushed into double every 4 blocks. Shared by the
// VNNI and AMX tiles, so that both give the same bits.
template <int NC>
inline __attribute__((always_inline)) void scale_b32_block(int64_t ib, const float *dw, const float *xd, const __m512i *s,
                                                           __m512 *f, Acc16 *acc) {
    const __m512 d = _mm512_load_ps(dw + ib * kRows);
    for (int c = 0; c < NC; ++c) f[c] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(xd[c])), _mm512_cvtepi32_ps(s[c]), f[c]);
    if (ib % kGemmFlushBlocks == kGemmFlushBlocks - 1)
        for (int c = 0; c < NC; ++c) add_to(acc[c], f[c]), f[c] = _mm512_setzero_ps();
}

template <int NC> struct TileB32 {
    static void run(const uint8_t *x, int64_t c0, int64_t K, const uint8_t *q, const float *dw, float *out,
                    int64_t ostride, __mmask16 mask) {
        const int64_t nb = K / 32;
        __m512 f[NC];
        Acc16 acc[NC];
        for (int c = 0; c < NC; ++c) f[c] = _mm512_setzero_ps(), acc[c] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
        for (int64_t ib = 0; ib < nb; ++ib, x += kActB32Bytes) {
            const uint8_t *blk = q + ib * 512;
            const int32_t *soff = reinterpret_cast<const int32_t *>(x + kActB32Soff);
            const float *xd = reinterpret_cast<const float *>(x + kActB32D);
            const int8_t *xq = reinterpret_cast<const int8_t *>(x);
            __m512i s[NC];
            for (int c = 0; c < NC; ++c) s[c] = _mm512_set1_epi32(soff[c]);
            for (int g = 0; g < 8; ++g) {
                const __m512i w = _mm512_load_si512(blk + 64 * g);
                for (int c = 0; c < NC; ++c) s[c] = dpbusd_bcst(s[c], w, xq + 32 * c + 4 * g);
            }
            scale_b32_block<NC>(ib, dw, xd, s, f, acc);
        }
        for (int c = 0; c < NC; ++c) {
            add_to(acc[c], f[c]);
            store16(out + (c0 + c) * ostride, mask, acc[c]);
        }
    }
};

void gemm_b32(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    const uint8_t *q = static_cast<const uint8_t *>(panel);
    const float *d = reinterpret_cast<const float *>(q + round_up(uint64_t(K), 64) * kRows);
    over_columns<TileB32>(nc, static_cast<const uint8_t *>(acts), uint64_t(K / 32) * kActB32Bytes, K, q, d, out,
                          ostride, row_mask(nrows));
}

// A super-block's exact integer sums for NC columns: isum_c = sum over its sub-blocks j of
// scale_j * (the G groups of 4 elements of sub-block j), the levels at sb (64 bytes a
// group, sub-block after sub-block), the 16 int32 scales of sub-block j at sb + 4096 + 64 j,
// column c's activations at xq + 256 c. A full tile (8 columns) takes the asm form.
template <int G, int NC>
inline __attribute__((always_inline)) void superblock_sums(const uint8_t *sb, const int8_t *xq, __m512i *isum) {
    constexpr int J = 64 / G; // sub-blocks of 4 G elements
    for (int c = 0; c < NC; ++c) isum[c] = _mm512_setzero_si512();
    if constexpr (NC == 8) {
        __m512i i0 = isum[0], i1 = isum[1], i2 = isum[2], i3 = isum[3];
        __m512i i4 = isum[4], i5 = isum[5], i6 = isum[6], i7 = isum[7];
        for (int j = 0; j < J; ++j)
            scaled_subblock8<G>(sb + G * j * 64, xq + 4 * G * j, sb + 4096 + 64 * j, i0, i1, i2, i3, i4, i5, i6, i7);
        isum[0] = i0, isum[1] = i1, isum[2] = i2, isum[3] = i3;
        isum[4] = i4, isum[5] = i5, isum[6] = i6, isum[7] = i7;
    } else {
        for (int j = 0; j < J; ++j) {
            __m512i t[NC];
            for (int c = 0; c < NC; ++c) t[c] = _mm512_setzero_si512();
            for (int g = 0; g < G; ++g) {
                const __m512i w = _mm512_load_si512(sb + (G * j + g) * 64);
                for (int c = 0; c < NC; ++c) t[c] = dpbusd_bcst(t[c], w, xq + 256 * c + 4 * G * j + 4 * g);
            }
            const __m512i s = _mm512_load_si512(sb + 4096 + 64 * j);
            for (int c = 0; c < NC; ++c) isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(t[c], s));
        }
    }
}

// ---- Q4_K / Q5_K against Q8_K activations ---------------------------------------------------
// Panel per super-block (4992 bytes): q[64 dwords][16 rows][4] (4096), sc int32 [8][16] (512),
// min pairs int16 [4][16][2] (256), d [16] (64), dmin [16] (64).

constexpr uint64_t kQ45SbBytes = 4096 + 512 + 256 + 64 + 64;
uint64_t q45_panel_bytes(int64_t K) { return uint64_t(K / 256) * kQ45SbBytes; }


// Elements 64 j .. 64 j + 63 of a Q4_K / Q5_K super-block (j = 0..3).
template <bool HIGH> inline __m512i levels_q45(const uint8_t *qs, const uint8_t *qh, int j) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i q = load256(qs + 32 * j);
    __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    if constexpr (HIGH) {
        const __m256i h = load256(qh);
        const __m256i bl = _mm256_set1_epi8(char(1 << (2 * j))), bh = _mm256_set1_epi8(char(1 << (2 * j + 1)));
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bl), bl), _mm256_set1_epi8(0x10)));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bh), bh), _mm256_set1_epi8(0x10)));
    }
    return join(lo, hi);
}

template <bool HIGH> void pack_q45(int64_t K, const void *const *rows, int nrows, void *panel) {
    uint8_t *p = static_cast<uint8_t *>(panel);
    const int64_t nsb = K / 256;
    for (int64_t ib = 0; ib < nsb; ++ib) {
        uint8_t *sb = p + ib * kQ45SbBytes;
        const void *brows[kRows];
        for (int r = 0; r < nrows; ++r) {
            const uint8_t *row = static_cast<const uint8_t *>(rows[r]);
            brows[r] = row + ib * (HIGH ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K));
        }
        pack_levels(256, brows, nrows, sb, [](const uint8_t *blk, int64_t j) {
            if constexpr (HIGH) {
                const BlockQ5_K *b = reinterpret_cast<const BlockQ5_K *>(blk);
                return levels_q45<true>(b->qs, b->qh, int(j));
            } else {
                const BlockQ4_K *b = reinterpret_cast<const BlockQ4_K *>(blk);
                return levels_q45<false>(b->qs, nullptr, int(j));
            }
        });
        int32_t *sc = reinterpret_cast<int32_t *>(sb + 4096);
        int16_t *mn = reinterpret_cast<int16_t *>(sb + 4608);
        float *d = reinterpret_cast<float *>(sb + 4864);
        float *dmin = d + kRows;
        for (int r = 0; r < kRows; ++r) {
            if (r >= nrows) {
                for (int j = 0; j < 8; ++j) sc[j * kRows + r] = 0, mn[((j / 2) * kRows + r) * 2 + (j & 1)] = 0;
                d[r] = dmin[r] = 0.0f;
                continue;
            }
            const uint8_t *scales;
            uint16_t dh, dminh;
            if constexpr (HIGH) {
                const BlockQ5_K &b = static_cast<const BlockQ5_K *>(rows[r])[ib];
                scales = b.scales, dh = b.d, dminh = b.dmin;
            } else {
                const BlockQ4_K &b = static_cast<const BlockQ4_K *>(rows[r])[ib];
                scales = b.scales, dh = b.d, dminh = b.dmin;
            }
            for (int j = 0; j < 8; ++j) {
                int s, m;
                k4_scale_min(scales, j, s, m);
                sc[j * kRows + r] = s;
                mn[((j / 2) * kRows + r) * 2 + (j & 1)] = int16_t(m);
            }
            d[r] = half_to_float(dh);
            dmin[r] = half_to_float(dminh);
        }
    }
}

// The same panel from a Q4_K or Q5_K decode panel of 16 rows (cpu_panels.h, cpu_panel_avx512.h):
// its qs dword k holds the nibbles of this panel's level dwords 16 (k / 8) + k % 8 (low)
// and 16 (k / 8) + 8 + k % 8 (high); the 6-bit scales and mins are unpacked 16 rows at a time.
// Q5_K (HIGH): the fifth bits from qh dword k % 8, bits 2 (k / 8) (low) and + 1 (high).
template <bool HIGH> void pack_q45_from_panel(int64_t K, const void *src, int, void *panel) {
    using namespace panel512;
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(src);
    const __m512i m4 = _mm512_set1_epi8(0x0F), c16 = _mm512_set1_epi8(16);
    for (int64_t ib = 0; ib < nsb; ++ib, p += HIGH ? kQ5KBlock : kQ4KBlock) {
        uint8_t *sb = static_cast<uint8_t *>(panel) + ib * kQ45SbBytes;
        for (int k = 0; k < 32; ++k) {
            const __m512i v = _mm512_loadu_si512(p + (HIGH ? kQ5KQs : kQ4KQs) + 64 * k);
            const int at = 16 * (k / 8) + k % 8;
            __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            if constexpr (HIGH) {
                const __m512i hb = _mm512_loadu_si512(p + kQ5KQh + 64 * (k % 8));
                const __m512i bit = _mm512_set1_epi8(static_cast<char>(1 << (2 * (k / 8))));
                lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(hb, bit), lo, c16);
                hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(hb, _mm512_add_epi8(bit, bit)), hi, c16);
            }
            _mm512_store_si512(sb + 64 * at, lo);
            _mm512_store_si512(sb + 64 * (at + 8), hi);
        }
        const K4Scales s = k4_scales(p);
        __m512i *sc = reinterpret_cast<__m512i *>(sb + 4096);
        sc[0] = lane_byte<0>(s.sc_lo), sc[1] = lane_byte<1>(s.sc_lo), sc[2] = lane_byte<2>(s.sc_lo), sc[3] = lane_byte<3>(s.sc_lo);
        sc[4] = lane_byte<0>(s.sc_hi), sc[5] = lane_byte<1>(s.sc_hi), sc[6] = lane_byte<2>(s.sc_hi), sc[7] = lane_byte<3>(s.sc_hi);
        // Min pairs (m 2i, m 2i + 1) as the two words of each row's dword.
        __m512i *mn = reinterpret_cast<__m512i *>(sb + 4608);
        auto words = [](__m512i a, __m512i b) { return _mm512_or_si512(a, _mm512_slli_epi32(b, 16)); };
        mn[0] = words(lane_byte<0>(s.m_lo), lane_byte<1>(s.m_lo));
        mn[1] = words(lane_byte<2>(s.m_lo), lane_byte<3>(s.m_lo));
        mn[2] = words(lane_byte<0>(s.m_hi), lane_byte<1>(s.m_hi));
        mn[3] = words(lane_byte<2>(s.m_hi), lane_byte<3>(s.m_hi));
        float *d = reinterpret_cast<float *>(sb + 4864);
        _mm512_store_ps(d, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + kQ4KD))));
        _mm512_store_ps(d + kRows, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + kQ4KDmin))));
    }
}

template <int NC> struct TileQ45 {
    static void run(const uint8_t *x, int64_t c0, int64_t K, const uint8_t *p, float *out, int64_t ostride,
                    __mmask16 mask) {
        const int64_t nsb = K / 256;
        Acc16 acc[NC];
        for (int c = 0; c < NC; ++c) acc[c] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
        for (int64_t ib = 0; ib < nsb; ++ib, x += kActQ8KBytes) {
            const uint8_t *sb = p + ib * kQ45SbBytes;
            const int8_t *xq = reinterpret_cast<const int8_t *>(x);
            __m512i isum[NC];
            superblock_sums<8, NC>(sb, xq, isum);
            const __m512 d = _mm512_load_ps(sb + 4864), dmin = _mm512_load_ps(sb + 4928);
            const float *xd = reinterpret_cast<const float *>(x + kActQ8KD);
            const uint8_t *b32 = x + kActQ8KBs32;
            for (int c = 0; c < NC; ++c) {
                __m512i m = _mm512_setzero_si512();
                for (int pr = 0; pr < 4; ++pr)
                    m = _mm512_dpwssd_epi32(m, _mm512_load_si512(sb + 4608 + 64 * pr),
                                            _mm512_set1_epi32(int(load_u32(b32 + 16 * c + 4 * pr))));
                const __m512 dx = _mm512_set1_ps(xd[c]);
                add_to(acc[c], _mm512_mul_ps(_mm512_mul_ps(d, dx), _mm512_cvtepi32_ps(isum[c])));
                sub_from(acc[c], _mm512_mul_ps(_mm512_mul_ps(dmin, dx), _mm512_cvtepi32_ps(m)));
            }
        }
        for (int c = 0; c < NC; ++c) store16(out + (c0 + c) * ostride, mask, acc[c]);
    }
};

void gemm_q45(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_columns<TileQ45>(nc, static_cast<const uint8_t *>(acts), uint64_t(K / 256) * kActQ8KBytes, K,
                          static_cast<const uint8_t *>(panel), out, ostride, row_mask(nrows));
}

// ---- Q6_K against Q8_K activations ---------------------------------------------------------
// Panel per super-block (5696 bytes): q[64 dwords][16 rows][4] (4096, levels 0..63),
// sc int32 [16][16] (1024), scale pairs int16 [8][16][2] (512), d [16] (64).

constexpr uint64_t kQ6SbBytes = 4096 + 1024 + 512 + 64;
uint64_t q6_panel_bytes(int64_t K) { return uint64_t(K / 256) * kQ6SbBytes; }
// Q2_K: the same, the pairs at 5120 made of its mins, and dmin [16] (64) after d.
constexpr uint64_t kQ2SbBytes = kQ6SbBytes + 64;
uint64_t q2_panel_bytes(int64_t K) { return uint64_t(K / 256) * kQ2SbBytes; }

// Elements 64 j .. 64 j + 63 (j = 0..3): half h = j / 2, runs k = 2 (j % 2) and + 1.
inline __m512i levels_q6(const BlockQ6_K &b, int j) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    const int h = j / 2, odd = j % 2;
    const __m256i ql0 = load256(b.ql + 64 * h), ql1 = load256(b.ql + 64 * h + 32);
    const __m256i qh = load256(b.qh + 32 * h);
    __m256i lo, hi;
    if (!odd) {
        lo = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
        hi = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
    } else {
        lo = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
        hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
    }
    return join(lo, hi);
}

// Q6_K's panels from blocks of type B: levels(b, j) the 64 levels of elements 64j..,
// scale(b, j) sub-block j's signed scale; b.d the super-block scale.
template <class B, class Levels, class Scale, class Pair = std::nullptr_t>
void pack_q6_panels(int64_t K, const void *const *rows, int nrows, void *panel, Levels levels, Scale scale, Pair min = nullptr) {
    // With min (Q2_K, TileQ2): the pairs are the sub-blocks' mins and dmin follows d.
    constexpr bool kMins = !std::is_same_v<Pair, std::nullptr_t>;
    uint8_t *p = static_cast<uint8_t *>(panel);
    const int64_t nsb = K / 256;
    for (int64_t ib = 0; ib < nsb; ++ib) {
        uint8_t *sb = p + ib * (kMins ? kQ2SbBytes : kQ6SbBytes);
        const void *brows[kRows];
        for (int r = 0; r < nrows; ++r) brows[r] = static_cast<const B *>(rows[r]) + ib;
        pack_levels(256, brows, nrows, sb, [&levels](const uint8_t *blk, int64_t j) {
            return levels(*reinterpret_cast<const B *>(blk), int(j));
        });
        int32_t *sc = reinterpret_cast<int32_t *>(sb + 4096);
        int16_t *sp = reinterpret_cast<int16_t *>(sb + 5120);
        float *d = reinterpret_cast<float *>(sb + 5632);
        for (int r = 0; r < kRows; ++r) {
            const B *b = r < nrows ? static_cast<const B *>(rows[r]) + ib : nullptr;
            for (int j = 0; j < 16; ++j) {
                const int s = b ? scale(*b, j) : 0;
                sc[j * kRows + r] = s;
                int pv = s;
                if constexpr (kMins) pv = b ? min(*b, j) : 0;
                sp[((j / 2) * kRows + r) * 2 + (j & 1)] = int16_t(pv);
            }
            d[r] = b ? half_to_float(b->d) : 0.0f;
            if constexpr (kMins) d[kRows + r] = b ? half_to_float(b->dmin) : 0.0f;
        }
    }
}

// The same panel from a Q6_K decode panel of 16 rows (cpu_panel_avx512.h): the levels of
// (half h, dword dq) are this panel's level dwords 32 h + 8 s + dq (s = 0..3). Q3 (Q3_K, for
// the same tile): levels + 28 (pack_q3's form) and the 6-bit scales - 32.
template <bool Q3> void pack_k16_from_panel(int64_t K, const void *src, int, void *panel) {
    using namespace panel512;
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(src);
    const __m512i c28 = _mm512_set1_epi8(28);
    for (int64_t ib = 0; ib < nsb; ++ib, p += Q3 ? kQ3KBlock : kQ6Block) {
        uint8_t *sb = static_cast<uint8_t *>(panel) + ib * kQ6SbBytes;
        for (int h = 0; h < 2; ++h)
            for (int dq = 0; dq < 8; ++dq) {
                __m512i q[4];
                if constexpr (Q3) q3_levels(p, h, dq, q);
                else q6_levels(p, h, dq, q);
                for (int i = 0; i < 4; ++i)
                    _mm512_store_si512(sb + 64 * (32 * h + 8 * i + dq), Q3 ? _mm512_add_epi8(q[i], c28) : q[i]);
            }
        __m512i scv[4];
        if constexpr (Q3) q3_scales(p, scv);
        else
            for (int t = 0; t < 4; ++t) scv[t] = _mm512_loadu_si512(p + kQ6Scales + 64 * t);
        __m512i *sc = reinterpret_cast<__m512i *>(sb + 4096), *sp = reinterpret_cast<__m512i *>(sb + 5120);
        // Scale pairs (s 2i, s 2i + 1) as the two words of each row's dword.
        auto words = [](__m512i lo, __m512i hi) {
            return _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(hi, 16));
        };
        for (int t = 0; t < 4; ++t) {
            sc[4 * t] = lane_sbyte<0>(scv[t]), sc[4 * t + 1] = lane_sbyte<1>(scv[t]);
            sc[4 * t + 2] = lane_sbyte<2>(scv[t]), sc[4 * t + 3] = lane_sbyte<3>(scv[t]);
            sp[2 * t] = words(sc[4 * t], sc[4 * t + 1]);
            sp[2 * t + 1] = words(sc[4 * t + 2], sc[4 * t + 3]);
        }
        _mm512_store_ps(reinterpret_cast<float *>(sb + 5632),
                        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + (Q3 ? kQ3KD : kQ6D)))));
    }
}

void pack_q6(int64_t K, const void *const *rows, int nrows, void *panel) {
    pack_q6_panels<BlockQ6_K>(K, rows, nrows, panel, levels_q6, [](const BlockQ6_K &b, int j) { return int(b.scales[j]); });
}

// Q3_K through the Q6_K panels and tile: a level q3 (0..7, value q3 - 4) is stored as
// q3 + 28, which the tile's -32 turns into the same q3 - 4, and the scales (6 bits, biased by
// 32) become Q6_K's signed ones. The same exact integer super-block sums.
inline __m512i levels_q3_as_q6(const BlockQ3_K &b, int j) {
    const __m256i m2 = _mm256_set1_epi8(0x03), c28 = _mm256_set1_epi8(28);
    const int h = j / 2, k0 = 2 * (j % 2);
    const __m256i q2 = load256(b.qs + 32 * h), hm = load256(b.hmask);
    auto run = [&](int k) {
        const __m256i bit = _mm256_set1_epi8(char(1 << (4 * h + k)));
        const __m256i third = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit), _mm256_set1_epi8(4));
        const __m256i low = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), m2);
        return _mm256_add_epi8(_mm256_or_si256(low, third), c28);
    };
    return join(run(k0), run(k0 + 1));
}

void pack_q3(int64_t K, const void *const *rows, int nrows, void *panel) {
    pack_q6_panels<BlockQ3_K>(K, rows, nrows, panel, levels_q3_as_q6,
                              [](const BlockQ3_K &b, int j) { return q3_k_scale(b.scales, j) - 32; });
}

// Q2_K through the k16 tile with mins (TileQ2): levels 0..3 as they are, the 4-bit scales
// as the sub-block scales, the 4-bit mins as the pairs the tile takes against the
// activation's sums per 16, d and dmin. Elements 64 j..: qs bytes 32 (j / 2).., shifts
// 4 (j % 2) (the first 32) and 4 (j % 2) + 2 (the next).
inline __m512i levels_q2(const BlockQ2_K &b, int j) {
    const __m256i q = load256(b.qs + 32 * (j / 2)), m2 = _mm256_set1_epi8(0x03);
    const int sh = 4 * (j % 2);
    return join(_mm256_and_si256(_mm256_srli_epi16(q, sh), m2), _mm256_and_si256(_mm256_srli_epi16(q, sh + 2), m2));
}

void pack_q2(int64_t K, const void *const *rows, int nrows, void *panel) {
    pack_q6_panels<BlockQ2_K>(K, rows, nrows, panel, levels_q2, [](const BlockQ2_K &b, int j) { return b.scales[j] & 0xF; },
                              [](const BlockQ2_K &b, int j) { return b.scales[j] >> 4; });
}

// The same panel from a Q2_K decode panel of 16 rows (cpu_panels.h: d, dmin, the scale
// dwords, the qs dwords): the levels of (half h, dword dq) at shift 2 s are this panel's
// level dwords 32 h + 8 s + dq, as pack_k16_from_panel places Q6_K's.
void pack_q2_from_panel(int64_t K, const void *src, int, void *panel) {
    using namespace panel512;
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(src);
    const __m512i m2 = _mm512_set1_epi8(0x03), m4 = _mm512_set1_epi8(0x0F);
    for (int64_t ib = 0; ib < nsb; ++ib, p += kQ2KBlock) {
        uint8_t *sb = static_cast<uint8_t *>(panel) + ib * kQ2SbBytes;
        for (int h = 0; h < 2; ++h)
            for (int dq = 0; dq < 8; ++dq) {
                const __m512i v = _mm512_loadu_si512(p + kQ2KQs + 64 * (8 * h + dq));
                for (int s = 0; s < 4; ++s)
                    _mm512_store_si512(sb + 64 * (32 * h + 8 * s + dq), _mm512_and_si512(_mm512_srli_epi16(v, 2 * s), m2));
            }
        __m512i *sc = reinterpret_cast<__m512i *>(sb + 4096), *mp = reinterpret_cast<__m512i *>(sb + 5120);
        auto words = [](__m512i lo, __m512i hi) { return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)); };
        for (int t = 0; t < 4; ++t) {
            const __m512i v = _mm512_loadu_si512(p + kQ2KScales + 64 * t);
            const __m512i scv = _mm512_and_si512(v, m4), mv = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            sc[4 * t] = lane_byte<0>(scv), sc[4 * t + 1] = lane_byte<1>(scv);
            sc[4 * t + 2] = lane_byte<2>(scv), sc[4 * t + 3] = lane_byte<3>(scv);
            mp[2 * t] = words(lane_byte<0>(mv), lane_byte<1>(mv));
            mp[2 * t + 1] = words(lane_byte<2>(mv), lane_byte<3>(mv));
        }
        _mm512_store_ps(reinterpret_cast<float *>(sb + 5632), _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + kQ2KD))));
        _mm512_store_ps(reinterpret_cast<float *>(sb + 5696), _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + kQ2KDmin))));
    }
}

// The 16-element-sub-block tile. MINS (Q2_K): the panel has a second float per row after d,
// dmin, and the pairs at 5120 are the sub-blocks' mins: the super-block is d S1 - dmin S2 in
// float (S2 = sum_j m_j xsum16_j). Otherwise (Q6_K, Q3_K) the pairs are the scales and the
// super-block is d (S1 - 32 S2), exact in integers before the one conversion.
template <int NC, bool MINS> struct TileK16 {
    static void run(const uint8_t *x, int64_t c0, int64_t K, const uint8_t *p, float *out, int64_t ostride,
                    __mmask16 mask) {
        constexpr uint64_t kSb = MINS ? kQ2SbBytes : kQ6SbBytes;
        const int64_t nsb = K / 256;
        Acc16 acc[NC];
        for (int c = 0; c < NC; ++c) acc[c] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
        for (int64_t ib = 0; ib < nsb; ++ib, x += kActQ8KBytes) {
            const uint8_t *sb = p + ib * kSb;
            const int8_t *xq = reinterpret_cast<const int8_t *>(x);
            __m512i isum[NC];
            superblock_sums<4, NC>(sb, xq, isum);
            const __m512 d = _mm512_load_ps(sb + 5632);
            const float *xd = reinterpret_cast<const float *>(x + kActQ8KD);
            const uint8_t *b16 = x + kActQ8KBs;
            for (int c = 0; c < NC; ++c) {
                __m512i corr = _mm512_setzero_si512();
                for (int pr = 0; pr < 8; ++pr)
                    corr = _mm512_dpwssd_epi32(corr, _mm512_load_si512(sb + 5120 + 64 * pr),
                                               _mm512_set1_epi32(int(load_u32(b16 + 32 * c + 4 * pr))));
                if constexpr (MINS) {
                    const __m512 dmin = _mm512_load_ps(sb + 5696);
                    const __m512 t = _mm512_fmsub_ps(d, _mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(corr)));
                    add_to(acc[c], _mm512_mul_ps(t, _mm512_set1_ps(xd[c])));
                } else {
                    const __m512i v = _mm512_sub_epi32(isum[c], _mm512_slli_epi32(corr, 5));
                    add_to(acc[c], _mm512_mul_ps(_mm512_mul_ps(d, _mm512_set1_ps(xd[c])), _mm512_cvtepi32_ps(v)));
                }
            }
        }
        for (int c = 0; c < NC; ++c) store16(out + (c0 + c) * ostride, mask, acc[c]);
    }
};
template <int NC> struct TileQ6 : TileK16<NC, false> {};
template <int NC> struct TileQ2 : TileK16<NC, true> {};

void gemm_q6(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_columns<TileQ6>(nc, static_cast<const uint8_t *>(acts), uint64_t(K / 256) * kActQ8KBytes, K,
                         static_cast<const uint8_t *>(panel), out, ostride, row_mask(nrows));
}
void gemm_q2(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_columns<TileQ2>(nc, static_cast<const uint8_t *>(acts), uint64_t(K / 256) * kActQ8KBytes, K,
                         static_cast<const uint8_t *>(panel), out, ostride, row_mask(nrows));
}

// ---- F16 / BF16 weights against the widened partner activations ---------------------------
// Panel: float w[K rounded up to 16][48 rows]: three 16-row vectors per element, so that
// each broadcast activation feeds three FMAs. With one vector (16 rows) the loop issued
// 9 loads per 8 FMAs and ran at ~54% of the FMA rate in scripts-style microbenchmarks
// (one core, K 2048, 128 columns); three vectors reach ~66%.

constexpr int kFVecs = 3;
constexpr int kFRows = 16 * kFVecs;
// Products are summed in float chains of kGemmFloatChain elements, each chain then added
// to the running total in `out` (tests/backends/test_conformance.cpp bounds the error by it).

uint64_t f_panel_bytes(int64_t K) { return round_up(uint64_t(K), 16) * kFRows * 4; }

// Sixteen rows at a time over the whole of K: 16 read streams instead of 48 interleaved,
// +9% packing rate from memory and +10% in cache (one core, K 2048, a 512 MiB matrix).
template <bool BF16> void pack_f(int64_t K, const void *const *rows, int nrows, void *panel) {
    float *p = static_cast<float *>(panel);
    for (int vec = 0; vec < kFVecs; ++vec) {
        for (int64_t k0 = 0; k0 < K; k0 += 16) {
            const __mmask16 m = K - k0 >= 16 ? __mmask16(0xFFFF) : row_mask(int(K - k0));
            __m512 v[16];
            for (int i = 0; i < 16; ++i) {
                const int r = 16 * vec + i;
                if (r >= nrows) {
                    v[i] = _mm512_setzero_ps();
                    continue;
                }
                const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t *>(rows[r]) + k0);
                if constexpr (BF16) v[i] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
                else v[i] = _mm512_cvtph_ps(h);
            }
            transpose16(v);
            for (int k = 0; k < 16; ++k) _mm512_store_ps(p + (k0 + k) * kFRows + 16 * vec, v[k]);
        }
    }
}

struct FMasks {
    __mmask16 m[kFVecs];
};

template <int NC> struct TileF {
    static void run(const uint8_t *xa, int64_t c0, int64_t k0, int64_t k1, bool accumulate, const float *p, float *out,
                    int64_t ostride, FMasks masks) {
        const float *x = reinterpret_cast<const float *>(xa);
        for (int64_t kb = k0; kb < k1; kb += kGemmFloatChain) {
            const int64_t ke = std::min(k1, kb + kGemmFloatChain);
            __m512 s[NC][kFVecs];
            for (int c = 0; c < NC; ++c)
                for (int v = 0; v < kFVecs; ++v) s[c][v] = _mm512_setzero_ps();
            for (int64_t k = kb; k < ke; ++k) {
                __m512 w[kFVecs];
                for (int v = 0; v < kFVecs; ++v) w[v] = _mm512_load_ps(p + k * kFRows + 16 * v);
                for (int c = 0; c < NC; ++c) {
                    const __m512 b = _mm512_set1_ps(x[k * kGemmCols + c]);
                    for (int v = 0; v < kFVecs; ++v) s[c][v] = _mm512_fmadd_ps(w[v], b, s[c][v]);
                }
            }
            // The running total lives in `out` (the tile has no registers left for it).
            const bool first = kb == k0 && !accumulate;
            for (int c = 0; c < NC; ++c)
                for (int v = 0; v < kFVecs; ++v) {
                    float *o = out + (c0 + c) * ostride + 16 * v;
                    const __m512 t = first ? s[c][v] : _mm512_add_ps(_mm512_maskz_loadu_ps(masks.m[v], o), s[c][v]);
                    _mm512_mask_storeu_ps(o, masks.m[v], t);
                }
        }
    }
};

// Float panels are large (K x 192 bytes): the driver runs them in chunks of
// kGemmFloatBlock elements over all column groups (gemm_f_range).

void gemm_f_range(int64_t K, int64_t k0, int64_t k1, bool accumulate, const void *panel, int nrows, const void *acts,
                  int64_t nc, float *out, int64_t ostride) {
    FMasks masks;
    for (int v = 0; v < kFVecs; ++v) masks.m[v] = row_mask(std::clamp(nrows - 16 * v, 0, 16));
    over_columns<TileF>(nc, static_cast<const uint8_t *>(acts), round_up(uint64_t(K) * kGemmCols * 4, 64), k0, k1,
                        accumulate, static_cast<const float *>(panel), out, ostride, masks);
}

void gemm_f(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    gemm_f_range(K, 0, K, false, panel, nrows, acts, nc, out, ostride);
}

// ---- activation quantization into the grouped layout ------------------------------------
// Bit for bit the reference quantizers (src/tensor/quant_legacy.cpp, quant_k.cpp) for
// finite inputs: the same float operations in the same order per element, roundf()
// (half away from zero) for Q8_0, round-half-even (nearest_int) for Q8_K.

// roundf(v) for |v| < 2^23: the truncation plus one away from zero where |fraction| >= 0.5.
inline __m512 round_half_away(__m512 v) {
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 one = _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)),
                        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(int(0x80000000u)))));
    return _mm512_mask_add_ps(t, up, t, one);
}

void act_q8_0(const float *src, int64_t K, uint8_t *group, int ci, int offset) {
    for (int64_t b = 0; b < K / 32; ++b) {
        const __m512 x0 = _mm512_loadu_ps(src + 32 * b), x1 = _mm512_loadu_ps(src + 32 * b + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i q0 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(x0, vid)));
        const __m512i q1 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(x1, vid)));
        uint8_t *rec = group + b * kActB32Bytes;
        _mm_storeu_si128(reinterpret_cast<__m128i *>(rec + 32 * ci), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(rec + 32 * ci + 16), _mm512_cvtepi32_epi8(q1));
        const int32_t soff = -offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        const float dr = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT)); // the block's fp16 scale
        std::memcpy(rec + kActB32D + 4 * ci, &dr, 4);
        std::memcpy(rec + kActB32Soff + 4 * ci, &soff, 4);
    }
}

void act_q8_k(const float *src, int64_t K, uint8_t *group, int ci) {
    for (int64_t b = 0; b < K / 256; ++b) {
        const float *x = src + 256 * b;
        __m512 vmax = _mm512_setzero_ps();
        for (int v = 0; v < 16; ++v) vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * v)), vmax);
        const float amax = _mm512_reduce_max_ps(vmax);
        uint8_t *rec = group + b * kActQ8KBytes;
        int16_t bs[16], b32[8];
        float d = 0.0f;
        if (amax == 0.0f) {
            std::memset(rec + 256 * ci, 0, 256);
            std::memset(bs, 0, sizeof bs);
        } else {
            float max = 0.0f; // the first element of the largest magnitude, with its sign
            for (int v = 0; v < 16; ++v) {
                const __mmask16 m =
                    _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * v)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
                if (m) {
                    max = x[16 * v + __builtin_ctz(m)];
                    break;
                }
            }
            const float iscale = -127.0f / max;
            const __m512 vs = _mm512_set1_ps(iscale);
            for (int v = 0; v < 16; ++v) {
                __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * v)),
                                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
                _mm_storeu_si128(reinterpret_cast<__m128i *>(rec + 256 * ci + 16 * v), _mm512_cvtepi32_epi8(q));
                bs[v] = int16_t(_mm512_reduce_add_epi32(q));
            }
            d = 1.0f / iscale;
        }
        for (int j = 0; j < 8; ++j) b32[j] = int16_t(bs[2 * j] + bs[2 * j + 1]);
        std::memcpy(rec + kActQ8KD + 4 * ci, &d, 4);
        std::memcpy(rec + kActQ8KBs + 32 * ci, bs, 32);
        std::memcpy(rec + kActQ8KBs32 + 16 * ci, b32, 16);
    }
}

// F16 partner: each value rounded to fp16 (round to nearest even, as fp32_to_fp16 for
// every non-NaN input) and widened back, stored as column ci of the [k][8] group.
void act_f16(const float *src, int64_t K, uint8_t *group, int ci) {
    float *x = reinterpret_cast<float *>(group);
    alignas(64) float tmp[16];
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + k), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm512_store_ps(tmp, _mm512_cvtph_ps(h));
        for (int i = 0; i < 16; ++i) x[(k + i) * kGemmCols + ci] = tmp[i];
    }
    for (; k < K; ++k) x[k * kGemmCols + ci] = _cvtsh_ss(_cvtss_sh(src[k], _MM_FROUND_TO_NEAREST_INT));
}

bool group_act(int at, const float *src, int64_t K, uint8_t *group, int ci, int act_offset) {
    if (at == int(DType::F16)) {
        // NaN payloads are the one place the hardware conversion differs from the reference.
        __mmask16 nan = 0;
        int64_t k = 0;
        for (; k + 16 <= K; k += 16) {
            const __m512 v = _mm512_loadu_ps(src + k);
            nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        }
        for (; k < K; ++k)
            if (src[k] != src[k]) nan = 1;
        if (nan) return false;
        act_f16(src, K, group, ci);
        return true;
    }
    if (at == int(DType::Q8_0)) {
        act_q8_0(src, K, group, ci, act_offset);
        return true;
    }
    if (at == int(DType::Q8_K)) {
        act_q8_k(src, K, group, ci);
        return true;
    }
    return false;
}

// ---- AMX int8 tiles (same panels and activations) -------------------------------------
// The weight panels above are already AMX's B layout: per block of 32 elements, 8 rows
// (one per 4 elements) of 64 bytes = 16 weight rows x 4 bytes. The grouped activations
// are its A layout: 8 columns x 32 bytes, one row per column. One TDPBSUD (signed
// activations x unsigned weight levels) gives the 8 x 16 exact integer block products
// that the VNNI tiles above compute with 64 vpdpbusd; they are stored, and the same
// per-block scaling and float/double accumulation follows, so the results are
// bit-identical to the VNNI kernels'. The readout (a tile store and 8 scaled columns per
// 32-element block) is what bounds this path: it measures level with VNNI (Q4_0 +2%).
//
// Tiles are used through inline assembly with explicit memory operands: GCC 12's
// _tile_loadconfig tells the compiler it reads 8 bytes of the 64-byte configuration,
// so the stores filling the rest can be dropped (llama.cpp issue #20824), and its
// _tile_stored has no memory clobber, so reads of the stored tile could be moved
// before it.

struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};
// Tiles 0-3: C (8 columns x 16 int32), two pairs used alternately; 4 and 6: A (8 columns x
// a_bytes); 5 and 7: B (a_bytes / 4 rows x 16 weight rows x 4 bytes).
inline TileConfig make_tile_config(int a_bytes) {
    TileConfig c;
    for (int t = 0; t < 4; ++t) c.rows[t] = 8, c.colsb[t] = 64;
    for (int t = 4; t < 8; t += 2) {
        c.rows[t] = 8, c.colsb[t] = uint16_t(a_bytes);
        c.rows[t + 1] = uint8_t(a_bytes / 4), c.colsb[t + 1] = 64;
    }
    return c;
}
// Loads c into this thread's tile configuration unless it is there already: the
// configuration stays loaded between calls (ldtilecfg and tilerelease cost more than a
// small panel's products), so each thread keeps its tile state until it exits.
inline void tile_config(const TileConfig &c) {
    static thread_local const TileConfig *loaded = nullptr;
    if (loaded == &c) return;
    __asm__ volatile("ldtilecfg %0" ::"m"(c));
    loaded = &c;
}
#define CV_TILE_ZERO(t) __asm__ volatile("tilezero %%tmm" #t ::)
#define CV_TILE_LOAD(t, p, stride) __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"(p), "r"(int64_t(stride)) : "memory")
#define CV_TILE_STORE(t, p, stride) __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"(p), "r"(int64_t(stride)) : "memory")
#define CV_TILE_DPBSUD(c, a, b) __asm__ volatile("tdpbsud %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

// The integer products of n sub-blocks, item i = activations ab(i).a (8 columns,
// a_stride bytes apart) x weights ab(i).b, handed to use(i, c) as c[column * 16 + row],
// in order. A three-stage pipeline, two items per stage: the products of items 2s, 2s+1
// are issued while those of the previous stage are stored and the ones before that are
// used, so neither the tile unit's latency nor the stores' wait on the scaling code.
struct AmxOperands {
    const void *a, *b;
};
template <class AB, class Use> inline __attribute__((always_inline)) void amx_pipeline(int64_t n, int64_t a_stride, AB &&ab, Use &&use) {
    alignas(64) int32_t cb[2][2][8 * 16];
    const int64_t steps = (n + 1) / 2;
    for (int64_t s = 0; s < steps + 2; ++s) {
        if (s < steps) {
            const AmxOperands o0 = ab(2 * s);
            const bool two = 2 * s + 1 < n;
            const AmxOperands o1 = two ? ab(2 * s + 1) : o0;
            if (s % 2 == 0) {
                CV_TILE_ZERO(0);
                CV_TILE_LOAD(4, o0.a, a_stride);
                CV_TILE_LOAD(5, o0.b, 64);
                CV_TILE_DPBSUD(0, 4, 5);
                if (two) {
                    CV_TILE_ZERO(1);
                    CV_TILE_LOAD(6, o1.a, a_stride);
                    CV_TILE_LOAD(7, o1.b, 64);
                    CV_TILE_DPBSUD(1, 6, 7);
                }
            } else {
                CV_TILE_ZERO(2);
                CV_TILE_LOAD(4, o0.a, a_stride);
                CV_TILE_LOAD(5, o0.b, 64);
                CV_TILE_DPBSUD(2, 4, 5);
                if (two) {
                    CV_TILE_ZERO(3);
                    CV_TILE_LOAD(6, o1.a, a_stride);
                    CV_TILE_LOAD(7, o1.b, 64);
                    CV_TILE_DPBSUD(3, 6, 7);
                }
            }
        }
        if (s >= 1 && s <= steps) {
            const int64_t t = s - 1;
            const bool two = 2 * t + 1 < n;
            if (t % 2 == 0) {
                CV_TILE_STORE(0, cb[0][0], 64);
                if (two) CV_TILE_STORE(1, cb[0][1], 64);
            } else {
                CV_TILE_STORE(2, cb[1][0], 64);
                if (two) CV_TILE_STORE(3, cb[1][1], 64);
            }
        }
        if (s >= 2) {
            const int64_t t = s - 2;
            use(2 * t, cb[t % 2][0]);
            if (2 * t + 1 < n) use(2 * t + 1, cb[t % 2][1]);
        }
    }
}

template <int NC> struct TileB32Amx {
    static void run(const uint8_t *x, int64_t c0, int64_t K, const uint8_t *q, const float *dw, float *out,
                    int64_t ostride, __mmask16 mask) {
        __m512 f[NC];
        Acc16 acc[NC];
        for (int c = 0; c < NC; ++c) f[c] = _mm512_setzero_ps(), acc[c] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
        amx_pipeline(
            K / 32, 32, [&](int64_t ib) { return AmxOperands{x + ib * kActB32Bytes, q + ib * 512}; },
            [&](int64_t ib, const int32_t *cv) __attribute__((always_inline)) {
                const uint8_t *xb = x + ib * kActB32Bytes;
                const int32_t *soff = reinterpret_cast<const int32_t *>(xb + kActB32Soff);
                __m512i sums[NC];
                for (int c = 0; c < NC; ++c) sums[c] = _mm512_add_epi32(_mm512_load_si512(cv + 16 * c), _mm512_set1_epi32(soff[c]));
                scale_b32_block<NC>(ib, dw, reinterpret_cast<const float *>(xb + kActB32D), sums, f, acc);
            });
        for (int c = 0; c < NC; ++c) {
            add_to(acc[c], f[c]);
            store16(out + (c0 + c) * ostride, mask, acc[c]);
        }
    }
};

void gemm_b32_amx(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    static const TileConfig cfg = make_tile_config(32);
    tile_config(cfg);
    const uint8_t *q = static_cast<const uint8_t *>(panel);
    const float *d = reinterpret_cast<const float *>(q + round_up(uint64_t(K), 64) * kRows);
    over_columns<TileB32Amx>(nc, static_cast<const uint8_t *>(acts), uint64_t(K / 32) * kActB32Bytes, K, q, d, out,
                             ostride, row_mask(nrows));
}

#undef CV_TILE_ZERO
#undef CV_TILE_LOAD
#undef CV_TILE_STORE
#undef CV_TILE_DPBSUD

} // namespace

void add_gemm_amx(Kernels &t) {
    for (DType type : {DType::Q4_0, DType::Q5_0, DType::Q8_0, DType::IQ4_NL}) t.gemm[int(type)].gemm = gemm_b32_amx;
    // (K-quants keep the VNNI tiles: with a tile store and a scaled readout per 16- or
    // 32-element sub-block, AMX measured 2-6% slower for them on this project's machines.)
}

void add_gemm_avx512(Kernels &t) {
    t.gemm[int(DType::Q4_0)] = {kRows, 8, b32_panel_bytes, pack_b32<BlockQ4_0, levels_q4_0>, gemm_b32, nullptr, 0,
                                pack_b32_from_panel<B32Form::q4_0>};
    t.gemm[int(DType::Q5_0)] = {kRows, 16, b32_panel_bytes, pack_b32<BlockQ5_0, levels_q5_0>, gemm_b32, nullptr, 0,
                                pack_b32_from_panel<B32Form::q5_0>};
    t.gemm[int(DType::Q8_0)] = {kRows, 128, b32_panel_bytes, pack_b32<BlockQ8_0, levels_q8_0>, gemm_b32, nullptr, 0,
                                pack_b32_from_panel<B32Form::q8_0>};
    t.gemm[int(DType::IQ4_NL)] = {kRows, 128, b32_panel_bytes, pack_b32<BlockIQ4_NL, levels_iq4_nl>, gemm_b32, nullptr, 0,
                                  pack_b32_from_panel<B32Form::iq4_nl>};
    t.gemm[int(DType::Q4_K)] = {kRows, 0, q45_panel_bytes, pack_q45<false>, gemm_q45, nullptr, 0, pack_q45_from_panel<false>};
    t.gemm[int(DType::Q5_K)] = {kRows, 0, q45_panel_bytes, pack_q45<true>, gemm_q45, nullptr, 0, pack_q45_from_panel<true>};
    t.gemm[int(DType::Q6_K)] = {kRows, 0, q6_panel_bytes, pack_q6, gemm_q6, nullptr, 0, pack_k16_from_panel<false>};
    t.gemm[int(DType::Q3_K)] = {kRows, 0, q6_panel_bytes, pack_q3, gemm_q6, nullptr, 0, pack_k16_from_panel<true>};
    t.gemm[int(DType::Q2_K)] = {kRows, 0, q2_panel_bytes, pack_q2, gemm_q2, nullptr, 0, pack_q2_from_panel};
    t.gemm[int(DType::F16)] = {kFRows, 0, f_panel_bytes, pack_f<false>, gemm_f, gemm_f_range, kGemmFloatBlock};
    t.gemm[int(DType::BF16)] = {kFRows, 0, f_panel_bytes, pack_f<true>, gemm_f, gemm_f_range, kGemmFloatBlock};
    t.group_act = group_act;
}

} // namespace corvid::cpu::fast

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
