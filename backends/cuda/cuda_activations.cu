// Activation conversion before a matrix product, bit-identical to the reference's
// quantize_row / dequantize_row round trip through the weight type's partner format:
//   Q8_0 (32-element blocks, fp16 scale) for the legacy types and IQ4_NL — Q8_1 gives the
//   same values; Q8_K (256-element blocks, float scale) for the K-quants and IQ4_XS;
//   F16 / BF16 rounding for those weights; F32 unchanged.
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_quant.cuh"

#include <algorithm>

namespace corvid::cuda {
namespace {

// Where the values to convert come from: stored rows (column m at x + m * nb1), or the
// GLU of two such tensors, act(gate) * up, computed as the glu kernel computes it (the
// product after a prompt's GLU then needs no stored GLU result).
struct RowsIn {
    const uint8_t *x;
    int64_t nb1;
    __device__ __forceinline__ float at(int64_t m, int64_t k) const {
        return reinterpret_cast<const float *>(x + m * nb1)[k];
    }
    __device__ __forceinline__ float4 at4(int64_t m, int64_t k) const {
        return *reinterpret_cast<const float4 *>(reinterpret_cast<const float *>(x + m * nb1) + k);
    }
};
struct GluIn {
    const uint8_t *g, *u;
    int64_t g_nb1, u_nb1;
    bool gelu;
    __device__ __forceinline__ float act(float a, float b) const { return (gelu ? gelu_ref(a) : silu_ref(a)) * b; }
    __device__ __forceinline__ float at(int64_t m, int64_t k) const {
        return act(reinterpret_cast<const float *>(g + m * g_nb1)[k], reinterpret_cast<const float *>(u + m * u_nb1)[k]);
    }
    __device__ __forceinline__ float4 at4(int64_t m, int64_t k) const {
        const float4 a = *reinterpret_cast<const float4 *>(reinterpret_cast<const float *>(g + m * g_nb1) + k);
        const float4 b = *reinterpret_cast<const float4 *>(reinterpret_cast<const float *>(u + m * u_nb1) + k);
        return make_float4(act(a.x, b.x), act(a.y, b.y), act(a.z, b.z), act(a.w, b.w));
    }
};

template <typename OutT> __device__ __forceinline__ OutT to_out(float v);
template <> __device__ __forceinline__ float to_out<float>(float v) { return v; }
template <> __device__ __forceinline__ __half to_out<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 to_out<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// One warp per 32-element block: amax, d = amax / 127, q = roundf(x / d), x' = q * fp16(d).
template <typename OutT, typename In>
__global__ void q8_0_kernel(In x, int K, int M, OutT *out, int64_t ld, int8_t *q8, float *d8, int *s8) {
    grid_dependency_wait();
    allow_dependents();
    const int64_t blk = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x & 31;
    const int per_col = K / 32;
    if (blk >= static_cast<int64_t>(per_col) * M) return;
    const int64_t m = blk / per_col;
    const int u = static_cast<int>(blk % per_col);
    const WarpQ8_0 b = warp_q8_0(x.at(m, 32 * u + lane));
    if (q8) {
        q8[m * K + 32 * u + lane] = static_cast<int8_t>(b.q);
        if (lane == 0) d8[m * per_col + u] = b.d16, s8[m * per_col + u] = b.sum;
    } else {
        out[m * ld + 32 * u + lane] = to_out<OutT>(b.q * b.d16);
    }
}

// One 256-thread block per super-block: the value of largest magnitude (first one on
// ties) sets iscale = -127 / max; q = min(127, nearest_int(iscale * x)); x' = q / iscale.
template <typename OutT, typename In>
__global__ void q8_k_kernel(In x, int K, OutT *out, int64_t ld, int8_t *q8, float *d8, int *s8) {
    grid_dependency_wait();
    allow_dependents();
    __shared__ float s_a[8];
    __shared__ int s_i[8];
    const int per_col = K / 256;
    const int64_t m = blockIdx.x / per_col;
    const int sb = blockIdx.x % per_col;
    const int t = threadIdx.x;
    const float v = x.at(m, 256 * sb + t);
    float a = fabsf(v);
    int idx = t;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float a2 = __shfl_xor_sync(0xffffffffu, a, o);
        const int i2 = __shfl_xor_sync(0xffffffffu, idx, o);
        if (a2 > a || (a2 == a && i2 < idx)) a = a2, idx = i2;
    }
    if ((t & 31) == 0) s_a[t / 32] = a, s_i[t / 32] = idx;
    __syncthreads();
    a = s_a[0];
    idx = s_i[0];
    for (int w = 1; w < 8; ++w)
        if (s_a[w] > a || (s_a[w] == a && s_i[w] < idx)) a = s_a[w], idx = s_i[w];
    float r = 0.0f, d = 0.0f;
    int q = 0;
    if (a != 0.0f) {
        const float mx = x.at(m, 256 * sb + idx);
        const float iscale = -127.0f / mx;
        q = min(127, __float2int_rn(iscale * v));
        d = 1.0f / iscale;
        r = d * static_cast<float>(q);
    }
    if (q8) {
        q8[m * K + 256 * sb + t] = static_cast<int8_t>(q);
        const int sum = warp_sum(q); // this warp's 32 values: one sub-block
        if ((t & 31) == 0) d8[m * (K / 32) + 8 * sb + t / 32] = d, s8[m * (K / 32) + 8 * sb + t / 32] = sum;
    } else {
        out[m * ld + 256 * sb + t] = to_out<OutT>(r);
    }
}

// Plain rounding: F16 / BF16 / F32 partners, x over the elements of a column, y over the
// columns (no division per element). V4 (K and ld multiples of 4, 16-byte aligned rows): 4
// elements a thread, one 16-byte load (scalar loads held a 7B prompt's conversions to a
// third of the memory bandwidth).
__device__ __forceinline__ float round_as(int kind, float v) {
    if (kind == 1) return __half2float(__float2half_rn(v));
    if (kind == 2) return __bfloat162float(__float2bfloat16_rn(v));
    return v;
}
template <int Kind, typename OutT, bool V4, typename In>
__global__ void round_kernel(In x, int64_t K, int64_t M, OutT *out, int64_t ld) {
    grid_dependency_wait();
    allow_dependents();
    constexpr int E = V4 ? 4 : 1;
    const int64_t k = E * (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x);
    if (k >= ld) return;
    for (int64_t m = blockIdx.y; m < M; m += gridDim.y) {
        float v[E] = {};
        if (k < K) { // with V4, all E elements or none
            if constexpr (V4) {
                const float4 f = x.at4(m, k);
                v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
            } else {
                v[0] = x.at(m, k);
            }
        }
        alignas(16) OutT o[E]; // stored below as one 8- or 16-byte word
#pragma unroll
        for (int e = 0; e < E; ++e) o[e] = to_out<OutT>(round_as(Kind, v[e]));
        OutT *dst = out + m * ld + k;
        if constexpr (V4 && sizeof(OutT) == 2) {
            *reinterpret_cast<uint2 *>(dst) = *reinterpret_cast<const uint2 *>(o);
        } else if constexpr (V4) {
            *reinterpret_cast<float4 *>(dst) = *reinterpret_cast<const float4 *>(o);
        } else {
            dst[0] = o[0];
        }
    }
}
bool aligned16(const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
// Whether an input's rows suit float4 reads.
bool rows4(const RowsIn &x) { return x.nb1 % 16 == 0 && aligned16(x.x); }
bool rows4(const GluIn &x) { return x.g_nb1 % 16 == 0 && x.u_nb1 % 16 == 0 && aligned16(x.g) && aligned16(x.u); }

template <int Kind, typename OutT, typename In>
void launch_round(Context &ctx, const In &x, int64_t K, int64_t M, OutT *out, int64_t ld) {
    const bool v4 = K % 4 == 0 && ld % 4 == 0 && rows4(x) && reinterpret_cast<uintptr_t>(out) % (4 * sizeof(OutT)) == 0;
    const unsigned cols = static_cast<unsigned>(std::min<int64_t>(M, 65535));
    if (v4) launch(ctx, round_kernel<Kind, OutT, true, In>, dim3(blocks_for(ld / 4, 256), cols), 256, 0, x, K, M, out, ld);
    else launch(ctx, round_kernel<Kind, OutT, false, In>, dim3(blocks_for(ld, 256), cols), 256, 0, x, K, M, out, ld);
}

template <typename OutT, typename In>
void launch(Context &ctx, DType w, const In &x, int64_t K, int64_t M, OutT *out, int64_t ld) {
    const int qk = static_cast<int>(traits(w).block_size);
    if (qk == 32) {
        if (ld != K) CV_CUDA(cudaMemsetAsync(out, 0, sizeof(OutT) * ld * M, ctx.stream));
        const int64_t threads = K * M;
        launch(ctx, q8_0_kernel<OutT, In>, blocks_for(threads, 256), 256, 0, x, static_cast<int>(K), static_cast<int>(M),
               out, ld, nullptr, nullptr, nullptr);
        CV_LAUNCHED("q8_0_kernel");
    } else if (qk == 256) {
        if (ld != K) CV_CUDA(cudaMemsetAsync(out, 0, sizeof(OutT) * ld * M, ctx.stream));
        launch(ctx, q8_k_kernel<OutT, In>, static_cast<unsigned>(K / 256 * M), 256, 0, x, static_cast<int>(K), out, ld,
               nullptr, nullptr, nullptr);
        CV_LAUNCHED("q8_k_kernel");
    } else {
        if (M == 0 || ld == 0) return;
        if (w == DType::F16) launch_round<1>(ctx, x, K, M, out, ld);
        else if (w == DType::BF16) launch_round<2>(ctx, x, K, M, out, ld);
        else launch_round<0>(ctx, x, K, M, out, ld);
        CV_LAUNCHED("round_kernel");
    }
}

template <typename In>
void convert(Context &ctx, DType w, const In &x, int64_t K, int64_t M, void *out, int64_t ld, ActOut kind) {
    switch (kind) {
    case ActOut::f32: launch(ctx, w, x, K, M, static_cast<float *>(out), ld); break;
    case ActOut::f16: launch(ctx, w, x, K, M, static_cast<__half *>(out), ld); break;
    case ActOut::bf16: launch(ctx, w, x, K, M, static_cast<__nv_bfloat16 *>(out), ld); break;
    }
}

} // namespace

void prepare_activations(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, void *out,
                         int64_t ld, ActOut kind) {
    convert(ctx, w, RowsIn{x, x_nb1}, K, M, out, ld, kind);
}

void prepare_glu_activations(Context &ctx, DType w, const uint8_t *gate, int64_t g_nb1, const uint8_t *up,
                             int64_t u_nb1, bool gelu, int64_t K, int64_t M, void *out, int64_t ld, ActOut kind) {
    convert(ctx, w, GluIn{gate, up, g_nb1, u_nb1, gelu}, K, M, out, ld, kind);
}

void prepare_activations_q8(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int8_t *q,
                            float *d, int *sum) {
    const int qk = static_cast<int>(traits(w).block_size);
    if (qk == 32) {
        launch(ctx, q8_0_kernel<float, RowsIn>, blocks_for(K * M, 256), 256, 0, RowsIn{x, x_nb1}, static_cast<int>(K),
               static_cast<int>(M), nullptr, 0, q, d, sum);
        CV_LAUNCHED("q8_0_kernel");
    } else if (qk == 256) {
        launch(ctx, q8_k_kernel<float, RowsIn>, static_cast<unsigned>(K / 256 * M), 256, 0, RowsIn{x, x_nb1},
               static_cast<int>(K), nullptr, 0, q, d, sum);
        CV_LAUNCHED("q8_k_kernel");
    } else {
        fail(Status::internal, "cuda: %s has no 8-bit activation format", dtype_name(w));
    }
}

} // namespace corvid::cuda
