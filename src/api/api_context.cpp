// Contexts, decoding and sampling in the C API.
#include "api/api_guard.h"
#include "api/api_handles.h"

using namespace corvid;

namespace {

void require(const void *p, const char *what) {
    if (!p) fail(Status::invalid_argument, "%s must not be NULL", what);
}

} // namespace

extern "C" {

corvid_context_params corvid_context_default_params(void) {
    corvid_context_params p;
    p.n_ctx = 0;
    p.n_batch = 512;
    p.n_threads = 0;
    p.kv_type = CORVID_TYPE_F16;
    return p;
}

corvid_status corvid_context_create(const corvid_model *model, const corvid_context_params *params,
                                    corvid_context **out_ctx) {
    if (out_ctx) *out_ctx = nullptr;
    return api::guarded([&] {
        require(model, "model");
        require(out_ctx, "out_ctx");
        const corvid_context_params p = params ? *params : corvid_context_default_params();
        ContextParams cp;
        cp.n_ctx = p.n_ctx;
        cp.n_batch = p.n_batch;
        cp.n_threads = p.n_threads;
        if (p.kv_type != CORVID_TYPE_F16 && p.kv_type != CORVID_TYPE_F32)
            fail(Status::unsupported, "kv_type %s is not supported (f16 or f32)",
                 corvid_type_name(p.kv_type) ? corvid_type_name(p.kv_type) : "?");
        cp.kv_type = static_cast<DType>(p.kv_type);
        auto c = std::make_unique<corvid_context>();
        c->owner = model;
        c->ctx = std::make_unique<Context>(*model->model, cp);
        *out_ctx = c.release();
    });
}

void corvid_context_free(corvid_context *ctx) { delete ctx; }

uint32_t corvid_context_n_ctx(const corvid_context *ctx) { return ctx ? ctx->ctx->n_ctx() : 0; }

corvid_status corvid_decode(corvid_context *ctx, const corvid_batch *batch) {
    return api::guarded([&] {
        require(ctx, "ctx");
        require(batch, "batch");
        if (batch->n_tokens > 0) require(batch->tokens, "batch->tokens");
        const size_t n = batch->n_tokens;
        Batch b;
        b.tokens.assign(batch->tokens, batch->tokens + n);
        if (batch->pos) b.pos.assign(batch->pos, batch->pos + n);
        if (batch->seq_id) b.seq.assign(batch->seq_id, batch->seq_id + n);
        if (batch->logits) b.logits.assign(batch->logits, batch->logits + n);
        ctx->ctx->decode(b);
    });
}

const float *corvid_get_logits(corvid_context *ctx, int32_t i) {
    const float *out = nullptr;
    api::guarded([&] {
        require(ctx, "ctx");
        out = ctx->ctx->logits(i);
    });
    return out;
}

corvid_status corvid_kv_seq_remove(corvid_context *ctx, int32_t seq, int32_t p0, int32_t p1) {
    return api::guarded([&] {
        require(ctx, "ctx");
        if (seq >= kMaxSequences) fail(Status::invalid_argument, "sequence id %d is outside 0..%d", seq, kMaxSequences - 1);
        ctx->ctx->kv().seq_remove(seq, p0, p1);
    });
}

void corvid_kv_clear(corvid_context *ctx) {
    if (ctx) ctx->ctx->kv().clear();
}

int32_t corvid_kv_seq_max_pos(const corvid_context *ctx, int32_t seq) {
    if (!ctx || seq < 0 || seq >= kMaxSequences) return -1;
    return ctx->ctx->kv().seq_max_pos(seq);
}

} // extern "C"
