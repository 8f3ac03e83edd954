// Weights x a few activation columns (decode): one warp per weight row, each lane
// decoding whole 32-element units straight from the stored blocks (deq32) and dotting
// them with up to kMatvecMaxCols columns of converted activations held in L1/L2. The
// weights are read once, coalesced across the warp; the columns share every decode.
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_quant.cuh"
#include "cuda/cuda_matvec_q8.cuh"

namespace corvid::cuda {
namespace {

constexpr int kWarps = 4;

template <DType T, int NC>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_kernel(const uint8_t *W, int64_t w_nb1, int N, int K, bool vec, const float *xq, int64_t ldx, float *dst,
                  int64_t ldd) {
    grid_dependency_wait();
    allow_dependents();
    const int row = blockIdx.x * kWarps + threadIdx.x / 32;
    if (row >= N) return;
    const int lane = threadIdx.x & 31;
    const uint8_t *wr = W + static_cast<int64_t>(row) * w_nb1;
    const int units = (K + 31) / 32;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[c] = 0.0f;

    for (int u = lane; u < units; u += 32) {
        float w[32];
        if constexpr (is_float_type<T>()) {
            if (vec && 32 * u + 32 <= K) {
                deq32<T>(wr, u, w);
            } else {
#pragma unroll
                for (int j = 0; j < 32; ++j) w[j] = 32 * u + j < K ? load_elem<T>(wr, 32 * u + j) : 0.0f;
            }
        } else {
            deq32<T>(wr, u, w);
        }
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const float4 *xp = reinterpret_cast<const float4 *>(xq + c * ldx + 32 * u);
            float s = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const float4 a = xp[i];
                s += w[4 * i] * a.x + w[4 * i + 1] * a.y + w[4 * i + 2] * a.z + w[4 * i + 3] * a.w;
            }
            acc[c] += s;
        }
    }
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        const float v = warp_sum(acc[c]);
        if (lane == 0) dst[c * ldd + row] = v;
    }
}

struct Launch {
    Context &ctx;
    const uint8_t *W;
    int64_t w_nb1, N, K;
    const float *xq;
    int64_t ldx, M;
    float *dst;
    int64_t ldd;

    template <DType T, int NC> void go() {
        const bool vec = w_nb1 % 16 == 0;
        launch(ctx, matvec_kernel<T, NC>, blocks_for(N, kWarps), kWarps * 32, 0, 
            W, w_nb1, static_cast<int>(N), static_cast<int>(K), vec, xq, ldx, dst, ldd);
        CV_LAUNCHED("matvec_kernel");
    }
    template <DType T> void run() {
        switch (M) {
        case 1: go<T, 1>(); break;
        case 2: go<T, 2>(); break;
        case 3: go<T, 3>(); break;
        case 4: go<T, 4>(); break;
        case 5: go<T, 5>(); break;
        case 6: go<T, 6>(); break;
        case 7: go<T, 7>(); break;
        default: go<T, 8>(); break;
        }
    }
};

// Two 16-bit values (F16, or BF16 with BF) packed in 32 bits, as floats.
template <bool BF> __device__ __forceinline__ float2 pair_f2(uint32_t v) {
    if constexpr (BF) return make_float2(__uint_as_float(v << 16), __uint_as_float(v & 0xFFFF0000u));
    else return __half22float2(*reinterpret_cast<const __half2 *>(&v));
}

// Chunk c (8 values) of an input as 4 pairs of floats rounded to the weight's format: from
// 16-bit values, or (XF) from floats, rounded here as the conversion kernel would.
template <bool BF, bool XF> __device__ __forceinline__ void input_chunk(const void *x, int c, float2 (&af)[4]) {
    if constexpr (XF) {
        const float4 a = reinterpret_cast<const float4 *>(x)[2 * c], b = reinterpret_cast<const float4 *>(x)[2 * c + 1];
        const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            if constexpr (BF)
                af[e] = make_float2(__bfloat162float(__float2bfloat16_rn(v[2 * e])),
                                    __bfloat162float(__float2bfloat16_rn(v[2 * e + 1])));
            else af[e] = make_float2(__half2float(__float2half_rn(v[2 * e])), __half2float(__float2half_rn(v[2 * e + 1])));
        }
    } else {
        const uint4 a = reinterpret_cast<const uint4 *>(x)[c];
        const uint32_t as[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) af[e] = pair_f2<BF>(as[e]);
    }
}

// Chunks i0, i0 + 32, ... (U of them, zero from `chunks` on) of a 16-bit weight row.
template <int U> __device__ __forceinline__ void load_chunks(const uint4 *row, int i0, int chunks, uint4 (&w)[U]) {
#pragma unroll
    for (int r = 0; r < U; ++r) w[r] = i0 + 32 * r < chunks ? row[i0 + 32 * r] : make_uint4(0, 0, 0, 0);
}

// One weight chunk (8 values) dotted with an input chunk into acc, pair by pair: every F16
// kernel sums in this order, so their results agree bit for bit.
template <bool BF> __device__ __forceinline__ void chunk_dot(const uint4 &w, const float2 (&af)[4], float &acc) {
    const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const float2 wf = pair_f2<BF>(ws[e]);
        acc += wf.x * af[e].x + wf.y * af[e].y;
    }
}

// 16-bit weights (F16, BF16), several columns (one column: matvec_h_parts_kernel below):
// each lane takes 16-byte chunks (8 elements), consecutive lanes consecutive chunks, U chunks
// in flight; the activations are already rounded to the
// weight's format (exact in it), so only the accumulation differs from the reference. The
// first U chunks are loaded before the grid-dependency wait (weights: no kernel writes
// them), overlapping the previous kernel's end. res (may be null): res[c * ldr + row] is
// added to each result (a residual, or with ldr 0 a bias), after the row's sum.
template <bool BF, int NC, int U>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_h_kernel(const uint8_t *__restrict__ W, int64_t w_nb1, int N, int K, const uint16_t *__restrict__ x,
                    float *__restrict__ dst, int64_t ldd, const float *__restrict__ res, int64_t ldr) {
    const int row = blockIdx.x * kWarps + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    const bool live = row < N;
    const uint4 *wr = reinterpret_cast<const uint4 *>(W + static_cast<int64_t>(live ? row : 0) * w_nb1);
    const int chunks = live ? K / 8 : 0;
    uint4 w[U];
    load_chunks(wr, lane, chunks, w);
    grid_dependency_wait();
    allow_dependents();
    if (!live) return;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[c] = 0.0f;
    for (int i0 = lane; i0 < chunks; i0 += 32 * U) {
        if (i0 != lane) load_chunks(wr, i0, chunks, w);
#pragma unroll
        for (int r = 0; r < U; ++r) {
            const int i = i0 + 32 * r;
            if (i >= chunks) break;
#pragma unroll
            for (int c = 0; c < NC; ++c) {
                float2 af[4];
                input_chunk<BF, false>(x + static_cast<int64_t>(c) * K, i, af);
                chunk_dot<BF>(w[r], af, acc[c]);
            }
        }
    }
#pragma unroll
    for (int c = 0; c < NC; ++c) {
        float v = warp_sum(acc[c]);
        if (res) v += res[c * ldr + row];
        if (lane == 0) dst[c * ldd + row] = v;
    }
}

// One column: up to kMaxMatvecParts matrices over the same input x [K] in one launch, a
// warp per job. A job is row j of the parts' rows laid end to end (q, k and v), or (R = 2)
// row j of the gate (part 0) and of the up matrix (part 1) at once, whose act(gate) * up is
// stored (no gate and up results, no GLU kernel). x is 16-bit, or floats rounded as they are
// loaded (XF: the attention's result before wo, the GLU's before down; no conversion kernel).
// Each row's sum is made in one lane order and one warp reduction whatever the launch, so
// fused and unfused products give the same bits. U chunks a round; PIPE: the next round's
// loads are issued before the current round is computed (2U chunks in registers), so that a
// warp always has loads in flight; else a round is loaded, then computed (the first round
// before the grid-dependency wait).
struct HParts {
    MatvecPart p[kMaxMatvecParts];
    int first[kMaxMatvecParts + 1]; // job j is in part s when first[s] <= j < first[s + 1]
    bool gelu;
};

template <bool BF, int R, int U, bool PIPE, bool XF>
__global__ void __launch_bounds__(kWarps * 32)
    matvec_h_parts_kernel(const HParts P, int K, const void *__restrict__ x) {
    const int job = blockIdx.x * kWarps + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    const int jobs = P.first[R == 2 ? 1 : kMaxMatvecParts];
    const bool live = job < jobs;
    const int s = R == 2 || job < P.first[1] ? 0 : job < P.first[2] ? 1 : 2;
    const int row = live ? job - P.first[s] : 0;
    const uint4 *wr[R];
#pragma unroll
    for (int i = 0; i < R; ++i)
        wr[i] = reinterpret_cast<const uint4 *>(P.p[R == 2 ? i : s].W + static_cast<int64_t>(row) * P.p[R == 2 ? i : s].w_nb1);
    const int chunks = live ? K / 8 : 0;
    auto load_round = [&](uint4 (&w)[R][U], int i0) {
#pragma unroll
        for (int i = 0; i < R; ++i) load_chunks(wr[i], i0, chunks, w[i]);
    };
    uint4 w[R][U];
    load_round(w, lane);
    grid_dependency_wait();
    allow_dependents();
    if (!live) return;
    float acc[R];
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] = 0.0f;
    for (int i0 = lane; i0 < chunks; i0 += 32 * U) {
        uint4 next[R][U];
        if constexpr (PIPE) load_round(next, i0 + 32 * U);
        else if (i0 != lane) load_round(w, i0);
#pragma unroll
        for (int r = 0; r < U; ++r) {
            const int c = i0 + 32 * r;
            if (c >= chunks) break;
            float2 af[4];
            input_chunk<BF, XF>(x, c, af);
#pragma unroll
            for (int i = 0; i < R; ++i) chunk_dot<BF>(w[i][r], af, acc[i]);
        }
        if constexpr (PIPE) {
#pragma unroll
            for (int r = 0; r < U; ++r)
#pragma unroll
                for (int i = 0; i < R; ++i) w[i][r] = next[i][r];
        }
    }
    float v[R];
#pragma unroll
    for (int i = 0; i < R; ++i) v[i] = warp_sum(acc[i]);
    if (lane != 0) return;
    if constexpr (R == 2) {
        P.p[0].dst[row] = (P.gelu ? gelu_ref(v[0]) : silu_ref(v[0])) * v[1];
    } else {
        const MatvecPart &q = P.p[s];
        P.p[s].dst[row] = q.res ? v[0] + q.res[row] : v[0];
    }
}

// The one-column form (CORVID_CUDA_H_FORM, for A/B timing): 4 = four chunks a round, loaded
// then computed (the form measured until 2026-12-06); 14 = four, pipelined; 8 / 18 = eight.
int one_column_form() {
    static const int form = env_choice("CORVID_CUDA_H_FORM", {4, 14, 8, 18}, 4);
    return form;
}

template <bool BF, int R, bool XF> void launch_h_parts(Context &ctx, const HParts &P, int K, const void *x) {
    const unsigned grid = blocks_for(P.first[R == 2 ? 1 : kMaxMatvecParts], kWarps);
    switch (one_column_form()) {
    case 14: launch(ctx, matvec_h_parts_kernel<BF, R, 4, true, XF>, grid, kWarps * 32, 0, P, K, x); break;
    case 8: launch(ctx, matvec_h_parts_kernel<BF, R, 8, false, XF>, grid, kWarps * 32, 0, P, K, x); break;
    case 18: launch(ctx, matvec_h_parts_kernel<BF, R, 8, true, XF>, grid, kWarps * 32, 0, P, K, x); break;
    default: launch(ctx, matvec_h_parts_kernel<BF, R, 4, false, XF>, grid, kWarps * 32, 0, P, K, x); break;
    }
    CV_LAUNCHED("matvec_h_parts_kernel");
}
template <bool BF> void launch_h_parts(Context &ctx, const HParts &P, bool glu, int K, HInput x) {
    if (glu) x.f32 ? launch_h_parts<BF, 2, true>(ctx, P, K, x.p) : launch_h_parts<BF, 2, false>(ctx, P, K, x.p);
    else x.f32 ? launch_h_parts<BF, 1, true>(ctx, P, K, x.p) : launch_h_parts<BF, 1, false>(ctx, P, K, x.p);
}

template <bool BF>
void launch_h(Context &ctx, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, HInput xin, int64_t M,
              float *dst, int64_t ldd, const float *res, int64_t ldr) {
    if (M != 1 && xin.f32) fail(Status::internal, "cuda matvec_h: float input for %lld columns", static_cast<long long>(M));
    const auto *x = static_cast<const uint16_t *>(xin.p);
    const unsigned grid = blocks_for(N, kWarps);
    const int n = static_cast<int>(N), k = static_cast<int>(K);
    switch (M) {
    case 1: {
        if (!ctx.h_parts) {
            launch(ctx, matvec_h_kernel<BF, 1, 4>, grid, kWarps * 32, 0, W, w_nb1, n, k, x, dst, ldd, res, ldr);
            break;
        }
        const MatvecPart part{W, w_nb1, N, dst, ldd, res, ldr};
        matvec_h_parts(ctx, BF ? DType::BF16 : DType::F16, &part, 1, K, xin, MatvecEpilogue::none);
        return;
    }
    case 2: launch(ctx, matvec_h_kernel<BF, 2, 2>, grid, kWarps * 32, 0, W, w_nb1, n, k, x, dst, ldd, res, ldr); break;
    case 3: launch(ctx, matvec_h_kernel<BF, 3, 1>, grid, kWarps * 32, 0, W, w_nb1, n, k, x, dst, ldd, res, ldr); break;
    case 4: launch(ctx, matvec_h_kernel<BF, 4, 1>, grid, kWarps * 32, 0, W, w_nb1, n, k, x, dst, ldd, res, ldr); break;
    default:
        for (int64_t m0 = 0; m0 < M; m0 += 4)
            launch_h<BF>(ctx, W, w_nb1, N, K, HInput{x + m0 * K, false}, M - m0 < 4 ? M - m0 : 4, dst + m0 * ldd, ldd,
                         res ? res + m0 * ldr : nullptr, ldr);
        return;
    }
    CV_LAUNCHED("matvec_h_kernel");
}

} // namespace

void matvec_h_parts(Context &ctx, DType w, const MatvecPart *parts, int n_parts, int64_t K, HInput x,
                    MatvecEpilogue epilogue) {
    const bool glu = epilogue != MatvecEpilogue::none;
    if (n_parts < 1 || n_parts > kMaxMatvecParts || (glu && (n_parts != 2 || parts[0].N != parts[1].N)))
        fail(Status::internal, "cuda matvec_h_parts: %d parts", n_parts);
    HParts P{};
    int64_t jobs = 0;
    for (int s = 0; s < kMaxMatvecParts; ++s) {
        if (s < n_parts) P.p[s] = parts[s];
        jobs += s < n_parts && !(glu && s == 1) ? parts[s].N : 0;
        if (jobs > (int64_t(1) << 30)) fail(Status::internal, "cuda matvec_h_parts: %lld rows", static_cast<long long>(jobs));
        P.first[s + 1] = static_cast<int>(jobs);
    }
    if (jobs == 0) return;
    P.gelu = epilogue == MatvecEpilogue::geglu;
    if (w == DType::BF16) launch_h_parts<true>(ctx, P, glu, static_cast<int>(K), x);
    else launch_h_parts<false>(ctx, P, glu, static_cast<int>(K), x);
}

bool matvec_h_supported(DType w, int64_t K, int64_t w_nb1) {
    return (w == DType::F16 || w == DType::BF16) && K % 8 == 0 && w_nb1 % 16 == 0;
}

void matvec_h(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, HInput x, int64_t M,
              float *dst, int64_t ldd, const float *res, int64_t ldr) {
    if (w == DType::BF16) launch_h<true>(ctx, W, w_nb1, N, K, x, M, dst, ldd, res, ldr);
    else launch_h<false>(ctx, W, w_nb1, N, K, x, M, dst, ldd, res, ldr);
}

void matvec(Context &ctx, DType w, const uint8_t *W, int64_t w_nb1, int64_t N, int64_t K, const float *xq,
            int64_t ldx, int64_t M, float *dst, int64_t ldd) {
    if (M < 1 || M > kMatvecMaxCols) fail(Status::internal, "cuda matvec: %lld columns", static_cast<long long>(M));
    Launch l{ctx, W, w_nb1, N, K, xq, ldx, M, dst, ldd};
    if (!dispatch_weight_type(w, l)) fail(Status::unsupported, "cuda matvec: no kernel for %s", dtype_name(w));
}

} // namespace corvid::cuda
