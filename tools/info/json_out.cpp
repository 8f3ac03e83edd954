#include "info/json_out.h"

#include <cinttypes>
#include <cmath>

namespace corvid::cli {

void JsonOut::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) std::fputc(',', f_);
        first_.back() = false;
    }
}

void JsonOut::begin_object() { before_value(); std::fputc('{', f_); first_.push_back(true); }
void JsonOut::end_object() { first_.pop_back(); std::fputc('}', f_); }
void JsonOut::begin_array() { before_value(); std::fputc('[', f_); first_.push_back(true); }
void JsonOut::end_array() { first_.pop_back(); std::fputc(']', f_); }

void JsonOut::key(const char *k) {
    before_value();
    escaped(k, std::char_traits<char>::length(k));
    std::fputc(':', f_);
    after_key_ = true;
}

void JsonOut::string(const char *s, size_t len) {
    before_value();
    escaped(s, len);
}

void JsonOut::escaped(const char *s, size_t len) {
    std::fputc('"', f_);
    for (size_t i = 0; i < len; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        switch (c) {
        case '"': std::fputs("\\\"", f_); break;
        case '\\': std::fputs("\\\\", f_); break;
        case '\n': std::fputs("\\n", f_); break;
        case '\r': std::fputs("\\r", f_); break;
        case '\t': std::fputs("\\t", f_); break;
        default:
            if (c < 0x20) std::fprintf(f_, "\\u%04x", c);
            else std::fputc(c, f_);
        }
    }
    std::fputc('"', f_);
}

void JsonOut::number(int64_t v) { before_value(); std::fprintf(f_, "%" PRId64, v); }
void JsonOut::number_u(uint64_t v) { before_value(); std::fprintf(f_, "%" PRIu64, v); }
void JsonOut::number(double v) {
    before_value();
    if (std::isfinite(v)) std::fprintf(f_, "%.17g", v);
    else std::fputs("null", f_); // JSON has no NaN/Inf
}
void JsonOut::boolean(bool v) { before_value(); std::fputs(v ? "true" : "false", f_); }
void JsonOut::null() { before_value(); std::fputs("null", f_); }

} // namespace corvid::cli
