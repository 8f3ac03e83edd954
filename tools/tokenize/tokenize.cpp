// `corvid tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--no-bos] [--parse-special]`:
// prints the tokens of a text the way llama.cpp's llama-tokenize does — one
// "<id> -> '<piece>'" line per token, or with --ids a list like [1, 2, 3].
#include "commands.h"
#include "common.h"

namespace corvid::cli {
namespace {

struct TokenizeOptions {
    std::string model, prompt, file;
    bool ids = false, no_bos = false, parse_special = false, show_count = false;
};

int run_tokenize(const TokenizeOptions &o) {
    std::string text = o.prompt;
    if (!o.file.empty() && !read_text_file("tokenize", o.file, text)) return 1;
    corvid_model *m = open_model("tokenize", o.model, CORVID_LOAD_VOCAB_ONLY);
    if (!m) return 1;
    std::vector<int32_t> toks;
    if (tokenize(m, text, !o.no_bos, o.parse_special, toks) != CORVID_OK) {
        std::fprintf(stderr, "corvid tokenize: %s\n", corvid_last_error());
        corvid_model_close(m);
        return 1;
    }
    if (o.ids) {
        std::printf("[");
        for (size_t i = 0; i < toks.size(); ++i) std::printf("%s%d", i ? ", " : "", toks[i]);
        std::printf("]\n");
    } else {
        for (int32_t t : toks) std::printf("%6d -> '%s'\n", t, piece(m, t, true).c_str());
    }
    if (o.show_count) std::printf("Total number of tokens: %zu\n", toks.size());
    corvid_model_close(m);
    return 0;
}

} // namespace

void add_tokenize_command(CLI::App &app, int *exit_code) {
    auto o = std::make_shared<TokenizeOptions>();
    CLI::App *cmd = app.add_subcommand("tokenize", "Print the tokens of a text");
    cmd->add_option("-m,--model", o->model, "GGUF file (a vocabulary-only GGUF is enough)")->required();
    auto *p = cmd->add_option("-p,--prompt", o->prompt, "Text to tokenize");
    auto *f = cmd->add_option("-f,--file", o->file, "File whose contents to tokenize");
    p->excludes(f);
    cmd->add_flag("--ids", o->ids, "Print only the ids, as [1, 2, 3]");
    cmd->add_flag("--no-bos", o->no_bos, "Do not add the BOS/EOS tokens the model asks for");
    cmd->add_flag("--parse-special", o->parse_special, "Turn special-token text like <s> into those tokens");
    cmd->add_flag("--show-count", o->show_count, "Print the number of tokens at the end");
    cmd->callback([o, exit_code, p, f] {
        if (p->count() == 0 && f->count() == 0) {
            std::fprintf(stderr, "corvid tokenize: give a text with -p or a file with -f\n");
            *exit_code = 2;
            return;
        }
        *exit_code = run_tokenize(*o);
    });
}

} // namespace corvid::cli
