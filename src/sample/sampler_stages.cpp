// The sampler stages beyond the basics: min-p, typical-p, XTC, penalties, DRY, logit
// bias and mirostat v2. Semantics follow llama.cpp's samplers of the same names.
#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace corvid {
namespace {

class MinP final : public SamplerStage {
public:
    MinP(float p, size_t min_keep) : p_(p), min_keep_(std::max<size_t>(1, min_keep)) {}
    void apply(Candidates &c) override {
        if (p_ <= 0.0f) return;
        materialize(c);
        if (c.items.size() <= 1) return;
        // p_i >= p * p_max  <=>  logit_i >= logit_max + log(p): no softmax needed.
        float mx = -INFINITY;
        for (const Candidate &x : c.items) mx = std::max(mx, x.logit);
        const float cut = mx + std::log(p_);
        sort_desc(c);
        size_t keep = 0;
        while (keep < c.items.size() && (c.items[keep].logit >= cut || keep < min_keep_)) ++keep;
        c.items.resize(std::max<size_t>(1, keep));
    }

private:
    float p_;
    size_t min_keep_;
};

class Typical final : public SamplerStage {
public:
    Typical(float p, size_t min_keep) : p_(p), min_keep_(std::max<size_t>(1, min_keep)) {}
    void apply(Candidates &c) override {
        if (p_ >= 1.0f) return;
        materialize(c);
        if (c.items.size() <= 1) return;
        normalize(c);
        double entropy = 0.0;
        for (const Candidate &x : c.items)
            if (x.p > 0.0f) entropy -= x.p * std::log(static_cast<double>(x.p));
        // Order by how far each token's surprise is from the entropy; keep the closest
        // ones until their mass reaches p.
        std::vector<std::pair<double, size_t>> dist(c.items.size());
        for (size_t i = 0; i < c.items.size(); ++i) {
            const double surprise = c.items[i].p > 0.0f ? -std::log(static_cast<double>(c.items[i].p)) : INFINITY;
            dist[i] = {std::fabs(surprise - entropy), i};
        }
        std::stable_sort(dist.begin(), dist.end());
        double cum = 0.0;
        size_t keep = dist.size();
        for (size_t k = 0; k < dist.size(); ++k) {
            cum += c.items[dist[k].second].p;
            if (cum > p_ && k + 1 >= min_keep_) {
                keep = k + 1;
                break;
            }
        }
        std::vector<Candidate> out;
        out.reserve(keep);
        for (size_t k = 0; k < keep; ++k) out.push_back(c.items[dist[k].second]);
        c.items = std::move(out);
        c.sorted = false;
    }

private:
    float p_;
    size_t min_keep_;
};

class Xtc final : public SamplerStage {
public:
    Xtc(float probability, float threshold, size_t min_keep, uint64_t seed)
        : probability_(probability), threshold_(threshold), min_keep_(std::max<size_t>(1, min_keep)), seed_(seed), rng_(seed) {}
    void apply(Candidates &c) override {
        if (probability_ <= 0.0f || threshold_ > 0.5f) return;
        materialize(c);
        if (c.items.size() < 2) return;
        std::uniform_real_distribution<float> u(0.0f, 1.0f);
        if (u(rng_) >= probability_) return;
        sort_desc(c);
        normalize(c);
        // The tokens at or above the threshold form a prefix; drop all but its last.
        size_t above = 0;
        while (above < c.items.size() && c.items[above].p >= threshold_) ++above;
        if (above < 2) return;
        const size_t drop = above - 1;
        if (c.items.size() - drop < min_keep_) return;
        c.items.erase(c.items.begin(), c.items.begin() + static_cast<long>(drop));
    }
    void reset() override { rng_.seed(seed_); }

private:
    float probability_, threshold_;
    size_t min_keep_;
    uint64_t seed_;
    std::mt19937_64 rng_;
};

// The last `last_n` accepted tokens (all of them when last_n < 0).
class History {
public:
    explicit History(int32_t last_n) : last_n_(last_n) {}
    void push(int32_t t) {
        tokens_.push_back(t);
        if (last_n_ >= 0 && tokens_.size() > static_cast<size_t>(last_n_)) tokens_.erase(tokens_.begin());
    }
    void clear() { tokens_.clear(); }
    const std::vector<int32_t> &tokens() const { return tokens_; }

private:
    int32_t last_n_;
    std::vector<int32_t> tokens_;
};

class Penalties final : public SamplerStage {
public:
    Penalties(int32_t last_n, float repeat, float frequency, float presence)
        : history_(last_n), repeat_(repeat), frequency_(frequency), presence_(presence), off_(last_n == 0) {}
    void apply(Candidates &c) override {
        if (off_ || (repeat_ == 1.0f && frequency_ == 0.0f && presence_ == 0.0f)) return;
        std::unordered_map<int32_t, int> count;
        for (int32_t t : history_.tokens()) ++count[t];
        for (const auto &[id, n] : count) {
            float *x = find_logit(c, id);
            if (!x) continue;
            *x = *x <= 0.0f ? *x * repeat_ : *x / repeat_;
            *x -= static_cast<float>(n) * frequency_ + presence_;
            c.sorted = false;
        }
    }
    void accept(int32_t token) override { history_.push(token); }
    void reset() override { history_.clear(); }

private:
    History history_;
    float repeat_, frequency_, presence_;
    bool off_;
};

class Dry final : public SamplerStage {
public:
    Dry(float multiplier, float base, int32_t allowed_length, int32_t last_n, std::vector<int32_t> breakers)
        : multiplier_(multiplier), base_(base), allowed_(std::max(1, allowed_length)), history_(last_n),
          breakers_(std::move(breakers)) {}
    void apply(Candidates &c) override {
        const auto &h = history_.tokens();
        if (multiplier_ <= 0.0f || base_ < 1.0f || h.size() < 2) return;
        auto is_breaker = [&](int32_t t) { return std::find(breakers_.begin(), breakers_.end(), t) != breakers_.end(); };
        // For every earlier occurrence of a token, how long a stretch of the history's
        // end repeats the stretch just before that occurrence; the token after it would
        // extend the repetition.
        const size_t n = h.size();
        std::unordered_map<int32_t, size_t> longest; // next token -> longest repeat it would extend
        for (size_t j = 0; j + 1 < n; ++j) {
            // Match h[..j] backwards against h[..n-1].
            size_t len = 0;
            while (len <= j && !is_breaker(h[j - len]) && h[j - len] == h[n - 1 - len]) ++len;
            if (len == 0) continue;
            const int32_t next = h[j + 1];
            if (is_breaker(next)) continue;
            size_t &best = longest[next];
            best = std::max(best, len);
        }
        for (const auto &[id, len] : longest) {
            float *x = find_logit(c, id);
            if (!x || len < static_cast<size_t>(allowed_)) continue;
            *x -= multiplier_ * std::pow(base_, static_cast<float>(len - static_cast<size_t>(allowed_)));
            c.sorted = false;
        }
    }
    void accept(int32_t token) override { history_.push(token); }
    void reset() override { history_.clear(); }

private:
    float multiplier_, base_;
    int32_t allowed_;
    History history_;
    std::vector<int32_t> breakers_;
};

class LogitBias final : public SamplerStage {
public:
    explicit LogitBias(std::vector<std::pair<int32_t, float>> bias) : bias_(std::move(bias)) {}
    void apply(Candidates &c) override {
        for (const auto &[id, b] : bias_)
            if (float *x = find_logit(c, id)) {
                *x += b;
                c.sorted = false;
            }
    }

private:
    std::vector<std::pair<int32_t, float>> bias_;
};

class MirostatV2 final : public SamplerStage {
public:
    MirostatV2(float tau, float eta, uint64_t seed) : tau_(tau), eta_(eta), mu_(2.0f * tau), seed_(seed), rng_(seed) {}
    void apply(Candidates &c) override {
        sort_desc(c);
        normalize(c);
        // Drop tokens more surprising than mu (keeping at least the first).
        size_t keep = 1;
        while (keep < c.items.size() && -std::log2(c.items[keep].p) <= mu_) ++keep;
        c.items.resize(keep);
        normalize(c);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        const double r = u(rng_);
        double cum = 0.0;
        size_t pick = c.items.size() - 1;
        for (size_t i = 0; i < c.items.size(); ++i) {
            cum += c.items[i].p;
            if (r < cum) {
                pick = i;
                break;
            }
        }
        const float surprise = -std::log2(c.items[pick].p);
        mu_ -= eta_ * (surprise - tau_);
        c.selected = c.items[pick].id;
    }
    void reset() override {
        mu_ = 2.0f * tau_;
        rng_.seed(seed_);
    }

private:
    float tau_, eta_, mu_;
    uint64_t seed_;
    std::mt19937_64 rng_;
};

} // namespace

std::unique_ptr<SamplerStage> make_min_p(float p, size_t min_keep) { return std::make_unique<MinP>(p, min_keep); }
std::unique_ptr<SamplerStage> make_typical(float p, size_t min_keep) { return std::make_unique<Typical>(p, min_keep); }
std::unique_ptr<SamplerStage> make_xtc(float probability, float threshold, size_t min_keep, uint64_t seed) {
    return std::make_unique<Xtc>(probability, threshold, min_keep, seed);
}
std::unique_ptr<SamplerStage> make_penalties(int32_t last_n, float repeat, float frequency, float presence) {
    return std::make_unique<Penalties>(last_n, repeat, frequency, presence);
}
std::unique_ptr<SamplerStage> make_dry(float multiplier, float base, int32_t allowed_length, int32_t last_n,
                                       std::vector<int32_t> breakers) {
    return std::make_unique<Dry>(multiplier, base, allowed_length, last_n, std::move(breakers));
}
std::unique_ptr<SamplerStage> make_logit_bias(std::vector<std::pair<int32_t, float>> bias) {
    return std::make_unique<LogitBias>(std::move(bias));
}
std::unique_ptr<SamplerStage> make_mirostat_v2(float tau, float eta, uint64_t seed) {
    return std::make_unique<MirostatV2>(tau, eta, seed);
}

} // namespace corvid
