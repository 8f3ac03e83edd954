// Python's binary operators and comparisons on template values.
#pragma once

#include <string>

#include "chat/value.h"

namespace corvid::chat {

// op in + - * / // % ** ~ ; `max_len` bounds string/list repetition results.
Value binary_op(const std::string &op, const Value &a, const Value &b, int line, size_t max_len);
Value negate(const Value &v, bool minus, int line);
// op in == != < > <= >= in notin
bool compare_op(const std::string &op, const Value &a, const Value &b, int line);
// Python slicing of a list, tuple or str.
Value slice_value(const Value &obj, const Value &start, const Value &stop, const Value &step, int line);

}  // namespace corvid::chat
