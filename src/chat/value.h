// Values of the chat-template interpreter, with Python's semantics (jinja2 runs on Python objects):
// truthiness, str()/repr() formatting, equality and ordering, and json.dumps as Hugging Face's
// `tojson` calls it. Lists, tuples and dicts are immutable once built (the sandbox jinja2
// environment forbids mutating them), so they are shared by pointer; a namespace() is the one
// mutable object and is shared on purpose.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace corvid::chat {

struct Value;
struct CallArgs;
struct LoopState;

using List = std::vector<Value>;

// A Python dict with string keys, in insertion order.
struct Dict {
    std::vector<std::pair<std::string, Value>> items;
    const Value *find(const std::string &key) const;
    void set(const std::string &key, Value v);
};

struct Callable {
    std::string name;
    std::function<Value(CallArgs &)> fn;
};

enum class Kind : uint8_t { undefined, none, boolean, integer, floating, string, list, dict, ns, callable, loop };

struct Value {
    Kind kind = Kind::undefined;
    bool b = false;      // boolean
    bool tuple = false;  // list printed as a tuple
    int64_t i = 0;
    double f = 0;
    std::shared_ptr<const std::string> s;  // string; for undefined: the reason ("'x' is undefined")
    std::shared_ptr<const List> list;
    std::shared_ptr<Dict> dict;  // dict (immutable by convention) or namespace attributes (mutable)
    std::shared_ptr<const Callable> fn;
    std::shared_ptr<LoopState> loop;

    static Value undefined(std::string why);
    static Value none();
    static Value boolean(bool v);
    static Value integer(int64_t v);
    static Value floating(double v);
    static Value string(std::string v);
    static Value make_list(List v, bool as_tuple = false);
    static Value make_dict(Dict v);
    static Value make_namespace(Dict v);
    static Value callable(std::string name, std::function<Value(CallArgs &)> fn);

    bool is_undefined() const { return kind == Kind::undefined; }
    bool is_none() const { return kind == Kind::none; }
    bool is_string() const { return kind == Kind::string; }
    bool is_number() const { return kind == Kind::integer || kind == Kind::floating || kind == Kind::boolean; }
    const std::string &str() const { return *s; }
    double as_double() const { return kind == Kind::floating ? f : double(kind == Kind::boolean ? b : i); }
    int64_t as_int() const { return kind == Kind::boolean ? int64_t(b) : i; }
};

// Positional and keyword arguments of a call, plus the template line for error messages.
struct CallArgs {
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    int line = 0;
    // Argument by position or keyword; nullptr when absent.
    const Value *get(size_t index, const char *name) const;
};

// State behind the `loop` variable of a for loop.
struct LoopState {
    std::shared_ptr<const List> items;
    size_t index = 0;
    std::function<Value(CallArgs &)> cycle;
};

// Python truthiness (undefined is false).
bool truthy(const Value &v);
// Python str(v) as jinja2 prints it ("None", "True", "1.0", "[1, 'a']"); undefined prints "".
std::string to_str(const Value &v);
// Python repr(v).
std::string repr(const Value &v);
// Python's float repr ("1.0", "1e-05", "1e+20", "inf", "nan").
std::string float_repr(double d);
// Python ==.
bool equals(const Value &a, const Value &b);
// Python <; throws Error for unorderable types.
bool less_than(const Value &a, const Value &b, int line);
// The name Python gives the value's type ("str", "dict", ...), for error messages.
const char *type_name(const Value &v);

Value from_json(const nlohmann::ordered_json &j);

struct JsonOptions {
    bool ensure_ascii = false;
    bool sort_keys = false;
    bool has_indent = false;
    std::string indent;  // per level
    std::string item_sep = ", ";
    std::string key_sep = ": ";
};
// json.dumps(v, ...); throws Error (type_mismatch) for values JSON cannot hold.
std::string to_json(const Value &v, const JsonOptions &opt, int line);

}  // namespace corvid::chat
