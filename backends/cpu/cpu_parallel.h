// How CPU kernels run in parallel. Every kernel goes through these two functions, so the
// threading mechanism (the backend's own pool, cpu_parallel.cpp) lives in one place.
//
// The backend sets the thread count before it computes a graph; kernels never choose it.
// Calls made from inside a parallel region run on the calling thread only.
#pragma once

#include <cstdint>
#include <functional>

namespace corvid::cpu {

// Threads a parallel region started now would use (>= 1).
int parallel_threads();

// Sets the thread count for the regions that follow (n <= 0: 1). Called by the backend.
void set_parallel_threads(int n);

// Runs fn(thread_index, n_threads) once for each thread_index in [0, n_threads) and returns
// when all have returned; index 0 runs on the calling thread. The indices run in parallel
// on the pool's threads, except that an index whose worker has not started yet (a busy
// machine) is run by whichever thread is free first: fn must never wait for another
// index (no barriers inside fn). An exception thrown by fn is rethrown here once every
// index has finished. `work` is a rough operation count: small jobs run on one thread
// (n_threads = 1) because waking the others costs more than they save.
void parallel_run(int64_t work, const std::function<void(int thread_index, int n_threads)> &fn);

// Splits [0, n) into contiguous ranges claimed in order by whichever thread is free, each
// a fixed share of what is left (so they shrink towards the end, down to one item, and the
// threads finish together; a thread the OS preempts does not hold the others up), and runs
// fn(begin, end) on each (once on [0, n) when the region runs on one thread). Where the
// ranges fall varies from run to run: fn's results must not depend on it.
void parallel_for(int64_t n, int64_t work, const std::function<void(int64_t begin, int64_t end)> &fn);

} // namespace corvid::cpu
