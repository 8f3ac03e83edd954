// Shared by the CUDA backend's files: error checks, the per-backend context (stream,
// cuBLAS handle, scratch pool) and small device helpers.
#pragma once

#include "graph/tensor.h"
#include "util/error.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>

namespace corvid::cuda {

// A/B switches read from the environment once: the value of `name` when it is one of
// `allowed`, else `fallback`; and whether `name` is set to 0.
inline int env_choice(const char *name, std::initializer_list<int> allowed, int fallback) {
    const char *e = std::getenv(name);
    const int v = e ? std::atoi(e) : fallback;
    return std::find(allowed.begin(), allowed.end(), v) != allowed.end() ? v : fallback;
}
inline bool env_off(const char *name) {
    const char *e = std::getenv(name);
    return e && e[0] == '0';
}

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
    kScratchMaskTiles = 6, // the prompt mask's tile classes (cuda_flash_attention.cu)
    kScratchRope = 7,      // rope's cos/sin a position and pair (cuda_norm_rope.cu)
    kScratchCount = 8
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
    // One-column F16/BF16 products by matvec_h_parts (q/k/v and gate/up/GLU one launch each,
    // an unconverted input's floats rounded as loaded: cuda_matvec.cu); kHPartsByDefault,
    // CORVID_CUDA_HPARTS=0|1, CORVID_CUDA_FUSE_OFF=hparts (cuda_backend.cu).
    bool h_parts = false;
    // Prompt attention over an F16 cache by the flash kernel (cuda_flash_attention.cu);
    // CORVID_CUDA_FLASH=0: by batched cuBLAS GEMMs and a softmax kernel (A/B timing).
    bool flash_prompt = true;
    // The launch-saving fusions that CORVID_CUDA_FUSE_OFF=attn,rope,convert,residual,hparts (or all) turns off one by
    // one, for A/B timing (CORVID_CUDA_FUSE=0 turns every fusion off).
    enum FuseBit : unsigned {
        kFuseAttnMerge = 1, // the attention split kernel's last block per head merges (no merge kernel)
        kFuseRopeStore = 2, // rope(q), rope(k) and the K/V cache stores in one launch
        kFuseNormConvert = 4, // the norm (and the GLU) write the F16/BF16 input of the cuBLAS / F16 products after them
        kFuseGemmResidual = 16, // a prompt GEMM adds its product to the residual (no add kernel)
        kFuseHParts = 32, // one-column F16/BF16 q/k/v and gate/up/GLU in one launch each
    };
    unsigned fuse_off = 0;
    bool fuses(FuseBit b) const { return (fuse_off & b) == 0; }
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
    // The same for the F32/F16/BF16 conversion in kScratchActivations (prompt products):
    // the input, how it was converted (`how`: the rounding and the output type) and the
    // scratch epoch it was written in (a buffer that moved holds nothing).
    struct ConvCache {
        const void *x = nullptr;
        int64_t bytes = 0, nb1 = 0, K = 0, M = 0, ld = 0;
        int how = 0;
        uint64_t epoch = 0;
    } conv_cache;
    // The mask whose tile classes kScratchMaskTiles holds (every layer's prompt attention
    // reads the same mask: classed once a step), with the tiling they were made for.
    struct MaskTiles {
        const void *mask = nullptr;
        int64_t bytes = 0, nb1 = 0;
        int T = 0, NKV = 0, bc = 0;
        uint64_t epoch = 0;
    } mask_tiles;
    // The positions and parameters whose rope angles kScratchRope holds (every layer's rope
    // of a step has the same: the first computes them, the others read them).
    struct RopeAngles {
        const void *pos = nullptr, *ff = nullptr;
        int64_t n_pos = 0;
        float args[7] = {};
        uint64_t epoch = 0;
    } rope_angles;
    // Forgets every record above (conversions, mask classes, angles): at the start of every
    // graph, whose memory may have been reused.
    void forget_derived() {
        act_cache.x = nullptr, conv_cache.x = nullptr, mask_tiles.mask = nullptr, rope_angles.pos = nullptr;
    }
    // Forgets whatever was derived from [p, p + bytes).
    void written(const void *p, size_t bytes) {
        const auto *b = static_cast<const uint8_t *>(p);
        auto overlaps = [&](const void *x, int64_t n) {
            const auto *a = static_cast<const uint8_t *>(x);
            return a && b < a + n && a < b + bytes;
        };
        if (overlaps(act_cache.x, act_cache.bytes)) act_cache.x = nullptr;
        if (overlaps(conv_cache.x, conv_cache.bytes)) conv_cache.x = nullptr;
        if (overlaps(mask_tiles.mask, mask_tiles.bytes)) mask_tiles.mask = nullptr;
        if (overlaps(rope_angles.pos, rope_angles.n_pos * 4)) rope_angles.pos = nullptr;
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

// Whether the F16/BF16 parts path (Context::h_parts) is on unless the environment says
// otherwise. On: 7B F16 tg128 on one H100, alternated twice in one call, 162.5 / 163.1
// tokens/s against 152.4 / 150.2 with the one-row kernel (docs/cuda_performance.md); its
// tests compare it with the one-row kernel bit for bit.
constexpr bool kHPartsByDefault = true;

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

// Lets the next kernel in the stream be scheduled now (it still waits in its own
// grid_dependency_wait() for this one to finish).
__device__ __forceinline__ void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// Waits until the kernels this one may overlap have finished and their writes are
// visible. Called at the top of every kernel, before any early return (so that the order
// stays transitive); only reads of what no kernel writes (weights) may come before it.
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
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
