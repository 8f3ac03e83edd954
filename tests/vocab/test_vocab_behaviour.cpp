// Round trips, streaming detokenization, special-token parsing and bad ids.
#include "synthetic_vocab.h"

#include "util/error.h"

#include <doctest/doctest.h>

using namespace corvid;
using namespace corvid::test;

namespace {

const char *const kTexts[] = {
    "Hello world",
    "The quick brown fox jumps over the lazy dog",
    "  two leading spaces and two trailing  ",
    "tabs\tand\nnewlines\n\n\nand\r\nCRLF",
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\xA6\x99\xF0\x9F\x9A\x80 caf\xC3\xA9",
    "x = [1, 22, 333, 4444]; y = \"s\" + 'q'",
    "                              many spaces",
    "1234567890 3.14159",
};

std::unique_ptr<Vocab> shared_vocab(const std::string &name) {
    const std::string path = shared_path("vocab/ggml-vocab-" + name + ".gguf");
    if (!file_exists(path)) return nullptr;
    return load_vocab_file(path);
}

std::string stream_all(const Vocab &v, const std::vector<int32_t> &ids, std::vector<std::string> *chunks = nullptr) {
    StreamingDetokenizer sd(v, false);
    std::string out;
    for (int32_t id : ids) {
        std::string c = sd.push(id);
        if (chunks) chunks->push_back(c);
        out += c;
    }
    return out + sd.flush();
}

} // namespace

TEST_CASE("vocab: real models' vocabularies") {
    const std::string stories = shared_path("models/stories260K.gguf");
    const std::string tiny = shared_path("models/llama-2-tiny-random.gguf");
    if (!file_exists(stories) || !file_exists(tiny)) {
        MESSAGE("skipped: ../shared/models not found");
        return;
    }
    auto s = load_vocab_file(stories);
    CHECK(s->tokenize("Once upon a time", true, false) == std::vector<int32_t>{1, 403, 407, 261, 378});
    CHECK(s->detokenize({1, 403, 407, 261, 378}, false) == " Once upon a time"); // llama.cpp keeps it after BOS
    CHECK(s->detokenize({403, 407, 261, 378}, false) == "Once upon a time");
    CHECK(s->is_eog(2));
    CHECK_FALSE(s->is_eog(1));
    auto t = load_vocab_file(tiny);
    CHECK(t->tokenize("Hello world", true, false) == std::vector<int32_t>{1, 15043, 3186});
}

TEST_CASE("vocab: detokenize(tokenize(x)) == x") {
    for (const char *name : {"llama-spm", "phi-3", "llama-bpe", "qwen2", "gpt-2", "starcoder", "falcon", "deepseek-llm",
                             "deepseek-coder"}) {
        auto v = shared_vocab(name);
        if (!v) {
            MESSAGE("skipped: ../shared/vocab not found");
            return;
        }
        CAPTURE(name);
        for (const char *text : kTexts) {
            CAPTURE(text);
            const auto ids = v->tokenize(text, false, false);
            // The clean-up of spaces before punctuation (gpt-2 style vocabularies) does not
            // touch these texts, so every vocabulary must give them back exactly.
            CHECK(v->detokenize(ids, false) == text);
            CHECK(stream_all(*v, ids) == text);
            const auto with_bos = v->tokenize(text, true, false);
            if (v->type() == VocabType::spm) {
                // As llama.cpp: after BOS the leading space that the vocabulary added stays.
                CHECK(v->detokenize(with_bos, false) == std::string(" ") + text);
            } else {
                CHECK(v->detokenize(with_bos, false) == text);
            }
        }
        // Bytes that are not UTF-8 do not round-trip in llama.cpp either: byte-level BPE reads
        // each as U+FFFD, SPM cuts sequences by their lead byte. (The exact ids are compared
        // with llama.cpp's in test_vocab_vectors.cpp.) Here: no crash, no out-of-range ids.
        const std::string raw = "ok \xFF\xFE \xC3 end \xF0\x9F";
        for (int32_t id : v->tokenize(raw, true, true)) CHECK((id >= 0 && id < v->n_tokens()));
        if (v->type() == VocabType::bpe)
            CHECK(v->detokenize(v->tokenize(raw, false, false), false) ==
                  "ok \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD end \xEF\xBF\xBD\xEF\xBF\xBD");
    }
}

TEST_CASE("vocab: gemma3 round trips (no space prefix)") {
    const std::string path = data_path("../../models/gemma-3-270m-q4_k_m.gguf");
    if (!file_exists(path)) {
        MESSAGE("skipped: " << path << " not found");
        return;
    }
    auto v = load_vocab_file(path);
    CHECK_FALSE(v->add_space_prefix());
    for (const char *text : kTexts) {
        CHECK(v->detokenize(v->tokenize(text, true, false), false) == text);
        CHECK(v->detokenize(v->tokenize(text, false, true), false) == text);
    }
}

TEST_CASE("vocab: streaming holds back a character split across byte tokens") {
    auto v = load_written(spm_writer());
    // The llama (U+1F999, F0 9F A6 99) has no token: four byte tokens.
    const auto ids = v->tokenize("a\xF0\x9F\xA6\x99" "b", false, false);
    REQUIRE(ids.size() == 6);
    CHECK(v->token_to_piece(ids[1], false) == "\xF0");
    std::vector<std::string> chunks;
    CHECK(stream_all(*v, ids, &chunks) == "a\xF0\x9F\xA6\x99" "b");
    CHECK(chunks == std::vector<std::string>{"a", "", "", "", "\xF0\x9F\xA6\x99", "b"});

    // A stream that ends inside a character hands the bytes over on flush.
    StreamingDetokenizer sd(*v, false);
    CHECK(sd.push(ids[0]) == "a");
    CHECK(sd.push(ids[1]) == "");
    CHECK(sd.push(ids[2]) == "");
    CHECK(sd.flush() == "\xF0\x9F");
    // After a flush the stream starts over (and strips the leading space again).
    CHECK(sd.push(ids[0]) == "a");
}

TEST_CASE("vocab: special tokens in text") {
    auto v = load_written(spm_writer());
    const int32_t tag = v->find_token("<tag>");
    const int32_t bos = v->bos();
    // Control tokens are recognised only with parse_special; user-defined ones always.
    const auto plain = v->tokenize("<s>a", false, false);
    CHECK(std::find(plain.begin(), plain.end(), bos) == plain.end());
    const auto parsed = v->tokenize("<s>a", false, true);
    CHECK(parsed == std::vector<int32_t>{bos, v->find_token("\xE2\x96\x81" "a")});
    CHECK(v->tokenize("a<tag>b", false, false)[1] == tag);
    CHECK(v->tokenize("a<tag>b", false, true)[1] == tag);
    // Rendering: control tokens only on request, user-defined ones always.
    CHECK(v->token_to_piece(bos, false).empty());
    CHECK(v->token_to_piece(bos, true) == "<s>");
    CHECK(v->token_to_piece(tag, false) == "<tag>");
    CHECK(v->detokenize(parsed, true) == "<s> a");

    auto l3 = shared_vocab("llama-bpe");
    if (!l3) return;
    const std::string text = "hi<|eot_id|>";
    const auto with = l3->tokenize(text, false, true);
    CHECK(with.back() == 128009);
    CHECK(l3->is_eog(128009));
    const auto without = l3->tokenize(text, false, false);
    CHECK(std::find(without.begin(), without.end(), 128009) == without.end());
    CHECK(l3->detokenize(without, false) == text);
    CHECK(l3->detokenize(with, false) == "hi");
    CHECK(l3->detokenize(with, true) == text);
    CHECK(l3->tokenize(text, true, true).front() == 128000);
}

TEST_CASE("vocab: token ids out of range") {
    auto v = load_written(bpe_writer());
    for (int32_t bad : {-1, 6, 1 << 30}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(v->token_to_piece(bad, false), Error);
        CHECK_THROWS_AS(v->token_text(bad), Error);
        CHECK_THROWS_AS(v->detokenize({0, bad}, false), Error);
        StreamingDetokenizer sd(*v, false);
        CHECK_THROWS_AS(sd.push(bad), Error);
        try {
            v->token_to_piece(bad, true);
        } catch (const Error &e) {
            CHECK(e.status() == Status::invalid_argument);
        }
    }
    CHECK_FALSE(v->is_eog(-1));
    CHECK(v->is_eog(5));
}

TEST_CASE("vocab: clean-up of spaces follows llama.cpp, not Hugging Face") {
    auto v = shared_vocab("gpt-2");
    if (!v) {
        MESSAGE("skipped: ../shared/vocab not found");
        return;
    }
    // llama.cpp (llama-cpp-python 0.3.36, llama_detokenize) keeps the space before n't, 'd and 'll.
    const std::string text = "I don n't know , he 'd say 'll 're ' x";
    CHECK(v->detokenize(v->tokenize(text, false, false), false) == "I don n't know, he 'd say 'll're'x");
    CHECK(v->detokenize(v->tokenize(" . hello", false, false), false) == ". hello");
    CHECK(v->detokenize(v->tokenize("a ' ' b", false, false), false) == "a'' b");
}
