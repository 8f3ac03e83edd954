// Hostile input: random GBNF-like text and mutated JSON schemas must give an Error or a
// grammar, never a crash; and whatever schema the converter accepts must become GBNF that
// parses (the converter's output is never a syntax error of ours).
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/machine.h"
#include "test_util.h"
#include "util/error.h"

#include <doctest/doctest.h>

#include <random>
#include <string>

using namespace corvid;
using namespace corvid::grammar;

TEST_CASE("grammar robustness: random GBNF-like text") {
    const std::string alphabet = "root ::= \"ab\\\\[]^-()|*+?{},0123456789.#<>!\n\xc3\xa9x";
    std::mt19937 rng(5);
    int parsed = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string text = "root ::= ";
        for (int k = 0, n = static_cast<int>(rng() % 40); k < n; ++k) text += alphabet[rng() % alphabet.size()];
        try {
            const auto g = parse_gbnf(text);
            ++parsed;
            matches(g, "ab"); // and running it
        } catch (const Error &e) {
            CHECK(e.status() != Status::internal);
        }
    }
    MESSAGE(parsed, " of 5000 random texts were grammars");
}

TEST_CASE("grammar robustness: mutated JSON schemas convert to parseable GBNF or fail cleanly") {
    const auto bytes = test::read_bytes(test::data_path("grammar/large_schema.json"));
    const std::string base(bytes.begin(), bytes.end());
    const std::vector<std::string> inserts = {"{", "}", "[", "]", ",", "\"", "0", "-1", "true", "null", "\"$ref\": \"#\",",
                                              "\"type\": \"array\",", "\"minItems\": 5,", "\"maxLength\": -1,", "\"pattern\": \"(\","};
    std::mt19937 rng(11);
    int converted = 0;
    for (int i = 0; i < 400; ++i) {
        std::string s = base;
        for (int m = 0, n = 1 + static_cast<int>(rng() % 3); m < n; ++m) {
            const size_t at = rng() % s.size();
            if (rng() % 2) s.erase(at, 1 + rng() % 4);
            else s.insert(at, inserts[rng() % inserts.size()]);
        }
        std::string gbnf;
        try {
            gbnf = json_schema_to_gbnf(s);
        } catch (const Error &e) {
            CHECK(e.status() == Status::invalid_argument);
            continue;
        }
        ++converted;
        try {
            parse_gbnf(gbnf);
        } catch (const Error &e) {
            // Only semantic refusals (e.g. a $ref cycle that never finishes) are acceptable.
            CHECK_MESSAGE(std::string(e.what()).find("grammar line") == std::string::npos, e.what(), "\n", gbnf);
        }
    }
    MESSAGE(converted, " of 400 mutated schemas converted");
}
