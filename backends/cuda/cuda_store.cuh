// One element of a KV-cache store (set_rows into a plain-typed cache): shared by the
// set_rows kernels (cuda_getrows.cu) and the rope kernel that stores the roped K row and the
// V row itself when it is fused with the stores (cuda_norm_rope.cu).
#pragma once

#include "cuda/cuda_common.cuh"

#include <type_traits>

namespace corvid::cuda {

// One set_rows of a launch: rows of src (F32) stored at row ids of dst.
struct RowStore {
    const uint8_t *src;
    int64_t s_nb1, ne0;
    uint8_t *dst;
    int64_t d_nb1, d_rows;
};

// The store of set_rows node dst (its rows: dst.src[1], contiguous F32 rows).
inline RowStore row_store(const Tensor &dst) {
    const Tensor &src = *dst.src[1];
    if (src.nb[0] != sizeof(float)) fail(Status::internal, "cuda set_rows: source rows must be contiguous");
    return RowStore{static_cast<const uint8_t *>(src.data), static_cast<int64_t>(src.nb[1]), dst.ne[0],
                    static_cast<uint8_t *>(dst.data), static_cast<int64_t>(dst.nb[1]), dst.ne[1]};
}

// store_elem's Kind for a plain cache type (F32, F16, else BF16).
inline int store_kind(DType t) { return t == DType::F32 ? 0 : t == DType::F16 ? 1 : 2; }

// Elements e .. e + N - 1 of source row r (values x) into its cache row, rounded as the
// reference's set_rows (Kind 0 f32, 1 f16, 2 bf16), in one store: the caller makes sure the
// row and e are aligned to N elements. An out-of-range id skips the row; element 0's thread
// raises the error flag.
template <int Kind> using CacheElem = std::conditional_t<Kind == 0, float, std::conditional_t<Kind == 1, __half, __nv_bfloat16>>;
template <int Kind, int N = 1>
__device__ __forceinline__ void store_elems(const RowStore &t, const int32_t *ids, int64_t r, int64_t e, const float *x,
                                            int *err) {
    const int32_t id = ids[r];
    if (id < 0 || id >= t.d_rows) {
        if (e == 0) atomicOr(err, kErrRowId);
        return;
    }
    using E = CacheElem<Kind>;
    struct alignas(sizeof(E) * N) Pack {
        E v[N];
    } pack;
#pragma unroll
    for (int i = 0; i < N; ++i) {
        if constexpr (Kind == 0) pack.v[i] = x[i];
        if constexpr (Kind == 1) pack.v[i] = __float2half_rn(x[i]);
        if constexpr (Kind == 2) pack.v[i] = __float2bfloat16_rn(x[i]);
    }
    *reinterpret_cast<Pack *>(t.dst + id * t.d_nb1 + e * static_cast<int64_t>(sizeof(E))) = pack;
}
template <int Kind>
__device__ __forceinline__ void store_elem(const RowStore &t, const int32_t *ids, int64_t r, int64_t e, float x, int *err) {
    store_elems<Kind, 1>(t, ids, r, e, &x, err);
}
// Whether rows of t can take stores of n elements (the cache's start and row size aligned).
inline bool store_aligned(const RowStore &t, int kind, int n) {
    const int64_t bytes = static_cast<int64_t>(kind == 0 ? 4 : 2) * n;
    return reinterpret_cast<uintptr_t>(t.dst) % bytes == 0 && t.d_nb1 % bytes == 0 && t.ne0 % n == 0;
}

} // namespace corvid::cuda
