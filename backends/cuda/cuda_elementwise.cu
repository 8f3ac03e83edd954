// Elementwise ops: add / mul with row broadcast, scale, silu / gelu, swiglu / geglu, and
// cpy (any strides into a contiguous F32 tensor). One thread per element (for_each_elem);
// sources may have strided rows (nb[0] must be the element size except for cpy).
#include "cuda/cuda_ops.h"

#include <algorithm>

namespace corvid::cuda {
namespace {

struct Shape4 {
    int64_t ne0, ne1, ne2, ne3;
};
Shape4 shape_of(const Tensor &t) { return Shape4{t.ne[0], t.ne[1], t.ne[2], t.ne[3]}; }

struct Strides {
    int64_t nb0, nb1, nb2, nb3;
};
Strides strides_of(const Tensor &t) {
    return Strides{static_cast<int64_t>(t.nb[0]), static_cast<int64_t>(t.nb[1]), static_cast<int64_t>(t.nb[2]),
                   static_cast<int64_t>(t.nb[3])};
}

// The elements of a tensor of shape s, one thread per element: x over ne0 (consecutive
// threads, consecutive elements), y over ne1 and z over ne2 * ne3, each a grid-stride loop
// (the grid's y and z are capped at 65535). No division per element: a per-element 64-bit
// split of a flat index made these kernels compute-bound (a 7B prompt's adds ran at a third
// of the memory bandwidth). f(i0, i1, i2, i3, flat index).
template <int E = 1, typename F> __device__ __forceinline__ void for_each_elem(const Shape4 &s, F &&f) {
    const int64_t i0 = E * (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x);
    if (i0 >= s.ne0) return;
    for (int64_t i23 = blockIdx.z; i23 < s.ne2 * s.ne3; i23 += gridDim.z) {
        const int64_t i2 = s.ne3 == 1 ? i23 : i23 % s.ne2, i3 = s.ne3 == 1 ? 0 : i23 / s.ne2;
        for (int64_t i1 = blockIdx.y; i1 < s.ne1; i1 += gridDim.y) f(i0, i1, i2, i3, i0 + s.ne0 * (i1 + s.ne1 * i23));
    }
}
constexpr int kElemThreads = 256;
dim3 elem_grid(const Shape4 &s, int e = 1) {
    return dim3(blocks_for((s.ne0 + e - 1) / e, kElemThreads), static_cast<unsigned>(std::min<int64_t>(s.ne1, 65535)),
                static_cast<unsigned>(std::min<int64_t>(s.ne2 * s.ne3, 65535)));
}
// Whether a kernel may take 4 elements a thread with 16-byte loads and stores: rows of a
// multiple of 4 floats, every row of every operand 16-byte aligned.
bool vec4_ok(const Shape4 &s, std::initializer_list<const Tensor *> ts) {
    if (s.ne0 % 4 != 0) return false;
    for (const Tensor *t : ts) {
        if (t->nb[0] != sizeof(float) || t->ne[0] != s.ne0 || reinterpret_cast<uintptr_t>(t->data) % 16 != 0) return false;
        for (int d = 1; d < 4; ++d)
            if (t->nb[d] % 16 != 0) return false;
    }
    return true;
}

// Index i of a dimension of n broadcast from one of nb (n % nb == 0): a division only when
// nb is neither n nor 1.
__device__ __forceinline__ int64_t bcast(int64_t i, int64_t nb, int64_t n) { return nb == n ? i : nb == 1 ? 0 : i % nb; }

__device__ __forceinline__ float at(const uint8_t *p, const Strides &st, int64_t i0, int64_t i1, int64_t i2,
                                    int64_t i3) {
    return *reinterpret_cast<const float *>(p + i0 * st.nb0 + i1 * st.nb1 + i2 * st.nb2 + i3 * st.nb3);
}

__device__ __forceinline__ float4 at4(const uint8_t *p, const Strides &st, int64_t i0, int64_t i1, int64_t i2,
                                      int64_t i3) {
    return *reinterpret_cast<const float4 *>(p + i0 * st.nb0 + i1 * st.nb1 + i2 * st.nb2 + i3 * st.nb3);
}
template <typename F> __device__ __forceinline__ float4 map4(float4 a, float4 b, F &&f) {
    return make_float4(f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w));
}

// V4: 4 elements a thread (vec4_ok, and no broadcast along ne0).
template <int Op, bool V4> // Op: 0 add, 1 mul
__global__ void binary_kernel(const uint8_t *a, Strides sa, const uint8_t *b, Strides sb, Shape4 bs, float *out,
                              Shape4 s) {
    grid_dependency_wait();
    allow_dependents();
    auto op = [](float x, float y) { return Op == 0 ? x + y : x * y; };
    for_each_elem<V4 ? 4 : 1>(s, [&](int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i) {
        const int64_t j1 = bcast(i1, bs.ne1, s.ne1), j2 = bcast(i2, bs.ne2, s.ne2), j3 = bcast(i3, bs.ne3, s.ne3);
        if constexpr (V4) {
            *reinterpret_cast<float4 *>(out + i) = map4(at4(a, sa, i0, i1, i2, i3), at4(b, sb, i0, j1, j2, j3), op);
        } else {
            out[i] = op(at(a, sa, i0, i1, i2, i3), at(b, sb, bcast(i0, bs.ne0, s.ne0), j1, j2, j3));
        }
    });
}

// Op: 0 scale, 1 silu, 2 gelu, 3 copy
template <int Op> __global__ void unary_kernel(const uint8_t *a, Strides sa, float *out, Shape4 s, float f) {
    grid_dependency_wait();
    allow_dependents();
    for_each_elem(s, [&](int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i) {
        const float x = at(a, sa, i0, i1, i2, i3);
        out[i] = Op == 0 ? x * f : Op == 1 ? silu_ref(x) : Op == 2 ? gelu_ref(x) : x;
    });
}

template <bool Gelu, bool V4>
__global__ void glu_kernel(const uint8_t *g, Strides sg, const uint8_t *u, Strides su, float *out, Shape4 s) {
    grid_dependency_wait();
    allow_dependents();
    auto op = [](float x, float y) { return (Gelu ? gelu_ref(x) : silu_ref(x)) * y; };
    for_each_elem<V4 ? 4 : 1>(s, [&](int64_t i0, int64_t i1, int64_t i2, int64_t i3, int64_t i) {
        if constexpr (V4) {
            *reinterpret_cast<float4 *>(out + i) = map4(at4(g, sg, i0, i1, i2, i3), at4(u, su, i0, i1, i2, i3), op);
        } else {
            out[i] = op(at(g, sg, i0, i1, i2, i3), at(u, su, i0, i1, i2, i3));
        }
    });
}

const uint8_t *bytes(const Tensor *t) { return static_cast<const uint8_t *>(t->data); }
float *out_of(Tensor &t) {
    if (!t.is_contiguous()) fail(Status::internal, "cuda %s: result must be contiguous", op_name(t.op));
    return static_cast<float *>(t.data);
}

} // namespace

void binary(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0], &b = *dst.src[1];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    const Shape4 s = shape_of(dst);
    const bool v4 = vec4_ok(s, {&a, &dst}) && b.ne[0] == s.ne0 && vec4_ok(shape_of(b), {&b});
    auto go = [&](auto kernel) {
        launch(ctx, kernel, elem_grid(s, v4 ? 4 : 1), kElemThreads, 0, bytes(&a), strides_of(a), bytes(&b),
               strides_of(b), shape_of(b), out_of(dst), s);
    };
    if (dst.op == Op::add) v4 ? go(binary_kernel<0, true>) : go(binary_kernel<0, false>);
    else v4 ? go(binary_kernel<1, true>) : go(binary_kernel<1, false>);
    CV_LAUNCHED("binary_kernel");
}

void scale(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    launch(ctx, unary_kernel<0>, elem_grid(shape_of(dst)), kElemThreads, 0, bytes(&a), strides_of(a), out_of(dst),
           shape_of(dst), dst.fp[0]);
    CV_LAUNCHED("scale_kernel");
}

void unary(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    if (dst.op == Op::gelu)
        launch(ctx, unary_kernel<2>, elem_grid(shape_of(dst)), kElemThreads, 0, bytes(&a), strides_of(a), out_of(dst),
               shape_of(dst), 0.0f);
    else
        launch(ctx, unary_kernel<1>, elem_grid(shape_of(dst)), kElemThreads, 0, bytes(&a), strides_of(a), out_of(dst),
               shape_of(dst), 0.0f);
    CV_LAUNCHED("unary_kernel");
}

void glu(Context &ctx, Tensor &dst) {
    const Tensor &g = *dst.src[0], &u = *dst.src[1];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    const Shape4 s = shape_of(dst);
    const bool v4 = vec4_ok(s, {&g, &u, &dst});
    auto go = [&](auto kernel) {
        launch(ctx, kernel, elem_grid(s, v4 ? 4 : 1), kElemThreads, 0, bytes(&g), strides_of(g), bytes(&u),
               strides_of(u), out_of(dst), s);
    };
    if (dst.op == Op::geglu) v4 ? go(glu_kernel<true, true>) : go(glu_kernel<true, false>);
    else v4 ? go(glu_kernel<false, true>) : go(glu_kernel<false, false>);
    CV_LAUNCHED("glu_kernel");
}

void cpy(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    launch(ctx, unary_kernel<3>, elem_grid(shape_of(dst)), kElemThreads, 0, bytes(&a), strides_of(a), out_of(dst),
           shape_of(dst), 0.0f);
    CV_LAUNCHED("cpy_kernel");
}

} // namespace corvid::cuda
