// AVX-512 helpers that read panel weights (cpu_panels.h), shared by the decode kernels
// (cpu_panel_avx512.cpp) and the prompt packers that take panels (cpu_gemm_avx512.cpp).
// Internal linkage (static) on purpose, as cpu_x86_simd.h explains; include only from files
// compiled with at least AVX-512 F/BW.
#pragma once

#include "cpu/cpu_matmul_fast.h"

#include <cstdint>
#include <immintrin.h>

namespace corvid::cpu::fast::panel512 {


// The 16 rows' 6-bit sub-block scales and mins of a Q4_K panel block (p: its first byte),
// four a lane: sc_lo byte j = scale j, sc_hi byte j = scale 4 + j, m_lo / m_hi the mins
// (ggml's get_scale_min_k4, for 16 rows at once).
struct K4Scales {
    __m512i sc_lo, sc_hi, m_lo, m_hi;
};
static inline K4Scales k4_scales(const uint8_t *p) {
    const __m512i d0 = _mm512_loadu_si512(p + kQ4KScales), d1 = _mm512_loadu_si512(p + kQ4KScales + 64),
                  d2 = _mm512_loadu_si512(p + kQ4KScales + 128);
    const __m512i m6 = _mm512_set1_epi8(0x3F), m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    K4Scales s;
    s.sc_lo = _mm512_and_si512(d0, m6);
    s.m_lo = _mm512_and_si512(d1, m6);
    // Scales 4..7: the low nibble of bytes 8..11 and the top two bits of bytes 0..3 (the
    // dword shifted by 2 puts them at bits 4, 5 of the same byte); mins: the high nibble of
    // bytes 8..11 and the top two bits of bytes 4..7.
    s.sc_hi = _mm512_or_si512(_mm512_and_si512(d2, m4), _mm512_and_si512(_mm512_srli_epi32(d0, 2), m30));
    s.m_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(d2, 4), m4), _mm512_and_si512(_mm512_srli_epi32(d1, 2), m30));
    return s;
}

// Byte j (0..3) of every lane, as an int32 lane.
template <int J> static inline __m512i lane_byte(__m512i v) {
    if constexpr (J == 3) return _mm512_srli_epi32(v, 24);
    else return _mm512_and_si512(_mm512_srli_epi32(v, 8 * J), _mm512_set1_epi32(0xFF));
}

// Byte j (0..3) of every lane, sign-extended to an int32 lane.
template <int J> static inline __m512i lane_sbyte(__m512i v) {
    if constexpr (J == 3) return _mm512_srai_epi32(v, 24);
    else return _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * J), 24);
}

// Panel block sizes (the offsets inside are cpu_matmul_fast.h's).
constexpr int kQ2KBlock = 1344, kQ3KBlock = 1760, kQ4KBlock = 2304, kQ5KBlock = 2816, kQ6Block = 3360;

// The 16 rows' signed Q3_K sub-block scales (6 bits - 32) of a Q3_K panel block p, four a
// lane: sc[t] byte b = the scale of sub-block 4 t + b (low nibbles from bytes 0-7, the top
// two bits from bytes 8-11 of the stored 12, as ggml packs them).
static inline void q3_scales(const uint8_t *p, __m512i sc[4]) {
    const __m512i d0 = _mm512_loadu_si512(p + kQ3KScales), d1 = _mm512_loadu_si512(p + kQ3KScales + 64),
                  d2 = _mm512_loadu_si512(p + kQ3KScales + 128);
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x03), c32 = _mm512_set1_epi8(32);
    const __m512i low[4] = {_mm512_and_si512(d0, m4), _mm512_and_si512(d1, m4), _mm512_and_si512(_mm512_srli_epi16(d0, 4), m4),
                            _mm512_and_si512(_mm512_srli_epi16(d1, 4), m4)};
    sc[0] = _mm512_sub_epi8(_mm512_or_si512(low[0], _mm512_slli_epi16(_mm512_and_si512(d2, m2), 4)), c32);
    sc[1] = _mm512_sub_epi8(_mm512_or_si512(low[1], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(d2, 2), m2), 4)), c32);
    sc[2] = _mm512_sub_epi8(_mm512_or_si512(low[2], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(d2, 4), m2), 4)), c32);
    sc[3] = _mm512_sub_epi8(_mm512_or_si512(low[3], _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(d2, 6), m2), 4)), c32);
}

// The levels (0..7) of elements 128 h + 32 s + 4 dq + (0..3) of the 16 rows of a Q3_K panel
// block p (s = 0..3): two bits from shift 2 s of qs dword 8 h + dq, the third from bit 4 h +
// s of hmask dword dq.
static inline void q3_levels(const uint8_t *p, int h, int dq, __m512i q[4]) {
    const __m512i v = _mm512_loadu_si512(p + kQ3KQs + 64 * (8 * h + dq)), hb = _mm512_loadu_si512(p + kQ3KHmask + 64 * dq);
    const __m512i m2 = _mm512_set1_epi8(0x03), c4 = _mm512_set1_epi8(4);
    const __m512i two[4] = {_mm512_and_si512(v, m2), _mm512_and_si512(_mm512_srli_epi16(v, 2), m2),
                            _mm512_and_si512(_mm512_srli_epi16(v, 4), m2), _mm512_and_si512(_mm512_srli_epi16(v, 6), m2)};
    for (int s = 0; s < 4; ++s) {
        const __m512i bit = _mm512_set1_epi8(static_cast<char>(1 << (4 * h + s)));
        q[s] = _mm512_mask_add_epi8(two[s], _mm512_test_epi8_mask(hb, bit), two[s], c4);
    }
}

// The levels (0..63) of elements 128 h + 4 l4 + (0..3) + 32 i (i = 0..3) of the 16 rows of a
// Q6_K panel block p, as ggml's dequantizer puts them together (ql low nibbles and qh bits
// 0-1, ql + 32 low and qh bits 2-3, ql high and bits 4-5, ql + 32 high and bits 6-7).
static inline void q6_levels(const uint8_t *p, int h, int l4, __m512i q[4]) {
    const uint8_t *at = p + kQ6Data + 192 * (8 * h + l4);
    const __m512i a = _mm512_loadu_si512(at), b = _mm512_loadu_si512(at + 64), hb = _mm512_loadu_si512(at + 128);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    q[0] = _mm512_or_si512(_mm512_and_si512(a, m4), _mm512_slli_epi16(_mm512_and_si512(hb, _mm512_set1_epi8(0x03)), 4));
    q[1] = _mm512_or_si512(_mm512_and_si512(b, m4), _mm512_slli_epi16(_mm512_and_si512(hb, _mm512_set1_epi8(0x0C)), 2));
    q[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), m4), _mm512_and_si512(hb, _mm512_set1_epi8(0x30)));
    q[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(b, 4), m4),
                           _mm512_srli_epi16(_mm512_and_si512(hb, _mm512_set1_epi8(char(0xC0))), 2));
}

// Q5_0 / Q5_1 panels: the fifth bits of quant dword j (j = 0..3) of the 16 rows, from their
// qh dwords (bit i of a row's qh: element i), added as 16 to the low nibbles lo (elements 4 j
// + b: bit 4 (j % 2) + b of qh byte j / 2) and the high ones hi (elements 16 + 4 j + b: the same
// bit of byte 2 + j / 2). Each row's byte is spread over its lane by a shuffle and tested
// against one bit a byte.
static inline void add_fifth_bits(__m512i qh, int j, __m512i &lo, __m512i &hi) {
    const __m512i lane = _mm512_set_epi32(12 * 0x01010101, 8 * 0x01010101, 4 * 0x01010101, 0, 12 * 0x01010101, 8 * 0x01010101,
                                          4 * 0x01010101, 0, 12 * 0x01010101, 8 * 0x01010101, 4 * 0x01010101, 0, 12 * 0x01010101,
                                          8 * 0x01010101, 4 * 0x01010101, 0);
    const __m512i bits = _mm512_set1_epi32(static_cast<int>(0x08040201u << (4 * (j % 2)))), c16 = _mm512_set1_epi8(16);
    const __m512i at_lo = _mm512_add_epi8(lane, _mm512_set1_epi8(static_cast<char>(j / 2)));
    const __m512i at_hi = _mm512_add_epi8(lane, _mm512_set1_epi8(static_cast<char>(2 + j / 2)));
    lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, at_lo), bits), lo, c16);
    hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, at_hi), bits), hi, c16);
}
} // namespace corvid::cpu::fast::panel512
