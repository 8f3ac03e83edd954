// Reference (de)quantizers against ggml's own output (tests/data/quants), plus error
// bounds and argument checks.
#include <doctest/doctest.h>

#include "quant_vectors.h"
#include "tensor/quants.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace corvid;
using namespace corvid::test;

namespace {

// Every type with a stored vector (F32 is the identity and is tested on its own).
const DType kVectorTypes[] = {DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                              DType::Q8_0, DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                              DType::Q6_K, DType::Q8_K, DType::IQ4_NL, DType::IQ4_XS};

std::vector<float> input() {
    auto x = read_array<float>(quant_data("input.f32"));
    REQUIRE(x.size() == size_t(kQuantRows) * kQuantRowLen);
    return x;
}

std::vector<uint8_t> stored_quant(DType t) { return read_bytes(quant_data(std::string(dtype_name(t)) + ".q")); }
std::vector<float> stored_dequant(DType t) { return read_array<float>(quant_data(std::string(dtype_name(t)) + ".deq")); }

size_t row_bytes(DType t, size_t n) { return *dtype_row_bytes(t, n); }

// "" when equal, else where the first difference is.
std::string first_byte_diff(DType t, const std::vector<uint8_t> &got, const std::vector<uint8_t> &want) {
    if (got.size() != want.size()) return "sizes differ";
    const size_t bb = traits(t).block_bytes;
    size_t n = 0, first = 0;
    for (size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i] && n++ == 0) first = i;
    if (n == 0) return "";
    const size_t per_row = row_bytes(t, kQuantRowLen);
    char buf[200];
    std::snprintf(buf, sizeof buf, "%zu bytes differ; first at byte %zu (row %zu, block %zu, byte %zu): got 0x%02x want 0x%02x",
                  n, first, first / per_row, (first % per_row) / bb, first % bb, got[first], want[first]);
    return buf;
}

// Bitwise equality of floats, except that any two NaNs are equal (the bits of a NaN made
// by arithmetic, e.g. inf * 0, differ between CPU architectures).
std::string first_float_diff(const std::vector<float> &got, const std::vector<float> &want) {
    if (got.size() != want.size()) return "sizes differ";
    size_t n = 0, first = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const bool same = bits_of(got[i]) == bits_of(want[i]) || (std::isnan(got[i]) && std::isnan(want[i]));
        if (!same && n++ == 0) first = i;
    }
    if (n == 0) return "";
    char buf[200];
    std::snprintf(buf, sizeof buf, "%zu values differ; first at %zu (row %zu, col %zu): got %.9g (0x%08x) want %.9g (0x%08x)",
                  n, first, first / kQuantRowLen, first % kQuantRowLen, double(got[first]), bits_of(got[first]),
                  double(want[first]), bits_of(want[first]));
    return buf;
}

double relative_rmse(const float *x, const float *y, int n) {
    double err = 0, sig = 0;
    for (int i = 0; i < n; ++i) {
        err += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
        sig += double(x[i]) * x[i];
    }
    return std::sqrt(err / sig);
}

} // namespace

TEST_CASE("quants: quantize_row reproduces ggml's bytes exactly") {
    const auto x = input();
    for (DType t : kVectorTypes) {
        CAPTURE(dtype_name(t));
        const auto want = stored_quant(t);
        REQUIRE(want.size() == row_bytes(t, x.size()));
        std::vector<uint8_t> got(want.size(), 0xAB);
        REQUIRE(quantize_row(t, x.data(), got.data(), int64_t(x.size())));
        CHECK_MESSAGE(first_byte_diff(t, got, want) == "", first_byte_diff(t, got, want));
    }
}

TEST_CASE("quants: dequantize_row reproduces ggml's floats exactly") {
    for (DType t : kVectorTypes) {
        CAPTURE(dtype_name(t));
        const auto q = stored_quant(t);
        const auto want = stored_dequant(t);
        REQUIRE(want.size() == size_t(kQuantRows) * kQuantRowLen);
        std::vector<float> got(want.size(), -12345.0f);
        REQUIRE(dequantize_row(t, q.data(), got.data(), int64_t(got.size())));
        CHECK_MESSAGE(first_float_diff(got, want) == "", first_float_diff(got, want));
    }
}

TEST_CASE("quants: rows are independent and quantized buffers need no alignment") {
    const auto x = input();
    for (DType t : kVectorTypes) {
        CAPTURE(dtype_name(t));
        const auto want = stored_quant(t);
        const auto want_f = stored_dequant(t);
        const size_t rb = row_bytes(t, kQuantRowLen);
        // One row at a time, into and out of a quantized buffer at an odd address.
        std::vector<uint8_t> qbuf(rb + 1);
        std::vector<float> got(kQuantRowLen);
        for (int r = 0; r < kQuantRows; ++r) {
            CAPTURE(r);
            uint8_t *q = qbuf.data() + 1;
            REQUIRE(quantize_row(t, x.data() + r * kQuantRowLen, q, kQuantRowLen));
            CHECK(std::memcmp(q, want.data() + r * rb, rb) == 0);
            REQUIRE(dequantize_row(t, q, got.data(), kQuantRowLen));
            const std::vector<float> exp(want_f.begin() + r * kQuantRowLen, want_f.begin() + (r + 1) * kQuantRowLen);
            CHECK(first_float_diff(got, exp) == "");
        }
    }
}

TEST_CASE("quants: F32 is the identity") {
    const auto x = input();
    std::vector<float> q(x.size()), y(x.size());
    REQUIRE(quantize_row(DType::F32, x.data(), q.data(), int64_t(x.size())));
    REQUIRE(dequantize_row(DType::F32, q.data(), y.data(), int64_t(y.size())));
    CHECK(std::memcmp(x.data(), q.data(), x.size() * 4) == 0);
    CHECK(std::memcmp(x.data(), y.data(), x.size() * 4) == 0);
}

TEST_CASE("quants: quantize -> dequantize error is within per-type bounds") {
    // Relative RMSE (||x - y|| / ||x||) per row, on the rows of ordinary data:
    // gaussian, uniform, gaussian x 500 / x 1e4, gaussian(0.5, 0.1). The bounds sit
    // about 15% above what ggml's algorithms achieve on these rows, so a quantizer
    // that loses a bit of precision, picks worse scales or mixes up levels fails.
    struct Bound {
        DType type;
        double max_rel_rmse;
    };
    const Bound bounds[] = {
        {DType::F16, 0.00028},  {DType::BF16, 0.0021}, {DType::Q8_0, 0.0063},  {DType::Q8_1, 0.0063},
        {DType::Q8_K, 0.0085},  {DType::Q6_K, 0.021},  {DType::Q5_0, 0.050},   {DType::Q5_1, 0.045},
        {DType::Q5_K, 0.042},   {DType::Q4_0, 0.100},  {DType::Q4_1, 0.088},   {DType::Q4_K, 0.082},
        {DType::IQ4_NL, 0.087}, {DType::IQ4_XS, 0.088}, {DType::Q3_K, 0.17},   {DType::Q2_K, 0.34},
    };
    const int rows[] = {0, 1, 6, 7};
    const auto x = input();
    for (const Bound &b : bounds) {
        CAPTURE(dtype_name(b.type));
        std::vector<uint8_t> q(row_bytes(b.type, kQuantRowLen));
        std::vector<float> y(kQuantRowLen);
        for (int r : rows) {
            CAPTURE(r);
            const float *xr = x.data() + r * kQuantRowLen;
            REQUIRE(quantize_row(b.type, xr, q.data(), kQuantRowLen));
            REQUIRE(dequantize_row(b.type, q.data(), y.data(), kQuantRowLen));
            const double e = relative_rmse(xr, y.data(), kQuantRowLen);
            CAPTURE(e);
            CHECK(e <= b.max_rel_rmse);
            CHECK(e > 0.0); // every one of these formats is lossy on this data
        }
    }
}

TEST_CASE("quants: all-zero blocks stay exactly zero") {
    // Row 4 starts with 256 zeros; row 3 has zero 32-blocks at blocks 0 and 16.
    const auto x = input();
    for (DType t : kVectorTypes) {
        CAPTURE(dtype_name(t));
        const int bs = int(traits(t).block_size);
        const int start = bs == 256 ? 4 * kQuantRowLen : 3 * kQuantRowLen;
        const int n = bs == 256 ? 256 : 32;
        for (int i = 0; i < n; ++i) REQUIRE(x[start + i] == 0.0f);
        std::vector<uint8_t> q(row_bytes(t, n));
        std::vector<float> y(n, 1.0f);
        REQUIRE(quantize_row(t, x.data() + start, q.data(), n));
        REQUIRE(dequantize_row(t, q.data(), y.data(), n));
        for (int i = 0; i < n; ++i) CHECK(y[i] == 0.0f);
    }
}

TEST_CASE("quants: rows that are not whole blocks are rejected, untouched") {
    std::vector<float> x(512, 0.5f);
    for (DType t : kVectorTypes) {
        CAPTURE(dtype_name(t));
        const int64_t bs = traits(t).block_size;
        std::vector<uint8_t> q(4096, 0xCD);
        std::vector<float> y(512, 7.0f);
        if (bs > 1) {
            CHECK_FALSE(quantize_row(t, x.data(), q.data(), bs + 1));
            CHECK_FALSE(quantize_row(t, x.data(), q.data(), bs - 1));
            CHECK_FALSE(dequantize_row(t, q.data(), y.data(), bs + 1));
            CHECK_FALSE(dequantize_row(t, q.data(), y.data(), 1));
        }
        CHECK_FALSE(quantize_row(t, x.data(), q.data(), -bs));
        CHECK_FALSE(dequantize_row(t, q.data(), y.data(), -bs));
        for (uint8_t b : q) REQUIRE(b == 0xCD);
        for (float f : y) REQUIRE(f == 7.0f);
        // Zero elements is a valid, empty row.
        CHECK(quantize_row(t, x.data(), q.data(), 0));
        CHECK(dequantize_row(t, q.data(), y.data(), 0));
    }
}

TEST_CASE("quants: exactly the types with has_reference are implemented") {
    std::vector<float> x(256, 0.25f), y(256);
    std::vector<uint8_t> q(1024, 0);
    int implemented = 0;
    for (uint32_t id = 0; id < 64; ++id) {
        const auto tr = dtype_traits(id);
        if (!tr) continue;
        CAPTURE(tr->name);
        // 256 elements is a whole number of blocks for every reference type.
        const bool ref = tr->has_reference;
        const int64_t n = ref ? 256 : int64_t(tr->block_size);
        CHECK(quantize_row(tr->type, x.data(), q.data(), n) == ref);
        CHECK(dequantize_row(tr->type, q.data(), y.data(), n) == ref);
        implemented += ref;
    }
    CHECK(implemented == 17); // F32, F16, BF16 and the 14 in kVectorTypes besides F16/BF16
    CHECK_FALSE(quantize_row(DType::IQ2_XXS, x.data(), q.data(), 256));
    CHECK_FALSE(dequantize_row(DType::MXFP4, q.data(), y.data(), 32));
    CHECK_FALSE(dequantize_row(DType::I8, q.data(), y.data(), 8));
}

namespace {

const DType kImatrixTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K,
                               DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};

std::vector<float> stored_imatrix() {
    auto w = read_array<float>(quant_data("imatrix.f32"));
    REQUIRE(w.size() == size_t(kQuantRowLen));
    return w;
}

} // namespace

TEST_CASE("quants: quantize_row_imatrix reproduces ggml_quantize_chunk with an imatrix") {
    const auto x = input();
    const auto w = stored_imatrix();
    for (DType t : kImatrixTypes) {
        CAPTURE(dtype_name(t));
        CHECK(uses_importance(t));
        const auto want = read_bytes(quant_data(std::string(dtype_name(t)) + ".imatrix.q"));
        const size_t rb = row_bytes(t, kQuantRowLen);
        REQUIRE(want.size() == rb * kQuantRows);
        std::vector<uint8_t> got(want.size(), 0xAB);
        for (int r = 0; r < kQuantRows; ++r)
            REQUIRE(quantize_row_imatrix(t, x.data() + size_t(r) * kQuantRowLen, got.data() + size_t(r) * rb,
                                         kQuantRowLen, w.data()));
        CHECK_MESSAGE(first_byte_diff(t, got, want) == "", first_byte_diff(t, got, want));
        // And the weights do change the result (else the test above would prove little).
        CHECK(got != stored_quant(t));
    }
}

TEST_CASE("quants: quantize_row_imatrix without weights, or for other types, is quantize_row") {
    const auto x = input();
    const auto w = stored_imatrix();
    for (DType t : kVectorTypes) {
        if (t == DType::Q8_1 || t == DType::Q8_K) continue; // activation types: never weights
        CAPTURE(dtype_name(t));
        const size_t rb = row_bytes(t, kQuantRowLen);
        std::vector<uint8_t> plain(rb), a(rb, 1), b(rb, 2);
        REQUIRE(quantize_row(t, x.data(), plain.data(), kQuantRowLen));
        REQUIRE(quantize_row_imatrix(t, x.data(), a.data(), kQuantRowLen, nullptr));
        CHECK(a == plain);
        if (!uses_importance(t)) {
            REQUIRE(quantize_row_imatrix(t, x.data(), b.data(), kQuantRowLen, w.data()));
            CHECK(b == plain);
        }
    }
    CHECK_FALSE(uses_importance(DType::Q8_0));
    CHECK_FALSE(uses_importance(DType::F16));
    // Same argument checks as quantize_row: not whole blocks -> false, nothing written.
    std::vector<uint8_t> buf(64, 0x5A);
    CHECK_FALSE(quantize_row_imatrix(DType::Q4_K, x.data(), buf.data(), 100, w.data()));
    CHECK_FALSE(quantize_row_imatrix(DType::Q4_0, x.data(), buf.data(), -32, w.data()));
    for (uint8_t v : buf) CHECK(v == 0x5A);
}
