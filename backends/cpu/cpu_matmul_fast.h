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
//   Q8_K partner:         qs[K] int8, d[K/256], bs[K/16] = sum of qs per 16 (the block's bsums).
//   F32 / F16 / BF16:     f = the row (float, or fp16 / bf16 bits).
struct ActCol {
    const int8_t *qs;
    const float *d;
    const int32_t *s;
    const int16_t *bs;
    const void *f;
};

// out[c] = dot(weight row w of K elements, column cols[c]) for c < nc (1..kMaxCols).
using DotFn = void (*)(int64_t K, const void *w, const ActCol *cols, int nc, float *out);

// Indexed by the raw DType id; null where the ISA has no kernel for the type.
inline constexpr int kTypeSlots = 64;
struct Kernels {
    DotFn dot[kTypeSlots];
};

// Null when the build has no such kernels (non-x86 targets, compilers without the flags).
const Kernels *kernels_avx2();
const Kernels *kernels_avx512();

} // namespace corvid::cpu::fast
