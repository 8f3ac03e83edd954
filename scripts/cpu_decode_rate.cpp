// How fast one core runs the AVX-512 Q4_0 decode row kernel (Kernels::dot_rows), in GB/s
// of weights: a 64-row matrix called again and again (in cache: the kernel's compute
// rate) and a 288 MiB one (from memory). Timings only, on made-up values; correctness is
// the conformance suite's job. The figures in docs/architecture.md come from it:
//
//   g++ -O2 -std=c++20 -Ibackends -Isrc -Iinclude scripts/cpu_decode_rate.cpp
//       build/libcorvid.a -lpthread -o /tmp/decode_rate   (one line)
//   /tmp/decode_rate 768; /tmp/decode_rate 2048
//
// Argument: K (a multiple of 32; default 2048). Needs a processor with AVX-512 VBMI.
#include "cpu/cpu_matmul_fast.h"
#include "tensor/blocks.h"
#include "tensor/dtype.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace corvid;
using namespace corvid::cpu::fast;

int main(int argc, char **argv) {
    const int64_t K = argc > 1 ? std::atoll(argv[1]) : 2048;
    if (K <= 0 || K % 32) return std::fprintf(stderr, "K must be a positive multiple of 32\n"), 2;
    const Kernels *k = kernels_avx512();
    const DotRowsFn rows = k ? k->dot_rows[static_cast<int>(DType::Q4_0)] : nullptr;
    if (!rows) return std::fprintf(stderr, "no AVX-512 VBMI Q4_0 row kernel in this build or on this processor\n"), 1;

    // One activation column in the layout the driver makes (cpu_matmul_fast.h: qs, d, s, qt).
    const int64_t nb = K / 32, groups = (nb + kQtBlocks - 1) / kQtBlocks;
    std::vector<int8_t> qs(static_cast<size_t>(K));
    std::vector<float> d(static_cast<size_t>(nb), 0.01f);
    std::vector<int32_t> s(static_cast<size_t>(nb), 0);
    for (size_t i = 0; i < qs.size(); ++i) qs[i] = static_cast<int8_t>(i * 37 % 255 - 127);
    auto *qt = static_cast<int8_t *>(std::aligned_alloc(64, static_cast<size_t>(groups) * kQtGroupBytes));
    for (int64_t g = 0; g < groups; ++g) {
        int8_t *rec = qt + g * kQtGroupBytes;
        for (int i = 0; i < 512; ++i) rec[i] = static_cast<int8_t>(i % 100 - 50);
        for (int i = 0; i < 64; ++i) {
            const int32_t off = -8 * 50;
            std::memcpy(rec + kQtS + 4 * i, &off, 4);
        }
    }
    const ActCol col{qs.data(), d.data(), s.data(), nullptr, nullptr, qt};

    const size_t row = static_cast<size_t>(nb) * sizeof(BlockQ4_0);
    for (size_t nrows : {size_t(64), (size_t(288) << 20) / row}) {
        const size_t bytes = nrows * row;
        auto *w = static_cast<uint8_t *>(std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096));
        for (size_t i = 0; i < bytes; ++i) w[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
        for (size_t b = 0; b < bytes / sizeof(BlockQ4_0); ++b) { // normal fp16 scales (2^-7)
            const uint16_t h = 0x2000;
            std::memcpy(w + b * sizeof(BlockQ4_0), &h, 2);
        }
        const size_t reps = std::max<size_t>(1, (size_t(1) << 28) / bytes);
        double best = 1e30;
        float out[kRowsPerCall];
        for (int t = 0; t < 5; ++t) {
            const auto t0 = std::chrono::steady_clock::now();
            for (size_t rep = 0; rep < reps; ++rep)
                for (size_t r = 0; r < nrows; ++r) {
                    rows(K, w + r * row, row, 1, col, out);
                    __asm__ volatile("" : : "r"(out) : "memory");
                }
            best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        std::printf("K %lld, %zu rows (%.2f MiB, %s): %.2f GB/s\n", static_cast<long long>(K), nrows,
                    static_cast<double>(bytes) / (1 << 20), nrows == 64 ? "in cache" : "from memory",
                    static_cast<double>(reps * bytes) / best / 1e9);
        std::free(w);
    }
    std::free(qt);
}
