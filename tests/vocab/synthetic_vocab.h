// Small vocabularies written with GgufWriter, so that tests run without ../shared.
#pragma once

#include "gguf/gguf_writer.h"
#include "vocab_test_util.h"

#include <cstdio>
#include <string>
#include <vector>

namespace corvid::test {

// An SPM vocabulary: <unk> <s> </s>, the 256 byte tokens, then a few pieces.
inline gguf::GgufWriter spm_writer() {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    char buf[8];
    for (int b = 0; b < 256; ++b) {
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        tokens.push_back(buf);
        types.push_back(6);
    }
    for (const char *p : {"\xE2\x96\x81", "a", "b", "c", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab", "<tag>"}) {
        tokens.push_back(p);
        types.push_back(1);
    }
    types.back() = 4; // "<tag>" is user-defined
    std::vector<float> scores(tokens.size(), 0.0f);
    for (size_t i = 259; i < tokens.size(); ++i) scores[i] = -static_cast<float>(tokens.size() - i); // later = higher
    gguf::GgufWriter w;
    w.set("general.architecture", gguf::Value::string("llama"));
    w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
    w.set("tokenizer.ggml.tokens", gguf::Value::string_array(tokens));
    w.set("tokenizer.ggml.scores", gguf::Value::array_of(gguf::ValueType::FLOAT32, scores));
    w.set("tokenizer.ggml.token_type", gguf::Value::array_of(gguf::ValueType::INT32, types));
    w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
    w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));
    return w;
}

// A byte-level BPE vocabulary over the letters a, b and the space (Ġ), with merges a+b, Ġ+ab.
inline gguf::GgufWriter bpe_writer() {
    gguf::GgufWriter w;
    w.set("general.architecture", gguf::Value::string("gpt2"));
    w.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
    w.set("tokenizer.ggml.pre", gguf::Value::string("gpt-2"));
    w.set("tokenizer.ggml.tokens",
          gguf::Value::string_array({"a", "b", "\xC4\xA0", "ab", "\xC4\xA0" "ab", "<|endoftext|>"}));
    w.set("tokenizer.ggml.token_type", gguf::Value::array_of<int32_t>(gguf::ValueType::INT32, {1, 1, 1, 1, 1, 3}));
    w.set("tokenizer.ggml.merges", gguf::Value::string_array({"a b", "\xC4\xA0 ab"}));
    w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(5));
    return w;
}

// A WordPiece vocabulary in llama.cpp's converted spelling: word-initial pieces start with "▁",
// continuation pieces (BERT's "##x") are bare.
inline gguf::GgufWriter wpm_writer() {
    const std::string m = "\xE2\x96\x81";
    const std::vector<std::string> tokens = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]",                                      // 0..3
        m + "hello", m + "world", m + "un", "aff", "able",                       // 4..8
        m + ",", m + "!", m + "'", "s", m + "cafe",                              // 9..13
        m + "\xE4\xBD\xA0", m + "\xE5\xA5\xBD", m + "a", "b", m + "ab",          // 14..18 (你 好)
        m + "$", m + "Hello"};                                                   // 19..20
    std::vector<int32_t> types(tokens.size(), 1);
    for (int i = 0; i < 4; ++i) types[i] = 3;
    gguf::GgufWriter w;
    w.set("general.architecture", gguf::Value::string("bert"));
    w.set("tokenizer.ggml.model", gguf::Value::string("bert"));
    w.set("tokenizer.ggml.tokens", gguf::Value::string_array(tokens));
    w.set("tokenizer.ggml.token_type", gguf::Value::array_of(gguf::ValueType::INT32, types));
    w.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(1));
    w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(2));
    w.set("tokenizer.ggml.seperator_token_id", gguf::Value::u32(3));
    w.set("tokenizer.ggml.padding_token_id", gguf::Value::u32(0));
    return w;
}

// Writes `w` to a temporary file and loads its vocabulary (throws what from_gguf throws).
inline std::unique_ptr<Vocab> load_written(const gguf::GgufWriter &w) {
    const std::string path = temp_path("vocab.gguf");
    w.write(path, [](size_t, const gguf::TensorInfo &, uint8_t *) {});
    struct Remove {
        std::string p;
        ~Remove() { std::remove(p.c_str()); }
    } remove{path};
    return load_vocab_file(path);
}

} // namespace corvid::test
