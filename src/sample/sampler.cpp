#include "sample/sampler.h"

#include "util/error.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace corvid {

void materialize(Candidates &c) {
    if (!c.indexed) return;
    c.items.resize(c.dense.size());
    for (size_t i = 0; i < c.dense.size(); ++i) c.items[i] = {static_cast<int32_t>(i), c.dense[i], 0.0f};
    c.indexed = false;
    c.sorted = false;
}

float *find_logit(Candidates &c, int32_t id) {
    if (c.indexed) return id >= 0 && static_cast<size_t>(id) < c.dense.size() ? &c.dense[static_cast<size_t>(id)] : nullptr;
    for (Candidate &x : c.items)
        if (x.id == id) return &x.logit;
    return nullptr;
}

void sort_desc(Candidates &c) {
    materialize(c);
    if (c.sorted) return;
    std::stable_sort(c.items.begin(), c.items.end(), [](const Candidate &a, const Candidate &b) { return a.logit > b.logit; });
    c.sorted = true;
}

void normalize(Candidates &c) {
    materialize(c);
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

// The k-th largest of v[0..n) (k <= n): one pass with a k-entry min-heap, where almost
// every element is rejected by a single comparison against the heap's minimum.
float kth_largest(const float *v, size_t n, size_t k) {
    std::vector<float> heap(v, v + k);
    std::make_heap(heap.begin(), heap.end(), std::greater<float>());
    for (size_t i = k; i < n; ++i) {
        if (v[i] <= heap.front()) continue;
        std::pop_heap(heap.begin(), heap.end(), std::greater<float>());
        heap.back() = v[i];
        std::push_heap(heap.begin(), heap.end(), std::greater<float>());
    }
    return heap.front();
}

class TopK final : public SamplerStage {
public:
    explicit TopK(int32_t k) : k_(k) {}
    void apply(Candidates &c) override {
        const size_t n = c.indexed ? c.dense.size() : c.items.size();
        if (k_ <= 0 || static_cast<size_t>(k_) >= n) return;
        if (!c.sorted) {
            // Find the k-th largest logit in one pass, gather what reaches it, order only those.
            std::vector<Candidate> top;
            if (c.indexed) {
                const float kth = kth_largest(c.dense.data(), n, static_cast<size_t>(k_));
                for (size_t i = 0; i < n; ++i)
                    if (c.dense[i] >= kth) top.push_back({static_cast<int32_t>(i), c.dense[i], 0.0f});
            } else {
                std::vector<float> l(n);
                for (size_t i = 0; i < n; ++i) l[i] = c.items[i].logit;
                const float kth = kth_largest(l.data(), n, static_cast<size_t>(k_));
                for (const Candidate &x : c.items)
                    if (x.logit >= kth) top.push_back(x);
            }
            std::sort(top.begin(), top.end(), [](const Candidate &a, const Candidate &b) {
                return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
            });
            c.items = std::move(top);
            c.indexed = false;
            c.sorted = true;
        }
        c.items.resize(static_cast<size_t>(k_));
        c.indexed = false;
    }

private:
    int32_t k_;
};

class TopP final : public SamplerStage {
public:
    TopP(float p, size_t min_keep) : p_(p), min_keep_(std::max<size_t>(1, min_keep)) {}
    void apply(Candidates &c) override {
        if (p_ >= 1.0f) return;
        sort_desc(c); // materializes
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
    Temperature(float t, float delta, float exponent) : t_(t), delta_(delta), exponent_(exponent) {}
    void apply(Candidates &c) override {
        materialize(c);
        if (t_ <= 0.0f) {
            // Only the most likely token survives (greedy through any later stage).
            size_t best = 0;
            for (size_t i = 1; i < c.items.size(); ++i)
                if (c.items[i].logit > c.items[best].logit) best = i;
            c.items = {c.items[best]};
            c.sorted = true;
            return;
        }
        float t = t_;
        if (delta_ > 0.0f && c.items.size() > 1) {
            // Dynamic temperature: scale between t-delta and t+delta by normalised entropy.
            normalize(c);
            double h = 0.0;
            for (const Candidate &x : c.items)
                if (x.p > 0.0f) h -= x.p * std::log(static_cast<double>(x.p));
            const double h_max = std::log(static_cast<double>(c.items.size()));
            const double norm = h_max > 0.0 ? h / h_max : 0.0;
            const float lo = std::max(0.0f, t_ - delta_), hi = t_ + delta_;
            t = lo + (hi - lo) * static_cast<float>(std::pow(norm, exponent_));
            if (t <= 0.0f) t = 1e-6f;
        }
        for (Candidate &x : c.items) x.logit /= t;
    }

private:
    float t_, delta_, exponent_;
};

class Greedy final : public SamplerStage {
public:
    void apply(Candidates &c) override {
        if (c.indexed) {
            size_t best = 0;
            for (size_t i = 1; i < c.dense.size(); ++i)
                if (c.dense[i] > c.dense[best]) best = i;
            c.selected = static_cast<int32_t>(best);
            return;
        }
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
        normalize(c); // materializes
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
std::unique_ptr<SamplerStage> make_temperature(float t, float delta, float exponent) {
    return std::make_unique<Temperature>(t, delta, exponent);
}
std::unique_ptr<SamplerStage> make_greedy() { return std::make_unique<Greedy>(); }
std::unique_ptr<SamplerStage> make_dist(uint64_t seed) { return std::make_unique<Dist>(seed); }

void SamplerChain::run_stages(const float *logits, int32_t n_vocab, bool masked) {
    work_.dense.assign(logits, logits + n_vocab);
    work_.items.clear();
    work_.sorted = false;
    work_.indexed = true;
    work_.selected = -1;
    if (masked) constraint_->mask(work_);
    for (auto &s : stages_) {
        s->apply(work_);
        if (work_.selected >= 0) break;
    }
    if (work_.selected < 0) fail(Status::internal, "the sampler chain has no stage that picks a token");
}

int32_t SamplerChain::sample(const float *logits, int32_t n_vocab) {
    const bool mask_first = constraint_ && !lazy_;
    run_stages(logits, n_vocab, mask_first);
    // The lazy path: keep the free choice when the constraint allows it, else choose again
    // among the allowed tokens only.
    if (constraint_ && !mask_first && !constraint_->allows(work_.selected)) run_stages(logits, n_vocab, true);
    return work_.selected;
}

void SamplerChain::accept(int32_t token) {
    if (constraint_) constraint_->accept(token);
    for (auto &s : stages_) s->accept(token);
}

void SamplerChain::accept_history(int32_t token) {
    for (auto &s : stages_) s->accept(token);
}

void SamplerChain::reset() {
    if (constraint_) constraint_->reset();
    for (auto &s : stages_) s->reset();
}

} // namespace corvid
