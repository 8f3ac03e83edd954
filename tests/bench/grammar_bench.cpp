// Times grammar-constrained sampling's mask (not a test: run it by hand).
//   build/tests/corvid-grammar-bench VOCAB.gguf [DUMP_DIR]
// For three grammars — any JSON, a large JSON schema, a pathological GBNF — it feeds a
// document that the grammar accepts, token by token (as the vocabulary tokenizes it), and
// times at each step the full mask over the vocabulary and the single-token check that
// the sampler's lazy path uses. Prints one table row per grammar: compile (parse, bind to
// the vocabulary, first mask), the mask with its per-state caches (median, p99, max), the
// mask with the whole-mask cache off ("nocache"; the shared per-context walks stay), the
// single-token check, the machine states created, the steps over 1 ms, and the p99 of a
// second pass over the same document (warm caches). With DUMP_DIR it also
// writes each grammar's GBNF and the token ids, so that scripts/grammar_bench_llamacpp.py
// can time llama.cpp's grammar sampler on exactly the same input.
#include "gguf/gguf_file.h"
#include "grammar/json_schema.h"
#include "grammar/token_matcher.h"
#include "vocab/vocab.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace corvid;
using Clock = std::chrono::steady_clock;

namespace {

double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

std::string read_file(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

double pct(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// The pathological document: brackets nested 60 deep around atoms with multibyte letters.
std::string pathological_doc() {
    std::string s;
    for (int d = 0; d < 60; ++d) s += d % 2 ? "[ " : "(";
    s += "z\xc3\xa9ro.\xce\xb1\xce\xb2:x";
    for (int d = 59; d >= 0; --d) {
        if (d % 2) s += ", \xc3\xa9l\xc3\xa8ve_" + std::to_string(d) + " ]";
        else s += " mot" + std::to_string(d) + "\n)";
    }
    return s;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s VOCAB.gguf [DUMP_DIR]\n", argv[0]);
        return 2;
    }
    const std::string dump = argc > 2 ? argv[2] : "";
    const std::string data = std::string(CORVID_SOURCE_DIR) + "/tests/data/grammar/";
    try {
        auto file = gguf::GgufFile::open(argv[1]);
        auto vocab = Vocab::from_gguf(*file);
        auto t0 = Clock::now();
        auto index = std::make_shared<const grammar::VocabIndex>(*vocab);
        const double index_ms = us_since(t0) / 1000.0;
        std::printf("vocabulary %s: %d tokens, trie %zu nodes, index built in %.1f ms (once per vocabulary)\n", argv[1],
                    vocab->n_tokens(), index->byte.size(), index_ms);

        struct Case {
            const char *name;
            std::string gbnf, doc;
            double convert_ms = 0;
        };
        std::vector<Case> cases;
        cases.push_back({"json", grammar::json_gbnf(), read_file(data + "large_schema_doc.json")});
        t0 = Clock::now();
        const std::string schema_gbnf = grammar::json_schema_to_gbnf(read_file(data + "large_schema.json"));
        cases.push_back({"large-schema", schema_gbnf, read_file(data + "large_schema_doc.json"), us_since(t0) / 1000.0});
        cases.push_back({"pathological", read_file(data + "pathological.gbnf"), pathological_doc()});

        std::printf("%-13s %6s %9s %9s %9s %9s %9s %9s %9s %7s %6s %10s\n", "grammar", "tokens", "compile", "mask med", "mask p99", "mask max",
                    "nocache", "nocache99", "check med", "states", ">1ms", "again p99");
        std::fflush(stdout);
        for (Case &c : cases) {
            t0 = Clock::now();
            auto g = grammar::parse_gbnf(c.gbnf);
            grammar::TokenMatcher m(g, index);
            m.allowed(); // the first mask is part of getting ready
            const double compile_ms = c.convert_ms + us_since(t0) / 1000.0;
            while (!c.doc.empty() && (c.doc.back() == '\n' || c.doc.back() == ' ')) c.doc.pop_back();
            std::vector<int32_t> toks = vocab->tokenize(c.doc, false, false);
            // A SentencePiece vocabulary that adds a leading space makes the first token " {",
            // which no grammar here accepts at the start (a model's output after a prompt has no
            // such space): use the same piece without it.
            if (vocab->add_space_prefix() && !toks.empty()) {
                const std::string first = vocab->token_to_piece(toks[0], false);
                const int32_t bare = first.size() > 1 && first[0] == ' ' ? vocab->find_token(first.substr(1)) : -1;
                if (bare >= 0) toks[0] = bare;
            }
            std::vector<double> mask_us, check_us, nocache_us;
            grammar::TokenMatcher fresh(g, index); // the same steps with the mask cache off
            m.reset();
            for (int32_t t : toks) {
                auto t1 = Clock::now();
                const grammar::TokenMask &mask = m.allowed();
                mask_us.push_back(us_since(t1));
                if (!grammar::mask_has(mask, t)) {
                    std::fprintf(stderr, "%s: the document's token %d ('%s') is not allowed\n", c.name, t, vocab->token_to_piece(t, true).c_str());
                    return 1;
                }
                t1 = Clock::now();
                const bool ok = m.allows(t);
                check_us.push_back(us_since(t1));
                if (!ok) return 1;
                m.accept(t);
                fresh.clear_mask_cache();
                t1 = Clock::now();
                fresh.allowed();
                nocache_us.push_back(us_since(t1));
                fresh.accept(t);
            }
            // The same document again: the caches are warm (a long generation's steady state).
            std::vector<double> again_us;
            m.reset();
            for (int32_t t : toks) {
                const auto t1 = Clock::now();
                m.allowed();
                again_us.push_back(us_since(t1));
                m.accept(t);
            }
            size_t slow = 0;
            for (double x : mask_us) slow += x > 1000.0;
            std::printf("%-13s %6zu %7.1fms %7.1fus %7.1fus %7.1fus %7.1fus %7.1fus %7.2fus %7zu %6zu %8.1fus\n", c.name, toks.size(),
                        compile_ms, pct(mask_us, 0.5), pct(mask_us, 0.99), pct(mask_us, 1.0), pct(nocache_us, 0.5),
                        pct(nocache_us, 0.99), pct(check_us, 0.5), m.n_states(), slow, pct(again_us, 0.99));
            if (!dump.empty()) {
                std::ofstream(dump + "/" + c.name + ".gbnf") << c.gbnf;
                std::ofstream ids(dump + "/" + c.name + ".tokens");
                for (int32_t t : toks) ids << t << "\n";
            }
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
