// A validated, read-only view of a GGUF file (versions 2 and 3, little-endian).
//
// open() checks the whole container before returning: header, every key/value,
// every tensor record, alignment, and that each tensor's data lies inside the
// file without overlapping another. After that, nothing here can fail except I/O.
#pragma once

#include "gguf/gguf_value.h"
#include "tensor/dtype.h"
#include "util/file_source.h"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace corvid::gguf {

constexpr uint32_t kMaxDims = 4;            // ggml's GGML_MAX_DIMS
constexpr uint32_t kDefaultAlignment = 32;  // when general.alignment is absent
constexpr const char *kAlignmentKey = "general.alignment";

struct TensorInfo {
    std::string name;
    DType type = DType::F32;
    uint32_t n_dims = 0;
    int64_t ne[kMaxDims] = {1, 1, 1, 1}; // ne[0] is the contiguous (row) dimension; unused dims are 1
    uint64_t offset = 0;                 // relative to the start of the data section
    uint64_t n_bytes = 0;

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

struct KeyValue {
    std::string key;
    Value value;
};

class GgufFile {
public:
    // Opens and validates `path`. Throws Error: io (cannot open/read), format (malformed,
    // with the byte offset and the key or tensor concerned), unsupported (GGUF v1,
    // big-endian files).
    static std::unique_ptr<GgufFile> open(const std::string &path, bool use_mmap = true);

    const std::string &path() const { return source_->path(); }
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; } // absolute file offset of the data section
    uint64_t file_size() const { return source_->size(); }
    bool is_mapped() const { return source_->mapped() != nullptr; }

    const std::vector<KeyValue> &metadata() const { return kvs_; }
    const Value *find(std::string_view key) const;

    const std::vector<TensorInfo> &tensors() const { return tensors_; }
    // Index of the tensor called `name`, or -1.
    int64_t tensor_index(std::string_view name) const;

    // The tensor's bytes in the mapping, or nullptr when the file is not mapped.
    const uint8_t *tensor_data(const TensorInfo &t) const;
    // Copies the tensor's n_bytes into dst (works mapped or not).
    void read_tensor_data(const TensorInfo &t, void *dst) const;

private:
    explicit GgufFile(std::unique_ptr<FileSource> src) : source_(std::move(src)) {}
    void parse();

    std::unique_ptr<FileSource> source_;
    uint32_t version_ = 0;
    uint32_t alignment_ = kDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<KeyValue> kvs_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

} // namespace corvid::gguf
