// GGUF metadata values: the thirteen value types of the format and one value of any of them.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace corvid::gguf {

// Numeric ids as stored in GGUF files.
enum class ValueType : uint32_t {
    UINT8 = 0,
    INT8 = 1,
    UINT16 = 2,
    INT16 = 3,
    UINT32 = 4,
    INT32 = 5,
    FLOAT32 = 6,
    BOOL = 7,
    STRING = 8,
    ARRAY = 9,
    UINT64 = 10,
    INT64 = 11,
    FLOAT64 = 12,
};

constexpr uint32_t kValueTypeCount = 13;

// "uint32", "string", ... ; "?" for an id outside the enum.
const char *value_type_name(ValueType t);

// Bytes one value of a fixed-size type occupies in a file; 0 for STRING and ARRAY.
size_t value_type_size(ValueType t);

bool is_integer(ValueType t);

// One metadata value. Scalars live in `scalar` (integers widened, floats as double);
// numeric arrays keep their elements packed little-endian in `raw`, exactly as the
// file stores them; string arrays in `strings`.
class Value {
public:
    Value() = default;

    static Value u8(uint8_t v) { return integer(ValueType::UINT8, v); }
    static Value i8(int8_t v) { return integer(ValueType::INT8, v); }
    static Value u16(uint16_t v) { return integer(ValueType::UINT16, v); }
    static Value i16(int16_t v) { return integer(ValueType::INT16, v); }
    static Value u32(uint32_t v) { return integer(ValueType::UINT32, v); }
    static Value i32(int32_t v) { return integer(ValueType::INT32, v); }
    static Value u64(uint64_t v);
    static Value i64(int64_t v) { return integer(ValueType::INT64, v); }
    static Value f32(float v);
    static Value f64(double v);
    static Value boolean(bool v);
    static Value string(std::string v);
    static Value string_array(std::vector<std::string> v);
    // A numeric (or bool) array from packed little-endian element bytes; `raw.size()`
    // must be count * value_type_size(elem).
    static Value numeric_array(ValueType elem, std::vector<uint8_t> raw);
    template <typename T> static Value array_of(ValueType elem, const std::vector<T> &v) {
        std::vector<uint8_t> raw(v.size() * sizeof(T));
        if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
        return numeric_array(elem, std::move(raw));
    }

    ValueType type() const { return type_; }
    ValueType elem_type() const { return elem_type_; } // arrays only
    uint64_t array_size() const;                        // 0 for scalars

    // Typed reads; nullopt when the value is of another kind or does not fit.
    std::optional<int64_t> as_int() const;     // any integer type that fits in int64
    std::optional<uint64_t> as_uint() const;   // any non-negative integer
    std::optional<double> as_float() const;    // FLOAT32 / FLOAT64
    std::optional<bool> as_bool() const;
    const std::string *as_string() const;      // nullptr unless STRING

    // Array elements (index < array_size()); same rules as the scalar reads.
    std::optional<int64_t> int_at(uint64_t i) const;
    std::optional<double> float_at(uint64_t i) const;
    const std::string *string_at(uint64_t i) const;
    const std::vector<std::string> &strings() const { return strings_; }
    const std::vector<uint8_t> &raw() const { return raw_; }

    // Scalar payload accessors used by the writer.
    uint64_t bits() const { return bits_; }

    // Text rendering for `corvid info`: arrays show at most `max_items` elements.
    std::string to_string(size_t max_items = 8) const;

private:
    static Value integer(ValueType t, int64_t v);
    // Reads element i of a numeric array as the widest type of its kind.
    uint64_t raw_elem_bits(uint64_t i) const;

    ValueType type_ = ValueType::UINT8;
    ValueType elem_type_ = ValueType::UINT8;
    uint64_t bits_ = 0; // scalar bit pattern: integers sign/zero-extended, f32/f64 as double bits
    std::string str_;
    std::vector<std::string> strings_;
    std::vector<uint8_t> raw_;
};

} // namespace corvid::gguf
