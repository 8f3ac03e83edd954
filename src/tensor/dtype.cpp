#include "tensor/dtype.h"

#include <array>
#include <cctype>

namespace corvid {
namespace {

constexpr DTypeTraits kTable[] = {
    {DType::F32, "f32", 1, 4, true},
    {DType::F16, "f16", 1, 2, true},
    {DType::Q4_0, "q4_0", 32, 18, true},
    {DType::Q4_1, "q4_1", 32, 20, true},
    {DType::Q5_0, "q5_0", 32, 22, true},
    {DType::Q5_1, "q5_1", 32, 24, true},
    {DType::Q8_0, "q8_0", 32, 34, true},
    {DType::Q8_1, "q8_1", 32, 36, true},
    {DType::Q2_K, "q2_K", 256, 84, true},
    {DType::Q3_K, "q3_K", 256, 110, true},
    {DType::Q4_K, "q4_K", 256, 144, true},
    {DType::Q5_K, "q5_K", 256, 176, true},
    {DType::Q6_K, "q6_K", 256, 210, true},
    {DType::Q8_K, "q8_K", 256, 292, true},
    {DType::IQ2_XXS, "iq2_xxs", 256, 66, false},
    {DType::IQ2_XS, "iq2_xs", 256, 74, false},
    {DType::IQ3_XXS, "iq3_xxs", 256, 98, false},
    {DType::IQ1_S, "iq1_s", 256, 50, false},
    {DType::IQ4_NL, "iq4_nl", 32, 18, true},
    {DType::IQ3_S, "iq3_s", 256, 110, false},
    {DType::IQ2_S, "iq2_s", 256, 82, false},
    {DType::IQ4_XS, "iq4_xs", 256, 136, true},
    {DType::I8, "i8", 1, 1, false},
    {DType::I16, "i16", 1, 2, false},
    {DType::I32, "i32", 1, 4, false},
    {DType::I64, "i64", 1, 8, false},
    {DType::F64, "f64", 1, 8, false},
    {DType::IQ1_M, "iq1_m", 256, 56, false},
    {DType::BF16, "bf16", 1, 2, true},
    {DType::TQ1_0, "tq1_0", 256, 54, false},
    {DType::TQ2_0, "tq2_0", 256, 66, false},
    {DType::MXFP4, "mxfp4", 32, 17, false},
    {DType::NVFP4, "nvfp4", 64, 36, false},
    {DType::Q1_0, "q1_0", 128, 18, false},
};

constexpr uint32_t kMaxId = 41;

// Index of each raw id in kTable, or -1.
constexpr std::array<int, kMaxId + 1> make_index() {
    std::array<int, kMaxId + 1> idx{};
    for (auto &i : idx) i = -1;
    for (size_t i = 0; i < sizeof(kTable) / sizeof(kTable[0]); ++i)
        idx[static_cast<uint32_t>(kTable[i].type)] = static_cast<int>(i);
    return idx;
}
constexpr auto kIndex = make_index();

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

} // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t raw_id) {
    if (raw_id > kMaxId || kIndex[raw_id] < 0) return std::nullopt;
    return kTable[kIndex[raw_id]];
}

const DTypeTraits &traits(DType t) { return kTable[kIndex[static_cast<uint32_t>(t)]]; }

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto &t : kTable)
        if (iequal(name, t.name)) return t.type;
    return std::nullopt;
}

std::optional<uint64_t> dtype_row_bytes(DType t, uint64_t n_elements) {
    const auto &tr = traits(t);
    if (n_elements % tr.block_size != 0) return std::nullopt;
    const uint64_t blocks = n_elements / tr.block_size;
    if (blocks > UINT64_MAX / tr.block_bytes) return std::nullopt;
    return blocks * tr.block_bytes;
}

const char *dtype_unknown_reason(uint32_t raw_id) {
    switch (raw_id) {
    case 4:
    case 5: return "Q4_2/Q4_3, removed from ggml in 2023; re-convert the model";
    case 31:
    case 32:
    case 33:
    case 36:
    case 37:
    case 38: return "a repacked Q4_0_x_x/IQ4_NL_x_x type, removed from ggml; re-quantize from the original model";
    default: return "not a ggml type id known to this version of Corvid";
    }
}

} // namespace corvid
