// The device's streaming read bandwidth, for the roofline `corvid bench` reports: a
// grid-stride kernel reads a buffer once with 16-byte loads (the sum is kept only so the
// loads cannot be dropped), timed with events after a warm-up; the best of a few runs.
#include "cuda/cuda_common.cuh"

namespace corvid::cuda {
namespace {

__global__ void read_kernel(const uint4 *p, size_t n, unsigned *sink) {
    grid_dependency_wait();
    allow_dependents();
    unsigned acc = 0;
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<size_t>(gridDim.x) * blockDim.x) {
        const uint4 v = __ldcs(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9E3779B9u) *sink = acc;
}

} // namespace

double measure_read_bandwidth(Context &ctx, size_t bytes) {
    const size_t n = bytes / sizeof(uint4);
    if (n == 0) return 0.0;
    uint4 *buf = nullptr;
    unsigned *sink = nullptr;
    CV_CUDA(cudaMallocAsync(reinterpret_cast<void **>(&buf), n * sizeof(uint4), ctx.stream));
    CV_CUDA(cudaMallocAsync(reinterpret_cast<void **>(&sink), sizeof(unsigned), ctx.stream));
    CV_CUDA(cudaMemsetAsync(buf, 1, n * sizeof(uint4), ctx.stream));
    cudaEvent_t start = nullptr, stop = nullptr;
    CV_CUDA(cudaEventCreate(&start));
    CV_CUDA(cudaEventCreate(&stop));
    const unsigned grid = static_cast<unsigned>(ctx.sm_count * 8);
    float best_ms = 0.0f;
    for (int rep = 0; rep < 6; ++rep) {
        CV_CUDA(cudaEventRecord(start, ctx.stream));
        launch(ctx, read_kernel, grid, 512, 0, buf, n, sink);
        CV_LAUNCHED("read_kernel");
        CV_CUDA(cudaEventRecord(stop, ctx.stream));
        CV_CUDA(cudaEventSynchronize(stop));
        float ms = 0.0f;
        CV_CUDA(cudaEventElapsedTime(&ms, start, stop));
        if (rep >= 2 && (best_ms == 0.0f || ms < best_ms)) best_ms = ms; // the first runs warm up
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    CV_CUDA(cudaFreeAsync(buf, ctx.stream));
    CV_CUDA(cudaFreeAsync(sink, ctx.stream));
    CV_CUDA(cudaStreamSynchronize(ctx.stream));
    return best_ms > 0.0f ? static_cast<double>(n * sizeof(uint4)) / (best_ms * 1e-3) : 0.0;
}

} // namespace corvid::cuda
