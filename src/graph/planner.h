// Plans the memory of a graph's inputs and intermediates ahead of compute: each
// tensor gets an offset in one arena per memory domain (host, or a device backend's
// memory), and memory is reused as soon as a tensor's last reader has run. Weights and
// KV-cache buffers (leaves with data) are not planned; views and set_rows results
// alias the tensor they view.
#pragma once

#include "graph/graph.h"

#include <functional>
#include <unordered_map>
#include <vector>

namespace corvid {

class MemoryPlan {
public:
    static constexpr size_t kAlignment = 64;

    // One domain: the graph's nodes in order, everything in arena 0.
    explicit MemoryPlan(const Graph &g);

    // Several domains: `order` is the execution order (the graph's nodes plus the
    // scheduler's transfer tensors); domain(t) in [0, n_domains) says which arena a
    // planned tensor (an input, a node result, a transfer copy) lives in.
    MemoryPlan(const Graph &g, const std::vector<Tensor *> &order, const std::function<int(const Tensor *)> &domain,
               int n_domains);

    // Bytes arena `domain` needs.
    size_t arena_bytes(int domain = 0) const { return domain < static_cast<int>(bytes_.size()) ? bytes_[domain] : 0; }

    // Points every planned tensor of the graph, and every view, into `arena` (one
    // domain), which must be at least arena_bytes() long and kAlignment-aligned.
    void bind(const Graph &g, uint8_t *arena) const;
    // As above with one arena base per domain (views follow the tensor they alias).
    void bind(const std::vector<Tensor *> &order, const std::vector<uint8_t *> &arenas) const;

private:
    void plan(const Graph &g, const std::vector<Tensor *> &order, const std::function<int(const Tensor *)> &domain,
              int n_domains);

    struct Slot {
        int domain;
        size_t offset;
    };
    std::unordered_map<const Tensor *, Slot> slots_;
    std::vector<size_t> bytes_;
};

} // namespace corvid
