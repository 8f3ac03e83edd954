// rms_norm (optionally times a weight row, and then the 8-bit or 16-bit form of the product
// that reads it next) as device code, one row a block, for its kernel (cuda_norm_rope.cu).
#pragma once

#include "cuda/cuda_norm_quads.cuh"
#include "cuda/cuda_ops.h"

namespace corvid::cuda {

__device__ inline double block_sum(double v, double *shared) {
    v = warp_sum(v);
    const int w = threadIdx.x / 32, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) shared[w] = v;
    __syncthreads();
    double t = 0.0;
    for (int i = 0; i < static_cast<int>(blockDim.x / 32); ++i) t += shared[i];
    return t;
}

// The form a product reading the result next takes, written by the kernel that makes the
// result (the norm before q/k/v and gate/up), exactly as cuda_activations.cu would make it
// from the stored floats. Q8: 0 none, 32 (Q8_0), 256 (Q8_K). Without h: the 8-bit blocks
// (the integer matvec's input). With h: the values those blocks stand for, or with Q8 0 the
// values themselves, rounded to F16 (BF16 with bf16) at h [rows][n] (cuBLAS's and the F16
// matvec's input).
struct Q8Out {
    int8_t *q; // [rows][n]
    float *d;  // [rows][n / 32]
    int *s;    // [rows][n / 32]: each 32 values' sum
    void *h;
    bool bf16;
};
__device__ __forceinline__ void store_h4(const Q8Out &o, int64_t at, float a, float b, float c, float d) {
    if (o.bf16) {
        const __nv_bfloat162 p0 = __floats2bfloat162_rn(a, b), p1 = __floats2bfloat162_rn(c, d);
        *reinterpret_cast<uint2 *>(static_cast<__nv_bfloat16 *>(o.h) + at) =
            make_uint2(*reinterpret_cast<const uint32_t *>(&p0), *reinterpret_cast<const uint32_t *>(&p1));
    } else {
        const __half2 p0 = __floats2half2_rn(a, b), p1 = __floats2half2_rn(c, d);
        *reinterpret_cast<uint2 *>(static_cast<__half *>(o.h) + at) =
            make_uint2(*reinterpret_cast<const uint32_t *>(&p0), *reinterpret_cast<const uint32_t *>(&p1));
    }
}

// Stores a thread's four 8-bit levels (element 4i of row r) in the form o asks for: the
// levels, and the unit's scale and level sum from its first thread; or with o.h the values
// they stand for.
__device__ __forceinline__ void store_quad(const Q8Out &o, const Quad8 &v, int64_t i, int64_t n, int64_t r) {
    if (o.h) {
        store_h4(o, r * n + 4 * i, v.q.x * v.d, v.q.y * v.d, v.q.z * v.d, v.q.w * v.d);
        return;
    }
    reinterpret_cast<char4 *>(o.q + r * n)[i] = v.q;
    if ((i & 7) == 0) o.d[r * (n / 32) + i / 8] = v.d, o.s[r * (n / 32) + i / 8] = v.sum;
}

// rms_norm, optionally followed by a multiplication with one broadcast row (the norm's
// weight g): both results written in one pass (the plain norm too unless out is null: only
// the mul reads it). V4: rows are 16-byte aligned and n % 4 == 0, read as float4 so that each
// thread has all its loads in flight at once (a decode step's norm is one row: latency,
// not bandwidth, is its cost). With Q8 (MUL and V4 only) the product is also written as
// 8-bit blocks or their values (Q8Out); the loop then runs in whole passes of the block (its barriers) and the
// launcher guarantees blockDim % 64 == 0 for Q8_K.
//
// As device code: row r by the whole block (any size that is a multiple of 32); wait(): the dependency
// on what came before, called once by every thread after the weight g's first loads.
template <bool MUL, bool V4, int Q8, typename Wait>
__device__ __forceinline__ void rms_norm_row(const uint8_t *x, RowMap xm, float *out, float *out2, const float *g,
                                             int64_t n, float eps, const Q8Out &q8, int64_t r, Wait wait) {
    // The thread's first float4 of g and of x, loaded before the reduction (a decode row is
    // one float4 per thread: the second pass then reads only registers, and g's load, cold
    // in DRAM, overlaps the sum instead of following it). g is a weight: read before the
    // wait, so that it overlaps the previous kernel too when launches are dependent.
    const bool live0 = V4 && threadIdx.x < n / 4;
    const float4 zero4 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    const float4 g0 = MUL && live0 ? reinterpret_cast<const float4 *>(g)[threadIdx.x] : zero4;
    wait();
    __shared__ double sh[1024 / 32];
    const float *xr = reinterpret_cast<const float *>(x + xm.offset(r));
    float *o = out ? out + r * n : nullptr, *o2 = MUL ? out2 + r * n : nullptr;
    double s = 0.0;
    const float4 x0 = live0 ? reinterpret_cast<const float4 *>(xr)[threadIdx.x] : zero4;
    if constexpr (V4) {
        const float4 *x4 = reinterpret_cast<const float4 *>(xr);
#pragma unroll 4
        for (int64_t i = threadIdx.x; i < n / 4; i += blockDim.x) {
            const float4 v = i == threadIdx.x ? x0 : x4[i];
            s += static_cast<double>(v.x) * v.x + static_cast<double>(v.y) * v.y + static_cast<double>(v.z) * v.z +
                 static_cast<double>(v.w) * v.w;
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += static_cast<double>(xr[i]) * xr[i];
    }
    s = block_sum(s, sh);
    const float mean = static_cast<float>(s / n);
    const float sc = 1.0f / sqrtf(mean + eps);
    if constexpr (V4 && Q8 != 0) {
        static_assert(MUL, "8-bit output is of the product");
        __shared__ Q8kShared s_k;
        const float4 *x4 = reinterpret_cast<const float4 *>(xr);
        for (int64_t base = 0; base < n / 4; base += blockDim.x) {
            const int64_t i = base + threadIdx.x;
            const bool live = i < n / 4;
            float4 z = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (live) {
                const float4 v = base == 0 ? x0 : x4[i];
                const float4 y = make_float4(v.x * sc, v.y * sc, v.z * sc, v.w * sc);
                if (out) reinterpret_cast<float4 *>(o)[i] = y;
                const float4 w = base == 0 ? g0 : reinterpret_cast<const float4 *>(g)[i];
                z = make_float4(y.x * w.x, y.y * w.y, y.z * w.z, y.w * w.w);
                reinterpret_cast<float4 *>(o2)[i] = z;
            }
            // n % 32 == 0: a unit's 8 threads are all live or none (Q8_K: every thread calls).
            if constexpr (Q8 == 32) {
                const Quad8 v = quad_q8_0(z);
                if (live) store_quad(q8, v, i, n, r);
            } else {
                const Quad8 v = quad_q8_k(z, i, live, s_k);
                if (live) store_quad(q8, v, i, n, r);
            }
        }
    } else if constexpr (V4) {
        const float4 *x4 = reinterpret_cast<const float4 *>(xr);
#pragma unroll 4
        for (int64_t i = threadIdx.x; i < n / 4; i += blockDim.x) {
            const float4 v = i == threadIdx.x ? x0 : x4[i];
            const float4 y = make_float4(v.x * sc, v.y * sc, v.z * sc, v.w * sc);
            if (out) reinterpret_cast<float4 *>(o)[i] = y;
            if constexpr (MUL) {
                const float4 w = i == threadIdx.x ? g0 : reinterpret_cast<const float4 *>(g)[i];
                const float4 z = make_float4(y.x * w.x, y.y * w.y, y.z * w.z, y.w * w.w);
                reinterpret_cast<float4 *>(o2)[i] = z;
                if (q8.h) store_h4(q8, r * n + 4 * i, z.x, z.y, z.z, z.w); // plain rounding (Q8 is 0 here)
            }
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            const float v = xr[i] * sc;
            if (out) o[i] = v;
            if constexpr (MUL) o2[i] = v * g[i];
        }
    }
}

} // namespace corvid::cuda
