// fp32 <-> fp16 / bf16 conversions (tensor/fp16.h) against ggml's (tests/data/quants).
#include <doctest/doctest.h>

#include "quant_vectors.h"
#include "tensor/fp16.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <limits>

using namespace corvid;
using namespace corvid::test;

namespace {
std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}
} // namespace

TEST_CASE("fp16: fp32 -> fp16 hand-picked cases") {
    const float inf = std::numeric_limits<float>::infinity();
    CHECK(fp32_to_fp16(0.0f) == 0x0000);
    CHECK(fp32_to_fp16(-0.0f) == 0x8000);
    CHECK(fp32_to_fp16(1.0f) == 0x3C00);
    CHECK(fp32_to_fp16(-2.0f) == 0xC000);
    CHECK(fp32_to_fp16(65504.0f) == 0x7BFF);         // max finite
    CHECK(fp32_to_fp16(65519.99f) == 0x7BFF);        // just below the tie
    CHECK(fp32_to_fp16(65520.0f) == 0x7C00);         // tie with 65536: even -> overflow to inf
    CHECK(fp32_to_fp16(-1e10f) == 0xFC00);
    CHECK(fp32_to_fp16(inf) == 0x7C00);
    CHECK(fp32_to_fp16(std::ldexp(1.0f, -14)) == 0x0400); // min normal
    CHECK(fp32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001); // min subnormal
    CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000); // tie with 0: even
    CHECK(fp32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002); // 1.5 units: tie -> 2
    CHECK(fp32_to_fp16(std::ldexp(5.0f, -25)) == 0x0002); // 2.5 units: tie -> 2
    CHECK(fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
    CHECK(fp32_to_fp16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)) == 0x0400); // rounds up into the normals
    CHECK(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);       // tie: even
    CHECK(fp32_to_fp16(1.0f + std::ldexp(3.0f, -11)) == 0x3C02);       // tie: even
    CHECK(fp32_to_fp16(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)) == 0x3C01);
    CHECK(fp32_to_fp16(1e-45f) == 0x0000); // float subnormal
    CHECK(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()) == 0x7E00);
    CHECK(fp32_to_fp16(-std::numeric_limits<float>::quiet_NaN()) == 0xFE00);
    CHECK(fp32_to_fp16(fp32_from_bits(0x7F800001u)) == 0x7E00); // payload dropped, quiet
}

TEST_CASE("fp16: fp32 -> fp16 and bf16 match ggml on edge cases and random bit patterns") {
    const auto in = read_array<float>(quant_data("conv_input.f32"));
    const auto h = read_array<uint16_t>(quant_data("conv_fp16.u16"));
    const auto bf = read_array<uint16_t>(quant_data("conv_bf16.u16"));
    REQUIRE(in.size() > 4000);
    REQUIRE(h.size() == in.size());
    REQUIRE(bf.size() == in.size());
    int bad_h = 0, bad_bf = 0;
    for (size_t i = 0; i < in.size(); ++i) {
        if (fp32_to_fp16(in[i]) != h[i] && bad_h++ < 5)
            FAIL_CHECK("fp16 of " << hex(bits_of(in[i])) << ": got " << hex(fp32_to_fp16(in[i])) << " want " << hex(h[i]));
        if (fp32_to_bf16(in[i]) != bf[i] && bad_bf++ < 5)
            FAIL_CHECK("bf16 of " << hex(bits_of(in[i])) << ": got " << hex(fp32_to_bf16(in[i])) << " want " << hex(bf[i]));
    }
    CHECK(bad_h == 0);
    CHECK(bad_bf == 0);
}

TEST_CASE("fp16: fp16 -> fp32 matches ggml for all 65536 halves and round-trips") {
    const auto want = read_array<float>(quant_data("fp16_all.f32"));
    REQUIRE(want.size() == 65536);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_fp32(uint16_t(h));
        if (bits_of(f) != bits_of(want[h]) && bad++ < 5)
            FAIL_CHECK("half " << hex(h) << ": got " << hex(bits_of(f)) << " want " << hex(bits_of(want[h])));
        // Narrowing back is exact except that NaNs become the canonical quiet NaN.
        const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0;
        const uint16_t back = nan ? uint16_t((h & 0x8000) | 0x7E00) : uint16_t(h);
        if (fp32_to_fp16(f) != back && bad++ < 5) FAIL_CHECK("round trip of half " << hex(h));
    }
    CHECK(bad == 0);
}

TEST_CASE("fp16: bf16 conversions") {
    CHECK(fp32_to_bf16(1.0f) == 0x3F80);
    CHECK(fp32_to_bf16(fp32_from_bits(0x3F808000u)) == 0x3F80); // tie: even (down)
    CHECK(fp32_to_bf16(fp32_from_bits(0x3F818000u)) == 0x3F82); // tie: even (up)
    CHECK(fp32_to_bf16(fp32_from_bits(0x3F808001u)) == 0x3F81);
    CHECK(fp32_to_bf16(fp32_from_bits(0x7F7FFFFFu)) == 0x7F80);  // FLT_MAX rounds to inf
    CHECK(fp32_to_bf16(fp32_from_bits(0x00000001u)) == 0x0000);  // subnormals round, not flush
    CHECK(fp32_to_bf16(fp32_from_bits(0x00008000u)) == 0x0000);  // tie: even
    CHECK(fp32_to_bf16(fp32_from_bits(0x00018000u)) == 0x0002);
    CHECK(fp32_to_bf16(fp32_from_bits(0x7F800001u)) == 0x7FC0);  // NaN made quiet
    CHECK(fp32_to_bf16(fp32_from_bits(0xFFC12345u)) == 0xFFC1);  // NaN payload's top kept
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = bf16_to_fp32(uint16_t(h));
        REQUIRE(bits_of(f) == h << 16);
        const bool nan = (h & 0x7F80) == 0x7F80 && (h & 0x007F) != 0;
        REQUIRE(fp32_to_bf16(f) == (nan ? (h | 0x40) : h));
    }
}
