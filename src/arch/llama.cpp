// llama: Llama 2/3, Mistral, TinyLlama and friends. Pre-norm decoder with RMSNorm,
// RoPE on adjacent pairs, grouped-query attention, SwiGLU feed-forward; the output
// projection may be tied to the token embedding. Llama 3.1's rope_freqs are applied.
// Decoders that differ only in RoPE pairing and projection biases (qwen2) reuse it.
#include "arch/llama_family.h"

#include <cmath>

namespace corvid {
namespace {

class Llama final : public Architecture {
public:
    Llama(const gguf::GgufFile &file, WeightStore &w, const LlamaFamily &fam) {
        layers::read_common_hparams(hp_, file, w, fam.name, "attention.layer_norm_rms_epsilon", fam.neox_rope);
        tok_embd_ = w.get("token_embd.weight", {hp_.n_embd, hp_.n_vocab});
        output_norm_ = w.get("output_norm.weight", {hp_.n_embd});
        output_ = w.find("output.weight", {hp_.n_embd, hp_.n_vocab});
        if (!output_) output_ = tok_embd_; // tied embeddings
        rope_freqs_ = w.find("rope_freqs.weight", {hp_.layers[0].rope.n_dims / 2});
        for (int il = 0; il < hp_.n_layer; ++il) {
            const std::string p = "blk." + std::to_string(il) + ".";
            const int64_t ff = hp_.layers[static_cast<size_t>(il)].n_ff;
            Block b;
            b.attn_norm = w.get(p + "attn_norm.weight", {hp_.n_embd});
            b.attn = layers::load_attention(w, hp_, il, fam.qkv_biases, /*qk_norm=*/false);
            b.ffn_norm = w.get(p + "ffn_norm.weight", {hp_.n_embd});
            b.gate = w.get(p + "ffn_gate.weight", {hp_.n_embd, ff});
            b.up = w.get(p + "ffn_up.weight", {hp_.n_embd, ff});
            b.down = w.get(p + "ffn_down.weight", {ff, hp_.n_embd});
            blocks_.push_back(b);
        }
    }

    Tensor *build(Graph &g, const ForwardInputs &in, KvCache &kv) const override {
        const float kq_scale = 1.0f / std::sqrt(static_cast<float>(hp_.head_dim_k));
        Tensor *x = g.get_rows(tok_embd_, in.tokens);
        for (int il = 0; il < hp_.n_layer; ++il) {
            g.set_layer(il);
            const Block &b = blocks_[static_cast<size_t>(il)];
            Tensor *h = g.mul(g.rms_norm(x, hp_.norm_eps), b.attn_norm);
            x = g.add(x, layers::self_attention(g, hp_, b.attn, il, h, in, kv, 1.0f, kq_scale, rope_freqs_));
            h = g.mul(g.rms_norm(x, hp_.norm_eps), b.ffn_norm);
            x = g.add(x, layers::gated_ffn(g, h, b.gate, b.up, b.down, /*gelu=*/false));
        }
        return layers::output_head(g, hp_, x, in, output_norm_, output_);
    }

private:
    struct Block {
        Tensor *attn_norm, *ffn_norm, *gate, *up, *down;
        layers::AttentionWeights attn;
    };
    Tensor *tok_embd_ = nullptr, *output_norm_ = nullptr, *output_ = nullptr, *rope_freqs_ = nullptr;
    std::vector<Block> blocks_;
};

} // namespace

std::unique_ptr<Architecture> make_llama_family(const gguf::GgufFile &file, WeightStore &w, const LlamaFamily &fam) {
    return std::make_unique<Llama>(file, w, fam);
}

std::unique_ptr<Architecture> make_llama(const gguf::GgufFile &file, WeightStore &w) {
    return make_llama_family(file, w, {"llama", /*neox_rope=*/false, /*qkv_biases=*/false});
}

} // namespace corvid
