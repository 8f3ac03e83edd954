// Writes GGUF version 3 files that llama.cpp and the gguf Python package read.
//
// Metadata and tensor records are collected first; write() then streams the header
// and asks a callback for each tensor's bytes in turn, so a quantizer never needs
// more than one tensor in memory. The file appears under its name only when complete.
#pragma once

#include "gguf/gguf_file.h"

#include <functional>
#include <string>
#include <vector>

namespace corvid::gguf {

class GgufWriter {
public:
    GgufWriter() = default;

    // Adds a key, or replaces its value keeping its position. Setting general.alignment
    // (a uint32 power of two) also sets the data alignment. Throws Error(invalid_argument).
    void set(const std::string &key, Value value);
    void remove(const std::string &key);
    const Value *find(const std::string &key) const;
    const std::vector<KeyValue> &metadata() const { return kvs_; }

    // Declares a tensor; `ne` lists its dimensions, contiguous one first. Throws
    // Error(invalid_argument) for a duplicate or over-long name (llama.cpp allows 63
    // bytes), more than 4 dimensions, or rows that are not whole blocks of `type`.
    size_t add_tensor(const std::string &name, DType type, const std::vector<int64_t> &ne);
    const std::vector<TensorInfo> &tensors() const { return tensors_; }
    uint32_t alignment() const { return alignment_; }

    // Fills `dst` with exactly info.n_bytes bytes of tensor `index`.
    using FillFn = std::function<void(size_t index, const TensorInfo &info, uint8_t *dst)>;

    // Writes the file: to a temporary name beside `path`, renamed over `path` on success,
    // removed on any failure (including an exception from `fill`). Throws Error(io).
    void write(const std::string &path, const FillFn &fill) const;

private:
    std::vector<KeyValue> kvs_;
    std::vector<TensorInfo> tensors_;
    uint32_t alignment_ = kDefaultAlignment;
    uint64_t data_size_ = 0; // bytes of the data section, tensors padded to the alignment
};

} // namespace corvid::gguf
