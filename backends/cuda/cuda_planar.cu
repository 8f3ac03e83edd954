// Host side of the planar weight layout (cuda_planar.cuh): ggml blocks -> planes.
#include "cuda/cuda_planar.cuh"

#include "util/error.h"

#include <cstring>

namespace corvid::cuda {
namespace {

// The 32 values (0..15) of 4-bit unit i of a Q4_K super-block's qs: byte 32 (i / 2) + e,
// low nibble for even i, high for odd.
void q4_k_unit(const uint8_t *qs, int i, uint8_t v[32]) {
    for (int e = 0; e < 32; ++e) v[e] = (qs[32 * (i / 2) + e] >> (4 * (i % 2))) & 0x0F;
}

// The 32 values (0..63) of unit i of a Q6_K super-block (ggml: element 128h + 32k + l takes
// ql[64h + 32(k & 1) + l] >> 4(k / 2) and qh[32h + l] >> 2k).
void q6_k_unit(const uint8_t *ql, const uint8_t *qh, int i, uint8_t v[32]) {
    const int h = i / 4, k = i % 4;
    for (int l = 0; l < 32; ++l) {
        const int lo = (ql[64 * h + 32 * (k & 1) + l] >> (4 * (k / 2))) & 0x0F;
        const int hi = (qh[32 * h + l] >> (2 * k)) & 3;
        v[l] = static_cast<uint8_t>(lo | hi << 4);
    }
}

// 32 values' low nibbles in Q4_0's order: byte j = element j | element j + 16 << 4.
void nibbles_q4_0_order(const uint8_t v[32], uint8_t out[16]) {
    for (int j = 0; j < 16; ++j) out[j] = static_cast<uint8_t>((v[j] & 0x0F) | (v[j + 16] & 0x0F) << 4);
}

} // namespace

bool planar_type(DType t) { return planar_format(t).n_planes > 0; }

void planar_pack(DType t, const uint8_t *src, int64_t blocks, uint8_t *const out[kMaxPlanes]) {
    const PlanarFormat f = planar_format(t);
    const size_t bb = traits(t).block_bytes;
    for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t *s = src + b * bb;
        uint8_t *o[kMaxPlanes];
        for (int p = 0; p < f.n_planes; ++p) o[p] = out[p] + b * f.bytes[p];
        switch (t) {
        case DType::Q4_0:
        case DType::Q8_0: // d, qs -> qs | d
            std::memcpy(o[0], s + 2, bb - 2);
            std::memcpy(o[1], s, 2);
            break;
        case DType::Q4_K: { // d, dmin, scales[12], qs[128] -> qs (reordered) | first 16 bytes
            uint8_t v[32];
            for (int i = 0; i < 8; ++i) {
                q4_k_unit(s + 16, i, v);
                nibbles_q4_0_order(v, o[0] + 16 * i);
            }
            std::memcpy(o[1], s, 16);
            break;
        }
        case DType::Q6_K: { // ql[128], qh[64], scales[16], d -> ql | qh (both reordered) | scales | d
            uint8_t v[32];
            for (int i = 0; i < 8; ++i) {
                q6_k_unit(s, s + 128, i, v);
                nibbles_q4_0_order(v, o[0] + 16 * i);
                for (int half = 0; half < 2; ++half)
                    for (int k = 0; k < 4; ++k) {
                        int byte = 0;
                        for (int sh = 0; sh < 4; ++sh) byte |= ((v[16 * half + 4 * sh + k] >> 4) & 3) << (2 * sh);
                        o[1][8 * i + 4 * half + k] = static_cast<uint8_t>(byte);
                    }
            }
            std::memcpy(o[2], s + 192, 16);
            std::memcpy(o[3], s + 208, 2);
            break;
        }
        default: fail(Status::internal, "cuda: no planar layout for %s", dtype_name(t));
        }
    }
}

} // namespace corvid::cuda
