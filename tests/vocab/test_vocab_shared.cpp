// Every .inp/.out pair in ../shared/vocab: the token ids of llama.cpp's tokenizer test vectors.
// The texts are separated by "\n__ggml_vocab_test__\n" (the newline before and after each
// separator belongs to the separator; the text after the last one is empty and not a test);
// the ids are those of tokenize(text, add_special = false, parse_special = false).
#include "vocab_test_util.h"

#include <doctest/doctest.h>

using namespace corvid;
using namespace corvid::test;

namespace {

void check_vocab_pair(const std::string &name) {
    const std::string base = shared_path("vocab/ggml-vocab-" + name + ".gguf");
    if (!file_exists(base)) {
        MESSAGE("skipped: " << base << " not found (../shared is absent)");
        return;
    }
    const auto vocab = load_vocab_file(base);
    const auto texts = split_on(read_text(base + ".inp"), "\n__ggml_vocab_test__\n", false);
    const auto lines = split_on(read_text(base + ".out"), "\n", true);
    REQUIRE(lines.size() >= texts.size());
    size_t failures = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
        const auto expected = parse_ids(lines[i]);
        const auto got = vocab->tokenize(texts[i], false, false);
        if (got != expected) {
            ++failures;
            FAIL_CHECK(name << " text #" << i << " '" << texts[i] << "'\n  expected: " << ids_str(expected)
                            << "\n  got:      " << ids_str(got));
        }
        // The texts have no special-token strings, so parsing them changes nothing.
        CHECK(vocab->tokenize(texts[i], false, true) == expected);
    }
    MESSAGE(name << ": " << texts.size() - failures << "/" << texts.size() << " texts match");
}

} // namespace

TEST_CASE("vocab: shared llama-spm vectors") { check_vocab_pair("llama-spm"); }
TEST_CASE("vocab: shared phi-3 vectors") { check_vocab_pair("phi-3"); }
TEST_CASE("vocab: shared llama-bpe vectors") { check_vocab_pair("llama-bpe"); }
TEST_CASE("vocab: shared qwen2 vectors") { check_vocab_pair("qwen2"); }
TEST_CASE("vocab: shared gpt-2 vectors") { check_vocab_pair("gpt-2"); }
TEST_CASE("vocab: shared starcoder vectors") { check_vocab_pair("starcoder"); }
TEST_CASE("vocab: shared falcon vectors") { check_vocab_pair("falcon"); }
TEST_CASE("vocab: shared deepseek-llm vectors") { check_vocab_pair("deepseek-llm"); }
TEST_CASE("vocab: shared deepseek-coder vectors") { check_vocab_pair("deepseek-coder"); }

TEST_CASE("vocab: shared bert-bge (WordPiece) vectors") { check_vocab_pair("bert-bge"); }
