// recipe.h: per-tensor type choice, following llama.cpp's quantizer rule by rule.
#include "quantize/recipe.h"

#include "util/error.h"

#include <algorithm>
#include <cctype>
#include <climits>

namespace corvid::quant {
namespace {

const std::vector<FTypeInfo> kFTypes = {
    {FType::MOSTLY_Q4_0, "Q4_0", DType::Q4_0, "4.5 bpw, legacy"},
    {FType::MOSTLY_Q4_1, "Q4_1", DType::Q4_1, "5.0 bpw, legacy"},
    {FType::MOSTLY_Q5_0, "Q5_0", DType::Q5_0, "5.5 bpw, legacy"},
    {FType::MOSTLY_Q5_1, "Q5_1", DType::Q5_1, "6.0 bpw, legacy"},
    {FType::MOSTLY_IQ4_NL, "IQ4_NL", DType::IQ4_NL, "4.5 bpw non-linear"},
    {FType::MOSTLY_IQ4_XS, "IQ4_XS", DType::IQ4_XS, "4.25 bpw non-linear"},
    {FType::MOSTLY_Q2_K, "Q2_K", DType::Q2_K, "mix around Q2_K"},
    {FType::MOSTLY_Q3_K_S, "Q3_K_S", DType::Q3_K, "mix around Q3_K, small"},
    {FType::MOSTLY_Q3_K_M, "Q3_K_M", DType::Q3_K, "mix around Q3_K, medium"},
    {FType::MOSTLY_Q3_K_L, "Q3_K_L", DType::Q3_K, "mix around Q3_K, large"},
    {FType::MOSTLY_Q4_K_S, "Q4_K_S", DType::Q4_K, "mix around Q4_K, small"},
    {FType::MOSTLY_Q4_K_M, "Q4_K_M", DType::Q4_K, "mix around Q4_K, medium (the usual choice)"},
    {FType::MOSTLY_Q5_K_S, "Q5_K_S", DType::Q5_K, "mix around Q5_K, small"},
    {FType::MOSTLY_Q5_K_M, "Q5_K_M", DType::Q5_K, "mix around Q5_K, medium"},
    {FType::MOSTLY_Q6_K, "Q6_K", DType::Q6_K, "6.56 bpw"},
    {FType::MOSTLY_Q8_0, "Q8_0", DType::Q8_0, "8.5 bpw"},
    {FType::MOSTLY_F16, "F16", DType::F16, "16 bpw"},
    {FType::MOSTLY_BF16, "BF16", DType::BF16, "16 bpw, bfloat16"},
    {FType::ALL_F32, "F32", DType::F32, "32 bpw"},
};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

bool ends_with(std::string_view s, std::string_view end) {
    return s.size() >= end.size() && s.substr(s.size() - end.size()) == end;
}

// The layer of "blk.N...." as C's sscanf("blk.%d.") reads it; -1 when there is none.
int layer_of(std::string_view name) {
    if (name.substr(0, 4) != "blk.") return -1;
    size_t i = 4;
    while (i < name.size() && std::isspace(static_cast<unsigned char>(name[i]))) ++i;
    bool neg = false;
    if (i < name.size() && (name[i] == '+' || name[i] == '-')) neg = name[i++] == '-';
    if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
    long long v = 0;
    for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i)
        v = std::min<long long>(v * 10 + (name[i] - '0'), INT_MAX);
    return static_cast<int>(neg ? -v : v);
}

// llama.cpp's "use more bits" rule: the first and last eighth of the layers, and every
// third layer in between.
bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

bool is_attn_v_like(Category c) {
    return c == Category::attn_v || c == Category::attn_qkv || c == Category::attn_kv_b;
}

// Substrings that exclude a weight from quantization (small or sensitive matrices of
// various architectures), as in llama.cpp.
const char *const kNeverQuantize[] = {
    "_norm.weight",          // norms
    "ffn_gate_inp.weight",   // MoE routers
    "ffn_gate_tid2eid.weight",
    "altup", "laurel",       // gemma3n's tiny matrices
    "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight",
    "indexer.k_proj.weight", "indexer.q_proj.weight",
    "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
    "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
    "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
    "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",     // T5 relative position bias
    ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
    "a.rvq.codebook", "mm.a.code_embd",
};

} // namespace

const std::vector<FTypeInfo> &ftype_table() { return kFTypes; }

const FTypeInfo *ftype_info(int32_t ftype) {
    for (const auto &f : kFTypes)
        if (static_cast<int32_t>(f.ftype) == ftype) return &f;
    return nullptr;
}

std::optional<FType> ftype_from_name(std::string_view name) {
    for (const auto &f : kFTypes)
        if (iequals(name, f.name)) return f.ftype;
    if (iequals(name, "Q3_K")) return FType::MOSTLY_Q3_K_M;
    if (iequals(name, "Q4_K")) return FType::MOSTLY_Q4_K_M;
    if (iequals(name, "Q5_K")) return FType::MOSTLY_Q5_K_M;
    return std::nullopt;
}

std::string ftype_names() {
    std::string s;
    for (const auto &f : kFTypes) {
        if (!s.empty()) s += ", ";
        s += f.name;
    }
    return s;
}

bool is_quantized(DType t) { return traits(t).block_size > 1; }

Category categorize(std::string_view n) {
    if (n == "output.weight") return Category::output;
    if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Category::token_embd;
    if (contains(n, "attn_qkv.weight")) return Category::attn_qkv;
    if (contains(n, "attn_kv_b.weight")) return Category::attn_kv_b;
    if (contains(n, "attn_v.weight")) return Category::attn_v;
    if (contains(n, "attn_k.weight")) return Category::attn_k;
    if (contains(n, "attn_q.weight")) return Category::attn_q;
    if (contains(n, "attn_output.weight")) return Category::attn_output;
    if (contains(n, "ffn_up")) return Category::ffn_up;
    if (contains(n, "ffn_gate")) return Category::ffn_gate;
    if (contains(n, "ffn_down")) return Category::ffn_down;
    return Category::other;
}

int effective_dims(const int64_t ne[4]) {
    for (int d = 3; d >= 1; --d)
        if (ne[d] > 1) return d + 1;
    return 1;
}

bool allows_quantization(std::string_view name, const int64_t ne[4], const std::string &arch) {
    if (effective_dims(ne) < 2) return false;
    if (!ends_with(name, "weight")) return false;
    for (const char *s : kNeverQuantize)
        if (contains(name, s)) return false;
    // BERT-style positional and token-type embeddings (LLM_TENSOR_POS_EMBD / TOKEN_TYPES).
    (void)arch; // their names do not depend on the architecture
    if (name == "position_embd.weight" || name == "token_types.weight") return false;
    return true;
}

std::vector<size_t> llama_order(const std::vector<std::string> &names) {
    std::vector<size_t> idx(names.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::vector<int> layer(names.size());
    for (size_t i = 0; i < names.size(); ++i) layer[i] = layer_of(names[i]);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
        if (layer[a] != layer[b]) return layer[a] < layer[b];
        return names[a] < names[b];
    });
    return idx;
}

Recipe::Recipe(const ModelFacts &facts, RecipeOptions options, const std::vector<std::string> &names)
    : facts_(facts), opt_(std::move(options)) {
    const FTypeInfo *info = ftype_info(static_cast<int32_t>(opt_.ftype));
    if (!info) fail(Status::invalid_argument, "file type %d is not one Corvid can quantize to", static_cast<int>(opt_.ftype));
    base_ = info->base;
    for (const auto &n : names) {
        const Category c = categorize(n);
        if (is_attn_v_like(c)) ++n_attention_wv_;
        if (c == Category::output) tied_embeddings_ = false;
    }
}

DType Recipe::fallback(const std::string &name, int64_t ncols, DType t, std::string &note) {
    const int64_t bs = traits(t).block_size;
    if (ncols % bs == 0) return t;
    ++n_fallback_;
    DType r;
    switch (t) {
    case DType::IQ1_S: case DType::IQ1_M: case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S:
    case DType::IQ3_XXS: case DType::IQ3_S: case DType::IQ4_XS: r = DType::IQ4_NL; break;
    case DType::Q2_K: case DType::Q3_K: case DType::TQ1_0: case DType::TQ2_0: r = DType::Q4_0; break;
    case DType::Q4_K: r = DType::Q5_0; break;
    case DType::Q5_K: r = DType::Q5_1; break;
    case DType::Q6_K: r = DType::Q8_0; break;
    default: r = DType::F16; break; // the 32-element block types: nothing smaller to go to
    }
    if (ncols % traits(r).block_size != 0) r = DType::F16;
    note = strfmt("%s: rows of %lld elements are not whole %s blocks of %lld; using %s instead", name.c_str(),
                  static_cast<long long>(ncols), dtype_name(t), static_cast<long long>(bs), dtype_name(r));
    return r;
}

DType Recipe::mix_type(const std::string &name, Category cat, DType t, const int64_t ne[4]) {
    const FType f = opt_.ftype;
    const bool falcon = facts_.arch == "falcon";
    const int64_t gqa = facts_.n_gqa();
    auto layer_info = [&](int counter) {
        int i_layer = counter;
        const int n_layer = static_cast<int>(facts_.n_layer);
        if (facts_.n_expert > 1) {
            // MoE models do not list experts' tensors in layer order: read the layer from the name.
            i_layer = layer_of(name);
            if (name.substr(0, 4) != "blk." || i_layer < 0 || i_layer >= n_layer)
                fail(Status::format, "tensor '%s': cannot tell its layer (the model has %d)", name.c_str(), n_layer);
        }
        return std::make_pair(i_layer, n_layer);
    };

    if (cat == Category::output || (tied_embeddings_ && cat == Category::token_embd)) {
        if (opt_.output_tensor_type) return *opt_.output_tensor_type;
        if (falcon || ne[0] % traits(t).block_size != 0) return DType::Q8_0;
        if (t != DType::Q8_0) return DType::Q6_K;
        return t;
    }
    if (cat == Category::token_embd) {
        if (opt_.token_embedding_type) return *opt_.token_embedding_type;
        return t; // the recipes Corvid offers keep the base type for untied embeddings
    }
    if (is_attn_v_like(cat)) {
        if (f == FType::MOSTLY_Q2_K) t = gqa >= 4 ? DType::Q4_K : DType::Q3_K;
        else if (f == FType::MOSTLY_Q3_K_M) t = i_attention_wv_ < 2 ? DType::Q5_K : DType::Q4_K;
        else if (f == FType::MOSTLY_Q3_K_L) t = DType::Q5_K;
        else if ((f == FType::MOSTLY_IQ4_NL || f == FType::MOSTLY_IQ4_XS) && gqa >= 4) t = DType::Q5_K;
        else if ((f == FType::MOSTLY_Q4_K_M || f == FType::MOSTLY_Q5_K_M) &&
                 use_more_bits(i_attention_wv_, n_attention_wv_))
            t = DType::Q6_K;
        else if (f == FType::MOSTLY_Q4_K_S && i_attention_wv_ < 4) t = DType::Q5_K;
        // 70B llama: eight heads share each attn_v, so it is small and worth more bits.
        if (facts_.is_70b && (t == DType::Q3_K || t == DType::Q4_K)) t = DType::Q5_K;
        if (facts_.n_expert == 8) t = DType::Q8_0;
        ++i_attention_wv_;
        return t;
    }
    if (cat == Category::attn_k) {
        if (facts_.n_expert == 8) t = DType::Q8_0;
        return t;
    }
    if (cat == Category::ffn_down) {
        const auto [i, n] = layer_info(i_ffn_down_);
        if (f == FType::MOSTLY_Q2_K) t = DType::Q3_K;
        else if (f == FType::MOSTLY_Q3_K_M)
            t = i < n / 16 ? DType::Q5_K : (!falcon || use_more_bits(i, n)) ? DType::Q4_K : DType::Q3_K;
        else if (f == FType::MOSTLY_Q3_K_L) t = falcon ? DType::Q4_K : DType::Q5_K;
        else if (f == FType::MOSTLY_Q4_K_M) {
            if (falcon) t = i < n / 16 ? DType::Q6_K : use_more_bits(i, n) ? DType::Q5_K : DType::Q4_K;
            else if (use_more_bits(i, n)) t = DType::Q6_K;
        } else if (i < n / 8 && (f == FType::MOSTLY_IQ4_NL || f == FType::MOSTLY_IQ4_XS) && !opt_.has_imatrix) {
            t = DType::Q5_K;
        } else if (f == FType::MOSTLY_Q5_K_M && use_more_bits(i, n)) t = DType::Q6_K;
        else if (f == FType::MOSTLY_Q4_K_S && !falcon && i < n / 8) t = DType::Q5_K;
        else if ((f == FType::MOSTLY_Q4_0 || f == FType::MOSTLY_Q5_0) && opt_.has_imatrix && i < n / 8) {
            // With an importance matrix only (so that files made without one do not change).
            t = f == FType::MOSTLY_Q4_0 ? DType::Q4_1 : DType::Q5_1;
        }
        ++i_ffn_down_;
        return t;
    }
    if (cat == Category::attn_output) {
        if (!falcon) {
            if (facts_.n_expert == 8) {
                if (f == FType::MOSTLY_Q2_K || f == FType::MOSTLY_Q3_K_S || f == FType::MOSTLY_Q3_K_M ||
                    f == FType::MOSTLY_IQ4_NL || f == FType::MOSTLY_Q4_K_S || f == FType::MOSTLY_Q4_K_M ||
                    f == FType::MOSTLY_IQ4_XS)
                    t = DType::Q5_K;
            } else {
                if (f == FType::MOSTLY_Q2_K) t = DType::Q3_K;
                else if (f == FType::MOSTLY_Q3_K_M) t = DType::Q4_K;
                else if (f == FType::MOSTLY_Q3_K_L) t = DType::Q5_K;
            }
        } else if (f == FType::MOSTLY_Q3_K_L) {
            t = DType::Q4_K;
        }
        return t;
    }
    if (cat == Category::ffn_gate) {
        ++i_ffn_gate_; // (the rules for this role concern IQ3 mixes only)
        return t;
    }
    if (cat == Category::ffn_up) {
        ++i_ffn_up_;
        return t;
    }
    return t;
}

TensorChoice Recipe::choose(const std::string &name, DType current, const int64_t ne[4]) {
    TensorChoice c{current, false, {}};
    if (!allows_quantization(name, ne, facts_.arch)) return c;
    c.quantizable = true;
    const Category cat = categorize(name);
    if (opt_.token_embedding_type && cat == Category::token_embd) {
        c.type = *opt_.token_embedding_type;
        return c;
    }
    if (opt_.output_tensor_type && cat == Category::output) {
        c.type = *opt_.output_tensor_type;
        return c;
    }
    DType t = base_;
    if (is_quantized(base_)) {
        bool manual = false;
        for (const auto &o : opt_.overrides) {
            if (std::regex_search(name, o.re)) {
                if (o.type != t) c.note = strfmt("%s: --tensor-type %s: %s -> %s", name.c_str(), o.pattern.c_str(),
                                                 dtype_name(t), dtype_name(o.type));
                t = o.type;
                manual = true;
                break;
            }
        }
        if (!manual && !opt_.pure) t = mix_type(name, cat, t, ne);
        std::string fb;
        t = fallback(name, ne[0], t, fb);
        if (!fb.empty()) c.note = c.note.empty() ? fb : c.note + "; " + fb;
    }
    c.type = t;
    return c;
}

} // namespace corvid::quant
