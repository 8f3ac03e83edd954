// Unit tests of every op's reference kernel on the CPU backend, against values
// computed independently here (plain loops in double, or closed forms).
#include "graph_runner.h"

#include "cpu/cpu_kernels.h"
#include "tensor/fp16.h"
#include "tensor/quants.h"
#include "util/error.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>

using namespace corvid;
using namespace corvid::test;

namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto &x : v) x = d(rng);
    return v;
}

} // namespace

TEST_CASE("op get_rows: f32 and q8_0 tables, and out-of-range ids are errors") {
    OwnedTensor table(DType::F32, {4, 3});
    for (int i = 0; i < 12; ++i) table.f32()[i] = static_cast<float>(i);
    Graph g;
    Tensor *ids = g.input(DType::I32, {2}, "ids");
    Tensor *out = g.get_rows(&table.t, ids);
    GraphRunner r;
    r.bind(g);
    fill<int32_t>(ids, {2, 0});
    r.run(g);
    const float want[] = {8, 9, 10, 11, 0, 1, 2, 3};
    for (int i = 0; i < 8; ++i) CHECK(f32(out)[i] == want[i]);

    fill<int32_t>(ids, {3, 0});
    CHECK_THROWS_AS(r.run(g), Error);

    OwnedTensor q(DType::Q8_0, {32, 2});
    const auto src = randn(64, 1);
    quantize_row(DType::Q8_0, src.data(), q.bytes.data(), 64);
    Graph g2;
    Tensor *ids2 = g2.input(DType::I32, {1}, "ids");
    Tensor *out2 = g2.get_rows(&q.t, ids2);
    GraphRunner r2;
    r2.bind(g2);
    fill<int32_t>(ids2, {1});
    r2.run(g2);
    std::vector<float> deq(64);
    dequantize_row(DType::Q8_0, q.bytes.data(), deq.data(), 64);
    for (int i = 0; i < 32; ++i) CHECK(f32(out2)[i] == deq[32 + i]);
}

TEST_CASE("op mul_mat: f32 exact to rounding, quantized weights through their activation format, batch broadcast") {
    const int K = 64, N = 5, M = 3;
    const auto wv = randn(static_cast<size_t>(K * N * 2), 2);
    const auto xv = randn(static_cast<size_t>(K * M * 4), 3);
    for (DType wt : {DType::F32, DType::F16, DType::Q4_0, DType::Q8_0, DType::Q4_1}) {
        CAPTURE(dtype_name(wt));
        OwnedTensor w(wt, {K, N, 2});
        for (int r = 0; r < N * 2; ++r)
            quantize_row(wt, &wv[static_cast<size_t>(r * K)], w.t.row(r % N, r / N), K);
        Graph g;
        Tensor *x = g.input(DType::F32, {K, M, 4}, "x"); // 4 batches over 2 weight batches
        Tensor *y = g.mul_mat(&w.t, x);
        CHECK(y->ne[0] == N);
        CHECK(y->ne[1] == M);
        CHECK(y->ne[2] == 4);
        GraphRunner r;
        r.bind(g);
        fill(x, xv);
        r.run(g);
        const DType at = cpu::activation_type_for(wt);
        std::vector<float> wrow(K), xrow(K);
        std::vector<uint8_t> tmp(static_cast<size_t>(K * 4));
        for (int b = 0; b < 4; ++b)
            for (int m = 0; m < M; ++m) {
                quantize_row(at, &xv[static_cast<size_t>((b * M + m) * K)], tmp.data(), K);
                dequantize_row(at, tmp.data(), xrow.data(), K);
                for (int n = 0; n < N; ++n) {
                    dequantize_row(wt, w.t.row(n, b / 2), wrow.data(), K);
                    double want = 0, exact = 0;
                    for (int k = 0; k < K; ++k) {
                        want += static_cast<double>(wrow[k]) * xrow[k];
                        exact += static_cast<double>(wv[static_cast<size_t>(((b / 2) * N + n) * K + k)]) *
                                 xv[static_cast<size_t>((b * M + m) * K + k)];
                    }
                    const float got = f32(y)[(b * M + m) * N + n];
                    CHECK(got == doctest::Approx(want).epsilon(1e-6));
                    // And the quantized product stays near the exact one.
                    const double tol = wt == DType::F32 ? 1e-4 : wt == DType::F16 ? 0.02 : wt == DType::Q8_0 ? 0.3 : 3.0;
                    CHECK(std::fabs(got - exact) < tol);
                }
            }
    }
}

TEST_CASE("op add/mul/scale: broadcast of the second operand over rows") {
    Graph g;
    Tensor *a = g.input(DType::F32, {3, 2}, "a");
    Tensor *b = g.input(DType::F32, {3}, "b");
    Tensor *s = g.add(a, b), *p = g.mul(a, b), *c = g.scale(a, -2.0f);
    for (Tensor *t : {s, p, c}) g.mark_output(t);
    GraphRunner r;
    r.bind(g);
    fill<float>(a, {1, 2, 3, 4, 5, 6});
    fill<float>(b, {10, 20, 30});
    r.run(g);
    const float ws[] = {11, 22, 33, 14, 25, 36}, wp[] = {10, 40, 90, 40, 100, 180}, wc[] = {-2, -4, -6, -8, -10, -12};
    for (int i = 0; i < 6; ++i) {
        CHECK(f32(s)[i] == ws[i]);
        CHECK(f32(p)[i] == wp[i]);
        CHECK(f32(c)[i] == wc[i]);
    }
}

TEST_CASE("op rms_norm and norm") {
    Graph g;
    Tensor *x = g.input(DType::F32, {4, 2}, "x");
    Tensor *rn = g.rms_norm(x, 1e-6f), *n = g.norm(x, 1e-6f);
    g.mark_output(rn);
    g.mark_output(n);
    GraphRunner r;
    r.bind(g);
    fill<float>(x, {1, 2, 3, 4, -2, 0, 2, 4});
    r.run(g);
    const double rms0 = std::sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-6);
    CHECK(f32(rn)[3] == doctest::Approx(4 / rms0));
    // norm: zero mean, unit variance.
    double mean = 0, var = 0;
    for (int i = 4; i < 8; ++i) mean += f32(n)[i];
    for (int i = 4; i < 8; ++i) var += f32(n)[i] * f32(n)[i];
    CHECK(mean == doctest::Approx(0).epsilon(1e-6));
    CHECK(var / 4 == doctest::Approx(1).epsilon(1e-5));
}

TEST_CASE("op rope: identity at position 0, rotation by pos*theta_i, normal and neox pairing") {
    for (bool neox : {false, true}) {
        CAPTURE(neox);
        Graph g;
        Tensor *x = g.input(DType::F32, {8, 1, 2}, "x"); // head 8 (6 rotated), 1 head, 2 tokens
        Tensor *pos = g.input(DType::I32, {2}, "pos");
        RopeParams p;
        p.n_dims = 6;
        p.neox = neox;
        p.freq_base = 100.0f;
        Tensor *y = g.rope(x, pos, p);
        GraphRunner r;
        r.bind(g);
        const auto xv = randn(16, 7);
        fill(x, xv);
        fill<int32_t>(pos, {0, 5});
        r.run(g);
        for (int i = 0; i < 8; ++i) CHECK(f32(y)[i] == doctest::Approx(xv[static_cast<size_t>(i)]));
        for (int i = 0; i < 3; ++i) {
            const double theta = 5.0 * std::pow(100.0, -2.0 * i / 6.0);
            const int j0 = neox ? i : 2 * i, j1 = neox ? i + 3 : 2 * i + 1;
            const double x0 = xv[static_cast<size_t>(8 + j0)], x1 = xv[static_cast<size_t>(8 + j1)];
            CHECK(f32(y)[8 + j0] == doctest::Approx(x0 * std::cos(theta) - x1 * std::sin(theta)).epsilon(1e-5));
            CHECK(f32(y)[8 + j1] == doctest::Approx(x0 * std::sin(theta) + x1 * std::cos(theta)).epsilon(1e-5));
        }
        CHECK(f32(y)[8 + 6] == xv[14]); // beyond n_dims: unchanged
        CHECK(f32(y)[8 + 7] == xv[15]);
    }
}

TEST_CASE("op rope: linear scaling divides positions; YaRN keeps norms bounded") {
    Graph g;
    Tensor *x = g.input(DType::F32, {4, 1, 1}, "x");
    Tensor *pos = g.input(DType::I32, {1}, "pos");
    RopeParams lin;
    lin.n_dims = 4;
    lin.freq_scale = 0.25f;
    Tensor *a = g.rope(x, pos, lin);
    RopeParams unscaled;
    unscaled.n_dims = 4;
    Tensor *pos2 = g.input(DType::I32, {1}, "pos2");
    Tensor *b = g.rope(x, pos2, unscaled);
    RopeParams yarn = lin;
    yarn.ext_factor = 1.0f;
    yarn.n_ctx_orig = 4096;
    Tensor *c = g.rope(x, pos, yarn);
    for (Tensor *t : {a, b, c}) g.mark_output(t);
    GraphRunner r;
    r.bind(g);
    fill<float>(x, {1, 0, 0, 1});
    fill<int32_t>(pos, {8});
    fill<int32_t>(pos2, {2});
    r.run(g);
    for (int i = 0; i < 4; ++i) CHECK(f32(a)[i] == doctest::Approx(f32(b)[i]));
    const float mscale = 1.0f + 0.1f * std::log(4.0f);
    CHECK(std::hypot(f32(c)[0], f32(c)[1]) == doctest::Approx(mscale));
}

TEST_CASE("op soft_max with scale and mask") {
    Graph g;
    Tensor *x = g.input(DType::F32, {3, 2}, "x");
    Tensor *m = g.input(DType::F32, {3, 2}, "m");
    Tensor *y = g.soft_max(x, m, 0.5f);
    GraphRunner r;
    r.bind(g);
    fill<float>(x, {2, 4, 6, 1, 1, 1});
    fill<float>(m, {0, 0, -INFINITY, 0, 0, 0});
    r.run(g);
    const double e1 = std::exp(1.0), e2 = std::exp(2.0);
    CHECK(f32(y)[0] == doctest::Approx(e1 / (e1 + e2)));
    CHECK(f32(y)[2] == 0.0f);
    CHECK(f32(y)[3] == doctest::Approx(1.0 / 3));
}

TEST_CASE("op attention: matches a naive computation, with grouped heads and a causal mask") {
    const int D = 8, H = 4, HKV = 2, T = 3, NKV = 5;
    for (DType ct : {DType::F32, DType::F16}) {
        CAPTURE(dtype_name(ct));
        OwnedTensor kc(ct, {D * HKV, NKV}), vc(ct, {D * HKV, NKV});
        const auto kv = randn(static_cast<size_t>(D * HKV * NKV), 11), vv = randn(static_cast<size_t>(D * HKV * NKV), 12);
        for (int j = 0; j < NKV; ++j) {
            quantize_row(ct, &kv[static_cast<size_t>(j * D * HKV)], kc.t.row(j), D * HKV);
            quantize_row(ct, &vv[static_cast<size_t>(j * D * HKV)], vc.t.row(j), D * HKV);
        }
        Graph g;
        Tensor *q = g.input(DType::F32, {D, H, T}, "q");
        Tensor *mask = g.input(DType::F32, {NKV, T}, "mask");
        const size_t esz = traits(ct).block_bytes;
        Tensor *k = g.view(&kc.t, {D, NKV, HKV}, {kc.t.nb[1], D * esz}, 0);
        Tensor *v = g.view(&vc.t, {D, NKV, HKV}, {vc.t.nb[1], D * esz}, 0);
        Tensor *y = g.attention(q, k, v, mask, 0.3f);
        GraphRunner r;
        r.bind(g);
        const auto qv = randn(static_cast<size_t>(D * H * T), 13);
        fill(q, qv);
        std::vector<float> mv(static_cast<size_t>(NKV * T));
        for (int t = 0; t < T; ++t)
            for (int j = 0; j < NKV; ++j) mv[static_cast<size_t>(t * NKV + j)] = j <= t + 2 ? 0.0f : -INFINITY;
        fill(q, qv);
        fill(mask, mv);
        r.run(g);
        const double tol = ct == DType::F16 ? 3e-3 : 1e-5;
        for (int t = 0; t < T; ++t)
            for (int h = 0; h < H; ++h) {
                const int hk = h / (H / HKV);
                std::vector<double> s(NKV);
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= t + 2; ++j) {
                    double dot = 0;
                    for (int d = 0; d < D; ++d)
                        dot += static_cast<double>(qv[static_cast<size_t>((t * H + h) * D + d)]) * kv[static_cast<size_t>(j * D * HKV + hk * D + d)];
                    s[static_cast<size_t>(j)] = dot * 0.3;
                    mx = std::max(mx, s[static_cast<size_t>(j)]);
                }
                for (int j = 0; j <= t + 2; ++j) sum += (s[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - mx));
                for (int d = 0; d < D; ++d) {
                    double want = 0;
                    for (int j = 0; j <= t + 2; ++j)
                        want += s[static_cast<size_t>(j)] / sum * vv[static_cast<size_t>(j * D * HKV + hk * D + d)];
                    CHECK(f32(y)[(t * H + h) * D + d] == doctest::Approx(want).epsilon(tol).scale(1.0));
                }
            }
    }
}

TEST_CASE("op silu, gelu, swiglu, geglu") {
    Graph g;
    Tensor *x = g.input(DType::F32, {5}, "x");
    Tensor *u = g.input(DType::F32, {5}, "u");
    Tensor *s = g.silu(x), *ge = g.gelu(x), *sw = g.swiglu(x, u), *gg = g.geglu(x, u);
    for (Tensor *t : {s, ge, sw, gg}) g.mark_output(t);
    GraphRunner r;
    r.bind(g);
    const std::vector<float> xv = {-12.0f, -1.5f, 0.0f, 0.7f, 11.0f};
    fill(x, xv);
    fill<float>(u, {2, 2, 2, 2, 2});
    r.run(g);
    for (int i = 0; i < 5; ++i) {
        const double xi = xv[static_cast<size_t>(i)];
        const double silu = xi / (1 + std::exp(-xi));
        const double gelu = 0.5 * xi * (1 + std::tanh(0.7978845608 * (xi + 0.044715 * xi * xi * xi)));
        CHECK(f32(s)[i] == doctest::Approx(silu).epsilon(1e-6));
        CHECK(f32(ge)[i] == doctest::Approx(gelu).epsilon(2e-3).scale(1)); // through the F16 table
        CHECK(f32(sw)[i] == doctest::Approx(2 * silu).epsilon(1e-6));
        CHECK(f32(gg)[i] == doctest::Approx(2 * gelu).epsilon(2e-3).scale(1));
    }
    CHECK(f32(ge)[0] == 0.0f);  // clamped below -10
    CHECK(f32(ge)[4] == 11.0f); // identity above 10
}

TEST_CASE("op cpy materialises a permuted view; set_rows writes converted rows") {
    Graph g;
    Tensor *x = g.input(DType::F32, {2, 3}, "x");
    Tensor *c = g.cont(g.permute(x, 1, 0, 2, 3)); // [3, 2]
    OwnedTensor cache(DType::F16, {2, 4}, "cache");
    Tensor *ids = g.input(DType::I32, {3}, "ids");
    Tensor *written = g.set_rows(&cache.t, x, ids);
    g.mark_output(c);
    GraphRunner r;
    r.bind(g);
    fill<float>(x, {1, 2, 3, 4, 5, 6});
    fill<int32_t>(ids, {3, 0, 1});
    r.run(g);
    const float wc[] = {1, 3, 5, 2, 4, 6};
    for (int i = 0; i < 6; ++i) CHECK(f32(c)[i] == wc[i]);
    CHECK(written->data == cache.t.data);
    const uint16_t *h = reinterpret_cast<const uint16_t *>(cache.bytes.data());
    CHECK(fp16_to_fp32(h[6]) == 1.0f); // row 3 <- x row 0
    CHECK(fp16_to_fp32(h[7]) == 2.0f);
    CHECK(fp16_to_fp32(h[0]) == 3.0f); // row 0 <- x row 1
    CHECK(fp16_to_fp32(h[4]) == 0.0f); // row 2 untouched
}

TEST_CASE("planner: intermediates reuse memory, and live tensors never overlap") {
    Graph g;
    Tensor *x = g.input(DType::F32, {1024}, "x");
    Tensor *y = x;
    for (int i = 0; i < 10; ++i) y = g.scale(y, 2.0f);
    g.mark_output(y);
    MemoryPlan plan(g);
    // 11 tensors of 4 KiB but at most 3 alive at once (input, current, next).
    CHECK(plan.arena_bytes() <= 3 * 4096);
    GraphRunner r;
    r.bind(g);
    std::vector<float> ones(1024, 1.0f);
    fill(x, ones);
    r.run(g);
    CHECK(f32(y)[0] == 1024.0f);
    CHECK(f32(x)[0] == 1.0f); // inputs are never overwritten
}

TEST_CASE("tensor: bytes_overlap compares the bytes two tensors span, strides included") {
    std::vector<float> buf(64);
    auto at = [&](int64_t offset, int64_t n0, int64_t n1) {
        Tensor t;
        t.ne[0] = n0, t.ne[1] = n1;
        set_contiguous_strides(t);
        t.data = buf.data() + offset;
        return t;
    };
    const Tensor a = at(0, 8, 2);                        // floats 0..15
    CHECK(bytes_overlap(a, at(15, 4, 1)));               // shares float 15
    CHECK_FALSE(bytes_overlap(a, at(16, 4, 1)));         // starts where a ends
    CHECK(bytes_overlap(at(20, 4, 1), at(10, 8, 2)));    // inside the other
    Tensor strided = at(32, 2, 3);                       // rows 8 floats apart: 32..49
    strided.nb[1] = 8 * sizeof(float);
    CHECK(bytes_overlap(strided, at(49, 1, 1)));
    CHECK_FALSE(bytes_overlap(strided, at(50, 4, 1)));
    Tensor empty = at(0, 0, 1);
    CHECK_FALSE(bytes_overlap(a, empty));
}

TEST_CASE("graph: shape errors are internal errors with a description") {
    Graph g;
    Tensor *a = g.input(DType::F32, {3, 2}, "a");
    Tensor *b = g.input(DType::F32, {4}, "b");
    CHECK_THROWS_AS(g.add(a, b), Error);
    CHECK_THROWS_AS(g.reshape(a, {5}), Error);
    CHECK_THROWS_AS(g.permute(a, 0, 0, 1, 2), Error);
}
