// The sampling options `corvid run` and `corvid chat` share, with llama.cpp's flag
// names and defaults so its users' command lines carry over.
#pragma once

#include "common.h"

#include <CLI/CLI.hpp>
#include <corvid.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace corvid::cli {

struct SamplingOptions {
    corvid_sampler_params p = corvid_sampler_default_params();
    std::string samplers;                // empty: the default order
    std::vector<std::string> bias_specs; // "TOKEN+BIAS", "TOKEN-BIAS", "TOKEN-inf"
    std::vector<corvid_logit_bias> bias;
    // Grammar-constrained output: at most one of these.
    std::string grammar_file, grammar_text, json_schema, grammar; // `grammar`/`json_schema` hold the text
    bool json = false, ignore_unsupported = false;
    std::string json_schema_text;

    // Parses --logit-bias; false (with a message on stderr) on a malformed entry.
    bool finish(const char *cmd) {
        bias.clear();
        for (const std::string &s : bias_specs) {
            const size_t k = s.find_first_of("+-", 1);
            char *end = nullptr;
            const long tok = k == std::string::npos ? -1 : std::strtol(s.substr(0, k).c_str(), &end, 10);
            if (k == std::string::npos || tok < 0 || *end) {
                std::fprintf(stderr, "corvid %s: --logit-bias '%s' is not TOKEN+BIAS or TOKEN-BIAS\n", cmd, s.c_str());
                return false;
            }
            const std::string val = s.substr(k + 1);
            float b = val == "inf" ? INFINITY : std::strtof(val.c_str(), &end);
            if (val != "inf" && *end) {
                std::fprintf(stderr, "corvid %s: --logit-bias '%s': '%s' is not a number\n", cmd, s.c_str(), val.c_str());
                return false;
            }
            if (s[k] == '-') b = -b;
            bias.push_back({static_cast<int32_t>(tok), b});
        }
        const int n_grammar = !grammar_file.empty() + !grammar_text.empty() + !json_schema.empty() + json;
        if (n_grammar > 1) {
            std::fprintf(stderr, "corvid %s: give only one of --grammar, --grammar-text, --json-schema, --json\n", cmd);
            return false;
        }
        grammar = grammar_text;
        if (!grammar_file.empty() && !read_text_file(cmd, grammar_file, grammar)) return false;
        // --json-schema takes the schema itself or a file holding it.
        std::string schema;
        if (!json_schema.empty()) {
            const size_t k = json_schema.find_first_not_of(" \t\r\n");
            const bool inline_text = k != std::string::npos && (json_schema[k] == '{' || json_schema.compare(k, 4, "true") == 0);
            if (inline_text) schema = json_schema;
            else if (!read_text_file(cmd, json_schema, schema)) return false;
        }
        json_schema_text = json ? "{}" : schema;
        p.grammar = grammar.empty() ? nullptr : grammar.c_str();
        p.json_schema = json_schema_text.empty() ? nullptr : json_schema_text.c_str();
        p.grammar_flags = ignore_unsupported ? CORVID_GRAMMAR_IGNORE_UNSUPPORTED : 0;
        p.samplers = samplers.empty() ? nullptr : samplers.c_str();
        p.logit_bias = bias.empty() ? nullptr : bias.data();
        p.n_logit_bias = bias.size();
        return true;
    }
};

inline void add_sampling_options(CLI::App *cmd, SamplingOptions &o) {
    auto &p = o.p;
    const char *g = "Sampling";
    cmd->add_option("--temp", p.temperature, "Temperature (0 = greedy)")->capture_default_str()->group(g);
    cmd->add_option("--top-k", p.top_k, "Top-k (0 = off)")->capture_default_str()->group(g);
    cmd->add_option("--top-p", p.top_p, "Top-p (1 = off)")->capture_default_str()->group(g);
    cmd->add_option("--min-p", p.min_p, "Min-p (0 = off)")->capture_default_str()->group(g);
    cmd->add_option("--typical", p.typical_p, "Locally typical sampling p (1 = off)")->capture_default_str()->group(g);
    cmd->add_option("--xtc-probability", p.xtc_probability, "XTC probability (0 = off)")->capture_default_str()->group(g);
    cmd->add_option("--xtc-threshold", p.xtc_threshold, "XTC threshold")->capture_default_str()->group(g);
    cmd->add_option("--repeat-last-n", p.penalty_last_n, "Tokens of history for penalties (-1 = all, 0 = off)")->capture_default_str()->group(g);
    cmd->add_option("--repeat-penalty", p.repeat_penalty, "Repetition penalty (1 = off)")->capture_default_str()->group(g);
    cmd->add_option("--frequency-penalty", p.frequency_penalty, "Frequency penalty (0 = off)")->capture_default_str()->group(g);
    cmd->add_option("--presence-penalty", p.presence_penalty, "Presence penalty (0 = off)")->capture_default_str()->group(g);
    cmd->add_option("--dry-multiplier", p.dry_multiplier, "DRY multiplier (0 = off)")->capture_default_str()->group(g);
    cmd->add_option("--dry-base", p.dry_base, "DRY base")->capture_default_str()->group(g);
    cmd->add_option("--dry-allowed-length", p.dry_allowed_length, "DRY allowed length")->capture_default_str()->group(g);
    cmd->add_option("--dry-penalty-last-n", p.dry_penalty_last_n, "DRY history (-1 = all)")->capture_default_str()->group(g);
    cmd->add_option("--dynatemp-range", p.dynatemp_range, "Dynamic temperature range (0 = off)")->capture_default_str()->group(g);
    cmd->add_option("--dynatemp-exp", p.dynatemp_exponent, "Dynamic temperature exponent")->capture_default_str()->group(g);
    cmd->add_option("--mirostat", p.mirostat, "Mirostat (0 = off, 2 = mirostat 2.0)")->capture_default_str()->group(g);
    cmd->add_option("--mirostat-lr", p.mirostat_eta, "Mirostat learning rate (eta)")->capture_default_str()->group(g);
    cmd->add_option("--mirostat-ent", p.mirostat_tau, "Mirostat target entropy (tau)")->capture_default_str()->group(g);
    cmd->add_option("--samplers", o.samplers, "Stage order, e.g. \"penalties;top_k;top_p;min_p;temperature\"")->group(g);
    cmd->add_option("--seed", p.seed, "Random seed")->capture_default_str()->group(g);
    cmd->add_option("-l,--logit-bias", o.bias_specs, "TOKEN+BIAS or TOKEN-BIAS (TOKEN-inf bans), repeatable")->group(g);
    const char *c = "Constrained output";
    cmd->add_option("--grammar", o.grammar_file, "GBNF grammar file: the output stays inside its language")->group(c);
    cmd->add_option("--grammar-text", o.grammar_text, "GBNF grammar given inline")->group(c);
    cmd->add_option("-j,--json-schema", o.json_schema, "JSON Schema (inline text or a file): the output validates against it")->group(c);
    cmd->add_flag("--json", o.json, "The output is one JSON value (any)")->group(c);
    cmd->add_flag("--schema-ignore-unsupported", o.ignore_unsupported, "Skip JSON Schema keywords Corvid cannot enforce (with a warning)")->group(c);
}

} // namespace corvid::cli
