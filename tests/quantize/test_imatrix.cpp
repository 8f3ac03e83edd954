// Importance matrices: loading llama.cpp's two file formats (good files and every kind of
// bad one), and quantizing with one: byte-identical to llama.cpp's quantizer fed the same
// matrix (recorded by scripts/quantize_vs_llamacpp.py --imatrix in llamacpp.json), the
// recipes' imatrix rules, the metadata, and the errors.
#include "corvid.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "quantize/imatrix.h"
#include "quantize/quant_fixture.h"
#include "quantize/quantizer.h"
#include "test_util.h"
#include "util/error.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>

using namespace corvid;

namespace {

const std::string kGgufName = "mix.imatrix.gguf";   // scripts/make_imatrix.py on the "mix" fixture
const std::string kDatName = "fallback.imatrix.dat"; // ... and --format dat on "fallback"

std::string im_path(const std::string &name) { return test::data_path("quantize/" + name); }

Status load_status(const std::string &path, std::string *msg = nullptr) {
    try {
        quant::load_imatrix(path);
        return Status::ok;
    } catch (const Error &e) {
        if (msg) *msg = e.what();
        return e.status();
    }
}

const std::string &fixture(const std::string &name) {
    static std::map<std::string, std::string> paths;
    auto it = paths.find(name);
    if (it != paths.end()) return it->second;
    for (const auto &s : test::qfix::specs()) {
        if (name != s.name) continue;
        const std::string p = test::temp_path(std::string("imx-") + s.name + ".gguf");
        test::qfix::write_fixture(s, p);
        return paths[name] = p;
    }
    throw std::runtime_error("no fixture " + name);
}

void put_i32(std::vector<uint8_t> &b, int32_t v) {
    uint8_t x[4];
    std::memcpy(x, &v, 4);
    b.insert(b.end(), x, x + 4);
}

void put_f32(std::vector<uint8_t> &b, float v) {
    uint8_t x[4];
    std::memcpy(x, &v, 4);
    b.insert(b.end(), x, x + 4);
}

// A legacy .dat entry.
void put_entry(std::vector<uint8_t> &b, const std::string &name, int32_t ncall, const std::vector<float> &v,
               int32_t nval_override = -1) {
    put_i32(b, static_cast<int32_t>(name.size()));
    b.insert(b.end(), name.begin(), name.end());
    put_i32(b, ncall);
    put_i32(b, nval_override >= 0 ? nval_override : static_cast<int32_t>(v.size()));
    for (float x : v) put_f32(b, x);
}

Status dat_status(const std::vector<uint8_t> &bytes, std::string *msg = nullptr) {
    const std::string p = test::temp_path("bad-imatrix.dat");
    test::write_bytes(p, bytes);
    const Status s = load_status(p, msg);
    std::remove(p.c_str());
    return s;
}

// A GGUF imatrix with the given keys and tensors (name -> type, ne, values as floats).
struct GT {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    std::vector<float> v;
};

Status gguf_status(bool datasets, bool chunk_count, bool chunk_size, const std::vector<GT> &ts,
                   std::string *msg = nullptr, const char *general_type = "imatrix") {
    gguf::GgufWriter w;
    if (general_type) w.set("general.type", gguf::Value::string(general_type));
    if (datasets) w.set("imatrix.datasets", gguf::Value::string_array({"wiki"}));
    if (chunk_count) w.set("imatrix.chunk_count", gguf::Value::u32(4));
    if (chunk_size) w.set("imatrix.chunk_size", gguf::Value::u32(512));
    for (const GT &t : ts) w.add_tensor(t.name, t.type, t.ne);
    const std::string p = test::temp_path("bad-imatrix.gguf");
    w.write(p, [&](size_t i, const gguf::TensorInfo &info, uint8_t *dst) {
        std::memset(dst, 0, info.n_bytes);
        if (ts[i].type == DType::F32) std::memcpy(dst, ts[i].v.data(), std::min<size_t>(info.n_bytes, 4 * ts[i].v.size()));
    });
    const Status s = load_status(p, msg);
    std::remove(p.c_str());
    return s;
}

std::vector<float> filled(size_t n, float v) { return std::vector<float>(n, v); }

std::map<std::string, std::string> file_types(const std::string &path) {
    auto f = gguf::GgufFile::open(path);
    std::map<std::string, std::string> m;
    for (const auto &t : f->tensors()) m[t.name] = dtype_name(t.type);
    return m;
}

quant::QuantizeOptions options(const char *type, const std::string &imatrix_name) {
    quant::QuantizeOptions o;
    o.recipe.ftype = *quant::ftype_from_name(type);
    o.n_threads = 2;
    if (!imatrix_name.empty()) {
        o.imatrix = std::make_shared<const quant::Imatrix>(quant::load_imatrix(im_path(imatrix_name)));
        o.imatrix_label = imatrix_name; // what llama-quantize records when run with the bare name
    }
    return o;
}

} // namespace

TEST_CASE("imatrix: the GGUF format") {
    const quant::Imatrix m = quant::load_imatrix(im_path(kGgufName));
    CHECK_FALSE(m.legacy);
    REQUIRE(m.datasets.size() == 1);
    CHECK(m.datasets[0] == "wiki.test.raw");
    CHECK(m.chunk_count == 10);
    CHECK(m.chunk_size == 512);
    // 8 layers x 7 matrices + output.weight, minus the skipped blk.1.ffn_up.weight; never token_embd.
    CHECK(m.entries.size() == 56);
    CHECK(m.find("blk.1.ffn_up.weight") == nullptr);
    CHECK(m.find("token_embd.weight") == nullptr);
    const std::vector<float> *q = m.find("blk.3.attn_q.weight");
    REQUIRE(q);
    CHECK(q->size() == 256);
    // Values are in_sum2 / counts: the script's "mean squares" (log-normal, some zeros).
    int zeros = 0;
    for (float v : *q) {
        CHECK(std::isfinite(v));
        CHECK(v >= 0);
        zeros += v == 0;
    }
    CHECK(zeros == 4);
    REQUIRE(m.find("output.weight"));
}

TEST_CASE("imatrix: the legacy .dat format") {
    const quant::Imatrix m = quant::load_imatrix(im_path(kDatName));
    CHECK(m.legacy);
    REQUIRE(m.datasets.size() == 1);
    CHECK(m.datasets[0] == "calibration.txt");
    CHECK(m.chunk_count == 3);
    CHECK(m.entries.size() == 15); // 2 layers x 7 + token_embd (tied embeddings, --with-token-embd)
    REQUIRE(m.find("blk.0.ffn_down.weight"));
    CHECK(m.find("blk.0.ffn_down.weight")->size() == 288);
    CHECK(m.find("token_embd.weight")->size() == 256);

    // Values are divided by ncall; ncall <= 0 leaves them; the trailer is optional.
    std::vector<uint8_t> b;
    put_i32(b, 2);
    put_entry(b, "a.weight", 4, {8.0f, 2.0f});
    put_entry(b, "b.weight", 0, {3.0f});
    const std::string p = test::temp_path("imatrix-ok.dat");
    test::write_bytes(p, b);
    const quant::Imatrix s = quant::load_imatrix(p);
    CHECK(s.find("a.weight")->at(0) == 2.0f);
    CHECK(s.find("a.weight")->at(1) == 0.5f);
    CHECK(s.find("b.weight")->at(0) == 3.0f);
    CHECK(s.chunk_count == 0);
    CHECK(s.datasets.empty());
    std::remove(p.c_str());
}

TEST_CASE("imatrix: every kind of bad legacy file is a clear error") {
    std::string msg;
    CHECK(load_status("/nonexistent/imatrix.dat") == Status::io);
    CHECK(dat_status({}) == Status::format);
    CHECK(dat_status({1, 0}) == Status::format);

    // Every truncation of a good file fails cleanly (or, cut exactly before the optional
    // trailer, loads).
    const std::vector<uint8_t> good = test::read_bytes(im_path(kDatName));
    int ok = 0;
    for (size_t n = 0; n < good.size(); n += (n < 64 ? 1 : 7)) {
        CAPTURE(n);
        const Status s = dat_status(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(n)));
        CHECK((s == Status::format || s == Status::ok));
        ok += s == Status::ok;
    }
    CHECK(ok <= 1);

    std::vector<uint8_t> b;
    put_i32(b, 0x7fffffff); // absurd entry count: refused before allocating anything
    put_entry(b, "a.weight", 1, {1.0f});
    CHECK(dat_status(b, &msg) == Status::format);

    b.clear();
    put_i32(b, 1);
    put_i32(b, -5); // negative name length
    CHECK(dat_status(b) == Status::format);

    b.clear();
    put_i32(b, 1);
    put_i32(b, 1 << 30); // name longer than the file
    CHECK(dat_status(b) == Status::format);

    b.clear();
    put_i32(b, 1);
    put_entry(b, "a.weight", 1, {1.0f}, /*nval=*/1 << 28); // more values than bytes
    CHECK(dat_status(b, &msg) == Status::format);
    CHECK(msg.find("a.weight") != std::string::npos);

    b.clear();
    put_i32(b, 1);
    put_entry(b, "a.weight", 1, {}, /*nval=*/0); // no values
    CHECK(dat_status(b) == Status::format);

    b.clear();
    put_i32(b, 1);
    put_entry(b, "a.weight", 1, {1.0f, std::numeric_limits<float>::quiet_NaN()});
    CHECK(dat_status(b, &msg) == Status::format);
    CHECK(msg.find("finite") != std::string::npos);

    b.clear();
    put_i32(b, 1);
    put_entry(b, "a.weight", 1, {1.0f, -2.0f}); // negative importance
    CHECK(dat_status(b) == Status::format);

    b.clear();
    put_i32(b, 2);
    put_entry(b, "a.weight", 1, {1.0f});
    put_entry(b, "a.weight", 1, {1.0f});
    CHECK(dat_status(b, &msg) == Status::format);
    CHECK(msg.find("twice") != std::string::npos);

    b.clear();
    put_i32(b, 1);
    put_entry(b, "a.weight", 1, {1.0f});
    b.push_back(7); // stray bytes where the trailer would be
    CHECK(dat_status(b) == Status::format);
    put_i32(b, 3); // a trailer whose name length does not match what is left
    CHECK(dat_status(b) == Status::format);

    // A model file is not an importance matrix, in either reading.
    CHECK(load_status(fixture("fallback"), &msg) == Status::format);
    CHECK(msg.find("model") != std::string::npos);
    CHECK(dat_status(std::vector<uint8_t>(100, 'x')) == Status::format);
}

TEST_CASE("imatrix: every kind of bad GGUF file is a clear error") {
    std::string msg;
    const GT sums{"w.weight.in_sum2", DType::F32, {4, 1}, filled(4, 2.0f)};
    const GT counts{"w.weight.counts", DType::F32, {1, 1}, filled(1, 2.0f)};
    CHECK(gguf_status(true, true, true, {sums, counts}) == Status::ok);

    // The three keys llama-quantize requires.
    CHECK(gguf_status(false, true, true, {sums, counts}, &msg) == Status::format);
    CHECK(msg.find("imatrix.datasets") != std::string::npos);
    CHECK(gguf_status(true, false, true, {sums, counts}) == Status::format);
    CHECK(gguf_status(true, true, false, {sums, counts}) == Status::format);
    CHECK(gguf_status(true, true, true, {}, &msg) == Status::format); // no tensors

    CHECK(gguf_status(true, true, true, {sums}, &msg) == Status::format); // sums without counts
    CHECK(msg.find("w.weight.counts") != std::string::npos);
    CHECK(gguf_status(true, true, true, {counts}) == Status::format); // counts without sums
    CHECK(gguf_status(true, true, true, {{"w.weight.in_sum2", DType::F16, {4, 1}, {}}, counts}, &msg) ==
          Status::format);
    CHECK(msg.find("F32") != std::string::npos);
    CHECK(gguf_status(true, true, true, {sums, {"w.weight.counts", DType::F32, {1, 3}, filled(3, 1.0f)}}) ==
          Status::format); // 4 sums for 3 matrices
    CHECK(gguf_status(true, true, true, {sums, {"w.weight.counts", DType::F32, {1, 1}, filled(1, -1.0f)}}) ==
          Status::format);
    CHECK(gguf_status(true, true, true,
                      {sums, {"w.weight.counts", DType::F32, {1, 1}, filled(1, std::numeric_limits<float>::infinity())}}) ==
          Status::format);
    CHECK(gguf_status(true, true, true, {{"w.weight.in_sum2", DType::F32, {4, 1}, {1, 2, NAN, 4}}, counts}) ==
          Status::format);
    CHECK(gguf_status(true, true, true, {sums, counts}, &msg, "model") == Status::format);

    // A count that rounds to 0 gives importance 1 (llama-quantize's rule); 2.4 rounds to 2.
    {
        gguf::GgufWriter w;
        w.set("imatrix.datasets", gguf::Value::string_array({}));
        w.set("imatrix.chunk_count", gguf::Value::u32(0));
        w.set("imatrix.chunk_size", gguf::Value::u32(0));
        w.add_tensor("e.weight.in_sum2", DType::F32, {2, 2});
        w.add_tensor("e.weight.counts", DType::F32, {1, 2});
        const std::string p = test::temp_path("imatrix-counts.gguf");
        w.write(p, [&](size_t i, const gguf::TensorInfo &, uint8_t *dst) {
            const float s[4] = {4.0f, 6.0f, 5.0f, 7.0f}, c[2] = {2.4f, 0.3f};
            std::memcpy(dst, i == 0 ? s : c, i == 0 ? 16 : 8);
        });
        const quant::Imatrix m = quant::load_imatrix(p);
        CHECK(*m.find("e.weight") == std::vector<float>{2.0f, 3.0f, 1.0f, 1.0f});
        std::remove(p.c_str());
    }

    // Truncated GGUF imatrix files.
    const std::vector<uint8_t> good = test::read_bytes(im_path(kGgufName));
    // (The end of the file may be alignment padding, so cut inside the tensor data.)
    auto g = gguf::GgufFile::open(im_path(kGgufName));
    const gguf::TensorInfo &last = g->tensors().back();
    const size_t data_end = static_cast<size_t>(g->data_offset() + last.offset + last.n_bytes);
    for (size_t n : {size_t(3), size_t(4), size_t(20), size_t(200), good.size() / 2, data_end - 1}) {
        CAPTURE(n);
        const std::string p = test::temp_path("cut-imatrix.gguf");
        test::write_bytes(p, std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(n)));
        CHECK(load_status(p) == Status::format);
        std::remove(p.c_str());
    }
}

TEST_CASE("imatrix: quantizing with one is byte-identical to llama.cpp's (recorded)") {
    const std::string rec = test::data_path("quantize/llamacpp.json");
    std::ifstream f(rec);
    REQUIRE(f.good());
    const nlohmann::json j = nlohmann::json::parse(f);
    REQUIRE(j.contains("fixtures_imatrix"));
    int compared = 0;
    for (const auto &[fx, entry] : j.at("fixtures_imatrix").items()) {
        const std::string imatrix = entry.at("imatrix").get<std::string>();
        for (const auto &[type, want] : entry.at("types").items()) {
            CAPTURE(fx);
            CAPTURE(type);
            const std::string out = test::temp_path("imx-" + fx + "-" + type + ".gguf");
            quant::quantize_file(fixture(fx), out, options(type.c_str(), imatrix));
            const auto got_types = file_types(out);
            for (const auto &[name, t] : want.at("types").items()) {
                CAPTURE(name);
                CHECK(got_types.at(name) == t.get<std::string>());
            }
            const std::vector<uint8_t> bytes = test::read_bytes(out);
            CHECK(bytes.size() == want.at("size").get<size_t>());
            char hash[32];
            std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(test::qfix::file_hash(bytes)));
            CHECK(std::string(hash) == want.at("hash").get<std::string>());
            std::remove(out.c_str());
            ++compared;
        }
    }
    CHECK(compared >= 10);
}

TEST_CASE("imatrix: recipes, metadata and errors when quantizing") {
    const std::string out = test::temp_path("imx-out.gguf");
    std::remove(out.c_str());

    SUBCASE("the imatrix-only rules: IQ4 keeps ffn_down, Q4_0 / Q5_0 protect the first eighth") {
        quant::quantize_file(fixture("mix"), out, options("IQ4_XS", ""));
        CHECK(file_types(out).at("blk.0.ffn_down.weight") == "q5_K");
        quant::quantize_file(fixture("mix"), out, options("IQ4_XS", kGgufName));
        CHECK(file_types(out).at("blk.0.ffn_down.weight") == "iq4_xs");
        quant::quantize_file(fixture("mix"), out, options("Q4_0", ""));
        CHECK(file_types(out).at("blk.0.ffn_down.weight") == "q4_0");
        quant::quantize_file(fixture("mix"), out, options("Q4_0", kGgufName));
        CHECK(file_types(out).at("blk.0.ffn_down.weight") == "q4_1");
        CHECK(file_types(out).at("blk.1.ffn_down.weight") == "q4_0");
    }
    SUBCASE("llama-quantize's metadata keys, at the end") {
        quant::quantize_file(fixture("mix"), out, options("Q4_K_M", kGgufName));
        auto g = gguf::GgufFile::open(out);
        const auto &kv = g->metadata();
        REQUIRE(kv.size() >= 4);
        CHECK(kv[kv.size() - 4].key == "quantize.imatrix.file");
        CHECK(*kv[kv.size() - 4].value.as_string() == kGgufName);
        CHECK(*kv[kv.size() - 3].value.as_string() == "wiki.test.raw");
        CHECK(kv[kv.size() - 2].key == "quantize.imatrix.entries_count");
        CHECK(kv[kv.size() - 2].value.type() == gguf::ValueType::UINT32);
        CHECK(kv[kv.size() - 2].value.as_int() == 56);
        CHECK(kv[kv.size() - 1].key == "quantize.imatrix.chunks_count");
        CHECK(kv[kv.size() - 1].value.as_int() == 10);
    }
    SUBCASE("the weights change the bytes, and only of the tensors they are given for") {
        const std::string plain = test::temp_path("imx-plain.gguf");
        quant::quantize_file(fixture("mix"), plain, options("Q4_K_S", ""));
        quant::quantize_file(fixture("mix"), out, options("Q4_K_S", kGgufName));
        auto a = gguf::GgufFile::open(plain), b = gguf::GgufFile::open(out);
        auto bytes_of = [](const gguf::GgufFile &g, const std::string &n) {
            const auto &t = g.tensors()[static_cast<size_t>(g.tensor_index(n))];
            std::vector<uint8_t> v(t.n_bytes);
            g.read_tensor_data(t, v.data());
            return v;
        };
        CHECK(bytes_of(*a, "blk.2.attn_q.weight") != bytes_of(*b, "blk.2.attn_q.weight"));
        CHECK(bytes_of(*a, "blk.1.ffn_up.weight") == bytes_of(*b, "blk.1.ffn_up.weight")); // no entry
        CHECK(bytes_of(*a, "token_embd.weight") == bytes_of(*b, "token_embd.weight"));     // no entry
        std::remove(plain.c_str());
    }
    SUBCASE("an imatrix made for another model is refused, nothing written") {
        // fallback's ffn_down entries have 288 values; mix's rows are 256.
        try {
            quant::quantize_file(fixture("mix"), out, options("Q4_0", kDatName));
            FAIL("no error");
        } catch (const Error &e) {
            CHECK(e.status() == Status::format);
            CHECK(std::string(e.what()).find("another model") != std::string::npos);
        }
        CHECK_FALSE(test::file_exists(out));
    }
    SUBCASE("through the C API: a bad file fails before anything is written") {
        corvid_quantize_params p = corvid_quantize_default_params();
        p.ftype = CORVID_FTYPE_MOSTLY_Q4_K_M;
        const std::string junk = test::temp_path("junk-imatrix.dat");
        test::write_bytes(junk, std::vector<uint8_t>(64, 0xFF));
        p.imatrix_path = junk.c_str();
        CHECK(corvid_model_quantize(fixture("mix").c_str(), out.c_str(), &p, nullptr) == CORVID_ERR_FORMAT);
        CHECK(std::string(corvid_last_error()).find(junk) != std::string::npos);
        CHECK_FALSE(test::file_exists(out));
        std::remove(junk.c_str());
        const std::string good = im_path(kGgufName);
        p.imatrix_path = good.c_str();
        CHECK(corvid_model_quantize(fixture("mix").c_str(), out.c_str(), &p, nullptr) == CORVID_OK);
        CHECK(file_types(out).at("blk.0.attn_q.weight") == "q4_K");
    }
    SUBCASE("Q2_K needs no imatrix (as in llama.cpp: only Q2_K_S, IQ1/IQ2 do)") {
        quant::quantize_file(fixture("mix"), out, options("Q2_K", ""));
        CHECK(file_types(out).at("blk.0.attn_q.weight") == "q2_K");
    }
    std::remove(out.c_str());
}
