// WordPiece ("bert") tokenization: word splitting, greedy longest match, [UNK], special tokens,
// normalizer options and detokenization, on a hand-made vocabulary and on bert-bge.
#include "synthetic_vocab.h"

#include <doctest/doctest.h>

using namespace corvid;
using namespace corvid::test;

namespace {

using Ids = std::vector<int32_t>;

// Ids of the synthetic vocabulary (see wpm_writer).
enum : int32_t { kUnk = 1, kCls = 2, kSep = 3, kHello = 4, kWorld = 5, kUn = 6, kAff = 7, kAble = 8, kComma = 9,
                 kBang = 10, kApos = 11, kS = 12, kCafe = 13, kNi = 14, kHao = 15, kA = 16, kB = 17, kAB = 18,
                 kDollar = 19, kHelloUpper = 20 };

} // namespace

TEST_CASE("vocab: WordPiece loads with BERT's special tokens") {
    auto v = load_written(wpm_writer());
    CHECK(v->type() == VocabType::wpm);
    CHECK(v->model_name() == "bert");
    CHECK(v->unk() == kUnk);
    CHECK(v->bos() == kCls);
    CHECK(v->sep() == kSep);
    CHECK(v->eos() == -1);
    CHECK(v->add_bos());
    CHECK(v->add_sep());
    CHECK_FALSE(v->add_eos());
    CHECK(v->tokenize("hello", true, false) == Ids{kCls, kHello, kSep});
    CHECK(v->tokenize("", true, false) == Ids{kCls, kSep});

    auto w = wpm_writer();
    w.set("tokenizer.ggml.add_sep_token", gguf::Value::boolean(false));
    w.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(false));
    CHECK(load_written(w)->tokenize("hello", true, false) == Ids{kHello});
}

TEST_CASE("vocab: WordPiece splits on white space and punctuation") {
    auto v = load_written(wpm_writer());
    CHECK(v->tokenize("hello, world!", false, false) == Ids{kHello, kComma, kWorld, kBang});
    CHECK(v->tokenize("hello,world", false, false) == Ids{kHello, kComma, kWorld});
    CHECK(v->tokenize("  hello \t\n world \xE3\x80\x80", false, false) == Ids{kHello, kWorld}); // U+3000 is a space
    CHECK(v->tokenize("a's", false, false) == Ids{kA, kApos, kUnk}); // "s" alone is "▁s": unknown
    CHECK(v->tokenize("a$b", false, false) == Ids{kA, kDollar, kUnk});                 // ASCII symbols split too
    CHECK(v->tokenize("\xE4\xBD\xA0\xE5\xA5\xBD", false, false) == Ids{kNi, kHao});    // each ideograph a word
    // Control and format characters vanish without splitting the word.
    CHECK(v->tokenize("a\x01" "b", false, false) == Ids{kAB});
    CHECK(v->tokenize("a\xE2\x80\x8B" "b", false, false) == Ids{kAB}); // U+200B ZERO WIDTH SPACE (Cf)
    CHECK(v->tokenize(std::string("a\0b", 3), false, false) == Ids{kAB});
}

TEST_CASE("vocab: WordPiece takes the longest piece first and [UNK] for what does not match") {
    auto v = load_written(wpm_writer());
    CHECK(v->tokenize("unaffable", false, false) == Ids{kUn, kAff, kAble});
    CHECK(v->tokenize("ab", false, false) == Ids{kAB}); // "▁ab", not "▁a" + "b"
    CHECK(v->tokenize("abb", false, false) == Ids{kAB, kB});
    // A word with any position where no piece matches is unknown as a whole.
    CHECK(v->tokenize("hello xyz world", false, false) == Ids{kHello, kUnk, kWorld});
    CHECK(v->tokenize("unaffablex", false, false) == Ids{kUnk});
    CHECK(v->tokenize("hello\xF0\x9F\xA6\x99", false, false) == Ids{kUnk});
    // Malformed UTF-8 reads as U+FFFD, which is dropped.
    CHECK(v->tokenize("hel\xFFlo \xC3", false, false) == Ids{kHello});
}

TEST_CASE("vocab: WordPiece lower-cases and strips accents unless told not to") {
    auto v = load_written(wpm_writer());
    CHECK(v->tokenize("HELLO Caf\xC3\xA9", false, false) == Ids{kHello, kCafe});     // é precomposed
    CHECK(v->tokenize("CAFE\xCC\x81", false, false) == Ids{kCafe});                   // e + U+0301
    auto w = wpm_writer();
    w.set("tokenizer.ggml.normalizer.lowercase", gguf::Value::boolean(false));
    auto cased = load_written(w);
    CHECK(cased->tokenize("Hello hello", false, false) == Ids{kHelloUpper, kHello});
    // strip_accents follows lowercase when absent.
    CHECK(cased->tokenize("cafe\xCC\x81", false, false) == Ids{kUnk});
    w.set("tokenizer.ggml.normalizer.strip_accents", gguf::Value::boolean(true));
    CHECK(load_written(w)->tokenize("caf\xC3\xA9", false, false) == Ids{kCafe});
}

TEST_CASE("vocab: WordPiece special tokens and detokenization") {
    auto v = load_written(wpm_writer());
    CHECK(v->tokenize("[CLS] hello", false, true) == Ids{kCls, kHello});
    CHECK(v->tokenize("[CLS]", false, false) == Ids{kUnk, kUnk, kUnk}); // "[", "cls", "]"

    CHECK(v->token_to_piece(kHello, false) == " hello");
    CHECK(v->token_to_piece(kAff, false) == "aff");
    CHECK(v->token_to_piece(kCls, false).empty());
    CHECK(v->token_to_piece(kCls, true) == "[CLS]");
    // "▁" becomes a space, the first one is dropped, and spaces before punctuation are cleaned up.
    for (const char *text : {"hello world", "unaffable hello", "hello, world!", "abb"}) {
        CAPTURE(text);
        CHECK(v->detokenize(v->tokenize(text, false, false), false) == text);
    }
    CHECK(v->detokenize(v->tokenize("hello, world!", true, false), true) == "[CLS] hello, world![SEP]");
    StreamingDetokenizer sd(*v, false);
    std::string streamed;
    for (int32_t id : v->tokenize("unaffable world", false, false)) streamed += sd.push(id);
    CHECK(streamed + sd.flush() == "unaffable world");
}

TEST_CASE("vocab: bert-bge (WordPiece) facts") {
    const std::string path = shared_path("vocab/ggml-vocab-bert-bge.gguf");
    if (!file_exists(path)) {
        MESSAGE("skipped: " << path << " not found (../shared is absent)");
        return;
    }
    auto v = load_vocab_file(path);
    CHECK(v->type() == VocabType::wpm);
    CHECK(v->bos() == 101);
    CHECK(v->sep() == 102);
    CHECK(v->unk() == 100);
    CHECK(v->pad() == 0);
    // As llama.cpp (llama-cpp-python 0.3.36): [CLS] ... [SEP] with add_special.
    CHECK(v->tokenize("Hello world", true, false) == Ids{101, 7592, 2088, 102});
    CHECK(v->tokenize("hello, world!", false, false) == Ids{7592, 1010, 2088, 999});
    CHECK(v->tokenize("unaffable", false, false) == Ids{14477, 20961, 3468});
    CHECK(v->tokenize("\xED\x95\x9C", false, false) == Ids{1469}); // 한 -> its leading jamo ᄒ
    CHECK(v->tokenize("x\xCC\x81y", false, false) == Ids{1060, 2100}); // the combining mark is dropped
    CHECK(v->detokenize({7592, 1010, 2088, 999}, false) == "hello, world!");
    CHECK(v->detokenize({101, 7592, 2088, 102}, true) == "[CLS] hello world[SEP]");
}
