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

namespace {
// A backend with memory of its own (never bound here: only the schedule's shape is checked).
class OwnMemory final : public Backend {
public:
    const char *name() const override { return "own-memory"; }
    bool uses_host_memory() const override { return false; }
    bool supports(const Tensor &n) const override { return n.op != Op::transfer; }
    void compute(const std::vector<Tensor *> &) override {}
};
} // namespace

// Inputs filled by the host before a run are copied to the device before any compute
// step, so a device's work is one step however many inputs its nodes read along the way
// (a decode step's positions, cache cells, mask and output rows each cut it before).
TEST_CASE("scheduler: transfers of inputs come first, leaving the device's nodes one step") {
    Graph g;
    Tensor *a = g.input(DType::F32, {4}, "a"), *b = g.input(DType::F32, {4}, "b"), *c = g.input(DType::F32, {4}, "c");
    Tensor *y = g.add(g.scale(g.add(g.scale(a, 2.0f), b), 3.0f), c); // reads b, then c, midway
    g.mark_output(y);
    OwnMemory dev;
    GraphRunner r;
    Scheduler s({&dev, r.cpu.get()}, [&](int32_t) { return &dev; });
    const Schedule sched = s.schedule(g);
    const auto &steps = sched.steps();
    REQUIRE(steps.size() == 4);
    for (int i = 0; i < 3; ++i) {
        CAPTURE(i);
        REQUIRE(steps[static_cast<size_t>(i)].transfer != nullptr);
        CHECK((steps[static_cast<size_t>(i)].transfer->src[0]->flags & kFlagInput) != 0);
    }
    CHECK(steps[3].backend == &dev);
    CHECK(steps[3].nodes.size() == 4);
    // The memory plan's order has the copies first too (they are live from the start).
    const auto &order = sched.order();
    for (int i = 0; i < 3; ++i) CHECK(order[static_cast<size_t>(i)]->op == Op::transfer);
}
