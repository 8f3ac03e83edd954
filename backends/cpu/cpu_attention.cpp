// Reference attention: softmax(Q K^T * scale + mask) V, one (token, head) at a time.
//
// Numerics follow the reference engine's default (non-flash) path, which is what its
// logits are made with: Q is rounded to F16 before the K products (K lives in an F16
// cache), the softmax sums in double, and the probabilities are rounded to F16 before
// they weight V. With an F32 cache no rounding happens. attention() takes the fast path
// (cpu_attention_fast.cpp) when the active instruction set has one.
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_parallel.h"

#include "tensor/fp16.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace corvid::cpu {
namespace {

float load(const uint8_t *p, int64_t i, bool f16) {
    if (f16) {
        uint16_t h;
        std::memcpy(&h, p + i * 2, 2);
        return fp16_to_fp32(h);
    }
    float f;
    std::memcpy(&f, p + i * 4, 4);
    return f;
}

} // namespace

void attention(Tensor &dst) {
    if (!attention_fast(dst)) attention_reference(dst);
}

void attention_reference(Tensor &dst) {
    const Tensor &q = *dst.src[0], &k = *dst.src[1], &v = *dst.src[2], &mask = *dst.src[3];
    const float scale = dst.fp[0];
    const int64_t D = q.ne[0], H = q.ne[1], T = q.ne[2];
    const int64_t NKV = k.ne[1], HKV = k.ne[2];
    const int64_t group = H / HKV;
    const bool f16 = k.type == DType::F16;

    parallel_for(T * H, T * H * NKV * D, [&](int64_t th0, int64_t th1) {
        std::vector<float> qh(static_cast<size_t>(D)), s(static_cast<size_t>(NKV));
        for (int64_t th = th0; th < th1; ++th) {
            const int64_t t = th / H, h = th % H, hk = h / group;
            const float *qrow = reinterpret_cast<const float *>(q.row(h, t));
            for (int64_t d = 0; d < D; ++d) qh[d] = f16 ? fp16_to_fp32(fp32_to_fp16(qrow[d])) : qrow[d];
            const float *m = reinterpret_cast<const float *>(mask.row(t));

            float mx = -INFINITY;
            for (int64_t j = 0; j < NKV; ++j) {
                if (m[j] == -INFINITY) {
                    s[j] = -INFINITY;
                    continue;
                }
                const uint8_t *krow = k.row(j, hk);
                double dot = 0.0;
                for (int64_t d = 0; d < D; ++d) dot += static_cast<double>(load(krow, d, f16)) * qh[d];
                s[j] = static_cast<float>(dot) * scale + m[j];
                mx = std::max(mx, s[j]);
            }
            double sum = 0.0;
            for (int64_t j = 0; j < NKV; ++j) {
                s[j] = s[j] == -INFINITY ? 0.0f : std::exp(s[j] - mx);
                sum += s[j];
            }
            const float inv = sum > 0.0 ? static_cast<float>(1.0 / sum) : 0.0f;
            std::vector<double> accd(static_cast<size_t>(D), 0.0);
            for (int64_t j = 0; j < NKV; ++j) {
                if (s[j] == 0.0f) continue;
                float p = s[j] * inv;
                if (f16) p = fp16_to_fp32(fp32_to_fp16(p));
                const uint8_t *vrow = v.row(j, hk);
                for (int64_t d = 0; d < D; ++d) accd[d] += static_cast<double>(p) * load(vrow, d, f16);
            }
            float *out = reinterpret_cast<float *>(dst.row(h, t));
            for (int64_t d = 0; d < D; ++d) out[d] = static_cast<float>(accd[d]);
        }
    });
}

} // namespace corvid::cpu
