// `corvid info MODEL.gguf`: what is in a GGUF file — header, metadata, tensor table —
// as text for people or as JSON (--json) for scripts. Uses only the public C API.
#include "commands.h"
#include "info/json_out.h"

#include <corvid.h>

#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

namespace corvid::cli {
namespace {

struct InfoOptions {
    std::string path;
    bool json = false;
    bool no_tensors = false;
    size_t array_items = 8;
};

// 1234567 -> "1,234,567"
std::string grouped(uint64_t v) {
    std::string s = std::to_string(v);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
    return s;
}

std::string human_bytes(uint64_t b) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
    return buf;
}

std::string human_count(uint64_t n) {
    char buf[32];
    if (n >= 1000000000ULL) std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
    else if (n >= 1000000ULL) std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
    else if (n >= 1000ULL) std::snprintf(buf, sizeof buf, "%.2f K", n / 1e3);
    else std::snprintf(buf, sizeof buf, "%" PRIu64, n);
    return buf;
}

std::string shape_text(const corvid_tensor_info &t) {
    std::string s = "[";
    for (uint32_t d = 0; d < t.n_dims; ++d) {
        if (d) s += ", ";
        s += std::to_string(t.ne[d]);
    }
    return s + "]";
}

std::string meta_text(const corvid_model *m, const char *key, size_t items) {
    const int64_t n = corvid_model_meta_format(m, key, nullptr, 0, items);
    if (n < 0) return "?";
    std::string s(static_cast<size_t>(n), '\0');
    corvid_model_meta_format(m, key, s.data(), s.size() + 1, items);
    return s;
}

std::string value_type_text(const corvid_model *m, const char *key) {
    corvid_value_type t = CORVID_VALUE_UINT8, et = CORVID_VALUE_UINT8;
    uint64_t len = 0;
    if (corvid_model_meta_type(m, key, &t, &et, &len) != CORVID_OK) return "?";
    if (t != CORVID_VALUE_ARRAY) return corvid_value_type_name(t);
    return std::string("[") + corvid_value_type_name(et) + "]";
}

void print_text(const corvid_model *m, const InfoOptions &o) {
    const char *arch = corvid_model_architecture(m);
    std::printf("file:      %s\n", o.path.c_str());
    std::printf("size:      %s bytes (%s)\n", grouped(corvid_model_file_size(m)).c_str(),
                human_bytes(corvid_model_file_size(m)).c_str());
    std::printf("gguf:      version %u, alignment %u, %" PRId64 " metadata keys, %" PRId64
                " tensors, data at byte %" PRIu64 "\n",
                corvid_model_gguf_version(m), corvid_model_alignment(m), corvid_model_meta_count(m),
                corvid_model_n_tensors(m), corvid_model_data_offset(m));
    std::printf("model:     %s%s%s%s\n", *arch ? arch : "(no general.architecture)",
                *corvid_model_name(m) ? " \"" : "", corvid_model_name(m), *corvid_model_name(m) ? "\"" : "");
    auto opt = [](int64_t v) { return v < 0 ? std::string("?") : grouped(static_cast<uint64_t>(v)); };
    std::printf("layers:    %s\nembedding: %s\nvocab:     %s\ncontext:   %s (training)\n",
                opt(corvid_model_n_layers(m)).c_str(), opt(corvid_model_n_embd(m)).c_str(),
                opt(corvid_model_n_vocab(m)).c_str(), opt(corvid_model_n_ctx_train(m)).c_str());
    std::printf("params:    %s (%s)\n", grouped(corvid_model_n_params(m)).c_str(),
                human_count(corvid_model_n_params(m)).c_str());

    std::printf("\nmetadata (%" PRId64 "):\n", corvid_model_meta_count(m));
    size_t key_w = 0;
    for (int64_t i = 0; i < corvid_model_meta_count(m); ++i)
        key_w = std::max(key_w, std::string(corvid_model_meta_key(m, i)).size());
    for (int64_t i = 0; i < corvid_model_meta_count(m); ++i) {
        const char *k = corvid_model_meta_key(m, i);
        std::printf("  %-*s %-10s = %s\n", static_cast<int>(key_w), k, value_type_text(m, k).c_str(),
                    meta_text(m, k, o.array_items).c_str());
    }
    if (o.no_tensors) return;

    std::printf("\ntensors (%" PRId64 "):\n", corvid_model_n_tensors(m));
    std::vector<corvid_tensor_info> ts(static_cast<size_t>(corvid_model_n_tensors(m)));
    size_t name_w = 4;
    for (size_t i = 0; i < ts.size(); ++i) {
        corvid_model_tensor_info(m, static_cast<int64_t>(i), &ts[i]);
        name_w = std::max(name_w, std::string(ts[i].name).size());
    }
    std::printf("  %5s  %-*s  %-7s  %-24s  %14s  %14s\n", "#", static_cast<int>(name_w), "name", "type", "shape",
                "offset", "bytes");
    for (size_t i = 0; i < ts.size(); ++i) {
        const auto &t = ts[i];
        std::printf("  %5zu  %-*s  %-7s  %-24s  %14" PRIu64 "  %14" PRIu64 "\n", i, static_cast<int>(name_w), t.name,
                    corvid_type_name(t.type), shape_text(t).c_str(), t.file_offset, t.n_bytes);
    }
}

void json_value(JsonOut &j, const corvid_model *m, const char *key, size_t items) {
    corvid_value_type t = CORVID_VALUE_UINT8, et = CORVID_VALUE_UINT8;
    uint64_t len = 0;
    corvid_model_meta_type(m, key, &t, &et, &len);
    j.begin_object();
    j.key("type");
    j.string(std::string(corvid_value_type_name(t)));
    auto scalar = [&](corvid_value_type type, auto &&get_int, auto &&get_float, auto &&get_str, auto &&get_bool) {
        switch (type) {
        case CORVID_VALUE_FLOAT32:
        case CORVID_VALUE_FLOAT64: j.number(get_float()); break;
        case CORVID_VALUE_BOOL: j.boolean(get_bool()); break;
        case CORVID_VALUE_STRING: {
            const char *s = nullptr;
            size_t n = 0;
            get_str(&s, &n);
            j.string(s ? s : "", s ? n : 0);
            break;
        }
        default: get_int(); break;
        }
    };
    if (t != CORVID_VALUE_ARRAY) {
        j.key("value");
        scalar(
            t,
            [&] {
                int64_t v = 0;
                // uint64 values above INT64_MAX are printed from the text rendering.
                if (corvid_model_meta_int(m, key, &v) == CORVID_OK) j.number(v);
                else j.number_u(std::stoull(meta_text(m, key, 0)));
            },
            [&] { double v = 0; corvid_model_meta_float(m, key, &v); return v; },
            [&](const char **s, size_t *n) { corvid_model_meta_string(m, key, s, n); },
            [&] { bool v = false; corvid_model_meta_bool(m, key, &v); return v; });
    } else {
        j.key("elem_type");
        j.string(std::string(corvid_value_type_name(et)));
        j.key("length");
        j.number_u(len);
        j.key("items");
        j.begin_array();
        const uint64_t shown = items == 0 ? len : std::min<uint64_t>(len, items);
        for (uint64_t i = 0; i < shown; ++i) {
            scalar(
                et,
                [&] {
                    int64_t v = 0;
                    if (corvid_model_meta_array_int(m, key, i, &v) == CORVID_OK) j.number(v);
                    else j.null(); // a uint64 element above INT64_MAX
                },
                [&] { double v = 0; corvid_model_meta_array_float(m, key, i, &v); return v; },
                [&](const char **s, size_t *n) { corvid_model_meta_array_string(m, key, i, s, n); },
                [&] { int64_t v = 0; corvid_model_meta_array_int(m, key, i, &v); return v != 0; });
        }
        j.end_array();
    }
    j.end_object();
}

void print_json(const corvid_model *m, const InfoOptions &o) {
    JsonOut j(stdout);
    j.begin_object();
    j.key("file"); j.string(o.path);
    j.key("file_size"); j.number_u(corvid_model_file_size(m));
    j.key("gguf_version"); j.number(static_cast<int64_t>(corvid_model_gguf_version(m)));
    j.key("alignment"); j.number(static_cast<int64_t>(corvid_model_alignment(m)));
    j.key("data_offset"); j.number_u(corvid_model_data_offset(m));
    j.key("architecture"); j.string(std::string(corvid_model_architecture(m)));
    j.key("name"); j.string(std::string(corvid_model_name(m)));
    auto opt = [&](const char *k, int64_t v) { j.key(k); if (v < 0) j.null(); else j.number(v); };
    opt("n_layers", corvid_model_n_layers(m));
    opt("n_embd", corvid_model_n_embd(m));
    opt("n_vocab", corvid_model_n_vocab(m));
    opt("n_ctx_train", corvid_model_n_ctx_train(m));
    j.key("n_params"); j.number_u(corvid_model_n_params(m));
    j.key("metadata");
    j.begin_object();
    for (int64_t i = 0; i < corvid_model_meta_count(m); ++i) {
        const char *k = corvid_model_meta_key(m, i);
        j.key(k);
        json_value(j, m, k, o.array_items);
    }
    j.end_object();
    j.key("tensors");
    j.begin_array();
    if (!o.no_tensors)
        for (int64_t i = 0; i < corvid_model_n_tensors(m); ++i) {
            corvid_tensor_info t;
            corvid_model_tensor_info(m, i, &t);
            j.begin_object();
            j.key("name"); j.string(std::string(t.name));
            j.key("type"); j.string(std::string(corvid_type_name(t.type)));
            j.key("shape");
            j.begin_array();
            for (uint32_t d = 0; d < t.n_dims; ++d) j.number(t.ne[d]);
            j.end_array();
            j.key("offset"); j.number_u(t.file_offset);
            j.key("bytes"); j.number_u(t.n_bytes);
            j.end_object();
        }
    j.end_array();
    j.end_object();
    std::fputc('\n', stdout);
}

int run_info(const InfoOptions &o) {
    corvid_model_params p = corvid_model_default_params();
    p.load_mode = CORVID_LOAD_METADATA_ONLY; // inspecting a file needs no weights or tokenizer
    corvid_model *m = nullptr;
    const corvid_status st = corvid_model_open(o.path.c_str(), &p, &m);
    if (st != CORVID_OK) {
        std::fprintf(stderr, "corvid info: %s\n", corvid_last_error());
        return 1;
    }
    if (o.json) print_json(m, o);
    else print_text(m, o);
    corvid_model_close(m);
    return std::ferror(stdout) ? 1 : 0;
}

} // namespace

void add_info_command(CLI::App &app, int *exit_code) {
    auto opts = std::make_shared<InfoOptions>();
    CLI::App *cmd = app.add_subcommand("info", "Show a GGUF file's header, metadata and tensor table");
    cmd->add_option("model", opts->path, "GGUF file")->required();
    cmd->add_flag("--json", opts->json, "Print one JSON object (for scripts)");
    cmd->add_flag("--no-tensors", opts->no_tensors, "Leave out the tensor table");
    cmd->add_option("--array-items", opts->array_items, "Array elements to show per key (0 = all)")->capture_default_str();
    cmd->callback([opts, exit_code] { *exit_code = run_info(*opts); });
}

} // namespace corvid::cli
