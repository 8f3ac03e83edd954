// The fast attention kernel built for AVX2 + FMA + F16C (this file alone gets -mavx2
// -mfma -mf16c; see CMakeLists.txt). Chosen at run time by cpu_attention_fast.cpp.
#include "cpu/cpu_attention_fast.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define CORVID_ATTN_NS avx2
#define CORVID_ATTN_AVX512 0
#include "cpu/cpu_attention_simd.inc"

namespace corvid::cpu::attn {
const Kernels *kernels_avx2() {
    static const Kernels table = avx2::make_kernels();
    return &table;
}
} // namespace corvid::cpu::attn
#else
namespace corvid::cpu::attn {
const Kernels *kernels_avx2() { return nullptr; }
} // namespace corvid::cpu::attn
#endif
