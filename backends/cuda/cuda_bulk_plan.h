// The stage layout of a launch of the bulk matvec (matvec_bulk_kernel, cuda_matvec_stream.cu),
// made on the host: plain C++, so that the GPU-less tests check the rules the kernel's
// barriers rely on.
#pragma once

#include "tensor/dtype.h"

#include <cstddef>
#include <cstdint>

namespace corvid::cuda {

constexpr int kBulkComputeWarps = 8; // beside one producer warp
constexpr int kBulkMaxStages = 8;
// Two blocks of the longest 7B rows (activations ~14 KiB each) still fit an SM's 228 KiB.
constexpr size_t kBulkRingBytes = 96 << 10;
constexpr int kBulkPlanes = 4; // cuda_planar.cuh's kMaxPlanes

// jps jobs a stage, `stages` stages; a job's R rows one after the other, each row's planes one
// after the other (plane p at plane_at[p], plane_bytes[p] long; each a multiple of 16 bytes).
// The ring (stages * jps jobs) is a multiple of kBulkComputeWarps jobs, so that a stage's
// slot goes to the same warp in every round (the kernel's barrier waits need it), and at most
// kBulkRingBytes.
struct BulkPlan {
    int jps, stages;
    int row_bytes;
    int plane_at[kBulkPlanes];
    int plane_bytes[kBulkPlanes];
};

// The plan for planar weights of type t with rows of K elements, R rows a job (a GLU: 2),
// over the matrices W[s] of N[s] rows (s < n_parts); stages == 0 where the kernel cannot take
// them: t not planar, a plane's run of a row not a multiple of 16 bytes or not 16-byte
// aligned (Q6_K's scales at K = 11008), or rows too long for a ring of 8 jobs.
BulkPlan bulk_plan(DType t, int64_t K, int R, const uint8_t *const *W, const int *N, int n_parts);

} // namespace corvid::cuda
