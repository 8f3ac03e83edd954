#include "sample/chain_builder.h"

#include "util/error.h"

#include <sstream>

namespace corvid {

SamplerChain build_chain(const SamplerSettings &s) {
    SamplerChain chain;
    if (!s.logit_bias.empty()) chain.add(make_logit_bias(s.logit_bias));
    if (s.mirostat != 0 && s.mirostat != 2)
        fail(Status::invalid_argument, "mirostat %d is not supported (0 = off, 2 = mirostat 2.0)", s.mirostat);

    std::stringstream order(s.samplers);
    std::string name;
    while (std::getline(order, name, ';')) {
        if (name.empty()) continue;
        // Mirostat does its own truncation; under greedy decoding the truncating stages
        // cannot change the most likely token, so both skip them.
        const bool miro = s.mirostat == 2 || s.temperature <= 0.0f;
        if (name == "penalties") chain.add(make_penalties(s.penalty_last_n, s.repeat_penalty, s.frequency_penalty, s.presence_penalty));
        else if (name == "dry") chain.add(make_dry(s.dry_multiplier, s.dry_base, s.dry_allowed_length, s.dry_penalty_last_n, s.dry_breakers));
        else if (name == "top_k") { if (!miro) chain.add(make_top_k(s.top_k)); }
        else if (name == "typ_p" || name == "typical_p") { if (!miro) chain.add(make_typical(s.typical_p, 1)); }
        else if (name == "top_p") { if (!miro) chain.add(make_top_p(s.top_p, 1)); }
        else if (name == "min_p") { if (!miro) chain.add(make_min_p(s.min_p, 1)); }
        else if (name == "xtc") { if (!miro) chain.add(make_xtc(s.xtc_probability, s.xtc_threshold, 1, s.seed)); }
        else if (name == "temperature") {
            if (s.temperature > 0.0f) chain.add(make_temperature(s.temperature, s.dynatemp_range, s.dynatemp_exponent));
        } else
            fail(Status::invalid_argument, "unknown sampler '%s' (known: penalties, dry, top_k, typ_p, top_p, min_p, xtc, temperature)",
                 name.c_str());
    }
    if (s.temperature <= 0.0f) chain.add(make_greedy());
    else if (s.mirostat == 2) chain.add(make_mirostat_v2(s.mirostat_tau, s.mirostat_eta, s.seed));
    else chain.add(make_dist(s.seed));
    return chain;
}

} // namespace corvid
