// A loaded model: the validated GGUF file, and — depending on the load mode — its
// weights and architecture (for contexts) and its vocabulary (for tokenizing).
#pragma once

#include "arch/arch.h"
#include "backend.h"
#include "gguf/gguf_file.h"
#include "runtime/device_weights.h"

#include <functional>
#include <memory>
#include <mutex>
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

// Which part of the model runs on a device (a GPU backend).
struct OffloadParams {
    // Layers on the device, counted from the last (llama.cpp's n_gpu_layers); more than
    // the model has, or < 0, means all of them and the output head. 0: host only.
    int32_t n_gpu_layers = -1;
    int32_t main_gpu = 0; // which device
    // Makes the device backend (tests inject one). Empty: a CUDA device when the library
    // has CUDA and the machine has that device; otherwise everything stays on the host.
    std::function<std::unique_ptr<Backend>()> make_device;
};

class Model {
public:
    // Throws Error naming the file and the key/tensor at fault; Error(io) when the
    // progress callback cancels.
    static std::unique_ptr<Model> load(const std::string &path, LoadMode mode, bool use_mmap,
                                       const ProgressFn &progress = nullptr, const OffloadParams &offload = {});
    ~Model();

    const gguf::GgufFile &file() const { return *file_; }
    LoadMode mode() const { return mode_; }
    // Null unless loaded in full mode.
    const Architecture *arch() const { return arch_.get(); }
    // Null when the file has no vocabulary or the mode is metadata.
    const Vocab *vocab() const { return vocab_.get(); }

    // Where layers run (placement().device is null when everything is on the host).
    const LayerPlacement &placement() const { return placement_; }
    // The device copy of weight `w` in `backend`'s memory, or null.
    Tensor *device_copy(const Tensor &w, const Backend *backend) const {
        return device_weights_ && backend == placement_.device ? device_weights_->find(w) : nullptr;
    }
    // Contexts of one model share its device: they hold this while they use it.
    std::mutex &device_mutex() const { return device_mutex_; }

private:
    Model() = default;
    std::unique_ptr<gguf::GgufFile> file_;
    std::unique_ptr<WeightStore> weights_;
    std::unique_ptr<Architecture> arch_;
    std::unique_ptr<Vocab> vocab_;
    LoadMode mode_ = LoadMode::full;
    // Declared after the weights they copy and before nothing that uses them: destroyed
    // first (device copies), then the device.
    std::unique_ptr<Backend> device_;
    LayerPlacement placement_;
    std::unique_ptr<DeviceWeights> device_weights_;
    mutable std::mutex device_mutex_;
};

} // namespace corvid
