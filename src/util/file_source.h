// Read-only access to a whole file: memory-mapped when possible, positioned reads otherwise.
//
// Readers parse through read_at(), which bounds-checks every access against the real
// file size, so a corrupt header can never make them read or allocate past the file.
#pragma once

#include <cstdint>
#include <string>

namespace corvid {

class FileSource {
public:
    // Opens `path`; with use_mmap the whole file is mapped (falling back to reads when
    // mapping fails, e.g. on a pipe or an unusual file system). Throws Error(io).
    FileSource(const std::string &path, bool use_mmap);
    ~FileSource();
    FileSource(const FileSource &) = delete;
    FileSource &operator=(const FileSource &) = delete;

    uint64_t size() const { return size_; }
    const std::string &path() const { return path_; }

    // The mapped bytes, or nullptr when the file is read with read() instead.
    const uint8_t *mapped() const { return map_; }

    // Copies [offset, offset+n) into dst; throws Error(format) naming `what` if the
    // range runs past the end of the file, Error(io) on a read failure.
    void read_at(uint64_t offset, void *dst, uint64_t n, const char *what) const;

private:
    std::string path_;
    int fd_ = -1;
    uint64_t size_ = 0;
    uint8_t *map_ = nullptr;
};

} // namespace corvid
