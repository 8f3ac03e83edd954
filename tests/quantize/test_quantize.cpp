// The quantizer: recipes (which tensor gets which type), fallbacks, errors, a round trip
// through a generated model, and byte identity with llama.cpp's quantizer (against the
// record scripts/quantize_vs_llamacpp.py made in tests/data/quantize/llamacpp.json).
#include "corvid.h"
#include "gguf/gguf_file.h"
#include "quantize/quant_fixture.h"
#include "quantize/quantizer.h"
#include "quantize/recipe.h"
#include "tensor/quants.h"
#include "test_util.h"
#include "util/error.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

using namespace corvid;
using namespace corvid::quant;
namespace qfix = corvid::test::qfix;

namespace {

// A llama-7B-like tensor list (32 layers, no GQA), for the recipe tests.
std::vector<std::string> llama_names(int n_layer, bool tied = false) {
    std::vector<std::string> n = {"token_embd.weight", "output_norm.weight"};
    if (!tied) n.push_back("output.weight");
    for (int l = 0; l < n_layer; ++l)
        for (const char *s : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                              "ffn_up", "ffn_down"})
            n.push_back("blk." + std::to_string(l) + "." + s + ".weight");
    return n;
}

struct Shape {
    int64_t n_embd = 4096, n_ff = 11008, n_vocab = 32000, n_kv = 4096;
};

void shape_of(const std::string &name, const Shape &s, int64_t ne[4]) {
    ne[0] = s.n_embd, ne[1] = s.n_embd, ne[2] = 1, ne[3] = 1;
    if (name.find("_norm") != std::string::npos) ne[1] = 1;
    else if (name == "token_embd.weight" || name == "output.weight") ne[1] = s.n_vocab;
    else if (name.find("attn_k.") != std::string::npos || name.find("attn_v.") != std::string::npos) ne[1] = s.n_kv;
    else if (name.find("ffn_down") != std::string::npos) ne[0] = s.n_ff;
    else if (name.find("ffn_") != std::string::npos) ne[1] = s.n_ff;
}

// name -> type for a whole model, choosing in llama.cpp's order.
std::map<std::string, DType> plan_types(FType f, const ModelFacts &facts, const std::vector<std::string> &names,
                                        const Shape &shape = {}, RecipeOptions opt = {}) {
    opt.ftype = f;
    Recipe r(facts, opt, names);
    std::map<std::string, DType> out;
    for (size_t i : llama_order(names)) {
        int64_t ne[4];
        shape_of(names[i], shape, ne);
        out[names[i]] = r.choose(names[i], DType::F16, ne).type;
    }
    return out;
}

ModelFacts llama7b() {
    ModelFacts m;
    m.arch = "llama";
    m.n_layer = 32;
    m.n_head = m.n_head_kv = 32;
    return m;
}

std::string blk(int l, const char *s) { return "blk." + std::to_string(l) + "." + s + ".weight"; }

// The fixtures, written once per test run.
const std::string &fixture_path(const std::string &name) {
    static std::map<std::string, std::string> paths;
    auto it = paths.find(name);
    if (it != paths.end()) return it->second;
    for (const auto &s : qfix::specs()) {
        if (name != s.name) continue;
        const std::string p = test::temp_path(std::string("qfix-") + s.name + ".gguf");
        qfix::write_fixture(s, p);
        return paths[name] = p;
    }
    throw std::runtime_error("no fixture " + name);
}

corvid_status quantize(const std::string &in, const std::string &out, const char *type,
                       corvid_quantize_params p = corvid_quantize_default_params()) {
    REQUIRE(corvid_ftype_from_name(type, &p.ftype) == CORVID_OK);
    p.n_threads = 2;
    return corvid_model_quantize(in.c_str(), out.c_str(), &p, nullptr);
}

std::map<std::string, std::string> file_types(const std::string &path) {
    auto f = gguf::GgufFile::open(path);
    std::map<std::string, std::string> m;
    for (const auto &t : f->tensors()) m[t.name] = dtype_name(t.type);
    return m;
}

std::vector<float> dequantized(const gguf::GgufFile &f, const std::string &name) {
    const auto &t = f.tensors()[static_cast<size_t>(f.tensor_index(name))];
    std::vector<uint8_t> raw(t.n_bytes);
    f.read_tensor_data(t, raw.data());
    std::vector<float> v(static_cast<size_t>(t.n_elements()));
    REQUIRE(dequantize_row(t.type, raw.data(), v.data(), t.n_elements()));
    return v;
}

} // namespace

TEST_CASE("quantize: export fixtures") {
    // For scripts/quantize_vs_llamacpp.py: write the fixtures where it asks, then stop.
    const char *dir = std::getenv("CORVID_QUANT_EXPORT_DIR");
    if (!dir) return;
    for (const auto &s : qfix::specs()) qfix::write_fixture(s, std::string(dir) + "/" + s.name + ".gguf");
}

TEST_CASE("quantize: file type names and values are llama.cpp's") {
    CHECK(ftype_from_name("q4_k_m") == FType::MOSTLY_Q4_K_M);
    CHECK(ftype_from_name("Q4_K") == FType::MOSTLY_Q4_K_M);
    CHECK(ftype_from_name("bf16") == FType::MOSTLY_BF16);
    CHECK_FALSE(ftype_from_name("Q4_K_X"));
    CHECK(static_cast<int>(FType::MOSTLY_Q8_0) == 7);
    CHECK(static_cast<int>(FType::MOSTLY_Q5_0) == 8);
    CHECK(static_cast<int>(FType::MOSTLY_IQ4_XS) == 30);
    CHECK(std::string(corvid_ftype_name(CORVID_FTYPE_MOSTLY_Q3_K_L)) == "Q3_K_L");
    CHECK(corvid_ftype_name(4) == nullptr);
    corvid_ftype f;
    CHECK(corvid_ftype_from_name("Q9_9", &f) == CORVID_ERR_INVALID_ARGUMENT);
    const std::string msg = corvid_last_error();
    CHECK(msg.find("Q9_9") != std::string::npos);
    CHECK(msg.find("Q4_K_M") != std::string::npos); // lists the valid names
}

TEST_CASE("quantize: which tensors are quantized at all") {
    const int64_t mat[4] = {4096, 4096, 1, 1}, vec[4] = {4096, 1, 1, 1}, col[4] = {4096, 1, 1, 1};
    CHECK(allows_quantization("blk.0.attn_q.weight", mat, "llama"));
    CHECK_FALSE(allows_quantization("blk.0.attn_norm.weight", vec, "llama"));
    CHECK_FALSE(allows_quantization("blk.0.attn_norm.weight", mat, "llama")); // norms never, whatever the shape
    CHECK_FALSE(allows_quantization("blk.0.attn_q.bias", mat, "llama"));
    CHECK_FALSE(allows_quantization("blk.0.ffn_gate_inp.weight", mat, "llama"));
    CHECK_FALSE(allows_quantization("position_embd.weight", mat, "bert"));
    CHECK_FALSE(allows_quantization("rope_freqs.weight", col, "llama"));
    const int64_t experts[4] = {4096, 14336, 8, 1};
    CHECK(allows_quantization("blk.0.ffn_down_exps.weight", experts, "llama"));
}

TEST_CASE("quantize: llama.cpp's tensor order") {
    const std::vector<std::string> n = {"token_embd.weight", "blk.10.attn_q.weight", "blk.2.ffn_up.weight",
                                        "blk.2.attn_q.weight", "output.weight", "output_norm.weight"};
    std::vector<std::string> got;
    for (size_t i : llama_order(n)) got.push_back(n[i]);
    CHECK(got == std::vector<std::string>{"output.weight", "output_norm.weight", "token_embd.weight",
                                          "blk.2.attn_q.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight"});
}

TEST_CASE("quantize: Q4_K_M recipe on a llama-7B shape") {
    const auto t = plan_types(FType::MOSTLY_Q4_K_M, llama7b(), llama_names(32));
    CHECK(t.at("token_embd.weight") == DType::Q4_K);
    CHECK(t.at("output.weight") == DType::Q6_K);
    CHECK(t.at("output_norm.weight") == DType::F16); // untouched: keeps its (here F16) type
    // use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2.
    std::vector<int> more;
    for (int l = 0; l < 32; ++l) {
        const DType v = t.at(blk(l, "attn_v")), d = t.at(blk(l, "ffn_down"));
        CHECK(v == d);
        if (v == DType::Q6_K) more.push_back(l);
        else CHECK(v == DType::Q4_K);
        CHECK(t.at(blk(l, "attn_q")) == DType::Q4_K);
        CHECK(t.at(blk(l, "attn_k")) == DType::Q4_K);
        CHECK(t.at(blk(l, "attn_output")) == DType::Q4_K);
        CHECK(t.at(blk(l, "ffn_gate")) == DType::Q4_K);
        CHECK(t.at(blk(l, "ffn_up")) == DType::Q4_K);
    }
    CHECK(more == std::vector<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31});
}

TEST_CASE("quantize: the other mixes on a llama-7B shape") {
    const auto names = llama_names(32);
    SUBCASE("Q3_K_M") {
        const auto t = plan_types(FType::MOSTLY_Q3_K_M, llama7b(), names);
        CHECK(t.at(blk(0, "attn_v")) == DType::Q5_K);
        CHECK(t.at(blk(1, "attn_v")) == DType::Q5_K);
        CHECK(t.at(blk(2, "attn_v")) == DType::Q4_K);
        CHECK(t.at(blk(1, "ffn_down")) == DType::Q5_K); // i < 32/16
        CHECK(t.at(blk(2, "ffn_down")) == DType::Q4_K);
        CHECK(t.at(blk(5, "attn_output")) == DType::Q4_K);
        CHECK(t.at(blk(5, "attn_q")) == DType::Q3_K);
        CHECK(t.at("output.weight") == DType::Q6_K);
        CHECK(t.at("token_embd.weight") == DType::Q3_K);
    }
    SUBCASE("Q3_K_S / Q3_K_L") {
        const auto s = plan_types(FType::MOSTLY_Q3_K_S, llama7b(), names);
        CHECK(s.at(blk(0, "attn_v")) == DType::Q3_K);
        CHECK(s.at(blk(0, "ffn_down")) == DType::Q3_K);
        const auto l = plan_types(FType::MOSTLY_Q3_K_L, llama7b(), names);
        CHECK(l.at(blk(7, "attn_v")) == DType::Q5_K);
        CHECK(l.at(blk(7, "ffn_down")) == DType::Q5_K);
        CHECK(l.at(blk(7, "attn_output")) == DType::Q5_K);
        CHECK(l.at(blk(7, "ffn_up")) == DType::Q3_K);
    }
    SUBCASE("Q2_K") {
        const auto t = plan_types(FType::MOSTLY_Q2_K, llama7b(), names);
        CHECK(t.at(blk(3, "attn_v")) == DType::Q3_K); // n_gqa 1
        CHECK(t.at(blk(3, "ffn_down")) == DType::Q3_K);
        CHECK(t.at(blk(3, "attn_output")) == DType::Q3_K);
        CHECK(t.at(blk(3, "attn_q")) == DType::Q2_K);
        ModelFacts gqa = llama7b();
        gqa.n_head_kv = 8;
        CHECK(plan_types(FType::MOSTLY_Q2_K, gqa, names).at(blk(3, "attn_v")) == DType::Q4_K);
    }
    SUBCASE("Q4_K_S") {
        const auto t = plan_types(FType::MOSTLY_Q4_K_S, llama7b(), names);
        CHECK(t.at(blk(3, "attn_v")) == DType::Q5_K);
        CHECK(t.at(blk(4, "attn_v")) == DType::Q4_K);
        CHECK(t.at(blk(3, "ffn_down")) == DType::Q5_K); // i < 32/8
        CHECK(t.at(blk(4, "ffn_down")) == DType::Q4_K);
    }
    SUBCASE("Q5_K_S / Q5_K_M / Q6_K") {
        const auto s = plan_types(FType::MOSTLY_Q5_K_S, llama7b(), names);
        CHECK(s.at(blk(0, "attn_v")) == DType::Q5_K);
        const auto m = plan_types(FType::MOSTLY_Q5_K_M, llama7b(), names);
        CHECK(m.at(blk(0, "attn_v")) == DType::Q6_K);
        CHECK(m.at(blk(4, "ffn_down")) == DType::Q5_K);
        CHECK(m.at(blk(6, "ffn_down")) == DType::Q6_K);
        const auto q6 = plan_types(FType::MOSTLY_Q6_K, llama7b(), names);
        CHECK(q6.at("output.weight") == DType::Q6_K);
        CHECK(q6.at(blk(0, "attn_v")) == DType::Q6_K);
    }
    SUBCASE("legacy and IQ4 types") {
        const auto q4 = plan_types(FType::MOSTLY_Q4_0, llama7b(), names);
        CHECK(q4.at("output.weight") == DType::Q6_K); // llama.cpp gives the output Q6_K
        CHECK(q4.at("token_embd.weight") == DType::Q4_0);
        CHECK(q4.at(blk(0, "ffn_down")) == DType::Q4_0);
        const auto q8 = plan_types(FType::MOSTLY_Q8_0, llama7b(), names);
        CHECK(q8.at("output.weight") == DType::Q8_0);
        const auto nl = plan_types(FType::MOSTLY_IQ4_NL, llama7b(), names);
        CHECK(nl.at(blk(0, "ffn_down")) == DType::Q5_K); // i < 32/8
        CHECK(nl.at(blk(4, "ffn_down")) == DType::IQ4_NL);
        CHECK(nl.at(blk(4, "attn_v")) == DType::IQ4_NL); // n_gqa 1
    }
    SUBCASE("F16 / BF16 / F32: every weight matrix, output and embeddings included") {
        const auto t = plan_types(FType::MOSTLY_BF16, llama7b(), names);
        CHECK(t.at("output.weight") == DType::BF16);
        CHECK(t.at("token_embd.weight") == DType::BF16);
        CHECK(t.at(blk(0, "attn_v")) == DType::BF16);
    }
    SUBCASE("70B: attn_v gets Q5_K") {
        ModelFacts f = llama7b();
        f.n_layer = 80, f.n_head = 64, f.n_head_kv = 8, f.is_70b = true;
        const auto t = plan_types(FType::MOSTLY_Q4_K_S, f, llama_names(80));
        CHECK(t.at(blk(40, "attn_v")) == DType::Q5_K);
    }
}

TEST_CASE("quantize: tied embeddings take the output's recipe") {
    const auto t = plan_types(FType::MOSTLY_Q4_K_M, llama7b(), llama_names(32, /*tied=*/true));
    CHECK(t.at("token_embd.weight") == DType::Q6_K);
}

TEST_CASE("quantize: fallbacks for rows that are not whole blocks") {
    Shape s;
    s.n_ff = 288; // 9 blocks of 32, not whole 256-blocks
    const auto names = llama_names(32);
    auto t = plan_types(FType::MOSTLY_Q4_K_M, llama7b(), names, s);
    CHECK(t.at(blk(0, "ffn_down")) == DType::Q8_0); // Q6_K -> Q8_0
    CHECK(t.at(blk(4, "ffn_down")) == DType::Q5_0); // Q4_K -> Q5_0
    CHECK(plan_types(FType::MOSTLY_Q5_K_S, llama7b(), names, s).at(blk(4, "ffn_down")) == DType::Q5_1);
    CHECK(plan_types(FType::MOSTLY_Q3_K_S, llama7b(), names, s).at(blk(4, "ffn_down")) == DType::Q4_0);
    CHECK(plan_types(FType::MOSTLY_IQ4_XS, llama7b(), names, s).at(blk(4, "ffn_down")) == DType::IQ4_NL);
    s.n_ff = 100; // not even 32-blocks: F16
    CHECK(plan_types(FType::MOSTLY_Q4_K_M, llama7b(), names, s).at(blk(4, "ffn_down")) == DType::F16);
    CHECK(plan_types(FType::MOSTLY_Q8_0, llama7b(), names, s).at(blk(4, "ffn_down")) == DType::F16);
    // The output of a model whose rows are not whole 256-blocks: Q8_0.
    Shape o;
    o.n_embd = 288;
    CHECK(plan_types(FType::MOSTLY_Q4_K_M, llama7b(), names, o).at("output.weight") == DType::Q8_0);

    // The note names the tensor and both types.
    RecipeOptions opt;
    opt.ftype = FType::MOSTLY_Q4_K_M;
    Recipe r(llama7b(), opt, names);
    const int64_t ne[4] = {288, 4096, 1, 1};
    const TensorChoice c = r.choose("blk.0.ffn_down.weight", DType::F16, ne);
    CHECK(c.note.find("blk.0.ffn_down.weight") != std::string::npos);
    CHECK(c.note.find("q8_0") != std::string::npos); // Q6_K (layer 0 gets more bits) -> Q8_0
    CHECK(r.n_fallback() == 1);
}

TEST_CASE("quantize: --tensor-type overrides, pure, output/embedding types") {
    RecipeOptions opt;
    TensorTypeOverride o;
    o.pattern = "attn_v";
    o.re = std::regex(o.pattern);
    o.type = DType::Q8_0;
    opt.overrides.push_back(o);
    const auto t = plan_types(FType::MOSTLY_Q4_K_M, llama7b(), llama_names(32), {}, opt);
    CHECK(t.at(blk(5, "attn_v")) == DType::Q8_0);
    CHECK(t.at(blk(6, "ffn_down")) == DType::Q6_K); // the rest of the recipe stays

    RecipeOptions pure;
    pure.pure = true;
    const auto p = plan_types(FType::MOSTLY_Q4_K_M, llama7b(), llama_names(32), {}, pure);
    CHECK(p.at(blk(0, "attn_v")) == DType::Q4_K);
    CHECK(p.at("output.weight") == DType::Q4_K);

    RecipeOptions out;
    out.output_tensor_type = DType::Q8_0;
    out.token_embedding_type = DType::Q6_K;
    const auto q = plan_types(FType::MOSTLY_Q4_0, llama7b(), llama_names(32), {}, out);
    CHECK(q.at("output.weight") == DType::Q8_0);
    CHECK(q.at("token_embd.weight") == DType::Q6_K);
}

TEST_CASE("quantize: round trip through a generated model") {
    const std::string &in = fixture_path("mix");
    auto src = gguf::GgufFile::open(in);
    struct Case {
        const char *type;
        double max_rel_rms; // of the error, relative to the weights' RMS
    };
    for (const Case c : {Case{"Q8_0", 0.01}, Case{"Q4_0", 0.15}, Case{"Q4_K_M", 0.12}, Case{"Q6_K", 0.05},
                         Case{"BF16", 0.01}}) {
        CAPTURE(c.type);
        const std::string out = test::temp_path(std::string("rt-") + c.type + ".gguf");
        std::vector<corvid_quantize_progress> seen;
        corvid_quantize_params p = corvid_quantize_default_params();
        p.progress_callback = [](const corvid_quantize_progress *pr, void *ud) {
            static_cast<std::vector<corvid_quantize_progress> *>(ud)->push_back(*pr);
            return true;
        };
        p.progress_user_data = &seen;
        REQUIRE(quantize(in, out, c.type, p) == CORVID_OK);
        REQUIRE(seen.size() == src->tensors().size());
        CHECK(seen.back().tensor_index + 1 == seen.back().n_tensors);
        CHECK(seen.back().n_elements_done == seen.back().n_elements_total);

        // Corvid loads it in full (weights, vocabulary, architecture).
        corvid_model *m = nullptr;
        REQUIRE(corvid_model_open(out.c_str(), nullptr, &m) == CORVID_OK);
        corvid_model_close(m);

        auto q = gguf::GgufFile::open(out);
        CHECK(q->find("general.file_type")->as_int() == static_cast<int64_t>(*ftype_from_name(c.type)));
        CHECK(q->find("general.quantization_version")->as_int() == 2);
        CHECK(q->metadata().size() == src->metadata().size() + 1); // file_type replaced, version added
        CHECK(q->metadata().back().key == "general.file_type");
        CHECK(*q->find("general.name")->as_string() == *src->find("general.name")->as_string());
        CHECK(q->tensors().size() == src->tensors().size());
        for (const auto &t : q->tensors()) {
            CAPTURE(t.name);
            if (t.n_dims == 1) CHECK(t.type == DType::F32);
            const std::vector<float> a = dequantized(*src, t.name), b = dequantized(*q, t.name);
            double err = 0, ref = 0;
            for (size_t i = 0; i < a.size(); ++i) {
                err += (a[i] - b[i]) * double(a[i] - b[i]);
                ref += double(a[i]) * a[i];
            }
            CHECK(std::sqrt(err / ref) <= c.max_rel_rms);
        }
        if (std::string(c.type) == "Q4_K_M") {
            const auto types = file_types(out);
            CHECK(types.at("output.weight") == "q6_K");
            CHECK(types.at("token_embd.weight") == "q4_K");
            CHECK(types.at("blk.0.attn_v.weight") == "q6_K");
            CHECK(types.at("blk.1.attn_v.weight") == "q4_K");
            CHECK(types.at("blk.7.ffn_down.weight") == "q6_K");
            CHECK(types.at("blk.0.attn_norm.weight") == "f32");
        }
        std::remove(out.c_str());
    }
}

TEST_CASE("quantize: byte-identical to llama.cpp's quantizer (recorded)") {
    const std::string rec = test::data_path("quantize/llamacpp.json");
    if (!test::file_exists(rec)) {
        MESSAGE("skipped: no " << rec << " (scripts/quantize_vs_llamacpp.py --write-json makes it)");
        return;
    }
    std::ifstream f(rec);
    const nlohmann::json j = nlohmann::json::parse(f);
    // Every recorded type on the small fixture; on the larger one the byte-identity targets
    // and a few mixes, unless CORVID_QUANT_TEST_ALL is set (the IQ4 searches are slow).
    const bool all = std::getenv("CORVID_QUANT_TEST_ALL") != nullptr;
    const std::set<std::string> mix_subset = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K",
                                              "Q3_K_M", "Q4_K_M", "Q5_K_M", "BF16"};
    int compared = 0;
    for (const auto &[fixture, types] : j.at("fixtures").items()) {
        const std::string &in = fixture_path(fixture);
        for (const auto &[type, want] : types.items()) {
            if (!all && fixture == "mix" && !mix_subset.count(type)) continue;
            CAPTURE(fixture);
            CAPTURE(type);
            const std::string out = test::temp_path("ident-" + fixture + "-" + type + ".gguf");
            REQUIRE(quantize(in, out, type.c_str()) == CORVID_OK);
            const auto got_types = file_types(out);
            for (const auto &[name, t] : want.at("types").items()) {
                CAPTURE(name);
                CHECK(got_types.at(name) == t.get<std::string>());
            }
            const std::vector<uint8_t> bytes = test::read_bytes(out);
            CHECK(bytes.size() == want.at("size").get<size_t>());
            char hash[32];
            std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(qfix::file_hash(bytes)));
            CHECK(std::string(hash) == want.at("hash").get<std::string>());
            std::remove(out.c_str());
            ++compared;
        }
    }
    CHECK(compared > 0);
}

TEST_CASE("quantize: errors are clear and leave no output file") {
    const std::string &in = fixture_path("fallback");
    const std::string out = test::temp_path("err-out.gguf");
    std::remove(out.c_str());

    SUBCASE("truncated input") {
        std::vector<uint8_t> b = test::read_bytes(in);
        b.resize(b.size() / 2);
        const std::string cut = test::temp_path("truncated.gguf");
        test::write_bytes(cut, b);
        CHECK(quantize(cut, out, "Q4_0") == CORVID_ERR_FORMAT);
        CHECK_FALSE(test::file_exists(out));
        std::remove(cut.c_str());
    }
    SUBCASE("not a GGUF file") {
        const std::string junk = test::temp_path("junk.gguf");
        test::write_bytes(junk, std::vector<uint8_t>(100, 'x'));
        CHECK(quantize(junk, out, "Q4_0") == CORVID_ERR_FORMAT);
        std::remove(junk.c_str());
    }
    SUBCASE("missing input") {
        CHECK(quantize("/nonexistent/model.gguf", out, "Q4_0") == CORVID_ERR_IO);
    }
    SUBCASE("output cannot be written") {
        CHECK(quantize(in, "/nonexistent-dir/out.gguf", "Q4_0") == CORVID_ERR_IO);
        CHECK(std::string(corvid_last_error()).find("/nonexistent-dir/out.gguf") != std::string::npos);
    }
    SUBCASE("an unknown ftype value") {
        corvid_quantize_params p = corvid_quantize_default_params();
        p.ftype = static_cast<corvid_ftype>(5);
        CHECK(corvid_model_quantize(in.c_str(), out.c_str(), &p, nullptr) == CORVID_ERR_INVALID_ARGUMENT);
    }
    SUBCASE("a missing imatrix file fails, it is not ignored") {
        corvid_quantize_params p = corvid_quantize_default_params();
        p.imatrix_path = "/nonexistent/imatrix.gguf";
        CHECK(corvid_model_quantize(in.c_str(), out.c_str(), &p, nullptr) == CORVID_ERR_IO);
        CHECK(std::string(corvid_last_error()).find("/nonexistent/imatrix.gguf") != std::string::npos);
        p.imatrix_path = "";
        CHECK(corvid_model_quantize(in.c_str(), out.c_str(), &p, nullptr) == CORVID_ERR_INVALID_ARGUMENT);
        CHECK_FALSE(test::file_exists(out));
    }
    SUBCASE("a bad --tensor-type pattern") {
        corvid_quantize_params p = corvid_quantize_default_params();
        corvid_quantize_tensor_type tt{"attn_(v", CORVID_TYPE_Q8_0};
        p.tensor_types = &tt;
        p.n_tensor_types = 1;
        CHECK(corvid_model_quantize(in.c_str(), out.c_str(), &p, nullptr) == CORVID_ERR_INVALID_ARGUMENT);
    }
    SUBCASE("requantizing needs permission") {
        const std::string q = test::temp_path("q8.gguf");
        REQUIRE(quantize(in, q, "Q8_0") == CORVID_OK);
        CHECK(quantize(q, out, "Q4_0") == CORVID_ERR_UNSUPPORTED);
        CHECK(std::string(corvid_last_error()).find("allow-requantize") != std::string::npos);
        CHECK_FALSE(test::file_exists(out));
        corvid_quantize_params p = corvid_quantize_default_params();
        p.allow_requantize = true;
        CHECK(quantize(q, out, "Q4_0", p) == CORVID_OK);
        CHECK(file_types(out).at("blk.0.attn_q.weight") == "q4_0");
        // Q8_0 -> Q8_0 copies what is already Q8_0: no permission needed.
        CHECK(quantize(q, out, "Q8_0") == CORVID_OK);
        std::remove(q.c_str());
    }
    SUBCASE("cancelled") {
        corvid_quantize_params p = corvid_quantize_default_params();
        p.progress_callback = [](const corvid_quantize_progress *pr, void *) { return pr->tensor_index < 3; };
        CHECK(quantize(in, out, "Q4_0", p) == CORVID_ERR_IO);
        CHECK_FALSE(test::file_exists(out));
    }
    SUBCASE("a NaN in a weight") {
        auto src = gguf::GgufFile::open(in);
        gguf::GgufWriter w;
        for (const auto &kv : src->metadata()) w.set(kv.key, kv.value);
        for (const auto &t : src->tensors()) w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims));
        const std::string bad = test::temp_path("nan.gguf");
        w.write(bad, [&](size_t i, const gguf::TensorInfo &info, uint8_t *dst) {
            src->read_tensor_data(src->tensors()[i], dst);
            if (info.name == "blk.1.attn_q.weight") {
                const float nan = std::nanf("");
                std::memcpy(dst + 4 * 300, &nan, 4);
            }
        });
        CHECK(quantize(bad, out, "Q4_0") == CORVID_ERR_FORMAT);
        CHECK(std::string(corvid_last_error()).find("blk.1.attn_q.weight") != std::string::npos);
        CHECK_FALSE(test::file_exists(out));
        std::remove(bad.c_str());
    }
    std::remove(out.c_str());
}

TEST_CASE("quantize: input order kept on request; alignment kept") {
    const std::string &in = fixture_path("fallback");
    auto src = gguf::GgufFile::open(in);
    const std::string out = test::temp_path("order.gguf");
    corvid_quantize_params p = corvid_quantize_default_params();
    p.keep_tensor_order = true;
    REQUIRE(quantize(in, out, "Q8_0", p) == CORVID_OK);
    auto q = gguf::GgufFile::open(out);
    for (size_t i = 0; i < q->tensors().size(); ++i) CHECK(q->tensors()[i].name == src->tensors()[i].name);
    std::remove(out.c_str());

    // A file with general.alignment = 64 keeps it.
    gguf::GgufWriter w;
    w.set("general.alignment", gguf::Value::u32(64));
    for (const auto &kv : src->metadata()) w.set(kv.key, kv.value);
    for (const auto &t : src->tensors()) w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims));
    const std::string a64 = test::temp_path("a64.gguf");
    w.write(a64, [&](size_t i, const gguf::TensorInfo &, uint8_t *dst) { src->read_tensor_data(src->tensors()[i], dst); });
    REQUIRE(quantize(a64, out, "Q4_0") == CORVID_OK);
    auto q64 = gguf::GgufFile::open(out);
    CHECK(q64->alignment() == 64);
    for (const auto &t : q64->tensors()) CHECK(t.offset % 64 == 0);
    std::remove(out.c_str());
    std::remove(a64.c_str());
}
