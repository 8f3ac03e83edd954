#include "chat/pystr.h"

#include <algorithm>

namespace corvid::chat::pystr {

std::vector<uint32_t> decode(const std::string &s) {
    // Invalid bytes become U+DC80..U+DCFF (Python's surrogateescape) and encode() restores them.
    std::vector<uint32_t> out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<uint8_t>(s[i]);
        size_t n = 0;
        uint32_t cp = c;
        if (c >= 0xF0 && c < 0xF5) { n = 3; cp = c & 0x07; }
        else if (c >= 0xE0 && c < 0xF0) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xC2 && c < 0xE0) { n = 1; cp = c & 0x1F; }
        else if (c >= 0x80) { out.push_back(0xDC00 + c); ++i; continue; }
        bool ok = i + n < s.size();
        for (size_t k = 1; ok && k <= n; ++k) ok = (static_cast<uint8_t>(s[i + k]) & 0xC0) == 0x80;
        if (!ok) { out.push_back(0xDC00 + c); ++i; continue; }
        for (size_t k = 1; k <= n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
        out.push_back(cp);
        i += n + 1;
    }
    return out;
}

void append_utf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F));
    }
}

std::string encode(const std::vector<uint32_t> &cps) {
    std::string out;
    out.reserve(cps.size());
    for (uint32_t cp : cps) {
        if (cp >= 0xDC80 && cp <= 0xDCFF) out += char(cp - 0xDC00);
        else append_utf8(out, cp);
    }
    return out;
}

size_t length(const std::string &s) {
    size_t n = 0;
    for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
    return n;
}

bool is_space(uint32_t cp) {
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F)) return true;
    if (cp < 0x80) return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string strip(const std::string &s, const std::string *chars, bool left, bool right) {
    const bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; });
    if (ascii && (!chars || std::all_of(chars->begin(), chars->end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; }))) {
        auto drop = [&](char c) { return chars ? chars->find(c) != std::string::npos : is_space(uint8_t(c)); };
        size_t b = 0, e = s.size();
        if (left) while (b < e && drop(s[b])) ++b;
        if (right) while (e > b && drop(s[e - 1])) --e;
        return s.substr(b, e - b);
    }
    const auto cps = decode(s);
    std::vector<uint32_t> set;
    if (chars) set = decode(*chars);
    auto drop = [&](uint32_t c) { return chars ? std::find(set.begin(), set.end(), c) != set.end() : is_space(c); };
    size_t b = 0, e = cps.size();
    if (left) while (b < e && drop(cps[b])) ++b;
    if (right) while (e > b && drop(cps[e - 1])) --e;
    return encode(std::vector<uint32_t>(cps.begin() + b, cps.begin() + e));
}

std::vector<std::string> split(const std::string &s, const std::string *sep, int64_t maxsplit, bool from_right) {
    std::vector<std::string> out;
    if (sep) {
        if (maxsplit < 0) maxsplit = INT64_MAX;
        if (!from_right) {
            size_t pos = 0;
            while (maxsplit-- > 0) {
                const size_t at = s.find(*sep, pos);
                if (at == std::string::npos) break;
                out.push_back(s.substr(pos, at - pos));
                pos = at + sep->size();
            }
            out.push_back(s.substr(pos));
        } else {
            size_t end = s.size();
            while (maxsplit-- > 0 && end >= sep->size()) {
                const size_t at = s.rfind(*sep, end - sep->size());
                if (at == std::string::npos) break;
                out.push_back(s.substr(at + sep->size(), end - at - sep->size()));
                end = at;
            }
            out.push_back(s.substr(0, end));
            std::reverse(out.begin(), out.end());
        }
        return out;
    }
    // Whitespace split: runs of whitespace separate, leading/trailing whitespace ignored.
    const auto cps = decode(s);
    if (maxsplit < 0) maxsplit = INT64_MAX;
    if (!from_right) {
        size_t i = 0, n = cps.size();
        while (true) {
            while (i < n && is_space(cps[i])) ++i;
            if (i >= n) break;
            if (maxsplit-- <= 0) {
                size_t e = n;
                while (e > i && is_space(cps[e - 1])) --e;
                out.push_back(encode(std::vector<uint32_t>(cps.begin() + i, cps.begin() + e)));
                break;
            }
            size_t j = i;
            while (j < n && !is_space(cps[j])) ++j;
            out.push_back(encode(std::vector<uint32_t>(cps.begin() + i, cps.begin() + j)));
            i = j;
        }
    } else {
        int64_t i = int64_t(cps.size());
        while (true) {
            while (i > 0 && is_space(cps[i - 1])) --i;
            if (i <= 0) break;
            if (maxsplit-- <= 0) {
                int64_t b = 0;
                while (b < i && is_space(cps[b])) ++b;
                out.push_back(encode(std::vector<uint32_t>(cps.begin() + b, cps.begin() + i)));
                break;
            }
            int64_t j = i;
            while (j > 0 && !is_space(cps[j - 1])) --j;
            out.push_back(encode(std::vector<uint32_t>(cps.begin() + j, cps.begin() + i)));
            i = j;
        }
        std::reverse(out.begin(), out.end());
    }
    return out;
}

std::string replace(const std::string &s, const std::string &from, const std::string &to, int64_t count) {
    if (count < 0) count = INT64_MAX;
    std::string out;
    if (from.empty()) {
        // Python inserts `to` between every code point (and at both ends).
        const auto cps = decode(s);
        for (size_t i = 0; i <= cps.size(); ++i) {
            if (count > 0) { out += to; --count; }
            if (i < cps.size()) append_utf8(out, cps[i]);
        }
        return out;
    }
    size_t pos = 0;
    while (count > 0) {
        const size_t at = s.find(from, pos);
        if (at == std::string::npos) break;
        out.append(s, pos, at - pos);
        out += to;
        pos = at + from.size();
        --count;
    }
    out.append(s, pos, std::string::npos);
    return out;
}

int64_t count(const std::string &s, const std::string &sub) {
    if (sub.empty()) return int64_t(length(s)) + 1;
    int64_t n = 0;
    for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
    return n;
}

int64_t find(const std::string &s, const std::string &sub, bool from_right) {
    const size_t at = from_right ? s.rfind(sub) : s.find(sub);
    if (at == std::string::npos) return -1;
    return int64_t(length(s.substr(0, at)));
}

std::string upper(const std::string &s) {
    std::string out = s;
    for (char &c : out) if (c >= 'a' && c <= 'z') c = char(c - 32);
    return out;
}

std::string lower(const std::string &s) {
    std::string out = s;
    for (char &c : out) if (c >= 'A' && c <= 'Z') c = char(c + 32);
    return out;
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<uint8_t>(c) >= 0x80; }

std::string title(const std::string &s) {
    // Python str.title(): a letter following a cased letter is lowered, otherwise uppered.
    std::string out = s;
    bool prev_cased = false;
    for (char &c : out) {
        if (is_alpha(c)) {
            if (prev_cased) { if (c >= 'A' && c <= 'Z') c = char(c + 32); }
            else if (c >= 'a' && c <= 'z') c = char(c - 32);
            prev_cased = true;
        } else {
            prev_cased = false;
        }
    }
    return out;
}

std::string capitalize(const std::string &s) {
    std::string out = lower(s);
    if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = char(out[0] - 32);
    return out;
}

std::vector<int64_t> slice_indices(int64_t n, const int64_t *start, const int64_t *stop, int64_t step) {
    std::vector<int64_t> out;
    int64_t b, e;
    if (step > 0) {
        b = start ? *start : 0;
        e = stop ? *stop : n;
        if (b < 0) b = std::max<int64_t>(0, b + n);
        if (e < 0) e = std::max<int64_t>(0, e + n);
        b = std::min(b, n);
        e = std::min(e, n);
        for (int64_t i = b; i < e; i += step) out.push_back(i);
    } else {
        b = start ? *start : n - 1;
        e = stop ? *stop : -1;  // -1 here means "before the first element"
        if (start) { if (b < 0) b += n; if (b < 0) b = -1; if (b >= n) b = n - 1; }
        if (stop) { if (e < 0) { e += n; if (e < 0) e = -1; } if (e >= n) e = n - 1; }
        for (int64_t i = b; i > e; i += step) out.push_back(i);
    }
    return out;
}

}  // namespace corvid::chat::pystr
