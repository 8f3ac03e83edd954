// Attribute and item access, iteration, and the methods of str and dict values.
#include <cmath>

#include "chat/builtins.h"
#include "chat/pystr.h"
#include "chat/template_error.h"

namespace corvid::chat {
namespace {

std::string arg_str(const CallArgs &a, size_t idx, const char *name, const char *method) {
    const Value *v = a.get(idx, name);
    if (!v || !v->is_string())
        template_fail(Status::format, a.line, "%s() argument %zu must be str, not %s", method, idx + 1,
                      v ? type_name(*v) : "nothing");
    return v->str();
}

int64_t arg_int(const CallArgs &a, size_t idx, const char *name, int64_t dflt, const char *method) {
    const Value *v = a.get(idx, name);
    if (!v || v->is_none()) return dflt;
    if (v->kind != Kind::integer && v->kind != Kind::boolean)
        template_fail(Status::format, a.line, "%s() argument must be int, not %s", method, type_name(*v));
    return v->as_int();
}

// startswith/endswith accept a string or a tuple of strings.
bool affix_match(const std::string &s, const Value &arg, bool start, int line) {
    auto one = [&](const Value &p) {
        if (!p.is_string()) template_fail(Status::format, line, "startswith/endswith argument must be str or a tuple of str");
        const std::string &x = p.str();
        if (x.size() > s.size()) return false;
        return start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
    };
    if (arg.kind == Kind::list) {
        for (const auto &p : *arg.list)
            if (one(p)) return true;
        return false;
    }
    return one(arg);
}

Value string_method(const std::shared_ptr<const std::string> &self, const std::string &name) {
    const std::string &mname = name;
    auto bind = [&](std::function<Value(const std::string &, CallArgs &)> f) {
        return Value::callable("str." + mname, [self, f](CallArgs &a) { return f(*self, a); });
    };
    if (name == "startswith" || name == "endswith") {
        const bool start = name == "startswith";
        return bind([start](const std::string &s, CallArgs &a) {
            const Value *p = a.get(0, nullptr);
            if (!p) template_fail(Status::format, a.line, "startswith/endswith needs an argument");
            return Value::boolean(affix_match(s, *p, start, a.line));
        });
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const bool l = name != "rstrip", r = name != "lstrip";
        return bind([l, r](const std::string &s, CallArgs &a) {
            const Value *c = a.get(0, "chars");
            if (c && !c->is_none() && !c->is_string())
                template_fail(Status::format, a.line, "strip arg must be None or str");
            const std::string *chars = c && c->is_string() ? &c->str() : nullptr;
            return Value::string(pystr::strip(s, chars, l, r));
        });
    }
    if (name == "split" || name == "rsplit") {
        const bool right = name == "rsplit";
        return bind([right](const std::string &s, CallArgs &a) {
            const Value *sep = a.get(0, "sep");
            const int64_t maxsplit = arg_int(a, 1, "maxsplit", -1, "split");
            std::string sep_s;
            const std::string *sp = nullptr;
            if (sep && !sep->is_none()) {
                if (!sep->is_string()) template_fail(Status::format, a.line, "split: must be str or None");
                if (sep->str().empty()) template_fail(Status::format, a.line, "split: empty separator");
                sep_s = sep->str();
                sp = &sep_s;
            }
            List out;
            for (auto &p : pystr::split(s, sp, maxsplit, right)) out.push_back(Value::string(std::move(p)));
            return Value::make_list(std::move(out));
        });
    }
    if (name == "upper") return bind([](const std::string &s, CallArgs &) { return Value::string(pystr::upper(s)); });
    if (name == "lower") return bind([](const std::string &s, CallArgs &) { return Value::string(pystr::lower(s)); });
    if (name == "title") return bind([](const std::string &s, CallArgs &) { return Value::string(pystr::title(s)); });
    if (name == "capitalize")
        return bind([](const std::string &s, CallArgs &) { return Value::string(pystr::capitalize(s)); });
    if (name == "replace")
        return bind([](const std::string &s, CallArgs &a) {
            return Value::string(pystr::replace(s, arg_str(a, 0, nullptr, "replace"), arg_str(a, 1, nullptr, "replace"),
                                                arg_int(a, 2, "count", -1, "replace")));
        });
    if (name == "find" || name == "rfind")
        return bind([right = name == "rfind"](const std::string &s, CallArgs &a) {
            return Value::integer(pystr::find(s, arg_str(a, 0, nullptr, "find"), right));
        });
    if (name == "count")
        return bind([](const std::string &s, CallArgs &a) { return Value::integer(pystr::count(s, arg_str(a, 0, nullptr, "count"))); });
    if (name == "join")
        return bind([](const std::string &s, CallArgs &a) {
            const Value *v = a.get(0, nullptr);
            if (!v) template_fail(Status::format, a.line, "join() takes exactly one argument");
            std::string out;
            bool first = true;
            for (const auto &e : iterate(*v, a.line)) {
                if (!e.is_string()) template_fail(Status::format, a.line, "sequence item: expected str instance, %s found", type_name(e));
                if (!first) out += s;
                out += e.str();
                first = false;
            }
            return Value::string(std::move(out));
        });
    if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum")
        return bind([name](const std::string &s, CallArgs &) {
            if (s.empty()) return Value::boolean(false);
            for (uint32_t c : pystr::decode(s)) {
                const bool d = c >= '0' && c <= '9', al = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
                const bool ok = name == "isdigit" ? d : name == "isalpha" ? al : name == "isalnum" ? d || al : pystr::is_space(c);
                if (!ok) return Value::boolean(false);
            }
            return Value::boolean(true);
        });
    if (name == "format") {
        return Value::callable("str.format", [](CallArgs &a) -> Value {
            template_fail(Status::unsupported, a.line, "unsupported str.format() call");
        });
    }
    return Value::undefined("'str object' has no attribute '" + name + "'");
}

Value dict_method(const Value &self, const std::string &name) {
    auto d = self.dict;
    if (name == "items")
        return Value::callable("dict.items", [d](CallArgs &) {
            List out;
            for (const auto &kv : d->items) out.push_back(Value::make_list({Value::string(kv.first), kv.second}, true));
            return Value::make_list(std::move(out));
        });
    if (name == "keys")
        return Value::callable("dict.keys", [d](CallArgs &) {
            List out;
            for (const auto &kv : d->items) out.push_back(Value::string(kv.first));
            return Value::make_list(std::move(out));
        });
    if (name == "values")
        return Value::callable("dict.values", [d](CallArgs &) {
            List out;
            for (const auto &kv : d->items) out.push_back(kv.second);
            return Value::make_list(std::move(out));
        });
    if (name == "get")
        return Value::callable("dict.get", [d](CallArgs &a) {
            const Value *k = a.get(0, nullptr);
            const Value *dflt = a.get(1, nullptr);
            if (!k) template_fail(Status::format, a.line, "get expected at least 1 argument, got 0");
            if (k->is_string())
                if (const Value *v = d->find(k->str())) return *v;
            return dflt ? *dflt : Value::none();
        });
    if (name == "copy")
        return Value::callable("dict.copy", [d](CallArgs &) { return Value::make_dict(*d); });
    if (name == "update" || name == "pop" || name == "popitem" || name == "setdefault" || name == "clear")
        return Value::callable("dict." + name, [name](CallArgs &a) -> Value {
            template_fail(Status::unsupported, a.line, "access to attribute '%s' of 'dict' object is unsafe", name.c_str());
        });
    return Value();  // not a method
}

Value loop_attr(const LoopState &l, const std::string &name, int line) {
    const int64_t n = int64_t(l.items->size()), k = int64_t(l.index);
    if (name == "index") return Value::integer(k + 1);
    if (name == "index0") return Value::integer(k);
    if (name == "revindex") return Value::integer(n - k);
    if (name == "revindex0") return Value::integer(n - k - 1);
    if (name == "first") return Value::boolean(k == 0);
    if (name == "last") return Value::boolean(k == n - 1);
    if (name == "length") return Value::integer(n);
    if (name == "depth") return Value::integer(1);
    if (name == "depth0") return Value::integer(0);
    if (name == "previtem")
        return k > 0 ? (*l.items)[size_t(k - 1)] : Value::undefined("there is no previous item");
    if (name == "nextitem")
        return k + 1 < n ? (*l.items)[size_t(k + 1)] : Value::undefined("there is no next item");
    if (name == "cycle") return Value::callable("loop.cycle", l.cycle);
    if (name == "changed") template_fail(Status::unsupported, line, "unsupported 'loop.changed'");
    return Value::undefined("'LoopContext object' has no attribute '" + name + "'");
}

}  // namespace

void undefined_error(const Value &v, int line) {
    template_fail(Status::format, line, "%s", v.s && !v.s->empty() ? v.s->c_str() : "value is undefined");
}

Value get_attr(const Value &obj, const std::string &name, int line) {
    switch (obj.kind) {
    case Kind::undefined: undefined_error(obj, line);
    case Kind::dict: {
        Value m = dict_method(obj, name);
        if (m.kind == Kind::callable) return m;
        if (const Value *v = obj.dict->find(name)) return *v;
        return Value::undefined("'dict object' has no attribute '" + name + "'");
    }
    case Kind::ns:
        if (const Value *v = obj.dict->find(name)) return *v;
        return Value::undefined("'Namespace object' has no attribute '" + name + "'");
    case Kind::string: return string_method(obj.s, name);
    case Kind::loop: return loop_attr(*obj.loop, name, line);
    case Kind::list:
        if (name == "append" || name == "extend" || name == "pop" || name == "insert" || name == "remove" ||
            name == "clear" || name == "sort" || name == "reverse")
            template_fail(Status::unsupported, line, "access to attribute '%s' of '%s' object is unsafe", name.c_str(),
                          type_name(obj));
        return Value::undefined(std::string("'") + type_name(obj) + " object' has no attribute '" + name + "'");
    default:
        return Value::undefined(std::string("'") + type_name(obj) + " object' has no attribute '" + name + "'");
    }
}

Value get_item(const Value &obj, const Value &key, int line) {
    switch (obj.kind) {
    case Kind::undefined: undefined_error(obj, line);
    case Kind::dict:
        if (key.is_string()) {
            if (const Value *v = obj.dict->find(key.str())) return *v;
            Value m = dict_method(obj, key.str());
            if (m.kind == Kind::callable) return m;
        }
        return Value::undefined("'dict object' has no attribute '" + to_str(key) + "'");
    case Kind::list: case Kind::string:
        if (key.kind == Kind::integer || key.kind == Kind::boolean) {
            const bool is_str = obj.kind == Kind::string;
            std::vector<uint32_t> cps;
            if (is_str) cps = pystr::decode(obj.str());
            const int64_t n = is_str ? int64_t(cps.size()) : int64_t(obj.list->size());
            int64_t k = key.as_int();
            if (k < 0) k += n;
            if (k < 0 || k >= n)
                return Value::undefined(std::string("'") + type_name(obj) + " object' has no element " + to_str(key));
            if (!is_str) return (*obj.list)[size_t(k)];
            return Value::string(pystr::encode({cps[size_t(k)]}));
        }
        if (key.is_string()) return get_attr(obj, key.str(), line);
        return Value::undefined(std::string("'") + type_name(obj) + " object' has no element " + repr(key));
    case Kind::ns: case Kind::loop:
        if (key.is_string()) return get_attr(obj, key.str(), line);
        return Value::undefined("no such element");
    default:
        if (key.is_string()) return get_attr(obj, key.str(), line);
        return Value::undefined(std::string("'") + type_name(obj) + " object' has no element " + repr(key));
    }
}

List iterate(const Value &v, int line) {
    switch (v.kind) {
    case Kind::undefined: return {};
    case Kind::list: return *v.list;
    case Kind::dict: {
        List out;
        for (const auto &kv : v.dict->items) out.push_back(Value::string(kv.first));
        return out;
    }
    case Kind::string: {
        List out;
        for (uint32_t cp : pystr::decode(v.str())) out.push_back(Value::string(pystr::encode({cp})));
        return out;
    }
    default:
        template_fail(Status::format, line, "'%s' object is not iterable", type_name(v));
    }
}

}  // namespace corvid::chat
