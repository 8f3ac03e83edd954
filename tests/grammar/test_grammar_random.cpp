// The fast mask (trie walk over memoised machine states, cached per state) against brute
// force: on random grammars and a vocabulary full of multi-character and partial-UTF-8
// tokens, every token is checked at every step of a random walk by an independent
// Earley recogniser ("is this text a prefix of some sentence?"), and by running the
// machine on each token alone.
#include "grammar/grammar.h"
#include "grammar/token_matcher.h"
#include "util/error.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

using namespace corvid;
using namespace corvid::grammar;

namespace {

// ---- An Earley recogniser over code points, written from the textbook, sharing nothing
// with the matcher but the parsed Grammar. Nullable rules via Aycock & Horspool.
class Earley {
public:
    explicit Earley(const Grammar &g) : g_(g), rule_of_(g.code.size(), 0), nullable_(g.rule_alts.size(), false) {
        for (size_t r = 0; r < g.rule_alts.size(); ++r)
            for (uint32_t a : g.rule_alts[r])
                for (uint32_t i = a;; ++i) {
                    rule_of_[i] = static_cast<uint32_t>(r);
                    if (g.code[i].op == Op::end) break;
                }
        for (bool ch = true; ch;) {
            ch = false;
            for (size_t r = 0; r < g.rule_alts.size(); ++r)
                for (uint32_t a : g.rule_alts[r]) {
                    bool n = true;
                    for (uint32_t i = a; g.code[i].op != Op::end; ++i) n = n && g.code[i].op == Op::rule && nullable_[g.code[i].arg];
                    if (n && !nullable_[r]) nullable_[r] = ch = true;
                }
        }
    }

    // 0: not a prefix of any sentence; 1: a proper prefix; 2: also a sentence.
    int classify(const std::string &bytes) const {
        std::vector<uint32_t> cps;
        uint32_t plen = 0, prem = 0, pval = 0; // a trailing partial character
        for (size_t i = 0; i < bytes.size();) {
            const unsigned char c = static_cast<unsigned char>(bytes[i]);
            const uint32_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
            if (len == 0) return 0;
            uint32_t cp = len == 1 ? c : c & (0x7F >> len);
            size_t k = 1;
            for (; k < len && i + k < bytes.size(); ++k) {
                const unsigned char d = static_cast<unsigned char>(bytes[i + k]);
                if ((d & 0xC0) != 0x80) return 0;
                cp = (cp << 6) | (d & 0x3F);
            }
            if (k < len) { // runs off the end
                plen = len, prem = static_cast<uint32_t>(len - k), pval = cp;
                break;
            }
            const uint32_t lo = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
            const uint32_t hi = len == 1 ? 0x7F : len == 2 ? 0x7FF : len == 3 ? 0xFFFF : 0x10FFFF;
            if (cp < lo || cp > hi || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
            cps.push_back(cp);
            i += len;
        }
        std::vector<std::set<std::pair<uint32_t, uint32_t>>> sets(cps.size() + 1);
        for (uint32_t a : g_.rule_alts[g_.root]) sets[0].insert({a, 0});
        for (size_t k = 0; k <= cps.size(); ++k) {
            close(sets, k);
            if (k == cps.size()) break;
            for (const auto &[p, o] : sets[k])
                if (g_.code[p].op == Op::chars && g_.classes[g_.code[p].arg].contains(cps[k])) sets[k + 1].insert({p + 1, o});
            if (sets[k + 1].empty()) return 0;
        }
        const auto &last = sets.back();
        if (plen) {
            const uint32_t shift = 6 * prem;
            uint32_t lo = pval << shift, hi = lo | ((1u << shift) - 1);
            lo = std::max(lo, plen == 2 ? 0x80u : plen == 3 ? 0x800u : 0x10000u);
            hi = std::min(hi, plen == 2 ? 0x7FFu : plen == 3 ? 0xFFFFu : 0x10FFFFu);
            for (const auto &[p, o] : last)
                if (g_.code[p].op == Op::chars && lo <= hi && g_.classes[g_.code[p].arg].intersects(lo, hi)) return 1;
            return 0;
        }
        bool scan = false, done = false;
        for (const auto &[p, o] : last) {
            scan = scan || g_.code[p].op == Op::chars;
            done = done || (g_.code[p].op == Op::end && o == 0 && rule_of_[p] == g_.root);
        }
        return done ? 2 : scan ? 1 : 0;
    }

private:
    const Grammar &g_;
    std::vector<uint32_t> rule_of_;
    std::vector<bool> nullable_;

    void close(std::vector<std::set<std::pair<uint32_t, uint32_t>>> &sets, size_t k) const {
        std::vector<std::pair<uint32_t, uint32_t>> work(sets[k].begin(), sets[k].end());
        auto add = [&](uint32_t p, uint32_t o) {
            if (sets[k].insert({p, o}).second) work.push_back({p, o});
        };
        while (!work.empty()) {
            const auto [p, o] = work.back();
            work.pop_back();
            const Element &e = g_.code[p];
            if (e.op == Op::rule) {
                for (uint32_t a : g_.rule_alts[e.arg]) add(a, static_cast<uint32_t>(k));
                if (nullable_[e.arg]) add(p + 1, o);
            } else if (e.op == Op::end) {
                const uint32_t r = rule_of_[p];
                const std::vector<std::pair<uint32_t, uint32_t>> from(sets[o].begin(), sets[o].end());
                for (const auto &[q, o2] : from)
                    if (g_.code[q].op == Op::rule && g_.code[q].arg == r) add(q + 1, o2);
            }
        }
    }
};

// ---- Random grammars over a small alphabet of 1-, 2-, 3- and 4-byte characters.
const std::vector<std::string> kUnits = {"a", "b", "c", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
const std::vector<std::string> kClasses = {"[a-b]", "[^a]", "[é-€]", "[^b-c]", ".", "[a😀]", "[^€]"};
const std::vector<std::string> kQuant = {"", "", "", "*", "+", "?", "{0,2}", "{1,3}", "{2}"};

std::string random_item(std::mt19937 &rng, int rule, int n_rules, bool after_terminal, int depth) {
    const int kind = static_cast<int>(rng() % 10);
    std::string s;
    if (kind < 3) {
        s = "\"";
        for (int k = 0, n = 1 + static_cast<int>(rng() % 2); k < n; ++k) s += kUnits[rng() % kUnits.size()];
        s += "\"";
    } else if (kind < 6) {
        s = kClasses[rng() % kClasses.size()];
    } else if (kind < 8 && depth < 2) {
        s = "(";
        for (int a = 0, n = 1 + static_cast<int>(rng() % 2); a < n; ++a) {
            if (a) s += " | ";
            for (int k = 0, m = 1 + static_cast<int>(rng() % 2); k < m; ++k) s += " " + random_item(rng, rule, n_rules, after_terminal, depth + 1);
        }
        s += " )";
    } else {
        // Later rules freely; any rule once something was consumed (no left recursion).
        const int lo = after_terminal ? 0 : rule + 1;
        if (lo >= n_rules) return "\"a\"";
        s = "r" + std::to_string(lo + static_cast<int>(rng() % static_cast<unsigned>(n_rules - lo)));
    }
    return s + kQuant[rng() % kQuant.size()];
}

std::string random_grammar(std::mt19937 &rng) {
    const int n_rules = 1 + static_cast<int>(rng() % 4);
    std::string g = "root ::= r0\n";
    for (int r = 0; r < n_rules; ++r) {
        g += "r" + std::to_string(r) + " ::=";
        for (int a = 0, n = 1 + static_cast<int>(rng() % 3); a < n; ++a) {
            if (a) g += " |";
            bool term = false;
            for (int k = 0, m = static_cast<int>(rng() % 4); k < m; ++k) {
                const std::string it = random_item(rng, r, n_rules, term, 0);
                term = term || it[0] == '"' || it[0] == '[' || it[0] == '.';
                g += " " + it;
            }
        }
        g += "\n";
    }
    return g;
}

std::shared_ptr<VocabIndex> random_vocab() {
    std::vector<std::string> t;
    for (const auto &a : kUnits) {
        t.push_back(a);
        for (const auto &b : kUnits) {
            t.push_back(a + b);
            for (const auto &c : {"a", "\xc3\xa9", "\xf0\x9f\x98\x80"}) t.push_back(a + b + c);
        }
    }
    // Tokens that cut characters: lead bytes, continuations, and mixtures.
    for (const char *p : {"\xc3", "\xa9", "\xe2", "\xe2\x82", "\x82\xac", "\xac", "\xf0\x9f", "\x98\x80", "\x9f\x98", "a\xc3", "\xa9" "b",
                          "\xac" "a\xe2", "\xff", "\xc0\x80", "\xed\xa0\x80"})
        t.push_back(p);
    t.push_back("a"); // a duplicate text under another id
    t.push_back("</s>");
    const int32_t eog = static_cast<int32_t>(t.size() - 1);
    return std::make_shared<VocabIndex>(t, std::vector<int32_t>{eog});
}

} // namespace

TEST_CASE("grammar random: fast mask == brute force == Earley on every step") {
    std::mt19937 rng(1234);
    const auto vocab = random_vocab();
    int grammars = 0, steps = 0, tokens_checked = 0, too_ambiguous = 0;
    for (int iter = 0; iter < 400 && grammars < 150; ++iter) {
        const std::string text = random_grammar(rng);
        std::shared_ptr<const Grammar> g;
        try {
            g = parse_gbnf(text);
        } catch (const Error &) {
            continue; // e.g. a repeated nullable item (refused as left recursion)
        }
        ++grammars;
        const Earley ref(*g);
        TokenMatcher m(g, vocab);
        if (iter % 2) m.set_run_thresholds(2, 1); // the class-run shortcut wherever it applies
        std::string history;
        try {
        for (int step = 0; step < 12; ++step) {
            const TokenMask fast = m.allowed();
            const TokenMask brute = m.allowed_brute_force();
            REQUIRE_MESSAGE(fast == brute, text, " after '", history, "'");
            std::vector<int32_t> allowed;
            for (int32_t t = 0; t < vocab->n_vocab; ++t) {
                const bool eog = vocab->is_eog[static_cast<size_t>(t)];
                const int verdict = ref.classify(history + (eog ? "" : vocab->text[static_cast<size_t>(t)]));
                const bool expect = eog ? verdict == 2 : verdict != 0;
                ++tokens_checked;
                if (mask_has(fast, t) != expect) {
                    FAIL_CHECK("grammar:\n", text, "after '", history, "' token ", t, " '", vocab->text[static_cast<size_t>(t)],
                               "': matcher ", mask_has(fast, t), ", Earley ", verdict);
                    return;
                }
                CHECK(m.allows(t) == expect);
                if (expect) allowed.push_back(t);
            }
            ++steps;
            if (allowed.empty()) break;
            const int32_t pick = allowed[rng() % allowed.size()];
            m.accept(pick);
            if (m.finished()) break;
            history += vocab->text[static_cast<size_t>(pick)];
        }
        } catch (const Error &e) {
            // Exponentially ambiguous grammars hit the matcher's bound on live parses.
            REQUIRE(e.status() == Status::unsupported);
            ++too_ambiguous;
        }
    }
    MESSAGE(grammars, " grammars (", too_ambiguous, " too ambiguous), ", steps, " steps, ", tokens_checked, " token checks");
    CHECK(grammars >= 100);
    CHECK(too_ambiguous * 10 < grammars);
}

TEST_CASE("grammar random: token references and end of generation") {
    const std::vector<std::string> texts = {"a", "b", "ab", "<think>", "</think>", "<eos>"};
    auto v = std::make_shared<VocabIndex>(texts, std::vector<int32_t>{5});
    // Make <think> and </think> special (not text), as a loaded vocabulary would.
    v->special.emplace("<think>", 3);
    v->special.emplace("</think>", 4);
    v->text[3].clear();
    v->text[4].clear();
    auto vocab = std::make_shared<VocabIndex>(v->text, std::vector<int32_t>{5});
    vocab->special = v->special;
    TokenMatcher m(parse_gbnf("root ::= <think> ( !<[4]> )* </think> \"a\"+"), vocab);
    CHECK(m.allows(3));
    CHECK_FALSE(m.allows(0));
    CHECK_FALSE(m.allows(5)); // the grammar cannot end yet
    m.accept(3);
    for (int32_t t : {0, 1, 2, 3}) CHECK(m.allows(t)); // any token but </think>
    CHECK(m.allows(4));
    CHECK_FALSE(m.allows(5)); // "any token but 4" never means end of generation
    m.accept(2);
    m.accept(4);
    CHECK_FALSE(m.allows(1));
    m.accept(0);
    CHECK(m.allows(5));
    CHECK(m.can_end());
    CHECK_THROWS_AS(m.accept(1), Error);
    CHECK_THROWS_WITH_AS(TokenMatcher(parse_gbnf("root ::= <nope>"), vocab), doctest::Contains("no special token <nope>"), Error);
    CHECK_THROWS_WITH_AS(TokenMatcher(parse_gbnf("root ::= <[99]>"), vocab), doctest::Contains("beyond the vocabulary"), Error);
}

TEST_CASE("grammar random: masks cut from deep contexts agree with brute force (JSON, nested ~50 deep)") {
    // The mask walk cuts states below their top frames and shares the walk between contexts;
    // deep nesting makes every state a cut one. Brute force runs each token on the whole state.
    std::vector<std::string> t = {"{", "}", "[", "]", ",", ":", "\"", " ", "\n", "\n  ", "a", "b", "1", "0", "-", ".", "e", "+",
                                  "\\", "n", "u", "true", "null", "false", "\"a\"", "\":", "\",", "},", "],", "[{", "{\"", "\"}",
                                  "[[", "]]", "}}", "1,", "0.5", "e+1", "\xc3\xa9", "\xc3", "\xa9\"", "\\n", "\\u00e9", "\": [",
                                  "\": {\"", "\"a\": 1", ", \"", "\t", "}]", "]}", "ab\"", "tr", "ue", "nu", "ll"};
    t.push_back("<eos>");
    auto vocab = std::make_shared<VocabIndex>(t, std::vector<int32_t>{static_cast<int32_t>(t.size() - 1)});
    const auto g = parse_gbnf(json_gbnf());
    std::mt19937 rng(99);
    int steps = 0, max_depth = 0;
    for (int walk = 0; walk < 40; ++walk) {
        TokenMatcher m(g, vocab);
        if (walk % 2) m.set_run_thresholds(2, 1); // the class-run shortcut wherever it applies
        int depth = 0;
        for (int step = 0; step < 150; ++step) {
            const TokenMask fast = m.allowed();
            REQUIRE(fast == m.allowed_brute_force());
            std::vector<int32_t> ok;
            for (int32_t i = 0; i + 1 < vocab->n_vocab; ++i) // end of generation only when nothing else fits
                if (mask_has(fast, i)) ok.push_back(i);
            if (ok.empty()) break;
            // Prefer opening brackets early and closing ones late, so walks go deep and come back.
            int32_t pick = ok[rng() % ok.size()];
            for (int tries = 0; tries < 4; ++tries) {
                const std::string &x = vocab->text[static_cast<size_t>(pick)];
                const bool opens = x.find_first_of("[{") != std::string::npos, closes = x.find_first_of("]}") != std::string::npos;
                if ((step < 90 && opens) || (step >= 90 && closes)) break;
                pick = ok[rng() % ok.size()];
            }
            for (char c : vocab->text[static_cast<size_t>(pick)]) depth += (c == '[' || c == '{') - (c == ']' || c == '}');
            max_depth = std::max(max_depth, depth);
            m.accept(pick);
            ++steps;
            if (m.finished()) break;
        }
    }
    MESSAGE(steps, " steps compared, nesting up to ", max_depth);
    CHECK(steps > 1000);
    CHECK(max_depth > 20);
}

TEST_CASE("grammar random: runs of one character class (the class-run shortcut) agree with brute force") {
    // Inside a long run of one class the matcher answers from the class's run over the trie
    // (class_run.h) and walks only below its exits; counted repetitions make a chain of
    // distinct states, overlapping classes make states that must not take the shortcut.
    const std::vector<std::string> units = {"a", "b", "\"", "\\", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    const std::vector<std::string> classes = {"[^\"]", "[^\"\\\\]", ".", "[^a]", "[a-z\xc3\xa9-\xe2\x82\xac]", "[^\xc3\xa9 ]", "[ -~]"};
    const std::vector<std::string> quants = {"*", "+", "{0,3}", "{2,5}", "{1,9}", "{4}"};
    std::mt19937 rng(4321);
    std::vector<std::string> t;
    for (int i = 0; i < 600; ++i) {
        std::string s;
        for (int k = 0, n = 1 + static_cast<int>(rng() % 7); k < n; ++k) s += units[rng() % units.size()];
        t.push_back(s);
    }
    for (const char *p : {"\xc3", "\xe2\x82", "a\xf0\x9f", "\x82\xac", "\xa9" "b", "\xed\xa0\x80", "\xff"}) t.push_back(p);
    t.push_back("<eos>");
    auto vocab = std::make_shared<VocabIndex>(t, std::vector<int32_t>{static_cast<int32_t>(t.size() - 1)});
    size_t run_walks = 0;
    int steps = 0;
    for (int gi = 0; gi < 60; ++gi) {
        std::string g = "root ::=";
        for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
            switch (rng() % 4) {
            case 0: g += " \"\\\"\" " + classes[rng() % classes.size()] + quants[rng() % quants.size()] + " \"\\\"\""; break;
            case 1: g += " " + classes[rng() % classes.size()] + quants[rng() % quants.size()]; break;
            case 2: g += " ( " + classes[rng() % classes.size()] + " | " + classes[rng() % classes.size()] + " \"b\" )" + quants[rng() % quants.size()]; break;
            default: g += " \"" + std::string(rng() % 2 ? "a" : "\xc3\xa9") + "\""; break;
            }
        }
        const auto gr = parse_gbnf(g);
        for (int walk = 0; walk < 4; ++walk) {
            TokenMatcher m(gr, vocab);
            if (walk % 2) m.set_run_thresholds(2, 1); // runs below every node too, and of small classes
            for (int step = 0; step < 25; ++step) {
                const TokenMask fast = m.allowed();
                REQUIRE_MESSAGE(fast == m.allowed_brute_force(), g, " step ", step);
                std::vector<int32_t> ok;
                for (int32_t i = 0; i + 1 < vocab->n_vocab; ++i)
                    if (mask_has(fast, i)) ok.push_back(i);
                ++steps;
                if (ok.empty()) break;
                m.accept(ok[rng() % ok.size()]);
            }
            run_walks += m.class_run_walks();
        }
    }
    MESSAGE(steps, " steps compared, ", run_walks, " masks through a class run");
    CHECK(run_walks > 200);
}
