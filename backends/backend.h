// The interface every compute backend implements (CPU now; CUDA and Vulkan later).
//
// A backend says which nodes it can run; the scheduler (src/graph/scheduler.h) gives
// each node to the first backend in the user's preference order that supports it and
// runs consecutive nodes of one backend together. A backend never sees the runtime:
// only tensors, whose data pointers the caller has bound before compute().
#pragma once

#include "graph/tensor.h"

#include <memory>
#include <vector>

namespace corvid {

class Backend {
public:
    virtual ~Backend() = default;

    virtual const char *name() const = 0;

    // Whether this backend can compute `node` (its op, its source types and layouts).
    virtual bool supports(const Tensor &node) const = 0;

    // True when the backend computes directly on host memory, so tensors can pass to
    // and from other host backends without copies.
    virtual bool uses_host_memory() const = 0;

    // Computes the nodes in order. All their tensors have data bound. Throws Error on
    // a failure the backend cannot recover from.
    virtual void compute(const std::vector<Tensor *> &nodes) = 0;

    virtual void set_n_threads(int n) { (void)n; }
};

// The CPU backend: scalar reference kernels for every op, threaded with OpenMP.
// n_threads <= 0 means the number of physical cores.
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

// Physical cores of this machine (best effort; at least 1).
int physical_core_count();

} // namespace corvid
