// Malformed or unsupported vocabulary metadata gives a corvid::Error naming the key, never a crash.
#include "synthetic_vocab.h"

#include "util/error.h"

#include <doctest/doctest.h>

using namespace corvid;
using namespace corvid::test;
using gguf::Value;
using gguf::ValueType;

namespace {

// Loading must throw Error with `status` and a message containing `needle`.
void expect_error(const gguf::GgufWriter &w, Status status, const std::string &needle) {
    try {
        load_written(w);
        FAIL_CHECK("expected an error mentioning '" << needle << "'");
    } catch (const Error &e) {
        CHECK(e.status() == status);
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
}

} // namespace

TEST_CASE("vocab: the synthetic vocabularies load") {
    auto spm = load_written(spm_writer());
    CHECK(spm->type() == VocabType::spm);
    CHECK(spm->n_tokens() == 267);
    CHECK(spm->add_bos());
    CHECK(spm->tokenize("ab", true, false) == std::vector<int32_t>{1, spm->find_token("\xE2\x96\x81" "ab")});
    auto bpe = load_written(bpe_writer());
    CHECK(bpe->type() == VocabType::bpe);
    CHECK_FALSE(bpe->add_bos());
    CHECK(bpe->tokenize("ab ab", false, false) == std::vector<int32_t>{3, 4});
    CHECK(bpe->detokenize({3, 4}, false) == "ab ab");
}

TEST_CASE("vocab: malformed metadata names the key") {
    SUBCASE("no tokenizer model") {
        auto w = spm_writer();
        w.remove("tokenizer.ggml.model");
        expect_error(w, Status::format, "tokenizer.ggml.model");
    }
    SUBCASE("missing tokens array") {
        auto w = spm_writer();
        w.remove("tokenizer.ggml.tokens");
        expect_error(w, Status::format, "tokenizer.ggml.tokens");
    }
    SUBCASE("tokens of the wrong type") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.tokens", Value::array_of<uint32_t>(ValueType::UINT32, {1, 2, 3}));
        expect_error(w, Status::format, "tokenizer.ggml.tokens");
    }
    SUBCASE("empty tokens array") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.tokens", Value::string_array({}));
        expect_error(w, Status::format, "tokenizer.ggml.tokens");
    }
    SUBCASE("scores of the wrong length") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.scores", Value::array_of<float>(ValueType::FLOAT32, {0.0f, 1.0f}));
        expect_error(w, Status::format, "tokenizer.ggml.scores");
    }
    SUBCASE("token types of the wrong length") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.token_type", Value::array_of<int32_t>(ValueType::INT32, {1}));
        expect_error(w, Status::format, "tokenizer.ggml.token_type");
    }
    SUBCASE("a token type out of range") {
        auto w = spm_writer();
        std::vector<int32_t> types(267, 1);
        types[5] = 42;
        w.set("tokenizer.ggml.token_type", Value::array_of(ValueType::INT32, types));
        expect_error(w, Status::format, "tokenizer.ggml.token_type[5]");
    }
    SUBCASE("bos id out of range") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.bos_token_id", Value::u32(100000));
        expect_error(w, Status::format, "tokenizer.ggml.bos_token_id");
    }
    SUBCASE("eos id out of range") {
        auto w = bpe_writer();
        w.set("tokenizer.ggml.eos_token_id", Value::u32(6));
        expect_error(w, Status::format, "tokenizer.ggml.eos_token_id");
    }
    SUBCASE("eos id of the wrong type") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.eos_token_id", Value::string("2"));
        expect_error(w, Status::format, "tokenizer.ggml.eos_token_id");
    }
    SUBCASE("add_bos_token that is not a bool") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.add_bos_token", Value::u32(1));
        expect_error(w, Status::format, "tokenizer.ggml.add_bos_token");
    }
    SUBCASE("BPE without merges") {
        auto w = bpe_writer();
        w.remove("tokenizer.ggml.merges");
        expect_error(w, Status::format, "tokenizer.ggml.merges");
    }
    SUBCASE("a merge naming an unknown token") {
        auto w = bpe_writer();
        w.set("tokenizer.ggml.merges", Value::string_array({"a b", "x ab"}));
        expect_error(w, Status::format, "tokenizer.ggml.merges[1]");
    }
    SUBCASE("a merge without a space") {
        auto w = bpe_writer();
        w.set("tokenizer.ggml.merges", Value::string_array({"ab"}));
        expect_error(w, Status::format, "tokenizer.ggml.merges[0]");
    }
    SUBCASE("an unknown pre-tokenizer lists the supported ones") {
        auto w = bpe_writer();
        w.set("tokenizer.ggml.pre", Value::string("klingon"));
        expect_error(w, Status::unsupported, "'klingon'");
        expect_error(w, Status::unsupported, "llama3");
        expect_error(w, Status::unsupported, "qwen2");
        expect_error(w, Status::unsupported, "deepseek-coder");
    }
    SUBCASE("an unknown model lists the supported ones") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.model", Value::string("rwkv"));
        expect_error(w, Status::unsupported, "unsupported tokenizer model 'rwkv'");
        expect_error(w, Status::unsupported, "bert");
    }
    SUBCASE("an unknown model") {
        auto w = spm_writer();
        w.set("tokenizer.ggml.model", Value::string("t5"));
        expect_error(w, Status::unsupported, "'t5'");
    }
}

TEST_CASE("vocab: 0xFFFFFFFF means no token") {
    auto w = spm_writer();
    w.set("tokenizer.ggml.seperator_token_id", Value::u32(0xFFFFFFFFu));
    w.set("tokenizer.ggml.eos_token_id", Value::i32(-1));
    auto v = load_written(w);
    CHECK(v->sep() == -1);
    CHECK(v->eos() == -1);
    CHECK(v->tokenize("a", true, false).front() == 1);
}
