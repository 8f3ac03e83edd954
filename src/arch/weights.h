// The model's weight tensors, as leaves that point into the mapped GGUF file (or into
// buffers read from it when the file is not mapped). Architectures look weights up by
// their GGUF names; a missing tensor or a wrong shape is an error that names it.
#pragma once

#include "gguf/gguf_file.h"
#include "graph/tensor.h"
#include "util/host_memory.h"

#include <deque>
#include <functional>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <vector>

namespace corvid {

class WeightStore {
public:
    // `progress` (may be empty) is called with the fraction of weight bytes made ready.
    explicit WeightStore(const gguf::GgufFile &file, const std::function<void(float)> &progress = nullptr);

    // The tensor `name` with exactly the dimensions `ne` (trailing 1s may be omitted).
    // Throws Error(format) naming the file and tensor when it is missing or differs.
    Tensor *get(const std::string &name, std::initializer_list<int64_t> ne);
    // As get(), but nullptr when the tensor is absent (a wrong shape still throws).
    Tensor *find(const std::string &name, std::initializer_list<int64_t> ne);

    // The tensor as stored, without checks; nullptr when absent.
    Tensor *peek(const std::string &name) const;

    // Total bytes of all weights.
    uint64_t n_bytes() const { return n_bytes_; }

    // Every weight, in file order.
    const std::deque<Tensor> &all() const { return tensors_; }

    // Rearranges weights for the host's kernels: each weight w for which layout_of(w) is not
    // 0 is rewritten by pack(w, src, dst) (dst may be src) and then carries that layout in
    // Tensor::layout. Weights of a mapped file move into host memory of their own (huge
    // pages where allowed) and their mapped pages are released; weights read into memory are
    // rearranged in place. Call it before any kernel reads the weights, once. `progress`
    // (may be empty) gets the fraction of those weights' bytes done.
    void arrange(const std::function<int32_t(const Tensor &)> &layout_of,
                 const std::function<void(const Tensor &, const void *, void *)> &pack,
                 const std::function<void(float)> &progress = nullptr);

private:
    bool owns(const Tensor &t) const; // t's data is in owned_ (writable), not in the mapping
    const gguf::GgufFile &file_;
    std::deque<Tensor> tensors_;
    std::unordered_map<std::string, Tensor *> by_name_;
    HostMemory owned_;    // tensor data when the file is not mapped (each tensor 64-byte aligned)
    HostMemory arranged_; // arrange()'s copies of mapped weights (likewise)
    uint64_t n_bytes_ = 0;
};

// Reads hyperparameters from GGUF metadata, with errors naming the key.
class MetaReader {
public:
    MetaReader(const gguf::GgufFile &file, std::string arch) : file_(file), arch_(std::move(arch)) {}

    // "<arch>.<suffix>" as an integer / float; required ones throw Error(format) when absent.
    int64_t get_int(const std::string &suffix) const;
    int64_t get_int(const std::string &suffix, int64_t fallback) const;
    float get_float(const std::string &suffix) const;
    float get_float(const std::string &suffix, float fallback) const;
    std::string get_string(const std::string &suffix, const std::string &fallback) const;
    // Integer key that may be a scalar or a per-layer array (head counts, ff lengths).
    std::vector<int64_t> get_per_layer(const std::string &suffix, size_t n_layer) const;
    bool has(const std::string &suffix) const { return file_.find(arch_ + "." + suffix) != nullptr; }

private:
    const gguf::Value *value(const std::string &suffix, bool required) const;
    const gguf::GgufFile &file_;
    std::string arch_;
};

} // namespace corvid
