// `corvid template (-m MODEL | --file T.jinja) --messages CONV.json [--add-generation-prompt]
// [--tools TOOLS.json]`: prints the prompt a chat template renders, to debug prompts.
#include "commands.h"
#include "common.h"

namespace corvid::cli {
namespace {

struct TemplateOptions {
    std::string model, file, name, messages, tools;
    bool add_generation_prompt = false;
};

int run_template(const TemplateOptions &o) {
    std::string tmpl = o.name, messages, tools;
    if (!o.file.empty() && !read_text_file("template", o.file, tmpl)) return 1;
    if (!read_text_file("template", o.messages, messages)) return 1;
    if (!o.tools.empty() && !read_text_file("template", o.tools, tools)) return 1;
    corvid_model *m = nullptr;
    if (!o.model.empty() && !(m = open_model("template", o.model, CORVID_LOAD_VOCAB_ONLY))) return 1;
    const char *t = tmpl.empty() ? nullptr : tmpl.c_str();
    const char *tl = tools.empty() ? nullptr : tools.c_str();
    std::string out(8192, '\0');
    size_t n = 0;
    corvid_status st = corvid_chat_apply_template(m, t, messages.c_str(), tl, o.add_generation_prompt, out.data(), out.size(), &n);
    if (st == CORVID_ERR_BUFFER_TOO_SMALL) {
        out.resize(n);
        st = corvid_chat_apply_template(m, t, messages.c_str(), tl, o.add_generation_prompt, out.data(), out.size(), &n);
    }
    corvid_model_close(m);
    if (st != CORVID_OK) {
        std::fprintf(stderr, "corvid template: %s\n", corvid_last_error());
        return 1;
    }
    std::fwrite(out.data(), 1, n, stdout);
    return 0;
}

} // namespace

void add_template_command(CLI::App &app, int *exit_code) {
    auto o = std::make_shared<TemplateOptions>();
    CLI::App *cmd = app.add_subcommand("template", "Render a conversation with a chat template and print the prompt");
    auto *m = cmd->add_option("-m,--model", o->model, "Use the model's chat template (a vocabulary-only GGUF is enough)");
    auto *f = cmd->add_option("--file", o->file, "Use the Jinja template in this file");
    auto *b = cmd->add_option("--builtin", o->name, "Use a built-in template: gemma, chatml, llama3, llama2");
    f->excludes(b);
    cmd->add_option("--messages", o->messages, "JSON file: an array of {\"role\", \"content\"} messages")->required();
    cmd->add_option("--tools", o->tools, "JSON file: an array of tool definitions");
    cmd->add_flag("--add-generation-prompt", o->add_generation_prompt, "End with the start of the assistant's turn");
    cmd->callback([o, exit_code, m, f, b] {
        if (m->count() == 0 && f->count() == 0 && b->count() == 0) {
            std::fprintf(stderr, "corvid template: give -m MODEL, --file T.jinja or --builtin NAME\n");
            *exit_code = 2;
            return;
        }
        *exit_code = run_template(*o);
    });
}

} // namespace corvid::cli
