// Reference matrix product: weights of any type times F32 activations.
//
// As in the reference engine, each activation row is first converted to the weight
// type's partner format (Q8_0, Q8_1, Q8_K, F16, BF16 or F32) — the rounding that
// conversion brings is part of the result. The reference then dequantizes both sides
// exactly and accumulates the dot product in double: slow, order-independent and
// obviously right; fast kernels use integer dot products and are tested against it.
// mul_mat() takes the fast path (cpu_matmul_fast.cpp) when the active instruction set
// has a kernel for the weight type, else this reference.
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_panels.h"
#include "cpu/cpu_parallel.h"

#include "tensor/quants.h"
#include "util/error.h"

#include <vector>

namespace corvid::cpu {

DType activation_type_for(DType w) {
    switch (w) {
    case DType::F32: return DType::F32;
    case DType::F16: return DType::F16;
    case DType::BF16: return DType::BF16;
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q8_0:
    case DType::IQ4_NL: return DType::Q8_0;
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q8_1: return DType::Q8_1;
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::Q8_K:
    case DType::IQ4_XS: return DType::Q8_K;
    default: return DType::F32;
    }
}

void mul_mat(Tensor &dst) {
    if (!mul_mat_fast(dst)) mul_mat_reference(dst);
}

void mul_mat_reference(Tensor &dst) {
    const Tensor &w = *dst.src[0];
    const Tensor &x = *dst.src[1];
    const int64_t K = w.ne[0], N = w.ne[1];
    const int64_t M = x.ne[1], B2 = x.ne[2], B3 = x.ne[3];
    const int64_t r2 = B2 / w.ne[2], r3 = B3 / w.ne[3]; // weight broadcast over batches
    const DType at = activation_type_for(w.type);
    if (!traits(w.type).has_reference) fail(Status::unsupported, "mul_mat: no reference kernel for %s", dtype_name(w.type));
    if (x.nb[0] != sizeof(float)) fail(Status::internal, "mul_mat: activation rows must be contiguous");

    // 1. Activations through the partner format and back to float: xq[b3][b2][m][K].
    const int64_t cols = M * B2 * B3;
    std::vector<float> xq(static_cast<size_t>(cols * K));
    const uint64_t qbytes = *dtype_row_bytes(at, static_cast<uint64_t>(K));
    const int64_t work = K * N * cols;
    parallel_for(cols, work, [&](int64_t c0, int64_t c1) {
        std::vector<uint8_t> qrow(qbytes);
        for (int64_t c = c0; c < c1; ++c) {
            const int64_t m = c % M, b2 = (c / M) % B2, b3 = c / (M * B2);
            const float *src = reinterpret_cast<const float *>(x.row(m, b2, b3));
            quantize_row(at, src, qrow.data(), K);
            dequantize_row(at, qrow.data(), &xq[static_cast<size_t>(c * K)], K);
        }
    });

    // 2. One weight row at a time, dequantized once and dotted with every column.
    const int64_t wrows = N * w.ne[2] * w.ne[3];
    parallel_for(wrows, work, [&](int64_t r0, int64_t r1) {
        std::vector<float> wrow(static_cast<size_t>(K));
        std::vector<uint8_t> unpacked(w.layout ? w.row_bytes() : 0); // a panel weight's row (cpu_panels.h)
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t n = r % N, wb2 = (r / N) % w.ne[2], wb3 = r / (N * w.ne[2]);
            dequantize_row(w.type, weight_row(w, n, wb2, wb3, unpacked.data()), wrow.data(), K);
            for (int64_t b3 = wb3 * r3; b3 < (wb3 + 1) * r3; ++b3)
                for (int64_t b2 = wb2 * r2; b2 < (wb2 + 1) * r2; ++b2)
                    for (int64_t m = 0; m < M; ++m) {
                        const float *a = &xq[static_cast<size_t>(((b3 * B2 + b2) * M + m) * K)];
                        double sum = 0.0;
                        for (int64_t k = 0; k < K; ++k) sum += static_cast<double>(wrow[k]) * a[k];
                        reinterpret_cast<float *>(dst.row(m, b2, b3))[n] = static_cast<float>(sum);
                    }
        }
    });
}

} // namespace corvid::cpu
