// Prompt attention in one kernel on the tensor cores (FlashAttention-2's schedule) over an
// F16 KV cache: softmax(Q K^T * scale + mask) V without the score matrix leaving the chip.
//
// A block takes 64 queries of one head (a warp 16 rows) and walks the keys in tiles of 64
// (head size over 128: 32), staged in shared memory by cp.async two tiles deep. Per tile a
// warp computes its 16 x 64 scores with mma.sync (F32 accumulation), adds the mask, updates
// its rows' running max and sum (online softmax, in base 2), rounds the probabilities to
// F16 and accumulates P V with mma.sync into a 16 x D F32 accumulator in registers. Rows
// are normalised once at the end.
//
// Numerics against the reference (Q rounded to F16, scores in F32, probabilities rounded
// to F16 before P V): the same roundings, except that the probabilities are rounded before
// normalisation, relative to the running max, as flash attention in the reference does.
//
// The mask is read only where it matters: a small kernel classes every (query tile, key
// tile) as wholly masked (skipped: the causal upper triangle), maskless (all zero: no mask
// reads) or mixed, once a step (every layer reads the same mask: Context::mask_tiles). With
// fewer query tiles than SMs (a short prompt chunk over a long cache), the keys are also
// split between blocks and the partial states merged as in the decode path
// (attention_merge).
#include "cuda/cuda_async.cuh"
#include "cuda/cuda_ops.h"

#include <algorithm>

namespace corvid::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kBr = 16 * kWarps; // queries per block
constexpr float kLog2e = 1.4426950408889634f;

template <int D> constexpr int key_tile() { return D <= 128 ? 64 : 32; }
// Shared-memory rows are padded by 16 bytes so that the 8 rows an ldmatrix reads fall in
// distinct banks.
template <int D> constexpr int row_halves() { return D + 8; }
template <int D> constexpr size_t smem_bytes() {
    return sizeof(uint16_t) * row_halves<D>() * (kBr + 4 * key_tile<D>()); // Q, then K and V twice
}

enum TileClass : uint8_t { kTileMasked = 0, kTileOpen = 1, kTileMixed = 2 };

struct FlashArgs : AttnOperands {
    const uint8_t *tiles; // [query tiles][key tiles] TileClass
    float *out;           // [T][H][D] (no split), else the partial states:
    float *part_acc;      // [T][H][splits][D] unnormalised sums
    float2 *part_ml;      // [T][H][splits] (max, sum) in natural-log units, as attention_merge reads
    int H, T, NKV, group, key_tiles, tiles_per_split;
    float scale;
    bool q_vec; // Q's rows can be read 16 bytes at a time
    // The product reading the result next takes it as F16 (h_bf16: BF16) at out_h [T][H][D]:
    // the values rounded (h_family 0) or through Q8_0 (32). out null: no F32 result.
    void *out_h;
    int h_family;
    bool h_bf16;
};

// One block per (query tile, key tile): which of the three classes its mask is. Each thread
// loads its N values first (independent loads in flight together), then classes them.
template <int BC>
__global__ void tile_class_kernel(const uint8_t *mask, int64_t mask_nb1, int T, int NKV, int key_tiles, uint8_t *tiles) {
    constexpr int kThreads = 256, N = kBr * BC / kThreads;
    grid_dependency_wait();
    allow_dependents();
    const int kt = blockIdx.x, qt = blockIdx.y;
    float m[N];
    bool in_range[N];
#pragma unroll
    for (int n = 0; n < N; ++n) {
        const int i = static_cast<int>(threadIdx.x) + kThreads * n;
        const int t = qt * kBr + i / BC, j = kt * BC + i % BC;
        in_range[n] = t < T;
        m[n] = t < T && j < NKV ? reinterpret_cast<const float *>(mask + t * mask_nb1)[j] : NAN; // NaN: past the keys
    }
    bool all_masked = true, all_zero = true;
#pragma unroll
    for (int n = 0; n < N; ++n) {
        if (!in_range[n]) continue;
        all_masked &= m[n] == -INFINITY || m[n] != m[n];
        all_zero &= m[n] == 0.0f;
    }
    all_masked = __syncthreads_and(all_masked);
    all_zero = __syncthreads_and(all_zero);
    if (threadIdx.x == 0) tiles[qt * key_tiles + kt] = all_masked ? kTileMasked : all_zero ? kTileOpen : kTileMixed;
}

constexpr int largest_divisor_upto(int n, int cap) {
    for (int d = cap; d > 1; --d)
        if (n % d == 0) return d;
    return 1;
}

// The first key tile at or after kt, before end, that is not wholly masked (end if none).
__device__ __forceinline__ int next_tile(const uint8_t *cls, int kt, int end) {
    while (kt < end && cls[kt] == kTileMasked) ++kt;
    return kt;
}

// A finished row's values (this thread's pairs 8 dt + 2 tq of row r, times mul) in the form
// the next product reads: F16 or BF16, rounded, or through Q8_0 (a 32-column unit is 4 dt of
// the quad's 4 lanes: its largest magnitude over the quad, as the reference quantizer).
// The quad's lanes share a row, so they branch together: shuffles within the quad only.
template <int D>
__device__ __forceinline__ void store_converted(const FlashArgs &a, const float (&o)[D / 8][4], int r, float mul,
                                                int64_t th, int tq, int lane) {
    const unsigned quad = 0xfu << (lane & 28);
#pragma unroll
    for (int b0 = 0; b0 < D / 8; b0 += 4) { // a unit (head sizes for Q8_0 are multiples of 32)
        float id = 1.0f, d16 = 1.0f;
        if (a.h_family == 32) {
            float am = 0.0f;
#pragma unroll
            for (int e = 0; e < 4 && b0 + e < D / 8; ++e)
                am = fmaxf(am, fmaxf(fabsf(o[b0 + e][2 * r] * mul), fabsf(o[b0 + e][2 * r + 1] * mul)));
            am = fmaxf(am, __shfl_xor_sync(quad, am, 1));
            am = fmaxf(am, __shfl_xor_sync(quad, am, 2));
            id = q8_0_scale(am, d16);
        }
#pragma unroll
        for (int e = 0; e < 4 && b0 + e < D / 8; ++e) {
            const int dt = b0 + e;
            float v0 = o[dt][2 * r] * mul, v1 = o[dt][2 * r + 1] * mul;
            if (a.h_family == 32) v0 = roundf(v0 * id) * d16, v1 = roundf(v1 * id) * d16;
            const int64_t at = th * D + 8 * dt + 2 * tq;
            if (a.h_bf16)
                *reinterpret_cast<__nv_bfloat162 *>(static_cast<__nv_bfloat16 *>(a.out_h) + at) = __floats2bfloat162_rn(v0, v1);
            else *reinterpret_cast<__half2 *>(static_cast<__half *>(a.out_h) + at) = __floats2half2_rn(v0, v1);
        }
    }
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32) flash_prompt_kernel(FlashArgs a) {
    constexpr int BC = key_tile<D>(), RH = row_halves<D>(), CH = D / 8; // CH: 16-byte pieces a row
    extern __shared__ __align__(16) uint16_t smem[];
    uint16_t *qs = smem, *ks = qs + kBr * RH, *vs = ks + 2 * BC * RH;
    const int qt = gridDim.x - 1 - blockIdx.x; // the tiles with the most keys first (causal masks)
    const int h = blockIdx.y, split = blockIdx.z, hk = h / a.group;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
    const int t0 = qt * kBr;
    grid_dependency_wait();
    allow_dependents();

    const uint8_t *kbase = a.k + hk * a.k_nb2, *vbase = a.v + hk * a.v_nb2;
    auto load_keys = [&](int kt, int stage) {
        const int j0 = kt * BC;
        for (int i = threadIdx.x; i < BC * CH; i += kWarps * 32) {
            const int r = i / CH, c = i % CH, j = j0 + r;
            uint16_t *kd = ks + (stage * BC + r) * RH + 8 * c, *vd = vs + (stage * BC + r) * RH + 8 * c;
            if (j < a.NKV) {
                cp_async16(kd, kbase + j * a.k_nb1 + 16 * c);
                cp_async16(vd, vbase + j * a.v_nb1 + 16 * c);
            } else { // past the cache: zeros, never NaN from whatever lies there
                *reinterpret_cast<uint4 *>(kd) = make_uint4(0, 0, 0, 0);
                *reinterpret_cast<uint4 *>(vd) = make_uint4(0, 0, 0, 0);
            }
        }
        cp_async_commit();
    };

    const uint8_t *cls = a.tiles + static_cast<int64_t>(qt) * a.key_tiles;
    const int first = split * a.tiles_per_split, end = min(a.key_tiles, first + a.tiles_per_split);
    int kt = next_tile(cls, first, end);
    if (kt < end) load_keys(kt, 0);
    // The tile after kt and whether kt is mixed, known one iteration ahead: reading the
    // classes (global memory) then costs no wait on the way to the next tile's copies.
    int next = kt < end ? next_tile(cls, kt + 1, end) : end;
    bool mixed = kt < end && cls[kt] == kTileMixed;

    // Q rounded to F16 (as the reference rounds it for an F16 cache); rows past T are zero.
    // 16-byte loads, 8 a thread in flight at once (a loop of dependent-looking loads took
    // several microseconds a block).
    if (a.q_vec) {
        constexpr int Q4 = D / 4, per = kBr * Q4 / (kWarps * 32), batch = largest_divisor_upto(per, 8);
#pragma unroll 1
        for (int b = 0; b < per; b += batch) {
            float4 x[batch];
#pragma unroll
            for (int n = 0; n < batch; ++n) {
                const int i = static_cast<int>(threadIdx.x) + kWarps * 32 * (b + n), r = i / Q4, t = t0 + r;
                x[n] = t < a.T ? reinterpret_cast<const float4 *>(a.q + h * a.q_nb1 + t * a.q_nb2)[i % Q4]
                               : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
#pragma unroll
            for (int n = 0; n < batch; ++n) {
                const int i = static_cast<int>(threadIdx.x) + kWarps * 32 * (b + n), r = i / Q4;
                *reinterpret_cast<uint2 *>(qs + r * RH + 4 * (i % Q4)) =
                    make_uint2(pack_half2(x[n].x, x[n].y), pack_half2(x[n].z, x[n].w));
            }
        }
    } else {
        for (int i = threadIdx.x; i < kBr * D; i += kWarps * 32) {
            const int r = i / D, d = i % D, t = t0 + r;
            const float x = t < a.T ? reinterpret_cast<const float *>(a.q + h * a.q_nb1 + t * a.q_nb2)[d] : 0.0f;
            qs[r * RH + d] = __half_as_ushort(__float2half_rn(x));
        }
    }

    float o[D / 8][4] = {};
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f}; // rows g and g + 8, base 2
    const int row0 = t0 + 16 * warp + g;
    const float scale2 = a.scale * kLog2e;
    for (int stage = 0; kt < end; stage ^= 1) {
        if (next < end) {
            load_keys(next, stage ^ 1);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const uint16_t *kst = ks + stage * BC * RH, *vst = vs + stage * BC * RH;
        const int after = next < end ? next_tile(cls, next + 1, end) : end;
        const bool next_mixed = next < end && cls[next] == kTileMixed;

        // S = Q K^T for this warp's 16 rows.
        float s[BC / 8][4] = {};
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            uint32_t qa[4];
            ldmatrix_x4(qa, qs + (16 * warp + lane % 16) * RH + 16 * kk + 8 * (lane / 16));
#pragma unroll
            for (int nt = 0; nt < BC / 8; nt += 2) {
                uint32_t kb[4]; // b of key columns nt (kb[0], kb[1]) and nt + 1 (kb[2], kb[3])
                ldmatrix_x4(kb, kst + (8 * nt + 8 * (lane / 16) + lane % 8) * RH + 16 * kk + 8 * ((lane / 8) % 2));
                mma_f16_16x8x16(s[nt], qa, kb[0], kb[1]);
                mma_f16_16x8x16(s[nt + 1], qa, kb[2], kb[3]);
            }
        }

        // Scale, mask, in base 2; the new row maxima.
        float mx[2] = {row_max[0], row_max[1]};
#pragma unroll
        for (int nt = 0; nt < BC / 8; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                float x = s[nt][e] * scale2;
                if (mixed) {
                    const int t = row0 + 8 * (e / 2), j = kt * BC + 8 * nt + 2 * tq + e % 2;
                    const float m =
                        t < a.T && j < a.NKV ? reinterpret_cast<const float *>(a.mask + t * a.mask_nb1)[j] : -INFINITY;
                    x += m * kLog2e;
                }
                s[nt][e] = x;
                mx[e / 2] = fmaxf(mx[e / 2], x);
            }
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        }
        // Rescale what came before to the new maxima (a row still wholly masked keeps 0).
        float base[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            base[r] = mx[r] == -INFINITY ? 0.0f : mx[r];
            const float corr = exp2f(row_max[r] - base[r]);
            row_max[r] = mx[r];
            row_sum[r] *= corr;
#pragma unroll
            for (int dt = 0; dt < D / 8; ++dt) o[dt][2 * r] *= corr, o[dt][2 * r + 1] *= corr;
        }
#pragma unroll
        for (int nt = 0; nt < BC / 8; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float p = exp2f(s[nt][e] - base[e / 2]);
                s[nt][e] = p;
                row_sum[e / 2] += p;
            }
        }

        // O += P V: the score fragments of two key columns are the A fragment of 16 keys.
#pragma unroll
        for (int kk = 0; kk < BC / 16; ++kk) {
            const uint32_t pa[4] = {pack_half2(s[2 * kk][0], s[2 * kk][1]), pack_half2(s[2 * kk][2], s[2 * kk][3]),
                                    pack_half2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                    pack_half2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int dt = 0; dt < D / 8; dt += 2) {
                uint32_t vb[4]; // b of head columns dt (vb[0], vb[1]) and dt + 1 (vb[2], vb[3])
                ldmatrix_x4_trans(vb, vst + (16 * kk + 8 * ((lane / 8) % 2) + lane % 8) * RH + 8 * dt + 8 * (lane / 16));
                mma_f16_16x8x16(o[dt], pa, vb[0], vb[1]);
                mma_f16_16x8x16(o[dt + 1], pa, vb[2], vb[3]);
            }
        }
        __syncthreads(); // this stage's tiles are read before the next iteration refills them
        kt = next;
        next = after;
        mixed = next_mixed;
    }

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 1);
        row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 2);
    }
    const bool whole = gridDim.z == 1;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int t = row0 + 8 * r;
        if (t >= a.T) continue;
        const int64_t th = static_cast<int64_t>(t) * a.H + h;
        float *dst;
        float mul = 1.0f;
        if (whole) {
            dst = a.out + th * D;
            mul = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;
        } else {
            const int64_t slot = th * gridDim.z + split;
            dst = a.part_acc + slot * D;
            if (tq == 0) a.part_ml[slot] = make_float2(row_max[r] / kLog2e, row_sum[r]);
        }
        if (!whole || a.out) {
#pragma unroll
            for (int dt = 0; dt < D / 8; ++dt)
                *reinterpret_cast<float2 *>(dst + 8 * dt + 2 * tq) =
                    make_float2(o[dt][2 * r] * mul, o[dt][2 * r + 1] * mul);
        }
        if (whole && a.out_h) store_converted<D>(a, o, r, mul, th, tq, lane);
    }
}

template <int D> void launch_flash(Context &ctx, const FlashArgs &a, dim3 grid) {
    static const bool sized = [] { // over 48 KiB of shared memory needs the opt-in, once per kernel
        CV_CUDA(cudaFuncSetAttribute(flash_prompt_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     static_cast<int>(smem_bytes<D>())));
        return true;
    }();
    (void)sized;
    launch(ctx, flash_prompt_kernel<D>, grid, kWarps * 32, smem_bytes<D>(), a);
    CV_LAUNCHED("flash_prompt_kernel");
}

bool head_size_supported(int D) { return D == 64 || D == 80 || D == 96 || D == 128 || D == 256; }

} // namespace

bool flash_attention_prompt(Context &ctx, Tensor &dst, const AttnOutForm *form, bool *form_written) {
    if (form_written) *form_written = false;
    const Tensor &q = *dst.src[0], &k = *dst.src[1], &v = *dst.src[2], &mask = *dst.src[3];
    const int D = static_cast<int>(q.ne[0]), H = static_cast<int>(q.ne[1]), T = static_cast<int>(q.ne[2]);
    const int NKV = static_cast<int>(k.ne[1]), HKV = static_cast<int>(k.ne[2]);
    auto a16 = [](uint64_t x) { return x % 16 == 0; };
    if (!ctx.flash_prompt || k.type != DType::F16 || v.type != DType::F16 || mask.type != DType::F32 ||
        !head_size_supported(D) || NKV == 0 || !a16(k.nb[1]) || !a16(k.nb[2]) || !a16(v.nb[1]) || !a16(v.nb[2]) ||
        !a16(reinterpret_cast<uintptr_t>(k.data)) || !a16(reinterpret_cast<uintptr_t>(v.data)))
        return false;
    const int bc = D <= 128 ? 64 : 32;
    const int q_tiles = (T + kBr - 1) / kBr, key_tiles = (NKV + bc - 1) / bc;
    // Split the keys when the query tiles alone would leave SMs idle (two blocks fit an SM;
    // the merge costs ~25 us at 512 x 32 heads, more than half a wave of blocks idle).
    int splits = 1;
    const int64_t blocks = static_cast<int64_t>(q_tiles) * H;
    if (blocks < ctx.sm_count && key_tiles >= 4)
        splits = static_cast<int>(std::min<int64_t>({(2 * ctx.sm_count + blocks - 1) / blocks, key_tiles / 2, 32}));
    const int per_split = (key_tiles + splits - 1) / splits;
    splits = (key_tiles + per_split - 1) / per_split;

    const size_t part_slots = splits > 1 ? static_cast<size_t>(T) * H * splits : 0;
    auto *tiles = static_cast<uint8_t *>(ctx.scratch(kScratchMaskTiles, static_cast<size_t>(q_tiles) * key_tiles));
    auto *scratch = part_slots ? static_cast<uint8_t *>(ctx.scratch(
                                     kScratchAttention, part_slots * (sizeof(float2) + sizeof(float) * D)))
                               : nullptr;
    FlashArgs a{};
    static_cast<AttnOperands &>(a) = attn_operands(dst);
    a.tiles = tiles;
    a.out = static_cast<float *>(dst.data);
    a.part_ml = reinterpret_cast<float2 *>(scratch);
    a.part_acc = reinterpret_cast<float *>(scratch + part_slots * sizeof(float2));
    a.H = H;
    a.T = T;
    a.NKV = NKV;
    a.group = H / HKV;
    a.key_tiles = key_tiles;
    a.tiles_per_split = per_split;
    a.scale = dst.fp[0];
    a.q_vec = a16(reinterpret_cast<uintptr_t>(q.data)) && a16(q.nb[1]) && a16(q.nb[2]);
    if (form && form->h && splits == 1 && (form->family == 0 || (form->family == 32 && D % 32 == 0))) {
        a.out_h = form->h;
        a.h_family = form->family;
        a.h_bf16 = form->bf16;
        if (form->skip_f32) a.out = nullptr;
        *form_written = true;
    }

    // The classes of this mask's tiles, unless this step's earlier layers left them.
    const Context::MaskTiles want{mask.data, a.mask_nb1 * (T - 1) + static_cast<int64_t>(sizeof(float)) * NKV,
                                  a.mask_nb1, T, NKV, bc, ctx.scratch_epoch};
    const Context::MaskTiles &have = ctx.mask_tiles;
    if (have.mask != want.mask || have.nb1 != want.nb1 || have.T != T || have.NKV != NKV || have.bc != bc ||
        have.epoch != want.epoch) {
        const dim3 cg(static_cast<unsigned>(key_tiles), static_cast<unsigned>(q_tiles));
        if (bc == 64) launch(ctx, tile_class_kernel<64>, cg, 256, 0, a.mask, a.mask_nb1, T, NKV, key_tiles, tiles);
        else launch(ctx, tile_class_kernel<32>, cg, 256, 0, a.mask, a.mask_nb1, T, NKV, key_tiles, tiles);
        CV_LAUNCHED("tile_class_kernel");
        ctx.mask_tiles = want;
    }
    const dim3 grid(static_cast<unsigned>(q_tiles), static_cast<unsigned>(H), static_cast<unsigned>(splits));
    switch (D) {
    case 64: launch_flash<64>(ctx, a, grid); break;
    case 80: launch_flash<80>(ctx, a, grid); break;
    case 96: launch_flash<96>(ctx, a, grid); break;
    case 128: launch_flash<128>(ctx, a, grid); break;
    default: launch_flash<256>(ctx, a, grid); break;
    }
    if (splits > 1) attention_merge(ctx, a.part_acc, a.part_ml, static_cast<float *>(dst.data), D, H, T, splits);
    return true;
}

} // namespace corvid::cuda
