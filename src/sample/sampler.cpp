#include "sample/sampler.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>

namespace corvid {

void sort_desc(Candidates &c) {
    if (c.sorted) return;
    std::stable_sort(c.items.begin(), c.items.end(), [](const Candidate &a, const Candidate &b) { return a.logit > b.logit; });
    c.sorted = true;
}

void normalize(Candidates &c) {
    float mx = -INFINITY;
    for (const Candidate &x : c.items) mx = std::max(mx, x.logit);
    double sum = 0.0;
    for (Candidate &x : c.items) {
        x.p = std::exp(x.logit - mx);
        sum += x.p;
    }
    for (Candidate &x : c.items) x.p = static_cast<float>(x.p / sum);
}

namespace {

class TopK final : public SamplerStage {
public:
    explicit TopK(int32_t k) : k_(k) {}
    void apply(Candidates &c) override {
        if (k_ <= 0 || static_cast<size_t>(k_) >= c.items.size()) return;
        if (!c.sorted) {
            // Only the top k need ordering.
            std::partial_sort(c.items.begin(), c.items.begin() + k_, c.items.end(), [](const Candidate &a, const Candidate &b) {
                return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
            });
            c.sorted = true;
        }
        c.items.resize(static_cast<size_t>(k_));
    }

private:
    int32_t k_;
};

class TopP final : public SamplerStage {
public:
    TopP(float p, size_t min_keep) : p_(p), min_keep_(std::max<size_t>(1, min_keep)) {}
    void apply(Candidates &c) override {
        if (p_ >= 1.0f) return;
        sort_desc(c);
        normalize(c);
        double cum = 0.0;
        size_t keep = c.items.size();
        for (size_t i = 0; i < c.items.size(); ++i) {
            cum += c.items[i].p;
            if (cum >= p_ && i + 1 >= min_keep_) {
                keep = i + 1;
                break;
            }
        }
        c.items.resize(keep);
    }

private:
    float p_;
    size_t min_keep_;
};

class Temperature final : public SamplerStage {
public:
    explicit Temperature(float t) : t_(t) {}
    void apply(Candidates &c) override {
        for (Candidate &x : c.items) x.logit /= t_;
    }

private:
    float t_;
};

class Greedy final : public SamplerStage {
public:
    void apply(Candidates &c) override {
        size_t best = 0;
        for (size_t i = 1; i < c.items.size(); ++i)
            if (c.items[i].logit > c.items[best].logit) best = i;
        c.selected = c.items[best].id;
    }
};

class Dist final : public SamplerStage {
public:
    explicit Dist(uint64_t seed) : seed_(seed), rng_(seed) {}
    void apply(Candidates &c) override {
        normalize(c);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        const double r = u(rng_);
        double cum = 0.0;
        for (const Candidate &x : c.items) {
            cum += x.p;
            if (r < cum) {
                c.selected = x.id;
                return;
            }
        }
        c.selected = c.items.back().id; // rounding left r just above the total
    }
    void reset() override { rng_.seed(seed_); }

private:
    uint64_t seed_;
    std::mt19937_64 rng_;
};

} // namespace

std::unique_ptr<SamplerStage> make_top_k(int32_t k) { return std::make_unique<TopK>(k); }
std::unique_ptr<SamplerStage> make_top_p(float p, size_t min_keep) { return std::make_unique<TopP>(p, min_keep); }
std::unique_ptr<SamplerStage> make_temperature(float t) {
    if (!(t > 0.0f)) fail(Status::invalid_argument, "temperature %g must be positive (use greedy for 0)", t);
    return std::make_unique<Temperature>(t);
}
std::unique_ptr<SamplerStage> make_greedy() { return std::make_unique<Greedy>(); }
std::unique_ptr<SamplerStage> make_dist(uint64_t seed) { return std::make_unique<Dist>(seed); }

int32_t SamplerChain::sample(const float *logits, int32_t n_vocab) {
    work_.items.resize(static_cast<size_t>(n_vocab));
    for (int32_t i = 0; i < n_vocab; ++i) work_.items[static_cast<size_t>(i)] = {i, logits[i], 0.0f};
    work_.sorted = false;
    work_.selected = -1;
    for (auto &s : stages_) {
        s->apply(work_);
        if (work_.selected >= 0) break;
    }
    if (work_.selected < 0) fail(Status::internal, "the sampler chain has no stage that picks a token");
    return work_.selected;
}

void SamplerChain::accept(int32_t token) {
    for (auto &s : stages_) s->accept(token);
}

void SamplerChain::reset() {
    for (auto &s : stages_) s->reset();
}

} // namespace corvid
