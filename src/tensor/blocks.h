// In-memory layouts of the quantized blocks, byte-for-byte as GGUF files and ggml store them.
//
// Every multi-byte field is little-endian. `uint16_t d`-style fields hold IEEE fp16 bits
// (see fp16.h); Q8_K alone keeps its scale as a float32. The arrays are sized so that
// the structs have no padding; the static_asserts pin the sizes to the ones in
// dtype.cpp's table.
#pragma once

#include <cstdint>
#include <cstring>

namespace corvid {

// Elements per block of the "legacy" formats and of the K/IQ super-blocks.
inline constexpr int kQK32 = 32;  // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL
inline constexpr int kQK_K = 256; // Q2_K .. Q8_K, IQ4_XS
inline constexpr int kKScaleBytes = 12; // packed 6-bit scales/mins of Q4_K and Q5_K

// The packed sub-block scales, read the same way by the reference and by every kernel.
// Internal linkage (static) on purpose: the kernel files are compiled for different
// instruction sets, and a single inline definition could be taken from any of them.

// Q4_K / Q5_K: the 6-bit scale and min of sub-block j (0..7) of the 12 packed bytes: scale
// (low) and min (high) 0-3 in bytes 0-7, 4-7 in the nibbles of bytes 8-11 with their top 2
// bits in bits 6-7 of bytes 0-3 / 4-7.
static inline void k4_scale_min(const uint8_t *q, int j, int &sc, int &mn) {
    if (j < 4) {
        sc = q[j] & 63;
        mn = q[j + 4] & 63;
    } else {
        sc = (q[j + 4] & 0x0F) | (q[j - 4] >> 6) << 4;
        mn = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

// All 8 scales and mins at once (k4_scale_min for j = 0..7), by whole 32-bit words.
static inline void k4_scales_mins(const uint8_t *q, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t u[3];
    std::memcpy(u, q, 12);
    const uint32_t s_lo = u[0] & 0x3F3F3F3F, m_lo = u[1] & 0x3F3F3F3F;
    const uint32_t s_hi = (u[2] & 0x0F0F0F0F) | ((u[0] >> 6) & 0x03030303) << 4;
    const uint32_t m_hi = ((u[2] >> 4) & 0x0F0F0F0F) | ((u[1] >> 6) & 0x03030303) << 4;
    std::memcpy(sc, &s_lo, 4), std::memcpy(sc + 4, &s_hi, 4);
    std::memcpy(mn, &m_lo, 4), std::memcpy(mn + 4, &m_hi, 4);
}

// Q3_K: the 6-bit scale of sub-block j (0..15), still biased by 32: low nibbles of 0-7 in
// bytes 0-7, of 8-15 in their high halves; the top 2 bits in bits 2*(j/4) of byte 8 + j%4.
static inline int q3_k_scale(const uint8_t *q, int j) {
    const int low = j < 8 ? (q[j] & 0x0F) : (q[j - 8] >> 4);
    const int high = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
    return low | high << 4;
}

// Q4_0: x = d * (q - 8), q in 0..15. qs[j] holds element j (low nibble) and j+16 (high nibble).
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[kQK32 / 2];
};

// Q4_1: x = d * q + m, q in 0..15, nibbles arranged as in Q4_0.
struct BlockQ4_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qs[kQK32 / 2];
};

// Q5_0: x = d * (q - 16), q in 0..31. Low 4 bits as in Q4_0; bit 4 of element j is bit j of qh
// (qh is a little-endian uint32 stored as bytes because the block is only 2-byte aligned).
struct BlockQ5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[kQK32 / 2];
};

// Q5_1: x = d * q + m, q in 0..31, bits arranged as in Q5_0.
struct BlockQ5_1 {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[kQK32 / 2];
};

// Q8_0: x = d * q, q in -127..127.
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[kQK32];
};

// Q8_1: as Q8_0 plus s = d * sum(q) (an fp16, like d), used by dot products against Q4_1/Q5_1.
// 36 bytes: this is ggml's layout (gguf-py's size table says 40, which is stale).
struct BlockQ8_1 {
    uint16_t d;
    uint16_t s;
    int8_t qs[kQK32];
};

// Q2_K: 16 sub-blocks of 16. scales[j] = scale (low nibble) | min (high nibble) of sub-block j;
// x = d * scale * q - dmin * min, q in 0..3. Quant packing: see quant_k.cpp.
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];
    uint8_t qs[kQK_K / 4];
    uint16_t d;
    uint16_t dmin;
};

// Q3_K: 16 sub-blocks of 16, signed 6-bit scales (12 bytes: 16 low nibbles + 16 high bit pairs),
// x = d * (scale - 32) * (q - 4), q in 0..7: 2 low bits in qs, the third bit in hmask.
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];
    uint8_t qs[kQK_K / 4];
    uint8_t scales[12];
    uint16_t d;
};

// Q4_K: 8 sub-blocks of 32, 6-bit scale and min per sub-block packed into 12 bytes,
// x = d * scale * q - dmin * min, q in 0..15.
struct BlockQ4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qs[kQK_K / 2];
};

// Q5_K: as Q4_K with a fifth quant bit in qh, q in 0..31.
struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};

// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales, x = d * scale * (q - 32), q in 0..63:
// low 4 bits in ql, high 2 bits in qh.
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    uint16_t d;
};

// Q8_K: x = d * q with a float32 d; bsums[j] = sum of q over elements 16j..16j+15.
// Only used for activations (the other side of K-quant dot products).
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];
};

// IQ4_NL: x = d * kIQ4NLValues[q], q in 0..15, nibbles arranged as in Q4_0.
struct BlockIQ4_NL {
    uint16_t d;
    uint8_t qs[kQK32 / 2];
};

// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l, high 2 bits in
// scales_h), x = d * (scale - 32) * kIQ4NLValues[q]; each sub-block's nibbles as in IQ4_NL.
struct BlockIQ4_XS {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[kQK_K / 64];
    uint8_t qs[kQK_K / 2];
};

// The 16 non-uniform levels of IQ4_NL / IQ4_XS (denser near zero).
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block size");
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block size");
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block size");
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block size");
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block size");
static_assert(sizeof(BlockQ8_1) == 36, "Q8_1 block size");
static_assert(sizeof(BlockQ2_K) == 84, "Q2_K block size");
static_assert(sizeof(BlockQ3_K) == 110, "Q3_K block size");
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block size");
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block size");
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block size");
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block size");
static_assert(sizeof(BlockIQ4_NL) == 18, "IQ4_NL block size");
static_assert(sizeof(BlockIQ4_XS) == 136, "IQ4_XS block size");

} // namespace corvid
