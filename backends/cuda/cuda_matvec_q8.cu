// Weights x a few columns of 8-bit activations with integer dot products (dp4a): the
// decode path for the common quantized types. Each lane takes whole 32-element units whose
// quants stay packed integers (Unit): 4 products per instruction, and the activations move
// 4x fewer bytes than floats. The scales (and the -8 / -32 / min offsets, through sum(q_x))
// are applied once per unit. Here: the tile kernel (a few columns) and the older
// one-row-per-warp kernel, and the dispatch between them and the decode step's stream kernel
// (cuda_matvec_stream.cu); the shared pieces are in cuda_matvec_q8.cuh.
#include "cuda/cuda_matvec_q8.cuh"

#include <algorithm>

namespace corvid::cuda {
namespace {

using namespace q8kernels;

constexpr int kWarps = 4;

// Which kernel a launch uses: the tile kernel over planar weights or over ggml's blocks, or
// the older one-row-per-warp kernel (CORVID_CUDA_MATVEC=old, for A/B timing; also for rows
// too long for a tile).
enum class MatvecKernel { old, tiles, planar };

// The Q8_0 sink of the block kernels: the block that completes a 32-row group converts it
// (one warp per column).
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
