#include "gguf/gguf_value.h"

#include "util/error.h"

#include <cinttypes>
#include <cmath>

namespace corvid::gguf {

const char *value_type_name(ValueType t) {
    switch (t) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
    }
    return "?";
}

size_t value_type_size(ValueType t) {
    switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL: return 1;
    case ValueType::UINT16:
    case ValueType::INT16: return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32: return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64: return 8;
    case ValueType::STRING:
    case ValueType::ARRAY: return 0;
    }
    return 0;
}

bool is_integer(ValueType t) {
    switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64: return true;
    default: return false;
    }
}

static bool is_signed(ValueType t) {
    return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 || t == ValueType::INT64;
}

Value Value::integer(ValueType t, int64_t v) {
    Value out;
    out.type_ = t;
    out.bits_ = static_cast<uint64_t>(v);
    return out;
}

Value Value::u64(uint64_t v) {
    Value out;
    out.type_ = ValueType::UINT64;
    out.bits_ = v;
    return out;
}

Value Value::f32(float v) {
    Value out = f64(v);
    out.type_ = ValueType::FLOAT32;
    return out;
}

Value Value::f64(double v) {
    Value out;
    out.type_ = ValueType::FLOAT64;
    std::memcpy(&out.bits_, &v, sizeof v);
    return out;
}

Value Value::boolean(bool v) {
    Value out;
    out.type_ = ValueType::BOOL;
    out.bits_ = v ? 1 : 0;
    return out;
}

Value Value::string(std::string v) {
    Value out;
    out.type_ = ValueType::STRING;
    out.str_ = std::move(v);
    return out;
}

Value Value::string_array(std::vector<std::string> v) {
    Value out;
    out.type_ = ValueType::ARRAY;
    out.elem_type_ = ValueType::STRING;
    out.strings_ = std::move(v);
    return out;
}

Value Value::numeric_array(ValueType elem, std::vector<uint8_t> raw) {
    const size_t sz = value_type_size(elem);
    if (sz == 0)
        fail(Status::invalid_argument, "an array of %s is not a numeric array", value_type_name(elem));
    if (raw.size() % sz != 0)
        fail(Status::invalid_argument, "array of %s: %zu bytes is not a whole number of elements",
             value_type_name(elem), raw.size());
    Value out;
    out.type_ = ValueType::ARRAY;
    out.elem_type_ = elem;
    out.raw_ = std::move(raw);
    return out;
}

uint64_t Value::array_size() const {
    if (type_ != ValueType::ARRAY) return 0;
    if (elem_type_ == ValueType::STRING) return strings_.size();
    return raw_.size() / value_type_size(elem_type_);
}

std::optional<int64_t> Value::as_int() const {
    if (!is_integer(type_)) return std::nullopt;
    if (type_ == ValueType::UINT64 && bits_ > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(bits_);
}

std::optional<uint64_t> Value::as_uint() const {
    if (!is_integer(type_)) return std::nullopt;
    if (is_signed(type_) && static_cast<int64_t>(bits_) < 0) return std::nullopt;
    return bits_;
}

std::optional<double> Value::as_float() const {
    if (type_ != ValueType::FLOAT32 && type_ != ValueType::FLOAT64) return std::nullopt;
    double d;
    std::memcpy(&d, &bits_, sizeof d);
    return d;
}

std::optional<bool> Value::as_bool() const {
    if (type_ != ValueType::BOOL) return std::nullopt;
    return bits_ != 0;
}

const std::string *Value::as_string() const { return type_ == ValueType::STRING ? &str_ : nullptr; }

uint64_t Value::raw_elem_bits(uint64_t i) const {
    const uint8_t *p = raw_.data() + i * value_type_size(elem_type_);
    switch (elem_type_) {
    case ValueType::UINT8:
    case ValueType::BOOL: return p[0];
    case ValueType::INT8: return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(p[0])));
    case ValueType::UINT16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case ValueType::INT16: { int16_t v; std::memcpy(&v, p, 2); return static_cast<uint64_t>(static_cast<int64_t>(v)); }
    case ValueType::UINT32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case ValueType::INT32: { int32_t v; std::memcpy(&v, p, 4); return static_cast<uint64_t>(static_cast<int64_t>(v)); }
    case ValueType::FLOAT32: { float f; std::memcpy(&f, p, 4); double d = f; uint64_t b; std::memcpy(&b, &d, 8); return b; }
    default: { uint64_t v; std::memcpy(&v, p, 8); return v; }
    }
}

std::optional<int64_t> Value::int_at(uint64_t i) const {
    if (type_ != ValueType::ARRAY || i >= array_size()) return std::nullopt;
    if (!is_integer(elem_type_) && elem_type_ != ValueType::BOOL) return std::nullopt;
    const uint64_t b = raw_elem_bits(i);
    if (elem_type_ == ValueType::UINT64 && b > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(b);
}

std::optional<double> Value::float_at(uint64_t i) const {
    if (type_ != ValueType::ARRAY || i >= array_size()) return std::nullopt;
    if (elem_type_ != ValueType::FLOAT32 && elem_type_ != ValueType::FLOAT64) return std::nullopt;
    const uint64_t b = raw_elem_bits(i);
    double d;
    std::memcpy(&d, &b, sizeof d);
    return d;
}

const std::string *Value::string_at(uint64_t i) const {
    if (type_ != ValueType::ARRAY || elem_type_ != ValueType::STRING || i >= strings_.size()) return nullptr;
    return &strings_[i];
}

// Quotes a string the way JSON does, so that control characters and quotes stay visible.
static std::string quoted(const std::string &s, size_t max_len) {
    std::string out = "\"";
    size_t n = 0;
    for (unsigned char c : s) {
        if (n++ >= max_len) {
            out += "...";
            break;
        }
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) out += strfmt("\\u%04x", c);
            else out += static_cast<char>(c);
        }
    }
    out += '"';
    return out;
}

static std::string number_text(ValueType t, uint64_t bits) {
    if (t == ValueType::FLOAT32 || t == ValueType::FLOAT64) {
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return strfmt(t == ValueType::FLOAT32 ? "%.9g" : "%.17g", d);
    }
    if (t == ValueType::BOOL) return bits ? "true" : "false";
    if (is_signed(t)) return strfmt("%" PRId64, static_cast<int64_t>(bits));
    return strfmt("%" PRIu64, bits);
}

std::string Value::to_string(size_t max_items) const {
    if (type_ == ValueType::STRING) return quoted(str_, 4096);
    if (type_ != ValueType::ARRAY) return number_text(type_, bits_);
    const uint64_t n = array_size();
    std::string out = "[";
    for (uint64_t i = 0; i < n && i < max_items; ++i) {
        if (i) out += ", ";
        out += elem_type_ == ValueType::STRING ? quoted(strings_[i], 64) : number_text(elem_type_, raw_elem_bits(i));
    }
    if (n > max_items) out += strfmt(", ... (%" PRIu64 " total)", n);
    out += "]";
    return out;
}

} // namespace corvid::gguf
