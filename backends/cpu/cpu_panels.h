// The CPU backend's own arrangement of decode weights ("panels", Tensor::layout ==
// kLayoutCpuPanels), made once at load for the weights the CPU computes with.
//
// Why: a decode step streams every weight once through a matrix-vector product. Read row
// by row (ggml's layout), each 32-element block needs its nibbles permuted into place and
// its scale spread over the lanes that use it; on Zen 4, which runs 512-bit operations at
// half rate, that work and not the memory bounds the AVX-512 Q4_0 row kernel (25 GB/s a core
// in cache against ~25 GB/s a core of memory). With 16 rows interleaved, one 64-byte load
// holds 4 bytes of each of the 16 rows' blocks, and one vpdpbusd against a broadcast
// activation dword advances all 16 rows at once, with no permutation at all
// (scripts/cpu_interleaved_rate.cpp: 52-54 against 25 GB/s a core in cache).
//
// Layout of a 2-D weight of N rows and B blocks a row (same size as stored; row-major
// otherwise): rows [16 p, 16 p + 16) for p < N / 16 form panel p, which takes exactly the
// bytes those 16 rows take as stored; the last N % 16 rows stay as stored, at their places.
// In a panel, block b of the 16 rows is 16 * block_bytes bytes at 16 * block_bytes * b: the
// block's bytes cut into units of 2 or 4 (cpu_panels.cpp's table, per type), each unit as a
// group of the 16 rows' copies one after another (16 * unit bytes), the groups in the order
// the decode kernel reads them. A unit may be stored XORed with a mask (Q8_0's levels as
// unsigned, for vpdpbusd). The groups per type:
//   Q4_0, IQ4_NL: d (unit 2) | qs (unit 4): 32 bytes of the 16 scales, then 4 x 64: qs dword j
//   Q8_0: d (unit 2) | qs ^ 0x80 (unit 4): 32 bytes of scales, then 8 x 64
//   Q4_K: d, dmin (unit 2) | scales (unit 4) | qs (unit 4): 16 d, 16 dmin, the 12 packed
//         scale bytes as 3 x 64, then 32 x 64 (qs dword k: elements 64 (k / 8) + 4 (k % 8)..
//         in the low nibbles, the same + 32 in the high ones)
//   Q5_K: as Q4_K with qh (unit 4: 8 x 64) between the scales and qs
//   Q2_K: d, dmin (unit 2) | scales (unit 4: 4 x 64) | qs (unit 4: 16 x 64)
//   Q3_K: d (unit 2) | scales (unit 4: 3 x 64) | hmask (8 x 64) | qs (16 x 64)
//   Q6_K: scales (unit 4: 4 x 64), d (32 bytes), then per half h and dword l the dwords of
//         ql, ql + 32 and qh (the order the kernel reads them)
// Values, scales and rounding stay ggml's; only the places of the bytes change.
#pragma once

#include "cpu/cpu_matmul_fast.h"
#include "graph/tensor.h"

#include <cstddef>
#include <cstdint>

namespace corvid::cpu {

// Tensor::layout of panel weights (the CUDA backend's planar layout is 1).
constexpr int32_t kLayoutCpuPanels = 2;
using fast::kPanelRows;

// Whether type t has a panel form at all (a segment table).
bool panel_type(DType t);

// The layout the CPU wants weight w in: kLayoutCpuPanels when w is a 2-D matrix of a panel
// type with at least one panel and the active instruction set decodes panels of that type
// (Kernels::dot_panel), else 0. CORVID_CPU_PANELS=0 turns panels off (A/B timing).
int32_t preferred_weight_layout(const Tensor &w);

// Rewrites the N rows of K elements of type t at src (as stored) into panels at dst (the
// same number of bytes). src may equal dst (in place; one panel of scratch). Types without
// a panel form are copied unchanged.
void pack_panels(DType t, int64_t K, int64_t N, const void *src, void *dst);

// Row n (of matrix b2, b3) of weight w as stored: a pointer into w's data where the row is
// stored as such, else the row unpacked into `scratch` (w.row_bytes() bytes) and `scratch`.
const uint8_t *weight_row(const Tensor &w, int64_t n, int64_t b2, int64_t b3, uint8_t *scratch);

// The 16 rows of the panel that starts at row n0 (a multiple of 16, below N / 16 * 16) of
// 2-D weight w, unpacked as stored into out (16 rows of w.row_bytes(), one after another).
void unpack_panel(const Tensor &w, int64_t n0, uint8_t *out);

} // namespace corvid::cpu
