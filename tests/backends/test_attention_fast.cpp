// The fast attention path (backends/cpu/cpu_attention_fast.*) against the scalar
// reference (cpu::attention_reference), on every instruction-set path this machine has:
// odd head sizes, GQA ratios 1/4/8, causal masks, sliding windows, holes (cells of other
// sequences), rows with every key masked, caches that are views with a row stride
// larger than the head, long caches (split over key ranges and merged), one and many
// queries, F16 and F32 caches.
//
// Tolerance. Both round Q to F16 (F16 cache) the same way and the K products of two F16
// values are exact, so the scores differ by float summation order only. The
// probabilities are rounded to F16 at different points (the reference after dividing by
// the sum, the fast path before), so each weight differs by up to two F16 roundings
// (2 * 2^-11 relative) plus float noise: |fast - ref| <= 2^-9 * max|v| is a loose bound
// (the sum of |p_j v_j| is at most max|v|). F32 cache: no rounding, only float noise.
#include "graph/graph_runner.h"

#include "cpu/cpu_attention_fast.h"
#include "cpu/cpu_dispatch.h"
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_parallel.h"
#include "tensor/fp16.h"
#include "tensor/quants.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace corvid;
using namespace corvid::test;
using namespace corvid::cpu;

namespace {

enum class MaskKind { causal, sliding, holes, full, one_row_empty };

struct Case {
    int64_t D, H, HKV, T, NKV;
    MaskKind mask;
    int64_t window = 0;     // sliding: keys with pos - window < j <= pos
    int64_t capacity = 0;   // cache rows (>= NKV; the view covers the first NKV)
    float scale = 0.125f;
};

const char *mask_name(MaskKind m) {
    switch (m) {
    case MaskKind::causal: return "causal";
    case MaskKind::sliding: return "sliding";
    case MaskKind::holes: return "holes";
    case MaskKind::full: return "full";
    case MaskKind::one_row_empty: return "one-row-empty";
    }
    return "?";
}

struct Problem {
    OwnedTensor kc, vc, q, mask, out_ref, out_fast;
    Tensor kview, vview;
    float vmax = 0;

    Problem(const Case &c, DType ct, uint32_t seed)
        : kc(ct, {c.D * c.HKV, std::max(c.capacity, c.NKV)}, "k"), vc(ct, {c.D * c.HKV, std::max(c.capacity, c.NKV)}, "v"),
          q(DType::F32, {c.D, c.H, c.T}, "q"), mask(DType::F32, {c.NKV, c.T + 1}, "mask"),
          out_ref(DType::F32, {c.D, c.H, c.T}, "ref"), out_fast(DType::F32, {c.D, c.H, c.T}, "fast") {
        std::mt19937 rng(seed);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        const int64_t cap = std::max(c.capacity, c.NKV);
        std::vector<float> row(static_cast<size_t>(c.D * c.HKV));
        for (int64_t j = 0; j < cap; ++j) {
            for (auto &x : row) x = nd(rng);
            quantize_row(ct, row.data(), kc.t.row(j), c.D * c.HKV);
            for (auto &x : row) {
                x = nd(rng);
                vmax = std::max(vmax, std::fabs(x));
            }
            quantize_row(ct, row.data(), vc.t.row(j), c.D * c.HKV);
        }
        for (int64_t i = 0; i < c.D * c.H * c.T; ++i) q.f32()[i] = 2.0f * nd(rng);

        // Mask: token t sits at position NKV - T + t.
        std::uniform_int_distribution<int> coin(0, 3);
        for (int64_t t = 0; t < c.T + 1; ++t)
            for (int64_t j = 0; j < c.NKV; ++j) {
                const int64_t pos = c.NKV - c.T + std::min(t, c.T - 1);
                bool visible = j <= pos;
                if (c.mask == MaskKind::sliding) visible = visible && j > pos - c.window;
                if (c.mask == MaskKind::holes) visible = visible && coin(rng) != 0;
                if (c.mask == MaskKind::full) visible = true;
                if (c.mask == MaskKind::one_row_empty && t == c.T / 2) visible = false;
                mask.f32()[t * c.NKV + j] = visible ? 0.0f : -INFINITY;
            }
        // Cells no query sees hold NaN: they must never reach a result.
        for (int64_t j = 0; j < c.NKV; ++j) {
            bool seen = false;
            for (int64_t t = 0; t < c.T; ++t) seen = seen || mask.f32()[t * c.NKV + j] == 0.0f;
            if (seen) continue;
            for (OwnedTensor *cache : {&kc, &vc}) {
                if (ct == DType::F16)
                    for (int64_t d = 0; d < c.D * c.HKV; ++d) {
                        const uint16_t nan16 = 0x7e00;
                        std::memcpy(cache->t.row(j) + d * 2, &nan16, 2);
                    }
                else
                    for (int64_t d = 0; d < c.D * c.HKV; ++d) reinterpret_cast<float *>(cache->t.row(j))[d] = NAN;
            }
        }
        const size_t esz = traits(ct).block_bytes;
        for (auto [view, cache] : {std::pair<Tensor *, OwnedTensor *>{&kview, &kc}, {&vview, &vc}}) {
            view->type = ct;
            view->ne[0] = c.D;
            view->ne[1] = c.NKV;
            view->ne[2] = c.HKV;
            view->nb[0] = esz;
            view->nb[1] = cache->t.nb[1];
            view->nb[2] = static_cast<size_t>(c.D) * esz;
            view->nb[3] = view->nb[2] * static_cast<size_t>(c.HKV);
            view->data = cache->t.data;
        }
        for (OwnedTensor *o : {&out_ref, &out_fast}) {
            o->t.op = Op::attention;
            o->t.src[0] = &q.t;
            o->t.src[1] = &kview;
            o->t.src[2] = &vview;
            o->t.src[3] = &mask.t;
            o->t.fp[0] = c.scale;
        }
    }
};

std::vector<Isa> fast_isas() {
    std::vector<Isa> out;
    for (Isa isa : {Isa::avx2, Isa::avx512, Isa::amx, Isa::neon})
        if (isa_available(isa) && attention_has_fast_path(isa)) out.push_back(isa);
    return out;
}

struct IsaGuard {
    ~IsaGuard() { reset_isa(); }
};

double worst_ratio = 0;

void check_case(const Case &c, DType ct, uint32_t seed) {
    CAPTURE(c.D);
    CAPTURE(c.H);
    CAPTURE(c.HKV);
    CAPTURE(c.T);
    CAPTURE(c.NKV);
    CAPTURE(mask_name(c.mask));
    CAPTURE(dtype_name(ct));
    Problem p(c, ct, seed);
    cpu::attention_reference(p.out_ref.t);
    const float *ref = p.out_ref.f32();
    const int64_t n = c.D * c.H * c.T;
    bool ref_finite = true;
    for (int64_t i = 0; i < n; ++i) ref_finite = ref_finite && std::isfinite(ref[i]);
    REQUIRE(ref_finite);
    const double tol = ct == DType::F16 ? std::ldexp(1.0, -9) * p.vmax : 2e-6 * p.vmax;
    IsaGuard guard;
    for (Isa isa : fast_isas()) {
        CAPTURE(isa_name(isa));
        REQUIRE(force_isa(isa));
        std::memset(p.out_fast.f32(), 0xff, static_cast<size_t>(n) * sizeof(float)); // NaN: every output must be written
        REQUIRE(cpu::attention_fast(p.out_fast.t));
        const float *fast = p.out_fast.f32();
        double worst = 0;
        int64_t bad = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double diff = std::fabs(static_cast<double>(fast[i]) - ref[i]);
            if (!(diff <= tol)) ++bad;
            worst = std::max(worst, diff / tol);
        }
        CHECK(bad == 0);
        worst_ratio = std::max(worst_ratio, worst);
        if (c.mask == MaskKind::one_row_empty) // a token that sees nothing gets zeros
            for (int64_t h = 0; h < c.H; ++h)
                for (int64_t d = 0; d < c.D; ++d) CHECK(fast[((c.T / 2) * c.H + h) * c.D + d] == 0.0f);
    }
}

} // namespace

TEST_CASE("attention fast path: the instruction sets this machine has") {
    MESSAGE("fast attention paths here: " << fast_isas().size() << " (active: " << std::string(isa_name(active_isa())) << ")");
    CHECK(attention_has_fast_path(Isa::scalar) == false);
}

TEST_CASE("attention fast path matches the reference: decode (one query), GQA 1/4/8, odd head sizes") {
    uint32_t seed = 1;
    for (DType ct : {DType::F16, DType::F32})
        for (int64_t D : {64, 7, 33, 80, 128, 256})
            for (int64_t G : {1, 4, 8})
                for (int64_t NKV : {1, 15, 16, 17, 100}) check_case({D, 2 * G, 2, 1, NKV, MaskKind::causal, 0, NKV + 5}, ct, seed++);
    MESSAGE("worst |fast - ref| / tolerance so far: " << worst_ratio);
}

TEST_CASE("attention fast path matches the reference: long caches split over key ranges") {
    uint32_t seed = 100;
    for (DType ct : {DType::F16, DType::F32})
        for (int64_t NKV : {511, 512, 513, 1100, 4100}) {
            check_case({64, 8, 2, 1, NKV, MaskKind::causal, 0, NKV}, ct, seed++);
            check_case({64, 8, 1, 3, NKV, MaskKind::holes, 0, NKV + 3}, ct, seed++);
            check_case({128, 4, 4, 2, NKV, MaskKind::sliding, 300, NKV}, ct, seed++);
        }
    // The merge with a range every query masks out entirely (a sliding window far behind).
    check_case({64, 4, 1, 1, 3000, MaskKind::sliding, 100, 3000}, DType::F16, seed++);
    MESSAGE("worst |fast - ref| / tolerance so far: " << worst_ratio);
}

TEST_CASE("attention fast path matches the reference: prompts (many queries), masks, windows") {
    uint32_t seed = 200;
    for (DType ct : {DType::F16, DType::F32}) {
        check_case({64, 8, 2, 70, 70, MaskKind::causal}, ct, seed++);
        check_case({64, 32, 8, 37, 100, MaskKind::causal, 0, 128}, ct, seed++);
        check_case({256, 4, 1, 33, 33, MaskKind::sliding, 8}, ct, seed++);
        check_case({80, 6, 6, 20, 50, MaskKind::holes}, ct, seed++);
        check_case({33, 8, 1, 9, 40, MaskKind::full}, ct, seed++);
        check_case({64, 8, 8, 5, 20, MaskKind::one_row_empty}, ct, seed++);
        check_case({64, 16, 2, 300, 300, MaskKind::causal, 0, 0, 0.05f}, ct, seed++);
        check_case({128, 8, 1, 130, 600, MaskKind::sliding, 64}, ct, seed++);
    }
    MESSAGE("worst |fast - ref| / tolerance: " << worst_ratio);
}

TEST_CASE("attention fast path: the result does not depend on the thread count") {
    const Case c{64, 8, 2, 1, 3000, MaskKind::causal};
    const int saved = cpu::parallel_threads();
    Problem p(c, DType::F16, 7);
    IsaGuard guard;
    for (Isa isa : fast_isas()) {
        REQUIRE(force_isa(isa));
        std::vector<float> first;
        for (int nth : {1, 2, 3, 5}) {
            cpu::set_parallel_threads(nth);
            REQUIRE(cpu::attention_fast(p.out_fast.t));
            std::vector<float> got(p.out_fast.f32(), p.out_fast.f32() + c.D * c.H * c.T);
            if (first.empty()) first = got;
            CHECK(std::memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0);
        }
    }
    cpu::set_parallel_threads(saved);
}

TEST_CASE("attention: the scalar path runs the reference") {
    const Case c{16, 2, 1, 3, 5, MaskKind::causal};
    Problem p(c, DType::F16, 9);
    IsaGuard guard;
    REQUIRE(force_isa(Isa::scalar));
    CHECK_FALSE(cpu::attention_fast(p.out_fast.t));
    cpu::attention(p.out_fast.t);
    cpu::attention_reference(p.out_ref.t);
    CHECK(std::memcmp(p.out_fast.f32(), p.out_ref.f32(), static_cast<size_t>(c.D * c.H * c.T) * sizeof(float)) == 0);
}
