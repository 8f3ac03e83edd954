// Executes a parsed template: scopes (jinja2's: a for-loop iteration and a macro call get their own
// scope; if-blocks do not), control flow, macros and call blocks, limits on work and output.
#pragma once

#include <string>

#include "chat/ast.h"
#include "chat/chat_template.h"

namespace corvid::chat {

std::string render_body(const Body &body, const nlohmann::ordered_json &context, const RenderOptions &options);

}  // namespace corvid::chat
