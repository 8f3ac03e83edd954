// End-to-end checks against the reference engine's stored outputs
// (scripts/make_reference_outputs.py → tests/data/reference/*.json): identical prompt
// tokens, logits within tolerance, identical greedy continuations.
#include "runtime/context.h"
#include "test_util.h"
#include "tiny_models.h"
#include "vocab/vocab.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

using namespace corvid;
using json = nlohmann::json;

namespace {

struct RefModel {
    std::string name, path;
};

// Where each reference model lives: ../shared (CI has it) or models/ (fetched).
std::string locate(const std::string &file) {
    for (const std::string &p : {test::shared_path("models/" + file), std::string(CORVID_SOURCE_DIR) + "/models/" + file})
        if (test::file_exists(p)) return p;
    return "";
}

// Logits must agree to this much (absolute): at most `max` anywhere, `mean` on average
// over every compared logit. Our reference kernels and the reference engine's SIMD
// kernels add in different orders. On F32 weights that is rounding noise. On a
// quantized model every activation is re-quantized to 8 bits before each product,
// which turns last-bit differences into whole quantization steps, and a few logits
// move by most of a unit. The reference engine itself does that (Gemma 3 270M, the
// stored batch logits against llama-cpp-python 0.3.36 built here: one prompt at a
// time token by token, mean 0.11 and max 0.72; the same batch path built for another
// machine, mean 0.05 and max 1.15). Ours measure mean 0.13-0.17, max 0.80-0.92 over
// the scalar, AVX2 and AVX-512 paths. So the maximum gets the engine's own spread with
// some margin, and the mean, which a wrong kernel moves by whole units, is held tight.
struct LogitTolerance {
    double max, mean;
};
LogitTolerance tolerance(const std::string &model) {
    return model == "gemma3-270m-q4_k_m" ? LogitTolerance{1.5, 0.25} : LogitTolerance{0.01, 0.01};
}

void check_model(const std::string &name) {
    const std::string ref_path = test::data_path("reference/" + name + ".json");
    std::ifstream in(ref_path);
    REQUIRE_MESSAGE(in, "missing " << ref_path);
    const json ref = json::parse(in);
    std::string model_path;
    std::string temp_model;
    if (ref.contains("synthetic") && ref["synthetic"] == "tiny-qwen2") {
        const std::string vocab = test::shared_path("vocab/ggml-vocab-qwen2.gguf");
        if (test::file_exists(vocab)) {
            temp_model = model_path = test::temp_path("tiny-qwen2.gguf");
            test::write_tiny_qwen2(model_path, vocab);
        }
    } else {
        model_path = locate(ref["file"].get<std::string>());
    }
    if (model_path.empty()) {
        MESSAGE("skipped: " << ref["file"].get<std::string>() << " not found (scripts/fetch_model.py fetches it)");
        return;
    }
    auto model = Model::load(model_path, LoadMode::full, true);
    if (!temp_model.empty()) std::remove(temp_model.c_str()); // the mapping keeps the data
    const Vocab &vocab = *model->vocab();
    ContextParams cp;
    cp.n_ctx = 512;
    double max_diff = 0, sum_diff = 0;
    std::string worst_at; // where max_diff was seen (prompt, position, token): which path to suspect
    size_t n_diff = 0;
    size_t top1_agree = 0, n_rows = 0, n_steps = 0, n_flips = 0, n_identical = 0;
    for (const json &pr : ref["prompts"]) {
        const std::string pname = pr["name"];
        CAPTURE(pname);
        const auto want_toks = pr["tokens"].get<std::vector<int32_t>>();
        const auto toks = vocab.tokenize(pr["text"].get<std::string>(), true, true);
        CHECK(toks == want_toks);

        Context ctx(*model, cp);
        Batch b;
        b.tokens = want_toks;
        b.logits.assign(want_toks.size(), 1);
        ctx.decode(b);
        for (const json &lr : pr["logits"]) {
            const int pos = lr["pos"];
            const float *l = ctx.logits(pos);
            ++n_rows;
            std::vector<std::pair<int32_t, float>> want;
            if (lr.contains("full")) {
                const auto full = lr["full"].get<std::vector<float>>();
                for (size_t i = 0; i < full.size(); ++i) want.push_back({static_cast<int32_t>(i), full[i]});
            } else {
                const auto ids = lr["top_ids"].get<std::vector<int32_t>>();
                const auto vals = lr["top_logits"].get<std::vector<float>>();
                for (size_t i = 0; i < ids.size(); ++i) want.push_back({ids[i], vals[i]});
                const auto fids = lr["fixed_ids"].get<std::vector<int32_t>>();
                const auto fvals = lr["fixed_logits"].get<std::vector<float>>();
                for (size_t i = 0; i < fids.size(); ++i) want.push_back({fids[i], fvals[i]});
            }
            int32_t ref_top = want[0].first, our_top = 0;
            float ref_best = -INFINITY;
            for (auto &[id, v] : want) {
                const double d = std::fabs(static_cast<double>(l[id]) - v);
                if (d > max_diff) worst_at = pname + " pos " + std::to_string(pos) + " token " + std::to_string(id);
                max_diff = std::max(max_diff, d);
                sum_diff += d;
                ++n_diff;
                if (v > ref_best) ref_best = v, ref_top = id;
            }
            for (int32_t i = 1; i < ctx.n_vocab(); ++i)
                if (l[i] > l[our_top]) our_top = i;
            top1_agree += our_top == ref_top;
        }

        // Greedy decisions, teacher-forced along the reference's continuation: at every
        // step our most likely token must be the reference's, unless the reference's own
        // top-2 gap was within the logit tolerance (a near-tie that rounding may flip).
        const auto want = pr["greedy"].get<std::vector<int32_t>>();
        const auto margins = pr["greedy_margins"].get<std::vector<float>>();
        const float *l = ctx.logits(-1);
        bool free_running = true; // still on the reference's path without any flip
        for (size_t i = 0; i < want.size(); ++i) {
            int32_t best = 0;
            for (int32_t t = 1; t < ctx.n_vocab(); ++t)
                if (l[t] > l[best]) best = t;
            ++n_steps;
            if (best != want[i]) {
                ++n_flips;
                free_running = false;
                CHECK_MESSAGE(margins[i] < tolerance(name).max, "step " << i << ": chose " << best << " over "
                                                                     << want[i] << " whose margin was " << margins[i]);
            }
            if (i + 1 == want.size()) break;
            Batch one;
            one.tokens = {want[i]};
            ctx.decode(one);
            l = ctx.logits(-1);
        }
        n_identical += free_running;
    }
    MESSAGE(name << ": |logit diff| max " << max_diff << " (" << worst_at << ") mean " << sum_diff / std::max<size_t>(n_diff, 1) << ", top-1 agreement " << top1_agree << "/" << n_rows
                 << ", greedy steps that chose differently " << n_flips << "/" << n_steps
                 << " (all at near-ties), continuations identical " << n_identical << "/" << ref["prompts"].size());
    if (name != "gemma3-270m-q4_k_m") CHECK(n_identical == ref["prompts"].size()); // F32 weights: no near-tie excuse
    CHECK(max_diff < tolerance(name).max);
    CHECK(sum_diff / std::max<size_t>(n_diff, 1) < tolerance(name).mean);
    CHECK(top1_agree == n_rows);
}

} // namespace

TEST_CASE("e2e: stories260K matches llama.cpp (tokens, logits, greedy text)") { check_model("stories260K"); }

TEST_CASE("e2e: a tiny random qwen2 with the real Qwen2 vocabulary matches llama.cpp") { check_model("tiny-qwen2"); }

TEST_CASE("e2e: Gemma 3 270M Q4_K_M matches llama.cpp (tokens, logits, greedy text)") { check_model("gemma3-270m-q4_k_m"); }
