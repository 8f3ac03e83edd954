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
        if (v.type == VocabType::spm) append_unescaped(t.text, out);
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

// Hugging Face's clean_up_tokenization: no space before . ? ! , and around a lone apostrophe,
// and none before the contractions 's 'm 're 've and n't.
void clean_up_spaces(std::string &text) {
    auto replace_all = [&](std::string_view from, std::string_view to) {
        std::string out;
        size_t pos = 0;
        bool any = false;
        while (true) {
            const size_t hit = text.find(from, pos);
            if (hit == std::string::npos) break;
            any = true;
            out.append(text, pos, hit - pos);
            out.append(to);
            pos = hit + from.size();
        }
        if (!any) return;
        out.append(text, pos, std::string::npos);
        text.swap(out);
    };
    replace_all(" .", ".");
    replace_all(" ?", "?");
    replace_all(" !", "!");
    replace_all(" ,", ",");
    replace_all(" ' ", "'");
    replace_all(" n't", "n't");
    replace_all(" 'm", "'m");
    replace_all(" 's", "'s");
    replace_all(" 've", "'ve");
    replace_all(" 're", "'re");
}

} // namespace corvid::vocab

namespace corvid {

StreamingDetokenizer::StreamingDetokenizer(const Vocab &vocab, bool render_special)
    : vocab_(vocab), render_special_(render_special) {}

std::string StreamingDetokenizer::push(int32_t id) {
    std::string piece = vocab_.token_to_piece(id, render_special_);
    // The same leading-space rule as Vocab::detokenize, applied to the stream's first token.
    if (first_ && vocab_.add_space_prefix() && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
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
