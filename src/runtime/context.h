// A context: a KV cache and the machinery to evaluate batches of tokens on a model.
//
// decode() splits a batch into micro-batches of at most n_batch tokens; for each it
// finds cache cells, builds the architecture's graph, plans its memory, fills the
// inputs and runs it on the backends. Logits of the tokens that asked for them are
// kept until the next decode().
#pragma once

#include "backend.h"
#include "graph/scheduler.h"
#include "kv/kv_cache.h"
#include "runtime/model.h"

#include <memory>
#include <unordered_map>
#include <vector>

namespace corvid {

struct ContextParams {
    uint32_t n_ctx = 0;    // cache cells; 0 = min(training context, 4096)
    uint32_t n_batch = 512; // most tokens per graph evaluation
    int n_threads = 0;     // 0 = physical cores
    DType kv_type = DType::F16;
};

// One batch: tokens with positions and sequence ids, and which ones want logits.
struct Batch {
    std::vector<int32_t> tokens;
    std::vector<int32_t> pos;    // empty: each sequence continues after its last position
    std::vector<int32_t> seq;    // empty: all in sequence 0
    std::vector<uint8_t> logits; // empty: only the last token
};

class Context final : private Residency {
public:
    Context(const Model &model, const ContextParams &params);
    ~Context();

    // Evaluates the batch. Throws Error(invalid_argument) for a bad token id, position or
    // sequence, or when the batch does not fit the free cache cells — checked before
    // anything changes, so a failed decode leaves the context as it was.
    void decode(const Batch &batch);

    // Logits [n_vocab] of token i of the last batch (i < 0: the last token that has
    // them). Throws Error(invalid_argument) when token i did not ask for logits.
    const float *logits(int32_t i) const;

    int32_t n_vocab() const { return static_cast<int32_t>(arch_.hparams().n_vocab); }
    uint32_t n_ctx() const { return kv_->size(); }
    KvCache &kv() { return *kv_; }
    const ContextParams &params() const { return params_; }

private:
    // Residency: where the KV cache and the model's weights live.
    Backend *home(const Tensor &leaf) const override;
    Tensor *copy_in(const Tensor &leaf, Backend *backend) const override;
    // The arena of memory domain `b` (null: host), grown to at least `bytes`.
    uint8_t *arena(Backend *b, size_t bytes);

    void decode_micro_batch(const Batch &b, size_t begin, size_t end, const std::vector<int32_t> &pos,
                            const std::vector<int32_t> &seq);

    const Model &model_;
    const Architecture &arch_;
    ContextParams params_;
    std::unique_ptr<KvCache> kv_;
    std::unique_ptr<Backend> cpu_;
    std::vector<Backend *> backends_; // the model's device (if any), then the CPU
    std::unordered_map<const Tensor *, Backend *> kv_home_;
    std::vector<uint8_t> arena_;
    struct DeviceArena {
        Backend *backend;
        void *data;
        size_t bytes;
    };
    std::vector<DeviceArena> device_arenas_;
    std::vector<float> staging_; // device outputs on their way to logits_
    std::vector<float> logits_;        // n_outputs x n_vocab
    std::vector<int32_t> logit_row_;   // per token of the last batch: row in logits_, or -1
};

} // namespace corvid
