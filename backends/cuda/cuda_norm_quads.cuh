// The activations' 8-bit blocks made four values (one float4) a thread, as the norm kernel
// (cuda_norm_rope.cu) makes them beside its result, bit for bit what cuda_activations.cu's
// conversion kernels make from the stored floats. A kernel that makes a product's input
// itself must use these to give the same bits.
#pragma once

#include "cuda/cuda_common.cuh"

namespace corvid::cuda {

// Four of a row's 8-bit levels (elements 4i .. 4i + 3), the scale of their 32-value unit
// and the sum of the unit's levels.
struct Quad8 {
    char4 q;
    float d;
    int sum;
};

// Q8_0 of the four values a thread holds (element 4i of the row): a 32-value unit is 8
// consecutive lanes. Every lane of the warp calls it (the shuffles), the same way as the
// reference quantizer and cuda_activations.cu's q8_0_kernel: d = fp16(amax / 127).
__device__ __forceinline__ Quad8 quad_q8_0(float4 v) {
    float a = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
#pragma unroll
    for (int m = 1; m < 8; m <<= 1) a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, m));
    float d16;
    const float id = q8_0_scale(a, d16);
    const char4 q = make_char4(static_cast<signed char>(roundf(v.x * id)), static_cast<signed char>(roundf(v.y * id)),
                               static_cast<signed char>(roundf(v.z * id)), static_cast<signed char>(roundf(v.w * id)));
    return Quad8{q, d16, sum8_int(static_cast<int>(q.x) + q.y + q.z + q.w)};
}

// The value of largest magnitude, first on ties, over a warp: (|v|, index, v).
__device__ __forceinline__ void warp_argmax(float &a, int &idx, float &val) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float a2 = __shfl_xor_sync(0xffffffffu, a, o), v2 = __shfl_xor_sync(0xffffffffu, val, o);
        const int i2 = __shfl_xor_sync(0xffffffffu, idx, o);
        if (a2 > a || (a2 == a && i2 < idx)) a = a2, idx = i2, val = v2;
    }
}

// Shared memory for quad_q8_k: one entry a warp (blocks of up to 1024 threads).
struct Q8kShared {
    float a[32], v[32];
    int i[32];
};

// Q8_K of the four values a thread holds (element 4i of the row, live: i is in the row): a
// 256-value super-block is 64 consecutive threads, two warps. Every thread of the block
// calls it (two barriers; blockDim.x % 64 == 0). As the reference: the value of largest
// magnitude (first on ties) sets iscale = -127 / max; q = min(127, nearest(iscale * x));
// d = 1 / iscale for each of the super-block's 32-value units.
__device__ __forceinline__ Quad8 quad_q8_k(float4 z, int64_t i, bool live, Q8kShared &sh) {
    const float zs[4] = {z.x, z.y, z.z, z.w};
    float a = -1.0f, val = 0.0f;
    int idx = 0;
#pragma unroll
    for (int e = 0; e < 4; ++e)
        if (fabsf(zs[e]) > a) a = fabsf(zs[e]), idx = static_cast<int>(4 * i + e), val = zs[e];
    warp_argmax(a, idx, val);
    const int w = threadIdx.x / 32;
    if ((threadIdx.x & 31) == 0) sh.a[w] = a, sh.i[w] = idx, sh.v[w] = val;
    __syncthreads();
    const int w0 = w & ~1; // the pair of warps of this super-block
    float ga = sh.a[w0], gv = sh.v[w0];
    int gi = sh.i[w0];
    if (sh.a[w0 + 1] > ga || (sh.a[w0 + 1] == ga && sh.i[w0 + 1] < gi)) ga = sh.a[w0 + 1], gi = sh.i[w0 + 1], gv = sh.v[w0 + 1];
    __syncthreads(); // sh is rewritten by the next call
    int qv[4] = {0, 0, 0, 0};
    float d = 0.0f;
    if (live && ga != 0.0f) {
        const float iscale = -127.0f / gv;
#pragma unroll
        for (int e = 0; e < 4; ++e) qv[e] = min(127, __float2int_rn(iscale * zs[e]));
        d = 1.0f / iscale;
    }
    const int sum = sum8_int(qv[0] + qv[1] + qv[2] + qv[3]); // every lane: the shuffles
    return Quad8{make_char4(static_cast<signed char>(qv[0]), static_cast<signed char>(qv[1]),
                            static_cast<signed char>(qv[2]), static_cast<signed char>(qv[3])),
                 d, sum};
}

} // namespace corvid::cuda
