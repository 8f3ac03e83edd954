#include "gguf/gguf_writer.h"

#include "util/error.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace corvid::gguf {
namespace {

constexpr size_t kMaxTensorName = 63; // ggml's GGML_MAX_NAME (64) minus the terminator

uint64_t pad_to(uint64_t n, uint64_t align) { return n + (align - n % align) % align; }

// Buffered output to a FILE with error checking at each call.
class Out {
public:
    Out(FILE *f, const std::string &path) : f_(f), path_(path) {}
    void bytes(const void *p, size_t n) {
        if (n && std::fwrite(p, 1, n, f_) != n)
            fail(Status::io, "%s: write failed: %s", path_.c_str(), std::strerror(errno));
        pos_ += n;
    }
    template <typename T> void put(T v) { bytes(&v, sizeof v); }
    void str(const std::string &s) {
        put<uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void zeros(uint64_t n) {
        static const uint8_t z[64] = {};
        while (n > 0) {
            const size_t k = n > sizeof z ? sizeof z : static_cast<size_t>(n);
            bytes(z, k);
            n -= k;
        }
    }
    uint64_t pos() const { return pos_; }

private:
    FILE *f_;
    const std::string &path_;
    uint64_t pos_ = 0;
};

void write_value(Out &o, const Value &v) {
    const ValueType t = v.type();
    switch (t) {
    case ValueType::STRING: o.str(*v.as_string()); return;
    case ValueType::ARRAY:
        o.put<uint32_t>(static_cast<uint32_t>(v.elem_type()));
        o.put<uint64_t>(v.array_size());
        if (v.elem_type() == ValueType::STRING)
            for (const auto &s : v.strings()) o.str(s);
        else
            o.bytes(v.raw().data(), v.raw().size());
        return;
    case ValueType::FLOAT32: {
        const float f = static_cast<float>(*v.as_float());
        o.put(f);
        return;
    }
    case ValueType::FLOAT64: o.put(*v.as_float()); return;
    default: {
        // Integers and bools: the low bytes of the stored bit pattern (little-endian host).
        const uint64_t b = v.bits();
        o.bytes(&b, value_type_size(t));
    }
    }
}

} // namespace

void GgufWriter::set(const std::string &key, Value value) {
    if (key.empty()) fail(Status::invalid_argument, "metadata keys must not be empty");
    if (value.type() == ValueType::ARRAY && value.elem_type() == ValueType::ARRAY)
        fail(Status::invalid_argument, "key '%s': arrays of arrays cannot be written", key.c_str());
    if (key == kAlignmentKey) {
        if (value.type() != ValueType::UINT32)
            fail(Status::invalid_argument, "%s must be a uint32", kAlignmentKey);
        const uint64_t a = value.bits();
        if (a == 0 || (a & (a - 1)) != 0)
            fail(Status::invalid_argument, "%s = %" PRIu64 " is not a power of two", kAlignmentKey, a);
        if (!tensors_.empty())
            fail(Status::invalid_argument, "%s must be set before tensors are added", kAlignmentKey);
        alignment_ = static_cast<uint32_t>(a);
    }
    for (auto &kv : kvs_)
        if (kv.key == key) {
            kv.value = std::move(value);
            return;
        }
    kvs_.push_back({key, std::move(value)});
}

void GgufWriter::remove(const std::string &key) {
    for (auto it = kvs_.begin(); it != kvs_.end(); ++it)
        if (it->key == key) {
            if (key == kAlignmentKey) {
                if (!tensors_.empty())
                    fail(Status::invalid_argument, "%s must be changed before tensors are added", kAlignmentKey);
                alignment_ = kDefaultAlignment;
            }
            kvs_.erase(it);
            return;
        }
}

const Value *GgufWriter::find(const std::string &key) const {
    for (const auto &kv : kvs_)
        if (kv.key == key) return &kv.value;
    return nullptr;
}

size_t GgufWriter::add_tensor(const std::string &name, DType type, const std::vector<int64_t> &ne) {
    if (name.empty() || name.size() > kMaxTensorName)
        fail(Status::invalid_argument, "tensor name '%s' must be 1..%zu bytes long", name.c_str(), kMaxTensorName);
    for (const auto &t : tensors_)
        if (t.name == name) fail(Status::invalid_argument, "duplicate tensor name '%s'", name.c_str());
    if (ne.empty() || ne.size() > kMaxDims)
        fail(Status::invalid_argument, "tensor '%s': %zu dimensions given, 1..%u allowed", name.c_str(), ne.size(),
             kMaxDims);
    TensorInfo ti;
    ti.name = name;
    ti.type = type;
    ti.n_dims = static_cast<uint32_t>(ne.size());
    uint64_t rows = 1;
    for (size_t d = 0; d < ne.size(); ++d) {
        if (ne[d] < 0) fail(Status::invalid_argument, "tensor '%s': dimension %zu is negative", name.c_str(), d);
        ti.ne[d] = ne[d];
        if (d > 0) {
            if (ne[d] != 0 && rows > static_cast<uint64_t>(INT64_MAX) / static_cast<uint64_t>(ne[d]))
                fail(Status::invalid_argument, "tensor '%s': too many elements", name.c_str());
            rows *= static_cast<uint64_t>(ne[d]);
        }
    }
    const auto row_bytes = dtype_row_bytes(type, static_cast<uint64_t>(ti.ne[0]));
    if (!row_bytes)
        fail(Status::invalid_argument, "tensor '%s': rows of %" PRId64 " elements are not whole %s blocks of %u",
             name.c_str(), ti.ne[0], dtype_name(type), traits(type).block_size);
    if (*row_bytes != 0 && rows > (UINT64_MAX / 2) / *row_bytes)
        fail(Status::invalid_argument, "tensor '%s': size in bytes overflows", name.c_str());
    ti.n_bytes = *row_bytes * rows;
    ti.offset = data_size_;
    data_size_ = pad_to(data_size_ + ti.n_bytes, alignment_);
    tensors_.push_back(std::move(ti));
    return tensors_.size() - 1;
}

void GgufWriter::write(const std::string &path, const FillFn &fill) const {
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    FILE *f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail(Status::io, "%s: cannot create: %s", tmp.c_str(), std::strerror(errno));
    try {
        Out o(f, tmp);
        o.bytes("GGUF", 4);
        o.put<uint32_t>(3);
        o.put<uint64_t>(tensors_.size());
        o.put<uint64_t>(kvs_.size());
        for (const auto &kv : kvs_) {
            o.str(kv.key);
            o.put<uint32_t>(static_cast<uint32_t>(kv.value.type()));
            write_value(o, kv.value);
        }
        for (const auto &t : tensors_) {
            o.str(t.name);
            o.put<uint32_t>(t.n_dims);
            for (uint32_t d = 0; d < t.n_dims; ++d) o.put<uint64_t>(static_cast<uint64_t>(t.ne[d]));
            o.put<uint32_t>(static_cast<uint32_t>(t.type));
            o.put<uint64_t>(t.offset);
        }
        // The data section, when there is one, starts aligned (tensor-less files such as
        // vocabularies end right after the header, as llama.cpp's tools write them).
        if (!tensors_.empty()) o.zeros(pad_to(o.pos(), alignment_) - o.pos());
        std::vector<uint8_t> buf;
        for (size_t i = 0; i < tensors_.size(); ++i) {
            const TensorInfo &t = tensors_[i];
            buf.assign(t.n_bytes, 0);
            fill(i, t, buf.data());
            o.bytes(buf.data(), buf.size());
            o.zeros(pad_to(t.n_bytes, alignment_) - t.n_bytes);
        }
        if (std::fflush(f) != 0) fail(Status::io, "%s: write failed: %s", tmp.c_str(), std::strerror(errno));
    } catch (...) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    if (std::fclose(f) != 0) {
        std::remove(tmp.c_str());
        fail(Status::io, "%s: write failed: %s", tmp.c_str(), std::strerror(errno));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        std::remove(tmp.c_str());
        fail(Status::io, "%s: cannot rename the finished file into place: %s", path.c_str(), std::strerror(e));
    }
}

} // namespace corvid::gguf
