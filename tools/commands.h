// Registration of the program's subcommands; each lives in its own folder.
#pragma once

#include <CLI/CLI.hpp>

namespace corvid::cli {

// Adds `info` to the app. The callback stores its exit code in *exit_code.
void add_info_command(CLI::App &app, int *exit_code);
void add_run_command(CLI::App &app, int *exit_code);
void add_chat_command(CLI::App &app, int *exit_code);
void add_template_command(CLI::App &app, int *exit_code);
void add_tokenize_command(CLI::App &app, int *exit_code);
void add_bench_command(CLI::App &app, int *exit_code);
void add_quantize_command(CLI::App &app, int *exit_code);
void add_perplexity_command(CLI::App &app, int *exit_code);

} // namespace corvid::cli
