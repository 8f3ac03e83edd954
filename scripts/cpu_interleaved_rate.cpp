// What a Q4_0 decode kernel over 16 interleaved rows would read (AVX-512, and AVX2 as two
// 8-row halves), against the library's row kernels (Kernels::dot_rows, the weights as
// stored): the measurement behind docs/architecture.md's "next lever for decode". Not a
// library kernel: the layout would have to be made at load time (a CPU Tensor::layout),
// which the runtime does not do yet. (The AVX2 form is compiled with this file's AVX-512
// flags, so the compiler may use all 32 vector registers: close to, not exactly, an AVX2
// build.)
//
// Layout, per panel of 16 rows and per 32-element block b (288 bytes, as stored): the 16
// rows' fp16 scales (32 bytes), then 4 x 64 bytes: for k = 0..3, the 16 rows' bytes
// 4k..4k+3 of their 16 nibble bytes (low nibbles: elements 4k..4k+3, high: 16 + 4k..).
// One 512-bit load then holds 4 elements of every row; two vpdpbusd against the
// activation's dwords broadcast from memory advance all 16 rows, with no permutation.
// The arithmetic is the row kernel's: the exact integer sum((q - 8) x) per block (the sum
// started at -8 sum(x)), times d_w d_x in float, flushed into double every 16 blocks.
//
//   g++ -O2 -std=c++20 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512vbmi -mfma -mf16c
//       -Ibackends -Isrc -Iinclude scripts/cpu_interleaved_rate.cpp build/libcorvid.a -lpthread -fopenmp
//       -o /tmp/interleaved_rate                                      (one line)
//   /tmp/interleaved_rate [K]     (default 2048; one core in cache and from memory, then two threads
//                                  from memory: the sum of their rates, each timed on its own half)
#include "cpu/cpu_matmul_fast.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/quants.h"

// GCC 12's AVX-512 headers start some conversions from an "undefined" vector, which -Wall
// reports as uninitialized (GCC bug 105593), as in the library's kernel files.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

using namespace corvid;
using namespace corvid::cpu::fast;

namespace {

constexpr int kP = 16;                       // rows a panel
constexpr int kPanelBlock = 32 + 16 * 16;    // bytes of one block of a panel

// rows [r0, r0 + 16) of Q4_0 weights (row stride `row` bytes) into one panel.
void interleave(const uint8_t *w, size_t row, int64_t nb, uint8_t *panel) {
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t *out = panel + b * kPanelBlock;
        for (int r = 0; r < kP; ++r) {
            const BlockQ4_0 &blk = reinterpret_cast<const BlockQ4_0 *>(w + r * row)[b];
            std::memcpy(out + 2 * r, &blk.d, 2);
            for (int k = 0; k < 4; ++k) std::memcpy(out + 32 + 64 * k + 4 * r, blk.qs + 4 * k, 4);
        }
    }
}

inline __m512i dpbusd_bcst(__m512i acc, __m512i w, const int8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*reinterpret_cast<const uint32_t *>(p)));
    return acc;
}

// out[r] = row r of the panel . x, for the 16 rows.
void panel_dot(const uint8_t *panel, int64_t nb, const int8_t *xq, const float *xd, const int32_t *xs, float *out) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc = _mm512_setzero_ps();
    __m512d dlo = _mm512_setzero_pd(), dhi = _mm512_setzero_pd();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *p = panel + b * kPanelBlock;
        const int8_t *x = xq + 32 * b;
        __m512i is = _mm512_set1_epi32(-8 * xs[b]);
        for (int k = 0; k < 4; ++k) {
            const __m512i q = _mm512_loadu_si512(p + 32 + 64 * k);
            is = dpbusd_bcst(is, _mm512_and_si512(q, m4), x + 4 * k);
            is = dpbusd_bcst(is, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), x + 16 + 4 * k);
        }
        const __m512 s = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p))),
                                       _mm512_set1_ps(xd[b]));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), s, acc);
        if ((b & 15) == 15) {
            dlo = _mm512_add_pd(dlo, _mm512_cvtps_pd(_mm512_castps512_ps256(acc)));
            dhi = _mm512_add_pd(dhi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(acc, 1)));
            acc = _mm512_setzero_ps();
        }
    }
    dlo = _mm512_add_pd(dlo, _mm512_cvtps_pd(_mm512_castps512_ps256(acc)));
    dhi = _mm512_add_pd(dhi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(acc, 1)));
    _mm256_storeu_ps(out, _mm512_cvtpd_ps(dlo));
    _mm256_storeu_ps(out + 8, _mm512_cvtpd_ps(dhi));
}

// The same panels with AVX2 only (8 rows a register: a panel is two halves sharing each
// broadcast activation dword): vpmaddubsw pairs summed in 16 bits over the block (at most
// 8 x 2 x 15 x 127 = 30480), one vpmaddwd, the -8 offset, scales as for AVX-512.
void panel_dot_avx2(const uint8_t *panel, int64_t nb, const int8_t *xq, const float *xd, const int32_t *xs, float *out) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256d dacc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t *p = panel + b * kPanelBlock;
        const int8_t *x = xq + 32 * b;
        __m256i t[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int k = 0; k < 4; ++k) {
            int32_t lo32, hi32;
            std::memcpy(&lo32, x + 4 * k, 4);
            std::memcpy(&hi32, x + 16 + 4 * k, 4);
            const __m256i xl = _mm256_set1_epi32(lo32), xh = _mm256_set1_epi32(hi32);
            for (int h = 0; h < 2; ++h) {
                const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + 32 + 64 * k + 32 * h));
                t[h] = _mm256_add_epi16(t[h], _mm256_maddubs_epi16(_mm256_and_si256(q, m4), xl));
                t[h] = _mm256_add_epi16(t[h], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), xh));
            }
        }
        const __m256i off = _mm256_set1_epi32(-8 * xs[b]);
        const __m256 dx = _mm256_set1_ps(xd[b]);
        for (int h = 0; h < 2; ++h) {
            const __m256i is = _mm256_add_epi32(_mm256_madd_epi16(t[h], ones), off);
            const __m256 sc = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16 * h))), dx);
            acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), sc, acc[h]);
        }
        if ((b & 15) == 15)
            for (int h = 0; h < 2; ++h) {
                dacc[2 * h] = _mm256_add_pd(dacc[2 * h], _mm256_cvtps_pd(_mm256_castps256_ps128(acc[h])));
                dacc[2 * h + 1] = _mm256_add_pd(dacc[2 * h + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(acc[h], 1)));
                acc[h] = _mm256_setzero_ps();
            }
    }
    for (int h = 0; h < 2; ++h) {
        dacc[2 * h] = _mm256_add_pd(dacc[2 * h], _mm256_cvtps_pd(_mm256_castps256_ps128(acc[h])));
        dacc[2 * h + 1] = _mm256_add_pd(dacc[2 * h + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(acc[h], 1)));
        _mm_storeu_ps(out + 8 * h, _mm256_cvtpd_ps(dacc[2 * h]));
        _mm_storeu_ps(out + 8 * h + 4, _mm256_cvtpd_ps(dacc[2 * h + 1]));
    }
}

template <class F> double best_seconds(F &&f) {
    double best = 1e30;
    for (int rep = 0; rep < 7; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

} // namespace

int main(int argc, char **argv) {
    const int64_t K = argc > 1 ? std::atoll(argv[1]) : 2048;
    if (K <= 0 || K % 512) return std::fprintf(stderr, "K must be a positive multiple of 512\n"), 2;
    const Kernels *kern = kernels_avx512();
    if (!kern || !kern->dot_rows[int(DType::Q4_0)]) return std::fprintf(stderr, "no AVX-512 row kernel here\n"), 1;
    const int64_t nb = K / 32;
    const size_t row = static_cast<size_t>(nb) * sizeof(BlockQ4_0);
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.f, 1.f);

    // The activation as the driver makes it (levels, scales, sums; Q4_0's qt records).
    std::vector<float> x(static_cast<size_t>(K));
    for (float &v : x) v = nd(rng);
    std::vector<int8_t> qs(static_cast<size_t>(K));
    std::vector<float> d(static_cast<size_t>(nb));
    std::vector<int32_t> s(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
        d[b] = amax / 127;
        s[b] = 0;
        for (int i = 0; i < 32; ++i) s[b] += qs[b * 32 + i] = static_cast<int8_t>(std::lround(x[b * 32 + i] / d[b]));
    }
    const int64_t groups = (nb + kQtBlocks - 1) / kQtBlocks;
    auto *qt = static_cast<int8_t *>(std::aligned_alloc(64, static_cast<size_t>(groups) * kQtGroupBytes));
    std::memset(qt, 0, static_cast<size_t>(groups) * kQtGroupBytes);
    for (int64_t b = 0; b < nb; ++b) {
        int8_t *grp = qt + (b / kQtBlocks) * kQtGroupBytes;
        const int j = static_cast<int>(b % kQtBlocks) / 4, lane = static_cast<int>(b % 4);
        std::memcpy(grp + 64 * j + 16 * lane, &qs[b * 32], 16);
        std::memcpy(grp + 256 + 64 * j + 16 * lane, &qs[b * 32 + 16], 16);
        for (int i = 0; i < 4; ++i) {
            int32_t sum = 0;
            for (int e = 0; e < 4; ++e) sum += qs[b * 32 + 4 * i + e] + qs[b * 32 + 16 + 4 * i + e];
            const int32_t neg = -8 * sum;
            std::memcpy(grp + kQtS + 4 * (16 * j + 4 * lane + i), &neg, 4);
        }
    }
    const ActCol col{qs.data(), d.data(), s.data(), nullptr, nullptr, qt};

    // 64 rows (in cache), and the same rows repeated over 288 MiB (from memory).
    const int64_t nrows = 64;
    std::vector<uint8_t> w(static_cast<size_t>(nrows) * row);
    std::vector<float> src(static_cast<size_t>(K));
    for (int64_t r = 0; r < nrows; ++r) {
        for (float &v : src) v = nd(rng) * 0.05f;
        quantize_row(DType::Q4_0, src.data(), w.data() + r * row, K);
    }
    std::vector<uint8_t> pw(w.size());
    for (int64_t r = 0; r < nrows; r += kP) interleave(w.data() + r * row, row, nb, pw.data() + r * row);

    // The two agree (the same integers; float sums in another order).
    float ref[4], got[kP];
    double worst = 0;
    for (int64_t r0 = 0; r0 < nrows; r0 += kP) {
        panel_dot(pw.data() + r0 * row, nb, qs.data(), d.data(), s.data(), got);
        for (int r = 0; r < kP; r += 4) {
            kern->dot_rows[int(DType::Q4_0)](K, w.data() + (r0 + r) * row, row, 4, col, ref);
            for (int i = 0; i < 4; ++i) worst = std::max(worst, std::fabs(double(ref[i]) - got[r + i]) / (1e-3 + std::fabs(ref[i])));
        }
    }
    for (int64_t r0 = 0; r0 < nrows; r0 += kP) {
        float got2[kP];
        panel_dot(pw.data() + r0 * row, nb, qs.data(), d.data(), s.data(), got);
        panel_dot_avx2(pw.data() + r0 * row, nb, qs.data(), d.data(), s.data(), got2);
        for (int r = 0; r < kP; ++r) worst = std::max(worst, std::fabs(double(got[r]) - got2[r]) / (1e-3 + std::fabs(got[r])));
    }
    if (worst > 1e-4) return std::fprintf(stderr, "the interleaved kernels disagree (relative %g)\n", worst), 1;

    const size_t big_rows = (size_t(288) << 20) / row / nrows * nrows;
    std::vector<uint8_t> big(big_rows * row), pbig(big_rows * row);
    for (size_t r = 0; r < big_rows; r += nrows) {
        std::memcpy(big.data() + r * row, w.data(), nrows * row);
        std::memcpy(pbig.data() + r * row, pw.data(), nrows * row);
    }
    // GB/s of call(p + r * row) for r = 0, step, ... < n, swept reps times (best of 7).
    auto rate_of = [&](size_t step, auto call) {
        return [&, step, call](const uint8_t *p, size_t n, size_t reps) {
            const double t = best_seconds([&] {
                for (size_t rep = 0; rep < reps; ++rep)
                    for (size_t r = 0; r + step <= n; r += step) call(p + r * row);
            });
            return static_cast<double>(reps * n * row) / t / 1e9;
        };
    };
    // A library table's Q4_0 row kernel, as many rows a call as the table asks.
    auto rows_rate_of = [&](const Kernels *k) {
        const int per = std::max(1, k->dot_rows_per_call[int(DType::Q4_0)]);
        return rate_of(static_cast<size_t>(per), [&, k, per](const uint8_t *p) {
            float out[kRowsPerCall];
            k->dot_rows[int(DType::Q4_0)](K, p, row, per, col, out);
            __asm__ volatile("" : : "r"(out) : "memory");
        });
    };
    auto panel_rate_of = [&](auto kernel) {
        return rate_of(kP, [&, kernel](const uint8_t *p) {
            float out[kP];
            kernel(p, nb, qs.data(), d.data(), s.data(), out);
            __asm__ volatile("" : : "r"(out) : "memory");
        });
    };
    auto rows_rate = rows_rate_of(kern);
    auto panel_rate = panel_rate_of(panel_dot);
    auto panel_rate2 = panel_rate_of(panel_dot_avx2);
    const Kernels *k2 = kernels_avx2(); // the library's AVX2 row kernel, for comparison
    // Both kernels on two threads from memory, each thread half of the rows (a decode step's split).
    auto two_threads = [&](auto &&rate_of, const uint8_t *p, size_t n) {
        const size_t half = n / 2 / kP * kP;
        double a = 0, b = 0;
        std::thread t([&] { a = rate_of(p, half, 1); });
        b = rate_of(p + half * row, half, 1);
        t.join();
        return a + b;
    };
    const size_t reps = std::max<size_t>(1, (size_t(1) << 27) / (nrows * row));
    std::printf("Q4_0 K %lld, one core: rows as stored (library):            in cache %6.2f GB/s, from memory %6.2f GB/s\n",
                static_cast<long long>(K), rows_rate(w.data(), nrows, reps), rows_rate(big.data(), big_rows, 1));
    std::printf("Q4_0 K %lld, one core: 16 interleaved rows (this file):    in cache %6.2f GB/s, from memory %6.2f GB/s\n",
                static_cast<long long>(K), panel_rate(pw.data(), nrows, reps), panel_rate(pbig.data(), big_rows, 1));
    std::printf("Q4_0 K %lld, two threads from memory: rows as stored %6.2f GB/s, 16 interleaved rows %6.2f GB/s\n",
                static_cast<long long>(K), two_threads(rows_rate, big.data(), big_rows),
                two_threads(panel_rate, pbig.data(), big_rows));
    if (k2 && k2->dot_rows[int(DType::Q4_0)]) {
        auto rows_rate2 = rows_rate_of(k2);
        std::printf("AVX2 only, one core: rows as stored (library):            in cache %6.2f GB/s, from memory %6.2f GB/s\n",
                    rows_rate2(w.data(), nrows, reps), rows_rate2(big.data(), big_rows, 1));
        std::printf("AVX2 only, one core: 16 interleaved rows (this file):    in cache %6.2f GB/s, from memory %6.2f GB/s\n",
                    panel_rate2(pw.data(), nrows, reps), panel_rate2(pbig.data(), big_rows, 1));
        std::printf("AVX2 only, two threads from memory: rows as stored %6.2f GB/s, 16 interleaved rows %6.2f GB/s\n",
                    two_threads(rows_rate2, big.data(), big_rows), two_threads(panel_rate2, pbig.data(), big_rows));
    }
    std::free(qt);
}
