// The reader trusts nothing: one test per kind of malformed file, each built here byte
// by byte. Every case must give an Error with the right status and a message naming
// the problem — never a crash, and never an allocation sized by the bad number.
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "gguf_bytes.h"
#include "test_util.h"
#include "util/error.h"

#include <doctest/doctest.h>

#include <random>

using namespace corvid;
using namespace corvid::gguf;
using corvid::test::GgufBytes;

namespace {

// Opens `bytes` as a file (mapped and with read()) and returns the error it gives;
// fails the test if it opens fine or throws anything but corvid::Error.
Error open_error(const std::vector<uint8_t> &bytes) {
    const std::string path = test::temp_path("bad.gguf");
    test::write_bytes(path, bytes);
    std::optional<Error> first;
    for (bool mmap : {true, false}) {
        try {
            GgufFile::open(path, mmap);
            FAIL("the malformed file opened without an error");
        } catch (const Error &e) {
            if (!first) first = e;
            else CHECK(e.message() == first->message()); // same verdict either way
        }
    }
    std::remove(path.c_str());
    return *first;
}

void expect(const GgufBytes &g, Status status, const std::string &fragment) {
    const Error e = open_error(g.b);
    CAPTURE(e.message());
    CHECK(e.status() == status);
    CHECK(e.message().find(fragment) != std::string::npos);
}

// A valid file with two F32 tensors, used as the base for truncation and mutation.
std::vector<uint8_t> valid_file() {
    GgufWriter w;
    w.set("general.architecture", Value::string("llama"));
    w.set("llama.block_count", Value::u32(1));
    w.set("tokenizer.ggml.tokens", Value::string_array({"a", "bb", "ccc"}));
    w.set("tokenizer.ggml.scores", Value::array_of<float>(ValueType::FLOAT32, {0.f, -1.f, -2.f}));
    w.add_tensor("w1", DType::F32, {8, 2});
    w.add_tensor("w2", DType::Q8_0, {32});
    const std::string path = test::temp_path("valid.gguf");
    w.write(path, [](size_t, const TensorInfo &t, uint8_t *dst) { std::memset(dst, 0x11, t.n_bytes); });
    auto bytes = test::read_bytes(path);
    std::remove(path.c_str());
    return bytes;
}

} // namespace

TEST_CASE("gguf malformed: bad magic and tiny files") {
    expect(GgufBytes{}, Status::format, "only 0 bytes");
    expect(GgufBytes{}.raw("GGU", 3), Status::format, "only 3 bytes");
    expect(GgufBytes{}.raw("GGML", 4).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(0), Status::format, "magic");
    expect(GgufBytes{}.raw("GGUF", 4), Status::format, "truncated");
}

TEST_CASE("gguf malformed: unsupported versions") {
    expect(GgufBytes{}.header(1, 0, 0), Status::unsupported, "version 1");
    expect(GgufBytes{}.header(4, 0, 0), Status::unsupported, "version 4");
    expect(GgufBytes{}.header(0x03000000u, 0, 0), Status::unsupported, "big-endian");
    // Versions 2 and 3 with nothing in them are fine.
    for (uint32_t v : {2u, 3u}) {
        const std::string path = test::temp_path("empty.gguf");
        test::write_bytes(path, GgufBytes{}.header(v, 0, 0).b);
        CHECK(GgufFile::open(path)->version() == v);
        std::remove(path.c_str());
    }
}

TEST_CASE("gguf malformed: impossible counts and lengths") {
    expect(GgufBytes{}.header(3, 0, 1ull << 62), Status::format, "metadata count");
    expect(GgufBytes{}.header(3, 1ull << 62, 0), Status::format, "tensor count");
    expect(GgufBytes{}.header(3, 0, 1).put<uint64_t>(1ull << 60).zeros(8), Status::format, "string length");
    expect(GgufBytes{}.header(3, 0, 1).str("k").put<uint32_t>(8).put<uint64_t>(~0ull), Status::format,
           "string length");
    // An array whose count cannot fit in the file: numeric and string element types.
    expect(GgufBytes{}.header(3, 0, 1).str("k").put<uint32_t>(9).put<uint32_t>(6).put<uint64_t>(1ull << 61),
           Status::format, "array of");
    expect(GgufBytes{}.header(3, 0, 1).str("k").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(1ull << 40),
           Status::format, "strings cannot fit");
    // A string inside an array that runs past the end.
    expect(GgufBytes{}.header(3, 0, 1).str("k").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(1).put<uint64_t>(99),
           Status::format, "exceeds");
}

TEST_CASE("gguf malformed: bad value types") {
    expect(GgufBytes{}.header(3, 0, 1).str("k").put<uint32_t>(13).put<uint32_t>(0), Status::format,
           "not a GGUF value type");
    expect(GgufBytes{}.header(3, 0, 1).str("k").put<uint32_t>(9).put<uint32_t>(77).put<uint64_t>(0), Status::format,
           "array element type 77");
    expect(GgufBytes{}.header(3, 0, 1).str("k").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(1), Status::unsupported,
           "array of arrays");
    expect(GgufBytes{}.header(3, 0, 1).str("flag").put<uint32_t>(7).put<uint8_t>(2), Status::format,
           "bool value is 2");
    expect(GgufBytes{}.header(3, 0, 1).str("flags").put<uint32_t>(9).put<uint32_t>(7).put<uint64_t>(2).put<uint8_t>(1).put<uint8_t>(5),
           Status::format, "bool array element 1");
}

TEST_CASE("gguf malformed: duplicate keys and tensor names") {
    expect(GgufBytes{}.header(3, 0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2), Status::format, "duplicate metadata key 'a.b'");
    GgufBytes g;
    g.header(3, 2, 0).tensor("w", {4}, 0, 0).tensor("w", {4}, 0, 32).pad(32).zeros(64);
    expect(g, Status::format, "duplicate tensor name 'w'");
}

TEST_CASE("gguf malformed: alignment") {
    expect(GgufBytes{}.header(3, 0, 1).kv_u32("general.alignment", 48), Status::format, "not a power of two");
    expect(GgufBytes{}.header(3, 0, 1).kv_u32("general.alignment", 0), Status::format, "not a power of two");
    expect(GgufBytes{}.header(3, 0, 1).kv_str("general.alignment", "32"), Status::format, "must be a uint32");
    GgufBytes g;
    g.header(3, 1, 0).tensor("w", {4}, 0, 16).pad(32).zeros(64);
    expect(g, Status::format, "not a multiple of the alignment");
}

TEST_CASE("gguf malformed: tensor records") {
    {
        GgufBytes g;
        g.header(3, 1, 0).tensor("w", {1, 1, 1, 1, 1}, 0, 0);
        expect(g, Status::format, "5 dimensions");
    }
    {
        GgufBytes g;
        g.header(3, 1, 0).tensor("w", {1ull << 32, 1ull << 32}, 0, 0);
        expect(g, Status::format, "overflows");
    }
    {
        GgufBytes g;
        g.header(3, 1, 0).tensor("w", {1ull << 63}, 0, 0);
        expect(g, Status::format, "overflows");
    }
    {
        GgufBytes g; // a large but representable element count whose byte size overflows
        g.header(3, 1, 0).tensor("w", {1ull << 31, 1ull << 31}, 0, 0).pad(32);
        expect(g, Status::format, "w");
    }
    for (uint32_t bad_type : {4u, 31u, 36u, 99u, 0xffffffffu}) {
        CAPTURE(bad_type);
        GgufBytes g;
        g.header(3, 1, 0).tensor("weird", {32}, bad_type, 0).pad(32).zeros(64);
        expect(g, Status::format, "tensor 'weird' has type id " + std::to_string(bad_type));
    }
    {
        GgufBytes g;
        g.header(3, 1, 0).tensor("q", {33}, static_cast<uint32_t>(DType::Q4_0), 0).pad(32).zeros(64);
        expect(g, Status::format, "not a whole number of q4_0 blocks");
    }
}

TEST_CASE("gguf malformed: tensor data outside the file or overlapping") {
    {
        GgufBytes g; // 16 floats = 64 bytes, only 32 present
        g.header(3, 1, 0).tensor("w", {16}, 0, 0).pad(32).zeros(32);
        expect(g, Status::format, "runs past the end");
    }
    {
        GgufBytes g;
        g.header(3, 1, 0).tensor("w", {4}, 0, 1ull << 40).pad(32).zeros(32);
        expect(g, Status::format, "runs past the end");
    }
    {
        GgufBytes g; // offset + size overflows uint64
        g.header(3, 1, 0).tensor("w", {8}, 0, 0xffffffffffffffe0ull).pad(32).zeros(32);
        expect(g, Status::format, "runs past the end");
    }
    {
        GgufBytes g; // header ends but the data section is missing entirely
        g.header(3, 1, 0).tensor("w", {4}, 0, 0);
        expect(g, Status::format, "truncated");
    }
    {
        GgufBytes g; // a: bytes 0..64, b: bytes 32..96
        g.header(3, 2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad(32).zeros(96);
        expect(g, Status::format, "overlap");
    }
}

TEST_CASE("gguf malformed: every truncation of a valid file is an error, never a crash") {
    const auto good = valid_file();
    {
        const std::string path = test::temp_path("good.gguf");
        test::write_bytes(path, good);
        CHECK(GgufFile::open(path)->tensors().size() == 2);
        std::remove(path.c_str());
    }
    // The last tensor's padding is not needed, so stop before the data ends.
    for (size_t n = 0; n + 32 < good.size(); ++n) {
        CAPTURE(n);
        const Error e = open_error(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(n)));
        CHECK(e.status() == Status::format);
    }
}

TEST_CASE("gguf malformed: random byte corruption never crashes") {
    const auto good = valid_file();
    std::mt19937 rng(1234);
    const std::string path = test::temp_path("fuzz.gguf");
    int opened = 0, rejected = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        auto bytes = good;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) {
            // Mostly corrupt the header, where the structure is.
            const size_t pos = rng() % std::min<size_t>(bytes.size(), 400);
            bytes[pos] = static_cast<uint8_t>(rng() & 0xff);
        }
        test::write_bytes(path, bytes);
        try {
            auto f = GgufFile::open(path, iter % 2 == 0);
            // Whatever opened must be self-consistent.
            for (const auto &t : f->tensors()) REQUIRE(f->data_offset() + t.offset + t.n_bytes <= f->file_size());
            ++opened;
        } catch (const Error &) {
            ++rejected;
        }
    }
    std::remove(path.c_str());
    CHECK(rejected > 0);
    MESSAGE("opened " << opened << ", rejected " << rejected);
}

TEST_CASE("gguf: missing files and directories are io errors naming the path") {
    try {
        GgufFile::open("/nonexistent/model.gguf");
        FAIL("expected an error");
    } catch (const Error &e) {
        CHECK(e.status() == Status::io);
        CHECK(e.message().find("/nonexistent/model.gguf") != std::string::npos);
    }
    try {
        GgufFile::open("/tmp");
        FAIL("expected an error");
    } catch (const Error &e) {
        CHECK(e.status() == Status::io);
    }
}
