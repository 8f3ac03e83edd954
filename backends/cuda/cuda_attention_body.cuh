// The decode attention's split blocks and their merge as device code, for its kernels
// (cuda_attention.cu). (A persistent decode kernel ran two split blocks in each of its
// 256-thread blocks; it measured slower and was removed: docs/cuda_performance.md.)
#pragma once

#include "cuda/cuda_ops.h"

namespace corvid::cuda {

constexpr int kChunk = 32;    // keys per block (decode path)
constexpr int kThreads = 128; // threads per block (decode path): 4 per key
constexpr int kMaxHead = 256;
constexpr int kMergeStaged = 256; // chunks whose partial states merge_head stages in shared memory

template <bool F16> __device__ __forceinline__ float kv_at(const uint8_t *row, int d) {
    if constexpr (F16) return h2f(reinterpret_cast<const uint16_t *>(row)[d]);
    else return reinterpret_cast<const float *>(row)[d];
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

// What a split block keeps in shared memory.
struct AttnShared {
    float qs[kMaxHead];
    float p[kChunk];
    float red[kThreads / 32];
    float2 vsum[kThreads];
    float2 ml[kMergeStaged];
    float w[kMergeStaged];
    bool last;
};

// The max or sum of v over `warps` warps of threads (thread tid; sh: one float a warp), every
// thread getting the result: a split block (kThreads), or a whole block of the prompt path's
// softmax.
__device__ __forceinline__ float warps_reduce(float v, float *sh, bool is_max, int tid, int warps) {
    const int lane = tid & 31, w = tid / 32;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float x = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? fmaxf(v, x) : v + x;
    }
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float r = sh[0];
    for (int i = 1; i < warps; ++i) r = is_max ? fmaxf(r, sh[i]) : r + sh[i];
    return r;
}

// Merges the chunks of head h, token t (the whole split block, thread tid of kThreads; a
// warp holds 32 consecutive values). The partial states are read through L2 (__ldcg): in
// the split kernel other SMs wrote them during this very launch.
__device__ inline void merge_head(const float *part_acc, const float2 *part_ml, const MergeOut &mo, int D, int H,
                                  int chunks, int h, int t, int tid, AttnShared &sh) {
    const int64_t base = (static_cast<int64_t>(t) * H + h) * chunks;
    // Each chunk's (max, sum) read once, by one thread each, and its weight exp(max - M)
    // computed once: every thread then reads them from shared memory (three passes of
    // dependent L2 reads per thread were most of the merge's time in a decode step). More
    // chunks than that (very long caches): read where they are.
    const bool staged = chunks <= kMergeStaged;
    auto ml_at = [&](int c) { return staged ? sh.ml[c] : __ldcg(&part_ml[base + c]); };
    if (staged) {
        for (int c = tid; c < chunks; c += kThreads) sh.ml[c] = __ldcg(&part_ml[base + c]);
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
        for (int c = tid; c < chunks; c += kThreads) sh.w[c] = sh.ml[c].x != -INFINITY ? expf(sh.ml[c].x - M) : 0.0f;
        __syncthreads();
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    float *o = mo.out + (static_cast<int64_t>(t) * H + h) * D;
    int8_t *q8 = mo.q8;
    float *d8 = mo.d8;
    int *s8 = mo.s8;
    for (int d = tid; d < D; d += kThreads) {
        float acc = 0.0f;
        for (int c = 0; c < chunks; ++c) {
            if (staged) {
                if (sh.ml[c].x != -INFINITY) acc += __ldcg(&part_acc[(base + c) * D + d]) * sh.w[c];
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
            if ((tid & 31) == 0) d8[t * (K / 32) + k / 32] = b.d16, s8[t * (K / 32) + k / 32] = b.sum;
        }
    }
}

// Split block (chunk c of 32 keys, head h, token t): 4 threads per key (each a quarter of the
// head), thread tid of kThreads. counters (T * H zeroed ints, or null for a separate merge
// kernel): each block counts itself in its (token, head) after its partial state is visible
// (fence); the one that completes the count merges the head (mo) and zeroes the counter for
// the next launch.
template <bool F16>
__device__ inline void attn_split_body(const AttnArgs &a, float *part_acc, float2 *part_ml, const MergeOut &mo,
                                       int *counters, int c, int h, int t, int tid, AttnShared &sh) {
    float *qs = sh.qs, *p = sh.p, *red = sh.red;
    const int hk = h / a.group;
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
    const float m = warps_reduce(part == 0 ? s : -INFINITY, red, true, tid, kThreads / 32);
    const float e = (s == -INFINITY) ? 0.0f : expf(s - m);
    if (part == 0) p[kj] = e;
    const float l = warps_reduce(part == 0 ? e : 0.0f, red, false, tid, kThreads / 32); // (its barriers also publish p[])
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
        float2 *vsum = sh.vsum;
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
    bool &last = sh.last;
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
    merge_head(part_acc, part_ml, mo, a.D, a.H, a.chunks, h, t, tid, sh);
}

} // namespace corvid::cuda
