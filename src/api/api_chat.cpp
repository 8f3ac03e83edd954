// Chat templates in the C API.
#include "api/api_guard.h"
#include "api/api_handles.h"
#include "chat/chat_template.h"
#include "vocab/vocab.h"

#include <cstring>

using namespace corvid;

namespace {

nlohmann::ordered_json parse_json(const char *text, const char *what) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) fail(Status::invalid_argument, "%s is not valid JSON", what);
    if (!j.is_array()) fail(Status::invalid_argument, "%s must be a JSON array", what);
    return j;
}

// The template source: explicit text, a built-in by name, the model's own, or the
// built-in for the model's architecture.
std::string template_source(const corvid_model *m, const char *tmpl) {
    if (tmpl) {
        const std::string t = tmpl;
        if (t.find("{{") != std::string::npos || t.find("{%") != std::string::npos) return t;
        if (const char *b = chat::builtin_template(t)) return b;
        fail(Status::not_found, "'%s' is neither Jinja text nor a built-in template (gemma, chatml, llama3, llama2)", tmpl);
    }
    if (!m) fail(Status::invalid_argument, "give a model or a template");
    if (const gguf::Value *v = m->file().find("tokenizer.chat_template"); v && v->as_string()) return *v->as_string();
    // Llama 2 and Llama 3 share the architecture name; the vocabulary tells them apart.
    if (m->architecture == "llama" && m->model->vocab() && m->model->vocab()->find_token("<|start_header_id|>") < 0)
        if (const char *b = chat::builtin_template("llama2")) return b;
    if (const char *b = chat::builtin_template_for(m->architecture)) return b;
    fail(Status::not_found, "%s: the model has no chat template (tokenizer.chat_template) and there is no built-in one "
         "for architecture '%s'; pass one explicitly", m->file().path().c_str(), m->architecture.c_str());
}

std::string special_text(const corvid_model *m, bool bos) {
    if (!m || !m->model->vocab()) return "";
    const Vocab &v = *m->model->vocab();
    const int32_t id = bos ? v.bos() : v.eos();
    return id >= 0 ? v.token_text(id) : "";
}

} // namespace

extern "C" {

const char *corvid_model_chat_template(const corvid_model *m) {
    if (!m) return nullptr;
    const gguf::Value *v = m->file().find("tokenizer.chat_template");
    return v && v->as_string() ? v->as_string()->c_str() : nullptr;
}

corvid_status corvid_chat_apply_template(const corvid_model *m, const char *tmpl, const char *messages_json,
                                         const char *tools_json, bool add_generation_prompt, char *buf, size_t size,
                                         size_t *n_bytes) {
    return api::guarded([&] {
        if (!messages_json) fail(Status::invalid_argument, "messages_json must not be NULL");
        if (!n_bytes) fail(Status::invalid_argument, "n_bytes must not be NULL");
        if (!buf && size > 0) fail(Status::invalid_argument, "buf must not be NULL when size > 0");
        const auto messages = parse_json(messages_json, "messages_json");
        const auto tools = tools_json ? parse_json(tools_json, "tools_json") : nlohmann::ordered_json::array();
        const auto t = chat::Template::parse(template_source(m, tmpl));
        const std::string out = chat::apply(*t, messages, tools, add_generation_prompt, special_text(m, true), special_text(m, false));
        *n_bytes = out.size();
        if (out.size() > size) fail(Status::buffer_too_small, "the prompt needs %zu bytes but the buffer has %zu", out.size(), size);
        if (!out.empty()) std::memcpy(buf, out.data(), out.size());
    });
}

} // extern "C"
