// parallel_run / parallel_for on OpenMP (see cpu_parallel.h).
#include "cpu/cpu_parallel.h"
#include "cpu/cpu_kernels.h"

#include <algorithm>
#include <atomic>
#include <omp.h>

namespace corvid::cpu {
namespace {
std::atomic<int> g_threads{1};
} // namespace

int parallel_threads() { return omp_in_parallel() ? 1 : g_threads.load(std::memory_order_relaxed); }

void set_parallel_threads(int n) { g_threads.store(std::max(1, n), std::memory_order_relaxed); }

void parallel_run(int64_t work, const std::function<void(int, int)> &fn) {
    const int nth = worth_threads(work) ? parallel_threads() : 1;
    if (nth <= 1) {
        fn(0, 1);
        return;
    }
#pragma omp parallel num_threads(nth)
    fn(omp_get_thread_num(), omp_get_num_threads());
}

void parallel_for(int64_t n, int64_t work, const std::function<void(int64_t, int64_t)> &fn) {
    if (n <= 0) return;
    parallel_run(work, [&](int ti, int nt) {
        const int64_t base = n / nt, extra = n % nt;
        const int64_t begin = ti * base + std::min<int64_t>(ti, extra);
        const int64_t end = begin + base + (ti < extra ? 1 : 0);
        if (begin < end) fn(begin, end);
    });
}

} // namespace corvid::cpu
