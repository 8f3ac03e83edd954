// Helpers shared by the tokenizer tests.
#pragma once

#include "gguf/gguf_file.h"
#include "test_util.h"
#include "vocab/vocab.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace corvid::test {

inline std::unique_ptr<Vocab> load_vocab_file(const std::string &path) {
    auto file = gguf::GgufFile::open(path);
    return Vocab::from_gguf(*file);
}

inline std::string read_text(const std::string &path) {
    const auto bytes = read_bytes(path);
    return std::string(bytes.begin(), bytes.end());
}

// Splits `s` on every occurrence of `sep`; the text after the last separator is kept only if
// `keep_last`.
inline std::vector<std::string> split_on(const std::string &s, const std::string &sep, bool keep_last) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (true) {
        const size_t hit = s.find(sep, pos);
        if (hit == std::string::npos) break;
        out.push_back(s.substr(pos, hit - pos));
        pos = hit + sep.size();
    }
    if (keep_last) out.push_back(s.substr(pos));
    return out;
}

inline std::vector<int32_t> parse_ids(const std::string &line) {
    std::vector<int32_t> ids;
    std::istringstream in(line);
    long long v;
    while (in >> v) ids.push_back(static_cast<int32_t>(v));
    return ids;
}

inline std::string ids_str(const std::vector<int32_t> &ids) {
    std::string s;
    for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
}

} // namespace corvid::test
