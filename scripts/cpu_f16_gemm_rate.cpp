// How fast one core runs the F16 prompt GEMM's two parts (Kernels::gemm[F16]): the panel
// packer (F16 rows -> float panel), from memory (a 512 MiB matrix) and in cache, in GB/s of
// F16 read; and the register-tile kernel on a packed panel in cache, in GFLOP/s and as a
// share of the FMA peak that scripts/cpu_fma_peak.c measures (pass it as the second
// argument). Timings only, on made-up values; correctness is the conformance suite's job.
//
//   g++ -O2 -std=c++20 -Ibackends -Isrc -Iinclude scripts/cpu_f16_gemm_rate.cpp
//       build/libcorvid.a -lpthread -o /tmp/f16_rate   (one line)
//   /tmp/f16_rate 2048 7.45
//
// Arguments: K (a multiple of 16; default 2048), the zmm FMA rate in G/s (default 7.45).
#include "cpu/cpu_matmul_fast.h"
#include "tensor/dtype.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace corvid;
using namespace corvid::cpu::fast;

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int main(int argc, char **argv) {
    const int64_t K = argc > 1 ? std::atoll(argv[1]) : 2048;
    const double fma_g = argc > 2 ? std::atof(argv[2]) : 7.45;
    if (K <= 0 || K % 16) return std::fprintf(stderr, "K must be a positive multiple of 16\n"), 2;
    const Kernels *k = kernels_avx512();
    if (!k || !k->gemm[int(DType::F16)].pack) return std::fprintf(stderr, "no AVX-512 F16 GEMM in this build or on this processor\n"), 1;
    const GemmKernel &g = k->gemm[int(DType::F16)];
    const int R = g.rows;
    const size_t row = static_cast<size_t>(K) * 2;
    const size_t nrows = (size_t(512) << 20) / row / R * R;
    auto *w = static_cast<uint16_t *>(std::aligned_alloc(4096, (nrows * row + 4095) / 4096 * 4096));
    for (size_t i = 0; i < nrows * static_cast<size_t>(K); ++i) w[i] = static_cast<uint16_t>(0x3c00 ^ (i * 2654435761u >> 20 & 0x3ff));
    void *panel = std::aligned_alloc(64, (g.panel_bytes(K) + 127) / 64 * 64);
    const void *rows[64];
    for (int rep = 0; rep < 3; ++rep) {
        double t0 = now();
        for (size_t p = 0; p < nrows; p += R) {
            for (int r = 0; r < R; ++r) rows[r] = reinterpret_cast<const uint8_t *>(w) + (p + r) * row;
            g.pack(K, rows, R, panel);
        }
        const double mem = static_cast<double>(nrows * row) / (now() - t0);
        for (int r = 0; r < R; ++r) rows[r] = reinterpret_cast<const uint8_t *>(w) + r * row;
        const int n = 2000;
        t0 = now();
        for (int i = 0; i < n; ++i) g.pack(K, rows, R, panel);
        const double hot = static_cast<double>(n) * R * row / (now() - t0);
        std::printf("pack, K %lld: from memory %.2f GB/s, in cache %.2f GB/s\n", static_cast<long long>(K), mem / 1e9, hot / 1e9);
    }

    // The kernel: 128 columns (16 groups of kGemmCols) against the packed panel, in the
    // driver's K chunks.
    const int64_t M = 128, ng = M / kGemmCols;
    const size_t gbytes = (static_cast<size_t>(K) * kGemmCols * 4 + 63) / 64 * 64;
    auto *acts = static_cast<float *>(std::aligned_alloc(64, gbytes * ng));
    for (size_t i = 0; i < gbytes * ng / 4; ++i) acts[i] = 0.5f + static_cast<float>(i % 7) * 0.1f;
    std::vector<float> out(static_cast<size_t>(M) * R);
    const int64_t kb = g.kblock > 0 ? g.kblock : K;
    for (int rep = 0; rep < 5; ++rep) {
        const int n = 200;
        const double t0 = now();
        for (int i = 0; i < n; ++i)
            for (int64_t kc = 0; kc < K; kc += kb)
                for (int64_t c = 0; c < ng; ++c)
                    g.gemm_range(K, kc, std::min(K, kc + kb), kc > 0, panel, R, reinterpret_cast<uint8_t *>(acts) + c * gbytes,
                                 kGemmCols, out.data() + c * kGemmCols * R, R);
        const double flops = 2.0 * R * K * M * n / (now() - t0);
        std::printf("kernel, K %lld, 128 columns: %.1f GFLOP/s one core, %.0f%% of %.2f G zmm FMA/s\n",
                    static_cast<long long>(K), flops / 1e9, 100 * flops / (fma_g * 32e9), fma_g);
    }
}
