// GBNF → Grammar. A hand-written recursive-descent parser over the text; grouping and
// repetition become auxiliary rules as they are read, so the result needs no AST.
//
// Syntax (llama.cpp's GBNF): `name ::= alternatives`; `|` between alternatives; `( )`
// groups; `*` `+` `?` `{m}` `{m,}` `{m,n}` `{,n}` repeat the preceding item; "..."
// literals and [...] classes (ranges, `^` negation) with the escapes \n \r \t \\ \" \'
// \[ \] \- \^ \xHH \uHHHH \UHHHHHHHH; `.` any character; `#` comments; `<[id]>`, `<text>`
// whole tokens and `!<...>` any token but that one. A rule's body may span lines: it ends
// where the next `name ::=` begins.
#include "grammar/grammar.h"

#include "util/error.h"

#include <algorithm>
#include <cstdarg>
#include <map>

namespace corvid::grammar {
namespace {

constexpr uint32_t kUnbounded = UINT32_MAX;
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

using Alt = std::vector<Element>;

class Parser {
public:
    explicit Parser(std::string_view src) : s_(src) {}

    std::shared_ptr<const Grammar> run(const std::string &root) {
        skip_space();
        while (pos_ < s_.size()) {
            parse_rule();
            skip_space();
        }
        for (size_t r = 0; r < bodies_.size(); ++r)
            if (!defined_[r]) error(first_use_[r], "rule '%s' is used but never defined", g_.rule_names[r].c_str());
        auto it = ids_.find(root);
        if (it == ids_.end() || !defined_[it->second]) fail(Status::invalid_argument, "grammar: there is no rule named '%s' to start from", root.c_str());
        g_.root = it->second;
        // Flatten: each alternative is a run of elements closed by `end`.
        g_.rule_alts.resize(bodies_.size());
        for (size_t r = 0; r < bodies_.size(); ++r)
            for (const Alt &a : bodies_[r]) {
                g_.rule_alts[r].push_back(static_cast<uint32_t>(g_.code.size()));
                g_.code.insert(g_.code.end(), a.begin(), a.end());
                g_.code.push_back({Op::end, 0});
            }
        check_grammar(g_);
        return std::make_shared<const Grammar>(std::move(g_));
    }

private:
    std::string_view s_;
    size_t pos_ = 0;
    Grammar g_;
    std::map<std::string, uint32_t> ids_;
    std::vector<std::vector<Alt>> bodies_;
    std::vector<bool> defined_;
    std::vector<size_t> first_use_;
    std::vector<int> aux_count_;
    std::map<std::vector<std::pair<uint32_t, uint32_t>>, uint32_t> class_ids_;
    size_t n_elements_ = 0;
    int depth_ = 0;

    [[noreturn]] void error(size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4))) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < at && i < s_.size(); ++i) {
            if (s_[i] == '\n') ++line, col = 1;
            else if ((static_cast<unsigned char>(s_[i]) & 0xC0) != 0x80) ++col; // count characters, not bytes
        }
        va_list ap;
        va_start(ap, fmt);
        const std::string msg = vstrfmt(fmt, ap);
        va_end(ap);
        fail(Status::invalid_argument, "grammar line %zu, column %zu: %s", line, col, msg.c_str());
    }

    bool eof() const { return pos_ >= s_.size(); }
    char peek(size_t k = 0) const { return pos_ + k < s_.size() ? s_[pos_ + k] : '\0'; }

    void skip_space() {
        while (!eof()) {
            const char c = peek();
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') ++pos_;
            else if (c == '#') {
                while (!eof() && peek() != '\n') ++pos_;
            } else break;
        }
    }

    static bool name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    }

    // Whether a rule definition (`name ::=`) starts here: it ends the previous rule's body.
    bool at_rule_start() const {
        size_t i = pos_;
        while (i < s_.size() && name_char(s_[i])) ++i;
        if (i == pos_) return false;
        while (i < s_.size() && (s_[i] == ' ' || s_[i] == '\t' || s_[i] == '\r' || s_[i] == '\n')) ++i;
        return s_.substr(i, 3) == "::=";
    }

    std::string parse_name() {
        const size_t start = pos_;
        while (!eof() && name_char(peek())) ++pos_;
        if (pos_ == start) error(start, "expected a rule name");
        return std::string(s_.substr(start, pos_ - start));
    }

    uint32_t rule_id(const std::string &name, size_t at) {
        auto it = ids_.find(name);
        if (it != ids_.end()) return it->second;
        const uint32_t id = static_cast<uint32_t>(bodies_.size());
        ids_.emplace(name, id);
        g_.rule_names.push_back(name);
        bodies_.emplace_back();
        defined_.push_back(false);
        first_use_.push_back(at);
        aux_count_.push_back(0);
        return id;
    }

    uint32_t new_aux(uint32_t parent) {
        // '/' cannot occur in a rule name written in the grammar, so this never collides.
        std::string name;
        do name = g_.rule_names[parent] + "/" + std::to_string(++aux_count_[parent]);
        while (ids_.count(name));
        const uint32_t id = rule_id(name, pos_);
        defined_[id] = true;
        return id;
    }

    void count(size_t n) {
        n_elements_ += n;
        if (n_elements_ > kMaxGrammarElements) error(pos_, "the grammar expands to more than %zu elements (repetition counts too large?)", kMaxGrammarElements);
    }

    void parse_rule() {
        const size_t at = pos_;
        const std::string name = parse_name();
        skip_space();
        if (s_.substr(pos_, 3) != "::=") error(pos_, "expected '::=' after rule name '%s'", name.c_str());
        pos_ += 3;
        const uint32_t id = rule_id(name, at);
        if (defined_[id]) error(at, "rule '%s' is defined twice", name.c_str());
        defined_[id] = true;
        bodies_[id] = parse_alternatives(id);
        if (!eof() && !at_rule_start()) error(pos_, "unexpected '%c' (expected an alternative, or a new rule 'name ::=')", peek());
    }

    std::vector<Alt> parse_alternatives(uint32_t owner) {
        if (++depth_ > kMaxNesting) error(pos_, "nesting deeper than %d", kMaxNesting);
        std::vector<Alt> alts;
        alts.push_back(parse_sequence(owner));
        skip_space();
        while (peek() == '|') {
            ++pos_;
            alts.push_back(parse_sequence(owner));
            skip_space();
        }
        --depth_;
        return alts;
    }

    Alt parse_sequence(uint32_t owner) {
        Alt seq;
        while (true) {
            skip_space();
            if (eof() || peek() == ')' || peek() == '|' || at_rule_start()) break;
            const size_t start = seq.size();
            parse_primary(owner, seq);
            while (true) { // quantifiers, possibly chained: ("a"?)* is legal
                skip_space();
                const char c = peek();
                if (c == '*') ++pos_, repeat(owner, seq, start, 0, kUnbounded);
                else if (c == '+') ++pos_, repeat(owner, seq, start, 1, kUnbounded);
                else if (c == '?') ++pos_, repeat(owner, seq, start, 0, 1);
                else if (c == '{') {
                    uint32_t m = 0, n = 0;
                    parse_braces(m, n);
                    repeat(owner, seq, start, m, n);
                } else break;
            }
        }
        return seq;
    }

    uint32_t parse_count() {
        const size_t start = pos_;
        uint64_t v = 0;
        while (peek() >= '0' && peek() <= '9') {
            v = v * 10 + static_cast<uint64_t>(peek() - '0');
            if (v > kMaxRepeat) error(start, "repetition count larger than %u", kMaxRepeat);
            ++pos_;
        }
        if (pos_ == start) error(start, "expected a number in '{m,n}'");
        return static_cast<uint32_t>(v);
    }

    void parse_braces(uint32_t &m, uint32_t &n) {
        const size_t at = pos_++;
        skip_space();
        m = peek() == ',' ? 0 : parse_count();
        skip_space();
        if (peek() == '}') n = m;
        else if (peek() == ',') {
            ++pos_;
            skip_space();
            n = peek() == '}' ? kUnbounded : parse_count();
        } else error(pos_, "expected ',' or '}' in a repetition");
        skip_space();
        if (peek() != '}') error(pos_, "expected '}' to close the repetition opened at this rule");
        ++pos_;
        if (n < m) error(at, "repetition {%u,%u}: the maximum is below the minimum", m, n);
    }

    // Replaces seq[start..] (the item just read) by `item{m,n}`.
    void repeat(uint32_t owner, Alt &seq, size_t start, uint32_t m, uint32_t n) {
        if (start == seq.size()) error(pos_, "a repetition needs something before it");
        const Alt item(seq.begin() + static_cast<std::ptrdiff_t>(start), seq.end());
        seq.resize(start);
        const uint64_t extra = n == kUnbounded ? 1 : uint64_t(n - m);
        count((uint64_t(m) + extra) * (item.size() + 2));
        for (uint32_t i = 0; i < m; ++i) seq.insert(seq.end(), item.begin(), item.end());
        if (n == kUnbounded) {
            // star ::= item star | ε   (right recursion: the matcher runs it in constant stack)
            const uint32_t star = new_aux(owner);
            Alt loop = item;
            loop.push_back({Op::rule, star});
            bodies_[star] = {loop, Alt{}};
            seq.push_back({Op::rule, star});
        } else if (n > m) {
            // opt_k ::= item opt_{k-1} | ε — at most n-m more, without ambiguity about which.
            uint32_t prev = UINT32_MAX;
            for (uint32_t k = 0; k < n - m; ++k) {
                const uint32_t r = new_aux(owner);
                Alt a = item;
                if (prev != UINT32_MAX) a.push_back({Op::rule, prev});
                bodies_[r] = {a, Alt{}};
                prev = r;
            }
            seq.push_back({Op::rule, prev});
        }
    }

    void parse_primary(uint32_t owner, Alt &seq) {
        const size_t at = pos_;
        const char c = peek();
        if (c == '"') {
            ++pos_;
            while (true) {
                if (eof() || peek() == '\n') error(at, "unterminated string literal");
                if (peek() == '"') break;
                const uint32_t cp = parse_char();
                seq.push_back({Op::chars, class_of({{cp, cp}}, false)});
                count(1);
            }
            ++pos_;
        } else if (c == '[') {
            seq.push_back({Op::chars, parse_class()});
            count(1);
        } else if (c == '.') {
            ++pos_;
            seq.push_back({Op::chars, class_of({}, true)});
            count(1);
        } else if (c == '(') {
            ++pos_;
            const uint32_t aux = new_aux(owner);
            bodies_[aux] = parse_alternatives(aux);
            skip_space();
            if (peek() != ')') error(at, "'(' is never closed");
            ++pos_;
            seq.push_back({Op::rule, aux});
            count(1);
        } else if (c == '<' || (c == '!' && peek(1) == '<')) {
            const bool negated = c == '!';
            pos_ += negated ? 2 : 1;
            TokenRef ref;
            if (peek() == '[') {
                ++pos_;
                const size_t n0 = pos_;
                int64_t v = 0;
                while (peek() >= '0' && peek() <= '9' && v < INT32_MAX) v = v * 10 + (peek() - '0'), ++pos_;
                if (pos_ == n0 || v >= INT32_MAX || peek() != ']' || peek(1) != '>') error(at, "a token id is written <[123]>");
                pos_ += 2;
                ref.id = static_cast<int32_t>(v);
            } else {
                const size_t t0 = pos_;
                while (!eof() && peek() != '>' && peek() != ' ' && peek() != '\n' && peek() != '\t') ++pos_;
                if (peek() != '>' || pos_ == t0) error(at, "a special token is written <name>, e.g. <think>");
                ++pos_;
                ref.text = "<" + std::string(s_.substr(t0, pos_ - t0));
            }
            g_.token_refs.push_back(ref);
            seq.push_back({negated ? Op::not_token : Op::token, static_cast<uint32_t>(g_.token_refs.size() - 1)});
            count(1);
        } else if (name_char(c)) {
            const std::string name = parse_name();
            seq.push_back({Op::rule, rule_id(name, at)});
            count(1);
        } else if (c == '!') {
            error(at, "'!' must be followed by a token reference <...>");
        } else {
            error(at, "unexpected '%c'", c);
        }
    }

    uint32_t hex(int digits) {
        const size_t at = pos_;
        uint32_t v = 0;
        for (int i = 0; i < digits; ++i) {
            const char c = peek();
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) error(at, "expected %d hex digits", digits);
            v = v * 16 + static_cast<uint32_t>(d);
            ++pos_;
        }
        if (v > kMaxCodePoint) error(at, "code point U+%X is beyond U+10FFFF", v);
        return v;
    }

    // One character of a literal or class: an escape or one UTF-8 encoded code point.
    uint32_t parse_char() {
        const size_t at = pos_;
        const unsigned char c = static_cast<unsigned char>(peek());
        if (c == '\\') {
            ++pos_;
            const char e = peek();
            ++pos_;
            switch (e) {
            case 'n': return '\n';
            case 'r': return '\r';
            case 't': return '\t';
            case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/': return static_cast<unsigned char>(e);
            case 'x': return hex(2);
            case 'u': return hex(4);
            case 'U': return hex(8);
            default: error(at, "unknown escape '\\%c'", e ? e : '0');
            }
        }
        if (c < 0x80) return ++pos_, c;
        const int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
        if (len == 0 || pos_ + static_cast<size_t>(len) > s_.size()) error(at, "invalid UTF-8 in the grammar");
        uint32_t cp = c & (0x7F >> len);
        for (int i = 1; i < len; ++i) {
            const unsigned char d = static_cast<unsigned char>(s_[pos_ + static_cast<size_t>(i)]);
            if ((d & 0xC0) != 0x80) error(at, "invalid UTF-8 in the grammar");
            cp = (cp << 6) | (d & 0x3F);
        }
        pos_ += static_cast<size_t>(len);
        return cp;
    }

    uint32_t parse_class() {
        const size_t at = pos_++;
        bool negated = false;
        if (peek() == '^') negated = true, ++pos_;
        std::vector<std::pair<uint32_t, uint32_t>> r;
        while (true) {
            if (eof()) error(at, "unterminated character class");
            if (peek() == ']') break;
            const uint32_t lo = parse_char();
            uint32_t hi = lo;
            if (peek() == '-' && peek(1) != ']' && pos_ + 1 < s_.size()) {
                ++pos_;
                hi = parse_char();
                if (hi < lo) error(at, "range U+%04X-U+%04X runs backwards", lo, hi);
            }
            r.push_back({lo, hi});
        }
        ++pos_;
        if (r.empty()) error(at, "empty character class");
        return class_of(std::move(r), negated);
    }

    // Normalises (sort, merge, complement, drop surrogates) and interns a class.
    uint32_t class_of(std::vector<std::pair<uint32_t, uint32_t>> r, bool negated) {
        std::sort(r.begin(), r.end());
        std::vector<std::pair<uint32_t, uint32_t>> m;
        for (const auto &x : r) {
            if (!m.empty() && x.first <= m.back().second + 1) m.back().second = std::max(m.back().second, x.second);
            else m.push_back(x);
        }
        if (negated) {
            std::vector<std::pair<uint32_t, uint32_t>> c;
            uint32_t next = 0;
            for (const auto &x : m) {
                if (x.first > next) c.push_back({next, x.first - 1});
                next = x.second + 1;
            }
            if (next <= kMaxCodePoint) c.push_back({next, kMaxCodePoint});
            m = std::move(c);
        }
        std::vector<std::pair<uint32_t, uint32_t>> out;
        for (const auto &x : m) {
            if (x.second < 0xD800 || x.first > 0xDFFF) out.push_back(x);
            else {
                if (x.first < 0xD800) out.push_back({x.first, 0xD7FF});
                if (x.second > 0xDFFF) out.push_back({0xE000, x.second});
            }
        }
        auto it = class_ids_.find(out);
        if (it != class_ids_.end()) return it->second;
        const uint32_t id = static_cast<uint32_t>(g_.classes.size());
        g_.classes.push_back({out});
        class_ids_.emplace(std::move(out), id);
        return id;
    }
};

} // namespace

bool CharClass::contains(uint32_t cp) const { return intersects(cp, cp); }

bool CharClass::intersects(uint32_t lo, uint32_t hi) const {
    // First range that ends at or after lo; it intersects when it starts at or before hi.
    auto it = std::lower_bound(ranges.begin(), ranges.end(), lo,
                               [](const std::pair<uint32_t, uint32_t> &r, uint32_t v) { return r.second < v; });
    return it != ranges.end() && it->first <= hi;
}

bool CharClass::contains_range(uint32_t lo, uint32_t hi) const {
    auto it = std::lower_bound(ranges.begin(), ranges.end(), lo,
                               [](const std::pair<uint32_t, uint32_t> &r, uint32_t v) { return r.second < v; });
    return it != ranges.end() && it->first <= lo && it->second >= hi;
}

std::shared_ptr<const Grammar> parse_gbnf(std::string_view text, const std::string &root) {
    return Parser(text).run(root);
}

const char *json_gbnf() {
    return R"(# Any JSON value (RFC 8259). White space is bounded so that a model cannot loop on it.
root   ::= value
value  ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}"
array  ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
ws     ::= ( [ \t\n] [ \t]{0,20} )?
)";
}

} // namespace corvid::grammar
