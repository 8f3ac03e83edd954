// JSON Schema → GBNF (see json_schema.h for what is covered). Each schema node becomes a
// GBNF expression; objects, arrays and $ref targets become named rules so that a
// recursive schema becomes a recursive grammar.
#include "grammar/json_schema.h"

#include "grammar/grammar.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace corvid::grammar {
namespace {

using json = nlohmann::ordered_json;

constexpr int kMaxSchemaDepth = 64;
constexpr int64_t kIntDigitsMax = 999999999999999; // integers have at most 15 digits

// The JSON value grammar's building blocks, emitted when used.
const std::map<std::string, std::string> &primitives() {
    static const std::map<std::string, std::string> p = {
        {"ws", "( [ \\t\\n] [ \\t]{0,20} )?"},
        // One character of a JSON string; \u escapes of surrogates are left out so that a
        // character count here is a character count after decoding.
        {"char", "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) )"},
        {"string", "\"\\\"\" char* \"\\\"\""},
        {"integer", "\"-\"? ( \"0\" | [1-9] [0-9]{0,14} )"},
        {"number", "\"-\"? ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?"},
        {"nonneg-number", "( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?"},
        {"boolean", "\"true\" | \"false\""},
        {"null", "\"null\""},
        {"value", "object | array | string | number | boolean | null"},
        {"object", "\"{\" ws ( string ws \":\" ws value ws ( \",\" ws string ws \":\" ws value ws )* )? \"}\""},
        {"array", "\"[\" ws ( value ws ( \",\" ws value ws )* )? \"]\""},
        {"hex", "[0-9a-fA-F]"},
        {"date", "[0-9]{4} \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] ) | "
                 "( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" ) | \"02-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) )"},
        {"time", "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? "
                 "( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )"},
        {"date-time", "date \"T\" time"},
        {"uuid", "hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}"},
        {"email", "[a-zA-Z0-9._%+-]{1,64} \"@\" [a-zA-Z0-9-]{1,63} ( \".\" [a-zA-Z0-9-]{1,63} ){1,4}"},
    };
    return p;
}

// What each primitive refers to, so that using one pulls in the others.
const std::map<std::string, std::vector<std::string>> &primitive_deps() {
    static const std::map<std::string, std::vector<std::string>> d = {
        {"string", {"char"}},
        {"value", {"object", "array", "string", "number", "boolean", "null"}},
        {"object", {"ws", "string", "value"}},
        {"array", {"ws", "value"}},
        {"date-time", {"date", "time"}},
        {"uuid", {"hex"}},
    };
    return d;
}

const std::set<std::string> &annotations() {
    static const std::set<std::string> a = {"title", "description", "$schema", "$id", "id", "default", "examples", "$comment",
                                            "readOnly", "writeOnly", "deprecated", "$defs", "definitions"};
    return a;
}

// A GBNF string literal for these bytes.
std::string literal(const std::string &bytes) {
    std::string out = "\"";
    for (unsigned char c : bytes) {
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20) out += strfmt("\\x%02X", c);
        else out += static_cast<char>(c);
    }
    return out + "\"";
}

std::string digits_class(char a, char b) { return a == b ? std::string("\"") + a + "\"" : std::string("[") + a + "-" + b + "]"; }

// Same-length decimal strings a <= b: the strings between them, digit by digit.
std::string range_same_length(const std::string &a, const std::string &b) {
    const size_t n = a.size();
    if (n == 1) return digits_class(a[0], b[0]);
    if (a[0] == b[0]) return std::string("\"") + a[0] + "\" (" + range_same_length(a.substr(1), b.substr(1)) + ")";
    const std::string rest_a = a.substr(1), rest_b = b.substr(1);
    if (rest_a == std::string(n - 1, '0') && rest_b == std::string(n - 1, '9'))
        return digits_class(a[0], b[0]) + " [0-9]{" + std::to_string(n - 1) + "}";
    std::vector<std::string> alts;
    alts.push_back(std::string("\"") + a[0] + "\" (" + range_same_length(rest_a, std::string(n - 1, '9')) + ")");
    if (a[0] + 1 <= b[0] - 1) alts.push_back(digits_class(static_cast<char>(a[0] + 1), static_cast<char>(b[0] - 1)) + " [0-9]{" + std::to_string(n - 1) + "}");
    alts.push_back(std::string("\"") + b[0] + "\" (" + range_same_length(std::string(n - 1, '0'), rest_b) + ")");
    std::string out;
    for (const std::string &x : alts) out += (out.empty() ? "" : " | ") + x;
    return out;
}

std::string range_nonneg(int64_t lo, int64_t hi) {
    std::vector<std::string> alts;
    std::string a = std::to_string(lo);
    const std::string b = std::to_string(hi);
    while (a.size() < b.size()) {
        // [lo, 99..9] at lo's length, then the next length starts at 10..0.
        alts.push_back("(" + range_same_length(a, std::string(a.size(), '9')) + ")");
        a = "1" + std::string(a.size(), '0');
    }
    alts.push_back("(" + range_same_length(a, b) + ")");
    std::string out;
    for (const std::string &x : alts) out += (out.empty() ? "" : " | ") + x;
    return out;
}

class Converter {
public:
    Converter(const json &root, const SchemaOptions &opt) : root_(root), opt_(opt) {}

    std::string run() {
        const std::string body = visit(root_, "root", 0);
        std::string out = "root ::= " + body + "\n";
        for (const auto &[name, rule] : rules_) out += name + " ::= " + rule + "\n";
        for (const auto &name : used_prims_) out += name + " ::= " + primitives().at(name) + "\n";
        return out;
    }

private:
    const json &root_;
    const SchemaOptions &opt_;
    std::vector<std::pair<std::string, std::string>> rules_;
    std::set<std::string> names_;
    std::map<std::string, std::string> ref_rules_; // $ref → rule name
    std::set<std::string> used_prims_;

    std::string prim(const std::string &name) {
        if (used_prims_.insert(name).second) {
            auto it = primitive_deps().find(name);
            if (it != primitive_deps().end())
                for (const std::string &d : it->second) prim(d);
        }
        return name;
    }

    std::string new_rule(const std::string &hint) {
        std::string base;
        for (char c : hint) base += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
        if (base.empty()) base = "r";
        std::string name = base;
        for (int i = 2; names_.count(name) || primitives().count(name) || name == "root"; ++i) name = base + "-" + std::to_string(i);
        names_.insert(name);
        return name;
    }

    std::string add_rule(const std::string &hint, const std::string &body) {
        const std::string name = new_rule(hint);
        rules_.push_back({name, body});
        return name;
    }

    void unsupported(const std::string &where, const std::string &what) {
        if (!opt_.ignore_unsupported)
            fail(Status::invalid_argument, "JSON schema at %s: %s (pass the ignore option to skip it)", where.c_str(), what.c_str());
        if (opt_.warnings) opt_.warnings->push_back("JSON schema at " + where + ": ignored " + what);
    }

    const json &resolve(const std::string &ref, const std::string &where) {
        if (ref.rfind("#", 0) != 0) fail(Status::invalid_argument, "JSON schema at %s: only local $ref (\"#/...\") is supported, not '%s'", where.c_str(), ref.c_str());
        try {
            const std::string ptr = ref.substr(1);
            const json &target = ptr.empty() ? root_ : root_.at(json::json_pointer(ptr));
            return target;
        } catch (const std::exception &) {
            fail(Status::invalid_argument, "JSON schema at %s: $ref '%s' does not point into the schema", where.c_str(), ref.c_str());
        }
    }

    std::string visit(const json &s, const std::string &where, int depth) {
        if (depth > kMaxSchemaDepth) fail(Status::invalid_argument, "JSON schema at %s: nested deeper than %d levels", where.c_str(), kMaxSchemaDepth);
        if (s.is_boolean()) {
            if (!s.get<bool>()) fail(Status::invalid_argument, "JSON schema at %s: 'false' allows no value", where.c_str());
            return prim("value");
        }
        if (!s.is_object()) fail(Status::invalid_argument, "JSON schema at %s: a schema must be an object or a boolean", where.c_str());

        static const std::set<std::string> known = {"type", "properties", "required", "additionalProperties", "enum", "const",
                                                    "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
                                                    "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                                    "anyOf", "oneOf", "allOf", "$ref", "nullable"};
        for (auto it = s.begin(); it != s.end(); ++it)
            if (!known.count(it.key()) && !annotations().count(it.key())) unsupported(where, "keyword '" + it.key() + "'");

        std::string body = visit_inner(s, where, depth);
        if (s.value("nullable", false)) body = "( " + body + " ) | " + prim("null");
        return body;
    }

    std::string visit_inner(const json &s, const std::string &where, int depth) {
        if (s.contains("$ref")) {
            if (!s["$ref"].is_string()) fail(Status::invalid_argument, "JSON schema at %s: $ref must be a string", where.c_str());
            const std::string ref = s["$ref"].get<std::string>();
            auto it = ref_rules_.find(ref);
            if (it != ref_rules_.end()) return it->second;
            // Name it before visiting, so that a recursive reference finds it.
            const std::string name = new_rule("ref-" + ref.substr(ref.rfind('/') + 1));
            ref_rules_[ref] = name;
            const size_t slot = rules_.size();
            rules_.push_back({name, ""});
            const std::string body = visit(resolve(ref, where), ref, depth + 1);
            rules_[slot].second = body;
            return name;
        }
        if (s.contains("const")) return value_grammar(s["const"]);
        if (s.contains("enum")) {
            if (!s["enum"].is_array() || s["enum"].empty()) fail(Status::invalid_argument, "JSON schema at %s: enum must be a non-empty array", where.c_str());
            std::string out;
            for (const json &v : s["enum"]) out += (out.empty() ? "" : " | ") + value_grammar(v);
            return out;
        }
        for (const char *k : {"anyOf", "oneOf"})
            if (s.contains(k)) {
                if (!s[k].is_array() || s[k].empty()) fail(Status::invalid_argument, "JSON schema at %s: %s must be a non-empty array", where.c_str(), k);
                std::string out;
                for (size_t i = 0; i < s[k].size(); ++i)
                    out += (out.empty() ? "" : " | ") + visit(s[k][i], where + "/" + k + "/" + std::to_string(i), depth + 1);
                return out;
            }
        if (s.contains("allOf")) {
            // Keywords beside allOf constrain the merged object too (additionalProperties there
            // would even forbid the parts' properties): not merged, so refused.
            for (auto it = s.begin(); it != s.end(); ++it)
                if (it.key() != "allOf" && !annotations().count(it.key())) unsupported(where, "'" + it.key() + "' next to allOf");
            return visit(merge_all_of(s, where), where, depth + 1);
        }

        std::vector<std::string> types;
        if (s.contains("type")) {
            if (s["type"].is_string()) types.push_back(s["type"].get<std::string>());
            else if (s["type"].is_array())
                for (const json &t : s["type"]) types.push_back(t.is_string() ? t.get<std::string>() : "?");
            else fail(Status::invalid_argument, "JSON schema at %s: type must be a string or an array of strings", where.c_str());
        } else if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
            types.push_back("object");
        } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
            types.push_back("array");
        } else if (s.contains("pattern") || s.contains("format") || s.contains("minLength") || s.contains("maxLength")) {
            types.push_back("string");
        } else {
            return prim("value");
        }
        std::string out;
        for (const std::string &t : types) out += (out.empty() ? "" : " | ") + visit_type(s, t, where, depth);
        return out;
    }

    // One given JSON value; objects and arrays may have white space between their parts.
    std::string value_grammar(const json &v) {
        if (v.is_object()) {
            std::string out = "\"{\" " + prim("ws");
            bool first = true;
            for (auto it = v.begin(); it != v.end(); ++it, first = false)
                out += std::string(first ? "" : " \",\" ws") + " " + literal(json(it.key()).dump()) + " ws \":\" ws " + value_grammar(it.value()) + " ws";
            return "( " + out + " \"}\" )";
        }
        if (v.is_array()) {
            std::string out = "\"[\" " + prim("ws");
            bool first = true;
            for (const json &x : v) out += std::string(first ? "" : " \",\" ws") + " " + value_grammar(x) + " ws", first = false;
            return "( " + out + " \"]\" )";
        }
        return literal(v.dump());
    }

    // allOf of object schemas (directly or through $ref): one object with every property
    // and every requirement.
    json merge_all_of(const json &s, const std::string &where) {
        json merged = json::object();
        merged["type"] = "object";
        merged["properties"] = json::object();
        merged["required"] = json::array();
        const json &parts = s["allOf"];
        if (!parts.is_array() || parts.empty()) fail(Status::invalid_argument, "JSON schema at %s: allOf must be a non-empty array", where.c_str());
        for (size_t i = 0; i < parts.size(); ++i) {
            const json *p = &parts[i];
            for (int hops = 0; p->is_object() && p->contains("$ref"); ++hops) {
                if (hops > kMaxSchemaDepth) fail(Status::invalid_argument, "JSON schema at %s: $ref chain too long", where.c_str());
                p = &resolve((*p)["$ref"].get<std::string>(), where);
            }
            if (!p->is_object() || (p->contains("type") && (*p)["type"] != "object") || p->contains("anyOf") || p->contains("oneOf"))
                fail(Status::invalid_argument, "JSON schema at %s/allOf/%zu: allOf is supported for object schemas only", where.c_str(), i);
            if (p->contains("properties"))
                for (auto it = (*p)["properties"].begin(); it != (*p)["properties"].end(); ++it) merged["properties"][it.key()] = it.value();
            if (p->contains("required"))
                for (const json &r : (*p)["required"]) merged["required"].push_back(r);
            // A part's additionalProperties would constrain the other parts' properties.
            if (p->contains("additionalProperties")) unsupported(where + "/allOf/" + std::to_string(i), "additionalProperties inside allOf");
        }
        return merged;
    }

    std::string visit_type(const json &s, const std::string &t, const std::string &where, int depth) {
        if (t == "object") return visit_object(s, where, depth);
        if (t == "array") return visit_array(s, where, depth);
        if (t == "string") return visit_string(s, where);
        if (t == "integer") return visit_integer(s, where);
        if (t == "number") {
            for (const char *k : {"maximum", "exclusiveMaximum"})
                if (s.contains(k)) unsupported(where, std::string("'") + k + "' on a number (only integers take bounds)");
            bool nonneg = false;
            if (s.contains("minimum") && s["minimum"].is_number()) {
                if (s["minimum"].get<double>() == 0.0) nonneg = true;
                else unsupported(where, "'minimum' other than 0 on a number");
            }
            if (s.contains("exclusiveMinimum")) unsupported(where, "'exclusiveMinimum' on a number");
            return prim(nonneg ? "nonneg-number" : "number");
        }
        if (t == "boolean") return prim("boolean");
        if (t == "null") return prim("null");
        fail(Status::invalid_argument, "JSON schema at %s: unknown type '%s'", where.c_str(), t.c_str());
    }

    std::string visit_object(const json &s, const std::string &where, int depth) {
        std::vector<std::pair<std::string, std::string>> props; // key literal, value expression
        std::vector<bool> required;
        std::set<std::string> req;
        if (s.contains("required")) {
            if (!s["required"].is_array()) fail(Status::invalid_argument, "JSON schema at %s: required must be an array", where.c_str());
            for (const json &r : s["required"])
                if (r.is_string()) req.insert(r.get<std::string>());
        }
        std::set<std::string> seen;
        if (s.contains("properties")) {
            if (!s["properties"].is_object()) fail(Status::invalid_argument, "JSON schema at %s: properties must be an object", where.c_str());
            for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
                const std::string v = visit(it.value(), where + "/properties/" + it.key(), depth + 1);
                props.push_back({literal(json(it.key()).dump()), add_rule(where_name(where) + "-" + it.key(), v)});
                required.push_back(req.count(it.key()) > 0);
                seen.insert(it.key());
            }
        }
        for (const std::string &r : req)
            if (!seen.count(r)) { // required but not described: any value
                props.push_back({literal(json(r).dump()), prim("value")});
                required.push_back(true);
            }
        // Extra properties come after the listed ones.
        std::string extra;
        if (s.contains("additionalProperties")) {
            const json &ap = s["additionalProperties"];
            if (!(ap.is_boolean() && !ap.get<bool>())) {
                if (!seen.empty() || !req.empty())
                    unsupported(where, "additionalProperties next to listed properties (the grammar cannot keep extra keys distinct from them)");
                else
                    extra = prim("string") + " " + prim("ws") + " \":\" ws " +
                            (ap.is_boolean() ? prim("value") : visit(ap, where + "/additionalProperties", depth + 1)) + " ws";
            }
        }
        prim("ws");
        // first_i / rest_i: the properties from i on, when none has been written yet / some has
        // (then each starts with a comma). Optional ones may be skipped.
        const std::string base = where_name(where);
        const size_t n = props.size();
        std::vector<std::string> first(n + 1), rest(n + 1);
        first[n] = extra.empty() ? "\"\"" : "( " + extra + " ( \",\" ws " + extra + " )* )?";
        rest[n] = extra.empty() ? "\"\"" : "( \",\" ws " + extra + " )*";
        for (size_t i = n; i-- > 0;) {
            const std::string kv = props[i].first + " ws \":\" ws " + props[i].second + " ws";
            std::string f = kv + " " + rest[i + 1], r = "\",\" ws " + kv + " " + rest[i + 1];
            if (!required[i]) f += " | " + first[i + 1], r += " | " + rest[i + 1];
            first[i] = add_rule(base + "-first" + std::to_string(i), f);
            rest[i] = add_rule(base + "-rest" + std::to_string(i), r);
        }
        return add_rule(base, "\"{\" ws " + first[0] + " \"}\"");
    }

    static std::string where_name(const std::string &where) {
        std::string w = where;
        for (const char *p : {"/properties/", "#/$defs/", "#/definitions/", "/items"}) {
            size_t k;
            while ((k = w.find(p)) != std::string::npos) w.replace(k, std::string(p).size(), "-");
        }
        return w;
    }

    std::string visit_array(const json &s, const std::string &where, int depth) {
        const std::string item = s.contains("items") ? add_rule(where_name(where) + "-item", visit(s["items"], where + "/items", depth + 1)) : prim("value");
        const int64_t lo = s.contains("minItems") ? s["minItems"].get<int64_t>() : 0;
        const int64_t hi = s.contains("maxItems") ? s["maxItems"].get<int64_t>() : -1;
        if (lo < 0 || (hi >= 0 && hi < lo) || lo > kMaxRepeat || hi > int64_t(kMaxRepeat))
            fail(Status::invalid_argument, "JSON schema at %s: minItems/maxItems out of range (at most %u)", where.c_str(), kMaxRepeat);
        prim("ws");
        if (hi == 0) return "\"[\" ws \"]\"";
        const std::string more = "( \",\" ws " + item + " ws )" +
                                 (hi < 0 ? "{" + std::to_string(std::max<int64_t>(lo - 1, 0)) + ",}"
                                         : "{" + std::to_string(std::max<int64_t>(lo - 1, 0)) + "," + std::to_string(hi - 1) + "}");
        const std::string list = item + " ws " + more;
        return add_rule(where_name(where) + "-array", "\"[\" ws " + (lo == 0 ? "( " + list + " )?" : list) + " \"]\"");
    }

    std::string visit_string(const json &s, const std::string &where) {
        const bool has_len = s.contains("minLength") || s.contains("maxLength");
        if (s.contains("format")) {
            const std::string f = s["format"].is_string() ? s["format"].get<std::string>() : "";
            if (f == "date" || f == "time" || f == "date-time" || f == "uuid" || f == "email") {
                if (has_len || s.contains("pattern")) unsupported(where, "'format' together with length or pattern");
                return "\"\\\"\" " + prim(f) + " \"\\\"\"";
            }
            unsupported(where, "format '" + f + "'");
        }
        if (s.contains("pattern")) {
            if (has_len) unsupported(where, "'pattern' together with minLength/maxLength");
            if (!s["pattern"].is_string()) fail(Status::invalid_argument, "JSON schema at %s: pattern must be a string", where.c_str());
            return "\"\\\"\" ( " + regex_to_gbnf(s["pattern"].get<std::string>(), where) + " ) \"\\\"\"";
        }
        if (has_len) {
            const int64_t lo = s.contains("minLength") ? s["minLength"].get<int64_t>() : 0;
            const int64_t hi = s.contains("maxLength") ? s["maxLength"].get<int64_t>() : -1;
            if (lo < 0 || (hi >= 0 && hi < lo) || lo > kMaxRepeat || hi > int64_t(kMaxRepeat))
                fail(Status::invalid_argument, "JSON schema at %s: minLength/maxLength out of range (at most %u)", where.c_str(), kMaxRepeat);
            prim("char");
            return "\"\\\"\" char{" + std::to_string(lo) + "," + (hi < 0 ? "" : std::to_string(hi)) + "} \"\\\"\"";
        }
        return prim("string");
    }

    std::string visit_integer(const json &s, const std::string &where) {
        int64_t lo = -kIntDigitsMax, hi = kIntDigitsMax;
        bool bounded = false;
        auto bound = [&](const char *k, bool lower, int64_t adjust) {
            if (!s.contains(k)) return;
            const json &v = s[k];
            if (!v.is_number()) fail(Status::invalid_argument, "JSON schema at %s: %s must be a number", where.c_str(), k);
            const double d = v.get<double>();
            if (d < -double(kIntDigitsMax) || d > double(kIntDigitsMax)) {
                unsupported(where, std::string("'") + k + "' beyond 15 digits");
                return;
            }
            // Round towards the inside of the range; exclusive bounds step one further.
            const int64_t x = lower ? static_cast<int64_t>(std::ceil(d)) + (std::ceil(d) == d ? adjust : 0)
                                    : static_cast<int64_t>(std::floor(d)) - (std::floor(d) == d ? adjust : 0);
            if (lower) lo = std::max(lo, x);
            else hi = std::min(hi, x);
            bounded = true;
        };
        bound("minimum", true, 0);
        bound("exclusiveMinimum", true, 1);
        bound("maximum", false, 0);
        bound("exclusiveMaximum", false, 1);
        if (!bounded) return prim("integer");
        if (lo > hi) fail(Status::invalid_argument, "JSON schema at %s: no integer lies within the bounds", where.c_str());
        return add_rule(where_name(where) + "-int", integer_range_gbnf(lo, hi));
    }

    // ---- regex subset → GBNF over the JSON-escaped text of the string
    struct Re {
        const std::string &p;
        size_t i = 0;
        const std::string &where;
    };

    [[noreturn]] void re_error(const Re &r, const char *what) {
        fail(Status::invalid_argument, "JSON schema at %s: pattern '%s', offset %zu: %s", r.where.c_str(), r.p.c_str(), r.i, what);
    }

    std::string regex_to_gbnf(const std::string &pat, const std::string &where) {
        Re r{pat, 0, where};
        if (r.i < pat.size() && pat[r.i] == '^') ++r.i;
        std::string out = re_alt(r, 0);
        if (r.i < pat.size()) re_error(r, "unexpected ')'");
        return out;
    }

    std::string re_alt(Re &r, int depth) {
        if (depth > kMaxNesting) re_error(r, "groups nested too deeply");
        std::string out = re_seq(r, depth);
        while (r.i < r.p.size() && r.p[r.i] == '|') {
            ++r.i;
            out += " | " + re_seq(r, depth);
        }
        return out;
    }

    std::string re_seq(Re &r, int depth) {
        std::string out;
        while (r.i < r.p.size() && r.p[r.i] != '|' && r.p[r.i] != ')') {
            if (r.p[r.i] == '$' && r.i + 1 == r.p.size()) {
                ++r.i;
                break;
            }
            std::string atom = re_atom(r, depth);
            if (r.i < r.p.size()) {
                const char q = r.p[r.i];
                if (q == '*' || q == '+' || q == '?') atom = "( " + atom + " )" + q, ++r.i;
                else if (q == '{') {
                    const size_t close = r.p.find('}', r.i);
                    if (close == std::string::npos) re_error(r, "'{' without '}'");
                    atom = "( " + atom + " )" + r.p.substr(r.i, close - r.i + 1);
                    r.i = close + 1;
                }
                if (r.i < r.p.size() && (r.p[r.i] == '?' || r.p[r.i] == '+')) ++r.i; // lazy/possessive: same language
            }
            out += (out.empty() ? "" : " ") + atom;
        }
        return out.empty() ? "\"\"" : out;
    }

    // A JSON-escaped code point as a GBNF literal.
    static std::string json_char(uint32_t cp) {
        std::string enc;
        if (cp == '"') return "\"\\\\\\\"\"";
        if (cp == '\\') return "\"\\\\\\\\\"";
        if (cp < 0x20) return literal(strfmt("\\u%04x", cp));
        if (cp < 0x80) enc += static_cast<char>(cp);
        else if (cp < 0x800) enc += static_cast<char>(0xC0 | (cp >> 6)), enc += static_cast<char>(0x80 | (cp & 0x3F));
        else if (cp < 0x10000)
            enc += static_cast<char>(0xE0 | (cp >> 12)), enc += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), enc += static_cast<char>(0x80 | (cp & 0x3F));
        else
            enc += static_cast<char>(0xF0 | (cp >> 18)), enc += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                enc += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), enc += static_cast<char>(0x80 | (cp & 0x3F));
        return literal(enc);
    }

    uint32_t re_utf8(Re &r) {
        const unsigned char c = static_cast<unsigned char>(r.p[r.i]);
        const int len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (r.i + static_cast<size_t>(len) > r.p.size()) re_error(r, "invalid UTF-8");
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(r.p[r.i + static_cast<size_t>(k)]) & 0x3F);
        r.i += static_cast<size_t>(len);
        return cp;
    }

    // Class text for GBNF's [...]: a code point, escaped where GBNF needs it.
    static std::string class_char(uint32_t cp) {
        if (cp == ']' || cp == '\\' || cp == '-' || cp == '^' || cp == '[') return std::string("\\") + static_cast<char>(cp);
        if (cp < 0x20 || cp == 0x7F) return strfmt("\\x%02X", cp);
        std::string s;
        if (cp < 0x80) s += static_cast<char>(cp);
        else return strfmt("\\U%08X", cp);
        return s;
    }

    // Characters that need JSON escaping are left out of classes (the grammar stays a subset).
    static constexpr const char *kUnsafe = "\"\\\\\\x00-\\x1F";

    std::string re_atom(Re &r, int depth) {
        const char c = r.p[r.i];
        if (c == '(') {
            ++r.i;
            if (r.p.compare(r.i, 2, "?:") == 0) r.i += 2;
            else if (r.i < r.p.size() && r.p[r.i] == '?') re_error(r, "only (?:...) groups are supported");
            std::string inner = re_alt(r, depth + 1);
            if (r.i >= r.p.size() || r.p[r.i] != ')') re_error(r, "'(' without ')'");
            ++r.i;
            return "( " + inner + " )";
        }
        if (c == '[') return re_class(r);
        if (c == '.') return ++r.i, std::string("[^") + kUnsafe + "]";
        if (c == '\\') {
            ++r.i;
            if (r.i >= r.p.size()) re_error(r, "pattern ends in '\\'");
            const char e = r.p[r.i++];
            switch (e) {
            case 'd': return "[0-9]";
            case 'D': return std::string("[^0-9") + kUnsafe + "]";
            case 'w': return "[a-zA-Z0-9_]";
            case 'W': return std::string("[^a-zA-Z0-9_") + kUnsafe + "]";
            case 's': return "\" \"";
            case 'S': return std::string("[^ \\t\\n\\r") + kUnsafe + "]";
            case 'n': return json_char('\n');
            case 't': return json_char('\t');
            case 'r': return json_char('\r');
            case 'b': case 'B': case 'A': case 'Z': case 'z': re_error(r, "anchors inside a pattern are not supported");
            default:
                if (std::isalnum(static_cast<unsigned char>(e))) re_error(r, "unsupported escape");
                return json_char(static_cast<unsigned char>(e));
            }
        }
        if (c == '*' || c == '+' || c == '?' || c == '{') re_error(r, "a quantifier with nothing before it");
        if (c == '^' || c == '$') re_error(r, "anchors inside a pattern are not supported");
        return json_char(re_utf8(r));
    }

    std::string re_class(Re &r) {
        ++r.i;
        std::string body;
        bool negated = false;
        if (r.i < r.p.size() && r.p[r.i] == '^') negated = true, ++r.i;
        bool first = true;
        while (true) {
            if (r.i >= r.p.size()) re_error(r, "'[' without ']'");
            if (r.p[r.i] == ']' && !first) break;
            first = false;
            if (r.p[r.i] == '\\') {
                ++r.i;
                if (r.i >= r.p.size()) re_error(r, "pattern ends in '\\'");
                const char e = r.p[r.i++];
                if (e == 'd') body += "0-9";
                else if (e == 'w') body += "a-zA-Z0-9_";
                else if (e == 's') body += " ";
                else if (std::isalnum(static_cast<unsigned char>(e)) && e != 'n' && e != 't' && e != 'r') re_error(r, "unsupported escape in a class");
                else body += class_char(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : static_cast<unsigned char>(e));
                continue;
            }
            const uint32_t lo = re_utf8(r);
            body += class_char(lo);
            if (r.i + 1 < r.p.size() && r.p[r.i] == '-' && r.p[r.i + 1] != ']') {
                ++r.i;
                body += "-" + class_char(re_utf8(r));
            }
        }
        ++r.i;
        if (negated) return "[^" + body + kUnsafe + "]";
        // Members that would need escaping in JSON are dropped: keep the rest. A class of
        // only such members is an error rather than an empty language.
        return intersect_safe("[" + body + "]", r);
    }

    // GBNF has no class intersection; a class is made JSON-safe by checking its parse.
    std::string intersect_safe(const std::string &cls, Re &r) {
        const auto g = parse_gbnf("root ::= " + cls);
        const CharClass &c = g->classes.at(g->code.at(g->rule_alts[g->root][0]).arg);
        std::string out = "[";
        for (const auto &[a, b] : c.ranges) {
            uint32_t lo = a;
            const uint32_t hi = b;
            if (hi < 0x20) continue;
            lo = std::max<uint32_t>(lo, 0x20);
            // Split out '"' and '\\'.
            for (uint32_t x = lo; x <= hi;) {
                if (x == '"' || x == '\\') {
                    ++x;
                    continue;
                }
                uint32_t y = x;
                while (y < hi && y + 1 != '"' && y + 1 != '\\') ++y;
                out += class_char(x) + (y > x ? "-" + class_char(y) : "");
                x = y + 1;
                if (y == hi) break;
            }
        }
        if (out == "[") re_error(r, "a character class with no member that JSON strings can hold unescaped");
        return out + "]";
    }
};

} // namespace

std::string integer_range_gbnf(int64_t lo, int64_t hi) {
    std::vector<std::string> alts;
    if (lo < 0) {
        const int64_t nhi = hi < 0 ? hi : -1; // negatives in [lo, nhi]
        alts.push_back("\"-\" ( " + range_nonneg(-nhi, -lo) + " )");
    }
    if (hi >= 0) alts.push_back(range_nonneg(std::max<int64_t>(lo, 0), hi));
    std::string out;
    for (const std::string &x : alts) out += (out.empty() ? "" : " | ") + x;
    return out;
}

std::string json_schema_to_gbnf(std::string_view schema_json, const SchemaOptions &opt) {
    json schema;
    try {
        schema = json::parse(schema_json);
    } catch (const json::parse_error &e) {
        fail(Status::invalid_argument, "JSON schema: not valid JSON: %s", e.what());
    }
    try {
        return Converter(schema, opt).run();
    } catch (const json::exception &e) {
        // A keyword of the wrong JSON type (e.g. "minItems": "3").
        fail(Status::invalid_argument, "JSON schema: a keyword has a value of the wrong type: %s", e.what());
    }
}

} // namespace corvid::grammar
