// The grammars against independent judges (verdicts stored by scripts/grammar_make_cases.py):
// the built-in JSON grammar must accept exactly what Python's json module (plus the bounded
// white-space rule) accepts; a JSON-Schema grammar must reject everything jsonschema rejects
// and accept the valid instances written in the converter's style.
#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/machine.h"
#include "test_util.h"
#include "util/error.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <map>

using namespace corvid;
using namespace corvid::grammar;

namespace {

nlohmann::ordered_json load(const char *name) {
    const auto bytes = test::read_bytes(test::data_path(std::string("grammar/") + name));
    return nlohmann::ordered_json::parse(bytes.begin(), bytes.end());
}

std::string schema_error(const std::string &schema, bool ignore = false) {
    try {
        SchemaOptions o;
        o.ignore_unsupported = ignore;
        json_schema_to_gbnf(schema, o);
    } catch (const Error &e) {
        return e.message();
    }
    return "";
}

} // namespace

TEST_CASE("grammar reference: JSON grammar accepts exactly what Python's json accepts") {
    const auto g = parse_gbnf(json_gbnf());
    const auto cases = load("json_cases.json");
    size_t n = 0, valid = 0;
    for (const auto &c : cases) {
        const std::string text = c["text"].get<std::string>();
        const bool want = c["valid"].get<bool>();
        CHECK_MESSAGE(matches(g, text) == want, "text: ", text);
        ++n;
        valid += want;
    }
    MESSAGE(n, " strings, ", valid, " valid");
    CHECK(n > 2000);
}

TEST_CASE("grammar reference: JSON Schema grammars never accept an invalid instance") {
    const auto data = load("schema_cases.json");
    std::map<std::string, std::shared_ptr<const Grammar>> grammars;
    for (auto it = data["schemas"].begin(); it != data["schemas"].end(); ++it) {
        const std::string gbnf = json_schema_to_gbnf(it.value().dump());
        INFO("schema ", it.key(), "\n", gbnf);
        REQUIRE_NOTHROW(grammars[it.key()] = parse_gbnf(gbnf));
    }
    size_t rejected_invalid = 0, accepted_canonical = 0, accepted_mutant = 0, valid_mutant = 0;
    for (const auto &c : data["cases"]) {
        const std::string name = c["schema"].get<std::string>(), text = c["text"].get<std::string>();
        const bool valid = c["valid"].get<bool>(), canonical = c["canonical"].get<bool>();
        const bool got = matches(grammars.at(name), text);
        if (!valid) {
            CHECK_MESSAGE(!got, "schema ", name, " accepted the invalid ", text);
            rejected_invalid += !got;
        } else if (canonical) {
            CHECK_MESSAGE(got, "schema ", name, " rejected the valid ", text);
            accepted_canonical += got;
        } else {
            ++valid_mutant;
            accepted_mutant += got;
        }
    }
    MESSAGE(rejected_invalid, " invalid rejected, ", accepted_canonical, " canonical valid accepted, ", accepted_mutant, " of ",
            valid_mutant, " valid mutants accepted");
}

TEST_CASE("grammar reference: JSON Schema errors name the keyword and the place") {
    CHECK(schema_error("{\"type\": \"object\", \"patternProperties\": {}}").find("at root: keyword 'patternProperties'") != std::string::npos);
    CHECK(schema_error("{\"properties\": {\"a\": {\"type\": \"string\", \"format\": \"ipv4\"}}}").find("root/properties/a: format 'ipv4'") !=
          std::string::npos);
    CHECK(schema_error("{\"type\": \"string\", \"pattern\": \"(?<=a)b\"}").find("only (?:...) groups") != std::string::npos);
    CHECK(schema_error("{\"$ref\": \"#/$defs/missing\"}").find("does not point into the schema") != std::string::npos);
    CHECK(schema_error("{\"type\": \"strin\"}").find("unknown type 'strin'") != std::string::npos);
    CHECK(schema_error("{\"type\": \"array\", \"minItems\": \"3\"}").find("wrong type") != std::string::npos);
    CHECK(schema_error("{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}").find("no integer") != std::string::npos);
    CHECK(schema_error("{oops").find("not valid JSON") != std::string::npos);
    CHECK(schema_error("false").find("allows no value") != std::string::npos);
    // With the option, unsupported keywords are skipped and reported.
    std::vector<std::string> warnings;
    SchemaOptions o;
    o.ignore_unsupported = true;
    o.warnings = &warnings;
    const auto g = parse_gbnf(json_schema_to_gbnf("{\"type\": \"array\", \"uniqueItems\": true, \"items\": {\"type\": \"integer\"}}", o));
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("uniqueItems") != std::string::npos);
    CHECK(matches(g, "[1, 1]"));
    // Deeply nested schemas are refused, not recursed into without bound.
    std::string deep;
    for (int i = 0; i < 200; ++i) deep += "{\"type\": \"array\", \"items\": ";
    deep += "{}" + std::string(200, '}');
    CHECK(schema_error(deep).find("nested deeper") != std::string::npos);
}

TEST_CASE("grammar reference: integer ranges are exact") {
    for (auto [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {-5, 5}, {7, 123}, {-1205, -37}, {99, 1000}, {-3, 0}, {10, 19}}) {
        const auto g = parse_gbnf("root ::= " + integer_range_gbnf(lo, hi));
        for (int64_t v = -1300; v <= 1300; ++v) CHECK_MESSAGE(matches(g, std::to_string(v)) == (v >= lo && v <= hi), lo, "..", hi, ": ", v);
        CHECK_FALSE(matches(g, "-0"));
        CHECK_FALSE(matches(g, "007"));
    }
}
