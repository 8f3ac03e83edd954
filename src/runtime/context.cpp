#include "runtime/context.h"

#include "graph/planner.h"
#include "graph/scheduler.h"
#include "util/error.h"

#include <algorithm>
#include <cstring>

namespace corvid {

namespace {
const Architecture &require_arch(const Model &m) {
    if (!m.arch()) fail(Status::invalid_argument, "a context needs a model loaded with its weights (not vocab- or metadata-only)");
    return *m.arch();
}
} // namespace

Context::Context(const Model &model, const ContextParams &params)
    : model_(model), arch_(require_arch(model)), params_(params) {
    const HParams &hp = arch_.hparams();
    if (params_.n_ctx == 0) params_.n_ctx = static_cast<uint32_t>(std::min<int64_t>(hp.n_ctx_train, 4096));
    if (params_.n_ctx > (1u << 24)) fail(Status::invalid_argument, "n_ctx %u is too large", params_.n_ctx);
    if (params_.n_batch == 0) fail(Status::invalid_argument, "n_batch must be at least 1");
    kv_ = std::make_unique<KvCache>(arch_.kv_shapes(), params_.n_ctx, params_.kv_type);
    cpu_ = make_cpu_backend(params_.n_threads);
}

Context::~Context() = default;

void Context::decode(const Batch &b) {
    const size_t n = b.tokens.size();
    if (n == 0) fail(Status::invalid_argument, "the batch is empty");
    if (!b.pos.empty() && b.pos.size() != n) fail(Status::invalid_argument, "the batch has %zu tokens but %zu positions", n, b.pos.size());
    if (!b.seq.empty() && b.seq.size() != n) fail(Status::invalid_argument, "the batch has %zu tokens but %zu sequence ids", n, b.seq.size());
    if (!b.logits.empty() && b.logits.size() != n) fail(Status::invalid_argument, "the batch has %zu tokens but %zu logit flags", n, b.logits.size());
    const int32_t nv = n_vocab();
    for (size_t i = 0; i < n; ++i)
        if (b.tokens[i] < 0 || b.tokens[i] >= nv)
            fail(Status::invalid_argument, "token %zu of the batch has id %d, outside the vocabulary 0..%d", i, b.tokens[i], nv - 1);
    std::vector<int32_t> seq = b.seq.empty() ? std::vector<int32_t>(n, 0) : b.seq;
    for (int32_t s : seq)
        if (s < 0 || s >= kMaxSequences) fail(Status::invalid_argument, "sequence id %d is outside 0..%d", s, kMaxSequences - 1);
    std::vector<int32_t> pos = b.pos;
    if (pos.empty()) {
        std::vector<int32_t> next(kMaxSequences, -1);
        pos.resize(n);
        for (size_t i = 0; i < n; ++i) {
            int32_t &nx = next[static_cast<size_t>(seq[i])];
            if (nx < 0) nx = kv_->seq_max_pos(seq[i]) + 1;
            pos[i] = nx++;
        }
    }
    for (int32_t p : pos)
        if (p < 0) fail(Status::invalid_argument, "position %d is negative", p);
    const uint32_t free_cells = kv_->size() - kv_->n_used();
    if (n > free_cells)
        fail(Status::invalid_argument, "the batch has %zu tokens but only %u of the context's %u cells are free "
             "(the prompt is longer than the context, or the context is full)", n, free_cells, kv_->size());

    logit_row_.assign(n, -1);
    size_t n_out = 0;
    for (size_t i = 0; i < n; ++i)
        if (b.logits.empty() ? i + 1 == n : b.logits[i] != 0) logit_row_[i] = static_cast<int32_t>(n_out++);
    logits_.assign(n_out * static_cast<size_t>(nv), 0.0f);

    for (size_t begin = 0; begin < n; begin += params_.n_batch)
        decode_micro_batch(b, begin, std::min(n, begin + params_.n_batch), pos, seq);
}

void Context::decode_micro_batch(const Batch &b, size_t begin, size_t end, const std::vector<int32_t> &pos_all,
                                 const std::vector<int32_t> &seq_all) {
    const HParams &hp = arch_.hparams();
    const int64_t n = static_cast<int64_t>(end - begin);
    const std::vector<int32_t> pos(pos_all.begin() + static_cast<long>(begin), pos_all.begin() + static_cast<long>(end));
    const std::vector<int32_t> seq(seq_all.begin() + static_cast<long>(begin), seq_all.begin() + static_cast<long>(end));
    std::vector<int32_t> out_ids;
    for (size_t i = begin; i < end; ++i)
        if (logit_row_[i] >= 0) out_ids.push_back(static_cast<int32_t>(i - begin));

    const std::vector<int32_t> cells = kv_->allocate(pos, seq);
    const uint32_t n_kv = kv_->n_active();

    Graph g;
    ForwardInputs in;
    in.n_tokens = n;
    in.n_kv = n_kv;
    in.tokens = g.input(DType::I32, {n}, "tokens");
    in.pos = g.input(DType::I32, {n}, "positions");
    in.kv_idx = g.input(DType::I32, {n}, "kv_cells");
    in.mask = g.input(DType::F32, {n_kv, n}, "kq_mask");
    const bool any_swa = std::any_of(hp.layers.begin(), hp.layers.end(), [](const LayerHParams &l) { return l.sliding; });
    if (any_swa) in.mask_swa = g.input(DType::F32, {n_kv, n}, "kq_mask_swa");
    in.out_ids = g.input(DType::I32, {static_cast<int64_t>(out_ids.size())}, "out_ids");
    Tensor *logits = arch_.build(g, in, *kv_);

    const MemoryPlan plan(g);
    const size_t need = plan.arena_bytes() + MemoryPlan::kAlignment;
    if (arena_.size() < need) arena_.resize(need);
    uint8_t *base = arena_.data();
    base += (MemoryPlan::kAlignment - reinterpret_cast<uintptr_t>(base) % MemoryPlan::kAlignment) % MemoryPlan::kAlignment;
    plan.bind(g, base);

    std::memcpy(in.tokens->data, b.tokens.data() + begin, static_cast<size_t>(n) * sizeof(int32_t));
    std::memcpy(in.pos->data, pos.data(), pos.size() * sizeof(int32_t));
    std::memcpy(in.kv_idx->data, cells.data(), cells.size() * sizeof(int32_t));
    kv_->fill_mask(static_cast<float *>(in.mask->data), n_kv, pos, seq, 0);
    if (in.mask_swa) kv_->fill_mask(static_cast<float *>(in.mask_swa->data), n_kv, pos, seq, hp.swa_window);
    if (!out_ids.empty()) std::memcpy(in.out_ids->data, out_ids.data(), out_ids.size() * sizeof(int32_t));

    Scheduler({cpu_.get()}).run(g);

    const size_t nv = static_cast<size_t>(hp.n_vocab);
    for (size_t k = 0; k < out_ids.size(); ++k) {
        const size_t row = static_cast<size_t>(logit_row_[begin + static_cast<size_t>(out_ids[k])]);
        std::memcpy(&logits_[row * nv], logits->row(static_cast<int64_t>(k)), nv * sizeof(float));
    }
}

const float *Context::logits(int32_t i) const {
    if (logit_row_.empty()) fail(Status::invalid_argument, "no batch has been decoded yet");
    if (i < 0) {
        for (size_t k = logit_row_.size(); k-- > 0;)
            if (logit_row_[k] >= 0) return &logits_[static_cast<size_t>(logit_row_[k]) * static_cast<size_t>(n_vocab())];
        fail(Status::invalid_argument, "no token of the last batch asked for logits");
    }
    if (static_cast<size_t>(i) >= logit_row_.size() || logit_row_[static_cast<size_t>(i)] < 0)
        fail(Status::invalid_argument, "token %d of the last batch has no logits", i);
    return &logits_[static_cast<size_t>(logit_row_[static_cast<size_t>(i)]) * static_cast<size_t>(n_vocab())];
}

} // namespace corvid
