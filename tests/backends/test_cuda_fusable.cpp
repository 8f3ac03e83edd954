// The CUDA backend's fusion predicates (cuda/cuda_fusable.h) on a llama layer's q, k and v
// as the memory planner lays them out: host code, so the GPU-less CI runs it too. The
// planner plans nodes one after another and frees an input after its last reader, so a later
// result may take the bytes of an earlier node's input; one launch of both nodes would then
// race (seen on an H100: rope(k) rows written over q's product before every q block read it).
#ifdef CORVID_HAS_CUDA

#include "cuda/cuda_fusable.h"
#include "graph/graph.h"
#include "graph/graph_runner.h"
#include "graph/planner.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

using namespace corvid;
using test::OwnedTensor;

namespace {

struct Layer {
    Graph g;
    OwnedTensor wq{DType::F32, {64, 64}, "wq"}, wk{DType::F32, {64, 32}, "wk"}, wv{DType::F32, {64, 32}, "wv"};
    OwnedTensor kc{DType::F16, {32, 16}, "k_cache"}, vc{DType::F16, {32, 16}, "v_cache"};
    Tensor *mq, *rq, *rk, *ks, *vs;
    std::vector<uint8_t> arena;
    explicit Layer(int64_t T) {
        Tensor *x = g.input(DType::F32, {64, T}, "x");
        Tensor *pos = g.input(DType::I32, {T}, "pos"), *ids = g.input(DType::I32, {T}, "ids");
        Tensor *h = g.rms_norm(x, 1e-5f);
        mq = g.mul_mat(&wq.t, h);
        Tensor *mk = g.mul_mat(&wk.t, h), *mv = g.mul_mat(&wv.t, h);
        RopeParams rp;
        rp.n_dims = 8;
        // In the order of self_attention (src/arch/layers.cpp): both reshapes, then both ropes.
        Tensor *q3 = g.reshape(mq, {8, 8, T}), *k3 = g.reshape(mk, {8, 4, T});
        rq = g.rope(q3, pos, rp);
        rk = g.rope(k3, pos, rp);
        ks = g.set_rows(&kc.t, g.reshape(rk, {32, T}), ids);
        vs = g.set_rows(&vc.t, mv, ids);
        g.mark_output(rq); // (the attention would read it)
        MemoryPlan plan(g);
        arena.assign(plan.arena_bytes() + MemoryPlan::kAlignment, 0);
        auto *base = reinterpret_cast<uint8_t *>((reinterpret_cast<uintptr_t>(arena.data()) + MemoryPlan::kAlignment - 1) &
                                                 ~uintptr_t(MemoryPlan::kAlignment - 1));
        plan.bind(g, base);
    }
};

} // namespace

TEST_CASE("cuda fusions: a rope pair is one launch only where its results leave its inputs alone") {
    for (int64_t T : {1, 7}) {
        CAPTURE(T);
        Layer l(T);
        if (bytes_overlap(*l.rk, *l.mq)) {
            // rope(k)'s result on q's product: the pair must not be one launch; with the K and V
            // stores it may, since the launch then writes k's rotated values to the cache only.
            CHECK_FALSE(cuda::rope_pair_fusable(*l.rq, *l.rk));
            CHECK(cuda::rope_store_fusable(*l.rq, *l.rk, *l.ks, *l.vs));
        } else {
            CHECK(cuda::rope_pair_fusable(*l.rq, *l.rk));
        }
        // The backend's walk over the nodes finds the four-node launch from rope(q) either way
        // (the eighth session's fix asked for a fusable pair first, so a layer whose rope(k)
        // sat on q's product ran rope, rope and the store pair as three launches).
        const std::vector<Tensor *> &nodes = l.g.nodes();
        const size_t at_rq = static_cast<size_t>(std::find(nodes.begin(), nodes.end(), l.rq) - nodes.begin());
        const size_t at_vs = static_cast<size_t>(std::find(nodes.begin(), nodes.end(), l.vs) - nodes.begin());
        REQUIRE(at_vs < nodes.size());
        CHECK(cuda::rope_store_span(nodes, at_rq) == at_vs + 1 - at_rq);
        // Forced: k's result read by the caller too (so written) over q's product.
        l.rk->data = l.rq->src[0]->data;
        l.rk->flags |= kFlagOutput;
        CHECK_FALSE(cuda::rope_pair_fusable(*l.rq, *l.rk));
        CHECK_FALSE(cuda::rope_store_fusable(*l.rq, *l.rk, *l.ks, *l.vs));
    }
}

#endif // CORVID_HAS_CUDA
