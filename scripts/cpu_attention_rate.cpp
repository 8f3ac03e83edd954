// How fast the CPU fast path runs decode attention over a long F16 cache: one query token,
// 32 query heads over 8 KV heads of 64 (the 1B random model's shape), NKV keys, two threads,
// in GB/s of K and V read (each cell once a step). Timings only (correctness: the attention
// tests). The cache is 2 x NKV x 1 KiB (8 MiB at NKV 4096, which the last-level cache may
// hold: `cold` evicts it before each call, as a decode step's weights do).
//
//   g++ -O2 -std=c++20 -Ibackends -Isrc -Iinclude -Itests scripts/cpu_attention_rate.cpp
//       build/libcorvid.a -lpthread -fopenmp -o /tmp/attention_rate     (one line)
//   /tmp/attention_rate [NKV] [threads] [KV heads] [cold]  (defaults 4096, 2, 8, 0; 4 query heads each)
#include "graph/graph_runner.h"

#include "cpu/cpu_kernels.h"
#include "cpu/cpu_parallel.h"
#include "tensor/quants.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

using namespace corvid;
using namespace corvid::test;

int main(int argc, char **argv) {
    const int64_t NKV = argc > 1 ? std::atoll(argv[1]) : 4096;
    const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    const int64_t HKV = argc > 3 ? std::atoll(argv[3]) : 8, D = 64, H = 4 * HKV;
    const bool cold = argc > 4 && std::atoi(argv[4]) != 0;
    cpu::set_parallel_threads(threads);
    OwnedTensor kc(DType::F16, {D * HKV, NKV}, "k"), vc(DType::F16, {D * HKV, NKV}, "v");
    OwnedTensor q(DType::F32, {D, H, 1}, "q"), mask(DType::F32, {NKV, 2}, "mask"), out(DType::F32, {D, H, 1}, "out");
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> row(static_cast<size_t>(D * HKV));
    for (int64_t j = 0; j < NKV; ++j) {
        for (auto &x : row) x = nd(rng);
        quantize_row(DType::F16, row.data(), kc.t.row(j), D * HKV);
        for (auto &x : row) x = nd(rng);
        quantize_row(DType::F16, row.data(), vc.t.row(j), D * HKV);
    }
    for (int64_t i = 0; i < D * H; ++i) q.f32()[i] = nd(rng);
    std::fill(mask.f32(), mask.f32() + 2 * NKV, 0.0f);
    Tensor kview, vview;
    for (auto [view, cache] : {std::pair<Tensor *, OwnedTensor *>{&kview, &kc}, {&vview, &vc}}) {
        view->type = DType::F16;
        view->ne[0] = D, view->ne[1] = NKV, view->ne[2] = HKV, view->ne[3] = 1;
        view->nb[0] = 2, view->nb[1] = cache->t.nb[1], view->nb[2] = static_cast<size_t>(D) * 2;
        view->nb[3] = view->nb[2] * static_cast<size_t>(HKV);
        view->data = cache->t.data;
    }
    out.t.op = Op::attention;
    out.t.src[0] = &q.t, out.t.src[1] = &kview, out.t.src[2] = &vview, out.t.src[3] = &mask.t;
    out.t.fp[0] = 0.125f;
    if (!cpu::attention_fast(out.t)) return std::fprintf(stderr, "no fast attention path here\n"), 1;
    const double bytes = 2.0 * static_cast<double>(NKV) * D * HKV * 2;
    // Cold: as in a decode step, where the layer's weights pass through the caches between
    // two attentions, 64 MiB are written before each (untimed) call.
    std::vector<uint8_t> evict(cold ? (64u << 20) : 0);
    double best = 1e30;
    for (int rep = 0; rep < 7; ++rep) {
        const int n = 20;
        double total = 0;
        for (int i = 0; i < n; ++i) {
            if (cold) std::fill(evict.begin(), evict.end(), static_cast<uint8_t>(i));
            const auto t0 = std::chrono::steady_clock::now();
            cpu::attention_fast(out.t);
            total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        best = std::min(best, total / n);
    }
    std::printf("decode attention, %lld keys, %lld KV heads, %d threads, %s: %.3f ms a call, %.1f GB/s of K and V\n",
                static_cast<long long>(NKV), static_cast<long long>(HKV), threads, cold ? "cold" : "in cache", best * 1e3,
                bytes / best / 1e9);
}
