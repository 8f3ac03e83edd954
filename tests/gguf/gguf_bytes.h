// Builds GGUF files byte by byte, so tests can write any malformation they need.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace corvid::test {

struct GgufBytes {
    std::vector<uint8_t> b;

    template <typename T> GgufBytes &put(T v) {
        const auto *p = reinterpret_cast<const uint8_t *>(&v);
        b.insert(b.end(), p, p + sizeof v);
        return *this;
    }
    GgufBytes &raw(const void *p, size_t n) {
        const auto *q = static_cast<const uint8_t *>(p);
        b.insert(b.end(), q, q + n);
        return *this;
    }
    GgufBytes &str(const std::string &s) {
        put<uint64_t>(s.size());
        return raw(s.data(), s.size());
    }
    GgufBytes &header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
        raw("GGUF", 4);
        return put(version).put(n_tensors).put(n_kv);
    }
    GgufBytes &kv_u32(const std::string &key, uint32_t v) { return str(key).put<uint32_t>(4).put(v); }
    GgufBytes &kv_str(const std::string &key, const std::string &v) { return str(key).put<uint32_t>(8).str(v); }
    // A tensor record: name, dims, type id, data offset.
    GgufBytes &tensor(const std::string &name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
        str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
        for (uint64_t d : ne) put(d);
        return put(type).put(offset);
    }
    GgufBytes &pad(size_t align) {
        while (b.size() % align) b.push_back(0);
        return *this;
    }
    GgufBytes &zeros(size_t n) {
        b.insert(b.end(), n, 0);
        return *this;
    }
};

} // namespace corvid::test
