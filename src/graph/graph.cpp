#include "graph/graph.h"

#include "util/error.h"

namespace corvid {
namespace {

[[noreturn]] void shape_error(const char *op, const Tensor *a, const Tensor *b, const char *why) {
    fail(Status::internal, "graph: %s(%s%s%s): %s", op, describe(*a).c_str(), b ? ", " : "",
         b ? describe(*b).c_str() : "", why);
}

bool same_shape(const Tensor *a, const Tensor *b) {
    for (int d = 0; d < kMaxDims; ++d)
        if (a->ne[d] != b->ne[d]) return false;
    return true;
}

// b can be broadcast onto a: same row length, and each higher dimension equal or 1 in b.
bool broadcastable(const Tensor *a, const Tensor *b) {
    if (a->ne[0] != b->ne[0]) return false;
    for (int d = 1; d < kMaxDims; ++d)
        if (b->ne[d] != a->ne[d] && b->ne[d] != 1) return false;
    return true;
}

// Leaves (weights live across graphs) are not counted: only nodes can be fused away.
void count_use(Tensor *t) {
    if (t->op != Op::none) ++t->n_uses;
}

void require_f32(const char *op, const Tensor *t) {
    if (t->type != DType::F32) shape_error(op, t, nullptr, "needs an f32 tensor");
}

} // namespace

Tensor *Graph::new_tensor(Op op, DType type, const int64_t ne[kMaxDims], std::initializer_list<Tensor *> srcs) {
    Tensor &t = store_.emplace_back();
    t.op = op;
    t.type = type;
    t.layer = layer_;
    for (int d = 0; d < kMaxDims; ++d) t.ne[d] = ne[d];
    int i = 0;
    for (Tensor *s : srcs) {
        t.src[i++] = s;
        if (s) count_use(s);
    }
    set_contiguous_strides(t);
    if (op != Op::none) nodes_.push_back(&t);
    return &t;
}

Tensor *Graph::input(DType type, std::initializer_list<int64_t> dims, const char *name) {
    int64_t ne[kMaxDims] = {1, 1, 1, 1};
    int d = 0;
    for (int64_t n : dims) ne[d++] = n;
    Tensor *t = new_tensor(Op::none, type, ne, {});
    t->flags |= kFlagInput;
    t->name = name;
    inputs_.push_back(t);
    return t;
}

Tensor *Graph::get_rows(Tensor *table, Tensor *ids) {
    if (ids->type != DType::I32 || ids->ne[1] != 1 || ids->ne[2] != 1)
        shape_error("get_rows", table, ids, "ids must be an I32 vector");
    if (table->ne[2] != 1 || table->ne[3] != 1) shape_error("get_rows", table, ids, "table must be 2-D");
    const int64_t ne[] = {table->ne[0], ids->ne[0], 1, 1};
    return new_tensor(Op::get_rows, DType::F32, ne, {table, ids});
}

Tensor *Graph::mul_mat(Tensor *w, Tensor *x) {
    require_f32("mul_mat", x);
    if (w->ne[0] != x->ne[0]) shape_error("mul_mat", w, x, "inner dimensions differ");
    if (x->ne[2] % w->ne[2] != 0 || x->ne[3] % w->ne[3] != 0)
        shape_error("mul_mat", w, x, "batch dimensions do not broadcast");
    if (!x->is_contiguous() && x->nb[0] != sizeof(float)) shape_error("mul_mat", w, x, "x rows must be contiguous");
    const int64_t ne[] = {w->ne[1], x->ne[1], x->ne[2], x->ne[3]};
    return new_tensor(Op::mul_mat, DType::F32, ne, {w, x});
}

Tensor *Graph::add(Tensor *a, Tensor *b) {
    require_f32("add", a);
    if (!broadcastable(a, b)) shape_error("add", a, b, "shapes do not broadcast");
    return new_tensor(Op::add, DType::F32, a->ne, {a, b});
}

Tensor *Graph::mul(Tensor *a, Tensor *b) {
    require_f32("mul", a);
    if (!broadcastable(a, b)) shape_error("mul", a, b, "shapes do not broadcast");
    return new_tensor(Op::mul, DType::F32, a->ne, {a, b});
}

Tensor *Graph::scale(Tensor *a, float s) {
    require_f32("scale", a);
    Tensor *t = new_tensor(Op::scale, DType::F32, a->ne, {a});
    t->fp[0] = s;
    return t;
}

Tensor *Graph::rms_norm(Tensor *x, float eps) {
    require_f32("rms_norm", x);
    Tensor *t = new_tensor(Op::rms_norm, DType::F32, x->ne, {x});
    t->fp[0] = eps;
    return t;
}

Tensor *Graph::norm(Tensor *x, float eps) {
    require_f32("norm", x);
    Tensor *t = new_tensor(Op::norm, DType::F32, x->ne, {x});
    t->fp[0] = eps;
    return t;
}

Tensor *Graph::rope(Tensor *x, Tensor *pos, const RopeParams &p, Tensor *freq_factors) {
    require_f32("rope", x);
    if (pos->type != DType::I32 || pos->ne[0] != x->ne[2])
        shape_error("rope", x, pos, "positions must be I32 with one entry per x->ne[2]");
    if (p.n_dims <= 0 || p.n_dims > x->ne[0] || p.n_dims % 2 != 0)
        shape_error("rope", x, pos, "n_dims must be even and within the head size");
    if (freq_factors && (freq_factors->type != DType::F32 || freq_factors->ne[0] < p.n_dims / 2))
        shape_error("rope", x, freq_factors, "freq_factors must be F32 with n_dims/2 entries");
    Tensor *t = new_tensor(Op::rope, DType::F32, x->ne, {x, pos, freq_factors});
    t->ip[0] = p.n_dims;
    t->ip[1] = p.neox ? 1 : 0;
    t->ip[2] = p.n_ctx_orig;
    t->fp[0] = p.freq_base;
    t->fp[1] = p.freq_scale;
    t->fp[2] = p.ext_factor;
    t->fp[3] = p.attn_factor;
    t->fp[4] = p.beta_fast;
    t->fp[5] = p.beta_slow;
    return t;
}

Tensor *Graph::soft_max(Tensor *x, Tensor *mask, float scale) {
    require_f32("soft_max", x);
    if (mask && (mask->type != DType::F32 || mask->ne[0] != x->ne[0] || mask->ne[1] < x->ne[1]))
        shape_error("soft_max", x, mask, "mask must be F32 [ne0, >= ne1]");
    Tensor *t = new_tensor(Op::soft_max, DType::F32, x->ne, {x, mask});
    t->fp[0] = scale;
    return t;
}

Tensor *Graph::attention(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, float scale) {
    require_f32("attention", q);
    if (k->ne[0] != q->ne[0] || v->ne[0] != q->ne[0]) shape_error("attention", q, k, "head sizes differ");
    if (k->ne[1] != v->ne[1] || k->ne[2] != v->ne[2]) shape_error("attention", k, v, "k and v shapes differ");
    if (k->ne[2] == 0 || q->ne[1] % k->ne[2] != 0)
        shape_error("attention", q, k, "query heads are not a multiple of kv heads");
    if (!mask || mask->type != DType::F32 || mask->ne[0] != k->ne[1] || mask->ne[1] < q->ne[2])
        shape_error("attention", q, mask ? mask : k, "mask must be F32 [n_kv, >= n_tokens]");
    if (k->type != v->type || (k->type != DType::F16 && k->type != DType::F32))
        shape_error("attention", k, v, "k and v must both be f16 or both f32");
    const int64_t ne[] = {q->ne[0], q->ne[1], q->ne[2], 1};
    Tensor *t = new_tensor(Op::attention, DType::F32, ne, {q, k, v, mask});
    t->fp[0] = scale;
    return t;
}

Tensor *Graph::silu(Tensor *x) {
    require_f32("silu", x);
    return new_tensor(Op::silu, DType::F32, x->ne, {x});
}

Tensor *Graph::gelu(Tensor *x) {
    require_f32("gelu", x);
    return new_tensor(Op::gelu, DType::F32, x->ne, {x});
}

Tensor *Graph::swiglu(Tensor *gate, Tensor *up) {
    require_f32("swiglu", gate);
    if (!same_shape(gate, up)) shape_error("swiglu", gate, up, "shapes differ");
    return new_tensor(Op::swiglu, DType::F32, gate->ne, {gate, up});
}

Tensor *Graph::geglu(Tensor *gate, Tensor *up) {
    require_f32("geglu", gate);
    if (!same_shape(gate, up)) shape_error("geglu", gate, up, "shapes differ");
    return new_tensor(Op::geglu, DType::F32, gate->ne, {gate, up});
}

Tensor *Graph::new_view(Tensor *x, Op op) {
    Tensor &t = store_.emplace_back();
    t.op = op;
    t.type = x->type;
    t.layer = layer_;
    t.src[0] = x;
    count_use(x);
    // Views alias the memory of the tensor that actually owns it.
    t.view_src = x->view_src ? x->view_src : x;
    t.view_offset = x->view_offset;
    t.name = x->name;
    nodes_.push_back(&t);
    return &t;
}

Tensor *Graph::reshape(Tensor *x, std::initializer_list<int64_t> dims) {
    if (!x->is_contiguous()) shape_error("reshape", x, nullptr, "needs a contiguous tensor");
    Tensor *t = new_view(x, Op::view);
    int d = 0;
    for (int64_t n : dims) t->ne[d++] = n;
    for (; d < kMaxDims; ++d) t->ne[d] = 1;
    if (t->n_elements() != x->n_elements()) shape_error("reshape", x, nullptr, "element count changes");
    set_contiguous_strides(*t);
    return t;
}

Tensor *Graph::view(Tensor *x, std::initializer_list<int64_t> dims, std::initializer_list<size_t> strides,
                    size_t offset) {
    Tensor *t = new_view(x, Op::view);
    int d = 0;
    for (int64_t n : dims) t->ne[d++] = n;
    for (; d < kMaxDims; ++d) t->ne[d] = 1;
    t->nb[0] = traits(x->type).block_bytes;
    d = 1;
    for (size_t s : strides) t->nb[d++] = s;
    for (; d < kMaxDims; ++d) t->nb[d] = t->nb[d - 1] * static_cast<size_t>(t->ne[d - 1]);
    t->view_offset += offset;
    if (offset + t->n_bytes() > x->n_bytes()) shape_error("view", x, nullptr, "the view runs past the tensor");
    return t;
}

Tensor *Graph::permute(Tensor *x, int a0, int a1, int a2, int a3) {
    const int axes[kMaxDims] = {a0, a1, a2, a3};
    bool seen[kMaxDims] = {};
    for (int a : axes) {
        if (a < 0 || a >= kMaxDims || seen[a]) shape_error("permute", x, nullptr, "axes are not a permutation");
        seen[a] = true;
    }
    if (a0 != 0 && traits(x->type).block_size != 1)
        shape_error("permute", x, nullptr, "cannot move the row dimension of a block type");
    Tensor *t = new_view(x, Op::view);
    for (int d = 0; d < kMaxDims; ++d) {
        t->ne[d] = x->ne[axes[d]];
        t->nb[d] = x->nb[axes[d]];
    }
    return t;
}

Tensor *Graph::cont(Tensor *x) {
    require_f32("cont", x);
    return new_tensor(Op::cpy, DType::F32, x->ne, {x});
}

Tensor *Graph::transfer(Tensor *src) {
    Tensor &t = store_.emplace_back();
    t.op = Op::transfer;
    t.type = src->type;
    t.layer = src->layer;
    for (int d = 0; d < kMaxDims; ++d) {
        t.ne[d] = src->ne[d];
        t.nb[d] = src->nb[d];
    }
    t.src[0] = src;
    count_use(src);
    t.name = src->name;
    return &t;
}

Tensor *Graph::set_rows(Tensor *dst, Tensor *src, Tensor *ids) {
    require_f32("set_rows", src);
    if (src->ne[0] != dst->ne[0] || ids->type != DType::I32 || ids->ne[0] != src->ne[1] || src->ne[2] != 1)
        shape_error("set_rows", dst, src, "src must be [dst->ne0, n] with n I32 row ids");
    if (dst->ne[2] != 1 || dst->ne[3] != 1) shape_error("set_rows", dst, src, "dst must be 2-D");
    Tensor *t = new_view(dst, Op::set_rows);
    for (int d = 0; d < kMaxDims; ++d) {
        t->ne[d] = dst->ne[d];
        t->nb[d] = dst->nb[d];
    }
    t->src[1] = src;
    t->src[2] = ids;
    count_use(src);
    count_use(ids);
    return t;
}

} // namespace corvid
