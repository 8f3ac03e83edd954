#include "runtime/device_weights.h"

#include "util/error.h"

#include <cstdlib>
#include <vector>

namespace corvid {
namespace {

constexpr size_t kAlign = 256;

// The layer index of "blk.N.*", or -1 for tensors outside the blocks.
int32_t block_of(const std::string &name) {
    if (name.compare(0, 4, "blk.") != 0) return -1;
    char *end = nullptr;
    const long n = std::strtol(name.c_str() + 4, &end, 10);
    return end && *end == '.' && n >= 0 && n < (1 << 30) ? static_cast<int32_t>(n) : -1;
}

bool starts_with(const std::string &s, const char *prefix) { return s.rfind(prefix, 0) == 0; }

} // namespace

LayerPlacement LayerPlacement::from_gpu_layers(Backend *device, int32_t n_layer, int32_t n_gpu_layers) {
    LayerPlacement p;
    p.n_layer = n_layer;
    p.first_layer = n_layer;
    if (!device || n_gpu_layers == 0) return p;
    p.device = device;
    const bool all = n_gpu_layers < 0 || n_gpu_layers > n_layer;
    p.first_layer = all ? 0 : n_layer - n_gpu_layers;
    p.output = all;
    p.input = all;
    return p;
}

DeviceWeights::DeviceWeights(const WeightStore &weights, LayerPlacement &placement,
                             const std::function<void(float)> &progress)
    : device_(placement.device) {
    if (!device_) return;
    const bool tied = weights.peek("output.weight") == nullptr;
    auto choose = [&](bool input) {
        std::vector<const Tensor *> chosen;
        for (const Tensor &w : weights.all()) {
            const int32_t blk = block_of(w.name);
            bool want;
            if (blk >= 0) want = placement.device_for(blk) != nullptr;
            else if (w.name == "token_embd.weight") want = input || (placement.output && tied);
            else if (starts_with(w.name, "output")) want = placement.output;
            else want = placement.n_device_layers() > 0 || placement.output;
            if (want) chosen.push_back(&w);
        }
        return chosen;
    };
    auto bytes_of = [](const std::vector<const Tensor *> &ws) {
        uint64_t n = 0;
        for (const Tensor *w : ws) n += (w->n_bytes() + kAlign - 1) / kAlign * kAlign;
        return n;
    };
    std::vector<const Tensor *> chosen = choose(placement.input);
    bytes_ = bytes_of(chosen);
    if (bytes_ == 0) return;
    try {
        memory_ = device_->alloc(bytes_);
    } catch (const Error &e) {
        // Without the table the lookup alone wants, it may fit: the lookup then stays on the host.
        const std::vector<const Tensor *> without = placement.input ? choose(false) : chosen;
        if (e.status() == Status::out_of_memory && without.size() < chosen.size()) {
            try {
                memory_ = device_->alloc(bytes_of(without));
                chosen = without;
                bytes_ = bytes_of(without);
                placement.input = false;
            } catch (const Error &) {
            }
        }
        if (!memory_)
            fail(Status::out_of_memory, "%s: the weights of %d layer(s)%s need %.1f MiB: %s (offload fewer layers with "
                 "--gpu-layers / n_gpu_layers)", device_->name(), placement.n_device_layers(),
                 placement.output ? " and the output head" : "", bytes_of(without) / 1048576.0, e.what());
    }
    try {
        uint64_t offset = 0, done = 0;
        for (const Tensor *w : chosen) {
            Tensor copy = *w;
            copy.data = static_cast<uint8_t *>(memory_) + offset;
            copy.layout = device_->upload_weight(copy.data, *w, w->data);
            copies_.emplace(w, copy);
            offset += (w->n_bytes() + kAlign - 1) / kAlign * kAlign;
            done += w->n_bytes();
            if (progress) progress(static_cast<float>(done) / static_cast<float>(bytes_));
        }
        device_->synchronize();
    } catch (...) {
        device_->release(memory_); // the destructor does not run for a throwing constructor
        throw;
    }
}

DeviceWeights::~DeviceWeights() {
    if (device_ && memory_) device_->release(memory_);
}

Tensor *DeviceWeights::find(const Tensor &w) const {
    auto it = copies_.find(&w);
    return it == copies_.end() ? nullptr : const_cast<Tensor *>(&it->second);
}

} // namespace corvid
