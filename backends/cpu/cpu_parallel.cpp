// parallel_run / parallel_for on the backend's own thread pool (see cpu_parallel.h).
//
// One pool per process, built for the thread count in force and rebuilt when it changes:
// n - 1 persistent workers; the calling thread takes part as thread 0. A region is n
// slots fn(0, n) ... fn(n - 1, n); the caller runs slot 0, and every thread (the caller
// included, once its own slot is done) claims free slots from an atomic counter, so a
// worker the OS has not scheduled yet does not hold the region up: its slot is run by
// whoever is free first, and the caller waits only for slots that were claimed. A region
// is published by bumping a generation counter. Idle workers poll it for a bounded number
// of pause instructions (so the back-to-back ops of one decode step do not pay a wake-up
// each), then sleep on a futex (a condition variable off Linux) so that idle or
// oversubscribed cores are not burned. The caller waits for the workers the same way:
// a short spin, then a futex. Nothing spins for long, which is what keeps a busy
// machine usable: a thread that spins through its time slice is later preempted for a
// whole slice while the others wait for it at the end of the region.
//
// Regions started from inside a region (on any of its threads) run serially on the
// calling thread. Regions started at the same time from different threads take turns.
// An exception thrown by fn on any thread is caught, the region still completes on the
// other threads, and the first exception is rethrown on the caller.
#include "cpu/cpu_parallel.h"
#include "cpu/cpu_kernels.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#define CORVID_HAVE_FUTEX 1
#else
#define CORVID_HAVE_FUTEX 0
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define CORVID_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define CORVID_PAUSE() __asm__ __volatile__("yield")
#else
#define CORVID_PAUSE() ((void)0)
#endif

namespace corvid::cpu {
namespace {

// Pause iterations an idle thread polls before it sleeps: a few tens of microseconds,
// longer than the gap between two ops of a decode step, far shorter than a time slice.
constexpr int kSpinIterations = 1 << 12;

std::atomic<int> g_threads{1};
thread_local bool t_in_region = false;

// Sleeping on a 32-bit word until it no longer holds `expected` (spurious returns allowed).
#if CORVID_HAVE_FUTEX
void word_wait(std::atomic<uint32_t> &w, uint32_t expected) {
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(&w), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void word_wake_all(std::atomic<uint32_t> &w) {
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(&w), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}
#else
std::mutex g_word_mu;
std::condition_variable g_word_cv;
void word_wait(std::atomic<uint32_t> &w, uint32_t expected) {
    std::unique_lock<std::mutex> lock(g_word_mu);
    g_word_cv.wait_for(lock, std::chrono::milliseconds(1), [&] { return w.load() != expected; });
}
void word_wake_all(std::atomic<uint32_t> &) {
    { std::lock_guard<std::mutex> lock(g_word_mu); }
    g_word_cv.notify_all();
}
#endif

// Runs fn(ti, nt) with the region flag set; returns the exception it threw, if any.
std::exception_ptr run_part(const std::function<void(int, int)> &fn, int ti, int nt) {
    t_in_region = true;
    std::exception_ptr err;
    try {
        fn(ti, nt);
    } catch (...) {
        err = std::current_exception();
    }
    t_in_region = false;
    return err;
}

class Pool {
public:
    explicit Pool(int n_threads) : n_threads_(n_threads) {
        workers_.reserve(static_cast<size_t>(n_threads - 1));
        for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
    }

    ~Pool() {
        stop_.store(true, std::memory_order_relaxed);
        publish();
        for (std::thread &t : workers_) t.join();
    }

    int n_threads() const { return n_threads_; }

    // Runs fn(i, n) for every slot i of the region, the caller taking slot 0 and any slot
    // no worker has claimed by the time it is free; rethrows the first exception.
    void run(const std::function<void(int, int)> &fn) {
        fn_ = &fn;
        error_ = nullptr;
        done_.store(0, std::memory_order_relaxed);
        ++job_;
        slots_.store(job_ << 32 | 1, std::memory_order_release); // slot 0 is the caller's
        publish();
        run_slot(0);
        for (int i; (i = claim(job_)) >= 0;) run_slot(i);
        wait_done();
        fn_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

    // After fork() only the forking thread exists in the child: forget the workers
    // without joining them.
    void abandon() {
        for (std::thread &t : workers_) t.detach();
        workers_.clear();
    }

private:
    // Wakes the workers: they look at slots_ (or stop_) when generation_ moves.
    void publish() {
        generation_.fetch_add(1, std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_seq_cst) > 0) word_wake_all(generation_);
    }

    // Takes the next free slot of region `job` (any region when job is 0); -1 when none.
    // The region cannot end (nor fn_ change) while a claimed slot is unfinished.
    int claim(uint64_t job) {
        uint64_t s = slots_.load(std::memory_order_acquire);
        for (;;) {
            if ((job && s >> 32 != job) || static_cast<int>(s & 0xffffffffu) >= n_threads_) return -1;
            if (slots_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire))
                return static_cast<int>(s & 0xffffffffu);
        }
    }

    void run_slot(int i) {
        if (std::exception_ptr err = run_part(*fn_, i, n_threads_)) {
            std::lock_guard<std::mutex> lock(error_mu_);
            if (!error_) error_ = err;
        }
        if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == static_cast<uint32_t>(n_threads_) &&
            caller_sleeping_.load(std::memory_order_seq_cst))
            word_wake_all(done_);
    }

    void worker_loop() {
        uint32_t seen = 0;
        for (;;) {
            uint32_t g = generation_.load(std::memory_order_acquire);
            for (int spin = 0; g == seen; g = generation_.load(std::memory_order_acquire)) {
                if (spin < kSpinIterations) {
                    ++spin;
                    CORVID_PAUSE();
                    continue;
                }
                sleepers_.fetch_add(1, std::memory_order_seq_cst);
                if (generation_.load(std::memory_order_seq_cst) == seen) word_wait(generation_, seen);
                sleepers_.fetch_sub(1, std::memory_order_relaxed);
            }
            seen = g;
            if (stop_.load(std::memory_order_relaxed)) return;
            for (int i; (i = claim(0)) >= 0;) run_slot(i);
        }
    }

    void wait_done() {
        const uint32_t all = static_cast<uint32_t>(n_threads_);
        for (int spin = 0; spin < kSpinIterations; ++spin) {
            if (done_.load(std::memory_order_acquire) == all) return;
            CORVID_PAUSE();
        }
        caller_sleeping_.store(true, std::memory_order_seq_cst);
        for (uint32_t d; (d = done_.load(std::memory_order_seq_cst)) != all;) word_wait(done_, d);
        caller_sleeping_.store(false, std::memory_order_relaxed);
    }

    const int n_threads_;
    std::vector<std::thread> workers_;
    const std::function<void(int, int)> *fn_ = nullptr;
    uint64_t job_ = 0; // the caller's count of regions (only the caller touches it)
    std::exception_ptr error_;
    std::mutex error_mu_;
    alignas(64) std::atomic<uint32_t> generation_{0};
    alignas(64) std::atomic<int> sleepers_{0};
    alignas(64) std::atomic<uint64_t> slots_{0}; // region number << 32 | next free slot
    alignas(64) std::atomic<uint32_t> done_{0};
    std::atomic<bool> caller_sleeping_{false};
    std::atomic<bool> stop_{false};
};

// The process's pool; regions take turns on it.
struct PoolHolder {
    std::mutex mu;
    std::unique_ptr<Pool> pool;
    PoolHolder() {
#if CORVID_HAVE_FUTEX
        pthread_atfork(nullptr, nullptr, [] {
            PoolHolder &h = holder();
            if (h.pool) h.pool->abandon();
            h.pool.release(); // its threads are gone; its memory leaks once per fork
            new (&h.mu) std::mutex();
        });
#endif
    }
    static PoolHolder &holder() {
        static PoolHolder h;
        return h;
    }
};

} // namespace

int parallel_threads() { return t_in_region ? 1 : g_threads.load(std::memory_order_relaxed); }

void set_parallel_threads(int n) { g_threads.store(std::max(1, n), std::memory_order_relaxed); }

void parallel_run(int64_t work, const std::function<void(int, int)> &fn) {
    const int nth = worth_threads(work) ? parallel_threads() : 1;
    if (nth <= 1) {
        if (t_in_region) {
            fn(0, 1);
            return;
        }
        if (std::exception_ptr err = run_part(fn, 0, 1)) std::rethrow_exception(err);
        return;
    }
    PoolHolder &h = PoolHolder::holder();
    std::lock_guard<std::mutex> lock(h.mu);
    if (!h.pool || h.pool->n_threads() != nth) {
        h.pool.reset();
        h.pool = std::make_unique<Pool>(nth);
    }
    h.pool->run(fn);
}

void parallel_for(int64_t n, int64_t work, const std::function<void(int64_t, int64_t)> &fn) {
    if (n <= 0) return;
    // Guided ranges, claimed in order from a counter: each claim takes 1 / (2 x threads) of
    // what is left, so the ranges shrink towards the end and the threads finish within about
    // one item of each other (even ranges, a few per thread, left up to a whole range of
    // imbalance: ~6% of a decode step's products waited at the region's end). A thread the
    // OS preempts mid-region leaves the rest to the others.
    std::atomic<int64_t> next{0};
    parallel_run(work, [&](int, int nt) {
        if (nt == 1) {
            fn(0, n);
            return;
        }
        const int64_t parts = 2 * int64_t(nt);
        int64_t begin = next.load(std::memory_order_relaxed);
        while (begin < n) {
            const int64_t end = begin + std::max<int64_t>(1, (n - begin) / parts);
            if (!next.compare_exchange_weak(begin, end, std::memory_order_relaxed)) continue;
            fn(begin, end);
            begin = next.load(std::memory_order_relaxed);
        }
    });
}

} // namespace corvid::cpu
