// Weights x a few columns of 8-bit activations with integer dot products (dp4a): the
// decode path for the common quantized types. As in cuda_matvec.cu one warp owns a
// weight row and each lane whole 32-element units, but the unit's quants stay packed
// integers: 4 products per instruction, and the activations move 4x fewer bytes. The
// scales (and the -8 / -32 / min offsets, through sum(q_x)) are applied once per unit.
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_quant.cuh"

#include <cstdlib>

namespace corvid::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kOnes = 0x01010101;

__device__ __forceinline__ uint32_t ld_u32(const uint8_t *p) { return *reinterpret_cast<const uint32_t *>(p); }

// sum_a: the sum of this unit's 32 activations (from the conversion) or null, when the
// kernel adds it up itself (types with an offset or a minimum need it).
template <DType T>
__device__ __forceinline__ float dot_q8(const uint8_t *row, int u, const int *a, float da, const int *sum_a);

__device__ __forceinline__ int act_sum(const int *a, const int *sum_a) {
    if (sum_a) return *sum_a;
    int suma = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) suma = __dp4a(kOnes, a[i], suma);
    return suma;
}

template <> __device__ __forceinline__ float dot_q8<DType::Q4_0>(const uint8_t *row, int u, const int *a, float da, const int *sum_a) {
    const uint8_t *b = row + static_cast<int64_t>(u) * 18;
    const float d = h2f(ld_u16(b));
    int sumi = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t w = ld_u32_a2(b + 2 + 4 * i);
        sumi = __dp4a(static_cast<int>(w & 0x0F0F0F0Fu), a[i], sumi);
        sumi = __dp4a(static_cast<int>((w >> 4) & 0x0F0F0F0Fu), a[4 + i], sumi);
    }
    const int suma = act_sum(a, sum_a);
    return d * da * static_cast<float>(sumi - 8 * suma);
}
template <> __device__ __forceinline__ float dot_q8<DType::Q4_1>(const uint8_t *row, int u, const int *a, float da, const int *sum_a) {
    const uint8_t *b = row + static_cast<int64_t>(u) * 20;
    const float d = h2f(ld_u16(b)), m = h2f(ld_u16(b + 2));
    int sumi = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const uint32_t w = ld_u32(b + 4 + 4 * i);
        sumi = __dp4a(static_cast<int>(w & 0x0F0F0F0Fu), a[i], sumi);
        sumi = __dp4a(static_cast<int>((w >> 4) & 0x0F0F0F0Fu), a[4 + i], sumi);
    }
    const int suma = act_sum(a, sum_a);
    return da * (d * static_cast<float>(sumi) + m * static_cast<float>(suma));
}
template <> __device__ __forceinline__ float dot_q8<DType::Q8_0>(const uint8_t *row, int u, const int *a, float da, const int *sum_a) {
    const uint8_t *b = row + static_cast<int64_t>(u) * 34;
    const float d = h2f(ld_u16(b));
    int sumi = 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) sumi = __dp4a(static_cast<int>(ld_u32_a2(b + 2 + 4 * i)), a[i], sumi);
    return d * da * static_cast<float>(sumi);
}
template <> __device__ __forceinline__ float dot_q8<DType::Q4_K>(const uint8_t *row, int u, const int *a, float da, const int *sum_a) {
    const uint8_t *b = row + static_cast<int64_t>(u >> 3) * 144;
    const int i = u & 7;
    const float d = h2f(ld_u16(b)), dmin = h2f(ld_u16(b + 2));
    int sc, mn;
    k4_scale_min(b + 4, i, sc, mn);
    const uint4 *qp = reinterpret_cast<const uint4 *>(b + 16 + 32 * (i / 2));
    const uint4 q0 = qp[0], q1 = qp[1];
    const uint32_t w[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
    const int shift = 4 * (i & 1);
    int sumi = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) sumi = __dp4a(static_cast<int>((w[j] >> shift) & 0x0F0F0F0Fu), a[j], sumi);
    const int suma = act_sum(a, sum_a);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
    return da * (dl * static_cast<float>(sumi) - ml * static_cast<float>(suma));
}
template <> __device__ __forceinline__ float dot_q8<DType::Q5_K>(const uint8_t *row, int u, const int *a, float da, const int *sum_a) {
    const uint8_t *b = row + static_cast<int64_t>(u >> 3) * 176;
    const int i = u & 7;
    const float d = h2f(ld_u16(b)), dmin = h2f(ld_u16(b + 2));
    int sc, mn;
    k4_scale_min(b + 4, i, sc, mn);
    const uint4 *hp = reinterpret_cast<const uint4 *>(b + 16);
    const uint4 *qp = reinterpret_cast<const uint4 *>(b + 48 + 32 * (i / 2));
    const uint4 q0 = qp[0], q1 = qp[1], h0 = hp[0], h1 = hp[1];
    const uint32_t w[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
    const uint32_t h[8] = {h0.x, h0.y, h0.z, h0.w, h1.x, h1.y, h1.z, h1.w};
    const int shift = 4 * (i & 1);
    int sumi = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const uint32_t q = ((w[j] >> shift) & 0x0F0F0F0Fu) | (((h[j] >> i) & 0x01010101u) << 4);
        sumi = __dp4a(static_cast<int>(q), a[j], sumi);
    }
    const int suma = act_sum(a, sum_a);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
    return da * (dl * static_cast<float>(sumi) - ml * static_cast<float>(suma));
}
template <> __device__ __forceinline__ float dot_q8<DType::Q6_K>(const uint8_t *row, int u, const int *a, float da, const int *sum_a) {
    const uint8_t *b = row + static_cast<int64_t>(u >> 3) * 210;
    const int i = u & 7, h = i / 4, k = i % 4;
    const uint8_t *ql = b + 64 * h + (k & 1) * 32, *qh = b + 128 + 32 * h;
    const int lshift = k < 2 ? 0 : 4;
    const float d = h2f(ld_u16(b + 208));
    const int8_t *scales = reinterpret_cast<const int8_t *>(b + 192 + 2 * i);
    float r = 0.0f;
#pragma unroll
    for (int s = 0; s < 2; ++s) {
        int sumi = 0, suma = 0;
#pragma unroll
        for (int j = 4 * s; j < 4 * s + 4; ++j) {
            const uint32_t lo = (ld_u32_a2(ql + 4 * j) >> lshift) & 0x0F0F0F0Fu;
            const uint32_t hi = ((ld_u32_a2(qh + 4 * j) >> (2 * k)) & 0x03030303u) << 4;
            sumi = __dp4a(static_cast<int>(lo | hi), a[j], sumi);
            suma = __dp4a(kOnes, a[j], suma);
        }
        r += static_cast<float>(scales[s]) * static_cast<float>(sumi - 32 * suma);
    }
    return d * da * r;
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
__device__ void quantize_finished_group(const Parts &p, int row0, int rows_per_block, int nc) {
    __shared__ int last;
    __threadfence();
    __syncthreads();
    const int g = row0 / 32;
    if (threadIdx.x == 0) {
        const int mine = min(rows_per_block, p.N[0] - row0);
        last = atomicAdd(&p.out.counters[g], mine) + mine == 32;
        if (last) p.out.counters[g] = 0;
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    const int w = threadIdx.x / 32, lane = threadIdx.x & 31;
    if (w >= nc) return; // one warp per column
    const int64_t K = p.N[0];
    const WarpQ8_0 b = warp_q8_0(__ldcg(&p.dst[0][w * p.ldd[0] + 32 * g + lane]));
    p.out.q[w * K + 32 * g + lane] = static_cast<int8_t>(b.q);
    if (lane == 0) p.out.d[w * (K / 32) + g] = b.d16, p.out.sum[w * (K / 32) + g] = b.sum;
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
#pragma unroll
            for (int c = 0; c < NC; ++c) {
                const int4 *ap = reinterpret_cast<const int4 *>(q + static_cast<int64_t>(c) * K + 32 * u);
                const int4 a0 = ap[0], a1 = ap[1];
                const int a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                const int64_t cu = static_cast<int64_t>(c) * units + u;
                acc[c] += dot_q8<T>(wr, u, a, dq[cu], sq ? sq + cu : nullptr);
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

// Warps per row: enough units per lane to keep a few loads in flight, and enough warps to
// fill the GPU. CORVID_CUDA_WPR=1|2|4 forces one (for A/B timing). A GLU pair computes two
// rows per row, so it uses at most 2.
inline int warps_per_row(int units, bool glu) {
    static const int forced = [] {
        const char *e = std::getenv("CORVID_CUDA_WPR");
        const int v = e ? std::atoi(e) : 0;
        return v == 1 || v == 2 || v == 4 ? v : 0;
    }();
    const int w = forced ? forced : units >= 256 ? 4 : units >= 64 ? 2 : 1;
    return glu && w > 2 ? 2 : w;
}

template <DType T, int NC, int WPR>
void launch_parts(Context &ctx, Parts p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu) {
    const int rows_per_block = kWarps / (WPR * (glu ? 2 : 1));
    unsigned next = 0;
    for (int s = 0; s < kMaxMatvecParts; ++s) {
        p.first_block[s] = next;
        if (s < n_parts && !(glu && s == 1)) next += blocks_for(p.N[s], rows_per_block); // a GLU pair: one set
    }
    p.first_block[kMaxMatvecParts] = next;
    for (int s = n_parts; s < kMaxMatvecParts; ++s) p.first_block[s] = next; // never selected
    launch(ctx, matvec_q8_kernel<T, NC, WPR>, next, kWarps * 32, 0, p, k, q, d, sq, glu);
}

template <DType T, int NC>
void launch_nc(Context &ctx, const Parts &p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu) {
    switch (warps_per_row(k / 32, glu != 0)) {
    case 4: launch_parts<T, NC, 4>(ctx, p, n_parts, k, q, d, sq, glu); break;
    case 2: launch_parts<T, NC, 2>(ctx, p, n_parts, k, q, d, sq, glu); break;
    default: launch_parts<T, NC, 1>(ctx, p, n_parts, k, q, d, sq, glu); break;
    }
}

template <DType T>
void launch_matvec(Context &ctx, const MatvecPart *parts, int n_parts, int64_t K, const int8_t *q, const float *d,
                   const int *sum, int64_t M, int glu, const Q8Sink &out) {
    // CORVID_CUDA_ACT_SUMS=0: the kernels add the activations up themselves (A/B timing).
    static const bool sums_off = [] {
        const char *e = std::getenv("CORVID_CUDA_ACT_SUMS");
        return e && e[0] == '0';
    }();
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
        case 1: launch_nc<T, 1>(ctx, p, n_parts, k, qm, dm, sm, glu); break;
        case 2: launch_nc<T, 2>(ctx, p, n_parts, k, qm, dm, sm, glu); break;
        case 3: launch_nc<T, 3>(ctx, p, n_parts, k, qm, dm, sm, glu); break;
        default: launch_nc<T, 4>(ctx, p, n_parts, k, qm, dm, sm, glu); break;
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
    switch (w) {
    case DType::Q4_0: launch_matvec<DType::Q4_0>(ctx, parts, n_parts, K, q, d, sum, M, glu, out); break;
    case DType::Q4_1: launch_matvec<DType::Q4_1>(ctx, parts, n_parts, K, q, d, sum, M, glu, out); break;
    case DType::Q8_0: launch_matvec<DType::Q8_0>(ctx, parts, n_parts, K, q, d, sum, M, glu, out); break;
    case DType::Q4_K: launch_matvec<DType::Q4_K>(ctx, parts, n_parts, K, q, d, sum, M, glu, out); break;
    case DType::Q5_K: launch_matvec<DType::Q5_K>(ctx, parts, n_parts, K, q, d, sum, M, glu, out); break;
    case DType::Q6_K: launch_matvec<DType::Q6_K>(ctx, parts, n_parts, K, q, d, sum, M, glu, out); break;
    default: fail(Status::internal, "cuda matvec_q8: no kernel for %s", dtype_name(w));
    }
}

void matvec_q8(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const int8_t *q,
               const float *d, const int *sum, int64_t M, float *dst, int64_t ldd) {
    const MatvecPart part{W, w_nb1, N, dst, ldd, nullptr, 0};
    matvec_q8_parts(ctx, w, &part, 1, K, q, d, sum, M, MatvecEpilogue::none, Q8Sink{});
}

} // namespace corvid::cuda
