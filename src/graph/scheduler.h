// Runs a graph over several backends, each possibly with its own memory.
//
// Each node goes to the backend its layer prefers (Scheduler's `prefer`), else to the
// first backend in preference order that supports it. Where a node reads a tensor that
// lives in another memory domain (host memory, or a device backend's memory), the
// scheduler either substitutes a copy kept there (weights uploaded at load, through
// Residency) or inserts a transfer: a tensor in the node's domain, filled from the
// source before the node runs (transfers of graph inputs first of all, so that they do not
// split a device's work into several steps). Consecutive nodes of one backend run as one step.
// Memory for everything planned (inputs, results, transfer copies) comes from one
// arena per domain (MemoryPlan).
#pragma once

#include "backend.h"
#include "graph/graph.h"
#include "graph/planner.h"

#include <functional>
#include <memory>
#include <vector>

namespace corvid {

// Where the leaves that the graph does not plan (weights, KV-cache buffers) live.
class Residency {
public:
    virtual ~Residency() = default;
    // The backend whose memory holds `leaf`, or null for host memory.
    virtual Backend *home(const Tensor &leaf) const = 0;
    // A copy of weight `leaf` kept in `backend`'s memory, or null.
    virtual Tensor *copy_in(const Tensor &leaf, Backend *backend) const = 0;
};

// One step of a schedule: a run of nodes for one backend, or one transfer.
struct Step {
    Backend *backend = nullptr;   // compute step: the backend; null for a transfer
    std::vector<Tensor *> nodes;  // compute step: nodes in order (views excluded)
    Tensor *transfer = nullptr;   // transfer step: the copy (its src[0] is the source)
};

class Schedule {
public:
    const std::vector<Step> &steps() const { return steps_; }
    // Execution order including transfer tensors (what the memory plan walks).
    const std::vector<Tensor *> &order() const { return order_; }
    // The memory domains: index 0 is host memory; 1.. are device backends.
    const std::vector<Backend *> &domains() const { return domains_; }
    // The domain index of a graph tensor after scheduling (inputs: 0).
    int domain_of(const Tensor *t) const;
    // The backend owning t's memory, or null for host memory.
    Backend *memory_of(const Tensor *t) const { return domains_[static_cast<size_t>(domain_of(t))]; }
    // The memory plan over all domains.
    MemoryPlan plan(const Graph &g) const;
    // Runs the steps in order. Memory must be bound and inputs filled.
    void run() const;

private:
    friend class Scheduler;
    std::vector<Step> steps_;
    std::vector<Tensor *> order_;
    std::vector<Backend *> domains_{nullptr};
    std::unordered_map<const Tensor *, int> domain_;
};

class Scheduler {
public:
    // `backends` in preference order; the last must use host memory and should support
    // every node (the CPU). `prefer(layer)` (may be empty, may return null) names the
    // backend for a layer's nodes; `residency` (may be null: everything on the host)
    // says where weights and caches live.
    explicit Scheduler(std::vector<Backend *> backends, std::function<Backend *(int32_t layer)> prefer = {},
                       const Residency *residency = nullptr);

    // Assigns every node and inserts transfers. Rewrites the sources of nodes that read
    // another domain's tensor to the copy, so the graph then belongs to this schedule.
    // Throws Error(unsupported) naming a node no backend can run.
    Schedule schedule(Graph &g) const;

    // Host-only convenience (all backends on host memory, memory already bound): the
    // compute steps of schedule(g), run in order.
    std::vector<Step> plan(Graph &g) const { return schedule(g).steps(); }
    void run(Graph &g) const { schedule(g).run(); }

private:
    std::vector<Backend *> backends_;
    std::function<Backend *(int32_t)> prefer_;
    const Residency *residency_;
};

} // namespace corvid
