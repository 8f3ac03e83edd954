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
// Register tiles: 4 rows x 4 or 8 columns (8 when the group has more than 4 columns; the
// padding columns of a partial group are zeros, computed and not stored).
//
// Arithmetic, the same as the x86 blocked kernels (cpu_gemm_avx512.cpp) and the NEON dot
// kernels (cpu_matmul_neon.cpp), so the results agree with the reference within the
// conformance tolerance:
//   - 32-element types: per block the exact int32 sum(q * x), converted to float
//     (exact: |sum| < 2^24), times (d_w * d_x) rounded to float, by fused multiply-add
//     into a float lane flushed into double every 4 blocks.
// No timings are claimed for these kernels: they are tested under qemu-aarch64
// (scripts/test_neon.sh), where times mean nothing.
#include "cpu/cpu_matmul_fast.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#include <arm_neon.h>

#include <cstring>

namespace corvid::cpu::fast {
namespace {

constexpr int kRows = 16; // weight rows per panel
constexpr int kQuads = kRows / 4;

inline float half_to_float(uint16_t h) {
    __fp16 f;
    std::memcpy(&f, &h, sizeof f);
    return static_cast<float>(f);
}

inline int8x16_t s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

// Double lanes for the 4 rows of a tile column.
struct DAcc {
    float64x2_t lo = vdupq_n_f64(0.0), hi = vdupq_n_f64(0.0);
    void add(float32x4_t f) {
        lo = vaddq_f64(lo, vcvt_f64_f32(vget_low_f32(f)));
        hi = vaddq_f64(hi, vcvt_high_f64_f32(f));
    }
    void sub(float32x4_t f) {
        lo = vsubq_f64(lo, vcvt_f64_f32(vget_low_f32(f)));
        hi = vsubq_f64(hi, vcvt_high_f64_f32(f));
    }
};

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
    for (int c = 0; c < NC; ++c) {
        vst1q_f64(res[c], acc[c].lo);
        vst1q_f64(res[c] + 2, acc[c].hi);
    }
}

// ---- the 32-element types against Q8_0 activations ----------------------------------------

constexpr uint64_t kB32QuadBlockBytes = 144;
uint64_t b32_panel_bytes(int64_t K) { return uint64_t(K / 32) * kQuads * kB32QuadBlockBytes; }

// The signed levels of one block: elements 0..15 (lo) and 16..31 (hi).
inline void unpack_nibbles(const uint8_t *qs, uint8x16_t &lo, uint8x16_t &hi) {
    const uint8x16_t q = vld1q_u8(qs);
    lo = vandq_u8(q, vdupq_n_u8(0x0F));
    hi = vshrq_n_u8(q, 4);
}
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
    for (int j = 0; j < 16; ++j) {
        lev[j] = int8_t(((b.qs[j] & 0x0F) | ((qh >> j) & 1) << 4) - 16);
        lev[j + 16] = int8_t(((b.qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - 16);
    }
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
                for (int c = 0; c < NC; ++c) acc[c].add(f[c]), f[c] = vdupq_n_f32(0.0f);
        }
        for (int c = 0; c < NC; ++c) acc[c].add(f[c]);
        store_res<NC>(acc, res);
    }
};

void gemm_b32(int64_t K, const void *panel, int nrows, const void *acts, int64_t nc, float *out, int64_t ostride) {
    over_tiles<TileB32>(nrows, nc, out, ostride, K, static_cast<const int8_t *>(panel), static_cast<const uint8_t *>(acts));
}

} // namespace

void add_gemm_neon(Kernels &t) {
    t.gemm[int(DType::Q4_0)] = {kRows, 0, b32_panel_bytes, pack_b32<BlockQ4_0, levels_q4_0>, gemm_b32, nullptr, 0};
    t.gemm[int(DType::Q5_0)] = {kRows, 0, b32_panel_bytes, pack_b32<BlockQ5_0, levels_q5_0>, gemm_b32, nullptr, 0};
    t.gemm[int(DType::Q8_0)] = {kRows, 0, b32_panel_bytes, pack_b32<BlockQ8_0, levels_q8_0>, gemm_b32, nullptr, 0};
    t.gemm[int(DType::IQ4_NL)] = {kRows, 0, b32_panel_bytes, pack_b32<BlockIQ4_NL, levels_iq4_nl>, gemm_b32, nullptr, 0};
}

} // namespace corvid::cpu::fast
#endif
