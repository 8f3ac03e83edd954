// Host-memory defaults of the Backend memory functions (see backend.h).
#include "backend.h"

#include "util/error.h"

#include <cstdlib>
#include <cstring>

namespace corvid {

void *Backend::alloc(size_t bytes) {
    if (bytes == 0) fail(Status::internal, "%s: allocation of 0 bytes", name());
    const size_t rounded = (bytes + 255) / 256 * 256;
    void *p = std::aligned_alloc(256, rounded);
    if (!p) fail(Status::out_of_memory, "%s: cannot allocate %.1f MiB of host memory", name(), bytes / 1048576.0);
    return p;
}

void Backend::release(void *p) { std::free(p); }

void Backend::upload(void *dst, const void *src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
}

void Backend::download(void *dst, const void *src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
}

void Backend::copy(void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src) std::memmove(dst, src, bytes);
}

void Backend::fill(void *dst, int value, size_t bytes) {
    if (bytes) std::memset(dst, value, bytes);
}

} // namespace corvid
