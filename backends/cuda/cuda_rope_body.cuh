// rope of one or two tensors (q and k of a layer), optionally with the K and V cache stores,
// one thread a rotated pair, as device code for its kernel (cuda_norm_rope.cu).
#pragma once

#include "cuda/cuda_ops.h"
#include "cuda/cuda_store.cuh"

namespace corvid::cuda {

struct RopeArgs {
    int n_dims;
    bool neox;
    float freq_scale, ext_factor, attn_factor, theta_scale;
    float corr0, corr1;
};

__device__ __forceinline__ float yarn_ramp(float low, float high, int i0) {
    const float y = (i0 / 2 - low) / fmaxf(0.001f, high - low);
    return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

// One rotated tensor of a launch: rows are [head] vectors indexed (head, token, batch).
struct RopeTensor {
    const uint8_t *x;
    RowMap xm;
    float *out;
    int64_t head, rows, ne1;
};

// The K and V cache stores fused after a rope pair (Kind >= 0): the K store's source is
// t1's result, flat (row m of k.ne0 values), so the thread that rotates a pair also stores
// it; the V rows (v.src) are copied by threads after the rope ones. n: rows stored.
struct RopeStore {
    RowStore k, v;
    const int32_t *ids;
    int64_t n;
    int *err;
    bool v_quads; // V rows go 4 elements a load and a store (aligned, ne0 % 4 == 0)
    bool k_rows;  // the rotated K values go to the second rope's result too, not only the cache
};

// The rotation of pair p (elements i0 = 2p, i0 + 1 of the rotated part) at position `pos`:
// its cos and sin, scaled. The angle is built by the reference's repeated multiplication, so
// that it rounds the same way.
__device__ __forceinline__ void rope_angle(const RopeArgs &a, float pos, int p, const float *ff, float &c, float &s) {
    float theta = pos;
    for (int k = 0; k < p; ++k) theta = __fmul_rn(theta, a.theta_scale);
    const float theta_extrap = theta / (ff ? ff[p] : 1.0f);
    const float theta_interp = __fmul_rn(a.freq_scale, theta_extrap);
    float th = theta_interp, mscale = a.attn_factor;
    if (a.ext_factor != 0.0f) {
        const float mix = yarn_ramp(a.corr0, a.corr1, 2 * p) * a.ext_factor;
        th = theta_interp * (1 - mix) + theta_extrap * mix;
        mscale *= 1.0f + 0.1f * logf(1.0f / a.freq_scale);
    }
    c = __fmul_rn(cosf(th), mscale);
    s = __fmul_rn(sinf(th), mscale);
}

// Rope angles shared by the ropes of a step (Context::rope_angles): cos and sin of pair p at
// position index i2 in [i2 * n_dims / 2 + p]. in: read them (computed by an earlier rope of
// the same positions and parameters); out: this launch computes and stores them.
struct RopeTable {
    const float2 *in;
    float2 *out;
};

// The thread space of one rotated tensor: (token, group of `per` heads, pair), pairs
// fastest, so that a warp reads consecutive elements; each thread computes its pair's angle
// once and rotates that pair in each of its heads (a prompt's angle is then not recomputed
// for every head: the angle costs more than the rotation).
struct RopeSpace {
    int half, groups, per; // pairs a row, head groups a token, heads a group
    int threads;
};
constexpr int kRopeMaxPer = 4;

// One thread per (token, head group, pair) of t0, then of t1 (q and k of one layer share
// positions and parameters: one launch for both); with Kind >= 0 (0 f32, 1 f16, 2 bf16
// caches) also the K and V stores (st: each thread past the ropes stores 4 V elements), a
// layer's four small ops in one launch. k_flat: K's cache rows are whole tokens of t1
// (k.ne0 == head * t1.ne1), so an element's cache place needs no division.
//
// As device code: thread item i of the launch's space, after the dependency on what came
// before.
template <int Kind>
__device__ __forceinline__ void rope_item(const RopeTensor &t0, const RopeTensor &t1, const RopeSpace &s0,
                                          const RopeSpace &s1, int n_t, const int32_t *pos, const float *ff,
                                          const RopeArgs &a, const RopeTable &tab, const RopeStore &st, bool k_flat,
                                          bool pairs, int i) {
    const bool second = i >= s0.threads;
    if (second) {
        i -= s0.threads;
        if (n_t < 2 || i >= s1.threads) {
            if constexpr (Kind >= 0) { // 4 V elements
                if (n_t == 2) i -= s1.threads;
                const int per_row = static_cast<int>((st.v.ne0 + 3) / 4);
                const int64_t r = i / per_row;
                if (r >= st.n) return;
                const int64_t e0 = 4 * static_cast<int64_t>(i % per_row);
                const float *src = reinterpret_cast<const float *>(st.v.src + r * st.v.s_nb1);
                if (st.v_quads) {
                    const float4 x = *reinterpret_cast<const float4 *>(src + e0);
                    const float xs[4] = {x.x, x.y, x.z, x.w};
                    store_elems<Kind, 4>(st.v, st.ids, r, e0, xs, st.err);
                } else {
                    for (int64_t e = e0; e < e0 + 4 && e < st.v.ne0; ++e) store_elem<Kind>(st.v, st.ids, r, e, src[e], st.err);
                }
            }
            return;
        }
    }
    const RopeTensor &t = second ? t1 : t0;
    const RopeSpace &sp = second ? s1 : s0;
    const int p = i % sp.half;
    const int rest = i / sp.half;
    const int g = rest % sp.groups;
    const int64_t tb = rest / sp.groups; // token (and batch) index: rows tb * ne1 + head
    const int64_t head = t.head;
    const int64_t i2 = tb % t.xm.ne2, i3 = tb / t.xm.ne2;
    const int i0 = 2 * p;
    const int h_end = min(static_cast<int>(t.ne1), (g + 1) * sp.per);
    float c = 1.0f, sn = 0.0f;
    const bool rotated = i0 < a.n_dims;
    if (rotated) {
        const int64_t slot = i2 * (a.n_dims / 2) + p;
        if (tab.in) {
            const float2 cs = tab.in[slot];
            c = cs.x, sn = cs.y;
        } else {
            rope_angle(a, static_cast<float>(pos[i2]), p, ff, c, sn);
            if (tab.out && g == 0 && !second && i3 == 0) tab.out[slot] = make_float2(c, sn);
        }
    }
    const int64_t j0 = !rotated ? a.n_dims + (i0 - a.n_dims) : a.neox ? p : i0;
    const int64_t j1 = !rotated ? j0 + 1 : a.neox ? p + a.n_dims / 2 : i0 + 1;
    // A group is at most kRopeMaxPer heads: all their loads first, then the rotations and
    // stores (the compiler cannot move a load above a store that may alias it, and one load
    // after another store made each head a memory latency).
    float x0[kRopeMaxPer], x1[kRopeMaxPer];
    const int h0 = g * sp.per;
#pragma unroll
    for (int k = 0; k < kRopeMaxPer; ++k) {
        if (h0 + k >= h_end) break;
        const float *xr = reinterpret_cast<const float *>(t.x + (h0 + k) * t.xm.nb1 + i2 * t.xm.nb2 + i3 * t.xm.nb3);
        if (pairs) { // j1 == j0 + 1 < head: one 8-byte load
            const float2 x = *reinterpret_cast<const float2 *>(xr + j0);
            x0[k] = x.x, x1[k] = x.y;
        } else {
            x0[k] = j0 < head ? xr[j0] : 0.0f;
            x1[k] = j1 < head ? xr[j1] : 0.0f;
        }
    }
#pragma unroll
    for (int k = 0; k < kRopeMaxPer; ++k) {
        const int h = h0 + k;
        if (h >= h_end) break;
        const int64_t r = tb * t.ne1 + h;
        float *o = t.out + r * head;
        // Elements j .. j + N - 1 of the row get v (and, for the K rows, their cache cells too).
        auto put = [&](int64_t j, auto n, const float *v) {
            constexpr int N = decltype(n)::value;
            const bool row_out = Kind < 0 || !second || st.k_rows;
            if (row_out) {
                if constexpr (N == 2) *reinterpret_cast<float2 *>(o + j) = make_float2(v[0], v[1]);
                else o[j] = v[0];
            }
            if constexpr (Kind >= 0) {
                if (second) {
                    if (k_flat) {
                        store_elems<Kind, N>(st.k, st.ids, tb, h * head + j, v, st.err);
                    } else {
                        const int64_t f = r * head + j;
                        store_elems<Kind, N>(st.k, st.ids, f / st.k.ne0, f % st.k.ne0, v, st.err);
                    }
                }
            }
        };
        const float y[2] = {rotated ? __fsub_rn(__fmul_rn(x0[k], c), __fmul_rn(x1[k], sn)) : x0[k],
                            rotated ? __fadd_rn(__fmul_rn(x0[k], sn), __fmul_rn(x1[k], c)) : x1[k]};
        if (pairs) {
            put(j0, std::integral_constant<int, 2>{}, y);
        } else { // (past the rotated part, the pass-through tail n_dims..head-1)
            if (j0 < head) put(j0, std::integral_constant<int, 1>{}, y);
            if (j1 < head) put(j1, std::integral_constant<int, 1>{}, y + 1);
        }
    }
}

} // namespace corvid::cuda
