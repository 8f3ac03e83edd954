// Tokenizer functions of the C API.
#include "api/api_guard.h"
#include "api/api_handles.h"
#include "vocab/vocab.h"

#include <cstring>

using namespace corvid;

namespace {

const Vocab &vocab_of(const corvid_model *m) {
    if (!m) fail(Status::invalid_argument, "model must not be NULL");
    if (!m->model->vocab())
        fail(Status::invalid_argument, "%s: the model was opened without a vocabulary (metadata-only, or the file has none)",
             m->file().path().c_str());
    return *m->model->vocab();
}

// Copies `bytes` into buf (no terminator) with the buffer-size contract of the header.
void copy_out(const std::string &bytes, char *buf, size_t size, size_t *n_bytes) {
    if (!n_bytes) fail(Status::invalid_argument, "n_bytes must not be NULL");
    if (!buf && size > 0) fail(Status::invalid_argument, "buf must not be NULL when size > 0");
    *n_bytes = bytes.size();
    if (bytes.size() > size)
        fail(Status::buffer_too_small, "the text needs %zu bytes but the buffer has %zu", bytes.size(), size);
    if (!bytes.empty()) std::memcpy(buf, bytes.data(), bytes.size());
}

} // namespace

extern "C" {

corvid_status corvid_tokenize(const corvid_model *m, const char *text, size_t text_len, bool add_special,
                              bool parse_special, int32_t *tokens, size_t capacity, size_t *n_tokens) {
    return api::guarded([&] {
        const Vocab &v = vocab_of(m);
        if (!text && text_len > 0) fail(Status::invalid_argument, "text must not be NULL");
        if (!n_tokens) fail(Status::invalid_argument, "n_tokens must not be NULL");
        if (!tokens && capacity > 0) fail(Status::invalid_argument, "tokens must not be NULL when capacity > 0");
        const std::vector<int32_t> ids = v.tokenize(std::string_view(text ? text : "", text_len), add_special, parse_special);
        *n_tokens = ids.size();
        if (ids.size() > capacity)
            fail(Status::buffer_too_small, "the text has %zu tokens but the buffer holds %zu", ids.size(), capacity);
        if (!ids.empty()) std::memcpy(tokens, ids.data(), ids.size() * sizeof(int32_t));
    });
}

corvid_status corvid_token_to_piece(const corvid_model *m, int32_t token, bool render_special, char *buf, size_t size,
                                    size_t *n_bytes) {
    return api::guarded([&] { copy_out(vocab_of(m).token_to_piece(token, render_special), buf, size, n_bytes); });
}

corvid_status corvid_detokenize(const corvid_model *m, const int32_t *tokens, size_t n, bool render_special, char *buf,
                                size_t size, size_t *n_bytes) {
    return api::guarded([&] {
        if (!tokens && n > 0) fail(Status::invalid_argument, "tokens must not be NULL");
        const std::vector<int32_t> ids(tokens, tokens + n);
        copy_out(vocab_of(m).detokenize(ids, render_special), buf, size, n_bytes);
    });
}

int32_t corvid_vocab_bos(const corvid_model *m) { return m && m->model->vocab() ? m->model->vocab()->bos() : -1; }
int32_t corvid_vocab_eos(const corvid_model *m) { return m && m->model->vocab() ? m->model->vocab()->eos() : -1; }
bool corvid_vocab_is_eog(const corvid_model *m, int32_t token) {
    return m && m->model->vocab() && m->model->vocab()->is_eog(token);
}

} // extern "C"
