#include "chat/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "chat/pystr.h"
#include "chat/template_error.h"

namespace corvid::chat {

const Value *Dict::find(const std::string &key) const {
    for (const auto &kv : items)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

void Dict::set(const std::string &key, Value v) {
    for (auto &kv : items)
        if (kv.first == key) { kv.second = std::move(v); return; }
    items.emplace_back(key, std::move(v));
}

const Value *CallArgs::get(size_t index, const char *name) const {
    if (name)
        for (const auto &kv : kw)
            if (kv.first == name) return &kv.second;
    if (index < pos.size()) return &pos[index];
    return nullptr;
}

Value Value::undefined(std::string why) {
    Value v;
    v.s = std::make_shared<const std::string>(std::move(why));
    return v;
}
Value Value::none() { Value v; v.kind = Kind::none; return v; }
Value Value::boolean(bool x) { Value v; v.kind = Kind::boolean; v.b = x; return v; }
Value Value::integer(int64_t x) { Value v; v.kind = Kind::integer; v.i = x; return v; }
Value Value::floating(double x) { Value v; v.kind = Kind::floating; v.f = x; return v; }
Value Value::string(std::string x) {
    Value v;
    v.kind = Kind::string;
    v.s = std::make_shared<const std::string>(std::move(x));
    return v;
}
Value Value::make_list(List x, bool as_tuple) {
    Value v;
    v.kind = Kind::list;
    v.tuple = as_tuple;
    v.list = std::make_shared<const List>(std::move(x));
    return v;
}
Value Value::make_dict(Dict x) {
    Value v;
    v.kind = Kind::dict;
    v.dict = std::make_shared<Dict>(std::move(x));
    return v;
}
Value Value::make_namespace(Dict x) {
    Value v;
    v.kind = Kind::ns;
    v.dict = std::make_shared<Dict>(std::move(x));
    return v;
}
Value Value::callable(std::string name, std::function<Value(CallArgs &)> fn) {
    Value v;
    v.kind = Kind::callable;
    v.fn = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
    return v;
}

bool truthy(const Value &v) {
    switch (v.kind) {
    case Kind::undefined: case Kind::none: return false;
    case Kind::boolean: return v.b;
    case Kind::integer: return v.i != 0;
    case Kind::floating: return v.f != 0.0;
    case Kind::string: return !v.s->empty();
    case Kind::list: return !v.list->empty();
    case Kind::dict: return !v.dict->items.empty();
    default: return true;
    }
}

std::string float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
    // Shortest digit string that reads back as the same double (Python's repr).
    char buf[64];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (std::strtod(buf, nullptr) == d) break;
    }
    std::string sci = buf;
    const bool neg = sci[0] == '-';
    if (neg) sci.erase(0, 1);
    const size_t epos = sci.find('e');
    const int exp = std::atoi(sci.c_str() + epos + 1);
    std::string digits;
    for (size_t k = 0; k < epos; ++k)
        if (sci[k] != '.') digits += sci[k];
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    std::string out = neg ? "-" : "";
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            std::string ip = digits.substr(0, std::min<size_t>(digits.size(), size_t(exp) + 1));
            while (ip.size() < size_t(exp) + 1) ip += '0';
            std::string fp = digits.size() > size_t(exp) + 1 ? digits.substr(size_t(exp) + 1) : "0";
            out += ip + "." + fp;
        } else {
            out += "0." + std::string(size_t(-exp - 1), '0') + digits;
        }
    } else {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
        out += eb;
    }
    return out;
}

static void append_hex_escape(std::string &out, const char *prefix, uint32_t cp, int width) {
    char b[16];
    std::snprintf(b, sizeof b, "%s%0*x", prefix, width, cp);
    out += b;
}

static bool py_printable(uint32_t cp) {
    if (cp < 0x20 || cp == 0x7F) return false;
    if (cp >= 0x80 && cp <= 0xA0) return false;
    if (cp == 0xAD || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
        (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
        cp == 0x1680)
        return false;
    return true;
}

static std::string repr_string(const std::string &s) {
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char q = has_single && !has_double ? '"' : '\'';
    std::string out(1, q);
    for (uint32_t cp : pystr::decode(s)) {
        if (cp == uint32_t(q) || cp == '\\') { out += '\\'; out += char(cp); }
        else if (cp == '\n') out += "\\n";
        else if (cp == '\r') out += "\\r";
        else if (cp == '\t') out += "\\t";
        else if (cp >= 0xDC80 && cp <= 0xDCFF) append_hex_escape(out, "\\udc", cp & 0xFF, 2);
        else if (!py_printable(cp)) {
            if (cp < 0x100) append_hex_escape(out, "\\x", cp, 2);
            else append_hex_escape(out, "\\u", cp, 4);
        } else pystr::append_utf8(out, cp);
    }
    out += q;
    return out;
}

static std::string repr_seq(const Value &v) {
    std::string out = v.tuple ? "(" : "[";
    for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += ", ";
        out += repr((*v.list)[k]);
    }
    if (v.tuple && v.list->size() == 1) out += ",";
    out += v.tuple ? ")" : "]";
    return out;
}

static std::string repr_dict(const Dict &d) {
    std::string out = "{";
    for (size_t k = 0; k < d.items.size(); ++k) {
        if (k) out += ", ";
        out += repr_string(d.items[k].first) + ": " + repr(d.items[k].second);
    }
    return out + "}";
}

std::string repr(const Value &v) {
    switch (v.kind) {
    case Kind::string: return repr_string(*v.s);
    case Kind::undefined: return "Undefined";
    default: return to_str(v);
    }
}

std::string to_str(const Value &v) {
    switch (v.kind) {
    case Kind::undefined: return "";
    case Kind::none: return "None";
    case Kind::boolean: return v.b ? "True" : "False";
    case Kind::integer: return std::to_string(v.i);
    case Kind::floating: return float_repr(v.f);
    case Kind::string: return *v.s;
    case Kind::list: return repr_seq(v);
    case Kind::dict: return repr_dict(*v.dict);
    case Kind::ns: return "<Namespace " + repr_dict(*v.dict) + ">";
    case Kind::callable: return "<function " + v.fn->name + ">";
    case Kind::loop: return "<LoopContext>";
    }
    return "";
}

const char *type_name(const Value &v) {
    switch (v.kind) {
    case Kind::undefined: return "Undefined";
    case Kind::none: return "NoneType";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::list: return v.tuple ? "tuple" : "list";
    case Kind::dict: return "dict";
    case Kind::ns: return "Namespace";
    case Kind::callable: return "function";
    case Kind::loop: return "LoopContext";
    }
    return "object";
}

bool equals(const Value &a, const Value &b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind == Kind::floating || b.kind == Kind::floating) return a.as_double() == b.as_double();
        return a.as_int() == b.as_int();
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
    case Kind::undefined: case Kind::none: return true;
    case Kind::string: return *a.s == *b.s;
    case Kind::list:
        if (a.tuple != b.tuple || a.list->size() != b.list->size()) return false;
        for (size_t k = 0; k < a.list->size(); ++k)
            if (!equals((*a.list)[k], (*b.list)[k])) return false;
        return true;
    case Kind::dict:
        if (a.dict->items.size() != b.dict->items.size()) return false;
        for (const auto &kv : a.dict->items) {
            const Value *o = b.dict->find(kv.first);
            if (!o || !equals(kv.second, *o)) return false;
        }
        return true;
    case Kind::ns: return a.dict == b.dict;
    case Kind::callable: return a.fn == b.fn;
    case Kind::loop: return a.loop == b.loop;
    default: return false;
    }
}

bool less_than(const Value &a, const Value &b, int line) {
    if (a.is_number() && b.is_number()) {
        if (a.kind == Kind::floating || b.kind == Kind::floating) return a.as_double() < b.as_double();
        return a.as_int() < b.as_int();
    }
    if (a.is_string() && b.is_string()) return *a.s < *b.s;
    if (a.kind == Kind::list && b.kind == Kind::list && a.tuple == b.tuple) {
        const size_t n = std::min(a.list->size(), b.list->size());
        for (size_t k = 0; k < n; ++k) {
            const Value &x = (*a.list)[k], &y = (*b.list)[k];
            if (!equals(x, y)) return less_than(x, y, line);
        }
        return a.list->size() < b.list->size();
    }
    if (a.is_undefined() || b.is_undefined())
        template_fail(Status::format, line, "%s", (a.is_undefined() ? a : b).s->c_str());
    template_fail(Status::format, line, "'<' not supported between instances of '%s' and '%s'", type_name(a),
                  type_name(b));
}

Value from_json(const nlohmann::ordered_json &j) {
    using T = nlohmann::ordered_json::value_t;
    switch (j.type()) {
    case T::null: return Value::none();
    case T::boolean: return Value::boolean(j.get<bool>());
    case T::number_integer: return Value::integer(j.get<int64_t>());
    case T::number_unsigned: {
        const uint64_t u = j.get<uint64_t>();
        if (u > uint64_t(INT64_MAX)) return Value::floating(double(u));
        return Value::integer(int64_t(u));
    }
    case T::number_float: return Value::floating(j.get<double>());
    case T::string: return Value::string(j.get<std::string>());
    case T::array: {
        List l;
        l.reserve(j.size());
        for (const auto &e : j) l.push_back(from_json(e));
        return Value::make_list(std::move(l));
    }
    case T::object: {
        Dict d;
        d.items.reserve(j.size());
        for (auto it = j.begin(); it != j.end(); ++it) d.items.emplace_back(it.key(), from_json(it.value()));
        return Value::make_dict(std::move(d));
    }
    default: return Value::none();
    }
}

static void json_string(std::string &out, const std::string &s, bool ensure_ascii) {
    out += '"';
    for (uint32_t cp : pystr::decode(s)) {
        switch (cp) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        default: break;
        }
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7F)) {
            if (cp >= 0x10000) {
                const uint32_t v = cp - 0x10000;
                append_hex_escape(out, "\\u", 0xD800 + (v >> 10), 4);
                append_hex_escape(out, "\\u", 0xDC00 + (v & 0x3FF), 4);
            } else {
                append_hex_escape(out, "\\u", cp, 4);
            }
        } else if (cp >= 0xDC80 && cp <= 0xDCFF) {
            out += char(cp - 0xDC00);  // an undecodable byte goes out as it came in
        } else {
            pystr::append_utf8(out, cp);
        }
    }
    out += '"';
}

static void json_value(std::string &out, const Value &v, const JsonOptions &opt, int level, int line) {
    if (level > 512) template_fail(Status::format, line, "tojson: value nested too deeply");
    auto newline = [&](int lv) {
        out += '\n';
        for (int k = 0; k < lv; ++k) out += opt.indent;
    };
    switch (v.kind) {
    case Kind::none: out += "null"; return;
    case Kind::boolean: out += v.b ? "true" : "false"; return;
    case Kind::integer: out += std::to_string(v.i); return;
    case Kind::floating:
        if (std::isnan(v.f)) out += "NaN";
        else if (std::isinf(v.f)) out += v.f < 0 ? "-Infinity" : "Infinity";
        else out += float_repr(v.f);
        return;
    case Kind::string: json_string(out, *v.s, opt.ensure_ascii); return;
    case Kind::list: {
        if (v.list->empty()) { out += "[]"; return; }
        out += '[';
        for (size_t k = 0; k < v.list->size(); ++k) {
            if (k) out += opt.item_sep;
            if (opt.has_indent) newline(level + 1);
            json_value(out, (*v.list)[k], opt, level + 1, line);
        }
        if (opt.has_indent) newline(level);
        out += ']';
        return;
    }
    case Kind::dict: {
        if (v.dict->items.empty()) { out += "{}"; return; }
        std::vector<const std::pair<std::string, Value> *> items;
        for (const auto &kv : v.dict->items) items.push_back(&kv);
        if (opt.sort_keys)
            std::stable_sort(items.begin(), items.end(), [](auto *a, auto *b) { return a->first < b->first; });
        out += '{';
        for (size_t k = 0; k < items.size(); ++k) {
            if (k) out += opt.item_sep;
            if (opt.has_indent) newline(level + 1);
            json_string(out, items[k]->first, opt.ensure_ascii);
            out += opt.key_sep;
            json_value(out, items[k]->second, opt, level + 1, line);
        }
        if (opt.has_indent) newline(level);
        out += '}';
        return;
    }
    default:
        template_fail(Status::format, line, "tojson: Object of type %s is not JSON serializable", type_name(v));
    }
}

std::string to_json(const Value &v, const JsonOptions &opt, int line) {
    std::string out;
    json_value(out, v, opt, 0, line);
    return out;
}

}  // namespace corvid::chat
