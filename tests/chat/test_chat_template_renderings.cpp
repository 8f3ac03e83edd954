// Every (template × conversation) pair renders byte for byte as jinja2 rendered it
// (tests/data/templates/expected/*.json, made by scripts/make_template_renderings.py), and where
// jinja2 raised, Corvid raises a corvid::Error too.
#include <doctest/doctest.h>

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "test_util.h"
#include "util/error.h"

using corvid::chat::RenderOptions;
using corvid::chat::Template;
using json = nlohmann::ordered_json;

namespace {

json load_json(const std::string &path) {
    const auto bytes = corvid::test::read_bytes(path);
    return json::parse(std::string(bytes.begin(), bytes.end()));
}

std::vector<std::string> expected_files() {
    std::vector<std::string> out;
    const std::string dir = corvid::test::data_path("templates/expected");
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) out.push_back(dir + "/" + n);
        }
        closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

RenderOptions fixed_clock() {
    RenderOptions o;
    o.now = [] { return corvid::chat::fixed_time(2026, 1, 15, 10, 30, 0); };
    return o;
}

// First differing byte, for a readable failure.
std::string first_difference(const std::string &a, const std::string &b) {
    size_t k = 0;
    while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
    const size_t from = k > 40 ? k - 40 : 0;
    return "at byte " + std::to_string(k) + ":\n  got:      " + json(a.substr(from, 120)).dump() +
           "\n  expected: " + json(b.substr(from, 120)).dump();
}

}  // namespace

TEST_CASE("chat templates render exactly as jinja2 (template x conversation)") {
    const auto files = expected_files();
    REQUIRE_MESSAGE(files.size() >= 20, "expected renderings missing under tests/data/templates/expected");
    const json conversations = load_json(corvid::test::data_path("templates/conversations.json"));
    const RenderOptions opts = fixed_clock();
    int pairs = 0, skipped_templates = 0;
    for (const auto &file : files) {
        const json doc = load_json(file);
        const std::string name = doc["template"];
        std::string source;
        if (doc["kind"] == "builtin") {
            const char *b = corvid::chat::builtin_template(doc["source"].get<std::string>());
            REQUIRE_MESSAGE(b != nullptr, "built-in template missing: " << name);
            source = b;
            CHECK_MESSAGE(source == doc["text"].get<std::string>(),
                          "built-in template " << name << " changed: rerun scripts/make_template_renderings.py");
        } else {
            const std::string path = corvid::test::shared_path(doc["source"].get<std::string>());
            if (!corvid::test::file_exists(path)) {
                ++skipped_templates;
                continue;
            }
            const auto bytes = corvid::test::read_bytes(path);
            source = std::string(bytes.begin(), bytes.end());
        }
        std::unique_ptr<Template> t;
        try {
            t = Template::parse(source);
        } catch (const corvid::Error &e) {
            FAIL_CHECK(name << ": parse failed: " << e.what());
            continue;
        }
        std::string row;
        for (const auto &c : doc["cases"]) {
            const std::string conv_name = c["conversation"];
            const json *conv = nullptr;
            for (const auto &cv : conversations)
                if (cv["name"] == conv_name) conv = &cv;
            REQUIRE_MESSAGE(conv != nullptr, "unknown conversation " << conv_name);
            json extra = conv->contains("extra") ? (*conv)["extra"] : json::object();
            for (auto it = c["extra"].begin(); it != c["extra"].end(); ++it) extra[it.key()] = it.value();
            const json tools = conv->contains("tools") ? (*conv)["tools"] : json();
            ++pairs;
            std::string got, err;
            bool threw = false;
            try {
                got = corvid::chat::apply(*t, (*conv)["messages"], tools, (*conv)["add_generation_prompt"].get<bool>(),
                                          doc["bos_token"], doc["eos_token"], extra, opts);
            } catch (const corvid::Error &e) {
                threw = true;
                err = e.what();
            }
            if (c.contains("error")) {
                const std::string jerr = c["error"];
                CHECK_MESSAGE(threw, name << " x " << conv_name << ": jinja2 raised (" << jerr << ") but Corvid rendered");
                // A template's own raise_exception must come through with its message.
                const std::string prefix = "TemplateError: ";
                if (threw && jerr.compare(0, prefix.size(), prefix) == 0) {
                    CHECK_MESSAGE(err.find("raise_exception: " + jerr.substr(prefix.size())) != std::string::npos,
                                  name << " x " << conv_name << ": expected the template's message, got: " << err);
                }
                if (std::getenv("CORVID_SHOW_TEMPLATE_ERRORS")) MESSAGE(name << " x " << conv_name << ": " << err << "  | jinja2: " << jerr);
                row += threw ? " err-ok" : " FAIL";
            } else {
                const std::string expected = c["expected"];
                if (threw) {
                    FAIL_CHECK(name << " x " << conv_name << ": Corvid raised: " << err);
                    row += " FAIL";
                } else {
                    CHECK_MESSAGE(got == expected, name << " x " << conv_name << " differs " << first_difference(got, expected));
                    row += got == expected ? " ok" : " FAIL";
                }
            }
        }
        MESSAGE(name << ":" << row);
    }
    if (skipped_templates) MESSAGE("skipped " << skipped_templates << " shared templates: ../shared is absent");
    CHECK(pairs > 0);
}
