// corvid: the command-line program. Subcommands register themselves in commands.h.
#include "commands.h"
#include "common.h"

#include <corvid.h>

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char **argv) {
    CLI::App app{"corvid: run, inspect and quantize GGUF language models"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("corvid ") + corvid_version());

    corvid_set_log_callback(corvid::cli::print_library_log, nullptr);
    int exit_code = 0;
    corvid::cli::add_info_command(app, &exit_code);
    corvid::cli::add_run_command(app, &exit_code);
    corvid::cli::add_chat_command(app, &exit_code);
    corvid::cli::add_template_command(app, &exit_code);
    corvid::cli::add_tokenize_command(app, &exit_code);
    corvid::cli::add_bench_command(app, &exit_code);
    corvid::cli::add_quantize_command(app, &exit_code);
    corvid::cli::add_perplexity_command(app, &exit_code);

    try {
        // llama.cpp's multi-letter single-dash options, which CLI11 cannot declare.
        std::vector<std::string> args(argv + 1, argv + argc);
        for (std::string &a : args) {
            if (a == "-ngl") a = "--gpu-layers";
            else if (a == "-mg") a = "--main-gpu";
            else if (a == "-mmp") a = "--mmap";
        }
        std::reverse(args.begin(), args.end()); // CLI11 takes them last-first
        app.parse(args);
    } catch (const CLI::ParseError &e) {
        return app.exit(e);
    }
    return exit_code;
}
