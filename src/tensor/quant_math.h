// Internal helpers shared by the reference quantizers (not part of the public API).
#pragma once

#include <cstdint>
#include <cstring>

namespace corvid::quant {

// Rounds to the nearest integer, ties to even, the way ggml does: adding 1.5 * 2^23
// makes the float unit round the value into the low mantissa bits. Exact for
// |v| < 2^22; larger inputs give a deterministic wrong answer (identical to ggml's).
inline int nearest_int(float v) {
    const float biased = v + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &biased, sizeof bits);
    return (bits & 0x007FFFFF) - 0x00400000;
}

// Index of the entry of the sorted table values[0..n) nearest to x; on an exact tie
// between two neighbours the upper one wins.
inline int best_index(int n, const int8_t *values, float x) {
    if (x <= values[0]) return 0;
    if (x >= values[n - 1]) return n - 1;
    int lo = 0, hi = n - 1; // invariant: values[lo] <= x < values[hi]
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (x < values[mid])
            hi = mid;
        else
            lo = mid;
    }
    return x - values[lo] < values[hi] - x ? lo : hi;
}

// Blocks are copied in and out with memcpy so callers' buffers need no alignment.
template <typename Block> inline Block load_block(const void *src, int64_t i) {
    Block b;
    std::memcpy(&b, static_cast<const uint8_t *>(src) + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
    return b;
}

template <typename Block> inline void store_block(void *dst, int64_t i, const Block &b) {
    std::memcpy(static_cast<uint8_t *>(dst) + i * static_cast<int64_t>(sizeof(Block)), &b, sizeof(Block));
}

} // namespace corvid::quant
