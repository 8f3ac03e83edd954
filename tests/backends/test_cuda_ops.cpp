// Conformance of the CUDA backend against the CPU backend's scalar reference kernels:
// one-op graphs run on both (memory from each backend's alloc(), inputs through
// upload(), weights through upload_weight() as a model's are, so the planar types are read
// planar; results through download()), for every op, every weight type of mul_mat and
// get_rows, every cache type of set_rows, on shapes that are not multiples of blocks,
// warps or tiles, with 1 (decode) and many (prompt) columns.
//
// Tolerances. mul_mat: both sides use the same converted activations (the GPU reproduces
// the reference's round trip through Q8_0 / Q8_K / F16 / BF16 bit for bit) and the same
// dequantized weights, so few columns (the matrix-vector kernels, float sums of 32-term
// partials) differ by float rounding only: |gpu - ref| <= 1e-5 S, S = sum_k |w_k x_k|.
// Many columns go through cuBLAS on F16 tiles (weights and activations rounded to F16,
// products accumulated in F32): each term may move by 2^-10 relative, so 2e-3 S. F16 and
// BF16 weights meet F16/BF16-rounded activations exactly, so those keep 1e-5 S.
// Row-wise ops: a few float ulps (1e-5 relative, sums in double like the reference);
// gelu and attention are looser (F16 table rounding; the reference rounds softmax
// probabilities to F16, the GPU's online softmax cannot).
//
// Without a GPU (CI) every case says so and passes.
#ifdef CORVID_HAS_CUDA

#include "cuda/cuda_backend.h"

#include "backend.h"
#include "cpu/cpu_dispatch.h"
#include "cpu/cpu_kernels.h"
#include "graph/graph.h"
#include "tensor/fp16.h"
#include "tensor/quants.h"
#include "util/error.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace corvid;

namespace {

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};

bool have_gpu() {
    static const bool yes = [] {
        const int n = cuda_device_count();
        if (n == 0) return false;
        MESSAGE("CUDA device 0: " << cuda_device_description(0));
        return true;
    }();
    return yes;
}
#define REQUIRE_GPU()                                                                                                  \
    do {                                                                                                               \
        if (!have_gpu()) {                                                                                             \
            MESSAGE("no CUDA device: skipped");                                                                        \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

Backend &gpu() {
    static std::unique_ptr<Backend> b = make_cuda_backend(0);
    return *b;
}
// A GPU backend made while the environment variable `var` reads `value` (the backend reads
// its settings when it is made).
std::unique_ptr<Backend> gpu_with(const char *var, const char *value) {
    const char *old = std::getenv(var);
    const std::string saved = old ? old : "";
    setenv(var, value, 1);
    auto made = make_cuda_backend(0);
    if (old) setenv(var, saved.c_str(), 1);
    else unsetenv(var);
    return made;
}
// A second GPU backend with the decode-step fusions off, to compare the fused kernels with
// the ops one by one.
Backend &gpu_unfused() {
    static std::unique_ptr<Backend> b = gpu_with("CORVID_CUDA_FUSE", "0");
    return *b;
}
// Weights kept in ggml's layout (gpu() stores the planar types planar: cuda_planar.cuh).
Backend &gpu_blocks() {
    static std::unique_ptr<Backend> b = gpu_with("CORVID_CUDA_PLANAR", "0");
    return *b;
}
// The older one-row-per-warp integer matvec (CORVID_CUDA_MATVEC=old).
Backend &gpu_old_matvec() {
    static std::unique_ptr<Backend> b = gpu_with("CORVID_CUDA_MATVEC", "old");
    return *b;
}
// One-column F16/BF16 products by the one-row kernel, one launch each (CORVID_CUDA_HPARTS=0;
// the default takes the parts kernel and its fusions).
Backend &gpu_h_rows() {
    static std::unique_ptr<Backend> b = gpu_with("CORVID_CUDA_HPARTS", "0");
    return *b;
}
Backend &cpu_ref() {
    static std::unique_ptr<Backend> b = make_cpu_backend(2);
    return *b;
}

struct IsaGuard {
    IsaGuard() { REQUIRE(cpu::force_isa(cpu::Isa::scalar)); }
    ~IsaGuard() { cpu::reset_isa(); }
};

// A graph plus the host bytes of its leaves (weights, inputs, caches).
struct Case {
    Graph g;
    std::deque<Tensor> leaves;
    std::map<Tensor *, std::vector<uint8_t>> data;

    Tensor *leaf(DType type, std::initializer_list<int64_t> ne, const char *name) {
        Tensor &t = leaves.emplace_back();
        t.type = type;
        int d = 0;
        for (int64_t n : ne) t.ne[d++] = n;
        t.name = name;
        t.flags = kFlagWeight;
        set_contiguous_strides(t);
        data[&t].assign(t.n_bytes(), 0);
        return &t;
    }
    Tensor *input(DType type, std::initializer_list<int64_t> ne, const char *name) {
        Tensor *t = g.input(type, ne, name);
        data[t].assign(t->n_bytes(), 0);
        return t;
    }
    std::vector<uint8_t> &bytes(Tensor *t) { return data.at(t); }
    void set_f32(Tensor *t, const std::vector<float> &v) {
        REQUIRE(v.size() * 4 == data.at(t).size());
        std::memcpy(data.at(t).data(), v.data(), data.at(t).size());
    }
    void set_i32(Tensor *t, const std::vector<int32_t> &v) {
        REQUIRE(v.size() * 4 == data.at(t).size());
        std::memcpy(data.at(t).data(), v.data(), data.at(t).size());
    }

    // Runs every node on `b`; returns the bytes of `want` (results or leaves).
    std::vector<std::vector<uint8_t>> run(Backend &b, const std::vector<Tensor *> &want) {
        std::vector<void *> owned;
        for (auto &[t, bytes] : data) {
            void *p = b.alloc(std::max<size_t>(bytes.size(), 1));
            owned.push_back(p);
            if (t->flags & kFlagWeight) t->layout = b.upload_weight(p, *t, bytes.data()); // as a model's weights
            else b.upload(p, bytes.data(), bytes.size());
            t->data = p;
        }
        for (Tensor *t : g.nodes()) {
            if (t->view_src) {
                t->data = static_cast<uint8_t *>(t->view_src->data) + t->view_offset;
            } else {
                void *p = b.alloc(std::max<size_t>(t->n_bytes(), 1));
                owned.push_back(p);
                std::vector<uint8_t> poison(t->n_bytes(), 0xFF); // NaN everywhere: every output must be written
                b.upload(p, poison.data(), poison.size());
                t->data = p;
            }
        }
        for (Tensor *t : want) g.mark_output(t->view_src ? t->view_src : t); // as a model marks what it reads
        b.compute(g.nodes());
        std::vector<std::vector<uint8_t>> out;
        for (Tensor *t : want) {
            const Tensor *root = t->view_src ? t->view_src : t;
            std::vector<uint8_t> v(root->n_bytes());
            b.download(v.data(), root->data, v.size());
            out.push_back(std::move(v));
        }
        b.synchronize();
        for (void *p : owned) b.release(p);
        return out;
    }
};

std::vector<float> as_f32(const std::vector<uint8_t> &b) {
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

// F16 bytes as the F32 bytes of the same values (to compare caches with as_f32()).
std::vector<uint8_t> f16_as_f32_bytes(const std::vector<uint8_t> &b) {
    std::vector<uint8_t> out(b.size() * 2);
    for (size_t i = 0; i + 1 < b.size(); i += 2) {
        const float v = fp16_to_fp32(static_cast<uint16_t>(b[i] | b[i + 1] << 8));
        std::memcpy(&out[2 * i], &v, 4);
    }
    return out;
}

std::vector<float> randn(size_t n, std::mt19937 &rng, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto &x : v) x = d(rng);
    return v;
}

// Weights quantized by the reference quantizer from normal rows with per-row scales and offsets.
void fill_weights(Case &c, Tensor *w, std::mt19937 &rng) {
    const int64_t K = w->ne[0], rows = w->n_rows();
    std::uniform_real_distribution<float> ud(0.05f, 2.0f);
    for (int64_t r = 0; r < rows; ++r) {
        const float scale = ud(rng), shift = (r % 3 == 0) ? 0.5f * scale : 0.0f;
        auto row = randn(static_cast<size_t>(K), rng, scale);
        for (auto &v : row) v += shift;
        if (K > 3) row[static_cast<size_t>(r % K)] *= 6.0f;
        REQUIRE(quantize_row(w->type, row.data(), c.bytes(w).data() + r * w->nb[1], K));
    }
}

// Both backends; element-wise comparison of F32 results with |a - b| <= abs_tol + rel_tol |ref|.
struct Compared {
    double worst = 0.0;
    int bad = 0;
};
Compared compare(const std::vector<float> &ref, const std::vector<float> &got, double rel_tol, double abs_tol,
                 const std::string &what) {
    Compared r;
    REQUIRE(ref.size() == got.size());
    for (size_t i = 0; i < ref.size(); ++i) {
        const double tol = abs_tol + rel_tol * std::fabs(ref[i]);
        const double err = std::fabs(double(got[i]) - double(ref[i]));
        if (!(err <= tol) && !(std::isinf(ref[i]) && ref[i] == got[i])) {
            if (++r.bad <= 3) FAIL_CHECK(what << " at " << i << ": gpu " << got[i] << " ref " << ref[i]);
        } else if (tol > 0) {
            r.worst = std::max(r.worst, err / tol);
        }
    }
    return r;
}

// A K and a V cache [D * HKV, n_ctx] of type kv holding random values (the runtime's
// layout), and the strided views an attention reads of their first nkv cells ([D, nkv, HKV]).
struct KvViews {
    Tensor *k, *v;
};
KvViews random_kv_cache(Case &c, DType kv, int64_t D, int64_t HKV, int64_t n_ctx, int64_t nkv, std::mt19937 &rng) {
    Tensor *kc = c.leaf(kv, {D * HKV, n_ctx}, "k_cache"), *vc = c.leaf(kv, {D * HKV, n_ctx}, "v_cache");
    for (Tensor *t : {kc, vc}) {
        const auto v = randn(static_cast<size_t>(D * HKV * n_ctx), rng);
        REQUIRE(quantize_row(kv, v.data(), c.bytes(t).data(), static_cast<int64_t>(v.size())));
    }
    const size_t row = static_cast<size_t>(D) * traits(kv).block_bytes;
    return {c.g.view(kc, {D, nkv, HKV}, {kc->nb[1], row}, 0), c.g.view(vc, {D, nkv, HKV}, {vc->nb[1], row}, 0)};
}

// A causal mask of `rows` query rows over nkv keys, the last query of T at the last key.
std::vector<float> causal_mask(int64_t nkv, int64_t T, int64_t rows) {
    std::vector<float> mv(static_cast<size_t>(nkv * rows));
    for (int64_t t = 0; t < rows; ++t)
        for (int64_t j = 0; j < nkv; ++j) mv[static_cast<size_t>(t * nkv + j)] = j > nkv - T + t ? -INFINITY : 0.0f;
    return mv;
}

// The largest magnitude in v (a bound relative to it suits sums whose 8-bit activations may
// move by a step).
double peak_of(const std::vector<float> &v) {
    double peak = 0.0;
    for (float f : v) peak = std::max(peak, static_cast<double>(std::fabs(f)));
    return peak;
}

Compared run_and_compare(Case &c, Tensor *out, double rel_tol, double abs_tol, const std::string &what) {
    IsaGuard isa;
    const auto ref = as_f32(c.run(cpu_ref(), {out})[0]);
    const auto got = as_f32(c.run(gpu(), {out})[0]);
    return compare(ref, got, rel_tol, abs_tol, what);
}

// A fusion's graph on the GPU with and without the fusions: the same bits each; and against
// the host within rel and peak_frac of each output's largest magnitude.
void check_fused(Case &c, const std::vector<Tensor *> &outs, double rel, double peak_frac, const std::string &what) {
    IsaGuard isa;
    const auto ref = c.run(cpu_ref(), outs);
    const auto got = c.run(gpu(), outs);
    const auto unfused = c.run(gpu_unfused(), outs);
    for (size_t i = 0; i < outs.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i] == unfused[i]);
        const auto r0 = as_f32(ref[i]);
        CHECK(compare(r0, as_f32(got[i]), rel, peak_frac * peak_of(r0), what).bad == 0);
    }
}

// ---- mul_mat -----------------------------------------------------------------------------

struct MatShape {
    int64_t K, N, M, B2, B3, wB2, wB3;
};

double check_mul_mat(DType type, const MatShape &s, uint32_t seed, Backend &device) {
    std::mt19937 rng(seed);
    Case c;
    Tensor *w = c.leaf(type, {s.K, s.N, s.wB2, s.wB3}, "w");
    fill_weights(c, w, rng);
    Tensor *x = c.input(DType::F32, {s.K, s.M, s.B2, s.B3}, "x");
    Tensor *y = c.g.mul_mat(w, x);
    auto xv = randn(static_cast<size_t>(x->n_elements()), rng);
    for (size_t i = 0; i < xv.size(); ++i)
        if ((i / s.K) % 4 == 1) xv[i] *= 30.0f;
    if (s.M > 2) std::fill(xv.begin() + 2 * s.K, xv.begin() + 3 * s.K, 0.0f); // an all-zero column
    c.set_f32(x, xv);

    IsaGuard isa;
    const auto ref = as_f32(c.run(cpu_ref(), {y})[0]);
    const auto got = as_f32(c.run(device, {y})[0]);

    // S = sum |w| |x'| per output, with x' the activation after its partner round trip.
    const DType at = cpu::activation_type_for(type);
    const int64_t rows = s.N * s.wB2 * s.wB3, cols = s.M * s.B2 * s.B3;
    std::vector<float> wa(static_cast<size_t>(rows * s.K)), xq(static_cast<size_t>(cols * s.K));
    for (int64_t r = 0; r < rows; ++r)
        REQUIRE(dequantize_row(type, c.bytes(w).data() + r * w->nb[1], &wa[static_cast<size_t>(r * s.K)], s.K));
    std::vector<uint8_t> q(*dtype_row_bytes(at, static_cast<uint64_t>(s.K)));
    for (int64_t col = 0; col < cols; ++col) {
        REQUIRE(quantize_row(at, &xv[static_cast<size_t>(col * s.K)], q.data(), s.K));
        REQUIRE(dequantize_row(at, q.data(), &xq[static_cast<size_t>(col * s.K)], s.K));
    }
    const bool exact_inputs = type == DType::F32 || type == DType::F16 || type == DType::BF16;
    const double tol = (s.M <= 8 || exact_inputs) ? 1e-5 : 2e-3;
    double worst = 0.0;
    int bad = 0;
    for (int64_t b3 = 0; b3 < s.B3; ++b3)
        for (int64_t b2 = 0; b2 < s.B2; ++b2)
            for (int64_t m = 0; m < s.M; ++m)
                for (int64_t n = 0; n < s.N; ++n) {
                    const int64_t wr = n + s.N * ((b2 / (s.B2 / s.wB2)) + s.wB2 * (b3 / (s.B3 / s.wB3)));
                    const int64_t col = m + s.M * (b2 + s.B2 * b3);
                    double S = 0.0;
                    for (int64_t k = 0; k < s.K; ++k)
                        S += std::fabs(double(wa[static_cast<size_t>(wr * s.K + k)]) * xq[static_cast<size_t>(col * s.K + k)]);
                    const size_t i = static_cast<size_t>(n + s.N * col);
                    const double err = std::fabs(double(got[i]) - double(ref[i]));
                    const double t = tol * S + 1e-30;
                    if (!(err <= t)) {
                        if (++bad <= 3)
                            FAIL_CHECK(std::string(dtype_name(type)) << " K=" << s.K << " N=" << s.N << " M=" << s.M << " B=" << s.B2
                                                        << "x" << s.B3 << " at n=" << n << " col=" << col << ": gpu "
                                                        << got[i] << " ref " << ref[i] << " err " << err << " tol " << t);
                    } else {
                        worst = std::max(worst, err / t);
                    }
                }
    CHECK(bad == 0);
    return worst;
}

} // namespace

TEST_CASE("cuda: device discovery and errors") {
    REQUIRE_GPU();
    CHECK(cuda_device_count() >= 1);
    CHECK_THROWS_AS(make_cuda_backend(cuda_device_count()), Error);
    size_t free_b = 0, total_b = 0;
    gpu().memory_info(&free_b, &total_b);
    CHECK(total_b > 0);
    CHECK(free_b <= total_b);
    // More memory than the card has: a clear out_of_memory error, and the backend still works.
    try {
        gpu().alloc(total_b * 2);
        FAIL("allocation larger than the GPU succeeded");
    } catch (const Error &e) {
        CHECK(e.status() == Status::out_of_memory);
        MESSAGE("out of memory reads: " << std::string(e.what()));
    }
    void *p = gpu().alloc(1000);
    std::vector<uint8_t> a(1000), b(1000, 0);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7);
    gpu().upload(p, a.data(), a.size());
    gpu().download(b.data(), p, b.size());
    CHECK(a == b);
    gpu().fill(p, 3, 10);
    gpu().download(b.data(), p, b.size());
    CHECK(b[9] == 3);
    CHECK(b[10] == a[10]);
    gpu().release(p);
}

TEST_CASE("cuda: mul_mat, every weight type, matvec and GEMM paths") {
    REQUIRE_GPU();
    for (DType type : kWeightTypes) {
        CAPTURE(dtype_name(type));
        const uint32_t bs = traits(type).block_size;
        // K, N, M, x batch (dims 2, 3), weight batch (dims 2, 3)
        static const std::vector<MatShape> float_shapes = {
            {7, 5, 1, 1, 1, 1, 1},    {100, 37, 1, 1, 1, 1, 1}, {77, 13, 3, 1, 1, 1, 1}, {96, 33, 8, 1, 1, 1, 1},
            {100, 37, 17, 1, 1, 1, 1}, {64, 11, 5, 2, 3, 2, 1}, {130, 21, 40, 1, 1, 1, 1}};
        static const std::vector<MatShape> b32_shapes = {
            {32, 3, 1, 1, 1, 1, 1},    {608, 67, 1, 1, 1, 1, 1}, {96, 13, 3, 1, 1, 1, 1},  {1024, 33, 8, 1, 1, 1, 1},
            {160, 37, 17, 1, 1, 1, 1}, {64, 7, 3, 4, 2, 2, 2},   {256, 45, 64, 1, 1, 1, 1},
            {4096, 21, 1, 1, 1, 1, 1}, {2080, 11, 2, 1, 1, 1, 1},
            {768, 19, 3, 1, 1, 1, 1},  {256, 5, 2, 1, 1, 1, 1}, {8192, 7, 2, 1, 1, 1, 1}};
        static const std::vector<MatShape> b256_shapes = {
            {256, 3, 1, 1, 1, 1, 1},   {768, 67, 1, 1, 1, 1, 1}, {512, 13, 2, 1, 1, 1, 1}, {2304, 9, 8, 1, 1, 1, 1},
            {768, 37, 17, 1, 1, 1, 1}, {256, 7, 3, 4, 2, 2, 2},  {512, 45, 64, 1, 1, 1, 1},
            {2048, 19, 1, 1, 1, 1, 1}, {4096, 9, 3, 1, 1, 1, 1}, {8192, 5, 1, 1, 1, 1, 1}};
        const std::vector<MatShape> &shapes = bs == 1 ? float_shapes : bs == 32 ? b32_shapes : b256_shapes;
        // Every weight layout and integer matvec kernel: planar (the default), ggml's blocks,
        // the older kernel.
        Backend *devices[] = {&gpu(), &gpu_blocks(), &gpu_old_matvec(), &gpu_h_rows()};
        const char *names[] = {"default", "blocks", "old matvec", "F16 one-row"};
        for (int d = 0; d < 4; ++d) {
            CAPTURE(names[d]);
            double worst = 0.0;
            uint32_t seed = 500 + static_cast<uint32_t>(type) * 31;
            for (const MatShape &s : shapes) worst = std::max(worst, check_mul_mat(type, s, seed++, *devices[d]));
            MESSAGE(std::string(dtype_name(type)) << " (" << names[d] << "): worst |gpu - ref| / tolerance " << worst);
        }
    }
}

TEST_CASE("cuda: mul_mats sharing one input (the 8-bit conversion is reused only while valid)") {
    REQUIRE_GPU();
    std::mt19937 rng(11);
    Case c;
    const int64_t K = 512;
    Tensor *x = c.input(DType::F32, {K, 1}, "x");
    c.set_f32(x, randn(K, rng));
    Tensor *w1 = c.leaf(DType::Q4_K, {K, 40}, "w1"), *w2 = c.leaf(DType::Q6_K, {K, 24}, "w2");
    Tensor *w3 = c.leaf(DType::Q4_0, {K, 8}, "w3"), *w4 = c.leaf(DType::Q5_K, {K, 16}, "w4");
    for (Tensor *w : {w1, w2, w3, w4}) fill_weights(c, w, rng);
    Tensor *y1 = c.g.mul_mat(w1, x), *y2 = c.g.mul_mat(w2, x), *y3 = c.g.mul_mat(w3, x);
    Tensor *y4 = c.g.mul_mat(w4, c.g.scale(x, 0.5f)); // another input
    Tensor *y5 = c.g.mul_mat(w1, x);
    IsaGuard isa;
    const auto ref = c.run(cpu_ref(), {y1, y2, y3, y4, y5});
    const auto got = c.run(gpu(), {y1, y2, y3, y4, y5});
    for (size_t i = 0; i < ref.size(); ++i) CHECK(compare(as_f32(ref[i]), as_f32(got[i]), 1e-4, 1e-3, "shared input").bad == 0);
}

// Prompt-sized products reuse the F16/BF16/F32 conversion of their input while it is of the
// same input, rounded the same way (Context::conv_cache): every product must give the same
// bits as when it runs alone.
TEST_CASE("cuda: prompt products sharing one input (the converted activations are reused only while valid)") {
    REQUIRE_GPU();
    std::mt19937 rng(12);
    const int64_t K = 256, M = 40;
    const DType types[] = {DType::F16, DType::F16, DType::Q4_0, DType::F16, DType::BF16, DType::Q4_K, DType::Q4_K,
                           DType::F32, DType::Q8_0};
    const size_t n = std::size(types);
    const auto xv = randn(static_cast<size_t>(K * M), rng);
    std::vector<std::vector<uint8_t>> weights(n);
    auto make = [&](Case &c, size_t i, Tensor *x, Tensor *x2) {
        Tensor *w = c.leaf(types[i], {K, 24}, "w");
        if (weights[i].empty()) {
            fill_weights(c, w, rng);
            weights[i] = c.bytes(w);
        } else {
            c.bytes(w) = weights[i];
        }
        return c.g.mul_mat(w, i == 6 ? x2 : x); // product 6: another input (x scaled)
    };
    Case all;
    Tensor *x = all.input(DType::F32, {K, M}, "x");
    all.set_f32(x, xv);
    Tensor *x2 = all.g.scale(x, 0.5f);
    std::vector<Tensor *> ys;
    for (size_t i = 0; i < n; ++i) ys.push_back(make(all, i, x, x2));
    const auto together = all.run(gpu(), ys);
    for (size_t i = 0; i < n; ++i) {
        CAPTURE(i);
        Case one;
        Tensor *xo = one.input(DType::F32, {K, M}, "x");
        one.set_f32(xo, xv);
        Tensor *y = make(one, i, xo, one.g.scale(xo, 0.5f));
        CHECK(one.run(gpu(), {y})[0] == together[i]);
    }
}

TEST_CASE("cuda: a decode-sized graph, captured and replayed with new inputs and new memory") {
    REQUIRE_GPU();
    std::mt19937 rng(12);
    Case c;
    const int64_t K = 256, N = 96;
    Tensor *x = c.input(DType::F32, {K, 1}, "x");
    Tensor *gamma = c.leaf(DType::F32, {K}, "gamma");
    Tensor *wq = c.leaf(DType::Q4_0, {K, N}, "wq"), *wk = c.leaf(DType::Q4_K, {K, N}, "wk");
    Tensor *wo = c.leaf(DType::Q8_0, {N, K}, "wo");
    for (Tensor *w : {wq, wk, wo}) fill_weights(c, w, rng);
    c.set_f32(gamma, randn(K, rng));
    Tensor *h = c.g.mul(c.g.rms_norm(x, 1e-5f), gamma);
    Tensor *a = c.g.add(c.g.mul_mat(wq, h), c.g.mul_mat(wk, h));
    Tensor *o = c.g.mul_mat(wo, c.g.swiglu(a, c.g.scale(a, 0.3f)));
    Tensor *y = c.g.soft_max(c.g.add(o, x), nullptr, 1.0f);
    for (int step = 0; step < 3; ++step) {
        CAPTURE(step);
        c.set_f32(x, randn(K, rng));
        IsaGuard isa;
        const auto ref = as_f32(c.run(cpu_ref(), {y})[0]);
        const auto got = as_f32(c.run(gpu(), {y})[0]);
        CHECK(compare(ref, got, 1e-4, 1e-6, "decode graph").bad == 0);
    }
}

TEST_CASE("cuda: get_rows, every table type, and out-of-range ids are an error") {
    REQUIRE_GPU();
    for (DType type : kWeightTypes) {
        CAPTURE(dtype_name(type));
        std::mt19937 rng(7 + static_cast<uint32_t>(type));
        const int64_t K = traits(type).block_size == 1 ? 45 : traits(type).block_size == 32 ? 96 : 512;
        Case c;
        Tensor *t = c.leaf(type, {K, 9}, "table");
        fill_weights(c, t, rng);
        Tensor *ids = c.input(DType::I32, {5}, "ids");
        c.set_i32(ids, {3, 0, 8, 3, 5});
        Tensor *y = c.g.get_rows(t, ids);
        const auto r = run_and_compare(c, y, 0.0, 0.0, std::string("get_rows ") + dtype_name(type));
        CHECK(r.bad == 0);
        // The types the backend stores planar were read from planar rows (GPU ran last).
        const bool planar = type == DType::Q4_0 || type == DType::Q8_0 || type == DType::Q4_K || type == DType::Q6_K;
        CHECK((t->layout != 0) == planar);
    }
    Case c;
    Tensor *t = c.leaf(DType::F32, {8, 4}, "table");
    Tensor *ids = c.input(DType::I32, {2}, "ids");
    c.set_i32(ids, {1, 4});
    Tensor *y = c.g.get_rows(t, ids);
    CHECK_THROWS_AS(c.run(gpu(), {y}), Error);
    // The backend is usable afterwards.
    c.set_i32(ids, {1, 3});
    CHECK_NOTHROW(c.run(gpu(), {y}));
}

TEST_CASE("cuda: set_rows into every cache type") {
    REQUIRE_GPU();
    for (DType type : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
        CAPTURE(dtype_name(type));
        std::mt19937 rng(99);
        Case c;
        Tensor *cache = c.leaf(type, {64, 10}, "cache");
        Tensor *src = c.input(DType::F32, {64, 3}, "src");
        Tensor *ids = c.input(DType::I32, {3}, "ids");
        c.set_f32(src, randn(64 * 3, rng, 2.0f));
        c.set_i32(ids, {7, 2, 9});
        Tensor *w = c.g.set_rows(cache, src, ids);
        IsaGuard isa;
        const auto ref = c.run(cpu_ref(), {w})[0];
        const auto got = c.run(gpu(), {w})[0];
        CHECK(ref == got); // the same bytes: the GPU quantizers are the reference ones
    }
}

TEST_CASE("cuda: elementwise ops with broadcast and strided sources") {
    REQUIRE_GPU();
    std::mt19937 rng(3);
    // 64 a row: the 4-elements-a-thread kernels (vec4_ok); 67: one element a thread.
    for (int64_t n0 : {67, 64})
    for (int op = 0; op < 8; ++op) {
        CAPTURE(n0);
        CAPTURE(op);
        Case c;
        Tensor *a = c.input(DType::F32, {n0, 5, 3, 2}, "a");
        c.set_f32(a, randn(static_cast<size_t>(n0 * 5 * 3 * 2), rng, 3.0f));
        Tensor *y = nullptr;
        double rel = 1e-6;
        if (op == 0 || op == 1) {
            Tensor *b = c.input(DType::F32, {n0, 1, 3, 1}, "b");
            c.set_f32(b, randn(static_cast<size_t>(n0 * 3), rng));
            y = op == 0 ? c.g.add(a, b) : c.g.mul(a, b);
        } else if (op == 2) {
            y = c.g.scale(a, 0.37f);
        } else if (op == 3) {
            y = c.g.silu(a);
        } else if (op == 4) {
            y = c.g.gelu(a);
            rel = 2e-3;
        } else if (op == 5 || op == 6) {
            Tensor *u = c.input(DType::F32, {n0, 5, 3, 2}, "u");
            c.set_f32(u, randn(static_cast<size_t>(n0 * 5 * 3 * 2), rng));
            y = op == 5 ? c.g.swiglu(a, u) : c.g.geglu(a, u);
            if (op == 6) rel = 2e-3;
        } else {
            // cont of a permuted view: every stride in play
            y = c.g.cont(c.g.permute(a, 2, 0, 3, 1));
        }
        const auto r = run_and_compare(c, y, rel, 1e-7, std::string("elementwise op ") + std::to_string(op));
        CHECK(r.bad == 0);
    }
    // Ops on a strided view (rows of a wider tensor).
    Case c;
    Tensor *a = c.input(DType::F32, {100, 6}, "a");
    c.set_f32(a, randn(600, rng));
    Tensor *v = c.g.view(a, {40, 6}, {400}, 8);
    Tensor *b = c.input(DType::F32, {40, 1}, "b");
    c.set_f32(b, randn(40, rng));
    Tensor *y = c.g.rms_norm(c.g.add(c.g.scale(v, 2.0f), b), 1e-5f);
    CHECK(run_and_compare(c, y, 1e-5, 1e-7, "view chain").bad == 0);
    // More rows, and more planes, than a grid's y and z hold (65535): the kernels loop.
    auto many = [&](int64_t n0, int64_t n1, int64_t n2, int64_t n3) {
        Case w;
        Tensor *x = w.input(DType::F32, {n0, n1, n2, n3}, "x"), *r = w.input(DType::F32, {n0, 1, 1, 1}, "r");
        w.set_f32(x, randn(static_cast<size_t>(n0 * n1 * n2 * n3), rng));
        w.set_f32(r, randn(static_cast<size_t>(n0), rng));
        CHECK(run_and_compare(w, w.g.silu(w.g.add(x, r)), 1e-6, 1e-7, "many rows").bad == 0);
    };
    many(3, 70001, 1, 1);
    many(2, 1, 1001, 70);
}

TEST_CASE("cuda: rms_norm, norm, soft_max") {
    REQUIRE_GPU();
    std::mt19937 rng(4);
    for (int64_t n : {1, 7, 64, 300, 4096}) {
        CAPTURE(n);
        for (int op = 0; op < 4; ++op) {
            Case c;
            Tensor *a = c.input(DType::F32, {n, 5, 2}, "a");
            c.set_f32(a, randn(static_cast<size_t>(n * 10), rng, 2.0f));
            Tensor *y;
            if (op == 0) y = c.g.rms_norm(a, 1e-6f);
            else if (op == 1) y = c.g.norm(a, 1e-5f);
            else if (op == 2) y = c.g.soft_max(a, nullptr, 0.7f);
            else {
                Tensor *m = c.input(DType::F32, {n, 6}, "mask");
                std::vector<float> mv(static_cast<size_t>(n * 6));
                for (int64_t r = 0; r < 6; ++r)
                    for (int64_t i = 0; i < n; ++i) mv[static_cast<size_t>(r * n + i)] = i > r + n / 2 ? -INFINITY : 0.1f * r;
                c.set_f32(m, mv);
                y = c.g.soft_max(a, m, 0.7f);
            }
            CHECK(run_and_compare(c, y, 1e-5, 1e-7, "row op " + std::to_string(op)).bad == 0);
        }
    }
}

TEST_CASE("cuda: rms_norm then mul by a weight row (fused), with the norm read elsewhere too") {
    REQUIRE_GPU();
    std::mt19937 rng(14);
    Case c;
    Tensor *x = c.input(DType::F32, {64, 6, 3}, "x");
    c.set_f32(x, randn(64 * 18, rng, 2.0f));
    Tensor *g = c.leaf(DType::F32, {64}, "g");
    c.set_f32(g, randn(64, rng));
    Tensor *n = c.g.rms_norm(x, 1e-6f);
    Tensor *y = c.g.mul(n, g);
    Tensor *z = c.g.add(y, n);
    CHECK(run_and_compare(c, z, 1e-5, 1e-7, "rms_norm + mul").bad == 0);
}

// The decode-step fusions of cuda_fuse.cu: q/k/v as one launch, gate/up/GLU as one, residual
// and bias adds folded into the product, and the cases that must not fuse (an add over two
// products of the same launch, a product read twice).
TEST_CASE("cuda: fused decode products (q/k/v, gate/up/glu, residual and bias adds)") {
    REQUIRE_GPU();
    // F16 / BF16: one column takes the F16 matvec's parts (q/k/v, gate/up/GLU in one launch,
    // the floats of an unconverted input rounded as loaded); more columns the unfused path.
    for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F16, DType::BF16}) {
        for (int64_t M : {1, 3, 6}) {
            for (bool gelu : {false, true}) {
                const std::string type_name = dtype_name(type); // (a char pointer would print as an address)
                CAPTURE(type_name);
                CAPTURE(M);
                CAPTURE(gelu);
                std::mt19937 rng(15 + static_cast<uint32_t>(type) + static_cast<uint32_t>(M));
                Case c;
                const int64_t K = traits(type).block_size == 256 ? 512 : 320, N = 72, F = 160;
                Tensor *x = c.input(DType::F32, {K, M}, "x");
                c.set_f32(x, randn(static_cast<size_t>(K * M), rng));
                Tensor *gamma = c.leaf(DType::F32, {K}, "gamma"), *bias = c.leaf(DType::F32, {N}, "bias");
                c.set_f32(gamma, randn(K, rng));
                c.set_f32(bias, randn(N, rng));
                Tensor *wq = c.leaf(type, {K, N}, "wq"), *wk = c.leaf(type, {K, N / 2}, "wk");
                Tensor *wv = c.leaf(type, {K, N / 2}, "wv"), *wo = c.leaf(type, {K, K}, "wo");
                Tensor *wg = c.leaf(type, {K, F}, "wg"), *wu = c.leaf(type, {K, F}, "wu");
                const bool half = type == DType::F16 || type == DType::BF16;
                Tensor *wd = c.leaf(half ? type : DType::Q8_0, {F, K}, "wd");
                for (Tensor *w : {wq, wk, wv, wo, wg, wu, wd}) fill_weights(c, w, rng);
                Tensor *h = c.g.mul(c.g.rms_norm(x, 1e-5f), gamma);
                Tensor *q = c.g.add(c.g.mul_mat(wq, h), bias); // bias broadcast over the columns
                Tensor *k = c.g.reshape(c.g.mul_mat(wk, h), {N / 4, 2, M});
                Tensor *v = c.g.mul_mat(wv, h);
                Tensor *kv = c.g.add(c.g.reshape(k, {N / 2, M}), v);
                Tensor *qs = c.g.scale(q, 0.5f);
                Tensor *o = c.g.add(x, c.g.mul_mat(wo, h)); // residual as the first operand
                Tensor *o2 = c.g.mul(c.g.rms_norm(o, 1e-5f), gamma);
                Tensor *gt = c.g.mul_mat(wg, o2), *up = c.g.mul_mat(wu, o2);
                Tensor *act = gelu ? c.g.geglu(gt, up) : c.g.swiglu(gt, up);
                Tensor *y = c.g.add(c.g.mul_mat(wd, act), o);
                // rope of q and k (one launch), then the K and V cache stores (one launch).
                Tensor *pos = c.input(DType::I32, {M}, "pos");
                std::vector<int32_t> pv(static_cast<size_t>(M)), idv(static_cast<size_t>(M));
                for (int64_t m = 0; m < M; ++m) pv[static_cast<size_t>(m)] = static_cast<int32_t>(3 + 7 * m), idv[static_cast<size_t>(m)] = static_cast<int32_t>(M - 1 - m);
                c.set_i32(pos, pv);
                Tensor *ids = c.input(DType::I32, {M}, "ids");
                c.set_i32(ids, idv);
                RopeParams rp;
                rp.n_dims = 4; // all of k's heads, half of q's
                Tensor *q3 = c.g.reshape(qs, {8, N / 8, M}), *k3 = c.g.reshape(kv, {4, N / 8, M});
                Tensor *qr = c.g.rope(q3, pos, rp), *kr = c.g.rope(k3, pos, rp);
                Tensor *kcache = c.leaf(DType::F16, {N / 2, 8}, "kcache"), *vcache = c.leaf(DType::F16, {N / 2, 8}, "vcache");
                Tensor *ks = c.g.set_rows(kcache, c.g.reshape(kr, {N / 2, M}), ids);
                Tensor *vs = c.g.set_rows(vcache, v, ids);
                // Read twice: the product must be stored, the add must not swallow it.
                Tensor *p = c.g.mul_mat(wq, o2);
                Tensor *p2 = c.g.add(p, c.g.scale(p, 2.0f));
                // Two products of one launch added: the add runs after the launch.
                Tensor *s = c.g.add(c.g.mul_mat(wk, o2), c.g.mul_mat(wv, o2));
                IsaGuard isa;
                const std::vector<Tensor *> outs = {qs, kv, y, p2, s, qr, ks, vs};
                auto ref = c.run(cpu_ref(), outs);
                auto got = c.run(gpu(), outs);
                auto unfused = c.run(gpu_unfused(), outs);
                auto h_rows = half ? c.run(gpu_h_rows(), outs) : got;
                const char *names[] = {"q + bias", "k + v", "ffn + residual", "product read twice", "sum of two",
                                       "rope of q", "K cache", "V cache"};
                for (auto *r : {&ref, &got, &unfused, &h_rows})
                    for (size_t i = 6; i < 8; ++i) (*r)[i] = f16_as_f32_bytes((*r)[i]);
                for (size_t i = 0; i < outs.size(); ++i) {
                    CAPTURE(names[i]);
                    // The same float operations in the same order (the rows here are short
                    // enough that both use one warp per row): bit for bit.
                    CHECK(got[i] == unfused[i]);
                    // The parts kernel (the default) sums each row as the one-row kernel does.
                    CHECK(h_rows[i] == got[i]);
                    // Against the host: the GLU output is re-quantized to 8 bits before the
                    // down product, so a last-bit difference of expf moves a few values by
                    // a quantization step there. F16 and BF16 round it to 16 bits, where a
                    // step of a large activation is large too (F16 at 32-64: 1/32): such a
                    // flip moved a down-product sum by 1.5% (H100, F16, M = 6, GEGLU), so
                    // their bound is 1% of each output's peak.
                    const auto r0 = as_f32(ref[i]);
                    const double abs_tol = half ? 1e-2 * peak_of(r0) : 2e-3;
                    CHECK(compare(r0, as_f32(got[i]), 2e-3, abs_tol, names[i]).bad == 0);
                }
            }
        }
    }
}

// Decode attention feeding a product with Q8_0 activations: the merge kernel writes them
// (fused) or the product converts the stored result (unfused): the same bits either way.
TEST_CASE("cuda: decode attention writing the next product's 8-bit activations") {
    REQUIRE_GPU();
    std::mt19937 rng(16);
    // 45 keys: two chunks; 20: one (a merge of one partial state, fused or by the merge kernel).
    for (int64_t NKV : {45, 20}) {
        for (int64_t D : {64, 128, 80}) { // 80: not whole 32-blocks per head, so no fusion
            for (int64_t T : {1, 3}) {
                CAPTURE(NKV);
                CAPTURE(D);
                CAPTURE(T);
                Case c;
                const int64_t H = 4, HKV = 2, n_ctx = 50, N = 24;
                Tensor *q = c.input(DType::F32, {D, H, T}, "q");
                c.set_f32(q, randn(static_cast<size_t>(D * H * T), rng));
                const auto [k, v] = random_kv_cache(c, DType::F16, D, HKV, n_ctx, NKV, rng);
                Tensor *m = c.input(DType::F32, {NKV, T}, "mask");
                c.set_f32(m, causal_mask(NKV, T, T));
                Tensor *att = c.g.attention(q, k, v, m, 1.0f / std::sqrt(static_cast<float>(D)));
                const DType wt = D % 32 == 0 ? DType::Q4_0 : DType::Q8_0;
                Tensor *wo = c.leaf(wt, {D * H, N}, "wo");
                fill_weights(c, wo, rng);
                Tensor *y = c.g.mul_mat(wo, c.g.reshape(att, {D * H, T}));
                IsaGuard isa;
                const auto ref = c.run(cpu_ref(), {y, att});
                const auto got = c.run(gpu(), {y, att});
                const auto unfused = c.run(gpu_unfused(), {y, att});
                CHECK(got[0] == unfused[0]);
                CHECK(got[1] == unfused[1]);
                CHECK(compare(as_f32(ref[1]), as_f32(got[1]), 3e-3, 3e-4, "attention").bad == 0);
                // The host rounds the softmax probabilities to F16 and the GPU does not, so a few
                // 8-bit activations land a step apart: a sanity bound against gross errors only.
                const auto yr = as_f32(ref[0]);
                const double peak = peak_of(yr);
                CHECK(compare(yr, as_f32(got[0]), 2e-2, 0.05 * peak, "attention x wo").bad == 0);
            }
        }
    }
}

// A decode step's residual product, then the next sub-layer's rms_norm + mul (whose kernel
// also writes the 8-bit form the following products read), at the 7B row length and at
// lengths whose norm kernel has dead lanes (4092, 1000) or few warps (96), with a Q8_0 or
// Q8_K reader or none, and over the older matvec kernel too. (A tail of the residual product
// that computed the norm in its last block was tried here and dropped: see architecture.md.)
TEST_CASE("cuda: a residual product followed by rms_norm + mul, read by 8-bit products") {
    REQUIRE_GPU();
    struct C {
        int64_t n;
        DType reader; // the product reading the norm (F32: none)
    };
    const C cases[] = {{4096, DType::Q4_0}, {4096, DType::Q4_K}, {4092, DType::F32}, {1000, DType::F32},
                       {96, DType::Q8_0},   {512, DType::Q6_K},  {768, DType::Q4_K}, {5120, DType::Q8_0}};
    // seen: the norm and the mul are results too (else only the products read them, and the
    // products' launch computes the norm itself without storing it).
    for (const bool seen : {true, false})
    for (const C &cs : cases) {
        if (!seen && cs.reader == DType::F32) continue;
        CAPTURE(seen);
        CAPTURE(cs.n);
        CAPTURE(dtype_name(cs.reader));
        std::mt19937 rng(17 + static_cast<uint32_t>(cs.n));
        Case c;
        const int64_t n = cs.n, K = 256, N = 40;
        Tensor *a = c.input(DType::F32, {K, 1}, "a"), *x = c.input(DType::F32, {n, 1}, "x");
        c.set_f32(a, randn(static_cast<size_t>(K), rng));
        c.set_f32(x, randn(static_cast<size_t>(n), rng, 3.0f));
        Tensor *gamma = c.leaf(DType::F32, {n}, "gamma");
        c.set_f32(gamma, randn(static_cast<size_t>(n), rng));
        Tensor *wo = c.leaf(DType::Q4_0, {K, n}, "wo");
        fill_weights(c, wo, rng);
        Tensor *r = c.g.add(x, c.g.mul_mat(wo, a)); // residual first, as the models add it
        Tensor *nr = c.g.rms_norm(r, 1e-5f);
        Tensor *h = c.g.mul(nr, gamma);
        std::vector<Tensor *> outs = {r, nr, h};
        if (!seen) outs = {r, r, r}; // (indices 0-2 stay the non-product results)
        if (cs.reader != DType::F32) {
            Tensor *wq = c.leaf(cs.reader, {n, N}, "wq"), *wk = c.leaf(cs.reader, {n, N / 2}, "wk");
            for (Tensor *w : {wq, wk}) fill_weights(c, w, rng);
            outs.push_back(c.g.mul_mat(wq, h));
            outs.push_back(c.g.mul_mat(wk, h));
        }
        IsaGuard isa;
        const auto ref = c.run(cpu_ref(), outs);
        const auto got = c.run(gpu(), outs);
        const auto unfused = c.run(gpu_unfused(), outs);
        const auto old = c.run(gpu_old_matvec(), outs);
        for (size_t i = 0; i < outs.size(); ++i) {
            CAPTURE(i);
            CHECK(got[i] == unfused[i]);
            // Against the host: the norm's sum of squares is added in another order, and a
            // last-bit difference of its scale moves a few 8-bit activations of the products
            // (i >= 3) by a step: a bound against gross errors there.
            const auto r0 = as_f32(ref[i]);
            const double peak = peak_of(r0);
            const double rel = i < 3 ? 2e-3 : 2e-2, abs = i < 3 ? 2e-3 : 0.05 * peak;
            CHECK(compare(r0, as_f32(got[i]), rel, abs, "residual + norm").bad == 0);
            CHECK(compare(r0, as_f32(old[i]), rel, abs, "residual + norm, older matvec").bad == 0);
        }
    }
}

// rms_norm + mul whose result cuBLAS (prompts) or the F16/BF16 matvec (decode) reads next:
// the norm kernel writes the products' converted input itself (F16 through Q8_0 or Q8_K, or
// plain F16 / BF16 rounding) and skips the norm's own result, which only the mul reads. The
// products must give the same bits as with the conversions made separately.
TEST_CASE("cuda: rms_norm + mul writing the converted input of the products after it") {
    REQUIRE_GPU();
    struct C {
        int64_t n, M;
        DType reader;
    };
    const C cases[] = {{4096, 20, DType::F16}, {4096, 20, DType::Q4_0}, {768, 20, DType::Q4_K}, {96, 33, DType::BF16},
                       {4096, 1, DType::F16},  {512, 3, DType::BF16},  {1000, 20, DType::F16}};
    for (const C &cs : cases) {
        CAPTURE(cs.n);
        CAPTURE(cs.M);
        CAPTURE(dtype_name(cs.reader));
        std::mt19937 rng(23 + static_cast<uint32_t>(cs.n + cs.M));
        Case c;
        const int64_t n = cs.n, N = 48;
        Tensor *x = c.input(DType::F32, {n, cs.M}, "x");
        c.set_f32(x, randn(static_cast<size_t>(n * cs.M), rng, 3.0f));
        Tensor *gamma = c.leaf(DType::F32, {n}, "gamma");
        c.set_f32(gamma, randn(static_cast<size_t>(n), rng));
        Tensor *h = c.g.mul(c.g.rms_norm(x, 1e-5f), gamma);
        Tensor *wq = c.leaf(cs.reader, {n, N}, "wq"), *wk = c.leaf(cs.reader, {n, N / 2}, "wk");
        for (Tensor *w : {wq, wk}) fill_weights(c, w, rng);
        const std::vector<Tensor *> outs = {h, c.g.mul_mat(wq, h), c.g.mul_mat(wk, h)};
        IsaGuard isa;
        const auto ref = c.run(cpu_ref(), outs);
        const auto got = c.run(gpu(), outs);
        const auto unfused = c.run(gpu_unfused(), outs);
        for (size_t i = 0; i < outs.size(); ++i) {
            CAPTURE(i);
            CHECK(got[i] == unfused[i]);
            const auto r0 = as_f32(ref[i]);
            const double peak = peak_of(r0);
            const double rel = i == 0 ? 2e-3 : 2e-2, abs = i == 0 ? 2e-3 : 0.05 * peak;
            CHECK(compare(r0, as_f32(got[i]), rel, abs, "norm writing the products' input").bad == 0);
        }
    }
}

// A GLU read only by a product that converts its input (cuBLAS for prompts, the F16/BF16
// matvec for decode): the conversion is made from gate and up, the GLU never stored. Same
// bits as the GLU kernel then the conversion.
TEST_CASE("cuda: swiglu / geglu converted straight into the next product's input") {
    REQUIRE_GPU();
    struct C {
        int64_t n, M;
        DType reader;
        bool gelu;
    };
    const C cases[] = {{1024, 20, DType::F16, false}, {1024, 20, DType::Q4_0, false}, {768, 17, DType::Q6_K, false},
                       {96, 33, DType::BF16, true},    {1024, 1, DType::F16, true},    {1002, 20, DType::F16, false},
                       {512, 12, DType::Q8_0, true}};
    for (const C &cs : cases) {
        CAPTURE(cs.n);
        CAPTURE(cs.M);
        CAPTURE(dtype_name(cs.reader));
        CAPTURE(cs.gelu);
        std::mt19937 rng(31 + static_cast<uint32_t>(cs.n + cs.M));
        Case c;
        const int64_t n = cs.n, N = 40;
        Tensor *gate = c.input(DType::F32, {n, cs.M}, "gate"), *up = c.input(DType::F32, {n, cs.M}, "up");
        c.set_f32(gate, randn(static_cast<size_t>(n * cs.M), rng, 2.0f));
        c.set_f32(up, randn(static_cast<size_t>(n * cs.M), rng));
        Tensor *h = cs.gelu ? c.g.geglu(gate, up) : c.g.swiglu(gate, up);
        Tensor *w = c.leaf(cs.reader, {n, N}, "w");
        fill_weights(c, w, rng);
        check_fused(c, {c.g.mul_mat(w, h)}, 2e-2, 0.05, "glu into the product's input");
    }
}

// A prompt product (cuBLAS) followed by a residual add: the GEMM adds its product to a copy
// of the residual (beta = 1) instead of the add kernel running. cuBLAS may pick another
// algorithm with beta = 1, so against the ops one by one the bound is the GEMM's.
TEST_CASE("cuda: prompt products adding a residual in the GEMM") {
    REQUIRE_GPU();
    // x_made: x is a node's result (the attention output before wo), so the planner may give
    // the sum x's bytes once the product has read them: the fused launch converts x before it
    // copies the residual there.
    struct C {
        int64_t K, N, M;
        DType w;
        bool residual_first, x_made;
    };
    const C cases[] = {{256, 96, 20, DType::F16, true, false},  {512, 64, 33, DType::Q4_0, false, false},
                       {256, 40, 17, DType::Q4_K, true, false}, {96, 50, 12, DType::BF16, true, false},
                       {64, 30, 9, DType::F32, false, false},   {256, 256, 20, DType::F16, true, true},
                       {512, 512, 33, DType::Q4_0, false, true}};
    for (const C &cs : cases) {
        CAPTURE(dtype_name(cs.w));
        CAPTURE(cs.M);
        CAPTURE(cs.x_made);
        std::mt19937 rng(41 + static_cast<uint32_t>(cs.K + cs.M));
        Case c;
        Tensor *x = c.input(DType::F32, {cs.K, cs.M}, "x"), *r = c.input(DType::F32, {cs.N, cs.M}, "r");
        c.set_f32(x, randn(static_cast<size_t>(cs.K * cs.M), rng));
        c.set_f32(r, randn(static_cast<size_t>(cs.N * cs.M), rng, 4.0f));
        Tensor *w = c.leaf(cs.w, {cs.K, cs.N}, "w");
        fill_weights(c, w, rng);
        Tensor *mm = c.g.mul_mat(w, cs.x_made ? c.g.scale(x, 1.0f) : x);
        Tensor *y = cs.residual_first ? c.g.add(r, mm) : c.g.add(mm, r);
        IsaGuard isa;
        const auto ref = c.run(cpu_ref(), {y});
        const auto got = c.run(gpu(), {y});
        const auto unfused = c.run(gpu_unfused(), {y});
        const auto r0 = as_f32(ref[0]);
        const double peak = peak_of(r0);
        CHECK(compare(r0, as_f32(got[0]), 1e-2, 0.01 * peak, "gemm + residual").bad == 0);
        CHECK(compare(as_f32(unfused[0]), as_f32(got[0]), 1e-3, 1e-3 * peak, "gemm + residual against the add").bad == 0);
    }
}

// Prompt attention read by a converting product (cuBLAS): the flash kernel writes the
// product's input itself (F16 / BF16 rounding, or through Q8_0 where the head size is a
// multiple of 32; head size 80 with Q8_0 falls back to the F32 result and a conversion).
TEST_CASE("cuda: prompt flash attention writing the next product's input") {
    REQUIRE_GPU();
    struct C {
        int64_t D;
        DType w;
    };
    const C cases[] = {{128, DType::F16}, {128, DType::Q4_0}, {64, DType::BF16}, {80, DType::Q8_0}, {96, DType::Q8_0}};
    for (const C &cs : cases) {
        CAPTURE(cs.D);
        CAPTURE(dtype_name(cs.w));
        std::mt19937 rng(53 + static_cast<uint32_t>(cs.D));
        Case c;
        const int64_t D = cs.D, H = 4, HKV = 2, T = 40, NKV = 40, N = 24;
        Tensor *q = c.input(DType::F32, {D, H, T}, "q");
        c.set_f32(q, randn(static_cast<size_t>(D * H * T), rng));
        const auto [k, v] = random_kv_cache(c, DType::F16, D, HKV, NKV, NKV, rng);
        Tensor *m = c.input(DType::F32, {NKV, T}, "mask");
        c.set_f32(m, causal_mask(NKV, T, T)); // (T == NKV)
        Tensor *att = c.g.attention(q, k, v, m, 1.0f / std::sqrt(static_cast<float>(D)));
        Tensor *w = c.leaf(cs.w, {D * H, N}, "wo");
        fill_weights(c, w, rng);
        check_fused(c, {c.g.mul_mat(w, c.g.reshape(att, {D * H, T}))}, 2e-2, 0.02, "attention into the product's input");
    }
}

// F16 / BF16 decode products followed by a residual or a bias add: the F16 matvec's
// epilogue adds it, the same bits as the add kernel after it.
TEST_CASE("cuda: F16 and BF16 decode products adding a residual or a bias") {
    REQUIRE_GPU();
    for (const DType t : {DType::F16, DType::BF16})
        for (const int64_t M : {1, 3, 6})
            for (const bool bias : {false, true}) {
                CAPTURE(dtype_name(t));
                CAPTURE(M);
                CAPTURE(bias);
                std::mt19937 rng(61 + static_cast<uint32_t>(M));
                Case c;
                const int64_t K = 512, N = 72;
                Tensor *x = c.input(DType::F32, {K, M}, "x"), *r = c.input(DType::F32, {N, bias ? 1 : M}, "r");
                c.set_f32(x, randn(static_cast<size_t>(K * M), rng));
                c.set_f32(r, randn(static_cast<size_t>(N * (bias ? 1 : M)), rng, 3.0f));
                Tensor *w = c.leaf(t, {K, N}, "w");
                fill_weights(c, w, rng);
                Tensor *mm = c.g.mul_mat(w, x);
                Tensor *y = bias ? c.g.add(mm, r) : c.g.add(r, mm);
                IsaGuard isa;
                const auto ref = c.run(cpu_ref(), {y});
                const auto got = c.run(gpu(), {y});
                const auto unfused = c.run(gpu_unfused(), {y});
                CHECK(got[0] == unfused[0]);
                CHECK(compare(as_f32(ref[0]), as_f32(got[0]), 1e-3, 1e-3, "F16 matvec + residual").bad == 0);
            }
}

// rope(q), rope(k) and the K / V cache stores as one launch (cuda_norm_rope.cu's
// rope_store), against the four ops one by one, for each plain cache type, normal and neox
// rotation, a partial rotation (a pass-through tail stored from the same threads), several
// tokens and a grouped K head count; 5500 tokens make the kernel give each thread 4 of q's
// 6 heads (rope_space), the second group short.
TEST_CASE("cuda: rope of q and k with the K and V cache stores (one launch)") {
    REQUIRE_GPU();
    for (DType type : {DType::F16, DType::F32, DType::BF16}) {
        for (int variant = 0; variant < 3; ++variant) {
            for (int64_t T : {1, 3, 5500}) {
                CAPTURE(dtype_name(type));
                CAPTURE(variant);
                CAPTURE(T);
                std::mt19937 rng(18 + static_cast<uint32_t>(variant) + 7 * static_cast<uint32_t>(T));
                Case c;
                const int64_t D = 64, H = 6, HKV = 2, n_ctx = T > 3 ? 5501 : 9; // ids below: distinct
                Tensor *q = c.input(DType::F32, {D, H, T}, "q"), *k = c.input(DType::F32, {D, HKV, T}, "k");
                Tensor *v = c.input(DType::F32, {D * HKV, T}, "v");
                c.set_f32(q, randn(static_cast<size_t>(D * H * T), rng));
                c.set_f32(k, randn(static_cast<size_t>(D * HKV * T), rng));
                c.set_f32(v, randn(static_cast<size_t>(D * HKV * T), rng));
                Tensor *pos = c.input(DType::I32, {T}, "pos"), *ids = c.input(DType::I32, {T}, "ids");
                std::vector<int32_t> pv, iv;
                for (int64_t t = 0; t < T; ++t) pv.push_back(static_cast<int32_t>(5 + 11 * t)), iv.push_back(static_cast<int32_t>((7 + 3 * t) % n_ctx));
                c.set_i32(pos, pv);
                c.set_i32(ids, iv);
                RopeParams rp;
                rp.n_dims = variant == 2 ? 32 : static_cast<int32_t>(D);
                rp.neox = variant >= 1;
                Tensor *qr = c.g.rope(q, pos, rp), *kr = c.g.rope(k, pos, rp);
                Tensor *kc = c.leaf(type, {D * HKV, n_ctx}, "k_cache"), *vc = c.leaf(type, {D * HKV, n_ctx}, "v_cache");
                for (Tensor *t : {kc, vc}) { // stale cells around the stored rows must stay as they were
                    const auto cells = randn(static_cast<size_t>(D * HKV * n_ctx), rng);
                    REQUIRE(quantize_row(type, cells.data(), c.bytes(t).data(), static_cast<int64_t>(cells.size())));
                }
                Tensor *ks = c.g.set_rows(kc, c.g.reshape(kr, {D * HKV, T}), ids);
                Tensor *vs = c.g.set_rows(vc, v, ids);
                const std::vector<Tensor *> outs = {qr, kr, ks, vs};
                IsaGuard isa;
                const auto ref = c.run(cpu_ref(), outs);
                const auto got = c.run(gpu(), outs);
                const auto unfused = c.run(gpu_unfused(), outs);
                for (size_t i = 0; i < outs.size(); ++i) {
                    CAPTURE(i);
                    CHECK(got[i] == unfused[i]);
                }
                CHECK(compare(as_f32(ref[0]), as_f32(got[0]), 1e-5, 2e-6, "rope of q").bad == 0);
                CHECK(compare(as_f32(ref[1]), as_f32(got[1]), 1e-5, 2e-6, "rope of k").bad == 0);
                CHECK(ref[3] == got[3]); // V: the same rounding
                if (type != DType::BF16) {
                    const auto kref = type == DType::F16 ? f16_as_f32_bytes(ref[2]) : ref[2];
                    const auto kgot = type == DType::F16 ? f16_as_f32_bytes(got[2]) : got[2];
                    CHECK(compare(as_f32(kref), as_f32(kgot), 1e-3, 2e-6, "K cache").bad == 0);
                }
            }
        }
    }
}

// Variants 5 and 6: 5500 tokens, so that each thread rotates 4 of the 6 heads (the second
// group 2), normal and neox.
TEST_CASE("cuda: rope (normal, neox, partial, freq factors, YaRN)") {
    REQUIRE_GPU();
    std::mt19937 rng(5);
    for (int variant = 0; variant < 7; ++variant) {
        CAPTURE(variant);
        Case c;
        const int64_t head = 64, heads = 6, tokens = variant >= 5 ? 5500 : 5;
        Tensor *x = c.input(DType::F32, {head, heads, tokens}, "x");
        c.set_f32(x, randn(static_cast<size_t>(head * heads * tokens), rng));
        Tensor *pos = c.input(DType::I32, {tokens}, "pos");
        std::vector<int32_t> pv = {0, 1, 17, 300, 4095};
        if (tokens > 5)
            for (int64_t t = 5; t < tokens; ++t) pv.push_back(static_cast<int32_t>(3 * t));
        c.set_i32(pos, pv);
        RopeParams p;
        p.n_dims = variant == 2 ? 32 : static_cast<int32_t>(head);
        p.neox = variant == 1 || variant == 2 || variant == 6;
        p.freq_base = variant == 4 ? 500000.0f : 10000.0f;
        Tensor *ff = nullptr;
        if (variant == 3) {
            ff = c.input(DType::F32, {head / 2}, "ff");
            std::vector<float> f(static_cast<size_t>(head / 2));
            for (size_t i = 0; i < f.size(); ++i) f[i] = 1.0f + 0.25f * static_cast<float>(i % 5);
            c.set_f32(ff, f);
        }
        if (variant == 4) {
            p.n_ctx_orig = 4096;
            p.freq_scale = 0.25f;
            p.ext_factor = 1.0f;
        }
        Tensor *y = c.g.rope(x, pos, p, ff);
        CHECK(run_and_compare(c, y, 1e-5, 2e-6, "rope").bad == 0);
    }
}

// A step's ropes share their positions: the first computes the angles, the rest read them
// (Context::rope_angles). Ropes of other parameters, another rotated width, freq factors or
// other positions in the same graph must compute their own.
TEST_CASE("cuda: ropes sharing positions reuse the angles only when they are the same") {
    REQUIRE_GPU();
    std::mt19937 rng(13);
    Case c;
    const int64_t head = 64, heads = 4, tokens = 9;
    Tensor *pos = c.input(DType::I32, {tokens}, "pos");
    Tensor *pos2 = c.input(DType::I32, {tokens}, "pos2");
    std::vector<int32_t> pv, pv2;
    for (int64_t t = 0; t < tokens; ++t) pv.push_back(static_cast<int32_t>(7 * t + 3)), pv2.push_back(static_cast<int32_t>(t));
    c.set_i32(pos, pv);
    c.set_i32(pos2, pv2);
    Tensor *ff = c.input(DType::F32, {head / 2}, "ff");
    std::vector<float> f(static_cast<size_t>(head / 2));
    for (size_t i = 0; i < f.size(); ++i) f[i] = 1.0f + 0.5f * static_cast<float>(i % 3);
    c.set_f32(ff, f);
    RopeParams base;
    base.n_dims = static_cast<int32_t>(head);
    RopeParams other_base = base, partial = base;
    other_base.freq_base = 500000.0f;
    partial.n_dims = 32;
    struct R {
        Tensor *pos;
        RopeParams p;
        Tensor *ff;
    };
    const R ropes[] = {{pos, base, nullptr},    {pos, base, nullptr}, {pos, other_base, nullptr}, {pos, base, nullptr},
                       {pos, partial, nullptr}, {pos, base, ff},      {pos2, base, nullptr},      {pos, base, nullptr}};
    std::vector<Tensor *> ys;
    for (const R &r : ropes) {
        Tensor *x = c.input(DType::F32, {head, heads, tokens}, "x");
        c.set_f32(x, randn(static_cast<size_t>(head * heads * tokens), rng));
        ys.push_back(c.g.rope(x, r.pos, r.p, r.ff));
    }
    IsaGuard isa;
    const auto ref = c.run(cpu_ref(), ys);
    const auto got = c.run(gpu(), ys);
    for (size_t i = 0; i < ys.size(); ++i) {
        CAPTURE(i);
        CHECK(compare(as_f32(ref[i]), as_f32(got[i]), 1e-5, 2e-6, "rope").bad == 0);
    }
}

TEST_CASE("cuda: attention with grouped heads over F16 and F32 caches") {
    REQUIRE_GPU();
    std::mt19937 rng(6);
    struct A {
        int64_t D, H, HKV, T, NKV;
        DType kv;
    };
    // T < 16: the split-sequence kernel (32 keys a block, merged by the last block of each
    // head); T >= 16: the flash kernel (F16, head sizes 64, 128, 256) or the batched-GEMM
    // prompt path (F32 caches, head sizes 8 and 72).
    const A cases[] = {{64, 8, 2, 1, 37, DType::F16},   {64, 8, 2, 7, 37, DType::F16},    {8, 8, 8, 5, 20, DType::F32},
                       {256, 4, 1, 3, 70, DType::F16},  {128, 32, 8, 1, 300, DType::F16}, {80, 6, 3, 9, 33, DType::F32},
                       {128, 32, 8, 2, 700, DType::F16}, {64, 8, 2, 3, 250, DType::F32}, {128, 32, 32, 1, 129, DType::F16},
                       {64, 8, 2, 20, 37, DType::F16},  {8, 8, 8, 24, 24, DType::F16},    {128, 4, 4, 33, 300, DType::F32},
                       {256, 4, 1, 17, 70, DType::F16}, {72, 6, 2, 40, 40, DType::F16}};
    for (const A &a : cases) {
        CAPTURE(a.D);
        CAPTURE(a.T);
        CAPTURE(a.NKV);
        Case c;
        Tensor *q = c.input(DType::F32, {a.D, a.H, a.T}, "q");
        c.set_f32(q, randn(static_cast<size_t>(a.D * a.H * a.T), rng));
        // Cache laid out [D * HKV, n_ctx] as the runtime's; k, v are strided views of it.
        const int64_t n_ctx = a.NKV + 5;
        const auto [k, v] = random_kv_cache(c, a.kv, a.D, a.HKV, n_ctx, a.NKV, rng);
        Tensor *m = c.input(DType::F32, {a.NKV, a.T + 2}, "mask");
        c.set_f32(m, causal_mask(a.NKV, a.T, a.T + 2));
        Tensor *y = c.g.attention(q, k, v, m, 1.0f / std::sqrt(static_cast<float>(a.D)));
        CHECK(run_and_compare(c, y, 3e-3, 3e-4, "attention").bad == 0);
    }
}

// The flash kernel for prompts over an F16 cache (cuda_flash_attention.cu): every head size it
// takes, query and key counts that are not multiples of its tiles, grouped heads, masks that
// are causal, soft (finite values, some keys cut) or cut a whole row, and short prompts over
// long caches (the keys split between blocks). Compared with the reference and, the same
// graph, with the batched-GEMM path (CORVID_CUDA_FLASH=0).
TEST_CASE("cuda: prompt flash attention (head sizes, tiles, masks, split keys)") {
    REQUIRE_GPU();
    static std::unique_ptr<Backend> gemm_path = gpu_with("CORVID_CUDA_FLASH", "0");
    std::mt19937 rng(9);
    enum Mask { kCausal, kSoft, kRowCut };
    struct A {
        int64_t D, H, HKV, T, NKV;
        Mask mask;
    };
    const A cases[] = {{64, 8, 2, 100, 130, kCausal}, {80, 4, 4, 16, 16, kCausal},  {96, 6, 2, 65, 200, kSoft},
                       {128, 8, 2, 20, 2000, kCausal}, {256, 4, 1, 70, 90, kCausal}, {128, 4, 1, 64, 64, kRowCut},
                       {64, 2, 1, 17, 1500, kSoft},    {128, 32, 8, 130, 700, kCausal}};
    for (const A &a : cases) {
        CAPTURE(a.D);
        CAPTURE(a.T);
        CAPTURE(a.NKV);
        CAPTURE(static_cast<int>(a.mask));
        Case c;
        Tensor *q = c.input(DType::F32, {a.D, a.H, a.T}, "q");
        c.set_f32(q, randn(static_cast<size_t>(a.D * a.H * a.T), rng));
        const int64_t n_ctx = a.NKV + 3;
        const auto [k, v] = random_kv_cache(c, DType::F16, a.D, a.HKV, n_ctx, a.NKV, rng);
        Tensor *m = c.input(DType::F32, {a.NKV, a.T}, "mask");
        std::vector<float> mv(static_cast<size_t>(a.NKV * a.T));
        std::uniform_real_distribution<float> soft(-3.0f, 0.0f);
        for (int64_t t = 0; t < a.T; ++t)
            for (int64_t j = 0; j < a.NKV; ++j) {
                float &x = mv[static_cast<size_t>(t * a.NKV + j)];
                x = j > a.NKV - a.T + t ? -INFINITY : 0.0f;
                if (a.mask == kSoft && x == 0.0f) x = (j * 7 + t) % 5 == 0 ? -INFINITY : soft(rng);
                if (a.mask == kRowCut && (t == 3 || t == 40)) x = -INFINITY;
            }
        c.set_f32(m, mv);
        Tensor *y = c.g.attention(q, k, v, m, 1.0f / std::sqrt(static_cast<float>(a.D)));
        // The flash kernel rounds the probabilities to F16 before they are normalised (as
        // flash attention in the reference does), the reference after: outputs near zero
        // (cancelling terms) then differ by a few 1e-4.
        CHECK(run_and_compare(c, y, 3e-3, 1e-3, "flash attention").bad == 0);
        const auto flash = as_f32(c.run(gpu(), {y})[0]);
        const auto gemm = as_f32(c.run(*gemm_path, {y})[0]);
        CHECK(compare(gemm, flash, 3e-3, 1e-3, "flash against the GEMM path").bad == 0);
    }
}

// Every layer's attention reads one mask, whose tile classes are made once a step
// (Context::mask_tiles): attentions of other head sizes (other key tiles) over the same
// mask, and a mask changed between two runs of the graph, must not reuse stale classes.
TEST_CASE("cuda: prompt flash attentions sharing one mask") {
    REQUIRE_GPU();
    std::mt19937 rng(10);
    const int64_t T = 80, NKV = 150;
    Case c;
    Tensor *m = c.input(DType::F32, {NKV, T}, "mask");
    std::vector<Tensor *> ys;
    for (int64_t D : {128, 256, 128, 64}) {
        const int64_t H = 4, HKV = 2;
        // The head size 64 attention reads q one float into its buffer (4-byte loads).
        Tensor *qb = c.input(DType::F32, {D * H * T + 1}, "q");
        c.set_f32(qb, randn(static_cast<size_t>(D * H * T + 1), rng));
        Tensor *q = c.g.view(qb, {D, H, T}, {static_cast<size_t>(D) * 4, static_cast<size_t>(D * H) * 4}, D == 64 ? 4 : 0);
        const auto [k, v] = random_kv_cache(c, DType::F16, D, HKV, NKV, NKV, rng);
        ys.push_back(c.g.attention(q, k, v, m, 1.0f / std::sqrt(static_cast<float>(D))));
    }
    for (int pass = 0; pass < 2; ++pass) {
        CAPTURE(pass);
        std::vector<float> mv(static_cast<size_t>(NKV * T));
        for (int64_t t = 0; t < T; ++t)
            for (int64_t j = 0; j < NKV; ++j) // pass 0 causal; pass 1 a sliding window of 40 keys
                mv[static_cast<size_t>(t * NKV + j)] =
                    j > NKV - T + t || (pass == 1 && j < NKV - T + t - 40) ? -INFINITY : 0.0f;
        c.set_f32(m, mv);
        IsaGuard isa;
        const auto ref = c.run(cpu_ref(), ys);
        const auto got = c.run(gpu(), ys);
        for (size_t i = 0; i < ys.size(); ++i)
            CHECK(compare(as_f32(ref[i]), as_f32(got[i]), 3e-3, 1e-3, "flash attention, shared mask").bad == 0);
    }
}

// Speed of mul_mat on Llama-2-7B shapes (not a test: run with --no-skip -tc='cuda bench*').
// Weights rotate over 4 copies so the 50 MB L2 cannot hold them; GB/s counts weight bytes.
TEST_CASE("cuda bench: mul_mat on 7B shapes" * doctest::skip()) {
    REQUIRE_GPU();
    const DType types[] = {DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::F16, DType::Q5_K, DType::Q4_1,
                           DType::Q5_0, DType::Q2_K, DType::Q3_K, DType::IQ4_XS};
    struct S {
        int64_t K, N;
    };
    const S shapes[] = {{4096, 11008}, {11008, 4096}};
    Backend &b = gpu();
    for (DType type : types) {
        for (const S &s : shapes) {
            for (int64_t M : {1, 2, 512}) {
                const int kCopies = M == 1 ? 4 : 1;
                std::vector<Graph> graphs(kCopies);
                std::vector<Tensor> ws(kCopies);
                std::vector<void *> owned;
                const size_t wbytes = *dtype_row_bytes(type, s.K) * s.N;
                std::vector<uint8_t> host(wbytes);
                std::mt19937 rng(1);
                for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<uint8_t>(rng());
                if (traits(type).block_size == 1 || true) { // valid blocks: quantize a few random rows, repeat
                    std::vector<float> row = randn(static_cast<size_t>(s.K), rng);
                    const size_t rb = *dtype_row_bytes(type, s.K);
                    std::vector<uint8_t> q(rb);
                    REQUIRE(quantize_row(type, row.data(), q.data(), s.K));
                    for (int64_t r = 0; r < s.N; ++r) std::memcpy(&host[r * rb], q.data(), rb);
                }
                void *x = b.alloc(sizeof(float) * s.K * M);
                owned.push_back(x);
                std::vector<float> xv = randn(static_cast<size_t>(s.K * M), rng);
                b.upload(x, xv.data(), xv.size() * 4);
                for (int i = 0; i < kCopies; ++i) {
                    Tensor &w = ws[i];
                    w.type = type;
                    w.ne[0] = s.K;
                    w.ne[1] = s.N;
                    set_contiguous_strides(w);
                    w.data = b.alloc(wbytes);
                    owned.push_back(w.data);
                    b.upload(w.data, host.data(), wbytes);
                    Tensor *xi = graphs[i].input(DType::F32, {s.K, M}, "x");
                    xi->data = x;
                    Tensor *y = graphs[i].mul_mat(&w, xi);
                    y->data = b.alloc(sizeof(float) * s.N * M);
                    owned.push_back(y->data);
                }
                // Warm up for 0.3 s (the clocks ramp up from idle), then time.
                for (auto w0 = std::chrono::steady_clock::now();
                     std::chrono::steady_clock::now() - w0 < std::chrono::milliseconds(300);) {
                    for (int i = 0; i < kCopies; ++i) b.compute(graphs[i].nodes());
                    b.synchronize();
                }
                const int reps = M == 512 ? 50 : 400;
                const auto t0 = std::chrono::steady_clock::now();
                for (int r = 0; r < reps; ++r) b.compute(graphs[r % kCopies].nodes());
                b.synchronize();
                const double sec =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
                const double gbs = wbytes / sec / 1e9, tflops = 2.0 * s.K * s.N * M / sec / 1e12;
                MESSAGE(std::string(dtype_name(type)) << " K=" << s.K << " N=" << s.N << " M=" << M << ": " << sec * 1e6 << " us, "
                                         << gbs << " GB/s of weights, " << tflops << " TFLOP/s");
                for (void *p : owned) b.release(p);
            }
        }
    }
}

TEST_CASE("cuda bench: attention on 7B shapes" * doctest::skip()) {
    REQUIRE_GPU();
    Backend &b = gpu();
    struct A {
        int64_t T, NKV;
    };
    for (const A &a : {A{512, 512}, A{1, 512}, A{1, 4096}, A{128, 4096}}) {
        const int64_t D = 128, H = 32;
        Graph g;
        Tensor *q = g.input(DType::F32, {D, H, a.T}, "q");
        Tensor *k = g.input(DType::F16, {D, a.NKV, H}, "k");
        Tensor *v = g.input(DType::F16, {D, a.NKV, H}, "v");
        Tensor *m = g.input(DType::F32, {a.NKV, a.T}, "m");
        Tensor *y = g.attention(q, k, v, m, 0.088f);
        std::vector<void *> owned;
        std::mt19937 rng(2);
        for (Tensor *t : {q, k, v, m, y}) {
            t->data = b.alloc(t->n_bytes());
            owned.push_back(t->data);
        }
        for (Tensor *t : {q, m}) {
            std::vector<float> h = t == m ? std::vector<float>(static_cast<size_t>(t->n_elements()), 0.0f)
                                          : randn(static_cast<size_t>(t->n_elements()), rng);
            if (t == m)
                for (int64_t i = 0; i < a.T; ++i)
                    for (int64_t j = a.NKV - a.T + i + 1; j < a.NKV; ++j) h[static_cast<size_t>(i * a.NKV + j)] = -INFINITY;
            b.upload(t->data, h.data(), t->n_bytes());
        }
        for (Tensor *t : {k, v}) {
            std::vector<uint16_t> h(static_cast<size_t>(t->n_elements()));
            for (auto &x : h) x = fp32_to_fp16(std::normal_distribution<float>(0, 1)(rng));
            b.upload(t->data, h.data(), t->n_bytes());
        }
        for (auto w0 = std::chrono::steady_clock::now();
             std::chrono::steady_clock::now() - w0 < std::chrono::milliseconds(200);) {
            b.compute(g.nodes());
            b.synchronize();
        }
        const int reps = 50;
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) b.compute(g.nodes());
        b.synchronize();
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
        MESSAGE("attention D=128 H=32 T=" << a.T << " n_kv=" << a.NKV << ": " << sec * 1e6 << " us");
        for (void *p : owned) b.release(p);
    }
}

#endif // CORVID_HAS_CUDA
