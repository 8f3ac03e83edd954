// The CPU backend's thread pool (backends/cpu/cpu_parallel.h): splits, coverage, nesting,
// oversubscription, back-to-back regions, exceptions and thread-count changes.
#include "cpu/cpu_parallel.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <mutex>
#include <ostream>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace corvid::cpu;

namespace {

constexpr int64_t kBig = int64_t(1) << 30; // work large enough to always use threads

// Restores the thread count a test changed.
struct ThreadsGuard {
    int saved = parallel_threads();
    ~ThreadsGuard() { set_parallel_threads(saved); }
};

} // namespace

TEST_CASE("parallel: parallel_run calls every thread index exactly once") {
    ThreadsGuard guard;
    for (int n : {1, 2, 3, 4, 7, 16}) {
        set_parallel_threads(n);
        CHECK(parallel_threads() == n);
        std::vector<std::atomic<int>> calls(static_cast<size_t>(n));
        std::atomic<int> bad_nt{0};
        std::mutex mu;
        std::set<std::thread::id> ids;
        parallel_run(kBig, [&](int ti, int nt) {
            if (nt != n) bad_nt++;
            calls[static_cast<size_t>(ti)]++;
            std::lock_guard<std::mutex> lock(mu);
            ids.insert(std::this_thread::get_id());
        });
        CHECK(bad_nt.load() == 0);
        for (auto &c : calls) CHECK(c.load() == 1);
        // The caller takes part; slots a worker has not claimed yet may run on another
        // thread, so there are at most n distinct threads.
        CHECK(ids.size() <= static_cast<size_t>(n));
        CHECK(ids.count(std::this_thread::get_id()) == 1);
    }
}

TEST_CASE("parallel: slot 0 runs on the caller, and slots really run in parallel when the workers are free") {
    ThreadsGuard guard;
    set_parallel_threads(2);
    const auto me = std::this_thread::get_id();
    std::atomic<int> bad{0};
    parallel_run(kBig, [&](int ti, int) {
        if (ti == 0 && std::this_thread::get_id() != me) bad++;
    });
    CHECK(bad.load() == 0);
    // Slot 0 waits (bounded) for slot 1 to start: it does unless the machine is too busy.
    bool together = false;
    for (int attempt = 0; attempt < 50 && !together; ++attempt) {
        std::atomic<int> started{0};
        parallel_run(kBig, [&](int ti, int) {
            started++;
            if (ti == 0) {
                const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
                while (started.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
                together = together || started.load() == 2;
            }
        });
    }
    CHECK(together);
}

TEST_CASE("parallel: small work runs on the caller alone") {
    ThreadsGuard guard;
    set_parallel_threads(4);
    int calls = 0;
    const auto me = std::this_thread::get_id();
    parallel_run(10, [&](int ti, int nt) {
        CHECK(ti == 0);
        CHECK(nt == 1);
        CHECK(std::this_thread::get_id() == me);
        ++calls;
    });
    CHECK(calls == 1);
}

TEST_CASE("parallel: parallel_for covers every index once, in ranges that shrink towards the end") {
    ThreadsGuard guard;
    for (int nth : {1, 2, 3, 5, 8}) {
        set_parallel_threads(nth);
        for (int64_t n : {int64_t(0), int64_t(1), int64_t(2), int64_t(5), int64_t(7), int64_t(64), int64_t(1001)}) {
            CAPTURE(nth);
            CAPTURE(n);
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            std::mutex mu;
            std::vector<std::pair<int64_t, int64_t>> ranges;
            parallel_for(n, kBig, [&](int64_t b, int64_t e) {
                CHECK(b < e);
                for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
                std::lock_guard<std::mutex> lock(mu);
                ranges.emplace_back(b, e);
            });
            for (auto &h : hits) CHECK(h.load() == 1);
            if (n == 0) {
                CHECK(ranges.empty());
                continue;
            }
            if (nth == 1) { // one range on one thread
                CHECK(ranges.size() == 1);
                continue;
            }
            // Each range is 1 / (2 x threads) of what was left before it (at least one index),
            // so the last ones are single indices and no thread waits long for another.
            std::sort(ranges.begin(), ranges.end());
            for (const auto &[b, e] : ranges) CHECK(e - b == std::max<int64_t>(1, (n - b) / (2 * nth)));
            CHECK(ranges.back().second - ranges.back().first == 1);
        }
    }
}

TEST_CASE("parallel: nested regions run serially on the calling thread") {
    ThreadsGuard guard;
    set_parallel_threads(3);
    std::atomic<int> inner_calls{0}, bad{0};
    std::vector<std::atomic<int>> inner_hits(3 * 100);
    parallel_run(kBig, [&](int ti, int) {
        if (parallel_threads() != 1) bad++;
        const auto me = std::this_thread::get_id();
        parallel_run(kBig, [&](int ti2, int nt2) {
            if (ti2 != 0 || nt2 != 1 || std::this_thread::get_id() != me) bad++;
            inner_calls++;
        });
        parallel_for(100, kBig, [&](int64_t b, int64_t e) {
            if (std::this_thread::get_id() != me) bad++;
            for (int64_t i = b; i < e; ++i) inner_hits[static_cast<size_t>(ti * 100 + i)]++;
        });
    });
    CHECK(bad.load() == 0);
    CHECK(inner_calls.load() == 3);
    for (auto &h : inner_hits) CHECK(h.load() == 1);
    CHECK(parallel_threads() == 3); // the flag is cleared after the region
}

TEST_CASE("parallel: many more threads than cores") {
    ThreadsGuard guard;
    set_parallel_threads(32);
    for (int rep = 0; rep < 20; ++rep) {
        std::atomic<int64_t> sum{0};
        parallel_for(100000, kBig, [&](int64_t b, int64_t e) {
            int64_t s = 0;
            for (int64_t i = b; i < e; ++i) s += i;
            sum += s;
        });
        CHECK(sum.load() == int64_t(100000) * 99999 / 2);
    }
}

TEST_CASE("parallel: many back-to-back regions") {
    ThreadsGuard guard;
    for (int nth : {2, 3}) {
        set_parallel_threads(nth);
        std::vector<int64_t> data(1000, 0);
        for (int rep = 0; rep < 20000; ++rep)
            parallel_for(static_cast<int64_t>(data.size()), kBig, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) data[static_cast<size_t>(i)] += i;
            });
        bool ok = true;
        for (size_t i = 0; i < data.size(); ++i) ok = ok && data[i] == static_cast<int64_t>(i) * 20000;
        CHECK(ok);
    }
}

TEST_CASE("parallel: regions after an idle pause (workers asleep) still complete") {
    ThreadsGuard guard;
    set_parallel_threads(2);
    for (int rep = 0; rep < 5; ++rep) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::atomic<int> calls{0};
        parallel_run(kBig, [&](int, int) { calls++; });
        CHECK(calls.load() == 2);
    }
}

TEST_CASE("parallel: an exception on any thread reaches the caller after the region ends") {
    ThreadsGuard guard;
    for (int nth : {1, 2, 4}) {
        set_parallel_threads(nth);
        for (int thrower = 0; thrower < nth; ++thrower) {
            CAPTURE(nth);
            CAPTURE(thrower);
            std::atomic<int> finished{0};
            CHECK_THROWS_WITH_AS(parallel_run(kBig,
                                              [&](int ti, int) {
                                                  if (ti == thrower) throw std::runtime_error("boom");
                                                  finished++;
                                              }),
                                 "boom", std::runtime_error);
            CHECK(finished.load() == nth - 1); // the others ran to the end before the rethrow
            // The pool is still usable.
            std::atomic<int> calls{0};
            parallel_run(kBig, [&](int, int) { calls++; });
            CHECK(calls.load() == nth);
        }
    }
    // Every thread throws: one exception comes out.
    set_parallel_threads(3);
    CHECK_THROWS_AS(parallel_run(kBig, [&](int, int) { throw std::logic_error("all"); }), std::logic_error);
    // parallel_for propagates too.
    CHECK_THROWS_AS(parallel_for(10, kBig,
                                 [&](int64_t b, int64_t) {
                                     if (b == 0) throw std::runtime_error("first range");
                                 }),
                    std::runtime_error);
}

TEST_CASE("parallel: thread-count changes between regions") {
    ThreadsGuard guard;
    for (int nth : {2, 4, 1, 3, 3, 2, 6, 1, 2}) {
        set_parallel_threads(nth);
        std::atomic<int> calls{0}, bad{0};
        parallel_run(kBig, [&](int, int nt) {
            if (nt != nth) bad++;
            calls++;
        });
        CHECK(calls.load() == nth);
        CHECK(bad.load() == 0);
    }
    set_parallel_threads(0);
    CHECK(parallel_threads() == 1);
    set_parallel_threads(-5);
    CHECK(parallel_threads() == 1);
}

TEST_CASE("parallel: regions started from several threads at once take turns") {
    ThreadsGuard guard;
    set_parallel_threads(2);
    std::atomic<int64_t> total{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 3; ++c)
        callers.emplace_back([&] {
            for (int rep = 0; rep < 500; ++rep)
                parallel_for(64, kBig, [&](int64_t b, int64_t e) { total += e - b; });
        });
    for (auto &t : callers) t.join();
    CHECK(total.load() == 3 * 500 * 64);
}
