// The fast attention kernel built for AVX-512 F/BW/VL/DQ (this file alone gets the -m
// flags; see CMakeLists.txt). Chosen at run time by cpu_attention_fast.cpp.
#include "cpu/cpu_attention_fast.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__) && defined(__FMA__) && defined(__F16C__)
#define CORVID_ATTN_NS avx512
#define CORVID_ATTN_AVX512 1
#include "cpu/cpu_attention_simd.inc"

namespace corvid::cpu::attn {
const Kernels *kernels_avx512() {
    static const Kernels table = avx512::make_kernels();
    return &table;
}
} // namespace corvid::cpu::attn
#else
namespace corvid::cpu::attn {
const Kernels *kernels_avx512() { return nullptr; }
} // namespace corvid::cpu::attn
#endif
