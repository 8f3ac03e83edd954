#include "util/file_source.h"

#include "util/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace corvid {

FileSource::FileSource(const std::string &path, bool use_mmap) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(Status::io, "%s: cannot open: %s", path.c_str(), std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
        const int e = errno;
        ::close(fd_);
        fail(Status::io, "%s: cannot stat: %s", path.c_str(), std::strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd_);
        fail(Status::io, "%s: is a directory", path.c_str());
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (use_mmap && size_ > 0 && S_ISREG(st.st_mode)) {
        void *p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
        if (p != MAP_FAILED) map_ = static_cast<uint8_t *>(p);
    }
}

FileSource::~FileSource() {
    if (map_) ::munmap(map_, size_);
    if (fd_ >= 0) ::close(fd_);
}

void FileSource::read_at(uint64_t offset, void *dst, uint64_t n, const char *what) const {
    if (offset > size_ || n > size_ - offset)
        fail(Status::format, "%s: truncated file: %s needs bytes %llu..%llu but the file has %llu bytes",
             path_.c_str(), what, static_cast<unsigned long long>(offset),
             static_cast<unsigned long long>(offset + n), static_cast<unsigned long long>(size_));
    if (n == 0) return;
    if (map_) {
        std::memcpy(dst, map_ + offset, n);
        return;
    }
    uint8_t *out = static_cast<uint8_t *>(dst);
    while (n > 0) {
        const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
        if (got < 0) {
            if (errno == EINTR) continue;
            fail(Status::io, "%s: read error at byte %llu: %s", path_.c_str(),
                 static_cast<unsigned long long>(offset), std::strerror(errno));
        }
        if (got == 0)
            fail(Status::format, "%s: file shrank while reading %s", path_.c_str(), what);
        out += got;
        offset += static_cast<uint64_t>(got);
        n -= static_cast<uint64_t>(got);
    }
}

} // namespace corvid
