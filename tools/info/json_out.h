// A minimal streaming JSON writer for machine-readable command output.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace corvid::cli {

class JsonOut {
public:
    explicit JsonOut(FILE *f) : f_(f) {}
    void begin_object();
    void end_object();
    void begin_array();
    void end_array();
    void key(const char *k);
    void string(const char *s, size_t len);
    void string(const std::string &s) { string(s.data(), s.size()); }
    void number(int64_t v);
    void number_u(uint64_t v);
    void number(double v);
    void boolean(bool v);
    void null();

private:
    void before_value();
    void escaped(const char *s, size_t len);
    FILE *f_;
    std::vector<bool> first_; // per open container: no element written yet
    bool after_key_ = false;
};

} // namespace corvid::cli
