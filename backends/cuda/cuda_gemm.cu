// Prompt-sized matrix products through cuBLAS: F16/BF16 weights are used as stored,
// F32 weights through SGEMM, and quantized weights are dequantized to an F16 scratch
// (row chunks, so the scratch stays bounded) and multiplied with the activations
// converted as the reference converts them (then rounded to F16), accumulating in F32.
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_quant.cuh"

#include <algorithm>

namespace corvid::cuda {
namespace {

// One thread per 32-element unit of rows [row0, row0 + rows) of a matrix of N rows:
// decode, round to F16, store 64 bytes.
template <DType T>
__global__ void dequant_f16_kernel(const uint8_t *W, int64_t w_nb1, int64_t N, bool planar, int64_t row0, int64_t rows,
                                   int units, __half *out) {
    grid_dependency_wait();
    allow_dependents();
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= rows * units) return;
    const int64_t r = i / units;
    const int u = static_cast<int>(i % units);
    float w[32];
    deq32_row<T>(W, w_nb1, N, planar, row0 + r, u, w);
    uint4 *o = reinterpret_cast<uint4 *>(out + r * static_cast<int64_t>(units) * 32 + 32 * u);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        uint32_t p[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const __half2 h = __floats2half2_rn(w[8 * q + 2 * j], w[8 * q + 2 * j + 1]);
            p[j] = *reinterpret_cast<const uint32_t *>(&h);
        }
        o[q] = make_uint4(p[0], p[1], p[2], p[3]);
    }
}

struct Dequant {
    Context &ctx;
    const uint8_t *W;
    int64_t w_nb1, N;
    bool planar;
    int64_t row0, rows, K;
    __half *out;
    template <DType T> void run() {
        if constexpr (is_float_type<T>()) {
            fail(Status::internal, "cuda gemm: float weights need no dequantization");
        } else {
            const int units = static_cast<int>(K / 32);
            launch(ctx, dequant_f16_kernel<T>, blocks_for(rows * units, 128), 128, 0, W, w_nb1, N, planar, row0, rows,
                   units, out);
            CV_LAUNCHED("dequant_f16_kernel");
        }
    }
};

constexpr int64_t kMaxScratchElements = int64_t(64) << 20; // 128 MiB of F16 weights per chunk

} // namespace

const void *gemm_input(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M) {
    const ActOut kind = w == DType::F32 ? ActOut::f32 : w == DType::BF16 ? ActOut::bf16 : ActOut::f16;
    return converted_activations(ctx, w, x, x_nb1, K, M, K, kind);
}

void gemm(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const uint8_t *x,
          int64_t x_nb1, int64_t M, float *dst, int64_t ldd, bool planar, bool accumulate) {
    gemm_converted(ctx, w, W, w_nb1, N, K, gemm_input(ctx, w, x, x_nb1, K, M), M, dst, ldd, planar, accumulate);
}

void gemm_converted(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const void *xin,
                    int64_t M, float *dst, int64_t ldd, bool planar, bool accumulate) {
    const float one = 1.0f, zero = accumulate ? 1.0f : 0.0f; // beta: dst += the product
    const int n = static_cast<int>(N), m = static_cast<int>(M), k = static_cast<int>(K);
    if (w == DType::F32) {
        if (w_nb1 % 4 != 0) fail(Status::internal, "cuda gemm: misaligned f32 weight rows");
        const auto *xf = static_cast<const float *>(xin);
        CV_CUBLAS(cublasSgemm(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, reinterpret_cast<const float *>(W),
                              static_cast<int>(w_nb1 / 4), xf, k, &zero, dst, static_cast<int>(ldd)));
        return;
    }
    if (w == DType::F16 || w == DType::BF16) {
        if (w_nb1 % 2 != 0) fail(Status::internal, "cuda gemm: misaligned weight rows");
        const bool bf = w == DType::BF16;
        const cudaDataType_t dt = bf ? CUDA_R_16BF : CUDA_R_16F;
        const void *xh = xin;
        CV_CUBLAS(cublasGemmEx(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, W, dt, static_cast<int>(w_nb1 / 2),
                               xh, dt, k, &zero, dst, CUDA_R_32F, static_cast<int>(ldd), CUBLAS_COMPUTE_32F,
                               CUBLAS_GEMM_DEFAULT));
        return;
    }
    const void *xh = xin;
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(N, kMaxScratchElements / K));
    __half *wh = static_cast<__half *>(ctx.scratch(kScratchWeights, 2 * K * chunk));
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        const int64_t rows = std::min(chunk, N - n0);
        Dequant dq{ctx, W, w_nb1, N, planar, n0, rows, K, wh};
        if (!dispatch_weight_type(w, dq)) fail(Status::unsupported, "cuda gemm: no kernel for %s", dtype_name(w));
        CV_CUBLAS(cublasGemmEx(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), m, k, &one, wh,
                               CUDA_R_16F, k, xh, CUDA_R_16F, k, &zero, dst + n0, CUDA_R_32F, static_cast<int>(ldd),
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
}

} // namespace corvid::cuda
