// Tensor element types: ids, names and block geometry, bit-compatible with ggml.
//
// The numeric ids are the ones GGUF files store (ggml's `enum ggml_type`), so a
// value read from a file is cast to DType only after dtype_traits() accepted it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace corvid {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    // 4 and 5 were Q4_2 / Q4_3, removed from ggml long ago.
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    // 31..33 and 36..38 were the repacked Q4_0_x_x / IQ4_NL_x_x types, removed from ggml.
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
};

struct DTypeTraits {
    DType type;
    const char *name;     // ggml's spelling: "q4_K", "bf16", ...
    uint32_t block_size;  // elements per block (1 for plain scalar types)
    uint32_t block_bytes; // bytes per block
    // True when src/tensor has a scalar reference (de)quantizer for this type,
    // i.e. Corvid can compute with it. The others are still laid out correctly so
    // that files holding them can be inspected.
    bool has_reference;
};

// Traits of a raw type id as stored in a file; nullopt for ids ggml never had or removed.
std::optional<DTypeTraits> dtype_traits(uint32_t raw_id);

// Traits of a known type (never fails).
const DTypeTraits &traits(DType t);

inline const char *dtype_name(DType t) { return traits(t).name; }

// Parses a type name, case-insensitively ("Q4_K", "q4_k", "bf16").
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes that `n_elements` of type `t` occupy; nullopt when n_elements is not a
// whole number of blocks or the size overflows.
std::optional<uint64_t> dtype_row_bytes(DType t, uint64_t n_elements);

// A human-readable explanation for a raw id that dtype_traits() rejected.
const char *dtype_unknown_reason(uint32_t raw_id);

} // namespace corvid
