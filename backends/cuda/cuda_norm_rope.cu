// Row-wise ops: rms_norm, norm and soft_max (one block per row, sums in double as the
// reference does), and rope (one thread per rotated pair; the angle is built by the
// reference's repeated multiplication so that it rounds the same way).
#include "cuda/cuda_ops.h"
#include "cuda/cuda_norm_body.cuh"
#include "cuda/cuda_rope_body.cuh"
#include "cuda/cuda_store.cuh"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>

namespace corvid::cuda {
namespace {

constexpr int kRowThreads = 256;

__device__ float block_max(float v, float *shared) {
    v = warp_max(v);
    const int w = threadIdx.x / 32, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) shared[w] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int i = 0; i < static_cast<int>(blockDim.x / 32); ++i) t = fmaxf(t, shared[i]);
    return t;
}

// One row a block (cuda_norm_body.cuh: rms_norm_row).
template <bool MUL, bool V4, int Q8>
__global__ void rms_norm_kernel(const uint8_t *x, RowMap xm, float *out, float *out2, const float *g, int64_t n, float eps,
                                Q8Out q8) {
    rms_norm_row<MUL, V4, Q8>(x, xm, out, out2, g, n, eps, q8, blockIdx.x, [] {
        grid_dependency_wait();
        allow_dependents();
    });
}


__global__ void norm_kernel(const uint8_t *x, RowMap xm, float *out, int64_t n, float eps) {
    grid_dependency_wait();
    allow_dependents();
    __shared__ double sh[1024 / 32];
    const int64_t r = blockIdx.x;
    const float *xr = reinterpret_cast<const float *>(x + xm.offset(r));
    float *o = out + r * n;
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += xr[i];
    s = block_sum(s, sh);
    const float mean = static_cast<float>(s / n);
    double v = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float d = xr[i] - mean;
        v += static_cast<double>(d) * d;
    }
    v = block_sum(v, sh);
    const float sc = 1.0f / sqrtf(static_cast<float>(v / n) + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = (xr[i] - mean) * sc;
}

__global__ void soft_max_kernel(const uint8_t *x, RowMap xm, const uint8_t *mask, int64_t mask_nb1, int64_t rows_ne1,
                                float *out, int64_t n, float scale) {
    grid_dependency_wait();
    allow_dependents();
    __shared__ double shd[kRowThreads / 32];
    __shared__ float shf[kRowThreads / 32];
    const int64_t r = blockIdx.x;
    const float *xr = reinterpret_cast<const float *>(x + xm.offset(r));
    const float *m = mask ? reinterpret_cast<const float *>(mask + (r % rows_ne1) * mask_nb1) : nullptr;
    float *o = out + r * n;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = __fadd_rn(__fmul_rn(xr[i], scale), m ? m[i] : 0.0f);
        o[i] = v;
        mx = fmaxf(mx, v);
    }
    mx = block_max(mx, shf);
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float e = expf(o[i] - mx);
        o[i] = e;
        s += e;
    }
    s = block_sum(s, shd);
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] *= inv;
}

// One thread a rotated pair (cuda_rope_body.cuh: rope_item).
template <int Kind>
__global__ void rope_kernel(RopeTensor t0, RopeTensor t1, RopeSpace s0, RopeSpace s1, int n_t, const int32_t *pos,
                            const float *ff, RopeArgs a, RopeTable tab, RopeStore st, bool k_flat, bool pairs) {
    grid_dependency_wait();
    allow_dependents();
    rope_item<Kind>(t0, t1, s0, s1, n_t, pos, ff, a, tab, st, k_flat, pairs,
                    static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x));
}

void require_rows(const Tensor &t, const char *op) {
    if (t.nb[0] != sizeof(float)) fail(Status::internal, "cuda %s: rows of %s are not contiguous", op, describe(t).c_str());
}
int row_threads(int64_t n) { return n >= kRowThreads ? kRowThreads : (n > 64 ? 128 : 32); }

} // namespace

// One block per row; with float4 rows, one float4 per thread where the row allows (up to
// 1024 threads), so that a thread's loads are few and all in flight. form.family (32 or
// 256, or 0 with form.h for plain rounding) asks for the product's input form too; returns
// whether it was written (the row must suit float4 reads, and Q8_K whole super-blocks per
// pass). out null: the plain norm is not written.
bool launch_rms_norm(Context &ctx, const Tensor &a, int64_t rows, int64_t n, float eps, float *out, float *out2,
                     const float *g, const NormProductForm &form = {}) {
    auto aligned = [](const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    const bool v4 = n % 4 == 0 && aligned(a.data) && (!out || aligned(out)) && (!out2 || (aligned(out2) && aligned(g))) &&
                    a.nb[1] % 16 == 0 && a.nb[2] % 16 == 0 && a.nb[3] % 16 == 0 && aligned(form.h);
    const auto *x = static_cast<const uint8_t *>(a.data);
    const unsigned grid = static_cast<unsigned>(rows);
    const Q8Out q8{form.q8, form.d8, form.s8, form.h, form.bf16};
    const bool wants = form.q8 || form.h;
    if (v4) {
        const int threads = static_cast<int>(std::min<int64_t>(1024, std::max<int64_t>(32, (n / 4 + 31) / 32 * 32)));
        if (out2 && wants && form.family == 32 && n % 32 == 0) {
            launch(ctx, rms_norm_kernel<true, true, 32>, grid, threads, 0, x, row_map(a), out, out2, g, n, eps, q8);
            return true;
        }
        if (out2 && wants && form.family == 256 && n % 256 == 0 && threads % 64 == 0) {
            launch(ctx, rms_norm_kernel<true, true, 256>, grid, threads, 0, x, row_map(a), out, out2, g, n, eps, q8);
            return true;
        }
        const bool rounded = out2 && form.h && form.family == 0;
        const Q8Out none{};
        if (out2) launch(ctx, rms_norm_kernel<true, true, 0>, grid, threads, 0, x, row_map(a), out, out2, g, n, eps, rounded ? q8 : none);
        else launch(ctx, rms_norm_kernel<false, true, 0>, grid, threads, 0, x, row_map(a), out, out2, g, n, eps, none);
        return rounded;
    }
    if (out2) launch(ctx, rms_norm_kernel<true, false, 0>, grid, row_threads(n), 0, x, row_map(a), out, out2, g, n, eps, Q8Out{});
    else launch(ctx, rms_norm_kernel<false, false, 0>, grid, row_threads(n), 0, x, row_map(a), out, out2, g, n, eps, Q8Out{});
    return false;
}

void rms_norm(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    require_rows(a, "rms_norm");
    if (dst.n_rows() == 0) return;
    launch_rms_norm(ctx, a, dst.n_rows(), dst.ne[0], dst.fp[0], static_cast<float *>(dst.data), nullptr, nullptr);
}

bool rms_norm_mul_fusable(const Tensor &norm, const Tensor &mul) {
    if (norm.op != Op::rms_norm || mul.op != Op::mul || mul.src[0] != &norm) return false;
    const Tensor &g = *mul.src[1], &x = *norm.src[0];
    // The planner may give the mul's result the bytes of x when the norm is x's last reader:
    // one kernel is safe only if each block then writes over exactly the row it has read.
    const bool rows_line_up = mul.data == x.data && x.is_contiguous();
    return g.type == DType::F32 && g.nb[0] == sizeof(float) && g.ne[0] == norm.ne[0] && g.ne[1] == 1 &&
           g.ne[2] == 1 && g.ne[3] == 1 && x.nb[0] == sizeof(float) && norm.is_contiguous() &&
           mul.is_contiguous() && (!bytes_overlap(mul, x) || rows_line_up);
}

bool rms_norm_mul(Context &ctx, Tensor &norm, Tensor &mul, bool write_norm, const NormProductForm &form) {
    if (norm.n_rows() == 0) return false;
    return launch_rms_norm(ctx, *norm.src[0], norm.n_rows(), norm.ne[0], norm.fp[0],
                           write_norm ? static_cast<float *>(norm.data) : nullptr, static_cast<float *>(mul.data),
                           static_cast<const float *>(mul.src[1]->data), form);
}

void norm(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    require_rows(a, "norm");
    if (dst.n_rows() == 0) return;
    launch(ctx, norm_kernel, static_cast<unsigned>(dst.n_rows()), row_threads(dst.ne[0]), 0, 
        static_cast<const uint8_t *>(a.data), row_map(a), static_cast<float *>(dst.data), dst.ne[0], dst.fp[0]);
    CV_LAUNCHED("norm_kernel");
}

void soft_max(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const Tensor *mask = dst.src[1];
    require_rows(a, "soft_max");
    if (dst.n_rows() == 0) return;
    launch(ctx, soft_max_kernel, static_cast<unsigned>(dst.n_rows()), row_threads(dst.ne[0]), 0, 
        static_cast<const uint8_t *>(a.data), row_map(a), mask ? static_cast<const uint8_t *>(mask->data) : nullptr,
        mask ? static_cast<int64_t>(mask->nb[1]) : 0, dst.ne[1], static_cast<float *>(dst.data), dst.ne[0], dst.fp[0]);
    CV_LAUNCHED("soft_max_kernel");
}

namespace {
// YaRN's correction range, as the reference computes it (host side, once per op).
void yarn_corr_dims(int n_dims, int n_ctx_orig, float base, float beta_fast, float beta_slow, float dims[2]) {
    auto corr_dim = [&](float n_rot) {
        return n_dims * std::log(n_ctx_orig / (n_rot * 2.0f * static_cast<float>(M_PI))) / (2.0f * std::log(base));
    };
    const float start = std::floor(corr_dim(beta_fast));
    const float end = std::ceil(corr_dim(beta_slow));
    dims[0] = std::max(0.0f, start);
    dims[1] = std::min(static_cast<float>(n_dims - 1), end);
}
} // namespace

namespace {
RopeArgs rope_args(const Tensor &dst) {
    RopeArgs r{};
    r.n_dims = dst.ip[0];
    r.neox = dst.ip[1] != 0;
    r.freq_scale = dst.fp[1];
    r.ext_factor = dst.fp[2];
    r.attn_factor = dst.fp[3];
    r.theta_scale = std::pow(dst.fp[0], -2.0f / r.n_dims);
    float corr[2] = {0, 0};
    if (r.ext_factor != 0.0f) yarn_corr_dims(r.n_dims, dst.ip[2], dst.fp[0], dst.fp[4], dst.fp[5], corr);
    r.corr0 = corr[0];
    r.corr1 = corr[1];
    return r;
}
RopeTensor rope_tensor(const Tensor &dst) {
    const Tensor &a = *dst.src[0];
    require_rows(a, "rope");
    return RopeTensor{static_cast<const uint8_t *>(a.data), row_map(a), static_cast<float *>(dst.data), dst.ne[0],
                      dst.n_rows(), a.ne[1]};
}
// The thread space of t: up to kRopeMaxPer heads a thread, fewer where that would leave the
// launch under ~256k threads (a decode step: one head a thread).
RopeSpace rope_space(const RopeTensor &t) {
    RopeSpace s{};
    s.half = static_cast<int>((t.head + 1) / 2);
    const int64_t tokens = t.ne1 > 0 ? t.rows / t.ne1 : 0;
    const int64_t pairs = tokens * s.half;
    s.per = static_cast<int>(std::clamp<int64_t>(pairs * t.ne1 / 262144, 1, kRopeMaxPer));
    s.groups = static_cast<int>((t.ne1 + s.per - 1) / s.per);
    const int64_t threads = pairs * s.groups;
    if (threads > (int64_t(1) << 30)) fail(Status::internal, "cuda rope: %lld rows", static_cast<long long>(t.rows));
    s.threads = static_cast<int>(threads);
    return s;
}

// kind: -1 no stores, else the caches' (st: the K and V stores).
void launch_rope(Context &ctx, const Tensor &dst, const RopeTensor &t0, const RopeTensor &t1, int n_t, int kind = -1,
                 const RopeStore &st = RopeStore{}) {
    const RopeSpace s0 = rope_space(t0), s1 = n_t > 1 ? rope_space(t1) : RopeSpace{};
    const int64_t v_threads = kind >= 0 ? st.n * ((st.v.ne0 + 3) / 4) : 0;
    const int64_t n = int64_t(s0.threads) + s1.threads + v_threads;
    if (n == 0) return;
    if (n > (int64_t(1) << 31) - 256) fail(Status::internal, "cuda rope: %lld threads", static_cast<long long>(n));
    const bool k_flat = kind >= 0 && st.k.ne0 == t1.head * t1.ne1;
    const RopeArgs a = rope_args(dst);
    const auto *pos = static_cast<const int32_t *>(dst.src[1]->data);
    const float *ff = dst.src[2] ? static_cast<const float *>(dst.src[2]->data) : nullptr;
    // The angles: made by the first rope of a step's positions and parameters, read by the rest.
    RopeTable tab{};
    const int64_t n_pos = t0.xm.ne2;
    if (a.n_dims >= 2 && n_pos > 0) {
        auto *table = static_cast<float2 *>(ctx.scratch(kScratchRope, sizeof(float2) * n_pos * (a.n_dims / 2)));
        const Context::RopeAngles want{pos, ff, n_pos, {static_cast<float>(a.n_dims), a.freq_scale, a.ext_factor,
                                       a.attn_factor, a.theta_scale, a.corr0, a.corr1}, ctx.scratch_epoch};
        const Context::RopeAngles &have = ctx.rope_angles;
        if (have.pos == want.pos && have.ff == want.ff && have.n_pos == n_pos && have.epoch == want.epoch &&
            std::equal(std::begin(have.args), std::end(have.args), std::begin(want.args))) {
            tab.in = table;
        } else {
            tab.out = table;
            ctx.rope_angles = want;
        }
    }
    // Adjacent pairs (not neox) with 8-byte aligned rows: each thread loads, writes and
    // stores its pair with one access each (scalar 4- and 2-byte accesses saturated L2).
    auto rows8 = [](const RopeTensor &t) {
        return reinterpret_cast<uintptr_t>(t.x) % 8 == 0 && reinterpret_cast<uintptr_t>(t.out) % 8 == 0 &&
               t.xm.nb1 % 8 == 0 && t.xm.nb2 % 8 == 0 && t.xm.nb3 % 8 == 0 && t.head % 2 == 0;
    };
    const bool pairs = !a.neox && a.n_dims % 2 == 0 && rows8(t0) && (n_t < 2 || rows8(t1)) &&
                       (kind < 0 || store_aligned(st.k, kind, 2));
    const unsigned blocks = blocks_for(n, 256);
    switch (kind) {
    case -1: launch(ctx, rope_kernel<-1>, blocks, 256, 0, t0, t1, s0, s1, n_t, pos, ff, a, tab, st, k_flat, pairs); break;
    case 0: launch(ctx, rope_kernel<0>, blocks, 256, 0, t0, t1, s0, s1, n_t, pos, ff, a, tab, st, k_flat, pairs); break;
    case 1: launch(ctx, rope_kernel<1>, blocks, 256, 0, t0, t1, s0, s1, n_t, pos, ff, a, tab, st, k_flat, pairs); break;
    default: launch(ctx, rope_kernel<2>, blocks, 256, 0, t0, t1, s0, s1, n_t, pos, ff, a, tab, st, k_flat, pairs); break;
    }
    CV_LAUNCHED("rope_kernel");
}
} // namespace

void rope(Context &ctx, Tensor &dst) {
    const RopeTensor t = rope_tensor(dst);
    launch_rope(ctx, dst, t, t, 1);
}

namespace {
// Two ropes that one launch can do: the same positions and parameters, b not reading a.
bool rope_pair_compatible(const Tensor &a, const Tensor &b) {
    return a.op == Op::rope && b.op == Op::rope && a.src[1] == b.src[1] && a.src[2] == b.src[2] && b.src[0] != &a &&
           b.src[0]->view_src != &a && std::memcmp(a.ip, b.ip, sizeof a.ip) == 0 &&
           std::memcmp(a.fp, b.fp, sizeof a.fp) == 0;
}
} // namespace

// The memory planner frees a's input after a (its last reader) and may give b's result
// those bytes (it does, for a llama layer's q and k: rope(k)'s result lands on q's
// product): in one launch b's threads would then write over values a's threads have yet to
// read, a race that corrupts q when a q block starts late.
bool rope_pair_fusable(const Tensor &a, const Tensor &b) {
    return rope_pair_compatible(a, b) && !bytes_overlap(b, *a.src[0]) && !bytes_overlap(a, *b.src[0]);
}

void rope_pair(Context &ctx, Tensor &a, Tensor &b) { launch_rope(ctx, a, rope_tensor(a), rope_tensor(b), 2); }

bool rope_store_fusable(const Tensor &a, const Tensor &b, const Tensor &ks, const Tensor &vs) {
    if (!rope_pair_compatible(a, b) || !set_rows_pair_fusable(ks, vs)) return false;
    // K's rows are all of b's result, flat: the rotating thread knows where each value goes.
    const Tensor &kx = *ks.src[1], &vx = *vs.src[1];
    // b's result over a's input (rope_pair_fusable) is harmless when b's rows are not written:
    // when the K store is their only reader, the launch stores the rotated values in the cache alone.
    if (bytes_overlap(a, *b.src[0]) || (bytes_overlap(b, *a.src[0]) && !private_through(b, kx))) return false;
    const bool k_is_b = (&kx == &b || kx.view_src == &b) && kx.data == b.data && kx.is_contiguous() &&
                        b.is_contiguous() && kx.n_elements() == b.n_elements();
    // V's rows must not be what this launch writes (its threads run in any order).
    auto written_here = [&](const Tensor &t) {
        const Tensor *root = t.view_src ? t.view_src : &t;
        return root == &a || root == &b || root == ks.view_src || root == vs.view_src || &t == &ks || &t == &vs;
    };
    // Nor may the ropes read a cache this launch writes.
    return k_is_b && !written_here(vx) && !written_here(*a.src[0]) && !written_here(*b.src[0]) &&
           vx.nb[0] == sizeof(float);
}

void rope_store(Context &ctx, Tensor &a, Tensor &b, Tensor &ks, Tensor &vs) {
    // (K's source rows are b's result: the kernel stores the rotated values, not src.)
    const RowStore v = row_store(vs);
    const bool v_quads = reinterpret_cast<uintptr_t>(v.src) % 16 == 0 && v.s_nb1 % 16 == 0 &&
                         store_aligned(v, store_kind(vs.type), 4);
    const RopeStore st{row_store(ks), v, static_cast<const int32_t *>(ks.src[2]->data), ks.src[1]->ne[1],
                       ctx.error_flag, v_quads, !private_through(b, *ks.src[1])};
    launch_rope(ctx, a, rope_tensor(a), rope_tensor(b), 2, store_kind(ks.type), st);
}

} // namespace corvid::cuda
