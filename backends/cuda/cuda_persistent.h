// The persistent decode kernel's host side (cuda_persistent.cu): the launch sites of the
// steps it can run record them here instead of launching a kernel. The argument types are
// the device bodies' (cuda_*_body.cuh, cuda_matvec_stream.cuh).
#pragma once

#include "cuda/cuda_common.cuh"

namespace corvid::cuda {

namespace q8kernels {
struct Parts;
}
struct Q8Out;
struct RopeTensor;
struct RopeSpace;
struct RopeArgs;
struct RopeTable;
struct RopeStore;
struct AttnArgs;
struct MergeOut;

// Turns the persistent kernel on for this backend where it can run (every block of its grid
// resident at once), with its barrier's device memory. Throws on CUDA errors.
void persist_setup(Context &ctx);
// Frees what persist_setup made (never throws).
void persist_release(Context &ctx);

// Each records one step when ctx.recording and the step is one the kernel runs (true: the
// caller launches nothing); false: the caller launches its own kernel, as without the
// persistent kernel (flush_persistent() in launch() keeps the order).
// The stream matvec over planar weights of type t (cuda_matvec_stream.cuh: stream_body);
// p's blocks already assigned (assign_blocks, one row a job).
bool persist_matvec(Context &ctx, DType t, bool glu, const q8kernels::Parts &p, int K, const int8_t *q,
                    const float *d, const int *sq, int act);
// One row of rms_norm times g, written as floats (out2) and as Q8_0 blocks (q8), the
// norm kernel's V4 form (cuda_norm_body.cuh: rms_norm_row<true, true, 32>).
bool persist_rms_norm(Context &ctx, const uint8_t *x, const RowMap &xm, float *out, float *out2, const float *g,
                      int64_t n, float eps, const Q8Out &q8);
// rope of one or two tensors with the K and V stores of kind (-1: none), `items` threads
// (cuda_rope_body.cuh: rope_item).
bool persist_rope(Context &ctx, const RopeTensor &t0, const RopeTensor &t1, const RopeSpace &s0, const RopeSpace &s1,
                  int n_t, int kind, int items, const int32_t *pos, const float *ff, const RopeArgs &a,
                  const RopeTable &tab, const RopeStore &st, bool k_flat, bool pairs);
// The decode attention's split blocks over T tokens with the merge by each head's last block
// (counters; without them false: cuda_attention_body.cuh: attn_split_body).
bool persist_attention(Context &ctx, bool f16, const AttnArgs &a, float *acc, float2 *ml, const MergeOut &mo,
                       int *counters, int T);

} // namespace corvid::cuda
