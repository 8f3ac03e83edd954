// Small random llama models for the quantizer's tests, generated deterministically (integer
// PRNG, exact float arithmetic) so that scripts/quantize_vs_llamacpp.py can have the test
// binary write the very same files (CORVID_QUANT_EXPORT_DIR) and record what llama.cpp's
// quantizer makes of them; tests/data/quantize/llamacpp.json holds those records.
#pragma once

#include "gguf/gguf_writer.h"
#include "tensor/fp16.h"
#include "util/error.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace corvid::test::qfix {

struct Spec {
    const char *name;
    int64_t n_embd, n_head, n_head_kv, n_layer, n_ff, n_vocab;
    bool tied;        // no output.weight (llama.cpp then treats token_embd as the output)
    DType type;       // of the weight matrices (norms are F32)
};

// "mix": rows of 256, grouped-query attention (n_gqa 4), 8 layers (the "more bits" pattern).
// "fallback": ffn_down rows of 288 (not whole 256-blocks), n_gqa 1, tied embeddings, F32.
inline const std::vector<Spec> &specs() {
    static const std::vector<Spec> s = {
        {"mix", 256, 4, 1, 8, 256, 512, false, DType::F16},
        {"fallback", 256, 2, 2, 2, 288, 512, true, DType::F32},
    };
    return s;
}

inline uint64_t splitmix64(uint64_t &s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

inline uint64_t fnv1a(const std::string &s, uint64_t h = 0xCBF29CE484222325ULL) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ULL;
    return h;
}

// A file fingerprint that numpy computes quickly too (the script's file_hash()):
// sum over bytes of (b_i + 1) * P^(i+1) modulo 2^64, P odd. Not cryptographic; it only has
// to tell our output from llama.cpp's when they differ.
inline uint64_t file_hash(const std::vector<uint8_t> &b) {
    constexpr uint64_t P = 0x100000001B3ULL;
    uint64_t h = 0, pw = 1;
    for (uint8_t c : b) {
        pw *= P;
        h += (static_cast<uint64_t>(c) + 1) * pw;
    }
    return h;
}

// Approximately N(0, scale): a sum of four uniforms in [-0.5, 0.5), each an exact
// multiple of 2^-24, so every platform computes the same floats. Tensor `name` has its own
// stream. A few weights per tensor are made larger (outliers, as real models have).
inline std::vector<float> weights(const std::string &name, int64_t n, float scale) {
    uint64_t s = fnv1a(name);
    std::vector<float> w(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        float acc = 0.0f;
        for (int k = 0; k < 4; ++k) acc += static_cast<float>(splitmix64(s) >> 40) * (1.0f / 16777216.0f) - 0.5f;
        w[static_cast<size_t>(i)] = acc * scale;
        if ((splitmix64(s) & 1023) == 0) w[static_cast<size_t>(i)] *= 8.0f;
    }
    return w;
}

// A SentencePiece vocabulary of n tokens: <unk> <s> </s>, 256 byte tokens, then pieces.
inline void add_vocab(gguf::GgufWriter &w, int64_t n) {
    std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    char buf[16];
    for (int b = 0; b < 256; ++b) {
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        toks.push_back(buf);
        types.push_back(6);
    }
    std::set<std::string> seen(toks.begin(), toks.end());
    const std::string sp = "\xE2\x96\x81"; // U+2581, SentencePiece's space
    const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
    auto push = [&](const std::string &t) {
        if (static_cast<int64_t>(toks.size()) < n && seen.insert(t).second) {
            toks.push_back(t);
            types.push_back(1);
        }
    };
    push(sp);
    for (char c : letters) push(sp + c);
    for (char c : letters) push(std::string(1, c));
    for (int c = 33; c < 127; ++c) push(std::string(1, static_cast<char>(c)));
    for (char a : letters)
        for (char b : letters) {
            push(std::string(1, a) + b);
            push(sp + a + b);
        }
    if (static_cast<int64_t>(toks.size()) != n) fail(Status::internal, "fixture vocabulary: %zu tokens", toks.size());
    std::vector<float> scores(toks.size());
    for (size_t i = 0; i < toks.size(); ++i) scores[i] = i < 259 ? 0.0f : -static_cast<float>(i - 259);
    w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
    w.set("tokenizer.ggml.tokens", gguf::Value::string_array(toks));
    w.set("tokenizer.ggml.scores", gguf::Value::array_of(gguf::ValueType::FLOAT32, scores));
    w.set("tokenizer.ggml.token_type", gguf::Value::array_of(gguf::ValueType::INT32, types));
    w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
    w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));
    w.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(0));
    w.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(true));
}

struct FixtureTensor {
    std::string name;
    std::vector<int64_t> ne;
    bool matrix;
};

// The tensors in a converter's order (embeddings, layer by layer, output).
inline std::vector<FixtureTensor> tensor_list(const Spec &s) {
    const int64_t hd = s.n_embd / s.n_head, kv = hd * s.n_head_kv;
    std::vector<FixtureTensor> t = {{"token_embd.weight", {s.n_embd, s.n_vocab}, true}};
    for (int64_t l = 0; l < s.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        t.push_back({p + "attn_norm.weight", {s.n_embd}, false});
        t.push_back({p + "attn_q.weight", {s.n_embd, s.n_embd}, true});
        t.push_back({p + "attn_k.weight", {s.n_embd, kv}, true});
        t.push_back({p + "attn_v.weight", {s.n_embd, kv}, true});
        t.push_back({p + "attn_output.weight", {s.n_embd, s.n_embd}, true});
        t.push_back({p + "ffn_norm.weight", {s.n_embd}, false});
        t.push_back({p + "ffn_gate.weight", {s.n_embd, s.n_ff}, true});
        t.push_back({p + "ffn_up.weight", {s.n_embd, s.n_ff}, true});
        t.push_back({p + "ffn_down.weight", {s.n_ff, s.n_embd}, true});
    }
    t.push_back({"output_norm.weight", {s.n_embd}, false});
    if (!s.tied) t.push_back({"output.weight", {s.n_embd, s.n_vocab}, true});
    return t;
}

// The float values of a fixture tensor (what the file holds, before any rounding to F16).
inline std::vector<float> tensor_values(const FixtureTensor &t) {
    int64_t n = 1;
    for (int64_t d : t.ne) n *= d;
    if (!t.matrix) {
        std::vector<float> v = weights(t.name, n, 0.125f);
        for (float &x : v) x += 1.0f;
        return v;
    }
    return weights(t.name, n, 0.05f);
}

inline void write_fixture(const Spec &s, const std::string &path) {
    gguf::GgufWriter w;
    w.set("general.architecture", gguf::Value::string("llama"));
    w.set("general.type", gguf::Value::string("model"));
    w.set("general.name", gguf::Value::string(std::string("corvid quantize fixture ") + s.name));
    w.set("llama.block_count", gguf::Value::u32(static_cast<uint32_t>(s.n_layer)));
    w.set("llama.context_length", gguf::Value::u32(256));
    w.set("llama.embedding_length", gguf::Value::u32(static_cast<uint32_t>(s.n_embd)));
    w.set("llama.feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(s.n_ff)));
    w.set("llama.attention.head_count", gguf::Value::u32(static_cast<uint32_t>(s.n_head)));
    w.set("llama.attention.head_count_kv", gguf::Value::u32(static_cast<uint32_t>(s.n_head_kv)));
    w.set("llama.rope.freq_base", gguf::Value::f32(10000.0f));
    w.set("llama.attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-5f));
    w.set("general.file_type", gguf::Value::u32(s.type == DType::F16 ? 1 : 0));
    w.set("llama.vocab_size", gguf::Value::u32(static_cast<uint32_t>(s.n_vocab)));
    w.set("llama.rope.dimension_count", gguf::Value::u32(static_cast<uint32_t>(s.n_embd / s.n_head)));
    add_vocab(w, s.n_vocab);
    const auto list = tensor_list(s);
    for (const auto &t : list) w.add_tensor(t.name, t.matrix ? s.type : DType::F32, t.ne);
    w.write(path, [&](size_t i, const gguf::TensorInfo &info, uint8_t *dst) {
        const std::vector<float> v = tensor_values(list[i]);
        if (info.type == DType::F16) {
            for (size_t k = 0; k < v.size(); ++k) {
                const uint16_t h = fp32_to_fp16(v[k]);
                std::memcpy(dst + 2 * k, &h, 2);
            }
        } else {
            std::memcpy(dst, v.data(), v.size() * sizeof(float));
        }
    });
}

} // namespace corvid::test::qfix
