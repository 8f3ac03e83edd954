// Weights x a few columns of 8-bit activations with integer dot products (dp4a): the
// decode path for the common quantized types. As in cuda_matvec.cu one warp owns a
// weight row and each lane whole 32-element units, but the unit's quants stay packed
// integers: 4 products per instruction, and the activations move 4x fewer bytes. The
// scales (and the -8 / -32 / min offsets, through sum(q_x)) are applied once per unit.
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_quant.cuh"

#include <cstdlib>

namespace corvid::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kOnes = 0x01010101;

__device__ __forceinline__ uint32_t ld_u32(const uint8_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

template <DType T> __device__ __forceinline__ float dot_q8(const uint8_t *row, int u, const int *a, float da);

template <> __device__ __forceinline__ float dot_q8<DType::Q4_0>(const uint8_t *row, int u, const int *a, float da) {
    const uint8_t *b = row + static_cast<int64_t>(u) * 18;
    const float d = h2f(ld_u16(b));
    int sumi = 0, suma = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t w = ld_u32_a2(b + 2 + 4 * i);
        sumi = __dp4a(static_cast<int>(w & 0x0F0F0F0Fu), a[i], sumi);
        sumi = __dp4a(static_cast<int>((w >> 4) & 0x0F0F0F0Fu), a[4 + i], sumi);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) suma = __dp4a(kOnes, a[i], suma);
    return d * da * static_cast<float>(sumi - 8 * suma);
}
template <> __device__ __forceinline__ float dot_q8<DType::Q4_1>(const uint8_t *row, int u, const int *a, float da) {
    const uint8_t *b = row + static_cast<int64_t>(u) * 20;
    const float d = h2f(ld_u16(b)), m = h2f(ld_u16(b + 2));
    int sumi = 0, suma = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t w = ld_u32(b + 4 + 4 * i);
        sumi = __dp4a(static_cast<int>(w & 0x0F0F0F0Fu), a[i], sumi);
        sumi = __dp4a(static_cast<int>((w >> 4) & 0x0F0F0F0Fu), a[4 + i], sumi);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) suma = __dp4a(kOnes, a[i], suma);
    return da * (d * static_cast<float>(sumi) + m * static_cast<float>(suma));
}
template <> __device__ __forceinline__ float dot_q8<DType::Q8_0>(const uint8_t *row, int u, const int *a, float da) {
    const uint8_t *b = row + static_cast<int64_t>(u) * 34;
    const float d = h2f(ld_u16(b));
    int sumi = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) sumi = __dp4a(static_cast<int>(ld_u32_a2(b + 2 + 4 * i)), a[i], sumi);
    return d * da * static_cast<float>(sumi);
}
template <> __device__ __forceinline__ float dot_q8<DType::Q4_K>(const uint8_t *row, int u, const int *a, float da) {
    const uint8_t *b = row + static_cast<int64_t>(u >> 3) * 144;
    const int i = u & 7;
    const float d = h2f(ld_u16(b)), dmin = h2f(ld_u16(b + 2));
    int sc, mn;
    k4_scale_min(b + 4, i, sc, mn);
    const uint4 *qp = reinterpret_cast<const uint4 *>(b + 16 + 32 * (i / 2));
    const uint4 q0 = qp[0], q1 = qp[1];
    const uint32_t w[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
    const int shift = 4 * (i & 1);
    int sumi = 0, suma = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        sumi = __dp4a(static_cast<int>((w[j] >> shift) & 0x0F0F0F0Fu), a[j], sumi);
        suma = __dp4a(kOnes, a[j], suma);
    }
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
    return da * (dl * static_cast<float>(sumi) - ml * static_cast<float>(suma));
}
template <> __device__ __forceinline__ float dot_q8<DType::Q5_K>(const uint8_t *row, int u, const int *a, float da) {
    const uint8_t *b = row + static_cast<int64_t>(u >> 3) * 176;
    const int i = u & 7;
    const float d = h2f(ld_u16(b)), dmin = h2f(ld_u16(b + 2));
    int sc, mn;
    k4_scale_min(b + 4, i, sc, mn);
    const uint4 *hp = reinterpret_cast<const uint4 *>(b + 16);
    const uint4 *qp = reinterpret_cast<const uint4 *>(b + 48 + 32 * (i / 2));
    const uint4 q0 = qp[0], q1 = qp[1], h0 = hp[0], h1 = hp[1];
    const uint32_t w[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
    const uint32_t h[8] = {h0.x, h0.y, h0.z, h0.w, h1.x, h1.y, h1.z, h1.w};
    const int shift = 4 * (i & 1);
    int sumi = 0, suma = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const uint32_t q = ((w[j] >> shift) & 0x0F0F0F0Fu) | (((h[j] >> i) & 0x01010101u) << 4);
        sumi = __dp4a(static_cast<int>(q), a[j], sumi);
        suma = __dp4a(kOnes, a[j], suma);
    }
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
    return da * (dl * static_cast<float>(sumi) - ml * static_cast<float>(suma));
}
template <> __device__ __forceinline__ float dot_q8<DType::Q6_K>(const uint8_t *row, int u, const int *a, float da) {
    const uint8_t *b = row + static_cast<int64_t>(u >> 3) * 210;
    const int i = u & 7, h = i / 4, k = i % 4;
    const uint8_t *ql = b + 64 * h + (k & 1) * 32, *qh = b + 128 + 32 * h;
    const int lshift = k < 2 ? 0 : 4;
    const float d = h2f(ld_u16(b + 208));
    const int8_t *scales = reinterpret_cast<const int8_t *>(b + 192 + 2 * i);
    float r = 0.0f;
#pragma unroll
    for (int s = 0; s < 2; ++s) {
        int sumi = 0, suma = 0;
#pragma unroll
        for (int j = 4 * s; j < 4 * s + 4; ++j) {
            const uint32_t lo = (ld_u32_a2(ql + 4 * j) >> lshift) & 0x0F0F0F0Fu;
            const uint32_t hi = ((ld_u32_a2(qh + 4 * j) >> (2 * k)) & 0x03030303u) << 4;
            sumi = __dp4a(static_cast<int>(lo | hi), a[j], sumi);
            suma = __dp4a(kOnes, a[j], suma);
        }
        r += static_cast<float>(scales[s]) * static_cast<float>(sumi - 32 * suma);
    }
    return d * da * r;
}

// WPR warps share a row (each lane takes every (32 * WPR)-th unit; the warps' sums meet in
// shared memory): a 4096-row product with one warp per row fills under half a wave of the
// H200 (ncu: 46% achieved occupancy, 71% of cycles with no warp eligible, stalled on
// global loads), so the rows of few units are split to put more loads in flight.
template <DType T, int NC, int WPR>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_q8_kernel(const uint8_t *W, int64_t w_nb1, int N, int K, const int8_t *q, const float *dq, float *dst,
                     int64_t ldd) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int row = blockIdx.x * (kWarps / WPR) + warp / WPR, part = warp % WPR;
    const uint8_t *wr = W + static_cast<int64_t>(row) * w_nb1;
    // (Prefetching the row into L2 before this wait was measured slower: 189-212 against
    // 208-220 tokens/s on the 7B Q4_0 model, H200.)
    grid_dependency_wait();
    allow_dependents();
    const int units = K / 32;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[c] = 0.0f;
    if (row < N) { // no early return: the block meets at a barrier below
#pragma unroll 4
        for (int u = part * 32 + lane; u < units; u += 32 * WPR) {
#pragma unroll
            for (int c = 0; c < NC; ++c) {
                const int4 *ap = reinterpret_cast<const int4 *>(q + static_cast<int64_t>(c) * K + 32 * u);
                const int4 a0 = ap[0], a1 = ap[1];
                const int a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                acc[c] += dot_q8<T>(wr, u, a, dq[static_cast<int64_t>(c) * units + u]);
            }
        }
    }
    if constexpr (WPR == 1) {
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const float v = warp_sum(acc[c]);
            if (lane == 0 && row < N) dst[c * ldd + row] = v;
        }
    } else {
        __shared__ float part_sum[kWarps][NC];
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const float v = warp_sum(acc[c]);
            if (lane == 0) part_sum[warp][c] = v;
        }
        __syncthreads();
        if (part == 0 && lane < NC && row < N) {
            float v = 0.0f;
#pragma unroll
            for (int p = 0; p < WPR; ++p) v += part_sum[warp + p][lane];
            dst[lane * ldd + row] = v;
        }
    }
}

// Warps per row: enough units per lane to keep a few loads in flight, and enough warps to
// fill the GPU. CORVID_CUDA_WPR=1|2|4 forces one (for A/B timing).
inline int warps_per_row(int units) {
    static const int forced = [] {
        const char *e = std::getenv("CORVID_CUDA_WPR");
        const int v = e ? std::atoi(e) : 0;
        return v == 1 || v == 2 || v == 4 ? v : 0;
    }();
    if (forced) return forced;
    return units >= 256 ? 4 : units >= 64 ? 2 : 1;
}

template <DType T, int NC>
void launch_one(Context &ctx, const uint8_t *W, int64_t w_nb1, int n, int k, const int8_t *q, const float *d, float *dst,
                int64_t ldd) {
    switch (warps_per_row(k / 32)) {
    case 4: launch(ctx, matvec_q8_kernel<T, NC, 4>, static_cast<unsigned>(n), kWarps * 32, 0, W, w_nb1, n, k, q, d, dst, ldd); break;
    case 2: launch(ctx, matvec_q8_kernel<T, NC, 2>, blocks_for(n, kWarps / 2), kWarps * 32, 0, W, w_nb1, n, k, q, d, dst, ldd); break;
    default: launch(ctx, matvec_q8_kernel<T, NC, 1>, blocks_for(n, kWarps), kWarps * 32, 0, W, w_nb1, n, k, q, d, dst, ldd); break;
    }
}

template <DType T>
void launch_matvec(Context &ctx, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const int8_t *q, const float *d,
                   int64_t M, float *dst, int64_t ldd) {
    const int n = static_cast<int>(N), k = static_cast<int>(K);
    switch (M) {
    case 1: launch_one<T, 1>(ctx, W, w_nb1, n, k, q, d, dst, ldd); break;
    case 2: launch_one<T, 2>(ctx, W, w_nb1, n, k, q, d, dst, ldd); break;
    case 3: launch_one<T, 3>(ctx, W, w_nb1, n, k, q, d, dst, ldd); break;
    case 4: launch_one<T, 4>(ctx, W, w_nb1, n, k, q, d, dst, ldd); break;
    default:
        for (int64_t m0 = 0; m0 < M; m0 += 4) {
            const int64_t mc = M - m0 < 4 ? M - m0 : 4;
            launch_matvec<T>(ctx, W, w_nb1, N, K, q + m0 * K, d + m0 * (K / 32), mc, dst + m0 * ldd, ldd);
        }
        return;
    }
    CV_LAUNCHED("matvec_q8_kernel");
}

} // namespace

bool matvec_q8_supported(DType w) {
    return w == DType::Q4_0 || w == DType::Q4_1 || w == DType::Q8_0 || w == DType::Q4_K || w == DType::Q5_K ||
           w == DType::Q6_K;
}

void matvec_q8(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const int8_t *q,
               const float *d, int64_t M, float *dst, int64_t ldd) {
    switch (w) {
    case DType::Q4_0: launch_matvec<DType::Q4_0>(ctx, W, w_nb1, N, K, q, d, M, dst, ldd); break;
    case DType::Q4_1: launch_matvec<DType::Q4_1>(ctx, W, w_nb1, N, K, q, d, M, dst, ldd); break;
    case DType::Q8_0: launch_matvec<DType::Q8_0>(ctx, W, w_nb1, N, K, q, d, M, dst, ldd); break;
    case DType::Q4_K: launch_matvec<DType::Q4_K>(ctx, W, w_nb1, N, K, q, d, M, dst, ldd); break;
    case DType::Q5_K: launch_matvec<DType::Q5_K>(ctx, W, w_nb1, N, K, q, d, M, dst, ldd); break;
    case DType::Q6_K: launch_matvec<DType::Q6_K>(ctx, W, w_nb1, N, K, q, d, M, dst, ldd); break;
    default: fail(Status::internal, "cuda matvec_q8: no kernel for %s", dtype_name(w));
    }
}

} // namespace corvid::cuda
