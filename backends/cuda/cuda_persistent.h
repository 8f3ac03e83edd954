// The persistent decode kernel's host side (cuda_persistent.cu): the launch sites of the
// steps it can run record them here instead of launching a kernel.
#pragma once

#include "cuda/cuda_common.cuh"

namespace corvid::cuda {

namespace q8kernels {
struct Parts;
}
struct Q8Out;

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

} // namespace corvid::cuda
