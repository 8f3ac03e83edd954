// Token samplers: a chain of stages that narrow and reshape the distribution over
// the vocabulary, ending in one that picks a token (greedy, dist or mirostat). The
// stages follow llama.cpp's samplers in meaning and parameters, so its users' settings
// carry over. A grammar mask is one more stage.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace corvid {

struct Candidate {
    int32_t id;
    float logit;
    float p; // probability, valid after a stage that normalises
};

// The working set a chain transforms. `sorted` is true when candidates are in
// descending logit order (stages that need it sort once and keep it).
// While `indexed`, the set is still the whole vocabulary and lives in `dense`
// (dense[id] = logit): stages that only adjust some logits (penalties, biases) or pick
// from the full set (top-k, greedy) work there without building 256k candidates.
// materialize() turns it into `items` for the stages that need a list.
struct Candidates {
    std::vector<Candidate> items;
    std::vector<float> dense;
    bool indexed = false;
    bool sorted = false;
    int32_t selected = -1; // set by the final stage
};

void materialize(Candidates &c);

// The logit of token `id`, or nullptr when it was filtered out.
float *find_logit(Candidates &c, int32_t id);

class SamplerStage {
public:
    virtual ~SamplerStage() = default;
    virtual void apply(Candidates &c) = 0;
    virtual void accept(int32_t token) { (void)token; }
    virtual void reset() {}
};

// Each keeps at least one candidate (and at least min_keep where it takes one).
std::unique_ptr<SamplerStage> make_top_k(int32_t k);                 // k <= 0: no-op
std::unique_ptr<SamplerStage> make_top_p(float p, size_t min_keep);  // p >= 1: no-op
std::unique_ptr<SamplerStage> make_min_p(float p, size_t min_keep);  // keeps p_i >= p * p_max; p <= 0: no-op
std::unique_ptr<SamplerStage> make_typical(float p, size_t min_keep); // locally typical sampling; p >= 1: no-op
// Temperature: logits / t. t <= 0 keeps only the most likely token. With delta > 0 the
// temperature is dynamic: t - delta .. t + delta by the distribution's normalised
// entropy raised to `exponent`.
std::unique_ptr<SamplerStage> make_temperature(float t, float delta = 0.0f, float exponent = 1.0f);
// XTC: with `probability`, removes every token whose probability is >= threshold except
// the least likely of them (when at least two are above it).
std::unique_ptr<SamplerStage> make_xtc(float probability, float threshold, size_t min_keep, uint64_t seed);
// Repetition penalties over the last `last_n` accepted tokens (last_n < 0: all seen).
// repeat: divides positive / multiplies negative logits of seen tokens (1 = off);
// frequency and presence: subtract count * frequency + presence.
std::unique_ptr<SamplerStage> make_penalties(int32_t last_n, float repeat, float frequency, float presence);
// DRY ("don't repeat yourself"): penalises a token that would extend a repetition of
// the recent history by multiplier * base^(length - allowed_length). Repetitions do
// not extend across `breakers` (token ids, e.g. those of "\n", ":", "\"", "*").
std::unique_ptr<SamplerStage> make_dry(float multiplier, float base, int32_t allowed_length, int32_t last_n,
                                       std::vector<int32_t> breakers);
// Adds bias[i].second to the logit of token bias[i].first (-inf bans it).
std::unique_ptr<SamplerStage> make_logit_bias(std::vector<std::pair<int32_t, float>> bias);
std::unique_ptr<SamplerStage> make_greedy();                   // the highest logit; first one on ties
std::unique_ptr<SamplerStage> make_dist(uint64_t seed);        // a random choice by probability
// Mirostat 2.0: keeps the surprise (-log2 p) of chosen tokens near tau, learning rate eta.
std::unique_ptr<SamplerStage> make_mirostat_v2(float tau, float eta, uint64_t seed);

// A hard constraint on the next token (a grammar: src/sample/sampler_grammar.cpp). It is
// not an ordinary stage because of a speed trick: the chain first runs its stages on the
// raw logits and asks the constraint about the chosen token only (a walk over that
// token's bytes). Only when the choice is refused does it mask the whole vocabulary and
// run the stages again on the allowed tokens; a masked token can never be chosen. With
// `lazy` off it always masks first.
class TokenConstraint {
public:
    virtual ~TokenConstraint() = default;
    virtual bool allows(int32_t token) = 0;
    // Leaves only allowed tokens in `c` (which is fresh: indexed). Throws Error when none is.
    virtual void mask(Candidates &c) = 0;
    virtual void accept(int32_t token) = 0;
    virtual void reset() = 0;
};

class SamplerChain {
public:
    void add(std::unique_ptr<SamplerStage> stage) { stages_.push_back(std::move(stage)); }
    void set_constraint(std::unique_ptr<TokenConstraint> c, bool lazy = true) {
        constraint_ = std::move(c);
        lazy_ = lazy;
    }
    // Feeds a token to the history stages only (prompt tokens): the constraint follows
    // only generated tokens.
    void accept_history(int32_t token);
    // Restarts the constraint only (a new reply in a conversation), keeping history and RNG.
    void reset_constraint() {
        if (constraint_) constraint_->reset();
    }
    // Runs the chain over logits[0..n_vocab) and returns the chosen token.
    // Throws Error(internal) when no stage chose one.
    int32_t sample(const float *logits, int32_t n_vocab);
    void accept(int32_t token);
    void reset();

private:
    std::vector<std::unique_ptr<SamplerStage>> stages_;
    std::unique_ptr<TokenConstraint> constraint_;
    bool lazy_ = true;
    Candidates work_;
    void run_stages(const float *logits, int32_t n_vocab, bool masked);
};

// Softmax over the candidates' logits into p (stable: subtracts the maximum).
void normalize(Candidates &c);
// Sorts by descending logit (stable, so equal logits keep id order) unless already sorted.
void sort_desc(Candidates &c);

} // namespace corvid
