// `corvid run -m MODEL -p PROMPT [-n N] [--temp T --top-k K --top-p P --seed S]`:
// generates a continuation of the prompt, streaming the text to stdout, and ends with
// a line of timings on stderr.
#include "commands.h"
#include "common.h"
#include "gpu_options.h"
#include "sampling_options.h"

#include <algorithm>
#include <chrono>

namespace corvid::cli {
namespace {

struct RunOptions {
    std::string model, prompt, file;
    int n_predict = 128;
    uint32_t n_ctx = 0, n_batch = 512;
    int threads = 0;
    GpuOptions gpu;
    SamplingOptions sampling;
    bool no_special = false, ignore_eos = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int fail_with(const char *what, corvid_context *ctx, corvid_sampler *smp, corvid_model *m) {
    std::fprintf(stderr, "\ncorvid run: %s: %s\n", what, corvid_last_error());
    corvid_sampler_free(smp);
    corvid_context_free(ctx);
    corvid_model_close(m);
    return 1;
}

int run_generate(RunOptions &o) {
    std::string prompt = o.prompt;
    if (!o.file.empty() && !read_text_file("run", o.file, prompt)) return 1;
    const auto t_load = std::chrono::steady_clock::now();
    corvid_model *m = open_model("run", o.model, CORVID_LOAD_FULL, o.gpu.gpu_layers, o.gpu.main_gpu, !o.gpu.no_mmap);
    if (!m) return 1;
    corvid_context_params cp = corvid_context_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_batch = o.n_batch;
    cp.n_threads = o.threads;
    corvid_context *ctx = nullptr;
    corvid_sampler *smp = nullptr;
    if (corvid_context_create(m, &cp, &ctx) != CORVID_OK) return fail_with("creating the context", ctx, smp, m);
    if (corvid_sampler_create(m, &o.sampling.p, &smp) != CORVID_OK) return fail_with("creating the sampler", ctx, smp, m);
    const double load_s = seconds_since(t_load);

    std::vector<int32_t> toks;
    if (tokenize(m, prompt, true, !o.no_special, toks) != CORVID_OK) return fail_with("tokenizing the prompt", ctx, smp, m);
    if (toks.empty()) {
        std::fprintf(stderr, "corvid run: the prompt is empty and the model adds no BOS token\n");
        return fail_with("tokenizing the prompt", ctx, smp, m);
    }
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);

    const auto t_prompt = std::chrono::steady_clock::now();
    corvid_batch b = {toks.size(), toks.data(), nullptr, nullptr, nullptr};
    if (corvid_decode(ctx, &b) != CORVID_OK) return fail_with("evaluating the prompt", ctx, smp, m);
    for (int32_t t : toks) corvid_sampler_accept(smp, t); // the penalties see the prompt too
    const double prompt_s = seconds_since(t_prompt);

    const auto t_gen = std::chrono::steady_clock::now();
    int n_gen = 0;
    for (; n_gen < o.n_predict; ++n_gen) {
        int32_t t = 0;
        if (corvid_sampler_sample(smp, ctx, -1, &t) != CORVID_OK) return fail_with("sampling", ctx, smp, m);
        if (!o.ignore_eos && corvid_vocab_is_eog(m, t)) break;
        const std::string text = piece(m, t, false);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        if (n_gen + 1 == o.n_predict) {
            ++n_gen;
            break;
        }
        corvid_batch one = {1, &t, nullptr, nullptr, nullptr};
        if (corvid_decode(ctx, &one) != CORVID_OK) return fail_with("generating", ctx, smp, m);
    }
    const double gen_s = seconds_since(t_gen);
    std::printf("\n");
    std::fprintf(stderr, "load %.2f s | prompt %zu tokens in %.3f s (%.2f tok/s) | generation %d tokens in %.3f s (%.2f tok/s)\n",
                 load_s, toks.size(), prompt_s, toks.size() / std::max(prompt_s, 1e-9), n_gen, gen_s,
                 n_gen / std::max(gen_s, 1e-9));
    corvid_sampler_free(smp);
    corvid_context_free(ctx);
    corvid_model_close(m);
    return 0;
}

} // namespace

void add_run_command(CLI::App &app, int *exit_code) {
    auto o = std::make_shared<RunOptions>();
    CLI::App *cmd = app.add_subcommand("run", "Generate a continuation of a prompt");
    cmd->add_option("-m,--model", o->model, "GGUF model file")->required();
    auto *p = cmd->add_option("-p,--prompt", o->prompt, "Prompt text");
    auto *f = cmd->add_option("-f,--file", o->file, "Read the prompt from a file");
    p->excludes(f);
    cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate")->capture_default_str();
    cmd->add_option("-c,--ctx-size", o->n_ctx, "Context size (0 = the model's, at most 4096)")->capture_default_str();
    cmd->add_option("-b,--batch-size", o->n_batch, "Tokens per evaluation")->capture_default_str();
    cmd->add_option("-t,--threads", o->threads, "Threads (0 = physical cores)")->capture_default_str();
    add_gpu_options(cmd, &o->gpu);
    add_sampling_options(cmd, o->sampling);
    cmd->add_flag("--no-special", o->no_special, "Treat special-token text in the prompt as plain text");
    cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-generation tokens");
    cmd->callback([o, exit_code, p, f] {
        if (p->count() == 0 && f->count() == 0) {
            std::fprintf(stderr, "corvid run: give a prompt with -p or a file with -f\n");
            *exit_code = 2;
            return;
        }
        if (!o->sampling.finish("run")) {
            *exit_code = 2;
            return;
        }
        *exit_code = run_generate(*o);
    });
}

} // namespace corvid::cli
