// The memory-bandwidth probe of `corvid bench`: a multi-threaded read of a large buffer.
//
// The calling thread takes part (as thread 0) so that no core is lost to a waiting main
// thread on small machines. Each pass: all threads wait at a start line, thread 0 takes the
// time, they each read their slice once, thread 0 waits for the others and takes the time.
#include "bench/bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace corvid::cli::bench {
namespace {

using ReadFn = uint64_t (*)(const uint8_t *p, size_t n);

uint64_t read_scalar(const uint8_t *p, size_t n) {
    const uint64_t *q = reinterpret_cast<const uint64_t *>(p);
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= n / 8; i += 4) {
        a += q[i];
        b += q[i + 1];
        c += q[i + 2];
        d += q[i + 3];
    }
    return a + b + c + d;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 96)));
    }
    a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    alignas(32) uint64_t r[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(r), a);
    return r[0] + r[1] + r[2] + r[3];
}

__attribute__((target("avx512f"))) uint64_t read_avx512(const uint8_t *p, size_t n) {
    __m512i a = _mm512_set1_epi64(0), b = a, c = a, d = a;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        a = _mm512_add_epi64(a, _mm512_load_si512(p + i));
        b = _mm512_add_epi64(b, _mm512_load_si512(p + i + 64));
        c = _mm512_add_epi64(c, _mm512_load_si512(p + i + 128));
        d = _mm512_add_epi64(d, _mm512_load_si512(p + i + 192));
    }
    alignas(64) uint64_t r[8];
    _mm512_store_si512(r, _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
    return r[0] + r[1] + r[2] + r[3] + r[4] + r[5] + r[6] + r[7];
}
#endif

ReadFn pick(const char **name) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *name = "avx512";
        return read_avx512;
    }
    if (__builtin_cpu_supports("avx2")) {
        *name = "avx2";
        return read_avx2;
    }
#endif
    *name = "scalar";
    return read_scalar;
}

struct Buffer {
    uint8_t *p = nullptr;
    size_t n = 0;
    ~Buffer() { std::free(p); }
};

Buffer &buffer_of(size_t bytes) {
    static Buffer buf;
    if (buf.n != bytes) {
        std::free(buf.p);
        buf.p = static_cast<uint8_t *>(std::aligned_alloc(4096, bytes));
        buf.n = buf.p ? bytes : 0;
        if (buf.p) std::memset(buf.p, 1, bytes); // touch every page so reads hit real memory
    }
    return buf;
}

std::atomic<uint64_t> g_sink{0};

} // namespace

const char *bandwidth_probe_isa() {
    const char *name = "";
    pick(&name);
    return name;
}

double measure_read_bandwidth(int threads, size_t bytes, int runs) {
    if (threads < 1) threads = 1;
    bytes = bytes / (4096u * static_cast<size_t>(threads)) * 4096u * static_cast<size_t>(threads);
    Buffer &buf = buffer_of(bytes);
    if (!buf.p || bytes == 0) return 0;
    const char *isa = "";
    const ReadFn fn = pick(&isa);
    const size_t slice = bytes / static_cast<size_t>(threads);
    double best = 0;
    for (int run = 0; run < runs; ++run) {
        std::atomic<int> ready{0}, done{0};
        std::atomic<bool> go{false};
        auto work = [&](int t) {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            g_sink.fetch_add(fn(buf.p + slice * static_cast<size_t>(t), slice), std::memory_order_relaxed);
            done.fetch_add(1, std::memory_order_release);
        };
        std::vector<std::thread> pool;
        for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
        while (ready.load() < threads - 1) std::this_thread::yield();
        const auto t0 = std::chrono::steady_clock::now();
        go.store(true, std::memory_order_release);
        g_sink.fetch_add(fn(buf.p, slice), std::memory_order_relaxed);
        while (done.load(std::memory_order_acquire) < threads - 1) std::this_thread::yield();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        for (auto &th : pool) th.join();
        if (s > 0) best = std::max(best, static_cast<double>(bytes) / s);
    }
    return best;
}

} // namespace corvid::cli::bench
