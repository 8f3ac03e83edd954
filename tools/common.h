// Small helpers the subcommands share: opening a model with a clear error, reading files.
#pragma once

#include <corvid.h>

#include <cstdio>
#include <string>
#include <vector>

namespace corvid::cli {

// The program's log callback (main() installs it): the library's warnings and errors go to
// stderr as "corvid: warning: ..." (a GPU asked for but absent, JSON Schema keywords
// skipped); info and debug messages are for embedders that ask for them.
inline void print_library_log(corvid_log_level level, const char *message, void *) {
    if (level < CORVID_LOG_WARN) return;
    std::fprintf(stderr, "corvid: %s%s\n", level == CORVID_LOG_ERROR ? "error: " : "warning: ", message);
}

// Opens `path` in `mode` (with n_gpu_layers / main_gpu when given); on failure prints
// "corvid <cmd>: <message>" and returns NULL.
inline corvid_model *open_model(const char *cmd, const std::string &path, corvid_load_mode mode,
                                int n_gpu_layers = -1, int main_gpu = 0, bool use_mmap = true) {
    corvid_model_params p = corvid_model_default_params();
    p.load_mode = mode;
    p.use_mmap = use_mmap;
    p.n_gpu_layers = n_gpu_layers;
    p.main_gpu = main_gpu;
    corvid_model *m = nullptr;
    if (corvid_model_open(path.c_str(), &p, &m) != CORVID_OK) {
        std::fprintf(stderr, "corvid %s: %s\n", cmd, corvid_last_error());
        return nullptr;
    }
    return m;
}

// Reads a whole file; false (with a message on stderr) when it cannot.
inline bool read_text_file(const char *cmd, const std::string &path, std::string &out) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) {
        std::fprintf(stderr, "corvid %s: cannot open %s\n", cmd, path.c_str());
        return false;
    }
    char buf[65536];
    size_t n;
    out.clear();
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    const bool ok = !std::ferror(f);
    std::fclose(f);
    if (!ok) std::fprintf(stderr, "corvid %s: error reading %s\n", cmd, path.c_str());
    return ok;
}

// Tokenizes with the two-call buffer protocol of corvid_tokenize.
inline corvid_status tokenize(const corvid_model *m, const std::string &text, bool add_special, bool parse_special,
                              std::vector<int32_t> &out) {
    size_t n = 0;
    out.resize(text.size() + 8);
    corvid_status st = corvid_tokenize(m, text.data(), text.size(), add_special, parse_special, out.data(), out.size(), &n);
    if (st == CORVID_ERR_BUFFER_TOO_SMALL) {
        out.resize(n);
        st = corvid_tokenize(m, text.data(), text.size(), add_special, parse_special, out.data(), out.size(), &n);
    }
    out.resize(st == CORVID_OK ? n : 0);
    return st;
}

inline std::string piece(const corvid_model *m, int32_t token, bool render_special) {
    std::string s(64, '\0');
    size_t n = 0;
    if (corvid_token_to_piece(m, token, render_special, s.data(), s.size(), &n) == CORVID_ERR_BUFFER_TOO_SMALL) {
        s.resize(n);
        corvid_token_to_piece(m, token, render_special, s.data(), s.size(), &n);
    }
    s.resize(n);
    return s;
}

} // namespace corvid::cli
