// The persistent decode kernel (CORVID_CUDA_PERSIST=1; off by default until a GPU run has
// timed it): a run of a decode step's products, the norms before them, the rope + K/V store
// launches and the decode attention, recorded by their launch sites (cuda_persistent.h) and
// run as ONE launch whose blocks step through them, meeting at a grid-wide barrier between
// steps. Each step is the same device code as its own kernel (cuda_matvec_stream.cuh:
// stream_body; cuda_norm_body.cuh: rms_norm_row; cuda_rope_body.cuh: rope_item;
// cuda_attention_body.cuh: attn_split_body, two split blocks of 128 threads in each block of
// 256), so a step gives the same bits either way.
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
#include "cuda/cuda_rope_body.cuh"
#include "cuda/cuda_attention_body.cuh"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

namespace corvid::cuda {

using q8kernels::Parts;

namespace {

constexpr int kPersistThreads = q8kernels::kStreamThreads;
constexpr int kPersistMaxBlocksPerSm = 2;
std::atomic<uint64_t> multi_step_launches{0}; // cuda_persistent_launches()

enum StepKind : int { kStepMatvec = 1, kStepNorm = 2, kStepRope = 3, kStepAttention = 4 };

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

struct RopeStep {
    RopeTensor t0, t1;
    RopeSpace s0, s1;
    int n_t, kind, items; // kind: the cache type of the stores (-1: none); items: threads
    const int32_t *pos;
    const float *ff;
    RopeArgs a;
    RopeTable tab;
    RopeStore st;
    bool k_flat, pairs;
};

struct AttnStep {
    AttnArgs a;
    float *acc;
    float2 *ml;
    MergeOut mo;
    int *counters;
    int T;
    bool f16;
};

constexpr size_t cmax(size_t a, size_t b) { return a > b ? a : b; }
constexpr size_t kStepBytes =
    (cmax(cmax(sizeof(MatvecStep), sizeof(NormStep)), cmax(sizeof(RopeStep), sizeof(AttnStep))) + 7) / 8 * 8;

// One step: its kind and its arguments (one of the structs above, by kind).
struct Step {
    int kind;
    alignas(8) unsigned char args[kStepBytes];
    template <typename S> __host__ __device__ S &as() { return *reinterpret_cast<S *>(args); }
    template <typename S> __host__ __device__ const S &as() const { return *reinterpret_cast<const S *>(args); }
};

// The kernel's parameter (read from the constant bank: a kernel parameter stays within 4 KiB
// on every driver). A llama layer is 8 steps: norm, q/k/v, rope + stores, attention, wo,
// norm, gate/up, down.
constexpr int kMaxSteps = static_cast<int>((4000 - 16) / sizeof(Step));
struct Program {
    int n;
    Step step[kMaxSteps];
};
static_assert(kMaxSteps >= 8, "a layer's steps fit in a kernel parameter");
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

// The dependency of step i of n (called once by every thread of every block, after the
// step's first weight loads): the kernels before the launch for the first step, the grid
// barrier for the others. The next kernel is let in at the last step, once every block has
// passed a barrier (so is resident).
struct StepWait {
    int i, n;
    unsigned *bar;
    __device__ __forceinline__ void operator()() const {
        if (i == 0) dependency_wait_only();
        else grid_barrier(bar);
        if (i > 0 && i + 1 == n) allow_dependents();
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

// One thread an item, over the whole grid.
template <int Kind> __device__ __forceinline__ void rope_items(const RopeStep &m) {
    for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < m.items;
         i += static_cast<int>(gridDim.x * blockDim.x))
        rope_item<Kind>(m.t0, m.t1, m.s0, m.s1, m.n_t, m.pos, m.ff, m.a, m.tab, m.st, m.k_flat, m.pairs, i);
}
__device__ __forceinline__ void rope_step(const RopeStep &m, StepWait wait) {
    wait();
    switch (m.kind) {
    case -1: rope_items<-1>(m); break;
    case 0: rope_items<0>(m); break;
    case 1: rope_items<1>(m); break;
    default: rope_items<2>(m); break;
    }
}

// Each half of the block (128 threads, its own named barrier and shared state) runs split
// blocks (chunk, head, token) in turn, the halves of the grid taking every other one.
__device__ __forceinline__ void attention_step(const AttnStep &m, AttnShared (&sh)[2], StepWait wait) {
    wait();
    const int half = static_cast<int>(threadIdx.x) / kThreads, tid = static_cast<int>(threadIdx.x) % kThreads;
    const SliceSync sync{1 + half};
    const int chunks = m.a.chunks, H = m.a.H, n = chunks * H * m.T;
    for (int vb = 2 * static_cast<int>(blockIdx.x) + half; vb < n; vb += 2 * static_cast<int>(gridDim.x)) {
        const int c = vb % chunks, h = (vb / chunks) % H, t = vb / (chunks * H);
        if (m.f16) attn_split_body<true>(m.a, m.acc, m.ml, m.mo, m.counters, c, h, t, tid, sh[half], sync);
        else attn_split_body<false>(m.a, m.acc, m.ml, m.mo, m.counters, c, h, t, tid, sh[half], sync);
        sync(); // the half's shared state is free for its next split block
    }
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
    __shared__ AttnShared attn_shared[2];
    Step &s = warp_step[threadIdx.x / 32];
    const int lane = static_cast<int>(threadIdx.x & 31);
    for (int i = 0; i < prog.n; ++i) {
        __syncwarp();
        const auto *from = reinterpret_cast<const uint32_t *>(&prog.step[i]);
        auto *to = reinterpret_cast<uint32_t *>(&s);
        for (int w = lane; w < static_cast<int>(sizeof(Step) / 4); w += 32) to[w] = from[w];
        __syncwarp();
        const StepWait wait{i, prog.n, bar};
        switch (s.kind) {
        case kStepNorm: norm_step(s.as<NormStep>(), wait); break;
        case kStepRope: rope_step(s.as<RopeStep>(), wait); break;
        case kStepAttention: attention_step(s.as<AttnStep>(), attn_shared, wait); break;
        default:
            if (s.as<MatvecStep>().glu) matvec_step<T, true>(s.as<MatvecStep>(), persist_smem, wait);
            else matvec_step<T, false>(s.as<MatvecStep>(), persist_smem, wait);
        }
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
    std::memset(&s, 0, sizeof s);
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
    new (s.args) MatvecStep{p, q, d, sq, K, act, t, glu};
    ctx.program->smem = std::max(ctx.program->smem, q8kernels::stream_smem_bytes(K / 32, sq != nullptr));
    return true;
}

bool persist_rms_norm(Context &ctx, const uint8_t *x, const RowMap &xm, float *out, float *out2, const float *g,
                      int64_t n, float eps, const Q8Out &q8) {
    if (!ctx.recording) return false;
    Step &s = next_step(ctx);
    s.kind = kStepNorm;
    new (s.args) NormStep{x, xm, out, out2, g, n, eps, q8};
    return true;
}

bool persist_rope(Context &ctx, const RopeTensor &t0, const RopeTensor &t1, const RopeSpace &s0, const RopeSpace &s1,
                  int n_t, int kind, int items, const int32_t *pos, const float *ff, const RopeArgs &a,
                  const RopeTable &tab, const RopeStore &st, bool k_flat, bool pairs) {
    if (!ctx.recording) return false;
    Step &s = next_step(ctx);
    s.kind = kStepRope;
    new (s.args) RopeStep{t0, t1, s0, s1, n_t, kind, items, pos, ff, a, tab, st, k_flat, pairs};
    return true;
}

bool persist_attention(Context &ctx, bool f16, const AttnArgs &a, float *acc, float2 *ml, const MergeOut &mo,
                       int *counters, int T) {
    if (!ctx.recording || !counters) return false; // (a separate merge kernel would follow)
    Step &s = next_step(ctx);
    s.kind = kStepAttention;
    new (s.args) AttnStep{a, acc, ml, mo, counters, T, f16};
    return true;
}

} // namespace corvid::cuda

namespace corvid {
uint64_t cuda_persistent_launches() { return cuda::multi_step_launches.load(std::memory_order_relaxed); }
} // namespace corvid
