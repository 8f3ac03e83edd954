// Built-in chat templates for models whose GGUF has no tokenizer.chat_template (the default
// Gemma 3 270M among them). Written for Corvid from the published prompt formats. The table below
// is also read by scripts/make_template_renderings.py (it extracts each R"TPL(...)TPL" literal), so
// jinja2's renderings of these templates are tested like the models' own templates.
#include <cstring>
#include <string>

#include "chat/chat_template.h"

namespace corvid::chat {
namespace {

struct Builtin {
    const char *name;
    const char *source;
};

// clang-format off
const Builtin kBuiltins[] = {
{"gemma", R"TPL({{- bos_token -}}
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] | trim + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}
    {%- endif -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<start_of_turn>model\n' -}}
{%- endif -%}
)TPL"},
{"chatml", R"TPL({%- for message in messages -%}
    {{- '<|im_start|>' + message['role'] + '\n' + (message['content'] if message['content'] is string else '') + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
)TPL"},
{"llama3", R"TPL({{- bos_token -}}
{%- for message in messages -%}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + (message['content'] | trim if message['content'] is string else '') + '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{%- endif -%}
)TPL"},
{"llama2", R"TPL({%- if messages and messages[0]['role'] == 'system' -%}
    {%- set system_message = '<<SYS>>\n' + messages[0]['content'] | trim + '\n<</SYS>>\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set system_message = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}
    {%- endif -%}
    {%- if message['role'] == 'user' -%}
        {{- bos_token + '[INST] ' + (system_message if loop.first else '') + message['content'] | trim + ' [/INST]' -}}
    {%- else -%}
        {{- ' ' + message['content'] | trim + ' ' + eos_token -}}
    {%- endif -%}
{%- endfor -%}
)TPL"},
{"mistral", R"TPL({{- bos_token -}}
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set system_message = messages[0]['content'] -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set system_message = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}
    {%- endif -%}
    {%- if message['role'] == 'user' -%}
        {{- '[INST] ' + (system_message + '\n\n' if loop.first and system_message else '') + message['content'] + '[/INST]' -}}
    {%- else -%}
        {{- message['content'] + eos_token -}}
    {%- endif -%}
{%- endfor -%}
)TPL"},
{"phi3", R"TPL({%- for message in messages -%}
    {{- '<|' + message['role'] + '|>\n' + (message['content'] if message['content'] is string else '') + '<|end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|assistant|>\n' -}}
{%- else -%}
    {{- eos_token -}}
{%- endif -%}
)TPL"},
};
// clang-format on

struct Alias {
    const char *name;
    const char *builtin;
};

const Alias kAliases[] = {
    {"gemma", "gemma"},   {"gemma2", "gemma"},   {"gemma3", "gemma"},    {"gemma3n", "gemma"},
    {"chatml", "chatml"}, {"qwen", "chatml"},    {"qwen2", "chatml"},    {"qwen2moe", "chatml"},
    {"qwen3", "chatml"},  {"qwen3moe", "chatml"}, {"llama", "llama3"},   {"llama3", "llama3"},
    {"llama2", "llama2"}, {"mistral", "mistral"}, {"phi3", "phi3"},
};

}  // namespace

const char *builtin_template(const std::string &name) {
    for (const auto &b : kBuiltins)
        if (name == b.name) return b.source;
    return nullptr;
}

const char *builtin_template_for(const std::string &arch_or_name) {
    for (const auto &a : kAliases)
        if (arch_or_name == a.name) return builtin_template(a.builtin);
    return nullptr;
}

}  // namespace corvid::chat
