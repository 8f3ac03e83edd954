// Pieces shared by the decoder-only architectures: reading the common hyperparameters,
// attention over the KV cache, and the gated feed-forward block.
#pragma once

#include "arch/arch.h"

namespace corvid::layers {

// Fills the fields every decoder reads the same way: vocabulary size (from the token
// embedding), embedding length, layer count, context, heads, feed-forward lengths,
// head sizes, norm epsilon (`eps_key`), and RoPE (dimension count, base, linear or
// YaRN scaling). Per-layer rope.neox is set to `neox`.
void read_common_hparams(HParams &hp, const gguf::GgufFile &file, WeightStore &w, const std::string &arch,
                         const char *eps_key, bool neox);

// Projections of one attention layer.
struct AttentionWeights {
    Tensor *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
    Tensor *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr; // optional biases
    Tensor *q_norm = nullptr, *k_norm = nullptr;                       // optional per-head RMS norms
};

AttentionWeights load_attention(WeightStore &w, const HParams &hp, int il, bool biases, bool qk_norm);

// Self-attention of layer il for input h [n_embd, n_tokens]: projections, optional
// QK norm, RoPE, `q_scale` applied to Q after RoPE, the KV-cache write, attention
// with `kq_scale`, and the output projection. Returns [n_embd, n_tokens].
Tensor *self_attention(Graph &g, const HParams &hp, const AttentionWeights &aw, int il, Tensor *h,
                       const ForwardInputs &in, KvCache &kv, float q_scale, float kq_scale,
                       Tensor *rope_freqs = nullptr);

// down(act(gate(h)) * up(h)), act = SiLU (swiglu) or tanh-GELU (geglu).
Tensor *gated_ffn(Graph &g, Tensor *h, Tensor *gate, Tensor *up, Tensor *down, bool gelu);

// The output head: select the wanted rows, final norm, projection to the vocabulary.
Tensor *output_head(Graph &g, const HParams &hp, Tensor *x, const ForwardInputs &in, Tensor *norm, Tensor *out);

} // namespace corvid::layers
