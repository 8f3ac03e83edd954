// A compiled context-free grammar: what the GBNF parser produces and the matcher runs.
//
// Every rule is a list of alternatives; an alternative is a run of elements in `code`
// ending in an `end` element. Grouping and repetition are already expanded into
// auxiliary rules, so the matcher only knows four kinds of element: a character class
// (one Unicode code point), a reference to a rule, and a whole-token reference
// (`<[id]>`, `<think>`) or its negation (any one token but that one).
// A Grammar is immutable once built and may be shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corvid::grammar {

enum class Op : uint8_t { end, rule, chars, token, not_token };

struct Element {
    Op op;
    uint32_t arg; // rule: rule id; chars: class id; token/not_token: index into token_refs
};

// A set of code points: sorted, disjoint, non-adjacent inclusive ranges. Surrogates
// (U+D800..U+DFFF) are never members: they are not characters and UTF-8 cannot carry them.
struct CharClass {
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    bool contains(uint32_t cp) const;
    bool intersects(uint32_t lo, uint32_t hi) const;
    bool contains_range(uint32_t lo, uint32_t hi) const; // every one of lo..hi
};

// A token named in the grammar: by id (`<[128]>`) or by its text (`<think>`), which is
// resolved against a vocabulary when the grammar is bound to one.
struct TokenRef {
    int32_t id = -1;
    std::string text;
};

struct Grammar {
    std::vector<Element> code;
    std::vector<std::vector<uint32_t>> rule_alts; // per rule: offsets in `code` of its alternatives
    std::vector<std::string> rule_names;          // auxiliary rules are named "<parent>/<n>"
    std::vector<CharClass> classes;
    std::vector<TokenRef> token_refs;
    uint32_t root = 0;
};

// Limits that keep a hostile grammar from exhausting memory or the stack.
constexpr size_t kMaxGrammarElements = 1u << 22;
constexpr int kMaxNesting = 200;      // parentheses / rule-expansion depth while parsing
constexpr uint32_t kMaxRepeat = 10000; // the largest m or n in {m,n}

// Parses GBNF (llama.cpp's grammar language) and checks the result. `root` names the
// start rule. Throws Error(invalid_argument) with "line L, column C: ..." for syntax
// errors, and names the rule for undefined rules, left recursion and rules that can
// never complete.
std::shared_ptr<const Grammar> parse_gbnf(std::string_view text, const std::string &root = "root");

// Semantic checks on a built grammar (parse_gbnf calls it): every rule can finish (derives
// some finite string) and no rule reaches itself without consuming input (left recursion,
// also through rules that may match nothing). Throws Error(invalid_argument).
void check_grammar(const Grammar &g);

// The GBNF for "any JSON value" (RFC 8259), with bounded white space.
const char *json_gbnf();

} // namespace corvid::grammar
