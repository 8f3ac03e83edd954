// Internal error reporting: the core throws corvid::Error; the C ABI (src/api) catches it
// and turns it into a status code plus a message. Nothing else in the library aborts or prints.
#pragma once

#include <cstdarg>
#include <exception>
#include <string>

namespace corvid {

// Values equal the C API's corvid_status (include/corvid.h); a static_assert in src/api keeps them in step.
enum class Status : int {
    ok = 0,
    invalid_argument = 1,
    io = 2,
    format = 3,
    unsupported = 4,
    not_found = 5,
    type_mismatch = 6,
    out_of_memory = 7,
    buffer_too_small = 8,
    internal = 99,
};

class Error : public std::exception {
public:
    Error(Status status, std::string message) : status_(status), message_(std::move(message)) {}
    Status status() const noexcept { return status_; }
    const char *what() const noexcept override { return message_.c_str(); }
    const std::string &message() const noexcept { return message_; }

private:
    Status status_;
    std::string message_;
};

// printf-style formatting into a std::string.
std::string strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string vstrfmt(const char *fmt, va_list ap);

[[noreturn]] void fail(Status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

} // namespace corvid
