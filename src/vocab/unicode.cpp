#include "vocab/unicode.h"

#include <array>

namespace corvid::vocab {

void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

namespace {

// Decodes the sequence at `i`; returns its length, or 0 when it is malformed.
size_t decode_at(std::string_view t, size_t i, uint32_t &cp) {
    const auto c = static_cast<uint8_t>(t[i]);
    size_t len;
    if (c < 0x80) {
        cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > t.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<uint8_t>(t[i + k]);
        if ((cc & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3F);
    }
    return len;
}

} // namespace

bool replace_invalid_utf8(std::string_view text, std::string &out) {
    // Fast check: most text is well-formed and canonical, and then nothing changes.
    size_t i = 0;
    uint32_t cp = 0;
    std::string canon;
    for (; i < text.size();) {
        const size_t len = decode_at(text, i, cp);
        if (len == 0) break;
        if (len > 1) { // overlong forms decode to a code point whose encoding differs
            canon.clear();
            append_utf8(canon, cp);
            if (canon.size() != len) break;
        }
        i += len;
    }
    if (i == text.size()) return false;

    out.assign(text.substr(0, i));
    while (i < text.size()) {
        const size_t len = decode_at(text, i, cp);
        if (len == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            append_utf8(out, cp);
            i += len;
        }
    }
    return true;
}

bool mask_unencodable(std::string_view text, std::string &out) {
    bool any = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<uint8_t>(text[i]);
        const bool surrogate = c == 0xED && i + 1 < text.size() && static_cast<uint8_t>(text[i + 1]) >= 0xA0;
        const bool too_big = c >= 0xF5 || (c == 0xF4 && i + 1 < text.size() && static_cast<uint8_t>(text[i + 1]) >= 0x90);
        if (!surrogate && !too_big) continue;
        if (!any) out.assign(text);
        any = true;
        if (surrogate && i + 2 < text.size()) out.replace(i, 3, "\xEE\x80\x80");           // U+E000
        else if (too_big && i + 3 < text.size()) out.replace(i, 4, "\xF3\xB0\x80\x80");   // U+F0000
    }
    return any;
}

size_t utf8_incomplete_tail(std::string_view s) {
    // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
    const size_t n = s.size();
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const auto c = static_cast<uint8_t>(s[n - back]);
        if ((c & 0xC0) == 0x80) continue; // continuation byte: keep looking for the lead
        if (c < 0x80) return 0;
        const size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        if (need == 1) return 0;            // invalid lead byte: nothing to wait for
        return need > back ? back : 0;
    }
    return 0;
}

namespace {

struct ByteTables {
    std::array<std::string, 256> to_text;
    std::array<int16_t, 324> from_cp; // code points used are all below 256 + 68

    ByteTables() {
        from_cp.fill(-1);
        uint32_t extra = 0;
        for (uint32_t b = 0; b < 256; ++b) {
            // Printable Latin-1 bytes stand for themselves; the rest are moved to 256 + k.
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            const uint32_t cp = printable ? b : 256 + extra++;
            append_utf8(to_text[b], cp);
            from_cp[cp] = static_cast<int16_t>(b);
        }
    }
};

const ByteTables &tables() {
    static const ByteTables t;
    return t;
}

} // namespace

const std::string &byte_to_unicode(uint8_t b) { return tables().to_text[b]; }

int unicode_to_byte(uint32_t cp) {
    const auto &t = tables();
    return cp < t.from_cp.size() ? t.from_cp[cp] : -1;
}

std::string bytes_to_byte_level(std::string_view raw) {
    const auto &t = tables();
    std::string out;
    out.reserve(raw.size() * 2);
    for (char c : raw) out += t.to_text[static_cast<uint8_t>(c)];
    return out;
}

void byte_level_to_bytes(std::string_view text, std::string &out) {
    size_t i = 0;
    while (i < text.size()) {
        const auto c0 = static_cast<uint8_t>(text[i]);
        size_t len = utf8_seq_len(c0);
        if (i + len > text.size()) len = 1;
        uint32_t cp = c0;
        if (len == 2) cp = ((c0 & 0x1Fu) << 6) | (static_cast<uint8_t>(text[i + 1]) & 0x3Fu);
        else if (len > 2) cp = 0x110000; // outside the alphabet (all of it is below U+0800)
        const int b = len <= 2 ? unicode_to_byte(cp) : -1;
        if (b >= 0) out.push_back(static_cast<char>(b));
        else out.append(text.substr(i, len));
        i += len;
    }
}

} // namespace corvid::vocab
