// Weights x a few activation columns (decode): one warp per weight row, each lane
// decoding whole 32-element units straight from the stored blocks (deq32) and dotting
// them with up to kMatvecMaxCols columns of converted activations held in L1/L2. The
// weights are read once, coalesced across the warp; the columns share every decode.
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_quant.cuh"

namespace corvid::cuda {
namespace {

constexpr int kWarps = 4;

template <DType T, int NC>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_kernel(const uint8_t *W, int64_t w_nb1, int N, int K, bool vec, const float *xq, int64_t ldx, float *dst,
                  int64_t ldd) {
    grid_dependency_wait();
    allow_dependents();
    const int row = blockIdx.x * kWarps + threadIdx.x / 32;
    if (row >= N) return;
    const int lane = threadIdx.x & 31;
    const uint8_t *wr = W + static_cast<int64_t>(row) * w_nb1;
    const int units = (K + 31) / 32;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[c] = 0.0f;

    for (int u = lane; u < units; u += 32) {
        float w[32];
        if constexpr (is_float_type<T>()) {
            if (vec && 32 * u + 32 <= K) {
                deq32<T>(wr, u, w);
            } else {
#pragma unroll
                for (int j = 0; j < 32; ++j) w[j] = 32 * u + j < K ? load_elem<T>(wr, 32 * u + j) : 0.0f;
            }
        } else {
            deq32<T>(wr, u, w);
        }
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const float4 *xp = reinterpret_cast<const float4 *>(xq + c * ldx + 32 * u);
            float s = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const float4 a = xp[i];
                s += w[4 * i] * a.x + w[4 * i + 1] * a.y + w[4 * i + 2] * a.z + w[4 * i + 3] * a.w;
            }
            acc[c] += s;
        }
    }
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const float v = warp_sum(acc[c]);
        if (lane == 0) dst[c * ldd + row] = v;
    }
}

struct Launch {
    Context &ctx;
    const uint8_t *W;
    int64_t w_nb1, N, K;
    const float *xq;
    int64_t ldx, M;
    float *dst;
    int64_t ldd;

    template <DType T, int NC> void go() {
        const bool vec = w_nb1 % 16 == 0;
        launch(ctx, matvec_kernel<T, NC>, blocks_for(N, kWarps), kWarps * 32, 0, 
            W, w_nb1, static_cast<int>(N), static_cast<int>(K), vec, xq, ldx, dst, ldd);
        CV_LAUNCHED("matvec_kernel");
    }
    template <DType T> void run() {
        switch (M) {
        case 1: go<T, 1>(); break;
        case 2: go<T, 2>(); break;
        case 3: go<T, 3>(); break;
        case 4: go<T, 4>(); break;
        case 5: go<T, 5>(); break;
        case 6: go<T, 6>(); break;
        case 7: go<T, 7>(); break;
        default: go<T, 8>(); break;
        }
    }
};

// 16-bit weights (F16, BF16): each lane takes 16-byte chunks (8 elements), consecutive lanes
// consecutive chunks, U chunks in flight; the activations are already rounded to the
// weight's format (exact in it), so only the accumulation differs from the reference. The
// first U chunks are loaded before the grid-dependency wait (weights: no kernel writes
// them), overlapping the previous kernel's end. res (may be null): res[c * ldr + row] is
// added to each result (a residual, or with ldr 0 a bias), after the row's sum.
template <bool BF, int NC, int U>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_h_kernel(const uint8_t *__restrict__ W, int64_t w_nb1, int N, int K, const uint16_t *__restrict__ x,
                    float *__restrict__ dst, int64_t ldd, const float *__restrict__ res, int64_t ldr) {
    const int row = blockIdx.x * kWarps + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    const bool live = row < N;
    const uint4 *wr = reinterpret_cast<const uint4 *>(W + static_cast<int64_t>(live ? row : 0) * w_nb1);
    const int chunks = K / 8;
    uint4 w[U];
#pragma unroll
    for (int r = 0; r < U; ++r) w[r] = live && lane + 32 * r < chunks ? wr[lane + 32 * r] : make_uint4(0, 0, 0, 0);
    grid_dependency_wait();
    allow_dependents();
    if (!live) return;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[c] = 0.0f;
    auto f2 = [](uint32_t v) {
        if constexpr (BF) return make_float2(__uint_as_float(v << 16), __uint_as_float(v & 0xFFFF0000u));
        else return __half22float2(*reinterpret_cast<const __half2 *>(&v));
    };
    for (int i0 = lane; i0 < chunks; i0 += 32 * U) {
        if (i0 != lane) {
#pragma unroll
            for (int r = 0; r < U; ++r) w[r] = i0 + 32 * r < chunks ? wr[i0 + 32 * r] : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int r = 0; r < U; ++r) {
            const int i = i0 + 32 * r;
            if (i >= chunks) break;
            const uint32_t ws[4] = {w[r].x, w[r].y, w[r].z, w[r].w};
#pragma unroll
            for (int c = 0; c < NC; ++c) {
                const uint4 a = reinterpret_cast<const uint4 *>(x + static_cast<int64_t>(c) * K)[i];
                const uint32_t as[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float2 wf = f2(ws[e]), af = f2(as[e]);
                    acc[c] += wf.x * af.x + wf.y * af.y;
                }
            }
        }
    }
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        float v = warp_sum(acc[c]);
        if (res) v += res[c * ldr + row];
        if (lane == 0) dst[c * ldd + row] = v;
    }
}

template <bool BF>
void launch_h(Context &ctx, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const uint16_t *x, int64_t M,
              float *dst, int64_t ldd, const float *res, int64_t ldr) {
    const unsigned grid = blocks_for(N, kWarps);
    const int n = static_cast<int>(N), k = static_cast<int>(K);
    switch (M) {
    case 1: launch(ctx, matvec_h_kernel<BF, 1, 4>, grid, kWarps * 32, 0, W, w_nb1, n, k, x, dst, ldd, res, ldr); break;
    case 2: launch(ctx, matvec_h_kernel<BF, 2, 2>, grid, kWarps * 32, 0, W, w_nb1, n, k, x, dst, ldd, res, ldr); break;
    case 3: launch(ctx, matvec_h_kernel<BF, 3, 1>, grid, kWarps * 32, 0, W, w_nb1, n, k, x, dst, ldd, res, ldr); break;
    case 4: launch(ctx, matvec_h_kernel<BF, 4, 1>, grid, kWarps * 32, 0, W, w_nb1, n, k, x, dst, ldd, res, ldr); break;
    default:
        for (int64_t m0 = 0; m0 < M; m0 += 4)
            launch_h<BF>(ctx, W, w_nb1, N, K, x + m0 * K, M - m0 < 4 ? M - m0 : 4, dst + m0 * ldd, ldd,
                         res ? res + m0 * ldr : nullptr, ldr);
        return;
    }
    CV_LAUNCHED("matvec_h_kernel");
}

} // namespace

bool matvec_h_supported(DType w, int64_t K, int64_t w_nb1) {
    return (w == DType::F16 || w == DType::BF16) && K % 8 == 0 && w_nb1 % 16 == 0;
}

void matvec_h(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const void *x, int64_t M,
              float *dst, int64_t ldd, const float *res, int64_t ldr) {
    if (w == DType::BF16) launch_h<true>(ctx, W, w_nb1, N, K, static_cast<const uint16_t *>(x), M, dst, ldd, res, ldr);
    else launch_h<false>(ctx, W, w_nb1, N, K, static_cast<const uint16_t *>(x), M, dst, ldd, res, ldr);
}

void matvec(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const float *xq,
            int64_t ldx, int64_t M, float *dst, int64_t ldd) {
    if (M < 1 || M > kMatvecMaxCols) fail(Status::internal, "cuda matvec: %lld columns", static_cast<long long>(M));
    Launch l{ctx, W, w_nb1, N, K, xq, ldx, M, dst, ldd};
    if (!dispatch_weight_type(w, l)) fail(Status::unsupported, "cuda matvec: no kernel for %s", dtype_name(w));
}

} // namespace corvid::cuda
