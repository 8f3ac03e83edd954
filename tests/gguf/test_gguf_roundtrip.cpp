// Writer → reader round trips: every value type, arrays, tensors, alignment, mmap and read().
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "test_util.h"
#include "util/error.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace corvid;
using namespace corvid::gguf;

namespace {

// Writes `w` with tensor bytes = (index * 31 + byte position) & 0xff and returns the path.
std::string write_patterned(const GgufWriter &w) {
    const std::string path = test::temp_path("rt.gguf");
    w.write(path, [](size_t index, const TensorInfo &t, uint8_t *dst) {
        for (uint64_t i = 0; i < t.n_bytes; ++i) dst[i] = static_cast<uint8_t>((index * 31 + i) & 0xff);
    });
    return path;
}

GgufWriter every_value_type() {
    GgufWriter w;
    w.set("t.u8", Value::u8(250));
    w.set("t.i8", Value::i8(-120));
    w.set("t.u16", Value::u16(65000));
    w.set("t.i16", Value::i16(-32000));
    w.set("t.u32", Value::u32(4000000000u));
    w.set("t.i32", Value::i32(-2000000000));
    w.set("t.u64", Value::u64(18000000000000000000ull));
    w.set("t.i64", Value::i64(std::numeric_limits<int64_t>::min()));
    w.set("t.f32", Value::f32(3.14159274f));
    w.set("t.f64", Value::f64(-2.718281828459045));
    w.set("t.bool", Value::boolean(true));
    w.set("t.str", Value::string(std::string("h\xc3\xa9llo\0w", 8)));
    w.set("t.empty_str", Value::string(""));
    w.set("t.arr_u8", Value::array_of<uint8_t>(ValueType::UINT8, {1, 2, 255}));
    w.set("t.arr_i8", Value::array_of<int8_t>(ValueType::INT8, {-1, 127}));
    w.set("t.arr_u16", Value::array_of<uint16_t>(ValueType::UINT16, {7, 65535}));
    w.set("t.arr_i16", Value::array_of<int16_t>(ValueType::INT16, {-7, 300}));
    w.set("t.arr_u32", Value::array_of<uint32_t>(ValueType::UINT32, {1, 4294967295u}));
    w.set("t.arr_i32", Value::array_of<int32_t>(ValueType::INT32, {-5, 6, 7}));
    w.set("t.arr_u64", Value::array_of<uint64_t>(ValueType::UINT64, {1, 18446744073709551615ull}));
    w.set("t.arr_i64", Value::array_of<int64_t>(ValueType::INT64, {-9, 9}));
    w.set("t.arr_f32", Value::array_of<float>(ValueType::FLOAT32, {0.5f, -1e30f, INFINITY}));
    w.set("t.arr_f64", Value::array_of<double>(ValueType::FLOAT64, {1e-300, -0.0}));
    w.set("t.arr_bool", Value::array_of<uint8_t>(ValueType::BOOL, {1, 0, 1}));
    w.set("t.arr_str", Value::string_array({"a", "", "\xf0\x9f\x90\xa6 crow", std::string("x\0y", 3)}));
    w.set("t.arr_empty", Value::array_of<int32_t>(ValueType::INT32, {}));
    w.set("t.arr_str_empty", Value::string_array({}));
    return w;
}

void check_every_value_type(const GgufFile &f) {
    CHECK(f.find("t.u8")->as_int() == 250);
    CHECK(f.find("t.u8")->type() == ValueType::UINT8);
    CHECK(f.find("t.i8")->as_int() == -120);
    CHECK(f.find("t.u16")->as_int() == 65000);
    CHECK(f.find("t.i16")->as_int() == -32000);
    CHECK(f.find("t.u32")->as_int() == 4000000000ll);
    CHECK(f.find("t.i32")->as_int() == -2000000000);
    CHECK(f.find("t.u64")->as_uint() == 18000000000000000000ull);
    CHECK(!f.find("t.u64")->as_int().has_value()); // does not fit in int64
    CHECK(f.find("t.i64")->as_int() == std::numeric_limits<int64_t>::min());
    CHECK(!f.find("t.i64")->as_uint().has_value());
    CHECK(f.find("t.f32")->type() == ValueType::FLOAT32);
    CHECK(static_cast<float>(*f.find("t.f32")->as_float()) == 3.14159274f);
    CHECK(*f.find("t.f64")->as_float() == -2.718281828459045);
    CHECK(f.find("t.bool")->as_bool() == true);
    CHECK(*f.find("t.str")->as_string() == std::string("h\xc3\xa9llo\0w", 8));
    CHECK(f.find("t.empty_str")->as_string()->empty());
    CHECK(!f.find("t.str")->as_int().has_value());

    const Value &au8 = *f.find("t.arr_u8");
    CHECK(au8.type() == ValueType::ARRAY);
    CHECK(au8.elem_type() == ValueType::UINT8);
    CHECK(au8.array_size() == 3);
    CHECK(au8.int_at(2) == 255);
    CHECK(!au8.int_at(3).has_value());
    CHECK(f.find("t.arr_i8")->int_at(0) == -1);
    CHECK(f.find("t.arr_u16")->int_at(1) == 65535);
    CHECK(f.find("t.arr_i16")->int_at(0) == -7);
    CHECK(f.find("t.arr_u32")->int_at(1) == 4294967295ll);
    CHECK(f.find("t.arr_i32")->int_at(2) == 7);
    CHECK(f.find("t.arr_u64")->int_at(0) == 1);
    CHECK(!f.find("t.arr_u64")->int_at(1).has_value());
    CHECK(f.find("t.arr_i64")->int_at(0) == -9);
    CHECK(f.find("t.arr_f32")->float_at(1) == static_cast<double>(-1e30f));
    CHECK(std::isinf(*f.find("t.arr_f32")->float_at(2)));
    CHECK(f.find("t.arr_f64")->float_at(0) == 1e-300);
    CHECK(std::signbit(*f.find("t.arr_f64")->float_at(1)));
    CHECK(f.find("t.arr_bool")->elem_type() == ValueType::BOOL);
    CHECK(f.find("t.arr_bool")->int_at(1) == 0);
    const Value &as = *f.find("t.arr_str");
    CHECK(as.elem_type() == ValueType::STRING);
    CHECK(as.array_size() == 4);
    CHECK(*as.string_at(2) == "\xf0\x9f\x90\xa6 crow");
    CHECK(*as.string_at(3) == std::string("x\0y", 3));
    CHECK(as.string_at(4) == nullptr);
    CHECK(f.find("t.arr_empty")->array_size() == 0);
    CHECK(f.find("t.arr_str_empty")->array_size() == 0);
}

} // namespace

TEST_CASE("gguf: every value type survives a write and a read, mapped and not") {
    GgufWriter w = every_value_type();
    const std::string path = write_patterned(w);
    for (bool mmap : {true, false}) {
        CAPTURE(mmap);
        auto f = GgufFile::open(path, mmap);
        CHECK(f->is_mapped() == mmap);
        CHECK(f->version() == 3);
        CHECK(f->metadata().size() == w.metadata().size());
        for (size_t i = 0; i < w.metadata().size(); ++i) CHECK(f->metadata()[i].key == w.metadata()[i].key);
        check_every_value_type(*f);
        CHECK(f->tensors().empty());
    }
    std::remove(path.c_str());
}

TEST_CASE("gguf: tensors keep names, types, shapes, offsets and bytes; alignment is honoured") {
    for (uint32_t align : {32u, 64u, 1u, 4096u}) {
        CAPTURE(align);
        GgufWriter w;
        w.set("general.architecture", Value::string("llama"));
        if (align != 32) w.set(kAlignmentKey, Value::u32(align));
        w.add_tensor("a", DType::F32, {5, 3});
        w.add_tensor("b.q4_0", DType::Q4_0, {64, 2});
        w.add_tensor("c.q4_K", DType::Q4_K, {256});
        w.add_tensor("d.f16", DType::F16, {7, 1, 2, 3});
        w.add_tensor("e.bf16", DType::BF16, {1});
        const std::string path = write_patterned(w);
        for (bool mmap : {true, false}) {
            auto f = GgufFile::open(path, mmap);
            CHECK(f->alignment() == align);
            CHECK(f->data_offset() % align == 0);
            REQUIRE(f->tensors().size() == 5);
            const TensorInfo &b = f->tensors()[1];
            CHECK(b.name == "b.q4_0");
            CHECK(b.type == DType::Q4_0);
            CHECK(b.n_dims == 2);
            CHECK(b.ne[0] == 64);
            CHECK(b.ne[1] == 2);
            CHECK(b.n_bytes == 4 * 18);
            const TensorInfo &d = f->tensors()[3];
            CHECK(d.n_dims == 4);
            CHECK(d.n_elements() == 42);
            CHECK(d.n_bytes == 84);
            CHECK(f->tensors()[2].n_bytes == 144);
            CHECK(f->tensor_index("e.bf16") == 4);
            CHECK(f->tensor_index("zz") == -1);
            for (size_t i = 0; i < f->tensors().size(); ++i) {
                const TensorInfo &t = f->tensors()[i];
                CHECK(t.offset % align == 0);
                std::vector<uint8_t> bytes(t.n_bytes);
                f->read_tensor_data(t, bytes.data());
                for (uint64_t k = 0; k < t.n_bytes; ++k)
                    REQUIRE(bytes[k] == static_cast<uint8_t>((i * 31 + k) & 0xff));
                if (mmap) CHECK(std::memcmp(f->tensor_data(t), bytes.data(), t.n_bytes) == 0);
                else CHECK(f->tensor_data(t) == nullptr);
            }
        }
        std::remove(path.c_str());
    }
}

TEST_CASE("gguf writer: refuses what llama.cpp could not read, and leaves no partial file") {
    GgufWriter w;
    CHECK_THROWS_AS(w.add_tensor(std::string(64, 'n'), DType::F32, {1}), Error);
    CHECK_THROWS_AS(w.add_tensor("q", DType::Q4_0, {33}), Error);
    CHECK_THROWS_AS(w.add_tensor("five", DType::F32, {1, 1, 1, 1, 1}), Error);
    CHECK_THROWS_AS(w.add_tensor("neg", DType::F32, {-1}), Error);
    CHECK_THROWS_AS(w.set(kAlignmentKey, Value::u32(48)), Error);
    CHECK_THROWS_AS(w.set(kAlignmentKey, Value::u64(64)), Error);
    w.add_tensor("ok", DType::F32, {4});
    CHECK_THROWS_AS(w.add_tensor("ok", DType::F32, {4}), Error);
    CHECK_THROWS_AS(w.set(kAlignmentKey, Value::u32(64)), Error); // after tensors

    // A fill callback that fails: the target must not exist afterwards, nor any temp file.
    const std::string path = test::temp_path("partial.gguf");
    CHECK_THROWS(w.write(path, [](size_t, const TensorInfo &, uint8_t *) { throw Error(Status::io, "boom"); }));
    CHECK(!test::file_exists(path));
    CHECK(!test::file_exists(path + ".tmp" + std::to_string(::getpid())));

    // An unwritable destination is an io error, not a crash.
    try {
        w.write("/nonexistent-dir/x.gguf", [](size_t, const TensorInfo &, uint8_t *) {});
        FAIL("expected an error");
    } catch (const Error &e) {
        CHECK(e.status() == Status::io);
        CHECK(std::string(e.what()).find("/nonexistent-dir/x.gguf") != std::string::npos);
    }
}

TEST_CASE("gguf writer: set() replaces in place and remove() deletes") {
    GgufWriter w;
    w.set("a", Value::u32(1));
    w.set("b", Value::u32(2));
    w.set("a", Value::string("x"));
    REQUIRE(w.metadata().size() == 2);
    CHECK(w.metadata()[0].key == "a");
    CHECK(*w.find("a")->as_string() == "x");
    w.remove("a");
    CHECK(w.find("a") == nullptr);
    CHECK(w.metadata().size() == 1);
}

TEST_CASE("gguf value: text rendering summarises long arrays and escapes strings") {
    CHECK(Value::string("a\"b\n").to_string() == "\"a\\\"b\\n\"");
    CHECK(Value::array_of<int32_t>(ValueType::INT32, {1, 2, 3, 4}).to_string(2) == "[1, 2, ... (4 total)]");
    CHECK(Value::boolean(false).to_string() == "false");
    CHECK(Value::i8(-3).to_string() == "-3");
    CHECK(Value::u64(18446744073709551615ull).to_string() == "18446744073709551615");
}
