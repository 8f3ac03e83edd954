// Times the default sampler chain on a 256k vocabulary (not a test: run it by hand).
//   build/tests/corvid-sampler-bench [n_vocab] [iterations]
#include "sample/chain_builder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

int main(int argc, char **argv) {
    const int n_vocab = argc > 1 ? std::atoi(argv[1]) : 262144;
    const int iters = argc > 2 ? std::atoi(argv[2]) : 200;
    std::mt19937 rng(1);
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    for (auto &x : logits) x = d(rng);

    struct Case { const char *name; corvid::SamplerSettings s; };
    std::vector<Case> cases;
    cases.push_back({"default (penalties;dry;top_k 40;typ_p;top_p;min_p;xtc;temp)", {}});
    corvid::SamplerSettings all;
    all.repeat_penalty = 1.1f;
    all.dry_multiplier = 0.8f;
    all.typical_p = 0.9f;
    all.xtc_probability = 0.5f;
    cases.push_back({"everything on (repeat, DRY, typical, XTC)", all});
    corvid::SamplerSettings greedy;
    greedy.temperature = 0.0f;
    cases.push_back({"greedy", greedy});
    corvid::SamplerSettings notopk;
    notopk.top_k = 0;
    cases.push_back({"top_k off (top_p/min_p over the whole vocabulary)", notopk});

    for (auto &c : cases) {
        auto chain = corvid::build_chain(c.s);
        for (int i = 0; i < 64; ++i) chain.accept(i * 7 % n_vocab);
        std::vector<double> us;
        for (int i = 0; i < iters; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            const int32_t t = chain.sample(logits.data(), n_vocab);
            chain.accept(t);
            us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(us.begin(), us.end());
        std::printf("%-60s n_vocab %d: median %.0f us, p99 %.0f us\n", c.name, n_vocab, us[us.size() / 2],
                    us[us.size() * 99 / 100]);
    }
}
