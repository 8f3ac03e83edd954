// The stages beyond the basics, on hand-made distributions.
#include "sample/sampler.h"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>

using namespace corvid;

namespace {

Candidates from(const std::vector<float> &logits) {
    Candidates c;
    c.dense = logits;
    c.indexed = true;
    return c;
}

std::set<int32_t> ids(Candidates &c) {
    materialize(c);
    std::set<int32_t> s;
    for (const auto &x : c.items) s.insert(x.id);
    return s;
}

std::vector<float> logp(const std::vector<float> &p) {
    std::vector<float> l;
    for (float x : p) l.push_back(std::log(x));
    return l;
}

} // namespace

TEST_CASE("sampler min-p keeps tokens with p >= p * p_max") {
    auto c = from(logp({0.5f, 0.3f, 0.1f, 0.06f, 0.04f}));
    make_min_p(0.15f, 1)->apply(c); // threshold 0.075
    CHECK(ids(c) == std::set<int32_t>{0, 1, 2});
    auto d = from(logp({0.5f, 0.3f, 0.1f, 0.06f, 0.04f}));
    make_min_p(0.15f, 4)->apply(d); // min_keep wins
    CHECK(d.items.size() == 4);
}

TEST_CASE("sampler typical-p keeps the tokens whose surprise is closest to the entropy") {
    // Entropy of (0.4, 0.3, 0.2, 0.1) ~ 1.28 nats; surprises: 0.92, 1.20, 1.61, 2.30, so the
    // order by distance is 1 (0.08), 2 (0.33), 0 (0.36), 3 (1.02).
    auto c = from(logp({0.4f, 0.3f, 0.2f, 0.1f}));
    make_typical(0.45f, 1)->apply(c);
    CHECK(ids(c) == std::set<int32_t>{1, 2}); // mass 0.5 > 0.45
}

TEST_CASE("sampler XTC removes the likely tokens except the least likely of them") {
    auto c = from(logp({0.4f, 0.3f, 0.2f, 0.1f}));
    make_xtc(1.0f, 0.25f, 1, 3)->apply(c); // 0 and 1 are above 0.25: 0 goes
    CHECK(ids(c) == std::set<int32_t>{1, 2, 3});
    auto d = from(logp({0.4f, 0.3f, 0.2f, 0.1f}));
    make_xtc(0.0f, 0.25f, 1, 3)->apply(d); // probability 0: never
    CHECK(ids(d).size() == 4);
}

TEST_CASE("sampler penalties: repeat divides positive and multiplies negative logits; frequency and presence subtract") {
    auto st = make_penalties(64, 2.0f, 0.5f, 0.25f);
    st->accept(0);
    st->accept(0);
    st->accept(1);
    auto c = from({4.0f, -1.0f, 3.0f});
    st->apply(c);
    materialize(c);
    CHECK(c.items[0].logit == doctest::Approx(4.0 / 2 - 2 * 0.5 - 0.25));
    CHECK(c.items[1].logit == doctest::Approx(-1.0 * 2 - 0.5 - 0.25));
    CHECK(c.items[2].logit == 3.0f);
    // A window of 1 remembers only the last token.
    auto w = make_penalties(1, 2.0f, 0.0f, 0.0f);
    w->accept(0);
    w->accept(1);
    auto d = from({4.0f, 4.0f});
    w->apply(d);
    materialize(d);
    CHECK(d.items[0].logit == 4.0f);
    CHECK(d.items[1].logit == 2.0f);
}

TEST_CASE("sampler DRY penalises the token that would extend a repetition") {
    // History: 5 6 7 9 5 6 -> after "5 6" came 7; the current tail is "5 6", so 7 repeats (length 2).
    auto st = make_dry(1.0f, 2.0f, 2, -1, {9});
    for (int32_t t : {5, 6, 7, 8, 5, 6}) st->accept(t);
    auto c = from(std::vector<float>(10, 0.0f));
    st->apply(c);
    materialize(c);
    CHECK(c.items[7].logit == doctest::Approx(-1.0)); // 1 * 2^(2-2)
    CHECK(c.items[8].logit == 0.0f);
    // A breaker inside the repeated stretch stops it.
    auto br = make_dry(1.0f, 2.0f, 2, -1, {6});
    for (int32_t t : {5, 6, 7, 8, 5, 6}) br->accept(t);
    auto d = from(std::vector<float>(10, 0.0f));
    br->apply(d);
    materialize(d);
    CHECK(d.items[7].logit == 0.0f);
}

TEST_CASE("sampler logit bias adds, and -inf bans") {
    auto c = from({1.0f, 2.0f, 3.0f});
    make_logit_bias({{2, -INFINITY}, {0, 5.0f}})->apply(c);
    SamplerChain chain;
    chain.add(make_logit_bias({{2, -INFINITY}, {0, 5.0f}}));
    chain.add(make_greedy());
    const float l[] = {1.0f, 2.0f, 3.0f};
    CHECK(chain.sample(l, 3) == 0);
}

TEST_CASE("sampler temperature: 0 keeps only the argmax; dynamic temperature stays in its range") {
    auto c = from({1.0f, 3.0f, 2.0f});
    make_temperature(0.0f)->apply(c);
    REQUIRE(c.items.size() == 1);
    CHECK(c.items[0].id == 1);
    // Uniform distribution: normalised entropy 1 -> t + delta.
    auto u = from({1.0f, 1.0f, 1.0f, 1.0f});
    make_temperature(1.0f, 0.5f, 1.0f)->apply(u);
    materialize(u);
    CHECK(u.items[0].logit == doctest::Approx(1.0 / 1.5));
}

TEST_CASE("sampler mirostat v2 is deterministic for a seed and adapts toward tau") {
    std::vector<float> l(100);
    for (int i = 0; i < 100; ++i) l[static_cast<size_t>(i)] = -0.1f * static_cast<float>(i);
    SamplerChain a, b;
    a.add(make_mirostat_v2(3.0f, 0.1f, 9));
    b.add(make_mirostat_v2(3.0f, 0.1f, 9));
    double surprise = 0;
    const int n = 2000;
    for (int i = 0; i < n; ++i) {
        const int32_t t = a.sample(l.data(), 100);
        CHECK(t == b.sample(l.data(), 100));
        double z = 0;
        for (float x : l) z += std::exp(x);
        surprise += -std::log2(std::exp(l[static_cast<size_t>(t)]) / z);
    }
    // The average surprise of the (unfiltered) distribution's picks sits near tau.
    CHECK(surprise / n == doctest::Approx(3.0).epsilon(0.25));
}

TEST_CASE("sampler chain: the same seed gives the same tokens; reset replays") {
    std::vector<float> l(1000);
    for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(static_cast<float>(i)) * 3.0f;
    auto make = [] {
        SamplerChain c;
        c.add(make_penalties(64, 1.1f, 0.0f, 0.0f));
        c.add(make_top_k(40));
        c.add(make_top_p(0.95f, 1));
        c.add(make_min_p(0.05f, 1));
        c.add(make_temperature(0.8f));
        c.add(make_dist(1234));
        return c;
    };
    SamplerChain a = make(), b = make();
    std::vector<int32_t> first;
    for (int i = 0; i < 50; ++i) {
        const int32_t t = a.sample(l.data(), 1000);
        a.accept(t);
        CHECK(t == b.sample(l.data(), 1000));
        b.accept(t);
        first.push_back(t);
    }
    a.reset();
    for (int i = 0; i < 50; ++i) {
        const int32_t t = a.sample(l.data(), 1000);
        a.accept(t);
        CHECK(t == first[static_cast<size_t>(i)]);
    }
}
