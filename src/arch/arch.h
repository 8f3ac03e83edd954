// Model architectures: hyperparameters from GGUF keys, weights by name, and a graph
// builder that turns a batch into logits. One file per architecture (llama.cpp,
// qwen2.cpp, gemma3.cpp); the shared pieces of a decoder block live in layers.h.
// An architecture never touches a backend: it only builds graphs.
#pragma once

#include "arch/weights.h"
#include "graph/graph.h"
#include "kv/kv_cache.h"

#include <memory>
#include <string>
#include <vector>

namespace corvid {

struct LayerHParams {
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t n_ff = 0;
    bool sliding = false;   // attends within hparams.swa_window positions only
    RopeParams rope;        // per layer: sliding and global layers may differ
};

struct HParams {
    std::string arch;
    int64_t n_vocab = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_ctx_train = 0;
    int64_t head_dim_k = 0;
    int64_t head_dim_v = 0;
    float norm_eps = 1e-5f;
    uint32_t swa_window = 0; // 0: no sliding-window layers
    std::vector<LayerHParams> layers;
};

// The graph inputs the runtime creates and fills for each batch.
struct ForwardInputs {
    Tensor *tokens = nullptr;   // I32 [n_tokens]
    Tensor *pos = nullptr;      // I32 [n_tokens]
    Tensor *kv_idx = nullptr;   // I32 [n_tokens]: the cache cell each token is written to
    Tensor *mask = nullptr;     // F32 [n_kv, n_tokens]
    Tensor *mask_swa = nullptr; // F32 [n_kv, n_tokens] for sliding-window layers (null if none)
    Tensor *out_ids = nullptr;  // I32 [n_outputs]: the tokens whose logits are wanted
    int64_t n_tokens = 0;
    int64_t n_kv = 0;           // cache cells attention reads
};

class Architecture {
public:
    virtual ~Architecture() = default;
    const HParams &hparams() const { return hp_; }
    // The shapes of the per-layer K and V cache rows.
    std::vector<KvLayerShape> kv_shapes() const;
    // Builds the forward pass; returns logits F32 [n_vocab, n_outputs].
    virtual Tensor *build(Graph &g, const ForwardInputs &in, KvCache &kv) const = 0;

protected:
    HParams hp_;
};

// Reads the architecture named by general.architecture, its hyperparameters and its
// weights. Throws Error(unsupported) listing the supported architectures for an
// unknown name, Error(format) naming the key or tensor that is missing or wrong.
std::unique_ptr<Architecture> load_architecture(const gguf::GgufFile &file, WeightStore &weights);

// The names load_architecture accepts, comma-separated.
const char *supported_architectures();

// One constructor per architecture file.
std::unique_ptr<Architecture> make_llama(const gguf::GgufFile &file, WeightStore &weights);
std::unique_ptr<Architecture> make_qwen2(const gguf::GgufFile &file, WeightStore &weights);
std::unique_ptr<Architecture> make_gemma3(const gguf::GgufFile &file, WeightStore &weights);

} // namespace corvid
