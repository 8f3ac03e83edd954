// A compute graph, built once per batch by an architecture and run by a backend.
//
// Builder methods check shapes and types and throw Error(internal) on a mismatch
// (a bug in the architecture code, never a user error). Nodes run in the order they
// were created; a node may read tensors owned elsewhere (model weights, the KV cache).
// Memory for intermediates is assigned afterwards by the planner (planner.h).
#pragma once

#include "graph/tensor.h"

#include <deque>
#include <initializer_list>
#include <vector>

namespace corvid {

struct RopeParams {
    int32_t n_dims = 0;     // leading elements of each head that are rotated
    bool neox = false;      // rotate (i, i + n_dims/2) pairs instead of (2i, 2i+1)
    int32_t n_ctx_orig = 0; // YaRN: the context the model was trained with
    float freq_base = 10000.0f;
    float freq_scale = 1.0f; // 1 / linear scaling factor
    float ext_factor = 0.0f; // YaRN extrapolation mix (0 = off)
    float attn_factor = 1.0f;
    float beta_fast = 32.0f;
    float beta_slow = 1.0f;
};

class Graph {
public:
    Graph() = default;
    Graph(const Graph &) = delete;
    Graph &operator=(const Graph &) = delete;

    // A leaf the caller fills before compute (token ids, positions, masks).
    Tensor *input(DType type, std::initializer_list<int64_t> ne, const char *name);

    Tensor *get_rows(Tensor *table, Tensor *ids);
    Tensor *mul_mat(Tensor *w, Tensor *x);
    Tensor *add(Tensor *a, Tensor *b);
    Tensor *mul(Tensor *a, Tensor *b);
    Tensor *scale(Tensor *a, float s);
    Tensor *rms_norm(Tensor *x, float eps);
    Tensor *norm(Tensor *x, float eps);
    // x: [head_dim, n_heads, n_tokens]; pos: I32 [n_tokens]; freq_factors (optional,
    // F32 [n_dims/2]) divide each pair's frequency (Llama 3.1's rope_freqs).
    Tensor *rope(Tensor *x, Tensor *pos, const RopeParams &p, Tensor *freq_factors = nullptr);
    // softmax(x * scale + mask) along rows; mask (F32 [ne0, >= ne1]) may be null.
    Tensor *soft_max(Tensor *x, Tensor *mask, float scale);
    // Attention with grouped heads. q: F32 [head_dim, n_head, n_tokens];
    // k, v: [head_dim, n_kv, n_head_kv] (F16 or F32, may be strided views of the cache);
    // mask: F32 [n_kv, n_tokens] with 0 / -inf. n_head must be a multiple of n_head_kv.
    // Result: F32 [head_dim, n_head, n_tokens] (so a reshape gives [head_dim*n_head, n_tokens]).
    Tensor *attention(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, float scale);
    Tensor *silu(Tensor *x);
    Tensor *gelu(Tensor *x);
    Tensor *swiglu(Tensor *gate, Tensor *up);
    Tensor *geglu(Tensor *gate, Tensor *up);

    Tensor *reshape(Tensor *x, std::initializer_list<int64_t> ne);
    Tensor *view(Tensor *x, std::initializer_list<int64_t> ne, std::initializer_list<size_t> nb, size_t offset);
    // Result dimension i is x's dimension axes[i].
    Tensor *permute(Tensor *x, int a0, int a1, int a2, int a3);
    // Copies x into a new contiguous F32 tensor (materialises a permuted view).
    Tensor *cont(Tensor *x);
    // Writes the rows of src (converted to dst's type) into dst at rows ids (I32 [n]);
    // the result aliases dst, so reading it orders reads after the write.
    Tensor *set_rows(Tensor *dst, Tensor *src, Tensor *ids);

    void mark_output(Tensor *t) { t->flags |= kFlagOutput; }

    // Nodes created from now on belong to model layer `layer` (the scheduler places
    // layers on backends): -1 before the first block, n_layer for the output head.
    void set_layer(int32_t layer) { layer_ = layer; }

    // A copy of `src` in another backend's memory, for the scheduler: same type, shape
    // and strides; owned by the graph but not one of its nodes().
    Tensor *transfer(Tensor *src);

    const std::vector<Tensor *> &nodes() const { return nodes_; }
    const std::vector<Tensor *> &inputs() const { return inputs_; }

private:
    Tensor *new_tensor(Op op, DType type, const int64_t ne[kMaxDims], std::initializer_list<Tensor *> srcs);
    Tensor *new_view(Tensor *x, Op op);

    std::deque<Tensor> store_; // stable addresses
    std::vector<Tensor *> nodes_;
    std::vector<Tensor *> inputs_;
    int32_t layer_ = -1;
};

} // namespace corvid
