// Splitting special-token texts out of the input before tokenizing the rest.
//
// llama.cpp takes the special tokens longest first and, for each, cuts every occurrence out of
// the raw text that is left. Here every occurrence of every eligible token is found in one
// pass over a trie, and the candidates are then accepted in that same order (longer first,
// then lower id, then leftmost), skipping any that overlap one already taken: the result is
// the same, in time proportional to the text rather than to text x tokens.
#include "vocab/vocab_data.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace corvid::vocab {

namespace {

struct Candidate {
    size_t pos;
    uint32_t len;
    int32_t id;
};

bool eligible(uint32_t attr, bool parse_special) {
    // Without parse_special only user-defined tokens are recognised.
    return parse_special || !(attr & (kAttrControl | kAttrUnknown));
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

} // namespace

void split_special(const VocabData &v, std::string_view text, bool parse_special, std::vector<Fragment> &out) {
    out.clear();
    const SpecialTrie &trie = v.specials;
    std::vector<Candidate> cands;
    if (trie.nodes.size() > 1) {
        for (size_t pos = 0; pos < text.size(); ++pos) {
            if (!trie.first[static_cast<uint8_t>(text[pos])]) continue;
            int32_t node = 0;
            for (size_t j = pos; j < text.size(); ++j) {
                node = trie.child(node, static_cast<uint8_t>(text[j]));
                if (node < 0) break;
                for (int32_t id : trie.nodes[node].ids) {
                    if (!eligible(v.tokens[id].attr, parse_special)) continue;
                    cands.push_back({pos, static_cast<uint32_t>(j + 1 - pos), id});
                    break; // the lowest eligible id with this text
                }
            }
        }
    }
    if (cands.empty()) {
        if (!text.empty()) out.push_back({-1, 0, text.size()});
        return;
    }
    std::stable_sort(cands.begin(), cands.end(), [](const Candidate &a, const Candidate &b) {
        if (a.len != b.len) return a.len > b.len;
        if (a.id != b.id) return a.id < b.id;
        return a.pos < b.pos;
    });

    // Claimed byte ranges [begin, end) -> token; a claim includes whitespace the token strips.
    struct Claim {
        size_t end;
        size_t tok_begin, tok_end;
        int32_t id;
    };
    std::map<size_t, Claim> claims;
    for (const Candidate &c : cands) {
        const size_t b = c.pos, e = c.pos + c.len;
        auto next = claims.lower_bound(b);                  // first claim starting at or after b
        if (next != claims.end() && next->first < e) continue;
        size_t lo = 0;                                        // end of the claim before b
        if (next != claims.begin()) {
            auto prev = std::prev(next);
            if (prev->second.end > b) continue;
            lo = prev->second.end;
        }
        const size_t hi = next == claims.end() ? text.size() : next->first;
        size_t cb = b, ce = e;
        const uint32_t attr = v.tokens[c.id].attr;
        if (attr & kAttrLstrip)
            while (cb > lo && is_space(text[cb - 1])) --cb;
        if (attr & kAttrRstrip)
            while (ce < hi && is_space(text[ce])) ++ce;
        claims.emplace(cb, Claim{ce, b, e, c.id});
    }

    size_t pos = 0;
    for (const auto &[begin, cl] : claims) {
        if (begin > pos) out.push_back({-1, pos, begin});
        out.push_back({cl.id, cl.tok_begin, cl.tok_end});
        pos = cl.end;
    }
    if (pos < text.size()) out.push_back({-1, pos, text.size()});
}

} // namespace corvid::vocab
