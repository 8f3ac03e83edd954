// How fast one core runs the AVX-512 (or AVX2) decode row kernels (Kernels::dot_rows) of each weight
// type, and the panel kernels (Kernels::dot_panel) where the type has one, in GB/s of weights: on 64 rows that stay in cache (the kernels' compute rate, to set
// against a core's share of the memory bandwidth, `corvid bench`'s probe / the threads) and
// on 288 MiB of rows (from memory). Valid blocks (quantized from random floats by the library's quantizers); the
// activation column in the layout the driver makes. Timings only: correctness is the
// conformance suite's job.
//
//   g++ -O2 -std=c++20 -Ibackends -Isrc -Iinclude scripts/cpu_decode_rates.cpp
//       build/libcorvid.a -lpthread -fopenmp -o /tmp/decode_rates     (one line)
//   /tmp/decode_rates [K] [rows per call] [avx2|avx512] [type] (defaults 2048, the table's choice, avx512,
//                                                          every type; e.g. q5_K for one)
#include "cpu/cpu_matmul_fast.h"
#include "cpu/cpu_panels.h"
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
    const int forced_rows = argc > 2 ? std::atoi(argv[2]) : 0;
    if (K <= 0 || K % 256) return std::fprintf(stderr, "K must be a positive multiple of 256\n"), 2;
    const bool avx2 = argc > 3 && std::strcmp(argv[3], "avx2") == 0;
    const char *only = argc > 4 ? argv[4] : nullptr;
    const Kernels *k = avx2 ? kernels_avx2() : kernels_avx512();
    if (!k) return std::fprintf(stderr, "no AVX-512 kernels in this build or on this processor\n"), 1;
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(K));
    for (float &v : x) v = nd(rng);

    // The activation in both partner formats (Q8_0 per 32, Q8_K per 256) and Q4_0's qt.
    const int64_t nb = K / 32;
    std::vector<int8_t> qs(static_cast<size_t>(K));
    std::vector<float> d32(static_cast<size_t>(nb)), dK(static_cast<size_t>(K / 256));
    std::vector<int32_t> s32(static_cast<size_t>(nb));
    std::vector<int16_t> bs(static_cast<size_t>(K / 16));
    for (int64_t b = 0; b < nb; ++b) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
        d32[b] = amax / 127;
        int32_t sum = 0;
        for (int i = 0; i < 32; ++i) {
            qs[b * 32 + i] = static_cast<int8_t>(std::lround(x[b * 32 + i] / d32[b]));
            sum += qs[b * 32 + i];
        }
        s32[b] = sum;
    }
    for (int64_t b = 0; b < K / 256; ++b) dK[b] = d32[b * 8];
    for (int64_t i = 0; i < K / 16; ++i) {
        int s = 0;
        for (int j = 0; j < 16; ++j) s += qs[i * 16 + j];
        bs[i] = static_cast<int16_t>(s);
    }
    const int64_t groups = (nb + kQtBlocks - 1) / kQtBlocks;
    auto *qt = static_cast<int8_t *>(std::aligned_alloc(64, static_cast<size_t>(groups) * kQtGroupBytes));
    std::memset(qt, 0, static_cast<size_t>(groups) * kQtGroupBytes);
    for (int64_t g = 0; g < groups; ++g)
        for (int b = 0; b < kQtBlocks && g * kQtBlocks + b < nb; ++b) {
            int8_t *grp = qt + g * kQtGroupBytes;
            const int8_t *xb = qs.data() + (g * kQtBlocks + b) * 32;
            const int j = b / 4, lane = b % 4;
            std::memcpy(grp + 64 * j + 16 * lane, xb, 16);
            std::memcpy(grp + 256 + 64 * j + 16 * lane, xb + 16, 16);
            for (int i = 0; i < 4; ++i) {
                int32_t sum = 0;
                for (int e = 0; e < 4; ++e) sum += xb[4 * i + e] + xb[16 + 4 * i + e];
                const int32_t neg = -8 * sum;
                std::memcpy(grp + kQtS + 4 * (16 * j + 4 * lane + i), &neg, 4);
            }
        }

    const DType types[] = {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::Q5_K, DType::F16,
                           DType::Q5_0, DType::Q4_1, DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::IQ4_NL, DType::BF16};
    for (DType t : types) {
        const DotRowsFn rows = k->dot_rows[static_cast<int>(t)];
        if (!rows && !k->dot_panel[static_cast<int>(t)]) continue;
        if (only && std::strcmp(only, dtype_name(t)) != 0) continue;
        const bool k_quant = t == DType::Q4_K || t == DType::Q6_K || t == DType::Q5_K || t == DType::Q2_K || t == DType::Q3_K;
        const bool half = t == DType::F16 || t == DType::BF16;
        const ActCol col = half ? ActCol{nullptr, nullptr, nullptr, nullptr, nullptr, nullptr}
                           : k_quant       ? ActCol{qs.data(), dK.data(), nullptr, bs.data(), nullptr, nullptr}
                                           : ActCol{qs.data(), d32.data(), s32.data(), nullptr, nullptr, qt};
        std::vector<uint16_t> xf16;
        ActCol fcol = col;
        if (half) { // the activation in the weights' 16-bit format
            xf16.resize(static_cast<size_t>(K));
            quantize_row(t, x.data(), xf16.data(), K);
            fcol.f = xf16.data();
        }
        const size_t row = static_cast<size_t>(*dtype_row_bytes(t, static_cast<uint64_t>(K)));
        const size_t nrows = 64;
        std::vector<uint8_t> w(nrows * row);
        std::vector<float> src(static_cast<size_t>(K));
        for (size_t r = 0; r < nrows; ++r) {
            for (float &v : src) v = nd(rng) * 0.05f;
            quantize_row(t, src.data(), w.data() + r * row, K);
        }
        // From memory: the same 64 rows repeated over 288 MiB (far beyond the caches).
        const size_t big_rows = (size_t(288) << 20) / row / nrows * nrows;
        std::vector<uint8_t> big(big_rows * row);
        for (size_t r = 0; r < big_rows; r += nrows) std::memcpy(big.data() + r * row, w.data(), nrows * row);
        const int per_call = forced_rows ? forced_rows : std::max(1, k->dot_rows_per_call[static_cast<int>(t)]);
        // GB/s of weights over `n` rows at p, swept `reps` times, best of 7; call(p, r) computes
        // rows r.. (step rows a call).
        auto timed = [&](const uint8_t *p, size_t n, size_t reps, size_t step, auto &&call) {
            double best = 1e30;
            for (int rep7 = 0; rep7 < 7; ++rep7) {
                const auto t0 = std::chrono::steady_clock::now();
                for (size_t rep = 0; rep < reps; ++rep)
                    for (size_t r = 0; r + step <= n; r += step) call(p, r);
                best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            return static_cast<double>(reps * n * row) / best / 1e9;
        };
        auto rate = [&](const uint8_t *p, size_t n, size_t reps) {
            float out[kRowsPerCall];
            return timed(p, n, reps, static_cast<size_t>(per_call), [&](const uint8_t *base, size_t r) {
                rows(K, base + r * row, row, per_call, fcol, out);
                __asm__ volatile("" : : "r"(out) : "memory");
            });
        };
        if (rows) { // (a type may have a panel kernel and no row kernel)
            const double in_cache = rate(w.data(), nrows, std::max<size_t>(1, (size_t(1) << 27) / (nrows * row)));
            const double from_memory = rate(big.data(), big_rows, 1);
            std::printf("%-5s K %lld, %d row%s a call: in cache %6.2f GB/s, from memory %6.2f GB/s\n", dtype_name(t),
                        static_cast<long long>(K), per_call, per_call > 1 ? "s" : "", in_cache, from_memory);
        }
        // The panel kernel (Kernels::dot_panel) over the same rows packed into 16-row panels.
        if (const DotPanelFn panel = k->dot_panel[static_cast<int>(t)]) {
            cpu::pack_panels(t, K, static_cast<int64_t>(nrows), w.data(), w.data());
            cpu::pack_panels(t, K, static_cast<int64_t>(big_rows), big.data(), big.data());
            auto panel_rate = [&](const uint8_t *p, size_t n, size_t reps) {
                float out[kPanelRows];
                return timed(p, n, reps, kPanelRows, [&](const uint8_t *base, size_t r) {
                    panel(K, base + r * row, fcol, out);
                    __asm__ volatile("" : : "r"(out) : "memory");
                });
            };
            std::printf("%-5s K %lld, 16-row panels:   in cache %6.2f GB/s, from memory %6.2f GB/s\n", dtype_name(t),
                        static_cast<long long>(K), panel_rate(w.data(), nrows, std::max<size_t>(1, (size_t(1) << 27) / (nrows * row))),
                        panel_rate(big.data(), big_rows, 1));
        }
    }
    std::free(qt);
}
