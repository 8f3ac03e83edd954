// Row lookups and KV writes: get_rows decodes rows of any weight type into F32;
// set_rows converts F32 rows into the cache's type (F32, F16, BF16, Q8_0, Q4_0) with the
// reference's rounding. Out-of-range ids cannot throw on the device: the row is skipped
// (get_rows writes zeros) and the context's error flag is raised for the host to report.
#include "cuda/cuda_ops.h"
#include "cuda/cuda_quant.cuh"
#include "cuda/cuda_store.cuh"

namespace corvid::cuda {
namespace {

template <DType T>
__global__ void get_rows_kernel(const uint8_t *table, int64_t t_nb1, int64_t t_rows, bool planar, const int32_t *ids,
                                int64_t n, int64_t ne0, float *out, int64_t out_nb1, int *err) {
    grid_dependency_wait();
    allow_dependents();
    const int64_t units = (ne0 + 31) / 32;
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n * units) return;
    const int64_t r = i / units, u = i % units;
    const int32_t id = ids[r];
    float *o = reinterpret_cast<float *>(reinterpret_cast<uint8_t *>(out) + r * out_nb1);
    const int64_t count = ne0 - 32 * u < 32 ? ne0 - 32 * u : 32;
    if (id < 0 || id >= t_rows) {
        if (u == 0) atomicOr(err, kErrRowId);
        for (int j = 0; j < count; ++j) o[32 * u + j] = 0.0f;
        return;
    }
    if constexpr (is_float_type<T>()) {
        const uint8_t *row = table + id * t_nb1;
        for (int j = 0; j < count; ++j) o[32 * u + j] = load_elem<T>(row, 32 * u + j);
    } else {
        float w[32];
        deq32_row<T>(table, t_nb1, t_rows, planar, id, u, w);
#pragma unroll
        for (int j = 0; j < 32; ++j) o[32 * u + j] = w[j];
    }
}

struct GetRows {
    Context &ctx;
    Tensor &dst;
    template <DType T> void run() {
        const Tensor &t = *dst.src[0], &ids = *dst.src[1];
        const int64_t n = ids.ne[0], ne0 = t.ne[0];
        const int64_t threads = n * ((ne0 + 31) / 32);
        if (threads == 0) return;
        launch(ctx, get_rows_kernel<T>, blocks_for(threads, 128), 128, 0, 
            static_cast<const uint8_t *>(t.data), static_cast<int64_t>(t.nb[1]), t.ne[1], t.layout == kLayoutPlanar,
            static_cast<const int32_t *>(ids.data), n, ne0, static_cast<float *>(dst.data),
            static_cast<int64_t>(dst.nb[1]), ctx.error_flag);
        CV_LAUNCHED("get_rows_kernel");
    }
};

// Plain types: one thread per element, over the elements of a's rows, then of b's (the K
// and V stores of a layer share their row ids: one launch for both).
template <int Kind> // 0 f32, 1 f16, 2 bf16
__global__ void set_rows_plain(RowStore a, RowStore b, int n_t, const int32_t *ids, int64_t n, int *err) {
    grid_dependency_wait();
    allow_dependents();
    int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const bool second = i >= n * a.ne0;
    if (second) {
        i -= n * a.ne0;
        if (n_t < 2 || i >= n * b.ne0) return;
    }
    const RowStore &t = second ? b : a;
    const int64_t r = i / t.ne0, e = i % t.ne0;
    store_elem<Kind>(t, ids, r, e, reinterpret_cast<const float *>(t.src + r * t.s_nb1)[e], err);
}

// Q8_0 / Q4_0: one thread per 32-element block, ggml's reference quantizers.
template <DType T>
__global__ void set_rows_block(const uint8_t *src, int64_t s_nb1, const int32_t *ids, int64_t n, int64_t ne0,
                               uint8_t *dst, int64_t d_nb1, int64_t d_rows, int *err) {
    grid_dependency_wait();
    allow_dependents();
    const int64_t nb = ne0 / 32;
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n * nb) return;
    const int64_t r = i / nb, b = i % nb;
    const int32_t id = ids[r];
    if (id < 0 || id >= d_rows) {
        if (b == 0) atomicOr(err, kErrRowId);
        return;
    }
    const float *x = reinterpret_cast<const float *>(src + r * s_nb1) + 32 * b;
    uint8_t *blk = dst + id * d_nb1 + b * QTraits<T>::bytes;
    if constexpr (T == DType::Q8_0) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id_ = d != 0.0f ? 1.0f / d : 0.0f;
        *reinterpret_cast<__half *>(blk) = __float2half_rn(d);
        for (int j = 0; j < 32; j += 2) {
            const int q0 = static_cast<int>(roundf(x[j] * id_)), q1 = static_cast<int>(roundf(x[j + 1] * id_));
            *reinterpret_cast<uint16_t *>(blk + 2 + j) =
                static_cast<uint16_t>((q0 & 0xFF) | (q1 & 0xFF) << 8);
        }
    } else { // Q4_0: d = max / -8 (the signed value of largest magnitude), q = min(15, (int)(x / d + 8.5))
        float amax = 0.0f, mx = 0.0f;
        for (int j = 0; j < 32; ++j)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), mx = x[j];
        const float d = mx / -8.0f;
        const float id_ = d != 0.0f ? 1.0f / d : 0.0f;
        *reinterpret_cast<__half *>(blk) = __float2half_rn(d);
        for (int j = 0; j < 16; j += 2) {
            uint16_t pair = 0;
            for (int k = 0; k < 2; ++k) {
                const int q0 = min(15, static_cast<int>(__fadd_rn(__fmul_rn(x[j + k], id_), 8.5f)));
                const int q1 = min(15, static_cast<int>(__fadd_rn(__fmul_rn(x[j + k + 16], id_), 8.5f)));
                pair = static_cast<uint16_t>(pair | (q0 | q1 << 4) << (8 * k));
            }
            *reinterpret_cast<uint16_t *>(blk + 2 + j) = pair;
        }
    }
}

} // namespace

bool store_type_supported(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::Q8_0 || t == DType::Q4_0;
}

void get_rows(Context &ctx, Tensor &dst) {
    GetRows g{ctx, dst};
    if (!dispatch_weight_type(dst.src[0]->type, g))
        fail(Status::unsupported, "cuda get_rows: no kernel for %s", dtype_name(dst.src[0]->type));
}

namespace {
template <int Kind> void launch_plain(Context &ctx, const RowStore &a, const RowStore &b, int n_t, const int32_t *id, int64_t n) {
    const int64_t total = n * a.ne0 + (n_t > 1 ? n * b.ne0 : 0);
    launch(ctx, set_rows_plain<Kind>, blocks_for(total, 256), 256, 0, a, b, n_t, id, n, ctx.error_flag);
}
} // namespace

void set_rows(Context &ctx, Tensor &dst) {
    const Tensor &src = *dst.src[1], &ids = *dst.src[2];
    const int64_t n = src.ne[1];
    const RowStore r = row_store(dst);
    const auto *id = static_cast<const int32_t *>(ids.data);
    if (n == 0) return;
    switch (dst.type) {
    case DType::F32: launch_plain<0>(ctx, r, r, 1, id, n); break;
    case DType::F16: launch_plain<1>(ctx, r, r, 1, id, n); break;
    case DType::BF16: launch_plain<2>(ctx, r, r, 1, id, n); break;
    case DType::Q8_0:
        launch(ctx, set_rows_block<DType::Q8_0>, blocks_for(n * r.ne0 / 32, 128), 128, 0, r.src, r.s_nb1, id, n, r.ne0,
               r.dst, r.d_nb1, r.d_rows, ctx.error_flag);
        break;
    case DType::Q4_0:
        launch(ctx, set_rows_block<DType::Q4_0>, blocks_for(n * r.ne0 / 32, 128), 128, 0, r.src, r.s_nb1, id, n, r.ne0,
               r.dst, r.d_nb1, r.d_rows, ctx.error_flag);
        break;
    default: fail(Status::unsupported, "cuda set_rows: cannot store %s rows", dtype_name(dst.type));
    }
    CV_LAUNCHED("set_rows_kernel");
}

bool set_rows_pair_fusable(const Tensor &a, const Tensor &b) {
    const bool plain = a.type == DType::F32 || a.type == DType::F16 || a.type == DType::BF16;
    return a.op == Op::set_rows && b.op == Op::set_rows && plain && b.type == a.type && a.src[2] == b.src[2] &&
           a.view_src != b.view_src && b.src[1] != &a && b.src[1]->view_src != a.view_src && a.src[1]->ne[1] == b.src[1]->ne[1];
}

void set_rows_pair(Context &ctx, Tensor &a, Tensor &b) {
    const int64_t n = a.src[1]->ne[1];
    if (n == 0) return;
    const RowStore ra = row_store(a), rb = row_store(b);
    const auto *id = static_cast<const int32_t *>(a.src[2]->data);
    switch (store_kind(a.type)) {
    case 0: launch_plain<0>(ctx, ra, rb, 2, id, n); break;
    case 1: launch_plain<1>(ctx, ra, rb, 2, id, n); break;
    default: launch_plain<2>(ctx, ra, rb, 2, id, n); break;
    }
    CV_LAUNCHED("set_rows_kernel");
}

} // namespace corvid::cuda
