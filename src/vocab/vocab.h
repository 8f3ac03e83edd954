// Tokenizers: the vocabulary of a GGUF model and the text <-> token id conversions that
// llama.cpp performs for it.
//
//   "llama" (SentencePiece-style): score-driven merges over the vocabulary, "▁" for spaces,
//           an optional leading space (tokenizer.ggml.add_space_prefix), byte fallback <0xNN>.
//   "gpt2"  (byte-level BPE): the pre-tokenizer regexes that tokenizer.ggml.pre names, then
//           merges ranked by tokenizer.ggml.merges over the GPT-2 byte alphabet.
//   "bert"  (WordPiece, llama.cpp's "WPM"): the text is normalized (accents stripped through the
//           first code point of the canonical decomposition, combining marks and control
//           characters dropped, lower-cased; tokenizer.ggml.normalizer.lowercase and
//           .strip_accents turn these off), split into words on white space, with each
//           punctuation character, ASCII symbol and CJK ideograph a word of its own; each word
//           gets the "▁" prefix that the converted vocabularies give word-initial pieces (BERT's
//           "##" continuation pieces are stored bare) and is cut greedily into the longest
//           matching tokens, left to right; a word that cannot be cut entirely is the unknown
//           token. add_special puts BOS ([CLS]) before and SEP ([SEP]) after the text.
//
// Special (control, user-defined, unknown) tokens can be written in the text: with
// parse_special every such token's text is recognised; without it only user-defined ones are
// (as llama.cpp does). A Vocab is immutable after loading; all const methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace corvid {

namespace gguf {
class GgufFile;
}

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
    undefined = 0,
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6,
};

// Token attribute bits (the same values as llama.cpp's llama_token_attr).
enum TokenAttr : uint32_t {
    kAttrUndefined = 0,
    kAttrUnknown = 1u << 0,
    kAttrUnused = 1u << 1,
    kAttrNormal = 1u << 2,
    kAttrControl = 1u << 3,
    kAttrUserDefined = 1u << 4,
    kAttrByte = 1u << 5,
    kAttrNormalized = 1u << 6,
    kAttrLstrip = 1u << 7,
    kAttrRstrip = 1u << 8,
    kAttrSingleWord = 1u << 9,
};

enum class VocabType { spm, bpe, wpm };

namespace vocab {
struct VocabData;
}

class Vocab {
public:
    // Reads the tokenizer.ggml.* keys. Throws Error: format (a missing or malformed key, named
    // in the message), unsupported (a tokenizer model or pre-tokenizer Corvid does not have).
    static std::unique_ptr<Vocab> from_gguf(const gguf::GgufFile &file);
    ~Vocab();
    Vocab(const Vocab &) = delete;
    Vocab &operator=(const Vocab &) = delete;

    VocabType type() const;
    const std::string &model_name() const; // "llama", "gpt2" or "bert"
    const std::string &pre_name() const;   // tokenizer.ggml.pre ("default" when absent)
    int32_t n_tokens() const;

    // Text (bytes, normally UTF-8) to token ids. add_special adds BOS / EOS (and, for WordPiece,
    // SEP) where the vocabulary asks for them; parse_special turns control-token texts into those
    // tokens. Never throws for any bytes: malformed UTF-8 is handled as llama.cpp does.
    std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const;

    // The bytes a token stands for. Control and unknown tokens give their text only with
    // render_special (else ""). Throws Error(invalid_argument) for an id out of range.
    std::string token_to_piece(int32_t id, bool render_special) const;

    // Concatenated pieces, as llama.cpp's llama_detokenize(remove_special = false): the leading
    // space a SentencePiece vocabulary adds is dropped from the first token, and vocabularies
    // that ask for it (BPE ones mostly, WordPiece) get llama.cpp's clean-up of spaces before
    // punctuation and contractions. WordPiece pieces are "▁" -> space, and the first token's
    // leading space is dropped as for SentencePiece (so it stays after a [CLS] rendered as "");
    // llama.cpp keeps it for WordPiece (" hello world" there, "hello world" here).
    // Throws Error(invalid_argument) for an id out of range.
    std::string detokenize(const std::vector<int32_t> &ids, bool render_special) const;

    // Special token ids; -1 when the vocabulary has none.
    int32_t bos() const;
    int32_t eos() const;
    int32_t eot() const;
    int32_t eom() const;
    int32_t unk() const;
    int32_t pad() const;
    int32_t sep() const;
    // End of generation: EOS, EOT, EOM and the other turn-ending tokens the vocabulary has.
    bool is_eog(int32_t id) const;
    const std::vector<int32_t> &eog_ids() const;

    bool add_bos() const;
    bool add_eos() const;
    // WordPiece: add_special appends SEP (tokenizer.ggml.add_sep_token, default true).
    bool add_sep() const;
    bool add_space_prefix() const;
    bool clean_spaces() const;

    // Per-token data; all throw Error(invalid_argument) for an id out of range.
    const std::string &token_text(int32_t id) const; // as stored in the vocabulary
    float score(int32_t id) const;
    uint32_t token_attr(int32_t id) const; // TokenAttr bits
    bool is_control(int32_t id) const;
    // Token whose stored text is exactly `text`, or -1.
    int32_t find_token(std::string_view text) const;

    const vocab::VocabData &data() const { return *d_; }

private:
    explicit Vocab(std::unique_ptr<vocab::VocabData> d);
    std::unique_ptr<vocab::VocabData> d_;
};

// Turns a stream of token ids into text without ever emitting half of a UTF-8 character: bytes
// of a character split across tokens are held back until the character is complete.
// Not thread-safe (one instance per stream); the Vocab must outlive it.
class StreamingDetokenizer {
public:
    explicit StreamingDetokenizer(const Vocab &vocab, bool render_special);
    // The text that became complete with this token (possibly ""). Throws Error(invalid_argument)
    // for an id out of range.
    std::string push(int32_t id);
    // Whatever is still held back (an incomplete sequence at the end of the stream), then resets.
    std::string flush();

private:
    const Vocab &vocab_;
    bool render_special_;
    bool first_ = true;
    std::string pending_;
};

} // namespace corvid
