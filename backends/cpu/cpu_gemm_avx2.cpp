// Blocked matrix-product kernels (prompt processing) for AVX2 + FMA + F16C: processors
// without AVX-512 (most laptops and desktops before Zen 4, Intel's client cores since
// Alder Lake). This file alone, with cpu_matmul_avx2.cpp, gets those -m flags
// (CMakeLists.txt); cpu_matmul_avx2.cpp puts these kernels into its table (add_gemm_avx2).
// Without them a prompt ran through the per-row dot kernels, at ~1/5 of the AVX-512 path's
// rate on the same cores.
//
// Layout: as cpu_gemm_avx512.cpp with 8-row panels (one 256-bit register holds the same 4
// consecutive elements of 8 rows), so a broadcast of 4 activation bytes against one weight
// register advances 8 row dot products. AVX2 has no vpdpbusd: vpmaddubsw multiplies the
// unsigned weight bytes by the signed activation bytes and adds pairs into 16 bits, and
// vpmaddwd widens (and, for the K-quants, applies the 16-bit sub-block scales at once).
//   - Levels below 64 (Q4_0, Q5_0 stored as level + offset; the K-quants' unsigned levels)
//     go through vpmaddubsw directly; the 16-bit sums are widened only once they could
//     overflow: |pair| <= 2 * 63 * 127, so 8 groups of 4-bit, 4 of 5-bit, 2 of 6-bit levels.
//   - Signed 8-bit levels (Q8_0, IQ4_NL): |w| times the activation with w's sign
//     (vpsignb), widened every group (a pair reaches 2 * 128 * 127): half the rate of the
//     4-bit types. (Two 4-bit planes, level + 128 = 16 hi + lo, each summed as above, took
//     the same two multiplies per group and measured ~7% slower.)
// Register tiles: 8 rows x 4 columns (16 registers), a group of 8 columns in two halves;
// the double sums live in memory (touched once per block or super-block).
//
// Arithmetic: the AVX-512 kernels' (exact integer block and super-block sums; the same
// float products, fused multiply-adds and flushes into double in the same order per
// lane), so both ISAs give the same bits; the conformance suite checks each against the
// reference.
#include "cpu/cpu_matmul_fast.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include "cpu/cpu_x86_simd.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <immintrin.h>

namespace corvid::cpu::fast {
namespace {

constexpr int kRows = 8; // weight rows per quantized panel
constexpr int kTileCols = 4;

inline uint64_t round_up(uint64_t n, uint64_t m) { return (n + m - 1) / m * m; }
using namespace x86; // load256, load128, load_u32, half_to_float, nibbles32, bits_to_bytes
inline __m256i bcast32(const void *p) { return _mm256_set1_epi32(int(load_u32(p))); }
// a + b in 16-bit lanes, opaque to the compiler: GCC 12 otherwise reassociates a chain of
// these adds into a tree, which keeps every vpmaddubsw result of a block live at once and
// spills most of them (16 vector registers): half the speed.
inline __m256i add16(__m256i a, __m256i b) {
    a = _mm256_add_epi16(a, b);
    __asm__("" : "+x"(a));
    return a;
}

// In-place transpose of an 8 x 8 matrix of 32-bit elements (one row per register).
inline void transpose8(__m256 r[8]) {
    __m256 a[8], b[8];
    for (int i = 0; i < 4; ++i) {
        a[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
        b[4 * i + 0] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0xEE);
        b[4 * i + 2] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
    }
    // b[j] (j < 4), 128-bit lane l: rows 0..3 of column 4l + j; b[4 + j]: rows 4..7.
    for (int j = 0; j < 4; ++j) {
        r[j] = _mm256_permute2f128_ps(b[j], b[4 + j], 0x20);
        r[4 + j] = _mm256_permute2f128_ps(b[j], b[4 + j], 0x31);
    }
}

// Packs quant levels: unpack32(row, chunk) gives elements 32 chunk .. 32 chunk + 31 of a
// row as bytes; they land in q[(8 chunk + dword) * 32 + 4 row].
template <class Unpack32>
inline void pack_levels(int64_t K, const void *const *rows, int nrows, uint8_t *q, Unpack32 &&unpack32) {
    const int64_t nchunks = (K + 31) / 32;
    for (int64_t ch = 0; ch < nchunks; ++ch) {
        __m256 v[8];
        for (int r = 0; r < kRows; ++r)
            v[r] = r < nrows ? _mm256_castsi256_ps(unpack32(static_cast<const uint8_t *>(rows[r]), ch)) : _mm256_setzero_ps();
        transpose8(v);
        for (int k = 0; k < 8; ++k) _mm256_store_ps(reinterpret_cast<float *>(q + (8 * ch + k) * 32), v[k]);
    }
}

// Double sums for 8 rows, one per column of a tile, in memory.
struct Acc8 {
    alignas(32) double v[kTileCols][8];
};
inline void add_to(Acc8 &a, int c, __m256 f) {
    _mm256_store_pd(a.v[c], _mm256_add_pd(_mm256_load_pd(a.v[c]), _mm256_cvtps_pd(_mm256_castps256_ps128(f))));
    _mm256_store_pd(a.v[c] + 4, _mm256_add_pd(_mm256_load_pd(a.v[c] + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1))));
}
inline void sub_from(Acc8 &a, int c, __m256 f) {
    _mm256_store_pd(a.v[c], _mm256_sub_pd(_mm256_load_pd(a.v[c]), _mm256_cvtps_pd(_mm256_castps256_ps128(f))));
    _mm256_store_pd(a.v[c] + 4, _mm256_sub_pd(_mm256_load_pd(a.v[c] + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1))));
}
inline __m256i row_mask(int nrows) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline void store8(float *out, __m256i mask, const Acc8 &a, int c) {
    const __m256 v = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_load_pd(a.v[c] + 4)), _mm256_cvtpd_ps(_mm256_load_pd(a.v[c])));
    _mm256_maskstore_ps(out, mask, v);
}

// Runs Tile<NC>::run(group activations, first column within the group, c0, ...) over the
// columns: each group of kGemmCols in tiles of up to kTileCols.
template <template <int> class Tile, class... Args>
inline void over_columns(int64_t nc, const uint8_t *acts, uint64_t group_bytes, Args &&...args) {
    for (int64_t g0 = 0; g0 < nc; g0 += kGemmCols, acts += group_bytes)
        for (int cg = 0; cg < kGemmCols && g0 + cg < nc; cg += kTileCols) {
            const int64_t c0 = g0 + cg;
            switch (std::min<int64_t>(kTileCols, nc - c0)) {
            case 1: Tile<1>::run(acts, cg, c0, args...); break;
            case 2: Tile<2>::run(acts, cg, c0, args...); break;
            case 3: Tile<3>::run(acts, cg, c0, args...); break;
            default: Tile<4>::run(acts, cg, c0, args...); break;
            }
        }
}

// ---- 32-element formats (Q4_0, Q5_0, Q8_0, IQ4_NL) against Q8_0 activations -----------
// Panel: q[K/32 blocks][8 dwords][8 rows][4], then d[K/32][8].

uint64_t b32_panel_bytes(int64_t K) { return uint64_t(K / 32) * (256 + kRows * 4); }

// Levels of one block as the tile reads them: unsigned level + offset for Q4_0 / Q5_0
// (act_offset in the table at the end), the signed values for Q8_0 / IQ4_NL.
inline __m256i levels_q4_0(const BlockQ4_0 &b) { return nibbles32(b.qs); }
inline __m256i levels_q5_0(const BlockQ5_0 &b) {
    return _mm256_or_si256(nibbles32(b.qs), bits_to_bytes(load_u32(b.qh), 0x10));
}
inline __m256i levels_q8_0(const BlockQ8_0 &b) { return load256(b.qs); }
inline __m256i levels_iq4_nl(const BlockIQ4_NL &b) {
    const __m128i t = load128(kIQ4NLValues);
    return _mm256_shuffle_epi8(_mm256_set_m128i(t, t), nibbles32(b.qs));
}

template <class B, __m256i (*Levels)(const B &)>
void pack_b32(int64_t K, const void *const *rows, int nrows, void *panel) {
    uint8_t *q = static_cast<uint8_t *>(panel);
    const int64_t nb = K / 32;
    pack_levels(K, rows, nrows, q, [](const uint8_t *row, int64_t ch) { return Levels(reinterpret_cast<const B *>(row)[ch]); });
    float *d = reinterpret_cast<float *>(q + nb * 256);
    for (int64_t ib = 0; ib < nb; ++ib)
        for (int r = 0; r < kRows; ++r)
            d[ib * kRows + r] = r < nrows ? half_to_float(reinterpret_cast<const B *>(rows[r])[ib].d) : 0.0f;
}

// The same panel from rows first_row.. (0 or 8) of a decode panel (cpu_panels.h): per block
// its quant dword j holds the nibbles of this panel's dwords j (low) and 4 + j (high) for
// Q4_0 and IQ4_NL (whose nibbles are looked up here: the levels are stored signed), or
// dword j's levels + 128 for Q8_0 (stored here signed). Q5_0: Q4_0's with the rows' qh
// dwords between the scales and the quants, whose fifth bits are added (levels 0..31).
enum class B32Form { q4_0, q8_0, iq4_nl, q5_0 };
template <B32Form F> void pack_b32_from_panel(int64_t K, const void *src, int first_row, void *panel) {
    constexpr bool kNibbles = F != B32Form::q8_0;
    constexpr int kBlockBytes =
        kPanelRows * (F == B32Form::q8_0 ? int(sizeof(BlockQ8_0)) : F == B32Form::q5_0 ? int(sizeof(BlockQ5_0)) : int(sizeof(BlockQ4_0)));
    constexpr int kQuants = F == B32Form::q5_0 ? Q50Panel::qs : kB32Quants;
    static_assert(sizeof(BlockQ4_0) == sizeof(BlockIQ4_NL), "one nibble block size");
    const int64_t nb = K / 32;
    const auto *p = static_cast<const uint8_t *>(src);
    uint8_t *q = static_cast<uint8_t *>(panel);
    float *d = reinterpret_cast<float *>(q + nb * 256);
    const __m256i m4 = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8(char(0x80));
    const __m128i t128 = load128(kIQ4NLValues);
    const __m256i table = _mm256_set_m128i(t128, t128);
    auto level = [&](__m256i nibbles) { return F == B32Form::iq4_nl ? _mm256_shuffle_epi8(table, nibbles) : nibbles; };
    for (int64_t b = 0; b < nb; ++b, p += kBlockBytes) {
        uint8_t *out = q + b * 256;
        [[maybe_unused]] __m256i qh;
        if constexpr (F == B32Form::q5_0) qh = load256(p + Q50Panel::qh + 4 * first_row);
        for (int j = 0; j < (kNibbles ? 4 : 8); ++j) {
            const __m256i v = load256(p + kQuants + 64 * j + 4 * first_row);
            if constexpr (kNibbles) {
                __m256i lo = level(_mm256_and_si256(v, m4)), hi = level(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                if constexpr (F == B32Form::q5_0) add_fifth_bits(qh, j, lo, hi);
                _mm256_store_si256(reinterpret_cast<__m256i *>(out + 32 * j), lo);
                _mm256_store_si256(reinterpret_cast<__m256i *>(out + 32 * (4 + j)), hi);
            } else {
                _mm256_store_si256(reinterpret_cast<__m256i *>(out + 32 * j), _mm256_xor_si256(v, flip));
            }
        }
        _mm256_store_ps(d + kRows * b, _mm256_cvtph_ps(load128(p + 2 * first_row)));
    }
}

// Block sums of 8 rows x NC columns. G > 0: unsigned levels, G groups of 4 elements
// summed in 16 bits before widening (8 for levels below 16, 4 below 32); G = 0: signed
// levels, widened every group.
template <int NC, int G>
inline __attribute__((always_inline)) void b32_block_sums(const uint8_t *blk, const int8_t *xq, __m256i *s) {
    const __m256i ones = _mm256_set1_epi16(1);
    if constexpr (G > 0) {
        for (int g0 = 0; g0 < 8; g0 += G) {
            __m256i t[NC];
            for (int c = 0; c < NC; ++c) t[c] = _mm256_setzero_si256();
            for (int g = g0; g < g0 + G; ++g) {
                const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i *>(blk + 32 * g));
                for (int c = 0; c < NC; ++c) t[c] = add16(t[c], _mm256_maddubs_epi16(w, bcast32(xq + 32 * c + 4 * g)));
            }
            for (int c = 0; c < NC; ++c) s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(t[c], ones));
        }
    } else {
        for (int g = 0; g < 8; ++g) {
            const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i *>(blk + 32 * g));
            const __m256i a = _mm256_abs_epi8(w);
            for (int c = 0; c < NC; ++c) {
                const __m256i x = _mm256_sign_epi8(bcast32(xq + 32 * c + 4 * g), w);
                s[c] = _mm256_add_epi32(s[c], _mm256_madd_epi16(_mm256_maddubs_epi16(a, x), ones));
            }
        }
    }
}

template <int G> struct B32 {
    template <int NC> struct Tile {
        static void run(const uint8_t *x, int cg, int64_t c0, int64_t K, const uint8_t *q, const float *dw, float *out,
                        int64_t ostride, __m256i mask) {
            const int64_t nb = K / 32;
            __m256 f[NC];
            Acc8 acc{};
            for (int c = 0; c < NC; ++c) f[c] = _mm256_setzero_ps();
            for (int64_t ib = 0; ib < nb; ++ib, x += kActB32Bytes) {
                const int32_t *soff = reinterpret_cast<const int32_t *>(x + kActB32Soff) + cg;
                const float *xd = reinterpret_cast<const float *>(x + kActB32D) + cg;
                const int8_t *xq = reinterpret_cast<const int8_t *>(x) + 32 * cg;
                __m256i s[NC];
                for (int c = 0; c < NC; ++c) s[c] = _mm256_set1_epi32(soff[c]);
                b32_block_sums<NC, G>(q + ib * 256, xq, s);
                const __m256 d = _mm256_load_ps(dw + ib * kRows);
                for (int c = 0; c < NC; ++c)
                    f[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(xd[c])), _mm256_cvtepi32_ps(s[c]), f[c]);
                if (ib % kGemmFlushBlocks == kGemmFlushBlocks - 1)
                    for (int c = 0; c < NC; ++c) add_to(acc, c, f[c]), f[c] = _mm256_setzero_ps();
            }
            for (int c = 0; c < NC; ++c) {
                add_to(acc, c, f[c]);
                store8(out + (c0 + c) * ostride, mask, acc, c);
            }
        }
    };
};

template <int G>
void gemm_b32(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    const uint8_t *q = static_cast<const uint8_t *>(panel);
    const float *d = reinterpret_cast<const float *>(q + (K / 32) * 256);
    over_columns<B32<G>::template Tile>(nc, static_cast<const uint8_t *>(acts), uint64_t(K / 32) * kActB32Bytes, K, q, d,
                                        out, ostride, row_mask(nrows));
}

// The 8 rows' sums over N pairs of int16 values: pair p of the rows at w + 32 p (row r's
// two values at 4 r), against the pair of int16 activations at x + 4 p (the K-quants' mins
// against the sums per 32, Q6_K's scales against the sums per 16).
template <int N> inline __m256i madd_pairs(const uint8_t *w, const uint8_t *x) {
    __m256i m = _mm256_setzero_si256();
    for (int p = 0; p < N; ++p)
        m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i *>(w + 32 * p)), bcast32(x + 4 * p)));
    return m;
}

// ---- Q4_K / Q5_K against Q8_K activations ---------------------------------------------------
// Panel per super-block (2496 bytes): q[64 dwords][8 rows][4] (2048), sc int16 pairs
// [8][8 rows][2] (256: each scale twice, so that vpmaddwd applies it to both halves of a
// 16-bit sum), min pairs int16 [4][8][2] (128), d [8] (32), dmin [8] (32).

constexpr uint64_t kQ45SbBytes = 2048 + 256 + 128 + 32 + 32;
uint64_t q45_panel_bytes(int64_t K) { return uint64_t(K / 256) * kQ45SbBytes; }

// Elements 32 j .. 32 j + 31 of a Q4_K / Q5_K super-block (j = 0..7): sub-block j.
template <bool HIGH> inline __m256i levels_q45(const uint8_t *qs, const uint8_t *qh, int j) {
    const __m256i q = load256(qs + 32 * (j / 2));
    __m256i v = _mm256_and_si256(j & 1 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0F));
    if constexpr (HIGH) {
        const __m256i bit = _mm256_set1_epi8(char(1 << j));
        v = _mm256_or_si256(v, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(load256(qh), bit), bit), _mm256_set1_epi8(0x10)));
    }
    return v;
}

template <bool HIGH> void pack_q45(int64_t K, const void *const *rows, int nrows, void *panel) {
    uint8_t *p = static_cast<uint8_t *>(panel);
    const int64_t nsb = K / 256;
    for (int64_t ib = 0; ib < nsb; ++ib) {
        uint8_t *sb = p + ib * kQ45SbBytes;
        const void *brows[kRows];
        for (int r = 0; r < nrows; ++r)
            brows[r] = static_cast<const uint8_t *>(rows[r]) + ib * (HIGH ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K));
        pack_levels(256, brows, nrows, sb, [](const uint8_t *blk, int64_t j) {
            if constexpr (HIGH) {
                const BlockQ5_K *b = reinterpret_cast<const BlockQ5_K *>(blk);
                return levels_q45<true>(b->qs, b->qh, int(j));
            } else {
                return levels_q45<false>(reinterpret_cast<const BlockQ4_K *>(blk)->qs, nullptr, int(j));
            }
        });
        int16_t *sc = reinterpret_cast<int16_t *>(sb + 2048);
        int16_t *mn = reinterpret_cast<int16_t *>(sb + 2304);
        float *d = reinterpret_cast<float *>(sb + 2432);
        float *dmin = d + kRows;
        for (int r = 0; r < kRows; ++r) {
            if (r >= nrows) {
                for (int j = 0; j < 8; ++j) sc[(j * kRows + r) * 2] = sc[(j * kRows + r) * 2 + 1] = 0;
                for (int j = 0; j < 8; ++j) mn[((j / 2) * kRows + r) * 2 + (j & 1)] = 0;
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
                sc[(j * kRows + r) * 2] = sc[(j * kRows + r) * 2 + 1] = int16_t(s);
                mn[((j / 2) * kRows + r) * 2 + (j & 1)] = int16_t(m);
            }
            d[r] = half_to_float(dh);
            dmin[r] = half_to_float(dminh);
        }
    }
}

// Byte j of every 32-bit lane as an int32 lane (J == 3: no mask needed).
template <int J> inline __m256i lane_byte(__m256i v) {
    if constexpr (J == 3) return _mm256_srli_epi32(v, 24);
    else return _mm256_and_si256(_mm256_srli_epi32(v, 8 * J), _mm256_set1_epi32(0xFF));
}
// Signed byte j of every 32-bit lane as an int32 lane.
template <int J> inline __m256i lane_sbyte(__m256i v) { return _mm256_srai_epi32(_mm256_slli_epi32(v, 24 - 8 * J), 24); }
// Two int32 lanes (values that fit 16 bits) as the words (a, b) of one lane.
inline __m256i word_pair(__m256i a, __m256i b) {
    return _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(b, 16));
}

// The same panel from rows first_row.. (0 or 8) of a Q4_K decode panel (cpu_panels.h): its qs
// dword k holds the nibbles of level dwords 16 (k / 8) + k % 8 (low) and + 8 (high); the
// 6-bit scales and mins are unpacked 8 rows at a time (ggml's get_scale_min_k4).
void pack_q4_k_from_panel(int64_t K, const void *src, int first_row, void *panel) {
    constexpr int kBlockBytes = kPanelRows * int(sizeof(BlockQ4_K));
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(src);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F), m30 = _mm256_set1_epi8(0x30);
    const int rb = 4 * first_row; // the rows' byte offset in a 64-byte group
    for (int64_t ib = 0; ib < nsb; ++ib, p += kBlockBytes) {
        uint8_t *sb = static_cast<uint8_t *>(panel) + ib * kQ45SbBytes;
        for (int k = 0; k < 32; ++k) {
            const __m256i v = load256(p + kQ4KQs + 64 * k + rb);
            const int at = 16 * (k / 8) + k % 8;
            _mm256_store_si256(reinterpret_cast<__m256i *>(sb + 32 * at), _mm256_and_si256(v, m4));
            _mm256_store_si256(reinterpret_cast<__m256i *>(sb + 32 * (at + 8)), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
        }
        const __m256i d0 = load256(p + kQ4KScales + rb), d1 = load256(p + kQ4KScales + 64 + rb),
                      d2 = load256(p + kQ4KScales + 128 + rb);
        const __m256i sc_lo = _mm256_and_si256(d0, m6), m_lo = _mm256_and_si256(d1, m6);
        const __m256i sc_hi = _mm256_or_si256(_mm256_and_si256(d2, m4), _mm256_and_si256(_mm256_srli_epi32(d0, 2), m30));
        const __m256i m_hi =
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(d2, 4), m4), _mm256_and_si256(_mm256_srli_epi32(d1, 2), m30));
        auto *sc = reinterpret_cast<__m256i *>(sb + 2048); // each scale twice
        sc[0] = word_pair(lane_byte<0>(sc_lo), lane_byte<0>(sc_lo)), sc[1] = word_pair(lane_byte<1>(sc_lo), lane_byte<1>(sc_lo));
        sc[2] = word_pair(lane_byte<2>(sc_lo), lane_byte<2>(sc_lo)), sc[3] = word_pair(lane_byte<3>(sc_lo), lane_byte<3>(sc_lo));
        sc[4] = word_pair(lane_byte<0>(sc_hi), lane_byte<0>(sc_hi)), sc[5] = word_pair(lane_byte<1>(sc_hi), lane_byte<1>(sc_hi));
        sc[6] = word_pair(lane_byte<2>(sc_hi), lane_byte<2>(sc_hi)), sc[7] = word_pair(lane_byte<3>(sc_hi), lane_byte<3>(sc_hi));
        auto *mn = reinterpret_cast<__m256i *>(sb + 2304); // min pairs (m 2i, m 2i + 1)
        mn[0] = word_pair(lane_byte<0>(m_lo), lane_byte<1>(m_lo)), mn[1] = word_pair(lane_byte<2>(m_lo), lane_byte<3>(m_lo));
        mn[2] = word_pair(lane_byte<0>(m_hi), lane_byte<1>(m_hi)), mn[3] = word_pair(lane_byte<2>(m_hi), lane_byte<3>(m_hi));
        float *d = reinterpret_cast<float *>(sb + 2432);
        _mm256_store_ps(d, _mm256_cvtph_ps(load128(p + kQ4KD + 2 * first_row)));
        _mm256_store_ps(d + kRows, _mm256_cvtph_ps(load128(p + kQ4KDmin + 2 * first_row)));
    }
}

// Sub-block sums (G groups of 4 elements in 16 bits, then widened by vpmaddwd against the
// sub-block's scale pairs sc), added to isum.
template <int NC, int G>
inline __attribute__((always_inline)) void scaled_groups(const uint8_t *wp, const int8_t *xp, int64_t xstride, __m256i sc,
                                                         __m256i *isum) {
    __m256i t[NC];
    for (int c = 0; c < NC; ++c) t[c] = _mm256_setzero_si256();
    for (int g = 0; g < G; ++g) {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i *>(wp + 32 * g));
        for (int c = 0; c < NC; ++c) t[c] = add16(t[c], _mm256_maddubs_epi16(w, bcast32(xp + xstride * c + 4 * g)));
    }
    for (int c = 0; c < NC; ++c) isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(t[c], sc));
}

template <bool HIGH> struct Q45 {
    template <int NC> struct Tile {
        static void run(const uint8_t *x, int cg, int64_t c0, int64_t K, const uint8_t *p, float *out, int64_t ostride,
                        __m256i mask) {
            constexpr int G = HIGH ? 4 : 8; // groups summed in 16 bits (levels < 32 / < 16)
            const int64_t nsb = K / 256;
            Acc8 acc{};
            for (int64_t ib = 0; ib < nsb; ++ib, x += kActQ8KBytes) {
                const uint8_t *sb = p + ib * kQ45SbBytes;
                const int8_t *xq = reinterpret_cast<const int8_t *>(x) + 256 * cg;
                __m256i isum[NC];
                for (int c = 0; c < NC; ++c) isum[c] = _mm256_setzero_si256();
                for (int j = 0; j < 8; ++j) {
                    const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i *>(sb + 2048 + 32 * j));
                    for (int h = 0; h < 8; h += G)
                        scaled_groups<NC, G>(sb + (8 * j + h) * 32, xq + 32 * j + 4 * h, 256, sc, isum);
                }
                const __m256 d = _mm256_load_ps(reinterpret_cast<const float *>(sb + 2432));
                const __m256 dmin = _mm256_load_ps(reinterpret_cast<const float *>(sb + 2464));
                const float *xd = reinterpret_cast<const float *>(x + kActQ8KD) + cg;
                const uint8_t *b32 = x + kActQ8KBs32 + 16 * cg;
                for (int c = 0; c < NC; ++c) {
                    const __m256i m = madd_pairs<4>(sb + 2304, b32 + 16 * c);
                    const __m256 dx = _mm256_set1_ps(xd[c]);
                    add_to(acc, c, _mm256_mul_ps(_mm256_mul_ps(d, dx), _mm256_cvtepi32_ps(isum[c])));
                    sub_from(acc, c, _mm256_mul_ps(_mm256_mul_ps(dmin, dx), _mm256_cvtepi32_ps(m)));
                }
            }
            for (int c = 0; c < NC; ++c) store8(out + (c0 + c) * ostride, mask, acc, c);
        }
    };
};

template <bool HIGH>
void gemm_q45(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_columns<Q45<HIGH>::template Tile>(nc, static_cast<const uint8_t *>(acts), uint64_t(K / 256) * kActQ8KBytes, K,
                                           static_cast<const uint8_t *>(panel), out, ostride, row_mask(nrows));
}

// ---- Q6_K against Q8_K activations ---------------------------------------------------------
// Panel per super-block (2880 bytes): q[64 dwords][8 rows][4] (2048, levels 0..63), sc
// int16 pairs [16][8][2] (512: each signed scale twice), scale pairs int16 [8][8][2]
// (256: sub-blocks 2p, 2p + 1), d [8] (32), 32 bytes padding. (The signed values level -
// 32 by the sign trick, 4 groups in 16 bits and no -32 correction, measured 166 against
// 202 Gops: vpsignb costs like a multiply here.)

constexpr uint64_t kQ6SbBytes = 2048 + 512 + 256 + 32 + 32; // (Q2_K keeps its dmin in the last 32)
uint64_t q6_panel_bytes(int64_t K) { return uint64_t(K / 256) * kQ6SbBytes; }

// Elements 32 j .. 32 j + 31 (j = 0..7): half h = j / 4, 32-element run k = j % 4.
inline __m256i levels_q6(const BlockQ6_K &b, int j) {
    const int h = j / 4, k = j % 4;
    const __m256i ql = load256(b.ql + 64 * h + 32 * (k & 1));
    const __m256i qh = load256(b.qh + 32 * h);
    const __m256i lo = _mm256_and_si256(k < 2 ? ql : _mm256_srli_epi16(ql, 4), _mm256_set1_epi8(0x0F));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), _mm256_set1_epi8(0x03));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
}

// The panels of 8 rows of a 16-element-sub-block type B: levels(block, j) the levels of
// elements 32 j.. (0..63, the tile subtracts 32), scale(block, j) sub-block j's signed scale.
template <class B, class Levels, class Scale, class Pair = std::nullptr_t>
void pack_q6_panels(int64_t K, const void *const *rows, int nrows, void *panel, Levels levels, Scale scale, Pair min = nullptr) {
    // With min (Q2_K, TileQ2): the pairs are the sub-blocks' mins and dmin follows d.
    constexpr bool kMins = !std::is_same_v<Pair, std::nullptr_t>;
    uint8_t *p = static_cast<uint8_t *>(panel);
    const int64_t nsb = K / 256;
    for (int64_t ib = 0; ib < nsb; ++ib) {
        uint8_t *sb = p + ib * kQ6SbBytes;
        const void *brows[kRows];
        for (int r = 0; r < nrows; ++r) brows[r] = static_cast<const B *>(rows[r]) + ib;
        pack_levels(256, brows, nrows, sb, [&](const uint8_t *blk, int64_t j) { return levels(*reinterpret_cast<const B *>(blk), int(j)); });
        int16_t *sc = reinterpret_cast<int16_t *>(sb + 2048);
        int16_t *sp = reinterpret_cast<int16_t *>(sb + 2560);
        float *d = reinterpret_cast<float *>(sb + 2816);
        for (int r = 0; r < kRows; ++r) {
            const B *b = r < nrows ? static_cast<const B *>(rows[r]) + ib : nullptr;
            for (int j = 0; j < 16; ++j) {
                const int s = b ? scale(*b, j) : 0;
                sc[(j * kRows + r) * 2] = sc[(j * kRows + r) * 2 + 1] = int16_t(s);
                int pv = s;
                if constexpr (kMins) pv = b ? min(*b, j) : 0;
                sp[((j / 2) * kRows + r) * 2 + (j & 1)] = int16_t(pv);
            }
            d[r] = b ? half_to_float(b->d) : 0.0f;
            if constexpr (kMins) d[kRows + r] = b ? half_to_float(b->dmin) : 0.0f;
        }
    }
}

void pack_q6(int64_t K, const void *const *rows, int nrows, void *panel) {
    pack_q6_panels<BlockQ6_K>(K, rows, nrows, panel, levels_q6, [](const BlockQ6_K &b, int j) { return int(b.scales[j]); });
}

// Q3_K through the Q6_K panels and tile (as in cpu_gemm_avx512.cpp): a level q3 (0..7, value
// q3 - 4) is stored as q3 + 28, which the tile's -32 turns into the same q3 - 4, and the
// scales (6 bits, biased by 32) become Q6_K's signed ones. Elements 32 j..: half j / 4, run j % 4.
inline __m256i levels_q3_as_q6(const BlockQ3_K &b, int j) {
    const int h = j / 4, k = j % 4;
    const __m256i q2 = load256(b.qs + 32 * h), hm = load256(b.hmask);
    const __m256i bit = _mm256_set1_epi8(char(1 << (4 * h + k)));
    const __m256i third = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit), _mm256_set1_epi8(4));
    const __m256i low = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * k), _mm256_set1_epi8(0x03));
    return _mm256_add_epi8(_mm256_or_si256(low, third), _mm256_set1_epi8(28));
}

void pack_q3(int64_t K, const void *const *rows, int nrows, void *panel) {
    pack_q6_panels<BlockQ3_K>(K, rows, nrows, panel, levels_q3_as_q6,
                              [](const BlockQ3_K &b, int j) { return q3_k_scale(b.scales, j) - 32; });
}

// The same panel from rows first_row.. (0 or 8) of a Q6_K (Q3: a Q3_K) decode panel
// (cpu_panels.h): the levels of (half h, dword l4) are level dwords 32 h + 8 i + l4 (i =
// 0..3); Q3_K's levels + 28 and scales - 32, as pack_q3 makes them.
template <bool Q3> void pack_k16_from_panel(int64_t K, const void *src, int first_row, void *panel) {
    constexpr int kBlockBytes = kPanelRows * (Q3 ? int(sizeof(BlockQ3_K)) : int(sizeof(BlockQ6_K)));
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(src);
    const int rb = 4 * first_row;
    const __m256i c28 = _mm256_set1_epi8(28);
    for (int64_t ib = 0; ib < nsb; ++ib, p += kBlockBytes) {
        uint8_t *sb = static_cast<uint8_t *>(panel) + ib * kQ6SbBytes;
        for (int h = 0; h < 2; ++h)
            for (int l4 = 0; l4 < 8; ++l4) {
                __m256i q[4];
                if constexpr (Q3) q3_panel_levels(p + kQ3KQs + 64 * (8 * h + l4) + rb, p + kQ3KHmask + 64 * l4 + rb, h, q);
                else q6_panel_levels(p + kQ6Data + 192 * (8 * h + l4) + rb, q);
                for (int i = 0; i < 4; ++i)
                    _mm256_store_si256(reinterpret_cast<__m256i *>(sb + 32 * (32 * h + 8 * i + l4)), Q3 ? _mm256_add_epi8(q[i], c28) : q[i]);
            }
        __m256i scv[4];
        if constexpr (Q3) q3_panel_scales(p + kQ3KScales + rb, scv);
        else
            for (int t = 0; t < 4; ++t) scv[t] = load256(p + kQ6Scales + 64 * t + rb);
        auto *sc = reinterpret_cast<__m256i *>(sb + 2048); // each signed scale twice
        auto *sp = reinterpret_cast<__m256i *>(sb + 2560); // scale pairs (s 2i, s 2i + 1)
        for (int t = 0; t < 4; ++t) {
            const __m256i v = scv[t];
            const __m256i s0 = lane_sbyte<0>(v), s1 = lane_sbyte<1>(v), s2 = lane_sbyte<2>(v), s3 = lane_sbyte<3>(v);
            sc[4 * t] = word_pair(s0, s0), sc[4 * t + 1] = word_pair(s1, s1);
            sc[4 * t + 2] = word_pair(s2, s2), sc[4 * t + 3] = word_pair(s3, s3);
            sp[2 * t] = word_pair(s0, s1), sp[2 * t + 1] = word_pair(s2, s3);
        }
        _mm256_store_ps(reinterpret_cast<float *>(sb + 2816), _mm256_cvtph_ps(load128(p + (Q3 ? kQ3KD : kQ6D) + 2 * first_row)));
    }
}

// Q2_K through the k16 tile with mins (TileQ2), as in cpu_gemm_avx512.cpp: levels 0..3 as
// they are, the 4-bit scales as the sub-block scales, the 4-bit mins as the pairs against the
// activation's sums per 16, d and dmin. Elements 32 j..: qs bytes 32 (j / 4).., shift 2 (j % 4).
inline __m256i levels_q2(const BlockQ2_K &b, int j) {
    return _mm256_and_si256(_mm256_srli_epi16(load256(b.qs + 32 * (j / 4)), 2 * (j % 4)), _mm256_set1_epi8(0x03));
}

void pack_q2(int64_t K, const void *const *rows, int nrows, void *panel) {
    pack_q6_panels<BlockQ2_K>(K, rows, nrows, panel, levels_q2, [](const BlockQ2_K &b, int j) { return b.scales[j] & 0xF; },
                              [](const BlockQ2_K &b, int j) { return b.scales[j] >> 4; });
}

// The same panel from rows first_row.. (0 or 8) of a Q2_K decode panel (cpu_panels.h: d,
// dmin, the scale dwords, the qs dwords): the levels of (half h, dword dq) at shift 2 s are
// level dwords 32 h + 8 s + dq, as pack_k16_from_panel places Q6_K's.
void pack_q2_from_panel(int64_t K, const void *src, int first_row, void *panel) {
    constexpr int kBlockBytes = kPanelRows * int(sizeof(BlockQ2_K));
    const int64_t nsb = K / 256;
    const auto *p = static_cast<const uint8_t *>(src);
    const int rb = 4 * first_row;
    const __m256i m2 = _mm256_set1_epi8(0x03), m4 = _mm256_set1_epi8(0x0F);
    for (int64_t ib = 0; ib < nsb; ++ib, p += kBlockBytes) {
        uint8_t *sb = static_cast<uint8_t *>(panel) + ib * kQ6SbBytes;
        for (int h = 0; h < 2; ++h)
            for (int dq = 0; dq < 8; ++dq) {
                const __m256i v = load256(p + kQ2KQs + 64 * (8 * h + dq) + rb);
                for (int s = 0; s < 4; ++s)
                    _mm256_store_si256(reinterpret_cast<__m256i *>(sb + 32 * (32 * h + 8 * s + dq)),
                                       _mm256_and_si256(_mm256_srli_epi16(v, 2 * s), m2));
            }
        auto *sc = reinterpret_cast<__m256i *>(sb + 2048); // each scale twice
        auto *mp = reinterpret_cast<__m256i *>(sb + 2560); // min pairs (m 2i, m 2i + 1)
        for (int t = 0; t < 4; ++t) {
            const __m256i v = load256(p + kQ2KScales + 64 * t + rb);
            const __m256i scv = _mm256_and_si256(v, m4), mv = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            const __m256i s0 = lane_byte<0>(scv), s1 = lane_byte<1>(scv), s2 = lane_byte<2>(scv), s3 = lane_byte<3>(scv);
            sc[4 * t] = word_pair(s0, s0), sc[4 * t + 1] = word_pair(s1, s1);
            sc[4 * t + 2] = word_pair(s2, s2), sc[4 * t + 3] = word_pair(s3, s3);
            mp[2 * t] = word_pair(lane_byte<0>(mv), lane_byte<1>(mv)), mp[2 * t + 1] = word_pair(lane_byte<2>(mv), lane_byte<3>(mv));
        }
        _mm256_store_ps(reinterpret_cast<float *>(sb + 2816), _mm256_cvtph_ps(load128(p + kQ2KD + 2 * first_row)));
        _mm256_store_ps(reinterpret_cast<float *>(sb + 2848), _mm256_cvtph_ps(load128(p + kQ2KDmin + 2 * first_row)));
    }
}

// The 16-element-sub-block tile. MINS (Q2_K): the panel's pairs at 2560 are the sub-blocks'
// mins and dmin [8] follows d (in what is padding for Q6_K): the super-block is d S1 - dmin
// S2 in float. Otherwise (Q6_K, Q3_K): d (S1 - 32 S2), exact in integers first.
template <int NC, bool MINS> struct TileK16 {
    static void run(const uint8_t *x, int cg, int64_t c0, int64_t K, const uint8_t *p, float *out, int64_t ostride,
                    __m256i mask) {
        const int64_t nsb = K / 256;
        Acc8 acc{};
        for (int64_t ib = 0; ib < nsb; ++ib, x += kActQ8KBytes) {
            const uint8_t *sb = p + ib * kQ6SbBytes;
            const int8_t *xq = reinterpret_cast<const int8_t *>(x) + 256 * cg;
            __m256i isum[NC];
            for (int c = 0; c < NC; ++c) isum[c] = _mm256_setzero_si256();
            // 16-element sub-blocks of 4 groups, summed in 16 bits two groups at a time
            // (levels < 64: |pair| <= 16002).
            for (int j = 0; j < 16; ++j) {
                const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i *>(sb + 2048 + 32 * j));
                for (int h = 0; h < 4; h += 2) scaled_groups<NC, 2>(sb + (4 * j + h) * 32, xq + 16 * j + 4 * h, 256, sc, isum);
            }
            const __m256 d = _mm256_load_ps(reinterpret_cast<const float *>(sb + 2816));
            const float *xd = reinterpret_cast<const float *>(x + kActQ8KD) + cg;
            const uint8_t *b16 = x + kActQ8KBs + 32 * cg;
            for (int c = 0; c < NC; ++c) {
                const __m256i corr = madd_pairs<8>(sb + 2560, b16 + 32 * c);
                if constexpr (MINS) {
                    const __m256 dmin = _mm256_load_ps(reinterpret_cast<const float *>(sb + 2848));
                    const __m256 t = _mm256_fmsub_ps(d, _mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(corr)));
                    add_to(acc, c, _mm256_mul_ps(t, _mm256_set1_ps(xd[c])));
                } else {
                    const __m256i v = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(corr, 5));
                    add_to(acc, c, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_set1_ps(xd[c])), _mm256_cvtepi32_ps(v)));
                }
            }
        }
        for (int c = 0; c < NC; ++c) store8(out + (c0 + c) * ostride, mask, acc, c);
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
// Panel: float w[K][24 rows] (three 8-row vectors per element, each broadcast activation
// feeding three FMAs; with two: 80 against 86 Gops, one core, K 2048). Products summed in
// float chains of kGemmFloatChain elements (the AVX-512 kernel's chains, lane for lane: the
// same bits), each chain added to the running total in `out`.

constexpr int kFVecs = 3;
constexpr int kFRows = 8 * kFVecs;

uint64_t f_panel_bytes(int64_t K) { return uint64_t(K) * kFRows * 4; }

template <bool BF16> void pack_f(int64_t K, const void *const *rows, int nrows, void *panel) {
    float *p = static_cast<float *>(panel);
    for (int vec = 0; vec < kFVecs; ++vec)
        for (int64_t k0 = 0; k0 < K; k0 += 8) {
            const int n = static_cast<int>(std::min<int64_t>(8, K - k0));
            __m256 v[8];
            for (int i = 0; i < 8; ++i) {
                const int r = 8 * vec + i;
                __m128i hv = _mm_setzero_si128();
                if (r < nrows && n == 8) {
                    hv = load128(static_cast<const uint16_t *>(rows[r]) + k0);
                } else if (r < nrows) {
                    alignas(16) uint16_t h[8] = {};
                    std::memcpy(h, static_cast<const uint16_t *>(rows[r]) + k0, size_t(n) * 2);
                    hv = _mm_load_si128(reinterpret_cast<const __m128i *>(h));
                }
                v[i] = BF16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(hv), 16)) : _mm256_cvtph_ps(hv);
            }
            transpose8(v);
            for (int k = 0; k < n; ++k) _mm256_store_ps(p + (k0 + k) * kFRows + 8 * vec, v[k]);
        }
}

template <int NC> struct TileF {
    static void run(const uint8_t *xa, int cg, int64_t c0, int64_t k0, int64_t k1, bool accumulate, const float *p,
                    float *out, int64_t ostride, const __m256i *masks, bool full) {
        const float *x = reinterpret_cast<const float *>(xa) + cg;
        for (int64_t kb = k0; kb < k1; kb += kGemmFloatChain) {
            const int64_t ke = std::min(k1, kb + kGemmFloatChain);
            __m256 s[NC][kFVecs];
            for (int c = 0; c < NC; ++c)
                for (int v = 0; v < kFVecs; ++v) s[c][v] = _mm256_setzero_ps();
            for (int64_t k = kb; k < ke; ++k) {
                __m256 w[kFVecs];
                for (int v = 0; v < kFVecs; ++v) w[v] = _mm256_load_ps(p + k * kFRows + 8 * v);
                for (int c = 0; c < NC; ++c) {
                    const __m256 b = _mm256_broadcast_ss(x + k * kGemmCols + c);
                    for (int v = 0; v < kFVecs; ++v) s[c][v] = _mm256_fmadd_ps(w[v], b, s[c][v]);
                }
            }
            const bool first = kb == k0 && !accumulate;
            for (int c = 0; c < NC; ++c)
                for (int v = 0; v < kFVecs; ++v) {
                    float *o = out + (c0 + c) * ostride + 8 * v;
                    if (full) { // (vmaskmovps stores are slow on AMD: the running totals are stored often)
                        _mm256_storeu_ps(o, first ? s[c][v] : _mm256_add_ps(_mm256_loadu_ps(o), s[c][v]));
                        continue;
                    }
                    const __m256 t = first ? s[c][v] : _mm256_add_ps(_mm256_maskload_ps(o, masks[v]), s[c][v]);
                    _mm256_maskstore_ps(o, masks[v], t);
                }
        }
    }
};

void gemm_f_range(int64_t K, int64_t k0, int64_t k1, bool accumulate, const void *panel, int nrows, const void *acts,
                  int64_t nc, float *out, int64_t ostride) {
    __m256i masks[kFVecs];
    for (int v = 0; v < kFVecs; ++v) masks[v] = row_mask(std::clamp(nrows - 8 * v, 0, 8));
    over_columns<TileF>(nc, static_cast<const uint8_t *>(acts), round_up(uint64_t(K) * kGemmCols * 4, 64), k0, k1,
                        accumulate, static_cast<const float *>(panel), out, ostride, masks, nrows == kFRows);
}

void gemm_f(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    gemm_f_range(K, 0, K, false, panel, nrows, acts, nc, out, ostride);
}

} // namespace

void add_gemm_avx2(Kernels &t) {
    // act_offset: what the levels were raised by (Q4_0 +8, Q5_0 +16); 0 for signed levels.
    t.gemm[int(DType::Q4_0)] = {kRows, 8, b32_panel_bytes, pack_b32<BlockQ4_0, levels_q4_0>, gemm_b32<8>, nullptr, 0,
                                pack_b32_from_panel<B32Form::q4_0>};
    t.gemm[int(DType::Q5_0)] = {kRows, 16, b32_panel_bytes, pack_b32<BlockQ5_0, levels_q5_0>, gemm_b32<4>, nullptr, 0,
                                pack_b32_from_panel<B32Form::q5_0>};
    t.gemm[int(DType::Q8_0)] = {kRows, 0, b32_panel_bytes, pack_b32<BlockQ8_0, levels_q8_0>, gemm_b32<0>, nullptr, 0,
                                pack_b32_from_panel<B32Form::q8_0>};
    t.gemm[int(DType::IQ4_NL)] = {kRows, 0, b32_panel_bytes, pack_b32<BlockIQ4_NL, levels_iq4_nl>, gemm_b32<0>, nullptr, 0,
                                  pack_b32_from_panel<B32Form::iq4_nl>};
    t.gemm[int(DType::Q4_K)] = {kRows, 0, q45_panel_bytes, pack_q45<false>, gemm_q45<false>, nullptr, 0, pack_q4_k_from_panel};
    t.gemm[int(DType::Q5_K)] = {kRows, 0, q45_panel_bytes, pack_q45<true>, gemm_q45<true>, nullptr, 0};
    t.gemm[int(DType::Q6_K)] = {kRows, 0, q6_panel_bytes, pack_q6, gemm_q6, nullptr, 0, pack_k16_from_panel<false>};
    t.gemm[int(DType::Q3_K)] = {kRows, 0, q6_panel_bytes, pack_q3, gemm_q6, nullptr, 0, pack_k16_from_panel<true>};
    t.gemm[int(DType::Q2_K)] = {kRows, 0, q6_panel_bytes, pack_q2, gemm_q2, nullptr, 0, pack_q2_from_panel};
    t.gemm[int(DType::F16)] = {kFRows, 0, f_panel_bytes, pack_f<false>, gemm_f, gemm_f_range, kGemmFloatBlock};
    t.gemm[int(DType::BF16)] = {kFRows, 0, f_panel_bytes, pack_f<true>, gemm_f, gemm_f_range, kGemmFloatBlock};
}

} // namespace corvid::cpu::fast
#else
namespace corvid::cpu::fast {
void add_gemm_avx2(Kernels &) {}
} // namespace corvid::cpu::fast
#endif
