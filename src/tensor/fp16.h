// Scalar conversions between float32 and the two 16-bit float formats GGUF uses.
//
//   * fp16: IEEE 754 binary16, round-to-nearest-even. Overflow goes to +-inf,
//     values below half the smallest subnormal go to +-0, subnormals are exact.
//     Any NaN becomes the canonical quiet NaN 0x7E00 (sign kept); its payload is
//     dropped. This is what ggml's portable conversion does (numpy agrees on every
//     input except NaNs with a payload, which numpy keeps).
//   * bf16: the upper half of a float32, round-to-nearest-even; NaNs keep their
//     upper bits and get the quiet bit forced on; subnormals are not flushed.
//
// The widening conversions are exact; fp16 NaNs come out quiet (as ggml's do).
// These are the references every vectorised conversion is tested against.
#pragma once

#include <cstdint>
#include <cstring>

namespace corvid {

inline uint32_t fp32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

inline float fp32_from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline uint16_t fp32_to_fp16(float f) {
    const uint32_t x = fp32_bits(f);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7FFFFFFFu;

    if (ax > 0x7F800000u) return sign | 0x7E00u;  // NaN
    if (ax >= 0x477FF000u) return sign | 0x7C00u; // >= 65520 rounds to 65536 or beyond: inf

    const int exp = static_cast<int>(ax >> 23) - 127; // unbiased float exponent
    const uint32_t mant = ax & 0x007FFFFFu;

    if (exp >= -14) {
        // Normal half: keep the top 10 mantissa bits, round on the 13 dropped ones.
        // A carry out of the mantissa correctly bumps the exponent.
        uint32_t h = (static_cast<uint32_t>(exp + 15) << 10) | (mant >> 13);
        const uint32_t rest = mant & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
        return static_cast<uint16_t>(sign | h);
    }
    if (exp < -25) return sign; // below 2^-25: rounds to zero (float subnormals included)

    // Subnormal half, in units of 2^-24: value = (1.mant) * 2^exp = m * 2^(exp + 1) units,
    // with m the 24-bit significand, so shift right by -(exp + 1) (14..24) and round.
    const uint32_t m = mant | 0x00800000u;
    const int shift = -(exp + 1);
    uint32_t h = m >> shift;
    const uint32_t rest = m & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (h & 1u))) ++h; // may become 0x400: the smallest normal
    return static_cast<uint16_t>(sign | h);
}

inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x03FFu;

    if (exp == 0x1F) // inf, or NaN made quiet
        return fp32_from_bits(sign | 0x7F800000u | (mant << 13) | (mant ? 0x00400000u : 0u));
    if (exp != 0) return fp32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return fp32_from_bits(sign);

    // Subnormal half: normalise (the result is a normal float).
    int e = -14;
    while ((mant & 0x0400u) == 0) {
        mant <<= 1;
        --e;
    }
    mant &= 0x03FFu;
    return fp32_from_bits(sign | (static_cast<uint32_t>(e + 127) << 23) | (mant << 13));
}

inline uint16_t fp32_to_bf16(float f) {
    const uint32_t x = fp32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u); // NaN: force quiet
    // Round to nearest even on the 16 dropped bits; a carry ripples into the exponent (up to inf).
    return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

inline float bf16_to_fp32(uint16_t h) { return fp32_from_bits(static_cast<uint32_t>(h) << 16); }

} // namespace corvid
