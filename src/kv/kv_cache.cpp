#include "kv/kv_cache.h"

#include "util/error.h"

#include <cmath>

namespace corvid {

KvCache::KvCache(const std::vector<KvLayerShape> &layers, uint32_t n_ctx, DType type,
                 const std::function<Backend *(size_t)> &memory)
    : type_(type), cells_(n_ctx) {
    if (type != DType::F16 && type != DType::F32)
        fail(Status::unsupported, "KV cache type %s is not supported (use f16 or f32)", dtype_name(type));
    k_.resize(layers.size());
    v_.resize(layers.size());
    memory_.assign(layers.size(), nullptr);
    for (size_t l = 0; l < layers.size(); ++l) {
        Backend *b = memory ? memory(l) : nullptr;
        if (b && b->uses_host_memory()) b = nullptr;
        memory_[l] = b;
        for (int kv = 0; kv < 2; ++kv) {
            Tensor &t = kv == 0 ? k_[l] : v_[l];
            t.type = type;
            t.ne[0] = kv == 0 ? layers[l].n_embd_k : layers[l].n_embd_v;
            t.ne[1] = n_ctx;
            t.name = (kv == 0 ? "cache_k_l" : "cache_v_l") + std::to_string(l);
            set_contiguous_strides(t);
            if (!b) {
                storage_.emplace_back(t.n_bytes());
                t.data = storage_.back().data();
                continue;
            }
            try {
                t.data = b->alloc(t.n_bytes());
                device_storage_.emplace_back(b, t.data);
                b->fill(t.data, 0, t.n_bytes());
            } catch (...) {
                release_device_storage(); // the destructor does not run for a throwing constructor
                throw;
            }
        }
    }
}

KvCache::~KvCache() { release_device_storage(); }

void KvCache::release_device_storage() {
    for (auto &[b, p] : device_storage_) b->release(p);
    device_storage_.clear();
}

std::vector<int32_t> KvCache::allocate(const std::vector<int32_t> &pos, const std::vector<int32_t> &seq) {
    std::vector<int32_t> idx;
    idx.reserve(pos.size());
    for (uint32_t c = 0; c < cells_.size() && idx.size() < pos.size(); ++c)
        if (cells_[c].seqs == 0) idx.push_back(static_cast<int32_t>(c));
    if (idx.size() < pos.size())
        fail(Status::invalid_argument, "the context is full: %zu tokens need cells but only %zu of %zu are free "
             "(create the context with a larger n_ctx, or remove old tokens)", pos.size(), idx.size(), cells_.size());
    for (size_t i = 0; i < pos.size(); ++i) {
        if (seq[i] < 0 || seq[i] >= kMaxSequences)
            fail(Status::invalid_argument, "sequence id %d is outside 0..%d", seq[i], kMaxSequences - 1);
    }
    for (size_t i = 0; i < pos.size(); ++i) {
        cells_[static_cast<size_t>(idx[i])].pos = pos[i];
        cells_[static_cast<size_t>(idx[i])].seqs = 1ull << seq[i];
    }
    return idx;
}

uint32_t KvCache::n_active() const {
    uint32_t n = 0;
    for (uint32_t c = 0; c < cells_.size(); ++c)
        if (cells_[c].seqs) n = c + 1;
    return n;
}

uint32_t KvCache::n_used() const {
    uint32_t n = 0;
    for (const Cell &c : cells_) n += c.seqs != 0;
    return n;
}

void KvCache::fill_mask(float *mask, uint32_t n_kv, const std::vector<int32_t> &pos, const std::vector<int32_t> &seq,
                        uint32_t window) const {
    for (size_t i = 0; i < pos.size(); ++i) {
        const uint64_t bit = 1ull << seq[i];
        float *row = mask + i * n_kv;
        for (uint32_t j = 0; j < n_kv; ++j) {
            const Cell &c = cells_[j];
            bool visible = (c.seqs & bit) && c.pos <= pos[i];
            if (visible && window > 0 && pos[i] - c.pos >= static_cast<int32_t>(window)) visible = false;
            row[j] = visible ? 0.0f : -INFINITY;
        }
    }
}

void KvCache::seq_remove(int32_t seq, int32_t p0, int32_t p1) {
    if (p0 < 0) p0 = 0;
    if (p1 < 0) p1 = INT32_MAX;
    const uint64_t bits = seq < 0 ? ~0ull : (1ull << seq);
    for (Cell &c : cells_)
        if (c.pos >= p0 && c.pos < p1) c.seqs &= ~bits;
}

int32_t KvCache::seq_max_pos(int32_t seq) const {
    int32_t mx = -1;
    for (const Cell &c : cells_)
        if ((c.seqs >> seq) & 1) mx = std::max(mx, c.pos);
    return mx;
}

void KvCache::clear() {
    for (Cell &c : cells_) c = Cell{};
}

} // namespace corvid
