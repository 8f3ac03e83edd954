#include "arch/layers.h"

#include "util/error.h"

#include <cmath>

namespace corvid::layers {

void read_common_hparams(HParams &hp, const gguf::GgufFile &file, WeightStore &w, const std::string &arch,
                         const char *eps_key, bool neox) {
    MetaReader meta(file, arch);
    const char *path = file.path().c_str();
    hp.arch = arch;
    hp.n_embd = meta.get_int("embedding_length");
    hp.n_layer = meta.get_int("block_count");
    hp.n_ctx_train = meta.get_int("context_length");
    if (hp.n_embd <= 0 || hp.n_embd > (1 << 20)) fail(Status::format, "%s: %s.embedding_length = %lld is out of range", path, arch.c_str(), static_cast<long long>(hp.n_embd));
    if (hp.n_layer <= 0 || hp.n_layer > 4096) fail(Status::format, "%s: %s.block_count = %lld is out of range", path, arch.c_str(), static_cast<long long>(hp.n_layer));
    if (hp.n_ctx_train <= 0) fail(Status::format, "%s: %s.context_length must be positive", path, arch.c_str());

    const size_t nl = static_cast<size_t>(hp.n_layer);
    const auto n_head = meta.get_per_layer("attention.head_count", nl);
    const auto n_head_kv = meta.has("attention.head_count_kv") ? meta.get_per_layer("attention.head_count_kv", nl) : n_head;
    const auto n_ff = meta.get_per_layer("feed_forward_length", nl);
    if (n_head[0] <= 0) fail(Status::format, "%s: %s.attention.head_count must be positive", path, arch.c_str());
    hp.head_dim_k = meta.get_int("attention.key_length", hp.n_embd / n_head[0]);
    hp.head_dim_v = meta.get_int("attention.value_length", hp.head_dim_k);
    if (hp.head_dim_k <= 0 || hp.head_dim_v <= 0 || hp.head_dim_k > 4096 || hp.head_dim_v > 4096)
        fail(Status::format, "%s: head sizes %lld/%lld are out of range", path, static_cast<long long>(hp.head_dim_k),
             static_cast<long long>(hp.head_dim_v));
    hp.norm_eps = meta.get_float(eps_key);

    RopeParams rope;
    rope.neox = neox;
    rope.n_dims = static_cast<int32_t>(meta.get_int("rope.dimension_count", hp.head_dim_k));
    if (rope.n_dims <= 0 || rope.n_dims > hp.head_dim_k || rope.n_dims % 2)
        fail(Status::format, "%s: %s.rope.dimension_count = %d does not fit the head size %lld", path, arch.c_str(),
             rope.n_dims, static_cast<long long>(hp.head_dim_k));
    rope.freq_base = meta.get_float("rope.freq_base", 10000.0f);
    const std::string scaling = meta.get_string("rope.scaling.type", "");
    float factor = meta.get_float("rope.scaling.factor", 0.0f);
    if (factor == 0.0f) factor = meta.get_float("rope.scale_linear", 1.0f);
    if (scaling == "" || scaling == "none") {
        if (scaling == "none") factor = 1.0f;
    } else if (scaling != "linear" && scaling != "yarn") {
        fail(Status::unsupported, "%s: %s.rope.scaling.type '%s' is not supported (none, linear, yarn)", path,
             arch.c_str(), scaling.c_str());
    }
    if (!(factor > 0.0f)) fail(Status::format, "%s: RoPE scaling factor %g must be positive", path, factor);
    rope.freq_scale = 1.0f / factor;
    rope.n_ctx_orig = static_cast<int32_t>(meta.get_int("rope.scaling.original_context_length", hp.n_ctx_train));
    if (scaling == "yarn") {
        rope.ext_factor = 1.0f;
        rope.attn_factor = meta.get_float("rope.scaling.attn_factor", 1.0f);
        rope.beta_fast = meta.get_float("rope.scaling.yarn_beta_fast", 32.0f);
        rope.beta_slow = meta.get_float("rope.scaling.yarn_beta_slow", 1.0f);
    }

    hp.layers.resize(nl);
    for (size_t l = 0; l < nl; ++l) {
        LayerHParams &lp = hp.layers[l];
        lp.n_head = n_head[l];
        lp.n_head_kv = n_head_kv[l];
        lp.n_ff = n_ff[l];
        lp.rope = rope;
        if (lp.n_head <= 0 || lp.n_head_kv <= 0 || lp.n_head % lp.n_head_kv != 0 || lp.n_ff <= 0)
            fail(Status::format, "%s: layer %zu: %lld heads, %lld KV heads and feed-forward %lld do not fit together",
                 path, l, static_cast<long long>(lp.n_head), static_cast<long long>(lp.n_head_kv),
                 static_cast<long long>(lp.n_ff));
    }

    const Tensor *emb = w.peek("token_embd.weight");
    if (!emb) fail(Status::format, "%s: the model has no tensor 'token_embd.weight'", path);
    hp.n_vocab = emb->ne[1];
    w.get("token_embd.weight", {hp.n_embd, hp.n_vocab}); // checks the shape and type
}

AttentionWeights load_attention(WeightStore &w, const HParams &hp, int il, bool biases, bool qk_norm) {
    const LayerHParams &lp = hp.layers[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    const int64_t nq = hp.head_dim_k * lp.n_head, nk = hp.head_dim_k * lp.n_head_kv, nv = hp.head_dim_v * lp.n_head_kv;
    AttentionWeights a;
    a.wq = w.get(p + "attn_q.weight", {hp.n_embd, nq});
    a.wk = w.get(p + "attn_k.weight", {hp.n_embd, nk});
    a.wv = w.get(p + "attn_v.weight", {hp.n_embd, nv});
    a.wo = w.get(p + "attn_output.weight", {hp.head_dim_v * lp.n_head, hp.n_embd});
    if (biases) {
        a.bq = w.get(p + "attn_q.bias", {nq});
        a.bk = w.get(p + "attn_k.bias", {nk});
        a.bv = w.get(p + "attn_v.bias", {nv});
    }
    a.bo = w.find(p + "attn_output.bias", {hp.n_embd});
    if (qk_norm) {
        a.q_norm = w.get(p + "attn_q_norm.weight", {hp.head_dim_k});
        a.k_norm = w.get(p + "attn_k_norm.weight", {hp.head_dim_k});
    }
    return a;
}

namespace {
Tensor *linear(Graph &g, Tensor *w, Tensor *b, Tensor *x) {
    Tensor *y = g.mul_mat(w, x);
    return b ? g.add(y, b) : y;
}
} // namespace

Tensor *self_attention(Graph &g, const HParams &hp, const AttentionWeights &aw, int il, Tensor *h,
                       const ForwardInputs &in, KvCache &kv, float q_scale, float kq_scale, Tensor *rope_freqs) {
    const LayerHParams &lp = hp.layers[static_cast<size_t>(il)];
    const int64_t n = in.n_tokens, dk = hp.head_dim_k, dv = hp.head_dim_v;
    Tensor *q = g.reshape(linear(g, aw.wq, aw.bq, h), {dk, lp.n_head, n});
    Tensor *k = g.reshape(linear(g, aw.wk, aw.bk, h), {dk, lp.n_head_kv, n});
    Tensor *v = g.reshape(linear(g, aw.wv, aw.bv, h), {dv, lp.n_head_kv, n});
    if (aw.q_norm) q = g.mul(g.rms_norm(q, hp.norm_eps), aw.q_norm);
    if (aw.k_norm) k = g.mul(g.rms_norm(k, hp.norm_eps), aw.k_norm);
    q = g.rope(q, in.pos, lp.rope, rope_freqs);
    k = g.rope(k, in.pos, lp.rope, rope_freqs);
    if (q_scale != 1.0f) q = g.scale(q, q_scale);

    Tensor *kc = g.set_rows(kv.k(static_cast<size_t>(il)), g.reshape(k, {dk * lp.n_head_kv, n}), in.kv_idx);
    Tensor *vc = g.set_rows(kv.v(static_cast<size_t>(il)), g.reshape(v, {dv * lp.n_head_kv, n}), in.kv_idx);
    const size_t esz = traits(kv.type()).block_bytes;
    Tensor *kview = g.view(kc, {dk, in.n_kv, lp.n_head_kv}, {kc->nb[1], static_cast<size_t>(dk) * esz}, 0);
    Tensor *vview = g.view(vc, {dv, in.n_kv, lp.n_head_kv}, {vc->nb[1], static_cast<size_t>(dv) * esz}, 0);
    Tensor *mask = lp.sliding ? in.mask_swa : in.mask;
    Tensor *att = g.attention(q, kview, vview, mask, kq_scale);
    return linear(g, aw.wo, aw.bo, g.reshape(att, {dv * lp.n_head, n}));
}

Tensor *gated_ffn(Graph &g, Tensor *h, Tensor *gate, Tensor *up, Tensor *down, bool gelu) {
    Tensor *gt = g.mul_mat(gate, h);
    Tensor *u = g.mul_mat(up, h);
    return g.mul_mat(down, gelu ? g.geglu(gt, u) : g.swiglu(gt, u));
}

Tensor *output_head(Graph &g, const HParams &hp, Tensor *x, const ForwardInputs &in, Tensor *norm, Tensor *out) {
    g.set_layer(static_cast<int32_t>(hp.n_layer));
    x = g.get_rows(x, in.out_ids);
    x = g.mul(g.rms_norm(x, hp.norm_eps), norm);
    Tensor *logits = g.mul_mat(out, x);
    g.mark_output(logits);
    return logits;
}

} // namespace corvid::layers
