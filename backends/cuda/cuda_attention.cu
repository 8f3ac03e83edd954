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
#include "cuda/cuda_ops.h"

#include <algorithm>

namespace corvid::cuda {
namespace {

constexpr int kChunk = 32;    // keys per block (decode path)
constexpr int kThreads = 128; // threads per block (decode path): 4 per key
constexpr int kMaxHead = 256;
constexpr int kPromptMinTokens = kPromptAttentionMinTokens;

template <bool F16> __device__ __forceinline__ float kv_at(const uint8_t *row, int d) {
    if constexpr (F16) return h2f(reinterpret_cast<const uint16_t *>(row)[d]);
    else return reinterpret_cast<const float *>(row)[d];
}

__device__ float block_reduce(float v, float *sh, bool is_max) {
    const int lane = threadIdx.x & 31, w = threadIdx.x / 32;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float x = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? fmaxf(v, x) : v + x;
    }
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float r = sh[0];
    for (int i = 1; i < static_cast<int>(blockDim.x / 32); ++i) r = is_max ? fmaxf(r, sh[i]) : r + sh[i];
    return r;
}

struct AttnArgs : AttnOperands {
    int D, H, NKV, group, chunks;
    float scale;
    bool vec;   // K rows can be read with 16-byte loads
    bool vec_v; // V rows can be read as half2 (D even, 4-byte aligned rows)
};

// Where the merged result goes. q8 (may be null; D % 32 == 0): the output is also written as
// Q8_0 blocks with their sums, as cuda_activations.cu's q8_0_kernel would from the stored
// floats, for the product that reads it next (column t of K = H * D values).
struct MergeOut {
    float *out;
    int8_t *q8;
    float *d8;
    int *s8;
};

// Merges the chunks of head h, token t (the whole block; a warp holds 32 consecutive
// values). The partial states are read through L2 (__ldcg): in the split kernel other SMs
// wrote them during this very launch.
constexpr int kMergeStaged = 256; // chunks whose partial states merge_head stages in shared memory

__device__ void merge_head(const float *part_acc, const float2 *part_ml, const MergeOut &mo, int D, int H, int chunks,
                           int h, int t) {
    const int64_t base = (static_cast<int64_t>(t) * H + h) * chunks;
    // Each chunk's (max, sum) read once, by one thread each, and its weight exp(max - M)
    // computed once: every thread then reads them from shared memory (three passes of
    // dependent L2 reads per thread were most of the merge's time in a decode step). More
    // chunks than that (very long caches): read where they are.
    __shared__ float2 s_ml[kMergeStaged];
    __shared__ float s_w[kMergeStaged];
    const bool staged = chunks <= kMergeStaged;
    auto ml_at = [&](int c) { return staged ? s_ml[c] : __ldcg(&part_ml[base + c]); };
    if (staged) {
        for (int c = threadIdx.x; c < chunks; c += blockDim.x) s_ml[c] = __ldcg(&part_ml[base + c]);
        __syncthreads();
    }
    float M = -INFINITY;
    for (int c = 0; c < chunks; ++c) M = fmaxf(M, ml_at(c).x);
    float L = 0.0f;
    for (int c = 0; c < chunks; ++c) {
        const float2 ml = ml_at(c);
        if (ml.x != -INFINITY) L += ml.y * expf(ml.x - M);
    }
    if (staged) {
        for (int c = threadIdx.x; c < chunks; c += blockDim.x) s_w[c] = s_ml[c].x != -INFINITY ? expf(s_ml[c].x - M) : 0.0f;
        __syncthreads();
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    float *o = mo.out + (static_cast<int64_t>(t) * H + h) * D;
    int8_t *q8 = mo.q8;
    float *d8 = mo.d8;
    int *s8 = mo.s8;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float acc = 0.0f;
        for (int c = 0; c < chunks; ++c) {
            if (staged) {
                if (s_ml[c].x != -INFINITY) acc += __ldcg(&part_acc[(base + c) * D + d]) * s_w[c];
            } else {
                const float2 ml = __ldcg(&part_ml[base + c]);
                if (ml.x != -INFINITY) acc += __ldcg(&part_acc[(base + c) * D + d]) * expf(ml.x - M);
            }
        }
        const float v = acc * inv;
        o[d] = v;
        if (q8) {
            const int64_t k = static_cast<int64_t>(h) * D + d, K = static_cast<int64_t>(H) * D;
            const WarpQ8_0 b = warp_q8_0(v);
            q8[t * K + k] = static_cast<int8_t>(b.q);
            if ((threadIdx.x & 31) == 0) d8[t * (K / 32) + k / 32] = b.d16, s8[t * (K / 32) + k / 32] = b.sum;
        }
    }
}

__global__ void attn_merge_kernel(const float *part_acc, const float2 *part_ml, MergeOut mo, int D, int H, int chunks) {
    grid_dependency_wait();
    allow_dependents();
    merge_head(part_acc, part_ml, mo, D, H, chunks, blockIdx.x, blockIdx.y);
}

// 4 threads per key (each a quarter of the head), 32 keys per block. counters (T * H zeroed
// ints, or null for a separate merge kernel): each block counts itself in its (token, head)
// after its partial state is visible (fence); the one that completes the count merges the
// head (mo) and zeroes the counter for the next launch.
template <bool F16>
__global__ void __launch_bounds__(kThreads)
    attn_split_kernel(AttnArgs a, float *part_acc, float2 *part_ml, MergeOut mo, int *counters) {
    grid_dependency_wait();
    allow_dependents();
    __shared__ float qs[kMaxHead];
    __shared__ float p[kChunk];
    __shared__ float red[kThreads / 32];
    const int c = blockIdx.x, h = blockIdx.y, t = blockIdx.z;
    const int hk = h / a.group, tid = threadIdx.x;
    const float *qr = reinterpret_cast<const float *>(a.q + h * a.q_nb1 + t * a.q_nb2);
    for (int d = tid; d < a.D; d += kThreads) qs[d] = F16 ? __half2float(__float2half_rn(qr[d])) : qr[d];
    __syncthreads();

    const int kj = tid / 4, part = tid % 4;
    const int j = c * kChunk + kj;
    float s = -INFINITY;
    const float mv = j < a.NKV ? reinterpret_cast<const float *>(a.mask + t * a.mask_nb1)[j] : -INFINITY;
    float dot = 0.0f;
    if (mv != -INFINITY) {
        const uint8_t *kr = a.k + hk * a.k_nb2 + static_cast<int64_t>(j) * a.k_nb1;
        if (F16 && a.vec) { // D % 32 == 0: each quarter is whole 16-byte chunks
            const int q8 = a.D / 32;
            const uint4 *kp = reinterpret_cast<const uint4 *>(kr) + part * q8;
            const float *qq = qs + part * q8 * 8;
            for (int i = 0; i < q8; ++i) {
                const uint4 w = kp[i];
                const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&ws[e]));
                    dot += qq[8 * i + 2 * e] * f.x + qq[8 * i + 2 * e + 1] * f.y;
                }
            }
        } else {
            for (int d = part; d < a.D; d += 4) dot += qs[d] * kv_at<F16>(kr, d);
        }
    }
    dot += __shfl_xor_sync(0xffffffffu, dot, 1);
    dot += __shfl_xor_sync(0xffffffffu, dot, 2);
    if (mv != -INFINITY) s = dot * a.scale + mv;
    const float m = block_reduce(part == 0 ? s : -INFINITY, red, true);
    const float e = (s == -INFINITY) ? 0.0f : expf(s - m);
    if (part == 0) p[kj] = e;
    const float l = block_reduce(part == 0 ? e : 0.0f, red, false); // (its barriers also publish p[])
    const int64_t slot = (static_cast<int64_t>(t) * a.H + h) * a.chunks + c;
    const int n = min(kChunk, a.NKV - c * kChunk);
    const uint8_t *vb = a.v + hk * a.v_nb2 + static_cast<int64_t>(c) * kChunk * a.v_nb1;
    // The weighted sum of V: thread (group gi, column pair cp) adds up keys gi, gi + G, ... of
    // the chunk, their loads all in flight, then the G groups' sums are added in order. (A
    // thread per column adding the chunk's 32 keys one after another waited on each key's
    // loads in turn.) Masked keys (p == 0) may sit over stale cells: skipped, not multiplied.
    const int pairs = (a.D + 1) / 2; // <= kThreads (D <= 256)
    const int G = kThreads / pairs, gi = tid / pairs, cp = tid % pairs, d0 = 2 * cp;
    float2 acc = make_float2(0.0f, 0.0f);
    if (gi < G) {
#pragma unroll 8
        for (int jj = gi; jj < n; jj += G) {
            const float pj = p[jj];
            const uint8_t *vr = vb + jj * a.v_nb1;
            float2 vv;
            if (F16 && a.vec_v) {
                vv = __half22float2(reinterpret_cast<const __half2 *>(vr)[cp]);
            } else {
                vv.x = kv_at<F16>(vr, d0);
                vv.y = d0 + 1 < a.D ? kv_at<F16>(vr, d0 + 1) : 0.0f;
            }
            if (pj != 0.0f) acc.x += pj * vv.x, acc.y += pj * vv.y;
        }
    }
    float *pa = part_acc + slot * a.D;
    if (G > 1) { // (G is the same in every thread)
        __shared__ float2 vsum[kThreads];
        vsum[tid] = acc;
        __syncthreads();
        if (gi == 0) {
            acc = vsum[cp];
            for (int g = 1; g < G; ++g) acc.x += vsum[g * pairs + cp].x, acc.y += vsum[g * pairs + cp].y;
        }
    }
    if (gi == 0) {
        pa[d0] = acc.x;
        if (d0 + 1 < a.D) pa[d0 + 1] = acc.y;
    }
    if (tid == 0) part_ml[slot] = make_float2(m, l);
    if (!counters) return;
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (tid == 0) {
        int &count = counters[static_cast<int64_t>(t) * a.H + h];
        last = atomicAdd(&count, 1) == a.chunks - 1;
        if (last) count = 0;
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    merge_head(part_acc, part_ml, mo, a.D, a.H, a.chunks, h, t);
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
    mx = block_reduce(mx, red, true);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < NKV; j += blockDim.x)
        if (m[j] != -INFINITY) sum += expf(s[j] * scale + m[j] - mx);
    sum = block_reduce(sum, red, false);
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
        flush_persistent(ctx); // (cuBLAS enqueues without launch())
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
        flush_persistent(ctx); // (cuBLAS enqueues without launch())
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
