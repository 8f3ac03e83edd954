// Runs a graph on the CPU reference backend for tests: plans memory, binds, computes.
#pragma once

#include "backend.h"
#include "graph/planner.h"
#include "graph/scheduler.h"

#include <cstring>
#include <vector>

namespace corvid::test {

struct GraphRunner {
    std::vector<uint8_t> arena;
    std::unique_ptr<Backend> cpu = make_cpu_backend(2);

    // Plans and binds; after this, fill the inputs, then call run().
    void bind(const Graph &g) {
        MemoryPlan plan(g);
        arena.assign(plan.arena_bytes() + MemoryPlan::kAlignment, 0);
        uint8_t *base = arena.data();
        base += (MemoryPlan::kAlignment - reinterpret_cast<uintptr_t>(base) % MemoryPlan::kAlignment) % MemoryPlan::kAlignment;
        plan.bind(g, base);
    }
    void run(Graph &g) { Scheduler({cpu.get()}).run(g); }
};

// A leaf that owns its data (weights, caches) for tests.
struct OwnedTensor {
    Tensor t;
    std::vector<uint8_t> bytes;
    OwnedTensor(DType type, std::initializer_list<int64_t> ne, const char *name = "w") {
        t.type = type;
        int d = 0;
        for (int64_t n : ne) t.ne[d++] = n;
        t.name = name;
        t.flags = kFlagWeight;
        set_contiguous_strides(t);
        bytes.assign(t.n_bytes(), 0);
        t.data = bytes.data();
    }
    float *f32() { return reinterpret_cast<float *>(bytes.data()); }
};

template <typename T> void fill(Tensor *t, const std::vector<T> &v) { std::memcpy(t->data, v.data(), v.size() * sizeof(T)); }
inline const float *f32(const Tensor *t) { return static_cast<const float *>(t->data); }

} // namespace corvid::test
