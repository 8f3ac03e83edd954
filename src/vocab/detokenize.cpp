// Token ids back to bytes: pieces, whole sequences, and a stream that never splits a character.
#include "vocab/vocab_data.h"

#include "util/error.h"
#include "vocab/unicode.h"

namespace corvid::vocab {

namespace {

const std::string_view kSpaceMark = "\xE2\x96\x81"; // U+2581 "▁"

void append_unescaped(std::string_view text, std::string &out) {
    size_t pos = 0;
    while (true) {
        const size_t hit = text.find(kSpaceMark, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        out.push_back(' ');
        pos = hit + kSpaceMark.size();
    }
    out.append(text.substr(pos));
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

} // namespace

void append_piece(const VocabData &v, int32_t id, bool render_special, std::string &out) {
    const TokenData &t = v.tokens[static_cast<size_t>(id)];
    if (t.attr & (kAttrControl | kAttrUnknown)) {
        if (render_special) out += t.text;
        return;
    }
    if (t.attr & kAttrUserDefined) {
        out += t.text;
        return;
    }
    if (t.attr & kAttrNormal) {
        if (v.type == VocabType::spm || v.type == VocabType::wpm) append_unescaped(t.text, out);
        else byte_level_to_bytes(t.text, out);
        return;
    }
    if ((t.attr & kAttrByte) && v.type == VocabType::spm) {
        // "<0xNN>"
        if (t.text.size() == 6 && t.text.compare(0, 3, "<0x") == 0 && t.text[5] == '>') {
            const int hi = hex_digit(t.text[3]), lo = hex_digit(t.text[4]);
            if (hi >= 0 && lo >= 0) out.push_back(static_cast<char>(hi * 16 + lo));
        }
    }
    // unused / undefined tokens render as nothing
}

// llama.cpp's clean-up of spaces (its llama_detokenize with clean_spaces), three passes that
// each look at the text the previous pass left:
//   1. a space before ? ! . or , is dropped;
//   2. a lone apostrophe (" ' ") loses the spaces on both sides;
//   3. a space before the contractions 's 'm 're 've is dropped (not before 't 'd 'll, nor n't,
//      unlike Hugging Face's clean_up_tokenization).
// The first character is never dropped.
void clean_up_spaces(std::string &text) {
    const size_t n1 = text.size();
    if (n1 == 0) return;
    std::string a;
    a.reserve(n1);
    a.push_back(text[0]);
    for (size_t i = 1; i < n1; ++i) {
        const char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) a.pop_back();
        a.push_back(x);
    }

    std::string b;
    b.reserve(a.size());
    b.push_back(a[0]);
    bool prev_is_space = a[0] == ' '; // the character before i in `a`, unless it was consumed
    for (size_t i = 1; i < a.size(); ++i) {
        const char x = a[i];
        if (x == '\'' && prev_is_space && i + 1 < a.size() && a[i + 1] == ' ') {
            b.pop_back(); // the space before
            b.push_back(x);
            ++i;          // and the one after, which no later check sees as a space
            prev_is_space = false;
            continue;
        }
        b.push_back(x);
        prev_is_space = x == ' ';
    }

    std::string c;
    c.reserve(b.size());
    c.push_back(b[0]);
    const size_t n3 = b.size();
    for (size_t i = 1; i < n3; ++i) {
        const char x = b[i];
        if (b[i - 1] == ' ' && x == '\'' && i + 1 < n3) {
            const char x1 = b[i + 1];
            const char x2 = i + 2 < n3 ? b[i + 2] : '\0';
            if (x1 == 's' || x1 == 'm' || (x2 && ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')))) c.pop_back();
        }
        c.push_back(x);
    }
    text.swap(c);
}

} // namespace corvid::vocab

namespace corvid {

StreamingDetokenizer::StreamingDetokenizer(const Vocab &vocab, bool render_special)
    : vocab_(vocab), render_special_(render_special) {}

std::string StreamingDetokenizer::push(int32_t id) {
    std::string piece = vocab_.token_to_piece(id, render_special_);
    // The same leading-space rule as Vocab::detokenize, applied to the stream's first token.
    if (first_ && vocab_.data().strip_first_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    first_ = false;
    pending_ += piece;
    const size_t hold = vocab::utf8_incomplete_tail(pending_);
    std::string ready = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return ready;
}

std::string StreamingDetokenizer::flush() {
    std::string rest;
    rest.swap(pending_);
    first_ = true;
    return rest;
}

} // namespace corvid
