// 256-bit helpers shared by the x86 kernel files: cpu_matmul_x86.inc (compiled as
// cpu_matmul_avx2.cpp and cpu_matmul_avx512.cpp), cpu_gemm_avx2.cpp and cpu_gemm_avx512.cpp.
// Internal linkage (static) on purpose, as for tensor/blocks.h: each includer is compiled
// for its own instruction set, and one shared inline definition could be taken from a file
// built for a wider one. Include only from files compiled with at least -mavx2 -mfma -mf16c.
#pragma once

#include <cstdint>
#include <cstring>
#include <immintrin.h>

namespace corvid::cpu::fast::x86 {

static inline __m256i load256(const void *p) { return _mm256_loadu_si256(static_cast<const __m256i *>(p)); }
static inline __m128i load128(const void *p) { return _mm_loadu_si128(static_cast<const __m128i *>(p)); }
static inline uint32_t load_u32(const void *p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
static inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// 16 bytes of nibbles (byte j: element j low, j + 16 high) -> 32 bytes, elements in order.
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i q = load128(qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

// Bit j of `bits` -> byte j = `value` where set, 0 elsewhere.
static inline __m256i bits_to_bytes(uint32_t bits, char value) {
    const __m256i v = _mm256_set1_epi32(int(bits));
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(v, shuf), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(value));
}

// The levels (0..63) of 4 elements of 8 rows, one dword a row, i = 0..3, from a Q6_K decode
// panel (cpu_panels.h) at `at` (the (half, dword) group's ql, ql + 32 and qh dwords, 64 bytes
// apart, at this 8-row half): ql low nibbles and qh bits 0-1, ql + 32 low and bits 2-3, ql
// high and bits 4-5, ql + 32 high and bits 6-7 (ggml's dequantizer).
static inline void q6_panel_levels(const uint8_t *at, __m256i q[4]) {
    const __m256i a = load256(at), b = load256(at + 64), hb = load256(at + 128);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    q[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(0x03)), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(0x0C)), 2));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4),
                           _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(char(0xC0))), 2));
}

// The signed sub-block scales (6 bits - 32) of 8 rows of a Q3_K decode panel, four a lane
// (sc[t] byte b = the scale of sub-block 4 t + b), from `at` (the block's scale dwords at
// this 8-row half, 64 bytes apart): low nibbles from bytes 0-7, the top two bits from bytes
// 8-11 (ggml's packing).
static inline void q3_panel_scales(const uint8_t *at, __m256i sc[4]) {
    const __m256i d0 = load256(at), d1 = load256(at + 64), d2 = load256(at + 128);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03), c32 = _mm256_set1_epi8(32);
    const __m256i low[4] = {_mm256_and_si256(d0, m4), _mm256_and_si256(d1, m4), _mm256_and_si256(_mm256_srli_epi16(d0, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(d1, 4), m4)};
    for (int t = 0; t < 4; ++t) {
        const __m256i top = _mm256_and_si256(_mm256_srli_epi16(d2, 2 * t), m2);
        sc[t] = _mm256_sub_epi8(_mm256_or_si256(low[t], _mm256_slli_epi16(top, 4)), c32);
    }
}

// The levels (0..7, value - 4) of elements 128 h + 32 s + 4 dq + (0..3) (s = 0..3) of 8 rows
// of a Q3_K decode panel: two bits from shift 2 s of the qs dword at `qs` (dword 8 h + dq),
// the third from bit 4 h + s of the hmask dword at `hm` (dword dq).
static inline void q3_panel_levels(const uint8_t *qs, const uint8_t *hm, int h, __m256i q[4]) {
    const __m256i v = load256(qs), hb = load256(hm);
    const __m256i m2 = _mm256_set1_epi8(0x03), c4 = _mm256_set1_epi8(0x04);
    // Bits 4 h .. 4 h + 3 of each hmask byte at bits 0..3; bit s is moved to bit 2.
    const __m256i hs = h ? _mm256_srli_epi16(hb, 4) : hb;
    const __m256i third[4] = {_mm256_slli_epi16(hs, 2), _mm256_slli_epi16(hs, 1), hs, _mm256_srli_epi16(hs, 1)};
    for (int s = 0; s < 4; ++s)
        q[s] = _mm256_or_si256(_mm256_and_si256(s ? _mm256_srli_epi16(v, 2 * s) : v, m2), _mm256_and_si256(third[s], c4));
}

// Q5_0 / Q5_1 panels, 8 rows (one dword a row): the fifth bits of quant dword j (j = 0..3)
// from the rows' qh dwords (bit i of a row's qh: element i), set as 16 in the low nibbles lo
// (elements 4 j + b: bit 4 (j % 2) + b of qh byte j / 2) and the high ones hi (elements 16 +
// 4 j + b: the same bit of byte 2 + j / 2), by a byte shuffle, a mask and a compare.
static inline void add_fifth_bits(__m256i qh, int j, __m256i &lo, __m256i &hi) {
    const __m256i lane = _mm256_setr_epi32(0, 4 * 0x01010101, 8 * 0x01010101, 12 * 0x01010101, 0, 4 * 0x01010101, 8 * 0x01010101,
                                           12 * 0x01010101);
    const __m256i bits = _mm256_set1_epi32(static_cast<int>(0x08040201u << (4 * (j % 2)))), c16 = _mm256_set1_epi8(16);
    const __m256i bl = _mm256_and_si256(_mm256_shuffle_epi8(qh, _mm256_add_epi8(lane, _mm256_set1_epi8(char(j / 2)))), bits);
    const __m256i bh = _mm256_and_si256(_mm256_shuffle_epi8(qh, _mm256_add_epi8(lane, _mm256_set1_epi8(char(2 + j / 2)))), bits);
    lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(bl, bits), c16));
    hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(bh, bits), c16));
}

} // namespace corvid::cpu::fast::x86
