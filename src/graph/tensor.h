// Tensors and the ops that produce them: the nodes of a compute graph.
//
// Layout follows ggml: ne[0] is the contiguous dimension, nb[] are byte strides, and a
// row of a block-quantized type is a sequence of whole blocks. A tensor is either a
// leaf (op == Op::none: a weight, an input filled before compute, or a KV-cache
// buffer) or the result of one op over up to kMaxSrc source tensors.
#pragma once

#include "tensor/dtype.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace corvid {

constexpr int kMaxDims = 4;
constexpr int kMaxSrc = 4;

enum class Op : uint8_t {
    none,       // leaf
    get_rows,   // rows src0[:, ids] (any type) -> F32; src1 = I32 ids
    mul_mat,    // src0 [K, N, ...] (weight, any type) x src1 [K, M, ...] F32 -> F32 [N, M, ...]
    add,        // src0 + src1 (src1 broadcast over rows)
    mul,        // src0 * src1 (src1 broadcast over rows)
    scale,      // src0 * f[0]
    rms_norm,   // x / sqrt(mean(x^2) + f[0]) per row
    norm,       // (x - mean) / sqrt(var + f[0]) per row
    rope,       // rotary embedding; src1 = I32 positions (one per ne[2]); src2 = optional freq factors
    soft_max,   // softmax(src0 * f[0] + src1 mask) per row; src1 may be null
    attention,  // softmax(Q K^T * scale + mask) V with grouped heads; see graph.h
    silu,
    gelu,       // tanh approximation
    swiglu,     // silu(src0) * src1
    geglu,      // gelu(src0) * src1
    cpy,        // src0 (any strides) copied into a new contiguous F32 tensor
    view,       // a view of src0 (reshape, strided view, permute): no computation
    set_rows,   // writes rows of src1 (converted to src0's type) into src0 at I32 row ids src2
    transfer,   // src0's bytes, copied into another backend's memory (done by the scheduler, never a backend)
    count_,
};

const char *op_name(Op op);

enum TensorFlags : uint32_t {
    kFlagInput = 1u << 0,  // filled by the caller before compute
    kFlagOutput = 1u << 1, // read by the caller after compute: its memory is never reused
    kFlagWeight = 1u << 2, // owned by the model
};

struct Tensor {
    Op op = Op::none;
    DType type = DType::F32;
    int64_t ne[kMaxDims] = {1, 1, 1, 1};
    size_t nb[kMaxDims] = {0, 0, 0, 0};
    Tensor *src[kMaxSrc] = {nullptr, nullptr, nullptr, nullptr};
    int32_t ip[8] = {}; // integer op parameters
    float fp[8] = {};   // float op parameters
    void *data = nullptr;
    Tensor *view_src = nullptr; // the tensor whose memory a view (or cpy/set_rows result) aliases
    size_t view_offset = 0;
    uint32_t flags = 0;
    int32_t layer = -1; // the model layer that built this node (-1: before the first; n_layer: the output head)
    // How many nodes (views and transfers included) name this node as a source, counted by
    // the Graph as it builds them (0 for leaves). A backend may fuse a node into its only consumer (and never
    // write it) when this is 1 and the tensor is not an output.
    int32_t n_uses = 0;
    // How the bytes of a weight are arranged in a backend's memory: 0 is ggml's (every
    // tensor on the host, and every device copy the backend keeps as stored); any other
    // value is a backend's own repacked arrangement (Backend::upload_weight), which only
    // that backend's kernels read.
    int32_t layout = 0;
    std::string name;

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    // Bytes spanned by the tensor (for a contiguous tensor: its size).
    size_t n_bytes() const;
    // Bytes of one row of ne[0] elements.
    size_t row_bytes() const;
    bool is_contiguous() const;
    // Address of row (i1, i2, i3).
    uint8_t *row(int64_t i1, int64_t i2 = 0, int64_t i3 = 0) const {
        return static_cast<uint8_t *>(data) + i1 * nb[1] + i2 * nb[2] + i3 * nb[3];
    }
};

// Sets nb[] for a contiguous tensor of the given type and ne[].
void set_contiguous_strides(Tensor &t);

// Whether the bytes spanned by a and by b (n_bytes() from data) share any. The memory
// planner gives a node's result the bytes of inputs whose last reader came before it, so a
// backend that runs several nodes in one launch checks that a later node's result does not
// overlap what an earlier node of the launch still reads.
bool bytes_overlap(const Tensor &a, const Tensor &b);

// "f32 [64, 512, 1, 1] 'name'" for error messages.
std::string describe(const Tensor &t);

} // namespace corvid
