// One conversation held in a context's KV cache.
//
// Each turn the whole conversation is rendered with the chat template; the part of the
// rendered text the KV cache already holds is kept, and only the rest is tokenized and
// decoded. When the template rewrites earlier text (e.g. trims a reply), the cache is
// rolled back to the last chunk that still matches. When the context fills, the oldest
// turns are dropped and the rest re-encoded (or, by policy, the turn is refused).
#pragma once

#include <corvid.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace corvid::cli {

struct TurnStats {
    size_t prompt_tokens = 0, reply_tokens = 0;
    double prompt_s = 0, reply_s = 0;
    bool interrupted = false, context_cut = false;
    std::string notice; // what the context policy did, if anything
};

class ChatSession {
public:
    enum class Policy { drop_oldest, stop };

    ChatSession(corvid_model *model, corvid_context *ctx, std::string tmpl, Policy policy, int32_t max_reply);

    // Sets, replaces or (with empty text) removes the system message.
    void set_system(const std::string &text);
    void reset();
    // Replaces the conversation (e.g. from /load).
    void set_messages(const nlohmann::ordered_json &messages);
    const nlohmann::ordered_json &messages() const { return messages_; }

    // Adds a user message and generates the reply, passing each piece of text to
    // `on_text` as it is produced. `stop` is polled between tokens (Ctrl-C). Returns
    // false with `error` set when the turn could not run (then the conversation is as
    // before the call).
    bool turn(const std::string &user, corvid_sampler *sampler, const std::function<void(const std::string &)> &on_text,
              const std::function<bool()> &stop, TurnStats &stats, std::string &error);

    void set_max_reply(int32_t n) { max_reply_ = n; }
    size_t tokens_in_context() const { return kv_tokens_.size(); }
    uint32_t n_ctx() const { return corvid_context_n_ctx(ctx_); }

private:
    bool render(const nlohmann::ordered_json &msgs, bool add_generation_prompt, std::string &out, std::string &error) const;
    // Makes the KV cache hold `text`: keeps the matching prefix, decodes the rest.
    bool sync(const std::string &text, TurnStats &stats, std::string &error);
    void clear_cache();

    corvid_model *model_;
    corvid_context *ctx_;
    std::string tmpl_;
    Policy policy_;
    int32_t max_reply_;
    nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
    std::vector<int32_t> kv_tokens_;
    std::vector<size_t> kv_ends_; // text offset each token's chunk ends at
    std::string kv_text_;
};

} // namespace corvid::cli
