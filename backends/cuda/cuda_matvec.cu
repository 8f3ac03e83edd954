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
        matvec_kernel<T, NC><<<blocks_for(N, kWarps), kWarps * 32, 0, ctx.stream>>>(
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

} // namespace

void matvec(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const float *xq,
            int64_t ldx, int64_t M, float *dst, int64_t ldd) {
    if (M < 1 || M > kMatvecMaxCols) fail(Status::internal, "cuda matvec: %lld columns", static_cast<long long>(M));
    Launch l{ctx, W, w_nb1, N, K, xq, ldx, M, dst, ldd};
    if (!dispatch_weight_type(w, l)) fail(Status::unsupported, "cuda matvec: no kernel for %s", dtype_name(w));
}

} // namespace corvid::cuda
