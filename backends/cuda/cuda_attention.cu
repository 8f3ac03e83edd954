// Attention with grouped heads: softmax(Q K^T * scale + mask) V over an F16 or F32 cache.
//
// Flash-style: one block per (query head, token); each of its warps walks a strided
// share of the keys with an online softmax (running max, running sum, rescaled
// accumulator), and the warps' partial states are merged at the end, so no score matrix
// is ever stored. Keys whose mask is -inf are skipped. Q is rounded to F16 first when the
// cache is F16, as the reference does. Head sizes up to 256.
#include "cuda/cuda_ops.h"

namespace corvid::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxHead = 256;
constexpr int kPer = kMaxHead / 32;

template <bool F16>
__device__ __forceinline__ float kv_at(const uint8_t *row, int d) {
    if constexpr (F16) return h2f(reinterpret_cast<const uint16_t *>(row)[d]);
    else return reinterpret_cast<const float *>(row)[d];
}

template <bool F16>
__global__ void __launch_bounds__(kWarps * 32)
    attention_kernel(const uint8_t *q, int64_t q_nb1, int64_t q_nb2, const uint8_t *k, int64_t k_nb1, int64_t k_nb2,
                     const uint8_t *v, int64_t v_nb1, int64_t v_nb2, const uint8_t *mask, int64_t mask_nb1,
                     float *out, int D, int H, int NKV, int group, float scale) {
    __shared__ float s_m[kWarps], s_l[kWarps];
    __shared__ float s_acc[kWarps][kMaxHead];
    const int h = blockIdx.x, t = blockIdx.y;
    const int hk = h / group;
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;

    const float *qr = reinterpret_cast<const float *>(q + h * q_nb1 + t * q_nb2);
    float qv[kPer], acc[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
        const int d = lane + 32 * i;
        float x = d < D ? qr[d] : 0.0f;
        if (F16) x = __half2float(__float2half_rn(x));
        qv[i] = x;
        acc[i] = 0.0f;
    }
    const float *mr = reinterpret_cast<const float *>(mask + t * mask_nb1);
    const uint8_t *kb = k + hk * k_nb2, *vb = v + hk * v_nb2;

    float m = -INFINITY, l = 0.0f;
    for (int j = warp; j < NKV; j += kWarps) {
        const float mv = mr[j];
        if (mv == -INFINITY) continue;
        const uint8_t *kr = kb + j * k_nb1;
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < kPer; ++i) {
            const int d = lane + 32 * i;
            if (d < D) dot += qv[i] * kv_at<F16>(kr, d);
        }
        dot = warp_sum(dot);
        const float s = dot * scale + mv;
        const float m_new = fmaxf(m, s);
        const float corr = expf(m - m_new);
        const float p = expf(s - m_new);
        l = l * corr + p;
        const uint8_t *vr = vb + j * v_nb1;
#pragma unroll
        for (int i = 0; i < kPer; ++i) {
            const int d = lane + 32 * i;
            acc[i] = acc[i] * corr + (d < D ? p * kv_at<F16>(vr, d) : 0.0f);
        }
        m = m_new;
    }
    if (lane == 0) s_m[warp] = m, s_l[warp] = l;
#pragma unroll
    for (int i = 0; i < kPer; ++i) s_acc[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    if (warp != 0) return;
    float M = -INFINITY;
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, s_m[w]);
    float L = 0.0f, f[kWarps];
    for (int w = 0; w < kWarps; ++w) {
        f[w] = s_m[w] == -INFINITY ? 0.0f : expf(s_m[w] - M);
        L += s_l[w] * f[w];
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    float *o = out + (static_cast<int64_t>(t) * H + h) * D;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
        const int d = lane + 32 * i;
        if (d >= D) continue;
        float sum = 0.0f;
        for (int w = 0; w < kWarps; ++w) sum += s_acc[w][d] * f[w];
        o[d] = sum * inv;
    }
}

} // namespace

void attention(Context &ctx, Tensor &dst) {
    const Tensor &q = *dst.src[0], &k = *dst.src[1], &v = *dst.src[2], &mask = *dst.src[3];
    const int D = static_cast<int>(q.ne[0]), H = static_cast<int>(q.ne[1]), T = static_cast<int>(q.ne[2]);
    const int NKV = static_cast<int>(k.ne[1]), HKV = static_cast<int>(k.ne[2]);
    if (D > kMaxHead) fail(Status::unsupported, "cuda attention: head size %d is over %d", D, kMaxHead);
    if (q.nb[0] != sizeof(float)) fail(Status::internal, "cuda attention: q rows must be contiguous");
    if (T == 0 || H == 0) return;
    const dim3 grid(static_cast<unsigned>(H), static_cast<unsigned>(T));
    auto args = [&](auto kernel) {
        kernel<<<grid, kWarps * 32, 0, ctx.stream>>>(
            static_cast<const uint8_t *>(q.data), static_cast<int64_t>(q.nb[1]), static_cast<int64_t>(q.nb[2]),
            static_cast<const uint8_t *>(k.data), static_cast<int64_t>(k.nb[1]), static_cast<int64_t>(k.nb[2]),
            static_cast<const uint8_t *>(v.data), static_cast<int64_t>(v.nb[1]), static_cast<int64_t>(v.nb[2]),
            static_cast<const uint8_t *>(mask.data), static_cast<int64_t>(mask.nb[1]), static_cast<float *>(dst.data), D,
            H, NKV, H / HKV, dst.fp[0]);
    };
    if (k.type == DType::F16) args(attention_kernel<true>);
    else args(attention_kernel<false>);
    CV_LAUNCHED("attention_kernel");
}

} // namespace corvid::cuda
