// corvid: the command-line program. Subcommands register themselves in commands.h.
#include "commands.h"

#include <corvid.h>

#include <cstdio>
#include <cstring>

int main(int argc, char **argv) {
    CLI::App app{"corvid: run, inspect and quantize GGUF language models"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("corvid ") + corvid_version());

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
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e);
    }
    return exit_code;
}
