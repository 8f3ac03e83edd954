// A loaded model: the validated GGUF file, and — depending on the load mode — its
// weights and architecture (for contexts) and its vocabulary (for tokenizing).
#pragma once

#include "arch/arch.h"
#include "gguf/gguf_file.h"

#include <functional>
#include <memory>
#include <string>

namespace corvid {

class Vocab;

enum class LoadMode {
    full,     // weights, architecture and vocabulary: what a context needs
    vocab,    // the vocabulary only (tokenize / detokenize)
    metadata, // nothing beyond the validated file (inspection)
};

// Load progress in [0, 1]; returning false cancels the load.
using ProgressFn = std::function<bool(float)>;

class Model {
public:
    // Throws Error naming the file and the key/tensor at fault; Error(io) when the
    // progress callback cancels.
    static std::unique_ptr<Model> load(const std::string &path, LoadMode mode, bool use_mmap,
                                       const ProgressFn &progress = nullptr);
    ~Model();

    const gguf::GgufFile &file() const { return *file_; }
    LoadMode mode() const { return mode_; }
    // Null unless loaded in full mode.
    const Architecture *arch() const { return arch_.get(); }
    // Null when the file has no vocabulary or the mode is metadata.
    const Vocab *vocab() const { return vocab_.get(); }

private:
    Model() = default;
    std::unique_ptr<gguf::GgufFile> file_;
    std::unique_ptr<WeightStore> weights_;
    std::unique_ptr<Architecture> arch_;
    std::unique_ptr<Vocab> vocab_;
    LoadMode mode_ = LoadMode::full;
};

} // namespace corvid
