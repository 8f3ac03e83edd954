// Internal interface between the fast matrix-product driver (cpu_matmul_fast.cpp) and
// the per-ISA kernel files (cpu_matmul_avx2.cpp, cpu_matmul_avx512.cpp, which both
// include cpu_matmul_x86.inc).
//
// The driver converts each activation column once to the weight type's partner format
// with the reference quantizer (so the quantized values are exactly the reference's),
// then unpacks it into the layout below; a kernel dots one weight row with up to
// kMaxCols such columns.
//
// Only plain structs here: the kernel files are compiled with -mavx2/-mavx512*, so
// nothing with external linkage (no inline functions, no templates) may be shared
// with them, or the linker could hand a scalar caller a copy that uses AVX-512.
#pragma once

#include <cstdint>

namespace corvid::cpu::fast {

inline constexpr int kMaxCols = 4;

// One activation column in the partner format.
//   Q8_0 / Q8_1 partners: qs[K] int8, d[K/32] (fp16 scale widened), s[K/32] = sum of qs per block.
//   Q8_K partner:         qs[K] int8, d[K/256], bs[K/16] = sum of qs per 16 (the block's bsums),
//                         bs32[K/32] = sum of qs per 32.
//   F32 / F16 / BF16:     f = the row (float, or fp16 / bf16 bits);
//                         F16 / BF16 also xf[K] = the same values widened to float.
struct ActCol {
    const int8_t *qs;
    const float *d;
    const int32_t *s;
    const int16_t *bs;
    const void *f;
    const int16_t *bs32;
    const float *xf;
};

// out[c] = dot(weight row w of K elements, column cols[c]) for c < nc (1..kMaxCols).
using DotFn = void (*)(int64_t K, const void *w, const ActCol *cols, int nc, float *out);

// Blocked matrix product (prompt processing: many columns). The weights are repacked,
// a panel of `rows` rows at a time, into a kernel-specific interleaved layout in a
// per-thread scratch buffer of panel_bytes(K) bytes (64-byte aligned); gemm() then
// computes the panel against any number of columns in register tiles, so each weight
// block is decoded once per panel and reused across columns.
//   pack(K, rowptrs, nrows, panel): rowptrs[0..nrows) are the weight rows (nrows <= rows;
//       the missing rows are packed as zeros).
//   gemm(K, panel, nrows, cols, nc, out, ostride): out[c * ostride + r] = row r . column c
//       for r < nrows, c < nc.
// The arithmetic is the dot kernels': exact integer block products of the same
// quantized values, scaled per block in float and flushed into double sums.
using PanelBytesFn = uint64_t (*)(int64_t K);
using PackFn = void (*)(int64_t K, const void *const *rows, int nrows, void *panel);
using GemmFn = void (*)(int64_t K, const void *panel, int nrows, const ActCol *cols, int64_t nc, float *out,
                        int64_t ostride);
struct GemmKernel {
    int rows; // 0: no blocked kernel for the type
    PanelBytesFn panel_bytes;
    PackFn pack;
    GemmFn gemm;
};

// Indexed by the raw DType id; null where the ISA has no kernel for the type.
inline constexpr int kTypeSlots = 64;
struct Kernels {
    DotFn dot[kTypeSlots];
    GemmKernel gemm[kTypeSlots];
};

// Fills t.gemm for the AVX-512 build (cpu_gemm_avx512.cpp; called by cpu_matmul_avx512.cpp).
void add_gemm_avx512(Kernels &t);

// Null when the build has no such kernels (non-x86 targets, compilers without the flags).
const Kernels *kernels_avx2();
const Kernels *kernels_avx512();

} // namespace corvid::cpu::fast
