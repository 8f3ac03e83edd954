// Small helpers shared by the unit tests: where the test data lives, and file I/O.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <stdexcept>
#include <string>
#include <vector>

namespace corvid::test {

// tests/data in the source tree.
inline std::string data_path(const std::string &rel) { return std::string(CORVID_TEST_DATA_DIR) + "/" + rel; }

// ../shared next to the checkout (CI has it; a user's clone may not).
inline std::string shared_path(const std::string &rel) { return std::string(CORVID_SHARED_DIR) + "/" + rel; }

inline bool file_exists(const std::string &path) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    std::fclose(f);
    return true;
}

inline std::vector<uint8_t> read_bytes(const std::string &path) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot open " + path);
    std::vector<uint8_t> out;
    uint8_t buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
    std::fclose(f);
    return out;
}

inline void write_bytes(const std::string &path, const std::vector<uint8_t> &bytes) {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot create " + path);
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
        std::fclose(f);
        throw std::runtime_error("short write to " + path);
    }
    std::fclose(f);
}

// A file name unique to this process under the system temp directory.
inline std::string temp_path(const std::string &stem) {
    static int counter = 0;
    const char *dir = std::getenv("TMPDIR");
    return std::string(dir ? dir : "/tmp") + "/corvid-test-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter++) + "-" + stem;
}

} // namespace corvid::test
