// Built-in filters, tests, attribute access and the methods of str/dict values, with jinja2's
// (and Python's) semantics. Global functions live in the renderer (they need its clock).
#pragma once

#include <string>

#include "chat/value.h"

namespace corvid::chat {

bool has_filter(const std::string &name);
bool has_test(const std::string &name);

// Throw corvid::Error (naming args.line) on bad arguments.
Value apply_filter(const std::string &name, const Value &subject, CallArgs &args);
bool apply_test(const std::string &name, const Value &subject, CallArgs &args);

// obj.name as jinja2's sandbox does it: attribute first (methods, loop fields), then item.
Value get_attr(const Value &obj, const std::string &name, int line);
// obj[key]: item first, then attribute for string keys.
Value get_item(const Value &obj, const Value &key, int line);

// Iterates a value as Python's iter() would (dict → keys, str → characters, undefined → nothing).
List iterate(const Value &v, int line);

// Error for using an undefined value where jinja2 raises UndefinedError.
[[noreturn]] void undefined_error(const Value &v, int line);

}  // namespace corvid::chat
