// Every GGUF in ../shared loads, and its metadata reads back as ../shared/*/README.md says.
#include "gguf/gguf_file.h"
#include "test_util.h"

#include <doctest/doctest.h>

#include <map>

using namespace corvid;
using namespace corvid::gguf;

namespace {

std::unique_ptr<GgufFile> open_shared(const std::string &rel) {
    const std::string path = test::shared_path(rel);
    if (!test::file_exists(path)) {
        MESSAGE("skipped: " << path << " is not here (../shared is only in CI and dev checkouts)");
        return nullptr;
    }
    return GgufFile::open(path);
}

int64_t get_int(const GgufFile &f, const char *key) {
    const Value *v = f.find(key);
    REQUIRE_MESSAGE(v, key);
    REQUIRE(v->as_int().has_value());
    return *v->as_int();
}

std::string get_str(const GgufFile &f, const char *key) {
    const Value *v = f.find(key);
    REQUIRE_MESSAGE(v, key);
    REQUIRE(v->as_string());
    return *v->as_string();
}

// Counts of each tokenizer.ggml.token_type value.
std::map<int64_t, int64_t> token_type_counts(const GgufFile &f) {
    const Value *v = f.find("tokenizer.ggml.token_type");
    REQUIRE(v);
    std::map<int64_t, int64_t> counts;
    for (uint64_t i = 0; i < v->array_size(); ++i) ++counts[*v->int_at(i)];
    return counts;
}

} // namespace

TEST_CASE("shared: stories260K.gguf reads back as its README says") {
    auto f = open_shared("models/stories260K.gguf");
    if (!f) return;
    CHECK(f->file_size() == 1185376);
    CHECK(f->version() == 3);
    CHECK(f->alignment() == 32);
    CHECK(f->metadata().size() == 19);
    CHECK(f->tensors().size() == 48);
    CHECK(get_str(*f, "general.architecture") == "llama");
    CHECK(get_str(*f, "general.name") == "llama");
    CHECK(get_int(*f, "llama.block_count") == 5);
    CHECK(get_int(*f, "llama.embedding_length") == 64);
    CHECK(get_int(*f, "llama.feed_forward_length") == 172);
    CHECK(get_int(*f, "llama.attention.head_count") == 8);
    CHECK(get_int(*f, "llama.attention.head_count_kv") == 4);
    CHECK(get_int(*f, "llama.context_length") == 2048);
    CHECK(get_int(*f, "llama.rope.dimension_count") == 8);
    CHECK(f->find("llama.rope.freq_base") == nullptr);
    CHECK(*f->find("llama.attention.layer_norm_rms_epsilon")->as_float() == doctest::Approx(1e-5));
    CHECK(get_str(*f, "tokenizer.ggml.model") == "llama");
    CHECK(f->find("tokenizer.ggml.tokens")->array_size() == 512);
    CHECK(*f->find("tokenizer.ggml.tokens")->string_at(1) == "<s>");
    const Value *scores = f->find("tokenizer.ggml.scores");
    double lo = 0, hi = -1e9;
    for (uint64_t i = 0; i < scores->array_size(); ++i) {
        lo = std::min(lo, *scores->float_at(i));
        hi = std::max(hi, *scores->float_at(i));
    }
    CHECK(lo == -252);
    CHECK(hi == 0);
    CHECK(token_type_counts(*f) == std::map<int64_t, int64_t>{{1, 253}, {2, 1}, {3, 2}, {6, 256}});
    CHECK(get_int(*f, "tokenizer.ggml.bos_token_id") == 1);
    CHECK(get_int(*f, "tokenizer.ggml.eos_token_id") == 2);
    CHECK(get_int(*f, "tokenizer.ggml.unknown_token_id") == 0);
    CHECK(get_int(*f, "tokenizer.ggml.seperator_token_id") == 4294967295ll);
    CHECK(get_int(*f, "tokenizer.ggml.padding_token_id") == 4294967295ll);
    int64_t n = 0;
    for (const auto &t : f->tensors()) {
        CHECK(t.type == DType::F32);
        n += t.n_elements();
    }
    CHECK(n == 292800);
    const auto &down = f->tensors()[static_cast<size_t>(f->tensor_index("blk.0.ffn_down.weight"))];
    CHECK(down.ne[0] == 172);
    CHECK(f->tensor_index("output.weight") >= 0);
}

TEST_CASE("shared: llama-2-tiny-random.gguf reads back as its README says") {
    auto f = open_shared("models/llama-2-tiny-random.gguf");
    if (!f) return;
    CHECK(f->file_size() == 1750560);
    CHECK(f->version() == 3);
    CHECK(f->metadata().size() == 18);
    CHECK(f->tensors().size() == 12);
    CHECK(get_str(*f, "general.name") == "LLaMA v2");
    CHECK(get_int(*f, "general.file_type") == 1);
    CHECK(get_int(*f, "llama.block_count") == 1);
    CHECK(get_int(*f, "llama.embedding_length") == 8);
    CHECK(get_int(*f, "llama.feed_forward_length") == 32);
    CHECK(get_int(*f, "llama.attention.head_count") == 2);
    CHECK(get_int(*f, "llama.attention.head_count_kv") == 2);
    CHECK(get_int(*f, "llama.rope.dimension_count") == 4);
    CHECK(get_int(*f, "llama.context_length") == 4096);
    CHECK(f->find("tokenizer.ggml.tokens")->array_size() == 32000);
    CHECK(token_type_counts(*f) == std::map<int64_t, int64_t>{{1, 31741}, {2, 1}, {3, 2}, {6, 256}});
    int n_f16 = 0, n_f32 = 0;
    int64_t n = 0;
    for (const auto &t : f->tensors()) {
        n_f16 += t.type == DType::F16;
        n_f32 += t.type == DType::F32;
        n += t.n_elements();
    }
    CHECK(n_f16 == 9);
    CHECK(n_f32 == 3);
    CHECK(n == 513048);
    const auto &emb = f->tensors()[static_cast<size_t>(f->tensor_index("token_embd.weight"))];
    CHECK(emb.ne[0] == 8);
    CHECK(emb.ne[1] == 32000);
}

TEST_CASE("shared: every vocabulary GGUF loads with the tokenizer its README names") {
    const std::map<std::string, std::string> model_of = {
        {"llama-spm", "llama"}, {"phi-3", "llama"},        {"llama-bpe", "gpt2"},     {"qwen2", "gpt2"},
        {"gpt-2", "gpt2"},      {"starcoder", "gpt2"},     {"falcon", "gpt2"},        {"deepseek-coder", "gpt2"},
        {"deepseek-llm", "gpt2"}, {"bert-bge", "bert"},
    };
    for (const auto &[name, model] : model_of) {
        CAPTURE(name);
        auto f = open_shared("vocab/ggml-vocab-" + name + ".gguf");
        if (!f) return;
        CHECK(get_str(*f, "tokenizer.ggml.model") == model);
        CHECK(f->tensors().empty());
        const Value *tokens = f->find("tokenizer.ggml.tokens");
        REQUIRE(tokens);
        CHECK(tokens->elem_type() == ValueType::STRING);
        CHECK(tokens->array_size() > 1000);
        if (model == "gpt2") CHECK(f->find("tokenizer.ggml.merges") != nullptr);
    }
}
