// Elementwise ops: add / mul with row broadcast, scale, silu / gelu, swiglu / geglu, and
// cpy (any strides into a contiguous F32 tensor). One thread per element; sources may
// have strided rows (nb[0] must be the element size except for cpy).
#include "cuda/cuda_ops.h"

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

__device__ __forceinline__ void split(int64_t i, const Shape4 &s, int64_t &i0, int64_t &i1, int64_t &i2, int64_t &i3) {
    i0 = i % s.ne0;
    int64_t r = i / s.ne0;
    i1 = r % s.ne1;
    r /= s.ne1;
    i2 = r % s.ne2;
    i3 = r / s.ne2;
}

__device__ __forceinline__ float at(const uint8_t *p, const Strides &st, int64_t i0, int64_t i1, int64_t i2,
                                    int64_t i3) {
    return *reinterpret_cast<const float *>(p + i0 * st.nb0 + i1 * st.nb1 + i2 * st.nb2 + i3 * st.nb3);
}


template <int Op> // 0 add, 1 mul
__global__ void binary_kernel(const uint8_t *a, Strides sa, const uint8_t *b, Strides sb, Shape4 bs, float *out,
                              Shape4 s, int64_t n) {
    grid_dependency_wait();
    allow_dependents();
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t i0, i1, i2, i3;
    split(i, s, i0, i1, i2, i3);
    const float x = at(a, sa, i0, i1, i2, i3);
    const float y = at(b, sb, i0, i1 % bs.ne1, i2 % bs.ne2, i3 % bs.ne3);
    out[i] = Op == 0 ? x + y : x * y;
}

// Op: 0 scale, 1 silu, 2 gelu, 3 copy
template <int Op>
__global__ void unary_kernel(const uint8_t *a, Strides sa, float *out, Shape4 s, int64_t n, float f) {
    grid_dependency_wait();
    allow_dependents();
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t i0, i1, i2, i3;
    split(i, s, i0, i1, i2, i3);
    const float x = at(a, sa, i0, i1, i2, i3);
    out[i] = Op == 0 ? x * f : Op == 1 ? silu_ref(x) : Op == 2 ? gelu_ref(x) : x;
}

template <bool Gelu>
__global__ void glu_kernel(const uint8_t *g, Strides sg, const uint8_t *u, Strides su, float *out, Shape4 s,
                           int64_t n) {
    grid_dependency_wait();
    allow_dependents();
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t i0, i1, i2, i3;
    split(i, s, i0, i1, i2, i3);
    const float x = at(g, sg, i0, i1, i2, i3), y = at(u, su, i0, i1, i2, i3);
    out[i] = (Gelu ? gelu_ref(x) : silu_ref(x)) * y;
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
    const unsigned grid = blocks_for(n, 256);
    if (dst.op == Op::add)
        launch(ctx, binary_kernel<0>, grid, 256, 0, bytes(&a), strides_of(a), bytes(&b), strides_of(b), shape_of(b),
                                                       out_of(dst), shape_of(dst), n);
    else
        launch(ctx, binary_kernel<1>, grid, 256, 0, bytes(&a), strides_of(a), bytes(&b), strides_of(b), shape_of(b),
                                                       out_of(dst), shape_of(dst), n);
    CV_LAUNCHED("binary_kernel");
}

void scale(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    launch(ctx, unary_kernel<0>, blocks_for(n, 256), 256, 0, bytes(&a), strides_of(a), out_of(dst), shape_of(dst), n,
                                                                 dst.fp[0]);
    CV_LAUNCHED("scale_kernel");
}

void unary(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    if (dst.op == Op::gelu)
        launch(ctx, unary_kernel<2>, blocks_for(n, 256), 256, 0, bytes(&a), strides_of(a), out_of(dst),
                                                                     shape_of(dst), n, 0.0f);
    else
        launch(ctx, unary_kernel<1>, blocks_for(n, 256), 256, 0, bytes(&a), strides_of(a), out_of(dst),
                                                                     shape_of(dst), n, 0.0f);
    CV_LAUNCHED("unary_kernel");
}

void glu(Context &ctx, Tensor &dst) {
    const Tensor &g = *dst.src[0], &u = *dst.src[1];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    if (dst.op == Op::geglu)
        launch(ctx, glu_kernel<true>, blocks_for(n, 256), 256, 0, bytes(&g), strides_of(g), bytes(&u), strides_of(u),
                                                                     out_of(dst), shape_of(dst), n);
    else
        launch(ctx, glu_kernel<false>, blocks_for(n, 256), 256, 0, bytes(&g), strides_of(g), bytes(&u),
                                                                      strides_of(u), out_of(dst), shape_of(dst), n);
    CV_LAUNCHED("glu_kernel");
}

void cpy(Context &ctx, Tensor &dst) {
    const Tensor &a = *dst.src[0];
    const int64_t n = dst.n_elements();
    if (n == 0) return;
    launch(ctx, unary_kernel<3>, blocks_for(n, 256), 256, 0, bytes(&a), strides_of(a), out_of(dst), shape_of(dst), n,
                                                                 0.0f);
    CV_LAUNCHED("cpy_kernel");
}

} // namespace corvid::cuda
