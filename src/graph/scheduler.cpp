#include "graph/scheduler.h"

#include "util/error.h"

namespace corvid {

Scheduler::Scheduler(std::vector<Backend *> backends) : backends_(std::move(backends)) {
    if (backends_.empty()) fail(Status::internal, "scheduler: no backends");
    for (Backend *b : backends_)
        if (!b->uses_host_memory())
            fail(Status::unsupported, "backend %s keeps tensors in its own memory; copies between backends are "
                 "not implemented yet", b->name());
}

std::vector<Split> Scheduler::plan(const Graph &g) const {
    std::vector<Split> splits;
    for (Tensor *t : g.nodes()) {
        Backend *chosen = nullptr;
        if (t->op == Op::view && !splits.empty()) {
            chosen = splits.back().backend; // views cost nothing: keep them with their neighbours
        } else {
            for (Backend *b : backends_)
                if (b->supports(*t)) {
                    chosen = b;
                    break;
                }
        }
        if (!chosen)
            fail(Status::unsupported, "no backend can compute %s -> %s", op_name(t->op), describe(*t).c_str());
        if (splits.empty() || splits.back().backend != chosen) splits.push_back({chosen, {}});
        splits.back().nodes.push_back(t);
    }
    return splits;
}

void Scheduler::run(const Graph &g) const {
    for (const Split &s : plan(g)) s.backend->compute(s.nodes);
}

} // namespace corvid
