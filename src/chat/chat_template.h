// Chat templates: an interpreter for the subset of Jinja that models' chat templates use, rendering
// byte-for-byte as Python's jinja2 does in Hugging Face's setup (ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and loop controls; globals raise_exception and strftime_now; a tojson
// filter that is json.dumps(ensure_ascii=False)).
//
// Errors are corvid::Error: Status::format for syntax errors and runtime failures,
// Status::unsupported for constructs this interpreter does not implement (extends, include, import,
// unknown filters/tests, ...), Status::invalid_argument when the template itself rejects the
// conversation through raise_exception(). Messages name the template line.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace corvid::chat {

struct Node;

struct RenderOptions {
    // The clock strftime_now() reads; empty = the local time now. Tests inject a fixed time.
    std::function<std::tm()> now;
    size_t max_output_bytes = size_t(16) << 20;  // rendered text (and any intermediate string)
    int max_call_depth = 100;                    // nested macro calls
    uint64_t max_steps = 20'000'000;             // statements + loop iterations
};

// A std::tm for a fixed date and time (weekday and day of year filled in).
std::tm fixed_time(int year, int month, int day, int hour = 0, int minute = 0, int second = 0);

class Template {
public:
    // Compiles a template; throws Error naming the line on a syntax error or unsupported construct.
    static std::unique_ptr<Template> parse(const std::string &source);
    ~Template();

    // Renders with `context` (a JSON object) as the template's variables.
    std::string render(const nlohmann::ordered_json &context, const RenderOptions &options = {}) const;

private:
    Template();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Hugging Face's apply_chat_template: the context is {messages, tools, documents,
// add_generation_prompt, bos_token, eos_token} plus `extra` (which wins on clashes). As in
// transformers, `tools` is None when `tools` is null or an empty array, and `documents` is None.
std::string apply(const Template &t, const nlohmann::ordered_json &messages, const nlohmann::ordered_json &tools,
                  bool add_generation_prompt, const std::string &bos_token, const std::string &eos_token,
                  const nlohmann::ordered_json &extra = nlohmann::ordered_json::object(),
                  const RenderOptions &options = {});

// Built-in templates for models whose GGUF carries no tokenizer.chat_template.
// Names: "gemma", "chatml", "llama3", "llama2", "mistral", "phi3". Returns nullptr when unknown.
const char *builtin_template(const std::string &name);
// The built-in template for an architecture or template name ("gemma3" → gemma, "qwen2" → chatml,
// "llama" → llama3, ...); nullptr when unknown.
const char *builtin_template_for(const std::string &arch_or_name);

}  // namespace corvid::chat
