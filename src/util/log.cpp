#include "util/log.h"

#include "util/error.h"

#include <mutex>

namespace corvid {
namespace {
std::mutex g_log_mutex;
LogFn g_log_fn = nullptr;
void *g_log_user = nullptr;
} // namespace

void set_log_callback(LogFn fn, void *user_data) {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    g_log_fn = fn;
    g_log_user = user_data;
}

void log(LogLevel level, const char *fmt, ...) {
    // The callback runs under the lock so that a concurrent set_log_callback(NULL)
    // can never leave a caller with a stale user_data pointer.
    std::lock_guard<std::mutex> lock(g_log_mutex);
    if (!g_log_fn) return;
    va_list ap;
    va_start(ap, fmt);
    const std::string msg = vstrfmt(fmt, ap);
    va_end(ap);
    g_log_fn(static_cast<corvid_log_level>(level), msg.c_str(), g_log_user);
}

} // namespace corvid
