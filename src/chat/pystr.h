// Python str operations on UTF-8 strings: Python indexes strings by code point and its notion of
// whitespace is Unicode's, so length, slicing, strip and split work on code points here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace corvid::chat::pystr {

// Decodes UTF-8 into code points; an invalid byte b becomes U+DC00+b (Python's surrogateescape),
// which encode() turns back into the byte. Never throws.
std::vector<uint32_t> decode(const std::string &s);
std::string encode(const std::vector<uint32_t> &cps);
void append_utf8(std::string &out, uint32_t cp);
size_t length(const std::string &s);  // in code points
bool is_space(uint32_t cp);           // str.isspace()

// chars == nullptr: strip whitespace; otherwise strip any of the code points in *chars.
std::string strip(const std::string &s, const std::string *chars, bool left, bool right);
// str.split / str.rsplit; sep == nullptr splits on whitespace runs. maxsplit < 0: no limit.
std::vector<std::string> split(const std::string &s, const std::string *sep, int64_t maxsplit, bool from_right);
std::string replace(const std::string &s, const std::string &from, const std::string &to, int64_t count);
int64_t count(const std::string &s, const std::string &sub);
int64_t find(const std::string &s, const std::string &sub, bool from_right);  // code point index or -1
std::string upper(const std::string &s);
std::string lower(const std::string &s);
std::string title(const std::string &s);
std::string capitalize(const std::string &s);

// Python slice index normalisation: fills start/stop/step for a sequence of length n.
// Returns the selected indices.
std::vector<int64_t> slice_indices(int64_t n, const int64_t *start, const int64_t *stop, int64_t step);

}  // namespace corvid::chat::pystr
