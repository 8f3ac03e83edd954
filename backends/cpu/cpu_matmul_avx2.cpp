// The fast matrix-product kernels built for AVX2 + FMA + F16C (this file alone gets
// -mavx2 -mfma -mf16c; see CMakeLists.txt). Chosen at run time by cpu_matmul_fast.cpp.
#include "cpu/cpu_matmul_fast.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define CORVID_KERNEL_NS avx2
#define CORVID_KERNEL_VNNI 0
#include "cpu/cpu_matmul_x86.inc"

namespace corvid::cpu::fast {
const Kernels *kernels_avx2() {
    static const Kernels table = [] {
        Kernels t = avx2::make_table();
        add_panel_avx2(t);
        add_gemm_avx2(t);
        return t;
    }();
    return &table;
}
} // namespace corvid::cpu::fast
#else
namespace corvid::cpu::fast {
const Kernels *kernels_avx2() { return nullptr; }
} // namespace corvid::cpu::fast
#endif
