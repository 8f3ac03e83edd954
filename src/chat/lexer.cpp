#include "chat/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "chat/pystr.h"
#include "chat/template_error.h"

namespace corvid::chat {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
public:
    explicit Lexer(std::string src) : src_(std::move(src)) {
        for (size_t k = 0; k < src_.size(); ++k)
            if (src_[k] == '\n') newlines_.push_back(k);
    }

    std::vector<Token> run() {
        bool line_starting = true;
        const size_t n = src_.size();
        while (pos_ < n) {
            size_t p = pos_;
            for (;; ++p) {
                p = src_.find('{', p);
                if (p == std::string::npos || p + 1 >= n) { p = std::string::npos; break; }
                const char k = src_[p + 1];
                if (k == '{' || k == '%' || k == '#') break;
            }
            if (p == std::string::npos) {
                emit_data(src_.substr(pos_), pos_);
                break;
            }
            std::string text = src_.substr(pos_, p - pos_);
            const size_t text_pos = pos_;
            const char kind = src_[p + 1];
            size_t q = p + 2;
            char sign = 0;
            if (q < n && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
            size_t raw_end = 0;
            const bool raw = kind == '%' && match_word_tag(q, "raw", &raw_end);
            text = strip_before(text, sign, kind != '{', line_starting);
            emit_data(text, text_pos);
            if (kind == '#') {
                size_t e = src_.find("#}", q);
                if (e == std::string::npos) fail_at(p, "missing end of comment tag");
                size_t after = e + 2;
                if (e > q && src_[e - 1] == '-') after = skip_ws(after);
                else if (!(e > q && src_[e - 1] == '+') && after < n && src_[after] == '\n') ++after;
                line_starting = src_[after - 1] == '\n';
                pos_ = after;
                continue;
            }
            if (raw) {
                lex_raw(p, raw_end, line_starting);
                continue;
            }
            pos_ = q;
            line_starting = lex_tag(p, kind == '{');
        }
        Token eof{Tok::eof, "", 0, 0};
        set_loc(eof, n);
        out_.push_back(eof);
        return std::move(out_);
    }

private:
    std::string src_;
    std::vector<size_t> newlines_;
    size_t pos_ = 0;
    std::vector<Token> out_;

    void set_loc(Token &t, size_t at) const {
        const auto it = std::lower_bound(newlines_.begin(), newlines_.end(), at);
        t.line = int(it - newlines_.begin()) + 1;
        const size_t line_start = it == newlines_.begin() ? 0 : *(it - 1) + 1;
        t.col = int(at - line_start) + 1;
    }

    [[noreturn]] void fail_at(size_t at, const char *msg, const std::string &arg = "") const {
        Token t{Tok::eof, ""};
        set_loc(t, at);
        template_fail_at(Status::format, t.line, t.col, msg, arg.c_str());
    }

    void push(Tok type, std::string text, size_t at) {
        Token t{type, std::move(text)};
        set_loc(t, at);
        out_.push_back(std::move(t));
    }

    void emit_data(const std::string &text, size_t at) {
        if (!text.empty()) push(Tok::data, text, at);
    }

    size_t skip_ws(size_t at) const {
        while (at < src_.size() && is_ws(src_[at])) ++at;
        return at;
    }

    // `{%[-+]? word [-+]?%}` starting after the sign; *end = position just past "%}" (before any
    // trimming), with the sign before "%}" left at *end - 3 when present.
    bool match_word_tag(size_t at, const char *word, size_t *end) const {
        at = skip_ws(at);
        const size_t wl = std::char_traits<char>::length(word);
        if (src_.compare(at, wl, word) != 0) return false;
        at += wl;
        if (at < src_.size() && is_ident(src_[at])) return false;
        at = skip_ws(at);
        if (at < src_.size() && (src_[at] == '-' || src_[at] == '+')) ++at;
        if (src_.compare(at, 2, "%}") != 0) return false;
        *end = at + 2;
        return true;
    }

    // Whitespace control for the data before a tag: '-' strips all trailing whitespace; otherwise
    // lstrip_blocks removes spaces/tabs between the line start and a block or comment tag.
    static std::string strip_before(const std::string &text, char sign, bool block_or_comment, bool line_starting) {
        if (sign == '-') return pystr::strip(text, nullptr, false, true);
        if (sign == '+' || !block_or_comment) return text;
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if (l_pos == 0 && !line_starting) return text;
        if (l_pos == text.size()) return text;
        for (size_t k = l_pos; k < text.size(); ++k)
            if (!is_ws(text[k])) return text;
        return text.substr(0, l_pos);
    }

    void lex_raw(size_t tag_pos, size_t begin_end, bool &line_starting) {
        // The raw opening tag: "-%}" strips following whitespace; no trim_blocks newline here.
        size_t start = begin_end;
        if (src_[begin_end - 3] == '-') start = skip_ws(begin_end);
        bool content_line_start = src_[start - 1] == '\n';
        for (size_t p = src_.find("{%", start); p != std::string::npos; p = src_.find("{%", p + 1)) {
            size_t q = p + 2;
            char sign = 0;
            if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
            size_t end = 0;
            if (!match_word_tag(q, "endraw", &end)) continue;
            std::string content = strip_before(src_.substr(start, p - start), sign, true, content_line_start);
            emit_data(content, start);
            const char end_sign = src_[end - 3];
            if (end_sign == '-') end = skip_ws(end);
            else if (end_sign != '+' && end < src_.size() && src_[end] == '\n') ++end;
            line_starting = src_[end - 1] == '\n';
            pos_ = end;
            return;
        }
        fail_at(tag_pos, "missing '{%% endraw %%}' for this raw block");
    }

    // Tokens of one {{ }} or {% %} tag; returns whether the consumed end ended with a newline.
    bool lex_tag(size_t tag_pos, bool variable) {
        push(variable ? Tok::var_begin : Tok::block_begin, variable ? "{{" : "{%", tag_pos);
        std::vector<char> stack;
        const size_t n = src_.size();
        while (true) {
            pos_ = skip_ws(pos_);
            if (pos_ >= n) fail_at(tag_pos, variable ? "unexpected end of template: '}}' missing for this tag"
                                                     : "unexpected end of template: '%%}' missing for this tag");
            if (stack.empty()) {
                const char c = src_[pos_];
                const char *close = variable ? "}}" : "%}";
                size_t end = 0;
                if (c == '-' && src_.compare(pos_ + 1, 2, close) == 0) end = skip_ws(pos_ + 3);
                else if (!variable && c == '+' && src_.compare(pos_ + 1, 2, close) == 0) end = pos_ + 3;
                else if (src_.compare(pos_, 2, close) == 0) {
                    end = pos_ + 2;
                    if (!variable && end < n && src_[end] == '\n') ++end;
                }
                if (end) {
                    push(variable ? Tok::var_end : Tok::block_end, close, pos_);
                    pos_ = end;
                    return src_[end - 1] == '\n';
                }
            }
            lex_one(stack);
        }
    }

    void lex_one(std::vector<char> &stack) {
        const size_t n = src_.size();
        const size_t start = pos_;
        const char c = src_[pos_];
        if (is_ident_start(c)) {
            while (pos_ < n && is_ident(src_[pos_])) ++pos_;
            push(Tok::name, src_.substr(start, pos_ - start), start);
            return;
        }
        if (is_digit(c)) {
            lex_number(start);
            return;
        }
        if (c == '\'' || c == '"') {
            lex_string(start);
            return;
        }
        static const char *ops2[] = {"//", "**", "==", "!=", ">=", "<="};
        for (const char *op : ops2)
            if (src_.compare(pos_, 2, op) == 0) {
                pos_ += 2;
                push(Tok::op, op, start);
                return;
            }
        if (std::string("+-/*%~[](){}><=.:|,;").find(c) == std::string::npos)
            fail_at(start, "unexpected character '%s' in tag", std::string(1, c));
        ++pos_;
        if (c == '(' || c == '[' || c == '{') stack.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
        else if (c == ')' || c == ']' || c == '}') {
            if (stack.empty()) fail_at(start, "unexpected '%s'", std::string(1, c));
            if (stack.back() != c) fail_at(start, "unexpected %s", "'" + std::string(1, c) + "', expected '" + stack.back() + "'");
            stack.pop_back();
        }
        push(Tok::op, std::string(1, c), start);
    }

    void lex_number(size_t start) {
        const size_t n = src_.size();
        auto digits = [&] {
            while (pos_ < n && (is_digit(src_[pos_]) || (src_[pos_] == '_' && pos_ + 1 < n && is_digit(src_[pos_ + 1]))))
                ++pos_;
        };
        digits();
        bool is_float = false;
        const bool after_dot = start > 0 && src_[start - 1] == '.';
        if (!after_dot && pos_ + 1 < n && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
            ++pos_;
            digits();
            is_float = true;
        }
        if (!after_dot && pos_ < n && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
            size_t e = pos_ + 1;
            if (e < n && (src_[e] == '+' || src_[e] == '-')) ++e;
            if (e < n && is_digit(src_[e])) {
                pos_ = e;
                digits();
                is_float = true;
            }
        }
        std::string text;
        for (size_t k = start; k < pos_; ++k)
            if (src_[k] != '_') text += src_[k];
        Token t{is_float ? Tok::floating : Tok::integer, text};
        set_loc(t, start);
        if (is_float) t.fval = std::strtod(text.c_str(), nullptr);
        else {
            errno = 0;
            t.ival = std::strtoll(text.c_str(), nullptr, 10);
            if (errno == ERANGE) fail_at(start, "integer literal %s is too large", text);
        }
        out_.push_back(std::move(t));
    }

    static int hexval(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // Python string-literal escapes; unknown escapes keep their backslash (as Python does).
    void lex_string(size_t start) {
        const size_t n = src_.size();
        const char quote = src_[pos_++];
        std::string out;
        while (true) {
            if (pos_ >= n) fail_at(start, "unterminated string literal");
            const char c = src_[pos_++];
            if (c == quote) break;
            if (c != '\\') { out += c; continue; }
            if (pos_ >= n) fail_at(start, "unterminated string literal");
            const char e = src_[pos_++];
            switch (e) {
            case '\n': break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'v': out += '\v'; break;
            case 'x': case 'u': case 'U': {
                const int width = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                uint32_t cp = 0;
                for (int k = 0; k < width; ++k) {
                    const int h = pos_ < n ? hexval(src_[pos_]) : -1;
                    if (h < 0) fail_at(start, "truncated \\%s escape in string literal", std::string(1, e));
                    cp = cp * 16 + uint32_t(h);
                    ++pos_;
                }
                if (cp > 0x10FFFF) fail_at(start, "invalid \\U escape in string literal");
                pystr::append_utf8(out, cp);
                break;
            }
            default:
                if (e >= '0' && e <= '7') {
                    uint32_t cp = uint32_t(e - '0');
                    for (int k = 0; k < 2 && pos_ < n && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k)
                        cp = cp * 8 + uint32_t(src_[pos_++] - '0');
                    pystr::append_utf8(out, cp);
                } else {
                    out += '\\';
                    out += e;
                }
            }
        }
        push(Tok::string, out, start);
    }
};

std::string normalize_newlines(const std::string &s) {
    std::string out;
    out.reserve(s.size());
    for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '\r') {
            out += '\n';
            if (k + 1 < s.size() && s[k + 1] == '\n') ++k;
        } else {
            out += s[k];
        }
    }
    // jinja2's keep_trailing_newline=False drops one trailing newline.
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

}  // namespace

std::vector<Token> lex(const std::string &source) { return Lexer(normalize_newlines(source)).run(); }

}  // namespace corvid::chat
