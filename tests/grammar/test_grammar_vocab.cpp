// The fast mask against brute force on real vocabularies (Gemma 3's 262k tokens, Llama 3's
// 128k): every mask along a JSON document under the JSON grammar and a large JSON Schema.
// Real vocabularies are where the class runs (class_run.h) and the cut walks meet what small
// test vocabularies lack: tokens of many characters, multibyte and cut UTF-8, subtrees of
// hundreds of thousands of nodes.
#include "gguf/gguf_file.h"
#include "grammar/json_schema.h"
#include "grammar/token_matcher.h"
#include "test_util.h"
#include "vocab/vocab.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace corvid;
using namespace corvid::grammar;

namespace {

std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Walks the document's tokens under grammar `gbnf`, comparing the masks at the first
// `steps` positions. Returns the number of masks compared.
int compare_along(const Vocab &vocab, const std::shared_ptr<const VocabIndex> &index, const std::string &gbnf,
                  const std::string &doc, int steps) {
    const auto g = parse_gbnf(gbnf);
    TokenMatcher m(g, index);
    int compared = 0;
    for (int32_t t : vocab.tokenize(doc, false, false)) {
        if (compared == steps) break;
        const TokenMask fast = m.allowed();
        REQUIRE_MESSAGE(fast == m.allowed_brute_force(), "step ", compared);
        REQUIRE(mask_has(fast, t));
        m.accept(t);
        ++compared;
    }
    return compared;
}

} // namespace

TEST_CASE("grammar vocab: fast masks equal brute force along a document, on real vocabularies") {
    std::string doc = slurp(test::data_path("grammar/large_schema_doc.json"));
    while (!doc.empty() && (doc.back() == '\n' || doc.back() == ' ')) doc.pop_back();
    const std::string schema = json_schema_to_gbnf(slurp(test::data_path("grammar/large_schema.json")));
    int vocabs = 0;
    for (const std::string &path : {test::data_path("../../models/gemma-3-270m-q4_k_m.gguf"),
                                    test::shared_path("vocab/ggml-vocab-llama-bpe.gguf")}) {
        if (!test::file_exists(path)) {
            MESSAGE("skipped: " << path << " not found");
            continue;
        }
        auto file = gguf::GgufFile::open(path);
        auto vocab = Vocab::from_gguf(*file);
        auto index = std::make_shared<const VocabIndex>(*vocab);
        // Brute force runs every token through the machine: a few ms per mask at 262k, so the
        // walk covers the document's first tokens (keys, nested objects, strings, numbers).
        const int a = compare_along(*vocab, index, json_gbnf(), doc, 200);
        const int b = compare_along(*vocab, index, schema, doc, 200);
        MESSAGE(path << ": " << a << " + " << b << " masks compared");
        CHECK(a == 200);
        CHECK(b == 200);
        ++vocabs;
    }
    if (vocabs == 0) MESSAGE("no vocabulary found: nothing compared");
}
