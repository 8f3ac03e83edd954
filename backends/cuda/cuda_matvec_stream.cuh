// The decode step's stream matvec as device code: its units' loads, the activations staged
// in shared memory, the finished rows' stores and the kernel's body (stream_body), for its
// kernel (cuda_matvec_stream.cu).
#pragma once

#include "cuda/cuda_matvec_q8.cuh"

namespace corvid::cuda::q8kernels {

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
// 1.1-1.8 TB/s of an H100's 3.2 (see docs/cuda_performance.md). The first form of this kernel
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
// cap both the chunk size and the blocks. Copies that hold no registers did not help: a
// per-warp cp.async ring was level, a bulk-copy ring a block (one block an SM, up to 96 KiB)
// 25% slower, and one persistent launch a step with grid barriers 34% slower (H100,
// 2026-12-07; both removed, docs/cuda_performance.md).

constexpr int kStreamThreads = 256, kStreamWarps = kStreamThreads / 32;
// Blocks an SM the kernel is compiled for: 4 (64 registers a thread), a GLU's two rows 3 (80);
// 4 units a lane 2 (128: at 64 they spilled), so that fewer warps have twice the bytes in
// flight each. Without spills 4 units were still slower (Q4_0 tg128 on an H100, alternated:
// 305.4 / 306.7 against 318.8 / 316.2 at 2), so they stay an A/B setting.
template <bool GLU, int U> constexpr int stream_min_blocks() { return U >= 4 ? 2 : GLU ? 3 : 4; }
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
__device__ inline void quantize_finished_groups_warp(const Parts &p, int first, int step, int rows, int lane) {
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

// The part whose rows job j falls in: the parts' rows are laid end to end (row f of that list
// is row f - first_block[s] of part s).
__device__ __forceinline__ int part_of_job(const Parts &p, int j) {
    return j < static_cast<int>(p.first_block[1]) ? 0 : j < static_cast<int>(p.first_block[2]) ? 1 : 2;
}
// The rows of job j: row j of the parts' rows laid end to end, or a GLU's row j of both
// matrices (slot 0 the gate, slot 1 the up row).
template <DType T, int R, bool GLU>
__device__ __forceinline__ void stream_rows(const Parts &p, int j, int jobs, int64_t bpr, StreamRows<T, R> &r) {
#pragma unroll
    for (int i = 0; i < R; ++i) {
        const int s = GLU ? 0 : part_of_job(p, j);
        const int mat = GLU ? i : s;
        r.ok[i] = j < jobs;
        r.s[i] = s;
        r.row[i] = j - static_cast<int>(p.first_block[s]);
        r.r[i] = PlanarRow<T>(p.W[mat], p.N[mat], bpr, r.row[i]);
    }
}
// The column's activations into shared memory (layout above), by the whole block (Threads
// threads), which then meets at a barrier.
template <int Threads = kStreamThreads>
__device__ __forceinline__ void stage_activations(int4 *s_q, float *s_d, int *s_sum, const int8_t *q, const float *dq,
                                                  const int *sq, int units) {
    for (int i = static_cast<int>(threadIdx.x); i < 2 * units; i += Threads)
        s_q[act_half(i / 2, i & 1)] = reinterpret_cast<const int4 *>(q)[i];
    for (int i = static_cast<int>(threadIdx.x); i < units; i += Threads) {
        s_d[i] = dq[i];
        if (sq) s_sum[i] = sq[i];
    }
    __syncthreads();
}
// A finished row (row `row` of part s) from the lanes' sums: a GLU stores act(gate) * up
// (acc[0], acc[1]), a product its sum plus the part's residual.
template <bool GLU>
__device__ __forceinline__ void store_row(const Parts &p, int act, const float *acc, int s, int row, int lane) {
    if constexpr (GLU) {
        const float g = warp_sum(acc[0]), up = warp_sum(acc[1]);
        if (lane == 0) p.dst[0][row] = (act == 2 ? gelu_ref(g) : silu_ref(g)) * up;
    } else {
        float v = warp_sum(acc[0]);
        if (p.res[s]) v += p.res[s][row];
        if (lane == 0) p.dst[s][row] = v;
    }
}

// The stream kernel's work as block `block` of `blocks`: R rows a job (a GLU: 2, its gate and up rows),
// U units a lane and chunk. smem: stream_smem_bytes(K / 32, sq != null) bytes. wait(): the
// dependency on the kernels before, called once by every thread of every block,
// after the first weights are loaded and before the activations are read.
template <DType T, bool GLU, int U, typename Wait>
__device__ __forceinline__ void stream_body(const Parts &p, int K, const int8_t *q, const float *dq, const int *sq,
                                            int act, int block, int blocks, int4 *stream_smem, Wait wait) {
    constexpr int R = GLU ? 2 : 1;
    const int lane = threadIdx.x & 31;
    const int W = blocks * kStreamWarps;
    const int jobs = static_cast<int>(p.first_block[kMaxMatvecParts]); // rows over all parts (a GLU: pairs)
    const int units = K / 32;
    const int chunks = (units + 32 * U - 1) / (32 * U); // per row
    const int64_t bpr = units / (QTraits<T>::qk / 32);
    int4 *s_q = stream_smem;
    float *s_d = reinterpret_cast<float *>(s_q + 2 * units);
    int *s_sum = reinterpret_cast<int *>(s_d + units);
    // Two cursors over this warp's (job, chunk) stream: the one being loaded (l) runs one
    // chunk ahead of the one being computed (c).
    int ljob = block * kStreamWarps + static_cast<int>(threadIdx.x) / 32, lchunk = 0;
    StreamChunk<T, R, U> buf0, buf1;
    StreamRows<T, R> lr;
    if (ljob < jobs) { // the weights first: no kernel writes them
        stream_rows<T, R, GLU>(p, ljob, jobs, bpr, lr);
        load_chunk<T, R, U>(buf0, lr, 0, units, lane);
    }
    wait();
    stage_activations(s_q, s_d, s_sum, q, dq, sq, units);
    if (ljob >= jobs) return;

    int cjob = ljob, cchunk = 0, crow[R], cs[R];
    float acc[R];
#pragma unroll
    for (int i = 0; i < R; ++i) crow[i] = lr.row[i], cs[i] = lr.s[i], acc[i] = 0.0f;
    auto advance_load = [&] {
        if (++lchunk == chunks) {
            lchunk = 0;
            ljob += W;
            if (ljob < jobs) stream_rows<T, R, GLU>(p, ljob, jobs, bpr, lr);
        }
    };
    advance_load();
    auto finish_row = [&] {
        store_row<GLU>(p, act, acc, cs[0], crow[0], lane);
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

} // namespace corvid::cuda::q8kernels
