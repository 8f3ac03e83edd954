// Loading the stored quantization vectors of tests/data/quants (made by
// scripts/make_quant_vectors.py; see manifest.txt there).
#pragma once

#include "test_util.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace corvid::test {

inline constexpr int kQuantRows = 8;
inline constexpr int kQuantRowLen = 1024;

inline std::string quant_data(const std::string &name) { return data_path("quants/" + name); }

template <typename T> std::vector<T> read_array(const std::string &path) {
    const std::vector<uint8_t> bytes = read_bytes(path);
    if (bytes.size() % sizeof(T) != 0) throw std::runtime_error(path + ": size not a multiple of the element size");
    std::vector<T> out(bytes.size() / sizeof(T));
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}

inline uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

} // namespace corvid::test
