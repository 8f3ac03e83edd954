// Decode-step fusions: runs of nodes that one kernel computes without storing what only
// the run itself reads. A decode step is a few hundred small kernels; on the H200 each
// costs a few microseconds of launch, ramp-up and drain whatever its size, so fewer and
// larger launches are what brings the step toward the memory-bandwidth limit.
//
// Recognised here (every other node runs alone):
//   rms_norm -> mul by a weight row                     one kernel (cuda_norm_rope.cu), which
//                                                       also writes the input form a product
//                                                       reading it next needs (8-bit blocks,
//                                                       or F16 for cuBLAS and the F16 matvec)
//   rope(q), rope(k) (same positions and parameters)    one launch
//   set_rows(K cache), set_rows(V cache) (same ids)     one launch
//   rope(q), rope(k), set_rows(K, k), set_rows(V, v)    one launch (the rotating threads
//                                                       store K's cells)
//   attention (decode) -> a product reading it          the merge also writes the
//                                                       product's Q8_0 activations
//   mul_mat(gate, h), mul_mat(up, h), swiglu/geglu      one matvec; act(gate) * up stored (and,
//                                                       for a down product with Q8_0
//                                                       activations, converted by the block
//                                                       that completes each 32 rows)
//   mul_mat(w1, x) [+ add], ... up to 3 over one x      one matvec; each add folded in as
//                                                       a residual (or bias) the epilogue adds
//   swiglu/geglu -> a product that converts its input   the conversion made from gate and up,
//   (cuBLAS, the F16 matvec)                            the GLU's result never stored
//   prompt attention -> a converting product           the flash kernel writes its input
//   mul_mat (cuBLAS) -> add of a residual               the residual copied to the result, the
//                                                       GEMM adding to it (beta = 1)
//   mul_mat (F16 matvec) -> add of a residual or bias   the matvec's epilogue adds it
//   one-column F16 / BF16 products: q/k/v [+ adds],     one launch of the F16 matvec, which
//   gate/up/glu                                         reads an unconverted input's floats
//                                                       itself (no conversion kernel)
// A node is fused away only when the Graph counted one use of it and it is not an output
// (Tensor::n_uses, kFlagOutput), so nothing else can read what is never written. The fused
// kernels do the same float operations in the same order as the separate ones: results are
// identical either way.
#include "cuda/cuda_fuse.h"
#include "cuda/cuda_matmul.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_planar.cuh"

namespace corvid::cuda {
namespace {

bool f32_rows(const Tensor &t) { return t.type == DType::F32 && t.nb[0] == sizeof(float); }
bool two_dims(const Tensor &t) { return t.ne[2] == 1 && t.ne[3] == 1; }

// A matrix product the integer matvec computes: few columns, 2-D, contiguous rows.
bool q8_matvec_node(const Tensor &t) {
    if (t.op != Op::mul_mat) return false;
    const Tensor &w = *t.src[0], &x = *t.src[1];
    return matvec_q8_supported(w.type) && x.ne[1] <= kMatvecMaxCols && two_dims(w) && two_dims(x) && f32_rows(x) &&
           w.nb[0] == traits(w.type).block_bytes && f32_rows(t) && w.ne[1] <= (int64_t(1) << 30);
}

// A one-column F16 / BF16 product (the matvec_h path), 2-D, contiguous rows.
bool h_matvec_node(const Tensor &t) {
    if (t.op != Op::mul_mat) return false;
    const Tensor &w = *t.src[0], &x = *t.src[1];
    return (w.type == DType::F16 || w.type == DType::BF16) && x.ne[1] == 1 && two_dims(w) && two_dims(x) &&
           f32_rows(x) && f32_rows(t) && w.layout == 0 && w.nb[0] == traits(w.type).block_bytes &&
           w.ne[1] <= (int64_t(1) << 30) &&
           product_path(w.type, w.ne[0], static_cast<int64_t>(w.nb[1]), 1) == ProductPath::matvec_h;
}

// The two kernels that compute several decode products in one launch: the integer matvec
// (8-bit activations) and the F16 / BF16 matvec.
enum class Family { q8, h };
bool family_node(Family f, const Tensor &t) { return f == Family::q8 ? q8_matvec_node(t) : h_matvec_node(t); }

// Products over the same activations with the same weight type: one conversion, one launch.
bool same_input(const Tensor &a, const Tensor &b) {
    return b.src[1] == a.src[1] && b.src[0]->type == a.src[0]->type && b.src[0]->ne[0] == a.src[0]->ne[0] &&
           b.src[0]->layout == a.src[0]->layout;
}

// add(mm, r) or add(r, mm) that the matvec's epilogue can do: r is [N, M] (or [N] when mm is
// the first operand, broadcast over the columns), F32 rows.
const Tensor *residual_of(const Tensor &mm, const Tensor &add) {
    if (add.op != Op::add || !private_to_one(mm) || !f32_rows(add) || !two_dims(add)) return nullptr;
    const bool first = add.src[0] == &mm;
    if (!first && add.src[1] != &mm) return nullptr;
    const Tensor &r = *add.src[first ? 1 : 0];
    if (!f32_rows(r) || !two_dims(r) || r.ne[0] != mm.ne[0]) return nullptr;
    if (r.ne[1] == mm.ne[1]) return &r;
    return first && r.ne[1] == 1 ? &r : nullptr;
}

size_t next_non_view(const std::vector<Tensor *> &nodes, size_t j) {
    while (j < nodes.size() && nodes[j]->op == Op::view) ++j;
    return j;
}

MatvecPart part_of(const Tensor &mm, const Tensor &out, const Tensor *res) {
    const Tensor &w = *mm.src[0];
    MatvecPart p{};
    p.W = static_cast<const uint8_t *>(w.data);
    p.w_nb1 = static_cast<int64_t>(w.nb[1]);
    p.N = w.ne[1];
    p.layout = w.layout;
    p.dst = static_cast<float *>(out.data);
    p.ldd = static_cast<int64_t>(out.nb[1] / sizeof(float));
    if (res) {
        p.res = static_cast<const float *>(res->data);
        p.ldr = res->ne[1] == 1 ? 0 : static_cast<int64_t>(res->nb[1] / sizeof(float));
    }
    return p;
}

// The product after `out` (views skipped) when it reads all of out with Q8_0 activations.
const Tensor *q8_0_reader(const std::vector<Tensor *> &nodes, size_t after, const Tensor &out) {
    const size_t j = next_non_view(nodes, after);
    if (j >= nodes.size() || !q8_matvec_node(*nodes[j])) return nullptr;
    const Tensor &mm = *nodes[j];
    const bool whole = mm.src[1] == &out && out.is_contiguous() && out.ne[0] % 32 == 0;
    return whole && traits(mm.src[0]->type).block_size == 32 ? &mm : nullptr;
}

// out: the tensor part 0 writes (reported to ctx.written); reader: a product over it whose
// Q8_0 activations the launch writes too.
void launch_parts(Context &ctx, const Tensor &first, const MatvecPart *parts, int n, MatvecEpilogue e,
                  const Tensor *out = nullptr, const Tensor *reader = nullptr) {
    const Tensor &w = *first.src[0], &x = *first.src[1];
    const int64_t K = w.ne[0], M = x.ne[1];
    const Q8Activations a = q8_activations(ctx, w.type, static_cast<const uint8_t *>(x.data),
                                           static_cast<int64_t>(x.nb[1]), K, M);
    Q8Sink sink;
    Q8Activations o{};
    if (reader) { // the other 8-bit slot: this launch still reads the one in the cache
        const int64_t N = parts[0].N;
        o = q8_scratch(ctx, N, M, ctx.free_q8_slot());
        sink = Q8Sink{o.q, o.d, o.sum,
                      static_cast<int *>(ctx.scratch(kScratchCounters, sizeof(int) * static_cast<size_t>(N / 32)))};
    }
    matvec_q8_parts(ctx, w.type, parts, n, K, a.q, a.d, a.sum, M, e, sink);
    if (out) ctx.written(out->data, out->n_bytes());
    if (reader)
        note_q8_activations(ctx, reader->src[0]->type, static_cast<const uint8_t *>(out->data),
                            static_cast<int64_t>(out->nb[1]), parts[0].N, M, o.slot);
}

// The F16 / BF16 parts over first's input (one column). x_clear: no result of the launch
// overlaps the input, so its floats may be read as they are (else they are converted first).
void launch_h_parts(Context &ctx, const Tensor &first, const MatvecPart *parts, int n, MatvecEpilogue e, bool x_clear) {
    const Tensor &w = *first.src[0], &x = *first.src[1];
    const HInput xh =
        h_input(ctx, w.type, static_cast<const uint8_t *>(x.data), static_cast<int64_t>(x.nb[1]), w.ne[0], 1, x_clear);
    matvec_h_parts(ctx, w.type, parts, n, w.ne[0], xh, e);
}

// gate, up, glu: returns the nodes covered (0 if the pattern is not there).
size_t try_glu(Context &ctx, const std::vector<Tensor *> &nodes, size_t i, Family f) {
    const Tensor &gate = *nodes[i];
    const size_t j = next_non_view(nodes, i + 1);
    if (j >= nodes.size() || !family_node(f, *nodes[j]) || !same_input(gate, *nodes[j])) return 0;
    const Tensor &up = *nodes[j];
    const size_t k = next_non_view(nodes, j + 1);
    if (k >= nodes.size()) return 0;
    Tensor &glu = *nodes[k];
    if ((glu.op != Op::swiglu && glu.op != Op::geglu) || glu.src[0] != &gate || glu.src[1] != &up) return 0;
    if (!private_to_one(gate) || !private_to_one(up) || !f32_rows(glu) || up.ne[0] != gate.ne[0]) return 0;
    const MatvecPart parts[2] = {part_of(gate, glu, nullptr), part_of(up, up, nullptr)};
    const MatvecEpilogue e = glu.op == Op::swiglu ? MatvecEpilogue::swiglu : MatvecEpilogue::geglu;
    if (f == Family::h) {
        // (The planner may have given the GLU the bytes of the input: its last reader is up.)
        launch_h_parts(ctx, gate, parts, 2, e, !bytes_overlap(glu, *gate.src[1]));
        ctx.written(glu.data, glu.n_bytes());
    } else {
        launch_parts(ctx, gate, parts, 2, e, &glu, q8_0_reader(nodes, k + 1, glu));
    }
    return k + 1 - i;
}

// Up to kMaxMatvecParts products over one input, each with the add that follows it folded in.
size_t try_group(Context &ctx, const std::vector<Tensor *> &nodes, size_t i, Family f) {
    const Tensor &first = *nodes[i];
    MatvecPart parts[kMaxMatvecParts];
    const Tensor *outs[kMaxMatvecParts], *res_of[kMaxMatvecParts];
    int n = 0;
    size_t end = i; // one past the last node covered
    for (size_t j = i; n < kMaxMatvecParts && j < nodes.size();) {
        const Tensor &mm = *nodes[j];
        if (!family_node(f, mm) || (n > 0 && !same_input(first, mm))) break;
        const Tensor *out = &mm, *res = nullptr;
        if (j + 1 < nodes.size()) res = residual_of(mm, *nodes[j + 1]);
        for (int s = 0; s < n; ++s)
            if (res == outs[s]) res = nullptr; // written by this very launch: the add runs after it
        if (res) {
            out = nodes[j + 1];
            ++j;
        }
        parts[n] = part_of(mm, *out, res);
        res_of[n] = res;
        outs[n++] = out;
        end = j + 1;
        j = next_non_view(nodes, j + 1);
    }
    if (n == 1 && outs[0] == &first) return 0; // a lone product: mul_mat() does it
    // One launch stores every part while it reads the input (the F16 kernel may read its
    // floats) and each part's residual: the planner may have given a later part's result
    // the bytes of those (freed after their last reader, an earlier node of the group).
    bool x_clear = true;
    for (int j = 0; j < n; ++j) {
        x_clear = x_clear && !bytes_overlap(*outs[j], *first.src[1]);
        for (int s = 0; s < n; ++s)
            if (s != j && res_of[s] && bytes_overlap(*outs[j], *res_of[s])) return 0;
    }
    if (f == Family::h) launch_h_parts(ctx, first, parts, n, MatvecEpilogue::none, x_clear);
    else launch_parts(ctx, first, parts, n, MatvecEpilogue::none);
    for (int s = 0; s < n; ++s) ctx.written(outs[s]->data, outs[s]->n_bytes());
    return end - i;
}

// Whether x (a product's input) is the whole result of attention att, reshaped to
// [head_dim * n_head, tokens].
bool reads_whole_attention(const Tensor &x, const Tensor &att) {
    return (&x == &att || x.view_src == &att) && x.data == att.data && att.is_contiguous() && x.is_contiguous() &&
           x.ne[0] == att.ne[0] * att.ne[1] && x.ne[1] == att.ne[2] && att.ne[3] == 1;
}

// Decode attention whose result (reshaped to [head_dim * n_head, tokens]) a product with
// Q8_0 activations reads next: the merge writes that conversion too.
size_t attention_into_q8(Context &ctx, const std::vector<Tensor *> &nodes, size_t i) {
    Tensor &att = *nodes[i];
    const size_t j = next_non_view(nodes, i + 1);
    if (j >= nodes.size() || !q8_matvec_node(*nodes[j])) return 0;
    const Tensor &mm = *nodes[j], &x = *mm.src[1];
    const DType wt = mm.src[0]->type;
    const int64_t K = x.ne[0], M = x.ne[1];
    if (!reads_whole_attention(x, att) || traits(wt).block_size != 32 || M == 0) return 0;
    ctx.written(att.data, att.n_bytes());
    const Q8Activations a = q8_scratch(ctx, K, M, ctx.free_q8_slot());
    const bool q8 = attention(ctx, att, a.q, a.d, a.sum);
    if (q8) note_q8_activations(ctx, wt, static_cast<const uint8_t *>(x.data), static_cast<int64_t>(x.nb[1]), K, M, a.slot);
    return 1;
}

// rms_norm, mul by its weight row: one kernel, which writes the norm's own result only
// when something besides the mul reads it, and, when a product reads the mul's result next,
// that product's input form too (the 8-bit blocks of the integer matvec, or the F16/BF16
// values cuBLAS and the F16 matvec read), where that product (and the ones after it over the
// same input) will look for it.
void norm_mul(Context &ctx, const std::vector<Tensor *> &nodes, size_t i) {
    Tensor &norm = *nodes[i], &mul = *nodes[i + 1];
    ctx.written(norm.data, norm.n_bytes());
    ctx.written(mul.data, mul.n_bytes());
    const bool write_norm = !private_to_one(norm);
    const size_t j = next_non_view(nodes, i + 2);
    const Tensor *mm = j < nodes.size() ? nodes[j] : nullptr;
    const int64_t K = mul.ne[0], M = mul.ne[1];
    const auto *xp = static_cast<const uint8_t *>(mul.data);
    const int64_t x_nb1 = static_cast<int64_t>(mul.nb[1]);
    ActOut kind{};
    if (mm && mm->src[1] == &mul && M > 0 && q8_matvec_node(*mm)) {
        const DType wt = mm->src[0]->type;
        const Q8Activations a = q8_scratch(ctx, K, M, ctx.free_q8_slot());
        const NormProductForm form{static_cast<int>(traits(wt).block_size), a.q, a.d, a.sum};
        if (rms_norm_mul(ctx, norm, mul, write_norm, form)) note_q8_activations(ctx, wt, xp, x_nb1, K, M, a.slot);
    } else if (mm && mm->src[1] == &mul && M > 0 && ctx.fuses(Context::kFuseNormConvert) &&
               converts_whole_input(*mm, kind)) {
        const DType wt = mm->src[0]->type;
        const int qk = static_cast<int>(traits(wt).block_size);
        NormProductForm form{};
        form.family = qk == 32 || qk == 256 ? qk : 0;
        form.h = conversion_target(ctx, K, M, kind);
        form.bf16 = kind == ActOut::bf16;
        if (rms_norm_mul(ctx, norm, mul, write_norm, form)) note_converted(ctx, wt, xp, x_nb1, K, M, K, kind);
    } else {
        rms_norm_mul(ctx, norm, mul, write_norm);
    }
}

// Prompt attention whose result (reshaped to [head_dim * n_head, tokens]) a converting
// product (cuBLAS) reads next: the flash kernel writes that product's input itself, and no
// F32 result when only the product reads it. Returns the nodes covered (0: not this pattern,
// or the flash kernel does not apply and nothing was done).
size_t attention_into_conversion(Context &ctx, const std::vector<Tensor *> &nodes, size_t i) {
    Tensor &att = *nodes[i];
    const size_t j = next_non_view(nodes, i + 1);
    if (j >= nodes.size() || !ctx.fuses(Context::kFuseNormConvert) ||
        att.src[0]->ne[2] < kPromptAttentionMinTokens)
        return 0;
    const Tensor &mm = *nodes[j], &x = *mm.src[1];
    ActOut kind{};
    if (mm.op != Op::mul_mat || !converts_whole_input(mm, kind)) return 0;
    const int64_t K = x.ne[0], M = x.ne[1];
    const DType wt = mm.src[0]->type;
    const int qk = static_cast<int>(traits(wt).block_size);
    if (!reads_whole_attention(x, att) || (qk != 1 && qk != 32)) return 0;
    AttnOutForm form;
    form.h = conversion_target(ctx, K, M, kind);
    form.family = qk == 32 ? 32 : 0;
    form.bf16 = kind == ActOut::bf16;
    form.skip_f32 = private_through(att, x);
    ctx.written(att.data, att.n_bytes());
    bool written = false;
    if (!flash_attention_prompt(ctx, att, &form, &written)) return 0;
    if (written)
        note_converted(ctx, wt, static_cast<const uint8_t *>(x.data), static_cast<int64_t>(x.nb[1]), K, M, K, kind);
    return 1;
}

// A GLU that only the product after it reads, where that product converts its input
// first (cuBLAS, or the F16 matvec): the conversion is made from gate and up directly, and
// the GLU's result (a prompt's [n_ff][tokens] floats, written and read back once more) is
// never stored. Returns the nodes covered (the GLU, or 0).
size_t glu_into_conversion(Context &ctx, const std::vector<Tensor *> &nodes, size_t i) {
    Tensor &glu = *nodes[i];
    const size_t j = next_non_view(nodes, i + 1);
    if (j >= nodes.size() || !ctx.fuses(Context::kFuseNormConvert) || !private_to_one(glu)) return 0;
    const Tensor &mm = *nodes[j], &g = *glu.src[0], &u = *glu.src[1];
    ActOut kind{};
    if (mm.op != Op::mul_mat || mm.src[1] != &glu || !converts_whole_input(mm, kind) || !two_dims(glu) ||
        !f32_rows(g) || !f32_rows(u) || !two_dims(g) || !two_dims(u) || g.ne[0] != glu.ne[0] || u.ne[0] != glu.ne[0] ||
        g.ne[1] != glu.ne[1] || u.ne[1] != glu.ne[1])
        return 0;
    const DType wt = mm.src[0]->type;
    const int64_t K = glu.ne[0], M = glu.ne[1];
    ctx.written(glu.data, glu.n_bytes());
    void *h = conversion_target(ctx, K, M, kind);
    prepare_glu_activations(ctx, wt, static_cast<const uint8_t *>(g.data), static_cast<int64_t>(g.nb[1]),
                            static_cast<const uint8_t *>(u.data), static_cast<int64_t>(u.nb[1]), glu.op == Op::geglu, K,
                            M, h, K, kind);
    note_converted(ctx, wt, static_cast<const uint8_t *>(glu.data), static_cast<int64_t>(glu.nb[1]), K, M, K, kind);
    return 1;
}

// A product that only an add of a residual (or a bias) reads, where the product's kernel
// can add it itself: cuBLAS (beta = 1, onto a copy of a full residual: the add kernel of a
// 7B prompt reads 16 MB and writes 8 MB, twice a layer) or the F16/BF16 matvec (its
// epilogue: an F16 decode step ran 64 add kernels of ~5 us). Returns the nodes covered (0:
// the pattern is not there).
size_t product_into_residual(Context &ctx, const std::vector<Tensor *> &nodes, size_t i) {
    const Tensor &mm = *nodes[i];
    if (mm.op != Op::mul_mat || i + 1 >= nodes.size()) return 0;
    Tensor &add = *nodes[i + 1];
    const Tensor *r = residual_of(mm, add);
    const Tensor &w = *mm.src[0], &x = *mm.src[1];
    if (!r || !two_dims(w) || !two_dims(x) || x.nb[0] != sizeof(float) || w.nb[0] != traits(w.type).block_bytes)
        return 0;
    const int64_t K = w.ne[0], N = w.ne[1], M = x.ne[1];
    const auto *wp = static_cast<const uint8_t *>(w.data), *xp = static_cast<const uint8_t *>(x.data);
    auto *dst = static_cast<float *>(add.data);
    const int64_t ldd = static_cast<int64_t>(add.nb[1] / sizeof(float));
    // The memory planner may give the add's result the bytes of an input whose last reader
    // is this pair: x (the GEMM's copy of the residual, or the F16 kernel's stores, must not
    // overwrite it before it is read: both convert it first then), or the residual at another
    // offset than its own.
    if (r->data != add.data && bytes_overlap(add, *r)) return 0;
    const bool x_clear = !bytes_overlap(add, x);
    switch (product_path(w.type, K, static_cast<int64_t>(w.nb[1]), M)) {
    case ProductPath::gemm: {
        if (!ctx.fuses(Context::kFuseGemmResidual) || r->ne[1] != M || (w.layout != 0 && w.layout != kLayoutPlanar))
            return 0;
        if (!add.is_contiguous()) return 0;
        // x converted first: the residual copy below may then land on x's floats (the
        // planner puts wo's sum on the attention output it reads, in every llama layer).
        const void *xin = gemm_input(ctx, w.type, xp, static_cast<int64_t>(x.nb[1]), K, M);
        if (r->data != add.data)
            CV_CUDA(cudaMemcpy2DAsync(dst, add.nb[1], r->data, r->nb[1], static_cast<size_t>(N) * sizeof(float),
                                      static_cast<size_t>(M), cudaMemcpyDeviceToDevice, ctx.stream));
        gemm_converted(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, xin, M, dst, ldd,
                       w.layout == kLayoutPlanar, true);
        break;
    }
    case ProductPath::matvec_h: {
        ActOut kind{};
        if (w.layout != 0 || !converts_whole_input(mm, kind)) return 0;
        const HInput xh = h_input(ctx, w.type, xp, static_cast<int64_t>(x.nb[1]), K, M, x_clear);
        const int64_t ldr = r->ne[1] == 1 ? 0 : static_cast<int64_t>(r->nb[1] / sizeof(float));
        matvec_h(ctx, w.type, wp, static_cast<int64_t>(w.nb[1]), N, K, xh, M, dst, ldd,
                 static_cast<const float *>(r->data), ldr);
        break;
    }
    default: return 0;
    }
    ctx.written(add.data, add.n_bytes());
    return 2;
}

} // namespace

size_t rope_store_span(const std::vector<Tensor *> &nodes, size_t i, size_t *ks_at) {
    if (i + 1 >= nodes.size() || nodes[i]->op != Op::rope || nodes[i + 1]->op != Op::rope) return 0;
    const size_t ks = next_non_view(nodes, i + 2), vs = ks < nodes.size() ? next_non_view(nodes, ks + 1) : ks;
    if (vs >= nodes.size() || !rope_store_fusable(*nodes[i], *nodes[i + 1], *nodes[ks], *nodes[vs])) return 0;
    if (ks_at) *ks_at = ks;
    return vs + 1 - i;
}

size_t run_fused(Context &ctx, const std::vector<Tensor *> &nodes, size_t i) {
    Tensor &t = *nodes[i];
    if (i + 1 < nodes.size() && rms_norm_mul_fusable(t, *nodes[i + 1])) {
        norm_mul(ctx, nodes, i);
        return 2;
    }
    if (ctx.fuses(Context::kFuseRopeStore)) {
        size_t ks = 0;
        if (const size_t n = rope_store_span(nodes, i, &ks)) {
            const size_t vs = i + n - 1;
            rope_store(ctx, t, *nodes[i + 1], *nodes[ks], *nodes[vs]);
            for (const size_t m : {i, i + 1, ks, vs}) ctx.written(nodes[m]->data, nodes[m]->n_bytes());
            return n;
        }
    }
    const size_t j = next_non_view(nodes, i + 1);
    if (j < nodes.size() && set_rows_pair_fusable(t, *nodes[j])) {
        set_rows_pair(ctx, t, *nodes[j]);
        ctx.written(t.data, t.n_bytes());
        ctx.written(nodes[j]->data, nodes[j]->n_bytes());
        return j + 1 - i;
    }
    if (i + 1 < nodes.size() && rope_pair_fusable(t, *nodes[i + 1])) {
        rope_pair(ctx, t, *nodes[i + 1]);
        ctx.written(t.data, t.n_bytes());
        ctx.written(nodes[i + 1]->data, nodes[i + 1]->n_bytes());
        return 2;
    }
    if (t.op == Op::attention) {
        if (const size_t n = attention_into_conversion(ctx, nodes, i)) return n;
        return attention_into_q8(ctx, nodes, i);
    }
    if (t.op == Op::swiglu || t.op == Op::geglu) return glu_into_conversion(ctx, nodes, i);
    // One-column F16 / BF16 products: q, k and v with their bias adds, or gate and up with
    // the GLU, in one launch (before a lone product with its residual below).
    if (ctx.h_parts && h_matvec_node(t)) {
        if (const size_t n = try_glu(ctx, nodes, i, Family::h)) return n;
        if (const size_t n = try_group(ctx, nodes, i, Family::h)) return n;
    }
    if (const size_t n = product_into_residual(ctx, nodes, i)) return n;
    if (!q8_matvec_node(t) || t.ne[1] == 0) return 0;
    if (const size_t n = try_glu(ctx, nodes, i, Family::q8)) return n;
    return try_group(ctx, nodes, i, Family::q8);
}

} // namespace corvid::cuda
