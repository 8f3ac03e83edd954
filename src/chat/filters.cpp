// jinja2's built-in filters and tests (the subset chat templates use), plus Hugging Face's tojson.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "chat/builtins.h"
#include "chat/pystr.h"
#include "chat/template_error.h"

namespace corvid::chat {
namespace {

using FilterFn = Value (*)(const Value &, CallArgs &);
using TestFn = bool (*)(const Value &, CallArgs &);

const Value &need(const CallArgs &a, size_t idx, const char *name, const char *what) {
    const Value *v = a.get(idx, name);
    if (!v) template_fail(Status::format, a.line, "%s: missing argument '%s'", what, name ? name : "value");
    return *v;
}

bool opt_bool(const CallArgs &a, size_t idx, const char *name, bool dflt) {
    const Value *v = a.get(idx, name);
    return v ? truthy(*v) : dflt;
}

std::string soft_str(const Value &v) { return to_str(v); }

// Python's round(x, n) for floats: correctly rounded, ties to even.
double py_round(double x, int64_t n) {
    if (!std::isfinite(x)) return x;
    if (n > 300) return x;
    if (n < -300) return 0.0 * x;
    char buf[512];
    if (n >= 0) {
        std::snprintf(buf, sizeof buf, "%.*f", int(n), x);
        return std::strtod(buf, nullptr);
    }
    const double p = std::pow(10.0, double(-n));
    return std::nearbyint(x / p) * p;
}

Value f_length(const Value &v, CallArgs &a) {
    switch (v.kind) {
    case Kind::undefined: return Value::integer(0);
    case Kind::string: return Value::integer(int64_t(pystr::length(v.str())));
    case Kind::list: return Value::integer(int64_t(v.list->size()));
    case Kind::dict: case Kind::ns: return Value::integer(int64_t(v.dict->items.size()));
    default: template_fail(Status::format, a.line, "object of type '%s' has no len()", type_name(v));
    }
}

Value f_items(const Value &v, CallArgs &a) {
    if (v.is_undefined()) return Value::make_list({});
    if (v.kind != Kind::dict) template_fail(Status::format, a.line, "items filter: can only get item pairs from a mapping");
    List out;
    for (const auto &kv : v.dict->items) out.push_back(Value::make_list({Value::string(kv.first), kv.second}, true));
    return Value::make_list(std::move(out));
}

Value attr_path(const Value &item, const std::string &attr, int line) {
    // jinja2's attribute= takes dotted paths; integer parts index.
    Value cur = item;
    size_t pos = 0;
    while (true) {
        const size_t dot = attr.find('.', pos);
        const std::string part = attr.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        cur = digits ? get_item(cur, Value::integer(std::atoll(part.c_str())), line) : get_item(cur, Value::string(part), line);
        if (dot == std::string::npos) return cur;
        pos = dot + 1;
    }
}

Value f_join(const Value &v, CallArgs &a) {
    const Value *d = a.get(0, "d");
    const Value *attr = a.get(1, "attribute");
    const std::string sep = d ? soft_str(*d) : "";
    std::string out;
    bool first = true;
    for (const auto &e : iterate(v, a.line)) {
        if (!first) out += sep;
        first = false;
        out += soft_str(attr && !attr->is_none() ? attr_path(e, soft_str(*attr), a.line) : e);
    }
    return Value::string(std::move(out));
}

Value f_replace(const Value &v, CallArgs &a) {
    const Value *cnt = a.get(2, "count");
    return Value::string(pystr::replace(soft_str(v), soft_str(need(a, 0, "old", "replace")), soft_str(need(a, 1, "new", "replace")),
                                        cnt && !cnt->is_none() ? cnt->as_int() : -1));
}

Value f_upper(const Value &v, CallArgs &) { return Value::string(pystr::upper(soft_str(v))); }
Value f_lower(const Value &v, CallArgs &) { return Value::string(pystr::lower(soft_str(v))); }
Value f_title(const Value &v, CallArgs &) { return Value::string(pystr::title(soft_str(v))); }
Value f_capitalize(const Value &v, CallArgs &) { return Value::string(pystr::capitalize(soft_str(v))); }
Value f_string(const Value &v, CallArgs &) { return Value::string(soft_str(v)); }
Value f_safe(const Value &v, CallArgs &) { return v.is_string() ? v : Value::string(soft_str(v)); }

Value f_trim(const Value &v, CallArgs &a) {
    const Value *chars = a.get(0, "chars");
    const std::string *cs = chars && chars->is_string() ? &chars->str() : nullptr;
    return Value::string(pystr::strip(soft_str(v), cs, true, true));
}

Value f_default(const Value &v, CallArgs &a) {
    const Value *d = a.get(0, "default_value");
    const bool boolean = opt_bool(a, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !truthy(v))) return d ? *d : Value::string("");
    return v;
}

Value f_first(const Value &v, CallArgs &a) {
    List items = iterate(v, a.line);
    if (items.empty()) return Value::undefined("No first item, sequence was empty.");
    return items.front();
}

Value f_last(const Value &v, CallArgs &a) {
    List items = iterate(v, a.line);
    if (items.empty()) return Value::undefined("No last item, sequence was empty.");
    return items.back();
}

Value f_list(const Value &v, CallArgs &a) { return Value::make_list(iterate(v, a.line)); }

bool parse_int(const std::string &s, int64_t *out) {
    const std::string t = pystr::strip(s, nullptr, true, true);
    std::string d;
    for (size_t k = 0; k < t.size(); ++k) {
        if (t[k] == '_' && k > 0 && k + 1 < t.size() && isdigit(uint8_t(t[k - 1])) && isdigit(uint8_t(t[k + 1]))) continue;
        d += t[k];
    }
    if (d.empty()) return false;
    char *end = nullptr;
    errno = 0;
    const long long x = std::strtoll(d.c_str(), &end, 10);
    if (*end || errno) return false;
    *out = x;
    return true;
}

bool parse_float(const std::string &s, double *out) {
    const std::string t = pystr::strip(s, nullptr, true, true);
    if (t.empty()) return false;
    char *end = nullptr;
    const double x = std::strtod(t.c_str(), &end);
    if (*end) return false;
    *out = x;
    return true;
}

Value f_int(const Value &v, CallArgs &a) {
    const Value *d = a.get(0, "default");
    const Value dflt = d ? *d : Value::integer(0);
    switch (v.kind) {
    case Kind::integer: case Kind::boolean: return Value::integer(v.as_int());
    case Kind::floating:
        if (!std::isfinite(v.f)) return dflt;
        return Value::integer(int64_t(std::trunc(v.f)));
    case Kind::string: {
        int64_t i;
        if (parse_int(v.str(), &i)) return Value::integer(i);
        double f;
        if (parse_float(v.str(), &f) && std::isfinite(f)) return Value::integer(int64_t(std::trunc(f)));
        return dflt;
    }
    default: return dflt;
    }
}

Value f_float(const Value &v, CallArgs &a) {
    const Value *d = a.get(0, "default");
    const Value dflt = d ? *d : Value::floating(0.0);
    if (v.is_number()) return Value::floating(v.as_double());
    if (v.is_string()) {
        double f;
        if (parse_float(v.str(), &f)) return Value::floating(f);
    }
    return dflt;
}

Value f_abs(const Value &v, CallArgs &a) {
    if (v.kind == Kind::floating) return Value::floating(std::fabs(v.f));
    if (v.kind == Kind::integer || v.kind == Kind::boolean) {
        if (v.as_int() == INT64_MIN) template_fail(Status::format, a.line, "abs: integer overflow");
        return Value::integer(std::llabs(v.as_int()));
    }
    template_fail(Status::format, a.line, "bad operand type for abs(): '%s'", type_name(v));
}

Value f_round(const Value &v, CallArgs &a) {
    const Value *p = a.get(0, "precision");
    const int64_t prec = p ? p->as_int() : 0;
    const Value *m = a.get(1, "method");
    const std::string method = m ? soft_str(*m) : "common";
    if (!v.is_number()) template_fail(Status::format, a.line, "round: expected a number, got %s", type_name(v));
    if (method == "common") {
        if (v.kind != Kind::floating) return Value::integer(v.as_int());  // round(int, n) stays int
        return Value::floating(py_round(v.f, prec));
    }
    if (method != "floor" && method != "ceil")
        template_fail(Status::format, a.line, "round: method must be common, ceil or floor");
    const double scale = std::pow(10.0, double(prec));
    const double x = v.as_double() * scale;
    return Value::floating((method == "floor" ? std::floor(x) : std::ceil(x)) / scale);
}

// Sort/unique key: strings lowered unless case_sensitive.
Value sort_key(const Value &v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return Value::string(pystr::lower(v.str()));
    return v;
}

Value f_unique(const Value &v, CallArgs &a) {
    const bool cs = opt_bool(a, 0, "case_sensitive", false);
    const Value *attr = a.get(1, "attribute");
    List out, seen;
    for (const auto &e : iterate(v, a.line)) {
        Value k = sort_key(attr && !attr->is_none() ? attr_path(e, soft_str(*attr), a.line) : e, cs);
        bool dup = false;
        for (const auto &s : seen)
            if (equals(s, k)) { dup = true; break; }
        if (dup) continue;
        seen.push_back(k);
        out.push_back(e);
    }
    return Value::make_list(std::move(out));
}

Value f_reverse(const Value &v, CallArgs &a) {
    if (v.is_string()) {
        auto cps = pystr::decode(v.str());
        std::reverse(cps.begin(), cps.end());
        return Value::string(pystr::encode(cps));
    }
    List items = iterate(v, a.line);
    std::reverse(items.begin(), items.end());
    return Value::make_list(std::move(items));
}

Value f_sort(const Value &v, CallArgs &a) {
    const bool rev = opt_bool(a, 0, "reverse", false);
    const bool cs = opt_bool(a, 1, "case_sensitive", false);
    const Value *attr = a.get(2, "attribute");
    List items = iterate(v, a.line);
    std::vector<std::pair<Value, Value>> keyed;
    for (auto &e : items)
        keyed.emplace_back(sort_key(attr && !attr->is_none() ? attr_path(e, soft_str(*attr), a.line) : e, cs), e);
    const int line = a.line;
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto &x, const auto &y) {
        return rev ? less_than(y.first, x.first, line) : less_than(x.first, y.first, line);
    });
    List out;
    for (auto &kv : keyed) out.push_back(kv.second);
    return Value::make_list(std::move(out));
}

Value f_dictsort(const Value &v, CallArgs &a) {
    if (v.kind != Kind::dict) template_fail(Status::format, a.line, "dictsort: expected a mapping, got %s", type_name(v));
    const bool cs = opt_bool(a, 0, "case_sensitive", false);
    const Value *by = a.get(1, "by");
    const bool by_value = by && soft_str(*by) == "value";
    const bool rev = opt_bool(a, 2, "reverse", false);
    List pairs;
    for (const auto &kv : v.dict->items) pairs.push_back(Value::make_list({Value::string(kv.first), kv.second}, true));
    const int line = a.line;
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value &x, const Value &y) {
        const Value kx = sort_key((*x.list)[by_value], cs), ky = sort_key((*y.list)[by_value], cs);
        return rev ? less_than(ky, kx, line) : less_than(kx, ky, line);
    });
    return Value::make_list(std::move(pairs));
}

// str.splitlines() (without keepends).
std::vector<std::string> splitlines(const std::string &s) {
    std::vector<std::string> out;
    const auto cps = pystr::decode(s);
    std::vector<uint32_t> line;
    for (size_t k = 0; k < cps.size(); ++k) {
        const uint32_t c = cps[k];
        const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                         c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!brk) { line.push_back(c); continue; }
        if (c == '\r' && k + 1 < cps.size() && cps[k + 1] == '\n') ++k;
        out.push_back(pystr::encode(line));
        line.clear();
    }
    if (!line.empty()) out.push_back(pystr::encode(line));
    return out;
}

Value f_indent(const Value &v, CallArgs &a) {
    const Value *w = a.get(0, "width");
    std::string ind = "    ";
    if (w) ind = w->is_string() ? w->str() : std::string(size_t(std::max<int64_t>(0, w->as_int())), ' ');
    const bool first = opt_bool(a, 1, "first", false);
    const bool blank = opt_bool(a, 2, "blank", false);
    const std::string s = soft_str(v) + "\n";
    const auto lines = splitlines(s);
    std::string rv;
    if (blank) {
        for (size_t k = 0; k < lines.size(); ++k) rv += (k ? "\n" + ind : "") + lines[k];
    } else {
        rv = lines.empty() ? "" : lines[0];
        for (size_t k = 1; k < lines.size(); ++k) rv += "\n" + (lines[k].empty() ? "" : ind) + lines[k];
    }
    return Value::string(first ? ind + rv : rv);
}

// Hugging Face's tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value f_tojson(const Value &v, CallArgs &a) {
    JsonOptions o;
    o.ensure_ascii = opt_bool(a, 0, "ensure_ascii", false);
    const Value *ind = a.get(1, "indent");
    if (ind && !ind->is_none()) {
        o.has_indent = true;
        if (ind->is_string()) o.indent = ind->str();
        else if (ind->kind == Kind::integer || ind->kind == Kind::boolean) o.indent = std::string(size_t(std::max<int64_t>(0, ind->as_int())), ' ');
        else template_fail(Status::format, a.line, "tojson: indent must be an int or a string");
        o.item_sep = ",";
    }
    const Value *sep = a.get(2, "separators");
    if (sep && !sep->is_none()) {
        if (sep->kind != Kind::list || sep->list->size() != 2 || !(*sep->list)[0].is_string() || !(*sep->list)[1].is_string())
            template_fail(Status::format, a.line, "tojson: separators must be a pair of strings");
        o.item_sep = (*sep->list)[0].str();
        o.key_sep = (*sep->list)[1].str();
    }
    o.sort_keys = opt_bool(a, 3, "sort_keys", false);
    return Value::string(to_json(v, o, a.line));
}

Value f_escape(const Value &v, CallArgs &) {
    std::string out;
    for (char c : soft_str(v)) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return Value::string(std::move(out));
}

Value f_attr(const Value &v, CallArgs &a) { return get_attr(v, soft_str(need(a, 0, "name", "attr")), a.line); }

// Arguments after the first `skip` ones, as a fresh CallArgs for a nested filter/test call.
CallArgs rest_args(const CallArgs &a, size_t skip) {
    CallArgs r;
    r.line = a.line;
    for (size_t k = skip; k < a.pos.size(); ++k) r.pos.push_back(a.pos[k]);
    return r;
}

Value f_map(const Value &v, CallArgs &a) {
    List out;
    const Value *attr = a.get(size_t(-1), "attribute");
    if (attr) {
        const Value *dflt = a.get(size_t(-1), "default");
        for (const auto &e : iterate(v, a.line)) {
            Value r = attr_path(e, soft_str(*attr), a.line);
            if (r.is_undefined() && dflt) r = *dflt;
            out.push_back(r);
        }
        return Value::make_list(std::move(out));
    }
    if (a.pos.empty()) template_fail(Status::format, a.line, "map: needs a filter name or attribute=");
    const std::string name = soft_str(a.pos[0]);
    if (!has_filter(name)) template_fail(Status::unsupported, a.line, "map: unknown or unsupported filter '%s'", name.c_str());
    for (const auto &e : iterate(v, a.line)) {
        CallArgs r = rest_args(a, 1);
        out.push_back(apply_filter(name, e, r));
    }
    return Value::make_list(std::move(out));
}

Value select_impl(const Value &v, CallArgs &a, bool by_attr, bool want) {
    List out;
    size_t idx = 0;
    std::string attr;
    if (by_attr) {
        if (a.pos.empty()) template_fail(Status::format, a.line, "selectattr/rejectattr: missing attribute name");
        attr = soft_str(a.pos[0]);
        idx = 1;
    }
    std::string test;
    if (a.pos.size() > idx) {
        test = soft_str(a.pos[idx]);
        if (!has_test(test)) template_fail(Status::unsupported, a.line, "unknown or unsupported test '%s'", test.c_str());
    }
    for (const auto &e : iterate(v, a.line)) {
        const Value subject = by_attr ? attr_path(e, attr, a.line) : e;
        bool ok;
        if (test.empty()) ok = truthy(subject);
        else {
            CallArgs r = rest_args(a, idx + 1);
            ok = apply_test(test, subject, r);
        }
        if (ok == want) out.push_back(e);
    }
    return Value::make_list(std::move(out));
}

Value f_select(const Value &v, CallArgs &a) { return select_impl(v, a, false, true); }
Value f_reject(const Value &v, CallArgs &a) { return select_impl(v, a, false, false); }
Value f_selectattr(const Value &v, CallArgs &a) { return select_impl(v, a, true, true); }
Value f_rejectattr(const Value &v, CallArgs &a) { return select_impl(v, a, true, false); }

Value minmax(const Value &v, CallArgs &a, bool want_max) {
    const bool cs = opt_bool(a, 0, "case_sensitive", false);
    const Value *attr = a.get(1, "attribute");
    List items = iterate(v, a.line);
    if (items.empty()) return Value::undefined(want_max ? "No aggregated item, sequence was empty." : "No aggregated item, sequence was empty.");
    size_t best = 0;
    auto key = [&](const Value &e) { return sort_key(attr && !attr->is_none() ? attr_path(e, soft_str(*attr), a.line) : e, cs); };
    for (size_t k = 1; k < items.size(); ++k) {
        const bool better = want_max ? less_than(key(items[best]), key(items[k]), a.line) : less_than(key(items[k]), key(items[best]), a.line);
        if (better) best = k;
    }
    return items[best];
}
Value f_max(const Value &v, CallArgs &a) { return minmax(v, a, true); }
Value f_min(const Value &v, CallArgs &a) { return minmax(v, a, false); }

Value f_sum(const Value &v, CallArgs &a) {
    const Value *attr = a.get(0, "attribute");
    const Value *start = a.get(1, "start");
    Value acc = start ? *start : Value::integer(0);
    for (const auto &e : iterate(v, a.line)) {
        const Value x = attr && !attr->is_none() ? attr_path(e, soft_str(*attr), a.line) : e;
        if (!acc.is_number() || !x.is_number()) template_fail(Status::format, a.line, "sum: unsupported operand types");
        if (acc.kind == Kind::floating || x.kind == Kind::floating) acc = Value::floating(acc.as_double() + x.as_double());
        else acc = Value::integer(acc.as_int() + x.as_int());
    }
    return acc;
}

const std::map<std::string, FilterFn> &filters() {
    static const std::map<std::string, FilterFn> m = {
        {"abs", f_abs}, {"attr", f_attr}, {"capitalize", f_capitalize}, {"count", f_length}, {"d", f_default},
        {"default", f_default}, {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape}, {"first", f_first},
        {"float", f_float}, {"indent", f_indent}, {"int", f_int}, {"items", f_items}, {"join", f_join},
        {"last", f_last}, {"length", f_length}, {"list", f_list}, {"lower", f_lower}, {"map", f_map},
        {"max", f_max}, {"min", f_min}, {"reject", f_reject}, {"rejectattr", f_rejectattr}, {"replace", f_replace},
        {"reverse", f_reverse}, {"round", f_round}, {"safe", f_safe}, {"select", f_select},
        {"selectattr", f_selectattr}, {"sort", f_sort}, {"string", f_string}, {"sum", f_sum}, {"title", f_title},
        {"tojson", f_tojson}, {"trim", f_trim}, {"unique", f_unique}, {"upper", f_upper},
    };
    return m;
}

// ---- tests ----------------------------------------------------------------------------------

const Value &targ(const CallArgs &a, const char *test) {
    if (a.pos.empty()) template_fail(Status::format, a.line, "test '%s' needs an argument", test);
    return a.pos[0];
}

bool t_defined(const Value &v, CallArgs &) { return !v.is_undefined(); }
bool t_undefined(const Value &v, CallArgs &) { return v.is_undefined(); }
bool t_none(const Value &v, CallArgs &) { return v.is_none(); }
bool t_boolean(const Value &v, CallArgs &) { return v.kind == Kind::boolean; }
bool t_true(const Value &v, CallArgs &) { return v.kind == Kind::boolean && v.b; }
bool t_false(const Value &v, CallArgs &) { return v.kind == Kind::boolean && !v.b; }
bool t_integer(const Value &v, CallArgs &) { return v.kind == Kind::integer; }
bool t_float(const Value &v, CallArgs &) { return v.kind == Kind::floating; }
bool t_number(const Value &v, CallArgs &) { return v.is_number(); }
bool t_string(const Value &v, CallArgs &) { return v.is_string(); }
bool t_mapping(const Value &v, CallArgs &) { return v.kind == Kind::dict; }
bool t_iterable(const Value &v, CallArgs &) {
    return v.kind == Kind::undefined || v.kind == Kind::string || v.kind == Kind::list || v.kind == Kind::dict;
}
bool t_sequence(const Value &v, CallArgs &) {
    return v.kind == Kind::undefined || v.kind == Kind::string || v.kind == Kind::list || v.kind == Kind::dict;
}
bool t_callable(const Value &v, CallArgs &) { return v.kind == Kind::callable; }
bool t_odd(const Value &v, CallArgs &a) {
    if (v.kind != Kind::integer && v.kind != Kind::boolean) template_fail(Status::format, a.line, "test 'odd' needs an integer");
    return ((v.as_int() % 2) + 2) % 2 == 1;
}
bool t_even(const Value &v, CallArgs &a) { return !t_odd(v, a); }
bool t_divisibleby(const Value &v, CallArgs &a) {
    const Value &d = targ(a, "divisibleby");
    if (!v.is_number() || !d.is_number()) template_fail(Status::format, a.line, "test 'divisibleby' needs numbers");
    if (d.as_double() == 0) template_fail(Status::format, a.line, "integer division or modulo by zero");
    if (v.kind == Kind::floating || d.kind == Kind::floating) return std::fmod(v.as_double(), d.as_double()) == 0;
    return v.as_int() % d.as_int() == 0;
}
bool t_eq(const Value &v, CallArgs &a) { return equals(v, targ(a, "eq")); }
bool t_ne(const Value &v, CallArgs &a) { return !equals(v, targ(a, "ne")); }
bool t_lt(const Value &v, CallArgs &a) { return less_than(v, targ(a, "lt"), a.line); }
bool t_gt(const Value &v, CallArgs &a) { return less_than(targ(a, "gt"), v, a.line); }
bool t_le(const Value &v, CallArgs &a) { return !less_than(targ(a, "le"), v, a.line); }
bool t_ge(const Value &v, CallArgs &a) { return !less_than(v, targ(a, "ge"), a.line); }
bool t_in(const Value &v, CallArgs &a) {
    const Value &c = targ(a, "in");
    if (c.is_string()) {
        if (!v.is_string()) template_fail(Status::format, a.line, "'in <string>' requires string as left operand, not %s", type_name(v));
        return c.str().find(v.str()) != std::string::npos;
    }
    if (c.kind == Kind::dict) return v.is_string() && c.dict->find(v.str()) != nullptr;
    for (const auto &e : iterate(c, a.line))
        if (equals(e, v)) return true;
    return false;
}
bool t_sameas(const Value &v, CallArgs &a) {
    const Value &o = targ(a, "sameas");
    if (v.kind != o.kind) return false;
    switch (v.kind) {
    case Kind::none: case Kind::undefined: return true;
    case Kind::boolean: return v.b == o.b;
    case Kind::integer: return v.i == o.i && v.i >= -5 && v.i <= 256;  // CPython's small-int cache
    case Kind::string: return v.s == o.s;
    case Kind::list: return v.list == o.list;
    case Kind::dict: case Kind::ns: return v.dict == o.dict;
    case Kind::callable: return v.fn == o.fn;
    default: return false;
    }
}
bool t_lower(const Value &v, CallArgs &) { return v.is_string() && pystr::lower(v.str()) == v.str(); }
bool t_upper(const Value &v, CallArgs &) { return v.is_string() && pystr::upper(v.str()) == v.str(); }

const std::map<std::string, TestFn> &tests() {
    static const std::map<std::string, TestFn> m = {
        {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none}, {"boolean", t_boolean},
        {"true", t_true}, {"false", t_false}, {"integer", t_integer}, {"float", t_float}, {"number", t_number},
        {"string", t_string}, {"mapping", t_mapping}, {"iterable", t_iterable}, {"sequence", t_sequence},
        {"callable", t_callable}, {"odd", t_odd}, {"even", t_even}, {"divisibleby", t_divisibleby},
        {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq}, {"ne", t_ne}, {"!=", t_ne}, {"lt", t_lt},
        {"lessthan", t_lt}, {"<", t_lt}, {"gt", t_gt}, {"greaterthan", t_gt}, {">", t_gt}, {"le", t_le},
        {"<=", t_le}, {"ge", t_ge}, {">=", t_ge}, {"in", t_in}, {"sameas", t_sameas}, {"lower", t_lower},
        {"upper", t_upper},
    };
    return m;
}

}  // namespace

bool has_filter(const std::string &name) { return filters().count(name) != 0; }
bool has_test(const std::string &name) { return tests().count(name) != 0; }

Value apply_filter(const std::string &name, const Value &subject, CallArgs &args) {
    const auto it = filters().find(name);
    if (it == filters().end()) template_fail(Status::unsupported, args.line, "unknown or unsupported filter '%s'", name.c_str());
    return it->second(subject, args);
}

bool apply_test(const std::string &name, const Value &subject, CallArgs &args) {
    const auto it = tests().find(name);
    if (it == tests().end()) template_fail(Status::unsupported, args.line, "unknown or unsupported test '%s'", name.c_str());
    return it->second(subject, args);
}

}  // namespace corvid::chat
