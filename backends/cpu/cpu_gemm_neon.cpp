// Blocked matrix-product kernels (prompt processing) for ARM64 NEON with the Armv8.2 dot
// product (SDOT). This file alone, with cpu_matmul_neon.cpp, is compiled with
// -march=armv8.2-a+dotprod (CMakeLists.txt); cpu_matmul_neon.cpp puts these kernels into
// its table (add_gemm_neon), which is used only when the processor reports the dot
// product.
//
// Layout. A panel holds 16 weight rows as 4 quads of 4 rows; each quad is stored on its
// own (quad-major), so a register tile of 4 rows walks one contiguous stream. Within a
// quad the levels are signed bytes, interleaved per 4 consecutive elements: 16 bytes =
// the same 4 elements of the quad's 4 rows (row r in bytes 4r..4r+3). One
//   vdotq_laneq_s32(acc, w, x, lane)
// then adds to lane r the product of row r's 4 elements with the 4 activation bytes in
// `lane` of a plain 16-byte load of one column (the grouped activation layout keeps a
// column's block contiguous, cpu_matmul_fast.h): no horizontal sums, no activation
// shuffles, each weight register reused by every column of the tile.
//   32-element types (Q4_0, Q5_0, Q8_0, IQ4_NL), per (quad, block), 144 bytes:
//       levels [8 groups of 4 elements][4 rows][4] (128), d_w [4 rows] float (16).
//       Levels are the signed values (q - 8, q - 16, q, table[q]); SDOT is signed x
//       signed, so no offset correction is needed (GemmKernel::act_offset = 0).
//   Q4_K / Q5_K, per (quad, super-block), 1248 bytes: levels [64][4][4] (1024, 0..31),
//       sc int32 [8 sub-blocks][4 rows] (128), mins int16 [8][4] (64), d [4], dmin [4].
//   Q6_K, per (quad, super-block), 1296 bytes: levels [64][4][4] (1024, q - 32),
//       sc int32 [16][4] (256), d [4] (16).
//   F16 / BF16: weights widened to float at packing time, per quad float [K][4 rows].
//   With i8mm (SMMLA) the 32-element types use a row-pair layout instead (see
//   TileB32MM), same size and same results.
// Register tiles: 4 rows x 4 or 8 columns (8 when the group has more than 4 columns; the
// padding columns of a partial group are zeros, computed and not stored).
//
// Arithmetic, the same as the x86 blocked kernels (cpu_gemm_avx512.cpp) and the NEON dot
// kernels (cpu_matmul_neon.cpp), so the results agree with the reference within the
// conformance tolerance:
//   - 32-element types: per block the exact int32 sum(q * x), converted to float
//     (exact: |sum| < 2^24), times (d_w * d_x) rounded to float, by fused multiply-add
//     into a float lane flushed into double every 4 blocks;
//   - K-quants: the exact int32 super-block sum (sub-block sums times their scales; for
//     Q4_K / Q5_K the mins times the activation's sums per 32 separately), each times
//     (d_w * d_x) (resp. dmin_w * d_x) in float, added into double per super-block;
//   - F16 / BF16: exact float products, FMA chains of 16 elements added into a float
//     total per row and column (the K-chunked form carries the total through `out`).
// No timings are claimed for these kernels: they are tested under qemu-aarch64
// (scripts/test_neon.sh), where times mean nothing.
#include "cpu/cpu_matmul_fast.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#include "cpu/cpu_neon_common.h"

#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13) // the kernel's bit for SMMLA (older glibc headers lack the name)
#endif
#endif

#include <cstring>
#include <type_traits>

namespace corvid::cpu::fast {
namespace {

using namespace neon; // the shared helpers (cpu_neon_common.h)

constexpr int kRows = 16; // weight rows per panel
constexpr int kQuads = kRows / 4;

// The lane argument of the by-lane instructions must be a literal; after unrolling the
// switch folds away.
inline __attribute__((always_inline)) int32x4_t sdot_lane(int32x4_t acc, int8x16_t w, int8x16_t x, int lane) {
    switch (lane) {
    case 0: return vdotq_laneq_s32(acc, w, x, 0);
    case 1: return vdotq_laneq_s32(acc, w, x, 1);
    case 2: return vdotq_laneq_s32(acc, w, x, 2);
    default: return vdotq_laneq_s32(acc, w, x, 3);
    }
}
inline __attribute__((always_inline)) float32x4_t fma_lane(float32x4_t acc, float32x4_t w, float32x4_t x, int lane) {
    switch (lane) {
    case 0: return vfmaq_laneq_f32(acc, w, x, 0);
    case 1: return vfmaq_laneq_f32(acc, w, x, 1);
    case 2: return vfmaq_laneq_f32(acc, w, x, 2);
    default: return vfmaq_laneq_f32(acc, w, x, 3);
    }
}

// Exact sum over 32 elements for the 4 rows of a quad: w[0..8) are the interleaved
// groups, x the column's 32 levels.
inline __attribute__((always_inline)) int32x4_t dot32_quad(const int8x16_t *w, const int8_t *x) {
    const int8x16_t x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
    int32x4_t s = vdupq_n_s32(0);
    for (int g = 0; g < 4; ++g) s = sdot_lane(s, w[g], x0, g);
    for (int g = 0; g < 4; ++g) s = sdot_lane(s, w[4 + g], x1, g);
    return s;
}

// Interleaves the levels of 4 rows (lev[r][0..n), n a multiple of 16) into dst: 16 bytes
// per group of 4 elements, row r at 4r (a 4 x 4 transpose of 32-bit words per 16).
void interleave4(const int8_t (*lev)[256], int n, int8_t *dst) {
    for (int e = 0; e < n; e += 16) {
        const uint32x4_t r0 = vreinterpretq_u32_s8(vld1q_s8(lev[0] + e)), r1 = vreinterpretq_u32_s8(vld1q_s8(lev[1] + e));
        const uint32x4_t r2 = vreinterpretq_u32_s8(vld1q_s8(lev[2] + e)), r3 = vreinterpretq_u32_s8(vld1q_s8(lev[3] + e));
        const uint64x2_t t0 = vreinterpretq_u64_u32(vtrn1q_u32(r0, r1)), t1 = vreinterpretq_u64_u32(vtrn2q_u32(r0, r1));
        const uint64x2_t t2 = vreinterpretq_u64_u32(vtrn1q_u32(r2, r3)), t3 = vreinterpretq_u64_u32(vtrn2q_u32(r2, r3));
        int8_t *o = dst + 4 * e; // 4 groups of 16 bytes
        vst1q_s8(o, vreinterpretq_s8_u64(vtrn1q_u64(t0, t2)));
        vst1q_s8(o + 16, vreinterpretq_s8_u64(vtrn1q_u64(t1, t3)));
        vst1q_s8(o + 32, vreinterpretq_s8_u64(vtrn2q_u64(t0, t2)));
        vst1q_s8(o + 48, vreinterpretq_s8_u64(vtrn2q_u64(t1, t3)));
    }
}

// Runs TILE<NC>::run for each quad of rows with NC = 4 or 8 columns, then stores the
// nrows x nc results (res[c][r], double) as floats.
template <template <int> class TILE, class... Args>
void over_tiles(int nrows, int64_t nc, float *out, int64_t ostride, Args... args) {
    for (int q = 0; q * 4 < nrows; ++q) {
        double res[kGemmCols][4];
        if (nc > 4) TILE<8>::run(q, res, args...);
        else TILE<4>::run(q, res, args...);
        const int nr = nrows - 4 * q < 4 ? nrows - 4 * q : 4;
        for (int64_t c = 0; c < nc; ++c)
            for (int r = 0; r < nr; ++r) out[c * ostride + 4 * q + r] = float(res[c][r]);
    }
}

template <int NC> inline void store_res(const DAcc *acc, double (*res)[4]) {
    for (int c = 0; c < NC; ++c) acc[c].store(res[c]);
}

// ---- the 32-element types against Q8_0 activations ----------------------------------------

constexpr uint64_t kB32QuadBlockBytes = 144;
uint64_t b32_panel_bytes(int64_t K) { return uint64_t(K / 32) * kQuads * kB32QuadBlockBytes; }

void levels_q4_0(const void *blk, int8_t *lev, float &d) {
    const BlockQ4_0 &b = *static_cast<const BlockQ4_0 *>(blk);
    uint8x16_t l, h;
    unpack_nibbles(b.qs, l, h);
    vst1q_s8(lev, vsubq_s8(s8(l), vdupq_n_s8(8)));
    vst1q_s8(lev + 16, vsubq_s8(s8(h), vdupq_n_s8(8)));
    d = half_to_float(b.d);
}
void levels_q5_0(const void *blk, int8_t *lev, float &d) {
    const BlockQ5_0 &b = *static_cast<const BlockQ5_0 *>(blk);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    uint8x16_t l, h, hl, hh;
    unpack_nibbles(b.qs, l, h);
    high_bits(qh, hl, hh);
    vst1q_s8(lev, vsubq_s8(s8(vorrq_u8(l, hl)), vdupq_n_s8(16)));
    vst1q_s8(lev + 16, vsubq_s8(s8(vorrq_u8(h, hh)), vdupq_n_s8(16)));
    d = half_to_float(b.d);
}
void levels_q8_0(const void *blk, int8_t *lev, float &d) {
    const BlockQ8_0 &b = *static_cast<const BlockQ8_0 *>(blk);
    std::memcpy(lev, b.qs, 32);
    d = half_to_float(b.d);
}
void levels_iq4_nl(const void *blk, int8_t *lev, float &d) {
    const BlockIQ4_NL &b = *static_cast<const BlockIQ4_NL *>(blk);
    const int8x16_t table = vld1q_s8(kIQ4NLValues);
    uint8x16_t l, h;
    unpack_nibbles(b.qs, l, h);
    vst1q_s8(lev, vqtbl1q_s8(table, l));
    vst1q_s8(lev + 16, vqtbl1q_s8(table, h));
    d = half_to_float(b.d);
}

template <class B, void (*LEVELS)(const void *, int8_t *, float &)>
void pack_b32(int64_t K, const void *const *rows, int nrows, void *panel) {
    const int64_t nb = K / 32;
    int8_t *p = static_cast<int8_t *>(panel);
    for (int q = 0; q < kQuads; ++q)
        for (int64_t ib = 0; ib < nb; ++ib) {
            int8_t lev[4][256] = {};
            float d[4] = {};
            for (int r = 0; r < 4; ++r)
                if (4 * q + r < nrows) LEVELS(static_cast<const B *>(rows[4 * q + r]) + ib, lev[r], d[r]);
            int8_t *rec = p + (q * nb + ib) * int64_t(kB32QuadBlockBytes);
            interleave4(lev, 32, rec);
            std::memcpy(rec + 128, d, 16);
        }
}

template <int NC> struct TileB32 {
    static void run(int q, double (*res)[4], int64_t K, const int8_t *panel, const uint8_t *x) {
        const int64_t nb = K / 32;
        const int8_t *p = panel + q * nb * int64_t(kB32QuadBlockBytes);
        float32x4_t f[NC];
        DAcc acc[NC];
        for (int c = 0; c < NC; ++c) f[c] = vdupq_n_f32(0.0f);
        for (int64_t ib = 0; ib < nb; ++ib, p += kB32QuadBlockBytes, x += kActB32Bytes) {
            int8x16_t w[8];
            for (int g = 0; g < 8; ++g) w[g] = vld1q_s8(p + 16 * g);
            const float32x4_t dw = vld1q_f32(reinterpret_cast<const float *>(p + 128));
            const float *xd = reinterpret_cast<const float *>(x + kActB32D);
            const int8_t *xq = reinterpret_cast<const int8_t *>(x);
            for (int c = 0; c < NC; ++c)
                f[c] = vfmaq_f32(f[c], vcvtq_f32_s32(dot32_quad(w, xq + 32 * c)), vmulq_n_f32(dw, xd[c]));
            if ((ib & 3) == 3)
                for (int c = 0; c < NC; ++c) acc[c].flush(f[c]);
        }
        for (int c = 0; c < NC; ++c) acc[c].add(f[c]);
        store_res<NC>(acc, res);
    }
};

void gemm_b32(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_tiles<TileB32>(nrows, nc, out, ostride, K, static_cast<const int8_t *>(panel), static_cast<const uint8_t *>(acts));
}

// The i8mm form (FEAT_I8MM, used only where the processor reports it): SMMLA multiplies a
// 2 x 8 block of weights by a 2 x 8 block of activations into the 2 x 2 int32 products,
// twice SDOT's work per instruction. Per (quad, block) the same 144 bytes, the levels as
// [row pair][8-element chunk][2 rows][8]; the activations of a column pair are zipped
// per 8 bytes from plain loads. The exact sums and every float operation are the SDOT
// tile's, lane for lane, so the results are bit-identical (tested).
template <class B, void (*LEVELS)(const void *, int8_t *, float &)>
void pack_b32_mm(int64_t K, const void *const *rows, int nrows, void *panel) {
    const int64_t nb = K / 32;
    int8_t *p = static_cast<int8_t *>(panel);
    for (int q = 0; q < kQuads; ++q)
        for (int64_t ib = 0; ib < nb; ++ib) {
            int8_t lev[4][32] = {};
            float d[4] = {};
            for (int r = 0; r < 4; ++r)
                if (4 * q + r < nrows) LEVELS(static_cast<const B *>(rows[4 * q + r]) + ib, lev[r], d[r]);
            int8_t *rec = p + (q * nb + ib) * int64_t(kB32QuadBlockBytes);
            for (int pr = 0; pr < 2; ++pr)
                for (int h = 0; h < 4; ++h) {
                    std::memcpy(rec + (4 * pr + h) * 16, lev[2 * pr] + 8 * h, 8);
                    std::memcpy(rec + (4 * pr + h) * 16 + 8, lev[2 * pr + 1] + 8 * h, 8);
                }
            std::memcpy(rec + 128, d, 16);
        }
}

template <int NC> struct TileB32MM {
    static constexpr int NP = NC / 2; // column pairs
    __attribute__((target("+i8mm"))) static void run(int q, double (*res)[4], int64_t K, const int8_t *panel,
                                                     const uint8_t *x) {
        const int64_t nb = K / 32;
        const int8_t *p = panel + q * nb * int64_t(kB32QuadBlockBytes);
        float32x4_t f[2][NP]; // lanes: (row 2pr, col 2cp), (2pr, 2cp + 1), (2pr + 1, 2cp), (2pr + 1, 2cp + 1)
        DAcc acc[2][NP];
        for (int pr = 0; pr < 2; ++pr)
            for (int cp = 0; cp < NP; ++cp) f[pr][cp] = vdupq_n_f32(0.0f);
        for (int64_t ib = 0; ib < nb; ++ib, p += kB32QuadBlockBytes, x += kActB32Bytes) {
            int8x16_t w[8];
            for (int g = 0; g < 8; ++g) w[g] = vld1q_s8(p + 16 * g);
            const float32x4_t dw = vld1q_f32(reinterpret_cast<const float *>(p + 128));
            const float32x4_t dwp[2] = {vzip1q_f32(dw, dw), vzip2q_f32(dw, dw)};
            const float *xd = reinterpret_cast<const float *>(x + kActB32D);
            const int8_t *xq = reinterpret_cast<const int8_t *>(x);
            for (int cp = 0; cp < NP; ++cp) {
                const int8_t *x0 = xq + 64 * cp, *x1 = x0 + 32;
                int8x16_t xa[4];
                for (int h = 0; h < 2; ++h) {
                    const int64x2_t a = vreinterpretq_s64_s8(vld1q_s8(x0 + 16 * h));
                    const int64x2_t b = vreinterpretq_s64_s8(vld1q_s8(x1 + 16 * h));
                    xa[2 * h] = vreinterpretq_s8_s64(vzip1q_s64(a, b));
                    xa[2 * h + 1] = vreinterpretq_s8_s64(vzip2q_s64(a, b));
                }
                const float32x2_t dx2 = vld1_f32(xd + 2 * cp);
                const float32x4_t dx = vcombine_f32(dx2, dx2);
                for (int pr = 0; pr < 2; ++pr) {
                    int32x4_t s = vdupq_n_s32(0);
                    for (int h = 0; h < 4; ++h) s = vmmlaq_s32(s, w[4 * pr + h], xa[h]);
                    f[pr][cp] = vfmaq_f32(f[pr][cp], vcvtq_f32_s32(s), vmulq_f32(dwp[pr], dx));
                }
            }
            if ((ib & 3) == 3)
                for (int pr = 0; pr < 2; ++pr)
                    for (int cp = 0; cp < NP; ++cp) acc[pr][cp].flush(f[pr][cp]);
        }
        for (int pr = 0; pr < 2; ++pr)
            for (int cp = 0; cp < NP; ++cp) {
                acc[pr][cp].add(f[pr][cp]);
                double v[4];
                acc[pr][cp].store(v);
                res[2 * cp][2 * pr] = v[0], res[2 * cp + 1][2 * pr] = v[1];
                res[2 * cp][2 * pr + 1] = v[2], res[2 * cp + 1][2 * pr + 1] = v[3];
            }
    }
};

void gemm_b32_mm(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_tiles<TileB32MM>(nrows, nc, out, ostride, K, static_cast<const int8_t *>(panel), static_cast<const uint8_t *>(acts));
}

// ---- Q4_K / Q5_K against Q8_K activations ----------------------------------------------------

constexpr uint64_t kQ45QuadSbBytes = 1024 + 128 + 64 + 16 + 16;
uint64_t q45_panel_bytes(int64_t K) { return uint64_t(K / 256) * kQuads * kQ45QuadSbBytes; }

// Levels 0..31 of a Q4_K (HIGH: Q5_K) super-block: byte l of qs[32 j ..] holds elements
// 64 j + l (low nibble) and 64 j + 32 + l (high); Q5_K's bit 4 of those is bit 2j / 2j + 1
// of qh[l].
template <bool HIGH> void levels_q45(const void *blk, int8_t *lev) {
    const uint8_t *qs, *qh = nullptr;
    if constexpr (HIGH) qs = static_cast<const BlockQ5_K *>(blk)->qs, qh = static_cast<const BlockQ5_K *>(blk)->qh;
    else qs = static_cast<const BlockQ4_K *>(blk)->qs;
    for (int j = 0; j < 4; ++j)
        for (int l = 0; l < 32; ++l) {
            int lo = qs[32 * j + l] & 0x0F, hi = qs[32 * j + l] >> 4;
            if constexpr (HIGH) lo |= ((qh[l] >> (2 * j)) & 1) << 4, hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
            lev[64 * j + l] = int8_t(lo);
            lev[64 * j + 32 + l] = int8_t(hi);
        }
}

template <bool HIGH> void pack_q45(int64_t K, const void *const *rows, int nrows, void *panel) {
    using B = std::conditional_t<HIGH, BlockQ5_K, BlockQ4_K>;
    const int64_t nsb = K / 256;
    uint8_t *p = static_cast<uint8_t *>(panel);
    for (int q = 0; q < kQuads; ++q)
        for (int64_t ib = 0; ib < nsb; ++ib) {
            int8_t lev[4][256] = {};
            int32_t sc[8][4] = {};
            int16_t mn[8][4] = {};
            float d[4] = {}, dmin[4] = {};
            for (int r = 0; r < 4 && 4 * q + r < nrows; ++r) {
                const B &b = static_cast<const B *>(rows[4 * q + r])[ib];
                levels_q45<HIGH>(&b, lev[r]);
                for (int j = 0; j < 8; ++j) {
                    int s, m;
                    k4_scale_min(b.scales, j, s, m);
                    sc[j][r] = s, mn[j][r] = int16_t(m);
                }
                d[r] = half_to_float(b.d), dmin[r] = half_to_float(b.dmin);
            }
            uint8_t *rec = p + (q * nsb + ib) * int64_t(kQ45QuadSbBytes);
            interleave4(lev, 256, reinterpret_cast<int8_t *>(rec));
            std::memcpy(rec + 1024, sc, 128);
            std::memcpy(rec + 1152, mn, 64);
            std::memcpy(rec + 1216, d, 16);
            std::memcpy(rec + 1232, dmin, 16);
        }
}

template <int NC> struct TileQ45 {
    static void run(int q, double (*res)[4], int64_t K, const uint8_t *panel, const uint8_t *x) {
        const int64_t nsb = K / 256;
        const uint8_t *p = panel + q * nsb * int64_t(kQ45QuadSbBytes);
        DAcc acc[NC];
        for (int64_t ib = 0; ib < nsb; ++ib, p += kQ45QuadSbBytes, x += kActQ8KBytes) {
            const int8_t *xq = reinterpret_cast<const int8_t *>(x);
            int32x4_t isum[NC];
            for (int c = 0; c < NC; ++c) isum[c] = vdupq_n_s32(0);
            for (int j = 0; j < 8; ++j) {
                int8x16_t w[8];
                for (int g = 0; g < 8; ++g) w[g] = vld1q_s8(reinterpret_cast<const int8_t *>(p) + 128 * j + 16 * g);
                const int32x4_t s = vld1q_s32(reinterpret_cast<const int32_t *>(p + 1024) + 4 * j);
                for (int c = 0; c < NC; ++c) isum[c] = vmlaq_s32(isum[c], dot32_quad(w, xq + 256 * c + 32 * j), s);
            }
            int16x4_t mn[8];
            for (int j = 0; j < 8; ++j) mn[j] = vld1_s16(reinterpret_cast<const int16_t *>(p + 1152) + 4 * j);
            const float32x4_t d = vld1q_f32(reinterpret_cast<const float *>(p + 1216));
            const float32x4_t dmin = vld1q_f32(reinterpret_cast<const float *>(p + 1232));
            const float *xd = reinterpret_cast<const float *>(x + kActQ8KD);
            const int16_t *b32 = reinterpret_cast<const int16_t *>(x + kActQ8KBs32);
            for (int c = 0; c < NC; ++c) {
                const int16x8_t bs = vld1q_s16(b32 + 8 * c);
                int32x4_t m = vdupq_n_s32(0);
                m = vmlal_laneq_s16(m, mn[0], bs, 0);
                m = vmlal_laneq_s16(m, mn[1], bs, 1);
                m = vmlal_laneq_s16(m, mn[2], bs, 2);
                m = vmlal_laneq_s16(m, mn[3], bs, 3);
                m = vmlal_laneq_s16(m, mn[4], bs, 4);
                m = vmlal_laneq_s16(m, mn[5], bs, 5);
                m = vmlal_laneq_s16(m, mn[6], bs, 6);
                m = vmlal_laneq_s16(m, mn[7], bs, 7);
                acc[c].add(vmulq_f32(vmulq_n_f32(d, xd[c]), vcvtq_f32_s32(isum[c])));
                acc[c].sub(vmulq_f32(vmulq_n_f32(dmin, xd[c]), vcvtq_f32_s32(m)));
            }
        }
        store_res<NC>(acc, res);
    }
};

void gemm_q45(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_tiles<TileQ45>(nrows, nc, out, ostride, K, static_cast<const uint8_t *>(panel), static_cast<const uint8_t *>(acts));
}

// ---- Q6_K against Q8_K activations --------------------------------------------------------

constexpr uint64_t kQ6QuadSbBytes = 1024 + 256 + 16;
uint64_t q6_panel_bytes(int64_t K) { return uint64_t(K / 256) * kQuads * kQ6QuadSbBytes; }

// q - 32 (-32..31): in half h, byte l (0..31) of ql[64h..] and ql[64h+32..] and of
// qh[32h..] gives elements 128h + l, + 32, + 64, + 96.
void levels_q6(const BlockQ6_K &b, int8_t *lev) {
    for (int h = 0; h < 2; ++h)
        for (int l = 0; l < 32; ++l) {
            const int ql0 = b.ql[64 * h + l], ql1 = b.ql[64 * h + 32 + l], qh = b.qh[32 * h + l];
            int8_t *o = lev + 128 * h + l;
            o[0] = int8_t(((ql0 & 0x0F) | (qh & 3) << 4) - 32);
            o[32] = int8_t(((ql1 & 0x0F) | ((qh >> 2) & 3) << 4) - 32);
            o[64] = int8_t(((ql0 >> 4) | ((qh >> 4) & 3) << 4) - 32);
            o[96] = int8_t(((ql1 >> 4) | ((qh >> 6) & 3) << 4) - 32);
        }
}

void pack_q6(int64_t K, const void *const *rows, int nrows, void *panel) {
    const int64_t nsb = K / 256;
    uint8_t *p = static_cast<uint8_t *>(panel);
    for (int q = 0; q < kQuads; ++q)
        for (int64_t ib = 0; ib < nsb; ++ib) {
            int8_t lev[4][256] = {};
            int32_t sc[16][4] = {};
            float d[4] = {};
            for (int r = 0; r < 4 && 4 * q + r < nrows; ++r) {
                const BlockQ6_K &b = static_cast<const BlockQ6_K *>(rows[4 * q + r])[ib];
                levels_q6(b, lev[r]);
                for (int j = 0; j < 16; ++j) sc[j][r] = b.scales[j];
                d[r] = half_to_float(b.d);
            }
            uint8_t *rec = p + (q * nsb + ib) * int64_t(kQ6QuadSbBytes);
            interleave4(lev, 256, reinterpret_cast<int8_t *>(rec));
            std::memcpy(rec + 1024, sc, 256);
            std::memcpy(rec + 1280, d, 16);
        }
}

template <int NC> struct TileQ6 {
    static void run(int q, double (*res)[4], int64_t K, const uint8_t *panel, const uint8_t *x) {
        const int64_t nsb = K / 256;
        const uint8_t *p = panel + q * nsb * int64_t(kQ6QuadSbBytes);
        DAcc acc[NC];
        for (int64_t ib = 0; ib < nsb; ++ib, p += kQ6QuadSbBytes, x += kActQ8KBytes) {
            const int8_t *xq = reinterpret_cast<const int8_t *>(x);
            int32x4_t isum[NC];
            for (int c = 0; c < NC; ++c) isum[c] = vdupq_n_s32(0);
            for (int j = 0; j < 16; ++j) { // 16-element sub-blocks: one activation load each
                int8x16_t w[4];
                for (int g = 0; g < 4; ++g) w[g] = vld1q_s8(reinterpret_cast<const int8_t *>(p) + 64 * j + 16 * g);
                const int32x4_t s = vld1q_s32(reinterpret_cast<const int32_t *>(p + 1024) + 4 * j);
                for (int c = 0; c < NC; ++c) {
                    const int8x16_t xv = vld1q_s8(xq + 256 * c + 16 * j);
                    int32x4_t t = vdupq_n_s32(0);
                    for (int g = 0; g < 4; ++g) t = sdot_lane(t, w[g], xv, g);
                    isum[c] = vmlaq_s32(isum[c], t, s);
                }
            }
            const float32x4_t d = vld1q_f32(reinterpret_cast<const float *>(p + 1280));
            const float *xd = reinterpret_cast<const float *>(x + kActQ8KD);
            for (int c = 0; c < NC; ++c) acc[c].add(vmulq_f32(vmulq_n_f32(d, xd[c]), vcvtq_f32_s32(isum[c])));
        }
        store_res<NC>(acc, res);
    }
};

void gemm_q6(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_tiles<TileQ6>(nrows, nc, out, ostride, K, static_cast<const uint8_t *>(panel), static_cast<const uint8_t *>(acts));
}

// ---- F16 / BF16 weights against the widened partner activations ---------------------------

uint64_t f_panel_bytes(int64_t K) { return uint64_t(K) * kRows * 4; }

template <bool BF16> void pack_f(int64_t K, const void *const *rows, int nrows, void *panel) {
    float *p = static_cast<float *>(panel);
    for (int q = 0; q < kQuads; ++q) {
        float *pq = p + q * K * 4;
        for (int r = 0; r < 4; ++r) {
            const uint16_t *h = 4 * q + r < nrows ? static_cast<const uint16_t *>(rows[4 * q + r]) : nullptr;
            int64_t k = 0;
            if (h)
                for (; k + 4 <= K; k += 4) {
                    const uint16x4_t v = vld1_u16(h + k);
                    float32x4_t f;
                    if constexpr (BF16) f = vreinterpretq_f32_u32(vshll_n_u16(v, 16));
                    else f = vcvt_f32_f16(vreinterpret_f16_u16(v));
                    for (int i = 0; i < 4; ++i) pq[(k + i) * 4 + r] = f[i];
                }
            for (; k < K; ++k) {
                float f = 0.0f;
                if (h && BF16) {
                    const uint32_t u = uint32_t(h[k]) << 16;
                    std::memcpy(&f, &u, 4);
                } else if (h) {
                    f = half_to_float(h[k]);
                }
                pq[k * 4 + r] = f;
            }
        }
    }
}

// Float panels are long (K x 64 bytes): the driver runs them in chunks of kFBlock
// elements over all column groups (gemm_range), so a chunk of the panel stays in cache.
constexpr int64_t kFBlock = 1024;

template <int NC> struct TileF {
    static void run(int q, double (*res)[4], int64_t K, int64_t k0, int64_t k1, bool accumulate, const float *panel,
                    const float *x, const float *out, int64_t ostride, int nrows, int64_t nc) {
        const float *p = panel + q * K * 4;
        float32x4_t tot[NC];
        for (int c = 0; c < NC; ++c) {
            tot[c] = vdupq_n_f32(0.0f);
            if (accumulate && c < nc) // (the padding columns have no output)
                for (int r = 0; r < 4 && 4 * q + r < nrows; ++r) tot[c][r] = out[c * ostride + 4 * q + r];
        }
        for (int64_t kb = k0; kb < k1; kb += 16) {
            const int64_t ke = k1 - kb >= 16 ? kb + 16 : k1;
            float32x4_t s[NC];
            for (int c = 0; c < NC; ++c) s[c] = vdupq_n_f32(0.0f);
            for (int64_t k = kb; k < ke; ++k) {
                const float32x4_t w = vld1q_f32(p + 4 * k);
                const float32x4_t x0 = vld1q_f32(x + k * kGemmCols), x1 = vld1q_f32(x + k * kGemmCols + 4);
                for (int c = 0; c < NC; ++c) s[c] = fma_lane(s[c], w, c < 4 ? x0 : x1, c % 4);
            }
            for (int c = 0; c < NC; ++c) tot[c] = vaddq_f32(tot[c], s[c]);
        }
        for (int c = 0; c < NC; ++c) {
            for (int r = 0; r < 4; ++r) res[c][r] = double(tot[c][r]); // exact: stored back as the same float
        }
    }
};

void gemm_f_range(int64_t K, int64_t k0, int64_t k1, bool accumulate, const void *panel, int nrows, const void *acts,
                  int64_t nc, float *out, int64_t ostride) {
    over_tiles<TileF>(nrows, nc, out, ostride, K, k0, k1, accumulate, static_cast<const float *>(panel),
                      static_cast<const float *>(acts), static_cast<const float *>(out), ostride, nrows, nc);
}

void gemm_f(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    gemm_f_range(K, 0, K, false, panel, nrows, acts, nc, out, ostride);
}

bool neon_has_i8mm() {
#if defined(__linux__)
    return (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
#else
    return false;
#endif
}

// A 32-element type's blocked kernel: the SMMLA form (mm) or the SDOT one.
template <class B, void (*LEVELS)(const void *, int8_t *, float &)> GemmKernel b32_kernel(bool mm) {
    if (mm) return {kRows, 0, b32_panel_bytes, pack_b32_mm<B, LEVELS>, gemm_b32_mm, nullptr, 0};
    return {kRows, 0, b32_panel_bytes, pack_b32<B, LEVELS>, gemm_b32, nullptr, 0};
}

} // namespace

bool add_gemm_neon(Kernels &t, bool i8mm) {
    i8mm = i8mm && neon_has_i8mm();
    t.gemm[int(DType::Q4_0)] = b32_kernel<BlockQ4_0, levels_q4_0>(i8mm);
    t.gemm[int(DType::Q5_0)] = b32_kernel<BlockQ5_0, levels_q5_0>(i8mm);
    t.gemm[int(DType::Q8_0)] = b32_kernel<BlockQ8_0, levels_q8_0>(i8mm);
    t.gemm[int(DType::IQ4_NL)] = b32_kernel<BlockIQ4_NL, levels_iq4_nl>(i8mm);
    t.gemm[int(DType::Q4_K)] = {kRows, 0, q45_panel_bytes, pack_q45<false>, gemm_q45, nullptr, 0};
    t.gemm[int(DType::Q5_K)] = {kRows, 0, q45_panel_bytes, pack_q45<true>, gemm_q45, nullptr, 0};
    t.gemm[int(DType::Q6_K)] = {kRows, 0, q6_panel_bytes, pack_q6, gemm_q6, nullptr, 0};
    t.gemm[int(DType::F16)] = {kRows, 0, f_panel_bytes, pack_f<false>, gemm_f, gemm_f_range, kFBlock};
    t.gemm[int(DType::BF16)] = {kRows, 0, f_panel_bytes, pack_f<true>, gemm_f, gemm_f_range, kFBlock};
    return i8mm;
}

} // namespace corvid::cpu::fast
#else
namespace corvid::cpu::fast {
// Not ARM64 with the dot-product flags: no NEON blocked kernels in this build.
bool add_gemm_neon(Kernels &, bool) { return false; }
} // namespace corvid::cpu::fast
#endif
