// corvid-make-model: writes a random-weight model of a realistic shape in any type Corvid
// can quantize to, so that benchmarks and tests need no downloads.
//
//   corvid-make-model --shape 1b --type Q4_K_M -o 1b-q4_k_m.gguf [--seed 1] [--vocab V.gguf] [-t N]
//
// The file is an ordinary llama / qwen2 GGUF (llama.cpp loads it): hyperparameters of the
// shape, tokenizer.* keys copied from a vocabulary GGUF (or a synthetic SentencePiece
// vocabulary when none is found), weights drawn from an approximately normal distribution
// (N(0, 0.02), Irwin-Hall with four terms, deterministic for a seed and independent of the
// thread count), norm weights 1 (F32), biases small (F32). Tensors are generated and
// quantized one at a time with Corvid's reference quantizers, rows in parallel (OpenMP), so
// memory stays at one tensor. The per-tensor types of the mixes (Q4_K_M, ...) come from
// src/quantize/recipe.h, the recipes `corvid quantize` shares with llama.cpp.
//
// This is an internal tool: it links corvid_static because the GGUF writer is not part of
// the C API.
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "quantize/recipe.h"
#include "tensor/dtype.h"
#include "tensor/quants.h"
#include "util/error.h"

#include <CLI/CLI.hpp>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

using corvid::DType;
using corvid::gguf::Value;
using corvid::gguf::ValueType;

// ------------------------------------------------------------------ shapes

struct Shape {
    const char *name;
    const char *arch;       // "llama" or "qwen2"
    int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    float rope_base, norm_eps;
    bool qkv_bias;
    const char *default_vocab; // file under the shared vocab folder; "" = synthetic
    const char *about;
};

const Shape kShapes[] = {
    {"test", "llama", 64, 2, 4, 2, 128, 512, 512, 10000.0f, 1e-5f, false, "",
     "tiny test model (n_embd 64, 2 layers, 4 heads / 2 KV, synthetic 512-token vocabulary)"},
    {"110m", "llama", 768, 12, 12, 12, 2048, 32000, 2048, 10000.0f, 1e-5f, false, "ggml-vocab-llama-spm.gguf",
     "llama-like 110M (n_embd 768, 12 layers, 12 heads, n_ff 2048)"},
    {"1b", "llama", 2048, 16, 32, 8, 8192, 32000, 4096, 10000.0f, 1e-5f, false, "ggml-vocab-llama-spm.gguf",
     "llama-like 1B (n_embd 2048, 16 layers, 32 heads / 8 KV, n_ff 8192)"},
    {"llama2-7b", "llama", 4096, 32, 32, 32, 11008, 32000, 4096, 10000.0f, 1e-5f, false, "ggml-vocab-llama-spm.gguf",
     "Llama-2-7B (n_embd 4096, 32 layers, 32 heads, n_ff 11008)"},
    {"llama3-8b", "llama", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0f, 1e-5f, false, "ggml-vocab-llama-bpe.gguf",
     "Llama-3-8B (n_embd 4096, 32 layers, 32 heads / 8 KV, n_ff 14336, vocab 128256)"},
    {"qwen2-7b", "qwen2", 3584, 28, 28, 4, 18944, 152064, 32768, 1000000.0f, 1e-6f, true, "ggml-vocab-qwen2.gguf",
     "Qwen2-7B (n_embd 3584, 28 layers, 28 heads / 4 KV, n_ff 18944, vocab 152064, qkv biases)"},
};

const Shape *find_shape(const std::string &name) {
    for (const Shape &s : kShapes)
        if (name == s.name) return &s;
    return nullptr;
}

// ------------------------------------------------------------------ types and mixes

// --type is a llama.cpp file type (Q4_K_M, Q8_0, F16, ...; also the aliases Q3_K, Q4_K,
// Q5_K for the _M mixes, as llama-quantize): src/quantize/recipe.h decides each tensor's
// type exactly as `corvid quantize` (and llama.cpp's quantizer) would for an F32 model of
// this shape, fallbacks for rows that are not whole blocks included.
const corvid::quant::FTypeInfo *find_file_type(const std::string &name) {
    const auto f = corvid::quant::ftype_from_name(name);
    return f ? corvid::quant::ftype_info(static_cast<int32_t>(*f)) : nullptr;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// ------------------------------------------------------------------ random numbers

uint64_t splitmix64(uint64_t &state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t hash_string(const std::string &s) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

// Fills `n` values ~ N(0, sigma) (Irwin-Hall: four 16-bit uniforms per value, bounded at
// +-3.46 sigma) from a stream keyed by (seed, tensor, row): independent of the thread count.
void fill_gaussian(float *dst, int64_t n, uint64_t key, float sigma) {
    uint64_t st = key;
    splitmix64(st);
    const float scale = sigma * std::sqrt(3.0f) / 65536.0f; // the centred sum of four U(0, 65536) has sd 65536/sqrt(3)
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t r = splitmix64(st);
        const int32_t s = static_cast<int32_t>(r & 0xFFFF) + static_cast<int32_t>((r >> 16) & 0xFFFF) +
                          static_cast<int32_t>((r >> 32) & 0xFFFF) + static_cast<int32_t>(r >> 48) - 131070;
        dst[i] = static_cast<float>(s) * scale;
    }
}

// ------------------------------------------------------------------ vocabulary

// The tokenizer.* keys of a vocabulary GGUF, with tokens (and their scores / types) padded
// up to n_vocab by "[PAD<i>]" entries of type UNUSED, as converters do for padded embeddings.
std::vector<corvid::gguf::KeyValue> vocab_from_file(const std::string &path, int64_t n_vocab) {
    auto f = corvid::gguf::GgufFile::open(path);
    const Value *tokens = f->find("tokenizer.ggml.tokens");
    if (!tokens || tokens->type() != ValueType::ARRAY || tokens->elem_type() != ValueType::STRING)
        corvid::fail(corvid::Status::format, "%s: no tokenizer.ggml.tokens string array", path.c_str());
    const int64_t n_file = static_cast<int64_t>(tokens->array_size());
    if (n_file > n_vocab)
        corvid::fail(corvid::Status::invalid_argument,
                     "%s: the vocabulary has %lld tokens, more than the shape's %lld (choose a shape with a larger "
                     "vocabulary or another --vocab)", path.c_str(), static_cast<long long>(n_file),
                     static_cast<long long>(n_vocab));
    std::vector<corvid::gguf::KeyValue> out;
    for (const auto &kv : f->metadata()) {
        if (kv.key.rfind("tokenizer.", 0) != 0) continue;
        Value v = kv.value;
        if (n_file < n_vocab && v.type() == ValueType::ARRAY && static_cast<int64_t>(v.array_size()) == n_file) {
            if (kv.key == "tokenizer.ggml.tokens") {
                std::vector<std::string> s = v.strings();
                for (int64_t i = n_file; i < n_vocab; ++i) s.push_back("[PAD" + std::to_string(i) + "]");
                v = Value::string_array(std::move(s));
            } else if (kv.key == "tokenizer.ggml.scores" && v.elem_type() == ValueType::FLOAT32) {
                std::vector<uint8_t> raw = v.raw();
                raw.resize(static_cast<size_t>(n_vocab) * 4, 0); // score 0.0f
                v = Value::numeric_array(ValueType::FLOAT32, std::move(raw));
            } else if (kv.key == "tokenizer.ggml.token_type" && v.elem_type() == ValueType::INT32) {
                std::vector<int32_t> t(static_cast<size_t>(n_vocab), 5); // UNUSED
                std::memcpy(t.data(), v.raw().data(), v.raw().size());
                v = Value::array_of(ValueType::INT32, t);
            }
        }
        out.push_back({kv.key, std::move(v)});
    }
    return out;
}

// A SentencePiece ("llama") vocabulary of exactly n_vocab tokens that needs no file:
// <unk> <s> </s>, the 256 byte tokens, then pieces made of printable ASCII.
std::vector<corvid::gguf::KeyValue> synthetic_vocab(int64_t n_vocab) {
    if (n_vocab < 300) corvid::fail(corvid::Status::invalid_argument, "a synthetic vocabulary needs >= 300 tokens");
    std::vector<std::string> tok = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> type = {2, 3, 3}; // UNKNOWN, CONTROL, CONTROL
    std::vector<float> score = {0, 0, 0};
    char buf[16];
    for (int b = 0; b < 256; ++b) {
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        tok.push_back(buf);
        type.push_back(6); // BYTE
        score.push_back(0);
    }
    const std::string sp = "\xE2\x96\x81"; // U+2581, SentencePiece's space
    std::vector<std::string> pieces = {sp};
    for (int c = 33; c < 127; ++c) pieces.push_back(std::string(1, static_cast<char>(c)));
    for (int c = 'a'; c <= 'z'; ++c) pieces.push_back(sp + static_cast<char>(c));
    for (int a = 'a'; a <= 'z'; ++a)
        for (int b = 'a'; b <= 'z'; ++b) pieces.push_back(std::string{static_cast<char>(a), static_cast<char>(b)});
    for (int a = 'a'; a <= 'z'; ++a)
        for (int b = 'a'; b <= 'z'; ++b) pieces.push_back(sp + static_cast<char>(a) + static_cast<char>(b));
    for (size_t i = 0; static_cast<int64_t>(tok.size()) < n_vocab; ++i) {
        tok.push_back(i < pieces.size() ? pieces[i] : "tok" + std::to_string(i));
        type.push_back(1); // NORMAL
        score.push_back(-static_cast<float>(i));
    }
    std::vector<corvid::gguf::KeyValue> out;
    out.push_back({"tokenizer.ggml.model", Value::string("llama")});
    out.push_back({"tokenizer.ggml.pre", Value::string("default")});
    out.push_back({"tokenizer.ggml.tokens", Value::string_array(std::move(tok))});
    out.push_back({"tokenizer.ggml.scores", Value::array_of(ValueType::FLOAT32, score)});
    out.push_back({"tokenizer.ggml.token_type", Value::array_of(ValueType::INT32, type)});
    out.push_back({"tokenizer.ggml.bos_token_id", Value::u32(1)});
    out.push_back({"tokenizer.ggml.eos_token_id", Value::u32(2)});
    out.push_back({"tokenizer.ggml.unknown_token_id", Value::u32(0)});
    out.push_back({"tokenizer.ggml.add_bos_token", Value::boolean(true)});
    out.push_back({"tokenizer.ggml.add_eos_token", Value::boolean(false)});
    return out;
}

// Ctrl-C / kill while writing: remove the writer's temporary file (GgufWriter::write names
// it "<path>.tmp<pid>" and removes it on errors, but a signal ends the process first).
char g_tmp_path[4096];
extern "C" void on_signal(int sig) {
    if (g_tmp_path[0]) ::unlink(g_tmp_path);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

bool file_exists(const std::string &p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// ------------------------------------------------------------------ the model

enum class Init { gaussian, ones, bias };

struct Plan {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    Init init;
};

std::vector<Plan> plan_tensors(const Shape &s, const corvid::quant::FTypeInfo &ft) {
    const int64_t hd = s.n_embd / s.n_head, n_kv = hd * s.n_head_kv;
    std::vector<Plan> p;
    auto mat = [&](const std::string &name, int64_t ne0, int64_t ne1) {
        p.push_back({name, DType::F32, {ne0, ne1}, Init::gaussian});
    };
    mat("token_embd.weight", s.n_embd, s.n_vocab);
    for (int64_t il = 0; il < s.n_layer; ++il) {
        const std::string b = "blk." + std::to_string(il) + ".";
        p.push_back({b + "attn_norm.weight", DType::F32, {s.n_embd}, Init::ones});
        mat(b + "attn_q.weight", s.n_embd, s.n_embd);
        mat(b + "attn_k.weight", s.n_embd, n_kv);
        mat(b + "attn_v.weight", s.n_embd, n_kv);
        if (s.qkv_bias) {
            p.push_back({b + "attn_q.bias", DType::F32, {s.n_embd}, Init::bias});
            p.push_back({b + "attn_k.bias", DType::F32, {n_kv}, Init::bias});
            p.push_back({b + "attn_v.bias", DType::F32, {n_kv}, Init::bias});
        }
        mat(b + "attn_output.weight", s.n_embd, s.n_embd);
        p.push_back({b + "ffn_norm.weight", DType::F32, {s.n_embd}, Init::ones});
        mat(b + "ffn_gate.weight", s.n_embd, s.n_ff);
        mat(b + "ffn_up.weight", s.n_embd, s.n_ff);
        mat(b + "ffn_down.weight", s.n_ff, s.n_embd);
    }
    p.push_back({"output_norm.weight", DType::F32, {s.n_embd}, Init::ones});
    mat("output.weight", s.n_embd, s.n_vocab);

    // Types: the quantizer's recipe, applied in llama.cpp's order (its mixes count
    // attention-V tensors as they go) to the F32 model this would be.
    corvid::quant::ModelFacts facts;
    facts.arch = s.arch;
    facts.n_layer = s.n_layer;
    facts.n_head = s.n_head;
    facts.n_head_kv = s.n_head_kv;
    std::vector<std::string> names;
    for (const Plan &t : p) names.push_back(t.name);
    corvid::quant::RecipeOptions ro;
    ro.ftype = ft.ftype;
    corvid::quant::Recipe recipe(facts, ro, names);
    for (size_t i : corvid::quant::llama_order(names)) {
        int64_t ne[4] = {1, 1, 1, 1};
        for (size_t d = 0; d < p[i].ne.size(); ++d) ne[d] = p[i].ne[d];
        p[i].type = recipe.choose(p[i].name, DType::F32, ne).type;
    }
    return p;
}

std::string human_bytes(double b) {
    char buf[32];
    if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
    return buf;
}

struct Options {
    std::string shape, type, out, vocab;
    uint64_t seed = 1;
    int threads = 0;
    bool quiet = false;
};

int make_model(const Options &o) {
    const Shape *s = find_shape(o.shape);
    if (!s) {
        std::fprintf(stderr, "corvid-make-model: unknown shape '%s' (--list-shapes shows them)\n", o.shape.c_str());
        return 2;
    }
    const corvid::quant::FTypeInfo *ft = find_file_type(o.type);
    if (!ft) {
        std::fprintf(stderr, "corvid-make-model: unknown type '%s' (--list-types shows them)\n", o.type.c_str());
        return 2;
    }
    if (o.threads > 0) omp_set_num_threads(o.threads);

    corvid::gguf::GgufWriter w;
    const std::string a = s->arch;
    const int64_t hd = s->n_embd / s->n_head;
    w.set("general.architecture", Value::string(a));
    w.set("general.name", Value::string(std::string("corvid-random-") + s->name));
    w.set("general.file_type", Value::u32(static_cast<uint32_t>(ft->ftype)));
    if (!is_float(ft->base)) w.set("general.quantization_version", Value::u32(2));
    w.set(a + ".context_length", Value::u32(static_cast<uint32_t>(s->n_ctx)));
    w.set(a + ".embedding_length", Value::u32(static_cast<uint32_t>(s->n_embd)));
    w.set(a + ".block_count", Value::u32(static_cast<uint32_t>(s->n_layer)));
    w.set(a + ".feed_forward_length", Value::u32(static_cast<uint32_t>(s->n_ff)));
    w.set(a + ".attention.head_count", Value::u32(static_cast<uint32_t>(s->n_head)));
    w.set(a + ".attention.head_count_kv", Value::u32(static_cast<uint32_t>(s->n_head_kv)));
    w.set(a + ".attention.layer_norm_rms_epsilon", Value::f32(s->norm_eps));
    w.set(a + ".rope.freq_base", Value::f32(s->rope_base));
    w.set(a + ".rope.dimension_count", Value::u32(static_cast<uint32_t>(hd)));
    w.set(a + ".vocab_size", Value::u32(static_cast<uint32_t>(s->n_vocab)));

    std::string vocab_path = o.vocab;
    if (vocab_path.empty() && *s->default_vocab) {
        for (const char *dir : {CORVID_SHARED_VOCAB_DIR, "../shared/vocab", "/work/shared/vocab"}) {
            const std::string p = std::string(dir) + "/" + s->default_vocab;
            if (file_exists(p)) {
                vocab_path = p;
                break;
            }
        }
    }
    std::vector<corvid::gguf::KeyValue> vocab;
    if (vocab_path.empty() || vocab_path == "synthetic") {
        vocab = synthetic_vocab(s->n_vocab);
        if (!o.quiet)
            std::fprintf(stderr, "vocabulary: synthetic SentencePiece, %lld tokens\n", static_cast<long long>(s->n_vocab));
    } else {
        vocab = vocab_from_file(vocab_path, s->n_vocab);
        if (!o.quiet) std::fprintf(stderr, "vocabulary: tokenizer.* from %s\n", vocab_path.c_str());
    }
    for (auto &kv : vocab) w.set(kv.key, std::move(kv.value));

    const std::vector<Plan> plan = plan_tensors(*s, *ft);
    uint64_t total_bytes = 0, n_params = 0;
    for (const Plan &p : plan) {
        const size_t i = w.add_tensor(p.name, p.type, p.ne);
        total_bytes += w.tensors()[i].n_bytes;
        n_params += static_cast<uint64_t>(w.tensors()[i].n_elements());
    }
    if (!o.quiet)
        std::fprintf(stderr, "%s: %s %s, %.1fM parameters, %zu tensors, %s of weights, %d threads\n", o.out.c_str(),
                     s->name, ft->name, n_params / 1e6, plan.size(), human_bytes(static_cast<double>(total_bytes)).c_str(),
                     omp_get_max_threads());

    std::snprintf(g_tmp_path, sizeof g_tmp_path, "%s.tmp%d", o.out.c_str(), static_cast<int>(::getpid()));
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t done_bytes = 0;
    const bool tty = ::isatty(2);
    w.write(o.out, [&](size_t index, const corvid::gguf::TensorInfo &info, uint8_t *dst) {
        const Plan &p = plan[index];
        const int64_t ne0 = info.ne[0], rows = info.n_elements() / ne0;
        const uint64_t row_bytes = info.n_bytes / static_cast<uint64_t>(rows);
        const uint64_t key = o.seed * 0x9E3779B97F4A7C15ull ^ hash_string(p.name);
        std::atomic<bool> ok{true};
#pragma omp parallel if (info.n_elements() >= (1 << 16))
        {
            std::vector<float> row(static_cast<size_t>(ne0));
#pragma omp for schedule(dynamic, 4)
            for (int64_t r = 0; r < rows; ++r) {
                if (p.init == Init::ones) {
                    std::fill(row.begin(), row.end(), 1.0f);
                } else {
                    uint64_t rk = key + static_cast<uint64_t>(r) * 0xD1B54A32D192ED03ull;
                    fill_gaussian(row.data(), ne0, splitmix64(rk), 0.02f);
                }
                if (!corvid::quantize_row(info.type, row.data(), dst + static_cast<uint64_t>(r) * row_bytes, ne0))
                    ok = false;
            }
        }
        if (!ok) corvid::fail(corvid::Status::internal, "quantizing %s to %s failed", p.name.c_str(), corvid::dtype_name(info.type));
        done_bytes += info.n_bytes;
        if (!o.quiet) {
            const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::fprintf(stderr, "%s[%3zu/%zu] %-28s %-6s %5.1f%%  %6.1f s  %6.1f MiB/s%s", tty ? "\r" : "", index + 1,
                         plan.size(), p.name.c_str(), corvid::dtype_name(info.type), 100.0 * done_bytes / total_bytes, el,
                         done_bytes / (1024.0 * 1024.0) / std::max(el, 1e-9), tty ? "\x1b[K" : "\n");
            std::fflush(stderr);
        }
    });
    if (!o.quiet) {
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "%swrote %s (%s) in %.1f s\n", tty ? "\n" : "", o.out.c_str(),
                     human_bytes(static_cast<double>(total_bytes)).c_str(), el);
    }
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"corvid-make-model: write a random-weight model of a realistic shape (for benchmarks and tests)"};
    Options o;
    bool list_shapes = false, list_types = false;
    app.add_option("--shape", o.shape, "Model shape (--list-shapes)");
    app.add_option("--type", o.type, "Tensor type or llama.cpp mix, e.g. Q4_0, Q4_K_M, F16 (--list-types)");
    app.add_option("-o,--output", o.out, "Output GGUF file");
    app.add_option("--seed", o.seed, "Random seed (weights depend only on it)")->capture_default_str();
    app.add_option("--vocab", o.vocab,
                   "Vocabulary GGUF whose tokenizer.* keys are copied, or 'synthetic' (default: the shape's file under "
                   "../shared/vocab, else synthetic)");
    app.add_option("-t,--threads", o.threads, "Threads (0 = OpenMP's default)")->capture_default_str();
    app.add_flag("-q,--quiet", o.quiet, "No progress on stderr");
    app.add_flag("--list-shapes", list_shapes, "List the shapes");
    app.add_flag("--list-types", list_types, "List the types");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e);
    }
    if (list_shapes) {
        for (const Shape &s : kShapes) std::printf("%-10s %s\n", s.name, s.about);
        return 0;
    }
    if (list_types) {
        for (const auto &f : corvid::quant::ftype_table()) std::printf("%s ", f.name);
        std::printf("\n");
        return 0;
    }
    if (o.shape.empty() || o.type.empty() || o.out.empty()) {
        std::fprintf(stderr, "corvid-make-model: --shape, --type and -o are required (see --help)\n");
        return 2;
    }
    try {
        return make_model(o);
    } catch (const corvid::Error &e) {
        std::fprintf(stderr, "\ncorvid-make-model: %s\n", e.what());
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "\ncorvid-make-model: %s\n", e.what());
        return 1;
    }
}
