// WordPiece tokenization (tokenizer.ggml.model = "bert"), as llama.cpp's WPM tokenizer does it.
//
// Normalization, one code point at a time: malformed UTF-8 reads as U+FFFD (one byte at a time);
// with strip_accents each code point is replaced by the first code point of its canonical
// decomposition (so "é" -> "e", a Hangul syllable -> its leading jamo) and combining marks are
// dropped; control and format characters, U+0000 and U+FFFD are dropped; with lowercase the
// code point is lower-cased. White space ends a word; punctuation, ASCII symbols and CJK
// ideographs are words of one character.
//
// Each word, prefixed with "▁" (the converted vocabularies spell word-initial pieces "▁piece"
// and continuation pieces, BERT's "##piece", without a prefix), is cut greedily into the longest
// vocabulary tokens from left to right; a word with a position where no token matches becomes
// the unknown token as a whole.
#include "vocab/vocab_data.h"

#include "vocab/unicode.h"
#include "vocab/wpm_unicode.h"

#include <algorithm>
#include <array>

namespace corvid::vocab {

namespace {

const std::string_view kWordMark = "\xE2\x96\x81"; // U+2581 "▁"

const CodepointRange *find_range(const CodepointRange *table, size_t n, uint32_t cp) {
    const CodepointRange *it =
        std::upper_bound(table, table + n, cp, [](uint32_t c, const CodepointRange &r) { return c < r.first; });
    if (it == table) return nullptr;
    --it;
    return cp <= it->last ? it : nullptr;
}

struct AsciiTables {
    std::array<WpmClass, 128> cls{};
    std::array<uint8_t, 128> lower{};
    AsciiTables() {
        for (uint32_t c = 0; c < 128; ++c) {
            const CodepointRange *r = find_range(wpm_tables::kClasses, wpm_tables::kClassesSize, c);
            cls[c] = r ? static_cast<WpmClass>(r->value) : WpmClass::other;
            lower[c] = static_cast<uint8_t>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
};

const AsciiTables &ascii() {
    static const AsciiTables t;
    return t;
}

// The code point at text[i] (advancing i), decoded the way llama.cpp does: a lead byte and its
// continuation bytes, without checks for overlong forms or surrogates; anything else is U+FFFD
// and consumes one byte. Code points above U+10FFFF (which llama.cpp cannot re-encode) are U+FFFD.
uint32_t next_codepoint(std::string_view text, size_t &i) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c < 0x80) {
        ++i;
        return c;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07u;
    } else {
        ++i;
        return 0xFFFD;
    }
    if (len > text.size() - i) {
        ++i;
        return 0xFFFD;
    }
    for (size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<uint8_t>(text[i + k]);
        if ((cc & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (cc & 0x3Fu);
    }
    i += len;
    return cp > 0x10FFFF ? 0xFFFD : cp;
}

// `word` is "▁" + the normalized word (at least one character).
void tokenize_word(const VocabData &v, std::string_view word, std::vector<int32_t> &out) {
    const size_t start = out.size();
    const size_t n = word.size();
    for (size_t i = 0; i < n;) {
        int32_t id = -1;
        size_t j = std::min(n, i + v.max_token_len);
        for (; j > i; --j) {
            id = v.find(word.substr(i, j - i));
            if (id >= 0) break;
        }
        if (id < 0) { // a position no token starts with: the whole word is unknown
            out.resize(start);
            break;
        }
        out.push_back(id);
        i = j;
    }
    if (out.size() == start && v.unk >= 0) out.push_back(v.unk);
}

} // namespace

WpmClass wpm_class(uint32_t cp) {
    if (cp < 128) return ascii().cls[cp];
    const CodepointRange *r = find_range(wpm_tables::kClasses, wpm_tables::kClassesSize, cp);
    return r ? static_cast<WpmClass>(r->value) : WpmClass::other;
}

uint32_t wpm_nfd_first(uint32_t cp) {
    if (cp < 0xC0) return cp; // the first decomposable code point is U+00C0
    const CodepointRange *r = find_range(wpm_tables::kNfd, wpm_tables::kNfdSize, cp);
    return r ? r->value : cp;
}

uint32_t wpm_lower(uint32_t cp) {
    if (cp < 128) return ascii().lower[cp];
    const CodepointRange *r = find_range(wpm_tables::kLower, wpm_tables::kLowerSize, cp);
    return r ? r->value : cp;
}

void wpm_tokenize(const VocabData &v, std::string_view text, std::vector<int32_t> &out) {
    std::string word(kWordMark);
    auto finish_word = [&] {
        if (word.size() == kWordMark.size()) return;
        tokenize_word(v, word, out);
        word.resize(kWordMark.size());
    };
    for (size_t i = 0; i < text.size();) {
        uint32_t cp = next_codepoint(text, i);
        if (v.wpm_strip_accents) cp = wpm_nfd_first(cp);
        const WpmClass cls = wpm_class(cp);
        if (cls == WpmClass::space) {
            finish_word();
            continue;
        }
        if (cls == WpmClass::control || (cls == WpmClass::mark && v.wpm_strip_accents)) continue;
        if (v.wpm_lowercase) cp = wpm_lower(cp);
        if (cls == WpmClass::split) {
            finish_word();
            append_utf8(word, cp);
            finish_word();
        } else {
            append_utf8(word, cp);
        }
    }
    finish_word();
}

} // namespace corvid::vocab
