// The CUDA backend's own arrangement of quantized weights ("planar", Tensor::layout ==
// kLayoutPlanar), made once when a weight is uploaded (CudaBackend::upload_weight).
//
// Why: a decode step streams every weight once through a matrix-vector product, so the
// speed of the step is the speed of those loads. ggml's blocks interleave a 2-byte scale
// with the quants (18 bytes a Q4_0 block, 210 a Q6_K one), so a lane can only read its block
// 2 bytes at a time, and each load of a warp touches 18 sectors that the next 8 loads touch
// again. Planar weights keep the same bytes in separate arrays ("planes"), one per field:
// all the quants of the matrix, then all the scales. A lane then reads its 32 quants as one
// 16-byte load, and a warp's 32 lanes read 512 contiguous bytes.
//
// Layout of a planar matrix of N rows of B blocks (2-D weights only; same size as stored):
//   plane p = bytes [N * B * (sum of the field sizes before p), ...), block (r, b) of
//   plane p at r * B + b, each field_bytes(p) long.
// The fields, per type (one 32-element unit is 32 consecutive elements of a row):
//   Q4_0  qs[16] (as stored: byte j = element j low nibble, j + 16 high) | d (f16)
//   Q8_0  qs[32] (as stored) | d (f16)
//   Q4_K  qs[128]: unit i of the super-block as 16 bytes in Q4_0's nibble order
//         | meta[16]: d, dmin and the 12 packed scale bytes, as stored
//   Q6_K  ql[128]: the low 4 bits of unit i as 16 bytes in Q4_0's nibble order
//         | qh[64]: the high 2 bits of unit i as 8 bytes: byte 4h + k holds those of
//           element 16h + 4s + k at bits 2s (s = 0..3), so that word h shifted right by 2s
//           lines them up with the low nibbles of elements 16h + 4s .. + 3
//         | scales[16] (int8, as stored) | d (f16)
// Values, scales and rounding are ggml's; only the places of the bytes change.
#pragma once

#include "tensor/dtype.h"

#include <cstdint>

namespace corvid::cuda {

constexpr int32_t kLayoutPlanar = 1;
constexpr int kMaxPlanes = 4;
// Longer rows stay in ggml's layout: the decode kernel stages at least two planar rows in
// shared memory (cuda_matvec_q8.cu).
constexpr int64_t kPlanarMaxRowBytes = 32 << 10;

struct PlanarFormat {
    int n_planes;
    int bytes[kMaxPlanes]; // per block, in plane order
};

__host__ __device__ constexpr PlanarFormat planar_format(DType t) {
    switch (t) {
    case DType::Q4_0: return {2, {16, 2, 0, 0}};
    case DType::Q8_0: return {2, {32, 2, 0, 0}};
    case DType::Q4_K: return {2, {128, 16, 0, 0}};
    case DType::Q6_K: return {4, {128, 64, 16, 2}};
    default: return {0, {0, 0, 0, 0}};
    }
}

// Byte offset of plane p in a planar matrix of `blocks` blocks (N * B).
__host__ __device__ constexpr int64_t plane_offset(DType t, int p, int64_t blocks) {
    int64_t before = 0;
    for (int i = 0; i < p; ++i) before += planar_format(t).bytes[i];
    return blocks * before;
}

// Whether the backend stores weights of type t planar (when CORVID_CUDA_PLANAR is not 0).
bool planar_type(DType t);

// Host side: `blocks` consecutive blocks of type t at src (ggml's layout) rewritten as the
// same blocks' fields, plane p's to out[p] (blocks * bytes[p] bytes each).
void planar_pack(DType t, const uint8_t *src, int64_t blocks, uint8_t *const out[kMaxPlanes]);

} // namespace corvid::cuda
