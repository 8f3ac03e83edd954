// Large zero-filled host buffers for long-lived data that kernels stream (the KV cache).
//
// Anonymous mappings, asked for transparent huge pages on Linux (MADV_HUGEPAGE: a 4 KiB
// page per 4 KiB of a long cache means a TLB miss every few rows of a decode sweep),
// falling back to ordinary pages wherever the kernel says no. Failure to map is
// Error(out_of_memory) naming the size.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corvid {

class HostMemory {
public:
    HostMemory() = default;
    // huge_pages false: ordinary pages (no MADV_HUGEPAGE; where the kernel compacts memory
    // on the first touch of huge pages, that can cost seconds a GiB).
    explicit HostMemory(size_t bytes, bool huge_pages = true);
    ~HostMemory();
    HostMemory(HostMemory &&o) noexcept;
    HostMemory &operator=(HostMemory &&o) noexcept;
    HostMemory(const HostMemory &) = delete;
    HostMemory &operator=(const HostMemory &) = delete;

    uint8_t *data() const { return data_; }
    size_t size() const { return size_; }

private:
    void release();
    uint8_t *data_ = nullptr;
    size_t size_ = 0, mapped_ = 0;
};

} // namespace corvid
