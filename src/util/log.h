// The library's only way to say something: a user-installed callback (silent by default).
#pragma once

#include "corvid.h"

namespace corvid {

enum class LogLevel : int { debug = 0, info = 1, warn = 2, error = 3 };

using LogFn = corvid_log_callback;

void set_log_callback(LogFn fn, void *user_data);

void log(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

} // namespace corvid
