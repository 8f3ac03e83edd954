// The model's weights that live in a device backend's memory: copies of the host
// tensors (the mapped file), uploaded once at load. The scheduler swaps them in for
// the host tensors when a node runs on that device (Residency::copy_in).
#pragma once

#include "arch/weights.h"
#include "backend.h"

#include <functional>
#include <string>
#include <unordered_map>

namespace corvid {

// Which layers run on the device: layers [first_layer, n_layer), if output the output head,
// and if input layer -1, the token embedding lookup. The lookup goes to the device only with
// every layer there, and only if its table fits beside them (DeviceWeights decides): on the
// host, a 512-token prompt's lookup and the upload of its rows took ~2 ms of a 7B step's
// 17.7 ms on an H200; llama.cpp keeps the table on the host to save device memory.
struct LayerPlacement {
    Backend *device = nullptr; // null: everything on the host
    int32_t n_layer = 0;
    int32_t first_layer = 0;
    bool output = false;
    bool input = false;

    // From llama.cpp's n_gpu_layers convention: the last n layers go to the device;
    // n > n_layer (or n < 0: all) also puts the output head there.
    static LayerPlacement from_gpu_layers(Backend *device, int32_t n_layer, int32_t n_gpu_layers);

    // The device for nodes of `layer`, or null for the host.
    Backend *device_for(int32_t layer) const {
        if (!device) return nullptr;
        if (layer < 0) return input ? device : nullptr;
        if (layer >= n_layer) return output ? device : nullptr;
        return layer >= first_layer && layer >= 0 ? device : nullptr;
    }
    int32_t n_device_layers() const { return device ? n_layer - first_layer : 0; }
};

class DeviceWeights {
public:
    // Uploads the weights `placement` needs on its device: blk.N.* of device layers,
    // the output head's tensors when the head is there, the token embedding when the
    // lookup or a tied output head is there, and other global tensors (rope_freqs) when
    // any layer is. When everything but the embedding table wanted only for the lookup fits,
    // the lookup stays on the host (placement.input is cleared). `progress` gets the fraction
    // uploaded. Throws Error(out_of_memory) naming what did not fit and how to offload less.
    DeviceWeights(const WeightStore &weights, LayerPlacement &placement, const std::function<void(float)> &progress);
    ~DeviceWeights();
    DeviceWeights(const DeviceWeights &) = delete;
    DeviceWeights &operator=(const DeviceWeights &) = delete;

    // The device copy of host weight `w`, or null.
    Tensor *find(const Tensor &w) const;
    uint64_t n_bytes() const { return bytes_; }

private:
    Backend *device_;
    void *memory_ = nullptr;
    uint64_t bytes_ = 0;
    std::unordered_map<const Tensor *, Tensor> copies_;
};

} // namespace corvid
