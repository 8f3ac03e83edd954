// Sampler stages on hand-made distributions.
#include "sample/sampler.h"

#include <doctest/doctest.h>

#include <cmath>
#include <map>

using namespace corvid;

TEST_CASE("sampler: greedy picks the highest logit, the first on ties") {
    SamplerChain c;
    c.add(make_greedy());
    const float l[] = {0.1f, 3.0f, -1.0f, 3.0f};
    CHECK(c.sample(l, 4) == 1);
}

TEST_CASE("sampler: top-k 1 makes a random chain deterministic") {
    SamplerChain c;
    c.add(make_top_k(1));
    c.add(make_dist(42));
    const float l[] = {0.5f, 0.4f, 2.0f, 1.9f};
    for (int i = 0; i < 20; ++i) CHECK(c.sample(l, 4) == 2);
}

TEST_CASE("sampler: top-p keeps the smallest head whose mass reaches p") {
    // p = softmax: ids 0,1 carry ~0.88 of the mass.
    const float l[] = {2.0f, 1.5f, -1.0f, -1.0f, -2.0f};
    Candidates c;
    c.dense.assign(l, l + 5);
    c.indexed = true;
    make_top_p(0.8f, 1)->apply(c);
    REQUIRE(c.items.size() == 2);
    CHECK(c.items[0].id == 0);
    CHECK(c.items[1].id == 1);
}

TEST_CASE("sampler: dist follows the probabilities and a seed repeats the sequence") {
    const float l[] = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    SamplerChain a, b;
    a.add(make_dist(7));
    b.add(make_dist(7));
    std::map<int, int> counts;
    for (int i = 0; i < 20000; ++i) {
        const int32_t t = a.sample(l, 3);
        CHECK(t == b.sample(l, 3));
        ++counts[t];
    }
    CHECK(counts[0] / 20000.0 == doctest::Approx(0.5).epsilon(0.05));
    CHECK(counts[2] / 20000.0 == doctest::Approx(0.2).epsilon(0.1));
    a.reset();
    SamplerChain fresh;
    fresh.add(make_dist(7));
    for (int i = 0; i < 50; ++i) CHECK(a.sample(l, 3) == fresh.sample(l, 3));
}

TEST_CASE("sampler: low temperature sharpens toward the argmax") {
    const float l[] = {1.0f, 1.1f, 0.9f};
    SamplerChain c;
    c.add(make_temperature(0.01f));
    c.add(make_dist(1));
    for (int i = 0; i < 100; ++i) CHECK(c.sample(l, 3) == 1);
}
