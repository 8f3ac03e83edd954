// The loaded vocabulary shared by the tokenizer implementation files (internal).
#pragma once

#include "vocab/pretokenizer.h"
#include "vocab/vocab.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace corvid::vocab {

struct TokenData {
    std::string text;
    float score = 0.0f;
    uint32_t attr = kAttrNormal;
};

// A trie over the texts of special tokens, for splitting them out of the input.
struct SpecialTrie {
    struct Node {
        std::vector<std::pair<uint8_t, int32_t>> next; // sorted by byte
        std::vector<int32_t> ids;                      // tokens whose text ends here, ascending
    };
    std::vector<Node> nodes{1};
    std::array<bool, 256> first{}; // bytes that start some special token

    void insert(std::string_view text, int32_t id);
    int32_t child(int32_t node, uint8_t b) const;
};

struct BpeMerge {
    int32_t rank;
    int32_t result; // the merged token, or -1 when its text is not in the vocabulary
};

struct VocabData {
    VocabType type = VocabType::spm;
    std::string model;
    std::string pre = "default";
    std::vector<TokenData> tokens;
    std::unordered_map<std::string_view, int32_t> text_to_id; // views into tokens[i].text

    int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1, sep = -1;
    bool add_bos = false, add_eos = false;
    bool add_sep = false; // WPM: SEP after the text when add_special
    bool add_space_prefix = false;
    // Detokenizing drops one leading space from the first token's piece (add_space_prefix, the
    // SPM default; and WPM, whose every word starts with "▁").
    bool strip_first_space = false;
    bool clean_spaces = false;
    bool ignore_merges = false;
    std::vector<int32_t> eog; // sorted

    SpecialTrie specials; // control, user-defined and unknown tokens

    // SPM: ASCII bytes that occur in no token of two or more bytes. Such a byte can never be
    // merged with a neighbour, so the text is tokenized as independent segments around it.
    std::array<bool, 256> spm_barrier{};

    // SPM: the <0xNN> token per byte; BPE: the token of the byte's byte-level character.
    std::array<int32_t, 256> byte_tokens{};

    // WPM: normalizer options and the longest token text in bytes.
    bool wpm_lowercase = true;
    bool wpm_strip_accents = true;
    size_t max_token_len = 0;

    // BPE: (left id, right id) -> merge.
    std::unordered_map<uint64_t, BpeMerge> merges;
    std::unique_ptr<PreTokenizer> pre_tokenizer;

    int32_t find(std::string_view text) const {
        auto it = text_to_id.find(text);
        return it == text_to_id.end() ? -1 : it->second;
    }
    static uint64_t pair_key(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
};

// vocab_load.cpp
std::unique_ptr<VocabData> load_vocab(const gguf::GgufFile &file);

// special_split.cpp: cuts `text` into raw-text and special-token fragments.
struct Fragment {
    int32_t token = -1; // -1: raw text [begin, end)
    size_t begin = 0, end = 0;
};
void split_special(const VocabData &v, std::string_view text, bool parse_special, std::vector<Fragment> &out);

// spm.cpp / bpe.cpp / wpm.cpp: append the tokens of one raw-text fragment.
void spm_tokenize(const VocabData &v, std::string_view text, std::vector<int32_t> &out);
void bpe_tokenize(const VocabData &v, std::string_view text, std::vector<int32_t> &out);
void wpm_tokenize(const VocabData &v, std::string_view text, std::vector<int32_t> &out);

// detokenize.cpp
void append_piece(const VocabData &v, int32_t id, bool render_special, std::string &out);
void clean_up_spaces(std::string &text);

} // namespace corvid::vocab
