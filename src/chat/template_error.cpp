#include "chat/template_error.h"

#include <cstdarg>

namespace corvid::chat {

void template_fail(Status status, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string msg = vstrfmt(fmt, ap);
    va_end(ap);
    if (line > 0) throw Error(status, strfmt("chat template line %d: %s", line, msg.c_str()));
    throw Error(status, "chat template: " + msg);
}

void template_fail_at(Status status, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string msg = vstrfmt(fmt, ap);
    va_end(ap);
    throw Error(status, strfmt("chat template line %d, column %d: %s", line, col, msg.c_str()));
}

}  // namespace corvid::chat
