// Tokenization, detokenization and special-token facts against llama.cpp, from the vectors that
// scripts/make_vocab_vectors.py stored under tests/data/vocab/ (no Python needed here).
#include "vocab_test_util.h"

#include <doctest/doctest.h>

#include <cstdio>

using namespace corvid;
using namespace corvid::test;

namespace {

std::string from_hex(const std::string &hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

std::string after_colon(const std::string &line) {
    const size_t c = line.find(" : ");
    return c == std::string::npos ? std::string() : line.substr(c + 3);
}

void check_vectors(const std::string &name, const std::string &model_path) {
    if (!file_exists(model_path)) {
        MESSAGE("skipped: " << model_path << " not found");
        return;
    }
    const auto vocab = load_vocab_file(model_path);
    const auto lines = split_on(read_text(data_path("vocab/" + name + ".vectors")), "\n", false);
    std::string text;
    size_t n_texts = 0, n_checked = 0;
    for (const std::string &line : lines) {
        if (line.rfind("meta ", 0) == 0) {
            long long n, bos, eos, eot;
            int add_bos, add_eos;
            REQUIRE(std::sscanf(line.c_str(), "meta n_tokens %lld bos %lld eos %lld eot %lld add_bos %d add_eos %d", &n,
                                &bos, &eos, &eot, &add_bos, &add_eos) == 6);
            CHECK(vocab->n_tokens() == n);
            CHECK(vocab->bos() == bos);
            CHECK(vocab->eos() == eos);
            CHECK(vocab->eot() == eot);
            CHECK(vocab->add_bos() == (add_bos != 0));
            CHECK(vocab->add_eos() == (add_eos != 0));
        } else if (line.rfind("eog", 0) == 0) {
            CHECK(ids_str(vocab->eog_ids()) == ids_str(parse_ids(line.substr(3))));
        } else if (line.rfind("text ", 0) == 0) {
            text = from_hex(line.substr(5));
            ++n_texts;
        } else if (line.rfind("ids ", 0) == 0) {
            const bool add_special = line[4] == '1', parse_special = line[6] == '1';
            const auto expected = parse_ids(after_colon(line));
            const auto got = vocab->tokenize(text, add_special, parse_special);
            CHECK_MESSAGE(ids_str(got) == ids_str(expected),
                          name << " '" << text << "' add_special=" << add_special << " parse_special=" << parse_special);
            ++n_checked;
        } else if (line.rfind("detok ", 0) == 0) {
            const bool render = line[6] == '1';
            const auto ids = vocab->tokenize(text, true, true);
            CHECK_MESSAGE(vocab->detokenize(ids, render) == from_hex(after_colon(line)),
                          name << " detokenize '" << text << "' render_special=" << render);
        }
    }
    CHECK(n_texts > 0);
    MESSAGE(name << ": " << n_texts << " texts, " << n_checked << " tokenizations compared");
}

} // namespace

TEST_CASE("vocab: gemma3 (262k SPM) matches llama.cpp") {
    check_vectors("gemma3", data_path("../../models/gemma-3-270m-q4_k_m.gguf"));
}
TEST_CASE("vocab: stories260K matches llama.cpp") { check_vectors("stories260K", shared_path("models/stories260K.gguf")); }
TEST_CASE("vocab: llama-2-tiny-random matches llama.cpp") {
    check_vectors("llama-2-tiny-random", shared_path("models/llama-2-tiny-random.gguf"));
}
TEST_CASE("vocab: extra vectors for the shared vocabularies") {
    for (const char *n : {"llama-spm", "phi-3", "llama-bpe", "qwen2", "gpt-2", "starcoder", "falcon", "deepseek-llm",
                          "deepseek-coder"}) {
        CAPTURE(n);
        check_vectors(n, shared_path(std::string("vocab/ggml-vocab-") + n + ".gguf"));
    }
}
