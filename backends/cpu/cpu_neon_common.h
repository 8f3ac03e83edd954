// Small NEON helpers shared by the ARM64 kernel files (cpu_matmul_neon.cpp: the per-row dot
// kernels; cpu_gemm_neon.cpp: the blocked prompt kernels). Include only where
// <arm_neon.h> is available (aarch64).
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace corvid::cpu::fast::neon {

inline float half_to_float(uint16_t h) {
    __fp16 f;
    std::memcpy(&f, &h, sizeof f);
    return static_cast<float>(f);
}

inline int8x16_t s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

// 16 bytes of nibbles (byte j: element j low, j + 16 high) -> elements 0..15 and 16..31.
inline void unpack_nibbles(const uint8_t *qs, uint8x16_t &lo, uint8x16_t &hi) {
    const uint8x16_t q = vld1q_u8(qs);
    lo = vandq_u8(q, vdupq_n_u8(0x0F));
    hi = vshrq_n_u8(q, 4);
}

// Q5_0 / Q5_1's fifth bit: bit j of qh (little-endian uint32) belongs to element j.
// Returns 0x10 in the bytes of elements 0..15 (lo) and 16..31 (hi) whose bit is set.
inline void high_bits(uint32_t qh, uint8x16_t &lo, uint8x16_t &hi) {
    // Lane i tests bit i % 8 of the byte broadcast into it.
    static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bit = vld1q_u8(kBit), sixteen = vdupq_n_u8(0x10);
    const uint8x16_t b01 = vcombine_u8(vdup_n_u8(uint8_t(qh)), vdup_n_u8(uint8_t(qh >> 8)));
    const uint8x16_t b23 = vcombine_u8(vdup_n_u8(uint8_t(qh >> 16)), vdup_n_u8(uint8_t(qh >> 24)));
    lo = vandq_u8(vtstq_u8(b01, bit), sixteen);
    hi = vandq_u8(vtstq_u8(b23, bit), sixteen);
}

// Float lanes added into double lanes (4 of them), so the float rounding chains stay short
// (the reference accumulates in double; re-quantized activations amplify every last-bit
// difference, see tests/e2e).
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
    // add(f), then f starts a new chain at zero.
    void flush(float32x4_t &f) {
        add(f);
        f = vdupq_n_f32(0.0f);
    }
    double sum() const { return vaddvq_f64(vaddq_f64(lo, hi)); }
    void store(double *out) const { // the 4 lanes
        vst1q_f64(out, lo);
        vst1q_f64(out + 2, hi);
    }
};

} // namespace corvid::cpu::fast::neon
