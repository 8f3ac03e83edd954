#include "util/host_memory.h"

#include "util/error.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace corvid {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}

HostMemory::HostMemory(size_t bytes, bool huge_pages) : size_(bytes) {
    if (bytes == 0) return;
#if defined(__linux__)
    // Rounded to whole huge pages so the kernel can back all of it with them.
    mapped_ = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void *p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail(Status::out_of_memory, "cannot allocate %.1f MiB of host memory", static_cast<double>(bytes) / 1048576.0);
    if (huge_pages && bytes >= kHugePage) madvise(p, mapped_, MADV_HUGEPAGE); // advice only: ignored where unsupported
    data_ = static_cast<uint8_t *>(p);
#else
    (void)huge_pages;
    data_ = static_cast<uint8_t *>(std::calloc(1, bytes));
    if (!data_) fail(Status::out_of_memory, "cannot allocate %.1f MiB of host memory", static_cast<double>(bytes) / 1048576.0);
#endif
}

void HostMemory::release() {
    if (!data_) return;
#if defined(__linux__)
    munmap(data_, mapped_);
#else
    std::free(data_);
#endif
    data_ = nullptr;
    size_ = mapped_ = 0;
}

HostMemory::~HostMemory() { release(); }

HostMemory::HostMemory(HostMemory &&o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), mapped_(std::exchange(o.mapped_, 0)) {}

HostMemory &HostMemory::operator=(HostMemory &&o) noexcept {
    if (this != &o) {
        release();
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
        mapped_ = std::exchange(o.mapped_, 0);
    }
    return *this;
}

} // namespace corvid
