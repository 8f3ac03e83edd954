// The decode step's integer matvec: one column of planar weights (cuda_planar.cuh), every
// warp streaming whole rows (the stream kernel; its body is cuda_matvec_stream.cuh).
// The units, their dot product and the launch's parts are cuda_matvec_q8.cuh's; the
// dispatch that chooses these kernels is in cuda_matvec_q8.cu.
#include "cuda/cuda_matvec_stream.cuh"
#include "cuda/cuda_backend.h"

#include <algorithm>
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

} // namespace

template <DType T>
void launch_stream(Context &ctx, Parts p, int n_parts, int k, const int8_t *q, const float *d, const int *sq, int glu) {
    const unsigned jobs = assign_blocks(p, n_parts, glu != 0, 1);
    if (jobs == 0) return; // no rows: nothing to launch (and stream_grid would divide by zero)
    if (glu) launch_stream_units<T, true>(ctx, p, jobs, k, q, d, sq, glu);
    else launch_stream_units<T, false>(ctx, p, jobs, k, q, d, sq, glu);
}

template void launch_stream<DType::Q4_0>(Context &, Parts, int, int, const int8_t *, const float *, const int *, int);
template void launch_stream<DType::Q8_0>(Context &, Parts, int, int, const int8_t *, const float *, const int *, int);
template void launch_stream<DType::Q4_K>(Context &, Parts, int, int, const int8_t *, const float *, const int *, int);
template void launch_stream<DType::Q6_K>(Context &, Parts, int, int, const int8_t *, const float *, const int *, int);

} // namespace q8kernels

} // namespace corvid::cuda
