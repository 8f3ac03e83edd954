// Whether the CUDA backend may run a few graph nodes as one launch: the host-side tests of
// its fusions (plain C++, so the GPU-less tests check them too; the launches are in
// cuda_ops.h). Each also checks the bytes the memory planner gave the nodes: it plans them
// one after another, so a later node's result may sit on an input an earlier node of the
// group still reads (bytes_overlap, graph/tensor.h).
#pragma once

#include "graph/tensor.h"

#include <cstddef>
#include <vector>

namespace corvid::cuda {

// Read by exactly one node and never by the caller (Tensor::n_uses, kFlagOutput): a fused
// launch need not write it.
inline bool private_to_one(const Tensor &t) { return t.n_uses == 1 && !(t.flags & kFlagOutput); }
// t's one reader is `via`: t itself read by one node, or a view of t that one node reads.
inline bool private_through(const Tensor &t, const Tensor &via) {
    return private_to_one(t) && (&via == &t || private_to_one(via));
}

// Two set_rows of a plain type with the same row ids into different caches (K and V of a
// layer), b not reading a: one launch.
bool set_rows_pair_fusable(const Tensor &a, const Tensor &b);
// rms_norm, then mul by one broadcast weight row (one kernel).
bool rms_norm_mul_fusable(const Tensor &norm, const Tensor &mul);
// Two ropes with the same positions and parameters (q and k of a layer), b not reading a:
// one launch.
bool rope_pair_fusable(const Tensor &a, const Tensor &b);
// A rope pair whose k result (b) the K store ks takes whole, then the V store vs (the two
// stores fusable as a pair, neither reading what the launch writes): all four in one launch.
bool rope_store_fusable(const Tensor &a, const Tensor &b, const Tensor &ks, const Tensor &vs);
// How many nodes from nodes[i] one rope + K/V store launch takes (rope of q, rope of k, the K
// store, the V store and the views between them; the V store is the last), or 0 where it may
// not; *ks (when given) is the K store's index. A pair that may not be one launch alone may
// still be one with its stores (rope_store_fusable), so this does not ask rope_pair_fusable.
size_t rope_store_span(const std::vector<Tensor *> &nodes, size_t i, size_t *ks = nullptr);

} // namespace corvid::cuda
