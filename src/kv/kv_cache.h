// The KV cache: per layer, K and V rows for up to n_ctx cells.
//
// Each cell records the position it holds and the set of sequences it belongs to, so
// one cache serves many sequences (a shared prompt prefix is one cell in several
// sequences). Removing a range of positions from a sequence (speculative-decoding
// rollback, chat edits) only clears cell membership; the rows are overwritten later.
#pragma once

#include "backend.h"
#include "graph/tensor.h"
#include "util/host_memory.h"

#include <functional>

#include <cstdint>
#include <vector>

namespace corvid {

constexpr int kMaxSequences = 64; // sequence ids are 0..63 (one bit each per cell)

struct KvLayerShape {
    int64_t n_embd_k = 0; // K row length: head_dim_k * n_head_kv
    int64_t n_embd_v = 0;
};

class KvCache {
public:
    // `memory(layer)` (may be empty: host memory) gives the backend whose memory holds a
    // layer's K and V; the cache allocates there and zero-fills.
    KvCache(const std::vector<KvLayerShape> &layers, uint32_t n_ctx, DType type,
            const std::function<Backend *(size_t layer)> &memory = nullptr);
    ~KvCache();
    KvCache(const KvCache &) = delete;
    KvCache &operator=(const KvCache &) = delete;

    // The backend whose memory holds a layer's K and V (null: host memory of this cache).
    Backend *memory(size_t layer) const { return layer < memory_.size() ? memory_[layer] : nullptr; }

    uint32_t size() const { return static_cast<uint32_t>(cells_.size()); }
    DType type() const { return type_; }
    Tensor *k(size_t layer) { return &k_[layer]; }
    Tensor *v(size_t layer) { return &v_[layer]; }

    // Finds a free cell for each token (pos[i], seq[i]) and marks it used; returns the
    // cell indices. Throws Error(invalid_argument) naming the context size when the
    // cache has too few free cells; then nothing is changed.
    std::vector<int32_t> allocate(const std::vector<int32_t> &pos, const std::vector<int32_t> &seq);

    // Cells [0, n_active()) cover every used cell: attention reads only those.
    uint32_t n_active() const;

    // The attention mask for a batch: F32 [n_kv, n_tokens], 0 where token i may see
    // cell j (same sequence, cell position <= the token's, and within `window`
    // positions when window > 0), -inf elsewhere.
    void fill_mask(float *mask, uint32_t n_kv, const std::vector<int32_t> &pos, const std::vector<int32_t> &seq,
                   uint32_t window) const;

    // Removes positions [p0, p1) of sequence seq (seq < 0: all sequences; p1 < 0: to the end).
    void seq_remove(int32_t seq, int32_t p0, int32_t p1);
    // Highest position held for seq, or -1 when it has none.
    int32_t seq_max_pos(int32_t seq) const;
    void clear();

    uint32_t n_used() const;

private:
    void release_device_storage();

    struct Cell {
        int32_t pos = -1;
        uint64_t seqs = 0;
    };

    DType type_;
    std::vector<Cell> cells_;
    std::vector<Tensor> k_, v_;
    std::vector<HostMemory> storage_;           // host layers (zero-filled, huge pages where allowed)
    std::vector<Backend *> memory_;             // per layer; null = storage_
    std::vector<std::pair<Backend *, void *>> device_storage_;
};

} // namespace corvid
