// StepTrace (cuda_trace.h): events between the groups of a step, and the report.
#include "cuda/cuda_trace.h"

#include <algorithm>
#include <map>

namespace corvid::cuda {

StepTrace::~StepTrace() {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

cudaEvent_t StepTrace::event(size_t i) {
    while (events_.size() <= i) {
        cudaEvent_t e = nullptr;
        if (cudaEventCreate(&e) != cudaSuccess) return nullptr;
        events_.push_back(e);
    }
    return events_[i];
}

void StepTrace::begin(cudaStream_t stream) {
    labels_.clear();
    host_us_.clear();
    cudaStreamSynchronize(stream);
    t0_ = Clock::now();
    mark(stream, "(start)");
}

void StepTrace::mark(cudaStream_t stream, const char *label) {
    cudaEvent_t e = event(labels_.size());
    if (!e) return;
    host_us_.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0_).count());
    cudaEventRecord(e, stream);
    labels_.push_back(label);
}

void StepTrace::end(cudaStream_t stream) {
    mark(stream, "(end)");
    if (labels_.size() < 2) return; // no events (cudaEventCreate failed): nothing to report
    const double host_done = host_us_.back();
    cudaStreamSynchronize(stream);
    const size_t n = labels_.size();
    std::vector<double> gpu_us(n, 0.0);
    for (size_t i = 1; i < n; ++i) {
        float ms = 0.0f;
        cudaEventElapsedTime(&ms, events_[0], events_[i]);
        gpu_us[i] = 1000.0 * ms;
    }
    cudaGetLastError();
    // A group "waits for the host" when its first event fired within a few microseconds of
    // being recorded: the GPU had nothing queued before it.
    constexpr double kCaughtUpUs = 10.0;
    struct Sum {
        int count = 0;
        double us = 0.0, waiting_us = 0.0;
    };
    std::map<std::string, Sum> by_label;
    double waiting = 0.0;
    for (size_t i = 1; i + 1 < n; ++i) {
        Sum &s = by_label[labels_[i]];
        const double d = gpu_us[i + 1] - gpu_us[i];
        ++s.count;
        s.us += d;
        if (gpu_us[i] - host_us_[i] < kCaughtUpUs) s.waiting_us += d, waiting += d;
    }
    FILE *f = std::fopen(path_.c_str(), "a");
    if (!f) return;
    std::fprintf(f, "# step %d: %zu groups; GPU %.1f us from start to end; host enqueued for %.1f us; "
                    "groups begun with nothing queued before them: %.1f us\n",
                 step_++, n - 2, gpu_us[n - 1], host_done, waiting);
    std::vector<std::pair<std::string, Sum>> rows(by_label.begin(), by_label.end());
    std::sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) { return a.second.us > b.second.us; });
    for (const auto &[label, s] : rows)
        std::fprintf(f, "%-24s %6d groups %10.1f us %8.2f us each; begun caught up: %.1f us\n", label.c_str(), s.count,
                     s.us, s.us / s.count, s.waiting_us);
    std::fclose(f);
}

} // namespace corvid::cuda
