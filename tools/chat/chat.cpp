// `corvid chat -m MODEL`: an interactive conversation in the terminal, or — with stdin
// not a terminal — one user turn per input line with plain replies, for scripts.
#include "chat/chat_session.h"
#include "commands.h"
#include "common.h"
#include "gpu_options.h"
#include "sampling_options.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace corvid::cli {
namespace {

std::atomic<bool> g_interrupt{false};

void on_sigint(int) { g_interrupt = true; }

struct ChatOptions {
    std::string model, system, chat_template, policy = "drop";
    uint32_t n_ctx = 4096, n_batch = 512;
    int threads = 0;
    GpuOptions gpu;
    int32_t n_predict = -1;
    SamplingOptions sampling;
};

bool progress_bar(float f, void *) {
    const int width = 30, done = static_cast<int>(f * width);
    std::fprintf(stderr, "\rloading [%.*s%*s] %3d%%", done, "##############################", width - done, "",
                 static_cast<int>(f * 100));
    if (f >= 1.0f) std::fprintf(stderr, "\r%*s\r", width + 20, "");
    return true;
}

// Reads one line; false at end of input. With a terminal, a line ending in '\' continues
// on the next, and a line of """ starts/ends a multi-line block. Ctrl-C while reading
// just prints a hint.
bool read_turn(bool tty, std::string &out) {
    out.clear();
    bool block = false;
    while (true) {
        if (tty) std::fputs(out.empty() && !block ? "> " : ". ", stdout), std::fflush(stdout);
        char *line = nullptr;
        size_t cap = 0;
        errno = 0;
        const ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) {
            std::free(line);
            if (errno == EINTR && tty) {
                clearerr(stdin);
                g_interrupt = false;
                std::fputs("\n(Ctrl-C stops a reply; /quit or Ctrl-D leaves)\n", stdout);
                continue;
            }
            return !out.empty();
        }
        std::string s(line, static_cast<size_t>(n));
        std::free(line);
        if (!s.empty() && s.back() == '\n') s.pop_back();
        if (!s.empty() && s.back() == '\r') s.pop_back();
        if (tty && s == "\"\"\"") {
            if (block) return true;
            block = true;
            continue;
        }
        if (block) {
            out += s + "\n";
            continue;
        }
        if (tty && !s.empty() && s.back() == '\\') {
            s.pop_back();
            out += s + "\n";
            continue;
        }
        out += s;
        return true;
    }
}

const char *kHelp =
    "commands:\n"
    "  /help                 this list\n"
    "  /reset                forget the conversation (keeps the system prompt)\n"
    "  /system [TEXT]        set the system prompt (empty: remove it); resets the conversation\n"
    "  /set NAME VALUE       temp, top-k, top-p, min-p, seed, repeat-penalty, n-predict\n"
    "  /save FILE            write the conversation as JSON\n"
    "  /load FILE            read a conversation saved with /save\n"
    "  /stats                context use and speed\n"
    "  /quit                 leave (also Ctrl-D)\n"
    "input: end a line with \\ to continue it; \"\"\" on its own line starts and ends a block\n"
    "Ctrl-C stops the current reply\n";

int run_chat(ChatOptions &o) {
    const bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    corvid_model_params mp = corvid_model_default_params();
    if (isatty(STDERR_FILENO)) mp.progress_callback = progress_bar;
    o.gpu.apply(mp);
    corvid_model *m = nullptr;
    if (corvid_model_open(o.model.c_str(), &mp, &m) != CORVID_OK) {
        std::fprintf(stderr, "corvid chat: %s\n", corvid_last_error());
        return 1;
    }
    corvid_context_params cp = corvid_context_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_batch = o.n_batch;
    cp.n_threads = o.threads;
    corvid_context *ctx = nullptr;
    corvid_sampler *smp = nullptr;
    auto cleanup = [&](int rc) {
        corvid_sampler_free(smp);
        corvid_context_free(ctx);
        corvid_model_close(m);
        return rc;
    };
    if (corvid_context_create(m, &cp, &ctx) != CORVID_OK || corvid_sampler_create(m, &o.sampling.p, &smp) != CORVID_OK) {
        std::fprintf(stderr, "corvid chat: %s\n", corvid_last_error());
        return cleanup(1);
    }
    std::string tmpl = o.chat_template;
    if (!tmpl.empty() && tmpl.find("{{") == std::string::npos && tmpl.find("{%") == std::string::npos) {
        std::ifstream f(tmpl);
        if (f) tmpl.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()); // a file; else a built-in name
    }
    ChatSession session(m, ctx, tmpl, o.policy == "stop" ? ChatSession::Policy::stop : ChatSession::Policy::drop_oldest,
                        o.n_predict);
    session.set_system(o.system);

    // Check the template once up front, so a broken one is reported before the first turn.
    {
        size_t n = 0;
        const char *t = tmpl.empty() ? nullptr : tmpl.c_str();
        const corvid_status st = corvid_chat_apply_template(m, t, "[{\"role\":\"user\",\"content\":\"hi\"}]", nullptr, true,
                                                            nullptr, 0, &n);
        if (st != CORVID_OK && st != CORVID_ERR_BUFFER_TOO_SMALL) {
            std::fprintf(stderr, "corvid chat: cannot use the chat template: %s\n"
                                 "  choose one with --chat-template (gemma, chatml, llama3, llama2, or a .jinja file)\n",
                         corvid_last_error());
            return cleanup(1);
        }
    }

    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: Ctrl-C interrupts a blocking read
    sigaction(SIGINT, &sa, nullptr);

    if (tty)
        std::printf("corvid chat — %s, context %u tokens. /help for commands.\n", *corvid_model_name(m) ? corvid_model_name(m) : o.model.c_str(),
                    session.n_ctx());
    TurnStats last;
    size_t turns = 0;
    std::string line;
    while (read_turn(tty, line)) {
        if (line.empty()) continue;
        if (line[0] == '/') {
            std::string cmd = line.substr(1), arg;
            const size_t sp = cmd.find(' ');
            if (sp != std::string::npos) {
                arg = cmd.substr(sp + 1);
                cmd.resize(sp);
            }
            if (cmd == "quit" || cmd == "exit") break;
            if (cmd == "help") std::fputs(kHelp, stdout);
            else if (cmd == "reset") {
                session.reset();
                corvid_sampler_reset(smp);
                std::puts("[conversation reset]");
            } else if (cmd == "system") {
                session.set_system(arg);
                session.reset();
                std::puts(arg.empty() ? "[system prompt removed; conversation reset]" : "[system prompt set; conversation reset]");
            } else if (cmd == "set") {
                const size_t s2 = arg.find(' ');
                const std::string key = arg.substr(0, s2), val = s2 == std::string::npos ? "" : arg.substr(s2 + 1);
                char *end = nullptr;
                const double v = std::strtod(val.c_str(), &end);
                if (val.empty() || *end) {
                    std::printf("[/set %s: '%s' is not a number]\n", key.c_str(), val.c_str());
                    continue;
                }
                auto &p = o.sampling.p;
                if (key == "temp") p.temperature = static_cast<float>(v);
                else if (key == "top-k") p.top_k = static_cast<int32_t>(v);
                else if (key == "top-p") p.top_p = static_cast<float>(v);
                else if (key == "min-p") p.min_p = static_cast<float>(v);
                else if (key == "seed") p.seed = static_cast<uint64_t>(v);
                else if (key == "repeat-penalty") p.repeat_penalty = static_cast<float>(v);
                else if (key == "n-predict") session.set_max_reply(o.n_predict = static_cast<int32_t>(v));
                else {
                    std::printf("[/set: unknown setting '%s'; see /help]\n", key.c_str());
                    continue;
                }
                corvid_sampler *fresh = nullptr;
                if (corvid_sampler_create(m, &o.sampling.p, &fresh) != CORVID_OK) {
                    std::printf("[/set: %s]\n", corvid_last_error());
                    continue;
                }
                corvid_sampler_free(smp);
                smp = fresh;
                std::printf("[%s = %s]\n", key.c_str(), val.c_str());
            } else if (cmd == "save") {
                std::ofstream f(arg);
                if (arg.empty() || !(f << session.messages().dump(2) << "\n")) std::printf("[/save: cannot write '%s']\n", arg.c_str());
                else std::printf("[saved %zu messages to %s]\n", session.messages().size(), arg.c_str());
            } else if (cmd == "load") {
                std::ifstream f(arg);
                nlohmann::ordered_json j = nlohmann::ordered_json::parse(f, nullptr, false);
                bool ok = f.good() || f.eof();
                ok = ok && j.is_array();
                for (const auto &msg : ok ? j : nlohmann::ordered_json::array())
                    ok = ok && msg.is_object() && msg.contains("role") && msg["role"].is_string();
                if (!ok) std::printf("[/load: '%s' is not a conversation saved with /save]\n", arg.c_str());
                else {
                    session.set_messages(j);
                    std::printf("[loaded %zu messages; they are encoded with the next turn]\n", j.size());
                }
            } else if (cmd == "stats") {
                std::printf("[context %zu / %u tokens, %zu turns; last reply %zu tokens at %.2f tok/s, prompt %zu tokens at %.2f tok/s]\n",
                            session.tokens_in_context(), session.n_ctx(), turns, last.reply_tokens,
                            last.reply_tokens / std::max(last.reply_s, 1e-9), last.prompt_tokens,
                            last.prompt_tokens / std::max(last.prompt_s, 1e-9));
            } else {
                std::printf("[unknown command /%s; /help lists them]\n", cmd.c_str());
            }
            std::fflush(stdout);
            continue;
        }

        g_interrupt = false;
        TurnStats st;
        std::string error;
        const bool ok = session.turn(
            line, smp,
            [](const std::string &t) {
                std::fwrite(t.data(), 1, t.size(), stdout);
                std::fflush(stdout);
            },
            [] { return g_interrupt.load(); }, st, error);
        if (!st.notice.empty()) std::fprintf(tty ? stdout : stderr, "\n[%s]\n", st.notice.c_str());
        std::fputc('\n', stdout);
        if (!ok) {
            std::fprintf(tty ? stdout : stderr, "[error: %s]\n", error.c_str());
            std::fflush(stdout);
            continue;
        }
        ++turns;
        last = st;
        if (st.interrupted) std::fputs("[interrupted]\n", stdout);
        if (st.context_cut) std::fputs("[context full: the reply was cut; /reset starts over]\n", stdout);
        std::fprintf(tty ? stdout : stderr, "[%zu tokens, %.2f tok/s | prompt %zu tokens, %.2f tok/s]\n", st.reply_tokens,
                     st.reply_tokens / std::max(st.reply_s, 1e-9), st.prompt_tokens, st.prompt_tokens / std::max(st.prompt_s, 1e-9));
        std::fflush(stdout);
    }
    if (tty) std::fputc('\n', stdout);
    return cleanup(0);
}

} // namespace

void add_chat_command(CLI::App &app, int *exit_code) {
    auto o = std::make_shared<ChatOptions>();
    CLI::App *cmd = app.add_subcommand("chat", "Chat with a model (interactive, or one turn per line from a pipe)");
    cmd->add_option("-m,--model", o->model, "GGUF model file")->required();
    cmd->add_option("--system-prompt,--sys", o->system, "System prompt");
    cmd->add_option("--chat-template", o->chat_template,
                    "Template: a built-in name (gemma, chatml, llama3, llama2), a .jinja file, or Jinja text "
                    "(default: the model's own, else the built-in for its architecture)");
    cmd->add_option("-c,--ctx-size", o->n_ctx, "Context size in tokens")->capture_default_str();
    cmd->add_option("-b,--batch-size", o->n_batch, "Tokens per evaluation")->capture_default_str();
    cmd->add_option("-t,--threads", o->threads, "Threads (0 = physical cores)")->capture_default_str();
    add_gpu_options(cmd, &o->gpu);
    cmd->add_option("-n,--n-predict", o->n_predict, "Most tokens per reply (-1 = until the model stops)")->capture_default_str();
    cmd->add_option("--context-policy", o->policy, "When the context fills: drop (the oldest turns) or stop")
        ->check(CLI::IsMember({"drop", "stop"}))
        ->capture_default_str();
    add_sampling_options(cmd, o->sampling);
    cmd->callback([o, exit_code] {
        if (!o->sampling.finish("chat")) {
            *exit_code = 2;
            return;
        }
        *exit_code = run_chat(*o);
    });
}

} // namespace corvid::cli
