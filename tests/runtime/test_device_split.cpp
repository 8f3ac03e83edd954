// Running parts of a model on a backend with its own memory: a fake device that
// computes with the CPU kernels but on memory it allocated itself, and refuses any
// tensor outside that memory. Logits must equal the host-only run exactly (same
// kernels), for every split of the layers between host and device.
#include "runtime/context.h"
#include "test_util.h"

#include "util/error.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <cstdint>
#include <map>

using namespace corvid;

namespace {

class FakeDevice final : public Backend {
public:
    FakeDevice() : cpu_(make_cpu_backend(1)) {}
    ~FakeDevice() override { CHECK_MESSAGE(blocks_.empty(), blocks_.size() << " device allocations leaked"); }

    const char *name() const override { return "FakeDevice"; }
    bool uses_host_memory() const override { return false; }
    bool supports(const Tensor &n) const override { return n.op != Op::transfer && cpu_->supports(n); }

    void *alloc(size_t bytes) override {
        if (bytes > max_alloc) fail(Status::out_of_memory, "FakeDevice: %zu bytes is over %zu", bytes, max_alloc);
        largest = std::max(largest, bytes);
        void *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
        if (!p) fail(Status::out_of_memory, "FakeDevice: out of memory");
        std::memset(p, 0xA5, bytes); // garbage, as fresh device memory may hold
        blocks_[static_cast<uint8_t *>(p)] = bytes;
        return p;
    }
    void release(void *p) override {
        if (!p) return;
        REQUIRE(blocks_.erase(static_cast<uint8_t *>(p)) == 1);
        std::free(p);
    }
    void upload(void *dst, const void *src, size_t n) override {
        require_mine(dst, n, "upload destination");
        require_not_mine(src, "upload source");
        std::memcpy(dst, src, n);
        ++uploads;
    }
    void download(void *dst, const void *src, size_t n) override {
        require_mine(src, n, "download source");
        require_not_mine(dst, "download destination");
        std::memcpy(dst, src, n);
        ++downloads;
    }
    void compute(const std::vector<Tensor *> &nodes) override {
        for (const Tensor *t : nodes) {
            require_mine(t->data, t->n_bytes(), t->name.c_str());
            for (const Tensor *s : t->src)
                if (s) require_mine(s->data, s->n_bytes(), s->name.c_str());
        }
        computed += nodes.size();
        cpu_->compute(nodes);
    }

    size_t computed = 0, uploads = 0, downloads = 0;
    size_t max_alloc = SIZE_MAX, largest = 0; // a device this small; its largest allocation

private:
    bool mine(const void *p, size_t n) const {
        const auto *b = static_cast<const uint8_t *>(p);
        auto it = blocks_.upper_bound(const_cast<uint8_t *>(b));
        if (it == blocks_.begin()) return false;
        --it;
        return b >= it->first && b + n <= it->first + it->second;
    }
    void require_mine(const void *p, size_t n, const char *what) const {
        if (!mine(p, n)) fail(Status::internal, "FakeDevice: %s is not in device memory", what);
    }
    void require_not_mine(const void *p, const char *what) const {
        if (mine(p, 1)) fail(Status::internal, "FakeDevice: %s is in device memory", what);
    }

    std::unique_ptr<Backend> cpu_;
    std::map<uint8_t *, size_t> blocks_;
};

struct Run {
    std::vector<float> logits; // of every token
    size_t device_nodes = 0;
};

// Evaluates a prompt in two batches (so the second reads the cache the first wrote)
// and then one token, with `n_gpu_layers` on a fake device (-2: no device at all) that
// allocates at most max_alloc bytes at once.
Run run(const std::string &path, int32_t n_gpu_layers, size_t max_alloc = SIZE_MAX, bool *lookup_on_device = nullptr,
        size_t *largest = nullptr) {
    FakeDevice *device = nullptr;
    OffloadParams off;
    off.n_gpu_layers = n_gpu_layers < -1 ? 0 : n_gpu_layers;
    off.make_device = [&] {
        auto d = std::make_unique<FakeDevice>();
        d->max_alloc = max_alloc;
        device = d.get();
        return d;
    };
    auto model = Model::load(path, LoadMode::full, true, nullptr, off);
    if (lookup_on_device) *lookup_on_device = model->placement().input;
    if (largest && device) *largest = device->largest;
    ContextParams cp;
    cp.n_ctx = 64;
    cp.n_batch = 5;
    cp.n_threads = 1;
    Context ctx(*model, cp);
    Run r;
    const int32_t nv = ctx.n_vocab();
    Batch b;
    for (int32_t i = 0; i < 9; ++i) {
        b.tokens.push_back((i * 37 + 11) % nv);
        b.logits.push_back(1);
    }
    ctx.decode(b);
    for (int32_t i = 0; i < 9; ++i) r.logits.insert(r.logits.end(), ctx.logits(i), ctx.logits(i) + nv);
    Batch one;
    one.tokens = {5};
    ctx.decode(one);
    r.logits.insert(r.logits.end(), ctx.logits(-1), ctx.logits(-1) + nv);
    if (device) r.device_nodes = device->computed;
    return r;
}

} // namespace

TEST_CASE("device split: any number of layers on a device with its own memory gives the host's logits") {
    const std::string path = test::shared_path("models/stories260K.gguf");
    if (!test::file_exists(path)) {
        MESSAGE("skipped: " << path << " not found");
        return;
    }
    const Run host = run(path, -2);
    CHECK(host.device_nodes == 0);
    // stories260K has 5 layers: none, some, all layers, and all plus the output head.
    for (int32_t ngl : {0, 1, 3, 5, 6, -1}) {
        CAPTURE(ngl);
        const Run dev = run(path, ngl);
        CHECK((dev.device_nodes > 0) == (ngl != 0));
        REQUIRE(dev.logits.size() == host.logits.size());
        size_t differ = 0;
        for (size_t i = 0; i < host.logits.size(); ++i) differ += dev.logits[i] != host.logits[i];
        CHECK(differ == 0);
    }
}

TEST_CASE("device split: a device that runs out of memory at load is a clear error") {
    const std::string path = test::shared_path("models/stories260K.gguf");
    if (!test::file_exists(path)) return;
    class NoMemory final : public Backend {
    public:
        const char *name() const override { return "TinyDevice"; }
        bool uses_host_memory() const override { return false; }
        bool supports(const Tensor &) const override { return true; }
        void compute(const std::vector<Tensor *> &) override {}
        void *alloc(size_t bytes) override {
            fail(Status::out_of_memory, "TinyDevice: cannot allocate %zu bytes (0 free)", bytes);
        }
    };
    OffloadParams off;
    off.make_device = [] { return std::make_unique<NoMemory>(); };
    try {
        Model::load(path, LoadMode::full, true, nullptr, off);
        FAIL("expected an error");
    } catch (const Error &e) {
        CHECK(e.status() == Status::out_of_memory);
        CHECK(std::string(e.what()).find("gpu-layers") != std::string::npos);
    }
}

// With every layer on the device the token embedding lookup goes there too, unless its table
// is what would not fit: then the lookup stays on the host and the rest loads.
TEST_CASE("device split: the embedding lookup goes to the device only when its table fits") {
    const std::string path = test::shared_path("models/stories260K.gguf");
    if (!test::file_exists(path)) return;
    const Run host = run(path, -2);
    bool on_device = false;
    size_t largest = 0;
    const Run all = run(path, -1, SIZE_MAX, &on_device, &largest);
    CHECK(on_device);
    CHECK(all.logits == host.logits);
    // The weights are one allocation, the largest at load (stories260K's untied 128 KiB
    // token_embd among them): one byte less and the table stays on the host.
    const Run tight = run(path, -1, largest - 1, &on_device);
    CHECK_FALSE(on_device);
    CHECK(tight.device_nodes > 0);
    CHECK(tight.logits == host.logits);
}
