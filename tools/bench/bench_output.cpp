// `corvid bench` output: statistics of the samples and the three formats.
//
// JSON and CSV use llama-bench's field names (model_filename, model_type, model_size,
// model_n_params, backends, n_threads, n_prompt, n_gen, n_depth, avg_ns, stddev_ns, avg_ts,
// stddev_ts, samples_ns, samples_ts, ...), so scripts written for llama-bench read them;
// the roofline fields (bandwidth_gbs, roofline_ts, roofline_fraction) are Corvid's own.
#include "bench/bench.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>

namespace corvid::cli::bench {

std::vector<double> Result::samples_ts() const {
    std::vector<double> ts;
    for (uint64_t ns : samples_ns) ts.push_back(ns > 0 ? 1e9 * n_tokens() / static_cast<double>(ns) : 0.0);
    return ts;
}

namespace {
double mean(const std::vector<double> &v) {
    return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}
// Sample standard deviation (n - 1), 0 for fewer than two samples.
double stddev(const std::vector<double> &v) {
    if (v.size() < 2) return 0.0;
    const double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(v.size() - 1));
}
std::vector<double> as_double(const std::vector<uint64_t> &v) { return {v.begin(), v.end()}; }

std::string fmt(const char *f, double a) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, a);
    return buf;
}
std::string fmt(const char *f, double a, double b) {
    char buf[96];
    std::snprintf(buf, sizeof buf, f, a, b);
    return buf;
}

std::string human_size(uint64_t bytes) {
    const double b = static_cast<double>(bytes);
    return b >= 1024.0 * 1024 * 1024 ? fmt("%.2f GiB", b / (1024.0 * 1024 * 1024)) : fmt("%.2f MiB", b / (1024.0 * 1024));
}
std::string human_params(uint64_t n) {
    const double p = static_cast<double>(n);
    return p >= 1e9 ? fmt("%.2f B", p / 1e9) : fmt("%.2f M", p / 1e6);
}

// "97.3% of 41.6" for tg rows with a measured bandwidth, "" otherwise.
std::string roofline_cell(const Result &r) {
    if (r.n_gen == 0 || r.roofline_ts() <= 0) return "";
    return fmt("%.1f%% of %.1f", 100.0 * r.avg_ts() / r.roofline_ts(), r.roofline_ts());
}

std::string short_name(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}
} // namespace

double Result::avg_ns() const { return mean(as_double(samples_ns)); }
double Result::stddev_ns() const { return stddev(as_double(samples_ns)); }
double Result::avg_ts() const { return mean(samples_ts()); }
double Result::stddev_ts() const { return stddev(samples_ts()); }

std::string Result::test_name() const {
    std::string s = n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
    if (n_depth > 0) s += " @ d" + std::to_string(n_depth);
    return s;
}

void print_md(const std::vector<Result> &rs) {
    const std::vector<std::string> head = {"model", "file", "size", "params", "backend", "threads", "test", "t/s",
                                           "BW GB/s", "tg roofline"};
    const std::vector<bool> right = {false, false, true, true, false, true, true, true, true, true};
    std::vector<std::vector<std::string>> rows;
    for (const Result &r : rs) {
        rows.push_back({r.model_type, short_name(r.model_filename), human_size(r.model_size),
                        human_params(r.model_n_params), r.backend, std::to_string(r.n_threads), r.test_name(),
                        fmt("%.2f ± %.2f", r.avg_ts(), r.stddev_ts()),
                        r.bandwidth_bytes_s > 0 ? fmt("%.1f", r.bandwidth_bytes_s / 1e9) : "", roofline_cell(r)});
    }
    std::vector<size_t> w(head.size());
    auto width = [](const std::string &s) { // display width: count UTF-8 lead bytes
        size_t n = 0;
        for (unsigned char c : s) n += (c & 0xC0) != 0x80;
        return n;
    };
    for (size_t i = 0; i < head.size(); ++i) {
        w[i] = std::max<size_t>(width(head[i]), 3);
        for (const auto &row : rows) w[i] = std::max(w[i], width(row[i]));
    }
    auto line = [&](const std::vector<std::string> &cells) {
        std::string out = "|";
        for (size_t i = 0; i < cells.size(); ++i) {
            const std::string pad(w[i] - width(cells[i]), ' ');
            out += " " + (right[i] ? pad + cells[i] : cells[i] + pad) + " |";
        }
        std::printf("%s\n", out.c_str());
    };
    line(head);
    std::string sep = "|";
    for (size_t i = 0; i < head.size(); ++i) sep += " " + std::string(w[i] - 1, '-') + (right[i] ? ":" : "-") + " |";
    std::printf("%s\n", sep.c_str());
    for (const auto &row : rows) line(row);
}

namespace {
nlohmann::ordered_json to_json(const Result &r, const RunInfo &info) {
    nlohmann::ordered_json j;
    j["build_commit"] = info.build_commit;
    j["build_number"] = 0;
    j["cpu_info"] = info.cpu_info;
    j["gpu_info"] = "";
    j["backends"] = r.backend.rfind("CUDA", 0) == 0 ? "CUDA" : r.backend;
    j["model_filename"] = r.model_filename;
    j["model_type"] = r.model_type;
    j["model_size"] = r.model_size;
    j["model_n_params"] = r.model_n_params;
    j["n_batch"] = r.n_batch;
    j["n_ubatch"] = r.n_batch;
    j["n_threads"] = r.n_threads;
    j["type_k"] = "f16";
    j["type_v"] = "f16";
    j["n_gpu_layers"] = r.n_gpu_layers;
    j["use_mmap"] = r.use_mmap;
    j["n_prompt"] = r.n_prompt;
    j["n_gen"] = r.n_gen;
    j["n_depth"] = r.n_depth;
    j["test_time"] = r.test_time;
    j["avg_ns"] = static_cast<uint64_t>(std::llround(r.avg_ns()));
    j["stddev_ns"] = static_cast<uint64_t>(std::llround(r.stddev_ns()));
    j["avg_ts"] = r.avg_ts();
    j["stddev_ts"] = r.stddev_ts();
    j["samples_ns"] = r.samples_ns;
    j["samples_ts"] = r.samples_ts();
    if (r.n_gen > 0 && r.roofline_ts() > 0) {
        j["bandwidth_gbs"] = r.bandwidth_bytes_s / 1e9;
        j["bytes_per_token"] = r.bytes_per_token;
        j["roofline_ts"] = r.roofline_ts();
        j["roofline_fraction"] = r.avg_ts() / r.roofline_ts();
    } else {
        j["bandwidth_gbs"] = nullptr;
        j["bytes_per_token"] = nullptr;
        j["roofline_ts"] = nullptr;
        j["roofline_fraction"] = nullptr;
    }
    return j;
}

std::string csv_cell(const nlohmann::ordered_json &v) {
    if (v.is_null()) return "";
    if (v.is_string()) {
        std::string s = "\"";
        for (char c : v.get<std::string>()) s += c == '"' ? std::string("\"\"") : std::string(1, c);
        return s + "\"";
    }
    if (v.is_array()) {
        std::string s = "\"";
        for (size_t i = 0; i < v.size(); ++i) s += (i ? ";" : "") + v[i].dump();
        return s + "\"";
    }
    return v.dump();
}
} // namespace

void print_csv(const std::vector<Result> &rs, const RunInfo &info) {
    bool header = true;
    for (const Result &r : rs) {
        const auto j = to_json(r, info);
        std::string line;
        if (header) {
            for (auto it = j.begin(); it != j.end(); ++it) line += (line.empty() ? "" : ",") + it.key();
            std::printf("%s\n", line.c_str());
            line.clear();
            header = false;
        }
        bool first = true;
        for (auto it = j.begin(); it != j.end(); ++it) {
            line += (first ? "" : ",") + csv_cell(it.value());
            first = false;
        }
        std::printf("%s\n", line.c_str());
    }
}

void print_json(const std::vector<Result> &rs, const RunInfo &info) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const Result &r : rs) arr.push_back(to_json(r, info));
    std::printf("%s\n", arr.dump(2).c_str());
}

} // namespace corvid::cli::bench
