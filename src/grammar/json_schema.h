// JSON Schema → GBNF. The grammar accepts a subset of the instances the schema allows
// (compact formatting choices: bounded white space, properties in the order the schema
// lists them, numbers of bounded length), and never an instance the schema rejects, for
// the keywords below:
//   type (incl. a list of types), nullable, enum, const,
//   properties / required / additionalProperties (absent = no extra properties),
//   items / minItems / maxItems, minLength / maxLength, pattern (a regex subset:
//   literals, ., [...] classes, \d \w \s, groups, |, * + ? {m,n}, ^ $), format (date,
//   time, date-time, uuid, email), minimum / maximum / exclusiveMinimum /
//   exclusiveMaximum on integers (and a lower bound of 0 on numbers), anyOf / oneOf
//   (oneOf's exclusivity is not enforced), allOf of object schemas, $ref into $defs /
//   definitions (recursion allowed), and the annotations (title, description, ...).
// Any other keyword is an error that names it, unless `ignore_unsupported` is set; then
// it is skipped and named in `warnings`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace corvid::grammar {

struct SchemaOptions {
    bool ignore_unsupported = false;
    std::vector<std::string> *warnings = nullptr; // receives one line per ignored keyword
};

// Throws Error(invalid_argument) for malformed JSON, a schema that is not an object or
// boolean, an unresolvable $ref or (without ignore_unsupported) an unsupported keyword.
std::string json_schema_to_gbnf(std::string_view schema_json, const SchemaOptions &opt = {});

// GBNF for decimal integers in [lo, hi] (lo <= hi), without leading zeros or "-0".
std::string integer_range_gbnf(int64_t lo, int64_t hi);

} // namespace corvid::grammar
