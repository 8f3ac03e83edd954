// How fast a decode step's weight stream can be read on this GPU, by access pattern: a
// standalone measurement behind the stream matvec's design (docs/cuda_performance.md).
//
// A 7B Q4_0 decode step reads 32 layers of four products (q/k/v 28.3 MB, wo 9.4 MB, gate/up
// 50.7 MB, down 25.4 MB), each one kernel over its own bytes, none of them in L2 from the
// step before. Each pattern below reads exactly those bytes as 128 back-to-back launches
// (the step), ten steps, and prints the effective read rate; a probe of one 2 GiB sweep is
// the reference. The work per byte is an xor, so only the loads' pattern is measured:
//   seq        every thread a grid-stride run of 16-byte loads, 4 in flight
//   rowsU      the stream matvec's walk: a warp owns whole rows (2048 bytes; down 5504), 32
//              lanes x 16 bytes x U a chunk, the next chunk loaded before the current one
//              is used; 4 blocks of 256 threads an SM
//   tmaS/C     bulk copies (cp.async.bulk, mbarrier) of C KiB into a ring of S stages per
//              block, each block one contiguous slice of the product; 1 block an SM
//   wtmaS      bulk copies per warp: each warp a ring of S stages of one row each, rows as
//              in rowsU; 2 blocks of 256 threads an SM
// and the same launched as a chain under programmatic dependent launch, as the decode step
// runs them: each kernel issues its first loads, then waits for the one before it to finish
// (griddepcontrol.wait), then lets the next one launch, so that the next kernel's first
// loads overlap this one's tail when both fit on an SM:
//   pdl-rows4  rowsU with U = 4, 2 blocks an SM (so that two kernels fit), first chunk early
//   pdl-tmaS/C tmaS/C, 1 block an SM, the first S stages issued before the wait
// and as one persistent launch for the whole step (what a decode megakernel would read):
// B blocks an SM walk each product as rowsU does, a grid-wide barrier after each product
// (plus E more, standing for the small phases between products: norm, rope, attention),
// since a real step's next product needs the activations the last one wrote:
//   pers-B/U/E      the first chunk of the next product loaded after the barrier
//   pers-B/U/E+a    loaded before it (weights never depend on the barrier, only the
//                   activations do), so loads stay in flight through it
//   pers-B/U/E+aL   and also each warp's first rows of the next product prefetched into L2
//                   (cp.async.bulk.prefetch.L2) before the barriers, no registers held
//   ringS/CK/E      one block an SM: a producer warp streams the block's slice of every
//                   product into a shared-memory ring of S stages of C KiB and never waits for
//                   a barrier; 8 consumer warps read the stages and meet at a grid barrier after
//                   each product, plus E more (each followed by 3 us of waiting) after q/k/v;
//                   "nobar": no barriers at all (the ring's own ceiling); "2SM": two blocks
//   flowS/CK/E/T    the dataflow form: the same ring, but each producer claims the next chunk
//                   of the product from a grid-wide counter, and a consumer warp waits only
//                   for the counter of chunks done of the product before; after q/k/v, E
//                   phases of one task a block, each T x 100 ns long, go through the ring
//                   (+oob: done by a tenth warp outside it; +ahead: the next claim's atomic in
//                   flight; flowL2: the producer only prefetches into L2, the consumers load)
//   flowq4_S/Rr/Nw  the dataflow form with N consumer warps that compute a Q4_0 product (R
//                   rows of K 4096 a chunk, each product's activation staged once a block);
//                   -stores / -dots / -both / -half / +split: without the row stores, without
//                   the dot products, without both, with half the arithmetic, or with rows
//                   laid out as level bytes then scales
// The ring and flow forms print where a block's time went (%globaltimer stamps).
//
// Build and run on the device machine:
//   nvcc -O3 -arch=sm_90 -std=c++17 -I backends -o /tmp/read_patterns scripts/cuda_read_patterns.cu && /tmp/read_patterns
#include "cuda/cuda_async.cuh" // the bulk copies and barriers, as the backend issues them

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace corvid::cuda;

#define CK(x)                                                                                                          \
    do {                                                                                                               \
        cudaError_t e_ = (x);                                                                                          \
        if (e_ != cudaSuccess) {                                                                                       \
            std::fprintf(stderr, "%s: %s (line %d)\n", #x, cudaGetErrorString(e_), __LINE__);                      \
            std::exit(1);                                                                                              \
        }                                                                                                              \
    } while (0)

__device__ unsigned g_sink;

__device__ __forceinline__ unsigned xor4(uint4 v) { return v.x ^ v.y ^ v.z ^ v.w; }
__device__ __forceinline__ void sink(unsigned acc) {
    if (acc == 0x9e3779b9u) g_sink = acc; // never in practice; keeps the loads
}

__global__ void seq_kernel(const uint4 *p, size_t n) {
    unsigned acc = 0;
    const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
    size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        const uint4 a = __ldcs(p + i), b = __ldcs(p + i + stride), c = __ldcs(p + i + 2 * stride),
                    d = __ldcs(p + i + 3 * stride);
        acc ^= xor4(a) ^ xor4(b) ^ xor4(c) ^ xor4(d);
    }
    for (; i < n; i += stride) acc ^= xor4(__ldcs(p + i));
    sink(acc);
}

__device__ __forceinline__ void pdl_wait_then_release() {
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

// This lane's U 16-byte loads of chunk ch (32 lanes x 16 bytes x U) of row r (zeros past its end).
template <int U>
__device__ __forceinline__ void load_row_chunk(uint4 *dst, const uint8_t *p, int row_bytes, int r, int ch, int lane) {
#pragma unroll
    for (int j = 0; j < U; ++j) {
        const int off = (ch * U + j) * 32 * 16 + lane * 16;
        if (off < row_bytes)
            dst[j] = __ldcs(reinterpret_cast<const uint4 *>(p + static_cast<size_t>(r) * row_bytes + off));
        else
            dst[j] = make_uint4(0, 0, 0, 0);
    }
}

// The xor of a chunk's U loads (what the walks "compute"), and the double buffer's hand-over.
template <int U> __device__ __forceinline__ unsigned xor_chunk(const uint4 *c) {
    unsigned x = 0;
#pragma unroll
    for (int j = 0; j < U; ++j) x ^= xor4(c[j]);
    return x;
}
template <int U> __device__ __forceinline__ void move_chunk(uint4 *dst, const uint4 *src) {
#pragma unroll
    for (int j = 0; j < U; ++j) dst[j] = src[j];
}

template <int U, int MIN_BLOCKS = 4>
__global__ void __launch_bounds__(256, MIN_BLOCKS) rows_kernel(const uint8_t *p, int rows, int row_bytes, bool pdl) {
    const int lane = threadIdx.x & 31;
    const int W = gridDim.x * 8;
    const int chunk = 32 * 16 * U;
    const int chunks = (row_bytes + chunk - 1) / chunk;
    unsigned acc = 0;
    uint4 cur[U], nxt[U];
    int row = blockIdx.x * 8 + threadIdx.x / 32, c = 0;
    auto load = [&](uint4 *dst, int r, int ch) { load_row_chunk<U>(dst, p, row_bytes, r, ch, lane); };
    if (row >= rows) {
        if (pdl) pdl_wait_then_release();
        return;
    }
    load(cur, row, 0);
    if (pdl) pdl_wait_then_release();
    while (true) {
        int nr = row, nc = c + 1;
        if (nc == chunks) nc = 0, nr += W;
        const bool more = nr < rows;
        if (more) load(nxt, nr, nc);
        acc ^= xor_chunk<U>(cur);
        if (!more) break;
        move_chunk<U>(cur, nxt);
        row = nr, c = nc;
    }
    sink(acc);
}

// Each block streams its slice [begin, end) of the product in pieces of `piece` bytes
// through S stages; thread 0 issues, every thread reads each landed stage.
__global__ void __launch_bounds__(256, 1) tma_kernel(const uint8_t *p, size_t bytes, int S, int piece, bool pdl) {
    extern __shared__ __align__(128) uint8_t smem[];
    uint64_t *full = reinterpret_cast<uint64_t *>(smem);
    uint8_t *ring = smem + 128;
    const size_t per = (bytes / gridDim.x + 15) / 16 * 16;
    const size_t begin = per * blockIdx.x, end = begin + per < bytes ? begin + per : bytes;
    if (begin >= end) {
        if (pdl) pdl_wait_then_release();
        return;
    }
    const int pieces = static_cast<int>((end - begin + piece - 1) / piece);
    if (threadIdx.x == 0)
        for (int s = 0; s < S; ++s) mbar_init(full + s, 1);
    __syncthreads();
    auto issue = [&](int i) {
        const int s = i % S;
        const size_t off = begin + static_cast<size_t>(i) * piece;
        const unsigned n = static_cast<unsigned>(end - off < static_cast<size_t>(piece) ? end - off : piece);
        mbar_expect_tx(full + s, n);
        bulk_copy(ring + static_cast<size_t>(s) * piece, p + off, n, full + s);
    };
    if (threadIdx.x == 0)
        for (int i = 0; i < S && i < pieces; ++i) issue(i);
    if (pdl) pdl_wait_then_release();
    unsigned acc = 0;
    for (int i = 0; i < pieces; ++i) {
        const int s = i % S;
        mbar_wait(full + s, (i / S) & 1);
        const size_t off = begin + static_cast<size_t>(i) * piece;
        const int n = static_cast<int>(end - off < static_cast<size_t>(piece) ? end - off : piece);
        const uint4 *st = reinterpret_cast<const uint4 *>(ring + static_cast<size_t>(s) * piece);
        for (int k = threadIdx.x; k < n / 16; k += 256) acc ^= xor4(st[k]);
        __syncthreads(); // every thread is done with stage s
        if (threadIdx.x == 0 && i + S < pieces) issue(i + S);
    }
    sink(acc);
}

// Each warp a ring of S one-row stages (lane 0 issues), rows as in rows_kernel.
__global__ void __launch_bounds__(256, 2) wtma_kernel(const uint8_t *p, int rows, int row_bytes, int S) {
    extern __shared__ __align__(128) uint8_t smem[];
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    const int stage_bytes = (row_bytes + 127) / 128 * 128;
    uint64_t *full = reinterpret_cast<uint64_t *>(smem) + warp * 8;
    uint8_t *ring = smem + 8 * 8 * 8 + static_cast<size_t>(warp) * S * stage_bytes;
    const int W = gridDim.x * 8;
    const int first = blockIdx.x * 8 + warp;
    if (lane == 0)
        for (int s = 0; s < S; ++s) mbar_init(full + s, 1);
    __syncwarp();
    auto issue = [&](int i) { // i-th row of this warp
        const int s = i % S;
        mbar_expect_tx(full + s, row_bytes);
        bulk_copy(ring + s * stage_bytes, p + static_cast<size_t>(first + i * W) * row_bytes, row_bytes, full + s);
    };
    const int mine = first < rows ? (rows - first + W - 1) / W : 0;
    if (lane == 0)
        for (int i = 0; i < S && i < mine; ++i) issue(i);
    unsigned acc = 0;
    for (int i = 0; i < mine; ++i) {
        const int s = i % S;
        mbar_wait(full + s, (i / S) & 1);
        const uint4 *st = reinterpret_cast<const uint4 *>(ring + s * stage_bytes);
        for (int k = lane; k < row_bytes / 16; k += 32) acc ^= xor4(st[k]);
        __syncwarp();
        if (lane == 0 && i + S < mine) issue(i + S);
    }
    sink(acc);
}

// ---- one persistent launch a step ----
__device__ unsigned g_bar_count, g_bar_gen;

// Every block of the grid meets here (the grid must be co-resident: B blocks an SM at most
// what fits). Thread 0 arrives; the last to arrive resets the count and opens the next
// generation.
__device__ __forceinline__ void grid_barrier() {
    __syncthreads();
    if (threadIdx.x == 0) {
        volatile unsigned *gen = &g_bar_gen;
        const unsigned g = *gen;
        __threadfence();
        if (atomicAdd(&g_bar_count, 1) == gridDim.x - 1) {
            atomicExch(&g_bar_count, 0);
            __threadfence();
            atomicAdd(&g_bar_gen, 1);
        } else {
            while (*gen == g) {
            }
        }
        __threadfence();
    }
    __syncthreads();
}

struct Phase {
    const uint8_t *p;
    int rows, row_bytes;
};

__device__ __forceinline__ void prefetch_l2(const void *p, unsigned bytes) {
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
}

// mode 0: next product's first chunk after the barriers; 1: before them; 2: 1 and the warp's
// first `l2_rows` rows of the next product prefetched into L2 before them.
template <int U, int MIN_BLOCKS>
__global__ void __launch_bounds__(256, MIN_BLOCKS)
    persistent_kernel(const Phase *phases, int n, int extra_bars, int mode, int l2_rows) {
    const int lane = threadIdx.x & 31;
    const int W = gridDim.x * 8, first = blockIdx.x * 8 + threadIdx.x / 32;
    const int chunk = 32 * 16 * U;
    unsigned acc = 0;
    uint4 cur[U], nxt[U];
    auto load = [&](uint4 *dst, const Phase &ph, int r, int ch) { load_row_chunk<U>(dst, ph.p, ph.row_bytes, r, ch, lane); };
    bool have = false; // cur holds (row first, chunk 0) of phase f
    for (int f = 0; f < n; ++f) {
        const Phase ph = phases[f];
        const int chunks = (ph.row_bytes + chunk - 1) / chunk;
        int row = first, c = 0;
        if (row < ph.rows && !have) load(cur, ph, row, 0);
        have = false;
        const bool next_phase = f + 1 < n;
        const Phase nph = next_phase ? phases[f + 1] : ph;
        while (row < ph.rows) {
            int nr = row, nc = c + 1;
            if (nc == chunks) nc = 0, nr += W;
            const bool more = nr < ph.rows;
            if (more) {
                load(nxt, ph, nr, nc);
            } else if (mode >= 1 && next_phase && first < nph.rows) {
                load(nxt, nph, first, 0); // the weights do not depend on the barrier
                have = true;
                if (mode == 2 && lane == 0)
                    for (int i = 0; i < l2_rows; ++i) {
                        const int r2 = first + i * W;
                        if (r2 < nph.rows) prefetch_l2(nph.p + static_cast<size_t>(r2) * nph.row_bytes, nph.row_bytes);
                    }
            }
            acc ^= xor_chunk<U>(cur);
            if (!more) break;
            move_chunk<U>(cur, nxt);
            row = nr, c = nc;
        }
        if (have) move_chunk<U>(cur, nxt);
        for (int b = 0; b <= extra_bars; ++b) grid_barrier();
    }
    sink(acc);
}

// ---- one persistent launch a step, the weights through a shared-memory ring ----
// What a dataflow decode megakernel would read: one block an SM, a producer warp whose lane
// 0 streams this block's slice of every product, product after product, into a ring of S
// stages by bulk copies, and 8 consumer warps that read each landed stage. Only the consumers
// meet at the grid barriers after each product (and after `extra` more barriers following the
// first product of each layer, each followed by `spin_ns` of waiting: the attention and its
// dependent round trips). The producer waits only for free stages, so the weight stream goes
// on through barriers and small phases for as long as the ring has room: the ring is the
// prefetch that no register file could hold (192 KiB an SM is ~8 us of an SM's share of the
// bandwidth).
// The consumers' grid barrier. The arrival count and the generation sit on separate 128-byte
// lines, so that the blocks polling the generation do not slow the atomics on the count;
// arrivals are release atomics, the polls acquire loads with a short sleep between them.
struct alignas(128) BarrierWord {
    unsigned v;
};
__device__ BarrierWord g_cbar_count, g_cbar_gen;

__device__ __forceinline__ void consumer_sync() { asm volatile("bar.sync 1, 256;" ::: "memory"); }
__device__ __forceinline__ unsigned ld_acquire(const unsigned *p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ unsigned atom_add_acq_rel(unsigned *p, unsigned v) {
    unsigned old;
    asm volatile("atom.add.acq_rel.gpu.global.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
    return old;
}
__device__ __forceinline__ void st_release(unsigned *p, unsigned v) {
    asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

// The grid barrier of the consumer warps (threads 32..287 of every block). sleep_ns: the
// pause between polls (0: none).
__device__ __forceinline__ void consumer_grid_barrier(int sleep_ns = 0) {
    consumer_sync();
    if (threadIdx.x == 32) {
        const unsigned g = ld_acquire(&g_cbar_gen.v);
        if (atom_add_acq_rel(&g_cbar_count.v, 1) == gridDim.x - 1) {
            g_cbar_count.v = 0; // no one reads it before the generation moves on
            st_release(&g_cbar_gen.v, g + 1);
        } else {
            while (ld_acquire(&g_cbar_gen.v) == g)
                if (sleep_ns) __nanosleep(sleep_ns);
        }
    }
    consumer_sync();
}

__device__ __forceinline__ uint64_t global_ns() {
    uint64_t t;
    asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
    return t;
}

struct Slice {
    size_t begin, end; // this block's bytes of a product
};
__device__ __forceinline__ Slice block_slice(const Phase &ph) {
    const size_t bytes = static_cast<size_t>(ph.rows) * ph.row_bytes;
    const size_t per = (bytes / gridDim.x + 15) / 16 * 16;
    const size_t b = per * blockIdx.x;
    return {b < bytes ? b : bytes, b + per < bytes ? b + per : bytes};
}

// Where a ring block's time goes, summed over blocks and launches (ns): the producer waiting
// for a free stage, consumer thread 32 waiting for a landed stage, and at grid barriers.
__device__ unsigned long long g_ring_ns[3];

// barriers 0: no grid barrier at all (the ring's own ceiling).
__global__ void __launch_bounds__(288, 1)
    ring_kernel(const Phase *phases, int n, int S, int piece, int per_layer, int extra, int spin_ns, int barriers, int sleep_ns) {
    extern __shared__ __align__(128) uint8_t smem[];
    uint64_t *full = reinterpret_cast<uint64_t *>(smem), *empty = full + 32;
    uint8_t *ring = smem + 512;
    if (threadIdx.x == 0)
        for (int s = 0; s < S; ++s) mbar_init(full + s, 1), mbar_init(empty + s, 8);
    mbar_init_fence();
    __syncthreads();
    if (threadIdx.x < 32) { // the producer
        if (threadIdx.x != 0) return;
        int s = 0, round = 0; // stage and how many times the ring went round
        uint64_t waited = 0;
        for (int f = 0; f < n; ++f) {
            const Slice sl = block_slice(phases[f]);
            for (size_t off = sl.begin; off < sl.end; off += piece) {
                if (round > 0) {
                    const uint64_t t0 = global_ns();
                    mbar_wait(empty + s, (round - 1) & 1);
                    waited += global_ns() - t0;
                }
                const unsigned bytes = static_cast<unsigned>(sl.end - off < size_t(piece) ? sl.end - off : piece);
                mbar_expect_tx(full + s, bytes);
                bulk_copy(ring + static_cast<size_t>(s) * piece, phases[f].p + off, bytes, full + s);
                if (++s == S) s = 0, ++round;
            }
        }
        atomicAdd(&g_ring_ns[0], static_cast<unsigned long long>(waited));
        return;
    }
    const int t = threadIdx.x - 32, lane = t & 31;
    unsigned acc = 0;
    int s = 0, round = 0;
    uint64_t waited = 0, at_barriers = 0;
    for (int f = 0; f < n; ++f) {
        const Slice sl = block_slice(phases[f]);
        for (size_t off = sl.begin; off < sl.end; off += piece) {
            const uint64_t t0 = global_ns();
            mbar_wait(full + s, round & 1);
            waited += global_ns() - t0;
            const int bytes = static_cast<int>(sl.end - off < size_t(piece) ? sl.end - off : piece);
            const uint4 *st = reinterpret_cast<const uint4 *>(ring + static_cast<size_t>(s) * piece);
            for (int k = t; k < bytes / 16; k += 256) acc ^= xor4(st[k]);
            __syncwarp();
            if (lane == 0) mbar_arrive(empty + s);
            if (++s == S) s = 0, ++round;
        }
        if (!barriers) continue;
        const uint64_t t0 = global_ns();
        consumer_grid_barrier(sleep_ns);
        if (f % per_layer == 0)
            for (int e = 0; e < extra; ++e) {
                consumer_grid_barrier(sleep_ns);
                const uint64_t until = global_ns() + spin_ns;
                while (global_ns() < until) {
                }
            }
        at_barriers += global_ns() - t0;
    }
    if (t == 0) {
        atomicAdd(&g_ring_ns[1], static_cast<unsigned long long>(waited));
        atomicAdd(&g_ring_ns[2], static_cast<unsigned long long>(at_barriers));
    }
    sink(acc);
}

// ---- the ring with work claimed at run time and per-product counters instead of barriers ----
// The dataflow form: each block's producer claims the next chunk of the current product
// from a grid-wide counter whenever its ring has a free stage (so an SM that the memory
// serves faster takes more of each product), writes the chunk's name into the stage's
// header and copies it; consumer warp w takes the stages s with s % 8 == w in ring order.
// Before the first chunk of product f a warp waits until every chunk of product f - 1 is
// done (a counter each product, release adds, acquire polls): that is the whole of the
// dependency a product has on the one before. Phases without bytes stand for the small ops
// (one task a block, each `spin_ns` long).
struct FlowPhase {
    const uint8_t *p;
    size_t bytes;
    unsigned chunks;
    int spin_ns;
};

__device__ __forceinline__ void red_release_add(unsigned *p, unsigned v) {
    asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

// With DOT the consumers compute what a Q4_0 product would: every weight row is 2304 bytes
// (K = 4096, 128 blocks of 18 bytes; each product is a whole number of them), a chunk is a
// whole number of rows, and each warp dots its chunk's rows with an activation it loads from
// L2 (int8 levels, a scale and a level sum a block) whenever it starts a new product, as a
// product's input written by the product before would have to be; one float a row is stored.
constexpr int kQ4Row = 2304;
struct Q4Act {
    const int4 *qs;   // 4096 levels, as 16-byte words
    const float *d;   // 128 scales
    const int *sum;   // 128 level sums
    float *out;       // a float a row
};

struct ActSlot { // a block's copy of one product's activation (claimed / ready: the product + 1)
    int4 qs[256];
    float d[128];
    int sum[128];
    unsigned claimed, ready;
    unsigned pad[30];
};

// Q4_0 block b's 16 level bytes and fp16 scale from shared memory by 32-bit loads: the block
// starts 2 bytes into a word when b is odd, so five aligned words cover it, shifted by 0 or 16.
__device__ __forceinline__ void q4_block_words(const uint8_t *blk, unsigned q[4], float &d) {
    const unsigned *w = reinterpret_cast<const unsigned *>(reinterpret_cast<uintptr_t>(blk) & ~uintptr_t(3));
    const unsigned sh = (reinterpret_cast<uintptr_t>(blk) & 3u) * 8u;
    unsigned v[5];
#pragma unroll
    for (int i = 0; i < 5; ++i) v[i] = w[i];
    const unsigned dw = __funnelshift_r(v[0], v[1], sh);
    d = __half2float(__ushort_as_half(static_cast<unsigned short>(dw & 0xFFFFu)));
#pragma unroll
    for (int i = 0; i < 4; ++i) q[i] = __funnelshift_r(v[i], v[i + 1], sh + 16); // bytes 2 + 4i .. 5 + 4i
}

// G warps consume each stage (consumer warp w: stages s with s % 8 == w % 8, rows w / 8 + G r).
template <bool DOT, int G>
__global__ void __launch_bounds__(64 + 256 * G, 1) flow_kernel(const FlowPhase *phases, int n, int S, int piece,
                                                             unsigned *claim, unsigned *done, int claim_ahead, int oob,
                                                             Q4Act act, int probe, int l2) {
    extern __shared__ __align__(128) uint8_t smem[];
    uint64_t *full = reinterpret_cast<uint64_t *>(smem), *empty = full + 32;
    int2 *hdr = reinterpret_cast<int2 *>(empty + 32);
    ActSlot *act_slot = reinterpret_cast<ActSlot *>(smem + 1024); // two, with DOT
    uint8_t *ring = smem + 1024 + (DOT ? 2 * sizeof(ActSlot) : 0);
    if (threadIdx.x == 0) {
        for (int s = 0; s < S; ++s) mbar_init(full + s, 1), mbar_init(empty + s, G);
        if (DOT)
            for (int i = 0; i < 2; ++i) act_slot[i].claimed = 0, act_slot[i].ready = 0;
    }
    mbar_init_fence();
    __syncthreads();
    if (threadIdx.x < 32) { // the producer
        if (threadIdx.x != 0) return;
        int s = 0, round = 0;
        uint64_t waited = 0;
        auto next_stage = [&] {
            if (round > 0) {
                const uint64_t t0 = global_ns();
                mbar_wait(empty + s, (round - 1) & 1);
                waited += global_ns() - t0;
            }
        };
        for (int f = 0; f < n; ++f) {
            const FlowPhase ph = phases[f];
            if (ph.bytes == 0 && oob) continue; // the small-op warp's
            // With claim_ahead the next claim's atomic is in flight while this chunk waits for
            // its stage: one atomic round trip a chunk would cap a block at a chunk a microsecond.
            unsigned c = atomicAdd(claim + f, 1u);
            while (c < ph.chunks) {
                unsigned c_next = claim_ahead ? atomicAdd(claim + f, 1u) : 0;
                next_stage();
                hdr[s] = make_int2(f, static_cast<int>(c));
                if (ph.bytes == 0) {
                    mbar_arrive(full + s);
                } else {
                    const size_t off = static_cast<size_t>(c) * piece;
                    const unsigned bytes = static_cast<unsigned>(ph.bytes - off < size_t(piece) ? ph.bytes - off : piece);
                    if (l2) { // only into L2: the consumers load it themselves
                        prefetch_l2(ph.p + off, bytes);
                        mbar_arrive(full + s);
                    } else {
                        mbar_expect_tx(full + s, bytes);
                        bulk_copy(ring + static_cast<size_t>(s) * piece, ph.p + off, bytes, full + s);
                    }
                }
                if (++s == S) s = 0, ++round;
                c = claim_ahead ? c_next : atomicAdd(claim + f, 1u);
            }
        }
        for (int w = 0; w < 8; ++w) { // one end mark for each consumer warp (G read each stage)
            next_stage();
            hdr[s] = make_int2(-1, 0);
            mbar_arrive(full + s);
            if (++s == S) s = 0, ++round;
        }
        atomicAdd(&g_ring_ns[0], static_cast<unsigned long long>(waited));
        return;
    }
    const int w = threadIdx.x / 32 - 1, lane = threadIdx.x & 31, part = w / 8;
    int4 xq[4][2];     // with DOT: this lane's blocks lane + 32 k of the activation
    float xd[4];
    int xs[4];
    if (w == 8 * G) { // with oob: the small-op warp, outside the ring
        for (int f = 1; f < n; ++f) {
            if (phases[f].bytes != 0) continue;
            if (lane == 0)
                while (ld_acquire(done + f - 1) < phases[f - 1].chunks * (phases[f - 1].bytes ? G : 1)) {
                }
            __syncwarp();
            while (true) {
                unsigned c = 0;
                if (lane == 0) c = atomicAdd(claim + f, 1u);
                c = __shfl_sync(0xffffffffu, c, 0);
                if (c >= phases[f].chunks) break;
                const uint64_t until = global_ns() + phases[f].spin_ns;
                while (global_ns() < until) {
                }
                __syncwarp();
                if (lane == 0) red_release_add(done + f, 1u);
            }
        }
        return;
    }
    unsigned acc = 0;
    int s = w % 8, round = 0, ready = 0; // products < ready are known to be done
    bool have_first = false;
    // The activation of product f, into this lane's registers: the first warp of the block to
    // reach f copies it from L2 into the block's slot f % 2 (a product's warps are never more
    // than one product apart: f + 1 starts only when f is done everywhere), the others wait
    // for the slot's mark. One L2 read a block, not one a warp: 3168 warps reading the same
    // 5 KiB at the same moment made every product wait on those lines.
    auto load_act = [&](int f) {
        ActSlot &sl = act_slot[f & 1];
        unsigned won = 0;
        if (lane == 0) won = atomicMax(&sl.claimed, static_cast<unsigned>(f + 1)) < static_cast<unsigned>(f + 1);
        won = __shfl_sync(0xffffffffu, won, 0);
        if (won) {
            for (int i = lane; i < 256; i += 32) sl.qs[i] = __ldcg(act.qs + i);
            for (int i = lane; i < 128; i += 32) sl.d[i] = __ldcg(act.d + i), sl.sum[i] = __ldcg(act.sum + i);
            __syncwarp();
            __threadfence_block();
            if (lane == 0) *reinterpret_cast<volatile unsigned *>(&sl.ready) = static_cast<unsigned>(f + 1);
        } else {
            while (*reinterpret_cast<volatile unsigned *>(&sl.ready) != static_cast<unsigned>(f + 1)) {
            }
            __threadfence_block();
        }
        __syncwarp();
        for (int k = 0; k < 4; ++k) {
            const int b = lane + 32 * k;
            xq[k][0] = sl.qs[2 * b];
            xq[k][1] = sl.qs[2 * b + 1];
            xd[k] = sl.d[b];
            xs[k] = sl.sum[b];
        }
    };
    uint64_t waited = 0, at_deps = 0;
    while (true) {
        const uint64_t t0 = global_ns();
        mbar_wait(full + s, round & 1);
        waited += global_ns() - t0;
        const int2 h = hdr[s];
        if (h.x < 0) break;
        const int f = h.x;
        if (f > ready) {
            const uint64_t t1 = global_ns();
            if (lane == 0)
                while (ld_acquire(done + f - 1) < phases[f - 1].chunks * (phases[f - 1].bytes ? G : 1)) {
                }
            __syncwarp();
            ready = f;
            at_deps += global_ns() - t1;
            if (DOT) load_act(f);
        }
        const FlowPhase ph = phases[f];
        if (ph.bytes == 0) {
            if (part == 0) {
                const uint64_t until = global_ns() + ph.spin_ns;
                while (global_ns() < until) {
                }
            }
        } else {
            const size_t off = static_cast<size_t>(h.y) * piece;
            const int bytes = static_cast<int>(ph.bytes - off < size_t(piece) ? ph.bytes - off : piece);
            if (DOT) {
                if (f == 0 && !have_first) load_act(0), have_first = true; // the first product has no wait
                const uint8_t *st = l2 ? ph.p + off : ring + static_cast<size_t>(s) * piece;
                const int rows = bytes / kQ4Row;
                // Every row's partial sum stays in a register until the chunk's end, and rows go
                // two at a time with two integer chains each, so that the warp has independent
                // work in flight (one row at a time was latency-bound: ~280 cycles a block).
                constexpr int kMaxRows = 12;
                float part_sum[kMaxRows];
#pragma unroll
                for (int i = 0; i < kMaxRows; ++i) part_sum[i] = 0;
#pragma unroll
                for (int i = 0; i < kMaxRows; ++i) {
                    const int r = part + G * i;
                    if (r >= rows || (probe & 2)) break; // probe 2: no dot products
                    float sum = 0;
#pragma unroll
                    for (int k = 0; k < 4; ++k) {
                        if ((probe & 8) && k >= 2) break; // probe 8: half the arithmetic (what cheaper consumers would give)
                        unsigned wq[4];
                        float dw;
                        if (probe & 4) { // probe 4: a row as 128 x 16 level bytes, then 128 fp16 scales
                            const int b = lane + 32 * k;
                            const uint4 v = *reinterpret_cast<const uint4 *>(st + r * kQ4Row + 16 * b);
                            wq[0] = v.x, wq[1] = v.y, wq[2] = v.z, wq[3] = v.w;
                            dw = __half2float(*reinterpret_cast<const __half *>(st + r * kQ4Row + 2048 + 2 * b));
                        } else {
                            q4_block_words(st + r * kQ4Row + (lane + 32 * k) * 18, wq, dw);
                        }
                        const int *xv = reinterpret_cast<const int *>(&xq[k][0]);
                        int lo = -8 * xs[k], hi = 0;
#pragma unroll
                        for (int j = 0; j < 4; ++j) {
                            lo = __dp4a(static_cast<int>(wq[j] & 0x0F0F0F0Fu), xv[j], lo);
                            hi = __dp4a(static_cast<int>((wq[j] >> 4) & 0x0F0F0F0Fu), xv[4 + j], hi);
                        }
                        sum += dw * xd[k] * static_cast<float>(lo + hi);
                    }
                    part_sum[i] = sum;
                }
#pragma unroll
                for (int i = 0; i < kMaxRows; ++i) {
                    const int r = part + G * i;
                    if (r >= rows) break;
                    float sum = part_sum[i];
#pragma unroll
                    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
                    if (lane == 0 && (!(probe & 1) || sum == 1234.5f)) // probe 1: no stores
                        act.out[static_cast<size_t>(h.y) * (piece / kQ4Row) + r] = sum;
                }
            } else {
                if (l2) {
                    const uint4 *st = reinterpret_cast<const uint4 *>(ph.p + off);
                    for (int k = lane; k < bytes / 16; k += 128) { // four loads in flight
                        uint4 v[4];
#pragma unroll
                        for (int u = 0; u < 4; ++u)
                            v[u] = k + 32 * u < bytes / 16 ? __ldcg(st + k + 32 * u) : make_uint4(0, 0, 0, 0);
#pragma unroll
                        for (int u = 0; u < 4; ++u) acc ^= xor4(v[u]);
                    }
                } else {
                    const uint4 *st = reinterpret_cast<const uint4 *>(ring + static_cast<size_t>(s) * piece);
                    for (int k = lane; k < bytes / 16; k += 32) acc ^= xor4(st[k]);
                }
            }
        }
        __syncwarp();
        if (lane == 0) {
            mbar_arrive(empty + s);
            if (ph.bytes != 0 || part == 0) red_release_add(done + f, 1u); // a small task counts once
        }
        s += 8;
        if (s >= S) s -= S, ++round;
    }
    if (w == 0 && lane == 0) {
        atomicAdd(&g_ring_ns[1], static_cast<unsigned long long>(waited));
        atomicAdd(&g_ring_ns[2], static_cast<unsigned long long>(at_deps));
    }
    sink(acc);
}

struct Product {
    size_t bytes;
    int row_bytes;
};

int main(int argc, char **argv) {
    int dev = 0, sms = 0;
    CK(cudaSetDevice(dev));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    cudaDeviceProp prop{};
    CK(cudaGetDeviceProperties(&prop, dev));
    const int layers = argc > 1 ? std::atoi(argv[1]) : 32;
    const std::vector<Product> layer = {{28311552, 2048}, {9437184, 2048}, {50724864, 2048}, {25362432, 5504}};
    size_t step_bytes = 0;
    for (const Product &pr : layer) step_bytes += pr.bytes;
    step_bytes *= layers;
    uint8_t *buf = nullptr;
    CK(cudaMalloc(&buf, step_bytes + (1 << 20)));
    CK(cudaMemset(buf, 1, step_bytes));
    std::printf("%s, %d SMs, %d layers, %.2f GB a step\n", prop.name, sms, layers, step_bytes / 1e9);
    cudaEvent_t t0, t1;
    CK(cudaEventCreate(&t0));
    CK(cudaEventCreate(&t1));

    auto time_steps = [&](const char *name, auto launch_product) {
        auto step = [&] {
            size_t off = 0;
            for (int l = 0; l < layers; ++l)
                for (const Product &pr : layer) {
                    launch_product(buf + off, pr);
                    off += pr.bytes;
                }
        };
        step(); // warm-up
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        const int reps = 10;
        CK(cudaEventRecord(t0));
        for (int r = 0; r < reps; ++r) step();
        CK(cudaEventRecord(t1));
        CK(cudaEventSynchronize(t1));
        CK(cudaGetLastError());
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, t0, t1));
        const double us_step = ms * 1000.0 / reps;
        std::printf("%-12s %8.1f us a step  %6.3f TB/s\n", name, us_step, step_bytes / (us_step * 1e-6) / 1e12);
    };

    // The reference: one sweep of the whole step's bytes.
    {
        const size_t n = step_bytes / 16;
        seq_kernel<<<sms * 8, 256>>>(reinterpret_cast<const uint4 *>(buf), n);
        CK(cudaDeviceSynchronize());
        CK(cudaEventRecord(t0));
        for (int r = 0; r < 5; ++r) seq_kernel<<<sms * 8, 256>>>(reinterpret_cast<const uint4 *>(buf), n);
        CK(cudaEventRecord(t1));
        CK(cudaEventSynchronize(t1));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, t0, t1));
        std::printf("%-12s %8.1f us a sweep %6.3f TB/s\n", "probe", ms * 1000.0 / 5, 5.0 * step_bytes / (ms * 1e-3) / 1e12);
    }
    for (int per_sm : {4, 8})
        time_steps(per_sm == 4 ? "seq 4/SM" : "seq 8/SM", [&](const uint8_t *p, const Product &pr) {
            seq_kernel<<<sms * per_sm, 256>>>(reinterpret_cast<const uint4 *>(p), pr.bytes / 16);
        });
    time_steps("rows1", [&](const uint8_t *p, const Product &pr) {
        rows_kernel<1><<<sms * 4, 256>>>(p, static_cast<int>(pr.bytes / pr.row_bytes), pr.row_bytes, false);
    });
    time_steps("rows2", [&](const uint8_t *p, const Product &pr) {
        rows_kernel<2><<<sms * 4, 256>>>(p, static_cast<int>(pr.bytes / pr.row_bytes), pr.row_bytes, false);
    });
    time_steps("rows4", [&](const uint8_t *p, const Product &pr) {
        rows_kernel<4><<<sms * 4, 256>>>(p, static_cast<int>(pr.bytes / pr.row_bytes), pr.row_bytes, false);
    });
    CK(cudaFuncSetAttribute(tma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 << 10));
    const int tma_forms[][2] = {{4, 8}, {8, 8}, {4, 16}, {8, 16}, {12, 16}, {6, 32}};
    for (const auto &f : tma_forms) {
        char name[32];
        std::snprintf(name, sizeof name, "tma%d/%dK", f[0], f[1]);
        const int S = f[0], piece = f[1] << 10;
        time_steps(name, [&](const uint8_t *p, const Product &pr) {
            tma_kernel<<<sms, 256, 128 + S * piece>>>(p, pr.bytes, S, piece, false);
        });
    }
    CK(cudaFuncSetAttribute(wtma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 << 10));
    for (int S : {2, 3}) {
        char name[32];
        std::snprintf(name, sizeof name, "wtma%d", S);
        time_steps(name, [&](const uint8_t *p, const Product &pr) {
            const int stage = (pr.row_bytes + 127) / 128 * 128;
            wtma_kernel<<<sms * 2, 256, 512 + 8 * S * stage>>>(p, static_cast<int>(pr.bytes / pr.row_bytes),
                                                               pr.row_bytes, S);
        });
    }

    // The chains under programmatic dependent launch.
    auto launch_pdl = [](auto kernel, unsigned grid, size_t smem, auto... args) {
        cudaLaunchConfig_t cfg{};
        cfg.gridDim = dim3(grid);
        cfg.blockDim = dim3(256);
        cfg.dynamicSmemBytes = smem;
        cudaLaunchAttribute attr{};
        attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr.val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = &attr;
        cfg.numAttrs = 1;
        CK(cudaLaunchKernelEx(&cfg, kernel, args...));
    };
    time_steps("pdl-rows4", [&](const uint8_t *p, const Product &pr) {
        launch_pdl(rows_kernel<4, 2>, sms * 2, 0, p, static_cast<int>(pr.bytes / pr.row_bytes), pr.row_bytes, true);
    });
    const int pdl_forms[][2] = {{4, 16}, {6, 16}, {3, 32}, {12, 8}};
    for (const auto &f : pdl_forms) {
        char name[32];
        std::snprintf(name, sizeof name, "pdl-tma%d/%dK", f[0], f[1]);
        const int S = f[0], piece = f[1] << 10;
        time_steps(name, [&](const uint8_t *p, const Product &pr) {
            launch_pdl(tma_kernel, sms, 128 + S * piece, p, pr.bytes, S, piece, true);
        });
    }

    // One persistent launch a step: phases laid out as the step's products.
    {
        std::vector<Phase> host;
        size_t off = 0;
        for (int l = 0; l < layers; ++l)
            for (const Product &pr : layer) {
                host.push_back({buf + off, static_cast<int>(pr.bytes / pr.row_bytes), pr.row_bytes});
                off += pr.bytes;
            }
        Phase *dev_phases = nullptr;
        CK(cudaMalloc(&dev_phases, host.size() * sizeof(Phase)));
        CK(cudaMemcpy(dev_phases, host.data(), host.size() * sizeof(Phase), cudaMemcpyHostToDevice));
        const int n = static_cast<int>(host.size());
        struct Form {
            int blocks, units, extra, mode, l2_rows;
        };
        const Form forms[] = {{2, 4, 0, 0, 0}, {2, 4, 0, 1, 0}, {2, 4, 0, 2, 2}, {2, 4, 2, 0, 0}, {2, 4, 2, 1, 0},
                              {2, 4, 2, 2, 2}, {2, 4, 2, 2, 4}, {4, 2, 2, 1, 0}, {4, 2, 2, 2, 2}, {1, 4, 2, 2, 4}};
        for (const Form &f : forms) {
            char name[40];
            std::snprintf(name, sizeof name, "pers-%d/%d/%d%s", f.blocks, f.units, f.extra,
                          f.mode == 0 ? "" : f.mode == 1 ? "+a" : f.l2_rows == 2 ? "+aL2" : "+aL4");
            int fit = 0; // a grid that is not co-resident would never pass its first barrier
            if (f.units == 4)
                CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit, persistent_kernel<4, 2>, 256, 0));
            else
                CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit, persistent_kernel<2, 4>, 256, 0));
            if (fit < f.blocks) {
                std::printf("%-12s skipped: %d blocks an SM fit\n", name, fit);
                continue;
            }
            time_steps(name, [&, f](const uint8_t *p, const Product &pr) {
                if (p != buf || &pr != &layer[0]) return; // the whole step is one launch
                if (f.units == 4)
                    persistent_kernel<4, 2><<<sms * f.blocks, 256>>>(dev_phases, n, f.extra, f.mode, f.l2_rows);
                else
                    persistent_kernel<2, 4><<<sms * f.blocks, 256>>>(dev_phases, n, f.extra, f.mode, f.l2_rows);
            });
        }
        // The shared-memory ring: S stages of `piece` bytes; extra barriers after q/k/v.
        CK(cudaFuncSetAttribute(ring_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 220 << 10));
        struct RingForm {
            int S, piece_k, extra, spin_ns, barriers, per_sm, sleep_ns;
        };
        const RingForm rforms[] = {{12, 16, 0, 0, 0, 1, 0},    {12, 16, 0, 0, 1, 1, 0},   {12, 16, 0, 0, 1, 1, 100},
                                   {6, 32, 0, 0, 1, 1, 0},     {6, 16, 0, 0, 0, 2, 0},    {6, 16, 0, 0, 1, 2, 0},
                                   {12, 16, 1, 3000, 1, 1, 0}, {12, 16, 1, 0, 1, 1, 0},   {12, 8, 0, 0, 1, 1, 0},
                                   {24, 8, 0, 0, 1, 1, 0}};
        for (const RingForm &f : rforms) {
            char name[40];
            std::snprintf(name, sizeof name, "ring%d/%dK/%s%d%s%s", f.S, f.piece_k, f.barriers ? "" : "nobar/",
                          f.extra, f.per_sm == 2 ? "/2SM" : "", f.sleep_ns ? "/sleep" : "");
            const unsigned long long zero[3] = {0, 0, 0};
            CK(cudaMemcpyToSymbol(g_ring_ns, zero, sizeof zero));
            time_steps(name, [&, f](const uint8_t *p, const Product &pr) {
                if (p != buf || &pr != &layer[0]) return; // the whole step is one launch
                ring_kernel<<<sms * f.per_sm, 288, 512 + f.S * (f.piece_k << 10)>>>(
                    dev_phases, n, f.S, f.piece_k << 10, static_cast<int>(layer.size()), f.extra, f.spin_ns, f.barriers, f.sleep_ns);
            });
            unsigned long long ns[3];
            CK(cudaMemcpyFromSymbol(ns, g_ring_ns, sizeof ns));
            const double per = 11.0 * sms * f.per_sm * 1000.0; // 11 launches (warm-up + 10), us a block a step
            std::printf("             a block's step: producer waits %.0f us for stages, consumers %.0f us for data, "
                        "%.0f us at barriers\n",
                        ns[0] / per, ns[1] / per, ns[2] / per);
        }
        CK(cudaFree(dev_phases));
    }

    // The dataflow form: chunks claimed at run time, a counter a product.
    CK(cudaFuncSetAttribute(flow_kernel<false, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, 220 << 10));
    CK(cudaFuncSetAttribute(flow_kernel<true, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, 220 << 10));
    CK(cudaFuncSetAttribute(flow_kernel<true, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, 220 << 10));
    CK(cudaFuncSetAttribute(flow_kernel<true, 3>, cudaFuncAttributeMaxDynamicSharedMemorySize, 220 << 10));
    Q4Act act{};
    {
        std::vector<int8_t> q(4096);
        std::vector<float> d(128);
        std::vector<int> sums(128, 0);
        for (int i = 0; i < 4096; ++i) q[i] = static_cast<int8_t>(i * 37 % 255 - 127), sums[i / 32] += q[i];
        for (int b = 0; b < 128; ++b) d[b] = 0.01f + 0.001f * (b % 7);
        int4 *dq = nullptr;
        float *dd = nullptr, *out = nullptr;
        int *ds = nullptr;
        CK(cudaMalloc(&dq, 4096));
        CK(cudaMalloc(&dd, 128 * sizeof(float)));
        CK(cudaMalloc(&ds, 128 * sizeof(int)));
        CK(cudaMalloc(&out, (50724864 / kQ4Row + 64) * sizeof(float)));
        CK(cudaMemcpy(dq, q.data(), 4096, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dd, d.data(), 128 * sizeof(float), cudaMemcpyHostToDevice));
        CK(cudaMemcpy(ds, sums.data(), 128 * sizeof(int), cudaMemcpyHostToDevice));
        act = {dq, dd, ds, out};
    }
    struct FlowForm {
        int S, piece_k, extra, spin_ns, ahead, oob, dot_rows, G, probe, l2; // dot_rows: Q4_0 rows a chunk (0: xor)
    };
    const FlowForm fforms[] = {{8, 24, 0, 0, 0, 0, 0, 1, 0, 0},  {8, 0, 0, 0, 0, 0, 10, 1, 0, 0},
                               {8, 0, 0, 0, 0, 0, 10, 1, 8, 0},  {8, 0, 0, 0, 0, 0, 10, 1, 2, 0},
                               {8, 0, 0, 0, 0, 0, 10, 2, 8, 0},  {8, 0, 1, 3000, 0, 0, 10, 1, 8, 0},
                               {8, 24, 1, 3000, 0, 0, 0, 1, 0, 0}};
    for (const FlowForm &f : fforms) {
        const int piece = f.dot_rows ? f.dot_rows * kQ4Row : f.piece_k << 10;
        std::vector<FlowPhase> host;
        size_t off = 0;
        for (int l = 0; l < layers; ++l)
            for (size_t k = 0; k < layer.size(); ++k) {
                const Product &pr = layer[k];
                host.push_back({buf + off, pr.bytes, static_cast<unsigned>((pr.bytes + piece - 1) / piece), 0});
                off += pr.bytes;
                if (k == 0)
                    for (int e = 0; e < f.extra; ++e) host.push_back({nullptr, 0, static_cast<unsigned>(sms), f.spin_ns});
            }
        const int n = static_cast<int>(host.size());
        FlowPhase *dev = nullptr;
        unsigned *counters = nullptr;
        CK(cudaMalloc(&dev, host.size() * sizeof(FlowPhase)));
        CK(cudaMemcpy(dev, host.data(), host.size() * sizeof(FlowPhase), cudaMemcpyHostToDevice));
        CK(cudaMalloc(&counters, 2 * n * sizeof(unsigned)));
        char name[40];
        if (f.dot_rows)
            std::snprintf(name, sizeof name, "flow%sq4_%d/%dr/%dw/%d/%d%s", f.l2 ? "L2" : "", f.S, f.dot_rows, 8 * f.G,
                          f.extra, f.spin_ns / 100,
                          f.probe == 1   ? "-stores"
                          : f.probe == 2 ? "-dots"
                          : f.probe == 3 ? "-both"
                          : f.probe == 4 ? "+split"
                          : f.probe == 6 ? "+split-dots"
                          : f.probe == 8 ? "-half"
                                         : "");
        else
            std::snprintf(name, sizeof name, "flow%s%d/%dK/%d/%d%s%s", f.l2 ? "L2" : "", f.S, f.piece_k, f.extra,
                          f.spin_ns / 100,
                          f.ahead ? "+ahead" : "", f.oob ? "+oob" : "");
        const unsigned long long zero[3] = {0, 0, 0};
        CK(cudaMemcpyToSymbol(g_ring_ns, zero, sizeof zero));
        time_steps(name, [&, f](const uint8_t *p, const Product &pr) {
            if (p != buf || &pr != &layer[0]) return; // the whole step is one launch
            CK(cudaMemsetAsync(counters, 0, 2 * n * sizeof(unsigned)));
            const int threads = 32 + 256 * f.G + (f.oob ? 32 : 0);
            const size_t smem =
                1024 + (f.l2 ? 0 : static_cast<size_t>(f.S) * piece) + (f.dot_rows ? 2 * sizeof(ActSlot) : 0);
            auto k = !f.dot_rows ? flow_kernel<false, 1>
                     : f.G == 1  ? flow_kernel<true, 1>
                     : f.G == 2  ? flow_kernel<true, 2>
                                 : flow_kernel<true, 3>;
            k<<<sms, threads, smem>>>(dev, n, f.S, piece, counters, counters + n, f.ahead, f.oob, act, f.probe, f.l2);
        });
        unsigned long long ns[3];
        CK(cudaMemcpyFromSymbol(ns, g_ring_ns, sizeof ns));
        const double per = 11.0 * sms * 1000.0;
        std::printf("             a block's step: producer waits %.0f us for stages, warp 0 %.0f us for data, "
                    "%.0f us for products before\n",
                    ns[0] / per, ns[1] / per, ns[2] / per);
        CK(cudaFree(dev));
        CK(cudaFree(counters));
    }
    CK(cudaFree(buf));
    return 0;
}
