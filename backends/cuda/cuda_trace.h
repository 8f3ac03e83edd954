// A timeline of one compute() call, for finding where the GPU waits (CORVID_CUDA_TRACE=FILE):
// an event before each group of nodes the backend enqueues together (a fused run or one
// node), the host's clock beside it, and at the end, per label (the first node's op), the
// GPU time from one event to the next (kernels plus any gap before the next starts) and how
// much of it the GPU spent having caught up with the host. The device machines have no
// Nsight Systems; this answers "is the step bound by the kernels, the gaps between them, or
// the host that enqueues them". Events between launches stop programmatic dependent launch
// from overlapping them, so traced steps are a little slower than real ones; graph capture
// is off while tracing.
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace corvid::cuda {

class StepTrace {
public:
    explicit StepTrace(std::string path) : path_(std::move(path)) {}
    ~StepTrace();
    StepTrace(const StepTrace &) = delete;
    StepTrace &operator=(const StepTrace &) = delete;

    // Starts a step on `stream`: waits for the stream, so that the GPU's clock and the
    // host's start together.
    void begin(cudaStream_t stream);
    // Marks the start of the next group, named `label`.
    void mark(cudaStream_t stream, const char *label);
    // Renames the group marked last (a fused run, once its length is known).
    void rename_last(std::string label) {
        if (!labels_.empty()) labels_.back() = std::move(label);
    }
    // Ends the step: waits for it and appends its report to the file.
    void end(cudaStream_t stream);

private:
    using Clock = std::chrono::steady_clock;
    cudaEvent_t event(size_t i);
    std::string path_;
    std::vector<cudaEvent_t> events_;
    std::vector<std::string> labels_;
    std::vector<double> host_us_; // when each mark was made, from begin()
    Clock::time_point t0_;
    int step_ = 0;
};

} // namespace corvid::cuda
