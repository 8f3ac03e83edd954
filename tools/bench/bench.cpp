// `corvid bench -m MODEL [-m MODEL ...] [-p 512] [-n 128] [-t 1,2] [-d 0,4096] [-r 5] [-o md|csv|json]`:
// prompt-processing (pp) and generation (tg) speed in tokens/s, llama-bench style.
//
// Every combination of model x threads x depth x test runs as one row. A pp test decodes
// n_prompt random tokens as one batch; a tg test decodes n_gen random tokens one at a time,
// each after the previous (logits for the last token only, as in generation). Before the
// test the KV cache is filled to n_depth tokens (untimed, once per row); each repetition
// removes what the previous one appended, so every repetition starts at the same depth. One
// warm-up (the whole pp batch, or one tg token) is run and not counted.
//
// Beside tg speed the table shows the fraction of the memory-bandwidth roofline: the
// bandwidth is measured here with a read probe (bench/bandwidth.cpp) using the row's thread
// count, and one generated token must read every weight once (the token embedding only one
// row, unless it doubles as the output matrix) plus the KV cache at the test's mean depth
// (n_depth + (n_gen + 1) / 2 tokens, F16 K and V).
#include "bench/bench.h"
#include "commands.h"
#include "common.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace corvid::cli {
namespace {

using bench::Result;

struct BenchOptions {
    std::vector<std::string> models;
    std::vector<std::string> n_prompt = {"512"}, n_gen = {"128"}, threads, depth = {"0"};
    int reps = 5;
    int n_batch = 512;
    std::string output = "md";
    double bw_mib = 1024;
    bool no_bw = false, no_warmup = false, progress = false;
    int gpu_layers = -1, main_gpu = 0;
    int mmap = 1;
};

// "1,2" "4" -> {1, 2, 4}; false (with a message) for anything that is not a list of integers >= min.
bool parse_list(const char *opt, const std::vector<std::string> &in, int min, std::vector<int> &out) {
    out.clear();
    for (const std::string &s : in) {
        std::stringstream ss(s);
        std::string item;
        while (std::getline(ss, item, ',')) {
            char *end = nullptr;
            const long v = std::strtol(item.c_str(), &end, 10);
            if (item.empty() || *end != '\0' || v < min || v > (1L << 30)) {
                std::fprintf(stderr, "corvid bench: %s: '%s' is not a number >= %d\n", opt, item.c_str(), min);
                return false;
            }
            out.push_back(static_cast<int>(v));
        }
    }
    return true;
}

int physical_cores() {
    std::set<std::pair<std::string, std::string>> cores;
    for (unsigned cpu = 0; cpu < 4096; ++cpu) {
        const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream pkg(base + "physical_package_id"), core(base + "core_id");
        if (!pkg || !core) break;
        std::string p, c;
        pkg >> p;
        core >> c;
        cores.insert({p, c});
    }
    if (!cores.empty()) return static_cast<int>(cores.size());
    return std::max(1u, std::thread::hardware_concurrency());
}

std::string cpu_model_name() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    }
    return "";
}

std::string now_iso8601() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// llama.cpp's names of general.file_type values (enum llama_ftype), as llama-bench prints them.
const char *ftype_name(int64_t ft) {
    static const std::map<int64_t, const char *> names = {
        {0, "all F32"},          {1, "F16"},           {2, "Q4_0"},          {3, "Q4_1"},
        {7, "Q8_0"},             {8, "Q5_0"},          {9, "Q5_1"},          {10, "Q2_K - Medium"},
        {11, "Q3_K - Small"},    {12, "Q3_K - Medium"}, {13, "Q3_K - Large"}, {14, "Q4_K - Small"},
        {15, "Q4_K - Medium"},   {16, "Q5_K - Small"}, {17, "Q5_K - Medium"}, {18, "Q6_K"},
        {21, "Q2_K - Small"},    {25, "IQ4_NL - 4.5 bpw"}, {30, "IQ4_XS - 4.25 bpw"}, {32, "BF16"},
    };
    const auto it = names.find(ft);
    return it == names.end() ? nullptr : it->second;
}

// Facts about a model that the rows and the roofline need.
struct ModelFacts {
    std::string arch, type;
    uint64_t size = 0, n_params = 0;
    int64_t n_vocab = 0;
    double weight_bytes_per_token = 0; // bytes of weights one decoded token reads
    double kv_bytes_per_cell = 0;      // bytes of K and V (F16) per token of context, all layers
};

ModelFacts model_facts(const corvid_model *m) {
    ModelFacts f;
    f.arch = corvid_model_architecture(m);
    f.n_params = corvid_model_n_params(m);
    f.n_vocab = corvid_model_n_vocab(m);
    const bool tied = corvid_model_find_tensor(m, "output.weight") < 0;
    std::map<uint32_t, uint64_t> elems_by_type; // of the 2-D tensors
    const int64_t n = corvid_model_n_tensors(m);
    const int64_t n_layers = corvid_model_n_layers(m);
    for (int64_t i = 0; i < n; ++i) {
        corvid_tensor_info ti;
        if (corvid_model_tensor_info(m, i, &ti) != CORVID_OK) continue;
        f.size += ti.n_bytes;
        const std::string name = ti.name;
        if (name == "token_embd.weight" && !tied) f.weight_bytes_per_token += static_cast<double>(ti.n_bytes) / std::max<int64_t>(ti.ne[1], 1);
        else f.weight_bytes_per_token += static_cast<double>(ti.n_bytes);
        if (ti.n_dims >= 2) elems_by_type[ti.type] += ti.n_elements;
        for (int64_t il = 0; il < n_layers; ++il) {
            const std::string b = "blk." + std::to_string(il) + ".";
            if (name == b + "attn_k.weight" || name == b + "attn_v.weight") f.kv_bytes_per_cell += 2.0 * static_cast<double>(ti.ne[1]);
        }
    }
    int64_t ft = -1;
    const char *ftn = corvid_model_meta_int(m, "general.file_type", &ft) == CORVID_OK ? ftype_name(ft) : nullptr;
    std::string type;
    if (ftn) {
        type = ftn;
    } else if (!elems_by_type.empty()) { // the dominant matrix type
        const auto best = std::max_element(elems_by_type.begin(), elems_by_type.end(),
                                           [](const auto &a, const auto &b) { return a.second < b.second; });
        type = corvid_type_name(best->first);
        for (char &c : type) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    char label[32];
    const double p = static_cast<double>(f.n_params);
    if (p >= 1e9) std::snprintf(label, sizeof label, "%.1fB", p / 1e9);
    else if (p >= 1e7) std::snprintf(label, sizeof label, "%.0fM", p / 1e6);
    else std::snprintf(label, sizeof label, "%.2fM", p / 1e6);
    f.type = f.arch + " " + label + " " + type;
    return f;
}

class Bench {
public:
    Bench(const BenchOptions &o) : o_(o) {}

    // Runs every row for one model; false (message printed) on failure.
    bool run_model(const std::string &path, const std::vector<int> &threads, const std::vector<int> &depths,
                   const std::vector<int> &pps, const std::vector<int> &tgs, std::vector<Result> &out) {
        corvid_model *m = open_model("bench", path, CORVID_LOAD_FULL, o_.gpu_layers, o_.main_gpu, o_.mmap != 0);
        if (!m) return false;
        const ModelFacts facts = model_facts(m);
        bool ok = true;
        for (int t : threads) {
            for (int d : depths) {
                for (int p : pps) ok = ok && run_test(m, path, facts, t, d, p, 0, out);
                for (int n : tgs) ok = ok && run_test(m, path, facts, t, d, 0, n, out);
            }
        }
        corvid_model_close(m);
        return ok;
    }

private:
    double bandwidth(int threads) {
        if (o_.no_bw) return 0;
        auto it = bw_.find(threads);
        if (it != bw_.end()) return it->second;
        const double b = bench::measure_read_bandwidth(threads, static_cast<size_t>(o_.bw_mib * 1024 * 1024), 5);
        std::fprintf(stderr, "corvid bench: memory read bandwidth with %d thread%s (%s loads, %.0f MiB, best of 5): %.1f GB/s\n",
                     threads, threads == 1 ? "" : "s", bench::bandwidth_probe_isa(), o_.bw_mib, b / 1e9);
        return bw_[threads] = b;
    }

    // The GPU's memory read bandwidth (its roofline), measured once per device.
    double gpu_bandwidth(const corvid_model *m, const std::string &backend) {
        if (o_.no_bw) return 0;
        auto it = gpu_bw_.find(backend);
        if (it != gpu_bw_.end()) return it->second;
        double b = 0;
        const size_t bytes = static_cast<size_t>(o_.bw_mib * 4 * 1024 * 1024); // past the GPU's caches
        if (corvid_model_gpu_bandwidth(m, bytes, &b) == CORVID_OK)
            std::fprintf(stderr, "corvid bench: %s memory read bandwidth (%.0f MiB): %.1f GB/s\n", backend.c_str(),
                         o_.bw_mib * 4, b / 1e9);
        else
            std::fprintf(stderr, "corvid bench: %s: no bandwidth probe (%s): no roofline column\n", backend.c_str(),
                         corvid_last_error());
        return gpu_bw_[backend] = b;
    }

    std::vector<int32_t> random_tokens(size_t n, int64_t n_vocab) {
        std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(n_vocab - 1));
        std::vector<int32_t> v(n);
        for (auto &t : v) t = dist(rng_);
        return v;
    }

    bool decode(corvid_context *ctx, const std::vector<int32_t> &toks, const char *what) {
        corvid_batch b = {toks.size(), toks.data(), nullptr, nullptr, nullptr};
        if (corvid_decode(ctx, &b) == CORVID_OK) return true;
        std::fprintf(stderr, "corvid bench: %s: %s\n", what, corvid_last_error());
        return false;
    }

    // One timed pass: n_prompt tokens as one batch, or n_gen tokens one by one.
    bool pass(corvid_context *ctx, int n_prompt, int n_gen, int64_t n_vocab, uint64_t *ns) {
        const auto toks = random_tokens(static_cast<size_t>(n_prompt > 0 ? n_prompt : n_gen), n_vocab);
        const auto t0 = std::chrono::steady_clock::now();
        if (n_prompt > 0) {
            if (!decode(ctx, toks, "prompt processing")) return false;
        } else {
            for (int i = 0; i < n_gen; ++i)
                if (!decode(ctx, {toks[static_cast<size_t>(i)]}, "generation")) return false;
        }
        *ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
        return true;
    }

    bool run_test(corvid_model *m, const std::string &path, const ModelFacts &facts, int threads, int depth,
                  int n_prompt, int n_gen, std::vector<Result> &out) {
        Result r;
        r.model_filename = path;
        r.model_type = facts.type;
        r.arch = facts.arch;
        r.model_size = facts.size;
        r.model_n_params = facts.n_params;
        r.n_threads = threads;
        r.n_batch = o_.n_batch;
        r.n_prompt = n_prompt;
        r.n_gen = n_gen;
        r.n_depth = depth;
        r.backend = corvid_model_backend(m);
        r.n_gpu_layers = corvid_model_n_gpu_layers(m);
        r.use_mmap = o_.mmap != 0;
        if (n_gen > 0) {
            r.bandwidth_bytes_s = r.backend == "CPU" ? bandwidth(threads) : gpu_bandwidth(m, r.backend);
            r.bytes_per_token = facts.weight_bytes_per_token + facts.kv_bytes_per_cell * (depth + (n_gen + 1) / 2.0);
        }
        if (o_.progress) std::fprintf(stderr, "corvid bench: %s, %d threads, %s\n", path.c_str(), threads, r.test_name().c_str());

        corvid_context_params cp = corvid_context_default_params();
        cp.n_ctx = static_cast<uint32_t>(depth + n_prompt + n_gen);
        cp.n_batch = static_cast<uint32_t>(o_.n_batch);
        cp.n_threads = threads;
        corvid_context *ctx = nullptr;
        if (corvid_context_create(m, &cp, &ctx) != CORVID_OK) {
            std::fprintf(stderr, "corvid bench: %s: creating a context: %s\n", path.c_str(), corvid_last_error());
            return false;
        }
        bool ok = true;
        if (depth > 0) ok = decode(ctx, random_tokens(static_cast<size_t>(depth), facts.n_vocab), "filling the KV cache");
        auto rewind = [&] { return corvid_kv_seq_remove(ctx, -1, depth, -1) == CORVID_OK; };
        if (ok && !o_.no_warmup) {
            uint64_t ns = 0;
            ok = pass(ctx, n_prompt, n_prompt > 0 ? 0 : 1, facts.n_vocab, &ns) && rewind();
        }
        r.test_time = now_iso8601();
        for (int rep = 0; ok && rep < o_.reps; ++rep) {
            uint64_t ns = 0;
            ok = pass(ctx, n_prompt, n_gen, facts.n_vocab, &ns) && rewind();
            if (ok) r.samples_ns.push_back(ns);
        }
        corvid_context_free(ctx);
        if (ok) {
            if (o_.progress) std::fprintf(stderr, "corvid bench:   %.2f ± %.2f t/s\n", r.avg_ts(), r.stddev_ts());
            out.push_back(std::move(r));
        }
        return ok;
    }

    const BenchOptions &o_;
    std::map<int, double> bw_;
    std::map<std::string, double> gpu_bw_;
    std::mt19937_64 rng_{0xBE4C4u};
};

int run_bench(const BenchOptions &o) {
    std::vector<int> pps, tgs, threads, depths;
    if (!parse_list("-p", o.n_prompt, 0, pps) || !parse_list("-n", o.n_gen, 0, tgs) ||
        !parse_list("-d", o.depth, 0, depths) || !parse_list("-t", o.threads, 1, threads))
        return 2;
    if (threads.empty()) threads.push_back(physical_cores());
    pps.erase(std::remove(pps.begin(), pps.end(), 0), pps.end()); // -p 0 / -n 0: skip that kind of test
    tgs.erase(std::remove(tgs.begin(), tgs.end(), 0), tgs.end());
    if (depths.empty()) depths.push_back(0);
    if (o.reps < 1 || o.n_batch < 1) {
        std::fprintf(stderr, "corvid bench: -r and -b must be positive\n");
        return 2;
    }
    if (o.output != "md" && o.output != "csv" && o.output != "json") {
        std::fprintf(stderr, "corvid bench: -o must be md, csv or json\n");
        return 2;
    }
    std::fprintf(stderr, "corvid bench: CPU kernels: %s (CORVID_CPU_ISA=avx2|avx512|... picks another)\n",
                 corvid_cpu_kernels());
    std::vector<Result> results;
    Bench b(o);
    for (const std::string &path : o.models)
        if (!b.run_model(path, threads, depths, pps, tgs, results)) return 1;

    bench::RunInfo info;
    info.build_commit = std::string("corvid ") + corvid_version();
    info.cpu_info = cpu_model_name();
    if (o.output == "json") bench::print_json(results, info);
    else if (o.output == "csv") bench::print_csv(results, info);
    else bench::print_md(results);
    return 0;
}

} // namespace

void add_bench_command(CLI::App &app, int *exit_code) {
    auto o = std::make_shared<BenchOptions>();
    CLI::App *cmd = app.add_subcommand("bench", "Measure prompt-processing and generation speed (llama-bench style)");
    cmd->add_option("-m,--model", o->models, "GGUF model file (repeatable)")->required();
    cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens per pp test, a comma list (0 = no pp test)")->capture_default_str();
    cmd->add_option("-n,--n-gen", o->n_gen, "Generated tokens per tg test, a comma list (0 = no tg test)")->capture_default_str();
    cmd->add_option("-t,--threads", o->threads, "Thread counts, a comma list (default: the physical cores)");
    cmd->add_option("-d,--n-depth", o->depth, "KV-cache depths before each test, a comma list")->capture_default_str();
    cmd->add_option("-r,--repetitions", o->reps, "Timed repetitions of each test")->capture_default_str();
    cmd->add_option("-b,--batch-size", o->n_batch, "Most tokens evaluated in one graph")->capture_default_str();
    cmd->add_option("-o,--output", o->output, "Output format: md, csv or json")->capture_default_str();
    cmd->add_option("--bw-size", o->bw_mib, "MiB read by the bandwidth probe")->capture_default_str();
    cmd->add_option("--mmap", o->mmap,
                    "1: map the file (default); 0: read it into memory (huge pages where allowed); also -mmp")
        ->capture_default_str();
    cmd->add_flag("--no-bw", o->no_bw, "Skip the bandwidth probe (no roofline column)");
    cmd->add_flag("--no-warmup", o->no_warmup, "Skip the uncounted warm-up run");
    cmd->add_flag("--progress", o->progress, "Print each test as it starts on stderr");
    cmd->add_option("--gpu-layers,--n-gpu-layers", o->gpu_layers, "Layers on the GPU (-1 = all, 0 = CPU only; also -ngl)")->capture_default_str();
    cmd->add_option("--main-gpu", o->main_gpu, "The GPU to use (also -mg)")->capture_default_str();
    cmd->callback([o, exit_code] { *exit_code = run_bench(*o); });
}

} // namespace corvid::cli
