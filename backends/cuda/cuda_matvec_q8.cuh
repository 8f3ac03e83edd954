// Pieces shared by the integer matvec kernels (cuda_matvec_q8.cu: the older and the tile
// kernel, and the dispatch; cuda_matvec_stream.cu: the stream and ring kernels for the
// decode step): a weight unit as packed integers and how it is loaded and decoded, the
// activation units, the dot product of the two, the products of one launch (Parts) and the
// completion of their Q8_0 form.
#pragma once

#include "cuda/cuda_matmul.h"
#include "cuda/cuda_quant.cuh"

namespace corvid::cuda::q8kernels {

constexpr int kOnes = 0x01010101;

__device__ __forceinline__ uint32_t ld_u32(const uint8_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

// sum_a: the sum of a unit's 32 activations (from the conversion) or null, when the
// kernel adds them up itself (types with an offset or a minimum need it).
__device__ __forceinline__ int act_sum(const int *a, const int *sum_a) {
    if (sum_a) return *sum_a;
    int suma = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) suma = __dp4a(kOnes, a[i], suma);
    return suma;
}

// One 32-element unit of a weight row as integers: q[j] holds elements 4j .. 4j + 3, one a
// byte (unsigned levels, signed for Q8_0); x, y the type's float factors (Q4_0 / Q8_0 / Q6_K:
// d; Q4_1: d, m; Q4_K / Q5_K: d * scale, dmin * min); s0, s1 Q6_K's two 16-element scales.
struct Unit {
    int q[8];
    float x, y;
    int s0, s1;
};

// The bytes of planar unit u as loaded, before they are unpacked (decode_unit): loads and
// arithmetic separate, so that a kernel can hold several units' loads in flight in few
// registers. q: quants (Q4_0, Q4_K, Q6_K's low bits: 16 bytes; Q8_0: 32 in q, q2); m: Q4_K's
// super-block metadata (d, dmin, 12 scale bytes); h: Q6_K's high bits; s, d: Q6_K's two
// scales and super-block scale, Q4_0 / Q8_0's scale (d).
template <DType T> struct RawUnit {
    uint4 q;
    uint4 q2_or_m; // Q8_0: the second 16 quants; Q4_K: the metadata
    uint2 h;
    uint16_t s, d;
};

template <DType T> __device__ __forceinline__ RawUnit<T> load_raw(const PlanarRow<T> &r, int u) {
    RawUnit<T> w;
    const int64_t sb = u >> 3;
    const int i = u & 7;
    if constexpr (T == DType::Q8_0) {
        w.q = ld_u128(r.p[0] + 32 * static_cast<int64_t>(u));
        w.q2_or_m = ld_u128(r.p[0] + 32 * static_cast<int64_t>(u) + 16);
        w.d = ld_u16(r.p[1] + 2 * static_cast<int64_t>(u));
    } else if constexpr (T == DType::Q4_0) {
        w.q = ld_u128(r.p[0] + 16 * static_cast<int64_t>(u));
        w.d = ld_u16(r.p[1] + 2 * static_cast<int64_t>(u));
    } else if constexpr (T == DType::Q4_K) {
        w.q = ld_u128(r.p[0] + 128 * sb + 16 * i);
        w.q2_or_m = ld_u128(r.p[1] + 16 * sb);
    } else { // Q6_K
        w.q = ld_u128(r.p[0] + 128 * sb + 16 * i);
        w.h = *reinterpret_cast<const uint2 *>(r.p[1] + 64 * sb + 8 * i);
        w.s = ld_u16(r.p[2] + 16 * sb + 2 * i);
        w.d = ld_u16(r.p[3] + 2 * sb);
    }
    return w;
}

__device__ __forceinline__ int byte_of(const uint4 &v, int b) { return (word_of(v, b >> 2) >> (8 * (b & 3))) & 0xFF; }

// Unit u (its index in the row) unpacked from its loaded bytes.
template <DType T> __device__ __forceinline__ Unit decode_unit(const RawUnit<T> &raw, int u) {
    Unit w{};
    if constexpr (T == DType::Q8_0) {
        const uint32_t l[8] = {raw.q.x, raw.q.y, raw.q.z, raw.q.w, raw.q2_or_m.x, raw.q2_or_m.y, raw.q2_or_m.z, raw.q2_or_m.w};
#pragma unroll
        for (int j = 0; j < 8; ++j) w.q[j] = static_cast<int>(l[j]);
        w.x = h2f(raw.d);
    } else {
        const uint32_t l[4] = {raw.q.x, raw.q.y, raw.q.z, raw.q.w};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            w.q[j] = static_cast<int>(l[j] & 0x0F0F0F0Fu);
            w.q[4 + j] = static_cast<int>((l[j] >> 4) & 0x0F0F0F0Fu);
        }
        if constexpr (T == DType::Q4_0) {
            w.x = h2f(raw.d);
        } else if constexpr (T == DType::Q4_K) {
            // The metadata in registers: d, dmin, then the scale bytes (byte k at 4 + k).
            const uint4 &m = raw.q2_or_m;
            int sc, mn;
            k4_scale_min_of([&m](int k) { return byte_of(m, 4 + k); }, u & 7, sc, mn);
            w.x = h2f(static_cast<uint16_t>(m.x & 0xFFFF)) * static_cast<float>(sc);
            w.y = h2f(static_cast<uint16_t>(m.x >> 16)) * static_cast<float>(mn);
        } else { // Q6_K
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                w.q[j] |= static_cast<int>(((raw.h.x >> (2 * j)) & 0x03030303u) << 4);
                w.q[4 + j] |= static_cast<int>(((raw.h.y >> (2 * j)) & 0x03030303u) << 4);
            }
            w.s0 = static_cast<int8_t>(raw.s & 0xFF);
            w.s1 = static_cast<int8_t>(raw.s >> 8);
            w.x = h2f(raw.d);
        }
    }
    return w;
}

// Unit u of a row: planar (r: the row's start in each plane) or ggml's blocks (row_p).
template <DType T, bool PLANAR>
__device__ __forceinline__ Unit load_unit(const PlanarRow<T> &r, const uint8_t *row_p, int u) {
    if constexpr (PLANAR) {
        return decode_unit<T>(load_raw<T>(r, u), u);
    } else {
        Unit w{};
        if constexpr (T == DType::Q4_0 || T == DType::Q4_1) {
            const int off = T == DType::Q4_0 ? 2 : 4;
            const uint8_t *b = row_p + static_cast<int64_t>(u) * QTraits<T>::bytes;
            w.x = h2f(ld_u16(b));
            if constexpr (T == DType::Q4_1) w.y = h2f(ld_u16(b + 2));
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const uint32_t v = T == DType::Q4_1 ? ld_u32(b + off + 4 * j) : ld_u32_a2(b + off + 4 * j); // Q4_1: 4-aligned
                w.q[j] = static_cast<int>(v & 0x0F0F0F0Fu);
                w.q[4 + j] = static_cast<int>((v >> 4) & 0x0F0F0F0Fu);
            }
        } else if constexpr (T == DType::Q8_0) {
            const uint8_t *b = row_p + static_cast<int64_t>(u) * 34;
            w.x = h2f(ld_u16(b));
#pragma unroll
            for (int j = 0; j < 8; ++j) w.q[j] = static_cast<int>(ld_u32_a2(b + 2 + 4 * j));
        } else if constexpr (T == DType::Q4_K || T == DType::Q5_K) {
            const uint8_t *b = row_p + static_cast<int64_t>(u >> 3) * QTraits<T>::bytes;
            const int i = u & 7;
            int sc, mn;
            k4_scale_min(b + 4, i, sc, mn);
            w.x = h2f(ld_u16(b)) * static_cast<float>(sc);
            w.y = h2f(ld_u16(b + 2)) * static_cast<float>(mn);
            const int qoff = T == DType::Q4_K ? 16 : 48;
            const uint4 *qp = reinterpret_cast<const uint4 *>(b + qoff + 32 * (i / 2));
            const uint4 q0 = qp[0], q1 = qp[1];
            const uint32_t l[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
            const int shift = 4 * (i & 1);
#pragma unroll
            for (int j = 0; j < 8; ++j) w.q[j] = static_cast<int>((l[j] >> shift) & 0x0F0F0F0Fu);
            if constexpr (T == DType::Q5_K) {
                const uint4 *hp = reinterpret_cast<const uint4 *>(b + 16);
                const uint4 h0 = hp[0], h1 = hp[1];
                const uint32_t h[8] = {h0.x, h0.y, h0.z, h0.w, h1.x, h1.y, h1.z, h1.w};
#pragma unroll
                for (int j = 0; j < 8; ++j) w.q[j] |= static_cast<int>(((h[j] >> i) & 0x01010101u) << 4);
            }
        } else { // Q6_K
            const uint8_t *b = row_p + static_cast<int64_t>(u >> 3) * 210;
            const int i = u & 7, h = i / 4, k = i % 4;
            const uint8_t *ql = b + 64 * h + (k & 1) * 32, *qh = b + 128 + 32 * h;
            const int lshift = k < 2 ? 0 : 4;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const uint32_t lo = (ld_u32_a2(ql + 4 * j) >> lshift) & 0x0F0F0F0Fu;
                const uint32_t hi = ((ld_u32_a2(qh + 4 * j) >> (2 * k)) & 0x03030303u) << 4;
                w.q[j] = static_cast<int>(lo | hi);
            }
            const uint16_t sc = ld_u16(b + 192 + 2 * i);
            w.s0 = static_cast<int8_t>(sc & 0xFF);
            w.s1 = static_cast<int8_t>(sc >> 8);
            w.x = h2f(ld_u16(b + 208));
        }
        return w;
    }
}

// The 32 8-bit activations of unit u of a column (q: the column's values), as 8 words.
struct ActUnit {
    int a[8];
};
__device__ __forceinline__ ActUnit act_unit(const int8_t *q, int64_t u) {
    const int4 *ap = reinterpret_cast<const int4 *>(q + 32 * u);
    const int4 a0 = ap[0], a1 = ap[1];
    return ActUnit{{a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w}};
}

// The unit's dot product with 32 8-bit activations a (scale da; sum_a their sum or null),
// applying the scales once per unit (and the -8 / -32 / min offsets through sum(a)).
template <DType T> __device__ __forceinline__ float unit_dot(const Unit &w, const int *a, float da, const int *sum_a) {
    if constexpr (T == DType::Q6_K) {
        int s0 = 0, s1 = 0, a0 = 0, a1 = 0;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            s0 = __dp4a(w.q[j], a[j], s0);
            a0 = __dp4a(kOnes, a[j], a0);
            s1 = __dp4a(w.q[4 + j], a[4 + j], s1);
            a1 = __dp4a(kOnes, a[4 + j], a1);
        }
        float r = 0.0f;
        r += static_cast<float>(w.s0) * static_cast<float>(s0 - 32 * a0);
        r += static_cast<float>(w.s1) * static_cast<float>(s1 - 32 * a1);
        return w.x * da * r;
    } else {
        int sumi = 0;
#pragma unroll
        for (int j = 0; j < 8; ++j) sumi = __dp4a(w.q[j], a[j], sumi);
        if constexpr (T == DType::Q8_0) {
            return w.x * da * static_cast<float>(sumi);
        } else {
            const int suma = act_sum(a, sum_a);
            if constexpr (T == DType::Q4_0) return w.x * da * static_cast<float>(sumi - 8 * suma);
            else if constexpr (T == DType::Q4_1) return da * (w.x * static_cast<float>(sumi) + w.y * static_cast<float>(suma));
            else return da * (w.x * static_cast<float>(sumi) - w.y * static_cast<float>(suma)); // Q4_K, Q5_K
        }
    }
}

// The products of one launch: up to kMaxMatvecParts matrices over the same activations,
// part s owning blocks [first_block[s], first_block[s + 1]).
struct Parts {
    const uint8_t *W[kMaxMatvecParts];
    int64_t w_nb1[kMaxMatvecParts];
    int N[kMaxMatvecParts];
    float *dst[kMaxMatvecParts];
    int64_t ldd[kMaxMatvecParts];
    const float *res[kMaxMatvecParts];
    int64_t ldr[kMaxMatvecParts];
    unsigned first_block[kMaxMatvecParts + 1];
    Q8Sink out; // out.q: part 0's results also as Q8_0 blocks (one launch: one product, or a GLU pair)
};

// The Q8_0 form of part 0's results, made by whichever block stores the last rows of each
// 32-row group: every block adds its rows to the group's counter (after a fence, so that its
// stores are visible first); the block that completes the group reads the 32 values back from
// L2 and converts them exactly as cuda_activations.cu's q8_0_kernel would, then resets the
// counter for the next launch. (N % 32 == 0, and 32 % rows_per_block == 0.)
// Adds `rows` stored rows to group g's counter (one thread, after a fence); true for the
// caller that completes the group, which also resets the counter for the next launch.
__device__ __forceinline__ bool completes_group(const Parts &p, int g, int rows) {
    const bool last = atomicAdd(&p.out.counters[g], rows) + rows == 32;
    if (last) p.out.counters[g] = 0;
    return last;
}
// Group g of column c of part 0's results to Q8_0 (one warp, every lane), once complete.
__device__ __forceinline__ void convert_group(const Parts &p, int g, int c, int lane) {
    __threadfence();
    const int64_t K = p.N[0];
    const WarpQ8_0 b = warp_q8_0(__ldcg(&p.dst[0][c * p.ldd[0] + 32 * g + lane]));
    p.out.q[c * K + 32 * g + lane] = static_cast<int8_t>(b.q);
    if (lane == 0) p.out.d[c * (K / 32) + g] = b.d16, p.out.sum[c * (K / 32) + g] = b.sum;
}

// Gives each part its blocks of rows_per_block output rows (a GLU pair shares one set) in
// p.first_block; returns the grid size.
inline unsigned assign_blocks(Parts &p, int n_parts, bool glu, int rows_per_block) {
    unsigned next = 0;
    for (int s = 0; s < kMaxMatvecParts; ++s) {
        p.first_block[s] = next;
        if (s < n_parts && !(glu && s == 1)) next += blocks_for(p.N[s], rows_per_block);
    }
    for (int s = n_parts; s <= kMaxMatvecParts; ++s) p.first_block[s] = next; // never selected
    return next;
}

// The stream kernel for one column of planar weights: the decode step's products
// (cuda_matvec_stream.cu; T one of the planar types, cuda_planar.cuh).
template <DType T>
void launch_stream(Context &ctx, Parts p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu);

} // namespace corvid::cuda::q8kernels
