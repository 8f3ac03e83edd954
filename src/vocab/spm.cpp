// SentencePiece-style tokenization (tokenizer.ggml.model = "llama").
//
// The text (spaces already replaced by "▁") starts as one symbol per UTF-8 character.
// Repeatedly, the adjacent pair whose concatenation is a vocabulary token with the highest
// score (leftmost on ties) is merged. Symbols left that are not tokens fall back to one
// <0xNN> token per byte.
#include "vocab/vocab_data.h"

#include "vocab/unicode.h"

#include <queue>

namespace corvid::vocab {

namespace {

struct Symbol {
    int32_t prev, next;
    uint32_t start, len; // len == 0: merged into its left neighbour
};

struct Bigram {
    float score;
    int32_t left, right;
    uint32_t size;
};

struct BigramOrder { // priority_queue puts the "largest" first: highest score, then leftmost
    bool operator()(const Bigram &a, const Bigram &b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

void tokenize_segment(const VocabData &v, std::string_view text, std::vector<int32_t> &out,
                      std::vector<Symbol> &syms) {
    if (text.empty()) return;
    syms.clear();
    for (size_t i = 0; i < text.size();) {
        size_t len = utf8_seq_len(static_cast<uint8_t>(text[i]));
        if (len > text.size() - i) len = text.size() - i;
        const auto idx = static_cast<int32_t>(syms.size());
        syms.push_back({idx - 1, idx + 1, static_cast<uint32_t>(i), static_cast<uint32_t>(len)});
        i += len;
    }
    syms.back().next = -1;

    std::vector<Bigram> storage;
    storage.reserve(syms.size());
    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue(BigramOrder{}, std::move(storage));
    auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint32_t size = syms[left].len + syms[right].len;
        const int32_t id = v.find(text.substr(syms[left].start, size));
        if (id < 0) return;
        queue.push({v.tokens[id].score, left, right, size});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(syms.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const Bigram bg = queue.top();
        queue.pop();
        Symbol &l = syms[bg.left];
        Symbol &r = syms[bg.right];
        // Stale if either side has been merged away or grown since the pair was queued.
        if (l.len == 0 || r.len == 0 || l.len + r.len != bg.size) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) syms[r.next].prev = bg.left;
        try_add(l.prev, bg.left);
        try_add(bg.left, l.next);
    }

    for (int32_t i = 0; i >= 0; i = syms[i].next) {
        const std::string_view piece = text.substr(syms[i].start, syms[i].len);
        const int32_t id = v.find(piece);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (char c : piece) { // byte fallback
            int32_t b = v.byte_tokens[static_cast<uint8_t>(c)];
            if (b < 0) b = v.unk;
            if (b >= 0) out.push_back(b);
        }
    }
}

} // namespace

void spm_tokenize(const VocabData &v, std::string_view text, std::vector<int32_t> &out) {
    // Merges never cross a barrier byte, so each stretch between barriers is tokenized on its
    // own (same result, far smaller queues); the barrier byte is a symbol by itself.
    std::vector<Symbol> syms;
    size_t seg = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (!v.spm_barrier[static_cast<uint8_t>(text[i])]) continue;
        tokenize_segment(v, text.substr(seg, i - seg), out, syms);
        tokenize_segment(v, text.substr(i, 1), out, syms);
        seg = i + 1;
    }
    tokenize_segment(v, text.substr(seg), out, syms);
}

} // namespace corvid::vocab
