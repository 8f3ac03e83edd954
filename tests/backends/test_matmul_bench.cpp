// Micro-benchmark of the matrix-vector product (decode) on the CPU backend: GB/s of
// weights streamed for a 4096 x 4096 matrix per type, per ISA path, next to a plain
// read-bandwidth probe. Not part of the normal run (skipped); run it with
//   corvid-tests -tc='bench: *' --no-skip
#include "graph/graph_runner.h"
#include "test_util.h"

#include "cpu/cpu_dispatch.h"
#include "tensor/quants.h"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>

using namespace corvid;
using namespace corvid::test;

namespace {

double seconds_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best-of-reps read bandwidth of a 2-thread sum over 512 MiB (GB/s).
double read_bandwidth(int threads) {
    const size_t n = (size_t(512) << 20) / sizeof(uint64_t);
    std::vector<uint64_t> buf(n, 1);
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        uint64_t total = 0;
        const double t0 = seconds_now();
#pragma omp parallel for num_threads(threads) reduction(+ : total) schedule(static)
        for (size_t i = 0; i < n; ++i) total += buf[i];
        const double t = seconds_now() - t0;
        REQUIRE(total == n);
        best = std::max(best, double(n * sizeof(uint64_t)) / t / 1e9);
    }
    return best;
}

} // namespace

TEST_CASE("bench: matvec GB/s, 4096 x 4096, 2 threads" * doctest::skip()) {
    const int64_t K = 4096, N = 4096;
    MESSAGE("read bandwidth (2 threads, scalar sum loop): " << read_bandwidth(2) << " GB/s");
    for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_0, DType::Q6_K, DType::F16}) {
        // Enough copies of the matrix that they cannot all stay in the last-level cache
        // (>= 160 MB), used round-robin: the weights stream from memory as in decoding.
        OwnedTensor first(type, {K, N});
        std::mt19937 rng(7);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        std::vector<float> row(K);
        for (int64_t r = 0; r < N; ++r) {
            for (auto &v : row) v = nd(rng);
            REQUIRE(quantize_row(type, row.data(), first.t.row(r), K));
        }
        const size_t copies = (size_t(160) << 20) / first.t.n_bytes() + 1;
        std::vector<std::unique_ptr<OwnedTensor>> ws;
        std::vector<std::unique_ptr<Graph>> gs;
        std::vector<std::unique_ptr<GraphRunner>> rs;
        std::vector<float> xv(K);
        for (auto &v : xv) v = nd(rng);
        for (size_t i = 0; i < copies; ++i) {
            ws.push_back(std::make_unique<OwnedTensor>(type, std::initializer_list<int64_t>{K, N}));
            ws.back()->bytes = first.bytes;
            ws.back()->t.data = ws.back()->bytes.data();
            gs.push_back(std::make_unique<Graph>());
            Tensor *x = gs.back()->input(DType::F32, {K, 1}, "x");
            gs.back()->mark_output(gs.back()->mul_mat(&ws.back()->t, x));
            rs.push_back(std::make_unique<GraphRunner>());
            rs.back()->bind(*gs.back());
            fill(x, xv);
        }
        for (cpu::Isa isa : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512, cpu::Isa::amx}) {
            if (!cpu::force_isa(isa)) continue;
            double best = 1e30;
            const int reps = isa == cpu::Isa::scalar ? 3 : 300;
            for (int rep = 0; rep < reps; ++rep) {
                const size_t i = size_t(rep) % copies;
                const double t0 = seconds_now();
                rs[i]->run(*gs[i]);
                best = std::min(best, seconds_now() - t0);
            }
            const double gbs = double(first.t.n_bytes()) / best / 1e9;
            MESSAGE(std::string(dtype_name(type)) << " " << std::string(cpu::isa_name(isa)) << ": " << best * 1e6
                                                  << " us, " << gbs << " GB/s");
        }
        cpu::reset_isa();
    }
}

// Greedy decode speed of Gemma 3 270M Q4_K_M (models/), 64 tokens, 2 threads, per ISA
// path: what `corvid run -p "Once upon a time" -n 64 --temp 0 -t 2` reports.
#include "runtime/context.h"
#include "runtime/model.h"
#include "vocab/vocab.h"

TEST_CASE("bench: gemma-3-270m q4_K_M greedy decode tok/s, 2 threads" * doctest::skip()) {
    const std::string path = std::string(CORVID_SOURCE_DIR) + "/models/gemma-3-270m-q4_k_m.gguf";
    if (!file_exists(path)) {
        MESSAGE("skipped: " << path << " not found");
        return;
    }
    auto model = Model::load(path, LoadMode::full, true);
    const auto prompt = model->vocab()->tokenize("Once upon a time", true, true);
    for (cpu::Isa isa : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512, cpu::Isa::amx}) {
        if (!cpu::force_isa(isa)) continue;
        const int n_gen = isa == cpu::Isa::scalar ? 16 : 64;
        double best = 0;
        for (int rep = 0; rep < (isa == cpu::Isa::scalar ? 1 : 3); ++rep) {
            ContextParams cp;
            cp.n_ctx = 512;
            cp.n_threads = 2;
            Context ctx(*model, cp);
            Batch b;
            b.tokens = prompt;
            ctx.decode(b);
            const double t0 = seconds_now();
            for (int i = 0; i < n_gen; ++i) {
                const float *l = ctx.logits(-1);
                int32_t best_tok = 0;
                for (int32_t t = 1; t < ctx.n_vocab(); ++t)
                    if (l[t] > l[best_tok]) best_tok = t;
                Batch one;
                one.tokens = {best_tok};
                ctx.decode(one);
            }
            best = std::max(best, n_gen / (seconds_now() - t0));
        }
        MESSAGE(std::string(cpu::isa_name(isa)) << ": " << best << " tok/s");
    }
    cpu::reset_isa();
}

// Matrix x matrix (prompt processing) on one thread: GMAC/s of CPU time (robust on a
// busy machine) for a K x N weight matrix against M columns, per type and ISA path.
//   corvid-tests -tc='bench: matmat*' --no-skip
#include <ctime>

namespace {
double thread_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
} // namespace

TEST_CASE("bench: matmat GMAC/s of CPU time, 1 thread" * doctest::skip()) {
    struct Case {
        int64_t K, N, M;
    };
    for (const Case cs : {Case{2048, 2048, 128}, Case{8192, 512, 128}, Case{2048, 2048, 16}}) {
        for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::F16}) {
            OwnedTensor w(type, {cs.K, cs.N});
            std::mt19937 rng(7);
            std::normal_distribution<float> nd(0.0f, 1.0f);
            std::vector<float> row(static_cast<size_t>(cs.K));
            for (int64_t r = 0; r < cs.N; ++r) {
                for (auto &v : row) v = nd(rng);
                REQUIRE(quantize_row(type, row.data(), w.t.row(r), cs.K));
            }
            Graph g;
            Tensor *x = g.input(DType::F32, {cs.K, cs.M}, "x");
            g.mark_output(g.mul_mat(&w.t, x));
            GraphRunner r;
            r.cpu->set_n_threads(1);
            r.bind(g);
            std::vector<float> xv(static_cast<size_t>(cs.K * cs.M));
            for (auto &v : xv) v = nd(rng);
            fill(x, xv);
            std::string line = std::string(dtype_name(type)) + " K=" + std::to_string(cs.K) + " N=" +
                               std::to_string(cs.N) + " M=" + std::to_string(cs.M) + ":";
            for (cpu::Isa isa : {cpu::Isa::avx2, cpu::Isa::avx512, cpu::Isa::amx}) {
                if (!cpu::force_isa(isa)) continue;
                double best = 1e30;
                for (int rep = 0; rep < 5; ++rep) {
                    const double t0 = thread_cpu_seconds();
                    r.run(g);
                    best = std::min(best, thread_cpu_seconds() - t0);
                }
                line += " " + std::string(cpu::isa_name(isa)) + " " +
                        std::to_string(double(cs.K * cs.N * cs.M) / best / 1e9).substr(0, 5) + " GMAC/s";
            }
            MESSAGE(line);
        }
    }
    cpu::reset_isa();
}
