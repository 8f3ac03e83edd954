// The decode step's integer matvec: one column of planar weights (cuda_planar.cuh), every
// warp streaming whole rows (the stream kernel), or bulk copies into a shared-memory ring
// (the bulk kernel, with Context::matvec_bulk).
// The units, their dot product and the launch's parts are cuda_matvec_q8.cuh's; the
// dispatch that chooses these kernels is in cuda_matvec_q8.cu.
#include "cuda/cuda_matvec_stream.cuh"
#include "cuda/cuda_async.cuh"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_bulk_plan.h"
#include "cuda/cuda_persistent.h"

#include <algorithm>
#include <atomic>
#include <vector>

namespace corvid::cuda {
namespace q8kernels {
namespace {

// R rows a job (a GLU: 2, its gate and up rows), U units a lane and chunk.
template <DType T, bool GLU, int U>
__global__ void __launch_bounds__(kStreamThreads, stream_min_blocks<GLU, U>())
    matvec_stream_kernel(Parts p, int K, const int8_t *q, const float *dq, const int *sq, int act) {
    extern __shared__ int4 stream_smem[];
    stream_body<T, GLU, U>(p, K, q, dq, sq, act, static_cast<int>(blockIdx.x), static_cast<int>(gridDim.x), stream_smem,
                           [] {
                               grid_dependency_wait();
                               allow_dependents();
                           });
}

// The blocks an SM holds of kernel (256 threads, smem bytes of shared memory), asked of the
// runtime once per kernel and size (a launch's shared memory follows K, so a model asks a
// few times; not on every launch).
template <typename Kernel> int resident_blocks(Kernel kernel, size_t smem) {
    struct Known {
        const void *kernel;
        size_t smem;
        int blocks;
    };
    thread_local std::vector<Known> known;
    const void *key = reinterpret_cast<const void *>(kernel);
    for (const Known &k : known)
        if (k.kernel == key && k.smem == smem) return k.blocks;
    int n = 0;
    CV_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kStreamThreads, smem));
    known.push_back(Known{key, smem, std::max(n, 1)});
    return known.back().blocks;
}

// Blocks of a stream launch: per_sm blocks on every SM at most, then as few warps as
// give every warp the same number of jobs.
unsigned stream_grid(const Context &ctx, unsigned jobs, int per_sm) {
    const unsigned max_warps = static_cast<unsigned>(ctx.sm_count * per_sm * kStreamWarps);
    const unsigned rounds = (jobs + max_warps - 1) / max_warps;
    return blocks_for((jobs + rounds - 1) / rounds, kStreamWarps);
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
    const unsigned grid = stream_grid(ctx, jobs, std::min(cap, resident_blocks(kernel, smem)));
    launch(ctx, kernel, grid, kStreamThreads, smem, p, k, q, d, sq, glu);
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


// ---- the bulk kernel (CORVID_CUDA_BULK=1, sm_90 and later) ----------------------------
//
// The same rows, sums and epilogues as the stream kernel, but the weights travel by bulk
// copies (cuda_async.cuh) into a ring of S stages in shared memory, each stage the whole rows
// of `jps` consecutive jobs (every plane of each row in full), issued by a producer warp
// beside 8 computing warps. Each block owns one contiguous run of jobs, so an SM reads one
// stretch of memory. Why: a decode step is a chain of small kernels, and each boundary
// drains the memory pipe; with the early trigger (grid_dependency_wait, a build option) the
// next product's blocks take an SM while the previous kernels still run, and its producer fills
// its whole ring (up to 96 KiB an SM, ~10 MB over an H100) before its grid-dependency wait,
// where the stream kernel could hold only a chunk a warp in registers. One block an SM, so
// that the next product's block fits beside it. It passes its test (`cuda: bulk matvec against
// the stream kernel ...`, bit for bit) but measured 25% slower than the stream kernel (Q4_0
// tg128 229 / 235 against 321 / 302 on an H100, 2026-12-07, with or without the early
// trigger), so it stays an A/B setting.
// Stage k of a block holds its jobs j0 + k jps ...; its slot is consumed by the warp
// (k jps + slot) % 8, which waits on the stage's `full` barrier (the bytes) and, once done
// with its slots of the stage, arrives on its `empty` barrier, which the producer waits on
// before it reuses the stage. The ring holds a multiple of 8 jobs (S jps % 8 == 0), so a
// stage's slot goes to the same warp in every round, which takes the rounds in order: a wait
// names a phase by its parity only, and a warp waiting for round n + 1 while round n had not
// landed would pass at once. Each lane sums its units u = lane, lane + 32, ... in order, as
// the stream kernel does, so the two give the same bits.
// The plan of a launch (jobs a stage, stages, where each plane lies): cuda_bulk_plan.h.
constexpr int kBulkThreads = 32 * (kBulkComputeWarps + 1);
static_assert(kBulkPlanes == kMaxPlanes, "a plan's planes are the planar layout's");
std::atomic<uint64_t> bulk_launches{0}; // cuda_bulk_matvec_launches()
// Shared memory of a bulk launch: the barriers, the activations, the ring.
constexpr size_t kBulkBarrierBytes = 2 * kBulkMaxStages * sizeof(uint64_t);
__host__ __device__ inline size_t bulk_act_bytes(int units, bool sums) {
    return (stream_smem_bytes(units, sums) + 127) / 128 * 128;
}

template <DType T, bool GLU>
__global__ void __launch_bounds__(kBulkThreads, 1)
    matvec_bulk_kernel(Parts p, int K, const int8_t *q, const float *dq, const int *sq, int act, BulkPlan plan) {
    constexpr int R = GLU ? 2 : 1;
    constexpr PlanarFormat f = planar_format(T);
    extern __shared__ __align__(128) uint8_t bulk_smem[];
    uint64_t *full = reinterpret_cast<uint64_t *>(bulk_smem), *empty = full + kBulkMaxStages;
    const int units = K / 32;
    int4 *s_q = reinterpret_cast<int4 *>(bulk_smem + kBulkBarrierBytes);
    float *s_d = reinterpret_cast<float *>(s_q + 2 * units);
    int *s_sum = reinterpret_cast<int *>(s_d + units);
    uint8_t *ring = bulk_smem + kBulkBarrierBytes + bulk_act_bytes(units, sq != nullptr);
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    const int jobs = static_cast<int>(p.first_block[kMaxMatvecParts]);
    const int64_t bpr = units / (QTraits<T>::qk / 32);
    const int j0 = static_cast<int>(static_cast<int64_t>(jobs) * blockIdx.x / gridDim.x);
    const int j1 = static_cast<int>(static_cast<int64_t>(jobs) * (blockIdx.x + 1) / gridDim.x);
    const int jps = plan.jps, S = plan.stages;
    const int n_stages = (j1 - j0 + jps - 1) / jps;
    const int job_bytes = R * plan.row_bytes;
    auto stage_at = [&](int k) { return ring + static_cast<size_t>(k % S) * jps * job_bytes; };

    if (threadIdx.x == 0) {
        for (int s = 0; s < S; ++s) {
            mbar_init(full + s, 1);
            mbar_init(empty + s, min(jps, kBulkComputeWarps));
        }
        mbar_init_fence();
    }
    __syncthreads();
    // Stage k's copies, by the producer warp: one lane announces the bytes, then every lane
    // copies some of the (job, row, plane) runs.
    auto issue = [&](int k) {
        const int first = j0 + k * jps, n = min(jps, j1 - first);
        if (lane == 0) mbar_expect_tx(full + k % S, static_cast<unsigned>(n * job_bytes));
        __syncwarp();
        uint8_t *dst0 = stage_at(k);
        for (int c = lane; c < n * R * f.n_planes; c += 32) {
            const int slot = c / (R * f.n_planes), i = c / f.n_planes % R, pl = c % f.n_planes;
            StreamRows<T, R> r;
            stream_rows<T, R, GLU>(p, first + slot, jobs, bpr, r);
            bulk_copy(dst0 + slot * job_bytes + i * plan.row_bytes + plan.plane_at[pl], r.r[i].p[pl],
                      static_cast<unsigned>(plan.plane_bytes[pl]), full + k % S);
        }
    };
    const bool producer = warp == kBulkComputeWarps;
    if (producer)
        for (int k = 0; k < min(S, n_stages); ++k) issue(k); // the weights first: no kernel writes them
    grid_dependency_wait();
    allow_dependents();
    stage_activations<kBulkThreads>(s_q, s_d, s_sum, q, dq, sq, units);
    if (producer) {
        for (int k = S; k < n_stages; ++k) {
            mbar_wait(empty + k % S, (k / S - 1) & 1); // the stage's previous jobs are done
            issue(k);
        }
        return;
    }
    for (int k = 0; k < n_stages; ++k) {
        bool mine = false;
        for (int slot = 0; slot < jps; ++slot) {
            if ((k * jps + slot) % kBulkComputeWarps != warp) continue;
            if (!mine) mbar_wait(full + k % S, (k / S) & 1);
            mine = true;
            const int job = j0 + k * jps + slot;
            if (job >= j1) continue;
            const int part = GLU ? 0 : part_of_job(p, job); // (a GLU's rows are its jobs)
            PlanarRow<T> sr[R]; // the job's rows in the stage
            float acc[R];
#pragma unroll
            for (int i = 0; i < R; ++i) {
                const uint8_t *row = stage_at(k) + slot * job_bytes + i * plan.row_bytes;
#pragma unroll
                for (int pl = 0; pl < kMaxPlanes; ++pl) sr[i].p[pl] = pl < f.n_planes ? row + plan.plane_at[pl] : nullptr;
                acc[i] = 0.0f;
            }
#pragma unroll 4
            for (int u = lane; u < units; u += 32) {
                const ActUnit a = act_unit_shared(s_q, u);
#pragma unroll
                for (int i = 0; i < R; ++i)
                    acc[i] += unit_dot<T>(decode_unit<T>(load_raw<T>(sr[i], u), u), a.a, s_d[u], sq ? s_sum + u : nullptr);
            }
            store_row<GLU>(p, act, acc, part, job - static_cast<int>(p.first_block[part]), lane);
            // (Part 0 is the only part when out.q is set, so jobs are its rows.)
            if (p.out.q) quantize_finished_groups_warp(p, job, 1, job + 1, lane);
        }
        if (mine) {
            __syncwarp();
            if (lane == 0) mbar_arrive(empty + k % S);
        }
    }
}

// One block an SM at most, each a contiguous run of jobs; false where the kernel cannot take
// the launch (the caller then takes the stream kernel).
template <DType T, bool GLU>
bool launch_bulk_kernel(Context &ctx, const Parts &p, int n_parts, unsigned jobs, int k, const int8_t *q,
                        const float *d, const int *sq, int glu) {
    const BulkPlan plan = bulk_plan(T, k, GLU ? 2 : 1, p.W, p.N, n_parts);
    if (plan.stages == 0) return false;
    auto *kernel = matvec_bulk_kernel<T, GLU>;
    const size_t ring = static_cast<size_t>(plan.stages) * plan.jps * (GLU ? 2 : 1) * plan.row_bytes;
    const size_t smem = kBulkBarrierBytes + bulk_act_bytes(k / 32, sq != nullptr) + ring;
    static const bool raised = [kernel] { // once per kernel: the longest planar rows' activations and the ring
        CV_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     static_cast<int>(kBulkBarrierBytes + bulk_act_bytes(kStreamSmemMax / 40, true) +
                                                      kBulkRingBytes)));
        return true;
    }();
    (void)raised;
    const unsigned grid = std::min<unsigned>(static_cast<unsigned>(ctx.sm_count), (jobs + plan.jps - 1) / plan.jps);
    launch(ctx, kernel, grid, kBulkThreads, smem, p, k, q, d, sq, glu, plan);
    bulk_launches.fetch_add(1, std::memory_order_relaxed);
    return true;
}

} // namespace

template <DType T>
void launch_stream(Context &ctx, Parts p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu) {
    const unsigned jobs = assign_blocks(p, n_parts, glu != 0, 1);
    if (jobs == 0) return; // no rows: nothing to launch (and stream_grid would divide by zero)
    if (persist_matvec(ctx, T, glu != 0, p, k, q, d, sq, glu)) return; // a step of the persistent kernel
    if (ctx.matvec_bulk && (glu ? launch_bulk_kernel<T, true>(ctx, p, n_parts, jobs, k, q, d, sq, glu)
                                : launch_bulk_kernel<T, false>(ctx, p, n_parts, jobs, k, q, d, sq, glu)))
        return;
    if (glu) launch_stream_units<T, true>(ctx, p, jobs, k, q, d, sq, glu);
    else launch_stream_units<T, false>(ctx, p, jobs, k, q, d, sq, glu);
}

template void launch_stream<DType::Q4_0>(Context &, Parts, int, int, const int8_t *, const float *, const int *, int);
template void launch_stream<DType::Q8_0>(Context &, Parts, int, int, const int8_t *, const float *, const int *, int);
template void launch_stream<DType::Q4_K>(Context &, Parts, int, int, const int8_t *, const float *, const int *, int);
template void launch_stream<DType::Q6_K>(Context &, Parts, int, int, const int8_t *, const float *, const int *, int);

} // namespace q8kernels

BulkPlan bulk_plan(DType t, int64_t K, int R, const uint8_t *const *W, const int *N, int n_parts) {
    const PlanarFormat f = planar_format(t);
    const int64_t qk = traits(t).block_size;
    if (f.n_planes == 0 || K <= 0 || K % qk != 0) return BulkPlan{};
    BulkPlan plan{};
    const int64_t bpr = K / qk;
    for (int pl = 0; pl < f.n_planes; ++pl) {
        plan.plane_at[pl] = plan.row_bytes;
        plan.plane_bytes[pl] = static_cast<int>(bpr * f.bytes[pl]);
        plan.row_bytes += plan.plane_bytes[pl];
        if (plan.plane_bytes[pl] % 16 != 0) return BulkPlan{};
        for (int s = 0; s < n_parts; ++s)
            if ((reinterpret_cast<uintptr_t>(W[s]) + plane_offset(t, pl, N[s] * bpr)) % 16 != 0) return BulkPlan{};
    }
    const int job_bytes = R * plan.row_bytes;
    plan.jps = 1;
    while (plan.jps < 16 && 2 * plan.jps * job_bytes <= (16 << 10)) plan.jps *= 2;
    // The most stages that fit, holding a multiple of 8 jobs (see the kernel).
    plan.stages = std::min<int>(kBulkMaxStages, static_cast<int>(kBulkRingBytes / (static_cast<size_t>(plan.jps) * job_bytes)));
    while (plan.stages >= 2 && plan.stages * plan.jps % kBulkComputeWarps != 0) --plan.stages;
    if (plan.stages < 2) return BulkPlan{};
    return plan;
}

} // namespace corvid::cuda

namespace corvid {
uint64_t cuda_bulk_matvec_launches() { return cuda::q8kernels::bulk_launches.load(std::memory_order_relaxed); }
} // namespace corvid
