// Samplers in the C API.
#include "api/api_guard.h"
#include "api/api_handles.h"
#include "grammar/json_schema.h"
#include "sample/chain_builder.h"
#include "sample/sampler_grammar.h"
#include "util/log.h"
#include "vocab/vocab.h"

#include <cstring>

using namespace corvid;

extern "C" {

corvid_sampler_params corvid_sampler_default_params(void) {
    const SamplerSettings d;
    corvid_sampler_params p;
    p.seed = d.seed;
    p.temperature = d.temperature;
    p.dynatemp_range = d.dynatemp_range;
    p.dynatemp_exponent = d.dynatemp_exponent;
    p.top_k = d.top_k;
    p.top_p = d.top_p;
    p.min_p = d.min_p;
    p.typical_p = d.typical_p;
    p.xtc_probability = d.xtc_probability;
    p.xtc_threshold = d.xtc_threshold;
    p.penalty_last_n = d.penalty_last_n;
    p.repeat_penalty = d.repeat_penalty;
    p.frequency_penalty = d.frequency_penalty;
    p.presence_penalty = d.presence_penalty;
    p.dry_multiplier = d.dry_multiplier;
    p.dry_base = d.dry_base;
    p.dry_allowed_length = d.dry_allowed_length;
    p.dry_penalty_last_n = d.dry_penalty_last_n;
    p.mirostat = d.mirostat;
    p.mirostat_tau = d.mirostat_tau;
    p.mirostat_eta = d.mirostat_eta;
    p.samplers = nullptr;
    p.logit_bias = nullptr;
    p.n_logit_bias = 0;
    p.grammar = nullptr;
    p.grammar_root = nullptr;
    p.json_schema = nullptr;
    p.grammar_flags = 0;
    return p;
}

corvid_status corvid_sampler_create(const corvid_model *model, const corvid_sampler_params *params,
                                    corvid_sampler **out_sampler) {
    if (out_sampler) *out_sampler = nullptr;
    return api::guarded([&] {
        if (!out_sampler) fail(Status::invalid_argument, "out_sampler must not be NULL");
        const corvid_sampler_params p = params ? *params : corvid_sampler_default_params();
        SamplerSettings s;
        s.seed = p.seed;
        s.temperature = p.temperature;
        s.dynatemp_range = p.dynatemp_range;
        s.dynatemp_exponent = p.dynatemp_exponent;
        s.top_k = p.top_k;
        s.top_p = p.top_p;
        s.min_p = p.min_p;
        s.typical_p = p.typical_p;
        s.xtc_probability = p.xtc_probability;
        s.xtc_threshold = p.xtc_threshold;
        s.penalty_last_n = p.penalty_last_n;
        s.repeat_penalty = p.repeat_penalty;
        s.frequency_penalty = p.frequency_penalty;
        s.presence_penalty = p.presence_penalty;
        s.dry_multiplier = p.dry_multiplier;
        s.dry_base = p.dry_base;
        s.dry_allowed_length = p.dry_allowed_length;
        s.dry_penalty_last_n = p.dry_penalty_last_n;
        s.mirostat = p.mirostat;
        s.mirostat_tau = p.mirostat_tau;
        s.mirostat_eta = p.mirostat_eta;
        if (p.samplers) s.samplers = p.samplers;
        if (p.n_logit_bias > 0 && !p.logit_bias) fail(Status::invalid_argument, "logit_bias must not be NULL");
        for (size_t i = 0; i < p.n_logit_bias; ++i) s.logit_bias.push_back({p.logit_bias[i].token, p.logit_bias[i].bias});
        if (model && model->model->vocab()) {
            // DRY's default sequence breakers, as the single tokens that spell them.
            const Vocab &v = *model->model->vocab();
            for (const char *b : {"\n", ":", "\"", "*"}) {
                const auto ids = v.tokenize(b, false, false);
                if (ids.size() == 1) s.dry_breakers.push_back(ids[0]);
            }
        }
        auto out = std::make_unique<corvid_sampler>();
        out->chain = build_chain(s);
        if (p.grammar || p.json_schema) {
            if (p.grammar && p.json_schema) fail(Status::invalid_argument, "set grammar or json_schema, not both");
            if (!model || !model->model->vocab()) fail(Status::invalid_argument, "a grammar needs the model's vocabulary (model must not be NULL)");
            std::string gbnf;
            if (p.json_schema) {
                std::vector<std::string> warnings;
                grammar::SchemaOptions opt;
                opt.ignore_unsupported = (p.grammar_flags & CORVID_GRAMMAR_IGNORE_UNSUPPORTED) != 0;
                opt.warnings = &warnings;
                gbnf = grammar::json_schema_to_gbnf(p.json_schema, opt);
                for (const std::string &w : warnings) corvid::log(LogLevel::warn, "%s", w.c_str());
            } else {
                gbnf = p.grammar;
            }
            auto g = grammar::parse_gbnf(gbnf, p.grammar_root ? p.grammar_root : "root");
            std::shared_ptr<const grammar::VocabIndex> index;
            {
                std::lock_guard<std::mutex> lock(model->grammar_index_mu);
                if (!model->grammar_index) model->grammar_index = std::make_shared<const grammar::VocabIndex>(*model->model->vocab());
                index = model->grammar_index;
            }
            out->chain.set_constraint(make_grammar_constraint(std::move(g), std::move(index)),
                                      (p.grammar_flags & CORVID_GRAMMAR_MASK_FIRST) == 0);
        }
        *out_sampler = out.release();
    });
}

void corvid_sampler_free(corvid_sampler *sampler) { delete sampler; }

corvid_status corvid_sampler_sample_logits(corvid_sampler *sampler, const float *logits, int32_t n_vocab,
                                           int32_t *out_token) {
    return api::guarded([&] {
        if (!sampler || !logits || !out_token) fail(Status::invalid_argument, "sampler, logits and out_token must not be NULL");
        if (n_vocab <= 0) fail(Status::invalid_argument, "n_vocab must be positive");
        const int32_t t = sampler->chain.sample(logits, n_vocab);
        sampler->chain.accept(t);
        *out_token = t;
    });
}

corvid_status corvid_sampler_sample(corvid_sampler *sampler, corvid_context *ctx, int32_t i, int32_t *out_token) {
    return api::guarded([&] {
        if (!sampler || !ctx || !out_token) fail(Status::invalid_argument, "sampler, ctx and out_token must not be NULL");
        const int32_t t = sampler->chain.sample(ctx->ctx->logits(i), ctx->ctx->n_vocab());
        sampler->chain.accept(t);
        *out_token = t;
    });
}

void corvid_sampler_accept(corvid_sampler *sampler, int32_t token) {
    if (sampler) sampler->chain.accept_history(token);
}

void corvid_sampler_reset_grammar(corvid_sampler *sampler) {
    if (sampler) sampler->chain.reset_constraint();
}

corvid_status corvid_json_schema_to_grammar(const char *json_schema, uint32_t flags, char *buf, size_t size, size_t *n_bytes) {
    return api::guarded([&] {
        if (!json_schema || !n_bytes) fail(Status::invalid_argument, "json_schema and n_bytes must not be NULL");
        if (!buf && size > 0) fail(Status::invalid_argument, "buf must not be NULL when size > 0");
        std::vector<std::string> warnings;
        grammar::SchemaOptions opt;
        opt.ignore_unsupported = (flags & CORVID_GRAMMAR_IGNORE_UNSUPPORTED) != 0;
        opt.warnings = &warnings;
        const std::string out = grammar::json_schema_to_gbnf(json_schema, opt);
        for (const std::string &w : warnings) corvid::log(LogLevel::warn, "%s", w.c_str());
        *n_bytes = out.size();
        if (out.size() > size) fail(Status::buffer_too_small, "the grammar needs %zu bytes but the buffer has %zu", out.size(), size);
        if (!out.empty()) std::memcpy(buf, out.data(), out.size());
    });
}

corvid_status corvid_grammar_validate(const char *gbnf, const char *root) {
    return api::guarded([&] {
        if (!gbnf) fail(Status::invalid_argument, "gbnf must not be NULL");
        grammar::parse_gbnf(gbnf, root ? root : "root");
    });
}

void corvid_sampler_reset(corvid_sampler *sampler) {
    if (sampler) sampler->chain.reset();
}

} // extern "C"
