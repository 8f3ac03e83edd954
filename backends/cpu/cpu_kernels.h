// The CPU backend's reference kernels: one function per op, plain scalar C++ that is
// obviously right and slow on purpose. Fast paths (SIMD, other backends) are tested
// against these. Each kernel computes dst from dst->src[] and may run in parallel
// through cpu_parallel.h (never throwing inside a region).
//
// Numerics follow the reference engine (llama.cpp's CPU path) where that changes
// results: activations are converted to the weight type's partner format before a
// matrix product, K/Q and probabilities/V products round to F16 the way its
// non-flash attention does, row sums accumulate in double, and GELU goes through an
// F16 table.
#pragma once

#include "graph/tensor.h"

namespace corvid::cpu {

void get_rows(Tensor &dst);
void mul_mat(Tensor &dst);           // the fast path when there is one, else the reference
void mul_mat_reference(Tensor &dst); // scalar ground truth
bool mul_mat_fast(Tensor &dst);      // false (nothing written) when no fast kernel applies
// Decode products over one input (q, k and v; gate and up): dsts[0..n) are mul_mat nodes;
// the leading ones (at least 2) that read the same single column with weights of one type
// are computed with one conversion of the column and one parallel region (one wait for
// all, not one each). Returns how many it computed (0: none, nothing written), each as
// mul_mat_fast would have, bit for bit.
size_t mul_mat_fast_shared_input(Tensor *const *dsts, size_t n);
// dst[0..n) = src rounded to F16, bit for bit the reference conversion, by the active
// instruction set's kernel; false (nothing written) where it has none.
bool to_f16_fast(const float *src, void *dst, int64_t n);
// out[0..n) = silu(x) * y (y null: silu(x)) by the active instruction set's kernel, within
// a few ulp of the reference (a vector exp instead of expf, as the reference engine's own
// CPU path does); false (nothing written) where it has none.
bool silu_mul_fast(const float *x, const float *y, float *out, int64_t n);
// Weight rows per call of mul_mat_fast's decode row kernel (1..4; 0: the default, 1, or
// CORVID_CPU_DECODE_ROWS). For tests, which run every setting; not while a product runs.
void set_decode_rows(int rows);
void add(Tensor &dst);
void mul(Tensor &dst);
void scale(Tensor &dst);
void rms_norm(Tensor &dst);
void norm(Tensor &dst);
void rope(Tensor &dst);
void soft_max(Tensor &dst);
void attention(Tensor &dst);           // the fast path when there is one, else the reference
void attention_reference(Tensor &dst); // scalar ground truth
bool attention_fast(Tensor &dst);      // false (nothing written) when no fast kernel applies
void unary(Tensor &dst);   // silu, gelu (silu through silu_mul_fast when there is one)
void glu(Tensor &dst);     // swiglu, geglu (likewise)
void cpy(Tensor &dst);
void set_rows(Tensor &dst);

// Whether a kernel touching `work` elements should start threads: below this the
// wake-up and join cost more than they save (and on a busy machine far more).
inline bool worth_threads(int64_t work) { return work >= (1 << 16); }

// The type activations are converted to before a product with weights of type w
// (llama.cpp's "vec_dot_type").
DType activation_type_for(DType w);

// GELU (tanh approximation) as the reference engine computes it: through a table of
// F16 inputs and outputs.
float gelu_f16_table(float x);
float silu(float x);

} // namespace corvid::cpu
