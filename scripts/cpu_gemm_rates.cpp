// How fast one core runs the AVX-512 (or AVX2) blocked prompt kernels (Kernels::gemm) of each weight
// type: the panel repacking (pack) and the register-tile product (gemm) timed apart, on one
// 16-row panel of K elements against 128 activation columns (16 groups), all in cache.
// Reports the packing time per panel, the product's rate in Gops (2 K x rows x columns a
// call) and the share of a panel's time the packing takes at 128 columns (the driver packs
// each panel once per matrix product and then runs it against every column group). Timings
// only: correctness is the conformance suite's job.
//
//   g++ -O2 -std=c++20 -Ibackends -Isrc -Iinclude scripts/cpu_gemm_rates.cpp
//       build/libcorvid.a -lpthread -fopenmp -o /tmp/gemm_rates     (one line)
//   /tmp/gemm_rates [K] [avx2|avx512]      (defaults 2048, avx512)
#include "cpu/cpu_matmul_fast.h"
#include "tensor/dtype.h"
#include "tensor/quants.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

using namespace corvid;
using namespace corvid::cpu::fast;

int main(int argc, char **argv) {
    const int64_t K = argc > 1 ? std::atoll(argv[1]) : 2048;
    if (K <= 0 || K % 256) return std::fprintf(stderr, "K must be a positive multiple of 256\n"), 2;
    const bool avx2 = argc > 2 && std::strcmp(argv[2], "avx2") == 0;
    const Kernels *k = avx2 ? kernels_avx2() : kernels_avx512();
    if (!k) return std::fprintf(stderr, "no such kernels in this build or on this processor\n"), 1;
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.f, 1.f);
    const int64_t ncols = 128, ngroups = ncols / kGemmCols;

    const DType types[] = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::F16};
    for (DType t : types) {
        const GemmKernel &gk = k->gemm[static_cast<int>(t)];
        if (!gk.rows) continue;
        const size_t row = static_cast<size_t>(*dtype_row_bytes(t, static_cast<uint64_t>(K)));
        std::vector<uint8_t> w(static_cast<size_t>(gk.rows) * row);
        std::vector<float> src(static_cast<size_t>(K));
        std::vector<const void *> rows(static_cast<size_t>(gk.rows));
        for (int r = 0; r < gk.rows; ++r) {
            for (float &v : src) v = nd(rng) * 0.05f;
            quantize_row(t, src.data(), w.data() + r * row, K);
            rows[static_cast<size_t>(r)] = w.data() + r * row;
        }
        // Grouped activations: each group's bytes quantized from random floats by the
        // kernel table's own grouping function where it has one, else left random.
        const DType at = t == DType::F16 ? DType::F16 : (t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K) ? DType::Q8_K : DType::Q8_0;
        size_t gbytes = 0;
        if (at == DType::Q8_K) gbytes = static_cast<size_t>(K / 256) * kActQ8KBytes;
        else if (at == DType::Q8_0) gbytes = static_cast<size_t>(K / 32) * kActB32Bytes;
        else gbytes = (static_cast<size_t>(K) * kGemmCols * 4 + 63) / 64 * 64;
        auto *acts = static_cast<uint8_t *>(std::aligned_alloc(64, gbytes * ngroups));
        std::memset(acts, 0, gbytes * ngroups);
        for (int64_t g = 0; g < ngroups; ++g)
            for (int c = 0; c < kGemmCols; ++c) {
                for (float &v : src) v = nd(rng);
                if (k->group_act) k->group_act(static_cast<int>(at), src.data(), K, acts + g * gbytes, c, gk.act_offset);
            }
        const size_t pbytes = (gk.panel_bytes(K) + 63) / 64 * 64;
        auto *panel = static_cast<uint8_t *>(std::aligned_alloc(64, pbytes));
        std::vector<float> out(static_cast<size_t>(ncols * gk.rows));
        auto best_of = [](int reps, auto &&fn) {
            double best = 1e30;
            for (int i = 0; i < 7; ++i) {
                const auto t0 = std::chrono::steady_clock::now();
                for (int r = 0; r < reps; ++r) fn();
                best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
            }
            return best;
        };
        const double t_pack = best_of(4000, [&] {
            gk.pack(K, rows.data(), gk.rows, panel);
            __asm__ volatile("" : : "r"(panel) : "memory");
        });
        gk.pack(K, rows.data(), gk.rows, panel);
        const double t_gemm = best_of(400, [&] {
            for (int64_t g = 0; g < ngroups; ++g)
                gk.gemm(K, panel, gk.rows, acts + g * gbytes, kGemmCols, out.data() + g * kGemmCols * gk.rows, gk.rows);
            __asm__ volatile("" : : "r"(out.data()) : "memory");
        });
        const double ops = 2.0 * static_cast<double>(K) * gk.rows * ncols;
        std::printf("%-5s K %lld, %d rows: pack %7.2f us, gemm x128 %8.2f us = %5.0f Gops, pack share %4.1f%%, with pack %5.0f Gops\n",
                    dtype_name(t), static_cast<long long>(K), gk.rows, t_pack * 1e6, t_gemm * 1e6, ops / t_gemm / 1e9,
                    100 * t_pack / (t_pack + t_gemm), ops / (t_pack + t_gemm) / 1e9);
        std::free(panel);
        std::free(acts);
    }
}
