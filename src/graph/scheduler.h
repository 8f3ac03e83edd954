// Runs a graph over several backends: each node goes to the first backend (in the
// caller's preference order) that supports it, and consecutive nodes of one backend
// run as one split. Backends on host memory share tensors directly; a backend with
// its own memory will get copies inserted at split boundaries (with the first such
// backend). The last backend should be the CPU, which supports every node.
#pragma once

#include "backend.h"
#include "graph/graph.h"

#include <vector>

namespace corvid {

struct Split {
    Backend *backend = nullptr;
    std::vector<Tensor *> nodes;
};

class Scheduler {
public:
    explicit Scheduler(std::vector<Backend *> backends);

    // Assigns the graph's nodes; throws Error(unsupported) naming the first node that
    // no backend can run.
    std::vector<Split> plan(const Graph &g) const;

    // plan() and compute every split in order.
    void run(const Graph &g) const;

private:
    std::vector<Backend *> backends_;
};

} // namespace corvid
