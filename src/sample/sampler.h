// Token samplers: a chain of stages that narrow and reshape the distribution over
// the vocabulary, ending in one that picks a token. This first set covers greedy
// decoding and the classic temperature / top-k / top-p with a seeded choice; the
// stage interface is what penalties, min-p, grammar masks and the rest plug into.
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
struct Candidates {
    std::vector<Candidate> items;
    bool sorted = false;
    int32_t selected = -1; // set by the final stage
};

class SamplerStage {
public:
    virtual ~SamplerStage() = default;
    virtual void apply(Candidates &c) = 0;
    virtual void accept(int32_t token) { (void)token; }
    virtual void reset() {}
};

// Each keeps at least one candidate.
std::unique_ptr<SamplerStage> make_top_k(int32_t k);          // k <= 0: no-op
std::unique_ptr<SamplerStage> make_top_p(float p, size_t min_keep); // p >= 1: no-op
std::unique_ptr<SamplerStage> make_temperature(float t);       // divides logits by t (t > 0)
std::unique_ptr<SamplerStage> make_greedy();                   // the highest logit; first one on ties
std::unique_ptr<SamplerStage> make_dist(uint64_t seed);        // a random choice by probability

class SamplerChain {
public:
    void add(std::unique_ptr<SamplerStage> stage) { stages_.push_back(std::move(stage)); }
    // Runs the chain over logits[0..n_vocab) and returns the chosen token.
    // Throws Error(internal) when no stage chose one.
    int32_t sample(const float *logits, int32_t n_vocab);
    void accept(int32_t token);
    void reset();

private:
    std::vector<std::unique_ptr<SamplerStage>> stages_;
    Candidates work_;
};

// Softmax over the candidates' logits into p (stable: subtracts the maximum).
void normalize(Candidates &c);
// Sorts by descending logit (stable, so equal logits keep id order) unless already sorted.
void sort_desc(Candidates &c);

} // namespace corvid
