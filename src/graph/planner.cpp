#include "graph/planner.h"

#include "util/error.h"

#include <map>

namespace corvid {
namespace {

const Tensor *root_of(const Tensor *t) { return t->view_src ? t->view_src : t; }

bool is_alias(const Tensor *t) { return t->view_src != nullptr; }

// A tensor the planner owns: an input leaf, or an op result that is not a view.
bool is_planned(const Tensor *t) {
    if (is_alias(t)) return false;
    if (t->op == Op::none) return (t->flags & kFlagInput) != 0;
    return true;
}

size_t align_up(size_t n) { return (n + MemoryPlan::kAlignment - 1) / MemoryPlan::kAlignment * MemoryPlan::kAlignment; }

// Best-fit allocator over a growing virtual arena; freed blocks merge with neighbours.
class ArenaAllocator {
public:
    size_t alloc(size_t bytes) {
        bytes = align_up(bytes ? bytes : 1);
        auto best = free_.end();
        for (auto it = free_.begin(); it != free_.end(); ++it)
            if (it->second >= bytes && (best == free_.end() || it->second < best->second)) best = it;
        if (best != free_.end()) {
            const size_t off = best->first, size = best->second;
            free_.erase(best);
            if (size > bytes) free_[off + bytes] = size - bytes;
            return off;
        }
        // Grow: reuse a free block that ends at the top of the arena, if any.
        size_t off = top_;
        if (!free_.empty()) {
            auto last = std::prev(free_.end());
            if (last->first + last->second == top_) {
                off = last->first;
                free_.erase(last);
            }
        }
        top_ = off + bytes;
        return off;
    }

    void release(size_t off, size_t bytes) {
        bytes = align_up(bytes ? bytes : 1);
        auto it = free_.emplace(off, bytes).first;
        auto next = std::next(it);
        if (next != free_.end() && it->first + it->second == next->first) {
            it->second += next->second;
            free_.erase(next);
        }
        if (it != free_.begin()) {
            auto prev = std::prev(it);
            if (prev->first + prev->second == it->first) {
                prev->second += it->second;
                free_.erase(it);
            }
        }
    }

    size_t peak() const { return top_; }

private:
    std::map<size_t, size_t> free_; // offset -> size
    size_t top_ = 0;
};

} // namespace

MemoryPlan::MemoryPlan(const Graph &g) {
    plan(g, g.nodes(), [](const Tensor *) { return 0; }, 1);
}

MemoryPlan::MemoryPlan(const Graph &g, const std::vector<Tensor *> &order,
                       const std::function<int(const Tensor *)> &domain, int n_domains) {
    plan(g, order, domain, n_domains);
}

void MemoryPlan::plan(const Graph &g, const std::vector<Tensor *> &nodes,
                      const std::function<int(const Tensor *)> &domain, int n_domains) {
    // The last node that reads each planned tensor (through any chain of views).
    std::unordered_map<const Tensor *, size_t> last_use;
    for (size_t i = 0; i < nodes.size(); ++i) {
        last_use[root_of(nodes[i])] = std::max(last_use[root_of(nodes[i])], i);
        for (const Tensor *s : nodes[i]->src)
            if (s) last_use[root_of(s)] = i;
    }

    std::vector<ArenaAllocator> arenas(static_cast<size_t>(n_domains));
    auto place = [&](const Tensor *t) {
        const int d = domain(t);
        if (d < 0 || d >= n_domains) fail(Status::internal, "planner: tensor '%s' has no memory domain", t->name.c_str());
        slots_[t] = Slot{d, arenas[static_cast<size_t>(d)].alloc(t->n_bytes())};
    };
    for (const Tensor *t : g.inputs()) place(t);
    for (size_t i = 0; i < nodes.size(); ++i) {
        const Tensor *t = nodes[i];
        if (is_planned(t)) place(t);
        // Free what this node was the last to read. Allocating first means an op never
        // writes into the memory of its own inputs.
        auto free_if_done = [&](const Tensor *s) {
            const Tensor *r = root_of(s);
            if (!is_planned(r) || (r->flags & (kFlagOutput | kFlagInput))) return;
            auto it = last_use.find(r);
            if (it != last_use.end() && it->second == i) {
                const Slot &slot = slots_.at(r);
                arenas[static_cast<size_t>(slot.domain)].release(slot.offset, r->n_bytes());
                last_use.erase(it);
            }
        };
        for (const Tensor *s : t->src)
            if (s) free_if_done(s);
        if (is_planned(t) && !(t->flags & kFlagOutput) && last_use.count(t) && last_use[t] == i)
            free_if_done(t); // a result nobody reads
    }
    for (const ArenaAllocator &a : arenas) bytes_.push_back(a.peak());
}

void MemoryPlan::bind(const Graph &g, uint8_t *arena) const { bind(g.nodes(), {arena}); }

void MemoryPlan::bind(const std::vector<Tensor *> &order, const std::vector<uint8_t *> &arenas) const {
    for (const auto &[t, slot] : slots_) {
        if (slot.domain >= static_cast<int>(arenas.size()) || !arenas[static_cast<size_t>(slot.domain)])
            fail(Status::internal, "planner: no arena for memory domain %d", slot.domain);
        const_cast<Tensor *>(t)->data = arenas[static_cast<size_t>(slot.domain)] + slot.offset;
    }
    for (Tensor *t : order)
        if (is_alias(t)) {
            if (!t->view_src->data) fail(Status::internal, "graph: view of '%s' has no memory", t->view_src->name.c_str());
            t->data = static_cast<uint8_t *>(t->view_src->data) + t->view_offset;
        }
}

} // namespace corvid
