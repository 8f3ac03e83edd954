// The interface every compute backend implements (CPU now; CUDA and Vulkan later).
//
// A backend says which nodes it can run; the scheduler (src/graph/scheduler.h) gives
// each node to the first backend in the user's preference order that supports it and
// runs consecutive nodes of one backend together. A backend never sees the runtime:
// only tensors, whose data pointers the caller has bound before compute().
#pragma once

#include "graph/tensor.h"

#include <cstddef>
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

    // ---- memory ------------------------------------------------------------------------
    // Every tensor a backend computes on lives in memory it allocated (weights, the KV
    // cache, the intermediates' arena); a pointer from alloc() means something only to
    // this backend. The runtime moves data in and out only through these functions, so
    // it never needs to know which kind of memory a backend has. Host backends get the
    // defaults below (aligned host memory and memcpy). All transfers and compute() calls
    // of one backend are ordered as they were issued.

    // At least `bytes` (> 0) of the backend's memory, 256-byte aligned. Throws
    // Error(out_of_memory) naming the backend, the size asked for and what is free.
    virtual void *alloc(size_t bytes);
    // Returns memory from alloc(); null is ignored. Waits for pending work that uses it.
    virtual void release(void *p);
    // Host -> backend. `src` may be reused as soon as this returns (device backends stage
    // through pinned buffers); the copy is complete before any later compute or download.
    virtual void upload(void *dst, const void *src, size_t bytes);
    // Host -> backend for a model weight `w` (its host bytes at `src`, w.n_bytes() of them):
    // the backend may store them rearranged for its kernels, in the same number of bytes.
    // Returns the layout the bytes now have (Tensor::layout; 0: as stored, the default),
    // which the caller records in the device copy of w. Same ordering and errors as upload().
    virtual int32_t upload_weight(void *dst, const Tensor &w, const void *src) {
        upload(dst, src, w.n_bytes());
        return 0;
    }
    // Backend -> host. Returns when `dst` holds the data (after all earlier work).
    virtual void download(void *dst, const void *src, size_t bytes);
    // Within the backend's memory; ordered with compute() like the transfers.
    virtual void copy(void *dst, const void *src, size_t bytes);
    // Sets bytes to `value`; ordered like copy().
    virtual void fill(void *dst, int value, size_t bytes);
    // Returns when all issued work is complete.
    virtual void synchronize() {}
    // Read bandwidth of the backend's memory in bytes/s, measured now with a streaming
    // read of `bytes` (the roofline `corvid bench` reports); 0 when the backend cannot
    // measure it (host backends: the bench tool has its own probe).
    virtual double measure_read_bandwidth(size_t bytes) {
        (void)bytes;
        return 0.0;
    }
    // Free and total bytes of the backend's memory (0, 0 when unknown, e.g. host memory).
    virtual void memory_info(size_t *free_bytes, size_t *total_bytes) const {
        *free_bytes = 0;
        *total_bytes = 0;
    }

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
