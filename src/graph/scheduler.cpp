#include "graph/scheduler.h"

#include "util/error.h"

#include <map>

namespace corvid {
namespace {

const Tensor *root_of(const Tensor *t) { return t->view_src ? t->view_src : t; }

Backend *memory_domain(Backend *b) { return b->uses_host_memory() ? nullptr : b; }

} // namespace

int Schedule::domain_of(const Tensor *t) const {
    auto it = domain_.find(root_of(t));
    return it == domain_.end() ? 0 : it->second;
}

MemoryPlan Schedule::plan(const Graph &g) const {
    return MemoryPlan(g, order_, [this](const Tensor *t) { return domain_of(t); }, static_cast<int>(domains_.size()));
}

void Schedule::run() const {
    std::vector<uint8_t> bounce;
    for (const Step &s : steps_) {
        if (s.backend) {
            s.backend->compute(s.nodes);
            continue;
        }
        const Tensor *to = s.transfer, *from = to->src[0];
        Backend *src_mem = memory_of(from), *dst_mem = memory_of(to);
        const size_t n = from->n_bytes();
        if (!src_mem) {
            dst_mem->upload(to->data, from->data, n);
        } else if (!dst_mem) {
            src_mem->download(to->data, from->data, n);
        } else { // between two devices: through the host
            bounce.resize(n);
            src_mem->download(bounce.data(), from->data, n);
            dst_mem->upload(to->data, bounce.data(), n);
        }
    }
}

Scheduler::Scheduler(std::vector<Backend *> backends, std::function<Backend *(int32_t)> prefer,
                     const Residency *residency)
    : backends_(std::move(backends)), prefer_(std::move(prefer)), residency_(residency) {
    if (backends_.empty()) fail(Status::internal, "scheduler: no backends");
    if (!backends_.back()->uses_host_memory())
        fail(Status::internal, "scheduler: the last backend (%s) must use host memory", backends_.back()->name());
}

Schedule Scheduler::schedule(Graph &g) const {
    Schedule s;
    auto domain_index = [&](Backend *mem) {
        for (size_t i = 0; i < s.domains_.size(); ++i)
            if (s.domains_[i] == mem) return static_cast<int>(i);
        s.domains_.push_back(mem);
        return static_cast<int>(s.domains_.size() - 1);
    };
    // Domain of a root tensor: planned ones as assigned; leaves with data from Residency.
    auto domain_of_root = [&](const Tensor *r) {
        auto it = s.domain_.find(r);
        if (it != s.domain_.end()) return it->second;
        int d = 0;
        if (r->op == Op::none && !(r->flags & kFlagInput) && residency_) d = domain_index(residency_->home(*r));
        s.domain_[r] = d;
        return d;
    };
    std::map<std::pair<const Tensor *, int>, Tensor *> copies; // (source, domain) -> transfer copy
    // Transfers of graph inputs go first, before any compute step: inputs are filled before
    // the run, so nothing needs to happen before they are copied, and a device's work is not
    // cut into several compute steps at the first reader of each input (positions, cache
    // cells, mask, output rows: five steps per decode step on a GPU, each waiting for the host).
    size_t hoisted_steps = 0, hoisted_order = 0;

    for (Tensor *t : g.nodes()) {
        if (t->op == Op::view) { // costs nothing; lives where its root lives
            s.order_.push_back(t);
            continue;
        }
        const bool aliases = t->view_src != nullptr; // set_rows writes into its root in place
        const int alias_domain = aliases ? domain_of_root(t->view_src) : -1;
        Backend *chosen = nullptr;
        auto consider = [&](Backend *b) {
            if (chosen || !b || !b->supports(*t)) return;
            if (aliases && domain_index(memory_domain(b)) != alias_domain) return;
            chosen = b;
        };
        if (prefer_) consider(prefer_(t->layer));
        for (Backend *b : backends_) consider(b);
        if (!chosen)
            fail(Status::unsupported, "no backend can compute %s -> %s", op_name(t->op), describe(*t).c_str());
        const int d = domain_index(memory_domain(chosen));

        for (Tensor *&src : t->src) {
            if (!src || domain_of_root(root_of(src)) == d) continue;
            if (src->op == Op::none && (src->flags & kFlagWeight) && residency_) {
                if (Tensor *c = residency_->copy_in(*src, s.domains_[static_cast<size_t>(d)])) {
                    s.domain_[c] = d;
                    src = c;
                    continue;
                }
            }
            Tensor *&copy = copies[{src, d}];
            if (!copy && root_of(src)->layout != 0) // a backend's own arrangement means nothing elsewhere
                fail(Status::internal, "%s needs weight '%s' on %s, but its bytes are arranged for another backend",
                     op_name(t->op), root_of(src)->name.c_str(), chosen->name());
            if (!copy) {
                copy = g.transfer(src);
                s.domain_[copy] = d;
                Step step;
                step.transfer = copy;
                const Tensor *r = root_of(src);
                if (r->op == Op::none && (r->flags & kFlagInput)) {
                    s.order_.insert(s.order_.begin() + static_cast<std::ptrdiff_t>(hoisted_order++), copy);
                    s.steps_.insert(s.steps_.begin() + static_cast<std::ptrdiff_t>(hoisted_steps++), step);
                } else {
                    s.order_.push_back(copy);
                    s.steps_.push_back(step);
                }
            }
            src = copy;
        }
        if (!aliases) s.domain_[t] = d;
        s.order_.push_back(t);
        if (s.steps_.empty() || s.steps_.back().backend != chosen) {
            Step step;
            step.backend = chosen;
            s.steps_.push_back(step);
        }
        s.steps_.back().nodes.push_back(t);
    }
    return s;
}

} // namespace corvid
