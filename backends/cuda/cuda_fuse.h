// Runs of decode-step nodes computed by one kernel (see cuda_fuse.cu for the patterns).
#pragma once

#include "cuda/cuda_common.cuh"

#include <vector>

namespace corvid::cuda {

// When nodes[i] starts a fusable run, enqueues it and returns how many nodes it covered
// (views among them; each covered output is reported to ctx.written). Returns 0 when
// nothing matched: nodes[i] then runs alone.
size_t run_fused(Context &ctx, const std::vector<Tensor *> &nodes, size_t i);

} // namespace corvid::cuda
