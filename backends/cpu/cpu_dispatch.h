// Run-time choice of the CPU backend's instruction-set path.
//
// One binary carries the scalar reference kernels (always) and, on x86-64, fast
// kernels compiled for AVX2 (+FMA, F16C) and for AVX-512 (F/BW/VL/DQ + VNNI; + AMX-INT8
// tiles where the processor and OS allow), each in its own translation unit with its own
// -m flags. The best path the processor (and the
// OS, via XGETBV) supports is chosen on first use; CORVID_CPU_ISA=scalar|avx2|avx512|amx
// in the environment, or force_isa() (tests, benchmarks), picks a lower one.
// "scalar" means the reference kernels themselves: they are the ground truth every
// fast path is tested against (tests/backends/test_conformance.cpp).
#pragma once

#include "tensor/dtype.h"

namespace corvid::cpu {

// On x86 each path includes the one before it: amx = the avx512 kernels with AMX int8
// tiles for the blocked (prompt) products.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, amx = 3 };

const char *isa_name(Isa isa);

// The best path this processor and this build support.
Isa detected_isa();

// Whether `isa` can run here (scalar always can).
bool isa_available(Isa isa);

// The path the kernels use now (detected_isa() unless forced or set by CORVID_CPU_ISA).
Isa active_isa();

// Makes the kernels use `isa` from now on; false (nothing changes) when it cannot run
// here. Not for use while a graph is computing.
bool force_isa(Isa isa);

// Back to the environment's choice, else detected_isa().
void reset_isa();

// Whether mul_mat with weights of type w has a fast kernel on `isa` (else it falls back
// to the reference kernel).
bool mul_mat_has_fast_path(DType w, Isa isa);

} // namespace corvid::cpu
