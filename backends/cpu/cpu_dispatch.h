// Run-time choice of the CPU backend's instruction-set path.
//
// One binary carries the scalar reference kernels (always) and, on x86-64, fast
// kernels compiled for AVX2 (+FMA, F16C) and for AVX-512 (F/BW/VL/DQ + VNNI; + AMX-INT8
// tiles where the processor and OS allow), each in its own translation unit with its own
// -m flags; on ARM64, fast kernels for NEON with the Armv8.2 dot products (SDOT),
// compiled with -march=armv8.2-a+dotprod. The fastest path the processor (and the OS:
// XGETBV on x86, the HWCAP bits from getauxval on ARM64 Linux) supports is chosen on first
// use (default_isa()); CORVID_CPU_ISA=scalar|avx2|avx512|amx|neon in the environment, or
// force_isa() (tests, benchmarks), picks another one that can run here (a lower one on
// x86; ignored if not).
// "scalar" means the reference kernels themselves: they are the ground truth every
// fast path is tested against (tests/backends/test_conformance.cpp).
#pragma once

#include "tensor/dtype.h"

namespace corvid::cpu {

// On x86 each path includes the one before it: amx = the avx512 kernels with AMX int8
// tiles for the blocked (prompt) products.
// neon is ARM64's only path (NEON with the Armv8.2 dot products); it never coexists
// with the x86 ones, so the enum's order means nothing across the two.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, amx = 3, neon = 4 };

const char *isa_name(Isa isa);

// The widest path this processor and this build support.
Isa detected_isa();

// The path used unless one is asked for: detected_isa(), except that a processor with AMX
// runs the avx512 path. Its AMX int8 tiles pay a tile store and a scaled readout for every
// 32-element block (each block has its own scale): measured on the device host's Xeon
// (2 threads, 1B, pp128), Q4_0 414 against 453 tokens/s with the VNNI tiles and Q8_0 389
// against 433, the other types level (they do not use the tiles). CORVID_CPU_ISA=amx
// still selects them.
Isa default_isa();

// Whether `isa` can run here (scalar always can; neon only on ARM64, the others only on x86).
bool isa_available(Isa isa);

// The path the kernels use now (default_isa() unless forced or set by CORVID_CPU_ISA).
Isa active_isa();

// Makes the kernels use `isa` from now on; false (nothing changes) when it cannot run
// here. Not for use while a graph is computing.
bool force_isa(Isa isa);

// Back to the environment's choice, else default_isa().
void reset_isa();

// Whether mul_mat with weights of type w has a fast kernel on `isa` (else it falls back
// to the reference kernel).
bool mul_mat_has_fast_path(DType w, Isa isa);

} // namespace corvid::cpu
