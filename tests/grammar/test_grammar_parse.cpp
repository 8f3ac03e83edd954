// GBNF: syntax errors with their position, semantic errors with the rule's name, and the
// language each construct accepts (checked byte by byte through the matcher's machine).
#include "grammar/grammar.h"
#include "grammar/machine.h"
#include "util/error.h"

#include <doctest/doctest.h>

#include <string>

using namespace corvid;
using namespace corvid::grammar;

namespace {

std::string error_of(const std::string &gbnf) {
    try {
        parse_gbnf(gbnf);
    } catch (const Error &e) {
        return e.message();
    }
    return "";
}

bool full(const std::string &gbnf, const std::string &text) { return matches(parse_gbnf(gbnf), text, true); }
bool prefix(const std::string &gbnf, const std::string &text) { return matches(parse_gbnf(gbnf), text, false); }

} // namespace

TEST_CASE("grammar parse: errors name the line and column") {
    CHECK(error_of("root ::= \"a\"\nfoo ::= \"b").find("line 2, column 9: unterminated string literal") != std::string::npos);
    CHECK(error_of("root ::= [a-").find("line 1, column 10") != std::string::npos);
    CHECK(error_of("root \"a\"").find("expected '::='") != std::string::npos);
    CHECK(error_of("root ::= (\"a\"").find("'(' is never closed") != std::string::npos);
    CHECK(error_of("root ::= \"a\" )").find("line 1, column 14: unexpected ')'") != std::string::npos);
    CHECK(error_of("root ::= \"\\q\"").find("unknown escape") != std::string::npos);
    CHECK(error_of("root ::= \"a\"{3,2}").find("below the minimum") != std::string::npos);
    CHECK(error_of("root ::= \"a\"{99999}").find("repetition count larger") != std::string::npos);
    CHECK(error_of("root ::= [z-a]").find("runs backwards") != std::string::npos);
    CHECK(error_of("root ::= []").find("empty character class") != std::string::npos);
    CHECK(error_of("root ::= * \"a\"").find("unexpected '*'") != std::string::npos);
    CHECK(error_of("root ::= <[12").find("<[123]>") != std::string::npos);
    CHECK(error_of("root ::= \"a\"\nroot ::= \"b\"").find("line 2, column 1: rule 'root' is defined twice") != std::string::npos);
    CHECK(error_of("root ::= " + std::string(300, '(') + std::string(300, ')')).find("nesting deeper") != std::string::npos);
    // A grammar whose repetitions multiply past the element budget errors instead of growing.
    CHECK(error_of("root ::= \"" + std::string(500, 'a') + "\"{10000}").find("more than") != std::string::npos);
}

TEST_CASE("grammar parse: undefined rules, left recursion, rules that never finish") {
    CHECK(error_of("root ::= foo \"x\"").find("line 1, column 10: rule 'foo' is used but never defined") != std::string::npos);
    CHECK(error_of("start ::= \"x\"").find("no rule named 'root'") != std::string::npos);
    CHECK(error_of("root ::= root \"a\" | \"b\"").find("left recursion") != std::string::npos);
    const std::string indirect = error_of("root ::= a\na ::= b \"x\"\nb ::= c? a | \"y\"\nc ::= \"c\"");
    CHECK(indirect.find("left recursion") != std::string::npos);
    CHECK(indirect.find("'a'") != std::string::npos);
    // Left recursion hidden behind a rule that can match nothing.
    CHECK(error_of("root ::= e root \"a\" | \"b\"\ne ::= \"\" | \"c\"").find("left recursion") != std::string::npos);
    CHECK(error_of("root ::= \"a\" root").find("can never finish") != std::string::npos);
    // Right recursion is fine.
    CHECK(error_of("root ::= \"a\" root | \"b\"").empty());
}

TEST_CASE("grammar match: literals, escapes, alternatives, grouping") {
    CHECK(full("root ::= \"abc\"", "abc"));
    CHECK_FALSE(full("root ::= \"abc\"", "ab"));
    CHECK(prefix("root ::= \"abc\"", "ab"));
    CHECK_FALSE(prefix("root ::= \"abc\"", "abd"));
    CHECK(full("root ::= \"a\\n\\t\\\"\\\\\\x41\\u00e9\\U0001F600\"", "a\n\t\"\\A\xc3\xa9\xf0\x9f\x98\x80"));
    CHECK(full("root ::= \"héllo\"", "h\xc3\xa9llo"));
    const std::string alt = "root ::= \"cat\" | \"dog\" | (\"bi\" | \"fi\") \"sh\"";
    for (const char *s : {"cat", "dog", "bish", "fish"}) CHECK(full(alt, s));
    for (const char *s : {"ca", "cow", "sh", "bifish"}) CHECK_FALSE(full(alt, s));
    CHECK(full("root ::= \"a\" ( ) \"b\"", "ab"));
    CHECK(full("root ::= \"\"", ""));
    // A body may run over lines; a comment anywhere.
    CHECK(full("root ::= \"a\" # first\n   \"b\"\n  | \"c\" # or\nunused ::= \"z\"", "ab"));
}

TEST_CASE("grammar match: repetition") {
    const std::string g = "root ::= \"a\"* \"b\"+ \"c\"? \"d\"{2} \"e\"{1,3} \"f\"{2,} \"g\"{,1}";
    CHECK(full(g, "bddeff"));
    CHECK(full(g, "aaabbbcddeeefffffg"));
    CHECK_FALSE(full(g, "ddeff"));      // b+ needs one
    CHECK_FALSE(full(g, "bcdeff"));     // d{2}
    CHECK_FALSE(full(g, "bddeeeeff"));  // e{1,3}
    CHECK_FALSE(full(g, "bddef"));      // f{2,}
    CHECK_FALSE(full(g, "bddeffgg"));   // g{,1}
    CHECK(full("root ::= (\"ab\" | \"c\"){2,3}", "abcab"));
    CHECK_FALSE(full("root ::= (\"ab\" | \"c\"){2,3}", "c"));
    CHECK(full("root ::= \"ab\"*", "ababab"));
    CHECK_FALSE(full("root ::= \"ab\"*", "aba"));
    // A repeated item that may be empty would loop without consuming input: refused.
    CHECK(error_of("root ::= (\"a\"?)*").find("left recursion") != std::string::npos);
}

TEST_CASE("grammar match: character classes, negation, any, UTF-8") {
    CHECK(full("root ::= [a-c0-9_]+", "ab9_c"));
    CHECK_FALSE(full("root ::= [a-c]", "d"));
    CHECK(full("root ::= [^a-c]", "d"));
    CHECK_FALSE(full("root ::= [^a-c]", "b"));
    CHECK(full("root ::= [^a]", "\xe2\x82\xac")); // € is not 'a'
    CHECK(full("root ::= [α-ω]+", "\xce\xb1\xce\xb2\xcf\x89"));
    CHECK_FALSE(full("root ::= [α-ω]", "\xce\x91")); // Α (capital) is outside
    CHECK(full("root ::= [\\]\\-]+", "]-]"));
    CHECK(full("root ::= .", "\xf0\x9f\x98\x80"));
    CHECK_FALSE(full("root ::= .", "ab"));
    // Partial UTF-8: a prefix that can still complete a member is alive, others are not.
    CHECK(prefix("root ::= [€]", "\xe2\x82"));
    CHECK_FALSE(prefix("root ::= [€]", "\xe2\x83"));
    CHECK_FALSE(prefix("root ::= .", "\xc0"));          // overlong lead byte
    CHECK_FALSE(prefix("root ::= .", "\xe0\x80"));      // overlong 3-byte form
    CHECK_FALSE(prefix("root ::= .", "\xed\xa0"));      // surrogates are not characters
    CHECK_FALSE(prefix("root ::= .", "\x80"));          // a stray continuation byte
}

TEST_CASE("grammar match: rules and recursion") {
    const std::string g = "root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= [0-9]+ | \"(\" expr \")\"";
    CHECK(full(g, "1+(2+(3+4))+5"));
    CHECK_FALSE(full(g, "1+(2+3"));
    CHECK(prefix(g, "1+(2+3"));
    CHECK_FALSE(full(g, "1++2"));
    // Deep nesting stays within bounds (frames are shared, not copied).
    std::string deep(2000, '(');
    deep += "1" + std::string(2000, ')');
    CHECK(full(g, deep));
}

TEST_CASE("grammar match: the built-in JSON grammar") {
    const auto g = parse_gbnf(json_gbnf());
    for (const char *ok : {"{}", "[]", "0", "-0.5e+3", "\"a\\u00e9\\n\"", "{\"a\": [1, true, null, {\"b\": \"c\"}]}", "[\n  1,\n  2\n]"})
        CHECK_MESSAGE(matches(g, ok), ok);
    for (const char *bad : {"{", "01", "[1,]", "{\"a\" 1}", "\"\\x\"", "tru", "\"a\nb\"", "1.", "{'a': 1}"})
        CHECK_MESSAGE(!matches(g, bad), bad);
}
