// mul_mat: weights (any supported type) x F32 activations -> F32. A few columns go to the
// matrix-vector kernels, more to cuBLAS; batch dimensions (weights broadcast over
// activations) loop on the host.
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_quant.cuh"

namespace corvid::cuda {

namespace {
struct Probe {
    template <DType T> void run() {}
};
} // namespace

bool weight_type_supported(DType t) { return dispatch_weight_type(t, Probe{}); }

Q8Activations q8_scratch(Context &ctx, int64_t K, int64_t M, ScratchSlot slot) {
    auto *q = static_cast<int8_t *>(ctx.scratch(slot, (K + (sizeof(float) + sizeof(int)) * (K / 32)) * M));
    auto *d = reinterpret_cast<float *>(q + K * M); // K * M is a multiple of 32: aligned
    return Q8Activations{q, d, reinterpret_cast<int *>(d + M * (K / 32)), slot};
}

void note_q8_activations(Context &ctx, DType w, const uint8_t *xp, int64_t x_nb1, int64_t K, int64_t M, ScratchSlot slot) {
    ctx.act_cache = Context::ActCache{xp, x_nb1 * (M - 1) + K * 4, x_nb1, K, M, static_cast<int>(traits(w).block_size), slot};
}

Q8Activations q8_activations(Context &ctx, DType w, const uint8_t *xp, int64_t x_nb1, int64_t K, int64_t M) {
    const auto &c = ctx.act_cache;
    const bool hit = c.x == xp && c.nb1 == x_nb1 && c.K == K && c.M == M &&
                     c.family == static_cast<int>(traits(w).block_size);
    if (hit) return q8_scratch(ctx, K, M, c.slot);
    const Q8Activations a = q8_scratch(ctx, K, M, ctx.free_q8_slot());
    prepare_activations_q8(ctx, w, xp, x_nb1, K, M, a.q, a.d, a.sum);
    note_q8_activations(ctx, w, xp, x_nb1, K, M, a.slot);
    return a;
}

void *converted_activations(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int64_t ld,
                            ActOut kind) {
    void *out = ctx.scratch(kScratchActivations, (kind == ActOut::f32 ? 4 : 2) * ld * M);
    // What the conversion depends on: the weights' rounding family and the output type.
    const int qk = static_cast<int>(traits(w).block_size);
    const int rounding = qk == 32 ? 1 : qk == 256 ? 2 : w == DType::F16 ? 3 : w == DType::BF16 ? 4 : 0;
    const int how = rounding * 3 + static_cast<int>(kind);
    auto &c = ctx.conv_cache;
    if (c.x == x && c.nb1 == x_nb1 && c.K == K && c.M == M && c.ld == ld && c.how == how && c.epoch == ctx.scratch_epoch)
        return out;
    prepare_activations(ctx, w, x, x_nb1, K, M, out, ld, kind);
    c = Context::ConvCache{x, x_nb1 * (M - 1) + K * 4, x_nb1, K, M, ld, how, ctx.scratch_epoch};
    return out;
}

void mul_mat(Context &ctx, Tensor &dst) {
    const Tensor &w = *dst.src[0], &x = *dst.src[1];
    const int64_t K = w.ne[0], N = w.ne[1], M = x.ne[1];
    const int64_t r2 = x.ne[2] / w.ne[2], r3 = x.ne[3] / w.ne[3];
    if (x.nb[0] != sizeof(float)) fail(Status::internal, "cuda mul_mat: activation rows must be contiguous");
    if (w.nb[0] != traits(w.type).block_bytes) fail(Status::internal, "cuda mul_mat: weight rows must be contiguous");
    // Planar weights (2-D only) are read by the integer matvec and the dequantizing GEMM alone.
    if (w.layout != 0 && (w.layout != kLayoutPlanar || w.ne[2] != 1 || w.ne[3] != 1 || !matvec_q8_supported(w.type)))
        fail(Status::internal, "cuda mul_mat: weight '%s' has layout %d", w.name.c_str(), w.layout);
    for (int64_t b3 = 0; b3 < x.ne[3]; ++b3) {
        for (int64_t b2 = 0; b2 < x.ne[2]; ++b2) {
            const uint8_t *wp = static_cast<const uint8_t *>(w.data) + (b2 / r2) * w.nb[2] + (b3 / r3) * w.nb[3];
            const uint8_t *xp = static_cast<const uint8_t *>(x.data) + b2 * x.nb[2] + b3 * x.nb[3];
            float *dp = reinterpret_cast<float *>(static_cast<uint8_t *>(dst.data) + b2 * dst.nb[2] + b3 * dst.nb[3]);
            const int64_t ldd = static_cast<int64_t>(dst.nb[1] / sizeof(float));
            if (M <= kMatvecMaxCols && matvec_q8_supported(w.type)) {
                const Q8Activations a = q8_activations(ctx, w.type, xp, static_cast<int64_t>(x.nb[1]), K, M);
                matvec_q8(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, a.q, a.d, a.sum, M, dp, ldd, w.layout);
            } else if (M <= kMatvecMaxCols && matvec_h_supported(w.type, K, static_cast<int64_t>(w.nb[1]))) {
                const void *xh = converted_activations(ctx, w.type, xp, static_cast<int64_t>(x.nb[1]), K, M, K,
                                                       w.type == DType::BF16 ? ActOut::bf16 : ActOut::f16);
                matvec_h(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, xh, M, dp, ldd);
            } else if (M <= kMatvecMaxCols) {
                const int64_t ldx = (K + 31) / 32 * 32;
                const auto *xq = static_cast<const float *>(
                    converted_activations(ctx, w.type, xp, static_cast<int64_t>(x.nb[1]), K, M, ldx, ActOut::f32));
                matvec(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, xq, ldx, M, dp, ldd);
            } else {
                gemm(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, xp, static_cast<int64_t>(x.nb[1]), M, dp, ldd,
                     w.layout == kLayoutPlanar);
            }
        }
    }
}

} // namespace corvid::cuda
