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

namespace {
// What a conversion depends on: the weights' rounding family and the output type.
int conversion_how(DType w, ActOut kind) {
    const int qk = static_cast<int>(traits(w).block_size);
    const int rounding = qk == 32 ? 1 : qk == 256 ? 2 : w == DType::F16 ? 3 : w == DType::BF16 ? 4 : 0;
    return rounding * 3 + static_cast<int>(kind);
}
void *conversion_scratch(Context &ctx, int64_t ld, int64_t M, ActOut kind) {
    return ctx.scratch(kScratchActivations, (kind == ActOut::f32 ? 4 : 2) * ld * M);
}
// Whether the conversion scratch holds x converted this way (ctx.conv_cache).
bool conversion_cached(const Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int64_t ld,
                       ActOut kind) {
    const auto &c = ctx.conv_cache;
    return c.x == x && c.nb1 == x_nb1 && c.K == K && c.M == M && c.ld == ld && c.how == conversion_how(w, kind) &&
           c.epoch == ctx.scratch_epoch;
}
// The 16-bit form an F16 / BF16 product (and cuBLAS) reads.
ActOut half_kind(DType w) { return w == DType::BF16 ? ActOut::bf16 : ActOut::f16; }
} // namespace

void *converted_activations(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int64_t ld,
                            ActOut kind) {
    void *out = conversion_scratch(ctx, ld, M, kind);
    if (conversion_cached(ctx, w, x, x_nb1, K, M, ld, kind)) return out;
    prepare_activations(ctx, w, x, x_nb1, K, M, out, ld, kind);
    note_converted(ctx, w, x, x_nb1, K, M, ld, kind);
    return out;
}

HInput h_input(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, bool floats_ok) {
    const ActOut kind = half_kind(w);
    if (floats_ok && ctx.h_parts && M == 1 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
        !conversion_cached(ctx, w, x, x_nb1, K, M, K, kind))
        return HInput{x, true};
    return HInput{converted_activations(ctx, w, x, x_nb1, K, M, K, kind), false};
}

void *conversion_target(Context &ctx, int64_t K, int64_t M, ActOut kind) { return conversion_scratch(ctx, K, M, kind); }

void note_converted(Context &ctx, DType w, const uint8_t *x, int64_t x_nb1, int64_t K, int64_t M, int64_t ld,
                    ActOut kind) {
    ctx.conv_cache = Context::ConvCache{x, x_nb1 * (M - 1) + K * 4, x_nb1, K, M, ld, conversion_how(w, kind),
                                        ctx.scratch_epoch};
}

ProductPath product_path(DType w, int64_t K, int64_t w_nb1, int64_t M) {
    if (M > kMatvecMaxCols) return ProductPath::gemm;
    if (matvec_q8_supported(w)) return ProductPath::matvec_q8;
    if (matvec_h_supported(w, K, w_nb1)) return ProductPath::matvec_h;
    return ProductPath::matvec_f32;
}

bool converts_whole_input(const Tensor &mm, ActOut &kind) {
    const Tensor &w = *mm.src[0], &x = *mm.src[1];
    if (mm.op != Op::mul_mat || w.ne[2] != 1 || w.ne[3] != 1 || x.ne[2] != 1 || x.ne[3] != 1 || w.type == DType::F32 ||
        x.nb[0] != sizeof(float) || !x.is_contiguous())
        return false;
    switch (product_path(w.type, w.ne[0], static_cast<int64_t>(w.nb[1]), x.ne[1])) {
    case ProductPath::gemm:
    case ProductPath::matvec_h: kind = half_kind(w.type); return true;
    default: return false;
    }
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
            switch (product_path(w.type, K, static_cast<int64_t>(w.nb[1]), M)) {
            case ProductPath::matvec_q8: {
                const Q8Activations a = q8_activations(ctx, w.type, xp, static_cast<int64_t>(x.nb[1]), K, M);
                matvec_q8(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, a.q, a.d, a.sum, M, dp, ldd, w.layout);
                break;
            }
            case ProductPath::matvec_h: {
                const HInput xh = h_input(ctx, w.type, xp, static_cast<int64_t>(x.nb[1]), K, M);
                matvec_h(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, xh, M, dp, ldd);
                break;
            }
            case ProductPath::matvec_f32: {
                const int64_t ldx = (K + 31) / 32 * 32;
                const auto *xq = static_cast<const float *>(
                    converted_activations(ctx, w.type, xp, static_cast<int64_t>(x.nb[1]), K, M, ldx, ActOut::f32));
                matvec(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, xq, ldx, M, dp, ldd);
                break;
            }
            case ProductPath::gemm:
                gemm(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, xp, static_cast<int64_t>(x.nb[1]), M, dp, ldd,
                     w.layout == kLayoutPlanar);
                break;
            }
        }
    }
}

} // namespace corvid::cuda
