// `corvid quantize IN.gguf OUT.gguf TYPE [--allow-requantize] [--tensor-type PATTERN=TYPE ...]
//  [-t THREADS] [--imatrix FILE]`: makes a quantized model the way llama.cpp's llama-quantize
// does (same per-tensor recipes, same file layout). Uses only the public C API.
#include "commands.h"
#include "common.h"

#include <corvid.h>

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace corvid::cli {
namespace {

struct QuantizeOptions {
    std::string input, output, type;
    bool allow_requantize = false, pure = false, keep_order = false, quiet = false;
    std::vector<std::string> tensor_types;
    std::string output_tensor_type, token_embedding_type, imatrix;
    int threads = 0;
};

struct ProgressState {
    bool tty = false;
    bool quiet = false;
    bool line_open = false; // a \r progress line is on screen
};

ProgressState g_progress; // the log callback needs it too

bool iequal(const std::string &a, const char *b) {
    size_t i = 0;
    for (; i < a.size() && b[i]; ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return i == a.size() && !b[i];
}

// A tensor type name ("q8_0", "Q6_K") as a corvid_type id, or -1.
int32_t parse_tensor_type(const std::string &name) {
    for (uint32_t id = 0; id < 64; ++id) {
        const char *n = corvid_type_name(id);
        if (n && iequal(name, n)) return static_cast<int32_t>(id);
    }
    return -1;
}

std::string tensor_type_names() {
    std::string s;
    for (uint32_t id = 0; id < 64; ++id)
        if (const char *n = corvid_type_name(id); n && corvid_type_is_supported(id)) s += std::string(s.empty() ? "" : ", ") + n;
    return s;
}

void end_progress_line() {
    if (g_progress.line_open) {
        std::fputc('\n', stderr);
        g_progress.line_open = false;
    }
}

void on_log(corvid_log_level level, const char *message, void *) {
    std::string m = message;
    // Notes about the importance matrix (which tensors it covers) are shown unless -q.
    const bool imatrix_note = level == CORVID_LOG_INFO && m.find("importance matrix") != std::string::npos;
    if (level < CORVID_LOG_WARN && !(imatrix_note && !g_progress.quiet)) return;
    end_progress_line();
    if (m.rfind("quantize: ", 0) == 0) m.erase(0, 10); // the library's prefix; ours says it already
    const char *tag = level == CORVID_LOG_ERROR ? "error: " : level == CORVID_LOG_WARN ? "warning: " : "";
    std::fprintf(stderr, "corvid quantize: %s%s\n", tag, m.c_str());
}

std::string eta_text(double s) {
    char buf[32];
    const long t = static_cast<long>(s + 0.5);
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

double mib(uint64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); }

bool on_progress(const corvid_quantize_progress *p, void *) {
    if (g_progress.quiet) return true;
    const double frac = p->n_elements_total ? static_cast<double>(p->n_elements_done) / p->n_elements_total : 1.0;
    std::string eta = "--:--";
    if (p->n_elements_done > 0 && frac > 0) eta = eta_text(p->elapsed_seconds * (1.0 - frac) / frac);
    char line[512];
    std::snprintf(line, sizeof line, "[%4zu/%4zu] %3.0f%% %-34s %6s -> %-6s %9.2f MiB -> %9.2f MiB  ETA %s",
                  p->tensor_index + 1, p->n_tensors, 100.0 * frac, p->name, corvid_type_name(p->src_type),
                  corvid_type_name(p->dst_type), mib(p->src_bytes), mib(p->dst_bytes), eta.c_str());
    if (g_progress.tty) {
        std::fprintf(stderr, "\r%s\x1b[K", line);
        g_progress.line_open = true;
    } else {
        std::fprintf(stderr, "%s\n", line);
    }
    std::fflush(stderr);
    return true;
}

int run_quantize(const QuantizeOptions &o) {
    const char *cmd = "corvid quantize";
    corvid_quantize_params p = corvid_quantize_default_params();
    if (corvid_ftype_from_name(o.type.c_str(), &p.ftype) != CORVID_OK) {
        std::fprintf(stderr, "%s: %s\n", cmd, corvid_last_error());
        return 2;
    }
    if (!o.imatrix.empty()) p.imatrix_path = o.imatrix.c_str();
    std::vector<std::string> patterns;
    std::vector<corvid_quantize_tensor_type> overrides;
    patterns.reserve(o.tensor_types.size());
    for (const std::string &tt : o.tensor_types) {
        const size_t eq = tt.rfind('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == tt.size()) {
            std::fprintf(stderr, "%s: --tensor-type '%s': expected PATTERN=TYPE, e.g. attn_v=q8_0\n", cmd, tt.c_str());
            return 2;
        }
        const int32_t t = parse_tensor_type(tt.substr(eq + 1));
        if (t < 0) {
            std::fprintf(stderr, "%s: --tensor-type '%s': unknown tensor type '%s' (valid: %s)\n", cmd, tt.c_str(),
                         tt.substr(eq + 1).c_str(), tensor_type_names().c_str());
            return 2;
        }
        patterns.push_back(tt.substr(0, eq));
        overrides.push_back({nullptr, static_cast<corvid_type>(t)});
    }
    for (size_t i = 0; i < overrides.size(); ++i) overrides[i].pattern = patterns[i].c_str();
    for (auto [name, field] : {std::make_pair(&o.output_tensor_type, &p.output_tensor_type),
                               std::make_pair(&o.token_embedding_type, &p.token_embedding_type)}) {
        if (name->empty()) continue;
        *field = parse_tensor_type(*name);
        if (*field < 0) {
            std::fprintf(stderr, "%s: unknown tensor type '%s' (valid: %s)\n", cmd, name->c_str(),
                         tensor_type_names().c_str());
            return 2;
        }
    }
    p.tensor_types = overrides.data();
    p.n_tensor_types = overrides.size();
    p.n_threads = o.threads;
    p.allow_requantize = o.allow_requantize;
    p.pure = o.pure;
    p.keep_tensor_order = o.keep_order;
    p.progress_callback = on_progress;

    g_progress.tty = isatty(fileno(stderr));
    g_progress.quiet = o.quiet;
    corvid_set_log_callback(on_log, nullptr);
    if (!o.quiet)
        std::fprintf(stderr, "%s: %s -> %s as %s\n", cmd, o.input.c_str(), o.output.c_str(),
                     corvid_ftype_name(p.ftype));
    corvid_quantize_stats s{};
    const corvid_status st = corvid_model_quantize(o.input.c_str(), o.output.c_str(), &p, &s);
    end_progress_line();
    corvid_set_log_callback(print_library_log, nullptr);
    if (st != CORVID_OK) {
        std::fprintf(stderr, "%s: %s\n", cmd, corvid_last_error());
        return 1;
    }
    const double n = s.n_elements ? static_cast<double>(s.n_elements) : 1.0;
    std::printf("model size: %10.2f MiB (%.2f bits per weight)\n", mib(s.src_tensor_bytes), s.src_tensor_bytes * 8.0 / n);
    std::printf("quant size: %10.2f MiB (%.2f bits per weight)\n", mib(s.dst_tensor_bytes), s.dst_tensor_bytes * 8.0 / n);
    std::printf("file: %.2f MiB -> %.2f MiB (%.1f%%); %llu tensors, %llu converted, %llu fallback(s); %.1f s\n",
                mib(s.src_file_bytes), mib(s.dst_file_bytes),
                s.src_file_bytes ? 100.0 * s.dst_file_bytes / s.src_file_bytes : 0.0,
                static_cast<unsigned long long>(s.n_tensors), static_cast<unsigned long long>(s.n_converted),
                static_cast<unsigned long long>(s.n_fallback), s.seconds);
    return 0;
}

std::string type_help() {
    std::string s = "Target: ";
    for (int32_t f = 0; f < 64; ++f)
        if (const char *n = corvid_ftype_name(f)) s += std::string(n) + " ";
    return s + "(case-insensitive; Q4_K = Q4_K_M)";
}

} // namespace

void add_quantize_command(CLI::App &app, int *exit_code) {
    auto o = std::make_shared<QuantizeOptions>();
    CLI::App *cmd = app.add_subcommand("quantize", "Quantize a GGUF model (llama.cpp's recipes and file layout)");
    cmd->add_option("input", o->input, "GGUF model to read (F32/F16/BF16)")->required();
    cmd->add_option("output", o->output, "GGUF file to write (replaced only when complete)")->required();
    cmd->add_option("type", o->type, type_help())->required();
    cmd->add_flag("--allow-requantize", o->allow_requantize,
                  "Allow converting tensors that are already quantized (dequantize, then quantize: lower quality)");
    cmd->add_option("--tensor-type", o->tensor_types,
                    "PATTERN=TYPE: tensors whose name matches the regex PATTERN become TYPE (repeatable; first match wins)");
    cmd->add_option("--output-tensor-type", o->output_tensor_type, "Type of output.weight");
    cmd->add_option("--token-embedding-type", o->token_embedding_type, "Type of token_embd.weight");
    cmd->add_flag("--pure", o->pure, "No mix: every weight matrix in the base type");
    cmd->add_flag("--keep-order", o->keep_order,
                  "Keep the input's tensor order (default: llama.cpp's order, for byte-identical files)");
    cmd->add_option("-t,--threads", o->threads, "Threads (default: all cores)");
    cmd->add_option("--imatrix", o->imatrix, "Importance matrix from llama-imatrix (GGUF or legacy .dat): weights the quantization errors per column");
    cmd->add_flag("-q,--quiet", o->quiet, "No progress lines");
    cmd->callback([o, exit_code] { *exit_code = run_quantize(*o); });
}

} // namespace corvid::cli
