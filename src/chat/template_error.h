// Errors raised while compiling or rendering a chat template: corvid::Error whose message names
// the template line (and column when known), e.g. "chat template line 3: unknown filter 'foo'".
#pragma once

#include "util/error.h"

namespace corvid::chat {

[[noreturn]] void template_fail(Status status, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
[[noreturn]] void template_fail_at(Status status, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

}  // namespace corvid::chat
