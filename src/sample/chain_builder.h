// Builds a sampler chain from llama.cpp-style settings: logit biases, the filtering
// stages in the requested order, then the final choice (dist, greedy or mirostat).
#pragma once

#include "sample/sampler.h"

#include <string>
#include <utility>
#include <vector>

namespace corvid {

struct SamplerSettings {
    uint64_t seed = 0xC0FFEE;
    float temperature = 0.8f, dynatemp_range = 0.0f, dynatemp_exponent = 1.0f;
    int32_t top_k = 40;
    float top_p = 0.95f, min_p = 0.05f, typical_p = 1.0f;
    float xtc_probability = 0.0f, xtc_threshold = 0.1f;
    int32_t penalty_last_n = 64;
    float repeat_penalty = 1.0f, frequency_penalty = 0.0f, presence_penalty = 0.0f;
    float dry_multiplier = 0.0f, dry_base = 1.75f;
    int32_t dry_allowed_length = 2, dry_penalty_last_n = -1;
    int32_t mirostat = 0;
    float mirostat_tau = 5.0f, mirostat_eta = 0.1f;
    std::string samplers = "penalties;dry;top_k;typ_p;top_p;min_p;xtc;temperature";
    std::vector<std::pair<int32_t, float>> logit_bias;
    std::vector<int32_t> dry_breakers; // token ids
};

// Throws Error(invalid_argument) naming an unknown stage or an unsupported mirostat.
SamplerChain build_chain(const SamplerSettings &s);

} // namespace corvid
