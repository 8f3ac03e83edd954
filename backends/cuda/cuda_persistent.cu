// The persistent decode kernel (CORVID_CUDA_PERSIST=1; off by default until a GPU run has
// timed it): a run of a decode step's products and the norms before them, recorded by their
// launch sites (cuda_persistent.h) and run as ONE launch whose blocks step through them,
// meeting at a grid-wide barrier between steps. Each step is the same device code as its
// own kernel (cuda_matvec_stream.cuh: stream_body; cuda_norm_body.cuh: rms_norm_row), so a
// step gives the same bits either way.
//
// Why: a 7B decode step is ~260 kernels; every boundary drains the memory pipe and ramps it
// up again (~3 us each on an H100: scripts/cuda_read_patterns.cu measured a chain of the
// step's 128 products, doing nothing but loads, at 77% of a sweep as plain launches), and the
// one-block norm between products leaves the GPU idle for its whole latency. Here a block
// issues its first weight loads of step i + 1 BEFORE it waits at the barrier (the weights
// never depend on it; only the activations do), so the loads stay in flight through the
// barrier and through the norm: the step's bytes stream with fewer gaps.
//
// The barrier needs every block of the grid resident at once: the grid is the blocks an SM
// that fit (at most 2, so that the products' units have 128 registers) times the SMs,
// asked of the runtime at setup with the largest shared memory a step uses. The next kernel
// in the stream is let in (programmatic dependent launch) only after a barrier has been
// passed, i.e. once every block is resident: earlier, its blocks could take the room that
// ours still need and wait on us forever. Between steps the L1 caches may hold lines an
// earlier step read; the barrier's acquire (ld.acquire.gpu after the other blocks' release)
// makes this SM see their writes.
//
// Not yet run on a GPU (written 2026-12-07 without device time): the test `cuda: persistent
// decode kernel against the launches` compares a decode graph both ways, bit for bit.
#include "cuda/cuda_persistent.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_matvec_stream.cuh"
#include "cuda/cuda_norm_body.cuh"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace corvid::cuda {

using q8kernels::Parts;

namespace {

constexpr int kPersistThreads = q8kernels::kStreamThreads;
constexpr int kPersistMaxBlocksPerSm = 2;
constexpr int kMaxSteps = 10;
std::atomic<uint64_t> multi_step_launches{0}; // cuda_persistent_launches() // a llama layer's run is 6: wo, norm, gate/up, down, norm, q/k/v

enum StepKind : int { kStepMatvec = 1, kStepNorm = 2 };

struct MatvecStep {
    Parts p;
    const int8_t *q;
    const float *d;
    const int *sq;
    int K, act;
    DType type;
    bool glu;
};

struct NormStep {
    const uint8_t *x;
    RowMap xm;
    float *out, *out2;
    const float *g;
    int64_t n;
    float eps;
    Q8Out q8;
};

struct Step {
    int kind;
    MatvecStep mv; // kind kStepMatvec
    NormStep norm; // kind kStepNorm
};

// The kernel's parameter (read from the constant bank: a kernel parameter stays within 4 KiB
// on every driver).
struct Program {
    int n;
    Step step[kMaxSteps];
};
static_assert(sizeof(Program) <= 4000, "the program is a kernel parameter");
static_assert(sizeof(Step) % 4 == 0 && alignof(Step) <= 8, "copied a word at a time");

__device__ __forceinline__ unsigned ld_acquire_gpu(const unsigned *p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

// Every block of the grid meets here: bar[0] counts arrivals, bar[1] is the generation. The
// last block to arrive resets the count (before the generation moves, so that no block can
// arrive at the next barrier first) and opens the next generation. Left at (0, n) for the
// next launch.
__device__ __forceinline__ void grid_barrier(unsigned *bar) {
    __syncthreads();
    if (threadIdx.x == 0) {
        const unsigned gen = ld_acquire_gpu(bar + 1);
        __threadfence(); // this block's writes before its arrival
        if (atomicAdd(bar, 1u) == gridDim.x - 1) {
            atomicExch(bar, 0u);
            __threadfence();
            atomicAdd(bar + 1, 1u);
        } else {
            while (ld_acquire_gpu(bar + 1) == gen) __nanosleep(32);
        }
        __threadfence();
    }
    __syncthreads();
}

// The programmatic-dependent-launch wait and release without the early trigger (which
// grid_dependency_wait() adds in builds with CORVID_CUDA_EARLY_TRIGGER: see the top).
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_release() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// The dependency of step i of n (called once by every thread of every block, after the
// step's first weight loads): the kernels before the launch for the first step, the grid
// barrier for the others. The next kernel is let in at the last step, once every block has
// passed a barrier (so is resident).
struct StepWait {
    int i, n;
    unsigned *bar;
    __device__ __forceinline__ void operator()() const {
        if (i == 0) pdl_wait();
        else grid_barrier(bar);
        if (i > 0 && i + 1 == n) pdl_release();
    }
};

// Each step is a function of its own (not inlined), so that each gets the registers it
// needs up to the kernel's 128; inlined into one switch, ptxas spilled ~4 KB a thread.
// Units a lane and chunk: with 2 blocks an SM a thread has 128 registers, so a row takes the
// 4 units the stream kernel compiles for 2 blocks an SM (a GLU's two rows 2 each).
template <DType T, bool GLU> constexpr int persist_units() { return T == DType::Q4_0 ? (GLU ? 2 : 4) : (GLU ? 1 : 2); }
template <DType T, bool GLU>
__device__ __forceinline__ void matvec_step(const MatvecStep &m, int4 *smem, StepWait wait) {
    q8kernels::stream_body<T, GLU, persist_units<T, GLU>()>(m.p, m.K, m.q, m.d, m.sq, m.act, static_cast<int>(blockIdx.x),
                                                static_cast<int>(gridDim.x), smem, wait);
}

// A decode step's norm is one row: one block computes it, the others only meet.
__device__ __forceinline__ void norm_step(const NormStep &m, StepWait wait) {
    if (blockIdx.x == 0) rms_norm_row<true, true, 32>(m.x, m.xm, m.out, m.out2, m.g, m.n, m.eps, m.q8, 0, wait);
    else wait();
}

// One weight type a kernel: with two types' bodies in one kernel ptxas spilled 1.7-1.9 KB a
// thread, with one none (Q4_0) or a few words.
template <DType T>
__global__ void __launch_bounds__(kPersistThreads, kPersistMaxBlocksPerSm)
    persistent_kernel(const __grid_constant__ Program prog, unsigned *bar) {
    extern __shared__ int4 persist_smem[];
    // Each warp copies the step it starts into its own slot of shared memory and reads it
    // there: no block-wide meeting before a step (a warp done with the last one goes on to
    // issue the next one's loads), and no dynamically indexed parameter space in the bodies.
    __shared__ Step warp_step[kPersistThreads / 32];
    Step &s = warp_step[threadIdx.x / 32];
    const int lane = static_cast<int>(threadIdx.x & 31);
    for (int i = 0; i < prog.n; ++i) {
        __syncwarp();
        const auto *from = reinterpret_cast<const uint32_t *>(&prog.step[i]);
        auto *to = reinterpret_cast<uint32_t *>(&s);
        for (int w = lane; w < static_cast<int>(sizeof(Step) / 4); w += 32) to[w] = from[w];
        __syncwarp();
        const StepWait wait{i, prog.n, bar};
        if (s.kind == kStepNorm) {
            norm_step(s.norm, wait);
            continue;
        }
        if (s.mv.glu) matvec_step<T, true>(s.mv, persist_smem, wait);
        else matvec_step<T, false>(s.mv, persist_smem, wait);
    }
}

bool persist_type(DType t) { return t == DType::Q4_0 || t == DType::Q8_0 || t == DType::Q4_K || t == DType::Q6_K; }

} // namespace

struct PersistProgram {
    Program prog;
    size_t smem = 0;        // the largest step's dynamic shared memory
    DType type = DType::F32; // the products' weight type (F32: no product yet)
};

namespace {
Step &next_step(Context &ctx) {
    if (ctx.pending == kMaxSteps) flush_persistent_steps(ctx);
    Step &s = ctx.program->prog.step[ctx.pending++];
    s = Step{};
    return s;
}
} // namespace

void persist_setup(Context &ctx) {
    const char *on = std::getenv("CORVID_CUDA_PERSIST");
    if (!on || std::strcmp(on, "1") != 0) return;
    const int smem = q8kernels::kStreamSmemMax;
    int fit = kPersistMaxBlocksPerSm;
    for (auto *kernel : {persistent_kernel<DType::Q4_0>, persistent_kernel<DType::Q8_0>, persistent_kernel<DType::Q4_K>,
                         persistent_kernel<DType::Q6_K>}) {
        CV_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        int n = 0;
        CV_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kPersistThreads, smem));
        fit = std::min(fit, n);
    }
    if (fit < 1) return;
    ctx.persist_grid = ctx.sm_count * std::min(fit, kPersistMaxBlocksPerSm);
    CV_CUDA(cudaMalloc(&ctx.grid_barrier, 2 * sizeof(unsigned)));
    CV_CUDA(cudaMemset(ctx.grid_barrier, 0, 2 * sizeof(unsigned)));
    ctx.program = new PersistProgram{};
    ctx.persist = true;
}

void persist_release(Context &ctx) {
    delete ctx.program;
    ctx.program = nullptr;
    if (ctx.grid_barrier) cudaFree(ctx.grid_barrier);
    ctx.grid_barrier = nullptr;
    ctx.persist = ctx.recording = false;
    ctx.pending = 0;
}

void flush_persistent_steps(Context &ctx) {
    if (ctx.pending == 0) return;
    PersistProgram &pp = *ctx.program;
    if (pp.type == DType::F32) pp.type = DType::Q4_0; // norms alone: any instantiation runs them
    pp.prog.n = ctx.pending;
    ctx.pending = 0; // (a failed launch is not retried)
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = dim3(static_cast<unsigned>(ctx.persist_grid));
    cfg.blockDim = dim3(kPersistThreads);
    cfg.dynamicSmemBytes = pp.smem;
    cfg.stream = ctx.stream;
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = ctx.pdl ? 1 : 0;
    const DType type = pp.type;
    pp.smem = 0;
    pp.type = DType::F32; // none yet
    switch (type) {
    case DType::Q4_0: CV_CUDA(cudaLaunchKernelEx(&cfg, persistent_kernel<DType::Q4_0>, pp.prog, ctx.grid_barrier)); break;
    case DType::Q8_0: CV_CUDA(cudaLaunchKernelEx(&cfg, persistent_kernel<DType::Q8_0>, pp.prog, ctx.grid_barrier)); break;
    case DType::Q4_K: CV_CUDA(cudaLaunchKernelEx(&cfg, persistent_kernel<DType::Q4_K>, pp.prog, ctx.grid_barrier)); break;
    default: CV_CUDA(cudaLaunchKernelEx(&cfg, persistent_kernel<DType::Q6_K>, pp.prog, ctx.grid_barrier)); break;
    }
    if (pp.prog.n > 1) multi_step_launches.fetch_add(1, std::memory_order_relaxed);
}

bool persist_matvec(Context &ctx, DType t, bool glu, const Parts &p, int K, const int8_t *q, const float *d,
                    const int *sq, int act) {
    if (!ctx.recording || !persist_type(t)) return false;
    if (ctx.program->type != t && ctx.program->type != DType::F32) flush_persistent_steps(ctx); // one type a launch
    Step &s = next_step(ctx);
    ctx.program->type = t;
    s.kind = kStepMatvec;
    s.mv = MatvecStep{p, q, d, sq, K, act, t, glu};
    ctx.program->smem = std::max(ctx.program->smem, q8kernels::stream_smem_bytes(K / 32, sq != nullptr));
    return true;
}

bool persist_rms_norm(Context &ctx, const uint8_t *x, const RowMap &xm, float *out, float *out2, const float *g,
                      int64_t n, float eps, const Q8Out &q8) {
    if (!ctx.recording) return false;
    Step &s = next_step(ctx);
    s.kind = kStepNorm;
    s.norm = NormStep{x, xm, out, out2, g, n, eps, q8};
    return true;
}

} // namespace corvid::cuda

namespace corvid {
uint64_t cuda_persistent_launches() { return cuda::multi_step_launches.load(std::memory_order_relaxed); }
} // namespace corvid
