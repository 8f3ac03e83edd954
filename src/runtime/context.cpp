#include "runtime/context.h"

#include "graph/planner.h"
#include "graph/scheduler.h"
#include "util/error.h"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace corvid {

namespace {
constexpr uint32_t kDeviceKvPadding = 256; // cells; see decode_micro_batch

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
    cpu_ = make_cpu_backend(params_.n_threads);
    const LayerPlacement &place = model_.placement();
    if (place.device) backends_.push_back(place.device);
    backends_.push_back(cpu_.get());
    kv_ = std::make_unique<KvCache>(arch_.kv_shapes(), params_.n_ctx, params_.kv_type, [&](size_t layer) {
        return place.device_for(static_cast<int32_t>(layer));
    });
    for (size_t l = 0; l < arch_.kv_shapes().size(); ++l)
        if (Backend *b = kv_->memory(l)) {
            kv_home_[kv_->k(l)] = b;
            kv_home_[kv_->v(l)] = b;
        }
}

Context::~Context() {
    for (DeviceArena &a : device_arenas_) a.backend->release(a.data);
}

Backend *Context::home(const Tensor &leaf) const {
    auto it = kv_home_.find(&leaf);
    return it == kv_home_.end() ? nullptr : it->second;
}

Tensor *Context::copy_in(const Tensor &leaf, Backend *backend) const { return model_.device_copy(leaf, backend); }

uint8_t *Context::arena(Backend *b, size_t bytes) {
    bytes += MemoryPlan::kAlignment;
    if (!b) {
        if (arena_.size() < bytes) arena_.resize(bytes);
        uint8_t *base = arena_.data();
        return base + (MemoryPlan::kAlignment - reinterpret_cast<uintptr_t>(base) % MemoryPlan::kAlignment) %
                          MemoryPlan::kAlignment;
    }
    for (DeviceArena &a : device_arenas_)
        if (a.backend == b) {
            if (a.bytes < bytes) {
                b->release(a.data);
                a.data = nullptr;
                a.bytes = 0;
                a.data = b->alloc(bytes);
                a.bytes = bytes;
            }
            return static_cast<uint8_t *>(a.data);
        }
    device_arenas_.push_back({b, b->alloc(bytes), bytes});
    return static_cast<uint8_t *>(device_arenas_.back().data);
}

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
    // With layers on a device, the attended cache length is padded (the extra cells are
    // masked): consecutive decode steps then build the same graph, which the device replays
    // without capturing it again (a capture of a 7B step costs the host about a millisecond).
    // The host's attention pays for every cell it scans, so without a device: no padding.
    uint32_t n_kv = kv_->n_active();
    if (model_.placement().n_device_layers() > 0)
        n_kv = std::min(kv_->size(), (n_kv + kDeviceKvPadding - 1) / kDeviceKvPadding * kDeviceKvPadding);

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

    const LayerPlacement &place = model_.placement();
    const Scheduler scheduler(backends_, [&](int32_t layer) -> Backend * {
        Backend *d = place.device_for(layer);
        return d ? d : cpu_.get();
    }, this);
    const Schedule sched = scheduler.schedule(g);
    const MemoryPlan plan = sched.plan(g);
    std::vector<uint8_t *> bases;
    for (size_t d = 0; d < sched.domains().size(); ++d)
        bases.push_back(arena(sched.domains()[d], plan.arena_bytes(static_cast<int>(d))));
    plan.bind(sched.order(), bases);

    std::memcpy(in.tokens->data, b.tokens.data() + begin, static_cast<size_t>(n) * sizeof(int32_t));
    std::memcpy(in.pos->data, pos.data(), pos.size() * sizeof(int32_t));
    std::memcpy(in.kv_idx->data, cells.data(), cells.size() * sizeof(int32_t));
    kv_->fill_mask(static_cast<float *>(in.mask->data), n_kv, pos, seq, 0);
    if (in.mask_swa) kv_->fill_mask(static_cast<float *>(in.mask_swa->data), n_kv, pos, seq, hp.swa_window);
    if (!out_ids.empty()) std::memcpy(in.out_ids->data, out_ids.data(), out_ids.size() * sizeof(int32_t));

    const size_t nv = static_cast<size_t>(hp.n_vocab);
    const float *out = static_cast<const float *>(logits->data);
    {
        std::unique_lock<std::mutex> device_lock;
        if (sched.domains().size() > 1) device_lock = std::unique_lock<std::mutex>(model_.device_mutex());
        sched.run();
        if (Backend *mem = sched.memory_of(logits); mem && !out_ids.empty()) {
            staging_.resize(out_ids.size() * nv);
            mem->download(staging_.data(), logits->data, staging_.size() * sizeof(float));
            out = staging_.data();
        }
    }
    for (size_t k = 0; k < out_ids.size(); ++k) {
        const size_t row = static_cast<size_t>(logit_row_[begin + static_cast<size_t>(out_ids[k])]);
        std::memcpy(&logits_[row * nv], out + k * nv, nv * sizeof(float));
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
