// Plans the memory of a graph's inputs and intermediates ahead of compute: each
// tensor gets an offset in one arena, and memory is reused as soon as a tensor's
// last reader has run. Weights and KV-cache buffers (leaves with data) are not
// planned; views and set_rows results alias the tensor they view.
#pragma once

#include "graph/graph.h"

#include <unordered_map>

namespace corvid {

class MemoryPlan {
public:
    static constexpr size_t kAlignment = 64;

    explicit MemoryPlan(const Graph &g);

    // Bytes the arena needs.
    size_t arena_bytes() const { return arena_bytes_; }

    // Points every planned tensor (and every view) of the graph into `arena`, which
    // must be at least arena_bytes() long and kAlignment-aligned.
    void bind(const Graph &g, uint8_t *arena) const;

private:
    std::unordered_map<const Tensor *, size_t> offsets_;
    size_t arena_bytes_ = 0;
};

} // namespace corvid
