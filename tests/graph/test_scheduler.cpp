// The scheduler gives each node to the first backend that supports it and groups runs.
#include "graph_runner.h"

#include "util/error.h"

#include <doctest/doctest.h>

using namespace corvid;
using namespace corvid::test;

namespace {

// A host backend that only runs `scale` (delegating to the CPU kernels) and counts calls.
class ScaleOnly final : public Backend {
public:
    explicit ScaleOnly(Backend &cpu) : cpu_(cpu) {}
    const char *name() const override { return "scale-only"; }
    bool uses_host_memory() const override { return true; }
    bool supports(const Tensor &n) const override { return n.op == Op::scale; }
    void compute(const std::vector<Tensor *> &nodes) override {
        computed += nodes.size();
        cpu_.compute(nodes);
    }
    size_t computed = 0;

private:
    Backend &cpu_;
};

class Nothing final : public Backend {
public:
    const char *name() const override { return "nothing"; }
    bool uses_host_memory() const override { return true; }
    bool supports(const Tensor &) const override { return false; }
    void compute(const std::vector<Tensor *> &) override {}
};

} // namespace

TEST_CASE("scheduler: nodes go to the first backend that supports them, in runs") {
    Graph g;
    Tensor *x = g.input(DType::F32, {4}, "x");
    Tensor *y = g.add(g.scale(g.scale(x, 2.0f), 3.0f), x); // scale, scale, add
    g.mark_output(y);
    GraphRunner r;
    ScaleOnly so(*r.cpu);
    Scheduler s({&so, r.cpu.get()});
    const auto splits = s.plan(g);
    REQUIRE(splits.size() == 2);
    CHECK(splits[0].backend == &so);
    CHECK(splits[0].nodes.size() == 2);
    CHECK(splits[1].backend == r.cpu.get());
    r.bind(g);
    fill<float>(x, {1, 2, 3, 4});
    s.run(g);
    CHECK(so.computed == 2);
    CHECK(f32(y)[3] == 4 * 6 + 4);
}

TEST_CASE("scheduler: a node no backend supports is an unsupported error naming the op") {
    Graph g;
    Tensor *x = g.input(DType::F32, {4}, "x");
    g.scale(x, 2.0f);
    Nothing n;
    try {
        Scheduler({&n}).plan(g);
        FAIL("expected an error");
    } catch (const Error &e) {
        CHECK(e.status() == Status::unsupported);
        CHECK(std::string(e.what()).find("scale") != std::string::npos);
    }
}
