// Shared by the CUDA backend's files: error checks, the per-backend context (stream,
// cuBLAS handle, scratch pool) and small device helpers.
#pragma once

#include "graph/tensor.h"
#include "util/error.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace corvid::cuda {

// Turns a failed CUDA runtime call into corvid::Error (out_of_memory for allocation
// failures, unsupported for driver/device problems, internal otherwise).
[[noreturn]] void raise_cuda(cudaError_t e, const char *what, const char *file, int line);
[[noreturn]] void raise_cublas(cublasStatus_t s, const char *what, const char *file, int line);

inline void check_cuda(cudaError_t e, const char *what, const char *file, int line) {
    if (e != cudaSuccess) raise_cuda(e, what, file, line);
}
inline void check_cublas(cublasStatus_t s, const char *what, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) raise_cublas(s, what, file, line);
}

#define CV_CUDA(x) ::corvid::cuda::check_cuda((x), #x, __FILE__, __LINE__)
#define CV_CUBLAS(x) ::corvid::cuda::check_cublas((x), #x, __FILE__, __LINE__)
// After every kernel launch: a bad configuration shows up here, not later.
#define CV_LAUNCHED(name) ::corvid::cuda::check_cuda(cudaGetLastError(), name, __FILE__, __LINE__)

// Scratch buffers reused across ops: stream-ordered, grown on demand, never shrunk.
enum ScratchSlot {
    kScratchActivations = 0,
    kScratchWeights = 1,
    kScratchAttention = 2,
    kScratchQ8 = 3, // 8-bit activations of the last matvec, reused while its input is unchanged;
    kScratchQ8b = 4, // two of them: a product may write the next one's while it reads its own
    kScratchCounters = 5, // zeroed ints for blocks that meet through atomics (zeroed when grown)
    kScratchCount = 6
};

// L2 prefetch of the weights the next products of a decode step read, issued by extra
// blocks of the small kernels between products (rms_norm, rope, attention, the 8-bit
// activation conversions): DRAM is otherwise nearly idle while those run. The executor
// (cuda_backend.cu) plans what each such launch may take (Context::take_l2_prefetch); the
// launcher adds `blocks` blocks to its grid (the last ones, linearly), and the kernel's first
// statement is `if (l2_prefetch_block(pf)) return;`: those blocks issue their share of the
// ranges and exit before the grid-dependency wait (they read nothing an earlier kernel
// writes, and the launch's other blocks still wait, so the order stays transitive).
struct L2Prefetch {
    static constexpr int kMaxRanges = 12;
    const uint8_t *p[kMaxRanges];
    uint32_t bytes[kMaxRanges]; // p 16-byte aligned, bytes a multiple of 16
    int n;
    unsigned blocks; // extra blocks of the launch that issue them (0: none)
    int flags;       // kLine, kEvictLast
    enum : int {
        kLine = 1,      // prefetch.global.L2 a 32-byte sector at a time (always before sm_90)
        kEvictLast = 2, // with the evict_last L2 priority
    };
};

struct Context {
    int device = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    int sm_count = 0;
    // Programmatic dependent launch (compute capability 9.0+; CORVID_CUDA_PDL=0 turns it
    // off): see launch(). On the 7B decode step (H200) it measured 280 against 266 tokens/s
    // at Q4_0, 249 against 226 at Q4_K_M, 225 against 217 at Q8_0.
    bool pdl = false;
    // CORVID_CUDA_MATVEC=old: the one-row-per-warp integer matvec over ggml's blocks (A/B
    // timing); weights are then never stored planar.
    bool matvec_old = false;
    // The launch-saving fusions that CORVID_CUDA_FUSE_OFF=attn,rope (or all) turns off one by
    // one, for A/B timing (CORVID_CUDA_FUSE=0 turns every fusion off).
    enum FuseBit : unsigned {
        kFuseAttnMerge = 1, // the attention split kernel's last block per head merges (no merge kernel)
        kFuseRopeStore = 2, // rope(q), rope(k) and the K/V cache stores in one launch
    };
    unsigned fuse_off = 0;
    bool fuses(FuseBit b) const { return (fuse_off & b) == 0; }
    // What the next small kernel launched may prefetch into L2 (set by the executor before
    // each node; n == 0: nothing); take_l2_prefetch() hands it to one launch only.
    L2Prefetch l2_offer{};
    bool l2_taken = false;
    enum L2Taker : unsigned { kL2Norm = 1, kL2Rope = 2, kL2Attn = 4, kL2Conv = 8 };
    unsigned l2_takers = ~0u; // which launchers take it (CORVID_CUDA_L2_PREFETCH=...,only:nrac)
    L2Prefetch take_l2_prefetch(L2Taker who) {
        if (!(l2_takers & who)) return L2Prefetch{};
        const L2Prefetch p = l2_offer;
        if (p.n > 0 && p.blocks > 0) l2_taken = true;
        l2_offer.n = 0;
        l2_offer.blocks = 0;
        return p;
    }
    // Device flag that kernels set when they meet an out-of-range row or token id (they
    // cannot throw); checked when the host next waits for the stream.
    int *error_flag = nullptr;

    // The input whose 8-bit conversion kScratchQ8 holds (q, k and v, or gate and up, read
    // the same activations): valid until something writes over that input.
    struct ActCache {
        const void *x = nullptr;
        int64_t bytes = 0, nb1 = 0, K = 0, M = 0;
        int family = 0;
        ScratchSlot slot = kScratchQ8; // where the conversion is
    } act_cache;
    // Where a new conversion goes: the 8-bit slot the cached one is not in.
    ScratchSlot free_q8_slot() const {
        return act_cache.x && act_cache.slot == kScratchQ8 ? kScratchQ8b : kScratchQ8;
    }
    void invalidate_act_cache() { act_cache.x = nullptr; }
    // Forgets the cached conversion when [p, p + bytes) overlaps its input.
    void written(const void *p, size_t bytes) {
        const auto *a = static_cast<const uint8_t *>(act_cache.x), *b = static_cast<const uint8_t *>(p);
        if (a && b < a + act_cache.bytes && a < b + bytes) invalidate_act_cache();
    }

    // While the stream is being captured into a CUDA graph, scratch() must not allocate: it
    // records the size it needs and throws ScratchGrowth; compute() then grows the buffer
    // and runs the nodes uncaptured.
    bool capturing = false;
    struct ScratchGrowth {
        ScratchSlot slot;
        size_t bytes;
    };
    void grow_scratch(ScratchSlot slot, size_t bytes);
    // Bumped whenever a scratch buffer moves (captured graphs hold its old address).
    uint64_t scratch_epoch = 0;

    void *scratch(ScratchSlot slot, size_t bytes);
    void release_scratch();

private:
    void *scratch_ptr_[kScratchCount] = {};
    size_t scratch_bytes_[kScratchCount] = {};
};

// Error flag bits.
constexpr int kErrRowId = 1;

inline unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

// Every kernel of the backend is launched here. With ctx.pdl the launch is a programmatic
// dependent one: the kernel may be scheduled while the previous one in the stream is
// still running (hiding the launch gap between the hundreds of small kernels of a decode
// step), so every kernel calls grid_dependency_wait() before it reads what an earlier
// kernel wrote. Launch errors throw.
template <typename... KArgs, typename... Args>
void launch(Context &ctx, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, Args &&...args) {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = ctx.stream;
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = ctx.pdl ? 1 : 0;
    CV_CUDA(cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...));
}

// ---- programmatic dependent launch (no-ops before compute capability 9.0) -------------

// Waits until the kernels this one may overlap have finished and their writes are
// visible. Called at the top of every kernel, before any early return (so that the order
// stays transitive); only reads of what no kernel writes (weights) may come before it.
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
// Lets the next kernel in the stream be scheduled now (it still waits in its own
// grid_dependency_wait() for this one to finish).
__device__ __forceinline__ void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// ---- L2 prefetch blocks (see L2Prefetch) -----------------------------------------------

// This block's share (block b of pf.blocks; its first warp issues) of the prefetch ranges,
// in chunks dealt to the lanes in turn across the ranges: 4 KiB bulk prefetches on sm_90
// (the copy engine walks the lines), 32-byte prefetches otherwise, consecutive lanes on
// consecutive chunks.
inline __device__ __noinline__ void l2_prefetch_issue(const L2Prefetch &pf, unsigned b) {
    if (threadIdx.x >= 32) return;
    const uint32_t lanes = pf.blocks * 32;
    uint32_t c = b * 32 + threadIdx.x;
    const bool last = (pf.flags & L2Prefetch::kEvictLast) != 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const bool bulk = (pf.flags & L2Prefetch::kLine) == 0;
    uint64_t policy = 0;
    if (last) asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy));
#else
    const bool bulk = false;
#endif
    const uint32_t chunk = bulk ? 4096u : 32u;
    for (int r = 0; r < pf.n; ++r) {
        const uint32_t bytes = pf.bytes[r], n = (bytes + chunk - 1) / chunk;
        for (; c < n; c += lanes) {
            const uint8_t *a = pf.p[r] + static_cast<size_t>(c) * chunk;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
            if (bulk) {
                const uint32_t size = min(chunk, bytes - c * chunk); // a multiple of 16
                if (last)
                    asm volatile("cp.async.bulk.prefetch.L2.global.L2::cache_hint [%0], %1, %2;" ::"l"(a), "r"(size),
                                 "l"(policy)
                                 : "memory");
                else
                    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(a), "r"(size) : "memory");
                continue;
            }
#endif
            if (last) asm volatile("prefetch.global.L2::evict_last [%0];" ::"l"(a));
            else asm volatile("prefetch.global.L2 [%0];" ::"l"(a));
        }
        c -= n;
    }
}

// True in the launch's prefetch blocks (the last pf.blocks of the grid, counted linearly
// over x, y, z), after issuing their share: the kernel then returns at once.
__device__ __forceinline__ bool l2_prefetch_block(const L2Prefetch &pf) {
    if (pf.blocks == 0) return false;
    const unsigned lin = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const unsigned first = gridDim.x * gridDim.y * gridDim.z - pf.blocks;
    if (lin < first) return false;
    l2_prefetch_issue(pf, lin - first);
    return true;
}

// ---- device helpers ------------------------------------------------------------------

__device__ __forceinline__ float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf2f(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }
// 2-byte aligned loads (every block field is at an even offset).
__device__ __forceinline__ uint16_t ld_u16(const uint8_t *p) { return *reinterpret_cast<const uint16_t *>(p); }
__device__ __forceinline__ uint32_t ld_u32_a2(const uint8_t *p) {
    return static_cast<uint32_t>(ld_u16(p)) | static_cast<uint32_t>(ld_u16(p + 2)) << 16;
}

template <typename T> __device__ __forceinline__ T warp_sum(T v) { // float, double, int
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
// The sum over each group of 8 consecutive lanes (every lane of the warp calls it).
__device__ __forceinline__ int sum8_int(int v) {
#pragma unroll
    for (int o = 1; o < 8; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Q8_0's scale for a block whose largest magnitude is amax, as the reference quantizer
// computes it: returns 1 / d to quantize with (0 for an all-zero block) and sets d16 to d
// through F16, the scale the block stores.
__device__ __forceinline__ float q8_0_scale(float amax, float &d16) {
    const float d = amax / 127.0f;
    d16 = __half2float(__float2half_rn(d));
    return d != 0.0f ? 1.0f / d : 0.0f;
}
// A Q8_0 block held one value per lane of a warp (every lane calls it): this lane's level,
// and in every lane the block's stored scale and the sum of its levels.
struct WarpQ8_0 {
    float q, d16;
    int sum;
};
__device__ __forceinline__ WarpQ8_0 warp_q8_0(float v) {
    float d16;
    const float id = q8_0_scale(warp_max(fabsf(v)), d16);
    const float q = roundf(v * id);
    return WarpQ8_0{q, d16, warp_sum(static_cast<int>(q))};
}

// Activations as the reference computes them (elementwise kernels and the fused GLU
// epilogue of the matvec share these). gelu as the reference: x through F16, tanh formula in float, result through F16.
__device__ __forceinline__ float gelu_ref(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float xh = __half2float(__float2half_rn(x));
    const float kSqrt2OverPi = 0.79788456080286535587989211986876f, kCoefA = 0.044715f;
    const float inner = __fmul_rn(__fmul_rn(kSqrt2OverPi, xh), __fadd_rn(1.0f, __fmul_rn(__fmul_rn(kCoefA, xh), xh)));
    const float g = __fmul_rn(__fmul_rn(0.5f, xh), __fadd_rn(1.0f, tanhf(inner)));
    return __half2float(__float2half_rn(g));
}
__device__ __forceinline__ float silu_ref(float x) { return x / (1.0f + expf(-x)); }

// Row addressing of a tensor with up to 4 dimensions: row r (of ne1*ne2*ne3) -> byte offset.
struct RowMap {
    int64_t ne1, ne2;
    int64_t nb1, nb2, nb3;
    __device__ __forceinline__ int64_t offset(int64_t r) const {
        const int64_t i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
        return i1 * nb1 + i2 * nb2 + i3 * nb3;
    }
};

inline RowMap row_map(const Tensor &t) {
    return RowMap{t.ne[1], t.ne[2], static_cast<int64_t>(t.nb[1]), static_cast<int64_t>(t.nb[2]),
                  static_cast<int64_t>(t.nb[3])};
}

} // namespace corvid::cuda
