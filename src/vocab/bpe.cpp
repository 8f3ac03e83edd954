// Byte-level BPE tokenization (tokenizer.ggml.model = "gpt2").
//
// The pre-tokenizer cuts the text into words; each word's bytes start as one symbol each (the
// token of that byte's byte-level character), and the adjacent pair with the lowest merge rank
// (leftmost on ties) is merged until no ranked pair is left. Vocabularies with ignore_merges
// (Llama 3) take a word that is itself a token as that token directly.
#include "vocab/vocab_data.h"

#include "vocab/unicode.h"

#include <algorithm>

namespace corvid::vocab {

namespace {

struct Symbol {
    int32_t prev, next;
    uint32_t start, len; // raw bytes of the word; len == 0: merged away
    int32_t id;          // token, or -1 (a byte without a token, or a merge result that is not one)
};

struct Bigram {
    int32_t rank;
    int32_t left, right;
    int32_t left_id, right_id;
};

struct BigramOrder { // lowest rank first, then leftmost
    bool operator()(const Bigram &a, const Bigram &b) const {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

struct Scratch {
    std::vector<Symbol> syms;
    std::vector<Bigram> heap;
    std::string encoded;
};

void tokenize_word(const VocabData &v, std::string_view word, std::vector<int32_t> &out, Scratch &s) {
    if (v.ignore_merges) {
        s.encoded.clear();
        for (char c : word) s.encoded += byte_to_unicode(static_cast<uint8_t>(c));
        const int32_t id = v.find(s.encoded);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    auto &syms = s.syms;
    syms.clear();
    for (size_t i = 0; i < word.size(); ++i) {
        const auto idx = static_cast<int32_t>(i);
        syms.push_back({idx - 1, idx + 1, static_cast<uint32_t>(i), 1, v.byte_tokens[static_cast<uint8_t>(word[i])]});
    }
    syms.back().next = -1;

    s.heap.clear();
    BigramOrder order;
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const int32_t a = syms[left].id, b = syms[right].id;
        if (a < 0 || b < 0) return;
        auto it = v.merges.find(VocabData::pair_key(a, b));
        if (it == v.merges.end()) return;
        s.heap.push_back({it->second.rank, left, right, a, b});
        std::push_heap(s.heap.begin(), s.heap.end(), order);
    };
    for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);

    while (!s.heap.empty()) {
        std::pop_heap(s.heap.begin(), s.heap.end(), order);
        const Bigram bg = s.heap.back();
        s.heap.pop_back();
        Symbol &l = syms[bg.left];
        Symbol &r = syms[bg.right];
        if (l.len == 0 || r.len == 0 || l.id != bg.left_id || r.id != bg.right_id) continue; // stale
        l.id = v.merges.find(VocabData::pair_key(bg.left_id, bg.right_id))->second.result;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = bg.left;
        try_add(l.prev, bg.left);
        try_add(bg.left, l.next);
    }

    for (int32_t i = 0; i >= 0; i = syms[i].next) {
        if (syms[i].id >= 0) {
            out.push_back(syms[i].id);
            continue;
        }
        // Not a token: each byte of its byte-level text that is a token by itself (usually none).
        const std::string enc = bytes_to_byte_level(word.substr(syms[i].start, syms[i].len));
        for (char c : enc) {
            const int32_t id = v.find(std::string_view(&c, 1));
            if (id >= 0) out.push_back(id);
        }
    }
}

} // namespace

void bpe_tokenize(const VocabData &v, std::string_view text, std::vector<int32_t> &out) {
    if (text.empty()) return;
    std::string fixed;
    if (replace_invalid_utf8(text, fixed)) text = fixed;
    std::vector<std::pair<size_t, size_t>> words;
    std::string masked; // same length as text; only the regexes see it
    v.pre_tokenizer->split(mask_unencodable(text, masked) ? std::string_view(masked) : text, words);
    Scratch s;
    for (const auto &[b, e] : words) tokenize_word(v, text.substr(b, e - b), out, s);
}

} // namespace corvid::vocab
