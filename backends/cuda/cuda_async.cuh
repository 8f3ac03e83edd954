// Asynchronous copies and tensor-core primitives (PTX of compute capability 8.0+), shared by
// the kernels that stage tiles in shared memory.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace corvid::cuda {

// cp.async: global -> shared without passing through registers; a thread's copies are
// visible to itself after cp_async_wait, to the block after that and a barrier.
__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// Bulk copies: the TMA unit copies a contiguous run of bytes (16-byte aligned, a multiple of
// 16 long) from global into shared memory, holding no registers and no L1 requests of the
// threads. The shared-memory barriers ("mbarrier") count their bytes in: a barrier completes
// a phase once its expected arrivals have arrived and every byte announced by mbar_expect_tx
// has landed; waiters name the phase by its parity (0, 1, 0, ...). sm_90 and later only: on
// older devices these trap, and the host never launches a kernel that uses them there.
__device__ __forceinline__ unsigned shared_address(const void *p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t *bar, unsigned arrivals) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(arrivals) : "memory");
#else
    __trap(); // only launched on sm_90 and later
#endif
}
// Makes the barriers' initialisation visible to the bulk-copy unit (before a barrier of the block).
__device__ __forceinline__ void mbar_init_fence() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#else
    __trap(); // only launched on sm_90 and later
#endif
}
// One arrival that also announces `bytes` still to land in this phase.
__device__ __forceinline__ void mbar_expect_tx(uint64_t *bar, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
                 : "memory");
#else
    __trap(); // only launched on sm_90 and later
#endif
}
__device__ __forceinline__ void mbar_arrive(uint64_t *bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(shared_address(bar)) : "memory");
#else
    __trap(); // only launched on sm_90 and later
#endif
}
__device__ __forceinline__ void mbar_wait(uint64_t *bar, unsigned parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    unsigned done = 0;
    while (!done)
        asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
                     : "=r"(done)
                     : "r"(shared_address(bar)), "r"(parity)
                     : "memory");
#else
    __trap();
#endif
}
__device__ __forceinline__ void bulk_copy(void *dst, const void *src, unsigned bytes, uint64_t *bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     shared_address(dst)),
                 "l"(src), "r"(bytes), "r"(shared_address(bar))
                 : "memory");
#else
    __trap(); // only launched on sm_90 and later
#endif
}

// Four 8x8 matrices of 16-bit values from shared memory: lane i gives the address of row
// i % 8 of matrix i / 8; register m of every lane then holds row lane / 4, columns
// 2 (lane % 4) and 2 (lane % 4) + 1 of matrix m (transposed: of its transpose).
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *row) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *row) {
    const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

// c (16x8, F32) += a (16x16, F16, row-major fragment) * b (16x8, F16, column fragment).
// With g = lane / 4 and q = lane % 4: c[0], c[1] are row g, columns 2q and 2q + 1; c[2],
// c[3] the same columns of row g + 8. a[0] holds row g, columns 2q, 2q + 1; a[1] row g + 8;
// a[2], a[3] the same rows at columns + 8. b[0] holds rows 2q, 2q + 1 of column g; b[1]
// rows + 8.
__device__ __forceinline__ void mma_f16_16x8x16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded to F16, packed low then high (an operand register of mma).
__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t *>(&h);
}

} // namespace corvid::cuda
