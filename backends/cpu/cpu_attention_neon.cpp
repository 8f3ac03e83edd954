// The fast attention kernel built for ARM64 NEON (4 floats a vector; only base Armv8 NEON
// instructions, so every ARM64 core runs it). Chosen at run time by cpu_attention_fast.cpp.
#include "cpu/cpu_attention_fast.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#define CORVID_ATTN_NS neon
#define CORVID_ATTN_NEON 1
#include "cpu/cpu_attention_simd.inc"

namespace corvid::cpu::attn {
const Kernels *kernels_neon() {
    static const Kernels table = neon::make_kernels();
    return &table;
}
} // namespace corvid::cpu::attn
#else
namespace corvid::cpu::attn {
const Kernels *kernels_neon() { return nullptr; }
} // namespace corvid::cpu::attn
#endif
