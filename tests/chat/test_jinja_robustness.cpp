// Mutated real templates (cut, duplicated or spliced text, stray delimiters) must either render or
// fail with corvid::Error — never crash, hang or throw anything else.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "test_util.h"
#include "util/error.h"

using json = nlohmann::ordered_json;

namespace {

struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    size_t below(size_t n) { return n ? size_t(next() % n) : 0; }
};

std::string mutate(const std::string &src, Rng &rng) {
    static const char *pieces[] = {"{%", "%}", "{{", "}}", "{#", "#}", "-", "+", "(", ")", "[", "]", "{", "}", "'",
                                   "\"", "\\", "|", ".", ",", " if ", " else ", " endif ", " for ", " in ", " not ",
                                   "{% endfor %}", "{% endif %}", "{% else %}", "loop.", "caller()", "**", "//", "~", "\n"};
    std::string s = src;
    const int edits = 1 + int(rng.below(4));
    for (int k = 0; k < edits && !s.empty(); ++k) {
        const size_t at = rng.below(s.size());
        switch (rng.below(4)) {
        case 0: s.erase(at, 1 + rng.below(12)); break;
        case 1: {
            const size_t len = 1 + rng.below(40);
            const std::string dup = s.substr(at, len);
            s.insert(rng.below(s.size()), dup);
            break;
        }
        case 2: s.insert(at, pieces[rng.below(sizeof pieces / sizeof *pieces)]); break;
        default: s[at] = char(rng.below(256)); break;
        }
    }
    return s;
}

}  // namespace

TEST_CASE("chat template robustness: mutated templates fail cleanly") {
    const std::string dir = corvid::test::shared_path("templates");
    const char *names[] = {"CohereForAI-c4ai-command-r7b-12-2024-tool_use", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
                           "Qwen-Qwen3-0.6B", "Qwen3-Coder", "meta-llama-Llama-3.1-8B-Instruct",
                           "mistralai-Mistral-Nemo-Instruct-2407", "fireworks-ai-llama-3-firefunction-v2",
                           "unsloth-mistral-Devstral-Small-2507"};
    std::vector<std::string> sources;
    for (const char *n : names) {
        const std::string p = dir + "/" + n + ".jinja";
        if (!corvid::test::file_exists(p)) continue;
        const auto b = corvid::test::read_bytes(p);
        sources.emplace_back(b.begin(), b.end());
    }
    for (const char *b : {"gemma", "chatml", "llama3", "llama2", "mistral", "phi3"})
        sources.emplace_back(corvid::chat::builtin_template(b));
    if (sources.size() == 6) MESSAGE("../shared is absent: mutating the built-in templates only");

    const auto conv_bytes = corvid::test::read_bytes(corvid::test::data_path("templates/conversations.json"));
    const json convs = json::parse(std::string(conv_bytes.begin(), conv_bytes.end()));
    const json *tool_conv = nullptr;
    for (const auto &c : convs)
        if (c["name"] == "parallel_tool_calls") tool_conv = &c;
    REQUIRE(tool_conv != nullptr);

    corvid::chat::RenderOptions opts;
    opts.now = [] { return corvid::chat::fixed_time(2026, 1, 15); };
    opts.max_output_bytes = 1 << 20;
    opts.max_steps = 200000;
    // CORVID_FUZZ_ITERS / CORVID_FUZZ_SEED run a longer or different campaign (e.g. under ASan).
    const char *iters_env = std::getenv("CORVID_FUZZ_ITERS");
    const char *seed_env = std::getenv("CORVID_FUZZ_SEED");
    const int iters = iters_env ? std::atoi(iters_env) : 150;
    Rng rng{seed_env ? std::strtoull(seed_env, nullptr, 10) | 1 : 0x9E3779B97F4A7C15ull};
    int rendered = 0, failed = 0, other = 0;
    for (const auto &src : sources) {
        for (int k = 0; k < iters; ++k) {
            const std::string m = mutate(src, rng);
            try {
                auto t = corvid::chat::Template::parse(m);
                corvid::chat::apply(*t, (*tool_conv)["messages"], (*tool_conv)["tools"], true, "<s>", "</s>",
                                    json::object(), opts);
                ++rendered;
            } catch (const corvid::Error &) {
                ++failed;
            } catch (const std::exception &e) {
                ++other;
                FAIL_CHECK("non-corvid exception: " << e.what());
            }
        }
    }
    MESSAGE("mutations: " << rendered << " rendered, " << failed << " failed cleanly");
    CHECK(other == 0);
}
