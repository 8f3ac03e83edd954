// The fast matrix-product kernels built for AVX-512 F/BW/VL/DQ + VNNI (this file alone
// gets those -m flags; see CMakeLists.txt). Same source as the AVX2 build, with the
// byte dot products done by vpdpbusd. Chosen at run time by cpu_matmul_fast.cpp.
#include "cpu/cpu_matmul_fast.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__FMA__) && defined(__F16C__)
#define CORVID_KERNEL_NS avx512
#define CORVID_KERNEL_VNNI 1
#include "cpu/cpu_matmul_x86.inc"

namespace corvid::cpu::fast {
const Kernels *kernels_avx512() {
    static const Kernels table = [] {
        Kernels t = avx512::make_table();
        add_gemm_avx512(t);
        add_panel_avx512(t);
        // The decode kernels permute bytes (vpermb, AVX-512 VBMI: Ice Lake and later).
        if (__builtin_cpu_supports("avx512vbmi")) add_gemv_avx512(t);
        return t;
    }();
    return &table;
}
const Kernels *kernels_amx() {
    static const Kernels table = [] {
        Kernels t = *kernels_avx512();
        add_gemm_amx(t);
        return t;
    }();
    return &table;
}
} // namespace corvid::cpu::fast
#else
namespace corvid::cpu::fast {
const Kernels *kernels_avx512() { return nullptr; }
const Kernels *kernels_amx() { return nullptr; }
} // namespace corvid::cpu::fast
#endif
