// The global functions of the template environment (range, namespace, dict, raise_exception,
// strftime_now).
#pragma once

#include "chat/chat_template.h"
#include "chat/value.h"

namespace corvid::chat {

Dict make_globals(const RenderOptions &options);

}  // namespace corvid::chat
