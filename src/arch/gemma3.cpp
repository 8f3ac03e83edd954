// gemma3: Gemma 3. Embeddings scaled by sqrt(n_embd); per-head RMS norm on Q and K;
// five sliding-window layers (local RoPE base 10000, window from the GGUF) for each
// global one (the model's RoPE base and scaling); extra RMS norms after attention and
// after the feed-forward; GEGLU with tanh GELU; Q scaled by 1/sqrt(head size) before
// attention; output tied to the embedding. (The norm weights in GGUF already include
// Gemma's +1.)
#include "arch/layers.h"

#include <cmath>

namespace corvid {
namespace {

constexpr int kSwaPattern = 6;          // every 6th layer is global, as llama.cpp reads Gemma 3
constexpr float kLocalRopeBase = 10000.0f;

class Gemma3 final : public Architecture {
public:
    Gemma3(const gguf::GgufFile &file, WeightStore &w) {
        layers::read_common_hparams(hp_, file, w, "gemma3", "attention.layer_norm_rms_epsilon", /*neox=*/true);
        MetaReader meta(file, "gemma3");
        hp_.swa_window = static_cast<uint32_t>(meta.get_int("attention.sliding_window"));
        for (size_t il = 0; il < hp_.layers.size(); ++il) {
            LayerHParams &lp = hp_.layers[il];
            lp.sliding = (il + 1) % kSwaPattern != 0;
            if (lp.sliding) {
                lp.rope.freq_base = kLocalRopeBase;
                lp.rope.freq_scale = 1.0f;
                lp.rope.ext_factor = 0.0f;
            }
        }
        tok_embd_ = w.get("token_embd.weight", {hp_.n_embd, hp_.n_vocab});
        output_norm_ = w.get("output_norm.weight", {hp_.n_embd});
        output_ = w.find("output.weight", {hp_.n_embd, hp_.n_vocab});
        if (!output_) output_ = tok_embd_;
        for (int il = 0; il < hp_.n_layer; ++il) {
            const std::string p = "blk." + std::to_string(il) + ".";
            const int64_t ff = hp_.layers[static_cast<size_t>(il)].n_ff;
            Block b;
            b.attn_norm = w.get(p + "attn_norm.weight", {hp_.n_embd});
            b.attn = layers::load_attention(w, hp_, il, /*biases=*/false, /*qk_norm=*/true);
            b.post_attn_norm = w.get(p + "post_attention_norm.weight", {hp_.n_embd});
            b.ffn_norm = w.get(p + "ffn_norm.weight", {hp_.n_embd});
            b.gate = w.get(p + "ffn_gate.weight", {hp_.n_embd, ff});
            b.up = w.get(p + "ffn_up.weight", {hp_.n_embd, ff});
            b.down = w.get(p + "ffn_down.weight", {ff, hp_.n_embd});
            b.post_ffn_norm = w.get(p + "post_ffw_norm.weight", {hp_.n_embd});
            blocks_.push_back(b);
        }
    }

    Tensor *build(Graph &g, const ForwardInputs &in, KvCache &kv) const override {
        const float q_scale = 1.0f / std::sqrt(static_cast<float>(hp_.head_dim_k));
        Tensor *x = g.scale(g.get_rows(tok_embd_, in.tokens), std::sqrt(static_cast<float>(hp_.n_embd)));
        for (int il = 0; il < hp_.n_layer; ++il) {
            g.set_layer(il);
            const Block &b = blocks_[static_cast<size_t>(il)];
            Tensor *h = g.mul(g.rms_norm(x, hp_.norm_eps), b.attn_norm);
            Tensor *a = layers::self_attention(g, hp_, b.attn, il, h, in, kv, q_scale, 1.0f);
            x = g.add(g.mul(g.rms_norm(a, hp_.norm_eps), b.post_attn_norm), x);
            h = g.mul(g.rms_norm(x, hp_.norm_eps), b.ffn_norm);
            Tensor *f = layers::gated_ffn(g, h, b.gate, b.up, b.down, /*gelu=*/true);
            x = g.add(g.mul(g.rms_norm(f, hp_.norm_eps), b.post_ffn_norm), x);
        }
        return layers::output_head(g, hp_, x, in, output_norm_, output_);
    }

private:
    struct Block {
        Tensor *attn_norm, *post_attn_norm, *ffn_norm, *post_ffn_norm, *gate, *up, *down;
        layers::AttentionWeights attn;
    };
    Tensor *tok_embd_ = nullptr, *output_norm_ = nullptr, *output_ = nullptr;
    std::vector<Block> blocks_;
};

} // namespace

std::unique_ptr<Architecture> make_gemma3(const gguf::GgufFile &file, WeightStore &w) {
    return std::make_unique<Gemma3>(file, w);
}

} // namespace corvid
