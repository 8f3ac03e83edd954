// Tiny random-weight models, built exactly as scripts/tiny_models.py builds them (same
// splitmix64 stream, same float32 steps), so the reference engine's outputs recorded
// by the script apply to the file rebuilt here.
#pragma once

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

#include <string>
#include <vector>

namespace corvid::test {

inline std::vector<float> random_tensor(uint64_t seed, size_t n, float scale, float offset) {
    std::vector<float> out(n);
    uint64_t state = seed;
    for (size_t i = 0; i < n; ++i) {
        state += 0x9E3779B97F4A7C15ull;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const float u = static_cast<float>(z >> 40) / 16777216.0f;
        volatile float t = u * 2.0f - 1.0f; // volatile: no fused multiply-add, as in numpy
        const float v = t * scale;
        out[i] = offset != 0.0f ? offset + v : v;
    }
    return out;
}

struct TinyTensor {
    std::string name;
    std::vector<int64_t> ne;
    float scale, offset;
};

inline std::vector<TinyTensor> qwen2_tensors(int64_t n_vocab) {
    const int64_t E = 32, F = 64, L = 2, HKV = 2, D = 8;
    std::vector<TinyTensor> out = {{"token_embd.weight", {E, n_vocab}, 1.0f, 0.0f}, {"output_norm.weight", {E}, 0.1f, 1.0f}};
    for (int64_t il = 0; il < L; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        const std::vector<TinyTensor> blk = {
            {p + "attn_norm.weight", {E}, 0.1f, 1.0f},         {p + "attn_q.weight", {E, E}, 0.3f, 0.0f},
            {p + "attn_q.bias", {E}, 0.1f, 0.0f},              {p + "attn_k.weight", {E, HKV * D}, 0.3f, 0.0f},
            {p + "attn_k.bias", {HKV * D}, 0.1f, 0.0f},        {p + "attn_v.weight", {E, HKV * D}, 0.3f, 0.0f},
            {p + "attn_v.bias", {HKV * D}, 0.1f, 0.0f},        {p + "attn_output.weight", {E, E}, 0.3f, 0.0f},
            {p + "ffn_norm.weight", {E}, 0.1f, 1.0f},          {p + "ffn_gate.weight", {E, F}, 0.3f, 0.0f},
            {p + "ffn_up.weight", {E, F}, 0.3f, 0.0f},         {p + "ffn_down.weight", {F, E}, 0.2f, 0.0f},
        };
        out.insert(out.end(), blk.begin(), blk.end());
    }
    return out;
}

// Writes the tiny qwen2 model with the tokenizer of `vocab_path` to `out_path`.
inline void write_tiny_qwen2(const std::string &out_path, const std::string &vocab_path) {
    auto vocab = gguf::GgufFile::open(vocab_path);
    const int64_t n_vocab = static_cast<int64_t>(vocab->find("tokenizer.ggml.tokens")->array_size());
    gguf::GgufWriter w;
    w.set("general.architecture", gguf::Value::string("qwen2"));
    w.set("general.name", gguf::Value::string("tiny-random-qwen2"));
    w.set("qwen2.block_count", gguf::Value::u32(2));
    w.set("qwen2.context_length", gguf::Value::u32(256));
    w.set("qwen2.embedding_length", gguf::Value::u32(32));
    w.set("qwen2.feed_forward_length", gguf::Value::u32(64));
    w.set("qwen2.attention.head_count", gguf::Value::u32(4));
    w.set("qwen2.attention.head_count_kv", gguf::Value::u32(2));
    w.set("qwen2.rope.freq_base", gguf::Value::f32(1000000.0f));
    w.set("qwen2.attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-6f));
    for (const auto &kv : vocab->metadata())
        if (kv.key.rfind("tokenizer.", 0) == 0) w.set(kv.key, kv.value);
    const auto tensors = qwen2_tensors(n_vocab);
    for (const auto &t : tensors) w.add_tensor(t.name, DType::F32, t.ne);
    w.write(out_path, [&](size_t i, const gguf::TensorInfo &info, uint8_t *dst) {
        const auto v = random_tensor(1000 + i, static_cast<size_t>(info.n_elements()), tensors[i].scale, tensors[i].offset);
        std::memcpy(dst, v.data(), v.size() * sizeof(float));
    });
}

} // namespace corvid::test
