// `corvid bench`: what the measuring part hands to the output part, and the bandwidth probe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace corvid::cli::bench {

// One row of results: one model, thread count, depth and test (pp or tg).
struct Result {
    std::string model_filename, model_type, arch;
    uint64_t model_size = 0;     // bytes of all tensors
    uint64_t model_n_params = 0;
    int n_threads = 0, n_batch = 0;
    std::string backend = "CPU"; // where the model computes ("CPU", "CUDA0", ...)
    int n_gpu_layers = 0;
    bool use_mmap = true;
    int n_prompt = 0, n_gen = 0, n_depth = 0; // a pp test has n_gen 0, a tg test n_prompt 0
    std::string test_time;                    // ISO 8601, UTC, when the test started
    std::vector<uint64_t> samples_ns;         // one per repetition (warm-up excluded)

    // Memory roofline (tg only; 0 when not measured): the probe's bandwidth with this
    // thread count, and the bytes one generated token must read (weights + KV at the mean depth).
    double bandwidth_bytes_s = 0;
    double bytes_per_token = 0;

    int n_tokens() const { return n_prompt > 0 ? n_prompt : n_gen; }
    std::vector<double> samples_ts() const;
    double avg_ns() const;
    double stddev_ns() const;
    double avg_ts() const;
    double stddev_ts() const;
    double roofline_ts() const { return bytes_per_token > 0 ? bandwidth_bytes_s / bytes_per_token : 0; }
    std::string test_name() const; // "pp512", "tg128", "tg128 @ d4096"
};

struct RunInfo {
    std::string build_commit, cpu_info;
};

// Writes the results to stdout as a markdown table, CSV, or llama-bench-style JSON.
void print_md(const std::vector<Result> &rs);
void print_csv(const std::vector<Result> &rs, const RunInfo &info);
void print_json(const std::vector<Result> &rs, const RunInfo &info);

// STREAM-style read probe: `threads` threads each sum their share of a `bytes` buffer
// (well beyond the last-level cache) with the widest vector loads the processor has;
// returns the best of `runs` timed passes in bytes per second. The buffer is kept between
// calls of the same size.
double measure_read_bandwidth(int threads, size_t bytes, int runs);
// "avx512", "avx2" or "scalar": the read loop the probe uses.
const char *bandwidth_probe_isa();

} // namespace corvid::cli::bench
