// AVX-512 helpers that read panel weights (cpu_panels.h), shared by the decode kernels
// (cpu_panel_avx512.cpp) and the prompt packers that take panels (cpu_gemm_avx512.cpp).
// Internal linkage (static) on purpose, as cpu_x86_simd.h explains; include only from files
// compiled with at least AVX-512 F/BW.
#pragma once

#include <cstdint>
#include <immintrin.h>

namespace corvid::cpu::fast::panel512 {

// Byte offsets in one Q4_K panel block (16 rows of one super-block, 2304 bytes): the 16
// d, the 16 dmin (fp16), the 12 scale bytes as 3 dwords of 16 rows, qs dword k of 16 rows.
constexpr int kQ4KD = 0, kQ4KDmin = 32, kQ4KScales = 64, kQ4KQs = 256, kQ4KBlock = 2304;

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

} // namespace corvid::cpu::fast::panel512
