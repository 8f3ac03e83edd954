// Weights x a few columns of 8-bit activations with integer dot products (dp4a): the
// decode path for the common quantized types. Each lane takes whole 32-element units whose
// quants stay packed integers (Unit): 4 products per instruction, and the activations move
// 4x fewer bytes than floats. The scales (and the -8 / -32 / min offsets, through sum(q_x))
// are applied once per unit. Two kernels: the tile kernel (the default, below) and the older
// one-row-per-warp kernel.
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_quant.cuh"

#include <algorithm>
#include <initializer_list>
#include <cstdlib>
#include <type_traits>

namespace corvid::cuda {
namespace {

// A/B switches read from the environment once: the value of `name` when it is one of
// `allowed`, else `fallback`; and whether `name` is set to 0.
int env_choice(const char *name, std::initializer_list<int> allowed, int fallback) {
    const char *e = std::getenv(name);
    const int v = e ? std::atoi(e) : fallback;
    return std::find(allowed.begin(), allowed.end(), v) != allowed.end() ? v : fallback;
}
bool env_off(const char *name) {
    const char *e = std::getenv(name);
    return e && e[0] == '0';
}

constexpr int kWarps = 4;
constexpr int kOnes = 0x01010101;

// Which kernel a launch uses: the tile kernel over planar weights or over ggml's blocks, or
// the older one-row-per-warp kernel (CORVID_CUDA_MATVEC=old, for A/B timing; also for rows
// too long for a tile).
enum class MatvecKernel { old, tiles, planar };

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

__device__ void quantize_finished_group(const Parts &p, int row0, int rows_per_block, int nc) {
    __shared__ int last;
    __threadfence();
    __syncthreads();
    const int g = row0 / 32;
    if (threadIdx.x == 0) last = completes_group(p, g, min(rows_per_block, p.N[0] - row0));
    __syncthreads();
    const int w = threadIdx.x / 32;
    if (last && w < nc) convert_group(p, g, w, threadIdx.x & 31); // one warp per column
}

// WPR warps share a row (each lane takes every (32 * WPR)-th unit; the warps' sums meet in
// shared memory): a 4096-row product with one warp per row fills under half a wave of the
// H200 (ncu: 46% achieved occupancy, 71% of cycles with no warp eligible, stalled on
// global loads), so the rows of few units are split to put more loads in flight.
// glu (1 silu, 2 gelu): parts 0 and 1 are a gate and an up matrix of the same rows; each
// block computes the same rows of both and writes act(gate) * up to part 0's dst, so the
// two products are never stored. Otherwise each output is the sum, plus res when set.
template <DType T, int NC, int WPR>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_q8_kernel(Parts p, int K, const int8_t *q, const float *dq, const int *sq, int glu) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int s = blockIdx.x < p.first_block[1] ? 0 : blockIdx.x < p.first_block[2] ? 1 : 2;
    // Warp w works on matrix `mat`, local row `lr`, share `part` of that row.
    const int mats = glu ? 2 : 1, rows_per_block = kWarps / (WPR * mats);
    const int lr = warp / (WPR * mats), mat = glu ? (warp / WPR) % 2 : s, part = warp % WPR;
    const int row = static_cast<int>(blockIdx.x - p.first_block[s]) * rows_per_block + lr;
    const int N = p.N[mat];
    const uint8_t *wr = p.W[mat] + static_cast<int64_t>(row) * p.w_nb1[mat];
    // (Prefetching the row into L2 before this wait, with dependent launches on, measured
    // slower: 288 / 283 against 303 tokens/s at Q4_0, 137 / 139 against 166 at F16, 7B, H200.)
    grid_dependency_wait();
    allow_dependents();
    const int units = K / 32;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[c] = 0.0f;
    if (row < N) { // no early return: the block meets at a barrier below
#pragma unroll 4
        for (int u = part * 32 + lane; u < units; u += 32 * WPR) {
            const Unit w = load_unit<T, false>(PlanarRow<T>(), wr, u);
#pragma unroll
            for (int c = 0; c < NC; ++c) {
                const ActUnit a = act_unit(q + static_cast<int64_t>(c) * K, u);
                const int64_t cu = static_cast<int64_t>(c) * units + u;
                acc[c] += unit_dot<T>(w, a.a, dq[cu], sq ? sq + cu : nullptr);
            }
        }
    }
    __shared__ float part_sum[kWarps][NC];
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const float v = warp_sum(acc[c]);
        if (lane == 0) part_sum[warp][c] = v;
    }
    __syncthreads();
    // One thread per (local row, column) adds the shares in order and stores.
    const int t = threadIdx.x, row0 = row - lr;
    if (t < rows_per_block * NC) {
        const int r = t / NC, c = t % NC, out_row = row0 + r;
        if (out_row < p.N[s]) {
            const float *sums = &part_sum[r * WPR * mats][0];
            float v = 0.0f;
#pragma unroll
            for (int i = 0; i < WPR; ++i) v += sums[i * NC + c];
            if (glu) {
                float u = 0.0f;
#pragma unroll
                for (int i = 0; i < WPR; ++i) u += sums[(WPR + i) * NC + c];
                v = (glu == 2 ? gelu_ref(v) : silu_ref(v)) * u;
            } else if (p.res[s]) {
                v += p.res[s][c * p.ldr[s] + out_row];
            }
            p.dst[s][c * p.ldd[s] + out_row] = v;
        }
    }
    if (p.out.q) quantize_finished_group(p, row0, rows_per_block, NC);
}

// Gives each part its blocks of rows_per_block output rows (a GLU pair shares one set) in
// p.first_block; returns the grid size.
unsigned assign_blocks(Parts &p, int n_parts, bool glu, int rows_per_block) {
    unsigned next = 0;
    for (int s = 0; s < kMaxMatvecParts; ++s) {
        p.first_block[s] = next;
        if (s < n_parts && !(glu && s == 1)) next += blocks_for(p.N[s], rows_per_block);
    }
    for (int s = n_parts; s <= kMaxMatvecParts; ++s) p.first_block[s] = next; // never selected
    return next;
}

// ---- the tile kernel (the default) ----------------------------------------------------
//
// A block of 4 warps owns R weight rows (a GLU: R/2 gate and the same R/2 up rows) over all
// of K. It first copies those rows' bytes into shared memory with asynchronous 16-byte copies
// (cp.async: no registers held, so a block has its whole tile in flight, up to 72 KiB, and an
// SM several tiles), before its grid-dependency wait, since weights never depend on an
// earlier kernel. Then its 128 lanes take consecutive 32-element units and dot each with all
// R rows, loading the unit's activations once (otherwise they would be read once per row: as
// many bytes as the weights). Measured first with the rows in registers instead (4 a block):
// each block then had ~9 KiB in flight, waited one memory latency, reduced and stored, and the
// 7B decode step's products ran at 0.9-1.6 TB/s of the H100's 3.1.
// Planar weights (cuda_planar.cuh) are staged plane by plane; ggml's blocks as whole rows.

constexpr int kTileThreads = 128, kTileWarps = kTileThreads / 32;
// Shared memory a tile may take: 64 KiB of weights plus the planes' alignment slack
// (kPlanarMaxRowBytes keeps two planar rows within it).
constexpr int kTileSmemMax = (64 + 8) << 10;

// Copies `bytes` (even) of global memory at src into shared memory at dst (16-byte aligned,
// bytes + 16 long) with the whole block: 16-byte asynchronous copies where src is aligned,
// 2-byte ones at the ends. Returns where the bytes start (dst + src % 16).
__device__ __forceinline__ const uint8_t *stage(uint8_t *dst, const uint8_t *src, int bytes) {
    const int mis = static_cast<int>(reinterpret_cast<uintptr_t>(src) & 15);
    uint8_t *out = dst + mis;
    const int head = mis ? min(bytes, 16 - mis) : 0;
    const int body = (bytes - head) & ~15;
    for (int i = 2 * static_cast<int>(threadIdx.x); i < head; i += 2 * kTileThreads)
        *reinterpret_cast<uint16_t *>(out + i) = ld_u16(src + i);
    for (int i = 16 * static_cast<int>(threadIdx.x); i < body; i += 16 * kTileThreads) {
        const unsigned sm = static_cast<unsigned>(__cvta_generic_to_shared(out + head + i));
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sm), "l"(src + head + i) : "memory");
    }
    for (int i = head + body + 2 * static_cast<int>(threadIdx.x); i < bytes; i += 2 * kTileThreads)
        *reinterpret_cast<uint16_t *>(out + i) = ld_u16(src + i);
    return out;
}

// Bytes of shared memory a tile of `rows` rows (per matrix, mats matrices) of bpr blocks takes.
template <DType T, bool PLANAR> __host__ __device__ constexpr int tile_bytes(int rows, int64_t bpr, int mats) {
    constexpr PlanarFormat f = planar_format(T);
    int64_t total = 0;
    const int planes = PLANAR ? f.n_planes : 1;
    for (int i = 0; i < planes; ++i) {
        const int64_t b = rows * bpr * (PLANAR ? f.bytes[i] : QTraits<T>::bytes);
        total += (b + 15) / 16 * 16 + 16;
    }
    return static_cast<int>(total * mats);
}

// The most weight rows a tile computes for NC columns (R * NC accumulators a lane).
template <int NC> constexpr int tile_rows_max() { return NC == 1 ? 16 : NC == 2 ? 8 : 4; }

// GLU: parts 0 and 1 are the gate and up matrices (same rows); a tile's first R/2 rows are
// gate rows, the next R/2 the same up rows, and it stores act(gate) * up (act 1 silu, 2 gelu).
template <DType T, bool PLANAR, bool GLU, int NC>
__global__ void __launch_bounds__(kTileThreads)
    matvec_tile_kernel(Parts p, int K, int R, const int8_t *q, const float *dq, const int *sq, int act) {
    extern __shared__ __align__(16) uint8_t tile[];
    // Accumulator slots: matrix m's local row lr is slot m * HALF + lr (compile-time indices).
    constexpr int RMAX = tile_rows_max<NC>(), MATS = GLU ? 2 : 1, HALF = RMAX / MATS;
    constexpr int NP = PLANAR ? planar_format(T).n_planes : 1;
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int OUT = GLU ? R / 2 : R;
    const int s = GLU ? 0 : blockIdx.x < p.first_block[1] ? 0 : blockIdx.x < p.first_block[2] ? 1 : 2;
    const int row0 = static_cast<int>(blockIdx.x - p.first_block[s]) * OUT;
    const int rows = min(OUT, p.N[s] - row0); // of each matrix (a GLU's are the same)
    const int units = K / 32;
    const int64_t bpr = units / (QTraits<T>::qk / 32), nb1 = bpr * QTraits<T>::bytes;

    // The weights first: no kernel writes them, so they may be read before the wait.
    const uint8_t *plane[MATS][NP];
    uint8_t *at = tile;
#pragma unroll
    for (int m = 0; m < MATS; ++m) {
        const int mat = GLU ? m : s;
#pragma unroll
        for (int i = 0; i < NP; ++i) {
            const int fb = PLANAR ? planar_format(T).bytes[i] : QTraits<T>::bytes;
            const uint8_t *src = PLANAR ? p.W[mat] + plane_offset(T, i, p.N[mat] * bpr) + row0 * bpr * fb
                                        : p.W[mat] + row0 * nb1;
            const int bytes = static_cast<int>(rows * bpr * fb);
            plane[m][i] = stage(at, src, bytes);
            at += (bytes + 15) / 16 * 16 + 16;
        }
    }
    asm volatile("cp.async.wait_all;" ::: "memory");
    grid_dependency_wait();
    allow_dependents();
    __syncthreads();

    float acc[RMAX][NC];
#pragma unroll
    for (int r = 0; r < RMAX; ++r)
#pragma unroll
        for (int c = 0; c < NC; ++c) acc[r][c] = 0.0f;
    for (int u = threadIdx.x; u < units; u += kTileThreads) {
        ActUnit a[NC];
        float da[NC];
        const int *sa[NC];
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            a[c] = act_unit(q + static_cast<int64_t>(c) * K, u);
            const int64_t cu = static_cast<int64_t>(c) * units + u;
            da[c] = dq[cu];
            sa[c] = sq ? sq + cu : nullptr;
        }
#pragma unroll
        for (int m = 0; m < MATS; ++m)
#pragma unroll
            for (int lr = 0; lr < HALF; ++lr) {
                if (lr >= rows) continue; // (rows <= OUT)
                PlanarRow<T> pr;
                if constexpr (PLANAR) {
#pragma unroll
                    for (int i = 0; i < NP; ++i) pr.p[i] = plane[m][i] + lr * bpr * planar_format(T).bytes[i];
                }
                const Unit w = load_unit<T, PLANAR>(pr, plane[m][0] + lr * nb1, u);
#pragma unroll
                for (int c = 0; c < NC; ++c) acc[m * HALF + lr][c] += unit_dot<T>(w, a[c].a, da[c], sa[c]);
            }
    }
    __shared__ float part_sum[kTileWarps][RMAX][NC];
#pragma unroll
    for (int r = 0; r < RMAX; ++r)
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const float v = warp_sum(acc[r][c]);
            if (lane == 0) part_sum[warp][r][c] = v;
        }
    __syncthreads();
    // One thread per (output row, column) adds the warps' shares in order and stores.
    const int t = threadIdx.x;
    if (t < OUT * NC) {
        const int r = t / NC, c = t % NC, out_row = row0 + r;
        if (r < rows) {
            float v = 0.0f;
#pragma unroll
            for (int i = 0; i < kTileWarps; ++i) v += part_sum[i][r][c];
            if constexpr (GLU) {
                float up = 0.0f;
#pragma unroll
                for (int i = 0; i < kTileWarps; ++i) up += part_sum[i][HALF + r][c];
                v = (act == 2 ? gelu_ref(v) : silu_ref(v)) * up;
            } else if (p.res[s]) {
                v += p.res[s][c * p.ldr[s] + out_row];
            }
            p.dst[s][c * p.ldd[s] + out_row] = v;
        }
    }
    if (p.out.q) quantize_finished_group(p, row0, OUT, NC);
}

// ---- the stream kernel (planar weights, one column: the decode step) -------------------
//
// Each warp owns whole output rows (a GLU: the same row of the gate and the up matrix, both
// at once) and reads them straight from global memory into registers, a chunk of U units a
// lane at a time (16-byte loads of planar quants, 512 contiguous bytes a warp, row and unit).
// A warp walks its rows' chunks as one stream (row w, then w + W, ...), double-buffered: the
// next chunk, of this row or the next, is loaded before the current one is computed, so a
// warp always has loads in flight, across row ends too. The activations (their 8-bit values,
// scales and sums) are staged once a block in shared memory, so the only global loads in the
// loop are the weights'. No barrier after the staging: warps never wait for each other. The
// grid is at most 4 blocks an SM that loop over the rows, sized so that every warp gets the
// same number of rows, and small enough that the next product's blocks find room beside it
// under programmatic dependent launch: each warp loads its first chunk before its
// grid-dependency wait, overlapping the previous kernel's tail. Each row's sum is one lane
// order and one warp reduction whatever the launch (parts, GLU), so fused and unfused
// products give the same bits.
// Why: the tile kernel stages up to 16 rows in shared memory (37 KiB a block, 6 blocks an
// SM) and runs as one wave that loads, then computes, then drains; its products ran at
// 1.1-1.8 TB/s of an H100's 3.2 (see docs/architecture.md). The first form of this kernel
// (one chunk in flight, computed before the next was loaded; activations read from global
// memory in the loop, an L2 round trip after each chunk's weights arrived) reached 29-53% of
// DRAM throughput under ncu, warps stalled on loads 70% of the time.
// Measured (7B tg128, tokens/s, alternated in one call on one H100; Q4_0 / Q4_K_M / Q8_0):
// this form 332 / 293 / 252, the tile kernel 319 / 260 / 229; 1 unit a chunk 317 / 292 /
// 247, 4 units (which spill at 64 registers) 274 / 162 / 120. The first form, on another
// H100 against tiles at 320 / 250 / 231: 314-324 / 308-311 / 252-253 (so this form may be
// no faster at Q4_K_M; not alternated in one call). Tried on the first form: two rows a warp
// sharing each unit's activations, level or a little slower. ncu (caches flushed, Q4_0):
// q/k/v 14.2 us for 28 MB (2.0 TB/s), wo 8.2 us for 9.4 MB (1.15), gate/up 28.3 us for
// 51 MB (1.8), down 15.0 us for 25 MB (1.7) against 13.7 us a launch on average and 33.5 us
// for gate/up with the first form. Still short of the 3.1 TB/s probe: a warp has one or
// two chunks (0.5-2 KiB) in flight, ~32-64 KiB an SM at 4 blocks an SM, and the registers
// cap both the chunk size and the blocks; more bytes in flight need copies that hold no
// registers (cp.async or bulk copies into a per-warp shared-memory ring).

constexpr int kStreamThreads = 256, kStreamWarps = kStreamThreads / 32;
// Blocks an SM the kernel is compiled for: 4 (64 registers a thread), a GLU's two rows 3 (80).
template <bool GLU> constexpr int stream_min_blocks() { return GLU ? 3 : 4; }
// Units a lane loads per row and chunk (two chunks are in registers): the most that compile
// without spills (a unit and row takes 5 registers at Q4_0; Q4_K, Q6_K: 8; Q8_0: 9).
// CORVID_CUDA_STREAM_UNITS=1|2|4 forces one for every type (A/B timing).
template <DType T, int R> constexpr int stream_units_default() {
    return R == 2 && T != DType::Q4_0 ? 1 : 2;
}

// The Q8_0 form of part 0's results, as quantize_finished_group makes it, from a warp that
// has stored rows first, first + step, ... (< rows): the warp that stores the last row of a
// 32-row group converts it. Called once the warp has stored all its rows, so that its one
// fence does not wait for loads of rows still to come.
__device__ void quantize_finished_groups_warp(const Parts &p, int first, int step, int rows, int lane) {
    __threadfence();
    for (int row = first; row < rows; row += step) {
        const int g = row / 32;
        const int last = __shfl_sync(0xffffffffu, lane == 0 && completes_group(p, g, 1), 0);
        if (last) convert_group(p, g, 0, lane);
    }
}

// The R rows of one job: slot i is row `row[i]` of part `s[i]` (a GLU: the gate row, then
// the same up row), `ok[i]` false past the last row.
template <DType T, int R> struct StreamRows {
    PlanarRow<T> r[R];
    int s[R], row[R];
    bool ok[R];
};

template <DType T, int R, int U> struct StreamChunk {
    RawUnit<T> w[R][U];
};

// Loads this lane's units u0 + 32 j (j < U) of each row.
template <DType T, int R, int U>
__device__ __forceinline__ void load_chunk(StreamChunk<T, R, U> &c, const StreamRows<T, R> &r, int u0, int units,
                                           int lane) {
#pragma unroll
    for (int j = 0; j < U; ++j) {
        const int u = u0 + 32 * j + lane;
#pragma unroll
        for (int i = 0; i < R; ++i)
            if (u < units && r.ok[i]) c.w[i][j] = load_raw<T>(r.r[i], u);
    }
}

// The activations in shared memory: unit u's 32 values as two 16-byte halves, swapped for
// every other group of 4 units, so that the quarter-warp reading one half of 8 consecutive
// units touches all 32 banks once; then the units' scales, then their sums (when given).
__device__ __forceinline__ int act_half(int u, int h) { return 2 * u + (h ^ ((u >> 2) & 1)); }
__device__ __forceinline__ ActUnit act_unit_shared(const int4 *s, int u) {
    const int4 a0 = s[act_half(u, 0)], a1 = s[act_half(u, 1)];
    return ActUnit{{a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w}};
}
__host__ __device__ inline size_t stream_smem_bytes(int units, bool sums) {
    return static_cast<size_t>(units) * (32 + 4 + (sums ? 4 : 0));
}
// For the longest rows kept planar (kPlanarMaxRowBytes; every planar type takes at least 18
// bytes a unit).
constexpr int kStreamSmemMax = static_cast<int>(kPlanarMaxRowBytes / 18 * 40);

// R rows a job (a GLU: 2, its gate and up rows), U units a lane and chunk.
template <DType T, bool GLU, int U>
__global__ void __launch_bounds__(kStreamThreads, stream_min_blocks<GLU>())
    matvec_stream_kernel(Parts p, int K, const int8_t *q, const float *dq, const int *sq, int act) {
    constexpr int R = GLU ? 2 : 1;
    extern __shared__ int4 stream_smem[];
    const int lane = threadIdx.x & 31;
    const int W = static_cast<int>(gridDim.x) * kStreamWarps;
    const int jobs = static_cast<int>(p.first_block[kMaxMatvecParts]); // rows over all parts (a GLU: pairs)
    const int units = K / 32;
    const int chunks = (units + 32 * U - 1) / (32 * U); // per row
    const int64_t bpr = units / (QTraits<T>::qk / 32);
    int4 *s_q = stream_smem;
    float *s_d = reinterpret_cast<float *>(s_q + 2 * units);
    int *s_sum = reinterpret_cast<int *>(s_d + units);
    // Job j: row j of the parts' rows laid end to end (row f of that list is row
    // f - first_block[s] of part s), or a GLU's row j of both matrices.
    auto rows_of = [&](int j, StreamRows<T, R> &r) {
#pragma unroll
        for (int i = 0; i < R; ++i) {
            const int s = GLU ? 0 : j < static_cast<int>(p.first_block[1]) ? 0 : j < static_cast<int>(p.first_block[2]) ? 1 : 2;
            const int mat = GLU ? i : s;
            r.ok[i] = j < jobs;
            r.s[i] = s;
            r.row[i] = j - static_cast<int>(p.first_block[s]);
            r.r[i] = PlanarRow<T>(p.W[mat], p.N[mat], bpr, r.row[i]);
        }
    };

    // Two cursors over this warp's (job, chunk) stream: the one being loaded (l) runs one
    // chunk ahead of the one being computed (c).
    int ljob = static_cast<int>(blockIdx.x) * kStreamWarps + static_cast<int>(threadIdx.x) / 32, lchunk = 0;
    StreamChunk<T, R, U> buf0, buf1;
    StreamRows<T, R> lr;
    if (ljob < jobs) { // the weights first: no kernel writes them
        rows_of(ljob, lr);
        load_chunk<T, R, U>(buf0, lr, 0, units, lane);
    }
    grid_dependency_wait();
    allow_dependents();
    for (int i = static_cast<int>(threadIdx.x); i < 2 * units; i += kStreamThreads)
        s_q[act_half(i / 2, i & 1)] = reinterpret_cast<const int4 *>(q)[i];
    for (int i = static_cast<int>(threadIdx.x); i < units; i += kStreamThreads) {
        s_d[i] = dq[i];
        if (sq) s_sum[i] = sq[i];
    }
    __syncthreads();
    if (ljob >= jobs) return;

    int cjob = ljob, cchunk = 0, crow[R], cs[R];
    float acc[R];
#pragma unroll
    for (int i = 0; i < R; ++i) crow[i] = lr.row[i], cs[i] = lr.s[i], acc[i] = 0.0f;
    auto advance_load = [&] {
        if (++lchunk == chunks) {
            lchunk = 0;
            ljob += W;
            if (ljob < jobs) rows_of(ljob, lr);
        }
    };
    advance_load();
    auto finish_row = [&] {
        if constexpr (GLU) {
            const float g = warp_sum(acc[0]), up = warp_sum(acc[1]);
            if (lane == 0) p.dst[0][crow[0]] = (act == 2 ? gelu_ref(g) : silu_ref(g)) * up;
        } else {
            float v = warp_sum(acc[0]);
            if (p.res[cs[0]]) v += p.res[cs[0]][crow[0]];
            if (lane == 0) p.dst[cs[0]][crow[0]] = v;
        }
#pragma unroll
        for (int i = 0; i < R; ++i) acc[i] = 0.0f;
    };
    // Computes the chunk in `cur` while the next one loads into `nxt`; false once there is
    // no next one.
    auto step = [&](StreamChunk<T, R, U> &cur, StreamChunk<T, R, U> &nxt) {
        const bool more = ljob < jobs;
        if (more) load_chunk<T, R, U>(nxt, lr, 32 * U * lchunk, units, lane);
#pragma unroll
        for (int k = 0; k < U; ++k) {
            const int u = 32 * U * cchunk + 32 * k + lane;
            if (u < units) {
                const ActUnit a = act_unit_shared(s_q, u);
#pragma unroll
                for (int i = 0; i < R; ++i)
                    acc[i] += unit_dot<T>(decode_unit<T>(cur.w[i][k], u), a.a, s_d[u], sq ? s_sum + u : nullptr);
            }
        }
        if (cchunk == chunks - 1) finish_row();
        if (more) {
            if (cjob != ljob) {
                cjob = ljob;
#pragma unroll
                for (int i = 0; i < R; ++i) crow[i] = lr.row[i], cs[i] = lr.s[i];
            }
            cchunk = lchunk;
            advance_load();
        }
        return more;
    };
    const int first_job = cjob;
    while (step(buf0, buf1) && step(buf1, buf0)) {
    }
    // (Part 0 is the only part when out.q is set, so jobs are its rows.)
    if (p.out.q) quantize_finished_groups_warp(p, first_job, W, jobs, lane);
}

// The blocks an SM holds of kernel (256 threads, smem bytes of shared memory).
template <typename Kernel> int resident_blocks(Kernel kernel, size_t smem) {
    int n = 0;
    CV_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kStreamThreads, smem));
    return std::max(n, 1);
}

// The stream kernel's grid: as many blocks an SM as it holds, at most
// CORVID_CUDA_STREAM_BLOCKS (default 4: room for the next kernel's blocks beside them), then
// as few warps as give every warp the same number of jobs.
template <DType T, bool GLU, int U>
void launch_stream_kernel(Context &ctx, const Parts &p, unsigned jobs, int k, const int8_t *q, const float *d,
                          const int *sq, int glu) {
    auto *kernel = matvec_stream_kernel<T, GLU, U>;
    const size_t smem = stream_smem_bytes(k / 32, sq != nullptr);
    static const int cap = env_choice("CORVID_CUDA_STREAM_BLOCKS", {1, 2, 3, 4, 5, 6, 7, 8}, 4);
    static const bool raised = [kernel] { // once per kernel: room for the longest planar rows
        CV_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kStreamSmemMax));
        return true;
    }();
    (void)raised;
    const int per_sm = std::min(cap, resident_blocks(kernel, smem));
    const unsigned max_warps = static_cast<unsigned>(ctx.sm_count * per_sm * kStreamWarps);
    const unsigned rounds = (jobs + max_warps - 1) / max_warps;
    const unsigned warps = (jobs + rounds - 1) / rounds;
    launch(ctx, kernel, blocks_for(warps, kStreamWarps), kStreamThreads, smem, p, k, q, d, sq, glu);
}

template <DType T, bool GLU>
void launch_stream_units(Context &ctx, const Parts &p, unsigned jobs, int k, const int8_t *q, const float *d,
                         const int *sq, int glu) {
    static const int forced = env_choice("CORVID_CUDA_STREAM_UNITS", {1, 2, 4}, 0);
    switch (forced ? forced : stream_units_default<T, GLU ? 2 : 1>()) {
    case 1: return launch_stream_kernel<T, GLU, 1>(ctx, p, jobs, k, q, d, sq, glu);
    case 2: return launch_stream_kernel<T, GLU, 2>(ctx, p, jobs, k, q, d, sq, glu);
    default: return launch_stream_kernel<T, GLU, 4>(ctx, p, jobs, k, q, d, sq, glu);
    }
}


// ---- the ring kernel (CORVID_CUDA_RING=1; not yet run on a GPU) -------------------------
//
// The stream kernel's walk (warps own whole rows, activations staged in shared memory, the
// same sums in the same order, so the same bits), but the weights' bulk bytes travel by
// cp.async into a per-warp ring of S stages in shared memory instead of into registers: a
// warp has S - 1 chunks in flight and registers hold only the 2-byte scales of those
// stages. Why: the stream kernel is capped by registers at one or two chunks (0.5-2 KiB) in
// flight a warp, ~32-64 KiB an SM, and its products reach 1.2-2.0 TB/s of 3.1; with S = 4
// a warp keeps 3 chunks in flight, ~96 KiB an SM. Each lane copies and later reads only its
// own bytes, so no barrier is needed: cp.async.wait_group makes a thread's copies visible
// to itself.
// Per lane and unit the ring holds the quants (16 bytes; Q8_0: 32) and, for Q4_K, the
// super-block's 16 metadata bytes, for Q6_K the 8 high-bit bytes; the f16 scales (Q4_0,
// Q8_0, Q6_K: d; Q6_K: the two int8 scales) are loaded into registers when the stage is
// issued.
template <DType T> constexpr int ring_quant_bytes() { return T == DType::Q8_0 ? 32 : 16; }
template <DType T> constexpr int ring_extra_bytes() { return T == DType::Q4_K ? 16 : T == DType::Q6_K ? 8 : 0; }
template <DType T> constexpr int ring_unit_bytes() { return ring_quant_bytes<T>() + ring_extra_bytes<T>(); }
constexpr int kRingStages = 4;
template <DType T, int R> constexpr int ring_units() { return T == DType::Q4_0 ? 2 : 1; }
template <DType T, bool GLU> constexpr int ring_warp_bytes() {
    constexpr int R = GLU ? 2 : 1;
    return kRingStages * R * ring_units<T, R>() * 32 * ring_unit_bytes<T>();
}
__host__ __device__ inline size_t ring_act_bytes(int units, bool sums) { return (stream_smem_bytes(units, sums) + 15) / 16 * 16; }

__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async8(void *dst, const void *src) {
    const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(d), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
template <int I, int N, typename F> __device__ __forceinline__ void static_for(F &&f) {
    if constexpr (I < N) {
        f(std::integral_constant<int, I>{});
        static_for<I + 1, N>(f);
    }
}

template <DType T, bool GLU>
__global__ void __launch_bounds__(kStreamThreads, GLU ? 2 : 4)
    matvec_ring_kernel(Parts p, int K, const int8_t *q, const float *dq, const int *sq, int act) {
    constexpr int R = GLU ? 2 : 1, U = ring_units<T, R>(), S = kRingStages;
    constexpr int QB = ring_quant_bytes<T>(), XB = ring_extra_bytes<T>();
    constexpr int kSlot = 32 * (QB + XB); // one (stage, row, unit) of a warp
    extern __shared__ int4 ring_smem[];
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    const int W = static_cast<int>(gridDim.x) * kStreamWarps;
    const int jobs = static_cast<int>(p.first_block[kMaxMatvecParts]);
    const int units = K / 32;
    const int chunks = (units + 32 * U - 1) / (32 * U);
    const int64_t bpr = units / (QTraits<T>::qk / 32);
    int4 *s_q = ring_smem;
    float *s_d = reinterpret_cast<float *>(s_q + 2 * units);
    int *s_sum = reinterpret_cast<int *>(s_d + units);
    uint8_t *ring = reinterpret_cast<uint8_t *>(ring_smem) + ring_act_bytes(units, sq != nullptr) +
                    static_cast<size_t>(warp) * ring_warp_bytes<T, GLU>();
    auto slot = [&](int st, int i, int j) { return ring + ((st * R + i) * U + j) * kSlot; };

    uint16_t small_d[S][R][U], small_s[S][R][U]; // the stages' f16 / int8 scales (as loaded)
    StreamRows<T, R> lr;
    auto rows_of = [&](int j, StreamRows<T, R> &r) {
#pragma unroll
        for (int i = 0; i < R; ++i) {
            const int s = GLU ? 0 : j < static_cast<int>(p.first_block[1]) ? 0 : j < static_cast<int>(p.first_block[2]) ? 1 : 2;
            const int mat = GLU ? i : s;
            r.ok[i] = j < jobs;
            r.s[i] = s;
            r.row[i] = j - static_cast<int>(p.first_block[s]);
            r.r[i] = PlanarRow<T>(p.W[mat], p.N[mat], bpr, r.row[i]);
        }
    };
    int ljob = static_cast<int>(blockIdx.x) * kStreamWarps + warp, lchunk = 0;
    if (ljob < jobs) rows_of(ljob, lr);
    // Copies the load cursor's chunk into stage ST (nothing past the last job), one commit group.
    auto issue = [&](auto st_c) {
        constexpr int st = decltype(st_c)::value;
        if (ljob < jobs) {
#pragma unroll
            for (int j = 0; j < U; ++j) {
                const int u = 32 * U * lchunk + 32 * j + lane;
#pragma unroll
                for (int i = 0; i < R; ++i) {
                    if (u >= units || !lr.ok[i]) continue;
                    const PlanarRow<T> &r = lr.r[i];
                    uint8_t *dst = slot(st, i, j);
                    [[maybe_unused]] const int64_t sb = u >> 3, k = u & 7;
                    if constexpr (T == DType::Q8_0) {
                        cp_async16(dst + 32 * lane, r.p[0] + 32 * static_cast<int64_t>(u));
                        cp_async16(dst + 32 * lane + 16, r.p[0] + 32 * static_cast<int64_t>(u) + 16);
                        small_d[st][i][j] = ld_u16(r.p[1] + 2 * static_cast<int64_t>(u));
                    } else if constexpr (T == DType::Q4_0) {
                        cp_async16(dst + 16 * lane, r.p[0] + 16 * static_cast<int64_t>(u));
                        small_d[st][i][j] = ld_u16(r.p[1] + 2 * static_cast<int64_t>(u));
                    } else if constexpr (T == DType::Q4_K) {
                        cp_async16(dst + 16 * lane, r.p[0] + 128 * sb + 16 * k);
                        cp_async16(dst + 32 * QB + 16 * lane, r.p[1] + 16 * sb);
                    } else { // Q6_K
                        cp_async16(dst + 16 * lane, r.p[0] + 128 * sb + 16 * k);
                        cp_async8(dst + 32 * QB + 8 * lane, r.p[1] + 64 * sb + 8 * k);
                        small_s[st][i][j] = ld_u16(r.p[2] + 16 * sb + 2 * k);
                        small_d[st][i][j] = ld_u16(r.p[3] + 2 * sb);
                    }
                }
            }
            if (++lchunk == chunks) {
                lchunk = 0;
                ljob += W;
                if (ljob < jobs) rows_of(ljob, lr);
            }
        }
        cp_async_commit();
    };
    // The first S - 1 stages before the dependency wait: weights only.
    static_for<0, S - 1>(issue);
    grid_dependency_wait();
    allow_dependents();
    for (int i = static_cast<int>(threadIdx.x); i < 2 * units; i += kStreamThreads)
        s_q[act_half(i / 2, i & 1)] = reinterpret_cast<const int4 *>(q)[i];
    for (int i = static_cast<int>(threadIdx.x); i < units; i += kStreamThreads) {
        s_d[i] = dq[i];
        if (sq) s_sum[i] = sq[i];
    }
    __syncthreads();

    const int first_job = static_cast<int>(blockIdx.x) * kStreamWarps + warp;
    int cjob = first_job, cchunk = 0;
    float acc[R];
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] = 0.0f;
    auto finish_row = [&] {
        if constexpr (GLU) {
            const float g = warp_sum(acc[0]), up = warp_sum(acc[1]);
            if (lane == 0) p.dst[0][cjob] = (act == 2 ? gelu_ref(g) : silu_ref(g)) * up;
        } else {
            const int s = cjob < static_cast<int>(p.first_block[1]) ? 0 : cjob < static_cast<int>(p.first_block[2]) ? 1 : 2;
            const int row = cjob - static_cast<int>(p.first_block[s]);
            float v = warp_sum(acc[0]);
            if (p.res[s]) v += p.res[s][row];
            if (lane == 0) p.dst[s][row] = v;
        }
#pragma unroll
        for (int i = 0; i < R; ++i) acc[i] = 0.0f;
    };
    bool go = cjob < jobs;
    while (go) {
        static_for<0, S>([&](auto st_c) {
            constexpr int st = decltype(st_c)::value;
            if (!go) return;
            cp_async_wait<S - 2>(); // stage st has landed (one group is committed per stage)
            issue(std::integral_constant<int, (st + S - 1) % S>{}); // into the stage computed last
#pragma unroll
            for (int j = 0; j < U; ++j) {
                const int u = 32 * U * cchunk + 32 * j + lane;
                if (u >= units) continue;
                const ActUnit a = act_unit_shared(s_q, u);
#pragma unroll
                for (int i = 0; i < R; ++i) {
                    const uint8_t *src = slot(st, i, j);
                    RawUnit<T> raw{};
                    if constexpr (T == DType::Q8_0) {
                        raw.q = *reinterpret_cast<const uint4 *>(src + 32 * lane);
                        raw.q2_or_m = *reinterpret_cast<const uint4 *>(src + 32 * lane + 16);
                    } else {
                        raw.q = *reinterpret_cast<const uint4 *>(src + 16 * lane);
                    }
                    if constexpr (T == DType::Q4_K) raw.q2_or_m = *reinterpret_cast<const uint4 *>(src + 32 * QB + 16 * lane);
                    if constexpr (T == DType::Q6_K) {
                        raw.h = *reinterpret_cast<const uint2 *>(src + 32 * QB + 8 * lane);
                        raw.s = small_s[st][i][j];
                    }
                    raw.d = small_d[st][i][j];
                    acc[i] += unit_dot<T>(decode_unit<T>(raw, u), a.a, s_d[u], sq ? s_sum + u : nullptr);
                }
            }
            if (cchunk == chunks - 1) finish_row();
            if (++cchunk == chunks) {
                cchunk = 0;
                cjob += W;
                go = cjob < jobs;
            }
        });
    }
    cp_async_wait<0>();
    // (Part 0 is the only part when out.q is set, so jobs are its rows.)
    if (p.out.q) quantize_finished_groups_warp(p, first_job, W, jobs, lane);
}

template <DType T, bool GLU>
void launch_ring_kernel(Context &ctx, const Parts &p, unsigned jobs, int k, const int8_t *q, const float *d,
                        const int *sq, int glu) {
    auto *kernel = matvec_ring_kernel<T, GLU>;
    const size_t smem = ring_act_bytes(k / 32, sq != nullptr) + kStreamWarps * static_cast<size_t>(ring_warp_bytes<T, GLU>());
    static const bool raised = [kernel] { // once per kernel: the activations of the longest planar rows and the rings
        CV_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     kStreamSmemMax + 16 + kStreamWarps * ring_warp_bytes<T, GLU>()));
        return true;
    }();
    (void)raised;
    const int per_sm = resident_blocks(kernel, smem);
    const unsigned max_warps = static_cast<unsigned>(ctx.sm_count * per_sm * kStreamWarps);
    const unsigned rounds = (jobs + max_warps - 1) / max_warps;
    const unsigned warps = (jobs + rounds - 1) / rounds;
    launch(ctx, kernel, blocks_for(warps, kStreamWarps), kStreamThreads, smem, p, k, q, d, sq, glu);
}

template <DType T>
void launch_stream(Context &ctx, Parts p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu) {
    const unsigned jobs = assign_blocks(p, n_parts, glu != 0, 1);
    if (ctx.matvec_ring && glu) launch_ring_kernel<T, true>(ctx, p, jobs, k, q, d, sq, glu);
    else if (ctx.matvec_ring) launch_ring_kernel<T, false>(ctx, p, jobs, k, q, d, sq, glu);
    else if (glu) launch_stream_units<T, true>(ctx, p, jobs, k, q, d, sq, glu);
    else launch_stream_units<T, false>(ctx, p, jobs, k, q, d, sq, glu);
}

// Rows per tile for this product: the most the columns allow, halved while the tile is over
// budget; 0 when even 2 rows are (the one-row-per-warp kernel takes those).
template <DType T, bool PLANAR, int NC> int tile_rows(int64_t K, bool glu) {
    // CORVID_CUDA_TILE_ROWS=2|4|8|16: at most that many (A/B timing).
    static const int cap = env_choice("CORVID_CUDA_TILE_ROWS", {2, 4, 8, 16}, 16);
    const int64_t bpr = K / QTraits<T>::qk;
    int r = std::min(tile_rows_max<NC>(), cap);
    while (r >= 2 && tile_bytes<T, PLANAR>(glu ? r / 2 : r, bpr, glu ? 2 : 1) > kTileSmemMax) r /= 2;
    return r >= 2 ? r : 0;
}

template <DType T, bool PLANAR, bool GLU, int NC>
void launch_tile_kernel(Context &ctx, const Parts &p, unsigned blocks, int k, int R, const int8_t *q, const float *d,
                        const int *sq, int glu) {
    auto *kernel = matvec_tile_kernel<T, PLANAR, GLU, NC>;
    static const bool raised = [kernel] { // once per kernel: more than the default 48 KiB of shared memory
        CV_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kTileSmemMax));
        return true;
    }();
    (void)raised;
    const int bpr = k / QTraits<T>::qk;
    const size_t smem = static_cast<size_t>(tile_bytes<T, PLANAR>(GLU ? R / 2 : R, bpr, GLU ? 2 : 1));
    launch(ctx, kernel, blocks, kTileThreads, smem, p, k, R, q, d, sq, glu);
}

// Returns false when the rows are too long for a tile.
template <DType T, bool PLANAR, int NC>
bool launch_tiles(Context &ctx, Parts p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu) {
    const int R = tile_rows<T, PLANAR, NC>(k, glu != 0);
    if (R == 0) return false;
    const int64_t row_bytes = static_cast<int64_t>(k / QTraits<T>::qk) * QTraits<T>::bytes;
    for (int s = 0; s < n_parts; ++s)
        if (!PLANAR && p.w_nb1[s] != row_bytes) return false; // a tile stages consecutive rows as one run
    const unsigned next = assign_blocks(p, n_parts, glu != 0, glu ? R / 2 : R);
    if (glu) launch_tile_kernel<T, PLANAR, true, NC>(ctx, p, next, k, R, q, d, sq, glu);
    else launch_tile_kernel<T, PLANAR, false, NC>(ctx, p, next, k, R, q, d, sq, glu);
    return true;
}

// Warps per row: enough units per lane to keep a few loads in flight, and enough warps to
// fill the GPU. CORVID_CUDA_WPR=1|2|4 forces one (for A/B timing). A GLU pair computes two
// rows per row, so it uses at most 2.
inline int warps_per_row(int units, bool glu) {
    static const int forced = env_choice("CORVID_CUDA_WPR", {1, 2, 4}, 0);
    const int w = forced ? forced : units >= 256 ? 4 : units >= 64 ? 2 : 1;
    return glu && w > 2 ? 2 : w;
}

template <DType T, int NC, int WPR>
void launch_parts(Context &ctx, Parts p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu) {
    const unsigned next = assign_blocks(p, n_parts, glu != 0, kWarps / (WPR * (glu ? 2 : 1)));
    launch(ctx, matvec_q8_kernel<T, NC, WPR>, next, kWarps * 32, 0, p, k, q, d, sq, glu);
}

template <DType T, int NC>
void launch_nc(Context &ctx, const Parts &p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu,
               MatvecKernel kernel) {
    if (kernel == MatvecKernel::planar) {
        if constexpr (planar_format(T).n_planes > 0) {
            // CORVID_CUDA_STREAM=0: the tile kernel for one column too (A/B timing).
            static const bool stream = !env_off("CORVID_CUDA_STREAM");
            if (NC == 1 && stream) return launch_stream<T>(ctx, p, n_parts, k, q, d, sq, glu);
            if (launch_tiles<T, true, NC>(ctx, p, n_parts, k, q, d, sq, glu)) return;
        }
        fail(Status::internal, "cuda matvec_q8: no planar kernel for %s rows of %d", dtype_name(T), k);
    }
    if (kernel == MatvecKernel::tiles && launch_tiles<T, false, NC>(ctx, p, n_parts, k, q, d, sq, glu)) return;
    switch (warps_per_row(k / 32, glu != 0)) {
    case 4: launch_parts<T, NC, 4>(ctx, p, n_parts, k, q, d, sq, glu); break;
    case 2: launch_parts<T, NC, 2>(ctx, p, n_parts, k, q, d, sq, glu); break;
    default: launch_parts<T, NC, 1>(ctx, p, n_parts, k, q, d, sq, glu); break;
    }
}

template <DType T>
void launch_matvec(Context &ctx, const MatvecPart *parts, int n_parts, int64_t K, const int8_t *q, const float *d,
                   const int *sum, int64_t M, int glu, const Q8Sink &out, MatvecKernel kernel) {
    // CORVID_CUDA_ACT_SUMS=0: the kernels add the activations up themselves (A/B timing).
    static const bool sums_off = env_off("CORVID_CUDA_ACT_SUMS");
    if (sums_off) sum = nullptr;
    const int k = static_cast<int>(K);
    for (int64_t m0 = 0; m0 < M; m0 += 4) { // columns in groups of up to 4
        const int64_t mc = M - m0 < 4 ? M - m0 : 4;
        Parts p{};
        for (int s = 0; s < n_parts; ++s) {
            const MatvecPart &x = parts[s];
            p.W[s] = x.W;
            p.w_nb1[s] = x.w_nb1;
            p.N[s] = static_cast<int>(x.N);
            p.dst[s] = x.dst + m0 * x.ldd;
            p.ldd[s] = x.ldd;
            p.res[s] = x.res ? x.res + m0 * x.ldr : nullptr;
            p.ldr[s] = x.ldr;
        }
        if (out.q) { // columns m0.. of the conversion (N values each)
            const int64_t n = parts[0].N;
            p.out = Q8Sink{out.q + m0 * n, out.d + m0 * (n / 32), out.sum + m0 * (n / 32), out.counters};
        }
        const int8_t *qm = q + m0 * K;
        const float *dm = d + m0 * (K / 32);
        const int *sm = sum ? sum + m0 * (K / 32) : nullptr;
        switch (mc) {
        case 1: launch_nc<T, 1>(ctx, p, n_parts, k, qm, dm, sm, glu, kernel); break;
        case 2: launch_nc<T, 2>(ctx, p, n_parts, k, qm, dm, sm, glu, kernel); break;
        case 3: launch_nc<T, 3>(ctx, p, n_parts, k, qm, dm, sm, glu, kernel); break;
        default: launch_nc<T, 4>(ctx, p, n_parts, k, qm, dm, sm, glu, kernel); break;
        }
        CV_LAUNCHED("matvec_q8_kernel");
    }
}

} // namespace

bool matvec_q8_supported(DType w) {
    return w == DType::Q4_0 || w == DType::Q4_1 || w == DType::Q8_0 || w == DType::Q4_K || w == DType::Q5_K ||
           w == DType::Q6_K;
}

void matvec_q8_parts(Context &ctx, DType w, const MatvecPart *parts, int n_parts, int64_t K, const int8_t *q,
                     const float *d, const int *sum, int64_t M, MatvecEpilogue epilogue, const Q8Sink &out) {
    if (n_parts < 1 || n_parts > kMaxMatvecParts || (epilogue != MatvecEpilogue::none && n_parts != 2))
        fail(Status::internal, "cuda matvec_q8: %d parts with this epilogue", n_parts);
    if (out.q && (parts[0].N % 32 != 0 || (epilogue == MatvecEpilogue::none && n_parts != 1)))
        fail(Status::internal, "cuda matvec_q8: 8-bit output of %lld rows", static_cast<long long>(parts[0].N));
    const int glu = epilogue == MatvecEpilogue::swiglu ? 1 : epilogue == MatvecEpilogue::geglu ? 2 : 0;
    const bool planar = parts[0].layout == kLayoutPlanar;
    for (int s = 1; s < n_parts; ++s)
        if ((parts[s].layout == kLayoutPlanar) != planar) fail(Status::internal, "cuda matvec_q8: mixed weight layouts");
    const MatvecKernel k = planar ? MatvecKernel::planar : ctx.matvec_old ? MatvecKernel::old : MatvecKernel::tiles;
    switch (w) {
    case DType::Q4_0: launch_matvec<DType::Q4_0>(ctx, parts, n_parts, K, q, d, sum, M, glu, out, k); break;
    case DType::Q4_1: launch_matvec<DType::Q4_1>(ctx, parts, n_parts, K, q, d, sum, M, glu, out, k); break;
    case DType::Q8_0: launch_matvec<DType::Q8_0>(ctx, parts, n_parts, K, q, d, sum, M, glu, out, k); break;
    case DType::Q4_K: launch_matvec<DType::Q4_K>(ctx, parts, n_parts, K, q, d, sum, M, glu, out, k); break;
    case DType::Q5_K: launch_matvec<DType::Q5_K>(ctx, parts, n_parts, K, q, d, sum, M, glu, out, k); break;
    case DType::Q6_K: launch_matvec<DType::Q6_K>(ctx, parts, n_parts, K, q, d, sum, M, glu, out, k); break;
    default: fail(Status::internal, "cuda matvec_q8: no kernel for %s", dtype_name(w));
    }
}

void matvec_q8(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const int8_t *q,
               const float *d, const int *sum, int64_t M, float *dst, int64_t ldd, int32_t layout) {
    const MatvecPart part{W, w_nb1, N, dst, ldd, nullptr, 0, layout};
    matvec_q8_parts(ctx, w, &part, 1, K, q, d, sum, M, MatvecEpilogue::none, Q8Sink{});
}

} // namespace corvid::cuda
