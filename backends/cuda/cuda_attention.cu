// Attention with grouped heads: softmax(Q K^T * scale + mask) V over an F16 or F32 cache.
//
// Few queries (decode): split over the sequence. Each block takes one (chunk of 32 keys,
// head, token): four threads per key compute its score, the block its chunk's max and sum,
// then a thread per head dimension the chunk's weighted sum of V. A second kernel merges
// the chunks' partial softmax states (max, sum, accumulator), so long caches keep every
// SM busy and no score matrix leaves the chip. Q is rounded to F16 first when the cache
// is F16, as the reference does. By default the merge is no kernel of its own: the last
// split block of each (head, token) to finish, told by an atomic counter, merges that
// head (a decode step's merge is ~4 us of launch and ramp for 16 KB of reads).
//
// Many queries (prompt) over an F16 cache: flash attention on the tensor cores
// (cuda_flash_attention.cu). Otherwise (an F32 cache, an unusual head size, or
// CORVID_CUDA_FLASH=0): the reference's own steps on the tensor cores: Q rounded to F16,
// S = K^T Q by batched GEMM (F32 accumulation), a masked softmax whose probabilities are
// rounded to F16 (as the reference rounds them), O = V P by batched GEMM written straight
// into the result's [head_dim, n_head, n_tokens] layout. Tokens go in chunks so the score
// scratch stays bounded.
#include "cuda/cuda_attention_body.cuh"
#include "cuda/cuda_ops.h"

#include <algorithm>

namespace corvid::cuda {
namespace {

constexpr int kPromptMinTokens = kPromptAttentionMinTokens;

__global__ void attn_merge_kernel(const float *part_acc, const float2 *part_ml, MergeOut mo, int D, int H, int chunks) {
    grid_dependency_wait();
    allow_dependents();
    __shared__ AttnShared sh;
    merge_head(part_acc, part_ml, mo, D, H, chunks, blockIdx.x, blockIdx.y, threadIdx.x, sh);
}

// One split block a CTA (cuda_attention_body.cuh: attn_split_body).
template <bool F16>
__global__ void __launch_bounds__(kThreads)
    attn_split_kernel(AttnArgs a, float *part_acc, float2 *part_ml, MergeOut mo, int *counters) {
    grid_dependency_wait();
    allow_dependents();
    __shared__ AttnShared sh;
    attn_split_body<F16>(a, part_acc, part_ml, mo, counters, blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, sh);
}

// ---- prompt path ------------------------------------------------------------------------

// Q [D, H, T] (rows at q_nb1 / q_nb2) -> contiguous F16 (or F32) [T][H][D].
template <typename OutT>
__global__ void q_convert_kernel(const uint8_t *q, int64_t q_nb1, int64_t q_nb2, int D, int H, int64_t n, OutT *out) {
    grid_dependency_wait();
    allow_dependents();
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int d = static_cast<int>(i % D);
    const int64_t r = i / D;
    const int h = static_cast<int>(r % H);
    const int64_t t = r / H;
    const float x = reinterpret_cast<const float *>(q + h * q_nb1 + t * q_nb2)[d];
    if constexpr (sizeof(OutT) == 2) out[i] = __float2half_rn(x);
    else out[i] = x;
}

// Rows of S ([H][T][NKV] F32): p = softmax(s * scale + mask[t]), probabilities rounded to
// F16 for an F16 cache (the reference's rounding), written to P of the same layout.
template <typename OutT>
__global__ void attn_softmax_kernel(const float *S, const uint8_t *mask, int64_t mask_nb1, int T, int NKV, float scale,
                                    OutT *P) {
    grid_dependency_wait();
    allow_dependents();
    __shared__ float red[8];
    const int64_t row = blockIdx.x; // h * T + t
    const int t = static_cast<int>(row % T);
    const float *s = S + row * NKV;
    const float *m = reinterpret_cast<const float *>(mask + t * mask_nb1);
    OutT *pr = P + row * NKV;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < NKV; j += blockDim.x)
        if (m[j] != -INFINITY) mx = fmaxf(mx, s[j] * scale + m[j]);
    mx = warps_reduce(mx, red, true, threadIdx.x, blockDim.x / 32);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < NKV; j += blockDim.x)
        if (m[j] != -INFINITY) sum += expf(s[j] * scale + m[j] - mx);
    sum = warps_reduce(sum, red, false, threadIdx.x, blockDim.x / 32);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int j = threadIdx.x; j < NKV; j += blockDim.x) {
        const float pv = m[j] == -INFINITY ? 0.0f : expf(s[j] * scale + m[j] - mx) * inv;
        if constexpr (sizeof(OutT) == 2) pr[j] = __float2half_rn(pv);
        else pr[j] = pv;
    }
}

void attention_prompt(Context &ctx, Tensor &dst) {
    const Tensor &q = *dst.src[0], &k = *dst.src[1], &v = *dst.src[2], &mask = *dst.src[3];
    const int D = static_cast<int>(q.ne[0]), H = static_cast<int>(q.ne[1]), T = static_cast<int>(q.ne[2]);
    const int NKV = static_cast<int>(k.ne[1]), HKV = static_cast<int>(k.ne[2]), group = H / HKV;
    const bool f16 = k.type == DType::F16;
    const size_t es = f16 ? 2 : 4;
    const cudaDataType_t dt = f16 ? CUDA_R_16F : CUDA_R_32F;
    // Tokens per pass: scores and probabilities of at most ~256 MiB.
    const int64_t per_token = static_cast<int64_t>(H) * NKV * (4 + es);
    const int tc = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(T, (int64_t(256) << 20) / per_token)));
    auto *qc = static_cast<uint8_t *>(ctx.scratch(kScratchAttention, es * D * H * tc + per_token * tc + 256));
    float *S = reinterpret_cast<float *>(qc + (es * D * H * tc + 255) / 256 * 256);
    uint8_t *P = reinterpret_cast<uint8_t *>(S + static_cast<int64_t>(H) * NKV * tc);
    const float one = 1.0f, zero = 0.0f;
    const auto *kb = static_cast<const uint8_t *>(k.data), *vb = static_cast<const uint8_t *>(v.data);
    const int ldk = static_cast<int>(k.nb[1] / es), ldv = static_cast<int>(v.nb[1] / es);
    const long long k_bs = static_cast<long long>(k.nb[2] / es), v_bs = static_cast<long long>(v.nb[2] / es);

    for (int t0 = 0; t0 < T; t0 += tc) {
        const int nt = std::min(tc, T - t0);
        const uint8_t *qp = static_cast<const uint8_t *>(q.data) + t0 * q.nb[2];
        const int64_t nq = static_cast<int64_t>(D) * H * nt;
        if (f16)
            launch(ctx, q_convert_kernel<__half>, blocks_for(nq, 256), 256, 0, 
                qp, static_cast<int64_t>(q.nb[1]), static_cast<int64_t>(q.nb[2]), D, H, nq, reinterpret_cast<__half *>(qc));
        else
            launch(ctx, q_convert_kernel<float>, blocks_for(nq, 256), 256, 0, 
                qp, static_cast<int64_t>(q.nb[1]), static_cast<int64_t>(q.nb[2]), D, H, nq, reinterpret_cast<float *>(qc));
        CV_LAUNCHED("q_convert_kernel");
        // S_h = K_hk^T Q_h, batched over the kv heads, once per head of a group.
        for (int g = 0; g < group; ++g)
            CV_CUBLAS(cublasGemmStridedBatchedEx(
                ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, NKV, nt, D, &one, kb, dt, ldk, k_bs, qc + es * g * D, dt, H * D,
                static_cast<long long>(group) * D, &zero, S + static_cast<int64_t>(g) * nt * NKV, CUDA_R_32F, NKV,
                static_cast<long long>(group) * nt * NKV, HKV, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        const uint8_t *mp = static_cast<const uint8_t *>(mask.data) + t0 * mask.nb[1];
        const unsigned rows = static_cast<unsigned>(H * nt);
        if (f16)
            launch(ctx, attn_softmax_kernel<__half>, rows, 256, 0, S, mp, static_cast<int64_t>(mask.nb[1]), nt, NKV,
                                                                      dst.fp[0], reinterpret_cast<__half *>(P));
        else
            launch(ctx, attn_softmax_kernel<float>, rows, 256, 0, S, mp, static_cast<int64_t>(mask.nb[1]), nt, NKV,
                                                                     dst.fp[0], reinterpret_cast<float *>(P));
        CV_LAUNCHED("attn_softmax_kernel");
        // O_h = V_hk P_h into dst[:, h, t0 + t].
        float *out = reinterpret_cast<float *>(static_cast<uint8_t *>(dst.data) + t0 * dst.nb[2]);
        for (int g = 0; g < group; ++g)
            CV_CUBLAS(cublasGemmStridedBatchedEx(
                ctx.cublas, CUBLAS_OP_N, CUBLAS_OP_N, D, nt, NKV, &one, vb, dt, ldv, v_bs,
                P + es * static_cast<int64_t>(g) * nt * NKV, dt, NKV, static_cast<long long>(group) * nt * NKV, &zero,
                out + static_cast<int64_t>(g) * D, CUDA_R_32F, H * D, static_cast<long long>(group) * D, HKV,
                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
}

} // namespace

void attention_merge(Context &ctx, const float *part_acc, const float2 *part_ml, float *out, int D, int H, int T,
                     int chunks) {
    const MergeOut mo{out, nullptr, nullptr, nullptr};
    launch(ctx, attn_merge_kernel, dim3(static_cast<unsigned>(H), static_cast<unsigned>(T)), kThreads, 0, part_acc,
           part_ml, mo, D, H, chunks);
    CV_LAUNCHED("attn_merge_kernel");
}

bool attention(Context &ctx, Tensor &dst, int8_t *q8, float *d8, int *s8) {
    const Tensor &q = *dst.src[0], &k = *dst.src[1], &v = *dst.src[2];
    const int D = static_cast<int>(q.ne[0]), H = static_cast<int>(q.ne[1]), T = static_cast<int>(q.ne[2]);
    const int NKV = static_cast<int>(k.ne[1]), HKV = static_cast<int>(k.ne[2]);
    if (D > kMaxHead) fail(Status::unsupported, "cuda attention: head size %d is over %d", D, kMaxHead);
    if (q.nb[0] != sizeof(float)) fail(Status::internal, "cuda attention: q rows must be contiguous");
    if (!dst.is_contiguous()) fail(Status::internal, "cuda attention: the result must be contiguous");
    if (T == 0 || H == 0) return false;
    const size_t es = k.type == DType::F16 ? 2 : 4;
    const bool blas_ok = k.nb[1] % es == 0 && k.nb[2] % es == 0 && v.nb[1] % es == 0 && v.nb[2] % es == 0;
    if (T >= kPromptMinTokens && NKV > 0 && flash_attention_prompt(ctx, dst)) return false;
    if (T >= kPromptMinTokens && NKV > 0 && blas_ok) {
        attention_prompt(ctx, dst);
        return false;
    }
    AttnArgs a{};
    static_cast<AttnOperands &>(a) = attn_operands(dst);
    a.D = D;
    a.H = H;
    a.NKV = NKV;
    a.group = H / HKV;
    a.chunks = std::max(1, (NKV + kChunk - 1) / kChunk);
    a.scale = dst.fp[0];
    a.vec = D % 32 == 0 && a.k_nb1 % 16 == 0 && a.k_nb2 % 16 == 0 && reinterpret_cast<uintptr_t>(a.k) % 16 == 0;
    a.vec_v = D % 2 == 0 && a.v_nb1 % 4 == 0 && a.v_nb2 % 4 == 0 && reinterpret_cast<uintptr_t>(a.v) % 4 == 0;
    const int64_t slots = static_cast<int64_t>(T) * H * a.chunks;
    auto *part = static_cast<uint8_t *>(ctx.scratch(kScratchAttention, slots * (sizeof(float) * D + sizeof(float2))));
    auto *ml = reinterpret_cast<float2 *>(part);
    auto *acc = reinterpret_cast<float *>(part + slots * sizeof(float2));
    const dim3 grid(static_cast<unsigned>(a.chunks), static_cast<unsigned>(H), static_cast<unsigned>(T));
    const bool quantize = q8 && D % 32 == 0;
    const MergeOut mo{static_cast<float *>(dst.data), quantize ? q8 : nullptr, d8, s8};
    int *counters = nullptr;
    if (ctx.fuses(Context::kFuseAttnMerge))
        counters = static_cast<int *>(ctx.scratch(kScratchCounters, sizeof(int) * static_cast<size_t>(T) * H));
    if (k.type == DType::F16) launch(ctx, attn_split_kernel<true>, grid, kThreads, 0, a, acc, ml, mo, counters);
    else launch(ctx, attn_split_kernel<false>, grid, kThreads, 0, a, acc, ml, mo, counters);
    CV_LAUNCHED("attn_split_kernel");
    if (!counters) {
        launch(ctx, attn_merge_kernel, dim3(static_cast<unsigned>(H), static_cast<unsigned>(T)), kThreads, 0, acc, ml,
               mo, D, H, a.chunks);
        CV_LAUNCHED("attn_merge_kernel");
    }
    return quantize;
}

} // namespace corvid::cuda
