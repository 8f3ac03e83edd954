// CORVID_CPU_PROFILE=1: the wall time of every op the CPU backend runs, summed by op (and,
// for products, by weight type and shape), printed to stderr when the process exits, with
// the weights' read rate of each product. For finding where a decode step's time goes
// beside the products (`corvid bench -p 0 -n 32 -t 2` under it); off, it costs one branch
// an op. The process's first graph is left out: its products fault the mapped weights in.
#pragma once

#include "graph/tensor.h"

#include <chrono>
#include <cstddef>

namespace corvid::cpu {

bool op_profile_on();

// Called at the end of each graph; the ops of the first one are dropped.
void op_profile_graph_done();

// Records that nodes[0..n) (one op, or products over one input run together) took `ns`.
void op_profile_add(Tensor *const *nodes, size_t n, int64_t ns);

// Times one op (or group) when the profile is on.
class OpTimer {
public:
    OpTimer() : on_(op_profile_on()) {
        if (on_) t0_ = std::chrono::steady_clock::now();
    }
    void done(Tensor *const *nodes, size_t n) {
        if (!on_) return;
        const auto t1 = std::chrono::steady_clock::now();
        op_profile_add(nodes, n, std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0_).count());
    }

private:
    bool on_;
    std::chrono::steady_clock::time_point t0_;
};

} // namespace corvid::cpu
