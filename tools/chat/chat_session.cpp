#include "chat/chat_session.h"

#include "common.h"

#include <algorithm>
#include <chrono>

namespace corvid::cli {
namespace {

// Tokens kept free for the reply before a turn starts.
constexpr size_t kReplyReserve = 64;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

ChatSession::ChatSession(corvid_model *model, corvid_context *ctx, std::string tmpl, Policy policy, int32_t max_reply)
    : model_(model), ctx_(ctx), tmpl_(std::move(tmpl)), policy_(policy), max_reply_(max_reply) {}

void ChatSession::set_system(const std::string &text) {
    if (!messages_.empty() && messages_[0]["role"] == "system") messages_.erase(messages_.begin());
    if (!text.empty()) messages_.insert(messages_.begin(), {{"role", "system"}, {"content", text}});
}

void ChatSession::reset() {
    nlohmann::ordered_json keep = nlohmann::ordered_json::array();
    if (!messages_.empty() && messages_[0]["role"] == "system") keep.push_back(messages_[0]);
    messages_ = keep;
    clear_cache();
}

void ChatSession::set_messages(const nlohmann::ordered_json &messages) {
    messages_ = messages;
    clear_cache();
}

void ChatSession::clear_cache() {
    corvid_kv_clear(ctx_);
    kv_tokens_.clear();
    kv_ends_.clear();
    kv_text_.clear();
}

bool ChatSession::render(const nlohmann::ordered_json &msgs, bool add_generation_prompt, std::string &out,
                         std::string &error) const {
    const std::string m = msgs.dump();
    std::string buf(4096 + m.size() * 2, '\0');
    size_t n = 0;
    const char *t = tmpl_.empty() ? nullptr : tmpl_.c_str();
    corvid_status st = corvid_chat_apply_template(model_, t, m.c_str(), nullptr, add_generation_prompt, buf.data(), buf.size(), &n);
    if (st == CORVID_ERR_BUFFER_TOO_SMALL) {
        buf.resize(n);
        st = corvid_chat_apply_template(model_, t, m.c_str(), nullptr, add_generation_prompt, buf.data(), buf.size(), &n);
    }
    if (st != CORVID_OK) {
        error = corvid_last_error();
        return false;
    }
    out.assign(buf.data(), n);
    return true;
}

bool ChatSession::sync(const std::string &text, TurnStats &stats, std::string &error) {
    // Keep the cached chunks that lie entirely within the common prefix.
    size_t common = 0;
    while (common < kv_text_.size() && common < text.size() && kv_text_[common] == text[common]) ++common;
    size_t keep = 0;
    while (keep < kv_tokens_.size() && kv_ends_[keep] <= common) ++keep;
    if (keep < kv_tokens_.size()) {
        corvid_kv_seq_remove(ctx_, 0, static_cast<int32_t>(keep), -1);
        kv_tokens_.resize(keep);
        kv_ends_.resize(keep);
        kv_text_.resize(keep ? kv_ends_.back() : 0);
    }
    const std::string rest = text.substr(kv_text_.size());
    if (rest.empty()) return true;

    // The first chunk gets the BOS token unless the template already wrote it.
    bool add_special = false;
    if (kv_tokens_.empty()) {
        const int32_t bos = corvid_vocab_bos(model_);
        const std::string bos_text = bos >= 0 ? piece(model_, bos, true) : "";
        add_special = bos_text.empty() || text.compare(0, bos_text.size(), bos_text) != 0;
    }
    std::vector<int32_t> toks;
    if (tokenize(model_, rest, add_special, true, toks) != CORVID_OK) {
        error = corvid_last_error();
        return false;
    }
    if (kv_tokens_.size() + toks.size() > n_ctx()) {
        error = "the conversation needs " + std::to_string(kv_tokens_.size() + toks.size()) + " tokens but the context holds " +
                std::to_string(n_ctx());
        return false;
    }
    const auto t0 = std::chrono::steady_clock::now();
    corvid_batch b = {toks.size(), toks.data(), nullptr, nullptr, nullptr};
    if (corvid_decode(ctx_, &b) != CORVID_OK) {
        error = corvid_last_error();
        return false;
    }
    stats.prompt_s += seconds_since(t0);
    stats.prompt_tokens += toks.size();
    kv_tokens_.insert(kv_tokens_.end(), toks.begin(), toks.end());
    kv_text_ += rest;
    kv_ends_.insert(kv_ends_.end(), toks.size(), kv_text_.size());
    return true;
}

bool ChatSession::turn(const std::string &user, corvid_sampler *sampler,
                       const std::function<void(const std::string &)> &on_text, const std::function<bool()> &stop,
                       TurnStats &stats, std::string &error) {
    const nlohmann::ordered_json before = messages_;
    messages_.push_back({{"role", "user"}, {"content", user}});
    std::string prompt;
    if (!render(messages_, true, prompt, error)) {
        messages_ = before;
        return false;
    }

    // Room for the prompt plus a reply: drop the oldest turns (keeping the system
    // message) until it fits, or refuse, as the policy says.
    std::vector<int32_t> probe;
    const size_t n_ctx = this->n_ctx();
    auto prompt_tokens = [&](const std::string &text) {
        tokenize(model_, text, false, true, probe);
        return probe.size() + 1;
    };
    size_t dropped = 0;
    while (prompt_tokens(prompt) + kReplyReserve > n_ctx) {
        const size_t first = (!messages_.empty() && messages_[0]["role"] == "system") ? 1 : 0;
        if (policy_ == Policy::stop || messages_.size() <= first + 1) {
            error = "the context is full (" + std::to_string(n_ctx) + " tokens); use /reset to start over" +
                    (policy_ == Policy::stop ? "" : ", or a larger --ctx-size");
            messages_ = before;
            return false;
        }
        // Drop one whole exchange: the oldest user message and everything up to the
        // next user message, so that roles keep alternating as templates require.
        size_t end = first + 1;
        while (end < messages_.size() - 1 && messages_[end]["role"] != "user") ++end;
        dropped += end - first;
        messages_.erase(messages_.begin() + static_cast<long>(first), messages_.begin() + static_cast<long>(end));
        if (!render(messages_, true, prompt, error)) {
            messages_ = before;
            return false;
        }
    }
    if (dropped) {
        stats.notice = "context full: dropped the " + std::to_string(dropped) + " oldest message" + (dropped > 1 ? "s" : "") +
                       " and re-encoded the rest";
        clear_cache();
    }
    if (!sync(prompt, stats, error)) {
        messages_ = before;
        clear_cache();
        return false;
    }
    for (int32_t t : kv_tokens_) corvid_sampler_accept(sampler, t);
    corvid_sampler_reset_grammar(sampler); // with --grammar/--json-schema each reply is one sentence of it

    // Generate until an end-of-generation token, the reply limit, the context's end or Ctrl-C.
    std::string reply;
    const auto t0 = std::chrono::steady_clock::now();
    while (true) {
        if (stop()) {
            stats.interrupted = true;
            break;
        }
        if (max_reply_ >= 0 && stats.reply_tokens >= static_cast<size_t>(max_reply_)) break;
        if (kv_tokens_.size() >= n_ctx) {
            stats.context_cut = true;
            break;
        }
        int32_t tok = 0;
        if (corvid_sampler_sample(sampler, ctx_, -1, &tok) != CORVID_OK) {
            error = corvid_last_error();
            break;
        }
        if (corvid_vocab_is_eog(model_, tok)) break;
        const std::string text = piece(model_, tok, false);
        corvid_batch one = {1, &tok, nullptr, nullptr, nullptr};
        if (corvid_decode(ctx_, &one) != CORVID_OK) {
            error = corvid_last_error();
            break;
        }
        kv_tokens_.push_back(tok);
        kv_text_ += text;
        kv_ends_.push_back(kv_text_.size());
        reply += text;
        ++stats.reply_tokens;
        on_text(text);
    }
    stats.reply_s = seconds_since(t0);
    messages_.push_back({{"role", "assistant"}, {"content", reply}});
    return error.empty();
}

} // namespace corvid::cli
