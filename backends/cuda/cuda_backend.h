// The CUDA backend: every graph op on one NVIDIA GPU (compute capability 8.0 or newer).
//
// Compiled in when CMake defines CORVID_HAS_CUDA (top-level option CORVID_CUDA). Weights,
// the KV cache and intermediates live in device memory obtained through Backend::alloc();
// uploads stage through pinned buffers; all work of one backend runs in order on one
// stream, and compute() never waits for the host.
#pragma once

#include "backend.h"

#include <cstdint>
#include <memory>
#include <string>

namespace corvid {

// Number of usable CUDA devices; 0 when there is no GPU, no driver, or the driver is too
// old for this build. Never throws.
int cuda_device_count();

// A backend on device `device` (0-based). Throws Error(unsupported) with a clear message
// when there is no driver, the driver is too old, the device does not exist, or its
// compute capability is below 8.0.
std::unique_ptr<Backend> make_cuda_backend(int device);

// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"; throws like make_cuda_backend.
std::string cuda_device_description(int device);

} // namespace corvid
