// How long each pass of the CPU fast attention kernel takes per key, outside the driver:
// one query group (4 rows, D 64) over n keys of 8 interleaved KV heads (the 1B model's
// cache layout), F16, everything in cache; the AVX-512 kernels (cpu_attention_fast.h).
// Timings only (correctness: the attention tests).
//
//   g++ -O2 -mf16c -std=c++20 -Ibackends -Isrc -Iinclude scripts/cpu_attention_passes.cpp
//       build/libcorvid.a -o /tmp/attention_passes                          (one line)
//   /tmp/attention_passes [n keys] [repetitions]   (defaults 512, 2000)
#include "cpu/cpu_attention_fast.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <immintrin.h>
#include <random>
#include <vector>

using namespace corvid::cpu::attn;

int main(int argc, char **argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 512, reps = argc > 2 ? std::atoi(argv[2]) : 2000;
    constexpr int HKV = 8, D = 64, G = 4;
    if (n <= 0 || reps <= 0) return std::fprintf(stderr, "n and repetitions must be positive\n"), 2;
    const Kernels *k = kernels_avx512();
    if (!k) return std::fprintf(stderr, "no AVX-512 attention kernels in this build\n"), 1;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
    std::vector<uint16_t> K(static_cast<size_t>(n) * HKV * D), V(K.size());
    for (auto &x : K) x = _cvtss_sh(ud(rng), 0);
    for (auto &x : V) x = _cvtss_sh(ud(rng), 0);
    std::vector<float> q(G * D), mask(static_cast<size_t>(n), 0.0f), s(static_cast<size_t>(G) * n), acc(G * D), tiles(2 * 16 * D);
    for (auto &x : q) x = _cvtsh_ss(_cvtss_sh(ud(rng), 0)); // F16-rounded, as the driver prepares it
    float m[G], inv[G];
    double l[G];
    const float *mrows[G] = {mask.data(), mask.data(), mask.data(), mask.data()};
    Tile t;
    t.D = D, t.Dp = D, t.rows = G, t.q = q.data(), t.mask = mrows, t.n = n, t.f16 = true, t.scale = 0.125f;
    t.k_stride = t.v_stride = HKV * D * sizeof(uint16_t);
    t.s = s.data(), t.s_stride = n, t.m = m, t.l = l, t.inv = inv, t.acc = acc.data();
    t.scratch = tiles.data(), t.ktile = tiles.data() + 16 * D;
    double ts = 0, tsum = 0, tv = 0;
    using clock = std::chrono::steady_clock;
    for (int rep = 0; rep < reps; ++rep)
        for (int h = 0; h < HKV; ++h) {
            t.k = reinterpret_cast<const uint8_t *>(K.data() + h * D);
            t.v = reinterpret_cast<const uint8_t *>(V.data() + h * D);
            for (int r = 0; r < G; ++r) m[r] = -INFINITY, l[r] = 0.0;
            const auto t0 = clock::now();
            k->score_pass(t);
            const auto t1 = clock::now();
            k->sum_pass(t);
            for (int r = 0; r < G; ++r) inv[r] = static_cast<float>(1.0 / l[r]);
            std::fill(acc.begin(), acc.end(), 0.0f); // (value_pass adds to it)
            const auto t2 = clock::now();
            k->value_pass(t);
            const auto t3 = clock::now();
            ts += std::chrono::duration<double>(t1 - t0).count();
            tsum += std::chrono::duration<double>(t2 - t1).count();
            tv += std::chrono::duration<double>(t3 - t2).count();
        }
    const double keys = static_cast<double>(reps) * HKV * n;
    std::printf("%d keys x %d heads, %d rows, D %d: score %.2f ns, sum %.2f ns, value %.2f ns a key (check %g)\n", n, HKV, G, D,
                ts / keys * 1e9, tsum / keys * 1e9, tv / keys * 1e9, static_cast<double>(acc[3]));
    return 0;
}
