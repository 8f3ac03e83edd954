#include "chat/chat_template.h"

#include "chat/ast.h"
#include "chat/renderer.h"
#include "util/error.h"

namespace corvid::chat {

struct Template::Impl {
    Body body;
};

Template::Template() : impl_(std::make_unique<Impl>()) {}
Template::~Template() = default;

std::unique_ptr<Template> Template::parse(const std::string &source) {
    std::unique_ptr<Template> t(new Template());
    t->impl_->body = parse_template(source);
    return t;
}

std::string Template::render(const nlohmann::ordered_json &context, const RenderOptions &options) const {
    return render_body(impl_->body, context, options);
}

std::string apply(const Template &t, const nlohmann::ordered_json &messages, const nlohmann::ordered_json &tools,
                  bool add_generation_prompt, const std::string &bos_token, const std::string &eos_token,
                  const nlohmann::ordered_json &extra, const RenderOptions &options) {
    if (!messages.is_array()) fail(Status::invalid_argument, "chat template: messages must be a JSON array");
    if (!tools.is_null() && !tools.is_array()) fail(Status::invalid_argument, "chat template: tools must be a JSON array or null");
    if (!extra.is_null() && !extra.is_object())
        fail(Status::invalid_argument, "chat template: extra variables must be a JSON object");
    nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
    ctx["messages"] = messages;
    ctx["tools"] = tools.is_array() && !tools.empty() ? tools : nlohmann::ordered_json();
    ctx["documents"] = nullptr;
    ctx["add_generation_prompt"] = add_generation_prompt;
    ctx["bos_token"] = bos_token;
    ctx["eos_token"] = eos_token;
    if (extra.is_object())
        for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
    return t.render(ctx, options);
}

}  // namespace corvid::chat
