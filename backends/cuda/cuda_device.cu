// Device discovery and error translation: what the rest of the backend calls when a
// CUDA runtime or cuBLAS call fails, and the checks behind make_cuda_backend().
#include "cuda/cuda_backend.h"
#include "cuda/cuda_common.cuh"

#include <cstring>
#include <string>

namespace corvid {
namespace cuda {

void raise_cuda(cudaError_t e, const char *what, const char *file, int line) {
    cudaGetLastError(); // clear a sticky-free error so later calls are not blamed for it
    const char *base = std::strrchr(file, '/');
    base = base ? base + 1 : file;
    if (e == cudaErrorMemoryAllocation)
        fail(Status::out_of_memory, "CUDA: out of device memory in %s (%s:%d)", what, base, line);
    if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice || e == cudaErrorNoKernelImageForDevice ||
        e == cudaErrorUnsupportedPtxVersion || e == cudaErrorCallRequiresNewerDriver)
        fail(Status::unsupported, "CUDA: %s (%s) in %s (%s:%d)", cudaGetErrorString(e), cudaGetErrorName(e), what, base,
             line);
    fail(Status::internal, "CUDA: %s (%s) in %s (%s:%d)", cudaGetErrorString(e), cudaGetErrorName(e), what, base, line);
}

void raise_cublas(cublasStatus_t s, const char *what, const char *file, int line) {
    const char *base = std::strrchr(file, '/');
    base = base ? base + 1 : file;
    if (s == CUBLAS_STATUS_ALLOC_FAILED)
        fail(Status::out_of_memory, "cuBLAS: out of memory in %s (%s:%d)", what, base, line);
    fail(Status::internal, "cuBLAS: %s (%d) in %s (%s:%d)", cublasGetStatusString(s), static_cast<int>(s), what, base,
         line);
}

// Why there is no usable device, or nullptr when `device` is usable.
std::string device_problem(int device) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        int driver = 0;
        cudaDriverGetVersion(&driver);
        cudaGetLastError();
        if (e == cudaErrorInsufficientDriver)
            return strfmt("the NVIDIA driver is too old for this build (it supports CUDA %d.%d; Corvid was built with "
                          "CUDA %d.%d): update the driver",
                          driver / 1000, driver % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
        if (e == cudaErrorNoDevice) return "no CUDA-capable GPU was found";
        return strfmt("the CUDA driver could not be initialised: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    }
    if (n == 0) return "no CUDA-capable GPU was found";
    if (device < 0 || device >= n) return strfmt("there is no CUDA device %d (this machine has %d)", device, n);
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
        cudaGetLastError();
        return strfmt("cannot read the properties of CUDA device %d", device);
    }
    if (p.major < 8)
        return strfmt("CUDA device %d (%s) has compute capability %d.%d; Corvid's CUDA backend needs 8.0 or newer",
                      device, p.name, p.major, p.minor);
    return {};
}

} // namespace cuda

int cuda_device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

std::string cuda_device_description(int device) {
    const std::string why = cuda::device_problem(device);
    if (!why.empty()) fail(Status::unsupported, "CUDA: %s", why.c_str());
    cudaDeviceProp p{};
    CV_CUDA(cudaGetDeviceProperties(&p, device));
    return strfmt("%s (sm_%d%d, %.1f GiB, %d SMs)", p.name, p.major, p.minor,
                  static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), p.multiProcessorCount);
}

} // namespace corvid
