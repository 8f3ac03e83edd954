// Conformance of the CPU backend's fast paths against its scalar reference kernels.
//
// Every instruction-set path this machine can run (cpu::force_isa) computes the same
// graph as the scalar reference (Isa::scalar = the reference kernels), for every weight
// type, on shapes that are not multiples of the kernels' tiles: odd N and M, M = 1
// (decode) and M > 4 (the 4-column groups plus a remainder), K not a multiple of 256
// where the block size allows, and batch broadcast in dims 2 and 3.
//
// Tolerance, mul_mat. Both sides use the same quantized values (the activations go
// through the same reference quantizer), so they differ only by float rounding:
//   reference: weights dequantized in float (<= 3 roundings each), activations
//              dequantized (<= 1), products and sums in double, one final rounding;
//   fast:      exact integer dot products per block, then per block one rounding for
//              d_w * d_x, one for the int -> float conversion (K-quants), one fused
//              multiply-add into a float lane (flushed into double lanes every 4
//              blocks of 32 / every super-block); min/offset terms in a scalar sum;
//              a horizontal sum and a final rounding to float.
// Recursive summation of L terms errs by at most (L - 1) u sum|terms| (u = 2^-24), so
//   |fast - ref| <= (L + 16) u S,   S = sum_k (|w_k - w0_k| + |w0_k|) |x_k|,
// where L bounds the longest float accumulation chain (blocks of 32 per row: K / 32 —
// the double flushes make the real chain much shorter, so this is loose; float
// weights: K / 16 + 8 per lane for 16 float lanes, two 8-lane accumulators on x86 or
// four 4-lane ones on NEON, and the scalar tail; the AVX-512 blocked kernel sums
// chains of 64 into a running total, min(K, 64) + K / 64), and
// w0 is the weight's offset part (the block dequantized with its quant bits zeroed:
// -8d for Q4_0, -dmin*m for Q4_K, ...), so that S bounds the magnitudes of the two
// integer sums the kernels combine even where they cancel. The worst observed
// |fast - ref| / tolerance is printed.
//
// Shapes with 4 or more columns (per batch matrix) exercise the blocked kernels where
// the ISA has one for the type (cpu_gemm_avx2.cpp, cpu_gemm_avx512.cpp, cpu_gemm_neon.cpp), fewer the
// per-row dot kernels.
//
// Other ops have no fast path yet: they must agree bit for bit under every ISA.
#include "graph/graph_runner.h"

#include "cpu/cpu_dispatch.h"
#include "cpu/cpu_kernels.h"
#include "cpu/cpu_matmul_fast.h"
#include "cpu/cpu_panels.h"
#include "tensor/blocks.h"
#include "tensor/fp16.h"
#include "tensor/quants.h"

#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace corvid;
using namespace corvid::test;

namespace {

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};

// Byte range of the quant levels inside one block (zeroed to get the offset part w0).
struct QuantBits {
    size_t offset, length;
};
QuantBits quant_bits(DType t) {
    switch (t) {
    case DType::Q4_0: return {2, 16};
    case DType::Q4_1: return {4, 16};
    case DType::Q5_0: return {2, 20};
    case DType::Q5_1: return {4, 20};
    case DType::Q8_0: return {2, 32};
    case DType::Q2_K: return {16, 64};
    case DType::Q3_K: return {0, 96};
    case DType::Q4_K: return {16, 128};
    case DType::Q5_K: return {16, 160};
    case DType::Q6_K: return {0, 192};
    case DType::IQ4_NL: return {2, 16};
    case DType::IQ4_XS: return {8, 128};
    default: return {0, 0};
    }
}

// Restores the ISA choice however a test case ends.
struct IsaGuard {
    ~IsaGuard() { cpu::reset_isa(); }
};

std::vector<cpu::Isa> fast_isas() {
    std::vector<cpu::Isa> v;
    for (cpu::Isa i : {cpu::Isa::avx2, cpu::Isa::avx512, cpu::Isa::amx, cpu::Isa::neon})
        if (cpu::isa_available(i)) v.push_back(i);
    return v;
}

struct Shape {
    int64_t K, N, M, B2, B3, wB2, wB3;
};

struct Worst {
    double ratio = 0.0;
    std::string where;
};

// Weights: rows of normal values with a per-row scale and a few outliers, quantized by
// the reference quantizer (so every block is one a real model could hold).
void fill_weights(OwnedTensor &w, std::mt19937 &rng) {
    const int64_t K = w.t.ne[0], rows = w.t.n_rows();
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::uniform_real_distribution<float> ud(0.05f, 2.0f);
    std::vector<float> row(static_cast<size_t>(K));
    for (int64_t r = 0; r < rows; ++r) {
        const float scale = ud(rng);
        const float shift = (r % 3 == 0) ? 0.5f * scale : 0.0f; // affine types see an offset
        for (auto &v : row) v = nd(rng) * scale + shift;
        if (K > 3) row[static_cast<size_t>(r % K)] *= 6.0f;
        uint8_t *dst = w.t.row(r % w.t.ne[1], (r / w.t.ne[1]) % w.t.ne[2], r / (w.t.ne[1] * w.t.ne[2]));
        REQUIRE(quantize_row(w.t.type, row.data(), dst, K));
    }
}

// y = mul_mat(w, x) over weights of `type` from fill_weights, bound to a runner (x not yet filled).
struct MulMatCase {
    OwnedTensor w;
    Graph g;
    Tensor *x, *y;
    GraphRunner r;
    MulMatCase(DType type, const Shape &s, std::mt19937 &rng) : w(type, {s.K, s.N, s.wB2, s.wB3}) {
        fill_weights(w, rng);
        x = g.input(DType::F32, {s.K, s.M, s.B2, s.B3}, "x");
        y = g.mul_mat(&w.t, x);
        g.mark_output(y);
        r.bind(g);
    }
};

// With panels, w is rearranged into the CPU's panel layout (cpu_panels.h) once the
// reference has run on it as stored: then the reference reading the panels (rows unpacked)
// must give the same bits, and every fast path the same tolerance.
void check_mul_mat(DType type, const Shape &s, uint32_t seed, Worst &worst, bool panels = false) {
    std::mt19937 rng(seed);
    MulMatCase mc(type, s, rng);
    OwnedTensor &w = mc.w;
    Graph &g = mc.g;
    Tensor *x = mc.x, *y = mc.y;
    GraphRunner &r = mc.r;
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> xv(static_cast<size_t>(x->n_elements()));
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = nd(rng) * ((i / s.K) % 4 == 1 ? 30.0f : 1.0f);
    if (s.M > 2) std::fill(xv.begin() + 2 * s.K, xv.begin() + 3 * s.K, 0.0f); // an all-zero column
    fill(x, xv);

    REQUIRE(cpu::force_isa(cpu::Isa::scalar));
    r.run(g);
    const std::vector<float> ref(f32(y), f32(y) + y->n_elements());

    // S per output: dequantized magnitudes of both parts of w times |x| after the
    // activation's round trip through its partner format.
    const DType at = cpu::activation_type_for(type);
    const int64_t rows = s.N * s.wB2 * s.wB3;
    std::vector<float> wa(static_cast<size_t>(rows * s.K)), w0(static_cast<size_t>(rows * s.K), 0.0f);
    const QuantBits qb = quant_bits(type);
    const size_t bbytes = traits(type).block_bytes;
    for (int64_t rr = 0; rr < rows; ++rr) {
        const uint8_t *src = w.t.row(rr % s.N, (rr / s.N) % s.wB2, rr / (s.N * s.wB2));
        std::vector<uint8_t> zeroed(src, src + w.t.row_bytes());
        if (qb.length)
            for (size_t b = 0; b < zeroed.size() / bbytes; ++b) std::memset(&zeroed[b * bbytes + qb.offset], 0, qb.length);
        REQUIRE(dequantize_row(type, src, &wa[static_cast<size_t>(rr * s.K)], s.K));
        if (qb.length) REQUIRE(dequantize_row(type, zeroed.data(), &w0[static_cast<size_t>(rr * s.K)], s.K));
    }
    const int64_t cols = s.M * s.B2 * s.B3;
    std::vector<float> xq(static_cast<size_t>(cols * s.K));
    std::vector<uint8_t> qrow(*dtype_row_bytes(at, static_cast<uint64_t>(s.K)));
    for (int64_t c = 0; c < cols; ++c) {
        REQUIRE(quantize_row(at, &xv[static_cast<size_t>(c * s.K)], qrow.data(), s.K));
        REQUIRE(dequantize_row(at, qrow.data(), &xq[static_cast<size_t>(c * s.K)], s.K));
    }
    const bool is_float = type == DType::F32 || type == DType::F16 || type == DType::BF16;
    const double L = is_float ? std::max(double(s.K) / 16, std::min(double(s.K), 64.0) + double(s.K) / 64) + 8
                              : double(s.K) / 32;
    const double u = std::ldexp(1.0, -24);

    if (panels) {
        REQUIRE(cpu::panel_type(type));
        REQUIRE((s.wB2 == 1 && s.wB3 == 1 && s.N >= cpu::kPanelRows));
        cpu::pack_panels(type, s.K, s.N, w.t.data, w.t.data);
        w.t.layout = cpu::kLayoutCpuPanels;
        float *out = static_cast<float *>(y->data);
        std::fill(out, out + y->n_elements(), std::nanf(""));
        r.run(g); // still the scalar reference
        CHECK(std::memcmp(ref.data(), f32(y), ref.size() * sizeof(float)) == 0);
    }
    for (cpu::Isa isa : fast_isas()) {
        REQUIRE(cpu::force_isa(isa));
        CHECK(cpu::mul_mat_has_fast_path(type, isa));

        float *out = static_cast<float *>(y->data);
        std::fill(out, out + y->n_elements(), std::nanf("")); // every output must be written
        r.run(g);
        const float *got = f32(y);
        int bad = 0;
        for (int64_t b3 = 0; b3 < s.B3; ++b3)
            for (int64_t b2 = 0; b2 < s.B2; ++b2)
                for (int64_t m = 0; m < s.M; ++m)
                    for (int64_t n = 0; n < s.N; ++n) {
                        const int64_t wr = n + s.N * ((b2 / (s.B2 / s.wB2)) + s.wB2 * (b3 / (s.B3 / s.wB3)));
                        const int64_t c = m + s.M * (b2 + s.B2 * b3);
                        double S = 0.0;
                        for (int64_t k = 0; k < s.K; ++k) {
                            const double a = wa[static_cast<size_t>(wr * s.K + k)], o = w0[static_cast<size_t>(wr * s.K + k)];
                            S += (std::fabs(a - o) + std::fabs(o)) * std::fabs(xq[static_cast<size_t>(c * s.K + k)]);
                        }
                        const double tol = (L + 16) * u * S;
                        const size_t i = static_cast<size_t>(n + s.N * c);
                        const double err = std::fabs(double(got[i]) - double(ref[i]));
                        if (!(err <= tol)) {
                            if (++bad <= 3)
                                FAIL_CHECK(std::string(dtype_name(type)) << (panels ? " panels " : " ") << std::string(cpu::isa_name(isa)) << " K=" << s.K << " N=" << s.N
                                                            << " M=" << s.M << " B=" << s.B2 << "x" << s.B3 << " at n=" << n
                                                            << " m=" << m << " b2=" << b2 << " b3=" << b3 << ": got " << got[i]
                                                            << " ref " << ref[i] << " err " << err << " tol " << tol);
                        } else if (tol > 0 && err / tol > worst.ratio) {
                            worst.ratio = err / tol;
                            worst.where = std::string(dtype_name(type)) + " " + cpu::isa_name(isa) + " K=" + std::to_string(s.K);
                        }
                    }
        CHECK(bad == 0);
    }
}

} // namespace

TEST_CASE("conformance: the ISA selection can be forced to every path this machine has") {
    IsaGuard guard;
    MESSAGE("detected: " << std::string(cpu::isa_name(cpu::detected_isa())) << ", active: " << std::string(cpu::isa_name(cpu::active_isa())));
    CHECK(cpu::force_isa(cpu::Isa::scalar));
    CHECK(cpu::active_isa() == cpu::Isa::scalar);
    for (cpu::Isa i : fast_isas()) {
        CHECK(cpu::force_isa(i));
        CHECK(cpu::active_isa() == i);
    }
    for (cpu::Isa i : {cpu::Isa::avx2, cpu::Isa::avx512, cpu::Isa::amx, cpu::Isa::neon})
        if (!cpu::isa_available(i)) {
            CHECK_FALSE(cpu::force_isa(i));
            CHECK(cpu::active_isa() != i);
            MESSAGE(std::string(cpu::isa_name(i)) << " not available here: that path is not tested on this machine");
        }
#if defined(__x86_64__)
    // Every machine this project targets has AVX2; the fast paths must be exercised.
    CHECK(cpu::isa_available(cpu::Isa::avx2));
    CHECK_FALSE(cpu::isa_available(cpu::Isa::neon));
#elif defined(__aarch64__)
    // Not every ARM64 core has the dot products (they are optional before Armv8.4), so
    // their absence is no failure here; but no x86 path may ever be offered.
    for (cpu::Isa i : {cpu::Isa::avx2, cpu::Isa::avx512, cpu::Isa::amx}) CHECK_FALSE(cpu::isa_available(i));
#endif
    // A run that must exercise a given path (scripts/test_neon.sh sets neon) fails here,
    // instead of passing on the reference alone, when that path is not detected.
    if (const char *req = std::getenv("CORVID_TEST_REQUIRE_ISA")) {
        bool found = false;
        for (cpu::Isa i : fast_isas()) found = found || std::string(cpu::isa_name(i)) == req;
        CHECK_MESSAGE(found, "CORVID_TEST_REQUIRE_ISA=" << std::string(req) << " but that path is not available here");
    }
}

TEST_CASE("conformance: mul_mat fast paths against the reference, every weight type") {
    IsaGuard guard;
    Worst worst;
    for (DType type : kWeightTypes) {
        CAPTURE(dtype_name(type));
        const uint32_t bs = traits(type).block_size;
        // K, N, M, x batch (dims 2, 3), weight batch (dims 2, 3)
        // (The decode shapes of 32-element blocks end a group of 16 blocks in every way the
        // Q4_0 row kernel has: 3 blocks (608), one whole quad of 4 and a block (672), two
        // quads (768, the 110M model's K), three quads and a block (1440).)
        constexpr int kShapes = 9;
        static const Shape float_shapes[kShapes] = {{1, 3, 1, 1, 1, 1, 1},    {7, 5, 1, 1, 1, 1, 1},    {37, 9, 7, 1, 1, 1, 1},
                                             {515, 67, 1, 1, 1, 1, 1}, {100, 13, 9, 2, 3, 1, 1}, {64, 11, 5, 2, 3, 2, 1},
                                             {2051, 7, 1, 1, 1, 1, 1}, {768, 5, 1, 1, 1, 1, 1},  {33, 4, 1, 1, 1, 1, 1}};
        static const Shape b32_shapes[kShapes] = {{32, 3, 1, 1, 1, 1, 1},  {608, 67, 1, 1, 1, 1, 1}, {96, 13, 9, 1, 1, 1, 1},
                                           {160, 5, 5, 2, 3, 1, 1}, {64, 7, 3, 4, 2, 2, 2},   {1024, 33, 6, 1, 1, 1, 1},
                                           {1440, 7, 1, 1, 1, 1, 1}, {672, 5, 1, 1, 1, 1, 1}, {768, 9, 1, 1, 1, 1, 1}};
        static const Shape b256_shapes[kShapes] = {{256, 3, 1, 1, 1, 1, 1}, {768, 67, 1, 1, 1, 1, 1}, {512, 13, 9, 1, 1, 1, 1},
                                            {256, 5, 5, 2, 3, 1, 1}, {256, 7, 3, 4, 2, 2, 2},  {2304, 9, 5, 1, 1, 1, 1},
                                            {2560, 7, 1, 1, 1, 1, 1}, {1536, 5, 1, 1, 1, 1, 1}, {3072, 3, 1, 1, 1, 1, 1}};
        const Shape *shapes = bs == 1 ? float_shapes : bs == 32 ? b32_shapes : b256_shapes;
        // Decode (M = 1) with every rows-per-call setting of the row kernels.
        for (int rows = 1; rows <= cpu::fast::kRowsPerCall; ++rows) {
            CAPTURE(rows);
            cpu::set_decode_rows(rows);
            uint32_t seed = 1000 + static_cast<uint32_t>(type) * 17;
            for (int i = 0; i < kShapes; ++i)
                if (rows == 1 || shapes[i].M == 1) check_mul_mat(type, shapes[i], seed + static_cast<uint32_t>(i), worst);
        }
        cpu::set_decode_rows(0);
    }
    MESSAGE("worst |fast - reference| / tolerance: " << worst.ratio << " (" << worst.where << ")");
}

// The blocked (prompt-processing) kernels: many columns, row counts that are not
// multiples of the 16-row panels (last panels of 1, 2, 3, 4, 5 and 15 rows: the NEON
// kernels run 4-row quads), column counts that are not multiples of the register
// tiles (1..8 columns), few panels (the columns are then split over the threads too),
// batch broadcast, and (float weights) K longer than the kernels' K chunk.
TEST_CASE("conformance: blocked mul_mat (many columns) against the reference, every weight type") {
    IsaGuard guard;
    Worst worst;
    for (DType type : kWeightTypes) {
        CAPTURE(dtype_name(type));
        const uint32_t bs = traits(type).block_size;
        constexpr int kShapes = 7;
        static const Shape float_shapes[kShapes] = {{17, 37, 19, 1, 1, 1, 1}, {33, 16, 8, 1, 1, 1, 1}, {64, 17, 33, 2, 3, 2, 1},
                                             {100, 3, 70, 1, 1, 1, 1}, {1, 5, 4, 1, 1, 1, 1},   {2100, 18, 12, 1, 1, 1, 1},
                                             {50, 22, 12, 1, 1, 1, 1}};
        static const Shape b32_shapes[kShapes] = {{96, 37, 19, 1, 1, 1, 1}, {320, 16, 8, 1, 1, 1, 1}, {64, 17, 33, 2, 3, 1, 1},
                                           {1024, 5, 70, 1, 1, 1, 1}, {32, 33, 4, 1, 1, 1, 1}, {160, 31, 13, 2, 2, 2, 2},
                                           {224, 22, 12, 1, 1, 1, 1}};
        static const Shape b256_shapes[kShapes] = {{256, 37, 19, 1, 1, 1, 1}, {512, 16, 8, 1, 1, 1, 1}, {256, 17, 33, 2, 3, 1, 1},
                                            {768, 3, 70, 1, 1, 1, 1},  {256, 20, 4, 1, 1, 1, 1}, {1280, 33, 11, 2, 2, 2, 2},
                                            {512, 22, 7, 1, 1, 1, 1}};
        const Shape *shapes = bs == 1 ? float_shapes : bs == 32 ? b32_shapes : b256_shapes;
        uint32_t seed = 5000 + static_cast<uint32_t>(type) * 31;
        for (int i = 0; i < kShapes; ++i) check_mul_mat(type, shapes[i], seed++, worst);
    }
    MESSAGE("worst |fast - reference| / tolerance: " << worst.ratio << " (" << worst.where << ")");
}

// Panel weights (16 rows interleaved at load, cpu_panels.h) through every path that reads
// weights: decode (the panel kernel, whole panels and the rows as stored after them), 2-3
// columns (rows unpacked for the dot kernels), many columns (rows unpacked for the packers),
// and the reference (checked bit for bit inside check_mul_mat).
TEST_CASE("conformance: panel weights against the reference, every panel type") {
    IsaGuard guard;
    Worst worst;
    static const Shape b32_shapes[] = {{608, 67, 1, 1, 1, 1, 1},  {1440, 16, 1, 1, 1, 1, 1}, {672, 35, 1, 2, 1, 1, 1},
                                       {1024, 33, 2, 1, 1, 1, 1}, {96, 37, 3, 1, 1, 1, 1},   {320, 48, 8, 1, 1, 1, 1},
                                       {160, 31, 13, 2, 2, 1, 1}};
    static const Shape b256_shapes[] = {{768, 67, 1, 1, 1, 1, 1},  {2560, 16, 1, 1, 1, 1, 1}, {256, 35, 1, 2, 1, 1, 1},
                                        {1024, 33, 2, 1, 1, 1, 1}, {512, 37, 3, 1, 1, 1, 1},  {256, 48, 8, 1, 1, 1, 1},
                                        {768, 31, 13, 2, 2, 1, 1}};
    for (DType type : kWeightTypes) {
        if (!cpu::panel_type(type)) continue;
        CAPTURE(dtype_name(type));
        uint32_t seed = 9000 + static_cast<uint32_t>(type) * 7;
        for (const Shape &sh : traits(type).block_size == 256 ? b256_shapes : b32_shapes)
            check_mul_mat(type, sh, seed++, worst, true);
    }
    MESSAGE("worst |fast - reference| / tolerance: " << worst.ratio << " (" << worst.where << ")");
}

// Packing is a permutation: every row unpacks to its bytes as stored, and get_rows reads a
// panel table as it reads the stored one.
TEST_CASE("conformance: panel weights unpack to the rows as stored; get_rows reads them") {
    for (DType type : kWeightTypes) {
        if (!cpu::panel_type(type)) continue;
        CAPTURE(dtype_name(type));
        std::mt19937 rng(31);
        const int64_t K = traits(type).block_size == 256 ? 512 : 320, N = 53;
        OwnedTensor w(type, {K, N});
        fill_weights(w, rng);
        const std::vector<uint8_t> stored(w.t.row(0), w.t.row(0) + w.t.n_bytes());
        {
            IsaGuard guard;
            REQUIRE(cpu::force_isa(cpu::Isa::scalar)); // no panel kernels: nothing to rearrange for
            CHECK(cpu::preferred_weight_layout(w.t) == 0);
            if (cpu::force_isa(cpu::Isa::avx512)) CHECK(cpu::preferred_weight_layout(w.t) == cpu::kLayoutCpuPanels);
        }
        cpu::pack_panels(type, K, N, w.t.data, w.t.data);
        CHECK(std::memcmp(stored.data(), w.t.data, stored.size()) != 0); // rearranged
        CHECK(std::memcmp(stored.data() + 48 * w.t.row_bytes(), w.t.row(48), 5 * w.t.row_bytes()) == 0); // the tail as stored
        w.t.layout = cpu::kLayoutCpuPanels;
        std::vector<uint8_t> scratch(w.t.row_bytes());
        for (int64_t n = 0; n < N; ++n)
            CHECK(std::memcmp(cpu::weight_row(w.t, n, 0, 0, scratch.data()), stored.data() + n * w.t.row_bytes(),
                              w.t.row_bytes()) == 0);

        OwnedTensor table(type, {K, N});
        std::memcpy(table.t.data, stored.data(), stored.size());
        Graph g;
        Tensor *ids = g.input(DType::I32, {5}, "ids");
        Tensor *a = g.get_rows(&table.t, ids), *b = g.get_rows(&w.t, ids);
        g.mark_output(a);
        g.mark_output(b);
        GraphRunner r;
        r.bind(g);
        const int32_t rows[5] = {0, 15, 16, 47, 52};
        std::memcpy(ids->data, rows, sizeof rows);
        r.run(g);
        CHECK(std::memcmp(f32(a), f32(b), static_cast<size_t>(a->n_elements()) * sizeof(float)) == 0);
    }
}

// The blocked kernels' own activation quantizers must give the reference quantizer's
// levels, scales and sums exactly: ties (x * id = k + 0.5, which roundf and nearest_int
// break differently), zero blocks, equal positive and negative maxima, tiny and huge scales.
TEST_CASE("conformance: the blocked kernels' activation quantizers are bit-exact") {
    const cpu::fast::Kernels *k = cpu::isa_available(cpu::Isa::avx512) ? cpu::fast::kernels_avx512() : nullptr;
    if (!k || !k->group_act) {
        MESSAGE("no AVX-512 activation quantizer on this machine");
        return;
    }
    const int64_t K = 1024;
    std::mt19937 rng(99);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int trial = 0; trial < 8; ++trial) {
        std::vector<float> x(K);
        for (auto &v : x) v = nd(rng) * (trial == 5 ? 1e-20f : trial == 6 ? 3e4f : 1.0f);
        for (int64_t i = 0; i < 32; ++i) x[i] = float(int(i) - 16) + 0.5f; // ties
        x[40] = 127.0f, x[41] = -127.0f;                                  // block 1: d = 1
        for (int64_t i = 42; i < 64; ++i) x[i] = float(i - 53) * 0.5f;
        for (int64_t i = 256; i < 512; ++i) x[i] = 0.0f; // a zero Q8_K block
        x[600] = -9.0f, x[700] = 9.0f;                   // equal maxima, negative first
        for (int64_t i = 512; i < 768; ++i)
            if (i != 600 && i != 700) x[i] = std::clamp(x[i], -8.0f, 8.0f);
        const int ci = trial % cpu::fast::kGemmCols;
        {
            std::vector<uint8_t> ref(*dtype_row_bytes(DType::Q8_0, K));
            REQUIRE(quantize_row(DType::Q8_0, x.data(), ref.data(), K));
            std::vector<uint8_t> g(static_cast<size_t>(K / 32) * cpu::fast::kActB32Bytes, 0);
            REQUIRE(k->group_act(int(DType::Q8_0), x.data(), K, g.data(), ci, 8));
            for (int64_t b = 0; b < K / 32; ++b) {
                BlockQ8_0 blk;
                std::memcpy(&blk, ref.data() + b * sizeof blk, sizeof blk);
                const uint8_t *rec = g.data() + b * cpu::fast::kActB32Bytes;
                float d;
                int32_t soff;
                std::memcpy(&d, rec + cpu::fast::kActB32D + 4 * ci, 4);
                std::memcpy(&soff, rec + cpu::fast::kActB32Soff + 4 * ci, 4);
                int sum = 0;
                for (int j = 0; j < 32; ++j) sum += blk.qs[j];
                CHECK(std::memcmp(rec + 32 * ci, blk.qs, 32) == 0);
                CHECK(d == fp16_to_fp32(blk.d));
                CHECK(soff == -8 * sum);
            }
        }
        {
            std::vector<float> xf = x;
            xf[3] = 70000.0f, xf[4] = -65519.0f, xf[5] = 65520.0f, xf[6] = 1e-6f, xf[7] = -3e-8f, xf[8] = 2.98e-8f;
            std::vector<uint16_t> ref(K);
            REQUIRE(quantize_row(DType::F16, xf.data(), ref.data(), K));
            std::vector<float> g(static_cast<size_t>(K) * cpu::fast::kGemmCols, -1.0f);
            REQUIRE(k->group_act(int(DType::F16), xf.data(), K, reinterpret_cast<uint8_t *>(g.data()), ci, 0));
            int bad = 0;
            for (int64_t i = 0; i < K; ++i) {
                const float want = fp16_to_fp32(ref[i]), got = g[i * cpu::fast::kGemmCols + ci];
                if (std::memcmp(&want, &got, 4) != 0 && ++bad <= 3) FAIL_CHECK("f16 at " << i << ": " << got << " != " << want);
            }
            CHECK(bad == 0);
        }
        {
            std::vector<uint8_t> ref(*dtype_row_bytes(DType::Q8_K, K));
            REQUIRE(quantize_row(DType::Q8_K, x.data(), ref.data(), K));
            std::vector<uint8_t> g(static_cast<size_t>(K / 256) * cpu::fast::kActQ8KBytes, 0);
            REQUIRE(k->group_act(int(DType::Q8_K), x.data(), K, g.data(), ci, 0));
            for (int64_t b = 0; b < K / 256; ++b) {
                BlockQ8_K blk;
                std::memcpy(&blk, ref.data() + b * sizeof blk, sizeof blk);
                const uint8_t *rec = g.data() + b * cpu::fast::kActQ8KBytes;
                float d;
                int16_t bs[16], b32[8];
                std::memcpy(&d, rec + cpu::fast::kActQ8KD + 4 * ci, 4);
                std::memcpy(bs, rec + cpu::fast::kActQ8KBs + 32 * ci, 32);
                std::memcpy(b32, rec + cpu::fast::kActQ8KBs32 + 16 * ci, 16);
                CHECK(std::memcmp(rec + 256 * ci, blk.qs, 256) == 0);
                CHECK(std::memcmp(&d, &blk.d, 4) == 0);
                CHECK(std::memcmp(bs, blk.bsums, 32) == 0);
                for (int j = 0; j < 8; ++j) CHECK(b32[j] == blk.bsums[2 * j] + blk.bsums[2 * j + 1]);
            }
        }
    }
}

// ARM64 with i8mm (qemu-aarch64 -cpu max has it): the conformance cases above run the SMMLA
// blocked kernels (the detected ones); these compare them with the SDOT kernels, which
// must give the same bits, on panels of 1-16 rows and 1-8 columns.
TEST_CASE("conformance: the NEON i8mm blocked kernels give the SDOT kernels' results bit for bit") {
    cpu::fast::Kernels sdot{}, mm{};
    const bool have_mm = cpu::isa_available(cpu::Isa::neon) && cpu::fast::add_gemm_neon(mm, true);
    if (!have_mm) {
        MESSAGE("no NEON i8mm kernels on this machine");
        return;
    }
    cpu::fast::add_gemm_neon(sdot, false);
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::uniform_int_distribution<int> lv(-127, 127);
    for (DType type : {DType::Q4_0, DType::Q5_0, DType::Q8_0, DType::IQ4_NL}) {
        CAPTURE(dtype_name(type));
        const cpu::fast::GemmKernel &a = sdot.gemm[int(type)], &b = mm.gemm[int(type)];
        REQUIRE(a.rows == b.rows);
        for (int64_t K : {32, 96, 160, 1024}) {
            const size_t rb = *dtype_row_bytes(type, static_cast<uint64_t>(K));
            std::vector<uint8_t> w(rb * static_cast<size_t>(a.rows));
            std::vector<float> row(static_cast<size_t>(K));
            for (int r = 0; r < a.rows; ++r) {
                for (auto &v : row) v = nd(rng);
                REQUIRE(quantize_row(type, row.data(), w.data() + rb * static_cast<size_t>(r), K));
            }
            std::vector<uint8_t> acts(static_cast<size_t>(K / 32) * cpu::fast::kActB32Bytes);
            for (int64_t blk = 0; blk < K / 32; ++blk) {
                uint8_t *rec = acts.data() + blk * cpu::fast::kActB32Bytes;
                for (int i = 0; i < 256; ++i) rec[i] = static_cast<uint8_t>(lv(rng));
                for (int c = 0; c < cpu::fast::kGemmCols; ++c) {
                    const float d = std::ldexp(1.0f + 0.01f * float(lv(rng)), lv(rng) % 8);
                    std::memcpy(rec + cpu::fast::kActB32D + 4 * c, &d, 4);
                }
            }
            std::vector<uint8_t> pa(a.panel_bytes(K)), pb(b.panel_bytes(K));
            for (int nrows : {1, 2, 3, 4, 5, 7, 16}) {
                std::vector<const void *> rows;
                for (int r = 0; r < nrows; ++r) rows.push_back(w.data() + rb * static_cast<size_t>(r));
                a.pack(K, rows.data(), nrows, pa.data());
                b.pack(K, rows.data(), nrows, pb.data());
                for (int64_t nc = 1; nc <= cpu::fast::kGemmCols; ++nc) {
                    std::vector<float> oa(static_cast<size_t>(nc * nrows), -1.0f), ob = oa;
                    a.gemm(K, pa.data(), nrows, acts.data(), nc, oa.data(), nrows);
                    b.gemm(K, pb.data(), nrows, acts.data(), nc, ob.data(), nrows);
                    CHECK_MESSAGE(std::memcmp(oa.data(), ob.data(), oa.size() * sizeof(float)) == 0,
                                  "K=" << K << " rows=" << nrows << " cols=" << nc);
                }
            }
        }
    }
}

// The AVX2 blocked kernels (cpu_gemm_avx2.cpp) do the AVX-512 ones' arithmetic lane for
// lane, so a prompt gives the same bits on either path: full and partial panels (N not a
// multiple of 8 or 16), full and partial column groups, and K beyond the float kernels'
// chunk (kGemmFloatBlock).
TEST_CASE("conformance: the AVX2 blocked kernels give the AVX-512 ones' results bit for bit") {
    if (!cpu::isa_available(cpu::Isa::avx2) || !cpu::isa_available(cpu::Isa::avx512)) {
        MESSAGE("needs both AVX2 and AVX-512");
        return;
    }
    IsaGuard guard;
    for (DType type : {DType::Q4_0, DType::Q5_0, DType::Q8_0, DType::IQ4_NL, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                       DType::F16, DType::BF16}) {
        CAPTURE(dtype_name(type));
        for (const Shape &s : {Shape{512, 37, 19, 1, 1, 1, 1}, Shape{2304, 24, 8, 1, 1, 1, 1}, Shape{256, 5, 4, 2, 1, 2, 1}}) {
            CAPTURE(s.K);
            std::mt19937 rng(900 + static_cast<uint32_t>(type) + static_cast<uint32_t>(s.K));
            MulMatCase mc(type, s, rng);
            std::normal_distribution<float> nd(0.0f, 1.0f);
            std::vector<float> xv(static_cast<size_t>(mc.x->n_elements()));
            for (float &v : xv) v = nd(rng);
            fill(mc.x, xv);
            std::vector<float> out[2];
            const cpu::Isa isas[2] = {cpu::Isa::avx2, cpu::Isa::avx512};
            for (int i = 0; i < 2; ++i) {
                REQUIRE(cpu::force_isa(isas[i]));
                mc.r.run(mc.g);
                out[i].assign(f32(mc.y), f32(mc.y) + mc.y->n_elements());
            }
            CHECK(std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)) == 0);
        }
    }
}

// Decode products over one input run as one conversion and one parallel region
// (cpu_backend.cpp, mul_mat_fast_shared_input): each must give mul_mat_fast's bits alone.
// The third product has another weight type (as Q4_K_M's attn_v often has): it runs alone.
TEST_CASE("conformance: decode products sharing an input give each product's own bits") {
    IsaGuard guard;
    for (cpu::Isa isa : fast_isas()) {
        for (const DType t : {DType::Q4_0, DType::Q4_K, DType::Q8_0, DType::F16}) {
            CAPTURE(cpu::isa_name(isa));
            CAPTURE(dtype_name(t));
            std::mt19937 rng(77);
            const int64_t K = 512;
            OwnedTensor w1(t, {K, 67}), w2(t, {K, 29}), w3(DType::Q6_K, {K, 40});
            for (OwnedTensor *w : {&w1, &w2, &w3}) fill_weights(*w, rng);
            Graph g;
            Tensor *x = g.input(DType::F32, {K, 1}, "x");
            Tensor *y1 = g.mul_mat(&w1.t, x), *y2 = g.mul_mat(&w2.t, x), *y3 = g.mul_mat(&w3.t, x);
            for (Tensor *y : {y1, y2, y3}) g.mark_output(y);
            GraphRunner r;
            r.bind(g);
            std::normal_distribution<float> nd(0.0f, 1.0f);
            std::vector<float> xv(static_cast<size_t>(K));
            for (auto &v : xv) v = nd(rng);
            fill(x, xv);
            REQUIRE(cpu::force_isa(isa));
            for (Tensor *y : {y1, y2, y3}) std::fill(static_cast<float *>(y->data), static_cast<float *>(y->data) + y->n_elements(), std::nanf(""));
            r.run(g);
            for (Tensor *y : {y1, y2, y3}) {
                const std::vector<float> together(f32(y), f32(y) + y->n_elements());
                REQUIRE(cpu::mul_mat_fast(*y)); // alone, into the same memory
                CHECK(std::memcmp(together.data(), f32(y), together.size() * sizeof(float)) == 0);
            }
        }
    }
}

TEST_CASE("conformance: mul_mat falls back to the reference for types without a fast kernel") {
    IsaGuard guard;
    for (cpu::Isa isa : fast_isas()) {
        CHECK_FALSE(cpu::mul_mat_has_fast_path(DType::Q8_1, isa));
        CHECK_FALSE(cpu::mul_mat_has_fast_path(DType::IQ2_XXS, isa));
    }
    CHECK_FALSE(cpu::mul_mat_has_fast_path(DType::Q4_0, cpu::Isa::scalar));
}

TEST_CASE("conformance: SiLU (times y) within a few ulp of the reference under every ISA") {
    IsaGuard guard;
    // Random values over the range where exp(-x) goes from overflow to underflow, a sweep
    // of the bit space, and the edges: zeros, infinities, NaN, subnormals, the points
    // where exp(-x) leaves the normal range.
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> wide(-120.0f, 120.0f), narrow(-8.0f, 8.0f);
    std::vector<float> x, y;
    for (int i = 0; i < 20000; ++i) x.push_back(i % 2 ? wide(rng) : narrow(rng));
    for (uint64_t b = 0; b < (uint64_t(1) << 32); b += 65537) x.push_back(fp32_from_bits(static_cast<uint32_t>(b)));
    for (float v : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 87.3f, -87.3f, 88.7f, -88.7f, 89.5f,
                    -89.5f, 103.0f, -103.0f, 104.5f, -104.5f, 126.0f, -126.0f, 149.0f, -149.0f, 1e30f, -1e30f})
        x.push_back(v);
    for (size_t i = 0; i < x.size(); ++i) y.push_back(narrow(rng));
    // Distance in ulps between two floats of the same sign (the bit patterns are ordered).
    auto ulps = [](float a, float b) -> int64_t {
        if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
        if (a == b) return 0;
        if (std::signbit(a) != std::signbit(b)) return INT64_MAX;
        return std::llabs(static_cast<int64_t>(fp32_bits(a)) - static_cast<int64_t>(fp32_bits(b)));
    };
    for (bool with_y : {false, true}) {
        std::vector<float> want(x.size());
        for (size_t i = 0; i < x.size(); ++i) want[i] = with_y ? cpu::silu(x[i]) * y[i] : cpu::silu(x[i]);
        for (cpu::Isa isa : fast_isas()) {
            REQUIRE(cpu::force_isa(isa));
            std::vector<float> got(x.size() + 1, 12345.0f);
            const int64_t n = static_cast<int64_t>(x.size());
            if (!cpu::silu_mul_fast(x.data(), with_y ? y.data() : nullptr, got.data(), n)) continue; // no kernel here
            CHECK(got[x.size()] == 12345.0f); // nothing written past n
            size_t bad = 0;
            int64_t worst = 0;
            for (size_t i = 0; i < x.size(); ++i) {
                const int64_t d = ulps(got[i], want[i]);
                worst = std::max(worst, d);
                if (d > 4 && ++bad <= 3)
                    FAIL_CHECK(std::string(cpu::isa_name(isa)) << std::string(with_y ? " silu*y" : " silu") << ": x " << x[i] << " gave "
                                                  << got[i] << ", want " << want[i]);
            }
            CHECK(bad == 0);
            MESSAGE(std::string(cpu::isa_name(isa)) << std::string(with_y ? " silu*y" : " silu") << ": worst " << worst << " ulp");
            // Every length up to two vectors and a half: the tails.
            for (int64_t m = 1; m <= 20; ++m) {
                std::vector<float> part(static_cast<size_t>(m) + 1, 777.0f);
                REQUIRE(cpu::silu_mul_fast(x.data() + 100, with_y ? y.data() + 100 : nullptr, part.data(), m));
                for (int64_t i = 0; i < m; ++i) CHECK(ulps(part[i], want[100 + i]) <= 4);
                CHECK(part[static_cast<size_t>(m)] == 777.0f);
            }
        }
    }
}

TEST_CASE("conformance: F32 to F16 stores give the reference's bits under every ISA") {
    IsaGuard guard;
    // A sweep of the whole 32-bit space, then the edges: zeros, infinities, NaNs with
    // payloads, the overflow threshold (65520), the largest half, halfway cases, and the
    // half-subnormal range down to where values round to zero.
    std::vector<float> x;
    for (uint64_t b = 0; b < (uint64_t(1) << 32); b += 4099) x.push_back(fp32_from_bits(static_cast<uint32_t>(b)));
    for (uint32_t b : {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00001u, 0x7F800001u,
                       0x7FBFFFFFu, 0x477FEFFFu, 0x477FF000u, 0x477FE000u, 0xC77FF000u, 0x33000000u, 0x33000001u,
                       0x32FFFFFFu, 0x33800000u, 0x38800000u, 0x387FE000u, 0x387FF000u, 0x3F801000u, 0x3F803000u})
        x.push_back(fp32_from_bits(b));
    std::vector<uint16_t> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = fp32_to_fp16(x[i]);
    for (cpu::Isa isa : fast_isas()) {
        REQUIRE(cpu::force_isa(isa));
        std::vector<uint16_t> got(x.size(), 0x1234);
        if (!cpu::to_f16_fast(x.data(), got.data(), static_cast<int64_t>(x.size()))) continue; // no kernel here
        size_t bad = 0;
        for (size_t i = 0; i < x.size(); ++i)
            if (got[i] != want[i] && ++bad <= 3)
                FAIL_CHECK(std::string(cpu::isa_name(isa)) << ": float bits " << fp32_bits(x[i]) << " gave " << got[i]
                                                         << ", want " << want[i]);
        CHECK(bad == 0);
        // Every length up to two vectors and a half: the tails.
        for (int64_t n = 1; n <= 20; ++n) {
            std::vector<uint16_t> part(static_cast<size_t>(n) + 1, 0xABCD);
            REQUIRE(cpu::to_f16_fast(x.data() + 1000, part.data(), n));
            CHECK(std::equal(part.begin(), part.begin() + n, want.begin() + 1000));
            CHECK(part[static_cast<size_t>(n)] == 0xABCD); // nothing written past n
        }
    }
}
